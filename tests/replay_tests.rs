//! Replay tests from recorded journals (DESIGN §8): the examples' fixtures
//! replay; a changed build is reported precisely; journal files round-trip;
//! upgrades move a run only when its journal replays cleanly.

use crate::kill::{KillAt, kill_run};
use crate::support::*;

#[test]
fn every_example_fixture_replays() {
    for example in ["researcher", "stepper", "approver"] {
        let fixtures = root().join("examples").join(example).join("fixtures");
        let passed = relive::testing::replay_dir(&guest(example), &fixtures)
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        assert!(passed >= 1, "{example} has no fixtures");
    }
}

#[test]
fn changed_build_fails_the_fixture_with_the_exact_divergence() {
    let fixtures = root().join("examples/stepper/fixtures");
    let err = relive::testing::replay_dir(&changed_stepper(), &fixtures).unwrap_err();
    assert!(err.contains("1 of 1 recorded runs do not replay"), "{err}");
    assert!(
        err.contains("twelve-steps.jsonl: diverged at entry #11"),
        "{err}"
    );
    assert!(err.contains(r#""variant":"changed""#), "{err}");
}

#[test]
fn export_then_import_is_lossless() {
    // A run with every kind of entry the approver makes, answered.
    let source = Scratch::example("approver");
    let out = source
        .relive()
        .arg("run")
        .arg(guest("approver"))
        .args(["--input", "tell ops", "--json"])
        .output()
        .unwrap();
    let id = json(&out)["id"].as_str().unwrap().to_string();
    assert_code(&source.run(&["approve", &id, "--note", "ok"]), 0);
    assert_code(&source.run(&["resume", &id, "-q"]), 0);
    let file = source.file("run.jsonl");
    assert_code(
        &source.run(&["export", &id, "-o", file.to_str().unwrap()]),
        0,
    );

    let scratch = Scratch::new();
    let out = scratch.run(&[
        "import",
        file.to_str().unwrap(),
        "--component",
        guest("approver").to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let again = scratch.run(&["export", &id]);
    assert_code(&again, 0);
    assert_eq!(stdout(&again), std::fs::read_to_string(&file).unwrap());
    assert_eq!(scratch.entries(&id), source.entries(&id));
    // Importing twice, or with the wrong component, is refused.
    let twice = scratch.run(&["import", file.to_str().unwrap()]);
    assert_code(&twice, 1);
    assert!(
        stderr(&twice).contains("already in this journal"),
        "{}",
        stderr(&twice)
    );
    let other = Scratch::new();
    let wrong = other.run(&[
        "import",
        file.to_str().unwrap(),
        "--component",
        guest("stepper").to_str().unwrap(),
    ]);
    assert_code(&wrong, 1);
    assert!(
        stderr(&wrong).contains("but the run was recorded with"),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn upgrade_moves_runs_that_replay_and_leaves_the_others() {
    let scratch = Scratch::example("stepper");
    // Killed during step 2: its journal ends before step 3, where the
    // changed build differs. Killed during step 5: step 3 is recorded.
    let early = kill_run(&scratch, &KillAt::DuringTool(2));
    let late = kill_run(&scratch, &KillAt::DuringTool(5));
    let before = |id: &str| scratch.run_record(id).component_digest;
    let (early_digest, late_digest) = (before(&early), before(&late));

    let refused = scratch.run(&[
        "upgrade",
        &late,
        "--to",
        changed_stepper().to_str().unwrap(),
    ]);
    assert_code(&refused, 4);
    assert!(
        stderr(&refused).contains("diverged at entry #11"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(before(&late), late_digest, "a refused run stays pinned");

    // The bulk form: every unfinished run of the agent.
    let bulk = scratch.run(&[
        "upgrade",
        "--agent",
        "stepper",
        "--to",
        changed_stepper().to_str().unwrap(),
        "--json",
    ]);
    assert_code(&bulk, 4);
    let results = json(&bulk);
    let upgraded: Vec<(String, bool)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["upgraded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        upgraded.contains(&(early.clone(), true)) && upgraded.contains(&(late.clone(), false)),
        "{upgraded:?}"
    );
    assert_ne!(before(&early), early_digest);
    assert_eq!(before(&late), late_digest);

    // The upgraded run finishes on the new build.
    let out = scratch
        .relive()
        .args(["resume", &early, "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let entries = scratch.entries(&early);
    assert!(
        entries
            .iter()
            .any(|e| e.request.contains(r#""variant":"changed""#))
    );
}

#[test]
fn patched_agent_replays_old_and_new_runs_and_the_patch_can_be_retired() {
    let old_fixture = root().join("examples/stepper/fixtures/twelve-steps.jsonl");
    let patched = stepper_with("patched");
    // A run recorded before the patch replays on the patched build: the
    // marker is absent, so the old branch is taken.
    relive::testing::replay_file(&patched, &old_fixture).unwrap();

    // A new run takes the new branch and records the marker.
    let scratch = Scratch::example("stepper");
    let out = scratch
        .relive()
        .arg("run")
        .arg(&patched)
        .args(["--input", "5", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let entries = scratch.entries(&id);
    assert!(
        entries
            .iter()
            .any(|e| e.kind.as_str() == "patch" && e.name == "variant")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.request.contains(r#""variant":"changed""#))
    );
    let new_fixture = scratch.file("new.jsonl");
    assert_code(
        &scratch.run(&["export", &id, "-o", new_fixture.to_str().unwrap()]),
        0,
    );
    relive::testing::replay_file(&patched, &new_fixture).unwrap();

    // The unpatched build cannot replay the new run.
    let err = relive::testing::replay_file(&guest("stepper"), &new_fixture).unwrap_err();
    assert!(
        err.contains("diverged at entry #11") && err.contains("patch `variant`"),
        "{err}"
    );

    // Retired: new runs still replay; old runs no longer do (retire a patch
    // only when they are gone).
    let retired = stepper_with("retired");
    relive::testing::replay_file(&retired, &new_fixture).unwrap();
    let err = relive::testing::replay_file(&retired, &old_fixture).unwrap_err();
    assert!(err.contains("diverged at entry #11"), "{err}");
}
