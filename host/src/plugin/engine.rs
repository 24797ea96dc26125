//! One wasmtime [`Engine`] per process, the [`Linker`] every plugin is instantiated with, and the
//! epoch ticker that enforces call deadlines.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, OptLevel};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;

use super::bindings::transform::weir::plugin::{host, types};
use super::cache::ComponentCache;
use super::error::PluginError;
use super::limits::EPOCH_TICK;
use super::sandbox::HostState;

/// The shared engine, linker and compile cache. Cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    linker: std::sync::Arc<Linker<HostState>>,
    cache: ComponentCache,
    /// Cancelled when the host stops: every plugin call in progress ends, `init`s included.
    stopping: CancellationToken,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl PluginEngine {
    /// Builds the engine, links WASI (deny-all, see `sandbox`) and the Weir host interface, and
    /// starts the epoch ticker. Compiled components are cached under `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed);
        // `WEIR_PROFILER=perfmap` writes /tmp/perf-<pid>.map, so `perf` can name plugin functions.
        if std::env::var("WEIR_PROFILER").as_deref() == Ok("perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(format!("{e:#}")))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        // The monotonic clock is ours: its waits end at the call's deadline (see `clock`).
        linker.allow_shadowing(true);
        monotonic_clock::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        linker.allow_shadowing(false);
        host::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;

        spawn_epoch_ticker(&engine);
        let cache = ComponentCache::new(cache_dir, &engine);
        Ok(PluginEngine {
            engine,
            linker: std::sync::Arc::new(linker),
            cache,
            stopping: CancellationToken::new(),
        })
    }

    /// Ends every plugin call in progress, and fails every later one: the host is stopping.
    pub fn stop_calls(&self) {
        self.stopping.cancel();
    }

    /// A new interrupt for one pipeline's calls: cancelled on its own, or with
    /// [`PluginEngine::stop_calls`].
    pub fn interrupt(&self) -> CancellationToken {
        self.stopping.child_token()
    }

    /// The cache folder used when none is configured: `$WEIR_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/weir/components`, else `~/.cache/weir/components`, else a temp folder.
    pub fn default_cache_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("WEIR_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("weir").join("components")
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    pub(crate) fn cache(&self) -> &ComponentCache {
        &self.cache
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped. Each tick runs
/// the epoch callback of every store in a call, which stops the call once its guard expires.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("weir-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        }
    });
    if let Err(e) = spawned {
        // Without a ticker no deadline would fire: make that loud rather than silent.
        tracing::error!("cannot start the epoch ticker thread, plugin deadlines are off: {e}");
    }
}

/// How long after its deadline a call may still run: one tick.
pub const DEADLINE_SLACK: Duration = EPOCH_TICK;
