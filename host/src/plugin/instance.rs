//! A running instance of a plugin and the rules every call follows: set the call's guard
//! (deadline, interrupt) and how much it may hand back, call, and on any failure throw the
//! instance away so the next call starts clean.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use wasmtime::{Store, UpdateDeadline};

use super::bindings::aggregate::Aggregate;
use super::bindings::transform::Transform;
use super::clock::CallGuard;
use super::component::{Plugin, PluginPre};
use super::error::PluginError;
use super::failure::Failure;
use super::limits::Limits;
use super::log::PluginLog;
use super::sandbox::HostState;

/// The least a call may copy out of the plugin (wasmtime's hostcall fuel), however little of its
/// batch's budget is left: enough for the answer list of a batch and a log line.
const MIN_COPY: usize = 256 << 10;

/// The exports of an instance, by world.
pub(crate) enum Exports {
    Transform(Transform),
    Aggregate(Aggregate),
}

/// One live instance: its store (memory, limits, WASI context) and its exports.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    pub(crate) exports: Exports,
}

/// Everything needed to (re)create instances of one stage's plugin.
#[derive(Debug, Clone)]
pub struct StageSpec {
    pub plugin: Arc<Plugin>,
    /// The stage's config as JSON text, passed to `init`.
    pub config: String,
    pub limits: Limits,
    pub log: Arc<PluginLog>,
}

impl StageSpec {
    /// The one way a plugin is set up to start, for `weir run`, `weir check`, `weir plugin
    /// test` and hot reload alike: `plugin` with its `init` config (JSON text) and limits; its
    /// log lines go out as `log_name` (`pipeline/stage`, or the file for `weir plugin test`).
    pub fn new(plugin: Arc<Plugin>, log_name: String, config: String, limits: Limits) -> Self {
        let log = PluginLog::new(log_name, limits.max_log_line);
        StageSpec {
            plugin,
            config,
            limits,
            log,
        }
    }

    /// Instantiates the plugin and runs `init` with the stage config, each under the deadline.
    pub(crate) fn instantiate(&self, interrupt: &CancellationToken) -> Result<Instance, PluginError> {
        let name = self.plugin.name().to_string();
        let mut store = Store::new(self.plugin.engine(), HostState::new(&self.limits, self.log.clone()));
        store.limiter(|state| &mut state.limits);
        // Checked every epoch tick while guest code runs: stop once the call's guard expires.
        store.epoch_deadline_callback(|store| {
            Ok(match store.data().guard().expired() {
                true => UpdateDeadline::Interrupt,
                false => UpdateDeadline::Continue(1),
            })
        });
        let started = |e: wasmtime::Error| PluginError::StartFailed {
            name: name.clone(),
            failure: failure_of(&e, &self.limits, interrupt),
        };
        guard(&mut store, &self.limits, interrupt, MIN_COPY);
        let exports = match self.plugin.pre() {
            PluginPre::Transform(pre) => Exports::Transform(pre.instantiate(&mut store).map_err(started)?),
            PluginPre::Aggregate(pre) => Exports::Aggregate(pre.instantiate(&mut store).map_err(started)?),
        };
        guard(&mut store, &self.limits, interrupt, MIN_COPY);
        let refused = match &exports {
            Exports::Transform(t) => t.call_init(&mut store, &self.config),
            Exports::Aggregate(a) => a.call_init(&mut store, &self.config),
        }
        .map_err(started)?;
        refused.map_err(|message| PluginError::ConfigRefused {
            name: name.clone(),
            message,
        })?;
        Ok(Instance { store, exports })
    }
}

/// Arms `store` for one call: a fresh deadline, the interrupt, and at most `copy` bytes to copy
/// out of the plugin.
fn guard(store: &mut Store<HostState>, limits: &Limits, interrupt: &CancellationToken, copy: usize) {
    store.data_mut().set_guard(CallGuard::new(limits.deadline(), interrupt));
    store.set_epoch_deadline(1);
    store.set_hostcall_fuel(copy.max(MIN_COPY));
}

/// What a failed call's error means, given why the call may have been stopped.
fn failure_of(error: &wasmtime::Error, limits: &Limits, interrupt: &CancellationToken) -> Failure {
    match Failure::classify(error, limits) {
        Failure::Deadline { .. } if interrupt.is_cancelled() => Failure::Interrupted,
        failure => failure,
    }
}

/// A stage's current instance, recreated after a failure.
pub(crate) struct InstanceSlot {
    pub(crate) spec: StageSpec,
    current: Option<Instance>,
    interrupt: CancellationToken,
}

impl InstanceSlot {
    /// Starts the first instance now, so a refused config or a broken plugin is reported before
    /// any record is processed.
    pub(crate) fn start(spec: StageSpec) -> Result<Self, PluginError> {
        let interrupt = spec.plugin.interrupt();
        let current = Some(spec.instantiate(&interrupt)?);
        Ok(InstanceSlot {
            spec,
            current,
            interrupt,
        })
    }

    /// Another slot of the same spec, for a parallel worker: its instance is created (and
    /// `init` run) at its first call, on the worker's thread; its log counts its own calls.
    pub(crate) fn replica(&self) -> Self {
        let mut spec = self.spec.clone();
        spec.log = self.spec.log.sibling();
        InstanceSlot {
            spec,
            current: None,
            interrupt: self.interrupt.clone(),
        }
    }

    /// From now on, calls end (and new ones fail at once) when `interrupt` is cancelled.
    pub(crate) fn interrupt_on(&mut self, interrupt: CancellationToken) {
        self.interrupt = interrupt;
    }

    /// Runs `f` on the live instance with a fresh deadline, copying at most `copy` bytes out of
    /// the plugin. A failure discards the instance.
    pub(crate) fn call<R>(
        &mut self,
        copy: usize,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, Failure> {
        if self.interrupt.is_cancelled() {
            return Err(Failure::Interrupted);
        }
        let mut instance = match self.current.take() {
            Some(instance) => instance,
            None => self.spec.instantiate(&self.interrupt).map_err(|e| match e {
                PluginError::StartFailed { failure, .. } => failure,
                other => Failure::Trap {
                    message: other.to_string(),
                },
            })?,
        };
        guard(&mut instance.store, &self.spec.limits, &self.interrupt, copy);
        self.spec.log.begin_call();
        let result = f(&mut instance.store, &instance.exports);
        self.spec.log.end_call();
        match result {
            Ok(result) => {
                self.current = Some(instance);
                Ok(result)
            }
            Err(e) => {
                let failure = failure_of(&e, &self.spec.limits, &self.interrupt);
                if failure != Failure::Interrupted {
                    tracing::warn!(
                        plugin = self.spec.plugin.name(),
                        "plugin call failed, instance discarded: {failure}"
                    );
                }
                Err(failure)
            }
        }
    }
}
