//! The upkeep schedule of one pipeline inside `weir run`: every `[upkeep] every`, off the data
//! path (its own task and its own table handles), upkeep on each of the pipeline's tables, run
//! by one host at a time: the one holding the pipeline's upkeep lease (the same single-holder
//! rule as gold's writer lease). The lease is renewed while a run lasts; a run whose lease is
//! lost, or whose pipeline stops, is dropped where it stands: every step commits atomically or
//! not at all, and files written for a commit that never happened are orphans the next run
//! deletes once old enough.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::metrics::upkeep_metrics;
use crate::config::{Pipeline, TableFormat};
use crate::pipeline::{LeaseError, LeaseRole, Tables, WriterLease, holder_name};

/// Starts `pipeline`'s upkeep schedule, if its `[upkeep]` has `every`; it ends with `stop`.
pub fn spawn(pipeline: &Pipeline, stop: CancellationToken) -> Option<JoinHandle<()>> {
    let every = Duration::from_millis(pipeline.upkeep.every_ms?);
    let pipeline = pipeline.clone();
    upkeep_metrics().zero(&pipeline.name);
    Some(tokio::spawn(async move {
        let mut tables = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(jittered(every)) => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = run_once(&pipeline, &mut tables) => {}
            }
        }
    }))
}

/// `every`, up to a tenth shorter, so hosts started together do not all knock at once.
fn jittered(every: Duration) -> Duration {
    every.mul_f64(1.0 - crate::reload::random_fraction() * 0.1)
}

/// One run, if this host gets the lease. `tables` are opened on the first run and kept.
async fn run_once(pipeline: &Pipeline, tables: &mut Option<Tables>) {
    let metrics = upkeep_metrics();
    let location = &pipeline.tables.location;
    let mut lease =
        match WriterLease::acquire_as(LeaseRole::Upkeep, location, &pipeline.tables.s3, &holder_name()).await {
            Ok(lease) => lease,
            Err(LeaseError::Held { holder, .. }) => {
                tracing::debug!(pipeline = %pipeline.name, holder, "upkeep runs on another host");
                metrics.run(&pipeline.name, "standby");
                return;
            }
            Err(e) => {
                tracing::warn!(pipeline = %pipeline.name, error = %e, "upkeep skipped: its lease is not reachable");
                metrics.run(&pipeline.name, "failed");
                return;
            }
        };
    let ok = match holding(&mut lease, maintain_all(pipeline, tables)).await {
        Ok(ok) => ok,
        Err(lost) => {
            tracing::warn!(pipeline = %pipeline.name, error = %lost, "upkeep stopped: its lease was lost");
            false
        }
    };
    lease.release().await;
    metrics.run(&pipeline.name, if ok { "ok" } else { "failed" });
}

/// Runs `work` while renewing `lease`; if the lease is lost first, `work` is dropped where it
/// stands and the error says why.
pub async fn holding<T>(lease: &mut WriterLease, work: impl std::future::Future<Output = T>) -> Result<T, LeaseError> {
    let keep = async {
        loop {
            tokio::time::sleep(crate::pipeline::LEASE_TTL / 6).await;
            if let Err(e) = lease.renew_if_due().await {
                return e;
            }
        }
    };
    tokio::select! {
        done = work => Ok(done),
        lost = keep => Err(lost),
    }
}

/// Upkeep of every table; false if any failed (the others still ran).
async fn maintain_all(pipeline: &Pipeline, tables: &mut Option<Tables>) -> bool {
    if tables.is_none() {
        match Tables::open(pipeline).await {
            Ok(opened) => *tables = Some(opened),
            Err(e) => {
                tracing::warn!(pipeline = %pipeline.name, error = %e, "upkeep: the tables did not open");
                return false;
            }
        }
    }
    let Some(tables) = tables else {
        return false;
    };
    let mut ok = true;
    for (_, table) in tables.in_commit_order() {
        if table.format() == TableFormat::Topic {
            continue;
        }
        let name = table.name().to_string();
        let labels = [pipeline.name.as_str(), name.as_str(), table.format().name()];
        let started = Instant::now();
        match table.maintain(&pipeline.upkeep.policy).await {
            Ok(report) => {
                let seconds = started.elapsed().as_secs_f64();
                upkeep_metrics().record(labels, &report, seconds);
                tracing::info!(
                    pipeline = %pipeline.name,
                    table = labels[1],
                    format = labels[2],
                    seconds,
                    "upkeep {}",
                    report.describe(table.format())
                );
            }
            Err(e) => {
                tracing::warn!(pipeline = %pipeline.name, table = labels[1], format = labels[2], error = %e, "upkeep failed; the next run tries again");
                ok = false;
            }
        }
    }
    ok
}
