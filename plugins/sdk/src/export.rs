//! The export macros: each generates the bindings of one WIT world inside the plugin crate (so a
//! component carries exactly the world it implements) and routes the host's calls to the trait.

/// Exports a [`Transform`](crate::Transform) implementation as a `weir:plugin/transform` component.
#[macro_export]
macro_rules! export_transform {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __weir_transform_export {
            #[allow(unused_imports)]
            use super::*;

            $crate::__weir_glue!($ty, "transform");

            struct Adapter;

            impl Guest for Adapter {
                fn init(config: String) -> Result<(), String> {
                    $crate::log::set_sink(log_sink);
                    $crate::runtime::init(&STAGE, config, <$ty as $crate::Transform>::init)
                }

                fn process(batch: types::RecordBatch, context: types::BatchContext) -> Vec<types::Outcome> {
                    let len = batch.value_ends.len();
                    let records = split(&batch);
                    let context = $crate::Context {
                        processing_time_ms: context.processing_time_ms,
                    };
                    $crate::runtime::process(&STAGE, records, len, &context, |outcome| match outcome {
                        $crate::Outcome::Pass => types::Outcome::Pass,
                        $crate::Outcome::Accepted(records) => {
                            types::Outcome::Accepted(records.into_iter().map(to_wit).collect())
                        }
                        $crate::Outcome::Rejected(reason) => types::Outcome::Rejected(reason),
                    })
                }
            }

            fn to_wit(r: $crate::Output) -> types::Record {
                types::Record {
                    key: r.key,
                    value: r.value,
                    timestamp_ms: r.timestamp_ms,
                }
            }

            export!(Adapter);
        }
    };
}

/// Exports an [`Aggregate`](crate::Aggregate) implementation as a `weir:plugin/aggregate` component.
#[macro_export]
macro_rules! export_aggregate {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __weir_aggregate_export {
            #[allow(unused_imports)]
            use super::*;

            $crate::__weir_glue!($ty, "aggregate");
            use $crate::Aggregate as _;

            struct Adapter;

            impl Guest for Adapter {
                fn init(config: String) -> Result<(), String> {
                    $crate::log::set_sink(log_sink);
                    $crate::runtime::init(&STAGE, config, <$ty as $crate::Aggregate>::init)
                }

                fn keys(batch: types::RecordBatch) -> Vec<Result<String, String>> {
                    let len = batch.value_ends.len();
                    $crate::runtime::with_aggregate(&STAGE, len, |stage| match split(&batch) {
                        Ok(records) => records.iter().map(|record| stage.key(record)).collect(),
                        Err(e) => (0..len).map(|_| Err(e.clone())).collect(),
                    })
                }

                fn accumulate(groups: Vec<Group>) -> Vec<Result<Vec<u8>, String>> {
                    $crate::runtime::with_aggregate(&STAGE, groups.len(), |stage| {
                        groups
                            .into_iter()
                            .map(|group| {
                                let records = split(&group.records)?;
                                stage.accumulate(group.state.as_deref(), &records)
                            })
                            .collect()
                    })
                }

                fn merge(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<Result<Vec<u8>, String>> {
                    $crate::runtime::with_aggregate(&STAGE, pairs.len(), |stage| {
                        pairs
                            .iter()
                            .map(|(left, right)| stage.merge(left, right))
                            .collect()
                    })
                }

                fn finish(states: Vec<Vec<u8>>) -> Vec<Result<String, String>> {
                    $crate::runtime::with_aggregate(&STAGE, states.len(), |stage| {
                        states
                            .iter()
                            .map(|state| $crate::runtime::finish_json(stage, state))
                            .collect()
                    })
                }
            }

            export!(Adapter);
        }
    };
}

/// What both export macros put in their module: the world's bindings, the stage slot, the batch
/// splitter and the bridge from [`crate::log`] to the generated `host.log` import.
#[doc(hidden)]
#[macro_export]
macro_rules! __weir_glue {
    ($ty:ty, $world:literal) => {
        $crate::__weir_wit!(__weir_bindings { world = $world });

        #[allow(unused_imports)]
        use self::weir::plugin::{host, types};

        ::std::thread_local! {
            static STAGE: ::std::cell::RefCell<::std::option::Option<$ty>> =
                const { ::std::cell::RefCell::new(None) };
        }

        fn split(batch: &types::RecordBatch) -> $crate::runtime::Batch<'_> {
            $crate::split_batch(&batch.values, &batch.value_ends, &batch.keys, &batch.key_ends, &batch.timestamps)
        }

        fn log_sink(level: $crate::log::Level, message: &str) {
            let level = match level {
                $crate::log::Level::Trace => types::Level::Trace,
                $crate::log::Level::Debug => types::Level::Debug,
                $crate::log::Level::Info => types::Level::Info,
                $crate::log::Level::Warn => types::Level::Warn,
                $crate::log::Level::Error => types::Level::Error,
            };
            host::log(level, message);
        }
    };
}
