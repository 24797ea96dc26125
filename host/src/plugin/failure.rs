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
    #[error(
        "output budget exceeded: this batch's answers passed the {limit_mib} MiB they may hold in the host (`output_mib`)"
    )]
    Outputs { limit_mib: u64 },
    /// The pipeline is stopping: the record is not answered, and is read again after a restart.
    #[error("stopped: the pipeline is shutting down")]
    Interrupted,
}

impl Failure {
    /// A short name of the failure, for metrics: `deadline`, `memory`, `trap`, `contract`,
    /// `outputs` or `interrupted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Deadline { .. } => "deadline",
            Failure::MemoryLimit { .. } => "memory",
            Failure::Trap { .. } => "trap",
            Failure::Contract { .. } => "contract",
            Failure::Outputs { .. } => "outputs",
            Failure::Interrupted => "interrupted",
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
        // wasmtime's hostcall fuel: the call tried to copy more out than its batch has room for.
        if message.contains("fuel allocated for hostcalls has been exhausted") {
            return Failure::Outputs {
                limit_mib: limits.output_mib,
            };
        }
        let message = error.root_cause().to_string();
        Failure::Trap { message }
    }

    pub fn is_deadline(&self) -> bool {
        matches!(self, Failure::Deadline { .. })
    }
}
