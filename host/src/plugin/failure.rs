//! What went wrong inside one plugin call, in words a user can act on.

use thiserror::Error;

use super::limits::Limits;

/// A call that did not return normally. The instance it happened in is discarded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Failure {
    #[error("deadline exceeded: the call ran longer than {deadline_ms} ms")]
    Deadline { deadline_ms: u64 },
    #[error("memory limit exceeded: the plugin tried to grow past {limit_mib} MiB")]
    MemoryLimit { limit_mib: u64 },
    #[error("plugin trapped: {message}")]
    Trap { message: String },
    #[error("plugin broke the contract: {message}")]
    Contract { message: String },
}

impl Failure {
    /// A short name of the failure, for metrics: `deadline`, `memory`, `trap` or `contract`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Deadline { .. } => "deadline",
            Failure::MemoryLimit { .. } => "memory",
            Failure::Trap { .. } => "trap",
            Failure::Contract { .. } => "contract",
        }
    }

    /// Sorts a wasmtime error from a call into deadline, memory cap or other trap.
    pub fn classify(error: &wasmtime::Error, limits: &Limits) -> Failure {
        if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
            if *trap == wasmtime::Trap::Interrupt {
                return Failure::Deadline {
                    deadline_ms: limits.deadline_ms,
                };
            }
            // The trap itself ("wasm `unreachable` instruction executed", which is how a Rust
            // guest's panic ends); the wasm backtrace goes to the host log, not to quarantine.
            tracing::debug!("plugin trap: {error:?}");
            return Failure::Trap {
                message: trap.to_string(),
            };
        }
        let message = format!("{error:#}");
        if message.contains("forcing trap when growing memory") {
            return Failure::MemoryLimit {
                limit_mib: limits.memory_mib,
            };
        }
        let message = error.root_cause().to_string();
        Failure::Trap { message }
    }

    pub fn is_deadline(&self) -> bool {
        matches!(self, Failure::Deadline { .. })
    }

    /// A short label for metrics: `deadline`, `memory`, `trap` or `contract`.
    pub fn label(&self) -> &'static str {
        match self {
            Failure::Deadline { .. } => "deadline",
            Failure::MemoryLimit { .. } => "memory",
            Failure::Trap { .. } => "trap",
            Failure::Contract { .. } => "contract",
        }
    }
}
