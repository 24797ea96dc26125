//! Real services for integration tests, started as local processes on loopback and stopped on
//! drop: tansu (a Kafka-protocol broker). Installed by scripts/setup-test-services.sh; a test
//! that needs one fails, never skips, when it is missing.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (released before the service binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} did not open port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tansu broker with SQLite storage in a temp folder.
pub struct Tansu {
    child: Child,
    pub port: u16,
    binary: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tansu {
    pub fn start() -> Tansu {
        let binary = std::env::var_os("WEIR_TANSU").map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache/weir/tools/bin/tansu")
        });
        assert!(
            binary.is_file(),
            "{} is missing: run scripts/setup-test-services.sh",
            binary.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "tansu");
        Tansu {
            child,
            port,
            binary,
            _dir: dir,
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Freezes the broker (SIGSTOP): connections stay open and nothing answers, as in a
    /// network partition. Its in-memory data survives, unlike a restart.
    pub fn pause(&self) {
        signal(&self.child, "STOP");
    }

    /// Lets a paused broker run again (SIGCONT).
    pub fn resume(&self) {
        signal(&self.child, "CONT");
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new(&self.binary)
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .status()
            .unwrap();
        assert!(status.success(), "creating topic {topic}");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// A SeaweedFS server (`weed mini`) with an S3 endpoint and one bucket. It always opens its
/// master on 9333, so one runs at a time.
pub struct SeaweedFs {
    child: Child,
    pub port: u16,
    binary: PathBuf,
    dir: tempfile::TempDir,
}

/// Waits until SeaweedFS's fixed master and filer ports are free (a previous server is gone).
fn wait_for_seaweed_ports() {
    let started = Instant::now();
    while [9333, 8888]
        .iter()
        .any(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "SeaweedFS ports 9333/8888 still busy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `weed mini` on `port` with its data and S3 identities in `dir`.
fn spawn_seaweed(binary: &PathBuf, dir: &std::path::Path, port: u16) -> Child {
    let child = Command::new(binary)
        .arg("mini")
        .arg(format!("-dir={}", dir.join("data").display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", &format!("-s3.port={port}")])
        .arg(format!("-s3.config={}", dir.join("s3.json").display()))
        .args([
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "SeaweedFS S3");
    wait_for_port(9333, "SeaweedFS master");
    child
}

pub const S3_ACCESS_KEY: &str = "weir-test";
pub const S3_SECRET_KEY: &str = "weir-test-secret";

impl SeaweedFs {
    pub fn start(bucket: &str) -> SeaweedFs {
        let binary = std::env::var_os("WEIR_WEED").map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache/weir/tools/s3/bin/weed")
        });
        assert!(
            binary.is_file(),
            "{} is missing: run scripts/setup-test-services.sh",
            binary.display()
        );
        // The master and filer ports are fixed: wait until a previous test's server has let them go,
        // or this test would talk to a dying server.
        wait_for_seaweed_ports();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("s3.json");
        let identities = serde_json::json!({"identities": [{
            "name": "weir",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]});
        std::fs::write(&config, identities.to_string()).unwrap();
        let port = free_port();
        let child = spawn_seaweed(&binary, dir.path(), port);
        // Create the bucket through the admin shell (retried while the filer comes up).
        let started = Instant::now();
        loop {
            let mut shell = Command::new(&binary)
                .args(["shell", "-master=127.0.0.1:9333"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            let mut stdin = shell.stdin.take().unwrap();
            writeln!(stdin, "s3.bucket.create -name {bucket}").unwrap();
            drop(stdin);
            let out = shell.wait_with_output().unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("created bucket") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "cannot create bucket {bucket}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        SeaweedFs {
            child,
            port,
            binary,
            dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL), as an outage would; its data stays on disk.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        wait_for_seaweed_ports();
    }

    /// Starts the stopped server again on the same port and data.
    pub fn start_again(&mut self) {
        self.child = spawn_seaweed(&self.binary, self.dir.path(), self.port);
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
