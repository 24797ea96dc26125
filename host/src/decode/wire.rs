//! The Confluent Schema Registry wire format of a Kafka value or key: a zero magic byte, the
//! schema's id as 4 big-endian bytes, for Protobuf the path to the message type in its schema
//! (the "message indexes"), then the encoded body. Reading a header never panics, whatever the
//! bytes: a record that does not have one is refused with the reason, to go to quarantine.

use thiserror::Error;

/// The magic byte every framed record starts with.
pub const MAGIC: u8 = 0;

/// The most message indexes read (nesting depth of the message type in its .proto file): far
/// more than any schema has, few enough that a hostile count costs nothing.
pub const MAX_MESSAGE_INDEXES: usize = 64;

/// A record's header and the body after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The registry's id of the writer's schema.
    pub schema_id: u32,
    /// Protobuf only: the message type's path in the schema (`[0]`: the file's first message).
    pub message_indexes: Vec<i32>,
    /// The encoded record.
    pub body: &'a [u8],
}

/// Why a record has no readable header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("record is empty: no Schema Registry header")]
    Empty,
    #[error("wrong magic byte {found:#04x} (expected 0x00: not in the Schema Registry wire format)")]
    Magic { found: u8 },
    #[error("record ends inside its Schema Registry header ({len} bytes)")]
    Truncated { len: usize },
    #[error("schema {schema_id}: bad Protobuf message indexes: {why}")]
    MessageIndexes { schema_id: u32, why: &'static str },
}

/// The header of an Avro (or JSON Schema) record.
pub fn avro(bytes: &[u8]) -> Result<Framed<'_>, WireError> {
    let (schema_id, body) = schema_id(bytes)?;
    Ok(Framed {
        schema_id,
        message_indexes: Vec::new(),
        body,
    })
}

/// The header of a Protobuf record: after the schema id, a zigzag varint count and that many
/// zigzag varint indexes; a count of zero stands for `[0]`.
pub fn protobuf(bytes: &[u8]) -> Result<Framed<'_>, WireError> {
    let (schema_id, rest) = schema_id(bytes)?;
    let bad = |why| WireError::MessageIndexes { schema_id, why };
    let (count, mut rest) = zigzag_varint(rest).ok_or(bad("the count is cut short or too long"))?;
    let message_indexes = match usize::try_from(count) {
        Ok(0) => vec![0],
        Ok(n) if n <= MAX_MESSAGE_INDEXES => {
            let mut indexes = Vec::with_capacity(n);
            for _ in 0..n {
                let (index, tail) = zigzag_varint(rest).ok_or(bad("an index is cut short or too long"))?;
                let index = i32::try_from(index).map_err(|_| bad("an index is out of range"))?;
                if index < 0 {
                    return Err(bad("an index is negative"));
                }
                indexes.push(index);
                rest = tail;
            }
            indexes
        }
        _ => return Err(bad("the count is negative or too large")),
    };
    Ok(Framed {
        schema_id,
        message_indexes,
        body: rest,
    })
}

fn schema_id(bytes: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match bytes {
        [] => Err(WireError::Empty),
        [magic, ..] if *magic != MAGIC => Err(WireError::Magic { found: *magic }),
        [_, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        short => Err(WireError::Truncated { len: short.len() }),
    }
}

/// One zigzag-encoded varint (at most 10 bytes) and what follows it; `None` if cut short or
/// longer than an i64.
fn zigzag_varint(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let decoded = ((value >> 1) as i64) ^ -((value & 1) as i64);
            return Some((decoded, bytes.get(i + 1..)?));
        }
    }
    None
}

/// The header Confluent serializers write before a body: for producing test and sample records.
pub fn frame(schema_id: u32, message_indexes: Option<&[i32]>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 16);
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
    match message_indexes {
        None => {}
        Some([0]) => out.push(0),
        Some(indexes) => {
            push_zigzag(&mut out, indexes.len() as i64);
            for &index in indexes {
                push_zigzag(&mut out, i64::from(index));
            }
        }
    }
    out.extend_from_slice(body);
    out
}

fn push_zigzag(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_avro_header_and_leaves_the_body() {
        let bytes = frame(258, None, b"body");
        assert_eq!(bytes[..5], [0, 0, 0, 1, 2]);
        let framed = avro(&bytes).unwrap();
        assert_eq!(framed.schema_id, 258);
        assert_eq!(framed.body, b"body");
        assert!(framed.message_indexes.is_empty());
    }

    #[test]
    fn reads_protobuf_message_indexes_including_the_first_message_shortcut() {
        let first = frame(7, Some(&[0]), b"x");
        assert_eq!(first[5], 0, "[0] is written as a single zero");
        assert_eq!(protobuf(&first).unwrap().message_indexes, [0]);
        assert_eq!(protobuf(&first).unwrap().body, b"x");
        let nested = frame(7, Some(&[1, 0, 300]), b"y");
        let framed = protobuf(&nested).unwrap();
        assert_eq!(framed.message_indexes, [1, 0, 300]);
        assert_eq!(framed.body, b"y");
    }

    #[test]
    fn refuses_every_malformed_header_with_its_reason() {
        assert_eq!(avro(b""), Err(WireError::Empty));
        assert_eq!(avro(b"{\"a\":1}"), Err(WireError::Magic { found: b'{' }));
        assert_eq!(avro(&[0, 0, 1]), Err(WireError::Truncated { len: 3 }));
        let message = avro(b"{").unwrap_err().to_string();
        assert!(message.contains("wrong magic byte 0x7b"), "{message}");
        // Protobuf: no count, a cut varint, a negative count, a count past the bound.
        assert!(matches!(
            protobuf(&[0, 0, 0, 0, 9]),
            Err(WireError::MessageIndexes { schema_id: 9, .. })
        ));
        assert!(protobuf(&[0, 0, 0, 0, 9, 0x80]).is_err());
        assert!(protobuf(&[0, 0, 0, 0, 9, 1]).is_err(), "zigzag 1 is -1");
        let mut many = vec![0, 0, 0, 0, 9];
        push_zigzag(&mut many, (MAX_MESSAGE_INDEXES + 1) as i64);
        assert!(protobuf(&many).is_err());
        // A count of two with one index present.
        assert!(protobuf(&[0, 0, 0, 0, 9, 4, 2]).is_err());
    }

    #[test]
    fn no_input_panics() {
        // Every 0..=7-byte prefix of framed records plus arbitrary bytes: an answer, never a panic.
        let samples = [
            frame(1, Some(&[2, 3]), b"abc"),
            frame(u32::MAX, None, b""),
            vec![0xff; 12],
        ];
        for sample in samples {
            for end in 0..=sample.len() {
                let _ = avro(&sample[..end]);
                let _ = protobuf(&sample[..end]);
            }
        }
        let mut all_high = vec![0, 0, 0, 0, 1];
        all_high.extend([0xff; 20]);
        assert!(protobuf(&all_high).is_err(), "an endless varint is refused");
    }
}
