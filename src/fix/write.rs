//! Writing a fixed file without ever losing the original, or writing where
//! a symlink leads: every directory is entered relative to the one before
//! it without following links, the temporary file is created beside the
//! target, never wider than the final mode, gets the original's owner,
//! then mode (so set-id bits survive), then extended attributes (ACLs,
//! SELinux labels), and is fsynced and renamed over the target. A file
//! that changed since it was read is not overwritten, and a new file is
//! put in place only if the name is still free (RENAME_NOREPLACE): one
//! that appeared meanwhile is never replaced.

use crate::load::chase::{chase, Last};
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Where a written file is: its device and inode, which stay the same
/// while no one replaces the file (a rename keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Replaces (or creates) `path` with `contents`, atomically; returns the
/// written file's identity. `expected` is what the file held when it was
/// read (None: it must not exist, and it is created only if it still does
/// not).
///
/// With `root` (an image), the path is resolved inside the root as systemd
/// would read it: a symlink leads to its target inside the root, which is
/// written. Without, the directory the file belongs to (its parent, or the
/// parent of a `NAME.d/` directory) is taken as named, and no symlink below
/// it is followed: a linked `NAME.d/`, or a link as the file itself, is
/// refused.
pub fn write_atomic(
    path: &Path,
    expected: Option<&[u8]>,
    contents: &[u8],
    root: Option<&Path>,
) -> Result<FileId, String> {
    let error = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", path.display());
    let (dir, name) = locate(path, root, true)?;
    let original = match open_at(&dir, &name, libc::O_RDONLY | libc::O_NOFOLLOW, 0) {
        Ok(fd) => Some(File::from(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!(
                "{}: is a symlink{}; not written (fix the file it points to)",
                path.display(),
                if root.is_some() {
                    " that leads nowhere"
                } else {
                    " and no --root was given"
                }
            ))
        }
        Err(e) => return Err(error("cannot open", e)),
    };
    let meta = match &original {
        Some(file) => Some(file.metadata().map_err(|e| error("cannot stat", e))?),
        None => None,
    };
    if let Some(m) = &meta {
        use std::os::unix::fs::PermissionsExt;
        if m.permissions().mode() & 0o222 == 0 || !writable(&dir, &name) {
            return Err(format!(
                "{}: is read-only; not written (make it writable to apply the fix)",
                path.display()
            ));
        }
    }
    let current = match original.as_ref() {
        Some(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|e| error("cannot read", e))?;
            Some(bytes)
        }
        None => None,
    };
    match (current.as_deref(), expected) {
        (Some(_), None) => {
            return Err(format!(
                "{}: exists (it did not when capcheck looked); not overwritten",
                path.display()
            ))
        }
        (None, Some(_)) => {
            return Err(format!(
                "{}: was removed since capcheck read it; not written",
                path.display()
            ))
        }
        (current, expected) if current != expected => {
            return Err(format!(
                "{}: changed since capcheck read it; not overwritten",
                path.display()
            ))
        }
        _ => {}
    }
    let temp = cstring(OsStr::new(&format!(
        ".{}.capcheck-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))?;
    let result = replace(
        &dir,
        &name,
        &temp,
        contents,
        original.as_ref(),
        meta.as_ref(),
    );
    match result {
        Ok(id) => Ok(id),
        Err(e) => {
            // SAFETY: unlinkat on a valid directory and a NUL-terminated name.
            unsafe { libc::unlinkat(dir.as_raw_fd(), temp.as_ptr(), 0) };
            if e.raw_os_error() == Some(libc::EEXIST) {
                return Err(format!(
                    "{}: exists (it did not when capcheck looked); not overwritten",
                    path.display()
                ));
            }
            Err(error("cannot write", e))
        }
    }
}

/// What `path` holds now, read the way [`write_atomic`] would write it
/// (None when it does not exist, or could not be written either).
pub fn read_current(path: &Path, root: Option<&Path>) -> Option<Vec<u8>> {
    let (dir, name) = locate(path, root, false).ok()?;
    let mut file = File::from(open_at(&dir, &name, libc::O_RDONLY | libc::O_NOFOLLOW, 0).ok()?);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The directory a file is in, entered without following links below the
/// start (see [`write_atomic`]), and its name; missing directories are
/// created when `create`.
pub(super) fn locate(
    path: &Path,
    root: Option<&Path>,
    create: bool,
) -> Result<(OwnedFd, CString), String> {
    let (base, relative) = split(path, root)?;
    let error = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", path.display());
    let mut dir = open_dir(&base).map_err(|e| error("cannot open its directory", e))?;
    let components: Vec<&OsStr> = relative.iter().collect();
    let (name, dirs) = components
        .split_last()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?;
    for component in dirs {
        dir = enter(&dir, component, create).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => format!(
                "{}: {} is a symlink or not a directory; not written",
                path.display(),
                component.to_string_lossy()
            ),
            _ => error("cannot create its directory", e),
        })?;
    }
    Ok((dir, cstring(name)?))
}

/// The directory to start from and the path below it.
fn split(path: &Path, root: Option<&Path>) -> Result<(PathBuf, PathBuf), String> {
    let not_inside = || {
        format!(
            "{}: not inside {}",
            path.display(),
            root.unwrap_or(Path::new("/")).display()
        )
    };
    match root.filter(|r| *r != Path::new("/")) {
        Some(root) => {
            let inside = Path::new("/").join(path.strip_prefix(root).map_err(|_| not_inside())?);
            let resolved = chase(root, &inside, Last::Follow)
                .map_err(|e| format!("{}: {e}; not written", path.display()))?;
            let relative = resolved.strip_prefix(root).map_err(|_| not_inside())?;
            Ok((root.to_path_buf(), relative.to_path_buf()))
        }
        None => {
            let parent = path.parent().unwrap_or(Path::new(""));
            let in_dot_d = parent
                .file_name()
                .is_some_and(|d| d.as_bytes().ends_with(b".d"));
            let base = match (in_dot_d, parent.parent()) {
                (true, Some(grandparent)) => grandparent,
                _ => parent,
            };
            let relative = path.strip_prefix(base).map_err(|_| not_inside())?;
            if relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(not_inside());
            }
            let base = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            };
            Ok((base.to_path_buf(), relative.to_path_buf()))
        }
    }
}

/// Writes the temporary file beside the target and renames it over (or,
/// without an original, to a name that must still be free).
fn replace(
    dir: &OwnedFd,
    name: &CStr,
    temp: &CStr,
    contents: &[u8],
    original: Option<&File>,
    meta: Option<&std::fs::Metadata>,
) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let final_mode = meta.map_or(0o644, |m| m.mode() & 0o7777);
    // Never readable by more than the final file, not even for a moment.
    let mut file = File::from(open_at(
        dir,
        temp,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        final_mode & 0o600,
    )?);
    file.write_all(contents)?;
    if let Some(m) = meta {
        // Keeping the owner needs privilege; as the owner it is a no-op.
        if let Err(e) = std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid())) {
            if m.uid() != current_uid() {
                return Err(e);
            }
        }
    }
    // After the owner: chown clears set-id bits.
    // SAFETY: fchmod on an open file.
    if unsafe { libc::fchmod(file.as_raw_fd(), final_mode) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if let Some(original) = original {
        copy_xattrs(original, &file)?;
    }
    file.sync_all()?;
    let id = FileId::of(&file.metadata()?);
    rename(dir, temp, name, original.is_none())?;
    // SAFETY: fsync on an open directory.
    unsafe { libc::fsync(dir.as_raw_fd()) };
    Ok(id)
}

/// Renames `from` to `to` in one directory; with `no_replace`, only if
/// `to` does not exist (EEXIST otherwise): RENAME_NOREPLACE, or on a file
/// system without it, a hard link and an unlink.
pub(super) fn rename(
    dir: &OwnedFd,
    from: &CStr,
    to: &CStr,
    no_replace: bool,
) -> std::io::Result<()> {
    let fd = dir.as_raw_fd();
    let flags = if no_replace {
        libc::RENAME_NOREPLACE
    } else {
        0
    };
    // SAFETY: renameat2 within one open directory, NUL-terminated names.
    if unsafe { libc::renameat2(fd, from.as_ptr(), fd, to.as_ptr(), flags) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if !no_replace || !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
        return Err(e);
    }
    // SAFETY: linkat and unlinkat within one open directory.
    unsafe {
        if libc::linkat(fd, from.as_ptr(), fd, to.as_ptr(), 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::unlinkat(fd, from.as_ptr(), 0);
    }
    Ok(())
}

/// Copies every extended attribute (ACLs, SELinux labels, user data).
fn copy_xattrs(from: &File, to: &File) -> std::io::Result<()> {
    let names = xattr_list(from)?;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = CString::new(name).expect("split at NUL");
        let value = xattr_value(from, &name)?;
        // SAFETY: fsetxattr on an open file with a valid buffer.
        let r = unsafe {
            libc::fsetxattr(
                to.as_raw_fd(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Reads a variable-sized xattr answer: asks the size, then the bytes.
fn sized(mut call: impl FnMut(&mut [u8]) -> isize) -> std::io::Result<Vec<u8>> {
    loop {
        let size = call(&mut []);
        if size < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(&mut buf);
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        // ERANGE: it grew in between; ask again.
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return Err(std::io::Error::last_os_error());
        }
    }
}

fn xattr_list(file: &File) -> std::io::Result<Vec<u8>> {
    // SAFETY: flistxattr writes at most buf.len() bytes.
    sized(|buf| unsafe { libc::flistxattr(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

fn xattr_value(file: &File, name: &CStr) -> std::io::Result<Vec<u8>> {
    // SAFETY: fgetxattr writes at most buf.len() bytes.
    sized(|buf| unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })
}

pub(super) fn cstring(name: &OsStr) -> Result<CString, String> {
    CString::new(name.as_bytes()).map_err(|_| format!("{name:?}: a NUL byte in a file name"))
}

pub(super) fn open_at(
    dir: &OwnedFd,
    name: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> std::io::Result<OwnedFd> {
    // SAFETY: openat on an open directory with a NUL-terminated name; the
    // descriptor returned is owned here.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory a write starts from, as named (links followed).
fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: open with a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The directory `name` below `dir`, never a link; created if missing and
/// `create`.
fn enter(dir: &OwnedFd, name: &OsStr, create: bool) -> std::io::Result<OwnedFd> {
    let c = CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    match open_at(dir, &c, flags, 0) {
        Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
            // SAFETY: mkdirat on an open directory with a NUL-terminated name.
            if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
            }
            open_at(dir, &c, flags, 0)
        }
        other => other,
    }
}

/// faccessat(W_OK): false on a read-only mount or without permission (the
/// name was just opened without following links).
fn writable(dir: &OwnedFd, name: &CStr) -> bool {
    // SAFETY: faccessat on an open directory with a NUL-terminated name.
    unsafe { libc::faccessat(dir.as_raw_fd(), name.as_ptr(), libc::W_OK, 0) == 0 }
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
