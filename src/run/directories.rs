//! Making a unit's RuntimeDirectory= and its kin before its commands run,
//! as systemd does at start: parents as root 0755, the innermost with the
//! setting's mode, owned by the service's user (configuration by root).
//! The runtime directories capcheck made go again when the run ends, as
//! systemd removes them when the unit stops.

use crate::model::directories::{Directories, Kind};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

/// The directories made for a run; runtime ones are removed on drop.
#[derive(Debug, Default)]
pub struct Made {
    runtime: Vec<PathBuf>,
}

/// Makes the missing directories of `dirs` for a service running as
/// `uid`:`gid`; existing ones are left as they are.
pub fn make(dirs: &[(Kind, Directories)], uid: u32, gid: u32) -> Result<Made, String> {
    let mut made = Made::default();
    for (kind, d) in dirs {
        for path in &d.paths {
            let full = PathBuf::from(kind.base()).join(path);
            if full.exists() {
                continue;
            }
            let error = |e: std::io::Error| {
                format!(
                    "{}={path}: cannot make {}: {e}",
                    kind.setting(),
                    full.display()
                )
            };
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

impl Drop for Made {
    fn drop(&mut self) {
        for dir in self.runtime.iter().rev() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
