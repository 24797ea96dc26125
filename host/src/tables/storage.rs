//! Where tables live, in one place: a table's URL under `tables.location`, the object-store
//! (and deltalake) options for the pipeline's S3 settings, and an object store for any URL.
//! Every writer, the gold checkpoints and the writer lease translate S3 settings through here.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use url::Url;

use super::error::{BoxError, TableError};
use crate::config::S3Config;

/// The URL of table `name` under `location`: `s3://` and `file://` as given, other text as a
/// local path (relative to the working directory), created if missing.
pub fn table_url(location: &str, name: &str) -> Result<Url, TableError> {
    let bad = |source: BoxError| TableError::Location {
        table: name.into(),
        location: location.into(),
        source,
    };
    if location.contains("://") {
        let base = location.trim_end_matches('/');
        return Url::parse(&format!("{base}/{name}/")).map_err(|e| bad(e.into()));
    }
    let dir = Path::new(location).join(name);
    std::fs::create_dir_all(&dir).map_err(|e| bad(e.into()))?;
    let dir = dir.canonicalize().map_err(|e| bad(e.into()))?;
    Url::from_directory_path(&dir).map_err(|()| bad("not an absolute path".into()))
}

/// object_store / deltalake options for an S3 location. Unset values fall back to the `AWS_*`
/// environment. Commits use S3 conditional put, so no lock service is needed.
pub fn storage_options(s3: &S3Config) -> HashMap<String, String> {
    let mut options = s3.named([
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]);
    if s3.allow_http {
        options.insert("AWS_ALLOW_HTTP".into(), "true".into());
    }
    if s3.path_style {
        options.insert("AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into(), "false".into());
    }
    options.insert("aws_conditional_put".into(), "etag".into());
    options
}

/// An object store and the path prefix within it for `url`: `s3://` with the pipeline's S3
/// settings (unset ones from the `AWS_*` environment, as for the tables), else a local folder.
pub fn object_store_at(
    url: &Url,
    s3: &S3Config,
) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path), object_store::Error> {
    let options = storage_options(s3);
    if url.scheme() == "s3" {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
        for (key, value) in options {
            if let Ok(key) = key.to_ascii_lowercase().parse::<object_store::aws::AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        let store = builder.build()?;
        let prefix = object_store::path::Path::from_url_path(url.path())?;
        return Ok((Arc::new(store), prefix));
    }
    let (store, prefix) = object_store::parse_url_opts(url, options)?;
    Ok((Arc::from(store), prefix))
}

/// Iceberg FileIO properties for an S3 location (MinIO and other S3-compatible stores).
pub fn file_io_properties(s3: &S3Config) -> HashMap<String, String> {
    let mut props = s3.named(["s3.endpoint", "s3.region", "s3.access-key-id", "s3.secret-access-key"]);
    if s3.path_style {
        props.insert("s3.path-style-access".into(), "true".into());
    }
    props
}
