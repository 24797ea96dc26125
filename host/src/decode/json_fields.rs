//! The fields of one JSON object that a table declares, as raw JSON text: one pass over the
//! object, undeclared fields skipped without being decoded, a declared field written twice
//! refused. Keys and values borrow from the input.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The raw values of `names` in the object `json` (None where absent), or why `json` is not
/// such an object.
pub fn fields<'a, N: AsRef<str>>(json: &'a str, names: &[N]) -> Result<Vec<Option<&'a RawValue>>, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let found = Seek { names }.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(found)
}

/// The entries of the object `json` in order, keys unescaped.
pub fn entries(json: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let found = de.deserialize_map(Entries).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(found)
}

struct Seek<'n, N> {
    names: &'n [N],
}

impl<'de, N: AsRef<str>> DeserializeSeed<'de> for Seek<'_, N> {
    type Value = Vec<Option<&'de RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, N: AsRef<str>> Visitor<'de> for Seek<'_, N> {
    type Value = Vec<Option<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = vec![None; self.names.len()];
        while let Some(Key(key)) = map.next_key()? {
            match self.names.iter().position(|n| n.as_ref() == key) {
                Some(i) if found[i].is_some() => {
                    return Err(de::Error::custom(format!("field `{key}` is written twice")));
                }
                Some(i) => found[i] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Key(key)) = map.next_key()? {
            out.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(out)
    }
}

/// An object key, borrowed when it has no escapes (serde's `Cow<str>` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_declared_fields_and_skips_the_rest() {
        let json = r#"{"id":"a","skip":{"deep":[1,2,{"x":null}]},"score":1.5,"t\u00e9":1}"#;
        let found = fields(json, &["score", "id", "absent", "té"]).unwrap();
        let raw: Vec<Option<&str>> = found.iter().map(|r| r.map(RawValue::get)).collect();
        assert_eq!(raw, [Some("1.5"), Some("\"a\""), None, Some("1")]);
    }

    #[test]
    fn refuses_what_is_not_one_object() {
        assert!(fields("[1]", &["a"]).unwrap_err().contains("a JSON object"));
        assert!(fields(r#"{"a":1} x"#, &["a"]).unwrap_err().contains("trailing"));
        assert!(
            fields(r#"{"a":1,"a":2}"#, &["a"])
                .unwrap_err()
                .contains("`a` is written twice")
        );
        assert!(fields(r#"{"a":"#, &["a"]).is_err());
        let e = entries(r#"{"k":1,"k2":[true]}"#).unwrap();
        assert_eq!((e[1].0.as_ref(), e[1].1.get()), ("k2", "[true]"));
    }
}
