//! What the status page shows (`/` and `/api/status` of `weir run --listen`): per pipeline, its
//! state, records/s and lag per partition, the last commit of every table, the last quarantined
//! records and the reload history. The data path reports into one process-wide registry, as it
//! does into `health` and `metrics`; each report is a short lock on a small map.
//!
//! - `registry.rs`: the registry and what it keeps per pipeline;
//! - `quarantined.rs`: the rows of a committed quarantine batch, as the page lists them;
//! - `page.rs`: the HTTP routes, the JSON and the page (`assets/status.html`).

mod page;
mod quarantined;
mod registry;

pub use page::routes;
pub use registry::{Registry, Reload, status};
