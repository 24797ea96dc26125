//! Gold: windowed aggregates over the records that reach silver, written once a window is final.
//!
//! - `window`: event-time windows (tumbling, hopping) as panes of one `slide` each.
//! - `state`: each (pane, key)'s state bytes and each partition's newest event time.
//! - `aggregator`: runs an aggregate plugin over a batch (late records refused, keys, groups,
//!   `accumulate`), and at commit time finishes the windows the watermark has passed.
//! - `checkpoint`: the state and the rows of each gold commit, written beside the tables before
//!   the commit that names them, read back on start.
//! - `table`: a pipeline's gold table at work: its aggregate, its checkpoints, the number of
//!   its last commit, and the repair of a format left behind.
//!
//! The host owns keys, windows, watermarks and state; the plugin owns the meaning of the bytes.

mod aggregator;
mod checkpoint;
mod error;
mod state;
mod table;
mod window;

pub use aggregator::{GoldAggregator, GoldInput};
pub use checkpoint::{Checkpoint, CheckpointStore};
pub use error::GoldError;
pub use state::GoldState;
pub use table::{CHECKPOINT_TOPIC, GoldTable};
