//! Timestamps and dates in JSON: RFC 3339 text (a date as `YYYY-MM-DD`), or an epoch number in
//! the unit the column declares; a number in a column without a unit is refused, never guessed.
//! Stored as microseconds (timestamps) or days (dates) since the epoch, within the years 1 to
//! 9999, which every reader of the tables can show.

use arrow::compute::kernels::cast_utils::string_to_datetime;
use chrono::{NaiveDate, Utc};

use crate::config::EpochUnit;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;
const DAY_MICROS: i64 = 86_400_000_000;

/// Microseconds since the epoch of an RFC 3339 text (a zone offset converted to UTC; none
/// read as UTC).
pub fn text_micros(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    // Through a date-time, not i64 nanoseconds (which end in 1677 and 2262).
    let at = string_to_datetime(&Utc, trimmed).map_err(|_| format!("`{trimmed}` is not an RFC 3339 timestamp"))?;
    in_range(at.timestamp_micros(), trimmed)
}

/// Microseconds since the epoch of an epoch number written as `text` in `unit`.
pub fn epoch_micros(text: &str, unit: Option<EpochUnit>) -> Result<i64, String> {
    let Some(unit) = unit else {
        return Err(format!(
            "{text} is an epoch number, and the column declares no unit (unit = \"s\", \"ms\" or \"us\")"
        ));
    };
    let scale = unit.micros();
    let micros = match text.parse::<i64>() {
        Ok(n) => n.checked_mul(scale),
        Err(_) => text
            .parse::<f64>()
            .ok()
            .map(|x| x * scale as f64)
            .filter(|x| x.is_finite() && x.abs() < 9.2e18)
            .map(|x| x.round() as i64),
    };
    let micros = micros.ok_or_else(|| format!("{text} {} is out of range", unit.name()))?;
    in_range(micros, &format!("{text} {}", unit.name()))
}

/// Days since the epoch of a `YYYY-MM-DD` text, or of an RFC 3339 timestamp's UTC day.
pub fn text_days(text: &str) -> Result<i32, String> {
    let trimmed = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        let days = days_of(date);
        return if days_in_years(i64::from(days)) {
            Ok(days)
        } else {
            Err(format!("`{trimmed}` is outside the years 1 to 9999"))
        };
    }
    text_micros(trimmed)
        .map(micros_days)
        .map_err(|_| format!("`{trimmed}` is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"))
}

/// The day holding `micros`.
pub fn micros_days(micros: i64) -> i32 {
    // Within the years 1 to 9999 the day count fits an i32 many times over.
    micros.div_euclid(DAY_MICROS) as i32
}

fn days_of(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() as i32
}

/// Whether `micros` falls within the years 1 to 9999.
pub fn micros_in_years(micros: i64) -> bool {
    (MIN_MICROS..=MAX_MICROS).contains(&micros)
}

/// Whether the day `days` (since the epoch) falls within the years 1 to 9999.
pub fn days_in_years(days: i64) -> bool {
    (i64::from(micros_days(MIN_MICROS))..=i64::from(micros_days(MAX_MICROS))).contains(&days)
}

fn in_range(micros: i64, written: &str) -> Result<i64, String> {
    if micros_in_years(micros) {
        Ok(micros)
    } else {
        Err(format!("{written} is outside the years 1 to 9999"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_rfc3339_and_numbers_take_the_declared_unit() {
        assert_eq!(text_micros("2023-11-14T22:13:20.000Z"), Ok(1_700_000_000_000_000));
        assert_eq!(text_micros("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000_000_000));
        assert!(text_micros("yesterday").unwrap_err().contains("not an RFC 3339"));
        assert_eq!(text_micros("1600-01-01T00:00:00Z"), Ok(-11_676_096_000_000_000));
        assert_eq!(text_micros("9999-12-31T23:59:59.999999Z"), Ok(MAX_MICROS));
        let s = Some(EpochUnit::Seconds);
        assert_eq!(epoch_micros("1700000000", s), Ok(1_700_000_000_000_000));
        assert_eq!(epoch_micros("1700000000.5", s), Ok(1_700_000_000_500_000));
        assert_eq!(
            epoch_micros("1700000000123", Some(EpochUnit::Millis)),
            Ok(1_700_000_000_123_000)
        );
        assert_eq!(epoch_micros("5", Some(EpochUnit::Micros)), Ok(5));
        // 9999-12-31T23:59:59Z in seconds: not taken for milliseconds.
        assert_eq!(epoch_micros("253402300799", s), Ok(253_402_300_799_000_000));
        assert!(epoch_micros("253402300800", s).unwrap_err().contains("years 1 to 9999"));
        assert!(
            epoch_micros("1700000000", None)
                .unwrap_err()
                .contains("declares no unit")
        );
        assert!(epoch_micros("1e300", s).unwrap_err().contains("out of range"));
    }

    #[test]
    fn dates_are_days_since_the_epoch() {
        assert_eq!(text_days("1970-01-02"), Ok(1));
        assert_eq!(text_days("1969-12-31"), Ok(-1));
        assert_eq!(text_days("2023-11-14T23:13:20+01:00"), Ok(19675));
        assert!(text_days("2023-02-30").unwrap_err().contains("not a date"));
        assert_eq!(micros_days(-1), -1);
        assert_eq!(text_days("0001-01-01"), Ok(-719_162));
        assert_eq!(text_days("9999-12-31"), Ok(2_932_896));
        assert!(
            text_days("-0221-03-01")
                .unwrap_err()
                .contains("outside the years 1 to 9999")
        );
    }
}
