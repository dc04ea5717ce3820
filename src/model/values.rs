//! Value rules of the settings capcheck models: user names,
//! SecureBits= (whose words depend on the release).

use super::words::{words, Unescape};
use crate::semantics::Semantics;

/// systemd's `parse_uid()`: decimal, no sign, no leading zero, and not one
/// of the two invalid IDs (65535 and 4294967295).
pub fn parse_uid(value: &str) -> Option<u32> {
    if value.is_empty()
        || !value.bytes().all(|b| b.is_ascii_digit())
        || (value.len() > 1 && value.starts_with('0'))
    {
        return None;
    }
    let uid: u32 = value.parse().ok()?;
    (uid != u32::MAX && uid != 65535).then_some(uid)
}

/// `valid_user_group_name()` with systemd's flags for User=/Group=
/// (`ALLOW_NUMERIC|RELAX`).
pub fn valid_user_group_name(name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    if parse_uid(name).is_some() {
        return true;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(name.starts_with(' ')
        || name.ends_with(' ')
        || name.chars().any(|c| (c as u32) < 0x20 || c == '\u{7f}')
        || name.contains([':', '/'])
        || all_digits(name)
        || name.strip_prefix('-').is_some_and(all_digits)
        || name == "."
        || name == "..")
}

/// systemd's `secure_bits_from_string()`: the words the release knows
/// (exact case) are ORed, others are dropped. Returns the bits and the
/// dropped words.
pub fn parse_secure_bits(value: &str, semantics: Semantics) -> (u16, Vec<String>) {
    let mut bits = 0u16;
    let mut dropped = Vec::new();
    for word in words(value, Unescape::Literal).0 {
        match semantics.secure_bits().find(|(name, _)| *name == word) {
            Some((_, bit)) => bits |= 1 << bit,
            None => dropped.push(word),
        }
    }
    (bits, dropped)
}

/// The names of the bits in `bits`, in systemd's order.
pub fn secure_bit_names(bits: u16) -> Vec<&'static str> {
    Semantics::NEWEST
        .secure_bits()
        .filter(|(_, bit)| bits & (1 << bit) != 0)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_the_relaxed_rules() {
        for ok in [
            "root",
            "0",
            "4294967294",
            "my user",
            "Alice.Smith",
            "alice # comment",
            "+5",
        ] {
            assert!(valid_user_group_name(ok), "{ok}");
        }
        for bad in [
            "00",
            "65535",
            "-1",
            "foo:bar",
            "a/b",
            "",
            "4294967295",
            "..",
            "-",
            "a\tb",
        ] {
            assert!(!valid_user_group_name(bad), "{bad}");
        }
    }

    #[test]
    fn secure_bits_drop_unknown_words() {
        let (bits, dropped) = parse_secure_bits("keep-caps noroot-locked bogus", Semantics::OLDEST);
        assert_eq!(secure_bit_names(bits), ["keep-caps", "noroot-locked"]);
        assert_eq!(dropped, ["bogus"]);
        let newer = "exec-restrict-file no-cap-ambient-raise-locked";
        let (old, dropped) = parse_secure_bits(newer, Semantics::new(261).unwrap());
        assert_eq!((old, dropped.len()), (0, 2));
        let (bits, _) = parse_secure_bits(newer, Semantics::NEWEST);
        assert_eq!(
            secure_bit_names(bits),
            ["no-cap-ambient-raise-locked", "exec-restrict-file"]
        );
    }
}
