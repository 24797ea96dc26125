//! Silver's column types as a pipeline file writes them: a primitive name (`int64`,
//! `decimal(10, 2)`, `timestamp`), or a nested type built from them (`list<string>`,
//! `map<string, int64>`, `struct<name: string, tags: list<string>>`). Read with a small
//! recursive-descent parser; written back the same way, so a type round-trips through its text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest decimal precision: Delta, Iceberg and Arrow's `Decimal128` all stop at 38 digits.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// A column's type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum ColumnType {
    String,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    /// Bytes; base64 text in JSON.
    Binary,
    /// Exactly `precision` digits, `scale` of them after the point.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// Days since the epoch; `YYYY-MM-DD` text in JSON.
    Date,
    /// An instant, stored as microseconds since the epoch in UTC (Delta `timestamp`, Iceberg
    /// `timestamptz`).
    Timestamp,
    /// A wall-clock time with no zone, microseconds (Delta `timestamp_ntz`, Iceberg `timestamp`).
    TimestampNtz,
    List(Box<ColumnType>),
    /// Keys are never null and must be a primitive type.
    Map(Box<ColumnType>, Box<ColumnType>),
    Struct(Vec<StructField>),
}

/// A field of a struct type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructField {
    pub name: String,
    pub ty: ColumnType,
    /// `name: type not null` makes a field required; fields are nullable by default.
    pub nullable: bool,
}

impl ColumnType {
    /// Whether this is a timestamp of either kind.
    pub fn is_timestamp(&self) -> bool {
        matches!(self, ColumnType::Timestamp | ColumnType::TimestampNtz)
    }

    /// Whether this type holds other types.
    pub fn is_nested(&self) -> bool {
        matches!(self, ColumnType::List(_) | ColumnType::Map(..) | ColumnType::Struct(_))
    }
}

const PRIMITIVES: [(&str, ColumnType); 10] = [
    ("string", ColumnType::String),
    ("int32", ColumnType::Int32),
    ("int64", ColumnType::Int64),
    ("float32", ColumnType::Float32),
    ("float64", ColumnType::Float64),
    ("boolean", ColumnType::Boolean),
    ("binary", ColumnType::Binary),
    ("date", ColumnType::Date),
    ("timestamp", ColumnType::Timestamp),
    ("timestamp_ntz", ColumnType::TimestampNtz),
];

const KNOWN: &str = "string, int32, int64, float32, float64, boolean, binary, date, timestamp, timestamp_ntz, \
                     decimal(P, S), list<T>, map<K, V>, struct<name: T, ...>";

/// Why a type's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("type `{text}`: {reason} (types: {KNOWN})")]
pub struct TypeError {
    text: String,
    reason: String,
}

impl FromStr for ColumnType {
    type Err = TypeError;

    fn from_str(text: &str) -> Result<Self, TypeError> {
        let mut parser = Parser { text, at: 0 };
        let error = |reason: String| TypeError {
            text: text.to_string(),
            reason,
        };
        let ty = parser.ty().map_err(error)?;
        parser.space();
        if parser.at < text.len() {
            return Err(error(format!("unexpected `{}` after the type", &text[parser.at..])));
        }
        Ok(ty)
    }
}

impl TryFrom<String> for ColumnType {
    type Error = TypeError;

    fn try_from(text: String) -> Result<Self, TypeError> {
        text.parse()
    }
}

impl From<ColumnType> for String {
    fn from(ty: ColumnType) -> String {
        ty.to_string()
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((name, _)) = PRIMITIVES.iter().find(|(_, ty)| ty == self) {
            return f.write_str(name);
        }
        match self {
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            ColumnType::List(item) => write!(f, "list<{item}>"),
            ColumnType::Map(key, value) => write!(f, "map<{key}, {value}>"),
            ColumnType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, field) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    let required = if field.nullable { "" } else { " not null" };
                    write!(f, "{sep}{}: {}{required}", field.name, field.ty)?;
                }
                f.write_str(">")
            }
            _ => Err(fmt::Error),
        }
    }
}

/// Reads a type from `text[at..]`.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// A name: letters, digits and `_`.
    fn word(&mut self) -> &str {
        self.space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            return Ok(());
        }
        let found = self
            .rest()
            .chars()
            .next()
            .map_or("the end".to_string(), |c| format!("`{c}`"));
        Err(format!("expected `{token}`, found {found}"))
    }

    fn number(&mut self) -> Result<u8, String> {
        let word = self.word();
        word.parse()
            .map_err(|_| format!("`{word}` is not a small whole number"))
    }

    fn ty(&mut self) -> Result<ColumnType, String> {
        let name = self.word().to_ascii_lowercase();
        if let Some((_, ty)) = PRIMITIVES.iter().find(|(n, _)| *n == name) {
            return Ok(ty.clone());
        }
        match name.as_str() {
            "decimal" => self.decimal(),
            "list" => {
                self.expect("<")?;
                let item = self.ty()?;
                self.expect(">")?;
                Ok(ColumnType::List(Box::new(item)))
            }
            "map" => self.map(),
            "struct" => self.fields().map(ColumnType::Struct),
            "" => Err("expected a type name".into()),
            other => Err(format!("unknown type `{other}`")),
        }
    }

    fn decimal(&mut self) -> Result<ColumnType, String> {
        self.expect("(")?;
        let precision = self.number()?;
        self.expect(",")?;
        let scale = self.number()?;
        self.expect(")")?;
        if !(1..=MAX_DECIMAL_PRECISION).contains(&precision) {
            return Err(format!(
                "precision {precision} is not within 1..={MAX_DECIMAL_PRECISION}"
            ));
        }
        if scale > precision {
            return Err(format!("scale {scale} is larger than precision {precision}"));
        }
        Ok(ColumnType::Decimal { precision, scale })
    }

    fn map(&mut self) -> Result<ColumnType, String> {
        self.expect("<")?;
        let key = self.ty()?;
        if key.is_nested() {
            return Err(format!("a map's key must be a primitive type, not `{key}`"));
        }
        self.expect(",")?;
        let value = self.ty()?;
        self.expect(">")?;
        Ok(ColumnType::Map(Box::new(key), Box::new(value)))
    }

    fn fields(&mut self) -> Result<Vec<StructField>, String> {
        self.expect("<")?;
        let mut fields: Vec<StructField> = Vec::new();
        loop {
            let name = self.word().to_string();
            if name.is_empty() {
                return Err("expected a field name".into());
            }
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                // Delta compares field names without case.
                return Err(format!("field `{name}` is declared twice"));
            }
            self.expect(":")?;
            let ty = self.ty()?;
            let nullable = !self.not_null()?;
            fields.push(StructField { name, ty, nullable });
            if !self.eat(",") {
                break;
            }
        }
        self.expect(">")?;
        Ok(fields)
    }

    /// `not null` after a field's type.
    fn not_null(&mut self) -> Result<bool, String> {
        let before = self.at;
        if !self.word().eq_ignore_ascii_case("not") {
            self.at = before;
            return Ok(false);
        }
        if self.word().eq_ignore_ascii_case("null") {
            Ok(true)
        } else {
            Err("expected `null` after `not`".into())
        }
    }
}

/// The unit of an epoch number in a timestamp or date column: declared, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum EpochUnit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "ms")]
    Millis,
    #[serde(rename = "us")]
    Micros,
}

impl EpochUnit {
    /// Microseconds in one unit.
    pub fn micros(self) -> i64 {
        match self {
            EpochUnit::Seconds => 1_000_000,
            EpochUnit::Millis => 1_000,
            EpochUnit::Micros => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "s",
            EpochUnit::Millis => "ms",
            EpochUnit::Micros => "us",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_type_and_writes_it_back() {
        for text in [
            "string",
            "int32",
            "float32",
            "binary",
            "timestamp_ntz",
            "decimal(10, 2)",
            "list<string>",
            "map<string, list<int64>>",
            "struct<name: string not null, tags: list<string>, at: struct<t: timestamp>>",
        ] {
            let ty: ColumnType = text.parse().unwrap();
            assert_eq!(ty.to_string(), text);
        }
        let spaced: ColumnType = " Decimal( 38 ,0 ) ".parse().unwrap();
        assert_eq!(
            spaced,
            ColumnType::Decimal {
                precision: 38,
                scale: 0
            }
        );
    }

    #[test]
    fn refuses_what_no_table_can_hold_with_the_reason() {
        let error = |text: &str| text.parse::<ColumnType>().unwrap_err().to_string();
        assert!(error("decimal(39, 2)").contains("precision 39"));
        assert!(error("decimal(4, 5)").contains("scale 5 is larger"));
        assert!(error("map<list<string>, int64>").contains("primitive"));
        assert!(error("struct<a: int64, A: string>").contains("`A` is declared twice"));
        assert!(error("list<string").contains("expected `>`"));
        assert!(error("int").contains("unknown type `int`"));
        assert!(error("int64 extra").contains("unexpected `extra`"));
        assert!(error("struct<a: int64 not>").contains("`null` after `not`"));
    }
}
