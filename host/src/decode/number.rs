//! Numbers from their JSON text, exactly: a whole number into an integer column only when it is
//! written as one and fits, a float only when finite, a decimal only when its digits fit the
//! declared precision and scale. Reading the text (not a parsed `f64`) is what keeps 1.5 out of
//! an int64 column, 1e400 out of a float64 and a decimal's last digit.

/// A JSON number's text: `-`? digits (`.` digits)? (`e` sign? digits)?.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Literal<'a> {
    negative: bool,
    whole: &'a str,
    fraction: &'a str,
    exponent: i32,
}

fn literal(text: &str) -> Option<Literal<'_>> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (mantissa.contains('.') && fraction.is_empty()) {
        return None;
    }
    Some(Literal {
        negative,
        whole,
        fraction,
        exponent,
    })
}

/// Why a number did not fit.
pub type Refusal = String;

/// A whole number within `min..=max`, written without a fraction or exponent, or (with
/// `coerce`) any number whose value is whole (`12.0`, `1.2e1`), read exactly from its digits.
pub fn integer(text: &str, min: i64, max: i64, type_name: &str, coerce: bool) -> Result<i64, Refusal> {
    let out_of_range = || format!("{text} is out of range for {type_name}");
    let Some(lit) = literal(text) else {
        return Err(format!("`{text}` is not a number"));
    };
    let plain = lit.fraction.is_empty() && !text.contains(['e', 'E']);
    if !plain && !coerce {
        return Err(format!(
            "{text} is not written as a whole number, which {type_name} needs (`coerce = true` takes 12.0 as 12)"
        ));
    }
    // The exact value, as a decimal with no places: a fraction is refused, not rounded.
    let value = decimal(text, crate::config::MAX_DECIMAL_PRECISION, 0).map_err(|e| {
        if e.contains("decimal places") {
            format!("{text} is not a whole number, which {type_name} needs")
        } else {
            out_of_range()
        }
    })?;
    i64::try_from(value)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(out_of_range)
}

/// A finite float64.
pub fn float64(text: &str) -> Result<f64, Refusal> {
    literal(text).ok_or_else(|| format!("`{text}` is not a number"))?;
    let x: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{text} is out of range for float64"))
    }
}

/// A finite float32 (rounded to the nearest, as every reader would).
pub fn float32(text: &str) -> Result<f32, Refusal> {
    literal(text).ok_or_else(|| format!("`{text}` is not a number"))?;
    let x: f32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{text} is out of range for float32"))
    }
}

/// The unscaled value of a decimal(`precision`, `scale`): the number times 10^scale, exact.
/// More fractional digits than the scale (other than trailing zeros) or more digits than the
/// precision is refused: rounding would change the value silently.
pub fn decimal(text: &str, precision: u8, scale: u8) -> Result<i128, Refusal> {
    let name = format!("decimal({precision}, {scale})");
    let lit = literal(text).ok_or_else(|| format!("`{text}` is not a number"))?;
    // All digits, and where the point stands after the exponent: value = digits * 10^-point.
    let digits: String = [lit.whole, lit.fraction].concat();
    let point = lit.fraction.len() as i64 - i64::from(lit.exponent);
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(scale) - point;
    let unscaled_digits: String = if shift >= 0 {
        let zeros = usize::try_from(shift).map_err(|_| format!("{text} does not fit {name}"))?;
        if digits.is_empty() {
            String::new()
        } else if digits.len() + zeros > usize::from(precision) {
            return Err(format!("{text} has more digits than {name} holds"));
        } else {
            format!("{digits}{}", "0".repeat(zeros))
        }
    } else {
        let cut = usize::try_from(-shift).map_err(|_| format!("{text} does not fit {name}"))?;
        let keep = digits.len().saturating_sub(cut);
        if digits[keep..].bytes().any(|b| b != b'0') {
            return Err(format!(
                "{text} has more than {scale} decimal places, which {name} holds"
            ));
        }
        digits[..keep].to_string()
    };
    if unscaled_digits.len() > usize::from(precision) {
        return Err(format!("{text} has more digits than {name} holds"));
    }
    let magnitude: i128 = if unscaled_digits.is_empty() {
        0
    } else {
        unscaled_digits
            .parse()
            .map_err(|_| format!("{text} does not fit {name}"))?
    };
    Ok(if lit.negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_whole_numbers_as_written() {
        assert_eq!(integer("12", i64::MIN, i64::MAX, "int64", false), Ok(12));
        assert_eq!(
            integer("-9223372036854775808", i64::MIN, i64::MAX, "int64", false),
            Ok(i64::MIN)
        );
        assert!(
            integer("1.5", i64::MIN, i64::MAX, "int64", false)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(integer("12.0", i64::MIN, i64::MAX, "int64", false).is_err());
        assert_eq!(integer("12.0", i64::MIN, i64::MAX, "int64", true), Ok(12));
        assert_eq!(integer("1.2e1", i64::MIN, i64::MAX, "int64", true), Ok(12));
        assert!(
            integer("1.5", i64::MIN, i64::MAX, "int64", true)
                .unwrap_err()
                .contains("not a whole")
        );
        assert!(
            integer("2147483648", -(1 << 31), (1 << 31) - 1, "int32", false)
                .unwrap_err()
                .contains("range")
        );
        assert!(
            integer("99999999999999999999", i64::MIN, i64::MAX, "int64", false)
                .unwrap_err()
                .contains("range")
        );
    }

    #[test]
    fn floats_must_be_finite() {
        assert_eq!(float64("1.5e3"), Ok(1500.0));
        assert!(float64("1e400").unwrap_err().contains("out of range for float64"));
        assert!(float32("1e39").unwrap_err().contains("out of range for float32"));
        assert_eq!(float32("0.1"), Ok(0.1f32));
        assert!(float64("NaN").is_err());
    }

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(decimal("123.45", 10, 2), Ok(12345));
        assert_eq!(decimal("-0.5", 10, 2), Ok(-50));
        assert_eq!(decimal("7", 10, 2), Ok(700));
        assert_eq!(decimal("1.2300", 10, 2), Ok(123));
        assert_eq!(decimal("1.5e2", 10, 2), Ok(15000));
        assert_eq!(decimal("0.000", 3, 2), Ok(0));
        assert_eq!(
            decimal("12345678901234567890123456.789012345678", 38, 12).map(|v| v % 1000),
            Ok(678)
        );
        assert!(
            decimal("1.234", 10, 2)
                .unwrap_err()
                .contains("more than 2 decimal places")
        );
        assert!(decimal("123456789.5", 10, 2).unwrap_err().contains("more digits"));
        assert!(decimal("1e40", 38, 0).unwrap_err().contains("more digits"));
        assert!(decimal("1.", 10, 2).is_err());
    }
}
