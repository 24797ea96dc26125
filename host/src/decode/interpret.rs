//! A declared field's raw JSON text read as its column's type, strictly: a value of another
//! JSON kind, a number that does not fit, an epoch number without a declared unit is refused
//! with the reason. The documented casts apply only where the column says `coerce = true`.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::value::RawValue;

use super::cell::Cell;
use super::json_fields::{entries, fields};
use super::number;
use super::timestamp::{epoch_micros, micros_days, text_days, text_micros};
use crate::config::{ColumnType, EpochUnit, StructField};

/// How a column reads its values: its epoch unit and whether the casts apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    pub unit: Option<EpochUnit>,
    pub coerce: bool,
}

/// The JSON kinds of value, by their first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn kind(raw: &str) -> Kind {
    match raw.as_bytes().first() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'"') => Kind::String,
        Some(b'[') => Kind::Array,
        Some(b'{') => Kind::Object,
        _ => Kind::Number,
    }
}

/// `raw` read as `ty`. A null reads as `Cell::Null`; whether the column may be null is the
/// caller's check.
pub fn interpret<'a>(raw: &'a str, ty: &ColumnType, rules: Rules) -> Result<Cell<'a>, String> {
    let raw = raw.trim();
    let kind = kind(raw);
    if kind == Kind::Null {
        return Ok(Cell::Null);
    }
    let mismatch = || mismatch(raw, ty, kind, rules);
    match (ty, kind) {
        (ColumnType::String, Kind::String) => text(raw).map(Cell::Text),
        (ColumnType::String, Kind::Number | Kind::Bool) if rules.coerce => Ok(Cell::Text(Cow::Borrowed(raw))),
        (ColumnType::Boolean, Kind::Bool) => Ok(Cell::Bool(raw == "true")),
        (ColumnType::Boolean, Kind::String) if rules.coerce => match text(raw)?.trim() {
            "true" => Ok(Cell::Bool(true)),
            "false" => Ok(Cell::Bool(false)),
            _ => Err(mismatch()),
        },
        (ColumnType::Binary, Kind::String) => BASE64
            .decode(text(raw)?.as_bytes())
            .map(Cell::Bytes)
            .map_err(|e| format!("{} is not base64 text: {e}", excerpt(raw))),
        (ColumnType::Date, Kind::String) => text_days(&text(raw)?).map(|d| Cell::Int(i64::from(d))),
        (ColumnType::Date, Kind::Number) => {
            epoch_micros(raw, rules.unit).map(|us| Cell::Int(i64::from(micros_days(us))))
        }
        (ColumnType::Timestamp | ColumnType::TimestampNtz, Kind::String) => text_micros(&text(raw)?).map(Cell::Int),
        (ColumnType::Timestamp | ColumnType::TimestampNtz, Kind::Number) => {
            epoch_micros(raw, rules.unit).map(Cell::Int)
        }
        (ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float32 | ColumnType::Float64, Kind::Number)
        | (ColumnType::Decimal { .. }, Kind::Number) => numeric(raw, ty, rules.coerce),
        (ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float32 | ColumnType::Float64, Kind::String)
        | (ColumnType::Decimal { .. }, Kind::String)
            if rules.coerce =>
        {
            numeric(text(raw)?.trim(), ty, true)
        }
        (ColumnType::List(item), Kind::Array) => {
            let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            let cells = items
                .iter()
                .enumerate()
                .map(|(i, v)| interpret(v.get(), item, rules).map_err(|e| format!("item {i}: {e}")));
            cells.collect::<Result<Vec<_>, _>>().map(Cell::List)
        }
        (ColumnType::Map(key, value), Kind::Object) => map(raw, key, value, rules),
        (ColumnType::Struct(declared), Kind::Object) => record(raw, declared, rules),
        _ => Err(mismatch()),
    }
}

/// The fields of the object `raw` that `declared` names, each read as its type, in order.
fn record<'a>(raw: &'a str, declared: &[StructField], rules: Rules) -> Result<Cell<'a>, String> {
    let names: Vec<&str> = declared.iter().map(|f| f.name.as_str()).collect();
    let found = fields(raw, &names)?;
    let cells = declared
        .iter()
        .zip(found)
        .map(|(f, value)| field(value, &f.name, &f.ty, f.nullable, rules))
        .collect::<Result<_, _>>()?;
    Ok(Cell::Struct(cells))
}

/// Declared field `name`'s cell from its raw value (None: absent), or why it does not fit.
pub fn field<'a>(
    raw: Option<&'a RawValue>,
    name: &str,
    ty: &ColumnType,
    nullable: bool,
    rules: Rules,
) -> Result<Cell<'a>, String> {
    let cell = match raw {
        Some(v) => interpret(v.get(), ty, rules).map_err(|e| format!("field `{name}`: {e}"))?,
        None => Cell::Null,
    };
    if cell == Cell::Null && !nullable {
        return Err(format!("field `{name}` is missing or null"));
    }
    Ok(cell)
}

fn map<'a>(raw: &'a str, key: &ColumnType, value: &ColumnType, rules: Rules) -> Result<Cell<'a>, String> {
    let key_rules = Rules { coerce: true, ..rules };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in entries(raw)? {
        // A JSON key is always text: a map with number keys reads it as the number it spells.
        let key_cell = match (key, k) {
            (ColumnType::String, k) => Cell::Text(k),
            (ty, k) => interpret(&serde_json::to_string(&k).map_err(|e| e.to_string())?, ty, key_rules)
                .map(Cell::into_owned)
                .map_err(|e| format!("key {k:?}: {e}"))?,
        };
        // A key written twice (or `"7"` and `"07"` into an int key) has no one value.
        if !seen.insert(format!("{key_cell:?}")) {
            return Err(format!("key {key_cell:?} is written twice"));
        }
        let value_cell = interpret(v.get(), value, rules).map_err(|e| format!("value of {key_cell:?}: {e}"))?;
        out.push((key_cell, value_cell));
    }
    Ok(Cell::Map(out))
}

fn numeric<'a>(text: &str, ty: &ColumnType, coerce: bool) -> Result<Cell<'a>, String> {
    match ty {
        ColumnType::Int32 => number::integer(text, i32::MIN.into(), i32::MAX.into(), "int32", coerce).map(Cell::Int),
        ColumnType::Int64 => number::integer(text, i64::MIN, i64::MAX, "int64", coerce).map(Cell::Int),
        ColumnType::Float32 => number::float32(text).map(|v| Cell::Float(f64::from(v))),
        ColumnType::Float64 => number::float64(text).map(Cell::Float),
        ColumnType::Decimal { precision, scale } => number::decimal(text, *precision, *scale).map(Cell::Decimal),
        _ => Err(format!("{text} is not a {ty}")),
    }
}

/// The text of the JSON string `raw`, borrowed when it has no escapes.
fn text(raw: &str) -> Result<Cow<'_, str>, String> {
    let inner = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'));
    match inner {
        Some(inner) if !inner.contains('\\') => Ok(Cow::Borrowed(inner)),
        _ => serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|e| e.to_string()),
    }
}

fn mismatch(raw: &str, ty: &ColumnType, kind: Kind, rules: Rules) -> String {
    let hint = match (ty, kind) {
        (ColumnType::String, Kind::Number | Kind::Bool) | (_, Kind::String) if !rules.coerce && !ty.is_nested() => {
            " (`coerce = true` on the column takes it as written)"
        }
        _ => "",
    };
    format!("expected {}, found {}{hint}", expected(ty), excerpt(raw))
}

fn expected(ty: &ColumnType) -> String {
    match ty {
        ColumnType::String => "a string".into(),
        ColumnType::Boolean => "true or false".into(),
        ColumnType::Binary => "base64 text".into(),
        ColumnType::Date => "a date".into(),
        ColumnType::Timestamp | ColumnType::TimestampNtz => "a timestamp".into(),
        ColumnType::List(_) => format!("an array ({ty})"),
        ColumnType::Map(..) | ColumnType::Struct(_) => format!("an object ({ty})"),
        _ => format!("a number ({ty})"),
    }
}

/// At most 40 characters of `raw`, for a reason.
fn excerpt(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &raw[..at]),
        None => raw.to_string(),
    }
}

impl Cell<'_> {
    /// The same value owning its text.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Int(v) => Cell::Int(v),
            Cell::Float(v) => Cell::Float(v),
            Cell::Decimal(v) => Cell::Decimal(v),
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
            Cell::Bytes(b) => Cell::Bytes(b),
            Cell::List(items) => Cell::List(items.into_iter().map(Cell::into_owned).collect()),
            Cell::Struct(items) => Cell::Struct(items.into_iter().map(Cell::into_owned).collect()),
            Cell::Map(entries) => Cell::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str, ty: &str) -> Result<Cell<'static>, String> {
        read_with(raw, ty, Rules::default())
    }

    fn read_with(raw: &str, ty: &str, rules: Rules) -> Result<Cell<'static>, String> {
        interpret(raw, &ty.parse().unwrap(), rules).map(Cell::into_owned)
    }

    #[test]
    fn the_issues_silent_casts_are_refused_with_the_reason() {
        assert!(read("1.5", "int64").unwrap_err().contains("whole number"));
        assert!(
            read(r#""12""#, "int64")
                .unwrap_err()
                .contains("expected a number (int64), found \"12\"")
        );
        assert!(
            read("12345", "string")
                .unwrap_err()
                .contains("expected a string, found 12345")
        );
        assert!(
            read("1e400", "float64")
                .unwrap_err()
                .contains("out of range for float64")
        );
        assert!(
            read("253402300799", "timestamp")
                .unwrap_err()
                .contains("declares no unit")
        );
        let seconds = Rules {
            unit: Some(EpochUnit::Seconds),
            coerce: false,
        };
        assert_eq!(
            read_with("253402300799", "timestamp", seconds),
            Ok(Cell::Int(253_402_300_799_000_000))
        );
    }

    #[test]
    fn coerce_takes_the_documented_casts_only() {
        let coerce = Rules {
            unit: None,
            coerce: true,
        };
        assert_eq!(read_with(r#""12""#, "int64", coerce), Ok(Cell::Int(12)));
        assert_eq!(read_with("12345", "string", coerce), Ok(Cell::Text("12345".into())));
        assert_eq!(read_with("12.0", "int32", coerce), Ok(Cell::Int(12)));
        assert_eq!(read_with(r#""true""#, "boolean", coerce), Ok(Cell::Bool(true)));
        assert_eq!(read_with(r#""1.10""#, "decimal(5, 2)", coerce), Ok(Cell::Decimal(110)));
        assert!(read_with("1.5", "int64", coerce).is_err());
        assert!(read_with("[1]", "string", coerce).is_err());
    }

    #[test]
    fn nested_values_name_the_path_that_failed() {
        let ty = "struct<name: string not null, tags: list<string>, prices: map<string, decimal(6, 2)>>";
        let ok = read(
            r#"{"name":"a\u00e9","tags":["x",null],"prices":{"p":1.25},"other":1}"#,
            ty,
        )
        .unwrap();
        let Cell::Struct(fields) = ok else { panic!() };
        assert_eq!(fields[0], Cell::Text("aé".into()));
        assert_eq!(fields[1], Cell::List(vec![Cell::Text("x".into()), Cell::Null]));
        assert_eq!(fields[2], Cell::Map(vec![(Cell::Text("p".into()), Cell::Decimal(125))]));
        assert!(
            read(r#"{"tags":[]}"#, ty)
                .unwrap_err()
                .contains("field `name` is missing or null")
        );
        let e = read(r#"{"name":"a","tags":["x",3]}"#, ty).unwrap_err();
        assert!(e.starts_with("field `tags`: item 1: expected a string"), "{e}");
        let e = read(r#"{"name":"a","prices":{"p":1.255}}"#, ty).unwrap_err();
        assert!(
            e.contains("field `prices`: value of") && e.contains("decimal places"),
            "{e}"
        );
        assert_eq!(
            read(r#"{"7":true}"#, "map<int32, boolean>"),
            Ok(Cell::Map(vec![(Cell::Int(7), Cell::Bool(true))]))
        );
        assert!(
            read(r#"{"x":true}"#, "map<int32, boolean>")
                .unwrap_err()
                .contains("key \"x\"")
        );
    }

    #[test]
    fn binary_dates_and_timestamps() {
        assert_eq!(read(r#""aGk=""#, "binary"), Ok(Cell::Bytes(b"hi".to_vec())));
        assert!(read(r#""%%""#, "binary").unwrap_err().contains("base64"));
        assert_eq!(read(r#""1970-01-03""#, "date"), Ok(Cell::Int(2)));
        assert_eq!(
            read(r#""1970-01-01T00:00:01Z""#, "timestamp_ntz"),
            Ok(Cell::Int(1_000_000))
        );
        assert!(
            read("true", "date")
                .unwrap_err()
                .contains("expected a date, found true")
        );
    }
}
