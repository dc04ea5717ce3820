//! Platform profiles from `rules/platforms.toml`.

use crate::caps::{self, CapSet};
use serde::Deserialize;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    name: String,
    description: String,
    source: String,
    #[serde(default)]
    forbidden: Vec<String>,
    #[serde(default)]
    allowed: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Table {
    platform: Vec<RawPlatform>,
}

/// A platform and the capabilities it lets a process have.
#[derive(Debug)]
pub struct Platform {
    pub name: String,
    pub description: String,
    pub source: String,
    /// The capabilities a process may hold there.
    pub permitted: CapSet,
}

/// `rules/platforms.toml`, as JSON made by build.rs.
const PLATFORMS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/platforms.json"));

/// Every platform profile.
pub fn all() -> &'static [Platform] {
    static ALL: OnceLock<Vec<Platform>> = OnceLock::new();
    ALL.get_or_init(|| {
        let table: Table =
            serde_json::from_str(PLATFORMS_JSON).expect("rules/platforms.toml is valid");
        table
            .platform
            .into_iter()
            .map(|p| {
                let permitted = match &p.allowed {
                    Some(allowed) => caps::set_of(allowed),
                    None => CapSet::KNOWN.difference(caps::set_of(&p.forbidden)),
                };
                Platform {
                    name: p.name,
                    description: p.description,
                    source: p.source,
                    permitted,
                }
            })
            .collect()
    })
}

pub fn find(name: &str) -> Option<&'static Platform> {
    all().iter().find(|p| p.name == name)
}

/// The platform called `name`, or why there is none.
pub fn lookup(name: &str) -> Result<&'static Platform, String> {
    find(name).ok_or_else(|| {
        let known: Vec<_> = all().iter().map(|p| p.name.as_str()).collect();
        format!("unknown platform '{name}' (known: {})", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_load() {
        let talos = find("talos").unwrap();
        assert!(!talos.permitted.contains(16) && !talos.permitted.contains(22));
        assert!(talos.permitted.contains(21));
        assert_eq!(
            find("kubernetes-restricted").unwrap().permitted,
            CapSet::single(10)
        );
    }
}
