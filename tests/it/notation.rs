//! Notation (Notary Project) signatures, verified by `supplygate::verify::notation` on the
//! Notary Project's own end-to-end data (`fixtures/external/notaryproject/`): OCI layouts that
//! `notation sign` made, the trust policies and certificates of notation's e2e suite, and the
//! JWS conformance vector of notation-core-go. Each case expects what notation's e2e suite
//! (`test/e2e/suite/trustpolicy/verification_level.go` …) expects of `notation verify`.
//! Our own negatives use a throwaway CA (rcgen) to sign envelopes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{json, Value};
use supplygate::reference::Digest;
use supplygate::verify::notation::timestamp::TimestampProblem;
use supplygate::verify::notation::{
    self, envelope, Action, Algorithm, CertificateProblem, Check, Failure, Finding, Level, Outcome,
    PolicyError, SigningScheme, StoreKind, Target, TargetField, TrustPolicy, TrustStore,
};

const E2E: &str = "fixtures/external/notaryproject/notation/test/e2e/testdata";
const E2E_SUBJECT: &str = "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US";

/// The clock of every case: after the e2e certificates and signatures that expire (2023,
/// 2025), before the ones that do not (2122).
fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// A file of notation-go's verifier test data.
fn go_fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/external/notaryproject/notation-go/verifier/testdata")
        .join(path)
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(E2E).join(path)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// An OCI layout of the e2e suite, read straight from its blobs.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn open(name: &str) -> Self {
        Self {
            dir: fixture(&format!("registry/oci_layout/{name}")),
        }
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let bytes = std::fs::read(self.dir.join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(Digest::sha256_of(&bytes).to_string(), digest);
        bytes
    }

    /// The image tagged `v1`.
    fn image(&self) -> Target {
        let index = read_json(&self.dir.join("index.json"));
        let image = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
            .unwrap();
        Target {
            media_type: image["mediaType"].as_str().unwrap().to_owned(),
            digest: Digest::parse(image["digest"].as_str().unwrap()).unwrap(),
            size: image["size"].as_u64().unwrap(),
        }
    }

    /// Every Notation signature envelope in the layout whose manifest's `subject` is
    /// `target`, as (layer media type, bytes): top-level manifests and those listed by a
    /// referrers-tag index, once each.
    fn signatures_for(&self, target: &Target) -> Vec<(String, Vec<u8>)> {
        let mut manifests: Vec<String> = Vec::new();
        let mut pending = vec![read_json(&self.dir.join("index.json"))];
        while let Some(index) = pending.pop() {
            for entry in index["manifests"].as_array().unwrap() {
                let digest = entry["digest"].as_str().unwrap().to_owned();
                if entry["mediaType"] == "application/vnd.oci.image.index.v1+json" {
                    pending.push(serde_json::from_slice(&self.blob(&digest)).unwrap());
                } else if !manifests.contains(&digest) {
                    manifests.push(digest);
                }
            }
        }
        let mut out = Vec::new();
        for digest in manifests {
            let manifest: Value = serde_json::from_slice(&self.blob(&digest)).unwrap();
            let is_signature = manifest["artifactType"] == notation::SIGNATURE_ARTIFACT_TYPE
                || manifest["config"]["mediaType"] == notation::SIGNATURE_ARTIFACT_TYPE;
            if !is_signature || manifest["subject"]["digest"] != target.digest.to_string() {
                continue;
            }
            for layer in manifest["layers"].as_array().unwrap() {
                out.push((
                    layer["mediaType"].as_str().unwrap().to_owned(),
                    self.blob(layer["digest"].as_str().unwrap()),
                ));
            }
        }
        out
    }
}

fn policy(name: &str) -> TrustPolicy {
    let bytes = std::fs::read(fixture(&format!("config/trustpolicies/{name}"))).unwrap();
    TrustPolicy::from_json(&bytes).unwrap()
}

fn policy_errors(name: &str) -> Vec<PolicyError> {
    let bytes = std::fs::read(fixture(&format!("config/trustpolicies/{name}"))).unwrap();
    TrustPolicy::from_json(&bytes).unwrap_err()
}

/// Trust store `ca:e2e` holding one of the e2e suite's certificates (`localkeys/<cert>`), as
/// notation's `AddTrustStoreOption("e2e", …)` sets it up.
fn store_with(cert: &str) -> TrustStore {
    let pem = std::fs::read(fixture(&format!("config/localkeys/{cert}"))).unwrap();
    let der = pem_to_der(&pem);
    let mut store = TrustStore::new();
    store.add(StoreKind::Ca, "e2e", der);
    store
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// Verifies every signature of `layout`'s `v1` image under `policy_file` and `store`.
fn verify_layout(layout: &str, policy_file: &str, store: &TrustStore) -> Vec<Outcome> {
    let layout = Layout::open(layout);
    let target = layout.image();
    let policy = policy(policy_file);
    let statement = policy.statement_for("localhost:5000/e2e").unwrap();
    let signatures = layout.signatures_for(&target);
    assert!(!signatures.is_empty(), "no signature found");
    signatures
        .iter()
        .map(|(media_type, bytes)| {
            notation::verify(media_type, bytes, &target, statement, store, now()).unwrap()
        })
        .collect()
}

fn only(outcomes: Vec<Outcome>) -> Outcome {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.into_iter().next().unwrap()
}

fn verified(outcome: Outcome) -> notation::Verified {
    match outcome {
        Outcome::Verified(v) => *v,
        other => panic!("expected verified, got {other:?}"),
    }
}

fn rejected(outcome: Outcome) -> Finding {
    match outcome {
        Outcome::Rejected(finding) => finding,
        other => panic!("expected rejected, got {other:?}"),
    }
}

// ---- the e2e layouts, as notation's e2e suite decides them -------------------------------

#[test]
fn valid_signature_verifies_under_strict() {
    let v = verified(only(verify_layout(
        "e2e-valid-signature",
        "trustpolicy.json",
        &store_with("e2e.crt"),
    )));
    assert_eq!(v.level, Level::Strict);
    assert_eq!(v.scheme, SigningScheme::X509);
    assert_eq!(v.algorithm, Algorithm::PS256);
    assert_eq!(v.signer, E2E_SUBJECT);
    assert_eq!(v.signing_time, "2023-06-27T05:30:33Z".parse().unwrap());
    assert_eq!(v.chain.len(), 1);
    assert!(v.annotations.is_empty());
    assert!(v.logged.is_empty(), "{:?}", v.logged);
}

#[test]
fn a_notation_config_directory_is_used_as_is() {
    // ~/.config/notation as `notation policy import` and `notation cert add` leave it
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("config/trustpolicies/valid_trusted_identity_trustpolicy.json"),
        dir.path().join("trustpolicy.json"),
    )
    .unwrap();
    let ca = dir.path().join("truststore/x509/ca/e2e");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::copy(fixture("config/localkeys/e2e.crt"), ca.join("e2e.crt")).unwrap();
    let config = notation::NotationConfig::load_dir(dir.path()).unwrap();
    let layout = Layout::open("e2e-valid-signature");
    let target = layout.image();
    let (media_type, bytes) = layout.signatures_for(&target).pop().unwrap();
    let statement = config.policy.statement_for("localhost:5000/e2e").unwrap();
    let v = verified(
        notation::verify(
            &media_type,
            &bytes,
            &target,
            statement,
            &config.store,
            now(),
        )
        .unwrap(),
    );
    assert_eq!(v.signer, E2E_SUBJECT);
    // Notation 1.2+ prefers trustpolicy.oci.json: an invalid one there is what counts
    std::fs::copy(
        fixture("config/trustpolicies/wildcard_plus_other_registry_scope_trustpolicy.json"),
        dir.path().join("trustpolicy.oci.json"),
    )
    .unwrap();
    assert_eq!(
        notation::NotationConfig::load_dir(dir.path()).unwrap_err(),
        vec![PolicyError::WildcardScopeNotAlone {
            statement: "e2e".into()
        }]
    );
}

#[test]
fn of_multiple_signatures_the_one_by_the_trusted_certificate_verifies() {
    // The layout carries two signatures: one by e2e.crt, one by `testcert11`, a one-day
    // certificate (expired 2025-02-18) that no trust store of the suite holds. notation
    // verifies an artifact when one of its signatures passes.
    let outcomes = verify_layout(
        "e2e-valid-multiple-signatures",
        "trustpolicy.json",
        &store_with("e2e.crt"),
    );
    assert_eq!(outcomes.len(), 2);
    let (accepted, refused): (Vec<_>, Vec<_>) = outcomes
        .into_iter()
        .partition(|o| matches!(o, Outcome::Verified(_)));
    assert_eq!(verified(only(accepted)).signer, E2E_SUBJECT);
    assert_eq!(
        rejected(only(refused)),
        Finding {
            check: Check::Authenticity,
            failure: Failure::NoTrustedCertificate
        }
    );
}

#[test]
fn second_signature_of_multiple_fails_only_on_its_expired_certificate_when_trusted() {
    let layout = Layout::open("e2e-valid-multiple-signatures");
    let target = layout.image();
    let expired = Failure::Certificate {
        index: 0,
        problem: CertificateProblem::Expired,
    };
    let (media_type, bytes) = layout
        .signatures_for(&target)
        .into_iter()
        .find(|(_, b)| {
            envelope::parse_jws(b).unwrap().signing_time
                == "2025-02-17T08:17:09Z".parse::<Timestamp>().unwrap()
        })
        .unwrap();
    let store = store_for_chain(&envelope::parse_jws(&bytes).unwrap().chain);
    for (policy_file, want_rejected) in [
        ("trustpolicy.json", true),
        ("permissive_trustpolicy.json", false),
    ] {
        let p = policy(policy_file);
        let statement = p.statement_for("x/y").unwrap();
        let outcome =
            notation::verify(&media_type, &bytes, &target, statement, &store, now()).unwrap();
        let finding = Finding {
            check: Check::AuthenticTimestamp,
            failure: expired.clone(),
        };
        if want_rejected {
            assert_eq!(rejected(outcome), finding);
        } else {
            let v = verified(outcome);
            assert_eq!(v.signer, "CN=testcert11,O=Notary,L=Seattle,ST=WA,C=US");
            assert_eq!(v.logged, vec![finding]);
        }
    }
}

#[test]
fn invalid_signature_fails_integrity_at_every_verifying_level() {
    // The "signature" layer is the text `invalid signature` with a tar media type.
    for policy in [
        "trustpolicy.json",
        "permissive_trustpolicy.json",
        "audit_trustpolicy.json",
    ] {
        let finding = rejected(only(verify_layout(
            "e2e-invalid-signature",
            policy,
            &store_with("e2e.crt"),
        )));
        assert_eq!(
            finding,
            Finding {
                check: Check::Integrity,
                failure: Failure::UnsupportedEnvelope {
                    media_type: "application/vnd.oci.image.layer.v1.tar".into()
                }
            },
            "{policy}"
        );
    }
    // the same bytes presented as a JWS do not decode
    let layout = Layout::open("e2e-invalid-signature");
    let target = layout.image();
    let (_, bytes) = layout.signatures_for(&target).pop().unwrap();
    assert_eq!(
        envelope::parse_jws(&bytes).unwrap_err(),
        Failure::Malformed {
            field: notation::EnvelopeField::Envelope
        }
    );
}

#[test]
fn invalid_signature_passes_under_skip() {
    let outcome = only(verify_layout(
        "e2e-invalid-signature",
        "skip_trustpolicy.json",
        &TrustStore::new(),
    ));
    assert_eq!(outcome, Outcome::Skipped);
}

#[test]
fn expired_signature_is_rejected_by_strict_and_logged_by_permissive_and_audit() {
    let expiry: Timestamp = "2023-06-27T05:21:21Z".parse().unwrap();
    let finding = rejected(only(verify_layout(
        "e2e-expired-signature",
        "trustpolicy.json",
        &store_with("e2e.crt"),
    )));
    assert_eq!(
        finding,
        Finding {
            check: Check::Expiry,
            failure: Failure::SignatureExpired { expiry }
        }
    );
    for policy in ["permissive_trustpolicy.json", "audit_trustpolicy.json"] {
        let v = verified(only(verify_layout(
            "e2e-expired-signature",
            policy,
            &store_with("e2e.crt"),
        )));
        assert_eq!(
            v.logged,
            vec![Finding {
                check: Check::Expiry,
                failure: Failure::SignatureExpired { expiry }
            }],
            "{policy}"
        );
    }
}

#[test]
fn expired_certificate_fails_authentic_timestamp_under_strict_only() {
    let expired = Failure::Certificate {
        index: 0,
        problem: CertificateProblem::Expired,
    };
    let finding = rejected(only(verify_layout(
        "e2e-with-expired-cert",
        "trustpolicy.json",
        &store_with("expired_e2e.crt"),
    )));
    assert_eq!(
        finding,
        Finding {
            check: Check::AuthenticTimestamp,
            failure: expired.clone()
        }
    );
    for policy in ["permissive_trustpolicy.json", "audit_trustpolicy.json"] {
        let v = verified(only(verify_layout(
            "e2e-with-expired-cert",
            policy,
            &store_with("expired_e2e.crt"),
        )));
        assert_eq!(v.signer, "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU");
        assert_eq!(
            v.logged,
            vec![Finding {
                check: Check::AuthenticTimestamp,
                failure: expired.clone()
            }],
            "{policy}"
        );
    }
}

#[test]
fn signature_by_a_certificate_outside_the_trust_store_fails_authenticity() {
    // notation's "invalid authenticity" cases: the trust store holds new_e2e.crt only.
    let store = store_with("new_e2e.crt");
    let untrusted = Finding {
        check: Check::Authenticity,
        failure: Failure::NoTrustedCertificate,
    };
    for policy in ["trustpolicy.json", "permissive_trustpolicy.json"] {
        let finding = rejected(only(verify_layout("e2e-valid-signature", policy, &store)));
        assert_eq!(finding, untrusted, "{policy}");
    }
    let v = verified(only(verify_layout(
        "e2e-valid-signature",
        "audit_trustpolicy.json",
        &store,
    )));
    assert_eq!(v.logged, vec![untrusted.clone()]);
    // override_strict_trustpolicy.json: strict, with authenticity overridden to `log`.
    let v = verified(only(verify_layout(
        "e2e-valid-signature",
        "override_strict_trustpolicy.json",
        &store,
    )));
    assert_eq!(v.logged, vec![untrusted]);
}

#[test]
fn trusted_identities_match_the_signer_subject() {
    let store = store_with("e2e.crt");
    for policy in [
        "valid_trusted_identity_trustpolicy.json",
        "multiple_trusted_identity_trustpolicy.json",
    ] {
        let v = verified(only(verify_layout("e2e-valid-signature", policy, &store)));
        assert_eq!(v.signer, E2E_SUBJECT, "{policy}");
    }
    // C=USB instead of C=US
    let finding = rejected(only(verify_layout(
        "e2e-valid-signature",
        "invalid_trusted_identity_trustpolicy.json",
        &store,
    )));
    assert_eq!(
        finding,
        Finding {
            check: Check::Authenticity,
            failure: Failure::IdentityNotTrusted {
                subject: E2E_SUBJECT.into()
            }
        }
    );
}

#[test]
fn e2e_timestamped_signatures_fail_closed_without_their_tsa_root() {
    // The first was stamped by Microsoft's public TSA, whose root the e2e suite does not
    // ship (its inspect tests only read it): with `tsa:e2e` holding another TSA root, the
    // countersignature is untrusted. The second's countersignature is 8 bytes of garbage.
    for (layout, garbage) in [
        ("e2e-with-timestamped-signature", false),
        ("e2e-with-invalid-timestamped-signature", true),
    ] {
        let layout = Layout::open(layout);
        let target = layout.image();
        let (media_type, bytes) = layout.signatures_for(&target).pop().unwrap();
        let parsed = envelope::parse_jws(&bytes).unwrap();
        assert!(parsed.timestamp_token.is_some());
        let policy = policy("timestamp_trustpolicy.json");
        let statement = policy.statement_for("localhost:5000/e2e").unwrap();
        let mut store = store_for_chain(&parsed.chain);
        let tsa_root = std::fs::read(go_fixture(
            "truststore/x509/tsa/test-timestamp/globalsignRoot.cer",
        ))
        .unwrap();
        store.add(StoreKind::Tsa, "e2e", tsa_root);
        let outcome =
            notation::verify(&media_type, &bytes, &target, statement, &store, now()).unwrap();
        let finding = rejected(outcome);
        assert_eq!(finding.check, Check::AuthenticTimestamp);
        if garbage {
            assert_eq!(
                finding.failure,
                Failure::TimestampInvalid {
                    problem: TimestampProblem::Malformed
                }
            );
        } else {
            assert_eq!(
                finding.failure,
                Failure::TimestampInvalid {
                    problem: TimestampProblem::Untrusted(webpki::Error::UnknownIssuer)
                }
            );
        }
    }
}

/// A `ca:e2e` store trusting the root of `chain` (for the timestamped layouts, whose signing
/// certificates the e2e suite generates at run time).
fn store_for_chain(chain: &[Vec<u8>]) -> TrustStore {
    let mut store = TrustStore::new();
    store.add(StoreKind::Ca, "e2e", chain.last().unwrap().clone());
    store
}

// ---- trust policies of the e2e suite ------------------------------------------------------

#[test]
fn registry_scopes_select_the_statement() {
    let scoped = policy("registry_scope_trustpolicy.json");
    assert_eq!(
        scoped
            .statement_for("localhost:5000/test-repo")
            .map(|s| s.name.as_str()),
        Some("e2e")
    );
    assert_eq!(scoped.statement_for("localhost:5000/other"), None);
    assert_eq!(scoped.statement_for("localhost:5000/test-repo/sub"), None);
    let any = policy("any_registry_scope_trust_policy.json");
    assert!(any.statement_for("registry.example/anything").is_some());
}

#[test]
fn invalid_trust_policies_are_refused_like_notation_does() {
    let statement = || "e2e".to_owned();
    assert_eq!(
        policy_errors("wildcard_plus_other_registry_scope_trustpolicy.json"),
        vec![PolicyError::WildcardScopeNotAlone {
            statement: statement()
        }]
    );
    assert_eq!(
        policy_errors("wildcard_plus_other_trusted_identity_trustpolicy.json"),
        vec![PolicyError::InvalidIdentity {
            statement: statement(),
            identity: "*".into()
        }]
    );
    assert_eq!(
        policy_errors("missing_organization_trusted_identity_trustpolicy.json"),
        vec![PolicyError::InvalidIdentity {
            statement: statement(),
            identity: "x509.subject: CN=e2e,L=Seattle,ST=WA,C=US".into()
        }]
    );
    assert_eq!(
        policy_errors("override_integrity_for_permissive_trustpolicy.json"),
        vec![PolicyError::ForbiddenOverride {
            statement: statement()
        }]
    );
}

#[test]
fn a_malformed_trust_policy_is_refused_naming_the_field_and_line() {
    let text = "{\n  \"version\": \"1.0\",\n  \"trustPolicies\": [],\n  \"trustpolicies\": []\n}";
    assert_eq!(
        TrustPolicy::from_json(text.as_bytes()).unwrap_err(),
        vec![PolicyError::Malformed {
            detail: "unknown field `trustpolicies`, expected `version` or `trustPolicies` at line 4 column 17".into()
        }]
    );
    // a configuration directory without any trust policy names the file it looked for
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        notation::NotationConfig::load_dir(dir.path()).unwrap_err(),
        vec![PolicyError::Unreadable {
            path: dir.path().join("trustpolicy.json")
        }]
    );
}

#[test]
fn override_changes_only_the_named_checks() {
    let p = policy("override_strict_trustpolicy.json");
    let s = p.statement_for("a.example/b").unwrap();
    assert_eq!(s.action(Check::Integrity), Action::Enforce);
    assert_eq!(s.action(Check::Authenticity), Action::Log);
    assert_eq!(s.action(Check::Revocation), Action::Log);
}

#[test]
fn trust_store_directory_in_notation_layout_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("x509/ca/e2e");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::copy(fixture("config/localkeys/e2e.crt"), ca.join("e2e.crt")).unwrap();
    let store = TrustStore::load_dir(dir.path()).unwrap();
    let v = verified(only(verify_layout(
        "e2e-valid-signature",
        "trustpolicy.json",
        &store,
    )));
    assert_eq!(v.signer, E2E_SUBJECT);
    // a policy naming a store that the directory lacks cannot be decided
    let empty = TrustStore::load_dir(&dir.path().join("nothing")).unwrap();
    let layout = Layout::open("e2e-valid-signature");
    let target = layout.image();
    let (media_type, bytes) = layout.signatures_for(&target).pop().unwrap();
    let p = policy("trustpolicy.json");
    let err = notation::verify(
        &media_type,
        &bytes,
        &target,
        p.statement_for("x/y").unwrap(),
        &empty,
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PolicyError::EmptyTrustStore {
            kind: StoreKind::Ca,
            name: "e2e".into()
        }
    );
}

// ---- notation-core-go's JWS conformance vector -------------------------------------------

#[test]
fn conformance_vector_headers_decode_and_its_unknown_critical_header_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "fixtures/external/notaryproject/notation-core-go/signature/jws/testdata/conformance.json",
    );
    let bytes = std::fs::read(path).unwrap();
    // it marks `signedCritKey1` critical: a verifier that does not know it must refuse
    assert_eq!(
        envelope::parse_jws(&bytes).unwrap_err(),
        Failure::UnknownCriticalHeader {
            header: "signedCritKey1".into()
        }
    );
    // without that entry, the rest of its header is what notation-core-go signed
    let mut jws: Value = serde_json::from_slice(&bytes).unwrap();
    let protected = URL_SAFE_NO_PAD
        .decode(jws["protected"].as_str().unwrap())
        .unwrap();
    let mut header: Value = serde_json::from_slice(&protected).unwrap();
    header["crit"] = json!(["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]);
    jws["protected"] = URL_SAFE_NO_PAD.encode(header.to_string()).into();
    // its payload is not a Notary payload and it carries no x5c: fill both in
    jws["payload"] = URL_SAFE_NO_PAD
        .encode(
            json!({"targetArtifact": {"mediaType": "m", "digest": format!("sha256:{}", "0".repeat(64)), "size": 1}})
                .to_string(),
        )
        .into();
    jws["header"]["x5c"] = json!([STANDARD.encode(b"not a certificate")]);
    let parsed = envelope::parse_jws(jws.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.algorithm, Algorithm::ES256);
    assert_eq!(parsed.scheme, SigningScheme::X509);
    assert_eq!(
        parsed.signing_time,
        "2022-08-29T13:50:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(parsed.expiry, Some("2099-08-30T13:50:00Z".parse().unwrap()));
    assert_eq!(
        parsed.signing_agent.as_deref(),
        Some("NotationConformanceTest/1.0.0")
    );
}

// ---- notation-core-go's COSE conformance vector ------------------------------------------

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn cose_conformance_vector_is_refused_for_its_critical_header_and_its_payload() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "fixtures/external/notaryproject/notation-core-go/signature/cose/testdata/conformance.json",
    );
    let vector = read_json(&path);
    let hex = vector["expectedOutput"]["cborHex"]
        .as_str()
        .unwrap()
        .to_owned();
    // it marks `signedCritKey1` critical: a verifier that does not know it must refuse
    assert_eq!(
        notation::cose::parse_cose(&from_hex(&hex)).unwrap_err(),
        Failure::UnknownCriticalHeader {
            header: "signedCritKey1".into()
        }
    );
    // without that `crit` entry (protected header 0x117 -> 0x108 bytes, crit of 3 -> 2), the
    // protected header passes (PS384, notary.x509, tag-1 signing time before the expiry):
    // what is left is its payload, `hello COSE`, which is not a Notary payload
    let critical = "6E7369676E6564437269744B65793103";
    let head = "D284590117A80138250283";
    assert_eq!(
        (hex.matches(critical).count(), hex.matches(head).count()),
        (1, 1)
    );
    let hex = hex
        .replacen(head, "D284590108A80138250282", 1)
        .replacen(critical, "03", 1);
    assert_eq!(
        notation::cose::parse_cose(&from_hex(&hex)).unwrap_err(),
        Failure::Malformed {
            field: notation::EnvelopeField::Payload
        }
    );
}

// ---- our own negatives ---------------------------------------------------------------------

#[test]
fn denies_genuine_signature_for_another_digest_media_type_or_size() {
    let layout = Layout::open("e2e-valid-signature");
    let image = layout.image();
    let (media_type, bytes) = layout.signatures_for(&image).pop().unwrap();
    let p = policy("trustpolicy.json");
    let statement = p.statement_for("x/y").unwrap();
    let store = store_with("e2e.crt");
    let other_digest = Target {
        digest: Digest::sha256_of(b"another image"),
        ..image.clone()
    };
    let other_type = Target {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        ..image.clone()
    };
    let other_size = Target {
        size: image.size + 1,
        ..image.clone()
    };
    for (target, field) in [
        (other_digest, TargetField::Digest),
        (other_type, TargetField::MediaType),
        (other_size, TargetField::Size),
    ] {
        let outcome =
            notation::verify(&media_type, &bytes, &target, statement, &store, now()).unwrap();
        assert_eq!(
            rejected(outcome),
            Finding {
                check: Check::Integrity,
                failure: Failure::TargetMismatch { field }
            }
        );
    }
}

#[test]
fn denies_a_jws_presented_as_cose_and_an_unknown_envelope_type() {
    let layout = Layout::open("e2e-valid-signature");
    let image = layout.image();
    let (_, bytes) = layout.signatures_for(&image).pop().unwrap();
    let p = policy("trustpolicy.json");
    let statement = p.statement_for("x/y").unwrap();
    let store = store_with("e2e.crt");
    let as_cose = notation::verify(
        notation::COSE_MEDIA_TYPE,
        &bytes,
        &image,
        statement,
        &store,
        now(),
    )
    .unwrap();
    assert_eq!(
        rejected(as_cose),
        Finding {
            check: Check::Integrity,
            failure: Failure::Malformed {
                field: notation::EnvelopeField::Envelope
            }
        }
    );
    let other = notation::verify("application/json", &bytes, &image, statement, &store, now());
    assert_eq!(
        rejected(other.unwrap()),
        Finding {
            check: Check::Integrity,
            failure: Failure::UnsupportedEnvelope {
                media_type: "application/json".into()
            }
        }
    );
}

// ---- notation's blob signatures: the same signer, JWS and COSE ----------------------------

fn expired_leaf() -> Failure {
    Failure::Certificate {
        index: 0,
        problem: CertificateProblem::Expired,
    }
}

#[test]
fn notation_made_cose_and_jws_signatures_verify_up_to_their_timestamp() {
    // `notation blob sign` output of the e2e suite (its inspect tests read them), one JWS and
    // one COSE_Sign1, both timestamped by a TSA whose root the suite does not ship. The
    // signing certificates are one-day test certificates; the store trusts each chain's root
    // and has no `tsa` store.
    for (file, media_type) in [
        ("blob.jws.sig", notation::JWS_MEDIA_TYPE),
        ("blob.cose.sig", notation::COSE_MEDIA_TYPE),
    ] {
        let bytes = std::fs::read(fixture(&format!("signatures/{file}"))).unwrap();
        let parsed = match media_type {
            notation::JWS_MEDIA_TYPE => envelope::parse_jws(&bytes),
            _ => notation::cose::parse_cose(&bytes),
        }
        .unwrap();
        assert_eq!(parsed.algorithm, Algorithm::PS256, "{file}");
        assert_eq!(parsed.scheme, SigningScheme::X509, "{file}");
        assert_eq!(
            parsed.target.media_type, "application/octet-stream",
            "{file}"
        );
        assert!(parsed.timestamp_token.is_some(), "{file}");
        let store = store_for_chain(&parsed.chain);
        let blob = parsed.target.clone();
        // permissive: the signature and chain verify; the certificate has expired, and with
        // no `tsa` store in the statement the timestamp is not consulted (as in notation):
        // logged
        let p = policy("permissive_trustpolicy.json");
        let statement = p.statement_for("x/y").unwrap();
        let v = verified(
            notation::verify(media_type, &bytes, &blob, statement, &store, now()).unwrap(),
        );
        assert_eq!(
            v.logged,
            vec![Finding {
                check: Check::AuthenticTimestamp,
                failure: expired_leaf()
            }],
            "{file}"
        );
        assert!(v.signer.starts_with("CN=testcert"), "{file}: {}", v.signer);
        // strict: rejected on it
        let p = policy("trustpolicy.json");
        let statement = p.statement_for("x/y").unwrap();
        assert_eq!(
            rejected(
                notation::verify(media_type, &bytes, &blob, statement, &store, now()).unwrap()
            ),
            Finding {
                check: Check::AuthenticTimestamp,
                failure: expired_leaf()
            },
            "{file}"
        );
        // a flipped signature bit fails integrity, in either format
        let mut tampered = bytes.clone();
        let flip = match media_type {
            notation::JWS_MEDIA_TYPE => {
                let mut jws: Value = serde_json::from_slice(&bytes).unwrap();
                let mut sig = URL_SAFE_NO_PAD
                    .decode(jws["signature"].as_str().unwrap())
                    .unwrap();
                sig[0] ^= 1;
                jws["signature"] = URL_SAFE_NO_PAD.encode(sig).into();
                tampered = jws.to_string().into_bytes();
                None
            }
            // the signature is the last byte string of the COSE array: flip its last byte
            _ => Some(tampered.len() - 1),
        };
        if let Some(i) = flip {
            tampered[i] ^= 1;
        }
        assert_eq!(
            rejected(
                notation::verify(media_type, &tampered, &blob, statement, &store, now()).unwrap()
            ),
            Finding {
                check: Check::Integrity,
                failure: Failure::SignatureInvalid
            },
            "{file}"
        );
    }
}

/// A throwaway PKI: root CA → intermediate CA → code-signing leaf (ECDSA P-256), and a JWS
/// signer over it.
mod pki {
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
        CrlDistributionPoint, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber, SigningKey as _,
    };
    use x509_cert::der::asn1::UintRef;
    use x509_cert::der::{Decode as _, Reader as _, SliceReader};

    pub struct Pki {
        pub root: Vec<u8>,
        pub intermediate: Vec<u8>,
        pub leaf: Vec<u8>,
        leaf_key: KeyPair,
        root_issuer: Issuer<'static, KeyPair>,
        int_issuer: Issuer<'static, KeyPair>,
    }

    /// Serial numbers of the intermediate and the leaf.
    pub const INTERMEDIATE_SERIAL: u64 = 2;
    pub const LEAF_SERIAL: u64 = 3;

    fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (kind, value) in parts {
            dn.push(kind.clone(), *value);
        }
        dn
    }

    fn ca_params(name: DistinguishedName) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
    }

    impl Pki {
        /// A chain whose root is named `root_name` and whose leaf is `C=US, ST=WA,
        /// O=<org>, CN=<cn>`.
        pub fn new(root_name: &[(DnType, &str)], org: &str, cn: &str) -> Self {
            Self::with_leaf_usage(
                root_name,
                org,
                cn,
                vec![KeyUsagePurpose::DigitalSignature],
                vec![ExtendedKeyUsagePurpose::CodeSigning],
            )
        }

        /// Like [`Pki::new`], with the leaf's key usages and EKUs given.
        pub fn with_leaf_usage(
            root_name: &[(DnType, &str)],
            org: &str,
            cn: &str,
            key_usages: Vec<KeyUsagePurpose>,
            ekus: Vec<ExtendedKeyUsagePurpose>,
        ) -> Self {
            Self::build(root_name, org, cn, key_usages, ekus, false)
        }

        /// Like [`Pki::new`], with a CRL distribution point in the intermediate and the leaf:
        /// their revocation can (and under `strict` must) be checked.
        pub fn revocable(root_name: &[(DnType, &str)], org: &str, cn: &str) -> Self {
            Self::build(
                root_name,
                org,
                cn,
                vec![KeyUsagePurpose::DigitalSignature],
                vec![ExtendedKeyUsagePurpose::CodeSigning],
                true,
            )
        }

        fn build(
            root_name: &[(DnType, &str)],
            org: &str,
            cn: &str,
            key_usages: Vec<KeyUsagePurpose>,
            ekus: Vec<ExtendedKeyUsagePurpose>,
            revocable: bool,
        ) -> Self {
            let points = |what: &str| {
                if revocable {
                    vec![CrlDistributionPoint {
                        uris: vec![format!("http://crl.acme.example/{what}.crl")],
                    }]
                } else {
                    Vec::new()
                }
            };
            let root_key = KeyPair::generate().unwrap();
            let root_params = ca_params(dn(root_name));
            let root = root_params.self_signed(&root_key).unwrap();
            let root_issuer = Issuer::new(root_params, root_key);
            let int_key = KeyPair::generate().unwrap();
            let mut int_params = ca_params(dn(&[(DnType::OrganizationName, "Test Intermediate")]));
            int_params.serial_number = Some(SerialNumber::from(INTERMEDIATE_SERIAL));
            int_params.crl_distribution_points = points("root");
            let intermediate = int_params.signed_by(&int_key, &root_issuer).unwrap();
            let int_issuer = Issuer::new(int_params, int_key);
            let leaf_key = KeyPair::generate().unwrap();
            let mut leaf_params = CertificateParams::default();
            leaf_params.distinguished_name = dn(&[
                (DnType::CountryName, "US"),
                (DnType::StateOrProvinceName, "WA"),
                (DnType::OrganizationName, org),
                (DnType::CommonName, cn),
            ]);
            leaf_params.key_usages = key_usages;
            leaf_params.extended_key_usages = ekus;
            leaf_params.serial_number = Some(SerialNumber::from(LEAF_SERIAL));
            leaf_params.crl_distribution_points = points("intermediate");
            let leaf = leaf_params.signed_by(&leaf_key, &int_issuer).unwrap();
            Self {
                root: root.der().to_vec(),
                intermediate: intermediate.der().to_vec(),
                leaf: leaf.der().to_vec(),
                leaf_key,
                root_issuer,
                int_issuer,
            }
        }

        /// A CRL of the root (`by_root`) or the intermediate listing `revoked` serials, issued
        /// 2026-01-01 with the given `nextUpdate` (year, month, day).
        pub fn crl(&self, by_root: bool, revoked: &[u64], next: (i32, u8, u8)) -> Vec<u8> {
            let params = CertificateRevocationListParams {
                this_update: date_time_ymd(2026, 1, 1),
                next_update: date_time_ymd(next.0, next.1, next.2),
                crl_number: SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: revoked
                    .iter()
                    .map(|serial| RevokedCertParams {
                        serial_number: SerialNumber::from(*serial),
                        revocation_time: date_time_ymd(2026, 2, 1),
                        reason_code: None,
                        invalidity_date: None,
                    })
                    .collect(),
                key_identifier_method: KeyIdMethod::Sha256,
            };
            let issuer = if by_root {
                &self.root_issuer
            } else {
                &self.int_issuer
            };
            params.signed_by(issuer).unwrap().der().to_vec()
        }

        /// ES256 over `input`, as JWS writes it (`r || s`, 32 bytes each).
        pub fn sign(&self, input: &[u8]) -> Vec<u8> {
            let der = self.leaf_key.sign(input).unwrap();
            let mut reader = SliceReader::new(&der).unwrap();
            let (r, s) = reader
                .sequence(|r| {
                    Ok((
                        UintRef::decode(r)?.as_bytes().to_vec(),
                        UintRef::decode(r)?.as_bytes().to_vec(),
                    ))
                })
                .unwrap();
            let mut out = vec![0u8; 64];
            out[32 - r.len()..32].copy_from_slice(&r);
            out[64 - s.len()..].copy_from_slice(&s);
            out
        }
    }
}

use rcgen::{DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose};

/// A Notation-shaped JWS over `target`, signed by `pki`'s leaf, with `protected` headers.
fn sign_jws(pki: &pki::Pki, protected: &Value, target: &Target) -> Vec<u8> {
    let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
    let payload = URL_SAFE_NO_PAD.encode(
        json!({"targetArtifact": {
            "mediaType": target.media_type,
            "digest": target.digest.to_string(),
            "size": target.size,
        }})
        .to_string(),
    );
    let signature = pki.sign(format!("{protected}.{payload}").as_bytes());
    json!({
        "payload": payload,
        "protected": protected,
        "header": {"x5c": [
            STANDARD.encode(&pki.leaf),
            STANDARD.encode(&pki.intermediate),
            STANDARD.encode(&pki.root),
        ]},
        "signature": URL_SAFE_NO_PAD.encode(signature),
    })
    .to_string()
    .into_bytes()
}

fn headers(alg: &str) -> Value {
    json!({
        "alg": alg,
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "crit": ["io.cncf.notary.signingScheme"],
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": "2026-05-01T00:00:00Z",
    })
}

fn acme_root() -> Vec<(DnType, &'static str)> {
    vec![
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Acme Root"),
    ]
}

fn trusting(root: &[u8]) -> TrustStore {
    let mut store = TrustStore::new();
    store.add(StoreKind::Ca, "acme", root.to_vec());
    store
}

fn acme_policy(identities: &str) -> TrustPolicy {
    TrustPolicy::from_json(
        json!({"version": "1.0", "trustPolicies": [{
            "name": "acme", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:acme"],
            "trustedIdentities": [identities],
        }]})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

fn decide(envelope: &[u8], store: &TrustStore, identities: &str) -> Outcome {
    decide_as(notation::JWS_MEDIA_TYPE, envelope, store, identities)
}

/// Verifies `envelope` for the `e2e` image under a strict policy trusting `ca:acme`.
fn decide_as(media_type: &str, envelope: &[u8], store: &TrustStore, identities: &str) -> Outcome {
    let target = Layout::open("e2e").image();
    let policy = acme_policy(identities);
    let statement = policy.statement_for("acme.example/app").unwrap();
    notation::verify(media_type, envelope, &target, statement, store, now()).unwrap()
}

#[test]
fn three_certificate_chain_to_a_trusted_root_verifies() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let envelope = sign_jws(&pki, &headers("ES256"), &target);
    let v = verified(decide(
        &envelope,
        &trusting(&pki.root),
        "x509.subject: C=US, ST=WA, O=Acme",
    ));
    assert_eq!(v.algorithm, Algorithm::ES256);
    assert_eq!(v.chain.len(), 3);
    assert_eq!(v.signer, "CN=builder,O=Acme,ST=WA,C=US");
}

#[test]
fn denies_chain_to_an_untrusted_root_even_with_the_trusted_roots_name() {
    let trusted = pki::Pki::new(&acme_root(), "Acme", "builder");
    // same root DN, another key: only the trusted root's bytes count
    let forged = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let envelope = sign_jws(&forged, &headers("ES256"), &target);
    let finding = rejected(decide(&envelope, &trusting(&trusted.root), "*"));
    assert_eq!(
        finding,
        Finding {
            check: Check::Authenticity,
            failure: Failure::NoTrustedCertificate
        }
    );
}

#[test]
fn denies_identity_outside_trusted_identities() {
    let pki = pki::Pki::new(&acme_root(), "Acme Contractors", "builder");
    let target = Layout::open("e2e").image();
    let envelope = sign_jws(&pki, &headers("ES256"), &target);
    let finding = rejected(decide(
        &envelope,
        &trusting(&pki.root),
        "x509.subject: C=US, ST=WA, O=Acme",
    ));
    assert_eq!(
        finding,
        Finding {
            check: Check::Authenticity,
            failure: Failure::IdentityNotTrusted {
                subject: "CN=builder,O=Acme Contractors,ST=WA,C=US".into()
            }
        }
    );
}

#[test]
fn denies_unknown_critical_header_even_when_signed() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let mut protected = headers("ES256");
    protected["crit"] = json!(["io.cncf.notary.signingScheme", "com.acme.mustUnderstand"]);
    protected["com.acme.mustUnderstand"] = json!("yes");
    let envelope = sign_jws(&pki, &protected, &target);
    assert_eq!(
        rejected(decide(&envelope, &trusting(&pki.root), "*")),
        Finding {
            check: Check::Integrity,
            failure: Failure::UnknownCriticalHeader {
                header: "com.acme.mustUnderstand".into()
            }
        }
    );
}

#[test]
fn denies_alg_none_and_algorithm_key_mismatch() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let store = trusting(&pki.root);
    // alg none, with an empty signature as `none` has
    let mut none: Value =
        serde_json::from_slice(&sign_jws(&pki, &headers("none"), &target)).unwrap();
    none["signature"] = json!("");
    assert_eq!(
        rejected(decide(none.to_string().as_bytes(), &store, "*")),
        Finding {
            check: Check::Integrity,
            failure: Failure::UnsupportedAlgorithm { alg: "none".into() }
        }
    );
    // an ECDSA P-256 key claimed as ES384
    let mismatched = sign_jws(&pki, &headers("ES384"), &target);
    assert_eq!(
        rejected(decide(&mismatched, &store, "*")),
        Finding {
            check: Check::Integrity,
            failure: Failure::AlgorithmKeyMismatch {
                alg: Algorithm::ES384,
                key: Algorithm::ES256
            }
        }
    );
}

#[test]
fn denies_a_tampered_payload_and_a_chain_out_of_order() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let store = trusting(&pki.root);
    let genuine: Value =
        serde_json::from_slice(&sign_jws(&pki, &headers("ES256"), &target)).unwrap();
    // the payload swapped for one naming another digest, signature kept
    let mut swapped = genuine.clone();
    let other = Target {
        digest: Digest::sha256_of(b"evil"),
        ..target.clone()
    };
    let other_env: Value =
        serde_json::from_slice(&sign_jws(&pki, &headers("ES256"), &other)).unwrap();
    swapped["payload"] = other_env["payload"].clone();
    assert_eq!(
        rejected(decide(swapped.to_string().as_bytes(), &store, "*")),
        Finding {
            check: Check::Integrity,
            failure: Failure::SignatureInvalid
        }
    );
    // x5c with the intermediate left out
    let mut gap = genuine;
    gap["header"]["x5c"] = json!([STANDARD.encode(&pki.leaf), STANDARD.encode(&pki.root)]);
    assert_eq!(
        rejected(decide(gap.to_string().as_bytes(), &store, "*")),
        Finding {
            check: Check::Integrity,
            failure: Failure::Certificate {
                index: 0,
                problem: CertificateProblem::NotIssuedByNext
            }
        }
    );
}

#[test]
fn denies_signing_certificates_the_specification_excludes() {
    let target = Layout::open("e2e").image();
    let cases = [
        (
            vec![KeyUsagePurpose::DigitalSignature],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            CertificateProblem::LeafExtendedKeyUsage,
        ),
        (
            vec![KeyUsagePurpose::DigitalSignature],
            vec![ExtendedKeyUsagePurpose::TimeStamping],
            CertificateProblem::LeafExtendedKeyUsage,
        ),
        (
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ],
            vec![ExtendedKeyUsagePurpose::CodeSigning],
            CertificateProblem::LeafKeyUsage,
        ),
        (
            vec![KeyUsagePurpose::KeyEncipherment],
            vec![ExtendedKeyUsagePurpose::CodeSigning],
            CertificateProblem::LeafKeyUsage,
        ),
    ];
    for (key_usages, ekus, problem) in cases {
        let pki = pki::Pki::with_leaf_usage(&acme_root(), "Acme", "builder", key_usages, ekus);
        let envelope = sign_jws(&pki, &headers("ES256"), &target);
        assert_eq!(
            rejected(decide(&envelope, &trusting(&pki.root), "*")),
            Finding {
                check: Check::Integrity,
                failure: Failure::Certificate { index: 0, problem }
            },
            "{problem:?}"
        );
    }
    // an EKU the exclusion list does not name is allowed, as in notation
    let pki = pki::Pki::with_leaf_usage(
        &acme_root(),
        "Acme",
        "builder",
        vec![KeyUsagePurpose::DigitalSignature],
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 4, 1, 99999, 1,
        ])],
    );
    let envelope = sign_jws(&pki, &headers("ES256"), &target);
    verified(decide(&envelope, &trusting(&pki.root), "*"));
}

#[test]
fn denies_a_second_root_before_the_last_certificate() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let mut jws: Value =
        serde_json::from_slice(&sign_jws(&pki, &headers("ES256"), &target)).unwrap();
    jws["header"]["x5c"] = json!([
        STANDARD.encode(&pki.leaf),
        STANDARD.encode(&pki.intermediate),
        STANDARD.encode(&pki.root),
        STANDARD.encode(&pki.root),
    ]);
    assert_eq!(
        rejected(decide(
            jws.to_string().as_bytes(),
            &trusting(&pki.root),
            "*"
        )),
        Finding {
            check: Check::Integrity,
            failure: Failure::Certificate {
                index: 2,
                problem: CertificateProblem::SelfIssuedBeforeRoot
            }
        }
    );
}

#[test]
fn denies_expiry_not_after_signing_time() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let mut protected = headers("ES256");
    protected["crit"] = json!(["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]);
    protected["io.cncf.notary.expiry"] = protected["io.cncf.notary.signingTime"].clone();
    let envelope = sign_jws(&pki, &protected, &target);
    assert_eq!(
        rejected(decide(&envelope, &trusting(&pki.root), "*")),
        Finding {
            check: Check::Integrity,
            failure: Failure::ExpiryBeforeSigningTime
        }
    );
}

// ---- COSE_Sign1 made here ------------------------------------------------------------------

/// Minimal CBOR writing for the COSE cases (definite lengths).
mod cbor {
    pub fn head(major: u8, n: u64, out: &mut Vec<u8>) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
        }
    }
    pub fn int(i: i64, out: &mut Vec<u8>) {
        if i >= 0 {
            head(0, i as u64, out)
        } else {
            head(1, (-1 - i) as u64, out)
        }
    }
    pub fn text(s: &str, out: &mut Vec<u8>) {
        head(3, s.len() as u64, out);
        out.extend(s.as_bytes());
    }
    pub fn bytes(b: &[u8], out: &mut Vec<u8>) {
        head(2, b.len() as u64, out);
        out.extend(b);
    }
}

/// A Notary COSE_Sign1 over `target` signed by `pki`'s leaf (ES256). `extra_crit` adds a
/// critical header; `detached` leaves the payload out of the envelope (it is still signed).
fn sign_cose(pki: &pki::Pki, target: &Target, extra_crit: Option<&str>, detached: bool) -> Vec<u8> {
    let mut protected = Vec::new();
    let entries = 5 + usize::from(extra_crit.is_some());
    cbor::head(5, entries as u64, &mut protected);
    cbor::int(1, &mut protected);
    cbor::int(-7, &mut protected); // ES256
    cbor::int(2, &mut protected);
    let crit = 1 + usize::from(extra_crit.is_some());
    cbor::head(4, crit as u64, &mut protected);
    cbor::text("io.cncf.notary.signingScheme", &mut protected);
    if let Some(name) = extra_crit {
        cbor::text(name, &mut protected);
    }
    cbor::int(3, &mut protected);
    cbor::text(
        "application/vnd.cncf.notary.payload.v1+json",
        &mut protected,
    );
    cbor::text("io.cncf.notary.signingScheme", &mut protected);
    cbor::text("notary.x509", &mut protected);
    cbor::text("io.cncf.notary.signingTime", &mut protected);
    cbor::head(6, 1, &mut protected);
    cbor::int(1_777_593_600, &mut protected); // 2026-05-01
    if let Some(name) = extra_crit {
        cbor::text(name, &mut protected);
        cbor::text("yes", &mut protected);
    }
    let payload = json!({"targetArtifact": {
        "mediaType": target.media_type,
        "digest": target.digest.to_string(),
        "size": target.size,
    }})
    .to_string()
    .into_bytes();
    let mut to_sign = vec![0x84];
    cbor::text("Signature1", &mut to_sign);
    cbor::bytes(&protected, &mut to_sign);
    cbor::bytes(&[], &mut to_sign);
    cbor::bytes(&payload, &mut to_sign);
    let signature = pki.sign(&to_sign);

    let mut out = Vec::new();
    cbor::head(6, 18, &mut out);
    cbor::head(4, 4, &mut out);
    cbor::bytes(&protected, &mut out);
    cbor::head(5, 1, &mut out);
    cbor::int(33, &mut out);
    cbor::head(4, 3, &mut out);
    for cert in [&pki.leaf, &pki.intermediate, &pki.root] {
        cbor::bytes(cert, &mut out);
    }
    if detached {
        out.push(0xf6); // nil
    } else {
        cbor::bytes(&payload, &mut out);
    }
    cbor::bytes(&signature, &mut out);
    out
}

fn decide_cose(envelope: &[u8], store: &TrustStore) -> Outcome {
    decide_as(notation::COSE_MEDIA_TYPE, envelope, store, "*")
}

#[test]
fn cose_envelope_made_here_verifies_and_another_digest_does_not() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let store = trusting(&pki.root);
    let v = verified(decide_cose(&sign_cose(&pki, &target, None, false), &store));
    assert_eq!(v.algorithm, Algorithm::ES256);
    assert_eq!(v.chain.len(), 3);
    let other = Target {
        digest: Digest::sha256_of(b"another image"),
        ..target
    };
    assert_eq!(
        rejected(decide_cose(&sign_cose(&pki, &other, None, false), &store)),
        Finding {
            check: Check::Integrity,
            failure: Failure::TargetMismatch {
                field: TargetField::Digest
            }
        }
    );
}

#[test]
fn denies_cose_with_a_detached_payload_naming_another_digest() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let other = Target {
        digest: Digest::sha256_of(b"another image"),
        ..Layout::open("e2e").image()
    };
    assert_eq!(
        rejected(decide_cose(
            &sign_cose(&pki, &other, None, true),
            &trusting(&pki.root)
        )),
        Finding {
            check: Check::Integrity,
            failure: Failure::DetachedPayload
        }
    );
}

#[test]
fn denies_cose_with_an_unknown_critical_header() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    assert_eq!(
        rejected(decide_cose(
            &sign_cose(&pki, &target, Some("com.acme.mustUnderstand"), false),
            &trusting(&pki.root)
        )),
        Finding {
            check: Check::Integrity,
            failure: Failure::UnknownCriticalHeader {
                header: "com.acme.mustUnderstand".into()
            }
        }
    );
}

// ---- signing scheme and trust store type -------------------------------------------------

fn policy_with_stores(stores: &[&str]) -> TrustPolicy {
    TrustPolicy::from_json(
        json!({"version": "1.0", "trustPolicies": [{
            "name": "acme", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": stores,
            "trustedIdentities": ["*"],
        }]})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn signing_authority_signatures_need_a_signing_authority_store_and_vice_versa() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let target = Layout::open("e2e").image();
    let mut sa = headers("ES256");
    sa["io.cncf.notary.signingScheme"] = json!("notary.x509.signingAuthority");
    sa.as_object_mut()
        .unwrap()
        .remove("io.cncf.notary.signingTime");
    sa["io.cncf.notary.authenticSigningTime"] = json!("2026-05-01T00:00:00Z");
    sa["crit"] = json!([
        "io.cncf.notary.signingScheme",
        "io.cncf.notary.authenticSigningTime"
    ]);
    let sa_envelope = sign_jws(&pki, &sa, &target);
    let x509_envelope = sign_jws(&pki, &headers("ES256"), &target);
    let mut store = TrustStore::new();
    store.add(StoreKind::Ca, "acme", pki.root.clone());
    store.add(StoreKind::SigningAuthority, "acme", pki.root.clone());
    let run = |envelope: &[u8], stores: &[&str]| {
        let p = policy_with_stores(stores);
        let statement = p.statement_for("a/b").unwrap();
        notation::verify(
            notation::JWS_MEDIA_TYPE,
            envelope,
            &target,
            statement,
            &store,
            now(),
        )
        .unwrap()
    };
    let v = verified(run(&sa_envelope, &["signingAuthority:acme"]));
    assert_eq!(v.scheme, SigningScheme::X509SigningAuthority);
    verified(run(&x509_envelope, &["ca:acme"]));
    let untrusted = Finding {
        check: Check::Authenticity,
        failure: Failure::NoTrustedCertificate,
    };
    // a root trusted as `ca` does not vouch for a signing authority's signature, nor the reverse
    assert_eq!(rejected(run(&sa_envelope, &["ca:acme"])), untrusted);
    assert_eq!(
        rejected(run(&x509_envelope, &["signingAuthority:acme"])),
        untrusted
    );
}

#[test]
fn trust_store_files_may_be_pem_bundles_or_der_and_nothing_else() {
    let pki = pki::Pki::new(&acme_root(), "Acme", "builder");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("x509/ca/acme");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("root.der"), &pki.root).unwrap();
    let bundle = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&pki.intermediate),
        STANDARD.encode(&pki.leaf)
    );
    std::fs::write(ca.join("bundle.pem"), bundle).unwrap();
    let store = TrustStore::load_dir(dir.path()).unwrap();
    let p = policy_with_stores(&["ca:acme"]);
    let certs = store
        .certificates_for(p.statement_for("a/b").unwrap(), StoreKind::Ca)
        .unwrap();
    assert_eq!(
        certs,
        vec![pki.intermediate.clone(), pki.leaf.clone(), pki.root.clone()]
    );
    std::fs::write(ca.join("notes.txt"), "not a certificate").unwrap();
    assert_eq!(
        TrustStore::load_dir(dir.path()).unwrap_err(),
        PolicyError::BadCertificateFile {
            path: ca.join("notes.txt")
        }
    );
}

// ---- RFC 3161 timestamps: notation-go's verifier test data --------------------------------

/// notation-go's `verifier/testdata/truststore` (the part vendored): `ca:valid-trust-store`
/// (TestTimestamp.crt, TestTimestampNotYetValid.crt), `tsa:test-timestamp` (GlobalSign root),
/// `tsa:test-mismatch` (DigiCert root), read from its directory layout.
fn go_store() -> TrustStore {
    TrustStore::load_dir(&go_fixture("truststore")).unwrap()
}

/// notation-go's `TestAuthenticTimestamp` policy: strict, `verifyTimestamp: always`.
fn timestamp_policy(tsa: Option<&str>, verify_timestamp: &str) -> TrustPolicy {
    let mut stores = vec!["ca:valid-trust-store".to_owned()];
    stores.extend(tsa.map(|t| format!("tsa:{t}")));
    TrustPolicy::from_json(
        json!({"version": "1.0", "trustPolicies": [{
            "name": "test-timestamp", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict", "verifyTimestamp": verify_timestamp},
            "trustStores": stores,
            "trustedIdentities": ["*"],
        }]})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

fn go_envelope(file: &str) -> (&'static str, Vec<u8>, Target) {
    let bytes = std::fs::read(go_fixture(&format!("timestamp/sigEnv/{file}"))).unwrap();
    let (media_type, parsed) = if bytes.first() == Some(&b'{') {
        (notation::JWS_MEDIA_TYPE, envelope::parse_jws(&bytes))
    } else {
        (
            notation::COSE_MEDIA_TYPE,
            notation::cose::parse_cose(&bytes),
        )
    };
    let target = parsed.unwrap().target;
    (media_type, bytes, target)
}

/// Verifies a notation-go envelope. notation-go's timestamp tests check the authentic
/// timestamp alone; some of their signing certificates are in no store, so the store here
/// also trusts each envelope's own root under `ca:valid-trust-store`.
fn verify_go(file: &str, policy: &TrustPolicy) -> Outcome {
    let (media_type, bytes, target) = go_envelope(file);
    let statement = policy.statement_for("a/b").unwrap();
    let chain = match media_type {
        notation::JWS_MEDIA_TYPE => envelope::parse_jws(&bytes),
        _ => notation::cose::parse_cose(&bytes),
    }
    .unwrap()
    .chain;
    let mut store = go_store();
    store.add(
        StoreKind::Ca,
        "valid-trust-store",
        chain.last().unwrap().clone(),
    );
    notation::verify(media_type, &bytes, &target, statement, &store, now()).unwrap()
}

#[test]
fn timestamped_signatures_verify_through_their_tsa_even_after_the_certificate_expired() {
    // notation-go: "verify Authentic Timestamp with jws/cose format" and "… with expired
    // codeSigning cert" all pass.
    let policy = timestamp_policy(Some("test-timestamp"), "always");
    for file in [
        "jwsWithTimestamp.sig",
        "coseWithTimestamp.sig",
        "jwsExpiredWithTimestamp.sig",
        "coseExpiredWithTimestamp.sig",
    ] {
        let v = verified(verify_go(file, &policy));
        assert!(v.logged.is_empty(), "{file}: {:?}", v.logged);
        assert_eq!(v.level, Level::Strict);
    }
}

#[test]
fn timestamp_outside_the_signing_certificate_validity_fails_authentic_timestamp() {
    let policy = timestamp_policy(Some("test-timestamp"), "always");
    for (file, problem) in [
        (
            "timestampBeforeNotBefore.sig",
            CertificateProblem::NotYetValid,
        ),
        ("timestampAfterNotAfter.sig", CertificateProblem::Expired),
    ] {
        assert_eq!(
            rejected(verify_go(file, &policy)),
            Finding {
                check: Check::AuthenticTimestamp,
                failure: Failure::Certificate { index: 0, problem }
            },
            "{file}"
        );
    }
}

#[test]
fn timestamp_by_a_tsa_outside_the_tsa_store_is_untrusted() {
    // notation-go: "tsa not trust" (the store holds DigiCert's root, the TSA is GlobalSign's)
    let policy = timestamp_policy(Some("test-mismatch"), "always");
    let finding = rejected(verify_go("jwsWithTimestamp.sig", &policy));
    assert_eq!(finding.check, Check::AuthenticTimestamp);
    assert!(
        matches!(
            finding.failure,
            Failure::TimestampInvalid {
                problem: TimestampProblem::Untrusted(_)
            }
        ),
        "{finding:?}"
    );
}

#[test]
fn without_a_tsa_store_the_expired_certificate_decides() {
    // notation-go: "missing tsa in trust policy and expired codeSigning cert"
    let policy = timestamp_policy(None, "always");
    assert_eq!(
        rejected(verify_go("coseExpiredWithTimestamp.sig", &policy)),
        Finding {
            check: Check::AuthenticTimestamp,
            failure: expired_leaf()
        }
    );
}

/// Decides the only signature of an e2e layout under a strict statement with `ca:e2e`
/// (holding `cert`) and `tsa:test-timestamp`.
fn decide_with_tsa_store(layout: &str, cert: &str, verify_timestamp: &str) -> Outcome {
    let layout = Layout::open(layout);
    let target = layout.image();
    let (media_type, bytes) = layout.signatures_for(&target).pop().unwrap();
    let mut store = go_store();
    let pem = std::fs::read(fixture(&format!("config/localkeys/{cert}"))).unwrap();
    store.add(StoreKind::Ca, "e2e", pem_to_der(&pem));
    let policy = TrustPolicy::from_json(
        json!({"version": "1.0", "trustPolicies": [{
            "name": "e2e", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict", "verifyTimestamp": verify_timestamp},
            "trustStores": ["ca:e2e", "tsa:test-timestamp"],
            "trustedIdentities": ["*"],
        }]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let statement = policy.statement_for("localhost:5000/e2e").unwrap();
    notation::verify(&media_type, &bytes, &target, statement, &store, now()).unwrap()
}

#[test]
fn with_a_tsa_store_a_signature_needs_its_timestamp_when_the_timestamp_is_verified() {
    // notation-go `verifyTimestamp`: once a `tsa` store is named, the countersignature must
    // be present, except under `afterCertExpiry` while the chain is unexpired.
    let missing = Finding {
        check: Check::AuthenticTimestamp,
        failure: Failure::TimestampMissing,
    };
    assert_eq!(
        rejected(decide_with_tsa_store(
            "e2e-valid-signature",
            "e2e.crt",
            "always"
        )),
        missing
    );
    let v = verified(decide_with_tsa_store(
        "e2e-valid-signature",
        "e2e.crt",
        "afterCertExpiry",
    ));
    assert_eq!(v.signer, E2E_SUBJECT);
    for verify_timestamp in ["always", "afterCertExpiry"] {
        assert_eq!(
            rejected(decide_with_tsa_store(
                "e2e-with-expired-cert",
                "expired_e2e.crt",
                verify_timestamp
            )),
            missing,
            "{verify_timestamp}"
        );
    }
}

#[test]
fn a_timestamp_moved_to_another_signature_does_not_vouch_for_it() {
    let (media_type, bytes, target) = go_envelope("jwsExpiredWithTimestamp.sig");
    let (_, donor, _) = go_envelope("jwsWithTimestamp.sig");
    let donor: Value = serde_json::from_slice(&donor).unwrap();
    let mut jws: Value = serde_json::from_slice(&bytes).unwrap();
    jws["header"]["io.cncf.notary.timestampSignature"] =
        donor["header"]["io.cncf.notary.timestampSignature"].clone();
    let policy = timestamp_policy(Some("test-timestamp"), "always");
    let statement = policy.statement_for("a/b").unwrap();
    let mut store = go_store();
    let chain = envelope::parse_jws(&bytes).unwrap().chain;
    store.add(
        StoreKind::Ca,
        "valid-trust-store",
        chain.last().unwrap().clone(),
    );
    let outcome = notation::verify(
        media_type,
        jws.to_string().as_bytes(),
        &target,
        statement,
        &store,
        now(),
    )
    .unwrap();
    assert_eq!(
        rejected(outcome),
        Finding {
            check: Check::AuthenticTimestamp,
            failure: Failure::TimestampInvalid {
                problem: TimestampProblem::MessageImprintMismatch
            }
        }
    );
}

// ------------------------------------------------------------------ revocation (CRLs)

/// Decides an ES256 signature by `pki` under a policy trusting its root at `level`, with
/// `crls`: the outcome and the revocation status.
fn decide_with_crls(
    pki: &pki::Pki,
    level: &str,
    crls: &[Vec<u8>],
) -> (Outcome, notation::RevocationStatus) {
    let target = Layout::open("e2e").image();
    let envelope = sign_jws(pki, &headers("ES256"), &target);
    let policy = TrustPolicy::from_json(
        json!({"version": "1.0", "trustPolicies": [{
            "name": "acme", "registryScopes": ["*"],
            "signatureVerification": {"level": level},
            "trustStores": ["ca:acme"],
            "trustedIdentities": ["*"],
        }]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let mut list = notation::Crls::none();
    for crl in crls {
        assert!(list.add_der(crl.clone()));
    }
    let decision = notation::decide(
        notation::JWS_MEDIA_TYPE,
        &envelope,
        &target,
        policy.statement_for("acme.example/app").unwrap(),
        &trusting(&pki.root),
        &list,
        now(),
    )
    .unwrap();
    (decision.outcome, decision.revocation)
}

const CURRENT: (i32, u8, u8) = (2026, 12, 31);

#[test]
fn a_revocable_chain_without_crls_fails_revocation_under_strict() {
    let pki = pki::Pki::revocable(&acme_root(), "Acme", "builder");
    let (outcome, status) = decide_with_crls(&pki, "strict", &[]);
    assert_eq!(
        rejected(outcome),
        Finding {
            check: Check::Revocation,
            failure: Failure::RevocationNotChecked { index: 0 }
        }
    );
    assert_eq!(status, notation::RevocationStatus::NotChecked);
    // permissive logs it, and the signature counts
    let (outcome, _) = decide_with_crls(&pki, "permissive", &[]);
    assert_eq!(
        verified(outcome).logged,
        vec![Finding {
            check: Check::Revocation,
            failure: Failure::RevocationNotChecked { index: 0 }
        }]
    );
}

#[test]
fn current_crls_that_list_nobody_pass_revocation() {
    let pki = pki::Pki::revocable(&acme_root(), "Acme", "builder");
    let crls = [pki.crl(true, &[], CURRENT), pki.crl(false, &[], CURRENT)];
    let (outcome, status) = decide_with_crls(&pki, "strict", &crls);
    assert!(verified(outcome).logged.is_empty());
    assert_eq!(status, notation::RevocationStatus::Good);
    // a chain that names no revocation information is not revocable
    let plain = pki::Pki::new(&acme_root(), "Acme", "builder");
    let (outcome, status) = decide_with_crls(&plain, "strict", &[]);
    verified(outcome);
    assert_eq!(status, notation::RevocationStatus::NotRevocable);
}

#[test]
fn a_revoked_leaf_or_intermediate_is_rejected() {
    let pki = pki::Pki::revocable(&acme_root(), "Acme", "builder");
    for (root_lists, int_lists) in [
        (vec![], vec![pki::LEAF_SERIAL]),
        (vec![pki::INTERMEDIATE_SERIAL], vec![]),
    ] {
        let crls = [
            pki.crl(true, &root_lists, CURRENT),
            pki.crl(false, &int_lists, CURRENT),
        ];
        let (outcome, status) = decide_with_crls(&pki, "strict", &crls);
        assert_eq!(
            rejected(outcome),
            Finding {
                check: Check::Revocation,
                failure: Failure::CertificateRevoked
            },
            "root lists {root_lists:?}, intermediate lists {int_lists:?}"
        );
        assert_eq!(status, notation::RevocationStatus::Revoked);
    }
}

#[test]
fn missing_stale_or_forged_crls_leave_the_status_unknown() {
    use notation::revocation::RevocationProblem;
    let pki = pki::Pki::revocable(&acme_root(), "Acme", "builder");
    let unknown = |crls: &[Vec<u8>]| {
        let (outcome, status) = decide_with_crls(&pki, "strict", crls);
        assert_eq!(status, notation::RevocationStatus::Unknown);
        rejected(outcome).failure
    };
    // no CRL of the root: the intermediate's status is unknown
    assert_eq!(
        unknown(&[pki.crl(false, &[], CURRENT)]),
        Failure::RevocationUnknown {
            index: 1,
            problem: RevocationProblem::NoCrl
        }
    );
    // the intermediate's CRL is past its nextUpdate (2026-03-01 < now 2026-06-01)
    assert_eq!(
        unknown(&[
            pki.crl(true, &[], CURRENT),
            pki.crl(false, &[], (2026, 3, 1))
        ]),
        Failure::RevocationUnknown {
            index: 0,
            problem: RevocationProblem::CrlExpired
        }
    );
    // a CRL with the intermediate's name signed by another intermediate's key
    let other = pki::Pki::revocable(&acme_root(), "Acme", "builder");
    assert_eq!(
        unknown(&[pki.crl(true, &[], CURRENT), other.crl(false, &[], CURRENT)]),
        Failure::RevocationUnknown {
            index: 0,
            problem: RevocationProblem::CrlInvalid
        }
    );
}

#[test]
fn crl_files_are_read_as_pem_or_der_and_anything_else_is_refused() {
    let pki = pki::Pki::revocable(&acme_root(), "Acme", "builder");
    let der = pki.crl(false, &[], CURRENT);
    let dir = tempfile::tempdir().unwrap();
    let pem = format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        STANDARD.encode(&der)
    );
    std::fs::write(dir.path().join("a.pem"), pem).unwrap();
    std::fs::write(dir.path().join("b.crl"), &der).unwrap();
    std::fs::write(dir.path().join("c.txt"), "not a crl").unwrap();
    let crls =
        notation::Crls::from_files(&[dir.path().join("a.pem"), dir.path().join("b.crl")]).unwrap();
    assert_eq!(crls.lists(), &[der.clone(), der]);
    assert_eq!(
        notation::Crls::from_files(&[dir.path().join("c.txt")]),
        Err(notation::CrlError::NotACrl {
            path: dir.path().join("c.txt")
        })
    );
}
