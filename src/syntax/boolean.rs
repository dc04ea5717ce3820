//! systemd's booleans (`yes`, `off`, `1`…): the one value grammar that both
//! the model and the release rules ([`crate::semantics`]) read.

/// systemd's `parse_boolean()`, case-insensitive.
pub fn parse_boolean(value: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "yes", "y", "true", "t", "on"];
    const FALSE: [&str; 6] = ["0", "no", "n", "false", "f", "off"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(value)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(value)) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        assert_eq!(parse_boolean("on"), Some(true));
        assert_eq!(parse_boolean("Y"), Some(true));
        assert_eq!(parse_boolean("OFF"), Some(false));
        assert_eq!(parse_boolean("enable"), None);
        assert_eq!(parse_boolean(""), None);
    }
}
