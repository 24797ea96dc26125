//! The registry's HTTP API, the part a consumer needs: `GET /schemas/ids/{id}`, with basic
//! auth or a bearer token. An id the registry does not know (404) is an answer; anything else
//! that is not a schema (a refused connection, a timeout, a 5xx) is retried with backoff and
//! jitter until it answers or the pipeline stops.

use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::SchemaRegistryConfig;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Why one request got no schema and no definite "unknown".
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("schema registry {url}: HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    /// The registry's own "not found" (error codes 40401 to 40403): an answer, not an outage.
    #[error("schema registry {url}: {message}")]
    NotFound { url: String, message: String },
    #[error("schema registry {url}: the answer is not a schema: {source}")]
    Body {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("schema registry {url}: {message}")]
    Setup { url: String, message: String },
}

/// What a schema is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    Avro,
    Protobuf,
    Json,
}

/// The registry's answer for an id or a subject's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found {
        kind: SchemaKind,
        text: String,
        /// Schemas this one imports (Protobuf), by the name it imports them with.
        references: Vec<Reference>,
        /// Its version number, when it was asked for by subject.
        version: Option<i64>,
    },
    /// The registry does not know the id or version (its message).
    Unknown(String),
}

/// A schema another schema refers to: `import "<name>"` in Protobuf.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(u32),
    Version {
        subject: String,
        version: i64,
    },
    /// A subject's newest version.
    Latest(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Id(id) => write!(f, "schema id {id}"),
            Target::Version { subject, version } => write!(f, "{subject} version {version}"),
            Target::Latest(subject) => write!(f, "{subject}, latest version"),
        }
    }
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    /// The subject's version, in answers about a subject.
    #[serde(default)]
    version: Option<i64>,
}

/// A registry client.
#[derive(Debug, Clone)]
pub struct Registry {
    client: reqwest::Client,
    base: String,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    max_backoff: Duration,
}

impl Registry {
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|source| RegistryError::Http {
                url: config.url.clone(),
                source,
            })?;
        let present = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Ok(Registry {
            client,
            base: config.url.trim_end_matches('/').to_string(),
            username: present(&config.username),
            password: present(&config.password),
            token: present(&config.token),
            max_backoff: Duration::from_millis(config.max_backoff_ms),
        })
    }

    /// The registry's URL with `segments` appended, each percent-encoded (a subject may hold `/`
    /// or spaces).
    fn url(&self, segments: &[&str]) -> String {
        match url::Url::parse(&self.base) {
            Ok(mut url) => {
                if let Ok(mut path) = url.path_segments_mut() {
                    path.pop_if_empty().extend(segments);
                }
                url.to_string()
            }
            // `weir check` refuses a URL that does not parse; keep the text as given.
            Err(_) => format!("{}/{}", self.base, segments.join("/")),
        }
    }

    /// `request` with the configured basic auth or bearer token.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(user) = &self.username {
            request.basic_auth(user, self.password.as_deref())
        } else if let Some(token) = &self.token {
            request.bearer_auth(token)
        } else {
            request
        }
    }

    /// Sends `request` (to `url`) with the configured credentials: the body of a 2xx answer, or
    /// why there is none.
    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<String, RegistryError> {
        let http = |source| RegistryError::Http {
            url: url.to_string(),
            source,
        };
        let response = self.authorized(request).send().await.map_err(http)?;
        let status = response.status();
        let body = response.text().await.map_err(http)?;
        // Only the registry's own "not found" answers mean the id or version does not exist; a
        // 404 from a wrong base URL or a proxy is an outage, retried like any other.
        if status == reqwest::StatusCode::NOT_FOUND && is_registry_not_found(&body) {
            return Err(RegistryError::NotFound {
                url: url.to_string(),
                message: registry_message(&body),
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: registry_message(&body),
            });
        }
        Ok(body)
    }

    /// One request for `target`.
    pub async fn fetch(&self, target: &Target) -> Result<Lookup, RegistryError> {
        let url = match target {
            Target::Id(id) => self.url(&["schemas", "ids", &id.to_string()]),
            Target::Version { subject, version } => self.url(&["subjects", subject, "versions", &version.to_string()]),
            Target::Latest(subject) => self.url(&["subjects", subject, "versions", "latest"]),
        };
        let request = self.client.get(&url).header(reqwest::header::ACCEPT, CONTENT_TYPE);
        let body = match self.send(request, &url).await {
            Err(RegistryError::NotFound { message, .. }) => return Ok(Lookup::Unknown(message)),
            other => other?,
        };
        let parsed: SchemaBody = serde_json::from_str(&body).map_err(|source| RegistryError::Body {
            url: url.clone(),
            source,
        })?;
        let kind = match parsed.schema_type.as_deref().unwrap_or("AVRO") {
            "AVRO" => SchemaKind::Avro,
            "PROTOBUF" => SchemaKind::Protobuf,
            _ => SchemaKind::Json,
        };
        Ok(Lookup::Found {
            kind,
            text: parsed.schema,
            references: parsed.references.unwrap_or_default(),
            version: parsed.version,
        })
    }

    /// Registers `schema` (Avro) under `subject` as a producer does; its id (the same schema
    /// text gets the id it already has).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = self.url(&["subjects", subject, "versions"]);
        let body = serde_json::json!({ "schema": schema, "schemaType": "AVRO" });
        let request = (self.client.post(&url))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body.to_string());
        let text = self.send(request, &url).await?;
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let registered: Registered =
            serde_json::from_str(&text).map_err(|source| RegistryError::Body { url, source })?;
        Ok(registered.id)
    }

    /// `target`, retried with backoff until the registry answers; None if `stop` came first.
    pub async fn fetch_waiting(&self, target: &Target, stop: &CancellationToken) -> Option<Lookup> {
        let mut backoff = FIRST_BACKOFF.min(self.max_backoff);
        let mut attempt = 1u32;
        loop {
            let result = tokio::select! {
                () = stop.cancelled() => return None,
                result = self.fetch(target) => result,
            };
            let outcome = match &result {
                Ok(Lookup::Found { .. }) => "found",
                Ok(Lookup::Unknown(_)) => "unknown",
                Err(_) => "failed",
            };
            crate::metrics::metrics()
                .registry_requests
                .with_label_values(&[outcome])
                .inc();
            match result {
                Ok(lookup) => {
                    if attempt > 1 {
                        tracing::info!(%target, attempt, "schema registry answered again");
                    }
                    return Some(lookup);
                }
                Err(e @ RegistryError::Status { status: 401 | 403, .. }) => {
                    tracing::error!(%target, attempt, error = %e, "schema registry refused the credentials; the pipeline waits and retries: fix `[source.schema_registry]` and restart");
                }
                Err(e) => {
                    tracing::warn!(%target, attempt, error = %e, wait_ms = backoff.as_millis() as u64, "schema registry did not answer; the pipeline waits and retries");
                }
            }
            let wait = jitter(backoff);
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
            backoff = (backoff * 2).min(self.max_backoff);
            attempt += 1;
        }
    }
}

/// `wait` less up to a quarter, so hosts that lost the registry together do not return together.
fn jitter(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // A fresh `RandomState` is randomly keyed: a random number without a crate for it.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let quarter = wait / 4;
    wait - quarter.mul_f64((random % 1000) as f64 / 1000.0)
}

/// Whether `body` is the registry's own "not found" error (subject, version or schema).
fn is_registry_not_found(body: &str) -> bool {
    #[derive(Deserialize)]
    struct Error {
        error_code: i64,
    }
    serde_json::from_str::<Error>(body).is_ok_and(|e| matches!(e.error_code, 40401..=40403))
}

/// The registry's `{"error_code", "message"}`, or the body as it came (cut to 512 bytes).
fn registry_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct Error {
        error_code: Option<i64>,
        message: Option<String>,
    }
    match serde_json::from_str::<Error>(body) {
        Ok(Error {
            error_code,
            message: Some(message),
        }) => match error_code {
            Some(code) => format!("{message} (error {code})"),
            None => message,
        },
        _ => {
            let mut end = body.len().min(512);
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body[..end].to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_their_message() {
        assert_eq!(
            registry_message(r#"{"error_code":40403,"message":"Schema 7 not found"}"#),
            "Schema 7 not found (error 40403)"
        );
        assert_eq!(registry_message("<html>bad gateway</html>"), "<html>bad gateway</html>");
        assert!(is_registry_not_found(
            r#"{"error_code":40403,"message":"Schema 7 not found"}"#
        ));
        assert!(!is_registry_not_found("<html>404 Not Found</html>"));
        let registry = Registry::new(&SchemaRegistryConfig::new("http://r:8081/prefix/")).unwrap();
        assert_eq!(
            registry.url(&["subjects", "google/protobuf/a b.proto", "versions", "1"]),
            "http://r:8081/prefix/subjects/google%2Fprotobuf%2Fa%20b.proto/versions/1"
        );
        let wait = Duration::from_millis(1000);
        assert!((750..=1000).contains(&jitter(wait).as_millis()));
    }
}
