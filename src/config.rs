//! `capcheck.toml`: found by walking up from the current directory (or
//! given with `--config`; ignored with `--isolated`).
//!
//! ```toml
//! platform = "talos"              # as --platform
//! systemd = "257"                 # as --systemd
//! fail-on = "warning"             # as --fail-on
//! select = ["CAP1", "CAP3"]       # codes, code prefixes or names; default all
//! ignore = ["CAP306"]
//!
//! [severity]                      # per-check severity, or "off"
//! CAP302 = "error"
//! missing-no-new-privileges = "off"
//!
//! [per-path-ignores]              # glob (relative to the config file) → codes
//! "vendor/**" = ["CAP101", "CAP301"]
//!
//! [checks.dangerous-capability]
//! min-risk = "high"               # low | medium | high | root-equivalent
//! ```
//!
//! A configuration comes from the repository being linted, so nothing in it
//! may go unnoticed: an unknown key, check, platform or pattern is an error
//! at its line and column, the summary names the file, and `lint` warns
//! when the file leaves nothing to report.

use crate::caps::Risk;
use crate::finding::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml_edit::{ImDocument, Item, TableLike, Value};

/// The names capcheck looks for, in each directory, in this order.
pub const CONFIG_NAMES: [&str; 2] = ["capcheck.toml", ".capcheck.toml"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityOrOff {
    Off,
    Info,
    Warning,
    Error,
}

impl SeverityOrOff {
    pub fn severity(self) -> Option<Severity> {
        match self {
            SeverityOrOff::Off => None,
            SeverityOrOff::Info => Some(Severity::Info),
            SeverityOrOff::Warning => Some(Severity::Warning),
            SeverityOrOff::Error => Some(Severity::Error),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DangerousCapabilityOptions {
    pub min_risk: Option<Risk>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckOptionsConfig {
    #[serde(default)]
    pub dangerous_capability: DangerousCapabilityOptions,
}

/// The contents of a configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub platform: Option<String>,
    /// The systemd release units are read as (`--systemd`).
    pub systemd: Option<String>,
    pub fail_on: Option<Severity>,
    pub select: Option<Vec<String>>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub severity: BTreeMap<String, SeverityOrOff>,
    #[serde(default)]
    pub per_path_ignores: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub checks: CheckOptionsConfig,
    /// The directory the file was found in (per-path globs are relative to it).
    #[serde(skip)]
    pub base: PathBuf,
    /// The file read, as messages name it (None: no configuration file is
    /// in use).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// A configuration file that cannot be used, and where in it.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    /// Line and column (from 1), when the problem is at a place in the file.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl ConfigError {
    /// An error at byte `offset` of the file's `text`, if known.
    fn at(path: &Path, text: &str, offset: Option<usize>, message: String) -> ConfigError {
        let position = offset.map(|offset| {
            let before = &text[..offset.min(text.len())];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line = before.matches('\n').count() + 1;
            (line, before[line_start..].chars().count() + 1)
        });
        ConfigError {
            path: path.to_path_buf(),
            position,
            message,
        }
    }
}

impl Config {
    /// Reads one configuration file, named `shown` in messages.
    pub fn load(path: &Path, shown: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::at(shown, "", None, e.to_string()))?;
        let mut config: Config = toml_edit::de::from_str(&text).map_err(|e| {
            // "invalid array\nexpected `]`" on one line.
            let message = e.message().trim().replace('\n', ": ");
            ConfigError::at(shown, &text, e.span().map(|s| s.start), message)
        })?;
        if let Err((value, message)) = config.check_names() {
            let document = ImDocument::parse(text.as_str()).ok();
            let place = document.and_then(|d| find(d.as_table(), &value));
            return Err(ConfigError::at(
                shown,
                &text,
                place.map(|p| p.start),
                message,
            ));
        }
        config.base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        config.file = Some(shown.to_path_buf());
        Ok(config)
    }

    /// Every check, platform and per-path pattern named must exist: a typo
    /// would silently change what is checked. On error, the value named
    /// and why it is wrong.
    fn check_names(&self) -> Result<(), (String, String)> {
        let selectors = self.select.iter().flatten().chain(&self.ignore);
        let selectors = selectors
            .chain(self.severity.keys())
            .chain(self.per_path_ignores.values().flatten());
        for selector in selectors {
            if !crate::checks::names_a_check(selector) {
                let message = format!("unknown check '{selector}' (see `capcheck rules`)");
                return Err((selector.clone(), message));
            }
        }
        for pattern in self.per_path_ignores.keys() {
            if let Err(e) = globset::Glob::new(pattern) {
                return Err((pattern.clone(), format!("invalid pattern: {e}")));
            }
        }
        if let Some(name) = &self.platform {
            crate::checks::platform::lookup(name).map_err(|e| (name.clone(), e))?;
        }
        Ok(())
    }

    /// The first configuration file in `start` or one of its ancestors.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start.ancestors().find_map(|dir| {
            CONFIG_NAMES
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        })
    }
}

/// Where the first key or string value equal to `wanted` is in `table` or
/// the tables and arrays in it.
fn find(table: &dyn TableLike, wanted: &str) -> Option<Range<usize>> {
    table.iter().find_map(|(name, item)| {
        let (key, _) = table.get_key_value(name)?;
        if name == wanted {
            return key.span();
        }
        match item {
            Item::Value(value) => find_in_value(value, wanted),
            Item::Table(t) => find(t, wanted),
            Item::ArrayOfTables(tables) => tables.iter().find_map(|t| find(t, wanted)),
            Item::None => None,
        }
    })
}

fn find_in_value(value: &Value, wanted: &str) -> Option<Range<usize>> {
    match value {
        Value::String(s) if s.value() == wanted => value.span(),
        Value::Array(values) => values.iter().find_map(|v| find_in_value(v, wanted)),
        Value::InlineTable(t) => find(t, wanted),
        _ => None,
    }
}
