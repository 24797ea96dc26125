//! Avro's binary encoding read in place: zig-zag varints, length-prefixed bytes and text, the
//! blocks of arrays and maps. Every length is checked against what is left of the body, and the
//! items of all its arrays and maps together against its length, so a truncated or hostile body
//! is an error, never a panic, an allocation of the size it claims or a loop without end.

/// How deep values may nest (records in records, through a recursive schema) before a body
/// is refused.
pub const MAX_DEPTH: usize = 64;

/// Items a body's arrays and maps may hold beyond its length in bytes, all blocks together
/// (items of type null, or records without fields, take no bytes).
const MAX_EMPTY_ITEMS: u64 = 65_536;

/// What is left of one record's body.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    rest: &'a [u8],
    /// Array and map items the body may still claim.
    items_left: u64,
}

impl<'a> Body<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Body {
            rest: bytes,
            items_left: bytes.len() as u64 + MAX_EMPTY_ITEMS,
        }
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
        if count > self.items_left {
            return Err(format!(
                "a block of {count} items where {} bytes are left",
                self.rest.len()
            ));
        }
        self.items_left -= count;
        Ok(count as usize)
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
    fn zero_width_items_are_bounded_per_body_not_per_block() {
        // Blocks of 60,000 null items, again and again: a few bytes each.
        let mut bytes = Vec::new();
        for _ in 0..4 {
            bytes.extend([0xc0, 0xa9, 0x07]); // zig-zag 60,000
        }
        bytes.push(0);
        let mut body = Body::new(&bytes);
        assert_eq!(body.block(), Ok(60_000));
        assert!(body.block().unwrap_err().contains("a block of 60000 items"));
        let nulls = super::super::avro::AvroSchema::parse(r#"{"type":"array","items":"null"}"#).unwrap();
        assert!(nulls.to_json(&bytes).unwrap_err().contains("a block of"));
    }

    #[test]
    fn deep_recursion_is_refused() {
        let text = r#"{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}"#;
        let schema = super::super::avro::AvroSchema::parse(text).unwrap();
        assert_eq!(
            schema.to_json(&[2, 2, 0]).unwrap(),
            r#"{"next":{"next":{"next":null}}}"#
        );
        let deep = vec![2u8; 100];
        let e = schema.to_json(&deep).unwrap_err();
        assert!(e.contains("nested deeper"), "{e}");
    }
}
