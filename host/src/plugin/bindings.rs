//! Host bindings of `wit/weir-plugin.wit`, one module per world. The aggregate world reuses the
//! transform world's `types` and `host` interfaces so both share one `Record` and one log.

pub mod transform {
    wasmtime::component::bindgen!({
        world: "transform",
        path: "../wit",
        additional_derives: [PartialEq, Eq],
    });
}

pub mod aggregate {
    wasmtime::component::bindgen!({
        world: "aggregate",
        path: "../wit",
        with: {
            "weir:plugin/types": super::transform::weir::plugin::types,
            "weir:plugin/host": super::transform::weir::plugin::host,
        },
    });
}

pub use transform::weir::plugin::types::{BatchContext, Level, Outcome, Record, RecordBatch};
