use super::*;
use std::os::unix::fs::symlink;

struct Setup {
    dir: tempfile::TempDir,
    tool: FilesTool,
}

impl Setup {
    fn new() -> Setup {
        Setup::with(|_| {})
    }

    fn with(change: impl FnOnce(&mut ToolConfig)) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ToolConfig {
            builtin: Some(crate::tools::Builtin::Files),
            ..ToolConfig::default()
        };
        change(&mut config);
        let tool = FilesTool::new("files", &config, dir.path());
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "top secret").unwrap();
        Setup { dir, tool }
    }

    /// The workspace of run `r1`, made as the first call would.
    fn workspace(&self) -> PathBuf {
        let ws = self.dir.path().join("workspaces/r1");
        std::fs::create_dir_all(&ws).unwrap();
        ws
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    async fn call(&self, args: Value) -> Result<Value, String> {
        self.call_as(7, args).await
    }

    async fn call_as(&self, seq: u64, args: Value) -> Result<Value, String> {
        let ctx = ToolContext {
            run_id: "r1".into(),
            seq,
            idempotency_key: format!("relive-r1-{seq}"),
            max_result_bytes: crate::config::limits::DEFAULT_MAX_CALL_BYTES as usize,
            used_before: false,
        };
        self.tool
            .call(&ctx, &args.to_string())
            .await
            .map(|out| serde_json::from_str(&out).unwrap())
            .map_err(|e| e.to_string())
    }

    #[track_caller]
    fn refused(&self, result: Result<Value, String>, needles: &[&str]) {
        let err = result.unwrap_err();
        for needle in needles {
            assert!(err.contains(needle), "missing {needle:?} in: {err}");
        }
        assert!(!err.contains("top secret"), "{err}");
        assert_eq!(
            std::fs::read_to_string(self.outside().join("secret.txt")).unwrap(),
            "top secret"
        );
        let outside: Vec<_> = std::fs::read_dir(self.outside()).unwrap().collect();
        assert_eq!(outside.len(), 1, "nothing was written outside");
    }
}

#[tokio::test]
async fn write_read_list_delete_in_the_run_workspace() {
    let s = Setup::new();
    let out = s
        .call(json!({"op": "write", "path": "notes/a.md", "content": "one"}))
        .await
        .unwrap();
    assert_eq!(out, json!({"path": "notes/a.md", "bytes": 3}));
    assert_eq!(
        std::fs::read_to_string(s.dir.path().join("workspaces/r1/notes/a.md")).unwrap(),
        "one"
    );
    // A write replaces the whole file.
    s.call(json!({"op": "write", "path": "./notes/a.md", "content": "two"}))
        .await
        .unwrap();
    let out = s
        .call(json!({"op": "read", "path": "notes/a.md"}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"path": "notes/a.md", "size": 3, "content": "two"})
    );
    let out = s.call(json!({"op": "list"})).await.unwrap();
    assert_eq!(
        out,
        json!({"path": ".", "entries": [{"name": "notes", "type": "dir"}], "truncated": false})
    );
    let out = s
        .call(json!({"op": "list", "path": "notes"}))
        .await
        .unwrap();
    assert_eq!(
        out["entries"],
        json!([{"name": "a.md", "type": "file", "size": 3}])
    );
    let out = s
        .call(json!({"op": "delete", "path": "notes/a.md"}))
        .await
        .unwrap();
    assert_eq!(out, json!({"path": "notes/a.md", "deleted": true}));
    let out = s
        .call(json!({"op": "delete", "path": "notes/a.md"}))
        .await
        .unwrap();
    assert_eq!(out, json!({"path": "notes/a.md", "deleted": false}));
    let err = s
        .call(json!({"op": "read", "path": "notes/a.md"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("could not read `notes/a.md`: it does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn bytes_that_are_not_text_round_trip_as_base64() {
    let s = Setup::new();
    s.call(json!({"op": "write", "path": "b.bin", "content_base64": "AJ+Slg=="}))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(s.workspace().join("b.bin")).unwrap(),
        vec![0u8, 159, 146, 150]
    );
    let out = s
        .call(json!({"op": "read", "path": "b.bin"}))
        .await
        .unwrap();
    assert_eq!(out["content_base64"], "AJ+Slg==");
    let err = s
        .call(json!({"op": "write", "path": "b.bin", "content": "x", "content_base64": "eA=="}))
        .await
        .unwrap_err();
    assert!(err.contains("exactly one of"), "{err}");
}

#[tokio::test]
async fn a_write_run_again_after_a_crash_leaves_the_same_workspace() {
    let s = Setup::new();
    let ws = s.workspace();
    // The first attempt died after creating its temporary file.
    std::fs::write(ws.join(".relive-write-7"), "half").unwrap();
    let args = json!({"op": "write", "path": "a.txt", "content": "whole"});
    let first = s.call(args.clone()).await.unwrap();
    let again = s.call(args).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "whole");
    let names: Vec<_> = std::fs::read_dir(&ws)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    assert!(s.tool.idempotent());
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_are_refused_before_any_lookup() {
    let s = Setup::new();
    let secret = s.outside().join("secret.txt");
    for args in [
        json!({"op": "read", "path": "../../outside/secret.txt"}),
        json!({"op": "read", "path": "a/../../x"}),
        json!({"op": "write", "path": "../../outside/evil.txt", "content": "x"}),
        json!({"op": "list", "path": ".."}),
        json!({"op": "delete", "path": "../../outside/secret.txt"}),
    ] {
        s.refused(s.call(args).await, &["refused path", "contains `..`"]);
    }
    for args in [
        json!({"op": "read", "path": secret.to_str().unwrap()}),
        json!({"op": "write", "path": s.outside().join("evil.txt").to_str().unwrap(), "content": "x"}),
        json!({"op": "delete", "path": secret.to_str().unwrap()}),
        json!({"op": "list", "path": "/"}),
    ] {
        s.refused(s.call(args).await, &["refused path", "is absolute"]);
    }
}

#[tokio::test]
async fn symbolic_links_out_of_the_workspace_are_refused() {
    let s = Setup::new();
    let ws = s.workspace();
    symlink(s.outside(), ws.join("dir-link")).unwrap();
    symlink("../../outside/secret.txt", ws.join("file-link")).unwrap();
    std::fs::create_dir(ws.join("sub")).unwrap();
    symlink("../dir-link", ws.join("sub/hop")).unwrap();
    let out_msg = "is a symbolic link that leads outside the run's workspace";
    for (args, link) in [
        (
            json!({"op": "read", "path": "dir-link/secret.txt"}),
            "`dir-link`",
        ),
        (json!({"op": "read", "path": "file-link"}), "`file-link`"),
        (
            json!({"op": "read", "path": "sub/hop/secret.txt"}),
            "`sub/hop`",
        ),
        (json!({"op": "list", "path": "dir-link"}), "`dir-link`"),
        (
            json!({"op": "write", "path": "dir-link/evil.txt", "content": "x"}),
            "`dir-link`",
        ),
        (
            json!({"op": "write", "path": "file-link", "content": "overwritten"}),
            "`file-link`",
        ),
        (
            json!({"op": "delete", "path": "dir-link/secret.txt"}),
            "`dir-link`",
        ),
    ] {
        s.refused(s.call(args).await, &[link, out_msg]);
    }
    // Deleting a link removes the link, never its target.
    let out = s
        .call(json!({"op": "delete", "path": "file-link"}))
        .await
        .unwrap();
    assert_eq!(out["deleted"], true);
    assert!(!ws.join("file-link").exists());
    assert_eq!(
        std::fs::read_to_string(s.outside().join("secret.txt")).unwrap(),
        "top secret"
    );
}

#[tokio::test]
async fn symbolic_links_inside_the_workspace_are_followed() {
    let s = Setup::new();
    let ws = s.workspace();
    std::fs::create_dir(ws.join("real")).unwrap();
    std::fs::write(ws.join("real/f.txt"), "inside").unwrap();
    symlink("real", ws.join("alias")).unwrap();
    symlink(ws.join("real/f.txt"), ws.join("f-link")).unwrap();
    let out = s
        .call(json!({"op": "read", "path": "alias/f.txt"}))
        .await
        .unwrap();
    assert_eq!(out["content"], "inside");
    let out = s
        .call(json!({"op": "read", "path": "f-link"}))
        .await
        .unwrap();
    assert_eq!(out["content"], "inside");
    s.call(json!({"op": "write", "path": "f-link", "content": "changed"}))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(ws.join("real/f.txt")).unwrap(),
        "changed"
    );
    let out = s.call(json!({"op": "list"})).await.unwrap();
    assert_eq!(
        out["entries"][0],
        json!({"name": "alias", "type": "symlink"})
    );
    let err = s
        .call(json!({"op": "read", "path": "alias"}))
        .await
        .unwrap_err();
    assert!(err.contains("is a directory"), "{err}");
}

#[tokio::test]
async fn a_workspace_that_is_a_link_is_refused() {
    let s = Setup::new();
    std::fs::create_dir_all(s.dir.path().join("workspaces")).unwrap();
    symlink(s.outside(), s.dir.path().join("workspaces/r1")).unwrap();
    s.refused(
        s.call(json!({"op": "read", "path": "secret.txt"})).await,
        &["is not a directory (a symbolic link?)"],
    );
}

#[tokio::test]
async fn special_files_are_not_opened() {
    let s = Setup::new();
    let ws = s.workspace();
    let made = std::process::Command::new("mkfifo")
        .arg(ws.join("pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let err = s
        .call(json!({"op": "read", "path": "pipe"}))
        .await
        .unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
    let err = s
        .call(json!({"op": "write", "path": "pipe", "content": "x"}))
        .await
        .unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
}

#[tokio::test]
async fn sizes_are_capped_naming_the_key() {
    let s = Setup::with(|c| {
        c.max_bytes = Some(10);
        c.max_workspace_bytes = Some(25);
    });
    let ws = s.workspace();
    let err = s
        .call(json!({"op": "write", "path": "a", "content": "x".repeat(11)}))
        .await
        .unwrap_err();
    assert!(
        err.contains(
            "11 bytes is over the limit of 10 bytes per file (`max_bytes` under [tools.files])"
        ),
        "{err}"
    );
    std::fs::write(ws.join("big"), "y".repeat(11)).unwrap();
    let err = s
        .call(json!({"op": "read", "path": "big"}))
        .await
        .unwrap_err();
    assert!(err.contains("`max_bytes`"), "{err}");
    s.call(json!({"op": "write", "path": "a", "content": "x".repeat(10)}))
        .await
        .unwrap();
    // 11 + 10 + 10 > 25; replacing `a` with as much again is fine.
    let err = s
        .call(json!({"op": "write", "path": "b", "content": "x".repeat(10)}))
        .await
        .unwrap_err();
    assert!(err.contains("would hold 31 bytes, over the limit of 25 bytes (`max_workspace_bytes` under [tools.files])"), "{err}");
    s.call(json!({"op": "write", "path": "a", "content": "z".repeat(10)}))
        .await
        .unwrap();
    let err = s
        .call(json!({"op": "write", "path": &"d/".repeat(40)[..79], "content": ""}))
        .await
        .unwrap_err();
    assert!(err.contains("over the limit of 32"), "{err}");
}

#[tokio::test]
async fn bad_arguments_are_explained() {
    let s = Setup::new();
    let err = s
        .call(json!({"op": "chmod", "path": "a"}))
        .await
        .unwrap_err();
    assert!(err.contains("no op `chmod`"), "{err}");
    let err = s
        .call(json!({"op": "read", "path": "a", "mode": 1}))
        .await
        .unwrap_err();
    assert!(err.contains("invalid arguments"), "{err}");
    let err = s.call(json!({"op": "read"})).await.unwrap_err();
    assert!(err.contains("a path is required"), "{err}");
    let err = s
        .call(json!({"op": "read", "path": "a", "content": "x"}))
        .await
        .unwrap_err();
    assert!(err.contains("with op \"write\" only"), "{err}");
    let err = s
        .call(json!({"op": "delete", "path": "."}))
        .await
        .unwrap_err();
    assert!(err.contains("a path is required"), "{err}");
}

#[tokio::test]
async fn runs_get_separate_workspaces() {
    let s = Setup::new();
    s.call(json!({"op": "write", "path": "mine", "content": "r1"}))
        .await
        .unwrap();
    let ctx = ToolContext {
        run_id: "r2".into(),
        seq: 1,
        idempotency_key: "relive-r2-1".into(),
        max_result_bytes: crate::config::limits::DEFAULT_MAX_CALL_BYTES as usize,
        used_before: false,
    };
    let err = s
        .tool
        .call(&ctx, &json!({"op": "read", "path": "mine"}).to_string())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let bad = ToolContext {
        run_id: "../r1".into(),
        ..ctx
    };
    let err = s
        .tool
        .call(&bad, &json!({"op": "list"}).to_string())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot name a directory"), "{err}");
}

/// A run whose earlier call made its workspace, on a host where it is
/// missing (another host's root, or removed): an error naming the
/// directory and the fix, and no empty workspace made in its place.
#[tokio::test]
async fn a_run_that_used_its_workspace_before_never_starts_an_empty_one() {
    let s = Setup::new();
    let ctx = ToolContext {
        run_id: "moved".into(),
        seq: 9,
        idempotency_key: "relive-moved-9".into(),
        max_result_bytes: crate::config::limits::DEFAULT_MAX_CALL_BYTES as usize,
        used_before: true,
    };
    let missing = s
        .dir
        .path()
        .canonicalize()
        .unwrap()
        .join("workspaces/moved");
    for args in [
        json!({"op": "read", "path": "notes.md"}),
        json!({"op": "write", "path": "notes.md", "content": "x"}),
        json!({"op": "list"}),
    ] {
        let err = s
            .tool
            .call(&ctx, &args.to_string())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("workspace {} is missing", missing.display()))
                && err.contains("set `root` under [tools.files] to a directory every relive serve process shares"),
            "{err}"
        );
        assert!(!missing.exists());
    }
    // Its first call makes it; later ones find it.
    let first = ToolContext {
        used_before: false,
        ..ctx.clone()
    };
    s.tool
        .call(&first, &json!({"op": "list"}).to_string())
        .await
        .unwrap();
    s.tool
        .call(&ctx, &json!({"op": "list"}).to_string())
        .await
        .unwrap();
}
