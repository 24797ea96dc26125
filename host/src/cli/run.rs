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

/// Listens for SIGTERM and Ctrl-C (SIGINT) from now on: the handlers are installed before
/// this returns, so a signal during start-up is answered too. The future resolves on the first.
/// Call it inside the runtime, first thing.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(term) => {},
            () = wait(int) => {},
        }
    }
}
