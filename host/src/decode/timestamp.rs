//! Timestamps in JSON: RFC 3339 text, or a number of seconds (or milliseconds, for values too
//! large to be seconds) since the Unix epoch. Stored as microseconds, UTC.

use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;

/// Numbers at or above this are milliseconds: as seconds they would be past the year 5138.
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Microseconds since the epoch for `text`, or why it is not a timestamp.
pub fn parse_micros(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i64>() {
        let micros = if n.abs() >= MILLIS_THRESHOLD {
            n.checked_mul(1_000)
        } else {
            n.checked_mul(1_000_000)
        };
        return micros.ok_or_else(|| format!("timestamp {n} is out of range"));
    }
    if let Ok(x) = trimmed.parse::<f64>()
        && x.is_finite()
        && x.abs() < MILLIS_THRESHOLD as f64
    {
        return Ok((x * 1e6).round() as i64);
    }
    string_to_timestamp_nanos(trimmed)
        .map(|nanos| nanos.div_euclid(1_000))
        .map_err(|_| format!("`{trimmed}` is not a timestamp (RFC 3339 text or epoch seconds)"))
}

#[cfg(test)]
mod tests {
    use super::parse_micros;

    #[test]
    fn reads_text_seconds_and_milliseconds() {
        assert_eq!(parse_micros("1700000000"), Ok(1_700_000_000_000_000));
        assert_eq!(parse_micros("1700000000123"), Ok(1_700_000_000_123_000));
        assert_eq!(parse_micros("1700000000.5"), Ok(1_700_000_000_500_000));
        assert_eq!(parse_micros("2023-11-14T22:13:20.000Z"), Ok(1_700_000_000_000_000));
        assert_eq!(parse_micros("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000_000_000));
        assert!(parse_micros("yesterday").unwrap_err().contains("not a timestamp"));
    }
}
