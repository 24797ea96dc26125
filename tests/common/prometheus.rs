//! Debian's Prometheus (`prometheus`, installed by scripts/setup-test-services.sh), started as a
//! local process that scrapes a `weir run` with the scrape config `deploy/` ships, and queried
//! through its HTTP API. Stopped on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::repo_root;
use super::services::free_port;

pub struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// `deploy/prometheus.yml` with its target moved to `127.0.0.1:<weir_port>` and its scrape
/// interval shortened to 1 s, beside a copy of `deploy/alerts.yml` (which it loads).
fn config_for(weir_port: u16, dir: &Path) -> std::path::PathBuf {
    let deploy = repo_root().join("deploy");
    let shipped = std::fs::read_to_string(deploy.join("prometheus.yml")).unwrap();
    for expected in [r#"targets: ["weir:9464"]"#, "scrape_interval: 5s"] {
        assert!(
            shipped.contains(expected),
            "deploy/prometheus.yml no longer has {expected}"
        );
    }
    let config = shipped
        .replace(r#"["weir:9464"]"#, &format!(r#"["127.0.0.1:{weir_port}"]"#))
        .replace("scrape_interval: 5s", "scrape_interval: 1s");
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    std::fs::copy(deploy.join("alerts.yml"), dir.join("alerts.yml")).unwrap();
    path
}

impl Prometheus {
    /// Checks the config with `promtool check config` and starts Prometheus on a free port.
    pub fn scraping(weir_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config_for(weir_port, dir.path());
        let check = Command::new("promtool")
            .args(["check", "config"])
            .arg(&config)
            .output()
            .expect("promtool (Debian's prometheus package; scripts/setup-test-services.sh installs it)");
        assert!(
            check.status.success(),
            "promtool check config: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package; scripts/setup-test-services.sh installs it)");
        Prometheus { child, port, _dir: dir }
    }

    /// The series an instant query returns (`data.result`), or None while Prometheus does not
    /// answer (it is starting) or the query fails.
    pub fn query(&self, expr: &str) -> Option<Vec<Value>> {
        let encoded: String = expr
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        // HTTP/1.0: the answer comes whole, not in chunks.
        write!(
            stream,
            "GET /api/v1/query?query={encoded} HTTP/1.0\r\nHost: localhost\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let body: Value = serde_json::from_str(response.split_once("\r\n\r\n")?.1).ok()?;
        (body["status"] == "success").then(|| body["data"]["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
