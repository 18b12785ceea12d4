//! `policies/input.schema.json` describes the inputs the gate really writes: documents made by
//! `policy::input::document` from image reports (with the facts of `src/policy/facts.rs`) and
//! every fixture of the shipped library validate against it, with python3-jsonschema
//! (installed by tests/run.sh); an input without the gate's facts does not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};
use supplygate::config::Config;
use supplygate::facts::{AttestationReport, SignatureReport};
use supplygate::manifest::{Origin, Source};
use supplygate::policy::facts::Rules;
use supplygate::policy::input::{self, Mode, ReachabilityFact, ReachabilityResult};
use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::{Platform, Resolved};
use supplygate::report::ImageReport;
use supplygate::verify::{Location, SignatureFact};

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The validator's complaints about each document, one list per document.
fn schema_errors(docs: &[Value]) -> Vec<Vec<String>> {
    let script = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    print("MISSING python3-jsonschema")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
out = []
for doc in json.load(sys.stdin):
    out.append(["/".join(str(p) for p in e.absolute_path) + ": " + e.message
                for e in cls(schema).iter_errors(doc)])
print(json.dumps(out))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(root("policies/input.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 is needed (tests/run.sh installs python3-jsonschema)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(docs).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.contains("MISSING"),
        "python3-jsonschema is not installed: `apt-get install python3-jsonschema` (tests/run.sh does)"
    );
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

fn digest(c: char) -> Digest {
    Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
}

/// The config data of [`gate_inputs`].
fn rules_data() -> Value {
    json!({
        "require": [{"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 3}],
        "provenance": [{
            "images": ["ghcr.io/acme/app"], "signers": ["ci"], "builders": [],
            "source": "https://github.com/acme/app", "refs": [], "line": 7,
        }],
        "registries": {"allow": ["ghcr.io/acme/**"]},
    })
}

/// Inputs as the gate writes them, for the sites of a manifest: resolved and not, an invalid
/// reference, a commit claim, a reachability answer.
fn gate_inputs() -> Vec<Value> {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    supplygate.dev/source-commit: 0123456
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/app:0123456789ab
        - name: bad
          image: 'UPPER/Bad:x'
        - name: hub
          image: nginx:1.25
";
    let config = Config::default();
    let source = Source {
        origin: Arc::new(Origin::Named("Deployment shop/web".to_owned())),
        text: text.to_owned(),
    };
    let manifests = supplygate::gate::search_manifests(vec![Ok(source)], &config);
    assert_eq!(manifests.sites.len(), 3, "{:?}", manifests.file_errors);
    let rules = Rules::from_config_data(&rules_data()).unwrap();
    let reachability = vec![ReachabilityFact {
        repository: "https://github.com/acme/app".to_owned(),
        commit: String::new(),
        refs: vec!["refs/heads/*".to_owned(), "refs/tags/*".to_owned()],
        clone: "/src/app".to_owned(),
        result: ReachabilityResult::NoCommit,
        via: None,
        message: Some("the provenance names no commit".to_owned()),
    }];
    manifests
        .sites
        .into_iter()
        .map(|site| {
            let reference = ImageRef::parse(&site.image).ok();
            let resolved = reference.as_ref().map(|_| Resolved {
                digest: digest('a'),
                media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
                platforms: vec![Platform {
                    os: "linux".to_owned(),
                    architecture: "amd64".to_owned(),
                    variant: None,
                    digest: digest('b'),
                }],
                tag_digest: None,
            });
            // A signature verified by the rule's signer, and attestations looked up (none):
            // the gate's verdicts come out `true` for `require`, `false` for `provenance`.
            let signatures = resolved.as_ref().map(|r| {
                let location = Location::CosignTag {
                    tag: "sha256-a.sig".to_owned(),
                    manifest: digest('c'),
                    layer: 0,
                };
                let mut fact = SignatureFact::unverified(location, r.digest.clone(), None);
                fact.verified_by = vec!["ci".to_owned()];
                Arc::new(SignatureReport {
                    digest: r.digest.clone(),
                    facts: vec![fact],
                    platforms: Vec::new(),
                })
            });
            let attestations = resolved.as_ref().map(|r| {
                Arc::new(AttestationReport {
                    digest: r.digest.clone(),
                    facts: Vec::new(),
                })
            });
            let report = ImageReport {
                site,
                reference,
                resolved,
                findings: Vec::new(),
                signatures,
                attestations,
            };
            let name = report.reference.as_ref().map(ImageRef::name);
            let facts = rules.derive(&input::subject(
                &rules,
                &report,
                name.as_deref(),
                &reachability,
            ));
            input::document(
                &report,
                Mode::Check,
                "2026-12-06T08:00:00Z",
                &reachability,
                &facts,
                &json!({}),
            )
        })
        .collect()
}

fn fixtures() -> Vec<(String, Value)> {
    crate::policy_library::fixture_paths()
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_inputs_the_gate_writes_follow_the_schema() {
    let docs = gate_inputs();
    // The facts are there: the claim, the rule the app matches, the invalid reference's none.
    assert_eq!(docs[0]["source_claim"]["from"], "annotation");
    assert_eq!(docs[0]["image"]["matched"]["provenance"], json!([0]));
    assert_eq!(docs[1]["image"]["valid"], false);
    assert_eq!(docs[1]["image"]["matched"]["allowed_registry"], Value::Null);
    assert_eq!(docs[2]["image"]["matched"]["allowed_registry"], false);
    assert_eq!(docs[0]["image"]["matched"]["require_satisfied"], true);
    assert_eq!(docs[0]["image"]["matched"]["provenance_satisfied"], false);
    // What the gate derived from its reports is what the facts of the document it wrote say:
    // the verdicts of the gate's path and of `derive_for_input` (fixtures, tools) agree.
    let rules = Rules::from_config_data(&rules_data()).unwrap();
    for doc in &docs {
        let mut again = doc.clone();
        rules.derive_for_input(doc).unwrap().write_into(&mut again);
        assert_eq!(&again, doc, "{}", doc["container"]["name"]);
    }
    let errors = schema_errors(&docs);
    for (doc, errors) in docs.iter().zip(&errors) {
        assert!(
            errors.is_empty(),
            "{}: {errors:?}",
            doc["container"]["name"]
        );
    }
}

#[test]
fn every_fixture_of_the_library_follows_the_schema() {
    let fixtures = fixtures();
    assert!(fixtures.len() > 30);
    let docs: Vec<Value> = fixtures.iter().map(|(_, d)| d.clone()).collect();
    let errors = schema_errors(&docs);
    for ((name, _), errors) in fixtures.iter().zip(&errors) {
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn an_input_without_the_gate_facts_or_with_an_unknown_reachability_result_is_refused() {
    let mut without = gate_inputs().remove(0);
    without["image"].as_object_mut().unwrap().remove("matched");
    let mut result = gate_inputs().remove(0);
    result["reachability"][0]["result"] = json!("maybe");
    let errors = schema_errors(&[without, result]);
    assert!(
        errors[0]
            .iter()
            .any(|e| e.contains("'matched' is a required property")),
        "{:?}",
        errors[0]
    );
    assert!(
        errors[1]
            .iter()
            .any(|e| e.starts_with("reachability/0/result")),
        "{:?}",
        errors[1]
    );
}
