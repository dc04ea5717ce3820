//! Writing a fixed file without ever losing the original: a temporary file
//! in the same directory, the original's mode and owner, fsync, rename. A
//! file that changed since it was read is not overwritten.

use crate::load::paths::{link_destination, MAX_SYMLINK_HOPS};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Replaces (or creates) `path` with `contents`, atomically. `expected`
/// is what the file held when it was read (None: it must not exist). A
/// symlink is refused unless `root` is given and the file it leads to (its
/// absolute targets read inside `root`, as the loader reads them) is inside
/// `root`; then that file is written.
pub fn write_atomic(
    path: &Path,
    expected: Option<&[u8]>,
    contents: &[u8],
    root: Option<&Path>,
) -> Result<(), String> {
    let error = |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", path.display());
    let is_symlink = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let resolved;
    let path = if is_symlink {
        resolved = symlink_target_within(path, root)?;
        resolved.as_path()
    } else {
        path
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(error("cannot stat", &e)),
    };
    if let Some(m) = &meta {
        if m.permissions().mode() & 0o222 == 0 || !writable(path) {
            return Err(format!(
                "{}: is read-only; not written (make it writable to apply the fix)",
                path.display()
            ));
        }
    }
    let current = match &meta {
        Some(_) => Some(std::fs::read(path).map_err(|e| error("cannot read", &e))?),
        None => None,
    };
    if current.as_deref() != expected {
        return Err(format!(
            "{}: changed since capcheck read it; not overwritten",
            path.display()
        ));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| error("cannot create its directory", &e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.capcheck-{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        let mode = meta
            .as_ref()
            .map_or(0o644, |m| m.permissions().mode() & 0o7777);
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(m) = &meta {
            // Keeping the owner needs privilege; as the owner it is a no-op.
            if let Err(e) = std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid())) {
                if m.uid() != current_uid() {
                    return Err(e);
                }
            }
        }
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(error("cannot write", &e));
    }
    Ok(())
}

/// The file a symlink leads to, when it is inside `root`.
fn symlink_target_within(link: &Path, root: Option<&Path>) -> Result<PathBuf, String> {
    let refuse = |why: &str| {
        Err(format!(
            "{}: is a symlink {why}; not written (fix the file it points to)",
            link.display()
        ))
    };
    let Some(root) = root else {
        return refuse("and no --root was given");
    };
    let mut path = link.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        let Ok(target) = std::fs::read_link(&path) else {
            let (Ok(file), Ok(root)) = (path.canonicalize(), root.canonicalize()) else {
                return refuse("to a file that does not exist");
            };
            if !file.starts_with(&root) {
                return refuse(&format!(
                    "to {}, outside {}",
                    file.display(),
                    root.display()
                ));
            }
            return Ok(file);
        };
        path = link_destination(root, &path, &target);
    }
    refuse("loop")
}

/// access(2) W_OK: false on a read-only mount or without permission.
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: the path is NUL-terminated and outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
