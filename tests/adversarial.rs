//! The adversarial suite (issue 15): one scenario per attack class, named for the attack, each
//! asserting the specific code the gate answers with — never a bare "it failed". The attacks
//! run against the `supplygate` binary, a real `docker-registry`, attestations signed as cosign
//! signs them, and the admission webhook's review path.
//!
//! Classes already covered elsewhere are listed here, not repeated (class -> test):
//!
//! | attack class | test |
//! |---|---|
//! | signature copied to another digest | signatures::denies_signature_for_another_digest |
//! | signature copied to another repository | signatures::denies_signature_whose_docker_reference_names_another_repository |
//! | provenance about another image | provenance::denies_provenance_about_another_image |
//! | provenance edited after signing | provenance::denies_provenance_edited_after_signing |
//! | provenance signed by an untrusted key | provenance::denies_provenance_signed_by_an_untrusted_key |
//! | builder / source / ref not allowed | provenance::denies_provenance_from_an_untrusted_builder, provenance::denies_provenance_from_another_source_repository, provenance::denies_provenance_built_from_a_ref_that_is_not_allowed |
//! | attestation blob that does not match its digest | provenance::attestation_blob_that_does_not_match_its_digest_is_denied_as_digest_mismatch |
//! | keyless certificate for another repository | provenance::denies_keyless_provenance_whose_certificate_names_another_repository |
//!
//! Each hole of issue 15 has its scenario here; it failed before its fix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/att.rs"]
mod att;
mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use att::{Att, AttLayer};
use common::{GeneratedImage, Outcome, TestRegistry, OCI_INDEX, OCI_MANIFEST};
use pki::TestKey;
use serde_json::{json, Value};

/// A real registry, a trusted CI key and a directory to run the binary in.
struct Attack {
    registry: TestRegistry,
    ci: TestKey,
    dir: tempfile::TempDir,
}

impl Attack {
    fn new() -> Self {
        let attack = Self {
            registry: TestRegistry::start(),
            ci: TestKey::generate(),
            dir: tempfile::tempdir().unwrap(),
        };
        attack.file("ci.pub", &attack.ci.public_pem());
        attack
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    /// `registry:` settings for the test registry, signer `ci`, then `rules`.
    fn config(&self, rules: &str) {
        let config = format!(
            "registries:\n  \"{host}\":\n    insecure: true\nnetwork:\n  retries: 0\n  \
             request_timeout: 5s\nsigners:\n  ci: {{key: ci.pub, insecure_ignore_tlog: true}}\n{rules}",
            host = self.registry.host()
        );
        self.file("supplygate.yaml", &config);
    }

    /// Pushes the manifest of `image` (and its blobs) to `repo` by digest; returns the digest.
    fn push(&self, repo: &str, image: &GeneratedImage) -> String {
        self.registry.upload_blob(repo, &image.layer);
        self.registry.upload_blob(repo, &image.config);
        let digest = image.digest();
        self.registry
            .put_manifest(repo, &digest, OCI_MANIFEST, &image.manifest);
        digest
    }

    /// Attaches provenance for `subject` (signed by the CI key) as `digest`'s `.att`.
    fn attest(&self, repo: &str, digest: &str, subject: &str) {
        let att = Att::about(&format!("{}/{repo}", self.registry.host()), subject);
        att::push_attestations(
            &self.registry,
            repo,
            digest,
            &[AttLayer::signed(&att, &self.ci)],
        );
    }

    /// `check deploy.yaml --format json` over `manifests`.
    fn check(&self, manifests: &str) -> Outcome {
        self.file("deploy.yaml", manifests);
        let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
            .args(["check", "deploy.yaml", "--format", "json"])
            .current_dir(self.dir.path())
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env("DOCKER_CONFIG", self.path(".docker-none"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Outcome::from_output(out)
    }
}

/// A Pod running `image`.
fn pod(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n    - name: app\n      image: {image}\n"
    )
}

/// The finding codes of the report's only image.
fn codes(out: &Outcome) -> Vec<String> {
    let json = out.json();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{out:?}");
    images[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------- hole 1: index entries

/// An index of a `linux/amd64` manifest and a second one whose entry (without a `platform`)
/// `entry` edits, under a provenance-only rule. The index carries genuine provenance whose
/// only subject is the amd64 manifest, as per-platform attestations do.
fn index_with_second_entry(entry: impl FnOnce(&mut Value)) -> Outcome {
    let attack = Attack::new();
    let repo = "team/app";
    let good = attack.push(repo, &GeneratedImage::new("good", "amd64", None));
    let evil = attack.push(repo, &GeneratedImage::new("evil", "arm64", None));
    let mut second = json!({"mediaType": OCI_MANIFEST, "digest": evil, "size": 1});
    entry(&mut second);
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": good, "size": 1,
         "platform": {"os": "linux", "architecture": "amd64"}},
        second,
    ]});
    let index = serde_json::to_vec(&index).unwrap();
    attack.registry.put_manifest(repo, "v1", OCI_INDEX, &index);
    attack.attest(repo, &common::sha256_digest(&index), &good);
    attack.config(&format!(
        "provenance:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [ci]\n    builders: [\"{}\"]\n",
        att::BUILDER
    ));
    attack.check(&pod(&attack.registry.image("team/app:v1")))
}

#[test]
fn index_entry_without_platform_needs_its_own_provenance() {
    let out = index_with_second_entry(|_| {});
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(codes(&out), ["provenance-missing"], "{out:?}");
}

#[test]
fn index_entry_with_null_platform_needs_its_own_provenance() {
    let out = index_with_second_entry(|e| e["platform"] = Value::Null);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(codes(&out), ["provenance-missing"], "{out:?}");
}

#[test]
fn unknown_platform_without_the_attestation_annotation_needs_provenance() {
    let out = index_with_second_entry(|e| {
        e["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    });
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(codes(&out), ["provenance-missing"], "{out:?}");
}

/// The rule for buildkit's attestation manifests: `unknown/unknown` and annotated as such, no
/// runtime selects them, so they need no provenance of their own.
#[test]
fn buildkit_attestation_manifest_entry_needs_no_provenance() {
    let out = index_with_second_entry(|e| {
        e["platform"] = json!({"os": "unknown", "architecture": "unknown"});
        e["annotations"] = json!({
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        });
    });
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(codes(&out), Vec::<String>::new(), "{out:?}");
}

// ---------------------------------------------------------------- config holes

/// Runs `check` on a Pod of an image that is not there, under `rules`; returns the run.
fn check_config(rules: &str) -> Outcome {
    let attack = Attack::new();
    attack.config(rules);
    attack.check(&pod("nginx:1.25"))
}

/// Asserts a config error at `line:column` of `supplygate.yaml` saying `says`.
fn assert_config_error(out: &Outcome, line: usize, column: usize, says: &str) {
    assert_eq!(out.code, 2, "{out:?}");
    let at = format!("supplygate.yaml:{line}:{column}: ");
    let problem = out
        .stderr
        .lines()
        .find(|l| l.contains(&at))
        .unwrap_or_else(|| panic!("no problem at {at}: {out:?}"));
    assert!(problem.contains(says), "{problem}");
}

// Hole 3: `exemptions[].namespaces: []` exempted every namespace.
#[test]
fn empty_exemption_namespace_list_is_a_config_error() {
    let out = check_config(
        "exemptions:\n  - images: [\"**\"]\n    namespaces: []\n    reason: r\n    expires: 2999-01-01\n",
    );
    assert_config_error(&out, 11, 17, "`exemptions[].namespaces` is an empty list");
}

#[test]
fn empty_break_glass_namespace_list_is_a_config_error() {
    let out = check_config("break_glass:\n  namespaces: []\n");
    assert_config_error(&out, 10, 15, "`break_glass.namespaces` is an empty list");
}

// ---------------------------------------------------------------- break-glass and webhook

/// Hole 6: break-glass needs a reason. A Deployment in the break-glass namespace `ops`
/// annotated with `value`, running an unsigned image a rule requires a signature of.
fn break_glass_with(value: &str) -> Outcome {
    let attack = Attack::new();
    let digest = attack
        .registry
        .push_generated_many("team/app", &["v1".to_owned()])
        .remove(0);
    attack.config(
        "require:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [ci]\nbreak_glass:\n  namespaces: [ops]\n",
    );
    let image = attack.registry.image(&format!("team/app@{digest}"));
    attack.check(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: ops\n  annotations:\n    \
         supplygate.dev/break-glass: {value}\nspec:\n  containers:\n    - name: app\n      image: {image}\n"
    ))
}

#[test]
fn break_glass_without_a_reason_overrides_nothing() {
    for value in ["\"\"", "\"   \"", "\"\\u200b\"", "\"-\""] {
        let out = break_glass_with(value);
        assert_eq!(out.code, 1, "{value}: {out:?}");
        let mut codes = codes(&out);
        codes.sort();
        assert_eq!(
            codes,
            ["break-glass-without-reason", "unsigned-image"],
            "{value}: {out:?}"
        );
    }
}

#[test]
fn break_glass_with_a_reason_still_works() {
    let out = break_glass_with("\"INC-42: registry outage\"");
    assert_eq!(out.code, 0, "{out:?}");
    let mut codes = codes(&out);
    codes.sort();
    assert_eq!(codes, ["break-glass", "unsigned-image"], "{out:?}");
}

/// Hole 5: an AdmissionReview whose object claims the break-glass namespace `ops` while the
/// request is for `shop` is denied before any image is looked at.
#[test]
fn webhook_object_namespace_other_than_the_request_is_denied() {
    use supplygate::webhook::review::{decode, triage, Triage};
    let body = include_str!("../fixtures/admission/deployment-create.json");
    let mut review: Value = serde_json::from_str(body).unwrap();
    review["request"]["namespace"] = json!("shop");
    review["request"]["object"]["metadata"]["namespace"] = json!("ops");
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"supplygate.dev/break-glass": "INC-1: trust me"});
    let config = supplygate::config::Config::parse(
        "break_glass:\n  namespaces: [ops]\n",
        std::path::Path::new("supplygate.yaml"),
    )
    .unwrap();
    let request = decode(review.to_string().as_bytes()).unwrap();
    match triage(&request, &config) {
        Triage::Deny(code, message) => {
            assert_eq!(code, "namespace-mismatch");
            assert!(message.contains("[namespace-mismatch]"), "{message}");
        }
        other => panic!("a namespace disagreement must be denied, got {other:?}"),
    }
}

// ---------------------------------------------------------------- hole 2: glob spellings

/// Hole 2: each spelling of Docker Hub's nginx in a `require:` glob must match `nginx:1.25`
/// (served by a mirror on loopback, so nothing leaves the machine); before, each matched
/// nothing and the unsigned image was allowed under `unmatched_images: allow`.
#[test]
fn require_glob_spelled_otherwise_still_requires_a_signature() {
    let attack = Attack::new();
    attack
        .registry
        .push_generated_many("library/nginx", &["1.25".to_owned()]);
    let host = attack.registry.host();
    for glob in [
        "docker.io/nginx",
        "index.docker.io/library/nginx",
        "DOCKER.IO/library/nginx",
        "docker.io:443/library/nginx",
        "registry-1.docker.io/library/nginx",
    ] {
        let config = format!(
            "registries:\n  docker.io:\n    mirrors: [\"{host}\"]\n  \"{host}\":\n    insecure: true\n\
             network:\n  retries: 0\n  request_timeout: 5s\nsigners:\n  ci: {{key: ci.pub, insecure_ignore_tlog: true}}\n\
             require:\n  - images: [\"{glob}\"]\n    signers: [ci]\n"
        );
        attack.file("supplygate.yaml", &config);
        let out = attack.check(&pod("nginx:1.25"));
        assert_eq!(out.code, 1, "{glob}: {out:?}");
        assert_eq!(codes(&out), ["unsigned-image"], "{glob}: {out:?}");
    }
}

#[test]
fn glob_with_a_trailing_slash_is_a_config_error() {
    let out =
        check_config("require:\n  - images: [\"docker.io/library/nginx/\"]\n    signers: [ci]\n");
    assert_config_error(&out, 10, 14, "an empty path segment");
    assert!(out.stderr.contains("remove the extra `/`"), "{out:?}");
}

// ---------------------------------------------------------------- hole 4: user policies

/// Hole 4: `covered if { input.image.name }` in the shipped package `supplygate.images` once
/// switched `policy.unmatched_images: deny` off; now the policy does not load (exit 2).
#[test]
fn user_policy_cannot_switch_off_unmatched_images_deny() {
    let attack = Attack::new();
    let digest = attack
        .registry
        .push_generated_many("team/app", &["v1".to_owned()])
        .remove(0);
    std::fs::create_dir_all(attack.path("policies")).unwrap();
    attack.file(
        "policies/cover.rego",
        "package supplygate.images\n\ncovered if {\n\tinput.image.name\n}\n",
    );
    attack.config("policy:\n  unmatched_images: deny\n  paths: [policies]\n");
    let out = attack.check(&pod(&attack.registry.image(&format!("team/app@{digest}"))));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "policies/cover.rego:3:1: rule `supplygate.images.covered` would change the shipped package `supplygate.images`"
        ),
        "{out:?}"
    );
}
