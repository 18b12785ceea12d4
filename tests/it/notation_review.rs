//! The red-team findings on the Notation wiring (review of the `notation` branch), each as the
//! `check` a user runs: a signature whose authenticity is only logged never counts, logged
//! failures are report warnings, inline signer errors point at the offending key, and one
//! oversized signature envelope does not make a validly signed image undecidable. The CRL,
//! trust policy and trust store findings are unit tests in `src/verify/notation/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
use std::path::Path;

use crate::notation_discovery::{
    codes, config_problems, inline_signer, only_signature, reasons, NotationCheck, E2E_IDENTITY,
};
use supplygate::reference::Digest;

const IMAGE: &str = "localhost:5000/e2e:v1";

#[test]
fn a_signature_whose_failed_authenticity_is_only_logged_never_counts() {
    // review repro 2: under `audit` (or `override: {authenticity: log}`) Notation passes a
    // signature by a certificate the trust store does not hold: anyone's
    let untrusted =
        "notary-e2e: authenticity: the certificate chain contains no trusted certificate";
    for (level, extra, reason) in [
        (
            "audit",
            "",
            format!("{untrusted} (only logged under level `audit`; a signature whose signer is not trusted never satisfies `require:`)"),
        ),
        (
            "strict",
            "      override: {authenticity: log}\n",
            format!("{untrusted} (only logged under level `strict`; a signature whose signer is not trusted never satisfies `require:`)"),
        ),
        (
            "strict",
            "      override: {authenticity: skip}\n",
            "notary-e2e: trust policy statement `notary-e2e` skips authenticity: a signature whose signer was never checked cannot satisfy `require:`".to_owned(),
        ),
    ] {
        let case = NotationCheck::new(IMAGE);
        case.trust("e2e", "new_e2e.crt");
        let signer = format!("{}{extra}", inline_signer(level, "[\"*\"]"));
        case.config("e2e-valid-signature", &signer, "notary-e2e");
        let (code, report) = case.check(&[]);
        assert_eq!(code, 1, "{level}{extra}: {report:#}");
        assert_eq!(codes(&report), vec!["signature-not-trusted"], "{level}{extra}");
        assert_eq!(reasons(only_signature(&report)), vec![reason], "{level}{extra}");
    }
    // a genuine signature under `audit` still counts
    let case = NotationCheck::new(IMAGE);
    case.trust("e2e", "e2e.crt");
    case.config(
        "e2e-valid-signature",
        &inline_signer("audit", E2E_IDENTITY),
        "notary-e2e",
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["decision"], "allow");
}

#[test]
fn a_logged_failure_is_a_report_warning_naming_the_check_and_the_image() {
    // review finding 5: the docs promise it; only the JSON facts had it
    let case = NotationCheck::new(IMAGE);
    case.trust("e2e", "e2e.crt");
    case.config(
        "e2e-expired-signature",
        &inline_signer("permissive", E2E_IDENTITY),
        "notary-e2e",
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(codes(&report), vec!["notation-check-logged"]);
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "warn");
    assert_eq!(
        finding["message"],
        "Notation signature on `localhost:5000/e2e:v1` counted for signer `notary-e2e` although its `expiry` check failed (the signature expired at 2023-06-27T05:21:21Z); trust policy statement `notary-e2e` only logs it"
    );
}

#[test]
fn inline_signer_errors_point_at_the_offending_key() {
    let signer = |body: &str| format!("  n:\n    notation:\n{body}");
    let base = "      trust_store: truststore\n      identities: [\"*\"]\n";
    for (body, line, message) in [
        (
            format!("{base}      level: strong\n"),
            6,
            "notation signer `n`: statement `n`: unknown value `strong` in `signatureVerification`",
        ),
        (
            format!("{base}      level: strict\n      override: {{expiry: sometimes}}\n"),
            7,
            "notation signer `n`: statement `n`: unknown value `sometimes` in `signatureVerification`",
        ),
        (
            format!("{base}      level: strict\n      verify_timestamp: never\n"),
            7,
            "notation signer `n`: statement `n`: unknown value `never` in `signatureVerification`",
        ),
    ] {
        let problems = config_problems(&signer(&body), "");
        assert_eq!(problems, vec![(line, message.to_owned())], "{body}");
    }
    let missing = config_problems(
        &signer("      trust_store: nowhere\n      identities: [\"*\"]\n      level: strict\n"),
        "",
    );
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].0, 4);
    assert!(
        missing[0]
            .1
            .starts_with("notation signer `n`: trust store directory `")
            && missing[0].1.ends_with("nowhere` does not exist"),
        "{missing:?}"
    );
}

#[test]
fn a_store_directory_name_notation_does_not_allow_is_named() {
    let case = NotationCheck::new(IMAGE);
    case.trust("my store", "e2e.crt");
    let text = "signers:\n  n:\n    notation:\n      trust_store: truststore\n      identities: [\"*\"]\n      level: strict\n";
    let path = case.dir().join("supplygate.yaml");
    let problems = match supplygate::config::Config::parse(text, &path) {
        Err(supplygate::config::ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 4);
    assert!(
        problems[0]
            .message
            .ends_with("my store`: its name may hold only letters, digits, `_`, `.` and `-`"),
        "{}",
        problems[0].message
    );
}

#[test]
fn one_oversized_signature_envelope_is_skipped_not_undecidable() {
    // review repro 5: a >4 MiB envelope attached next to the genuine signature made the
    // image exit 2 with a hint naming a knob that did not help
    let case = NotationCheck::new(IMAGE);
    case.trust("e2e", "e2e.crt");
    let layout = case.dir().join("layout");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "fixtures/external/notaryproject/notation/test/e2e/testdata/registry/oci_layout/e2e-valid-signature",
        ),
        &layout,
    );
    let blobs = layout.join("blobs/sha256");
    let put = |bytes: &[u8]| {
        let digest = Digest::sha256_of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        digest
    };
    let big = vec![b'x'; 4 * 1024 * 1024 + 1];
    let big_digest = put(&big);
    let empty = put(b"{}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.notary.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": "application/jose+json", "digest": big_digest.to_string(), "size": big.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9", "size": 517},
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = put(&body);
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"].as_array_mut().unwrap().insert(
        1,
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": manifest_digest.to_string(), "size": body.len()}),
    );
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    case.write(
        "supplygate.yaml",
        &format!(
            "registries:\n  localhost:5000:\n    layout: {}\nnetwork:\n  offline: true\nsigners:\n{}require:\n  - images: [\"localhost:5000/**\"]\n    signers: [notary-e2e]\n",
            layout.display(),
            inline_signer("strict", E2E_IDENTITY)
        ),
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["decision"], "allow");
}

#[test]
fn a_crl_refresh_does_not_change_the_lock_fingerprint() {
    // `--locked` re-checks revocation with the CRLs of the day; a CRL in the fingerprint
    // staled every lock at each refresh
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams, IsCa,
        Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
    };
    use supplygate::verify::notation::{Crls, InlinePolicy, NotationTrust};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = Issuer::new(params, key);
    let crl = |number: u64| {
        CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 1, 1),
            next_update: date_time_ymd(2027, 1, 1),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap()
        .der()
        .to_vec()
    };
    let case = NotationCheck::new(IMAGE);
    case.trust("e2e", "e2e.crt");
    let store = case.dir().join("truststore");
    let inline = InlinePolicy {
        level: "strict".into(),
        identities: vec!["*".into()],
        ..InlinePolicy::default()
    };
    let with = |crls: &[Vec<u8>]| {
        let mut list = Crls::none();
        for der in crls {
            assert!(list.add_der(der.clone()));
        }
        NotationTrust::inline("n", &inline, &store, list)
            .unwrap()
            .fingerprint()
    };
    assert_eq!(with(&[]), with(&[crl(1)]));
    assert_eq!(with(&[crl(1)]), with(&[crl(2)]));
}

#[test]
fn signatures_left_unread_are_named_in_the_facts() {
    // review repro 6: 64 junk referrers listed first hid the genuine signature, and only a
    // stderr warning said that signatures went unread
    let case = NotationCheck::new(IMAGE);
    case.trust("e2e", "e2e.crt");
    let layout = case.dir().join("layout");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "fixtures/external/notaryproject/notation/test/e2e/testdata/registry/oci_layout/e2e-valid-signature",
        ),
        &layout,
    );
    let blobs = layout.join("blobs/sha256");
    let put = |bytes: &[u8]| {
        let digest = Digest::sha256_of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        digest
    };
    let empty = put(b"{}");
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    for i in 0..70 {
        let junk = put(format!("junk {i}").as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cncf.notary.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
            "layers": [{"mediaType": "application/jose+json", "digest": junk.to_string(), "size": 6 + i.to_string().len()}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9", "size": 517},
        });
        let body = serde_json::to_vec(&manifest).unwrap();
        let digest = put(&body);
        index["manifests"].as_array_mut().unwrap().insert(
            1,
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": digest.to_string(), "size": body.len()}),
        );
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    case.write(
        "supplygate.yaml",
        &format!(
            "registries:\n  localhost:5000:\n    layout: {}\nnetwork:\n  offline: true\nsigners:\n{}require:\n  - images: [\"localhost:5000/**\"]\n    signers: [notary-e2e]\n",
            layout.display(),
            inline_signer("strict", E2E_IDENTITY)
        ),
    );
    let (_, report) = case.check(&[]);
    let all: Vec<String> = report["signatures"]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(reasons)
        .collect();
    assert!(
        all.iter().any(|r| r.ends_with(
            "Notary Project signatures are attached; only the first 64 were read, the rest were not checked"
        )),
        "{all:#?}"
    );
}
