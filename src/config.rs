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

use crate::caps::Risk;
use crate::finding::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
}

/// A configuration file that cannot be used.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl Config {
    /// Reads one configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let error = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let mut config: Config =
            toml_edit::de::from_str(&text).map_err(|e| error(e.to_string()))?;
        config.base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(config)
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
