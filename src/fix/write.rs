//! Writing a fixed file without ever losing the original: a temporary file
//! in the same directory, the original's mode and owner, fsync, rename. A
//! file that changed since it was read is not overwritten.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Replaces (or creates) `path` with `contents`, atomically. `expected`
/// is what the file held when it was read (None: it must not exist).
pub fn write_atomic(path: &Path, expected: Option<&[u8]>, contents: &[u8]) -> Result<(), String> {
    let error = |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", path.display());
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "{}: is a symlink; not written (fix the file it points to)",
                path.display()
            ))
        }
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(error("cannot stat", &e)),
    };
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

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
