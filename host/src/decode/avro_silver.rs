//! Avro bodies read straight into silver cells, for pipelines where nothing needs the JSON text
//! (no stages, no gold): the writer's fields are walked in order, undeclared ones passed over,
//! and the common exact pairs (a string into a string column, an int or long into an integer
//! column, a double into a float64 column, a timestamp or date into its column) read in place.
//! Any other pair reads its one field's JSON rendering the way the JSON path does
//! (`interpret::field`), so both paths take and refuse the same values. A record this path
//! cannot take whole (a value that does not fit, a body that does not match) gives `None`: the
//! caller then reads it the JSON way, which names the reason.

use std::borrow::Cow;
use std::collections::HashMap;

use apache_avro::Schema;
use serde_json::value::RawValue;

use super::avro::AvroSchema;
use super::avro_binary::Body;
use super::cell::Cell;
use super::interpret::{Rules, field};
use super::schemas::SchemaEntry;
use super::silver::{DecodeOutcome, Origin, Rows, SilverDecoder};
use super::timestamp::{days_in_years, micros_in_years};
use super::values::ValueDecoder;
use super::wire;
use crate::config::{ColumnConfig, ColumnType};

/// One writer field: passed over, or read into a declared column.
#[derive(Debug)]
enum Step<'s> {
    Skip(&'s Schema),
    Column(usize, &'s Schema),
}

/// How the records of one writer schema become silver cells.
#[derive(Debug)]
pub struct AvroRows<'s> {
    avro: &'s AvroSchema,
    declared: &'s [ColumnConfig],
    rules: &'s [Rules],
    steps: Vec<Step<'s>>,
}

impl<'s> AvroRows<'s> {
    /// The plan for `avro` into the `declared` columns (with their `rules`); `None` when the
    /// writer schema is not a record.
    pub fn new(avro: &'s AvroSchema, declared: &'s [ColumnConfig], rules: &'s [Rules]) -> Option<Self> {
        let Some(Schema::Record(record)) = avro.resolve(Some(avro.schema())) else {
            return None;
        };
        let steps = (record.fields.iter())
            .map(|f| match declared.iter().position(|c| c.name == f.name) {
                Some(column) => Step::Column(column, &f.schema),
                None => Step::Skip(&f.schema),
            })
            .collect();
        Some(AvroRows {
            avro,
            declared,
            rules,
            steps,
        })
    }

    /// One body's cells, one per declared column; `None` when the record must be read the JSON
    /// way (it may not fit, or not be a record of this schema at all).
    pub fn row<'a>(&self, body: &'a [u8], scratch: &mut String) -> Option<Vec<Cell<'a>>> {
        let mut body = Body::new(body);
        let mut cells = vec![Cell::Null; self.declared.len()];
        for step in &self.steps {
            match step {
                // Rendered and dropped: an undeclared field gets the checks the JSON way gives it.
                Step::Skip(schema) => {
                    scratch.clear();
                    self.avro.render(&mut body, schema, scratch, 1).ok()?;
                }
                Step::Column(i, schema) => {
                    let column = &self.declared[*i];
                    cells[*i] = self.cell(&mut body, schema, column, self.rules[*i], scratch, 1)?;
                }
            }
        }
        let complete = cells
            .iter()
            .zip(self.declared)
            .all(|(c, d)| d.nullable || *c != Cell::Null);
        (body.remaining() == 0 && complete).then_some(cells)
    }

    /// One value of `schema` as `column`'s cell.
    fn cell<'a>(
        &self,
        body: &mut Body<'a>,
        schema: &Schema,
        column: &ColumnConfig,
        rules: Rules,
        scratch: &mut String,
        depth: usize,
    ) -> Option<Cell<'a>> {
        let schema = self.avro.resolve(Some(schema))?;
        let ty = &column.ty;
        // An `int` is read as one: a value past 32 bits is the JSON way's refusal too.
        let long = |body: &mut Body<'a>| match schema {
            Schema::Int => body.int().ok().map(i64::from),
            _ => body.long().ok(),
        };
        match (schema, ty) {
            (Schema::Null, _) => Some(Cell::Null),
            (Schema::Union(union), _) => {
                let index = body.index(union.variants().len(), "union branch").ok()?;
                self.cell(body, &union.variants()[index], column, rules, scratch, depth + 1)
            }
            (Schema::String, ColumnType::String) => body.text().ok().map(|t| Cell::Text(Cow::Borrowed(t))),
            (Schema::Boolean, ColumnType::Boolean) => body.boolean().ok().map(Cell::Bool),
            (Schema::Int | Schema::Long, ColumnType::Int64) => long(body).map(Cell::Int),
            (Schema::Int | Schema::Long, ColumnType::Int32) => {
                let v = long(body)?;
                i32::try_from(v).is_ok().then_some(Cell::Int(v))
            }
            (Schema::Double, ColumnType::Float64) => {
                let v = body.double().ok()?;
                v.is_finite().then_some(Cell::Float(v))
            }
            (Schema::Float, ColumnType::Float32) => {
                let v = body.float().ok()?;
                v.is_finite().then_some(Cell::Float(f64::from(v)))
            }
            (Schema::Int | Schema::Long, ColumnType::Timestamp | ColumnType::TimestampNtz) => {
                // An epoch number in the column's declared unit (none declared: the JSON way
                // refuses it, with the reason).
                let us = long(body)?.checked_mul(rules.unit?.micros())?;
                micros_in_years(us).then_some(Cell::Int(us))
            }
            (Schema::TimestampMicros, ColumnType::Timestamp | ColumnType::TimestampNtz) => {
                let us = body.long().ok()?;
                micros_in_years(us).then_some(Cell::Int(us))
            }
            (Schema::TimestampMillis, ColumnType::Timestamp | ColumnType::TimestampNtz) => {
                let us = body.long().ok()?.checked_mul(1_000)?;
                micros_in_years(us).then_some(Cell::Int(us))
            }
            (Schema::Date, ColumnType::Date) => {
                let days = i64::from(body.int().ok()?);
                days_in_years(days).then_some(Cell::Int(days))
            }
            _ => {
                // Any other pair: this field's JSON rendering, read as the JSON path reads it.
                scratch.clear();
                self.avro.render(body, schema, scratch, depth).ok()?;
                let raw: &RawValue = serde_json::from_str(scratch).ok()?;
                field(Some(raw), &column.name, ty, true, rules)
                    .ok()
                    .map(Cell::into_owned)
            }
        }
    }
}

/// Why a value did not become a silver row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// It cannot be read at all (stage `decode`).
    Unreadable(String),
    /// It was read and does not fit the silver columns (stage `silver`).
    Unfit(String),
}

/// A batch's Avro values read straight into silver rows (`SilverDecoder::assemble` makes the
/// batch), a plan per writer schema.
pub struct DirectSilver<'s, 'a> {
    silver: &'s SilverDecoder,
    values: &'s ValueDecoder,
    plans: HashMap<u32, Option<AvroRows<'s>>>,
    rows: Rows<'a>,
    scratch: String,
}

impl<'s, 'a> DirectSilver<'s, 'a> {
    /// For `values` that are Avro (`None` otherwise), into `silver`'s columns.
    pub fn new(silver: &'s SilverDecoder, values: &'s ValueDecoder, capacity: usize) -> Option<Self> {
        matches!(values, ValueDecoder::Avro(_)).then(|| DirectSilver {
            silver,
            values,
            plans: HashMap::new(),
            rows: silver.rows(capacity),
            scratch: String::new(),
        })
    }

    /// Reads input `index`'s `value` into a row, or says why it is not one.
    pub fn read(&mut self, index: usize, value: &'a [u8]) -> Result<(), Unread> {
        if let Some(cells) = self.fast(value) {
            self.rows.push(index, cells);
            return Ok(());
        }
        // The JSON way, which names the reason (or takes what the fast way would not try).
        let text = self.values.text(value).map_err(Unread::Unreadable)?;
        let cells = self.silver.row(&text).map_err(Unread::Unfit)?;
        self.rows.push(index, cells.into_iter().map(Cell::into_owned).collect());
        Ok(())
    }

    /// The rows read, with `origins` indexed as the inputs were.
    pub fn finish(self, origins: &[Origin<'_>]) -> DecodeOutcome {
        self.silver.assemble(self.rows, origins, Vec::new())
    }

    fn fast(&mut self, value: &'a [u8]) -> Option<Vec<Cell<'a>>> {
        let ValueDecoder::Avro(schemas) = self.values else {
            return None;
        };
        let framed = wire::avro(value).ok()?;
        let (declared, rules) = self.silver.declared();
        let plan = self
            .plans
            .entry(framed.schema_id)
            .or_insert_with(|| match schemas.get(framed.schema_id) {
                Some(SchemaEntry::Avro(schema)) => AvroRows::new(schema, declared, rules),
                _ => None,
            });
        plan.as_ref()?.row(framed.body, &mut self.scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EpochUnit;
    use crate::decode::schemas::Schemas;
    use crate::registry::SchemaKind;
    use apache_avro::types::Value;

    const SCHEMA: &str = r#"{"type":"record","name":"R","fields":[
        {"name":"id","type":"string"},
        {"name":"n","type":"long"},
        {"name":"small","type":"int"},
        {"name":"ratio","type":"double"},
        {"name":"f","type":"float"},
        {"name":"ok","type":"boolean"},
        {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"epoch","type":"long"},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"note","type":["null","string"]},
        {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":8,"scale":2}},
        {"name":"tags","type":{"type":"array","items":"string"}},
        {"name":"skipped","type":{"type":"map","values":"long"}},
        {"name":"kind","type":{"type":"enum","name":"K","symbols":["a","b"]}}]}"#;

    /// Silver's columns, some taking their field exactly, some by their JSON rendering, some
    /// refusing what the writer may put there.
    fn columns(text: &str) -> Vec<ColumnConfig> {
        #[derive(serde::Deserialize)]
        struct Columns {
            columns: Vec<ColumnConfig>,
        }
        toml::from_str::<Columns>(text).unwrap().columns
    }

    fn declared() -> Vec<ColumnConfig> {
        let mut c = columns(
            r#"columns = [
            { name = "id", type = "string", nullable = false },
            { name = "n", type = "int32" },
            { name = "small", type = "int64" },
            { name = "ratio", type = "float64" },
            { name = "f", type = "float64" },
            { name = "ok", type = "boolean" },
            { name = "at", type = "timestamp" },
            { name = "epoch", type = "timestamp" },
            { name = "day", type = "date" },
            { name = "note", type = "string", nullable = false },
            { name = "price", type = "decimal(6, 1)" },
            { name = "tags", type = "list<string>" },
            { name = "kind", type = "string" },
            { name = "absent", type = "string" },
            ]"#,
        );
        c[7].unit = Some(EpochUnit::Seconds);
        c
    }

    #[allow(clippy::too_many_arguments)]
    fn record(n: i64, ratio: f64, at_ms: i64, epoch: i64, day: i32, note: Option<&str>, cents: i64) -> Vec<u8> {
        let schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
        let value = Value::Record(vec![
            ("id".into(), Value::String(format!("r{n}"))),
            ("n".into(), Value::Long(n)),
            ("small".into(), Value::Int(-7)),
            ("ratio".into(), Value::Double(ratio)),
            ("f".into(), Value::Float(0.1)),
            ("ok".into(), Value::Boolean(n % 2 == 0)),
            ("at".into(), Value::TimestampMillis(at_ms)),
            ("epoch".into(), Value::Long(epoch)),
            ("day".into(), Value::Date(day)),
            (
                "note".into(),
                match note {
                    Some(t) => Value::Union(1, Box::new(Value::String(t.into()))),
                    None => Value::Union(0, Box::new(Value::Null)),
                },
            ),
            (
                "price".into(),
                Value::Decimal(apache_avro::Decimal::from(cents.to_be_bytes().to_vec())),
            ),
            ("tags".into(), Value::Array(vec![Value::String("x\"y".into())])),
            ("skipped".into(), Value::Map([("k".to_string(), Value::Long(1))].into())),
            ("kind".into(), Value::Enum(1, "b".into())),
        ]);
        wire::frame(3, None, &apache_avro::to_avro_datum(&schema, value).unwrap())
    }

    fn values() -> ValueDecoder {
        let mut schemas = Schemas::new(None, SchemaKind::Avro);
        schemas.insert(3, SchemaEntry::Avro(AvroSchema::parse(SCHEMA).unwrap()));
        ValueDecoder::Avro(schemas)
    }

    #[test]
    fn reads_what_the_json_way_reads_and_refuses_what_it_refuses() {
        let (silver, values) = (SilverDecoder::new(&declared()), values());
        let cases = [
            // Fits: every pair read in place or by its rendering.
            (
                record(5, 0.25, 1_700_000_000_123, 1_700_000_000, 19_675, Some("hi"), -1230),
                true,
            ),
            // n past int32; a NaN ratio; a note left null in a non-null column; a price whose
            // cents do not fit one decimal place; timestamps past the year 9999; a date before 1.
            (record(1 << 40, 0.5, 0, 0, 0, Some("a"), 0), false),
            (record(1, f64::NAN, 0, 0, 0, Some("a"), 0), false),
            (record(1, 0.5, 0, 0, 0, None, 0), false),
            (record(1, 0.5, 0, 0, 0, Some("a"), 1234), false),
            (record(1, 0.5, 253_402_300_800_000, 0, 0, Some("a"), 0), false),
            (record(1, 0.5, 0, 253_402_300_800, 0, Some("a"), 0), false),
            (record(1, 0.5, 0, 0, -800_000, Some("a"), 0), false),
        ];
        for (i, (value, fits)) in cases.iter().enumerate() {
            let mut direct = DirectSilver::new(&silver, &values, 1).unwrap();
            let fast = direct.fast(value);
            let text = values.text(value).unwrap();
            let json = silver
                .row(&text)
                .map(|cells| cells.into_iter().map(Cell::into_owned).collect::<Vec<_>>());
            match (fast, json) {
                (Some(fast), Ok(json)) => assert_eq!(fast, json, "case {i}"),
                (None, Err(_)) => assert!(!fits, "case {i} should fit"),
                (fast, json) => panic!("case {i}: the two ways disagree: {fast:?} against {json:?}"),
            }
            let read = direct.read(0, value);
            assert_eq!(read.is_ok(), *fits, "case {i}: {read:?}");
        }
    }

    #[test]
    fn unreadable_and_unfit_values_say_why_as_the_json_way_does() {
        let (silver, values) = (SilverDecoder::new(&declared()), values());
        let mut direct = DirectSilver::new(&silver, &values, 4).unwrap();
        let good = record(5, 0.25, 0, 0, 0, Some("hi"), 10);
        assert_eq!(direct.read(0, &good), Ok(()));
        let truncated = &good[..good.len() - 2];
        let Err(Unread::Unreadable(reason)) = direct.read(1, truncated) else {
            panic!()
        };
        assert!(reason.contains("the body does not match its schema"), "{reason}");
        let Err(Unread::Unreadable(reason)) = direct.read(2, b"{\"id\":1}") else {
            panic!()
        };
        assert!(reason.contains("wrong magic byte"), "{reason}");
        let unfit = record(1, 0.5, 0, 0, 0, None, 0);
        let Err(Unread::Unfit(reason)) = direct.read(3, &unfit) else {
            panic!()
        };
        assert!(reason.contains("field `note` is missing or null"), "{reason}");
        let origins = vec![
            Origin {
                topic: "t",
                partition: 0,
                offset: 9,
            };
            4
        ];
        let outcome = direct.finish(&origins);
        assert_eq!(outcome.rows.num_rows(), 1);
        assert!(outcome.rejected.is_empty());
    }

    #[test]
    fn json_values_are_not_read_this_way() {
        let silver = SilverDecoder::new(&declared());
        assert!(DirectSilver::new(&silver, &ValueDecoder::Json, 1).is_none());
    }
}
