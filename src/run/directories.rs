//! Making a unit's RuntimeDirectory= and its kin before its commands run,
//! as systemd does at start: parents as root 0755, the innermost with the
//! setting's mode, owned by the service's user (configuration by root);
//! one that exists with another owner is given to the user, recursively
//! (systemd 252's `setup_exec_directory()`). Everything is undone when
//! the run ends: the runtime directories capcheck made go (as systemd
//! removes them at stop), and what it chowned gets its owners back (a
//! recording must leave the host as it found it).

use crate::model::directories::{Directories, Kind};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The most entries capcheck gives to a user and takes back: beyond it,
/// the run is refused rather than left half done.
const MAX_CHOWNED: usize = 100_000;

/// The directories made for a run; undone on drop.
#[derive(Debug, Default)]
pub struct Made {
    runtime: Vec<PathBuf>,
    /// Entries chowned, with their owners before.
    chowned: Vec<(PathBuf, u32, u32)>,
    /// Runtime directories moved aside for the run, and where to.
    aside: Vec<(PathBuf, PathBuf)>,
}

/// How the runtime directories start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// As they are: one that exists is used (given to the user).
    AsFound,
    /// Empty, as after the unit's own stop (systemd removes them then): one
    /// that exists is moved aside for the run and put back after. What a
    /// daemon prepares there at its first start must be prepared again at
    /// every start.
    Fresh,
}

/// Every entry under `dir` (itself included), links not followed, or
/// None when there are more than `limit`.
fn entries(dir: &Path, limit: usize) -> Option<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut at = 0;
    while at < out.len() {
        let path = out[at].clone();
        at += 1;
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            continue;
        }
        for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            out.push(entry.path());
            if out.len() > limit {
                return None;
            }
        }
    }
    Some(out)
}

/// Makes the missing directories of `dirs` for a service running as
/// `uid`:`gid`, and gives it those that exist with another owner.
pub fn make(
    dirs: &[(Kind, Directories)],
    uid: u32,
    gid: u32,
    runtime: Runtime,
) -> Result<Made, String> {
    let mut made = Made::default();
    for (kind, d) in dirs {
        for path in &d.paths {
            let full = PathBuf::from(kind.base()).join(path);
            if *kind == Kind::Runtime && runtime == Runtime::Fresh && full.is_dir() {
                let aside = full.with_file_name(format!(
                    ".capcheck-aside-{}-{}",
                    full.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default(),
                    std::process::id()
                ));
                std::fs::rename(&full, &aside).map_err(|e| {
                    format!(
                        "{}={path}: cannot move {} aside: {e}",
                        kind.setting(),
                        full.display()
                    )
                })?;
                made.aside.push((full.clone(), aside));
            }
            let error = |e: std::io::Error| {
                format!(
                    "{}={path}: cannot make {}: {e}",
                    kind.setting(),
                    full.display()
                )
            };
            match std::fs::symlink_metadata(&full) {
                Ok(m) if kind.owned_by_service() && m.is_dir() && m.uid() != uid => {
                    made.give(&full, uid, gid).map_err(|e| {
                        format!("{}={path}: {}: {e}", kind.setting(), full.display())
                    })?;
                    continue;
                }
                Ok(_) => continue,
                Err(_) => {}
            }
            if let Some(parent) = full.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(error)?;
            }
            std::fs::DirBuilder::new()
                .mode(d.mode)
                .create(&full)
                .map_err(error)?;
            // The mode as set, whatever the umask.
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(d.mode))
                .map_err(error)?;
            if kind.owned_by_service() {
                std::os::unix::fs::chown(&full, Some(uid), Some(gid)).map_err(error)?;
            }
            if *kind == Kind::Runtime {
                made.runtime.push(full);
            }
        }
    }
    Ok(made)
}

impl Made {
    /// Chowns `dir` and everything in it to `uid`:`gid`, remembering the
    /// owners before.
    fn give(&mut self, dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
        let all = entries(dir, MAX_CHOWNED).ok_or_else(|| {
            format!("more than {MAX_CHOWNED} entries to give to the service's user")
        })?;
        for path in all {
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            self.chowned.push((path, m.uid(), m.gid()));
        }
        Ok(())
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for (path, uid, gid) in self.chowned.iter().rev() {
            let _ = std::os::unix::fs::lchown(path, Some(*uid), Some(*gid));
        }
        for dir in self.runtime.iter().rev() {
            let _ = std::fs::remove_dir_all(dir);
        }
        for (dir, aside) in self.aside.iter().rev() {
            let _ = std::fs::rename(aside, dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_of_another_owner_is_given_and_taken_back() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "would be skipped under CI: needs root"
            );
            println!(
                "SKIPPED a_directory_of_another_owner_is_given_and_taken_back: needs root (chown)"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::write(state.join("db"), "x").unwrap();
        let mut made = Made::default();
        made.give(&state, 4242, 4243).unwrap();
        let owner = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            (m.uid(), m.gid())
        };
        assert_eq!(owner(&state.join("db")), (4242, 4243));
        drop(made);
        assert_eq!(owner(&state), (0, 0));
        assert_eq!(owner(&state.join("db")), (0, 0));
        assert!(entries(dir.path(), 1).is_none(), "bounded");
    }
}
