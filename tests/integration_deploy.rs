//! The deploy files agree with each other and with the code: one image name, one metrics port,
//! the Kubernetes ConfigMap's pipeline file equal to `pipelines/posts/pipeline.toml`, every
//! `${VAR}` the example pipeline needs set by compose and Kubernetes, the Grafana dashboard on
//! the provisioned data source, the alerting rules passing promtool on metrics Weir exports.
//! (That the dashboard's and the autoscaler's metrics exist in a real `/metrics` is checked by
//! `integration_ops`, which scrapes one.)
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::BTreeSet;
use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(common::repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The values of every `key: value` line (YAML, trimmed, quotes dropped) for `key`.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().trim_start_matches("- ").strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn one_image_and_one_metrics_port_everywhere() {
    let dockerfile = read("deploy/Dockerfile");
    let compose = read("deploy/docker-compose.yml");
    let deployment = read("deploy/k8s/deployment.yaml");
    let service = read("deploy/k8s/service.yaml");
    let monitor = read("deploy/k8s/servicemonitor.yaml");
    let prometheus = read("deploy/prometheus.yml");

    let images: BTreeSet<String> = yaml_values(&compose, "image")
        .into_iter()
        .filter(|i| i.starts_with("weir"))
        .chain(yaml_values(&deployment, "image"))
        .collect();
    assert_eq!(images, BTreeSet::from(["weir:latest".to_string()]));
    assert!(compose.contains("dockerfile: deploy/Dockerfile"));

    // The port `weir run` listens on by default is the one everything else uses.
    let help = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 0.0.0.0:9464]"), "{help}");
    assert!(dockerfile.contains("EXPOSE 9464"));
    assert!(dockerfile.contains(r#""--listen", "0.0.0.0:9464""#));
    assert!(dockerfile.contains("USER 10001"), "the image runs as a non-root user");
    assert!(compose.contains(r#"- "9464:9464""#));
    assert!(compose.contains(r#""--listen", "0.0.0.0:9464""#));
    assert!(prometheus.contains(r#"targets: ["weir:9464"]"#));
    assert_eq!(yaml_values(&deployment, "containerPort"), ["9464"]);
    assert!(deployment.contains(r#""--listen", "0.0.0.0:9464""#));
    assert_eq!(yaml_values(&service, "port"), ["9464"]);
    assert_eq!(yaml_values(&service, "targetPort"), ["metrics"]);
    assert_eq!(yaml_values(&monitor, "port"), ["metrics"]);
    assert_eq!(yaml_values(&deployment, "path"), ["/healthz", "/readyz"]);
    assert!(yaml_values(&deployment, "runAsUser").contains(&"10001".to_string()));
}

#[test]
fn the_configmap_carries_the_example_pipeline_and_every_variable_it_needs() {
    let configmap = read("deploy/k8s/configmap.yaml");
    let pipeline = read("pipelines/posts/pipeline.toml");
    let start = configmap.find("  pipeline.toml: |\n").unwrap() + "  pipeline.toml: |\n".len();
    let end = configmap[start..]
        .find("\n---")
        .map_or(configmap.len(), |e| start + e + 1);
    let embedded: String = configmap[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    assert_eq!(embedded, pipeline, "deploy/k8s/configmap.yaml's pipeline.toml differs");

    // The variables a deployment must set: those S3 tables need (the rest have defaults that
    // fit a local run only).
    let compose = read("deploy/docker-compose.yml");
    for var in ["KAFKA_BROKERS", "WEIR_LAKEHOUSE", "S3_ENDPOINT", "ICEBERG_CATALOG_URI"] {
        assert!(pipeline.contains(&format!("${{{var}")), "{var} is used by the pipeline");
        assert!(compose.contains(&format!("{var}: ")), "compose sets {var}");
        assert!(configmap.contains(&format!("  {var}: \"")), "the ConfigMap sets {var}");
    }
    let secret = read("deploy/k8s/secret.example.yaml");
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        assert!(secret.contains(&format!("  {var}: ")), "the Secret example has {var}");
        assert!(compose.contains(&format!("{var}: ")), "compose sets {var}");
    }
    assert!(read("deploy/k8s/deployment.yaml").contains("name: weir-s3"));
}

#[test]
fn the_dashboard_uses_the_provisioned_datasource_and_weir_metrics() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana/dashboards/weir.json")).unwrap();
    let datasource = read("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(yaml_values(&datasource, "uid"), ["prometheus"]);
    assert_eq!(yaml_values(&datasource, "url"), ["http://prometheus:9090"]);
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels.iter().map(|p| p["title"].as_str().unwrap()).collect();
    for topic in [
        "Throughput",
        "Rejected",
        "Plugin call latency",
        "Consumer lag",
        "Commit latency",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(topic)),
            "a panel on {topic}: {titles:?}"
        );
    }
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "prometheus", "{}", panel["title"]);
        assert!(!panel["targets"].as_array().unwrap().is_empty());
    }
    let provider = read("deploy/grafana/provisioning/dashboards/weir.yml");
    assert_eq!(yaml_values(&provider, "path"), ["/var/lib/grafana/dashboards"]);
    assert!(read("deploy/docker-compose.yml").contains("./grafana/dashboards:/var/lib/grafana/dashboards:ro"));
    let names = common::metric_names(&dashboard.to_string());
    assert!(names.len() >= 5, "{names:?}");
}

/// Runs `script` from the repository root; on failure, panics showing its stdout and stderr.
fn run_script(script: &str) {
    let output = Command::new("bash")
        .arg(script)
        .current_dir(common::repo_root())
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `promtool check rules`, `test rules` (each alert fires in deploy/alerts.test.yml, and stays
/// quiet where it should) and `check config` pass, the Operator's PrometheusRule holds the same
/// rules, and every metric the rules use is one Weir registers.
#[test]
fn alert_rules_pass_promtool() {
    let metrics = read("host/src/metrics.rs");
    let names = common::metric_names(&read("deploy/alerts.yml"));
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(
            metrics.contains(&format!("\"{name}\"")),
            "deploy/alerts.yml uses {name}, which host/src/metrics.rs does not register"
        );
    }
    run_script("scripts/check-alerts.sh");
}
