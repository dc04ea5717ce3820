//! systemd's unit search paths, highest priority first.

use super::chase::{chase, Last};
use std::path::{Path, PathBuf};

/// The system manager's search path on Debian's systemd 252
/// (`systemd-analyze unit-paths`), without the runtime-only generator
/// directories' temporary locations.
const SYSTEM_DIRS: [&str; 13] = [
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/run/systemd/generator.late",
];

/// Where systemd's generators write the units they make, at boot and at
/// each `daemon-reload` (`generator`, `generator.early`, `generator.late`).
const GENERATOR_DIR_PREFIX: &str = "/run/systemd/generator";

/// Whether `path` (a host path; inside `root` for an image) is a file a
/// generator wrote: systemd writes it anew at the next `daemon-reload` or
/// boot, so an edit of it does not last.
pub fn is_generated(path: &Path, root: &Path) -> bool {
    let inside = Path::new("/").join(path.strip_prefix(root).unwrap_or(path));
    inside
        .to_str()
        .and_then(|p| p.strip_prefix(GENERATOR_DIR_PREFIX))
        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('.'))
}

/// The generator directories of the system manager's search path.
pub fn generator_dirs() -> impl Iterator<Item = &'static str> {
    SYSTEM_DIRS
        .into_iter()
        .filter(|d| d.starts_with(GENERATOR_DIR_PREFIX))
}

/// Directories searched for unit files and drop-ins, in priority order.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    /// Real directories (already under `--root`, if one was given).
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The system manager's path, under `root` (`/` for the host). A
    /// directory that is another one of the path (`/usr/lib/systemd/system`
    /// is `/lib/systemd/system` on a merged /usr) is searched once, as the
    /// first, as systemd does (`path_strv_resolve_uniq()`): it is a few
    /// hundred entries read and asked for every unit.
    pub fn system(root: &Path) -> SearchPath {
        let merged_usr = root == Path::new("/") && host_has_merged_usr();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for dir in SYSTEM_DIRS {
            if merged_usr && dir.starts_with("/usr/lib/") && SYSTEM_DIRS.contains(&&dir[4..]) {
                continue;
            }
            if let Ok(dir) = under_root(root, dir) {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
        SearchPath { dirs }
    }

    /// The user manager's path for the user whose home is `home`, under `root`.
    pub fn user(root: &Path, home: &Path) -> SearchPath {
        let home = home.to_string_lossy();
        let runtime = std::env::var("XDG_RUNTIME_DIR").ok();
        let mut dirs: Vec<String> = vec![format!("{home}/.config/systemd/user.control")];
        dirs.extend(runtime.iter().map(|r| format!("{r}/systemd/user.control")));
        dirs.push(format!("{home}/.config/systemd/user"));
        dirs.push("/etc/xdg/systemd/user".to_string());
        dirs.push("/etc/systemd/user".to_string());
        dirs.extend(runtime.iter().map(|r| format!("{r}/systemd/user")));
        dirs.push("/run/systemd/user".to_string());
        dirs.push(format!("{home}/.local/share/systemd/user"));
        dirs.push("/usr/local/share/systemd/user".to_string());
        dirs.push("/usr/share/systemd/user".to_string());
        dirs.push("/usr/local/lib/systemd/user".to_string());
        dirs.push("/usr/lib/systemd/user".to_string());
        SearchPath {
            dirs: dirs
                .iter()
                .filter_map(|d| under_root(root, d).ok())
                .collect(),
        }
    }

    /// Puts `dir` first, as `systemd-analyze --offline` does for the
    /// directory of each unit file it is given.
    pub fn prepend(&mut self, dir: &Path) {
        if !self.dirs.iter().any(|d| d == dir) {
            self.dirs.insert(0, dir.to_path_buf());
        }
    }
}

/// Whether this host's /lib is /usr/lib (a merged /usr, as Debian 12 and
/// every current distribution has): asked once per run.
fn host_has_merged_usr() -> bool {
    static MERGED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MERGED.get_or_init(|| {
        std::fs::read_link("/lib")
            .is_ok_and(|t| t == Path::new("usr/lib") || t == Path::new("/usr/lib"))
    })
}

/// `path` (absolute, as the unit's system sees it) as a host path: itself
/// on the host, resolved inside `root` for an image (see [`super::chase`]).
pub fn under_root(root: &Path, path: &str) -> std::io::Result<PathBuf> {
    if root == Path::new("/") {
        Ok(PathBuf::from(path))
    } else {
        chase(root, Path::new(path), Last::Follow)
    }
}

/// A host path found inside `root` with every symlink on it followed: as
/// it is on the host, inside the root for an image.
pub fn resolve(root: &Path, path: &Path) -> std::io::Result<PathBuf> {
    if root == Path::new("/") {
        Ok(path.to_path_buf())
    } else {
        let inside = Path::new("/").join(path.strip_prefix(root).unwrap_or(path));
        chase(root, &inside, Last::Follow)
    }
}

/// `path` (absolute) joined to `root` as it is written, without resolving
/// anything: how a path inside an image is shown, and where resolving
/// starts.
pub fn join_root(root: &Path, path: &str) -> PathBuf {
    if root == Path::new("/") {
        PathBuf::from(path)
    } else {
        root.join(path.trim_start_matches('/'))
    }
}

/// Where the symlink `link`, pointing at `target`, leads: on the host, the
/// target beside the link (absolute as it is); in an image, resolved inside
/// the root, its last component left for the caller to follow.
pub fn link_destination(root: &Path, link: &Path, target: &Path) -> std::io::Result<PathBuf> {
    if root == Path::new("/") {
        Ok(link.parent().unwrap_or(Path::new("/")).join(target))
    } else {
        super::chase::link_destination(root, link, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_units_are_those_in_generator_directories() {
        let root = Path::new("/img");
        assert!(is_generated(
            Path::new("/img/run/systemd/generator.late/exim4.service"),
            root
        ));
        assert!(is_generated(
            Path::new("/run/systemd/generator/x.mount"),
            Path::new("/")
        ));
        assert!(!is_generated(
            Path::new("/img/run/systemd/generators/x.service"),
            root
        ));
        assert!(!is_generated(
            Path::new("/img/etc/systemd/system/x.service"),
            root
        ));
        assert_eq!(generator_dirs().count(), 3);
    }

    #[test]
    fn a_merged_usr_directory_is_searched_once() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib/systemd/system")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        let dirs = SearchPath::system(root.path()).dirs;
        let usr_lib = root.path().join("usr/lib/systemd/system");
        assert_eq!(dirs.iter().filter(|d| **d == usr_lib).count(), 1);
        assert_eq!(dirs.len(), SYSTEM_DIRS.len() - 1);
    }
}
