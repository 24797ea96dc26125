//! `${VAR}` expansion in pipeline files, so secrets and endpoints come from the environment and
//! never from files in the repository. `${VAR:-default}` gives a default; `$${` is a literal `${`.
//! Comment lines are left alone.

use std::collections::HashMap;

/// Why a line could not be expanded: the 1-based line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    pub line: usize,
    pub message: String,
}

/// Expands every `${VAR}` in `text` from `lookup`. Line numbers are preserved.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        expand_line(line, lookup, &mut out).map_err(|message| ExpandError { line: i + 1, message })?;
    }
    Ok(out)
}

fn expand_line(line: &str, lookup: &dyn Fn(&str) -> Option<String>, out: &mut String) -> Result<(), String> {
    let mut rest = line;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| "`${` without a closing `}`".to_string())?;
            let (name, default) = match after[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&after[..end], None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{}}}` is not a valid variable reference", &after[..end]));
            }
            match (lookup(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(format!("environment variable `{name}` is not set")),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(())
}

/// A lookup in the process environment.
pub fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A lookup in a fixed map (tests).
pub fn from_map(map: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        [("HOST", "kafka:9092"), ("EMPTY", "")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    #[test]
    fn expands_defaults_escapes_and_leaves_comments() {
        let map = vars();
        let text =
            "a = \"${HOST}\"\nb = \"${MISSING:-x}\"\n# c = \"${MISSING}\"\nd = \"$${HOST} $5\"\ne = \"${EMPTY}\"\n";
        let out = expand(text, &from_map(&map)).unwrap();
        assert_eq!(
            out,
            "a = \"kafka:9092\"\nb = \"x\"\n# c = \"${MISSING}\"\nd = \"${HOST} $5\"\ne = \"\"\n"
        );
    }

    #[test]
    fn names_the_line_of_a_missing_variable() {
        let map = vars();
        let err = expand("a = 1\nb = \"${S3_SECRET}\"\n", &from_map(&map)).unwrap_err();
        assert_eq!(
            err,
            ExpandError {
                line: 2,
                message: "environment variable `S3_SECRET` is not set".into()
            }
        );
        assert_eq!(expand("x = \"${OPEN\"", &from_map(&map)).unwrap_err().line, 1);
        assert!(
            expand("x = \"${A B}\"", &from_map(&map))
                .unwrap_err()
                .message
                .contains("not a valid")
        );
    }
}
