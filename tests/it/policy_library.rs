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

/// The fixture inputs, sorted.
pub(crate) fn fixture_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(inputs())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
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
    let paths = fixture_paths();
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

/// The gate's verdicts (`image.matched.require_satisfied`, `.provenance_satisfied`) only let
/// the library skip denials that could not fire: for every fixture, and for each of ~30
/// changes to its facts (signatures and attestations missing, failed, emptied, unverified,
/// about a platform or another digest, provenance fields changed, platforms added, a
/// commit-SHA tag, a claim, reachability answers) alone and in pairs, with the gate's facts
/// derived again, the decision is the same with the verdicts as without them, where the
/// library judges every fact itself. A verdict that said `true` too soon would turn a denial
/// into an allow here.
#[test]
fn the_gates_verdicts_skip_only_denials_that_cannot_fire() {
    use serde_json::json;
    type Change = (&'static str, fn(&mut Value));
    fn each_fact(input: &mut Value, list: &str, change: impl Fn(&mut Value)) {
        if let Some(facts) = input
            .pointer_mut(&format!("/{list}/facts"))
            .and_then(Value::as_array_mut)
        {
            facts.iter_mut().for_each(change);
        }
    }
    fn first_fact(input: &mut Value, list: &str, change: impl Fn(&mut Value)) {
        if let Some(f) = input.pointer_mut(&format!("/{list}/facts/0")) {
            change(f);
        }
    }
    fn about_platform(fact: &mut Value, hex: char, platform: &str) {
        let digest = format!("sha256:{}", hex.to_string().repeat(64));
        fact["subject_match"] = json!({"digest": digest, "platform": platform});
    }
    let changes: Vec<Change> = vec![
        ("signatures null", |i| i["signatures"] = Value::Null),
        (
            "signatures error",
            |i| {
                i["signatures"]["error"] =
                    json!({"code": "registry-timeout", "message": "timed out"})
            },
        ),
        ("signature facts empty", |i| {
            i["signatures"]["facts"] = json!([])
        }),
        ("signatures unverified", |i| {
            each_fact(i, "signatures", |f| f["verified_by"] = json!([]))
        }),
        ("first signature unverified", |i| {
            first_fact(i, "signatures", |f| f["verified_by"] = json!([]))
        }),
        ("signatures by release", |i| {
            each_fact(i, "signatures", |f| f["verified_by"] = json!(["release"]))
        }),
        ("a signature fact whose verified_by is not a list", |i| {
            if let Some(f) = i
                .pointer_mut("/signatures/facts")
                .and_then(Value::as_array_mut)
            {
                f.push(json!({"verified_by": "ci", "rejections": []}));
            }
        }),
        ("signatures by ci", |i| {
            each_fact(i, "signatures", |f| f["verified_by"] = json!(["ci"]))
        }),
        ("attestations null", |i| i["attestations"] = Value::Null),
        (
            "attestations error",
            |i| {
                i["attestations"]["error"] =
                    json!({"code": "registry-timeout", "message": "timed out"})
            },
        ),
        ("attestation facts empty", |i| {
            i["attestations"]["facts"] = json!([])
        }),
        ("attestations unverified", |i| {
            each_fact(i, "attestations", |f| f["verified_by"] = json!([]))
        }),
        ("first attestation unverified", |i| {
            first_fact(i, "attestations", |f| f["verified_by"] = json!([]))
        }),
        ("attestations without subject", |i| {
            each_fact(i, "attestations", |f| {
                if let Some(f) = f.as_object_mut() {
                    f.remove("subject_match");
                }
            })
        }),
        ("attestations about the platform", |i| {
            each_fact(i, "attestations", |f| about_platform(f, 'b', "linux/amd64"))
        }),
        ("first attestation about the platform", |i| {
            first_fact(i, "attestations", |f| about_platform(f, 'b', "linux/amd64"))
        }),
        ("attestations about another digest's platform", |i| {
            each_fact(i, "attestations", |f| about_platform(f, 'c', "linux/arm64"))
        }),
        ("untrusted builder", |i| {
            each_fact(i, "attestations", |f| {
                f["provenance"]["builder_id"] = json!("https://github.com/acme-evil/b@v1")
            })
        }),
        ("first from a side branch", |i| {
            first_fact(i, "attestations", |f| {
                f["provenance"]["source_ref"] = json!("refs/heads/dev")
            })
        }),
        ("from a fork", |i| {
            each_fact(i, "attestations", |f| {
                f["provenance"]["source_repository"] = json!("https://github.com/evil/app")
            })
        }),
        ("no commit", |i| {
            each_fact(i, "attestations", |f| {
                f["provenance"]["source_commit"] = Value::Null
            })
        }),
        ("no provenance", |i| {
            first_fact(i, "attestations", |f| f["provenance"] = Value::Null)
        }),
        ("certificate disagrees", |i| {
            first_fact(
                i,
                "attestations",
                |f| f["certificate_agreement"] = json!({"repository": {"result": "disagrees", "certificate": "https://github.com/evil/app", "provenance": "https://github.com/acme/app"}}),
            )
        }),
        ("unresolved", |i| i["image"]["resolved"] = json!(false)),
        ("no platforms", |i| i["image"]["platforms"] = json!([])),
        ("a second platform", |i| {
            if let Some(p) = i
                .pointer_mut("/image/platforms")
                .and_then(Value::as_array_mut)
            {
                p.push(json!({"os": "linux", "architecture": "arm64", "digest": format!("sha256:{}", "c".repeat(64))}));
            }
        }),
        ("a platform without a digest", |i| {
            if let Some(p) = i
                .pointer_mut("/image/platforms")
                .and_then(Value::as_array_mut)
            {
                p.push(json!({"os": "", "architecture": ""}));
            }
        }),
        ("a commit-SHA tag of another commit", |i| {
            i["image"]["tag"] = json!("fedcba9")
        }),
        ("a claim of another commit", |i| {
            i["resource"]["annotations"] =
                json!({"supplygate.dev/source-commit": "fedcba9876543210"})
        }),
        ("reachability not reachable", |i| {
            if let Some(r) = i.get_mut("reachability").and_then(Value::as_array_mut) {
                r.iter_mut()
                    .for_each(|r| r["result"] = json!("not-reachable"));
            }
        }),
        ("signatures by ci, about the platform only", |i| {
            each_fact(i, "signatures", |f| f["verified_by"] = json!([]));
            if let Some(p) = i.pointer_mut("/signatures/platforms/0") {
                p["facts"] = json!([{"verified_by": ["ci"], "rejections": [], "location": {"via": "cosign-tag", "tag": "t", "layer": 0}}]);
            }
        }),
    ];

    let engine = load(TestFiles::Exclude);
    let data = read_json(&inputs().join("data/supplygate.json"));
    let rules =
        supplygate::policy::facts::Rules::from_config_data(&data["supplygate"]["config"]).unwrap();
    let paths = fixture_paths();
    // Each change alone, and pairs chosen by a fixed sequence (all pairs of every fixture
    // would take minutes in a debug build).
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(seed >> 33).unwrap() % n
    };
    let (mut compared, mut skipped, mut wrong) = (0, 0, Vec::new());
    for path in &paths {
        let fixture = read_json(path);
        let mut plans: Vec<Vec<usize>> = vec![vec![]];
        plans.extend((0..changes.len()).map(|c| vec![c]));
        plans.extend((0..8).map(|_| vec![next(changes.len()), next(changes.len())]));
        for plan in plans {
            let mut input = fixture.clone();
            for &c in &plan {
                (changes[c].1)(&mut input);
            }
            rules
                .derive_for_input(&input)
                .unwrap()
                .write_into(&mut input);
            let mut without = input.clone();
            let matched = without["image"]["matched"].as_object_mut().unwrap();
            let verdicts = (
                matched.remove("require_satisfied"),
                matched.remove("provenance_satisfied"),
            );
            if verdicts.0 == Some(json!(true)) || verdicts.1 == Some(json!(true)) {
                skipped += 1;
            }
            // (Errors included: an input the library fails on fails with the verdicts too.)
            let (with, judged) = (engine.decide(&input), engine.decide(&without));
            compared += 1;
            if with != judged {
                let names: Vec<&str> = plan.iter().map(|&c| changes[c].0).collect();
                wrong.push(format!(
                    "{} with {names:?} (verdicts {verdicts:?}):\n  with verdicts: {:?}\n  judged by the library: {:?}",
                    path.display(),
                    with.denies,
                    judged.denies
                ));
            }
        }
    }
    eprintln!("{compared} inputs compared, {skipped} with a verdict that skips denials");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        compared > 1000 && skipped > 300,
        "{compared} inputs compared, {skipped} with a verdict that skips denials: too few to say"
    );
}
