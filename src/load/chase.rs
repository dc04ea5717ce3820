//! Resolving a path inside an image (`--root`) the way systemd's chase()
//! does with the root as prefix: `..` at the root stays at the root, and an
//! absolute symlink target is read inside the root. Every read and write
//! under `--root` goes through here, so nothing an image holds can lead
//! capcheck out of it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Symlink hops followed before a path is called a loop (systemd's
/// CHASE_MAX is 32).
pub const MAX_SYMLINK_HOPS: usize = 32;

/// Whether the last component is followed when it is a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    Follow,
    /// Kept as it is: the caller reads the link itself (a mask, an alias).
    Keep,
}

/// `path` (absolute, as the image sees it) resolved inside `root`: the
/// host path of what it names, every symlink on the way followed inside
/// the root. Components that do not exist are kept as they are, so that
/// a file to be created resolves too (but `..` below one is an error, as
/// for the kernel). Errors on a symlink loop or an unreadable directory.
pub fn chase(root: &Path, path: &Path, last: Last) -> io::Result<PathBuf> {
    let mut queue: VecDeque<OsString> = components(path);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    let mut missing = false;
    while let Some(name) = queue.pop_front() {
        if name == ".." {
            // As the kernel walks: below a component that does not exist,
            // `..` leads nowhere either.
            if missing {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            resolved.pop();
            continue;
        }
        let here = join(root, &resolved).join(&name);
        let is_last = queue.is_empty();
        // Below a component that does not exist nothing can be a link.
        let meta = if missing {
            None
        } else {
            match std::fs::symlink_metadata(&here) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => None,
                Err(e) => return Err(e),
            }
        };
        missing |= meta.is_none();
        let is_link = meta.is_some_and(|m| m.file_type().is_symlink());
        if !is_link || (is_last && last == Last::Keep) {
            resolved.push(name);
            continue;
        }
        hops += 1;
        if hops > MAX_SYMLINK_HOPS {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let target = std::fs::read_link(&here)?;
        if target.is_absolute() {
            resolved.clear();
        }
        for component in components(&target).into_iter().rev() {
            queue.push_front(component);
        }
    }
    Ok(join(root, &resolved))
}

/// Where a symlink found at `link` (a host path inside `root`) leads,
/// pointing at `target`: its directory part resolved inside the root, its
/// last component kept, so that the caller can follow it hop by hop.
pub fn link_destination(root: &Path, link: &Path, target: &Path) -> io::Result<PathBuf> {
    let inside = Path::new("/").join(link.strip_prefix(root).unwrap_or(link));
    let from = if target.is_absolute() {
        target.to_path_buf()
    } else {
        inside.parent().unwrap_or(Path::new("/")).join(target)
    };
    chase(root, &from, Last::Keep)
}

/// The normal components of a path, `..` kept (it means something after
/// a symlink), `.` and the root dropped.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join(root: &Path, resolved: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(resolved);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn nothing_leads_out_of_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/su"), "image su").unwrap();
        let sys = root.join("etc/systemd/system");
        symlink("../../../../../../etc/shadow", sys.join("climb.service")).unwrap();
        symlink("/../../etc/shadow", sys.join("absolute.service")).unwrap();
        symlink("/usr/bin", root.join("bin")).unwrap();
        symlink("/etc/systemd", root.join("etc/linked")).unwrap();
        symlink("loop.service", sys.join("loop.service")).unwrap();
        let cases = [
            ("/etc/systemd/system/climb.service", root.join("etc/shadow")),
            (
                "/etc/systemd/system/absolute.service",
                root.join("etc/shadow"),
            ),
            ("/../../../etc/passwd", root.join("etc/passwd")),
            ("/bin/su", root.join("usr/bin/su")),
            ("/bin/../../../usr/bin/su", root.join("usr/bin/su")),
            ("/etc/linked/system/x.service", sys.join("x.service")),
            ("/missing/dir/file", root.join("missing/dir/file")),
        ];
        for (path, expected) in cases {
            assert_eq!(
                chase(&root, Path::new(path), Last::Follow).unwrap(),
                expected,
                "{path}"
            );
        }
        assert_eq!(
            chase(
                &root,
                Path::new("/etc/systemd/system/climb.service"),
                Last::Keep
            )
            .unwrap(),
            sys.join("climb.service")
        );
        let e = chase(
            &root,
            Path::new("/etc/systemd/system/loop.service"),
            Last::Follow,
        );
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::ELOOP));
        assert_eq!(
            link_destination(
                &root,
                &sys.join("climb.service"),
                Path::new("../../../../x")
            )
            .unwrap(),
            root.join("x")
        );
        assert_eq!(
            link_destination(
                &root,
                &sys.join("a.service"),
                Path::new("/etc/linked/system/b.service")
            )
            .unwrap(),
            sys.join("b.service")
        );
    }
}
