//! The `weir` subcommands. This is the binary's edge: errors are `anyhow` here and become one
//! line on stderr and a non-zero exit in `main.rs`.

pub mod check;
pub mod columns;
pub mod demo;
pub mod generate;
pub mod maintain;
pub mod plugin_new;
pub mod plugin_test;
pub mod run;

pub use crate::clock::now_ms;
