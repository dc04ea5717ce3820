//! CapabilityBoundingSet= and AmbientCapabilities= assignments, merged with
//! systemd's exact rule (`config_parse_capability_set()`) as the release
//! has it.

use super::words::{words, words_relaxed, Unescape, WordError};
use crate::caps::{self, CapSet};
use crate::semantics::Semantics;

/// Which of the two settings; they differ only in their starting value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapList {
    /// Starts as every capability (the release's "unset" value).
    Bounding,
    /// Starts empty.
    Ambient,
}

impl CapList {
    /// The value before any assignment; a line replaces the set while it
    /// holds this value.
    pub fn unset(self, semantics: Semantics) -> CapSet {
        match self {
            CapList::Bounding => semantics.bounding_set_unset(),
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
pub fn named_positively<'a>(
    values: impl IntoIterator<Item = &'a str>,
    semantics: Semantics,
) -> CapSet {
    values
        .into_iter()
        .map(|v| CapAssignment::parse(v, semantics))
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
    /// Set when a quote or backslash stopped the line early (before 254);
    /// the words after it were never read.
    pub stopped: Option<WordError>,
}

/// How the assignment combined with what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The set was replaced: the line named nothing it recognised, or the
    /// set still had its unset value.
    Replaced,
    /// The named capabilities were added (or removed, for `~`).
    Merged,
}

impl CapAssignment {
    pub fn parse(value: &str, semantics: Semantics) -> CapAssignment {
        let (inverted, list) = match value.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let (words, stopped) = if semantics.capability_words_relaxed() {
            (words_relaxed(list), None)
        } else {
            words(list, Unescape::Literal)
        };
        let mut named = CapSet::EMPTY;
        let mut dropped = Vec::new();
        for word in words {
            match caps::parse_word(&word, semantics.capability_limit()) {
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
    /// or `current` is still the unset value, merge otherwise.
    pub fn apply(&self, current: CapSet, list: CapList, semantics: Semantics) -> (CapSet, Merge) {
        if self.named.is_empty() || current == list.unset(semantics) {
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

    fn fold_as(semantics: Semantics, list: CapList, lines: &[&str]) -> CapSet {
        lines.iter().fold(list.unset(semantics), |set, line| {
            CapAssignment::parse(line, semantics)
                .apply(set, list, semantics)
                .0
        })
    }

    fn fold(list: CapList, lines: &[&str]) -> CapSet {
        fold_as(Semantics::OLDEST, list, lines)
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

    /// The cases measured with 252's, 257's and 262's systemd-analyze
    /// (docs/semantics-releases.md).
    #[test]
    fn later_releases_measured_cases() {
        use CapList::*;
        let at = |r| Semantics::new(r).unwrap();
        let kill = CapSet::single(5);
        let bpf = CapSet::single(39);
        for (release, tilde_then_kill, restored_then_bpf) in [
            (252, kill, bpf),
            (257, kill, bpf),
            (262, CapSet::ALL, CapSet::ALL),
        ] {
            let s = at(release);
            assert_eq!(fold_as(s, Bounding, &["~", "CAP_KILL"]), tilde_then_kill);
            assert_eq!(
                fold_as(s, Bounding, &["~CAP_FOO", "CAP_BPF"]),
                restored_then_bpf
            );
            assert_eq!(
                fold_as(s, Bounding, &["~CAP_KILL", "CAP_KILL", "CAP_BPF"]),
                restored_then_bpf
            );
        }
        // An open quote: the list ends before it on 252, the word is read
        // from 254 on.
        let chown = CapSet::single(0);
        assert_eq!(fold_as(at(252), Bounding, &["CAP_CHOWN \"CAP_KILL"]), chown);
        assert_eq!(
            fold_as(at(254), Bounding, &["CAP_CHOWN \"CAP_KILL"]),
            chown.union(kill)
        );
        // 63: a number on 252, an unknown word from 254 on.
        assert_eq!(fold_as(at(252), Bounding, &["CAP_KILL", "~63"]), kill);
        assert_eq!(
            fold_as(at(254), Bounding, &["CAP_KILL", "~63"]),
            CapSet::ALL
        );
        assert_eq!(fold_as(at(254), Bounding, &["63"]), CapSet::EMPTY);
        // 262 starts from every capability 0–62: naming all of them
        // restores "unset", so the next line replaces.
        let all_numbers: String = (0..=62).map(|n| format!("{n} ")).collect();
        assert_eq!(
            fold_as(at(262), Bounding, &[&all_numbers, "CAP_KILL"]),
            kill
        );
        assert!(fold_as(at(257), Bounding, &[&all_numbers, "CAP_KILL"]).has_all_known());
    }

    #[test]
    fn dropped_words_are_reported() {
        let a = CapAssignment::parse("cap_net_admin Cap_Chown SYS_ADMIN 64 %i", Semantics::OLDEST);
        assert_eq!(names(a.named), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
        assert_eq!(a.dropped, ["SYS_ADMIN", "64", "%i"]);
    }
}
