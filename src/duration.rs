//! Durations as capcheck's options take them (`30s`, `2m`, `500ms`) and
//! as `systemctl show` prints a unit's time spans (`1min 30s`,
//! `infinity`).

use std::time::Duration;

/// Parses an option's duration: `30s`, `2m`, `500ms`, `1h` or plain
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{text}'"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in '{text}' (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a time span as `systemctl show` prints it (`1min 30s`, `100ms`,
/// `2h 5min`); None for `infinity` or what is not a time span.
pub fn parse_systemd_timespan(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut parts = 0;
    for part in text.split_whitespace() {
        let split = part.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let value: f64 = part[..split].parse().ok()?;
        let seconds = match &part[split..] {
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            "min" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86400.0,
            "w" => value * 7.0 * 86400.0,
            "M" => value * 30.44 * 86400.0,
            "y" => value * 365.25 * 86400.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(seconds);
        parts += 1;
    }
    (parts > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn systemd_time_spans() {
        let span = parse_systemd_timespan;
        assert_eq!(span("1min 30s"), Some(Duration::from_secs(90)));
        assert_eq!(span("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(span("2h 5min"), Some(Duration::from_secs(7500)));
        assert_eq!(span("infinity"), None);
        assert_eq!(span(""), None);
        assert_eq!(span("5 parsecs"), None);
    }
}
