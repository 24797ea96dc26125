//! `weir generate`: the demo's posts produced to a topic, as JSON or as Avro in the Confluent
//! wire format, with the posts schema registered under `<topic>-value` as a producer registers
//! it. The Avro posts carry the same values (the post that is "not JSON" is sent as bare text,
//! so it lands in quarantine at decoding), so the posts pipeline's plugins and silver take them
//! unchanged (`pipelines/examples/posts-avro`).

use std::time::Duration;

use anyhow::Context as _;
use apache_avro::types::Value as Avro;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

use crate::config::SchemaRegistryConfig;
use crate::decode::wire;
use crate::registry::Registry;
use crate::sample::post;

/// The Avro schema of the demo posts. `author` and `selftext` may be missing (null), `score`
/// is a long or, in the demo's invalid "score as text" posts, a string.
pub const POST_SCHEMA: &str = r#"{
  "type": "record", "name": "Post", "namespace": "weir.demo",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "subreddit", "type": "string"},
    {"name": "author", "type": ["null", "string"], "default": null},
    {"name": "title", "type": "string"},
    {"name": "score", "type": ["long", "string"]},
    {"name": "createdUtc", "type": "long"},
    {"name": "selftext", "type": ["null", "string"], "default": null}
  ]
}"#;

/// Produces demo posts `range` to `topic` as JSON.
pub fn json(brokers: &str, topic: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let records = range.map(|i| {
        let (key, value, _) = post(i);
        (key, value.into_bytes())
    });
    produce(brokers, topic, records)
}

/// Produces demo posts `range` to `topic` as Avro, registering the schema at `registry_url`.
pub fn avro(brokers: &str, topic: &str, range: std::ops::Range<usize>, registry_url: &str) -> anyhow::Result<()> {
    let registry = Registry::new(&SchemaRegistryConfig::new(registry_url))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let subject = format!("{topic}-value");
    let id = runtime
        .block_on(registry.register(&subject, POST_SCHEMA))
        .with_context(|| format!("registering the posts schema under {subject}"))?;
    let records = avro_records(range, id)?;
    produce(brokers, topic, records.into_iter())?;
    eprintln!("schema id {id} ({subject}) at {registry_url}");
    Ok(())
}

/// Demo posts `range` as Avro records framed with schema `id` (`POST_SCHEMA`), keyed by post id.
pub fn avro_records(range: std::ops::Range<usize>, id: u32) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let schema = apache_avro::Schema::parse_str(POST_SCHEMA)?;
    let mut records = Vec::with_capacity(range.len());
    for i in range {
        let (key, text, _) = post(i);
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(json) => wire::frame(id, None, &apache_avro::to_avro_datum(&schema, avro_post(&json))?),
            // The demo's "not JSON" post: bare text on an Avro topic, as a misconfigured
            // producer sends it.
            Err(_) => text.into_bytes(),
        };
        records.push((key, value));
    }
    Ok(records)
}

/// A demo post's JSON as a value of `POST_SCHEMA`.
fn avro_post(post: &Value) -> Avro {
    let text = |name: &str| post.get(name).and_then(Value::as_str).map(str::to_string);
    let optional = |name: &str| match text(name) {
        Some(s) => Avro::Union(1, Box::new(Avro::String(s))),
        None => Avro::Union(0, Box::new(Avro::Null)),
    };
    let score = match post.get("score") {
        Some(Value::String(s)) => Avro::Union(1, Box::new(Avro::String(s.clone()))),
        other => Avro::Union(0, Box::new(Avro::Long(other.and_then(Value::as_i64).unwrap_or(0)))),
    };
    let created = post
        .get("createdUtc")
        .or_else(|| post.get("created_utc"))
        .and_then(Value::as_i64);
    Avro::Record(vec![
        ("id".into(), Avro::String(text("id").unwrap_or_default())),
        ("subreddit".into(), Avro::String(text("subreddit").unwrap_or_default())),
        ("author".into(), optional("author")),
        ("title".into(), Avro::String(text("title").unwrap_or_default())),
        ("score".into(), score),
        ("createdUtc".into(), Avro::Long(created.unwrap_or(0))),
        ("selftext".into(), optional("selftext")),
    ])
}

/// Produces `records` (key, value) to `topic`, waiting while the producer's queue is full.
pub fn produce(brokers: &str, topic: &str, records: impl Iterator<Item = (String, Vec<u8>)>) -> anyhow::Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .context("producer")?;
    for (key, value) in records {
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(&value)) {
                Ok(()) => break,
                Err((e, _)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e).context("producing posts"),
            }
        }
    }
    producer.flush(Duration::from_secs(30)).context("flushing posts")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::AvroSchema;

    #[test]
    fn avro_posts_render_as_the_json_posts_hold() {
        let schema = apache_avro::Schema::parse_str(POST_SCHEMA).unwrap();
        let reader = AvroSchema::parse(POST_SCHEMA).unwrap();
        // 53 is the "not JSON" post, sent as bare text.
        for i in [0, 3, 28, 78, 103] {
            let (_, text, _) = post(i);
            let json: Value = serde_json::from_str(&text).unwrap();
            let datum = apache_avro::to_avro_datum(&schema, avro_post(&json)).unwrap();
            let back: Value = serde_json::from_str(&reader.to_json(&datum).unwrap()).unwrap();
            for field in ["id", "subreddit", "title", "score"] {
                assert_eq!(back[field], json[field], "post {i}: {field}");
            }
            let created = json.get("createdUtc").or_else(|| json.get("created_utc"));
            assert_eq!(back.get("createdUtc"), created, "post {i}");
            assert_eq!(
                back["author"],
                json.get("author").cloned().unwrap_or(Value::Null),
                "post {i}"
            );
        }
    }
}
