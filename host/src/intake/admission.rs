//! What the produce API holds at once: request bodies (KiB) and records not yet acknowledged.
//! A request takes its share before it is read or produced and keeps it until it is answered;
//! one that does not fit is refused (429) whole, so memory stays bounded however many clients
//! there are and however slow the broker is.

use std::sync::Arc;

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The two budgets.
pub struct Admission {
    body_kib: Arc<Semaphore>,
    records: Arc<Semaphore>,
}

/// A share of one budget, given back when dropped.
pub struct Share {
    _permit: OwnedSemaphorePermit,
    /// The gauge showing the budget's use, and what this share added to it.
    gauge: Option<(IntGauge, i64)>,
}

impl Drop for Share {
    fn drop(&mut self) {
        if let Some((gauge, n)) = &self.gauge {
            gauge.sub(*n);
        }
    }
}

impl Admission {
    pub fn new(body_kib: usize, records: usize) -> Self {
        Admission {
            body_kib: Arc::new(Semaphore::new(body_kib)),
            records: Arc::new(Semaphore::new(records)),
        }
    }

    /// Room for a body of `bytes`, or `None` when the budget has not that much left.
    pub fn body(&self, bytes: usize) -> Option<Share> {
        take(&self.body_kib, bytes.div_ceil(1024).max(1))
    }

    /// Room for `records` records in flight, or `None`. `gauge` shows the records held.
    pub fn records(&self, records: usize, gauge: &IntGauge) -> Option<Share> {
        let mut share = take(&self.records, records.max(1))?;
        gauge.add(records as i64);
        share.gauge = Some((gauge.clone(), records as i64));
        Some(share)
    }
}

fn take(semaphore: &Arc<Semaphore>, n: usize) -> Option<Share> {
    let n = u32::try_from(n).ok()?;
    let permit = semaphore.clone().try_acquire_many_owned(n).ok()?;
    Some(Share {
        _permit: permit,
        gauge: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_held_until_dropped() {
        let admission = Admission::new(10, 100);
        let first = admission.body(8 * 1024).unwrap();
        assert!(admission.body(3 * 1024).is_none(), "only 2 KiB left");
        assert!(admission.body(1).is_some());
        drop(first);
        assert!(admission.body(10 * 1024).is_some());
        let gauge = IntGauge::new("in_flight", "test").unwrap();
        let records = admission.records(100, &gauge).unwrap();
        assert_eq!(gauge.get(), 100);
        assert!(admission.records(1, &gauge).is_none());
        drop(records);
        assert_eq!(gauge.get(), 0);
        assert!(admission.records(1, &gauge).is_some());
    }
}
