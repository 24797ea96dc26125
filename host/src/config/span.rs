//! Where a key is written in a pipeline file: the line of `tables.format` or
//! `gold[0].columns[1]`, from the TOML parser's own spans (not a text search, which finds the
//! first line that merely contains the word).

use toml::de::{DeTable, DeValue};

/// The 1-based line where `path` (keys joined by `.`, array items as `[i]`) is written.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable<'_> = root.get_ref();
    let mut offset = None;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (name, index) = split_index(segment)?;
        let (key, value) = table.get_key_value(name)?;
        offset = Some(key.span().start);
        let mut value = value;
        if let Some(i) = index {
            let DeValue::Array(items) = value.get_ref() else {
                return None;
            };
            value = items.get(i)?;
            offset = Some(value.span().start);
        }
        if segments.peek().is_some() {
            let DeValue::Table(inner) = value.get_ref() else {
                return None;
            };
            table = inner;
        }
    }
    let offset = offset?;
    Some(text.get(..offset)?.matches('\n').count() + 1)
}

/// `columns[2]` into (`columns`, Some(2)); `format` into (`format`, None).
fn split_index(segment: &str) -> Option<(&str, Option<usize>)> {
    match segment.split_once('[') {
        None => Some((segment, None)),
        Some((name, rest)) => Some((name, Some(rest.strip_suffix(']')?.parse().ok()?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"name = "p"

[source]
format = "json"

[tables]
location = "x"
format = ["delta"]
silver = { key = ["id"], columns = [{ name = "id", type = "string" }] }

[[gold]]
name = "a"
columns = [
  { name = "one", type = "int64" },
  { name = "two", type = "nope" },
]
"#;

    #[test]
    fn keys_are_found_where_they_are_written() {
        assert_eq!(line_of(TEXT, "source.format"), Some(4));
        assert_eq!(line_of(TEXT, "tables.format"), Some(8));
        assert_eq!(line_of(TEXT, "tables.silver.columns"), Some(9));
        assert_eq!(line_of(TEXT, "gold[0].name"), Some(12));
        assert_eq!(line_of(TEXT, "gold[0].columns[1]"), Some(15));
        assert_eq!(line_of(TEXT, "gold[1].name"), None);
        assert_eq!(line_of(TEXT, "tables.nothing"), None);
    }
}
