//! `weir check`, run as a user runs it, on the committed example pipelines and on broken copies.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::Path;
use std::process::Command;

fn check(path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["check", &path.display().to_string()])
        .env("WEIR_CACHE_DIR", std::env::temp_dir().join("weir-cli-test-cache"))
        .output()
        .expect("weir runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of pipelines/posts with `from` replaced by `to` in its pipeline.toml.
fn broken_copy(from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let posts = dir.path().join("posts");
    std::fs::create_dir(&posts).unwrap();
    let source = common::repo_root().join("pipelines/posts");
    for entry in std::fs::read_dir(&source).unwrap().flatten() {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(posts.join("pipeline.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(posts.join("pipeline.toml"), text.replacen(from, to, 1)).unwrap();
    dir
}

#[test]
fn the_committed_pipelines_pass() {
    let (code, stdout, stderr) = check(&common::repo_root().join("pipelines"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("ok: posts ("), "{stdout}");
}

#[test]
fn a_config_the_plugin_refuses_fails_the_check_and_names_the_stage() {
    let dir = broken_copy(
        "ranges = { score = { min = 0,",
        "ranges = { score = { min = 100, max = 1 }, other = { min = 0,",
    );
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        stdout.contains("stage `validate`") && stdout.contains("refused its config: range of `score`"),
        "{stdout}"
    );
}

#[test]
fn a_typo_fails_the_check_with_file_key_and_line() {
    let dir = broken_copy("group =", "groop =");
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        stdout.contains("posts/pipeline.toml:9:1: `source.groop`: unknown field `groop`"),
        "{stdout}"
    );
}
