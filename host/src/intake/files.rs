//! Opening a batch file for `weir ingest`: a local path, or `s3://bucket/key` read as a stream
//! (credentials and endpoint from the usual `AWS_*` variables: `AWS_ENDPOINT_URL`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`).

use std::io::Read;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use thiserror::Error;
use tokio_util::io::{StreamReader, SyncIoBridge};

#[derive(Debug, Error)]
pub enum OpenError {
    #[error("cannot open {file}: {source}")]
    Local {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open {file}: {source}")]
    S3 {
        file: String,
        #[source]
        source: object_store::Error,
    },
}

/// An open file: its bytes as a blocking reader (read it off the runtime's threads) and its
/// size when known.
pub struct Opened {
    pub read: Box<dyn Read + Send>,
    pub size: Option<u64>,
}

/// Opens `file`; call inside the runtime (an S3 body is streamed by it).
pub async fn open(file: &str) -> Result<Opened, OpenError> {
    match file.strip_prefix("s3://") {
        Some(rest) => open_s3(file, rest).await,
        None => {
            let local = |source| OpenError::Local {
                file: file.to_string(),
                source,
            };
            let handle = std::fs::File::open(file).map_err(local)?;
            let size = handle.metadata().map_err(local)?.len();
            Ok(Opened {
                read: Box::new(handle),
                size: Some(size),
            })
        }
    }
}

async fn open_s3(file: &str, rest: &str) -> Result<Opened, OpenError> {
    let s3 = |source| OpenError::S3 {
        file: file.to_string(),
        source,
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(s3)?;
    let got = store.get(&object_store::path::Path::from(key)).await.map_err(s3)?;
    let size = got.meta.size;
    let stream = got.into_stream().map_err(std::io::Error::other);
    Ok(Opened {
        read: Box::new(SyncIoBridge::new(StreamReader::new(stream))),
        size: Some(size),
    })
}
