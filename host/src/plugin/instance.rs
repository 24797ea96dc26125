//! A running instance of a plugin and the rules every call follows: set the deadline, call,
//! and on any failure throw the instance away so the next call starts clean.

use std::sync::Arc;

use wasmtime::Store;

use super::bindings::aggregate::Aggregate;
use super::bindings::transform::Transform;
use super::component::{Plugin, PluginPre};
use super::error::PluginError;
use super::failure::Failure;
use super::limits::Limits;
use super::log::PluginLog;
use super::sandbox::HostState;

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
    /// Instantiates the plugin and runs `init` with the stage config.
    pub(crate) fn instantiate(&self) -> Result<Instance, PluginError> {
        let name = self.plugin.name().to_string();
        let mut store = Store::new(self.plugin.engine(), HostState::new(&self.limits, self.log.clone()));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let started = |e: wasmtime::Error| PluginError::StartFailed {
            name: name.clone(),
            failure: Failure::classify(&e, &self.limits),
        };
        let exports = match self.plugin.pre() {
            PluginPre::Transform(pre) => Exports::Transform(pre.instantiate(&mut store).map_err(started)?),
            PluginPre::Aggregate(pre) => Exports::Aggregate(pre.instantiate(&mut store).map_err(started)?),
        };
        store.set_epoch_deadline(self.limits.deadline_ticks());
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

/// A stage's current instance, recreated after a failure.
pub(crate) struct InstanceSlot {
    pub(crate) spec: StageSpec,
    current: Option<Instance>,
}

impl InstanceSlot {
    /// Starts the first instance now, so a refused config or a broken plugin is reported before
    /// any record is processed.
    pub(crate) fn start(spec: StageSpec) -> Result<Self, PluginError> {
        let current = Some(spec.instantiate()?);
        Ok(InstanceSlot { spec, current })
    }

    /// Runs `f` on the live instance with a fresh deadline. A failure discards the instance.
    pub(crate) fn call<R>(
        &mut self,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, Failure> {
        let mut instance = match self.current.take() {
            Some(instance) => instance,
            None => self.spec.instantiate().map_err(|e| match e {
                PluginError::StartFailed { failure, .. } => failure,
                other => Failure::Trap {
                    message: other.to_string(),
                },
            })?,
        };
        instance.store.set_epoch_deadline(self.spec.limits.deadline_ticks());
        match f(&mut instance.store, &instance.exports) {
            Ok(result) => {
                self.current = Some(instance);
                Ok(result)
            }
            Err(e) => {
                let failure = Failure::classify(&e, &self.spec.limits);
                tracing::warn!(
                    plugin = self.spec.plugin.name(),
                    "plugin call failed, instance discarded: {failure}"
                );
                Err(failure)
            }
        }
    }
}
