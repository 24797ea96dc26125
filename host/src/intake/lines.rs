//! Batch files' lines as records: CSV (the header line names the fields; each row becomes a
//! JSON object of text, an empty field null) and JSON lines (each line one JSON object, produced
//! as written). A line that is not a record is a `BadLine` naming its line number and why.

use serde_json::value::RawValue;

use super::body::Outgoing;

/// How a file's lines are records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Csv,
    Jsonl,
}

impl FileFormat {
    /// The format a file's name says (`.csv`, `.jsonl`, `.ndjson`, `.json`; `.gz` is not read).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".csv") {
            Some(Self::Csv)
        } else if [".jsonl", ".ndjson", ".json"].iter().any(|e| name.ends_with(e)) {
            Some(Self::Jsonl)
        } else {
            None
        }
    }
}

/// A line that was not produced: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// One line's outcome: its number and record, or why it is none.
pub type Line = Result<(u64, Outgoing), BadLine>;

/// JSON lines from `read`, each to `emit`; blank lines are skipped.
pub fn jsonl(read: impl std::io::BufRead, key: Option<&str>, emit: &mut dyn FnMut(Line)) -> std::io::Result<()> {
    for (i, line) in read.split(b'\n').enumerate() {
        let line = line?;
        let number = i as u64 + 1;
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        emit(
            json_record(text, key)
                .map(|r| (number, r))
                .map_err(|reason| BadLine { line: number, reason }),
        );
    }
    Ok(())
}

fn json_record(text: &[u8], key: Option<&str>) -> Result<Outgoing, String> {
    let fields: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(text) {
        Ok(fields) => fields,
        Err(e) if serde_json::from_slice::<&RawValue>(text).is_ok() => {
            return Err(format!("not a JSON object: {e}"));
        }
        Err(e) => return Err(format!("not JSON: {e}")),
    };
    let key = match key {
        None => None,
        Some(field) => Some(key_text(fields.get(field), field)?),
    };
    Ok(Outgoing {
        key,
        value: Some(text.to_vec()),
        partition: None,
    })
}

fn key_text(value: Option<&serde_json::Value>, field: &str) -> Result<Vec<u8>, String> {
    match value {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.as_bytes().to_vec()),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => Ok(v.to_string().into_bytes()),
        Some(serde_json::Value::String(_)) | Some(serde_json::Value::Null) | None => {
            Err(format!("the key field `{field}` is missing or empty"))
        }
        Some(_) => Err(format!("the key field `{field}` is an array or object")),
    }
}

/// CSV rows from `read` (its first line the header), each to `emit`.
pub fn csv(read: impl std::io::Read, key: Option<&str>, emit: &mut dyn FnMut(Line)) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(read);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the header line cannot be read: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let key_at = match key {
        None => None,
        Some(field) => Some(
            header
                .iter()
                .position(|h| h == field)
                .ok_or_else(|| format!("the key field `{field}` is not in the header"))?,
        ),
    };
    for row in reader.records() {
        match row {
            Ok(row) => {
                let number = row.position().map_or(0, |p| p.line());
                emit(
                    csv_record(&header, &row, key_at)
                        .map(|r| (number, r))
                        .map_err(|reason| BadLine { line: number, reason }),
                );
            }
            Err(e) => {
                let number = e.position().map_or(0, |p| p.line());
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(format!("reading stopped at line {number}: {e}"));
                }
                emit(Err(BadLine {
                    line: number,
                    reason: csv_reason(&e),
                }));
            }
        }
    }
    Ok(())
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
        _ => error.to_string(),
    }
}

fn csv_record(header: &[String], row: &csv::StringRecord, key_at: Option<usize>) -> Result<Outgoing, String> {
    let mut fields = serde_json::Map::with_capacity(header.len());
    for (name, value) in header.iter().zip(row.iter()) {
        let value = if value.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(value.to_string())
        };
        fields.insert(name.clone(), value);
    }
    let key = match key_at {
        None => None,
        Some(at) => match row.get(at) {
            Some(k) if !k.is_empty() => Some(k.as_bytes().to_vec()),
            _ => return Err(format!("the key field `{}` is empty", header[at])),
        },
    };
    let value = serde_json::to_vec(&fields).map_err(|e| e.to_string())?;
    Ok(Outgoing {
        key,
        value: Some(value),
        partition: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(run: impl FnOnce(&mut dyn FnMut(Line))) -> Vec<Line> {
        let mut lines = Vec::new();
        run(&mut |line| lines.push(line));
        lines
    }

    #[test]
    fn csv_rows_become_objects_of_text() {
        let text = "id,score,note\n1,42,\"a, b\"\n2,,x\n3,7\n4,5,\"multi\nline\"\n5,1,y\n";
        let lines = collect(|emit| csv(text.as_bytes(), Some("id"), emit).unwrap());
        let ok = |i: usize| &lines[i].as_ref().unwrap().1;
        assert_eq!(
            ok(0).value.as_deref(),
            Some(&br#"{"id":"1","score":"42","note":"a, b"}"#[..])
        );
        assert_eq!(ok(0).key.as_deref(), Some(&b"1"[..]));
        assert_eq!(
            ok(1).value.as_deref(),
            Some(&br#"{"id":"2","score":null,"note":"x"}"#[..])
        );
        assert_eq!(
            lines[2],
            Err(BadLine {
                line: 4,
                reason: "2 fields where the header has 3".into()
            })
        );
        assert!(ok(3).value.as_ref().unwrap().ends_with(br#""note":"multi\nline"}"#));
        // The row after a quoted newline still names its own line.
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4].as_ref().unwrap().0, 7);
        assert_eq!(ok(4).key.as_deref(), Some(&b"5"[..]));
        let missing = csv("a,b\n1,2\n".as_bytes(), Some("id"), &mut |_| {}).unwrap_err();
        assert!(missing.contains("`id` is not in the header"), "{missing}");
    }

    #[test]
    fn csv_bad_lines_are_numbered() {
        let text = b"id,v\n1,a\n2,\xff\n,b\n4,c\n";
        let lines = collect(|emit| csv(&text[..], Some("id"), emit).unwrap());
        let bad: Vec<(u64, String)> = lines
            .iter()
            .filter_map(|l| l.as_ref().err())
            .map(|b| (b.line, b.reason.clone()))
            .collect();
        assert_eq!(
            bad,
            vec![(3, "not UTF-8".into()), (4, "the key field `id` is empty".into())]
        );
        assert_eq!(lines.iter().filter(|l| l.is_ok()).count(), 2);
    }

    #[test]
    fn json_lines_are_produced_as_written() {
        let text = "{\"id\": 1, \"v\": \"a\"}\r\n\n[1, 2]\nnot json\n{\"v\": 2}\n{\"id\": \"x\"}\n";
        let lines = collect(|emit| jsonl(text.as_bytes(), Some("id"), emit).unwrap());
        let (number, first) = lines[0].as_ref().unwrap();
        assert_eq!(*number, 1);
        assert_eq!(first.value.as_deref(), Some(&b"{\"id\": 1, \"v\": \"a\"}"[..]));
        assert_eq!(first.key.as_deref(), Some(&b"1"[..]));
        let bad: Vec<u64> = lines.iter().filter_map(|l| l.as_ref().err()).map(|b| b.line).collect();
        assert_eq!(bad, vec![3, 4, 5]);
        assert!(lines[1].as_ref().unwrap_err().reason.starts_with("not a JSON object"));
        assert!(lines[2].as_ref().unwrap_err().reason.starts_with("not JSON"));
        assert_eq!(lines[4].as_ref().unwrap().1.key.as_deref(), Some(&b"x"[..]));
        assert_eq!(lines[4].as_ref().unwrap().0, 6);
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(FileFormat::from_name("a/B.CSV"), Some(FileFormat::Csv));
        assert_eq!(FileFormat::from_name("s3://b/x.ndjson"), Some(FileFormat::Jsonl));
        assert_eq!(FileFormat::from_name("x.parquet"), None);
    }
}
