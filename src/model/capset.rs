//! CapabilityBoundingSet= and AmbientCapabilities= assignments, merged with
//! systemd 252's exact rule (`config_parse_capability_set()`).

use super::words::{words, Unescape, WordError};
use crate::caps::{self, CapSet};

/// Which of the two settings; they differ only in their starting value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapList {
    /// Starts as every bit (`CAP_ALL`).
    Bounding,
    /// Starts empty.
    Ambient,
}

impl CapList {
    pub fn initial(self) -> CapSet {
        match self {
            CapList::Bounding => CapSet::ALL,
            CapList::Ambient => CapSet::EMPTY,
        }
    }
}

/// The two settings, with their keys.
pub const CAP_SETTINGS: [(&str, CapList); 2] = [
    ("CapabilityBoundingSet", CapList::Bounding),
    ("AmbientCapabilities", CapList::Ambient),
];

/// The capabilities named by the non-inverted lines among `values` (what
/// the author asked for by name, as opposed to what a `~` list left in).
pub fn named_positively<'a>(values: impl IntoIterator<Item = &'a str>) -> CapSet {
    values
        .into_iter()
        .map(CapAssignment::parse)
        .filter(|a| !a.inverted)
        .fold(CapSet::EMPTY, |acc, a| acc.union(a.named))
}

/// What one assignment line said, word by word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapAssignment {
    /// A leading `~`: the listed capabilities are removed, not kept.
    pub inverted: bool,
    /// The capabilities the line names (systemd's `sum`).
    pub named: CapSet,
    /// Words systemd silently dropped: typos, missing `CAP_`, commas…
    pub dropped: Vec<String>,
    /// Set when a quote or backslash stopped the line early; the words
    /// after it were never read.
    pub stopped: Option<WordError>,
}

/// How the assignment combined with what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The set was replaced: the line named nothing it recognised, or the
    /// set still had its starting value.
    Replaced,
    /// The named capabilities were added (or removed, for `~`).
    Merged,
}

impl CapAssignment {
    pub fn parse(value: &str) -> CapAssignment {
        let (inverted, list) = match value.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let (words, stopped) = words(list, Unescape::Literal);
        let mut named = CapSet::EMPTY;
        let mut dropped = Vec::new();
        for word in words {
            match caps::parse_word(&word) {
                Some(n) => named = named.union(CapSet::single(n)),
                None => dropped.push(word),
            }
        }
        CapAssignment {
            inverted,
            named,
            dropped,
            stopped,
        }
    }

    /// Applies the line to `current`: replace when nothing was recognised
    /// or `current` is still the starting value, merge otherwise.
    pub fn apply(&self, current: CapSet, list: CapList) -> (CapSet, Merge) {
        if self.named.is_empty() || current == list.initial() {
            let set = if self.inverted {
                self.named.complement()
            } else {
                self.named
            };
            (set, Merge::Replaced)
        } else if self.inverted {
            (current.difference(self.named), Merge::Merged)
        } else {
            (current.union(self.named), Merge::Merged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(list: CapList, lines: &[&str]) -> CapSet {
        lines.iter().fold(list.initial(), |set, line| {
            CapAssignment::parse(line).apply(set, list).0
        })
    }

    fn names(set: CapSet) -> Vec<&'static str> {
        set.sorted_names()
    }

    #[test]
    fn confirmed_merge_cases() {
        use CapList::*;
        assert_eq!(
            names(fold(Bounding, &["CAP_CHOWN", "CAP_NET_ADMIN"])),
            ["CAP_CHOWN", "CAP_NET_ADMIN"]
        );
        assert_eq!(
            names(fold(
                Bounding,
                &["~CAP_NET_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"]
            )),
            ["CAP_CHOWN"]
        );
        assert_eq!(
            names(fold(
                Bounding,
                &["CAP_CHOWN CAP_NET_ADMIN", "~CAP_NET_ADMIN"]
            )),
            ["CAP_CHOWN"]
        );
        assert_eq!(fold(Bounding, &[""]), CapSet::EMPTY);
        assert_eq!(fold(Bounding, &["CAP_CHOWN", "~"]), CapSet::ALL);
        assert_eq!(
            fold(Bounding, &["CAP_CHOWN", "CAP_NET_ADMN"]),
            CapSet::EMPTY
        );
        assert_eq!(fold(Bounding, &["CAP_CHOWN", "~CAP_NET_ADMN"]), CapSet::ALL);
        assert_eq!(
            fold(Ambient, &["CAP_NET_ADMIN", "CAP_NET_BIND"]),
            CapSet::EMPTY
        );
        assert_eq!(
            fold(Ambient, &["CAP_NET_ADMIN", "", "CAP_CHOWN"]),
            CapSet::single(0)
        );
        let c20 = fold(Bounding, &["~CAP_SYS_ADMIN CAP_NET_ADMIN", "CAP_SYS_ADMIN"]);
        assert_eq!(c20, CapSet::ALL.difference(CapSet::single(12)));
        let c15 = fold(Ambient, &["~CAP_NET_ADMIN"]);
        assert_eq!(c15, CapSet::ALL.difference(CapSet::single(12)));
    }

    #[test]
    fn dropped_words_are_reported() {
        let a = CapAssignment::parse("cap_net_admin Cap_Chown SYS_ADMIN 64 %i");
        assert_eq!(names(a.named), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
        assert_eq!(a.dropped, ["SYS_ADMIN", "64", "%i"]);
    }
}
