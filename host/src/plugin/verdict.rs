//! The host's view of what became of one item of a batched call.

use super::failure::Failure;

/// The result for one input item: the plugin's answer, its refusal, or a failure the sandbox
/// caught (trap, deadline, memory cap) while isolating that item.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<T> {
    Ok(T),
    /// The plugin rejected the item with this reason.
    Rejected(String),
    /// The plugin failed on this item; it was isolated by splitting the batch.
    Failed(Failure),
}

impl<T> Verdict<T> {
    /// The reason to store in quarantine when the item did not pass.
    pub fn reason(&self) -> Option<String> {
        match self {
            Verdict::Ok(_) => None,
            Verdict::Rejected(reason) => Some(reason.clone()),
            Verdict::Failed(failure) => Some(failure.to_string()),
        }
    }
}

impl<T> From<Result<T, String>> for Verdict<T> {
    fn from(result: Result<T, String>) -> Self {
        match result {
            Ok(value) => Verdict::Ok(value),
            Err(reason) => Verdict::Rejected(reason),
        }
    }
}
