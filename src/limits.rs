//! The most capcheck reads, so that no file can exhaust the memory of the
//! machine it runs on (as root on images, and in CI on strangers' pull
//! requests). The limits are far above any real unit file; a file over one
//! is an error naming it, and every other unit is still linted (exit code 2,
//! as for an unreadable file). README.md ("Limits") documents them.

/// The largest unit file, drop-in or standard input read, in bytes. The
/// size is checked before reading: a sparse 1 GiB file costs nothing.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// The most words (runs of characters between blanks and line ends,
/// comments included) a unit file may hold. Every record capcheck keeps of
/// a file (a section, an assignment, a comment, a line systemd ignores, a
/// word of a list or a command line) holds at least one, so this bounds
/// what a file costs beyond its bytes. The largest unit of the test corpus
/// has 90 outside comments.
pub const MAX_WORDS: usize = 16_384;

/// Whether `bytes` hold more than [`MAX_WORDS`] words.
pub fn too_many_words(bytes: &[u8]) -> bool {
    // n bytes hold at most (n + 1) / 2 words: most files need no count.
    if bytes.len().div_ceil(2) <= MAX_WORDS {
        return false;
    }
    let separates = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0);
    let before = std::iter::once(&b' ').chain(bytes);
    bytes
        .iter()
        .zip(before)
        .filter(|(b, before)| !separates(b) && separates(before))
        .nth(MAX_WORDS)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_counted_between_blanks_and_line_ends() {
        let words = |n: usize, separator: &[u8]| {
            let mut bytes = b"  ".to_vec();
            for _ in 0..n {
                bytes.extend_from_slice(b"w");
                bytes.extend_from_slice(separator);
            }
            bytes
        };
        for separator in [&b" "[..], b"\t", b"\n", b"\r\n", b"\0", b" \t\r"] {
            assert!(!too_many_words(&words(MAX_WORDS, separator)));
            assert!(too_many_words(&words(MAX_WORDS + 1, separator)));
        }
        assert!(!too_many_words(&vec![b'\n'; 1 << 20]));
        assert!(!too_many_words(&vec![b'x'; 1 << 20]));
    }
}
