//! File events under the pipelines folder, debounced: a burst of events (a copy in progress, an
//! editor's save) is reported once, after the folder has been quiet for a while, so a file is
//! read only when its writer has stopped writing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use thiserror::Error;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

#[derive(Debug, Error)]
#[error("cannot watch {path}: {message}")]
pub struct WatchError {
    pub path: PathBuf,
    pub message: String,
}

/// A recursive watch on one folder.
#[derive(Debug)]
pub struct Watcher {
    // Kept alive: dropping it ends the watch.
    _watcher: RecommendedWatcher,
    events: UnboundedReceiver<PathBuf>,
    quiet: Duration,
    /// Paths seen but not reported yet, and when the last one came: kept here so that a
    /// `changes()` future dropped half-way (by a `select!`) loses nothing.
    pending: BTreeSet<PathBuf>,
    last_event: Instant,
}

impl Watcher {
    /// Watches `root` and everything below it. A change is reported once no further event has
    /// come for `quiet`.
    pub fn start(root: &Path, quiet: Duration) -> Result<Self, WatchError> {
        let (tx, events) = unbounded_channel();
        let error = |e: notify::Error| WatchError {
            path: root.to_path_buf(),
            message: e.to_string(),
        };
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if is_write(&event.kind) => {
                for path in event.paths {
                    // The receiver is gone only when the supervisor stopped.
                    let _ = tx.send(path);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "file watcher error"),
        })
        .map_err(error)?;
        watcher.watch(root, RecursiveMode::Recursive).map_err(error)?;
        Ok(Watcher {
            _watcher: watcher,
            events,
            quiet,
            pending: BTreeSet::new(),
            last_event: Instant::now(),
        })
    }

    /// Waits for the next change, then for `quiet` without events; returns every path touched.
    /// Cancel-safe: dropping the future keeps what it had gathered for the next call.
    pub async fn changes(&mut self) -> BTreeSet<PathBuf> {
        if self.pending.is_empty() {
            match self.events.recv().await {
                Some(path) => {
                    self.pending.insert(path);
                    self.last_event = Instant::now();
                }
                None => return std::future::pending().await,
            }
        }
        loop {
            let quiet_until = tokio::time::Instant::from_std(self.last_event + self.quiet);
            match tokio::time::timeout_at(quiet_until, self.events.recv()).await {
                Ok(Some(path)) => {
                    self.pending.insert(path);
                    self.last_event = Instant::now();
                }
                Ok(None) | Err(_) => return std::mem::take(&mut self.pending),
            }
        }
    }
}

/// Events that can change what a file holds or whether it exists (not reads).
fn is_write(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn a_file_written_in_pieces_is_reported_once_after_the_last_piece() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let quiet = Duration::from_millis(300);
        let mut watcher = Watcher::start(&root, quiet).unwrap();
        let file = root.join("plugin.wasm");
        let writer = {
            let file = file.clone();
            std::thread::spawn(move || {
                let mut out = std::fs::File::create(&file).unwrap();
                for _ in 0..5 {
                    out.write_all(&[0u8; 1024]).unwrap();
                    out.flush().unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let paths = watcher.changes().await;
        // Reported only after the writer finished: the whole file is there.
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 5 * 1024);
        assert!(paths.contains(&file), "{paths:?}");
        writer.join().unwrap();
        // And only once: nothing is pending.
        let again = tokio::time::timeout(Duration::from_millis(500), watcher.changes()).await;
        assert!(again.is_err(), "a second report: {again:?}");
    }

    #[tokio::test]
    async fn a_change_survives_its_future_being_dropped_by_a_select() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let mut watcher = Watcher::start(&root, Duration::from_millis(300)).unwrap();
        std::fs::write(root.join("a.wasm"), b"x").unwrap();
        // A select with a shorter timer drops `changes()` again and again before it is quiet.
        let mut ticks = 0;
        let gather = async {
            loop {
                tokio::select! {
                    paths = watcher.changes() => break paths,
                    () = tokio::time::sleep(Duration::from_millis(100)) => ticks += 1,
                }
            }
        };
        let paths = tokio::time::timeout(Duration::from_secs(5), gather)
            .await
            .expect("the change was lost");
        assert!(ticks >= 2, "the future was never dropped: {ticks}");
        assert!(paths.contains(&root.join("a.wasm")), "{paths:?}");
    }
}
