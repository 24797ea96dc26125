//! The transform stages of a running pipeline, and how reloaded ones are handed over: a stage is
//! started (compiled, instantiated, `init`ed) away from the data path and swapped in between two
//! batches, so the data path only ever pauses to move a pointer.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crate::config::Stage;
use crate::gold::GoldAggregator;
use crate::plugin::{Plugin, PluginEngine, PluginError, StageSpec, TransformStage};

/// One started transform stage.
pub struct RunningStage {
    pub name: String,
    /// The content hash of the plugin file it runs (lineage).
    pub sha256: String,
    pub stage: TransformStage,
}

impl std::fmt::Debug for RunningStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningStage")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl RunningStage {
    /// The same stage for another worker (see [`TransformStage::replica`]).
    pub fn replica(&self) -> Self {
        RunningStage {
            name: self.name.clone(),
            sha256: self.sha256.clone(),
            stage: self.stage.replica(),
        }
    }

    /// Loads the stage's plugin file and starts it: instantiation and `init` happen here, so
    /// every error (not wasm, wrong world, refused config, a trap in `init`) surfaces now.
    pub fn start(pipeline: &str, stage: &Stage, engine: &PluginEngine) -> Result<Self, PluginError> {
        let plugin = Plugin::load_file(engine, &stage.plugin)?;
        Self::start_plugin(pipeline, stage, plugin)
    }

    /// Starts `stage` with an already loaded plugin (a transform: another world is refused).
    pub fn start_plugin(pipeline: &str, stage: &Stage, plugin: Arc<Plugin>) -> Result<Self, PluginError> {
        let sha256 = plugin.sha256().to_string();
        let log_name = format!("{pipeline}/{}", stage.name);
        let spec = StageSpec::new(plugin, log_name, stage.config.clone(), stage.limits);
        Ok(RunningStage {
            name: stage.name.clone(),
            sha256,
            stage: TransformStage::start(spec)?,
        })
    }
}

/// A pipeline's started plugins: its transform stages and its gold aggregates, in order.
#[derive(Debug, Default)]
pub struct Started {
    pub stages: Vec<RunningStage>,
    pub gold: Vec<GoldAggregator>,
}

/// Started stages to put in place of the running ones at these positions, all at once; and
/// started gold aggregates, which take over their predecessor's open windows if they can read
/// their state (else the predecessor keeps running).
#[derive(Debug, Default)]
pub struct StageSwap {
    pub stages: Vec<(usize, RunningStage)>,
    pub gold: Vec<(usize, GoldAggregator)>,
}

/// The supervisor's end: hands prepared stages to a running pipeline.
#[derive(Debug, Clone)]
pub struct SwapSender(Sender<StageSwap>);

impl SwapSender {
    /// Queues `swap` for the pipeline's next batch boundary. False if the pipeline has stopped.
    pub fn send(&self, swap: StageSwap) -> bool {
        self.0.send(swap).is_ok()
    }
}

/// The pipeline's end, polled between batches.
#[derive(Debug)]
pub struct SwapReceiver(Receiver<StageSwap>);

/// A connected pair.
pub fn swap_channel() -> (SwapSender, SwapReceiver) {
    let (tx, rx) = std::sync::mpsc::channel();
    (SwapSender(tx), SwapReceiver(rx))
}

/// What one swap did.
#[derive(Debug, Clone, PartialEq)]
pub struct Swapped {
    /// (stage, old sha256, new sha256) for each stage replaced.
    pub stages: Vec<(String, String, String)>,
    /// (gold, new sha256, why it was refused) for each gold aggregate that could not take over.
    pub refused: Vec<(String, String, String)>,
    /// How long the data path was held up.
    pub pause: Duration,
}

impl SwapReceiver {
    /// Puts every queued swap in place in `stages` and `gold`. The replaced ones are dropped on
    /// a blocking thread: freeing an instance's memory is not the data path's business.
    pub fn apply(&self, stages: &mut [RunningStage], gold: &mut [&mut GoldAggregator]) -> Vec<Swapped> {
        let mut done = Vec::new();
        loop {
            let swap = match self.0.try_recv() {
                Ok(swap) => swap,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return done,
            };
            let started = Instant::now();
            let mut retired = Vec::with_capacity(swap.stages.len());
            let mut changed = Vec::with_capacity(swap.stages.len());
            for (index, stage) in swap.stages {
                let Some(slot) = stages.get_mut(index) else {
                    continue;
                };
                let old = std::mem::replace(slot, stage);
                changed.push((old.name.clone(), old.sha256.clone(), slot.sha256.clone()));
                retired.push(old);
            }
            let mut refused = Vec::new();
            let mut retired_gold = Vec::new();
            for (index, mut new) in swap.gold {
                let Some(slot) = gold.get_mut(index) else {
                    continue;
                };
                match new.take_over(slot) {
                    Ok(()) => {
                        let old = std::mem::replace(&mut **slot, new);
                        changed.push((
                            old.gold().name.clone(),
                            old.sha256().to_string(),
                            slot.sha256().to_string(),
                        ));
                        retired_gold.push(old);
                    }
                    Err(e) => {
                        refused.push((new.gold().name.clone(), new.sha256().to_string(), e.to_string()));
                        retired_gold.push(new);
                    }
                }
            }
            retire(retired);
            retire(retired_gold);
            done.push(Swapped {
                stages: changed,
                refused,
                pause: started.elapsed(),
            });
        }
    }
}

/// Drops stages away from the caller (on tokio's blocking pool when inside a runtime).
pub(super) fn retire<T: Send + 'static>(stages: Vec<T>) {
    if stages.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(move || drop(stages));
        }
        Err(_) => drop(stages),
    }
}
