//! The container image, built and run for real with podman (there is no Docker engine on these
//! machines; `scripts/setup-containers.sh` sets podman up with runc and a Debian 12 base image
//! made locally). The Dockerfile's runtime image is built around the `weir` binary this test
//! suite built (`--target prebuilt`) and runs as its non-root user with a read-only root
//! filesystem, on the host network, against tansu and SeaweedFS: `/readyz` turns 200, the tables
//! land exactly by the final commit SIGTERM makes (the pipeline would not commit before), and
//! the container exits 0.
//!
//! Where podman cannot run, `scripts/test.sh` says so in its output and sets
//! `WEIR_SKIP_CONTAINER_TEST` to the reason; the test then prints it and does nothing else.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pipeline::{copy_posts_pipeline, origins, rows, silver_ids, unique};
use common::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs, Tansu, free_port};
use weir::cli::demo;
use weir::config;
use weir::pipeline::Tables;

/// Runs `command`; its stdout, or a panic with its stderr.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// podman as `scripts/setup-containers.sh` set it up: its settings file and the base image.
struct Podman {
    conf: String,
    base_image: String,
}

impl Podman {
    fn setup() -> Podman {
        let out = run(&mut Command::new(
            common::repo_root().join("scripts/setup-containers.sh"),
        ));
        let value = |key: &str| {
            (out.lines())
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("setup-containers.sh printed no {key}: {out}"))
                .to_string()
        };
        Podman {
            conf: value("CONTAINERS_CONF"),
            base_image: value("WEIR_BASE_IMAGE"),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command.env("CONTAINERS_CONF", &self.conf);
        command
    }
}

/// The image and the container of one test run, removed on drop.
struct Container<'a> {
    podman: &'a Podman,
    image: String,
    name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.podman.command().args(["rm", "-f", &self.name]).output();
        let _ = self.podman.command().args(["rmi", "-f", &self.image]).output();
    }
}

/// Builds the runtime image around the test suite's `weir` (stripped) and the posts pipeline, in
/// a build context of its own. The pipeline commits after 10 minutes only: what lands, lands by
/// the final commit that SIGTERM makes.
fn build_image(podman: &Podman, context: &Path, tag: &str) {
    std::fs::copy(
        common::repo_root().join("deploy/Dockerfile"),
        context.join("Dockerfile"),
    )
    .unwrap();
    copy_posts_pipeline(
        &context.join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 600000")],
    );
    run(Command::new("strip")
        .arg("-o")
        .arg(context.join("weir"))
        .arg(env!("CARGO_BIN_EXE_weir")));
    run(podman
        .command()
        .args(["build", "--network=host", "--target", "prebuilt", "-t", tag])
        .arg(format!("--build-arg=RUNTIME_IMAGE={}", podman.base_image))
        .arg("-f")
        .arg(context.join("Dockerfile"))
        .arg(context));
}

/// The exit code `podman wait` reports once the container stopped, within `limit`.
fn exit_code(podman: &Podman, name: &str, limit: Duration) -> i32 {
    let started = Instant::now();
    loop {
        let state = run(podman
            .command()
            .args(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name]));
        if let Some(code) = state.strip_prefix("exited ") {
            return code.trim().parse().unwrap();
        }
        assert!(started.elapsed() < limit, "still {state} after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `weir_records_in_total` of the posts pipeline, from the container's `/metrics`.
fn records_in(port: u16) -> Option<f64> {
    let (_, text) = common::http_get(port, "/metrics")?;
    let line = text
        .lines()
        .find(|l| l.starts_with(r#"weir_records_in_total{pipeline="posts"}"#))?;
    line.rsplit_once(' ')?.1.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_its_user_on_a_read_only_root_and_lands_the_tables_exactly() {
    if let Ok(reason) = std::env::var("WEIR_SKIP_CONTAINER_TEST") {
        eprintln!("SKIPPED: the container test: podman cannot run here: {reason}");
        return;
    }
    let podman = Podman::setup();
    let work = tempfile::tempdir().unwrap();
    let tag = format!("localhost/weir:test-{}", std::process::id());
    let context = work.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    build_image(&podman, &context, &tag);
    let container = Container {
        podman: &podman,
        image: tag.clone(),
        name: format!("weir-test-{}", std::process::id()),
    };
    // What the image's user may write: the compile cache and the Iceberg catalog (SQLite here;
    // the tables are on S3). Everything else is read-only.
    let state: PathBuf = work.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    run(Command::new("chmod").arg("0777").arg(&state));

    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let s3 = SeaweedFs::start("lake");
    let port = free_port();
    let env = [
        ("KAFKA_BROKERS", tansu.brokers()),
        ("WEIR_LAKEHOUSE", "s3://lake".to_string()),
        ("S3_ENDPOINT", s3.endpoint()),
        (
            "ICEBERG_CATALOG_URI",
            "sqlite:///var/lib/weir/catalog.db?mode=rwc".to_string(),
        ),
        ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("POSTS_GROUP", "container".to_string()),
    ];
    let mut command = podman.command();
    command
        .args(["run", "-d", "--name", &container.name, "--read-only", "--network=host"])
        .arg(format!("--volume={}:/var/lib/weir", state.display()));
    for (key, value) in &env {
        command.arg(format!("--env={key}={value}"));
    }
    command.args([&tag, "run", "--listen", &format!("127.0.0.1:{port}"), "/pipelines"]);
    run(&mut command);
    let user = run(podman
        .command()
        .args(["inspect", "--format", "{{.Config.User}}", &container.name]));
    assert_eq!(user, "10001", "the image runs as its non-root user");

    let started = Instant::now();
    while common::http_get(port, "/readyz").map(|(status, _)| status) != Some(200) {
        let logs = || run(podman.command().args(["logs", &container.name]));
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "/readyz not 200: {}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let n = 2_000;
    demo::produce_to(&tansu.brokers(), "posts", 0..n).unwrap();
    let expected = demo::dataset(n);
    let vars = [
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("WEIR_LAKEHOUSE".to_string(), "s3://lake".to_string()),
        ("S3_ENDPOINT".to_string(), s3.endpoint()),
        (
            "ICEBERG_CATALOG_URI".to_string(),
            format!("sqlite://{}/catalog.db?mode=rwc", state.display()),
        ),
    ]
    .into();
    let posts = context.join("pipelines/posts/pipeline.toml");
    let mut pipeline = config::load(&posts, &config::from_map(&vars)).unwrap();
    pipeline.tables.s3.access_key_id = Some(S3_ACCESS_KEY.into());
    pipeline.tables.s3.secret_access_key = Some(S3_SECRET_KEY.into());
    pipeline.tables.s3.region = Some("us-east-1".into());
    // Every record read (and none committed yet), then SIGTERM.
    let started = Instant::now();
    while records_in(port) != Some(n as f64) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "read {:?} of {n}",
            records_in(port)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let tables = Tables::open(&pipeline).await.unwrap();
    assert_eq!(
        rows(&tables.bronze.read_all().await.unwrap()),
        0,
        "nothing committed before SIGTERM"
    );

    run(podman.command().args(["kill", "--signal", "TERM", &container.name]));
    let code = exit_code(&podman, &container.name, Duration::from_secs(60));
    let logs = run(podman.command().args(["logs", &container.name]));
    assert_eq!(code, 0, "SIGTERM: a final commit and exit 0: {logs}");

    let tables = Tables::open(&pipeline).await.unwrap();
    let bronze = tables.bronze.read_all().await.unwrap();
    let origins = origins(&bronze);
    assert_eq!((rows(&bronze), unique(&origins)), (n, n), "bronze: each record once");
    assert_eq!(origins.iter().map(|(p, _)| *p).collect::<HashSet<_>>().len(), 4);
    let ids = silver_ids(&tables.silver[0].read_all().await.unwrap());
    assert_eq!(
        (ids.len(), unique(&ids)),
        (expected.silver_rows(), expected.silver_rows())
    );
    let quarantine = tables.quarantine.read_all().await.unwrap();
    assert_eq!(
        rows(&quarantine),
        expected.invalid,
        "quarantine: exactly the invalid ones"
    );
}
