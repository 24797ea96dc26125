//! The deploy files agree with each other and with the code: one image name, one metrics port,
//! the Kubernetes ConfigMaps' pipeline files equal to the repository's, only Deployments whose
//! pipelines have no `[[gold]]` table autoscaled, every
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
    let events = read("deploy/k8s/deployment-events.yaml");
    let service = read("deploy/k8s/service.yaml");
    let monitor = read("deploy/k8s/servicemonitor.yaml");
    let prometheus = read("deploy/prometheus.yml");

    let images: BTreeSet<String> = yaml_values(&compose, "image")
        .into_iter()
        .filter(|i| i.starts_with("weir"))
        .chain(yaml_values(&deployment, "image"))
        .chain(yaml_values(&events, "image"))
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
    for deployment in [&deployment, &events] {
        assert_eq!(yaml_values(deployment, "containerPort"), ["9464"]);
        assert!(deployment.contains(r#""--listen", "0.0.0.0:9464""#));
        assert_eq!(yaml_values(deployment, "path"), ["/healthz", "/readyz"]);
        assert!(yaml_values(deployment, "runAsUser").contains(&"10001".to_string()));
    }
    assert_eq!(yaml_values(&service, "port"), ["9464"]);
    assert_eq!(yaml_values(&service, "targetPort"), ["metrics"]);
    assert_eq!(yaml_values(&monitor, "port"), ["metrics"]);
}

/// The `pipeline.toml` that the ConfigMap `name` in `configmap` carries, as a file.
fn embedded_pipeline(configmap: &str, name: &str) -> String {
    let at = configmap
        .find(&format!("\n  name: {name}\n"))
        .unwrap_or_else(|| panic!("no ConfigMap {name}"));
    let key = "  pipeline.toml: |\n";
    let start = at + configmap[at..].find(key).unwrap() + key.len();
    let end = configmap[start..]
        .find("\n---")
        .map_or(configmap.len(), |e| start + e + 1);
    configmap[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect()
}

#[test]
fn the_configmap_carries_the_example_pipeline_and_every_variable_it_needs() {
    let configmap = read("deploy/k8s/configmap.yaml");
    let pipeline = read("pipelines/posts/pipeline.toml");
    let embedded = embedded_pipeline(&configmap, "weir-pipelines");
    assert_eq!(embedded, pipeline, "deploy/k8s/configmap.yaml's pipeline.toml differs");
    let events = embedded_pipeline(&configmap, "weir-pipelines-events");
    assert_eq!(
        events,
        read("pipelines/examples/events/pipeline.toml"),
        "deploy/k8s/configmap.yaml's events pipeline.toml differs"
    );

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

/// One Deployment of deploy/k8s: its name, replicas and the pipeline folder its `weir run`
/// runs (as the image lays pipelines/ out under /pipelines).
struct Deployment {
    name: String,
    replicas: u32,
    pipelines: String,
}

fn deployment(file: &str) -> Deployment {
    let text = read(file);
    let args = yaml_values(&text, "args").pop().unwrap();
    let folder = args
        .trim_end_matches(']')
        .rsplit(", ")
        .next()
        .unwrap()
        .trim_matches('"');
    Deployment {
        name: yaml_values(&text, "name")[0].clone(),
        replicas: yaml_values(&text, "replicas")[0].parse().unwrap(),
        pipelines: folder
            .strip_prefix("/pipelines")
            .unwrap()
            .trim_start_matches('/')
            .to_string(),
    }
}

/// Whether the pipeline files `weir run` would run from `folder` (of the repository's
/// pipelines/) have a `[[gold]]` table, and their names (their folders).
fn gold_and_names(folder: &str) -> (bool, Vec<String>) {
    let root = common::repo_root().join("pipelines").join(folder);
    let files = weir::config::discover(&root).unwrap();
    let gold = files.iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .any(|l| l.trim() == "[[gold]]")
    });
    let names = (files.iter())
        .map(|f| f.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    (gold, names)
}

/// The example pipeline with gold runs where nothing scales it (a writer and a standby); the
/// autoscaler scales a Deployment whose pipelines have no gold, on that pipeline's lag.
#[test]
fn only_deployments_without_gold_are_autoscaled() {
    let hpa = read("deploy/k8s/hpa.yaml");
    let target = hpa
        .split("scaleTargetRef:")
        .nth(1)
        .map(|rest| yaml_values(rest, "name")[0].clone())
        .unwrap();
    let lag_of = yaml_values(&hpa, "pipeline");
    let deployments = [
        deployment("deploy/k8s/deployment.yaml"),
        deployment("deploy/k8s/deployment-events.yaml"),
    ];
    let mut gold_runs = 0;
    for d in &deployments {
        let (gold, names) = gold_and_names(&d.pipelines);
        if gold {
            gold_runs += 1;
            assert_ne!(d.name, target, "hpa.yaml scales {}, which runs gold tables", d.name);
            assert!(d.replicas <= 2, "{}: a writer and a standby at most", d.name);
        } else if d.name == target {
            assert_eq!(lag_of, names, "the autoscaler reads the lag of what {} runs", d.name);
        }
    }
    assert_eq!(gold_runs, 1, "the posts pipeline (with gold) runs in one Deployment");
    assert!(
        deployments.iter().any(|d| d.name == target),
        "hpa.yaml scales {target}, which no Deployment here is"
    );
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
    let metrics = read("host/src/metrics.rs") + &read("host/src/upkeep/metrics.rs");
    let names = common::metric_names(&read("deploy/alerts.yml"));
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(
            metrics.contains(&format!("\"{name}\"")),
            "deploy/alerts.yml uses {name}, which host/src/metrics.rs and upkeep/metrics.rs do not register"
        );
    }
    run_script("scripts/check-alerts.sh");
}
