//! What one batch's answers may hold in the host. A plugin can hand back far more than its own
//! memory holds (one large reason per record, one call at a time), so the host keeps count per
//! batch: each call may copy out at most what is left (wasmtime's hostcall fuel), and the
//! answers it gave are counted once cut to size. Past the budget, calls fail with
//! [`Failure::Outputs`], and isolation fails the records that would not fit.

use super::bindings::Record;
use super::failure::Failure;
use super::limits::{Limits, MAX_REASON_BYTES};

/// The room left in one batch.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    left: usize,
    limit_mib: u64,
}

impl Room {
    pub fn new(limits: &Limits) -> Self {
        Room {
            left: limits.output_bytes(),
            limit_mib: limits.output_mib,
        }
    }

    /// Bytes the next call may still copy out of the plugin.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Counts one call's answers, or fails the call if they do not fit.
    pub fn take(&mut self, bytes: usize) -> Result<(), Failure> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(Failure::Outputs {
                limit_mib: self.limit_mib,
            }),
        }
    }
}

/// What an output record holds in the host.
pub fn record_bytes(record: &Record) -> usize {
    std::mem::size_of::<Record>() + record.value.len() + record.key.as_ref().map_or(0, Vec::len)
}

/// `reason` cut to [`MAX_REASON_BYTES`] (at a character boundary, ending in `…`).
pub fn cut_reason(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut cut = MAX_REASON_BYTES;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
        reason.shrink_to_fit();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_runs_out_with_a_reason() {
        let mut room = Room::new(&Limits {
            output_mib: 1,
            ..Limits::default()
        });
        assert_eq!(room.left(), 1 << 20);
        assert!(room.take(1 << 19).is_ok());
        assert!(room.take(1 << 19).is_ok());
        assert_eq!(room.take(1), Err(Failure::Outputs { limit_mib: 1 }));
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let reason = "é".repeat(MAX_REASON_BYTES);
        let cut = cut_reason(reason);
        assert!(cut.len() <= MAX_REASON_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(cut_reason("short".into()), "short");
    }
}
