//! Intake besides Kafka producers: the produce API of `weir run --intake` (Confluent REST
//! Proxy v2: `POST /topics/{topic}`), `weir ingest` for batch files, and the producer both use.
//!
//! - `config`: the intake file; `body`: a request's records; `admission`: the body and record
//!   budgets (429); `producer`: acks=all, idempotent, per-record offsets; `reply`: the v2 answers;
//!   `produce`: one request, from its headers to its offsets; `ingest`: CSV and JSON-lines files.

pub mod admission;
pub mod body;
pub mod config;
pub mod files;
pub mod ingest;
pub mod lines;

pub mod produce;
pub mod producer;
pub mod reply;

pub use config::IntakeConfig;
pub use produce::{Intake, routes};
pub use producer::{Delivered, Producer, ProducerError, ProducerSettings};
