//! Durations as pipeline files write them: a whole number and a unit, `500ms`, `30s`, `15m`,
//! `1h`, `1d` or `1w`.
//!
//! Written here rather than taken from `humantime` (already in the build, through
//! dependencies): it accepts far more than the documented syntax (`1y`, `1M`, `1h 30m`, `ns`,
//! `us`), so a typo such as `1y` for a window would be taken, not refused with the units that
//! work. Twenty lines keep the syntax what the README says.

/// The duration `text` names, in microseconds, or why it names none.
pub fn parse_micros(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_us: i64 = match unit.trim() {
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        "w" => 7 * 86_400_000_000,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use ms, s, m, h, d or w, as in \"15m\")"
            ));
        }
    };
    let number: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number (as in \"15m\")"))?;
    number
        .checked_mul(unit_us)
        .ok_or_else(|| format!("`{text}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_microseconds() {
        assert_eq!(parse_micros("500ms"), Ok(500_000));
        assert_eq!(parse_micros("30s"), Ok(30_000_000));
        assert_eq!(parse_micros("15m"), Ok(900_000_000));
        assert_eq!(parse_micros(" 1h "), Ok(3_600_000_000));
        assert_eq!(parse_micros("1d"), Ok(86_400_000_000));
        assert_eq!(parse_micros("2w"), Ok(1_209_600_000_000));
        assert_eq!(parse_micros("0s"), Ok(0));
    }

    #[test]
    fn bad_text_says_what_is_expected() {
        assert!(parse_micros("15").unwrap_err().contains("unknown unit"));
        assert!(parse_micros("1y").unwrap_err().contains("unknown unit `y`"));
        assert!(parse_micros("h").unwrap_err().contains("whole number"));
        assert!(parse_micros("-1h").unwrap_err().contains("unknown unit"));
        assert!(parse_micros("99999999999999w").unwrap_err().contains("too long"));
    }
}
