//! Which systemd release a system runs, read from its files: the tag of
//! its `libsystemd-shared-NNN.so` (every build since 246 names the shared
//! library after its version), else the version the `systemd` binary
//! prints at boot ("systemd 257.13-1~deb13u1 running in system mode").

use super::paths::under_root;
use std::path::{Path, PathBuf};

/// A release number found on a system, and the file that told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub release: u16,
    pub evidence: PathBuf,
}

/// Directories that hold libsystemd-shared: upstream's, the split-usr
/// one, Fedora's lib64. Debian and Ubuntu use the multiarch directory
/// `usr/lib/<triplet>/systemd`, searched as well.
const LIBRARY_DIRS: [&str; 3] = ["/usr/lib/systemd", "/lib/systemd", "/usr/lib64/systemd"];

/// The systemd binary, upstream and split-usr.
const MANAGER_BINARIES: [&str; 2] = ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"];

/// The release of the systemd under `root` (`/` for this host), if it can
/// be told.
pub fn detect(root: &Path) -> Option<Found> {
    library_dirs(root)
        .find_map(|dir| shared_library_release(&dir))
        .or_else(|| {
            MANAGER_BINARIES
                .iter()
                .find_map(|b| binary_release(root, b))
        })
}

/// The library directories under `root`, the multiarch ones
/// (`usr/lib/<triplet>/systemd`, Debian's and Ubuntu's) first: every run
/// asks, so the usual case reads two directories, not four.
fn library_dirs(root: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    let mut multiarch: Vec<PathBuf> = under_root(root, "/usr/lib")
        .and_then(std::fs::read_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-linux-"))
        .map(|e| e.path().join("systemd"))
        .collect();
    multiarch.sort();
    multiarch.into_iter().chain(
        LIBRARY_DIRS
            .iter()
            .filter_map(move |d| under_root(root, d).ok()),
    )
}

/// `libsystemd-shared-257.so`, or a distribution's longer tag
/// (`libsystemd-shared-256.11-1.fc41.so`): the leading number (of the first
/// by name, should there be several).
fn shared_library_release(dir: &Path) -> Option<Found> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let tag = name
                .strip_prefix("libsystemd-shared-")?
                .strip_suffix(".so")?;
            let release = leading_number(tag)?;
            Some((name, release))
        })
        .min()
        .map(|(name, release)| Found {
            release,
            evidence: dir.join(name),
        })
}

/// The release in the boot banner compiled into the systemd binary.
fn binary_release(root: &Path, binary: &str) -> Option<Found> {
    let path = under_root(root, binary).ok()?;
    let bytes = std::fs::read(&path).ok()?;
    const BANNER: &[u8] = b"systemd ";
    bytes
        .windows(BANNER.len())
        .enumerate()
        .filter(|(_, w)| *w == BANNER)
        .find_map(|(at, _)| {
            let rest = &bytes[at + BANNER.len()..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let after = rest.get(digits)?;
            // "systemd 257.13-1 running…", "systemd 257 (257.13-1)": a
            // number of three digits ends at a dot, a dash or a space.
            (digits == 3 && matches!(after, b'.' | b'-' | b' '))
                .then(|| leading_number(std::str::from_utf8(&rest[..digits]).ok()?))
                .flatten()
        })
        .map(|release| Found {
            release,
            evidence: path.clone(),
        })
}

fn leading_number(text: &str) -> Option<u16> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_library_names_the_release() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("usr/lib/x86_64-linux-gnu/systemd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libsystemd-core-257.so"), "").unwrap();
        std::fs::write(dir.join("libsystemd-shared-257.so"), "").unwrap();
        let found = detect(root.path()).unwrap();
        assert_eq!(found.release, 257);
        assert!(found.evidence.ends_with("libsystemd-shared-257.so"));

        let fedora = tempfile::tempdir().unwrap();
        let dir = fedora.path().join("usr/lib64/systemd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libsystemd-shared-256.11-1.fc41.so"), "").unwrap();
        assert_eq!(detect(fedora.path()).unwrap().release, 256);
    }

    #[test]
    fn else_the_binary_banner_does() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("usr/lib/systemd");
        std::fs::create_dir_all(&dir).unwrap();
        let binary = b"\x7fELF...systemd is great\0systemd 262.1-1 running in %ssystem mode\0";
        std::fs::write(dir.join("systemd"), binary).unwrap();
        assert_eq!(detect(root.path()).unwrap().release, 262);
    }

    #[test]
    fn nothing_to_tell_from_an_empty_tree() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(detect(root.path()), None);
    }
}
