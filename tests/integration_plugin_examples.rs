//! The example plugins, freshly built from plugins/examples, checked on fixed inputs through the
//! host's runner (the same path a pipeline takes).
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use common::{context, engine, fixture_lines, load, record, spec};
use serde_json::{Value, json};
use weir::plugin::{AggregateStage, GroupInput, Limits, Outputs, Record, TransformStage, Verdict};

fn validate_config() -> String {
    std::fs::read_to_string(common::repo_root().join("tests/fixtures/validate-config.json")).unwrap()
}

fn records(lines: &[String]) -> Vec<Record> {
    lines.iter().map(|l| record(l)).collect()
}

fn output_json(verdict: &Verdict<Outputs>) -> Value {
    match verdict {
        Verdict::Ok(Outputs::Records(outputs)) => {
            assert_eq!(outputs.len(), 1, "one output per accepted record");
            serde_json::from_str(&outputs[0].value).unwrap()
        }
        other => panic!("expected accepted, got {other:?}"),
    }
}

#[test]
fn validate_accepts_the_valid_posts_and_rejects_the_rest_with_reasons() {
    let (engine, _cache) = engine();
    let mut stage = TransformStage::start(spec(
        load(&engine, "weir-validate"),
        &validate_config(),
        Limits::default(),
    ))
    .expect("stage starts");
    let input = records(&fixture_lines("posts.jsonl"));
    let verdicts = stage.process(&input, context());
    assert_eq!(verdicts.len(), input.len());

    let expected: [Result<(), &str>; 10] = [
        Ok(()),
        Ok(()),
        Ok(()),
        Err("missing required field `id`"),
        Err("field `score` = -7 is below the minimum 0"),
        Err("field `score` must be integer, got string"),
        Err("value is not valid JSON for this stage"),
        Ok(()),
        Err("value must be a JSON object, got array"),
        Err("missing required field `author`"),
    ];
    for (i, (verdict, want)) in verdicts.iter().zip(expected).enumerate() {
        match (verdict, want) {
            (Verdict::Ok(out), Ok(())) => assert_eq!(out, &Outputs::Unchanged, "record {i} passes unchanged"),
            (Verdict::Rejected(reason), Err(prefix)) => {
                assert!(
                    reason.starts_with(prefix),
                    "record {i}: {reason:?} should start with {prefix:?}"
                )
            }
            (got, want) => panic!("record {i}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn normalize_snake_cases_keys_and_stamps_the_batch_time_and_version() {
    let (engine, _cache) = engine();
    let mut stage = TransformStage::start(spec(load(&engine, "weir-normalize"), "{}", Limits::default())).unwrap();
    let input = [record(
        r#"{"postId":"p1","createdUtc":1700000000,"authorInfo":{"displayName":"Ana"}}"#,
    )];
    let verdicts = stage.process(&input, context());
    assert_eq!(
        output_json(&verdicts[0]),
        json!({
            "post_id": "p1",
            "created_utc": 1700000000,
            "author_info": {"display_name": "Ana"},
            "_processed_at": "2023-11-14T22:13:20.000Z",
            "_plugin_version": "weir-normalize@0.1.0",
        })
    );
}

#[test]
fn dedup_key_is_stable_for_equal_fields_and_differs_otherwise() {
    let (engine, _cache) = engine();
    let config = r#"{"fields":["id","subreddit"]}"#;
    let mut stage = TransformStage::start(spec(load(&engine, "weir-dedup-key"), config, Limits::default())).unwrap();
    let input = [
        record(r#"{"id":"p1","subreddit":"rust","score":1}"#),
        record(r#"{"id":"p1","subreddit":"rust","score":99}"#),
        record(r#"{"id":"p1","subreddit":"golang","score":1}"#),
        record(r#"{"subreddit":"rust"}"#),
    ];
    let verdicts = stage.process(&input, context());
    let key = |i: usize| output_json(&verdicts[i])["dedup_key"].as_str().unwrap().to_string();
    assert_eq!(key(0), key(1));
    assert_ne!(key(0), key(2));
    assert_eq!(key(0).len(), 64);
    assert_eq!(verdicts[3], Verdict::Rejected("dedup field `id` is missing".into()));
}

#[test]
fn avg_score_matches_a_plain_computation_per_subreddit() {
    let (engine, _cache) = engine();
    let config = r#"{"group_by":"subreddit","field":"score"}"#;
    let mut stage = AggregateStage::start(spec(load(&engine, "weir-avg-score"), config, Limits::default())).unwrap();

    let posts: Vec<(String, i64)> = (0..300).map(|i| (format!("sub{}", i % 7), (i * 37) % 101)).collect();
    let input: Vec<Record> = posts
        .iter()
        .map(|(s, score)| record(&json!({"subreddit": s, "score": score}).to_string()))
        .collect();

    let keys = stage.keys(&input, &mut stage.allowance());
    let mut groups: std::collections::BTreeMap<String, Vec<Record>> = Default::default();
    for (verdict, rec) in keys.iter().zip(&input) {
        let Verdict::Ok(key) = verdict else {
            panic!("{verdict:?}")
        };
        groups.entry(key.clone()).or_default().push(rec.clone());
    }
    // Accumulate each group in two halves, then merge: the host's partial-state path.
    let halves = |first: bool| -> Vec<GroupInput> {
        groups
            .values()
            .map(|recs| {
                let mid = recs.len() / 2;
                let part = if first { &recs[..mid] } else { &recs[mid..] };
                GroupInput {
                    state: None,
                    records: part.to_vec(),
                }
            })
            .collect()
    };
    let ok = |v: Verdict<Vec<u8>>| match v {
        Verdict::Ok(bytes) => bytes,
        other => panic!("{other:?}"),
    };
    let left: Vec<Vec<u8>> = stage
        .accumulate(&halves(true), &mut stage.allowance())
        .into_iter()
        .map(ok)
        .collect();
    let right: Vec<Vec<u8>> = stage
        .accumulate(&halves(false), &mut stage.allowance())
        .into_iter()
        .map(ok)
        .collect();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = left.into_iter().zip(right).collect();
    let merged: Vec<Vec<u8>> = stage
        .merge(&pairs, &mut stage.allowance())
        .into_iter()
        .map(ok)
        .collect();
    let rows = stage.finish(&merged, &mut stage.allowance());

    for ((subreddit, _), row) in groups.iter().zip(rows) {
        let Verdict::Ok(row) = row else { panic!("{row:?}") };
        let row: Value = serde_json::from_str(&row).unwrap();
        let scores: Vec<i64> = posts.iter().filter(|(s, _)| s == subreddit).map(|(_, v)| *v).collect();
        let want = scores.iter().sum::<i64>() as f64 / scores.len() as f64;
        assert_eq!(row["post_count"], json!(scores.len()), "{subreddit}");
        assert!(
            (row["avg_score"].as_f64().unwrap() - want).abs() < 1e-9,
            "{subreddit}: {row} vs {want}"
        );
    }
    let missing = stage.keys(&[record(r#"{"score":1}"#)], &mut stage.allowance());
    assert_eq!(
        missing[0],
        Verdict::Rejected("group field `subreddit` is missing".into())
    );
}

#[test]
fn committed_example_components_load_and_agree_with_fresh_builds() {
    // pipelines/posts/*.wasm are what `weir demo` runs without a wasm toolchain: they must be
    // valid components of the right world that give the same verdicts as the fresh builds.
    let (engine, _cache) = engine();
    let input = records(&fixture_lines("posts.jsonl"));
    let committed = common::repo_root().join("pipelines/posts/validate.wasm");
    let committed = weir::plugin::Plugin::load_file(&engine, &committed).expect("committed validate.wasm loads");
    let mut old = TransformStage::start(spec(committed, &validate_config(), Limits::default())).unwrap();
    let mut new = TransformStage::start(spec(
        load(&engine, "weir-validate"),
        &validate_config(),
        Limits::default(),
    ))
    .unwrap();
    assert_eq!(old.process(&input, context()), new.process(&input, context()));
    for (file, kind) in [
        ("normalize", weir::plugin::PluginKind::Transform),
        ("dedup_key", weir::plugin::PluginKind::Transform),
        ("avg_score", weir::plugin::PluginKind::Aggregate),
    ] {
        let path = common::repo_root().join(format!("pipelines/posts/{file}.wasm"));
        let plugin = weir::plugin::Plugin::load_file(&engine, &path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(plugin.kind(), kind, "{file}");
    }
}
