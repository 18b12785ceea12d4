//! The YAML reader against Kubernetes' (issue 12, item 4). `fixtures/yaml-differential` holds
//! tricky documents, each with what kubectl read from it (`<case>.kubectl.json`, or
//! `<case>.kubectl-error`), written by `tests/yaml_differential.sh --update`; a case we refuse
//! has `<case>.refused` with the expected code. These tests need no kubectl.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use supplygate::manifest::{yaml, Limits, ManifestError, Origin};

use crate::common;
use common::Outcome;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/yaml-differential")
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".yaml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Numbers compared by value (kubectl prints `1000` where we hold `1000.0`).
fn normalise(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(items) => items.iter().map(normalise).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), normalise(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

fn read(case: &str) -> Result<Vec<yaml::Document>, ManifestError> {
    let text = std::fs::read_to_string(corpus().join(format!("{case}.yaml"))).unwrap();
    let origin = Arc::new(Origin::File(format!("{case}.yaml").into()));
    yaml::parse_documents(&text, &origin, &Limits::default())
}

fn code(e: &ManifestError) -> &'static str {
    match e {
        ManifestError::Ambiguous { .. } => "ambiguous-yaml",
        _ => "invalid-manifest",
    }
}

#[test]
fn reads_what_kubectl_reads_or_refuses() {
    let cases = cases();
    assert!(cases.len() >= 20, "{cases:?}");
    for case in &cases {
        let dir = corpus();
        let refused = std::fs::read_to_string(dir.join(format!("{case}.refused"))).ok();
        let kubectl = std::fs::read_to_string(dir.join(format!("{case}.kubectl.json"))).ok();
        let kubectl_refused = dir.join(format!("{case}.kubectl-error")).exists();
        assert!(
            kubectl.is_some() != kubectl_refused,
            "{case}: exactly one of .kubectl.json and .kubectl-error"
        );
        match (read(case), refused) {
            (Err(e), Some(expected)) => assert_eq!(code(&e), expected.trim(), "{case}: {e}"),
            (Err(e), None) => panic!("{case}: refused ({e}) but kubectl reads it"),
            (Ok(_), Some(expected)) => panic!("{case}: read, expected a refusal ({expected})"),
            (Ok(docs), None) => {
                // Never read what kubectl refuses: a third outcome.
                let kubectl = kubectl.unwrap_or_else(|| panic!("{case}: kubectl refuses it"));
                let expected: Value = serde_json::from_str(&kubectl).unwrap();
                let ours = docs.last().unwrap().root.to_json();
                assert_eq!(normalise(&ours), normalise(&expected), "{case}");
            }
        }
    }
}

/// The four tricks of issue 12 (and two found while establishing what kubectl reads: the
/// merge order, and `?key` in a flow mapping, found by `fuzz/yaml_pyyaml.py`): kubectl reads `registry.example/evil:1` (or `null`) where the gate would have seen
/// the signed image or nothing.
const TRICKS: [&str; 8] = [
    "ls-in-comment",
    "ps-in-comment",
    "nel-in-comment",
    "binary-key",
    "tagged-quoted-merge-key",
    "str-null",
    "merge-after-explicit-key",
    "question-mark-key-in-flow",
];

#[test]
fn kubectl_reads_another_image_from_each_trick() {
    for case in TRICKS {
        let kubectl = std::fs::read_to_string(corpus().join(format!("{case}.kubectl.json")))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let json: Value = serde_json::from_str(&kubectl).unwrap();
        let image = json["spec"]["containers"][0]["image"].as_str().unwrap();
        assert!(
            image == "registry.example/evil:1" || image == "null",
            "{case}: {image}"
        );
    }
}

fn supplygate(dir: &Path, args: &[&str]) -> Outcome {
    Outcome::from_output(
        Command::new(env!("CARGO_BIN_EXE_supplygate"))
            .args(args)
            .current_dir(dir)
            .env_remove("SUPPLYGATE_CONFIG")
            .env("DOCKER_CONFIG", dir.join(".docker-none"))
            .output()
            .unwrap(),
    )
}

fn assert_refused(out: &Outcome, case: &str) {
    assert_eq!(out.code, 2, "{case}: {out:?}");
    let json = out.json();
    let errors = json["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["code"] == "ambiguous-yaml" && e["file"] == "m.yaml" && e["line"].is_u64()),
        "{case}: {out:?}"
    );
    assert!(json["images"].as_array().unwrap().is_empty(), "{case}");
}

#[test]
fn each_trick_is_refused_by_check_pin_and_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("supplygate.yaml"), "registries: {}\n").unwrap();
    // A lock written from a manifest without images, for `--locked`.
    std::fs::write(
        dir.path().join("empty.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .unwrap();
    let base = ["--config", "supplygate.yaml", "--format", "json"];
    let wrote = supplygate(
        dir.path(),
        &[
            &["check", "--write-lock", "empty.lock"][..],
            &base,
            &["empty.yaml"],
        ]
        .concat(),
    );
    assert_eq!(wrote.code, 0, "{wrote:?}");
    for case in TRICKS {
        std::fs::copy(
            corpus().join(format!("{case}.yaml")),
            dir.path().join("m.yaml"),
        )
        .unwrap();
        let check = supplygate(dir.path(), &[&["check"][..], &base, &["m.yaml"]].concat());
        assert_refused(&check, case);
        let pin = supplygate(
            dir.path(),
            &[&["pin", "--check"][..], &base, &["m.yaml"]].concat(),
        );
        assert_refused(&pin, case);
        let write = supplygate(
            dir.path(),
            &[&["check", "--write-lock", "m.lock"][..], &base, &["m.yaml"]].concat(),
        );
        assert_refused(&write, case);
        assert!(
            !dir.path().join("m.lock").exists(),
            "{case}: a lock was written"
        );
        let locked = supplygate(
            dir.path(),
            &[
                &["check", "--locked", "empty.lock", "--offline"][..],
                &base,
                &["m.yaml"],
            ]
            .concat(),
        );
        assert_refused(&locked, case);
    }
}
