//! An Avro record (the datum after the Confluent header) as JSON text, the one form plugins and
//! silver take. The mapping (`docs/SCHEMA_REGISTRY.md`): a union is its value (no `{"type": value}`
//! wrapper), bytes and fixed are base64, a decimal is a JSON number with its exact digits,
//! `date` is `YYYY-MM-DD`, `timestamp-*` is RFC 3339 in UTC (`...Z`), `local-timestamp-*` is
//! RFC 3339 without a zone, `time-*` is `HH:MM:SS.ffffff`, an enum is its symbol, a uuid its
//! text, a duration `{"months", "days", "millis"}`. A float that is not finite is the string
//! `"NaN"`, `"Infinity"` or `"-Infinity"` (JSON has no such number).

use std::collections::HashMap;
use std::fmt::Write;

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::{Decimal, Schema};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveTime, SecondsFormat};

/// A writer's schema, parsed, with its named types for references.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    schema: Schema,
    names: HashMap<Name, Schema>,
}

impl AvroSchema {
    /// Parses the schema text the registry holds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let schema = Schema::parse_str(text).map_err(|e| e.to_string())?;
        let names = ResolvedSchema::try_from(&schema)
            .map_err(|e| e.to_string())?
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        Ok(AvroSchema { schema, names })
    }

    /// `body` (one datum written with this schema) as JSON text, or why it is not one.
    pub fn to_json(&self, body: &[u8]) -> Result<String, String> {
        let mut reader = body;
        let value = apache_avro::from_avro_datum(&self.schema, &mut reader, None)
            .map_err(|e| format!("the body does not match its schema: {e}"))?;
        if !reader.is_empty() {
            return Err(format!(
                "{} bytes are left after the record: the body does not match its schema",
                reader.len()
            ));
        }
        let mut out = String::with_capacity(body.len() * 2);
        self.render(&value, Some(&self.schema), &mut out)?;
        Ok(out)
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `schema` with a reference to a named type replaced by that type.
    pub fn resolve<'s>(&'s self, schema: Option<&'s Schema>) -> Option<&'s Schema> {
        match schema {
            Some(Schema::Ref { name }) => self.names.get(name),
            other => other,
        }
    }

    fn render(&self, value: &Value, schema: Option<&Schema>, out: &mut String) -> Result<(), String> {
        let schema = self.resolve(schema);
        match value {
            Value::Null => out.push_str("null"),
            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(v) => push(out, v),
            Value::Long(v) => push(out, v),
            Value::Float(v) => float(out, f64::from(*v), v),
            Value::Double(v) => float(out, *v, v),
            Value::Bytes(b) | Value::Fixed(_, b) => string(out, &BASE64.encode(b)),
            Value::String(s) | Value::Enum(_, s) => string(out, s),
            Value::Uuid(u) => string(out, &u.to_string()),
            Value::Union(index, inner) => {
                let branch = match schema {
                    Some(Schema::Union(union)) => union.variants().get(*index as usize),
                    _ => None,
                };
                self.render(inner, branch, out)?;
            }
            Value::Array(items) => {
                let item = match schema {
                    Some(Schema::Array(array)) => Some(array.items.as_ref()),
                    _ => None,
                };
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.render(v, item, out)?;
                }
                out.push(']');
            }
            Value::Map(entries) => {
                let values = match schema {
                    Some(Schema::Map(map)) => Some(map.types.as_ref()),
                    _ => None,
                };
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(out, key);
                    out.push(':');
                    self.render(&entries[key], values, out)?;
                }
                out.push('}');
            }
            Value::Record(fields) => {
                let declared = match schema {
                    Some(Schema::Record(record)) => Some(&record.fields),
                    _ => None,
                };
                out.push('{');
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(out, name);
                    out.push(':');
                    let field = declared.and_then(|d| d.get(i)).map(|f| &f.schema);
                    self.render(v, field, out)?;
                }
                out.push('}');
            }
            Value::Decimal(d) => {
                let Some(Schema::Decimal(decimal)) = schema else {
                    return Err("a decimal value without its decimal schema".into());
                };
                out.push_str(&decimal_text(d, decimal.scale)?);
            }
            Value::BigDecimal(b) => out.push_str(&b.to_string()),
            other => temporal(other, out)?,
        }
        Ok(())
    }
}

/// Dates, times and timestamps.
fn temporal(value: &Value, out: &mut String) -> Result<(), String> {
    let utc = |micros: i64| {
        DateTime::from_timestamp_micros(micros)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .ok_or_else(|| format!("timestamp {micros} µs is out of range"))
    };
    let local = |micros: i64| {
        DateTime::from_timestamp_micros(micros)
            .map(|t| t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            .ok_or_else(|| format!("local timestamp {micros} µs is out of range"))
    };
    let text = match value {
        Value::Date(days) => {
            let date = DateTime::from_timestamp(i64::from(*days) * 86_400, 0)
                .ok_or_else(|| format!("date {days} is out of range"))?;
            date.format("%Y-%m-%d").to_string()
        }
        Value::TimestampMillis(ms) => utc(ms.saturating_mul(1_000))?,
        Value::TimestampMicros(us) => utc(*us)?,
        Value::TimestampNanos(ns) => DateTime::from_timestamp_nanos(*ns).to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Value::LocalTimestampMillis(ms) => local(ms.saturating_mul(1_000))?,
        Value::LocalTimestampMicros(us) => local(*us)?,
        Value::LocalTimestampNanos(ns) => DateTime::from_timestamp_nanos(*ns)
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.f")
            .to_string(),
        Value::TimeMillis(ms) => time_of_day(i64::from(*ms) * 1_000)?,
        Value::TimeMicros(us) => time_of_day(*us)?,
        Value::Duration(d) => {
            let (months, days, millis) = (u32::from(d.months()), u32::from(d.days()), u32::from(d.millis()));
            let _ = write!(out, r#"{{"months":{months},"days":{days},"millis":{millis}}}"#);
            return Ok(());
        }
        other => return Err(format!("an Avro value Weir cannot render: {other:?}")),
    };
    string(out, &text);
    Ok(())
}

fn time_of_day(micros: i64) -> Result<String, String> {
    let secs = u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| format!("time {micros} µs is out of range"))?;
    let nanos = (micros.rem_euclid(1_000_000) * 1_000) as u32;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
        .map(|t| t.format("%H:%M:%S%.6f").to_string())
        .ok_or_else(|| format!("time {micros} µs is out of range"))
}

/// The decimal's digits with `scale` of them after the point.
fn decimal_text(decimal: &Decimal, scale: usize) -> Result<String, String> {
    let bytes: Vec<u8> = decimal.try_into().map_err(|e: apache_avro::Error| e.to_string())?;
    // Leading bytes that only extend the sign (a small value in a wide `fixed`) carry nothing.
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    let mut start = 0;
    while start + 1 < bytes.len() && bytes[start] == fill && (bytes[start + 1] & 0x80 != 0) == negative {
        start += 1;
    }
    let bytes = &bytes[start..];
    if bytes.len() > 16 {
        return Err(format!("a decimal of {} bytes is wider than 128 bits", bytes.len()));
    }
    // Big-endian two's complement, sign-extended to 16 bytes.
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut wide = [fill; 16];
    wide[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(wide);
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return Ok(format!("{sign}{digits}"));
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    Ok(format!("{sign}{whole}.{fraction}"))
}

fn push(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

fn float(out: &mut String, wide: f64, value: impl serde::Serialize) {
    if wide.is_finite() {
        // serde_json writes the shortest text that reads back as the same float.
        out.push_str(&serde_json::to_string(&value).unwrap_or_else(|_| "null".into()));
    } else if wide.is_nan() {
        out.push_str("\"NaN\"");
    } else if wide > 0.0 {
        out.push_str("\"Infinity\"");
    } else {
        out.push_str("\"-Infinity\"");
    }
}

fn string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::to_avro_datum;

    const SCHEMA: &str = r#"{
      "type": "record", "name": "Order", "namespace": "shop",
      "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "ship", "type": {"type": "record", "name": "Address",
            "fields": [{"name": "city", "type": "string"}]}},
        {"name": "bill", "type": ["null", "Address"], "default": null},
        {"name": "ratio", "type": "double"}
      ]
    }"#;

    fn order(price_cents: i64, note: Option<&str>, ratio: f64) -> Vec<u8> {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let address = |city: &str| Value::Record(vec![("city".into(), Value::String(city.into()))]);
        let value = Value::Record(vec![
            ("id".into(), Value::String("o-1".into())),
            ("qty".into(), Value::Int(3)),
            (
                "price".into(),
                Value::Decimal(Decimal::from(price_cents.to_be_bytes().to_vec())),
            ),
            ("at".into(), Value::TimestampMillis(1_700_000_000_123)),
            ("day".into(), Value::Date(19_675)),
            (
                "note".into(),
                match note {
                    Some(n) => Value::Union(1, Box::new(Value::String(n.into()))),
                    None => Value::Union(0, Box::new(Value::Null)),
                },
            ),
            ("tags".into(), Value::Array(vec![Value::String("a\"b".into())])),
            ("ship".into(), address("Oslo")),
            ("bill".into(), Value::Union(1, Box::new(address("Rome")))),
            ("ratio".into(), Value::Double(ratio)),
        ]);
        to_avro_datum(&schema, value).unwrap()
    }

    #[test]
    fn renders_the_documented_mapping() {
        let schema = AvroSchema::parse(SCHEMA).unwrap();
        let json = schema.to_json(&order(-1234, Some("hi"), 0.5)).unwrap();
        assert_eq!(
            json,
            r#"{"id":"o-1","qty":3,"price":-12.34,"at":"2023-11-14T22:13:20.123Z","day":"2023-11-14","note":"hi","tags":["a\"b"],"ship":{"city":"Oslo"},"bill":{"city":"Rome"},"ratio":0.5}"#
        );
        let json = schema.to_json(&order(5, None, f64::NAN)).unwrap();
        assert!(
            json.contains(r#""price":0.05"#) && json.contains(r#""note":null"#),
            "{json}"
        );
        assert!(json.contains(r#""ratio":"NaN""#), "{json}");
    }

    #[test]
    fn a_body_that_does_not_match_is_refused() {
        let schema = AvroSchema::parse(SCHEMA).unwrap();
        let body = order(100, None, 1.0);
        let truncated = schema.to_json(&body[..body.len() - 3]).unwrap_err();
        assert!(truncated.contains("does not match its schema"), "{truncated}");
        let mut long = body.clone();
        long.extend_from_slice(&[0, 0]);
        assert!(schema.to_json(&long).unwrap_err().contains("2 bytes are left"));
        assert!(AvroSchema::parse(r#"{"type":"record"}"#).is_err());
    }

    #[test]
    fn decimals_keep_their_digits() {
        let d = |v: i128| Decimal::from(v.to_be_bytes().to_vec());
        assert_eq!(decimal_text(&d(12345), 2).unwrap(), "123.45");
        assert_eq!(decimal_text(&d(-5), 3).unwrap(), "-0.005");
        assert_eq!(decimal_text(&d(7), 0).unwrap(), "7");
        assert_eq!(decimal_text(&Decimal::from(vec![0xff, 0x85]), 1).unwrap(), "-12.3");
        let mut wide = vec![0xff; 20];
        wide[19] = 0x85;
        assert_eq!(decimal_text(&Decimal::from(wide), 1).unwrap(), "-12.3");
        let mut wide = vec![0; 20];
        wide[19] = 0x7b;
        assert_eq!(decimal_text(&Decimal::from(wide), 2).unwrap(), "1.23");
        assert_eq!(time_of_day(3_723_000_001).unwrap(), "01:02:03.000001");
    }
}
