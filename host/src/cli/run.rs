//! `weir run <pipelines/>`: runs every pipeline found until SIGTERM or Ctrl-C, then lets each
//! finish its current batch, commit, and leave its consumer group. While running, changes to
//! the folder are applied (see `reload::Supervisor`) unless watching is off.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::intake::{Intake, IntakeConfig};

use crate::plugin::PluginEngine;
use crate::reload::{Supervisor, SupervisorOptions};

/// Runs the pipelines under `root` until `shutdown` resolves or one of them fails, serving
/// `/metrics`, `/healthz` and `/readyz` on `listen` (none when `None`), and the produce API
/// when an intake file is given.
pub async fn run(
    root: &Path,
    mut options: SupervisorOptions,
    listen: Option<&str>,
    intake: Option<&Path>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let intake = match intake {
        Some(file) => {
            let config = IntakeConfig::load(file, &crate::config::from_env)?;
            Some(Arc::new(Intake::new(config)?))
        }
        None => None,
    };
    // With the produce API, a folder without pipelines is a host that only takes records in.
    options.allow_empty |= intake.is_some();
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let stop = CancellationToken::new();
    let server = match (listen, intake) {
        (Some(addr), intake) => {
            let (listener, bound) = crate::http::bind(addr).await?;
            if intake.is_some() {
                crate::health::health().serve_intake();
            }
            match &intake {
                Some(intake) => {
                    tracing::info!(address = %bound, topics = ?intake.topics(), "serving /metrics, /healthz, /readyz and POST /topics/{{topic}}")
                }
                None => tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz"),
            }
            Some(tokio::spawn(crate::http::serve(
                listener,
                crate::http::router(intake),
                stop.clone(),
            )))
        }
        (None, Some(_)) => anyhow::bail!("--intake needs --listen: the produce API is served over HTTP"),
        (None, None) => None,
    };
    let result = Supervisor::run(root, engine, options, shutdown).await;
    stop.cancel();
    if let Some(server) = server {
        // Requests in progress are answered (their records are acknowledged) before Weir leaves.
        let _ = server.await;
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
