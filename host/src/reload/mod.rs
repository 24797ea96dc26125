//! Hot reload: a watcher on the pipelines folder, and the supervisor that runs every pipeline and
//! applies what changed: a new `.wasm` is started off the data path and swapped in between two
//! batches (or refused, leaving the running version); a changed `pipeline.toml` restarts that
//! pipeline from its committed offsets; a new folder starts one; a removed one stops after a
//! final commit.
//!
//! - `changes`: raw file events grouped by pipeline folder.
//! - `watcher`: `notify` events, debounced until the folder has been quiet for a while.
//! - `supervisor`: the running pipelines and what each change does to them.
//! - `plugin_reload`: one changed `.wasm` started off the loop and handed to its pipeline.
//! - `restart`: a pipeline that failed while running: backoff and restart, or stop;
//!   `standby` schedules and performs those restarts.

mod changes;
mod plugin_reload;
mod restart;
mod standby;
mod supervisor;
mod watcher;

pub use changes::{FolderChange, by_folder};
pub(crate) use restart::random_fraction;
pub use supervisor::{Supervisor, SupervisorError, SupervisorOptions};
pub use watcher::{WatchError, Watcher};
