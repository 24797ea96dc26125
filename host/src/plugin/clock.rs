//! What ends a call, and the plugin's monotonic clock.
//!
//! Every call runs under a [`CallGuard`]: the instant it must end by and the pipeline's
//! interrupt. Guest code is stopped by the epoch callback (`instance`), which checks the guard
//! every tick. Host code is where epoch checks never run, and the only WASI call that can block
//! there is a wait on a clock (`std::thread::sleep`, `poll` with a timeout): so the plugin gets
//! this clock instead of WASI's. It reads the same, but every wait it hands out ends at the
//! call's deadline at the latest, and at once when the pipeline stops. After such a wait the
//! guest's next instruction meets the epoch check and the call ends as a deadline.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::sandbox::HostState;

/// The bounds of the call in progress.
#[derive(Debug, Clone)]
pub struct CallGuard {
    /// When the call must have returned.
    pub until: Instant,
    /// Cancelled when the pipeline stops: the call ends now, its records are not answered.
    pub interrupt: CancellationToken,
}

impl CallGuard {
    pub fn new(deadline: Duration, interrupt: &CancellationToken) -> Self {
        let now = Instant::now();
        CallGuard {
            until: now.checked_add(deadline).unwrap_or(now + Duration::from_secs(86_400)),
            interrupt: interrupt.clone(),
        }
    }

    /// True once the call must stop: its deadline passed or the pipeline is stopping.
    pub fn expired(&self) -> bool {
        self.interrupt.is_cancelled() || Instant::now() >= self.until
    }
}

/// A wait handed to the plugin: ready at `at` (never past the call's deadline) or when the
/// pipeline stops, whichever comes first.
struct BoundedWait {
    at: tokio::time::Instant,
    interrupt: CancellationToken,
}

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedWait {
    async fn ready(&mut self) {
        tokio::select! {
            () = tokio::time::sleep_until(self.at) => {}
            () = self.interrupt.cancelled() => {}
        }
    }
}

impl HostState {
    fn wait_until(&mut self, at: Option<Instant>) -> wasmtime::Result<Resource<DynPollable>> {
        let guard = self.guard();
        let at = at.map_or(guard.until, |at| at.min(guard.until));
        let wait = BoundedWait {
            at: tokio::time::Instant::from_std(at),
            interrupt: guard.interrupt.clone(),
        };
        let table = self.table();
        let resource = table.push(wait)?;
        subscribe(table, resource)
    }
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(u64::try_from(self.clock_base().elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        let at = self.clock_base().checked_add(Duration::from_nanos(when));
        self.wait_until(at)
    }

    fn subscribe_duration(&mut self, wait: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        self.wait_until(Instant::now().checked_add(Duration::from_nanos(wait)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_expires_at_its_deadline_or_when_interrupted() {
        let interrupt = CancellationToken::new();
        let guard = CallGuard::new(Duration::from_secs(60), &interrupt);
        assert!(!guard.expired());
        interrupt.cancel();
        assert!(guard.expired());
        let past = CallGuard::new(Duration::ZERO, &CancellationToken::new());
        assert!(past.expired());
        let forever = CallGuard::new(Duration::MAX, &CancellationToken::new());
        assert!(!forever.expired());
    }
}
