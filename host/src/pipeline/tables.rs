//! The Delta tables of a pipeline, each a folder under the pipeline's `tables.location`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Once;

use url::Url;

use crate::config::{Pipeline, S3Config};
use crate::decode::SilverDecoder;
use crate::sink::{DeltaSink, SinkError, schema};

/// The URL of table `name` under `location`: `s3://` and `file://` as given, other text as a
/// local path (relative to the working directory), created if missing.
pub fn table_url(location: &str, name: &str) -> Result<Url, SinkError> {
    let bad = |message: String| SinkError::Location {
        table: name.into(),
        location: location.into(),
        message,
    };
    if location.contains("://") {
        let base = location.trim_end_matches('/');
        return Url::parse(&format!("{base}/{name}/")).map_err(|e| bad(e.to_string()));
    }
    let dir = Path::new(location).join(name);
    std::fs::create_dir_all(&dir).map_err(|e| bad(e.to_string()))?;
    let dir = dir.canonicalize().map_err(|e| bad(e.to_string()))?;
    Url::from_directory_path(&dir).map_err(|()| bad("not an absolute path".into()))
}

/// object_store / deltalake options for an S3 location. Unset values fall back to the `AWS_*`
/// environment. Commits use S3 conditional put, so no lock service is needed.
pub fn storage_options(s3: &S3Config) -> HashMap<String, String> {
    let mut options = HashMap::new();
    let mut set = |key: &str, value: &Option<String>| {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            options.insert(key.to_string(), value.clone());
        }
    };
    set("AWS_ENDPOINT_URL", &s3.endpoint);
    set("AWS_REGION", &s3.region);
    set("AWS_ACCESS_KEY_ID", &s3.access_key_id);
    set("AWS_SECRET_ACCESS_KEY", &s3.secret_access_key);
    if s3.allow_http {
        options.insert("AWS_ALLOW_HTTP".into(), "true".into());
    }
    if s3.path_style {
        options.insert("AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into(), "false".into());
    }
    options.insert("aws_conditional_put".into(), "etag".into());
    options
}

/// The bronze, silver and quarantine tables of a pipeline.
#[derive(Debug)]
pub struct Tables {
    pub bronze: DeltaSink,
    pub silver: DeltaSink,
    pub quarantine: DeltaSink,
}

impl Tables {
    /// Opens (creating when missing) the three tables.
    pub async fn open(pipeline: &Pipeline, decoder: &SilverDecoder) -> Result<Self, SinkError> {
        static S3: Once = Once::new();
        S3.call_once(|| deltalake::aws::register_handlers(None));
        let location = &pipeline.tables.location;
        let options = storage_options(&pipeline.tables.s3);
        let open = |name: &'static str, schema| {
            let options = options.clone();
            async move { DeltaSink::open(table_url(location, name)?, options, name, &pipeline.name, schema).await }
        };
        Ok(Tables {
            bronze: open("bronze", schema::bronze()).await?,
            silver: open("silver", decoder.schema().clone()).await?,
            quarantine: open("quarantine", schema::quarantine()).await?,
        })
    }

    /// The tables in commit order: bronze first (it holds every record), silver last.
    pub fn in_commit_order(&mut self) -> [&mut DeltaSink; 3] {
        [&mut self.bronze, &mut self.quarantine, &mut self.silver]
    }
}
