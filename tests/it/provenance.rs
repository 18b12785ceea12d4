//! Provenance and source linkage end to end: the `supplygate` binary against a real
//! `docker-registry`. Images get SLSA provenance attached as cosign does (`sha256-<hex>.att`,
//! a DSSE envelope signed with a test key), made here so that each negative case breaks
//! exactly one thing; cosign-made attestations are served through a mirror; commits are
//! checked for reachability in real git repositories built by the test.
use crate::common;
use crate::common::case::Case;

use crate::att;
use crate::pki;
use common::Outcome;

use std::path::{Path, PathBuf};
use std::process::Command;

use att::{
    push_attestations, Att, AttLayer, BUILDER, COMMIT, SLSA_V1, SOURCE, STATEMENT_V0_1,
    STATEMENT_V1,
};
use common::TestRegistry;
use pki::{
    b64, dsse_pae, hex, GithubClaims, TestKey, TestSigstore, ANNOTATION_BUNDLE,
    ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, IN_TOTO, ISSUER, SOURCE_COMMIT, SUBJECT,
};
use rcgen::SigningKey as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OTHER_COMMIT: &str = "9f0e8d7c6b5a49382716f5e4d3c2b1a098765432";
const DEMO_SOURCE: &str = "https://github.com/example/demo";
const DEMO_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const RUNNER: &str = "https://github.com/actions/runner/github-hosted";
const GENERATOR: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0";

// ---------------------------------------------------------------- running the binary

/// A real registry, a trusted CI key (`keys/ci.pub`) and the [`Case`] (scratch directory) to
/// run the binary in.
struct CiRegistry {
    registry: TestRegistry,
    ci: TestKey,
    case: Case,
}

impl CiRegistry {
    fn new() -> Self {
        let scenario = Self {
            registry: TestRegistry::start(),
            ci: TestKey::generate(),
            case: Case::new(),
        };
        scenario.file("keys/ci.pub", &scenario.ci.public_pem());
        scenario
    }

    fn host(&self) -> String {
        self.registry.host()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.case.path(name)
    }

    fn file(&self, name: &str, text: &str) {
        self.case.write(name, text);
    }

    /// Pushes a fresh image to `repo:tag` (without the host); returns its digest.
    fn image(&self, repo: &str, tag: &str) -> String {
        self.registry
            .push_generated_many(repo, &[tag.to_owned()])
            .remove(0)
    }

    /// The attestation a CI would make for `digest` of `repo`, signed with the CI key.
    fn att(&self, repo: &str, digest: &str) -> Att {
        Att::about(&format!("{}/{repo}", self.host()), digest)
    }

    /// Attaches `atts`, each signed with the CI key, to `digest` in `repo`.
    fn attest(&self, repo: &str, digest: &str, atts: &[Att]) -> Vec<String> {
        let layers: Vec<AttLayer> = atts.iter().map(|a| AttLayer::signed(a, &self.ci)).collect();
        push_attestations(&self.registry, repo, digest, &layers)
    }

    /// The config: plain HTTP to the test registry, signer `ci`, and one provenance rule for
    /// `127.0.0.1:*/team/**` with the builders, source and refs of the brief; `key` is the
    /// path of `ci`'s key as written in the config, `tail` more top-level YAML.
    fn config_text(&self, key: &str, tail: &str) -> String {
        format!(
            r#"registries:
  "{host}":
    insecure: true
network:
  retries: 0
  request_timeout: 5s
signers:
  ci: {{key: {key}, insecure_ignore_tlog: true}}
provenance:
  - images: ["127.0.0.1:*/team/**"]
    signers: [ci]
    builders: ["{BUILDER}", "https://ci.example/*"]
    source: {SOURCE}
    refs: ["refs/heads/main", "refs/tags/v*"]
{tail}"#,
            host = self.host()
        )
    }

    /// Writes `supplygate.yaml` (see [`Self::config_text`]) and `deploy.yaml`, then runs
    /// `check deploy.yaml --format json` with `args`.
    fn check(&self, tail: &str, manifests: &str, args: &[&str]) -> Outcome {
        self.file("supplygate.yaml", &self.config_text("keys/ci.pub", tail));
        self.file("deploy.yaml", manifests);
        let mut all = vec!["check", "deploy.yaml", "--format", "json"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn run(&self, args: &[&str]) -> Outcome {
        self.case.run(args)
    }
}

/// A Deployment `name` running `image`, with `metadata.annotations`.
fn deployment(name: &str, image: &str, annotations: &[(&str, &str)]) -> String {
    let mut s = format!("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n");
    if !annotations.is_empty() {
        s.push_str("  annotations:\n");
        for (k, v) in annotations {
            s.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    s.push_str(&format!(
        "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    ));
    s
}

fn images(json: &Value) -> &Vec<Value> {
    json["images"].as_array().unwrap()
}

/// The finding codes of one image of the report.
fn codes(image: &Value) -> Vec<&str> {
    image["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

/// The one finding of an image, which must have code `code`.
fn only_finding<'a>(image: &'a Value, code: &str) -> &'a Value {
    assert_eq!(codes(image), vec![code], "{image:#}");
    assert_eq!(image["decision"], "deny", "{image:#}");
    &image["findings"][0]
}

fn facts(image: &Value) -> &Vec<Value> {
    image["attestations"]["facts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attestation facts in {image:#}"))
}

/// One image `team/app:<tag>` with `atts` attached (signed by the CI key), checked with the
/// default rule; returns the run and its only image.
fn check_one(tag: &str, atts: impl Fn(&CiRegistry, &str) -> Vec<Att>) -> (Outcome, Value) {
    let s = CiRegistry::new();
    let digest = s.image("team/app", tag);
    let atts = atts(&s, &digest);
    if !atts.is_empty() {
        s.attest("team/app", &digest, &atts);
    }
    let image = format!("{}/team/app:{tag}", s.host());
    let out = s.check("", &deployment("app", &image, &[]), &[]);
    let json = out.json();
    assert_eq!(images(&json).len(), 1, "{out:?}");
    let image = images(&json)[0].clone();
    assert_eq!(image["digest"], digest, "{out:?}");
    (out, image)
}

// ---------------------------------------------------------------- cosign-made attestations

/// Asserts the normalised provenance of a cosign-made attestation (see the fixtures' README).
fn assert_demo_provenance(fact: &Value, slsa_version: &str, builder: &str, build_type: &str) {
    assert_eq!(fact["verified_by"], json!(["demo-ci"]), "{fact:#}");
    let p = &fact["provenance"];
    assert_eq!(p["slsa_version"], slsa_version, "{fact:#}");
    assert_eq!(p["builder_id"], builder, "{fact:#}");
    assert_eq!(p["build_type"], build_type, "{fact:#}");
    assert_eq!(p["source_repository"], DEMO_SOURCE, "{fact:#}");
    assert_eq!(p["source_ref"], "refs/heads/main", "{fact:#}");
    assert_eq!(p["source_commit"], DEMO_COMMIT, "{fact:#}");
    assert_eq!(
        p["entry_point"], ".github/workflows/release.yml",
        "{fact:#}"
    );
    // v1 names the source in `externalParameters.workflow.repository`, v0.2 in
    // `invocation.configSource.uri`: the URI is kept as written.
    let uri = match slsa_version {
        "v1" => DEMO_SOURCE,
        _ => "git+https://github.com/example/demo@refs/heads/main",
    };
    assert_eq!(p["source_uri"], uri, "{fact:#}");
}

#[test]
fn verifies_cosign_made_provenance_served_by_a_real_registry() {
    // The attestations were made on a registry at 127.0.0.1:5123 and their subjects name that
    // repository; a real registry on a random port serves them as a mirror of that host.
    let s = CiRegistry::new();
    for name in ["attested", "cosign-attested"] {
        common::push_cosign_made(&s.registry, name);
    }
    s.file(
        "keys/demo-ci.pub",
        &std::fs::read_to_string(Path::new(ROOT).join("fixtures/demo/keys/demo-ci.pub")).unwrap(),
    );
    let config = format!(
        r#"registries:
  127.0.0.1:5123:
    mirrors: ["{host}"]
  "{host}":
    insecure: true
network:
  retries: 0
signers:
  demo-ci: {{key: keys/demo-ci.pub, insecure_ignore_tlog: true}}
provenance:
  - images: ["127.0.0.1:5123/demo/**"]
    signers: [demo-ci]
    builders: ["{RUNNER}", "https://github.com/slsa-framework/slsa-github-generator/*"]
    source: {DEMO_SOURCE}
    refs: ["refs/heads/main"]
"#,
        host = s.host()
    );
    s.file("supplygate.yaml", &config);
    s.file(
        "deploy.yaml",
        &(deployment(
            "attested",
            "127.0.0.1:5123/demo/attested:v1",
            &[("supplygate.dev/source-commit", DEMO_COMMIT)],
        ) + &deployment(
            "cosign-attested",
            "127.0.0.1:5123/demo/cosign-attested:v1",
            &[],
        )),
    );
    let out = s.run(&["check", "deploy.yaml", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert!(
        json["stats"]["requests"].as_u64().unwrap() > 0,
        "served over HTTP"
    );
    let attested = &images(&json)[0];
    assert_eq!(
        attested["digest"],
        "sha256:7b265292318e82056f04db3fa982c037bad829edf5461c7999f6274f200942fe"
    );
    assert_eq!(codes(attested), Vec::<&str>::new(), "{attested:#}");
    let facts_attested = facts(attested);
    assert_eq!(facts_attested.len(), 2, "{attested:#}");
    assert_eq!(facts_attested[0]["kind"], "slsa-provenance-v1");
    assert_eq!(facts_attested[0]["statement_type"], STATEMENT_V1);
    assert_eq!(facts_attested[0]["predicate_type"], SLSA_V1);
    assert_eq!(facts_attested[0]["subject_name_matches_repository"], true);
    assert_eq!(
        facts_attested[0]["location"]["tag"],
        "sha256-7b265292318e82056f04db3fa982c037bad829edf5461c7999f6274f200942fe.att"
    );
    assert_demo_provenance(
        &facts_attested[0],
        "v1",
        RUNNER,
        "https://actions.github.io/buildtypes/workflow/v1",
    );
    assert_eq!(
        facts_attested[0]["provenance"]["build_started_on"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(facts_attested[1]["kind"], "slsa-provenance-v0.2");
    assert_eq!(facts_attested[1]["statement_type"], STATEMENT_V0_1);
    assert_demo_provenance(
        &facts_attested[1],
        "v0.2",
        GENERATOR,
        "https://github.com/slsa-framework/slsa-github-generator/container@v1",
    );

    let cosign = &images(&json)[1];
    assert_eq!(
        cosign["digest"],
        "sha256:2be689e468983747e2c08811e6e1f0c4510338edf67216f86b975990b9603ac1"
    );
    assert_eq!(codes(cosign), Vec::<&str>::new(), "{cosign:#}");
    let facts_cosign = facts(cosign);
    assert_eq!(facts_cosign.len(), 1, "{cosign:#}");
    // cosign 2.5.0 writes an in-toto v0.1 statement around a SLSA v1 predicate.
    assert_eq!(facts_cosign[0]["statement_type"], STATEMENT_V0_1);
    assert_eq!(facts_cosign[0]["kind"], "slsa-provenance-v1");
    assert_demo_provenance(
        &facts_cosign[0],
        "v1",
        RUNNER,
        "https://actions.github.io/buildtypes/workflow/v1",
    );

    // The same attestations, when only the v0.2 generator is a trusted builder: `attested`
    // still passes (its v0.2 layer), `cosign-attested` (v1 only, the runner) does not.
    s.file(
        "supplygate.yaml",
        &config.replace(&format!("\"{RUNNER}\", "), ""),
    );
    let out = s.run(&["check", "deploy.yaml", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(codes(&images(&json)[0]), Vec::<&str>::new(), "{out:?}");
    let finding = only_finding(&images(&json)[1], "untrusted-builder");
    assert_eq!(finding["found"], RUNNER, "{finding:#}");
}

// ---------------------------------------------------------------- trusted provenance

#[test]
fn allows_provenance_from_a_trusted_builder_source_and_ref() {
    let (out, image) = check_one("v1", |s, digest| vec![s.att("team/app", digest)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(image["decision"], "allow", "{image:#}");
    let fact = &facts(&image)[0];
    assert_eq!(fact["verified_by"], json!(["ci"]), "{fact:#}");
    assert_eq!(fact["kind"], "slsa-provenance-v1");
    assert_eq!(fact["signature_kind"], "cosign-key", "{fact:#}");
    assert_eq!(fact["subject_name_matches_repository"], true, "{fact:#}");
    let p = &fact["provenance"];
    assert_eq!(p["builder_id"], BUILDER);
    assert_eq!(p["source_repository"], SOURCE);
    assert_eq!(p["source_ref"], "refs/heads/main");
    assert_eq!(p["source_commit"], COMMIT);
    assert_eq!(p["entry_point"], ".github/workflows/release.yml");
}

#[test]
fn allows_builder_by_prefix_tag_ref_and_source_written_differently() {
    // `https://ci.example/*` trusts any builder under it, `refs/tags/v*` any release tag, and
    // the source repository is compared after normalisation (case of the host, `.git`).
    let (out, image) = check_one("v1", |s, digest| {
        vec![s
            .att("team/app", digest)
            .builder("https://ci.example/pipelines/release@v3")
            .repository("https://GitHub.com/acme/app.git")
            .git_ref("refs/tags/v1.4.0")]
    });
    assert_eq!(out.code, 0, "{out:?}");
    let p = &facts(&image)[0]["provenance"];
    assert_eq!(p["source_repository"], SOURCE, "{image:#}");
    assert_eq!(p["source_ref"], "refs/tags/v1.4.0", "{image:#}");
}

#[test]
fn allows_slsa_v0_2_provenance() {
    let (out, image) = check_one("v1", |s, digest| {
        vec![s.att("team/app", digest).slsa_v0_2()]
    });
    assert_eq!(out.code, 0, "{out:?}");
    let fact = &facts(&image)[0];
    assert_eq!(fact["kind"], "slsa-provenance-v0.2", "{fact:#}");
    assert_eq!(fact["statement_type"], STATEMENT_V0_1, "{fact:#}");
    let p = &fact["provenance"];
    assert_eq!(p["slsa_version"], "v0.2");
    assert_eq!(p["builder_id"], BUILDER);
    assert_eq!(p["source_repository"], SOURCE);
    assert_eq!(p["source_ref"], "refs/heads/main");
    assert_eq!(p["source_commit"], COMMIT);
}

#[test]
fn one_passing_provenance_among_several_satisfies_the_rule() {
    let (out, image) = check_one("v1", |s, digest| {
        vec![
            s.att("team/app", digest).builder("https://evil.example/b"),
            s.att("team/app", digest),
        ]
    });
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(facts(&image).len(), 2, "{image:#}");
}

// ---------------------------------------------------------------- provenance that does not count

#[test]
fn denies_image_without_provenance() {
    let (out, image) = check_one("v1", |_, _| Vec::new());
    assert_eq!(out.code, 1, "{out:?}");
    let finding = only_finding(&image, "provenance-missing");
    assert_eq!(finding["found"], "no attestation", "{finding:#}");
}

#[test]
fn denies_provenance_edited_after_signing() {
    // Signed as built from a feature branch, then edited to claim `main`.
    let (out, image) = check_one("v1", |s, digest| {
        vec![s
            .att("team/app", digest)
            .git_ref("refs/heads/feature")
            .edit_after_signing(|st| {
                let p = &mut st["predicate"]["buildDefinition"];
                p["externalParameters"]["workflow"]["ref"] = json!("refs/heads/main");
                p["resolvedDependencies"][0]["uri"] =
                    json!("git+https://github.com/acme/app@refs/heads/main");
            })]
    });
    assert_eq!(out.code, 1, "{out:?}");
    let finding = only_finding(&image, "provenance-missing");
    assert!(
        finding["found"]
            .as_str()
            .unwrap()
            .contains("dsse signature does not verify with this key"),
        "{finding:#}"
    );
    let fact = &facts(&image)[0];
    assert_eq!(fact["verified_by"], json!([]), "{fact:#}");
    assert_eq!(
        fact["rejections"],
        json!([{ "signer": "ci", "reason": "dsse signature does not verify with this key" }]),
        "{fact:#}"
    );
    // The edited claim is shown for what it is: unverified.
    assert_eq!(
        fact["provenance"]["source_ref"], "refs/heads/main",
        "{fact:#}"
    );
}

#[test]
fn denies_provenance_about_another_image() {
    let (out, image) = check_one("v1", |s, digest| {
        let other = s.image("team/other", "v1");
        assert_ne!(&other, digest);
        vec![s.att("team/app", digest).subject_digest(&other)]
    });
    assert_eq!(out.code, 1, "{out:?}");
    only_finding(&image, "provenance-missing");
    let fact = &facts(&image)[0];
    assert_eq!(fact["verified_by"], json!([]), "{fact:#}");
    assert_eq!(fact["subject_match"], Value::Null, "{fact:#}");
    let rejection = &fact["rejections"][0];
    assert_eq!(rejection["signer"], "*", "{fact:#}");
    assert!(
        rejection["reason"]
            .as_str()
            .unwrap()
            .starts_with("the statement is about `sha256:"),
        "{fact:#}"
    );
}

#[test]
fn denies_provenance_signed_by_an_untrusted_key() {
    let s = CiRegistry::new();
    let digest = s.image("team/app", "v1");
    let stranger = TestKey::generate();
    push_attestations(
        &s.registry,
        "team/app",
        &digest,
        &[AttLayer::signed(&s.att("team/app", &digest), &stranger)],
    );
    let image = format!("{}/team/app:v1", s.host());
    let out = s.check("", &deployment("app", &image, &[]), &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    only_finding(&images(&json)[0], "provenance-missing");
    let fact = &facts(&images(&json)[0])[0];
    assert_eq!(fact["verified_by"], json!([]), "{fact:#}");
    assert_eq!(fact["rejections"][0]["signer"], "ci", "{fact:#}");
}

#[test]
fn denies_provenance_verified_only_by_a_signer_the_rule_does_not_name() {
    // `other` is a configured signer and verifies the attestation, but the rule wants `ci`.
    let s = CiRegistry::new();
    let digest = s.image("team/app", "v1");
    let other = TestKey::generate();
    s.file("keys/other.pub", &other.public_pem());
    push_attestations(
        &s.registry,
        "team/app",
        &digest,
        &[AttLayer::signed(&s.att("team/app", &digest), &other)],
    );
    let image = format!("{}/team/app:v1", s.host());
    let config = s.config_text("keys/ci.pub", "").replace(
        "signers:\n",
        "signers:\n  other: {key: keys/other.pub, insecure_ignore_tlog: true}\n",
    );
    s.file("supplygate.yaml", &config);
    s.file("deploy.yaml", &deployment("app", &image, &[]));
    let out = s.run(&["check", "deploy.yaml", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let finding = only_finding(&images(&json)[0], "provenance-missing");
    assert!(
        finding["found"]
            .as_str()
            .unwrap()
            .contains("verified by `other`"),
        "{finding:#}"
    );
    assert_eq!(facts(&images(&json)[0])[0]["verified_by"], json!(["other"]));
}

// ---------------------------------------------------------------- builder, source, ref

#[test]
fn denies_provenance_from_an_untrusted_builder() {
    // Not under `https://ci.example/`: a prefix rule matches at a boundary only.
    let (out, image) = check_one("v1", |s, digest| {
        vec![s
            .att("team/app", digest)
            .builder("https://ci.example.evil/pipelines/release")]
    });
    assert_eq!(out.code, 1, "{out:?}");
    let finding = only_finding(&image, "untrusted-builder");
    assert_eq!(
        finding["found"], "https://ci.example.evil/pipelines/release",
        "{finding:#}"
    );
    // The attestation itself is genuine: it counts, it just fails the rule.
    assert_eq!(facts(&image)[0]["verified_by"], json!(["ci"]));
}

#[test]
fn denies_provenance_from_another_source_repository() {
    let (out, image) = check_one("v1", |s, digest| {
        vec![s
            .att("team/app", digest)
            .repository("https://github.com/acme/app-fork")]
    });
    assert_eq!(out.code, 1, "{out:?}");
    let finding = only_finding(&image, "source-repository-mismatch");
    assert_eq!(
        finding["found"], "https://github.com/acme/app-fork",
        "{finding:#}"
    );
}

#[test]
fn denies_provenance_built_from_a_ref_that_is_not_allowed() {
    let (out, image) = check_one("v1", |s, digest| {
        vec![s.att("team/app", digest).git_ref("refs/heads/feature")]
    });
    assert_eq!(out.code, 1, "{out:?}");
    let finding = only_finding(&image, "source-ref-not-allowed");
    assert_eq!(finding["found"], "refs/heads/feature", "{finding:#}");
}

#[test]
fn denies_slsa_v0_2_provenance_from_an_untrusted_builder() {
    let (out, image) = check_one("v1", |s, digest| {
        vec![s
            .att("team/app", digest)
            .slsa_v0_2()
            .builder("https://github.com/evil/builder/.github/workflows/build.yml@refs/heads/main")]
    });
    assert_eq!(out.code, 1, "{out:?}");
    only_finding(&image, "untrusted-builder");
}

// ---------------------------------------------------------------- commits claimed by manifests

#[test]
fn denies_manifest_claiming_another_commit_than_the_provenance() {
    let s = CiRegistry::new();
    let digest = s.image("team/app", "v1");
    s.attest("team/app", &digest, &[s.att("team/app", &digest)]);
    let image = format!("{}/team/app:v1", s.host());
    let key = "supplygate.dev/source-commit";
    let manifests = deployment("right", &image, &[(key, COMMIT)])
        + &deployment("short", &image, &[(key, &COMMIT[..7])])
        + &deployment("wrong", &image, &[(key, OTHER_COMMIT)]);
    let out = s.check("", &manifests, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(codes(&images(&json)[0]), Vec::<&str>::new(), "{out:?}");
    assert_eq!(codes(&images(&json)[1]), Vec::<&str>::new(), "{out:?}");
    let finding = only_finding(&images(&json)[2], "source-commit-mismatch");
    assert_eq!(
        finding["expected"],
        format!("`{OTHER_COMMIT}`"),
        "{finding:#}"
    );
    assert_eq!(finding["found"], COMMIT, "{finding:#}");
}

#[test]
fn reads_the_claimed_commit_from_the_configured_key_in_labels_too() {
    let s = CiRegistry::new();
    let digest = s.image("team/app", "v1");
    s.attest("team/app", &digest, &[s.att("team/app", &digest)]);
    let image = format!("{}/team/app:v1", s.host());
    let manifests = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    acme.dev/commit: \"{OTHER_COMMIT}\"\nspec:\n  containers:\n    - name: app\n      image: {image}\n"
    );
    let out = s.check("source:\n  commit_key: acme.dev/commit\n", &manifests, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let finding = only_finding(&images(&out.json())[0], "source-commit-mismatch").clone();
    assert!(
        finding["message"].as_str().unwrap().contains("label"),
        "{finding:#}"
    );
}

#[test]
fn tag_that_looks_like_a_commit_must_prefix_the_provenance_commit() {
    let s = CiRegistry::new();
    let good_tag = &COMMIT[..12];
    let bad_tag = &OTHER_COMMIT[..12];
    let good = s.image("team/app", good_tag);
    let bad = s.image("team/app", bad_tag);
    s.attest("team/app", &good, &[s.att("team/app", &good)]);
    s.attest("team/app", &bad, &[s.att("team/app", &bad)]);
    let host = s.host();
    let manifests = deployment("good", &format!("{host}/team/app:{good_tag}"), &[])
        + &deployment("bad", &format!("{host}/team/app:{bad_tag}"), &[]);
    let out = s.check("", &manifests, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(images(&json)[0]["decision"], "allow", "{out:?}");
    let finding = only_finding(&images(&json)[1], "source-commit-mismatch");
    assert_eq!(finding["found"], COMMIT, "{finding:#}");
}

// ---------------------------------------------------------------- reachability in a clone

/// A git repository: `main` with two commits, `side` branching off the first with its own.
struct GitRepo {
    dir: PathBuf,
    /// The tip of `main`.
    release: String,
    /// The first commit of `main`, an ancestor of `release`.
    base: String,
    /// A commit only on `side`.
    side: String,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl GitRepo {
    fn create(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "base"]);
        let base = git(&dir, &["rev-parse", "HEAD"]);
        git(&dir, &["checkout", "-q", "-b", "side"]);
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "experiment"]);
        let side = git(&dir, &["rev-parse", "HEAD"]);
        git(&dir, &["checkout", "-q", "main"]);
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "release"]);
        let release = git(&dir, &["rev-parse", "HEAD"]);
        assert_eq!(git(&dir, &["rev-parse", "main"]), release);
        Self {
            dir,
            release,
            base,
            side,
        }
    }
}

/// Images `team/<name>:v1` whose provenance (all claiming `refs/heads/main`) names `commit`.
fn images_with_commits(s: &CiRegistry, commits: &[(&str, &str)]) -> String {
    let mut manifests = String::new();
    for (name, commit) in commits {
        let repo = format!("team/{name}");
        let digest = s.image(&repo, "v1");
        s.attest(&repo, &digest, &[s.att(&repo, &digest).commit(commit)]);
        manifests.push_str(&deployment(name, &format!("{}/{repo}:v1", s.host()), &[]));
    }
    manifests
}

const NOT_IN_CLONE: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

#[test]
fn checks_commit_reachability_in_a_clone_given_on_the_command_line() {
    let s = CiRegistry::new();
    let repo = GitRepo::create(s.path("clone"));
    let manifests = images_with_commits(
        &s,
        &[
            ("release", &repo.release),
            ("base", &repo.base),
            ("side", &repo.side),
            ("unknown", NOT_IN_CLONE),
        ],
    );
    let spec = format!("{SOURCE}={}", repo.dir.display());
    let out = s.check("", &manifests, &["--source-repo", &spec]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let imgs = images(&json);
    assert_eq!(codes(&imgs[0]), Vec::<&str>::new(), "{out:?}");
    assert_eq!(codes(&imgs[1]), Vec::<&str>::new(), "{out:?}");
    let side = only_finding(&imgs[2], "commit-not-reachable");
    assert!(
        side["message"]
            .as_str()
            .unwrap()
            .contains("is not on an allowed branch or tag"),
        "{side:#}"
    );
    let unknown = only_finding(&imgs[3], "commit-not-reachable");
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("is not in the clone"),
        "{unknown:#}"
    );

    // Without the clone nothing is checked: all four pass the rule.
    let out = s.check("", &manifests, &[]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn checks_commit_reachability_in_a_clone_from_the_config_relative_to_it() {
    let s = CiRegistry::new();
    let repo = GitRepo::create(s.path("src/app"));
    let manifests = images_with_commits(&s, &[("release", &repo.release), ("side", &repo.side)]);
    // The config lives in `conf/`; its paths are relative to it, not to the working directory.
    let tail = "source:\n  clones:\n    \"https://github.com/acme/app\": ../src/app\n";
    s.file(
        "conf/supplygate.yaml",
        &s.config_text("../keys/ci.pub", tail),
    );
    s.file("deploy.yaml", &manifests);
    let out = s.run(&[
        "check",
        "deploy.yaml",
        "--config",
        "conf/supplygate.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(codes(&images(&json)[0]), Vec::<&str>::new(), "{out:?}");
    only_finding(&images(&json)[1], "commit-not-reachable");
}

#[test]
fn side_branch_commit_is_reachable_when_the_rule_allows_any_ref() {
    // A rule without `refs` accepts a commit on any branch or tag of the clone.
    let s = CiRegistry::new();
    let repo = GitRepo::create(s.path("clone"));
    let manifests = images_with_commits(&s, &[("side", &repo.side), ("unknown", NOT_IN_CLONE)]);
    let config = s
        .config_text("keys/ci.pub", "")
        .replace("    refs: [\"refs/heads/main\", \"refs/tags/v*\"]\n", "");
    assert!(!config.contains("refs:"));
    s.file("supplygate.yaml", &config);
    s.file("deploy.yaml", &manifests);
    let spec = format!("{SOURCE}={}", repo.dir.display());
    let out = s.run(&[
        "check",
        "deploy.yaml",
        "--format",
        "json",
        "--source-repo",
        &spec,
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(codes(&images(&json)[0]), Vec::<&str>::new(), "{out:?}");
    only_finding(&images(&json)[1], "commit-not-reachable");
}

// ---------------------------------------------------------------- could not decide

#[test]
fn clone_that_is_not_a_git_repository_fails_closed_with_exit_2() {
    let s = CiRegistry::new();
    std::fs::create_dir_all(s.path("not-a-clone")).unwrap();
    let manifests = images_with_commits(&s, &[("app", COMMIT)]);
    let spec = format!("{SOURCE}={}", s.path("not-a-clone").display());
    let out = s.check("", &manifests, &["--source-repo", &spec]);
    assert_eq!(out.code, 2, "{out:?}");
    let json = out.json();
    assert_eq!(json["decision"], "error", "{out:?}");
    assert_eq!(
        codes(&images(&json)[0]),
        vec!["provenance-check-failed"],
        "{out:?}"
    );
}

/// A blob that does not hash to its digest is tampering (or a broken proxy): a deny naming
/// the digest, as for a tampered image manifest, not a could-not-decide.
#[test]
fn attestation_blob_that_does_not_match_its_digest_is_denied_as_digest_mismatch() {
    let s = CiRegistry::new();
    let digest = s.image("team/app", "v1");
    let blobs = s.attest("team/app", &digest, &[s.att("team/app", &digest)]);
    s.registry.tamper_blob(&blobs[0], |bytes| bytes.push(b' '));
    let image = format!("{}/team/app:v1", s.host());
    let out = s.check("", &deployment("app", &image, &[]), &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(json["decision"], "deny", "{out:?}");
    assert_eq!(codes(&images(&json)[0]), vec!["digest-mismatch"], "{out:?}");
    assert!(out.stdout.contains(&blobs[0]), "names the blob: {out:?}");
}

// ---------------------------------------------------------------- keyless provenance

/// A keyless cosign `.att` layer for `att`: a Fulcio-like leaf with `claims` from
/// `sigstore`, the DSSE signature by its key, and a Rekor `dsse` entry's SET.
fn keyless_layer(sigstore: &TestSigstore, att: &Att, claims: GithubClaims) -> AttLayer {
    let (certificate, key) = sigstore
        .keyless(&att.subject_name, &att.subject_digest)
        .github(claims)
        .certificate();
    let statement = serde_json::to_vec(&att.statement()).unwrap();
    let signature = key.sign(&dsse_pae(IN_TOTO, &statement)).unwrap();
    let envelope = serde_json::to_vec(&json!({
        "payloadType": IN_TOTO,
        "payload": b64(&statement),
        "signatures": [{ "keyid": "", "sig": b64(&signature) }],
    }))
    .unwrap();
    let body = serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": { "algorithm": "sha256", "value": hex(&Sha256::digest(&envelope)) },
            "payloadHash": { "algorithm": "sha256", "value": hex(&Sha256::digest(&statement)) },
            "signatures": [{
                "signature": b64(&signature),
                "verifier": b64(certificate.as_bytes()),
            }],
        },
    }))
    .unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let set = sigstore.rekor.rekor_bundle(&body, now - 30, 7001);
    AttLayer {
        envelope,
        predicate_type: att.predicate_type(),
        annotations: vec![
            (ANNOTATION_CERTIFICATE, certificate),
            (ANNOTATION_CHAIN, sigstore.issuing_ca().chain_pem()),
            (ANNOTATION_BUNDLE, set),
        ],
    }
}

#[test]
fn denies_keyless_provenance_whose_certificate_names_another_repository() {
    let s = CiRegistry::new();
    let sigstore = TestSigstore::new();
    sigstore.write_trusted_root(&s.path("root.json"));
    let mut manifests = String::new();
    for (repo, claims) in [
        ("team/genuine", GithubClaims::default()),
        (
            "team/forked",
            GithubClaims {
                repository: "https://github.com/acme/app-fork".into(),
                ..GithubClaims::default()
            },
        ),
    ] {
        let digest = s.image(repo, "v1");
        let att = s.att(repo, &digest).commit(SOURCE_COMMIT);
        push_attestations(
            &s.registry,
            repo,
            &digest,
            &[keyless_layer(&sigstore, &att, claims)],
        );
        manifests.push_str(&deployment(
            repo.trim_start_matches("team/"),
            &format!("{}/{repo}:v1", s.host()),
            &[],
        ));
    }
    let config = s.config_text("keys/ci.pub", "").replace(
        "signers:\n",
        &format!(
            "signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: root.json\n"
        ),
    ).replace("signers: [ci]", "signers: [release]");
    s.file("supplygate.yaml", &config);
    s.file("deploy.yaml", &manifests);
    let out = s.run(&["check", "deploy.yaml", "--format", "json"]);
    let json = out.json();
    let genuine = &images(&json)[0];
    assert_eq!(codes(genuine), Vec::<&str>::new(), "{out:?}");
    let fact = &facts(genuine)[0];
    assert_eq!(fact["signature_kind"], "cosign-keyless", "{fact:#}");
    assert_eq!(fact["verified_by"], json!(["release"]), "{fact:#}");
    assert_eq!(
        fact["certificate_agreement"]["repository"]["result"], "agrees",
        "{fact:#}"
    );
    let forked = &images(&json)[1];
    only_finding(forked, "certificate-provenance-mismatch");
    let fact = &facts(forked)[0];
    assert_eq!(fact["verified_by"], json!(["release"]), "{fact:#}");
    assert_eq!(
        fact["certificate_agreement"]["repository"],
        json!({
            "result": "disagrees",
            "certificate": "https://github.com/acme/app-fork",
            "provenance": SOURCE,
        }),
        "{fact:#}"
    );
    assert_eq!(out.code, 1, "{out:?}");
}

#[test]
fn legacy_att_and_cosign_v3_bundle_referrer_on_one_image_are_both_judged() {
    // cosign 2 attaches a keyless `.att`; cosign 3 (or actions/attest-build-provenance with
    // `push-to-registry: true`) a DSSE bundle as an OCI referrer, in the tag schema on
    // docker-registry. Both are found on the same image and verified.
    let s = CiRegistry::new();
    let sigstore = TestSigstore::new();
    sigstore.write_trusted_root(&s.path("root.json"));
    let repo = "team/app";
    let digest = s.image(repo, "v1");
    let att = s.att(repo, &digest).commit(SOURCE_COMMIT);
    push_attestations(
        &s.registry,
        repo,
        &digest,
        &[keyless_layer(&sigstore, &att, GithubClaims::default())],
    );
    let bundle = sigstore
        .keyless(&format!("{}/{repo}", s.host()), &digest)
        .predicate_type(SLSA_V1)
        .sign_bundle();
    let referrers = pki::push_bundle_referrer(&s.registry, repo, &digest, &[bundle]);
    let config = s
        .config_text("keys/ci.pub", "")
        .replace(
            "signers:\n",
            &format!(
                "signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: root.json\n      repo: acme/app\n"
            ),
        )
        .replace("signers: [ci]", "signers: [release]");
    s.file("supplygate.yaml", &config);
    s.file(
        "deploy.yaml",
        &deployment("app", &format!("{}/{repo}:v1", s.host()), &[]),
    );
    let out = s.run(&["check", "deploy.yaml", "--format", "json"]);
    let json = out.json();
    let image = &images(&json)[0];
    assert_eq!(codes(image), Vec::<&str>::new(), "{out:?}");
    let att_tag = format!("{}.att", digest.replacen(':', "-", 1));
    // `check` stops at the `.att` once it satisfies the rule (the referrers are read only
    // when the `.att` attestations cannot: see the next test); `explain` gives the full
    // account, both judged.
    let checked = facts(image);
    assert_eq!(checked.len(), 1, "{checked:#?}");
    assert_eq!(
        checked[0]["location"]["tag"],
        json!(att_tag),
        "{checked:#?}"
    );
    assert_eq!(
        checked[0]["verified_by"],
        json!(["release"]),
        "{checked:#?}"
    );
    let explained = s.run(&[
        "explain",
        &format!("{}/{repo}:v1", s.host()),
        "--format",
        "json",
    ]);
    let explained = explained.json();
    let facts = explained["attestations"]["facts"].as_array().unwrap();
    assert_eq!(facts.len(), 2, "{facts:#?}");
    let (legacy, referrer): (Vec<&Value>, Vec<&Value>) = facts
        .iter()
        .partition(|f| f["location"]["tag"] == json!(att_tag));
    assert_eq!((legacy.len(), referrer.len()), (1, 1), "{facts:#?}");
    assert_eq!(legacy[0]["signature_kind"], "cosign-keyless", "{facts:#?}");
    assert_eq!(legacy[0]["verified_by"], json!(["release"]), "{facts:#?}");
    assert_eq!(referrer[0]["signature_kind"], "bundle", "{facts:#?}");
    assert_eq!(referrer[0]["verified_by"], json!(["release"]), "{facts:#?}");
    assert_eq!(
        referrer[0]["location"]["manifest"],
        json!(referrers[0]),
        "{facts:#?}"
    );
    assert_eq!(
        referrer[0]["location"]["tag"],
        json!(digest.replacen(':', "-", 1)),
        "{facts:#?}"
    );
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn a_provenance_only_among_the_referrers_is_found_when_the_att_cannot_satisfy_the_rule() {
    // The `.att` is signed by a signer the rule does not name; the bundle referrer by the one
    // it does: `check` must read the referrers and allow on the bundle.
    let s = CiRegistry::new();
    let sigstore = TestSigstore::new();
    sigstore.write_trusted_root(&s.path("root.json"));
    let repo = "team/app";
    let digest = s.image(repo, "v1");
    let att = s.att(repo, &digest).commit(SOURCE_COMMIT);
    s.attest(repo, &digest, &[att]);
    let bundle = sigstore
        .keyless(&format!("{}/{repo}", s.host()), &digest)
        .predicate_type(SLSA_V1)
        .sign_bundle();
    pki::push_bundle_referrer(&s.registry, repo, &digest, &[bundle]);
    let config = s
        .config_text("keys/ci.pub", "")
        .replace(
            "signers:\n",
            &format!(
                "signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: root.json\n      repo: acme/app\n"
            ),
        )
        .replace("signers: [ci]", "signers: [release]");
    s.file("supplygate.yaml", &config);
    s.file(
        "deploy.yaml",
        &deployment("app", &format!("{}/{repo}:v1", s.host()), &[]),
    );
    let out = s.run(&["check", "deploy.yaml", "--format", "json"]);
    let json = out.json();
    let image = &images(&json)[0];
    let facts = facts(image);
    assert_eq!(facts.len(), 2, "{facts:#?}");
    assert_eq!(facts[0]["verified_by"], json!(["ci"]), "{facts:#?}");
    assert_eq!(facts[1]["signature_kind"], "bundle", "{facts:#?}");
    assert_eq!(facts[1]["verified_by"], json!(["release"]), "{facts:#?}");
    // Judged on the bundle's provenance (the test Sigstore's names no source repository or
    // ref), not "no provenance": the referrers were read.
    let codes = codes(image);
    assert!(codes.contains(&"source-repository-mismatch"), "{codes:?}");
    assert!(!codes.contains(&"provenance-missing"), "{codes:?}");
}
