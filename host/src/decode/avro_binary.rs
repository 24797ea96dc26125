//! Avro's binary encoding read in place: zig-zag varints, length-prefixed bytes and text, the
//! blocks of arrays and maps, and a value skipped by its schema. Every length is checked
//! against what is left of the body, so a truncated or hostile body is an error, never a
//! panic or an allocation of the size it claims.

use apache_avro::Schema;

use super::avro::AvroSchema;

/// How deep values may nest (records in records, through a recursive schema) before a body
/// is refused.
pub const MAX_DEPTH: usize = 64;

/// Items an array or map block may claim beyond the bytes left (items of type null take none).
const MAX_EMPTY_ITEMS: u64 = 65_536;

/// What is left of one record's body.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Body { rest: bytes }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The bytes not read yet, themselves.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// A zig-zag varint `long`.
    pub fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for (i, byte) in self.rest.iter().enumerate().take(10) {
            if i == 9 && *byte > 1 {
                return Err("a number longer than 64 bits".into());
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        // A tenth byte is 0 or 1 (checked above) and ends the number: the body ran out.
        Err("the body ends inside a number".into())
    }

    /// A zig-zag varint `int`.
    pub fn int(&mut self) -> Result<i32, String> {
        let value = self.long()?;
        i32::try_from(value).map_err(|_| format!("{value} does not fit an Avro int"))
    }

    pub fn boolean(&mut self) -> Result<bool, String> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(format!("{b} is not a boolean")),
            _ => Err("the body ends inside a boolean".into()),
        }
    }

    pub fn float(&mut self) -> Result<f32, String> {
        let bytes = self.take(4)?;
        Ok(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn double(&mut self) -> Result<f64, String> {
        let mut le = [0; 8];
        le.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(le))
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err(format!("a value of {n} bytes where {} are left", self.rest.len()));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// Length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| format!("a negative length {len}"))?;
        self.take(len)
    }

    /// Length-prefixed UTF-8 text.
    pub fn text(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "a string that is not UTF-8".to_string())
    }

    /// An index (of a union's branch, an enum's symbol) below `len`.
    pub fn index(&mut self, len: usize, what: &str) -> Result<usize, String> {
        let index = self.long()?;
        usize::try_from(index)
            .ok()
            .filter(|i| *i < len)
            .ok_or_else(|| format!("{what} index {index} where there are {len}"))
    }

    /// The item count of the next block of an array or map (0: the end). A negative count is
    /// followed by the block's size in bytes, which is read and not needed.
    pub fn block(&mut self) -> Result<usize, String> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        let count = count.unsigned_abs();
        if count > self.rest.len() as u64 + MAX_EMPTY_ITEMS {
            return Err(format!(
                "a block of {count} items where {} bytes are left",
                self.rest.len()
            ));
        }
        Ok(count as usize)
    }

    /// Passes over one value of `schema`.
    pub fn skip(&mut self, avro: &AvroSchema, schema: &Schema, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        let schema = avro.resolve(Some(schema)).ok_or("a reference to an unknown type")?;
        match schema {
            Schema::Null => {}
            Schema::Boolean => {
                self.boolean()?;
            }
            Schema::Int | Schema::Long | Schema::Date | Schema::TimeMillis | Schema::TimeMicros => {
                self.long()?;
            }
            Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => {
                self.long()?;
            }
            Schema::LocalTimestampMillis | Schema::LocalTimestampMicros | Schema::LocalTimestampNanos => {
                self.long()?;
            }
            Schema::Enum(e) => {
                self.index(e.symbols.len(), "enum symbol")?;
            }
            Schema::Float => {
                self.take(4)?;
            }
            Schema::Double => {
                self.take(8)?;
            }
            Schema::Bytes | Schema::String | Schema::BigDecimal => {
                self.bytes()?;
            }
            Schema::Fixed(f) => {
                self.take(f.size)?;
            }
            Schema::Duration => {
                self.take(12)?;
            }
            Schema::Decimal(d) => self.skip(avro, &d.inner, depth + 1)?,
            Schema::Uuid => {
                self.bytes()?;
            }
            Schema::Union(union) => {
                let index = self.index(union.variants().len(), "union branch")?;
                self.skip(avro, &union.variants()[index], depth + 1)?;
            }
            Schema::Array(array) => loop {
                let count = self.block()?;
                if count == 0 {
                    break;
                }
                for _ in 0..count {
                    self.skip(avro, &array.items, depth + 1)?;
                }
            },
            Schema::Map(map) => loop {
                let count = self.block()?;
                if count == 0 {
                    break;
                }
                for _ in 0..count {
                    self.text()?;
                    self.skip(avro, &map.types, depth + 1)?;
                }
            },
            Schema::Record(record) => {
                for field in &record.fields {
                    self.skip(avro, &field.schema, depth + 1)?;
                }
            }
            Schema::Ref { name } => return Err(format!("a reference to the unknown type {name}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_zig_zag_and_bounded() {
        let mut body = Body::new(&[0x00, 0x01, 0x02, 0x7f, 0x80, 0x01]);
        assert_eq!(body.long(), Ok(0));
        assert_eq!(body.long(), Ok(-1));
        assert_eq!(body.long(), Ok(1));
        assert_eq!(body.long(), Ok(-64));
        assert_eq!(body.long(), Ok(64));
        assert_eq!(body.remaining(), 0);
        assert!(Body::new(&[0x80]).long().unwrap_err().contains("ends inside"));
        assert!(
            Body::new(&[0xff; 11])
                .long()
                .unwrap_err()
                .contains("longer than 64 bits")
        );
        let mut max = vec![0xfe];
        max.extend([0xff; 8]);
        max.push(0x01);
        assert_eq!(Body::new(&max).long(), Ok(i64::MAX));
        assert!(Body::new(&max).int().unwrap_err().contains("does not fit"));
        *max.last_mut().unwrap() = 0x02;
        assert!(Body::new(&max).long().unwrap_err().contains("longer than 64 bits"));
    }

    #[test]
    fn lengths_past_the_end_are_refused_not_allocated() {
        // Text of length 3 (zig-zag 6), then a claim of 2^62 bytes.
        let mut body = Body::new(&[
            6, b'a', b'b', b'c', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ]);
        assert_eq!(body.text(), Ok("abc"));
        assert!(body.bytes().unwrap_err().contains("bytes where 0 are left"));
        assert!(Body::new(&[1]).bytes().unwrap_err().contains("negative length"));
        assert!(Body::new(&[2, 0xff]).text().unwrap_err().contains("not UTF-8"));
        assert!(
            Body::new(&[0xfe, 0xff, 0xff, 0x7f])
                .block()
                .unwrap_err()
                .contains("a block of")
        );
        // A negative count carries the block's size, which is passed over.
        let mut body = Body::new(&[3, 4, 9]);
        assert_eq!(body.block(), Ok(2));
        assert_eq!(body.remaining(), 1);
        assert!(Body::new(&[2]).boolean().unwrap_err().contains("2 is not a boolean"));
        assert!(
            Body::new(&[4])
                .index(2, "union branch")
                .unwrap_err()
                .contains("index 2 where there are 2")
        );
    }

    #[test]
    fn skips_every_kind_of_value_and_refuses_deep_recursion() {
        let text = r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"array","items":"string"}},
            {"name":"m","type":{"type":"map","values":"long"}},
            {"name":"u","type":["null","double"]},
            {"name":"f","type":{"type":"fixed","name":"F","size":3}},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["x","y"]}},
            {"name":"next","type":["null","R"]}]}"#;
        let schema = AvroSchema::parse(text).unwrap();
        let parsed = apache_avro::Schema::parse_str(text).unwrap();
        use apache_avro::types::Value;
        let record = |next: Value| {
            Value::Record(vec![
                ("a".into(), Value::Array(vec![Value::String("s".into())])),
                ("m".into(), Value::Map([("k".to_string(), Value::Long(5))].into())),
                ("u".into(), Value::Union(1, Box::new(Value::Double(0.5)))),
                ("f".into(), Value::Fixed(3, vec![1, 2, 3])),
                ("e".into(), Value::Enum(1, "y".into())),
                ("next".into(), next),
            ])
        };
        let mut value = Value::Union(0, Box::new(Value::Null));
        for _ in 0..3 {
            value = Value::Union(1, Box::new(record(value)));
        }
        let Value::Union(_, inner) = value else { unreachable!() };
        let bytes = apache_avro::to_avro_datum(&parsed, *inner).unwrap();
        let mut body = Body::new(&bytes);
        body.skip(&schema, schema.schema(), 0).unwrap();
        assert_eq!(body.remaining(), 0);
        assert!(
            Body::new(&bytes[..bytes.len() - 1])
                .skip(&schema, schema.schema(), 0)
                .is_err()
        );
        // 100 records deep, each `next` taking branch 1.
        let deep: Vec<u8> = std::iter::repeat_n([0u8, 0, 0, 0, 0, 0, 0, 2], 100).flatten().collect();
        let e = Body::new(&deep).skip(&schema, schema.schema(), 0).unwrap_err();
        assert!(e.contains("nested deeper"), "{e}");
    }
}
