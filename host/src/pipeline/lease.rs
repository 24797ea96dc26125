//! One writer per gold pipeline. Gold state spans every partition, so a pipeline with `[[gold]]`
//! runs on one host at a time; a second host stands by, outside the consumer group, until the
//! writer's lease lapses, then takes over. The same lease, under another name, lets one host at
//! a time run a pipeline's table upkeep ([`Role`]).
//!
//! - Local folders: an exclusive OS file lock on `<location>/_weir/writer.lock`, held while the
//!   process lives; the kernel releases it when the writer dies, so a standby takes over at its
//!   next try.
//! - S3: a lease object `<location>/_weir/writer.lease` (holder, expiry), created with a
//!   conditional put (`If-None-Match`) and renewed or taken over with one (`If-Match` on its
//!   ETag), so two hosts cannot both win. The holder renews it every `TTL / 3` and stops
//!   writing once it could not for `TTL - MARGIN`; a standby takes a lease whose expiry passed
//!   (hosts' clocks must agree to within `MARGIN`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::S3Config;
use crate::tables::BoxError;
use crate::tables::storage::{object_store_at, table_url};

/// How long a lease lasts without renewal.
pub const TTL: Duration = Duration::from_secs(10);
/// The holder stops writing this long before its lease could lapse.
const MARGIN: Duration = Duration::from_secs(3);

/// What a lease is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Writing a gold pipeline's tables (`_weir/writer.*`).
    GoldWriter,
    /// Running a pipeline's table upkeep (`_weir/upkeep.*`).
    Upkeep,
}

impl Role {
    fn stem(self) -> &'static str {
        match self {
            Role::GoldWriter => "writer",
            Role::Upkeep => "upkeep",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::GoldWriter => "gold writer",
            Role::Upkeep => "upkeep",
        })
    }
}

#[derive(Debug, Error)]
pub enum LeaseError {
    #[error("standing by: the {role} lease {path} is held by {holder}")]
    Held { role: Role, path: String, holder: String },
    #[error("the {role} lease {path} was taken over by {holder}: this host stops writing")]
    Lost { role: Role, path: String, holder: String },
    #[error("{role} lease {path}: {source}")]
    Store {
        role: Role,
        path: String,
        #[source]
        source: BoxError,
    },
}

/// What the lease object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_ms: i64,
}

enum Held {
    Local(std::fs::File),
    S3 {
        store: Arc<dyn ObjectStore>,
        path: Path,
        version: UpdateVersion,
    },
}

/// The writer lease of one gold pipeline, held.
pub struct WriterLease {
    role: Role,
    held: Held,
    holder: String,
    place: String,
    renewed: Instant,
}

impl std::fmt::Debug for WriterLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterLease")
            .field("place", &self.place)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// This process's name as a lease holder: `WEIR_INSTANCE_ID` (a restarted pod takes its own
/// lease back at once) or host name and process id.
pub fn holder_name() -> String {
    if let Ok(id) = std::env::var("WEIR_INSTANCE_ID")
        && !id.trim().is_empty()
    {
        return id.trim().to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{}/{}", host.trim(), std::process::id())
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl WriterLease {
    /// Takes the gold writer lease of the pipeline at `location`, or says who holds it.
    pub async fn acquire(location: &str, s3: &S3Config, holder: &str) -> Result<Self, LeaseError> {
        Self::acquire_as(Role::GoldWriter, location, s3, holder).await
    }

    /// Takes the `role` lease of the pipeline at `location`, or says who holds it.
    pub async fn acquire_as(role: Role, location: &str, s3: &S3Config, holder: &str) -> Result<Self, LeaseError> {
        let url = table_url(location, "_weir").map_err(|e| LeaseError::Store {
            role,
            path: format!("{location}/_weir"),
            source: e.into(),
        })?;
        if url.scheme() == "file" {
            return Self::acquire_local(role, &url, holder);
        }
        let place = format!("{}{}.lease", url.as_str(), role.stem());
        let store_error = |e: object_store::Error| LeaseError::Store {
            role,
            path: place.clone(),
            source: e.into(),
        };
        let (store, prefix) = object_store_at(&url, s3).map_err(store_error)?;
        let path = prefix.join(format!("{}.lease", role.stem()));
        let mode = match store.get(&path).await {
            Ok(found) => {
                let version = UpdateVersion {
                    e_tag: found.meta.e_tag.clone(),
                    version: found.meta.version.clone(),
                };
                let bytes = found.bytes().await.map_err(store_error)?;
                let lease: Option<Lease> = serde_json::from_slice(&bytes).ok();
                if let Some(lease) = lease
                    && lease.holder != holder
                    && lease.expires_ms > now_ms()
                {
                    return Err(LeaseError::Held {
                        role,
                        path: place,
                        holder: format!("{} for {} ms more", lease.holder, lease.expires_ms - now_ms()),
                    });
                }
                PutMode::Update(version)
            }
            Err(object_store::Error::NotFound { .. }) => PutMode::Create,
            Err(e) => return Err(store_error(e)),
        };
        let version = put(&store, &path, holder, mode)
            .await
            .map_err(|e| contested(role, e, &place))?;
        tracing::info!(lease = %place, holder, "{role} lease taken");
        Ok(WriterLease {
            role,
            held: Held::S3 { store, path, version },
            holder: holder.to_string(),
            place,
            renewed: Instant::now(),
        })
    }

    fn acquire_local(role: Role, url: &url::Url, holder: &str) -> Result<Self, LeaseError> {
        let dir = url.to_file_path().unwrap_or_default();
        let file = dir.join(format!("{}.lock", role.stem()));
        let place = file.display().to_string();
        let error = |e: std::io::Error| LeaseError::Store {
            role,
            path: place.clone(),
            source: e.into(),
        };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&file)
            .map_err(error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&file).unwrap_or_default();
                return Err(LeaseError::Held {
                    role,
                    path: place.clone(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(error(e)),
        }
        // Who holds it, for the standby's message (the lock itself is the lease).
        std::fs::write(&file, holder).map_err(error)?;
        tracing::info!(lease = %place, holder, "{role} lease taken");
        Ok(WriterLease {
            role,
            held: Held::Local(lock),
            holder: holder.to_string(),
            place,
            renewed: Instant::now(),
        })
    }

    /// Renews the lease when a third of its time has passed. An outage is tolerated until the
    /// lease could lapse; a lease another host took is an error at once.
    pub async fn renew_if_due(&mut self) -> Result<(), LeaseError> {
        let Held::S3 { store, path, version } = &mut self.held else {
            return Ok(());
        };
        if self.renewed.elapsed() < TTL / 3 {
            return Ok(());
        }
        match put(store, path, &self.holder, PutMode::Update(version.clone())).await {
            Ok(new) => {
                *version = new;
                self.renewed = Instant::now();
                Ok(())
            }
            Err(object_store::Error::Precondition { .. }) => Err(LeaseError::Lost {
                role: self.role,
                path: self.place.clone(),
                holder: "another host".into(),
            }),
            Err(e) => {
                tracing::warn!(lease = %self.place, error = %e, "{} lease not renewed; retrying", self.role);
                self.check()
            }
        }
    }

    /// Fails once the lease may have lapsed: nothing may be written to gold then.
    pub fn check(&self) -> Result<(), LeaseError> {
        if matches!(self.held, Held::S3 { .. }) && self.renewed.elapsed() >= TTL - MARGIN {
            return Err(LeaseError::Store {
                role: self.role,
                path: self.place.clone(),
                source: format!(
                    "not renewed for {} s: it may have lapsed",
                    self.renewed.elapsed().as_secs()
                )
                .into(),
            });
        }
        Ok(())
    }

    /// Gives the lease up (a clean stop), so a standby takes over at once.
    pub async fn release(self) {
        match self.held {
            Held::Local(file) => drop(file),
            Held::S3 { store, path, .. } => {
                if let Err(e) = store.delete(&path).await {
                    tracing::warn!(lease = %self.place, error = %e, "{} lease not released; it lapses by itself", self.role);
                }
            }
        }
    }
}

/// Writes a lease for `holder` with `mode`; returns the new version.
async fn put(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    holder: &str,
    mode: PutMode,
) -> Result<UpdateVersion, object_store::Error> {
    let lease = Lease {
        holder: holder.to_string(),
        expires_ms: now_ms() + TTL.as_millis() as i64,
    };
    let body = serde_json::to_vec(&lease).unwrap_or_default();
    let options = PutOptions {
        mode,
        ..PutOptions::default()
    };
    let result = store.put_opts(path, PutPayload::from(body), options).await?;
    Ok(UpdateVersion {
        e_tag: result.e_tag,
        version: result.version,
    })
}

/// A lost conditional put means another host won the lease.
fn contested(role: Role, error: object_store::Error, place: &str) -> LeaseError {
    match error {
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => LeaseError::Held {
            role,
            path: place.to_string(),
            holder: "another host".to_string(),
        },
        e => LeaseError::Store {
            role,
            path: place.to_string(),
            source: e.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_lease_has_one_holder_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().display().to_string();
        let s3 = S3Config::default();
        let first = WriterLease::acquire(&location, &s3, "a").await.unwrap();
        let err = WriterLease::acquire(&location, &s3, "b").await.unwrap_err();
        assert!(
            matches!(&err, LeaseError::Held { holder, .. } if holder == "a"),
            "{err}"
        );
        first.release().await;
        let second = WriterLease::acquire(&location, &s3, "b").await.unwrap();
        second.check().unwrap();
    }

    #[tokio::test]
    async fn the_upkeep_lease_is_held_apart_from_the_gold_writer_lease() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().display().to_string();
        let s3 = S3Config::default();
        let writer = WriterLease::acquire(&location, &s3, "a").await.unwrap();
        let upkeep = WriterLease::acquire_as(Role::Upkeep, &location, &s3, "b")
            .await
            .unwrap();
        let err = WriterLease::acquire_as(Role::Upkeep, &location, &s3, "c")
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("standing by: the upkeep lease"), "{err}");
        upkeep.release().await;
        WriterLease::acquire_as(Role::Upkeep, &location, &s3, "c")
            .await
            .unwrap();
        writer.check().unwrap();
    }
}
