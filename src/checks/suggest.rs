//! "Did you mean" suggestions.

/// Strings this long or shorter (in bytes) are compared without allocating.
const ON_STACK: usize = 64;

/// The characters of `s`, upper-cased, in `buffer` when they fit.
fn folded<'b>(s: &str, buffer: &'b mut [u32; ON_STACK], spill: &'b mut Vec<u32>) -> &'b [u32] {
    let chars = s.chars().map(|c| c.to_ascii_uppercase() as u32);
    if s.len() <= ON_STACK {
        let mut n = 0;
        for c in chars {
            buffer[n] = c;
            n += 1;
        }
        &buffer[..n]
    } else {
        spill.extend(chars);
        spill
    }
}

/// The Levenshtein distance of two short strings, ignoring ASCII case, when
/// it is at most `limit`: gives up as soon as a whole row of the table
/// exceeds it (the distance can only grow from there).
fn distance_within(a: &str, b: &str, limit: usize) -> Option<usize> {
    // Keys and capability names are short: everything lives on the stack,
    // since this runs for every key of every unit.
    let (mut a_buffer, mut a_spill) = ([0; ON_STACK], Vec::new());
    let (mut b_buffer, mut b_spill) = ([0; ON_STACK], Vec::new());
    let a = folded(a, &mut a_buffer, &mut a_spill);
    let b = folded(b, &mut b_buffer, &mut b_spill);
    let mut row_buffer = [0usize; ON_STACK + 1];
    let mut row_spill = Vec::new();
    let row: &mut [usize] = if b.len() <= ON_STACK {
        &mut row_buffer[..=b.len()]
    } else {
        row_spill.resize(b.len() + 1, 0);
        &mut row_spill
    };
    for (j, cell) in row.iter_mut().enumerate() {
        *cell = j;
    }
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
        if row.iter().all(|&d| d > limit) {
            return None;
        }
    }
    Some(row[b.len()]).filter(|&d| d <= limit)
}

/// The number of characters of `s`, without decoding when it is ASCII.
fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// The one candidate closest to `word` (case-insensitively) within
/// `max_distance`; None when there is none or two are equally close.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max_distance: usize,
) -> Option<&'a str> {
    let length = char_len(word);
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for c in candidates {
        // The distance is at least the difference in length: most keys of
        // a unit are ruled out without computing it.
        if length.abs_diff(char_len(c)) > max_distance {
            continue;
        }
        let Some(d) = distance_within(word, c, max_distance) else {
            continue;
        };
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tie = true,
            _ => {
                best = Some((d, c));
                tie = false;
            }
        }
    }
    if tie {
        None
    } else {
        best.map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(
            distance_within("CAP_NET_ADMN", "CAP_NET_ADMIN", usize::MAX),
            Some(1)
        );
        assert_eq!(distance_within("", "abc", usize::MAX), Some(3));
        assert_eq!(distance_within("user", "USER", usize::MAX), Some(0));
        assert_eq!(
            distance_within(&"a".repeat(70), &"b".repeat(70), usize::MAX),
            Some(70)
        );
        // One character, two bytes: one edit.
        assert_eq!(distance_within("CAP_NÉT", "cap_net", 2), Some(1));
        assert_eq!(
            closest("cap_net_admn", ["CAP_NET_ADMIN", "CAP_NET_RAW"], 2),
            Some("CAP_NET_ADMIN")
        );
        assert_eq!(closest("xyz", ["CAP_NET_ADMIN"], 2), None);
    }
}
