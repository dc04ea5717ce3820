//! "Did you mean" suggestions.

/// Levenshtein distance between two short strings.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The one candidate closest to `word` (case-insensitively) within
/// `max_distance`; None when there is none or two are equally close.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max_distance: usize,
) -> Option<&'a str> {
    let word = word.to_ascii_uppercase();
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for c in candidates {
        let d = edit_distance(&word, &c.to_ascii_uppercase());
        if d > max_distance {
            continue;
        }
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
        assert_eq!(edit_distance("CAP_NET_ADMN", "CAP_NET_ADMIN"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("cap_net_admn", ["CAP_NET_ADMIN", "CAP_NET_RAW"], 2),
            Some("CAP_NET_ADMIN")
        );
        assert_eq!(closest("xyz", ["CAP_NET_ADMIN"], 2), None);
    }
}
