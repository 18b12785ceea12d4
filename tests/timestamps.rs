//! RFC 3161 timestamps as the RFC allows them, through supplygate's verification path.
//!
//! The bundles in `fixtures/tsa/` were made by third-party producers (sigstore-js against
//! `@sigstore/mock`'s Fulcio, CT log, Rekor and TSA; `openssl ts -reply` as a second TSA;
//! `openssl asn1parse` + `openssl cms` for the one genTime no producer emits) by
//! `fixtures/tsa/make.sh`. Each is verified with a keyless signer over the fixture's trusted
//! root, which lists the mock TSA and the OpenSSL TSA as `timestampAuthorities`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Outcome, TestRegistry};
use supplygate::verify::{signers, verify_bundle_for_artifact, Signer, Subject, SubjectMatcher};

const IDENTITY: &str =
    "https://github.com/supplygate/fixtures/.github/workflows/tsa.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tsa")
}

fn signer() -> Signer {
    let root = signers::load_trusted_root(&dir().join("trusted_root.json")).unwrap();
    Signer::keyless(
        "tsa",
        ISSUER.into(),
        SubjectMatcher::Exact(IDENTITY.into()),
        Some(root),
    )
    .unwrap()
}

/// The fixture `name` verified over the fixture artifact: the proven time, or the reason.
fn verify(name: &str) -> Result<String, String> {
    let bundle = std::fs::read(dir().join(format!("{name}.sigstore.json"))).unwrap();
    let artifact = std::fs::read(dir().join("artifact")).unwrap();
    verify_bundle_for_artifact(&bundle, Subject::Bytes(&artifact), &signer())
        .map(|v| v.signed_at.unwrap_or_default())
        .map_err(|r| r.reason)
}

fn rejected(name: &str) -> String {
    match verify(name) {
        Ok(at) => panic!("{name}: accepted (signed at {at}), expected a rejection"),
        Err(reason) => reason,
    }
}

fn accepted(name: &str) {
    if let Err(reason) = verify(name) {
        panic!("{name}: rejected ({reason}), expected acceptance");
    }
}

/// The genTime of the fixture's timestamp, as it is written in the TSTInfo.
fn gen_time_text(name: &str) -> String {
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("cases.json")).unwrap()).unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap();
    let note = case["note"].as_str().unwrap();
    note.split_whitespace()
        .find(|w| w.starts_with("20") && w.ends_with('Z'))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn accepts_gen_time_without_fraction_from_sigstore_js() {
    assert!(!gen_time_text("mock-0-digits").contains('.'));
    accepted("mock-0-digits");
}

#[test]
fn accepts_gen_time_with_one_fraction_digit_from_sigstore_js() {
    assert!(gen_time_text("mock-1-digit").ends_with(".8Z"));
    accepted("mock-1-digit");
}

#[test]
fn accepts_gen_time_with_two_fraction_digits_from_sigstore_js() {
    assert!(gen_time_text("mock-2-digits").ends_with(".85Z"));
    accepted("mock-2-digits");
}

/// The verified time keeps the fraction, and says which TSA of the root proved it.
#[test]
fn names_the_tsa_and_the_fractional_gen_time_that_proved_the_signature() {
    let bundle = std::fs::read(dir().join("mock-2-digits.sigstore.json")).unwrap();
    let artifact = std::fs::read(dir().join("artifact")).unwrap();
    let verified =
        verify_bundle_for_artifact(&bundle, Subject::Bytes(&artifact), &signer()).unwrap();
    let text = gen_time_text("mock-2-digits");
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[8..10],
        &text[10..12],
        &text[12..]
    );
    assert!(rfc3339.ends_with(".85Z"), "{rfc3339}");
    assert!(
        verified.time_proofs.contains(&format!(
            "RFC 3161 timestamp by `O=sigstore.mock,CN=tsa signing` at {rfc3339}"
        )),
        "{:?}",
        verified.time_proofs
    );
}

#[test]
fn accepts_gen_time_with_three_fraction_digits_from_sigstore_js() {
    assert!(gen_time_text("mock-3-digits").ends_with(".853Z"));
    accepted("mock-3-digits");
}

/// OpenSSL's tokens also carry `accuracy` with IMPLICIT `millis`/`micros`, `ordering` and
/// a `tsa` name, each of which the unpatched sigstore-tsa could not decode.
#[test]
fn accepts_openssl_whole_second_token_with_accuracy_ordering_and_tsa_name() {
    accepted("openssl-0-digits");
}

#[test]
fn accepts_gen_time_with_six_fraction_digits_from_openssl() {
    accepted("openssl-6-digits");
}

#[test]
fn accepts_handmade_token_with_two_fraction_digits() {
    // The control for the trailing-zero case: the same hand-made route, a DER genTime.
    assert!(gen_time_text("handmade-2-digits").ends_with(".85Z"));
    accepted("handmade-2-digits");
}

#[test]
fn rejects_gen_time_with_a_trailing_zero_fraction() {
    let text = gen_time_text("handmade-trailing-zero");
    assert!(text.ends_with(".850Z"), "{text}");
    let reason = rejected("handmade-trailing-zero");
    assert!(
        reason.contains(&format!("genTime `{text}`")) && reason.contains("trailing zero"),
        "{reason}"
    );
}

/// Finer than nanoseconds: refused, never truncated (truncating `.0000000001` would give
/// the whole second and skip the chain check at the next one) nor rounded up.
#[test]
fn rejects_gen_time_with_ten_fraction_digits() {
    let text = gen_time_text("handmade-10-digits");
    assert!(text.ends_with(".1234567891Z"), "{text}");
    let reason = rejected("handmade-10-digits");
    assert!(
        reason.contains(&format!(
            "genTime `{text}` has 10 fraction digits: more than 9 (nanoseconds) cannot be \
             represented"
        )),
        "{reason}"
    );
}

#[test]
fn rejects_gen_time_that_is_not_der() {
    for (name, why) in [
        (
            "handmade-empty-fraction",
            "the fraction after `.` is not digits",
        ),
        (
            "handmade-comma",
            "does not start with the 14 digits `YYYYMMDDhhmmss`",
        ),
        ("handmade-offset", "does not end in `Z` (UTC)"),
        ("handmade-leap-second", "no such time of day"),
    ] {
        let reason = rejected(name);
        assert!(
            reason.contains("the token is malformed (genTime `")
                && reason.contains("is not a DER GeneralizedTime")
                && reason.contains(why),
            "{name}: {reason}"
        );
    }
}

#[test]
fn rejects_timestamp_from_a_tsa_outside_the_trusted_root() {
    let reason = rejected("mock-untrusted-tsa");
    assert!(
        reason.contains("not signed by a timestamp authority of the trusted root"),
        "{reason}"
    );
}

#[test]
fn rejects_timestamp_over_another_signature() {
    let reason = rejected("mock-imprint-other-signature");
    assert!(
        reason.contains("covers other bytes than this signature"),
        "{reason}"
    );
}

#[test]
fn rejects_gen_time_outside_the_tsa_certificate_validity() {
    let reason = rejected("mock-before-tsa-validity");
    assert!(
        reason.contains("the TSA certificate was not valid at genTime"),
        "{reason}"
    );
}

/// Without the TSA in the trusted root, a bundle that verified is rejected: the timestamp
/// is checked, never skipped because a log entry also proves a time.
#[test]
fn rejects_valid_bundle_when_the_root_lists_no_tsa() {
    let mut root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("trusted_root.json")).unwrap()).unwrap();
    root["timestampAuthorities"] = serde_json::json!([]);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("root.json");
    std::fs::write(&path, serde_json::to_vec(&root).unwrap()).unwrap();
    let signer = Signer::keyless(
        "tsa",
        ISSUER.into(),
        SubjectMatcher::Exact(IDENTITY.into()),
        Some(signers::load_trusted_root(&path).unwrap()),
    )
    .unwrap();
    let bundle = std::fs::read(dir().join("mock-2-digits.sigstore.json")).unwrap();
    let artifact = std::fs::read(dir().join("artifact")).unwrap();
    let reason = verify_bundle_for_artifact(&bundle, Subject::Bytes(&artifact), &signer)
        .map(|_| ())
        .unwrap_err()
        .reason;
    assert!(reason.contains("no timestamp authority"), "{reason}");
}

// ------------------------------------------------------- `supplygate check`, real registry

/// `fixtures/tsa/image` in a registry started for the test, with `bundle` (a message
/// signature over its manifest) attached as a cosign v3 referrer, and a directory with a
/// Deployment of it and a config requiring a keyless signer over the fixture root.
struct ImageCase {
    registry: TestRegistry,
    work: tempfile::TempDir,
}

impl ImageCase {
    fn new(bundle: &str) -> Self {
        let registry = TestRegistry::start();
        let image = dir().join("image");
        let config = std::fs::read(image.join("config.json")).unwrap();
        let manifest = std::fs::read(image.join("manifest.json")).unwrap();
        registry.upload_blob("team/app", &config);
        registry.put_manifest(
            "team/app",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
        let digest = pki::sha256_digest(&manifest);
        let signed = std::fs::read(image.join(bundle)).unwrap();
        pki::push_bundle_referrer(&registry, "team/app", &digest, &[signed]);

        let work = tempfile::tempdir().unwrap();
        let root = dir().join("trusted_root.json");
        let config = format!(
            "registries:\n  \"{host}\":\n    insecure: true\n\
             network:\n  request_timeout: 5s\n  retries: 1\n\
             signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{IDENTITY}\"\n      trusted_root: \"{root}\"\n\
             require:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [release]\n",
            host = registry.host(),
            root = root.display(),
        );
        std::fs::write(work.path().join("supplygate.yaml"), config).unwrap();
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}\n",
            registry.image("team/app:v1")
        );
        std::fs::create_dir_all(work.path().join("manifests")).unwrap();
        std::fs::write(work.path().join("manifests/app.yaml"), deployment).unwrap();
        Self { registry, work }
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let out = common::supplygate()
            .args(["--config", "supplygate.yaml"])
            .args(args)
            .current_dir(self.work.path())
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env("DOCKER_CONFIG", self.work.path().join(".docker-none"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Outcome::from_output(out)
    }

    fn check(&self) -> Outcome {
        self.run(&["check", "manifests", "--format", "json"])
    }

    fn explain(&self) -> Outcome {
        self.run(&["explain", &self.registry.image("team/app:v1")])
    }
}

fn check_image_with(bundle: &str) -> Outcome {
    ImageCase::new(bundle).check()
}

#[test]
fn explain_names_the_tsa_the_time_and_the_log_that_proved_the_signature() {
    let out = ImageCase::new("image-6-digits.sigstore.json").explain();
    assert_eq!(out.code, 0, "{out:?}");
    let tsa_line =
        "time proved by    RFC 3161 timestamp by `CN=openssl tsa,O=supplygate fixtures` at ";
    let time = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(tsa_line))
        .unwrap_or_else(|| panic!("no TSA line: {}", out.stdout));
    // genTime with its six fraction digits, as the TSA wrote it.
    let fraction = time.split_once('.').map(|(_, f)| f).unwrap_or_default();
    assert!(fraction.len() == 7 && fraction.ends_with('Z'), "{time}");
    assert!(
        out.stdout.lines().any(|l| l
            .trim()
            .starts_with("time proved by    log `https://rekor.tsa.test` entry ")
            && l.contains(": integrated at ")),
        "{}",
        out.stdout
    );
}

#[test]
fn explain_says_why_a_timestamp_was_not_accepted() {
    let out = ImageCase::new("image-trailing-zero.sigstore.json").explain();
    assert_eq!(out.code, 1, "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim().starts_with("not `release`: "))
        .unwrap_or_else(|| panic!("no rejection line: {}", out.stdout));
    for part in [
        "the RFC 3161 timestamp was not accepted: the token is malformed",
        "the fraction ends in `0`",
        "found a token naming `CN=openssl tsa,O=supplygate fixtures` as its signer, with genTime `",
        "50Z`",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
}

#[test]
fn check_allows_an_image_whose_bundle_has_a_six_digit_gen_time() {
    let out = check_image_with("image-6-digits.sigstore.json");
    assert_eq!(out.code, 0, "{out:?}");
    let facts = &out.json()["images"][0]["signatures"]["facts"];
    assert_eq!(
        facts[0]["verified_by"],
        serde_json::json!(["release"]),
        "{out:?}"
    );
}

#[test]
fn check_denies_an_image_whose_timestamp_has_a_trailing_zero_and_says_why() {
    let out = check_image_with("image-trailing-zero.sigstore.json");
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let image = &json["images"][0];
    let codes: Vec<&str> = image["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["signature-not-trusted"], "{out:?}");
    let reason = image["signatures"]["facts"][0]["rejections"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("the RFC 3161 timestamp was not accepted")
            && reason.contains("the fraction ends in `0`")
            && reason.contains("naming `CN=openssl tsa,O=supplygate fixtures` as its signer"),
        "{reason}"
    );
}
