//! Lays records out column by column for a plugin call (`record-batch` in the WIT): one buffer of
//! values and one of keys with end offsets, so a batch crosses into the sandbox in five copies,
//! whatever its size, instead of a few per record.

use super::bindings::{Record, RecordBatch};

/// The column-wise form of `records`. Offsets are u32: a call carries at most 4 GiB of values,
/// far above any plugin's memory cap; a larger batch is cut short by `chunk_len` first.
pub fn columnar(records: &[Record]) -> RecordBatch {
    let value_bytes: usize = records.iter().map(|r| r.value.len()).sum();
    let key_bytes: usize = records.iter().map(|r| r.key.as_ref().map_or(0, Vec::len)).sum();
    let mut batch = RecordBatch {
        values: String::with_capacity(value_bytes),
        value_ends: Vec::with_capacity(records.len()),
        keys: Vec::with_capacity(key_bytes),
        key_ends: Vec::with_capacity(records.len()),
        timestamps: Vec::with_capacity(records.len()),
    };
    for record in records {
        batch.values.push_str(&record.value);
        batch.value_ends.push(offset(batch.values.len()));
        if let Some(key) = &record.key {
            batch.keys.extend_from_slice(key);
        }
        batch.key_ends.push(offset(batch.keys.len()));
        batch.timestamps.push(record.timestamp_ms);
    }
    batch
}

fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// How many of `records` fit in one call: all of them, unless their values or keys pass 4 GiB.
pub fn chunk_len(records: &[Record]) -> usize {
    let (mut values, mut keys) = (0usize, 0usize);
    for (i, record) in records.iter().enumerate() {
        values += record.value.len();
        keys += record.key.as_ref().map_or(0, Vec::len);
        if values > u32::MAX as usize || keys > u32::MAX as usize {
            return i.max(1);
        }
    }
    records.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_values_keys_and_timestamps() {
        let records = [
            Record {
                key: Some(b"k1".to_vec()),
                value: "{}".into(),
                timestamp_ms: Some(5),
            },
            Record {
                key: None,
                value: "[1]".into(),
                timestamp_ms: None,
            },
        ];
        let batch = columnar(&records);
        assert_eq!(batch.values, "{}[1]");
        assert_eq!(batch.value_ends, [2, 5]);
        assert_eq!(batch.keys, b"k1");
        assert_eq!(batch.key_ends, [2, 2]);
        assert_eq!(batch.timestamps, [Some(5), None]);
        assert_eq!(chunk_len(&records), 2);
    }
}
