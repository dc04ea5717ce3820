//! Linux capabilities: the table in `rules/capabilities.toml` and a 64-bit
//! capability set with systemd's rules for reading capability words.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::OnceLock;

/// How much a capability gives away, as classified in `rules/capabilities.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    Low,
    Medium,
    High,
    RootEquivalent,
}

/// One row of the capability table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    pub number: u8,
    pub name: String,
    pub since: String,
    pub gates: String,
    pub risk: Risk,
}

include!(concat!(env!("OUT_DIR"), "/capabilities.rs"));

/// All capabilities systemd 252 knows, indexed by number (0..=40).
pub fn table() -> &'static [Capability] {
    static TABLE: OnceLock<Vec<Capability>> = OnceLock::new();
    TABLE.get_or_init(|| {
        CAPABILITY_ROWS
            .iter()
            .map(|&(number, name, since, gates, risk)| Capability {
                number,
                name: name.to_string(),
                since: since.to_string(),
                gates: gates.to_string(),
                risk,
            })
            .collect()
    })
}

/// The highest capability number systemd 252 has a name for.
pub const LAST_CAP: u8 = 40;

/// The capability with this number, if it has a name.
pub fn by_number(number: u8) -> Option<&'static Capability> {
    table().get(number as usize)
}

/// Looks a name up the way systemd's gperf table does: case-insensitive,
/// with the `CAP_` prefix required.
pub fn by_name(name: &str) -> Option<&'static Capability> {
    table().iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Reads one word of a capability list as systemd's `capability_from_name()`
/// does: a number 0..=`limit` (decimal, `0x` hex, `0`/`0o` octal, `0b`
/// binary, optional sign; the limit is the release's, see
/// [`crate::semantics::Semantics::capability_limit`]) or a capability
/// name. `None` means systemd drops the word.
pub fn parse_word(word: &str, limit: u8) -> Option<u8> {
    if let Some(n) = parse_c_int(word) {
        return (0..=i64::from(limit)).contains(&n).then_some(n as u8);
    }
    by_name(word).map(|c| c.number)
}

/// The set of the named capabilities (names must be valid: tables in the
/// code and in rules/ are checked by tests).
pub fn set_of<S: AsRef<str>>(names: &[S]) -> CapSet {
    names
        .iter()
        .map(|n| {
            by_name(n.as_ref())
                .unwrap_or_else(|| panic!("unknown capability {}", n.as_ref()))
                .number
        })
        .collect()
}

/// systemd's `safe_atoi()`: `0b`/`0o` prefixes picked first, then
/// `strtol(…, 0)`, which takes a sign, `0x` hex and a leading-zero octal.
/// The whole word must be consumed and fit an `int`.
pub fn parse_c_int(word: &str) -> Option<i64> {
    let (base, rest) = match word.get(..2) {
        Some("0b" | "0B") => (2, &word[2..]),
        Some("0o" | "0O") => (8, &word[2..]),
        _ => (0, word),
    };
    // strtol skips leading white space (a quoted word can carry some).
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, unsigned) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let (radix, digits) = if base != 0 {
        (base, unsigned)
    } else if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        (16, hex)
    } else if unsigned.len() > 1 && unsigned.starts_with('0') {
        (8, &unsigned[1..])
    } else {
        (10, unsigned)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    (i32::MIN as i64..=i32::MAX as i64)
        .contains(&value)
        .then_some(value)
}

/// A set of capability bits as systemd stores it: 64 bits, of which only
/// 0..=40 have names. Bits 41..=63 are kept, as systemd keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);
    /// systemd's `CAP_ALL`: every bit, the bounding set's default.
    pub const ALL: CapSet = CapSet(u64::MAX);
    /// The bits that name a capability.
    pub const KNOWN: CapSet = CapSet((1u64 << (LAST_CAP + 1)) - 1);

    pub fn single(number: u8) -> CapSet {
        CapSet(1u64 << number)
    }

    pub fn contains(self, number: u8) -> bool {
        self.0 & (1u64 << number) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    pub fn intersection(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    pub fn difference(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    pub fn complement(self) -> CapSet {
        CapSet(!self.0)
    }

    /// True when every named capability is in the set.
    pub fn has_all_known(self) -> bool {
        self.intersection(CapSet::KNOWN) == CapSet::KNOWN
    }

    /// The named capabilities in the set, lowest number first.
    pub fn iter(self) -> impl Iterator<Item = &'static Capability> {
        table().iter().filter(move |c| self.contains(c.number))
    }

    /// Upper-case names, sorted by name (the order of capcheck's JSON).
    pub fn sorted_names(self) -> Vec<&'static str> {
        let mut names: Vec<&str> = self.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// Bits set above the last named capability (invisible to systemd's dump).
    pub fn unnamed_bits(self) -> Vec<u8> {
        (LAST_CAP + 1..64).filter(|&n| self.contains(n)).collect()
    }
}

impl FromIterator<u8> for CapSet {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        CapSet(iter.into_iter().fold(0, |acc, n| acc | (1u64 << n)))
    }
}

/// Serialised as the sorted upper-case names of its named capabilities.
impl Serialize for CapSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.sorted_names().serialize(serializer)
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_all_known() {
            return f.write_str("(all)");
        }
        if self.intersection(CapSet::KNOWN).is_empty() {
            return f.write_str("(none)");
        }
        let names: Vec<&str> = self.iter().map(|c| c.name.as_str()).collect();
        if names.len() > 30 {
            let missing: Vec<&str> = CapSet::KNOWN
                .difference(*self)
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return write!(f, "all but {}", missing.join(" "));
        }
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_numbered_densely_and_names_are_unique() {
        let t = table();
        assert_eq!(t.len(), 41);
        for (i, c) in t.iter().enumerate() {
            assert_eq!(c.number as usize, i, "{}", c.name);
            assert!(c.name.starts_with("CAP_"));
        }
        let mut names: Vec<_> = t.iter().map(|c| &c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 41);
    }

    #[test]
    fn words_follow_safe_atoi_and_the_name_table() {
        // Confirmed case C10: decimal, hex, octal, binary, 0o, out-of-range.
        let parse_word = |word| parse_word(word, 63);
        assert_eq!(parse_word("0"), Some(0));
        assert_eq!(parse_word("0x15"), Some(21));
        assert_eq!(parse_word("014"), Some(12));
        assert_eq!(parse_word("0b1"), Some(1));
        assert_eq!(parse_word("0o3"), Some(3));
        assert_eq!(parse_word("41"), Some(41));
        assert_eq!(parse_word("63"), Some(63));
        assert_eq!(parse_word("64"), None);
        assert_eq!(parse_word("-1"), None);
        assert_eq!(parse_word("+5"), Some(5));
        assert_eq!(parse_word("0x"), None);
        assert_eq!(parse_word("09"), None);
        assert_eq!(parse_word("cap_net_admin"), Some(12));
        assert_eq!(parse_word("Cap_Chown"), Some(0));
        assert_eq!(parse_word("NET_ADMIN"), None);
        assert_eq!(parse_word("CAP_CHOWN,CAP_KILL"), None);
        // From 254 on, 63 is past the limit.
        assert_eq!(super::parse_word("63", 62), None);
        assert_eq!(super::parse_word("62", 62), Some(62));
    }
}
