//! Splitting a value into words as systemd's `extract_first_word()` does.

/// How words are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unescape {
    /// `EXTRACT_UNQUOTE` only: a backslash makes the next character literal
    /// (`CAP\_CHOWN` is `CAP_CHOWN`, `\x4f` is `x4f`). Capability lists,
    /// SecureBits=.
    Literal,
    /// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE` with the relaxed retry of
    /// `extract_first_word_and_warn()`: C escapes are decoded and an unknown
    /// one is kept verbatim. Exec command lines.
    CEscapes,
    /// No flags, as `config_parse_syscall_filter()` calls
    /// `extract_first_word()`: quotes are ordinary characters, a backslash
    /// still makes the next character literal.
    BackslashOnly,
    /// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE` without the retry, as
    /// `config_parse_environ()` calls `extract_first_word()`: an unknown
    /// escape is an error. Environment=, UnsetEnvironment=.
    CEscapesStrict,
}

/// Why a value stopped yielding words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordError {
    /// A quote was opened and never closed.
    UnbalancedQuote,
    /// A backslash at the very end of the value.
    TrailingBackslash,
    /// An escape that decodes to NUL or is malformed.
    BadEscape(String),
}

/// systemd's WHITESPACE, the default word separators.
pub fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Reads the next word from `rest`, advancing it. `Ok(None)` at the end.
pub fn next_word(rest: &mut &str, unescape: Unescape) -> Result<Option<String>, WordError> {
    read_word(rest, unescape, false)
}

/// The words of `value` as `strv_split_full(..., EXTRACT_RELAX|EXTRACT_UNQUOTE)`
/// reads them (how systemd splits a `$VAR` in an Exec line): backslashes
/// make the next character literal, and an unbalanced quote or a trailing
/// backslash ends the last word instead of failing.
pub fn words_relaxed(value: &str) -> Vec<String> {
    let mut rest = value;
    let mut out = Vec::new();
    while let Ok(Some(word)) = read_word(&mut rest, Unescape::Literal, true) {
        out.push(word);
    }
    out
}

/// `next_word`; with `relax`, the end of the value inside a quote or after
/// a backslash ends the word (`EXTRACT_RELAX`).
fn read_word(
    rest: &mut &str,
    unescape: Unescape,
    relax: bool,
) -> Result<Option<String>, WordError> {
    let s = rest.trim_start_matches(is_separator);
    if s.is_empty() {
        *rest = s;
        return Ok(None);
    }
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.char_indices().peekable();
    let mut end = s.len();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            let Some(&(j, next)) = chars.peek() else {
                *rest = "";
                return if relax {
                    Ok(Some(word))
                } else {
                    Err(WordError::TrailingBackslash)
                };
            };
            match unescape {
                Unescape::Literal | Unescape::BackslashOnly => {
                    word.push(next);
                    chars.next();
                }
                Unescape::CEscapes | Unescape::CEscapesStrict => {
                    let strict = unescape == Unescape::CEscapesStrict;
                    let (decoded, used) = c_unescape(&s[j..], strict)?;
                    word.push_str(&decoded);
                    for _ in 0..used {
                        chars.next();
                    }
                }
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if is_separator(c) => {
                end = i;
                break;
            }
            None if (c == '\'' || c == '"') && unescape != Unescape::BackslashOnly => {
                quote = Some(c)
            }
            None => word.push(c),
        }
    }
    if quote.is_some() {
        *rest = "";
        return if relax {
            Ok(Some(word))
        } else {
            Err(WordError::UnbalancedQuote)
        };
    }
    *rest = &s[end..];
    Ok(Some(word))
}

/// All words of `value`, stopping silently at the first error (as the
/// capability and SecureBits parsers do); the error, if any, is returned.
pub fn words(value: &str, unescape: Unescape) -> (Vec<String>, Option<WordError>) {
    let mut rest = value;
    let mut out = Vec::new();
    loop {
        match next_word(&mut rest, unescape) {
            Ok(Some(w)) => out.push(w),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Decodes one C escape after a backslash; returns the text and how many
/// characters of `s` it used. Unknown escapes are an error when `strict`,
/// else kept verbatim, as the relaxed retry does.
fn c_unescape(s: &str, strict: bool) -> Result<(String, usize), WordError> {
    let mut chars = s.chars();
    let c = chars.next().expect("caller checked a character follows");
    let simple = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        '\'' => Some('\''),
        's' => Some(' '),
        _ => None,
    };
    if let Some(decoded) = simple {
        return Ok((decoded.to_string(), 1));
    }
    let numeric = |digits: &str, radix: u32, len: usize| -> Result<(String, usize), WordError> {
        let value = u32::from_str_radix(digits, radix)
            .ok()
            .filter(|&v| v != 0)
            .and_then(char::from_u32)
            .ok_or_else(|| WordError::BadEscape(format!("\\{}", &s[..len])))?;
        Ok((value.to_string(), len))
    };
    match c {
        // `get` rather than indexing: the bytes after the backslash may end
        // inside a multi-byte character.
        'x' if all_in(s.get(1..3), |d| d.is_ascii_hexdigit()) => numeric(&s[1..3], 16, 3),
        'u' if all_in(s.get(1..5), |d| d.is_ascii_hexdigit()) => numeric(&s[1..5], 16, 5),
        'U' if all_in(s.get(1..9), |d| d.is_ascii_hexdigit()) => numeric(&s[1..9], 16, 9),
        '0'..='7' if all_in(s.get(..3), |d| ('0'..='7').contains(&d)) => {
            numeric(&s[..3], 8, 3).map(|(t, _)| (t, 3))
        }
        _ if strict => Err(WordError::BadEscape(format!("\\{c}"))),
        _ => Ok((format!("\\{c}"), 1)),
    }
}

/// True when the text exists and every character passes.
fn all_in(text: Option<&str>, pass: impl Fn(char) -> bool) -> bool {
    text.is_some_and(|t| t.chars().all(pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> (Vec<String>, Option<WordError>) {
        words(s, Unescape::Literal)
    }

    #[test]
    fn quotes_group_and_disappear() {
        assert_eq!(w("\"CAP_CHOWN\" 'CAP_KILL'").0, ["CAP_CHOWN", "CAP_KILL"]);
        assert_eq!(w("\"A B\"").0, ["A B"]);
        assert_eq!(w("a\"b c\"d").0, ["ab cd"]);
        assert_eq!(w("\t a \t b  ").0, ["a", "b"]);
    }

    #[test]
    fn unbalanced_quote_keeps_earlier_words() {
        let (words, err) = w("CAP_CHOWN \"CAP_NET_ADMIN CAP_SYS_ADMIN");
        assert_eq!(words, ["CAP_CHOWN"]);
        assert_eq!(err, Some(WordError::UnbalancedQuote));
    }

    #[test]
    fn backslash_is_literal_without_c_escapes() {
        assert_eq!(
            w("CAP\\_CHOWN CAP_CH\\x4fWN").0,
            ["CAP_CHOWN", "CAP_CHx4fWN"]
        );
    }

    #[test]
    fn c_escapes_for_exec() {
        let (words, _) = words("/bin/echo a\\sb \\x41 \\q \\\\", Unescape::CEscapes);
        assert_eq!(words, ["/bin/echo", "a b", "A", "\\q", "\\"]);
        let (strict, error) = super::words("A=a\\sb B=\\q C=c", Unescape::CEscapesStrict);
        assert_eq!(strict, ["A=a b"]);
        assert_eq!(error, Some(WordError::BadEscape("\\q".to_string())));
    }

    #[test]
    fn without_unquoting_quotes_are_characters() {
        let (words, _) = words("\"@system-service\" a\\b", Unescape::BackslashOnly);
        assert_eq!(words, ["\"@system-service\"", "ab"]);
    }

    #[test]
    fn relaxed_words_end_at_an_open_quote_or_a_trailing_backslash() {
        assert_eq!(words_relaxed("-o 'A B' \\$x"), ["-o", "A B", "$x"]);
        assert_eq!(words_relaxed("a \"b c"), ["a", "b c"]);
        assert_eq!(words_relaxed("a b\\"), ["a", "b"]);
        assert!(words_relaxed(" \t ").is_empty());
    }
}
