//! `weir run <pipelines/>`: runs every pipeline found until SIGTERM or Ctrl-C, then lets each
//! finish its current batch, commit, and leave its consumer group. While running, changes to
//! the folder are applied (see `reload::Supervisor`) unless watching is off.

use std::path::Path;

use crate::plugin::PluginEngine;
use crate::reload::{Supervisor, SupervisorOptions};

/// Runs the pipelines under `root` until `shutdown` resolves or one of them fails, serving
/// `/metrics`, `/healthz` and `/readyz` on `listen` (none when `None`).
pub async fn run(
    root: &Path,
    options: SupervisorOptions,
    listen: Option<&str>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let server = match listen {
        Some(addr) => {
            let (listener, bound) = crate::serve::bind(addr).await?;
            tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
            Some(tokio::spawn(crate::serve::serve(listener)))
        }
        None => None,
    };
    let result = Supervisor::run(root, engine, options, shutdown).await;
    if let Some(server) = server {
        server.abort();
    }
    result?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
