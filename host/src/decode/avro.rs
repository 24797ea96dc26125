//! An Avro record (the datum after the Confluent header) as JSON text, the one form plugins and
//! silver take. The mapping (`docs/SCHEMA_REGISTRY.md`): a union is its value (no `{"type": value}`
//! wrapper), bytes and fixed are base64, a decimal is a JSON number with its exact digits,
//! `date` is `YYYY-MM-DD`, `timestamp-*` is RFC 3339 in UTC (`...Z`), `local-timestamp-*` is
//! RFC 3339 without a zone, `time-*` is `HH:MM:SS.ffffff`, an enum is its symbol, a uuid its
//! text, a duration `{"months", "days", "millis"}`. A float that is not finite is the string
//! `"NaN"`, `"Infinity"` or `"-Infinity"` (JSON has no such number).

use std::collections::HashMap;
use std::fmt::Write;

use apache_avro::Schema;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveTime, SecondsFormat};

use super::avro_binary::{Body, MAX_DEPTH};

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
        let mut reader = Body::new(body);
        let mut out = String::with_capacity(body.len() * 2);
        self.render(&mut reader, &self.schema, &mut out, 0)
            .map_err(|e| format!("the body does not match its schema: {e}"))?;
        if reader.remaining() > 0 {
            return Err(format!(
                "{} bytes are left after the record: the body does not match its schema",
                reader.remaining()
            ));
        }
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

    /// Reads one value of `schema` from `body` and writes it to `out` as JSON.
    pub fn render(&self, body: &mut Body<'_>, schema: &Schema, out: &mut String, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        let schema = self.resolve(Some(schema)).ok_or("a reference to an unknown type")?;
        match schema {
            Schema::Null => out.push_str("null"),
            Schema::Boolean => out.push_str(if body.boolean()? { "true" } else { "false" }),
            Schema::Int => push(out, body.int()?),
            Schema::Long => push(out, body.long()?),
            Schema::Float => {
                let v = body.float()?;
                float(out, f64::from(v), v);
            }
            Schema::Double => {
                let v = body.double()?;
                float(out, v, v);
            }
            Schema::Bytes => string(out, &BASE64.encode(body.bytes()?)),
            Schema::Fixed(f) => string(out, &BASE64.encode(body.take(f.size)?)),
            Schema::String => string(out, body.text()?),
            Schema::Enum(e) => string(out, &e.symbols[body.index(e.symbols.len(), "enum symbol")?]),
            Schema::Uuid => string(out, &uuid(body.bytes()?)?),
            Schema::Union(union) => {
                let index = body.index(union.variants().len(), "union branch")?;
                self.render(body, &union.variants()[index], out, depth + 1)?;
            }
            Schema::Array(array) => self.render_array(body, &array.items, out, depth)?,
            Schema::Map(map) => self.render_map(body, &map.types, out, depth)?,
            Schema::Record(record) => {
                out.push('{');
                for (i, field) in record.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(out, &field.name);
                    out.push(':');
                    self.render(body, &field.schema, out, depth + 1)?;
                }
                out.push('}');
            }
            Schema::Decimal(decimal) => {
                let bytes = match self.resolve(Some(&decimal.inner)) {
                    Some(Schema::Fixed(f)) => body.take(f.size)?,
                    _ => body.bytes()?,
                };
                out.push_str(&decimal_text(bytes, decimal.scale)?);
            }
            Schema::BigDecimal => {
                // Rare enough to read through apache-avro, from where the value starts, once
                // its length is known to fit the body (apache-avro would allocate it first).
                let mut peek = *body;
                peek.bytes()?;
                let mut rest = body.rest();
                let value =
                    apache_avro::from_avro_datum(&Schema::BigDecimal, &mut rest, None).map_err(|e| e.to_string())?;
                body.take(body.remaining() - rest.len())?;
                match value {
                    Value::BigDecimal(b) => out.push_str(&b.to_string()),
                    other => return Err(format!("a big-decimal read as {other:?}")),
                }
            }
            Schema::Duration => {
                let d = body.take(12)?;
                let part = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
                let _ = write!(
                    out,
                    r#"{{"months":{},"days":{},"millis":{}}}"#,
                    part(0),
                    part(4),
                    part(8)
                );
            }
            other => temporal(other, body.long()?, out)?,
        }
        Ok(())
    }

    /// An array's items, block after block.
    fn render_array(&self, body: &mut Body<'_>, items: &Schema, out: &mut String, depth: usize) -> Result<(), String> {
        out.push('[');
        let mut first = true;
        loop {
            let count = body.block()?;
            if count == 0 {
                break;
            }
            for _ in 0..count {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                self.render(body, items, out, depth + 1)?;
            }
        }
        out.push(']');
        Ok(())
    }

    /// A map's entries, rendered in key order, a key written twice keeping its last value.
    fn render_map(&self, body: &mut Body<'_>, values: &Schema, out: &mut String, depth: usize) -> Result<(), String> {
        let mut entries: Vec<(&str, String)> = Vec::new();
        loop {
            let count = body.block()?;
            if count == 0 {
                break;
            }
            for _ in 0..count {
                let key = body.text()?;
                let mut value = String::new();
                self.render(body, values, &mut value, depth + 1)?;
                entries.push((key, value));
            }
        }
        // Stable: of equal keys the last written stays last, and is the one kept.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        out.push('{');
        let mut first = true;
        for (i, (key, value)) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|(next, _)| next == key) {
                continue;
            }
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            string(out, key);
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        Ok(())
    }
}

/// Dates, times and timestamps, written as the `long` (or `int`) `raw`.
fn temporal(schema: &Schema, raw: i64, out: &mut String) -> Result<(), String> {
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
    let int = || i32::try_from(raw).map_err(|_| format!("{raw} does not fit an Avro int"));
    let text = match schema {
        Schema::Date => {
            let days = int()?;
            let date = DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .ok_or_else(|| format!("date {days} is out of range"))?;
            date.format("%Y-%m-%d").to_string()
        }
        Schema::TimestampMillis => utc(raw.saturating_mul(1_000))?,
        Schema::TimestampMicros => utc(raw)?,
        Schema::TimestampNanos => DateTime::from_timestamp_nanos(raw).to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Schema::LocalTimestampMillis => local(raw.saturating_mul(1_000))?,
        Schema::LocalTimestampMicros => local(raw)?,
        Schema::LocalTimestampNanos => DateTime::from_timestamp_nanos(raw)
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.f")
            .to_string(),
        Schema::TimeMillis => time_of_day(i64::from(int()?) * 1_000)?,
        Schema::TimeMicros => time_of_day(raw)?,
        other => return Err(format!("an Avro type Weir cannot render: {other:?}")),
    };
    string(out, &text);
    Ok(())
}

/// A uuid's text, from the bytes apache-avro writes for one: 16 bytes, or its text.
fn uuid(bytes: &[u8]) -> Result<String, String> {
    let uuid = match std::str::from_utf8(bytes) {
        _ if bytes.len() == 16 => uuid::Uuid::from_slice(bytes).map_err(|e| e.to_string())?,
        Ok(text) => uuid::Uuid::parse_str(text).map_err(|e| format!("`{text}` is not a uuid: {e}"))?,
        Err(_) => return Err("a uuid that is neither 16 bytes nor text".into()),
    };
    Ok(uuid.to_string())
}

fn time_of_day(micros: i64) -> Result<String, String> {
    let secs = u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| format!("time {micros} µs is out of range"))?;
    let nanos = (micros.rem_euclid(1_000_000) * 1_000) as u32;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
        .map(|t| t.format("%H:%M:%S%.6f").to_string())
        .ok_or_else(|| format!("time {micros} µs is out of range"))
}

/// The digits of the decimal whose unscaled value is the big-endian two's complement `bytes`,
/// with `scale` of them after the point.
fn decimal_text(bytes: &[u8], scale: usize) -> Result<String, String> {
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
    use apache_avro::{Decimal, to_avro_datum};

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
    fn renders_every_kind_of_value() {
        let text = r#"{"type":"record","name":"All","fields":[
            {"name":"b","type":"bytes"},
            {"name":"x","type":{"type":"fixed","name":"X","size":2}},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["a","b"]}},
            {"name":"u","type":{"type":"string","logicalType":"uuid"}},
            {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
            {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
            {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
            {"name":"lt","type":{"type":"long","logicalType":"local-timestamp-millis"}},
            {"name":"d","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}},
            {"name":"m","type":{"type":"map","values":"long"}},
            {"name":"f","type":"float"},
            {"name":"n","type":"null"},
            {"name":"ok","type":"boolean"},
            {"name":"dx","type":{"type":"fixed","name":"DX","size":3,"logicalType":"decimal","precision":5,"scale":1}}]}"#;
        let schema = AvroSchema::parse(text).unwrap();
        let uuid = uuid::Uuid::parse_str("6f1c2d3e-0000-4000-8000-00000000abcd").unwrap();
        let duration = apache_avro::Duration::new(
            apache_avro::Months::new(1),
            apache_avro::Days::new(2),
            apache_avro::Millis::new(3),
        );
        let value = Value::Record(vec![
            ("b".into(), Value::Bytes(b"hi".to_vec())),
            ("x".into(), Value::Fixed(2, vec![1, 2])),
            ("e".into(), Value::Enum(1, "b".into())),
            ("u".into(), Value::Uuid(uuid)),
            ("tm".into(), Value::TimeMillis(3_723_001)),
            ("tu".into(), Value::TimeMicros(1)),
            ("ts".into(), Value::TimestampMicros(1_700_000_000_000_001)),
            ("lt".into(), Value::LocalTimestampMillis(0)),
            ("d".into(), Value::Duration(duration)),
            (
                "m".into(),
                Value::Map([("b".to_string(), Value::Long(1)), ("a".to_string(), Value::Long(2))].into()),
            ),
            ("f".into(), Value::Float(0.1)),
            ("n".into(), Value::Null),
            ("ok".into(), Value::Boolean(true)),
            ("dx".into(), Value::Decimal(Decimal::from(vec![0xff, 0xff, 0x85]))),
        ]);
        let body = to_avro_datum(schema.schema(), value).unwrap();
        assert_eq!(
            schema.to_json(&body).unwrap(),
            concat!(
                r#"{"b":"aGk=","x":"AQI=","e":"b","u":"6f1c2d3e-0000-4000-8000-00000000abcd","#,
                r#""tm":"01:02:03.001000","tu":"00:00:00.000001","ts":"2023-11-14T22:13:20.000001Z","#,
                r#""lt":"1970-01-01T00:00:00","d":{"months":1,"days":2,"millis":3},"m":{"a":2,"b":1},"#,
                r#""f":0.1,"n":null,"ok":true,"dx":-12.3}"#
            )
        );
    }

    #[test]
    fn reads_blocks_with_sizes_and_keeps_a_map_keys_last_value() {
        // An array of longs in one block of -2 items (so its size, 2 bytes, follows): [1, 2].
        let array = AvroSchema::parse(r#"{"type":"array","items":"long"}"#).unwrap();
        assert_eq!(array.to_json(&[3, 4, 2, 4, 0]).unwrap(), "[1,2]");
        // A map writing `a` twice: the last value stands, as a reader's map holds it.
        let map = AvroSchema::parse(r#"{"type":"map","values":"long"}"#).unwrap();
        assert_eq!(map.to_json(&[4, 2, b'a', 2, 2, b'a', 4, 0]).unwrap(), r#"{"a":2}"#);
        // A bad enum index, a bad union branch, a boolean that is not 0 or 1.
        let e = AvroSchema::parse(r#"{"type":"enum","name":"E","symbols":["a"]}"#).unwrap();
        assert!(e.to_json(&[2]).unwrap_err().contains("enum symbol index 1"));
        let u = AvroSchema::parse(r#"["null","long"]"#).unwrap();
        assert!(u.to_json(&[4]).unwrap_err().contains("union branch index 2"));
        assert_eq!(u.to_json(&[2, 5]).unwrap(), "-3");
        let b = AvroSchema::parse(r#""boolean""#).unwrap();
        assert!(b.to_json(&[7]).unwrap_err().contains("7 is not a boolean"));
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
        assert_eq!(decimal_text(&12345i128.to_be_bytes(), 2).unwrap(), "123.45");
        assert_eq!(decimal_text(&(-5i128).to_be_bytes(), 3).unwrap(), "-0.005");
        assert_eq!(decimal_text(&7i64.to_be_bytes(), 0).unwrap(), "7");
        assert_eq!(decimal_text(&[0xff, 0x85], 1).unwrap(), "-12.3");
        assert_eq!(decimal_text(&[], 2).unwrap(), "0.00");
        let mut wide = vec![0xff; 20];
        wide[19] = 0x85;
        assert_eq!(decimal_text(&wide, 1).unwrap(), "-12.3");
        let mut wide = vec![0; 20];
        wide[19] = 0x7b;
        assert_eq!(decimal_text(&wide, 2).unwrap(), "1.23");
        wide[0] = 1;
        assert!(decimal_text(&wide, 2).unwrap_err().contains("wider than 128 bits"));
        assert_eq!(time_of_day(3_723_000_001).unwrap(), "01:02:03.000001");
    }
}
