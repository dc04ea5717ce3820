//! Facts about the system a unit runs on that a fix must respect: which
//! users exist there. A fix never names a user the system lacks.

use std::path::Path;

/// Where user names are looked up.
#[derive(Debug, Clone)]
enum Users {
    /// The host's user database (NSS), for units of the running system.
    Host,
    /// The users an image's `etc/passwd` and sysusers.d files declare.
    Listed(Vec<User>),
}

/// A user of a listed user database (a sysusers.d user gets its uid at
/// boot: none known here).
#[derive(Debug, Clone)]
struct User {
    name: String,
    uid: Option<u32>,
}

/// The system a fix is planned for.
#[derive(Debug, Clone)]
pub struct TargetSystem {
    users: Users,
}

/// sysusers.d directories, in systemd-sysusers' order.
const SYSUSERS_DIRS: [&str; 4] = [
    "/etc/sysusers.d",
    "/run/sysusers.d",
    "/usr/lib/sysusers.d",
    "/lib/sysusers.d",
];

impl TargetSystem {
    /// The host, or the image at `root`.
    pub fn of(root: Option<&Path>) -> TargetSystem {
        match root {
            Some(root) if root != Path::new("/") => TargetSystem::image(root),
            _ => TargetSystem { users: Users::Host },
        }
    }

    /// An image: the users of its `etc/passwd`, and those its sysusers.d
    /// files create at boot (before any service starts).
    pub fn image(root: &Path) -> TargetSystem {
        let inside = |path: &str| crate::load::paths::under_root(root, path);
        let read = |path: &str| {
            inside(path)
                .and_then(std::fs::read_to_string)
                .unwrap_or_default()
        };
        let mut users: Vec<User> = read("/etc/passwd")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let mut fields = l.split(':');
                let name = fields.next().unwrap_or_default().to_string();
                let uid = fields.nth(1).and_then(|u| u.parse().ok());
                User { name, uid }
            })
            .collect();
        for dir in SYSUSERS_DIRS {
            let Ok(entries) = inside(dir).and_then(std::fs::read_dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".conf") {
                    // Read through the resolver: the entry may be a link.
                    users.extend(
                        sysusers_names(&read(&format!("{dir}/{name}")))
                            .map(|name| User { name, uid: None }),
                    );
                }
            }
        }
        TargetSystem {
            users: Users::Listed(users),
        }
    }

    /// A system with exactly these users (for plans made without a
    /// machine, and tests).
    pub fn with_users(names: impl IntoIterator<Item = String>) -> TargetSystem {
        TargetSystem {
            users: Users::Listed(
                names
                    .into_iter()
                    .map(|name| User { name, uid: None })
                    .collect(),
            ),
        }
    }

    /// Whether `User=name` resolves on this system: a name, or a number,
    /// in the user database (systemd 252 fails a numeric User= that has no
    /// entry, with 217/USER: checked in the real-systemd lane).
    pub fn has_user(&self, name: &str) -> bool {
        match &self.users {
            Users::Host => crate::run::credentials::account(name).is_ok(),
            Users::Listed(users) => users.iter().any(|u| {
                u.name == name || name.parse().ok().is_some_and(|n: u32| u.uid == Some(n))
            }),
        }
    }
}

/// The users a sysusers.d file creates (`u NAME ...` lines).
fn sysusers_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("u") | Some("u!"), Some(name)) => Some(name.to_string()),
            _ => None,
        }
    })
}

/// The sysusers.d line that creates a system user for a unit.
pub fn sysusers_line(user: &str, unit: &str) -> String {
    format!("u {user} - \"capcheck: the user {unit} runs as\" -\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_users_come_from_passwd_and_sysusers() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib/sysusers.d")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("usr/lib/sysusers.d/systemd.conf"),
            "# comment\ng systemd-journal - -\nu systemd-network - \"Network\"\nu! systemd-resolve -\n",
        )
        .unwrap();
        let system = TargetSystem::image(root.path());
        for user in [
            "root",
            "www-data",
            "systemd-network",
            "systemd-resolve",
            "33",
        ] {
            assert!(system.has_user(user), "{user}");
        }
        for user in ["nginx", "systemd-journal", "comment"] {
            assert!(!system.has_user(user), "{user}");
        }
    }

    #[test]
    fn a_sysusers_line_reads_back_as_its_user() {
        let line = sysusers_line("captest", "bind-root.service");
        assert_eq!(sysusers_names(&line).collect::<Vec<_>>(), ["captest"]);
    }
}
