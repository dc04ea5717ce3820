//! RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory= and
//! ConfigurationDirectory=: the directories systemd makes for a service
//! before its first command runs (`config_parse_exec_directories()`,
//! `setup_exec_directory()` in systemd 252).

use super::specifier::SpecifierContext;
use super::words::{next_word, Unescape};
use serde::Serialize;

/// The kinds of directory, with their base and setting names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Runtime,
    State,
    Cache,
    Logs,
    Configuration,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Runtime,
        Kind::State,
        Kind::Cache,
        Kind::Logs,
        Kind::Configuration,
    ];

    /// Where the system manager makes them.
    pub fn base(self) -> &'static str {
        match self {
            Kind::Runtime => "/run",
            Kind::State => "/var/lib",
            Kind::Cache => "/var/cache",
            Kind::Logs => "/var/log",
            Kind::Configuration => "/etc",
        }
    }

    /// `RuntimeDirectory`, `StateDirectory`…
    pub fn setting(self) -> &'static str {
        match self {
            Kind::Runtime => "RuntimeDirectory",
            Kind::State => "StateDirectory",
            Kind::Cache => "CacheDirectory",
            Kind::Logs => "LogsDirectory",
            Kind::Configuration => "ConfigurationDirectory",
        }
    }

    /// The setting of `key` (`StateDirectory`, or with `mode`,
    /// `StateDirectoryMode`).
    pub fn of(key: &str) -> Option<(Kind, bool)> {
        Kind::ALL.into_iter().find_map(|k| {
            let rest = key.strip_prefix(k.setting())?;
            match rest {
                "" => Some((k, false)),
                "Mode" => Some((k, true)),
                _ => None,
            }
        })
    }

    /// The service's user owns the innermost directory, except for
    /// configuration, which root keeps.
    pub fn owned_by_service(self) -> bool {
        self != Kind::Configuration
    }
}

/// One kind's directories and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directories {
    /// Paths relative to the kind's base.
    pub paths: Vec<String>,
    pub mode: u32,
}

impl Default for Directories {
    fn default() -> Directories {
        Directories {
            paths: Vec::new(),
            mode: 0o755,
        }
    }
}

/// Reads one `…Directory=` value into `into`; returns what systemd ignores.
pub fn parse_paths(
    value: &str,
    specifiers: &SpecifierContext,
    into: &mut Directories,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if value.trim().is_empty() {
        into.paths.clear();
        return warnings;
    }
    let mut rest = value;
    loop {
        let word = match next_word(&mut rest, Unescape::CEscapes) {
            Ok(Some(word)) => word,
            Ok(None) => break,
            Err(_) => {
                warnings.push(format!("invalid syntax, ignoring: {value}"));
                break;
            }
        };
        let Ok(word) = specifiers.expand(&word) else {
            warnings.push(format!("failed to resolve specifiers in {word}, ignoring"));
            continue;
        };
        // `path:symlink` (a symlink to make too) names the same directory.
        let path = word.split(':').next().unwrap_or_default();
        let normalized = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect::<Vec<_>>();
        if path.starts_with('/') || normalized.is_empty() || normalized.contains(&"..") {
            warnings.push(format!("{path} is not a valid relative path, ignoring"));
            continue;
        }
        let path = normalized.join("/");
        if !into.paths.contains(&path) {
            into.paths.push(path);
        }
    }
    warnings
}

/// Reads a `…DirectoryMode=` value (octal).
pub fn parse_mode(value: &str, into: &mut Directories) -> Option<String> {
    match u32::from_str_radix(value, 8) {
        Ok(mode) if mode <= 0o7777 => {
            into.mode = mode;
            None
        }
        _ => Some(format!("failed to parse mode, ignoring: {value}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit_name::UnitName;

    #[test]
    fn paths_and_modes_as_systemd_reads_them() {
        let name = UnitName::parse("web@blue.service").unwrap();
        let cx = SpecifierContext {
            name: &name,
            fragment: None,
            user_manager: false,
            root: std::path::Path::new("/"),
        };
        let mut dirs = Directories::default();
        let warnings = parse_paths("web %i/./cache a//b:link ../up /abs web", &cx, &mut dirs);
        assert_eq!(dirs.paths, ["web", "blue/cache", "a/b"]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(parse_mode("0750", &mut dirs), None);
        assert_eq!(dirs.mode, 0o750);
        assert!(parse_mode("rwx", &mut dirs).is_some());
        assert!(parse_paths("", &cx, &mut dirs).is_empty());
        assert!(dirs.paths.is_empty());
        assert_eq!(Kind::of("StateDirectoryMode"), Some((Kind::State, true)));
        assert_eq!(Kind::of("LogsDirectory"), Some((Kind::Logs, false)));
        assert_eq!(Kind::of("RuntimeDirectoryPreserve"), None);
    }
}
