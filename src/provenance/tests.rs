#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;
use crate::verify::discover::{CERTIFICATE_ANNOTATION, PREDICATE_TYPE_ANNOTATION};
use crate::verify::signers::{SubjectMatcher, TlogPolicy};
use base64::Engine as _;
use sigstore_verify::crypto::KeyPair;
use std::collections::BTreeMap;

const DIGEST: &str = "sha256:7b265292318e82056f04db3fa982c037bad829edf5461c7999f6274f200942fe";
const OTHER: &str = "sha256:309f2197ead520b0393d343706195162f3621d69270af529ed5bc78f3affcc40";
const AMD64: &str = "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
const REPO: &str = "127.0.0.1:5123/demo/attested";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn statement(subject_digest: &str, statement_type: &str, predicate_type: &str) -> String {
    let hex = subject_digest.trim_start_matches("sha256:");
    format!(
        r#"{{"_type":"{statement_type}","predicateType":"{predicate_type}","subject":[{{"name":"{REPO}","digest":{{"sha256":"{hex}"}}}}],"predicate":{{"builder":{{"id":"https://builder.example/b@v1"}},"invocation":{{"configSource":{{"uri":"git+https://github.com/example/demo@refs/heads/main","digest":{{"sha1":"{COMMIT}"}},"entryPoint":"release.yml"}}}}}}}}"#
    )
}

fn slsa02(subject_digest: &str) -> String {
    statement(
        subject_digest,
        statement::STATEMENT_V0_1,
        slsa::SLSA_PROVENANCE_V0_2,
    )
}

struct Keys {
    pair: KeyPair,
}

impl Keys {
    fn new() -> Self {
        Self {
            pair: KeyPair::generate_ecdsa_p256().unwrap(),
        }
    }

    fn signer(&self, name: &str, tlog: TlogPolicy) -> Arc<Signer> {
        let pem = self.pair.public_key_der().unwrap().to_pem();
        Arc::new(Signer::key_with_trusted_root(name, &pem, tlog, None).unwrap())
    }

    fn envelope(&self, payload_type: &str, payload: &str) -> Vec<u8> {
        let pae = sigstore_verify::types::pae(payload_type, payload.as_bytes());
        let sig = self.pair.sign(&pae).unwrap().to_base64();
        let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
        format!(
                r#"{{"payloadType":"{payload_type}","payload":"{b64}","signatures":[{{"keyid":"","sig":"{sig}"}}]}}"#
            )
            .into_bytes()
    }

    fn candidate(&self, payload: &str) -> AttestationCandidate {
        candidate(self.envelope(IN_TOTO_PAYLOAD_TYPE, payload))
    }
}

fn candidate(envelope: Vec<u8>) -> AttestationCandidate {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        PREDICATE_TYPE_ANNOTATION.to_owned(),
        slsa::SLSA_PROVENANCE_V0_2.to_owned(),
    );
    AttestationCandidate {
        location: Location::CosignTag {
            tag: "sha256-7b26.att".into(),
            manifest: digest(OTHER),
            layer: 0,
        },
        attached_to: digest(DIGEST),
        material: AttestationMaterial::cosign_layer(envelope, &annotations),
    }
}

fn platforms() -> Vec<Platform> {
    vec![Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
        digest: digest(AMD64),
    }]
}

fn only_reason(fact: &AttestationFact) -> &Reason {
    assert!(fact.verified_by.is_empty(), "{fact:?}");
    assert_eq!(fact.rejections.len(), 1, "{fact:?}");
    &fact.rejections[0].reason
}

#[test]
fn accepts_key_signed_provenance_and_normalises_it() {
    let keys = Keys::new();
    let fact = verify_attestation(
        &keys.candidate(&slsa02(DIGEST)),
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(fact.verified_by, vec!["k".to_owned()], "{fact:?}");
    assert!(fact.counts());
    assert_eq!(fact.signature_kind, Some(SignatureKind::CosignKey));
    assert_eq!(fact.kind, Some(AttestationKind::SlsaProvenanceV0_2));
    assert_eq!(
        fact.subject_match,
        Some(SubjectMatch {
            digest: digest(DIGEST),
            platform: None
        })
    );
    assert_eq!(fact.subject_names, vec![REPO.to_owned()]);
    assert!(fact.subject_name_matches_repository);
    let p = fact.verified_provenance().unwrap();
    assert_eq!(
        p.builder_id.as_deref(),
        Some("https://builder.example/b@v1")
    );
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/example/demo")
    );
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
    assert_eq!(fact.predicate, None);
}

#[test]
fn records_a_platform_subject() {
    let keys = Keys::new();
    let fact = verify_attestation(
        &keys.candidate(&slsa02(AMD64)),
        REPO,
        &digest(DIGEST),
        &platforms(),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert!(fact.counts(), "{fact:?}");
    assert_eq!(
        fact.subject_match,
        Some(SubjectMatch {
            digest: digest(AMD64),
            platform: Some("linux/amd64".into())
        })
    );
}

#[test]
fn denies_statement_about_another_image() {
    let keys = Keys::new();
    let fact = verify_attestation(
        &keys.candidate(&slsa02(OTHER)),
        REPO,
        &digest(DIGEST),
        &platforms(),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(
        only_reason(&fact),
        &Reason::StatementAboutOther {
            about: Short(OTHER.into()),
            expected: Short(DIGEST.into()),
            platforms: true
        }
    );
    assert_eq!(
            only_reason(&fact).to_string(),
            "the statement is about `sha256:309f2197ead5…`, not this image's `sha256:7b265292318e…` or one of its platforms"
        );
    assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
    assert!(fact.verified_provenance().is_none());
}

#[test]
fn denies_payload_edited_after_signing() {
    let keys = Keys::new();
    let good = slsa02(DIGEST);
    let envelope = keys.envelope(IN_TOTO_PAYLOAD_TYPE, &good);
    let edited = good.replace("example/demo", "example/evil");
    let signed_b64 = base64::engine::general_purpose::STANDARD.encode(&good);
    let edited_b64 = base64::engine::general_purpose::STANDARD.encode(&edited);
    let envelope = String::from_utf8(envelope)
        .unwrap()
        .replace(&signed_b64, &edited_b64);
    let fact = verify_attestation(
        &candidate(envelope.into_bytes()),
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(only_reason(&fact), &Reason::DsseSignatureInvalid);
    assert_eq!(fact.rejections[0].signer, "k");
    // The claims are still shown, but never as verified provenance.
    assert!(fact.provenance.is_some());
    assert!(fact.verified_provenance().is_none());
}

#[test]
fn denies_unknown_payload_type() {
    let keys = Keys::new();
    let c = candidate(keys.envelope("application/vnd.example+json", &slsa02(DIGEST)));
    let fact = verify_attestation(
        &c,
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(
        only_reason(&fact),
        &Reason::UnknownPayloadType {
            found: "application/vnd.example+json".into()
        }
    );
}

#[test]
fn denies_unknown_statement_type() {
    let keys = Keys::new();
    let payload = statement(
        DIGEST,
        "https://in-toto.io/Statement/v2",
        slsa::SLSA_PROVENANCE_V0_2,
    );
    let fact = verify_attestation(
        &keys.candidate(&payload),
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert!(
        only_reason(&fact)
            == &Reason::UnknownStatementType {
                found: "https://in-toto.io/Statement/v2".into()
            },
        "{fact:?}"
    );
}

#[test]
fn denies_untrusted_signer_and_records_every_verdict() {
    let keys = Keys::new();
    let other = Keys::new();
    let keyless = Arc::new(
        Signer::keyless(
            "ci",
            "https://token.actions.githubusercontent.com".into(),
            SubjectMatcher::Exact("https://github.com/acme/app".into()),
            None,
        )
        .unwrap(),
    );
    let fact = verify_attestation(
        &keys.candidate(&slsa02(DIGEST)),
        REPO,
        &digest(DIGEST),
        &[],
        &[other.signer("other", TlogPolicy::InsecureIgnore), keyless],
    );
    assert!(!fact.counts());
    let reasons: Vec<_> = fact
        .rejections
        .iter()
        .map(|r| (r.signer.as_str(), r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("other", Reason::DsseSignatureInvalid),
            (
                "ci",
                Reason::SignedWithKey {
                    signer: "ci".into()
                }
            ),
        ]
    );
}

#[test]
fn denies_unlogged_key_attestation_unless_the_signer_allows_it() {
    let keys = Keys::new();
    let fact = verify_attestation(
        &keys.candidate(&slsa02(DIGEST)),
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::Require)],
    );
    assert!(
        matches!(only_reason(&fact), Reason::NoTlogProof { .. }),
        "{fact:?}"
    );
}

#[test]
fn keeps_other_predicates_as_json() {
    let keys = Keys::new();
    let payload = format!(
        r#"{{"_type":"{}","predicateType":"https://cosign.sigstore.dev/attestation/vuln/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicate":{{"scanner":{{"uri":"pkg:github/aquasecurity/trivy"}}}}}}"#,
        statement::STATEMENT_V1,
        DIGEST.trim_start_matches("sha256:")
    );
    let fact = verify_attestation(
        &keys.candidate(&payload),
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert!(fact.counts(), "{fact:?}");
    assert_eq!(fact.kind, Some(AttestationKind::Other));
    assert_eq!(fact.provenance, None);
    assert_eq!(
        fact.predicate.as_ref().unwrap()["scanner"]["uri"],
        "pkg:github/aquasecurity/trivy"
    );
    assert!(!fact.subject_name_matches_repository);
    // `candidate()` annotates the layer as SLSA v0.2: the signed type wins, noted.
    assert_eq!(fact.notes.len(), 1, "{:?}", fact.notes);
    assert!(
        fact.notes[0].starts_with("the layer annotation says `https://slsa.dev/provenance/v0.2`")
    );
    let json = serde_json::to_value(&fact).unwrap();
    assert_eq!(json["kind"], "other");
    assert_eq!(json["statement_type"], statement::STATEMENT_V1);
}

#[test]
fn denies_a_bare_statement_and_garbage() {
    let keys = Keys::new();
    let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
    let bare = candidate(slsa02(DIGEST).into_bytes());
    let fact = verify_attestation(
        &bare,
        REPO,
        &digest(DIGEST),
        &[],
        std::slice::from_ref(&signer),
    );
    assert_eq!(only_reason(&fact), &Reason::BareStatement);
    type Expected = fn(&Reason) -> bool;
    let cases: [(&[u8], Expected); 3] = [
        (&b"not json"[..], |r| {
            matches!(r, Reason::NotDsseEnvelope { .. })
        }),
        (
            &br#"{"payloadType":"application/vnd.in-toto+json","payload":"%%%","signatures":[]}"#[..],
            |r| r == &Reason::DssePayloadNotBase64,
        ),
        (
            &br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#
                [..],
            |r| matches!(r, Reason::PayloadNotStatement { .. }),
        ),
    ];
    for (body, expected) in cases {
        let fact = verify_attestation(
            &candidate(body.to_vec()),
            REPO,
            &digest(DIGEST),
            &[],
            std::slice::from_ref(&signer),
        );
        assert!(expected(only_reason(&fact)), "{fact:?}");
    }
}

#[test]
fn denies_certificate_layer_for_a_key_signer() {
    // The certificate of slsa-verifier's v2.1.0 `.att` layer (a real Fulcio certificate).
    let manifest = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "fixtures/external/slsa-framework/slsa-verifier/cli/slsa-verifier/testdata/gha_generic_container/v2.1.0/container_workflow_dispatch/blobs/sha256/21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe",
        ))
        .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let pem = manifest["layers"][0]["annotations"][CERTIFICATE_ANNOTATION]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = Keys::new();
    let mut c = keys.candidate(&slsa02(DIGEST));
    if let AttestationMaterial::CosignLayer { certificate, .. } = &mut c.material {
        *certificate = Some(pem);
    }
    let fact = verify_attestation(
        &c,
        REPO,
        &digest(DIGEST),
        &[],
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(
        only_reason(&fact),
        &Reason::SignedWithCertificate { signer: "k".into() }
    );
    assert_eq!(fact.signature_kind, Some(SignatureKind::CosignKeyless));
    let identity = fact.identity.as_ref().unwrap();
    assert_eq!(
        identity.source_repository.as_deref(),
        Some("https://github.com/slsa-framework/example-package")
    );
    // The certificate's repository differs from what this provenance claims.
    let agreement = fact.certificate_agreement.as_ref().unwrap();
    assert!(matches!(agreement.repository, Agreement::Disagrees { .. }));
}

#[test]
fn subject_names_are_compared_by_repository() {
    assert!(same_repository(REPO, REPO));
    assert!(same_repository(&format!("{REPO}:v1"), REPO));
    assert!(same_repository(
        "pkg:docker/ghcr.io/acme/app@main?platform=linux%2Famd64",
        "ghcr.io/acme/app"
    ));
    assert!(!same_repository(
        "ghcr.io/acme/app-evil",
        "ghcr.io/acme/app"
    ));
    assert!(!same_repository("binary-linux-amd64", "ghcr.io/acme/app"));
}
