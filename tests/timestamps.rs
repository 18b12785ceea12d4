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

use std::path::{Path, PathBuf};

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
