//! systemd's unit search paths, highest priority first.

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
            dirs: SYSTEM_DIRS.iter().map(|d| under_root(root, d)).collect(),
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
            dirs: dirs.iter().map(|d| under_root(root, d)).collect(),
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

/// `path` (absolute) inside `root`.
pub fn under_root(root: &Path, path: &str) -> PathBuf {
    if root == Path::new("/") {
        PathBuf::from(path)
    } else {
        root.join(path.trim_start_matches('/'))
    }
}

/// Symlink hops followed before a link is called a loop (systemd's CHASE
/// limit is 32).
pub const MAX_SYMLINK_HOPS: usize = 32;

/// Where the symlink `link`, pointing at `target`, leads: an absolute target
/// is read inside `root`, a relative one beside the link.
pub fn link_destination(root: &Path, link: &Path, target: &Path) -> PathBuf {
    if target.is_absolute() {
        under_root(root, &target.to_string_lossy())
    } else {
        link.parent().unwrap_or(Path::new("/")).join(target)
    }
}
