//! Normalize's fast path: the record's text rewritten in one pass over its objects, each key
//! renamed where it lies and every other value copied as written, the metadata members appended
//! to the top-level object. No `Json` tree is built and no value is re-encoded.
//!
//! When renaming would make two keys of one object equal, or a top-level key equal to a
//! metadata member, the caller takes the tree path instead, whose map decides which one is kept;
//! so does a value that is not a JSON object, for its error message. The output holds the same
//! JSON value as the tree path's, with the members in input order.

use std::borrow::Cow;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why the fast path gave the record back.
#[derive(Debug)]
pub enum Fallback {
    /// Not JSON, or not an object: the tree path says which.
    Unreadable,
    /// Two members would get one name.
    Collision,
}

impl From<serde_json::Error> for Fallback {
    fn from(_: serde_json::Error) -> Self {
        Fallback::Unreadable
    }
}

/// Writes `text` (a JSON object) to `out` with every object key in snake_case (`rename`), and
/// `extra` (name, encoded JSON value) appended to the top-level object.
pub fn rewrite(
    text: &str,
    extra: &[(&str, &str)],
    rename: fn(&str) -> Cow<'_, str>,
    out: &mut String,
) -> Result<(), Fallback> {
    let members: Members<'_> = serde_json::from_str(text)?;
    object(&members, extra, rename, out)
}

fn object(
    members: &Members<'_>,
    extra: &[(&str, &str)],
    rename: fn(&str) -> Cow<'_, str>,
    out: &mut String,
) -> Result<(), Fallback> {
    let names: Vec<Cow<'_, str>> = members.0.iter().map(|(key, _)| rename(key)).collect();
    for (i, name) in names.iter().enumerate() {
        // `text::same`, not `==`: no call into libc's memcmp per pair in the sandbox.
        let taken = |other: &str| weir_sdk::text::same(other, name);
        if names[..i].iter().any(|n| taken(n)) || extra.iter().any(|(e, _)| taken(e)) {
            return Err(Fallback::Collision);
        }
    }
    out.push('{');
    for (i, ((_, raw), name)) in members.0.iter().zip(&names).enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(name, out);
        out.push(':');
        value(raw, rename, out)?;
    }
    for (i, (name, encoded)) in extra.iter().enumerate() {
        if i > 0 || !names.is_empty() {
            out.push(',');
        }
        string(name, out);
        out.push(':');
        out.push_str(encoded);
    }
    out.push('}');
    Ok(())
}

fn value(raw: &RawValue, rename: fn(&str) -> Cow<'_, str>, out: &mut String) -> Result<(), Fallback> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => object(&serde_json::from_str(text)?, &[], rename, out),
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(item, rename, out)?;
            }
            out.push(']');
            Ok(())
        }
        _ => {
            out.push_str(text);
            Ok(())
        }
    }
}

/// `text` as a JSON string.
pub fn string(text: &str, out: &mut String) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else if let Ok(encoded) = serde_json::to_string(text) {
        out.push_str(&encoded);
    }
}

/// A JSON object's members as written: keys (borrowed unless escaped) and raw values.
struct Members<'de>(Vec<(Cow<'de, str>, &'de RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key_seed(Key)? {
            members.push((key, map.next_value()?));
        }
        Ok(Members(members))
    }
}

/// A key, borrowed from the text when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(name: &str) -> Cow<'_, str> {
        Cow::Owned(name.to_lowercase())
    }

    #[test]
    fn renamed_keys_are_written_in_place_and_never_twice() {
        let mut out = String::new();
        rewrite(
            r#" {"aB": {"cD": [1, {"eF": "g\"h"}]}, "n": -1.5e3} "#,
            &[("m", "\"v\"")],
            lower,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, r#"{"ab":{"cd":[1,{"ef":"g\"h"}]},"n":-1.5e3,"m":"v"}"#);
        for text in [
            r#"{"aB":1,"ab":2}"#,
            r#"{"x":{"K":1,"k":2}}"#,
            r#"{"x":[{"K":1,"k":2}]}"#,
            r#"{"META":1}"#,
        ] {
            out.clear();
            let result = rewrite(text, &[("meta", "0")], lower, &mut out);
            assert!(matches!(result, Err(Fallback::Collision)), "{text}: {result:?}");
        }
        for text in ["[1]", "\"s\"", "{\"a\":", "nope"] {
            let result = rewrite(text, &[], lower, &mut out);
            assert!(matches!(result, Err(Fallback::Unreadable)), "{text}");
        }
    }
}
