//! The per-instance host state: a deny-all WASI context (no preopened directories, no
//! environment, no arguments, no sockets or name lookup), the memory limiter, the log, and the
//! guard of the call in progress (see `clock`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::Level;
use super::bindings::transform::weir::plugin::host;
use super::clock::CallGuard;
use super::limits::Limits;
use super::log::{LogPipe, LogSource, PluginLog};

/// What one plugin instance's store holds.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    log: Arc<PluginLog>,
    guard: CallGuard,
    /// Zero of the plugin's monotonic clock.
    clock_base: Instant,
}

impl HostState {
    pub fn new(limits: &Limits, log: Arc<PluginLog>) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        // Nothing is inherited: no env, args, preopens or network. Clocks and random stay, as
        // `std` needs them (hash maps) and they reveal nothing of the host.
        wasi.stdout(LogPipe::new(log.clone(), LogSource::Stdout))
            .stderr(LogPipe::new(log.clone(), LogSource::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes())
            .memories(4)
            .tables(16)
            .table_elements(1 << 20)
            .instances(64)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits,
            log,
            guard: CallGuard::new(Duration::ZERO, &CancellationToken::new()),
            clock_base: Instant::now(),
        }
    }

    /// The bounds of the call in progress.
    pub(crate) fn guard(&self) -> &CallGuard {
        &self.guard
    }

    /// Sets the bounds of the next call.
    pub(crate) fn set_guard(&mut self, guard: CallGuard) {
        self.guard = guard;
    }

    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(crate) fn clock_base(&self) -> Instant {
        self.clock_base
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        self.log.line(LogSource::Host(level), &message);
    }
}

impl super::bindings::transform::weir::plugin::types::Host for HostState {}
