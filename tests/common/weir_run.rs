//! `weir run` as a process, started as a user starts it: the one way the integration tests run
//! the host. Defaults: no HTTP endpoint, `WEIR_LOG=info`, stdout discarded, stderr inherited;
//! each test sets the broker, the lakehouse and whatever else its pipeline reads.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs};

/// A `weir run` command being put together.
pub struct WeirRun {
    /// Options before the subcommand (`--log-format json`).
    global: Vec<OsString>,
    /// Options of `run`, then the pipelines folder.
    run: Vec<OsString>,
    listen: String,
    env: Vec<(OsString, OsString)>,
    stderr: Option<Stdio>,
    pipelines: OsString,
}

impl WeirRun {
    /// `weir run <pipelines>`, reading from `brokers`.
    pub fn new(pipelines: &Path, brokers: &str) -> Self {
        WeirRun {
            global: Vec::new(),
            run: Vec::new(),
            listen: "off".into(),
            env: vec![
                ("KAFKA_BROKERS".into(), brokers.into()),
                ("WEIR_LOG".into(), "info".into()),
            ],
            stderr: None,
            pipelines: pipelines.into(),
        }
    }

    /// Tables under the local folder `lakehouse`, the plugin compile cache in `cache`.
    pub fn lake(self, lakehouse: &Path, cache: &Path) -> Self {
        self.env("WEIR_LAKEHOUSE", lakehouse).env("WEIR_CACHE_DIR", cache)
    }

    /// Tables on `s3` in bucket `lake`, their Iceberg catalog at `catalog_uri`.
    pub fn s3(self, s3: &SeaweedFs, catalog_uri: &str) -> Self {
        self.env("WEIR_LAKEHOUSE", "s3://lake")
            .env("S3_ENDPOINT", s3.endpoint())
            .env("ICEBERG_CATALOG_URI", catalog_uri)
            .s3_credentials()
    }

    /// The test S3 server's credentials and region.
    pub fn s3_credentials(self) -> Self {
        self.env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
    }

    /// `--listen <addr>` (`127.0.0.1:0` for any free port); `off` by default.
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = addr.to_string();
        self
    }

    /// An option before the subcommand (`--log-format json`).
    pub fn global(mut self, args: &[&str]) -> Self {
        self.global.extend(args.iter().map(OsString::from));
        self
    }

    /// An option of `run` (`--reload-quiet-ms 200`).
    pub fn run_args(mut self, args: &[&str]) -> Self {
        self.run.extend(args.iter().map(OsString::from));
        self
    }

    /// `WEIR_LOG` (a `tracing` filter).
    pub fn log(self, filter: &str) -> Self {
        self.env("WEIR_LOG", filter)
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        let key = OsString::from(key);
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    pub fn envs<K: AsRef<str>, V: Into<OsString>>(self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        vars.into_iter().fold(self, |run, (k, v)| run.env(k.as_ref(), v))
    }

    /// Where stderr (the log) goes.
    pub fn stderr(mut self, to: impl Into<Stdio>) -> Self {
        self.stderr = Some(to.into());
        self
    }

    /// The log into the file at `path` (created anew).
    pub fn log_to(self, path: &Path) -> Self {
        let file = std::fs::File::create(path).expect("log file");
        self.stderr(file)
    }

    pub fn spawn(self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(&self.global)
            .args(["run", "--listen", &self.listen])
            .args(&self.run)
            .arg(&self.pipelines)
            .envs(self.env)
            .stdout(Stdio::null())
            .stderr(self.stderr.unwrap_or_else(Stdio::inherit))
            .spawn()
            .expect("weir starts")
    }
}

/// A started `weir run` that is killed if the test fails before stopping it, so a failed test
/// leaves no host running against the next one's services.
pub struct Host(pub Child);

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
