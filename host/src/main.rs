//! The `weir` binary: parses the command line, sets up logging, and hands over to `weir::cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use weir::cli::plugin_new;
use weir::cli::plugin_test::{self, PluginTestArgs};
use weir::plugin::Limits;

#[derive(Debug, Parser)]
#[command(
    name = "weir",
    version,
    about = "Kafka to medallion lakehouse tables, with sandboxed WebAssembly plugins"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every pipeline under a folder until SIGTERM or Ctrl-C (then commit and leave the group).
    Run {
        /// A folder of pipelines (each in its own subfolder) or one pipeline's folder.
        #[arg(default_value = "pipelines")]
        path: PathBuf,
        /// Do not watch the folder: run what is there at start, ignore later changes.
        #[arg(long)]
        no_watch: bool,
        /// How long the folder must be quiet before a change is applied (so a file still being
        /// copied is never read).
        #[arg(long, default_value_t = 500, value_name = "MS")]
        reload_quiet_ms: u64,
        /// Where to serve /metrics, /healthz and /readyz (`off`: nowhere).
        #[arg(long, default_value = "0.0.0.0:9464", value_name = "ADDR")]
        listen: String,
        /// Serve the produce API (`POST /topics/{topic}`, Confluent REST Proxy v2) as this intake
        /// file says (brokers, topics that may be written, token, limits).
        #[arg(long, value_name = "FILE")]
        intake: Option<PathBuf>,
    },
    /// Produce batch files (CSV with a header line, or JSON lines; local or s3://) to a Kafka
    /// topic. Bad lines are reported with file and line and not produced; exit 1 if any.
    Ingest {
        /// The files (`s3://bucket/key` reads with the AWS_* variables).
        #[arg(required = true)]
        files: Vec<String>,
        /// The topic to produce to (it must exist).
        #[arg(long)]
        topic: String,
        /// `csv` or `jsonl` (default: from each file's name).
        #[arg(long, value_enum)]
        format: Option<weir::intake::lines::FileFormat>,
        /// The field whose value is each record's key (none: no key).
        #[arg(long, value_name = "FIELD")]
        key: Option<String>,
        /// Bootstrap servers.
        #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// A librdkafka producer property, e.g. `security.protocol=SASL_SSL` (repeat for more);
        /// `acks` and `enable.idempotence` are Weir's.
        #[arg(long, value_name = "KEY=VALUE")]
        property: Vec<String>,
    },
    /// Produce generated posts (the demo's dataset) to a Kafka topic, for trying pipelines out.
    Generate {
        /// Bootstrap servers.
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
        #[arg(long, default_value = "posts")]
        topic: String,
        /// Index of the first post (to continue an earlier run).
        #[arg(long, default_value_t = 0)]
        from: usize,
        /// How many posts.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// `json`, or `avro` (Confluent wire format; the schema is registered under
        /// `<topic>-value` at `--schema-registry`).
        #[arg(long, value_enum, default_value_t = GenerateFormat::Json)]
        format: GenerateFormat,
        /// The Schema Registry for `--format avro`.
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        schema_registry: String,
    },
    /// Check pipeline files and their plugins without running anything.
    Check {
        /// A folder of pipelines (each in its own subfolder) or one pipeline's folder.
        #[arg(default_value = "pipelines")]
        path: PathBuf,
    },
    /// Print silver's `columns = [...]` from a subject's latest schema in a Schema Registry.
    Columns {
        /// The subject, e.g. `orders-value`.
        #[arg(long)]
        subject: String,
        /// The Schema Registry (basic auth or a token from SCHEMA_REGISTRY_USER and
        /// SCHEMA_REGISTRY_PASSWORD, or SCHEMA_REGISTRY_TOKEN).
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        schema_registry: String,
        /// Protobuf: the message's full name (default: the file's first message).
        #[arg(long)]
        message: Option<String>,
    },
    /// Table upkeep for every table of every pipeline: compaction, snapshot expiry (Delta:
    /// checkpoint and log cleanup), orphan files (Delta: VACUUM), by each pipeline's `[upkeep]`.
    Maintain {
        /// A folder of pipelines (each in its own subfolder) or one pipeline's folder.
        #[arg(default_value = "pipelines")]
        path: PathBuf,
        #[command(flatten)]
        overrides: weir::cli::maintain::Overrides,
    },
    /// Run the example pipeline end to end on an embedded Kafka broker, into ./lakehouse.
    Demo {
        /// How many posts to generate.
        #[arg(long, default_value_t = 20_000)]
        records: usize,
        /// The pipelines folder holding `posts/`.
        #[arg(long, default_value = "pipelines")]
        pipelines: PathBuf,
        /// Where the tables go.
        #[arg(long, default_value = "lakehouse")]
        lakehouse: PathBuf,
    },
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a plugin on sample records (one JSON value per line) and print each verdict.
    Test {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        /// Records to feed it, one JSON document per line.
        #[arg(long)]
        input: PathBuf,
        /// The stage config, as JSON (pipeline.toml's `config` table).
        #[arg(long, default_value = "{}")]
        config: String,
        /// Records per plugin call.
        #[arg(long, default_value_t = 1024)]
        batch_size: usize,
        /// Deadline of one call, in milliseconds.
        #[arg(long, default_value_t = Limits::default().deadline_ms)]
        deadline_ms: u64,
        /// Memory cap of the plugin instance, in MiB.
        #[arg(long, default_value_t = Limits::default().memory_mib)]
        memory_mib: u64,
    },
    /// Write a working plugin skeleton in NAME/: its build file, its code and a sample input.
    /// Build it with `scripts/build-plugin.sh NAME`, try it with `weir plugin test`.
    New {
        /// The plugin's name (lowercase letters, digits and dashes), and its folder.
        name: String,
        /// Its language.
        #[arg(long, value_enum, default_value_t = plugin_new::Lang::Rust)]
        lang: plugin_new::Lang,
        /// The world it implements: a transform (validate, map, filter) or a gold aggregate.
        #[arg(long, value_enum, default_value_t = plugin_new::World::Transform)]
        world: plugin_new::World,
        /// The folder to create NAME/ in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Rust only: the Weir SDK folder (plugins/sdk of a checkout); found when run inside one.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

/// `KEY=VALUE` pairs as producer properties; Weir's own (acks, idempotence, brokers) refused.
fn producer_properties(pairs: &[String]) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut properties = std::collections::BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            anyhow::bail!("--property {pair}: write KEY=VALUE");
        };
        if weir::intake::producer::is_own_property(key) {
            anyhow::bail!("--property {key}: set by Weir (acks=all, idempotent, bounded wait; --brokers)");
        }
        properties.insert(key.trim().to_string(), value.to_string());
    }
    Ok(properties)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,weir=info,deltalake_core::writer::stats=error,buoyant_kernel::log_segment=off,buoyant_kernel::snapshot::builder=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// How `weir generate` encodes the posts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GenerateFormat {
    Json,
    Avro,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Demo {
            records,
            pipelines,
            lakehouse,
        } => runtime().and_then(|rt| {
            rt.block_on(weir::cli::demo::run(
                &pipelines,
                &lakehouse,
                records,
                &mut std::io::stdout(),
            ))
            .map(|_| ())
        }),
        Command::Ingest {
            files,
            topic,
            format,
            key,
            brokers,
            property,
        } => runtime().and_then(|rt| {
            let options = weir::intake::ingest::IngestOptions {
                files,
                topic,
                format,
                key,
                brokers,
                properties: producer_properties(&property)?,
            };
            let mut report = weir::intake::ingest::Report::default();
            let result = rt.block_on(weir::intake::ingest::ingest(&options, &mut report));
            // What was produced before a file stopped the run is said too.
            print!("{}", weir::intake::ingest::summary(&report, &options.topic));
            result?;
            anyhow::ensure!(report.ok(), "some lines were not produced (listed above)");
            Ok(())
        }),
        Command::Generate {
            brokers,
            topic,
            from,
            records,
            format,
            schema_registry,
        } => match format {
            GenerateFormat::Json => weir::cli::generate::json(&brokers, &topic, from..from + records),
            GenerateFormat::Avro => weir::cli::generate::avro(&brokers, &topic, from..from + records, &schema_registry),
        },
        Command::Run {
            path,
            no_watch,
            reload_quiet_ms,
            listen,
            intake,
        } => {
            let options = weir::reload::SupervisorOptions {
                watch: !no_watch,
                quiet: std::time::Duration::from_millis(reload_quiet_ms),
                allow_empty: false,
            };
            let listen = (listen != "off").then_some(listen.as_str());
            runtime().and_then(|rt| {
                rt.block_on(async {
                    let shutdown = weir::cli::run::shutdown_signal();
                    weir::cli::run::run(&path, options, listen, intake.as_deref(), shutdown).await
                })
            })
        }
        Command::Columns {
            subject,
            schema_registry,
            message,
        } => runtime().and_then(|rt| {
            let text = rt.block_on(weir::cli::columns::columns(
                &schema_registry,
                &subject,
                message.as_deref(),
            ))?;
            print!("{text}");
            Ok(())
        }),
        Command::Maintain { path, overrides } => runtime().and_then(|rt| {
            rt.block_on(weir::cli::maintain::run(
                &path,
                &overrides,
                &mut std::io::stdout().lock(),
            ))
        }),
        Command::Check { path } => match weir::cli::check::run(&path, &mut std::io::stdout().lock()) {
            Ok(0) => Ok(()),
            Ok(n) => Err(anyhow::anyhow!("{n} pipeline(s) failed the check")),
            Err(e) => Err(e),
        },
        Command::Plugin(PluginCommand::Test {
            plugin,
            input,
            config,
            batch_size,
            deadline_ms,
            memory_mib,
        }) => {
            let limits = Limits {
                deadline_ms,
                memory_mib,
                ..Limits::default()
            };
            let args = PluginTestArgs {
                plugin,
                input,
                config,
                limits,
                batch_size,
            };
            plugin_test::run(&args, &mut std::io::stdout().lock()).map(|_| ())
        }
        Command::Plugin(PluginCommand::New {
            name,
            lang,
            world,
            dir,
            sdk,
        }) => plugin_new::run(&plugin_new::NewPlugin {
            name,
            lang,
            world,
            parent: dir,
            sdk,
        })
        .map(|dir| {
            println!("wrote {}", dir.display());
            println!("build it: scripts/build-plugin.sh {}", dir.display());
            println!(
                "try it:   weir plugin test {}/{}.wasm --input {}/sample.jsonl",
                dir.display(),
                dir.file_name()
                    .map(|n| n.to_string_lossy().replace('-', "_"))
                    .unwrap_or_default(),
                dir.display()
            );
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose text the message before
/// it already holds (many errors show their source in their own text) is left out.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}
