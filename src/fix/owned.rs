//! Files capcheck creates beside an administrator's: a fix's drop-in
//! (`50-capcheck.conf`), a sysusers.d file, `try`'s runtime drop-in. Each
//! begins with a mark, and a file found at such a path without it is
//! someone else's: capcheck neither replaces nor removes it, whatever its
//! name. `try` also keeps the identity (device and inode) and the contents
//! of the file it wrote, and removes it only while it is still exactly
//! that file.

use super::write::{self, FileId};
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The first words of every file capcheck creates.
pub const MARK: &str = "# Written by capcheck";

/// `body` with the mark and what the file is for as its first line.
pub fn marked(what: &str, body: &str) -> Vec<u8> {
    format!("{MARK} {what}\n{body}").into_bytes()
}

/// Whether a file begins with capcheck's mark.
pub fn is_marked(bytes: &[u8]) -> bool {
    bytes.starts_with(MARK.as_bytes())
}

/// How much of a file a message quotes.
const QUOTED: usize = 160;

/// Says what is at `path` (its size and its beginning, quoted with
/// escapes) and that capcheck leaves it alone.
pub fn occupied(path: &Path, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTED)]);
    format!(
        "{} already exists and capcheck did not create it ({} bytes: {:?}{}); capcheck neither replaces nor removes it",
        path.display(),
        bytes.len(),
        text,
        if bytes.len() > QUOTED { "…" } else { "" }
    )
}

/// What [`remove_own`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Nothing was there.
    Absent,
    /// Something else is there (why), left as it was.
    NotOurs(String),
}

/// Removes `path` if it is the file capcheck wrote: `contents`, and the
/// file `id` when known. The file is first renamed aside (so that the one
/// checked is the one removed, and the name never leads to a removed
/// file of someone else's), then checked; one that is not capcheck's is
/// renamed back.
pub fn remove_own(path: &Path, id: Option<FileId>, contents: &[u8]) -> Result<Removal, String> {
    if !path.parent().is_some_and(Path::is_dir) {
        return Ok(Removal::Absent);
    }
    let (dir, name) = write::locate(path, None, false)?;
    let aside = write::cstring(OsStr::new(&format!(
        ".{}.capcheck-{}.remove",
        name.to_string_lossy(),
        std::process::id()
    )))?;
    match write::rename(&dir, &name, &aside, true) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Removal::Absent),
        Err(e) => return Err(format!("{}: cannot move it aside: {e}", path.display())),
    }
    // Enough to compare with `contents`, or to quote.
    let limit = contents.len().max(QUOTED) as u64 + 1;
    let held = write::open_at(&dir, &aside, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
        .map(std::fs::File::from)
        .and_then(|file| {
            let held_id = FileId::of(&file.metadata()?);
            let mut bytes = Vec::new();
            file.take(limit).read_to_end(&mut bytes)?;
            Ok((held_id, bytes))
        });
    let why_not = match &held {
        Ok((held_id, bytes)) if bytes == contents && id.is_none_or(|id| id == *held_id) => None,
        Ok((held_id, bytes)) if bytes == contents => Some(format!(
            "{} is not the file capcheck wrote (inode {}, capcheck's was {}), although it holds the same text",
            path.display(),
            held_id.ino,
            id.map_or(0, |id| id.ino)
        )),
        Ok((_, bytes)) => Some(format!(
            "{} is not the file capcheck wrote: it holds other text ({} bytes: {:?})",
            path.display(),
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTED)])
        )),
        Err(e) => Some(format!(
            "{} is not the file capcheck wrote: {e}",
            path.display()
        )),
    };
    let Some(why) = why_not else {
        // SAFETY: unlinkat and fsync on an open directory.
        unsafe {
            if libc::unlinkat(dir.as_raw_fd(), aside.as_ptr(), 0) < 0 {
                let e = std::io::Error::last_os_error();
                return Err(format!("{}: cannot remove it: {e}", path.display()));
            }
            libc::fsync(dir.as_raw_fd());
        }
        return Ok(Removal::Removed);
    };
    write::rename(&dir, &aside, &name, true).map_err(|e| {
        format!(
            "{why}; it could not be put back ({e}: a new file took the name), and is now {}",
            path.with_file_name(aside.to_string_lossy().as_ref())
                .display()
        )
    })?;
    Ok(Removal::NotOurs(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_file_capcheck_wrote_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.service.d/99-capcheck-try.conf");
        let ours = marked("try: a test.", "[Service]\nNoNewPrivileges=yes\n");
        let id = write::write_atomic(&path, None, &ours, None).unwrap();

        // Another file with the same text, put in its place, stays (made
        // while the first exists, so that its inode cannot be the first's).
        let other = path.with_file_name("copy");
        std::fs::write(&other, &ours).unwrap();
        std::fs::rename(&other, &path).unwrap();
        match remove_own(&path, Some(id), &ours).unwrap() {
            Removal::NotOurs(why) => assert!(why.contains("inode"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), ours);

        // An administrator's text stays, byte for byte.
        let admin = b"[Service]\nEnvironment=ADMIN=1\n";
        std::fs::write(&path, admin).unwrap();
        match remove_own(&path, None, &ours).unwrap() {
            Removal::NotOurs(why) => assert!(why.contains("ADMIN=1"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), admin);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "nothing left aside: {names:?}");

        // The file written, still there: removed.
        std::fs::remove_file(&path).unwrap();
        let id = write::write_atomic(&path, None, &ours, None).unwrap();
        assert_eq!(
            remove_own(&path, Some(id), &ours).unwrap(),
            Removal::Removed
        );
        assert!(!path.exists());
        assert_eq!(remove_own(&path, Some(id), &ours).unwrap(), Removal::Absent);
    }

    #[test]
    fn a_new_file_never_replaces_one_that_appeared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sysusers.d/capcheck-web.conf");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "u web - \"the administrator's\" -\n").unwrap();
        let err = write::write_atomic(&path, None, b"u web -\n", None).unwrap_err();
        assert!(err.contains("exists"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "u web - \"the administrator's\" -\n"
        );
        assert!(is_marked(&marked("fix: x.", "u web -\n")));
        assert!(!is_marked(b"u web -\n# Written by capcheck\n"));
        let message = occupied(&path, b"[Service]\nEnvironment=\x1b[2JADMIN=1\n");
        assert!(message.contains("did not create it"), "{message}");
        assert!(
            !message.contains('\x1b') && !message.contains('\n'),
            "quoted with escapes: {message}"
        );
    }
}
