//! Where a path of the `files` tool leads: parsed without touching the file
//! system, then followed inside the run's workspace only, links included.

use super::{Inner, MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_WORKSPACE_ENTRIES, Problem, failed, io};
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

impl Inner {
    /// The run's workspace, made if missing: a real directory (not a link)
    /// directly under the canonical root, so the returned path is canonical.
    /// When the run `used` it before, a missing workspace is an error: its
    /// files are elsewhere (another host's root) or gone.
    pub(super) fn workspace(&self, run_id: &str, used: bool) -> Result<PathBuf, Problem> {
        if run_id.is_empty()
            || !run_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(failed(format!("run id `{run_id}` cannot name a directory")));
        }
        let fix = format!("check `root` under [tools.{}]", self.name);
        fs::create_dir_all(&self.root).map_err(|e| {
            failed(format!(
                "cannot create the workspace root {}: {e} ({fix})",
                self.root.display()
            ))
        })?;
        let root = fs::canonicalize(&self.root).map_err(|e| {
            failed(format!(
                "cannot open the workspace root {}: {e} ({fix})",
                self.root.display()
            ))
        })?;
        let dir = root.join(run_id);
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == ErrorKind::NotFound && used => {
                return Err(failed(format!(
                    "the run's workspace {} is missing, though earlier calls of this run used it: the run moved to a host that does not share the workspace root, or the directory was removed. relive will not go on with an empty workspace; set `root` under [tools.{}] to a directory every relive serve process shares (a network file system)",
                    dir.display(),
                    self.name
                )));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    return self.workspace(run_id, used);
                }
                Err(e) => {
                    return Err(failed(format!(
                        "cannot create the workspace {}: {e}",
                        dir.display()
                    )));
                }
            },
            Err(e) => return Err(io(e)),
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => {
                return Err(Problem::Refused(format!(
                    "the run's workspace {} is not a directory (a symbolic link?); relive will not use it",
                    dir.display()
                )));
            }
        }
        Ok(dir)
    }

    /// The directory `parts` name under `workspace`, every component checked;
    /// missing ones are made when `create` is set. The result is inside the
    /// workspace and holds no symbolic link.
    pub(super) fn directory(
        &self,
        workspace: &Path,
        parts: &[String],
        create: bool,
    ) -> Result<PathBuf, Problem> {
        let mut current = workspace.to_path_buf();
        for (i, part) in parts.iter().enumerate() {
            let next = current.join(part);
            let shown = parts[..=i].join("/");
            match fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = follow(workspace, &next, &shown)?;
                    if !target.is_dir() {
                        return Err(failed(format!("`{shown}` is not a directory")));
                    }
                    current = target;
                }
                Ok(meta) if meta.is_dir() => current = next,
                Ok(_) => return Err(failed(format!("`{shown}` is not a directory"))),
                Err(e) if e.kind() == ErrorKind::NotFound && create => {
                    match fs::create_dir(&next) {
                        Ok(()) => current = next,
                        Err(e) => {
                            return Err(failed(format!("cannot create directory `{shown}`: {e}")));
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(failed(format!("`{shown}` does not exist")));
                }
                Err(e) => return Err(io(e)),
            }
        }
        Ok(current)
    }

    /// `parts` resolved to a link-free path inside the workspace (a final
    /// link is followed if it stays inside), with what is there, if anything.
    pub(super) fn resolve(
        &self,
        workspace: &Path,
        parts: &[String],
        shown: &str,
        create_dirs: bool,
    ) -> Result<(PathBuf, Option<fs::Metadata>), Problem> {
        let Some((last, dirs)) = parts.split_last() else {
            let meta = fs::symlink_metadata(workspace).map_err(io)?;
            return Ok((workspace.to_path_buf(), Some(meta)));
        };
        let path = self.directory(workspace, dirs, create_dirs)?.join(last);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = follow(workspace, &path, shown)?;
                let meta = fs::symlink_metadata(&target).map_err(io)?;
                Ok((target, Some(meta)))
            }
            Ok(meta) => Ok((path, Some(meta))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok((path, None)),
            Err(e) => Err(io(e)),
        }
    }
}

/// The components of a path argument, refusing any that could leave the
/// workspace before the file system is consulted.
pub(super) fn parse_path(text: &str) -> Result<Vec<String>, Problem> {
    if text.len() > MAX_PATH_BYTES {
        return Err(failed(format!(
            "the path is {} bytes long, over the limit of {MAX_PATH_BYTES}",
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(Problem::Refused("the path contains a NUL byte".into()));
    }
    let mut parts = Vec::new();
    for component in Path::new(text).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Problem::Refused(
                    "the path contains `..`; paths are relative to the run's workspace and cannot leave it".into(),
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Problem::Refused(
                    "the path is absolute; paths are relative to the run's workspace, e.g. \"notes/today.md\"".into(),
                ));
            }
        }
    }
    if parts.len() > MAX_PATH_DEPTH {
        return Err(failed(format!(
            "the path has {} components, over the limit of {MAX_PATH_DEPTH}",
            parts.len()
        )));
    }
    Ok(parts)
}

/// The canonical target of the link `link`, if it stays inside `workspace`.
pub(super) fn follow(workspace: &Path, link: &Path, shown: &str) -> Result<PathBuf, Problem> {
    let target = fs::canonicalize(link).map_err(|e| {
        Problem::Refused(format!(
            "`{shown}` is a symbolic link that cannot be followed ({e})"
        ))
    })?;
    if !target.starts_with(workspace) {
        return Err(Problem::Refused(format!(
            "`{shown}` is a symbolic link that leads outside the run's workspace"
        )));
    }
    Ok(target)
}

/// Bytes of regular files and number of entries under `dir`, links not
/// followed; stops counting past the entry limit.
pub(super) fn usage(dir: &Path) -> std::io::Result<(u64, u64)> {
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            entries += 1;
            if entries > MAX_WORKSPACE_ENTRIES {
                return Ok((bytes, entries));
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((bytes, entries))
}
