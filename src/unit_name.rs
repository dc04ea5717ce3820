//! Unit names: type suffix, template prefix and instance, escaping.

use std::fmt;

/// The unit types systemd knows, by file suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitType {
    Service,
    Socket,
    Mount,
    Swap,
    Automount,
    Timer,
    Path,
    Slice,
    Scope,
    Target,
    Device,
}

impl UnitType {
    pub const ALL: [UnitType; 11] = [
        UnitType::Service,
        UnitType::Socket,
        UnitType::Mount,
        UnitType::Swap,
        UnitType::Automount,
        UnitType::Timer,
        UnitType::Path,
        UnitType::Slice,
        UnitType::Scope,
        UnitType::Target,
        UnitType::Device,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            UnitType::Service => "service",
            UnitType::Socket => "socket",
            UnitType::Mount => "mount",
            UnitType::Swap => "swap",
            UnitType::Automount => "automount",
            UnitType::Timer => "timer",
            UnitType::Path => "path",
            UnitType::Slice => "slice",
            UnitType::Scope => "scope",
            UnitType::Target => "target",
            UnitType::Device => "device",
        }
    }

    pub fn from_suffix(suffix: &str) -> Option<UnitType> {
        UnitType::ALL.into_iter().find(|t| t.suffix() == suffix)
    }

    /// The section that carries this type's own settings (`[Service]`…).
    pub fn own_section(self) -> Option<&'static str> {
        match self {
            UnitType::Service => Some("Service"),
            UnitType::Socket => Some("Socket"),
            UnitType::Mount => Some("Mount"),
            UnitType::Swap => Some("Swap"),
            UnitType::Automount => Some("Automount"),
            UnitType::Timer => Some("Timer"),
            UnitType::Path => Some("Path"),
            UnitType::Slice => Some("Slice"),
            UnitType::Scope => Some("Scope"),
            UnitType::Target | UnitType::Device => None,
        }
    }

    /// Whether units of this type run processes with an exec context
    /// (User=, capabilities, Exec* commands).
    pub fn has_exec_context(self) -> bool {
        matches!(
            self,
            UnitType::Service | UnitType::Socket | UnitType::Mount | UnitType::Swap
        )
    }

    /// The sections systemd accepts in this type's files (case-sensitive).
    pub fn knows_section(self, name: &str) -> bool {
        name == "Unit" || name == "Install" || self.own_section() == Some(name)
    }
}

/// A parsed unit name such as `getty@tty1.service`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitName {
    /// The whole name.
    pub name: String,
    /// Before `@` (or before the suffix when there is no `@`).
    pub prefix: String,
    /// After `@`: `Some("")` for a template, `Some("tty1")` for an instance.
    pub instance: Option<String>,
    pub unit_type: UnitType,
}

impl UnitName {
    /// Parses a unit name; `None` when it is not one (no known suffix,
    /// empty prefix, a slash, several `@`).
    pub fn parse(name: &str) -> Option<UnitName> {
        let (stem, suffix) = name.rsplit_once('.')?;
        let unit_type = UnitType::from_suffix(suffix)?;
        if stem.is_empty() || name.contains('/') || name.len() > 255 {
            return None;
        }
        let (prefix, instance) = match stem.split_once('@') {
            Some((p, i)) if !i.contains('@') => (p, Some(i.to_string())),
            Some(_) => return None,
            None => (stem, None),
        };
        if prefix.is_empty() {
            return None;
        }
        Some(UnitName {
            name: name.to_string(),
            prefix: prefix.to_string(),
            instance,
            unit_type,
        })
    }

    pub fn is_template(&self) -> bool {
        self.instance.as_deref() == Some("")
    }

    pub fn is_instance(&self) -> bool {
        self.instance.as_deref().is_some_and(|i| !i.is_empty())
    }

    /// `foo@.service` for `foo@bar.service`.
    pub fn template(&self) -> Option<String> {
        self.is_instance()
            .then(|| format!("{}@.{}", self.prefix, self.unit_type.suffix()))
    }

    /// The same template with an instance: `foo@i.service` for `foo@.service`.
    pub fn with_instance(&self, instance: &str) -> String {
        format!("{}@{}.{}", self.prefix, instance, self.unit_type.suffix())
    }

    /// The name without the type suffix (`%N`).
    pub fn stem(&self) -> &str {
        &self.name[..self.name.len() - self.unit_type.suffix().len() - 1]
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// systemd's `unit_name_unescape()`: `-` becomes `/`, `\xNN` a byte.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'-' => out.push(b'/'),
            b'\\' if bytes.len() >= i + 4 && bytes[i + 1] == b'x' => {
                match u8::from_str_radix(&s[i + 2..i + 4], 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => out.push(b'\\'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_prefix_instance_and_type() {
        let n = UnitName::parse("getty@tty1.service").unwrap();
        assert_eq!(n.prefix, "getty");
        assert_eq!(n.instance.as_deref(), Some("tty1"));
        assert_eq!(n.template().as_deref(), Some("getty@.service"));
        assert_eq!(n.stem(), "getty@tty1");
        let t = UnitName::parse("getty@.service").unwrap();
        assert!(t.is_template());
        assert_eq!(t.with_instance("i"), "getty@i.service");
        assert!(UnitName::parse("foo.conf").is_none());
        assert!(UnitName::parse("@x.service").is_none());
        assert_eq!(unescape("dev-sda\\x2d1"), "dev/sda-1");
    }
}
