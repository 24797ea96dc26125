//! `[tables.silver]` (one table) or `[[tables.silver]]` (several, each with a route): read into
//! one list either way. Serde's `untagged` would lose the key path and line of an error inside
//! a table; this visitor hands each form to the derived `Deserialize`, which keeps them.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::model::SilverConfig;

/// The silver tables of a pipeline, in file order (the order routes are tried).
#[derive(Debug, Clone, Default)]
pub struct SilverTables {
    pub tables: Vec<SilverConfig>,
    /// Written as `[[tables.silver]]`: keys are named `tables.silver[i].<field>`.
    pub listed: bool,
}

impl SilverTables {
    /// How the file names `field` of table `i`: `tables.silver.key` or `tables.silver[1].key`.
    pub fn key(&self, i: usize, field: &str) -> String {
        match self.listed {
            true => format!("tables.silver[{i}].{field}"),
            false => format!("tables.silver.{field}"),
        }
    }

    /// The index of the table named `name` (`silver_<name>`, or its bare name).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.name.as_deref() == Some(name) || t.table() == name)
    }
}

impl Deref for SilverTables {
    type Target = [SilverConfig];
    fn deref(&self) -> &[SilverConfig] {
        &self.tables
    }
}

impl DerefMut for SilverTables {
    fn deref_mut(&mut self) -> &mut [SilverConfig] {
        &mut self.tables
    }
}

impl From<SilverConfig> for SilverTables {
    fn from(table: SilverConfig) -> Self {
        SilverTables {
            tables: vec![table],
            listed: false,
        }
    }
}

impl<'de> Deserialize<'de> for SilverTables {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrMany)
    }
}

struct OneOrMany;

impl<'de> Visitor<'de> for OneOrMany {
    type Value = SilverTables;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a `[tables.silver]` table or `[[tables.silver]]` tables")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SilverTables, A::Error> {
        Ok(SilverConfig::deserialize(MapAccessDeserializer::new(map))?.into())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SilverTables, A::Error> {
        Ok(SilverTables {
            tables: Vec::deserialize(SeqAccessDeserializer::new(seq))?,
            listed: true,
        })
    }
}

/// A route's values: `equals = "order"` or `equals = ["order", "purchase"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Values(pub Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValuesVisitor)
    }
}

struct ValuesVisitor;

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = Values;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Values, E> {
        Ok(Values(vec![value.to_string()]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Values, A::Error> {
        Ok(Values(Vec::deserialize(SeqAccessDeserializer::new(seq))?))
    }
}

/// `route = { field = "event_type", equals = "order" }`: the records whose `field` (in the JSON
/// the last stage emits) is a string equal to one of `equals`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub field: String,
    pub equals: Values,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        silver: SilverTables,
    }

    const COLUMNS: &str = r#"key = ["id"]
columns = [{ name = "id", type = "string", nullable = false }]"#;

    #[test]
    fn one_table_or_a_list_and_errors_keep_their_path() {
        let one: File = toml::from_str(&format!("[silver]\n{COLUMNS}\n")).unwrap();
        assert!(!one.silver.listed);
        assert_eq!((one.silver.len(), one.silver[0].table()), (1, "silver".to_string()));
        let text = format!(
            "[[silver]]\nname = \"orders\"\nroute = {{ field = \"t\", equals = \"order\" }}\n{COLUMNS}\n\
             [[silver]]\nname = \"views\"\nroute = {{ field = \"t\", equals = [\"view\", \"click\"] }}\n{COLUMNS}\n"
        );
        let many: File = toml::from_str(&text).unwrap();
        assert!(many.silver.listed);
        let names: Vec<String> = many.silver.iter().map(SilverConfig::table).collect();
        assert_eq!(names, ["silver_orders", "silver_views"]);
        let route = many.silver[1].route.as_ref().unwrap();
        assert_eq!(route.equals.0, ["view", "click"]);
        assert_eq!(many.silver.position("views"), Some(1));
        assert_eq!(many.silver.key(1, "route"), "tables.silver[1].route");

        let bad = text.replace("equals = \"order\"", "equals = 3");
        let de = toml::Deserializer::parse(&bad).unwrap();
        let err = serde_path_to_error::deserialize::<_, File>(de).err().unwrap();
        assert_eq!(err.path().to_string(), "silver[0].route.equals");
        let bad = text.replace("name = \"views\"", "nme = \"views\"");
        let de = toml::Deserializer::parse(&bad).unwrap();
        let err = serde_path_to_error::deserialize::<_, File>(de).err().unwrap();
        assert_eq!(err.path().to_string(), "silver[1].nme");
    }
}
