//! The `weir` subcommands. This is the binary's edge: errors are `anyhow` here and become one
//! line on stderr and a non-zero exit in `main.rs`.

pub mod check;
pub mod demo;
pub mod maintain;
pub mod plugin_test;
pub mod run;

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
