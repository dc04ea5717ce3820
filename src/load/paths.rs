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

/// Directories searched for unit files and drop-ins, in priority order.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    /// Real directories (already under `--root`, if one was given).
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The system manager's path, under `root` (`/` for the host).
    pub fn system(root: &Path) -> SearchPath {
        SearchPath {
            dirs: SYSTEM_DIRS
                .iter()
                .filter_map(|d| under_root(root, d).ok())
                .collect(),
        }
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
