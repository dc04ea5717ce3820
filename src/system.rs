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
    gid: Option<u32>,
}

/// A group of a listed group database, with the users it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// A user with the ids and groups a service running as it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Its gid and the groups that list it (`initgroups()`).
    pub groups: Vec<u32>,
}

impl Account {
    /// Users the distribution shares between services (`nobody`, and the
    /// static ids below 100 that base-passwd and setup give www-data,
    /// daemon, mail…): files handed to them are handed to every service
    /// that runs as them.
    pub fn is_shared(&self) -> bool {
        self.uid < 100 || self.uid == 65534
    }
}

/// The system a fix is planned for.
#[derive(Debug, Clone)]
pub struct TargetSystem {
    users: Users,
    /// The groups of a listed system (the host's come from NSS).
    groups: Vec<Group>,
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
            _ => TargetSystem {
                users: Users::Host,
                groups: Vec::new(),
            },
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
                let gid = fields.next().and_then(|g| g.parse().ok());
                User { name, uid, gid }
            })
            .collect();
        let groups = read("/etc/group")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split(':').collect();
                Some(Group {
                    name: fields.first()?.to_string(),
                    gid: fields.get(2)?.parse().ok()?,
                    members: fields
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .filter(|m| !m.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
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
                    users.extend(sysusers_names(&read(&format!("{dir}/{name}"))).map(|name| {
                        User {
                            name,
                            uid: None,
                            gid: None,
                        }
                    }));
                }
            }
        }
        TargetSystem {
            users: Users::Listed(users),
            groups,
        }
    }

    /// A system with exactly these users (for plans made without a
    /// machine, and tests).
    pub fn with_users(names: impl IntoIterator<Item = String>) -> TargetSystem {
        TargetSystem {
            users: Users::Listed(
                names
                    .into_iter()
                    .map(|name| User {
                        name,
                        uid: None,
                        gid: None,
                    })
                    .collect(),
            ),
            groups: Vec::new(),
        }
    }

    /// A system with exactly these accounts and groups (for tests).
    pub fn with_accounts(accounts: &[Account], groups: Vec<Group>) -> TargetSystem {
        TargetSystem {
            users: Users::Listed(
                accounts
                    .iter()
                    .map(|a| User {
                        name: a.name.clone(),
                        uid: Some(a.uid),
                        gid: Some(a.gid),
                    })
                    .collect(),
            ),
            groups,
        }
    }

    /// The user `name` (or a number) with its ids and groups; None when
    /// the system lacks it or its ids are not known yet (a sysusers.d user
    /// of an image).
    pub fn account(&self, name: &str) -> Option<Account> {
        match &self.users {
            Users::Host => {
                let a = crate::run::credentials::account(name).ok()?;
                let groups = crate::run::credentials::member_groups(&a.name, a.gid);
                Some(Account {
                    name: a.name,
                    uid: a.uid,
                    gid: a.gid,
                    groups,
                })
            }
            Users::Listed(users) => {
                let by_number = name.parse::<u32>().ok();
                let user = users
                    .iter()
                    .find(|u| u.name == name || (by_number.is_some() && u.uid == by_number))?;
                let (uid, gid) = (user.uid?, user.gid?);
                let mut groups = vec![gid];
                groups.extend(
                    self.groups
                        .iter()
                        .filter(|g| g.members.contains(&user.name) && g.gid != gid)
                        .map(|g| g.gid),
                );
                Some(Account {
                    name: user.name.clone(),
                    uid,
                    gid,
                    groups,
                })
            }
        }
    }

    /// The name of group `gid`.
    pub fn group_name(&self, gid: u32) -> Option<String> {
        match &self.users {
            Users::Host => crate::run::credentials::group_name(gid),
            Users::Listed(_) => self
                .groups
                .iter()
                .find(|g| g.gid == gid)
                .map(|g| g.name.clone()),
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

/// The sysusers.d line that creates a system user for a unit. The GECOS
/// field may hold neither `:` (the passwd separator, which unit names
/// allow) nor a quote or backslash (sysusers.d's own quoting): those
/// become `_`.
pub fn sysusers_line(user: &str, unit: &str) -> String {
    let unit: String = unit
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("u {user} - \"capcheck user of {unit}\" -\n")
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
