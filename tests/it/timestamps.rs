//! RFC 3161 timestamps as the RFC allows them, through supplygate's verification path.
//!
//! The bundles in `fixtures/tsa/` were made by third-party producers (sigstore-js against
//! `@sigstore/mock`'s Fulcio, CT log, Rekor and TSA; `openssl ts -reply` as a second TSA;
//! `openssl asn1parse` + `openssl cms` for the one genTime no producer emits) by
//! `fixtures/tsa/make.sh`. Each is verified with a keyless signer over the fixture's trusted
//! root, which lists the mock TSA and the OpenSSL TSA as `timestampAuthorities`.

use crate::common;
use crate::common::case::Case;
use crate::pki;

use std::path::{Path, PathBuf};

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
        .map_err(|r| r.reason.to_string())
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
    assert!(
        matches!(&reason, supplygate::verify::Reason::Verifier { raw, .. } if raw.contains("no timestamp authority"))
            || matches!(&reason, supplygate::verify::Reason::TimestampRejected { explained } if explained.contains("no timestamp authority")),
        "{reason}"
    );
}

// ------------------------------------------------------- `supplygate check`, real registry

/// `fixtures/tsa/image` in a registry started for the test, with `bundle` (a message
/// signature over its manifest) attached as a cosign v3 referrer, and a directory with a
/// Deployment of it and a config requiring a keyless signer over the fixture root.
struct ImageCase {
    registry: TestRegistry,
    work: Case,
}

impl ImageCase {
    fn new(bundle: &str) -> Self {
        Self::with(std::fs::read(dir().join("image").join(bundle)).unwrap(), "")
    }

    /// The image with `signed` as its bundle referrer; `extra` is added to the signer's
    /// `keyless:` mapping.
    fn with(signed: Vec<u8>, extra: &str) -> Self {
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
        pki::push_bundle_referrer(&registry, "team/app", &digest, &[signed]);

        let root = dir().join("trusted_root.json");
        let config = format!(
            "registries:\n  \"{host}\":\n    insecure: true\n\
             network:\n  request_timeout: 5s\n  retries: 1\n\
             signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{IDENTITY}\"\n      trusted_root: \"{root}\"\n{extra}\
             require:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [release]\n",
            host = registry.host(),
            root = root.display(),
        );
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}\n",
            registry.image("team/app:v1")
        );
        let work = Case::new()
            .file("supplygate.yaml", &config)
            .file("manifests/app.yaml", &deployment);
        Self { registry, work }
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["--config", "supplygate.yaml"];
        all.extend_from_slice(args);
        self.work.run(&all)
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

// ---------------------------------------------------------------------------------------
// Timestamp threshold and timestamp-only bundles (issue 14 item 2)

/// A keyless signer over the fixture root with a timestamp threshold, allowing
/// timestamp-only bundles or not.
fn signer_with(threshold: usize, timestamp_only: bool) -> Signer {
    let s = signer().with_timestamp_threshold(threshold).unwrap();
    if timestamp_only {
        s.allow_timestamp_only()
    } else {
        s
    }
}

/// The fixture `name` as JSON, changed by `edit`, verified with `signer`.
fn verify_edited(
    name: &str,
    signer: &Signer,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<supplygate::verify::Verified, String> {
    let mut bundle: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir().join(format!("{name}.sigstore.json"))).unwrap(),
    )
    .unwrap();
    edit(&mut bundle);
    let artifact = std::fs::read(dir().join("artifact")).unwrap();
    verify_bundle_for_artifact(
        &serde_json::to_vec(&bundle).unwrap(),
        Subject::Bytes(&artifact),
        signer,
    )
    .map_err(|r| r.reason.to_string())
}

/// The bundle without its Rekor entry: an RFC 3161 timestamp is all that proves its time,
/// as in GitHub's private-repository attestations.
fn without_log(bundle: &mut serde_json::Value) {
    bundle["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
}

#[test]
fn threshold_counts_the_tsa_and_the_log_as_two_independent_times() {
    let v = verify_edited("mock-0-digits", &signer_with(2, false), |_| {}).unwrap();
    assert_eq!(v.signed_at.as_deref(), Some("2026-12-06T03:59:48Z"));
}

#[test]
fn threshold_above_the_independent_times_is_rejected_and_names_them() {
    let reason = verify_edited("mock-0-digits", &signer_with(3, false), |_| {}).unwrap_err();
    assert!(
        reason.starts_with("2 independent verified times (TSA `"),
        "{reason}"
    );
    assert!(
        reason.ends_with("the signer requires 3 (`timestamp_threshold`)"),
        "{reason}"
    );
}

#[test]
fn timestamp_only_bundle_is_rejected_unless_the_signer_allows_it() {
    let reason = verify_edited("mock-2-digits", &signer_with(1, false), without_log).unwrap_err();
    assert_eq!(
        reason,
        "the bundle has no transparency log entry, only 1 RFC 3161 timestamp; a keyless \
         signer accepts that only with `allow_timestamp_only: true`"
    );
}

#[test]
fn timestamp_only_bundle_verifies_when_allowed_at_the_tsa_time() {
    let v = verify_edited("mock-2-digits", &signer_with(1, true), without_log).unwrap();
    assert_eq!(v.signed_at.as_deref(), Some("2026-12-06T03:59:48.85Z"));
    assert_eq!(v.time_proofs.len(), 1, "{:?}", v.time_proofs);
    assert!(
        v.time_proofs[0].starts_with("RFC 3161 timestamp by `"),
        "{:?}",
        v.time_proofs
    );
}

#[test]
fn timestamp_only_bundle_from_an_untrusted_tsa_is_rejected_when_allowed() {
    let reason =
        verify_edited("mock-untrusted-tsa", &signer_with(1, true), without_log).unwrap_err();
    assert!(
        reason.contains("not signed by a timestamp authority of the trusted root"),
        "{reason}"
    );
}

#[test]
fn timestamp_only_bundle_over_another_signature_is_rejected_when_allowed() {
    let reason = verify_edited(
        "mock-imprint-other-signature",
        &signer_with(1, true),
        without_log,
    )
    .unwrap_err();
    assert!(
        reason.contains("covers other bytes than this signature"),
        "{reason}"
    );
}

#[test]
fn timestamp_only_bundle_below_the_threshold_is_rejected() {
    let reason = verify_edited("mock-2-digits", &signer_with(2, true), without_log).unwrap_err();
    assert!(
        reason.starts_with("1 independent verified time (TSA `"),
        "{reason}"
    );
    assert!(reason.ends_with("the signer requires 2 (`timestamp_threshold`)"));
}

/// Two copies of one authority's token are one independent time, not two.
#[test]
fn the_same_tsa_twice_counts_once() {
    let reason = verify_edited("mock-2-digits", &signer_with(2, true), |b| {
        without_log(b);
        let ts = &mut b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        let first = ts[0].clone();
        ts.as_array_mut().unwrap().push(first);
    })
    .unwrap_err();
    assert!(
        reason.starts_with("1 independent verified time (TSA `"),
        "{reason}"
    );
}

/// Neither a log entry nor a timestamp: keyless verification has no time to check the
/// certificate at (cosign's rule), allowed timestamp-only or not.
#[test]
fn bundle_with_neither_log_nor_timestamp_is_rejected_for_keyless() {
    let strip = |b: &mut serde_json::Value| {
        without_log(b);
        b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] =
            serde_json::json!([]);
    };
    for timestamp_only in [true, false] {
        let reason =
            verify_edited("mock-2-digits", &signer_with(1, timestamp_only), strip).unwrap_err();
        assert!(
            reason.ends_with("bundle must have an inclusion proof"),
            "{timestamp_only}: {reason}"
        );
    }
}

#[test]
fn timestamp_threshold_out_of_range_is_refused() {
    for bad in [0, 17] {
        let e = signer().with_timestamp_threshold(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("timestamp threshold {bad} is out of range: give 1 to 16")
        );
    }
}

fn config(extra: &str) -> Result<supplygate::config::Config, supplygate::config::ConfigError> {
    let text = format!(
        "signers:\n  tsa:\n    keyless:\n      issuer: {ISSUER}\n      subject: {IDENTITY}\n      trusted_root: fixtures/tsa/trusted_root.json\n{extra}require:\n  - images: [\"**\"]\n    signers: [tsa]\n"
    );
    supplygate::config::Config::parse(
        &text,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("supplygate.yaml"),
    )
}

#[test]
fn config_sets_the_threshold_and_timestamp_only() {
    let c = config("      timestamp_threshold: 2\n").unwrap();
    verify_edited("mock-0-digits", &c.signers["tsa"], |_| {}).unwrap();
    let reason = verify_edited(
        "mock-0-digits",
        &config("      timestamp_threshold: 3\n").unwrap().signers["tsa"],
        |_| {},
    )
    .unwrap_err();
    assert!(
        reason.ends_with("the signer requires 3 (`timestamp_threshold`)"),
        "{reason}"
    );

    let c = config("      allow_timestamp_only: true\n").unwrap();
    verify_edited("mock-2-digits", &c.signers["tsa"], without_log).unwrap();
    let c = config("").unwrap();
    let reason = verify_edited("mock-2-digits", &c.signers["tsa"], without_log).unwrap_err();
    assert!(reason.contains("`allow_timestamp_only: true`"), "{reason}");
}

#[test]
fn config_refuses_a_bad_threshold_with_its_line() {
    let problems = |extra: &str| match config(extra) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(supplygate::config::ConfigError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect::<Vec<_>>(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        problems("      timestamp_threshold: 0\n"),
        vec![(
            7,
            "`timestamp_threshold` is 0; it must be between 1 and 16".to_owned()
        )]
    );
    assert_eq!(
        problems("      timestamp_threshold: 17\n"),
        vec![(
            7,
            "`timestamp_threshold` is 17; it must be between 1 and 16".to_owned()
        )]
    );
    let not_a_number = problems("      timestamp_threshold: two\n");
    assert_eq!(not_a_number[0].0, 7);
    assert!(
        not_a_number[0].1.contains("a whole number"),
        "{not_a_number:?}"
    );
    let not_a_bool = problems("      allow_timestamp_only: sometimes\n");
    assert_eq!(not_a_bool[0].0, 7);
    assert!(
        not_a_bool[0].1.contains("`true` or `false`"),
        "{not_a_bool:?}"
    );
}

/// `check` and `explain` on an image whose bundle referrer has an RFC 3161 timestamp and no
/// log entry: denied by default, allowed with `allow_timestamp_only: true`, the TSA the only
/// proof of time.
#[test]
fn check_decides_a_timestamp_only_referrer_by_allow_timestamp_only() {
    let mut bundle: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir().join("image/image-6-digits.sigstore.json")).unwrap(),
    )
    .unwrap();
    without_log(&mut bundle);
    let bundle = serde_json::to_vec(&bundle).unwrap();

    let out = ImageCase::with(bundle.clone(), "").check();
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let reason = json["images"][0]["signatures"]["facts"][0]["rejections"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.starts_with("the bundle has no transparency log entry, only 1 RFC 3161 timestamp"),
        "{reason}"
    );

    let case = ImageCase::with(bundle, "      allow_timestamp_only: true\n");
    let out = case.check();
    assert_eq!(out.code, 0, "{out:?}");
    let out = case.explain();
    assert_eq!(out.code, 0, "{out:?}");
    let proofs: Vec<&str> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("time proved by"))
        .collect();
    assert_eq!(proofs.len(), 1, "{}", out.stdout);
    assert!(
        proofs[0].starts_with(
            "time proved by    RFC 3161 timestamp by `CN=openssl tsa,O=supplygate fixtures` at "
        ),
        "{}",
        out.stdout
    );
}
