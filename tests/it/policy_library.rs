//! The shipped policy library (`policies/`): its own Rego tests pass under supplygate's engine,
//! it loads cleanly without them, and each documented code comes out of the engine for the
//! inputs under `fixtures/policy/library-inputs/` (see `tests/policy_library_inputs.py`).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use supplygate::policy::{run_tests, Engine, Limits, Loader, TestFiles, TestOptions, TestOutcome};

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn inputs() -> PathBuf {
    root("fixtures/policy/library-inputs")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(test_files: TestFiles) -> Engine {
    let mut loader = Loader::new(Limits::default());
    loader.path(&root("policies"), test_files);
    loader.data_value(
        "library-inputs/data/supplygate.json",
        read_json(&inputs().join("data/supplygate.json")),
    );
    match loader.load() {
        Ok(engine) => engine,
        Err(e) => panic!("the shipped library was refused:\n{e}"),
    }
}

/// Decides one fixture input; `(deny codes, warn codes)`, sorted.
fn codes(engine: &Engine, name: &str) -> (Vec<String>, Vec<String>) {
    let decision = engine.evaluate(&read_json(&inputs().join(name)));
    assert!(
        decision.errors.is_empty(),
        "{name}: evaluation errors: {:?}",
        decision.errors
    );
    let sorted = |v: &[supplygate::policy::Violation]| {
        let mut c: Vec<String> = v
            .iter()
            .map(|v| v.code.clone().unwrap_or_default())
            .collect();
        c.sort();
        c
    };
    (sorted(&decision.denies), sorted(&decision.warns))
}

#[test]
fn every_rego_test_of_the_library_passes() {
    let report = run_tests(&load(TestFiles::Include), &TestOptions::default());
    let problems: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.outcome != TestOutcome::Pass)
        .map(|r| {
            format!(
                "{}.{} ({}:{}): {:?}",
                r.package, r.name, r.file, r.line, r.outcome
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "failing Rego tests:\n{}",
        problems.join("\n")
    );
    assert!(
        report.passed() >= 60,
        "only {} Rego tests ran; were test files skipped?",
        report.passed()
    );
}

#[test]
fn the_library_loads_without_its_tests_and_decides_in_three_packages() {
    let engine = load(TestFiles::Exclude);
    assert_eq!(
        engine.packages(),
        vec![
            "data.supplygate.images".to_owned(),
            "data.supplygate.provenance".to_owned(),
            "data.supplygate.signatures".to_owned(),
        ]
    );
}

/// Every fixture carries the facts the gate writes (`input.image.matched`,
/// `input.source_claim`, `input.provenance_checks`), as `src/policy/facts.rs` decides them
/// under the fixtures' config: a fixture cannot claim an answer the gate would not give.
/// `UPDATE_FIXTURES=1` writes them (after `tests/policy_library_inputs.py` rewrote the inputs).
#[test]
fn each_fixture_carries_the_facts_the_gate_decides() {
    let data = read_json(&inputs().join("data/supplygate.json"));
    let rules =
        supplygate::policy::facts::Rules::from_config_data(&data["supplygate"]["config"]).unwrap();
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(inputs())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() > 30, "the fixtures are there");
    let mut wrong = Vec::new();
    for path in paths {
        let input = read_json(&path);
        let mut with_facts = input.clone();
        rules
            .derive_for_input(&input)
            .unwrap()
            .write_into(&mut with_facts);
        if with_facts == input {
            continue;
        }
        if update {
            let text = serde_json::to_string_pretty(&with_facts).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
        } else {
            wrong.push(format!(
                "{}: the facts in the file are not those the gate decides",
                path.display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n(`UPDATE_FIXTURES=1 cargo test --test it policy_library::each_fixture_carries` \
         writes them)",
        wrong.join("\n")
    );
}

#[test]
fn each_fixture_input_gets_exactly_its_expected_codes() {
    let engine = load(TestFiles::Exclude);
    let expected: BTreeMap<String, BTreeMap<String, Vec<String>>> =
        serde_json::from_value(read_json(&inputs().join("data/expected.json"))).unwrap();
    let on_disk = std::fs::read_dir(inputs())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(on_disk, expected.len(), "every input has expected codes");
    let mut wrong = Vec::new();
    for (name, want) in &expected {
        let (deny, warn) = codes(&engine, name);
        if deny != want["deny"] || warn != want["warn"] {
            wrong.push(format!(
                "{name}: deny {deny:?} warn {warn:?}, expected {want:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_documented_code_is_produced_by_some_fixture() {
    let engine = load(TestFiles::Exclude);
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(inputs()).unwrap().filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let (deny, warn) = codes(&engine, &name);
            seen.extend(deny);
            seen.extend(warn);
        }
    }
    for code in [
        "invalid-reference",
        "image-not-found",
        "latest-tag",
        "registry-not-allowed-by-policy",
        "tag-moved",
        "unsigned-image",
        "signature-not-trusted",
        "signature-check-failed",
        "provenance-missing",
        "untrusted-builder",
        "source-repository-mismatch",
        "source-ref-not-allowed",
        "source-commit-mismatch",
        "certificate-provenance-mismatch",
        "commit-not-reachable",
        "provenance-check-failed",
    ] {
        assert!(seen.contains(code), "no fixture produces `{code}`");
    }
}

#[test]
fn denials_name_the_image_and_digest_and_say_what_was_expected() {
    let engine = load(TestFiles::Exclude);
    let decision = engine.evaluate(&read_json(&inputs().join("unsigned-image.json")));
    let [v] = decision.denies.as_slice() else {
        panic!("one denial expected: {decision:?}")
    };
    let digest = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        v.msg,
        format!("`ghcr.io/acme/app:v1.2.0` ({digest}) has no signature")
    );
    assert_eq!(
        v.expected.as_deref(),
        Some("a signature by `ci` (config line 12)")
    );
    assert_eq!(v.found.as_deref(), Some("none"));
    assert_eq!(
        v.hint.as_deref(),
        Some(
            format!("sign the digest in CI: `cosign sign --key … ghcr.io/acme/app@{digest}`")
                .as_str()
        )
    );
    assert_eq!(v.package, "data.supplygate.signatures");
    for entry in std::fs::read_dir(inputs()).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        for v in engine.evaluate(&read_json(&path)).denies {
            assert!(
                v.expected.is_some() && v.found.is_some() && v.hint.is_some(),
                "{v:?}"
            );
            assert!(!v.msg.contains('\n'), "{v:?}");
        }
    }
}
