//! "Did you mean" suggestions.

/// The Levenshtein distance of two short strings, ignoring ASCII case, when
/// it is at most `limit`: gives up as soon as a whole row of the table
/// exceeds it (the distance can only grow from there).
fn distance_within(a: &str, b: &str, limit: usize) -> Option<usize> {
    let b: Vec<u32> = b.chars().map(|c| c.to_ascii_uppercase() as u32).collect();
    // Keys and capability names are short: the row lives on the stack.
    let mut stack = [0usize; 64];
    let mut heap = Vec::new();
    let row: &mut [usize] = if b.len() < stack.len() {
        &mut stack[..=b.len()]
    } else {
        heap.resize(b.len() + 1, 0);
        &mut heap
    };
    for (j, cell) in row.iter_mut().enumerate() {
        *cell = j;
    }
    for (i, ca) in a.chars().map(|c| c.to_ascii_uppercase() as u32).enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
        if row.iter().all(|&d| d > limit) {
            return None;
        }
    }
    Some(row[b.len()]).filter(|&d| d <= limit)
}

/// The one candidate closest to `word` (case-insensitively) within
/// `max_distance`; None when there is none or two are equally close.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max_distance: usize,
) -> Option<&'a str> {
    let length = word.chars().count();
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for c in candidates {
        // The distance is at least the difference in length: most keys of
        // a unit are ruled out without computing it.
        if length.abs_diff(c.chars().count()) > max_distance {
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
        assert_eq!(
            closest("cap_net_admn", ["CAP_NET_ADMIN", "CAP_NET_RAW"], 2),
            Some("CAP_NET_ADMIN")
        );
        assert_eq!(closest("xyz", ["CAP_NET_ADMIN"], 2), None);
    }
}
