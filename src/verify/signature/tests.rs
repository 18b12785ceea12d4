#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::shared::{earlier, lowercase_first};
use super::*;
use crate::verify::reason::short;
use crate::verify::signers::SubjectMatcher;
use crate::verify::Location;
use sigstore_verify::crypto::KeyPair;

const DIGEST: &str = "sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455";
const OTHER: &str = "sha256:309f2197ead520b0393d343706195162f3621d69270af529ed5bc78f3affcc40";
const REPO: &str = "127.0.0.1:5123/demo/app";

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

#[test]
fn earlier_compares_times_not_strings() {
    assert!(earlier("2026-12-06T03:30:04Z", "2026-12-06T03:30:04.5Z"));
    assert!(!earlier("2026-12-06T03:30:04.5Z", "2026-12-06T03:30:04Z"));
    assert!(earlier("2026-12-06T03:30:03.999Z", "2026-12-06T03:30:04Z"));
}

fn payload(reference: &str, digest: &str, kind: &str) -> Vec<u8> {
    format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{kind}"}},"optional":null}}"#
        )
        .into_bytes()
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
    fn candidate(&self, payload: &[u8]) -> Candidate {
        let signature = self.pair.sign(payload).unwrap().to_base64();
        candidate(Material::SimpleSigning {
            payload: payload.to_vec(),
            signature,
            certificate: None,
            chain: None,
            rekor_bundle: None,
        })
    }
}

fn candidate(material: Material) -> Candidate {
    Candidate {
        location: Location::CosignTag {
            tag: "sha256-63a1.sig".into(),
            manifest: digest(OTHER),
            layer: 0,
        },
        attached_to: digest(DIGEST),
        material,
    }
}

fn only_reason(fact: &SignatureFact) -> &Reason {
    assert!(fact.verified_by.is_empty(), "{fact:?}");
    assert_eq!(fact.rejections.len(), 1, "{fact:?}");
    &fact.rejections[0].reason
}

#[test]
fn accepts_a_key_signature_over_the_right_payload() {
    let keys = Keys::new();
    let c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
    let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
    let fact = verify(&c, REPO, &digest(DIGEST), &[signer]);
    assert_eq!(fact.verified_by, vec!["k".to_owned()]);
    assert!(fact.rejections.is_empty());
    assert_eq!(fact.kind, Some(SignatureKind::CosignKey));
    assert_eq!(fact.docker_reference.as_deref(), Some(REPO));
    assert_eq!(fact.signed_at, None);
}

#[test]
fn denies_payload_of_another_type() {
    let keys = Keys::new();
    let c = keys.candidate(&payload(REPO, DIGEST, "atomic container signature"));
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(
        only_reason(&fact),
        &Reason::PayloadType {
            found: "atomic container signature".into()
        }
    );
    assert_eq!(
        only_reason(&fact).to_string(),
        "payload type is `atomic container signature`, not `cosign container image signature`"
    );
    assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
}

#[test]
fn denies_signature_for_other_digest() {
    let keys = Keys::new();
    let c = keys.candidate(&payload(REPO, OTHER, SIMPLE_SIGNING_TYPE));
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(
        only_reason(&fact),
        &Reason::SignsOtherDigest {
            signed: Short(OTHER.into()),
            expected: Short(DIGEST.into())
        }
    );
    assert_eq!(
        only_reason(&fact).to_string(),
        "signs `sha256:309f2197ead5…`, not this image's `sha256:63a15806ff4b…`"
    );
}

#[test]
fn denies_signature_for_other_repository() {
    let keys = Keys::new();
    let c = keys.candidate(&payload(
        "127.0.0.1:5123/demo/app-evil",
        DIGEST,
        SIMPLE_SIGNING_TYPE,
    ));
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(
        only_reason(&fact),
        &Reason::SignedForOtherRepository {
            signed_for: "127.0.0.1:5123/demo/app-evil".into(),
            expected: "127.0.0.1:5123/demo/app".into()
        }
    );
    assert_eq!(
        fact.docker_reference.as_deref(),
        Some("127.0.0.1:5123/demo/app-evil")
    );
}

#[test]
fn denies_signature_for_same_path_on_another_registry() {
    let keys = Keys::new();
    let c = keys.candidate(&payload("ghcr.io/demo/app", DIGEST, SIMPLE_SIGNING_TYPE));
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert!(
        matches!(only_reason(&fact), Reason::SignedForOtherRepository { signed_for, .. } if signed_for == "ghcr.io/demo/app"),
        "{fact:?}"
    );
}

#[test]
fn accepts_docker_reference_with_tag_or_digest() {
    let keys = Keys::new();
    let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
    for reference in [
        format!("{REPO}:v1"),
        format!("{REPO}@{DIGEST}"),
        format!("{REPO}:v1@{DIGEST}"),
    ] {
        let c = keys.candidate(&payload(&reference, DIGEST, SIMPLE_SIGNING_TYPE));
        let fact = verify(&c, REPO, &digest(DIGEST), std::slice::from_ref(&signer));
        assert_eq!(
            fact.verified_by,
            vec!["k".to_owned()],
            "{reference}: {fact:?}"
        );
    }
}

#[test]
fn normalises_docker_hub_forms() {
    let keys = Keys::new();
    let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
    for (reference, repository) in [
        ("index.docker.io/library/nginx", "docker.io/library/nginx"),
        ("docker.io/library/nginx:1.25", "docker.io/library/nginx"),
        ("nginx", "docker.io/library/nginx"),
        ("registry-1.docker.io/acme/app", "docker.io/acme/app"),
        ("docker.io/acme/app", "acme/app"),
    ] {
        let c = keys.candidate(&payload(reference, DIGEST, SIMPLE_SIGNING_TYPE));
        let fact = verify(
            &c,
            repository,
            &digest(DIGEST),
            std::slice::from_ref(&signer),
        );
        assert_eq!(
            fact.verified_by,
            vec!["k".to_owned()],
            "{reference}: {fact:?}"
        );
    }
    let c = keys.candidate(&payload(
        "docker.io/library/nginx-evil",
        DIGEST,
        SIMPLE_SIGNING_TYPE,
    ));
    let fact = verify(&c, "docker.io/library/nginx", &digest(DIGEST), &[signer]);
    assert!(
        matches!(only_reason(&fact), Reason::SignedForOtherRepository { signed_for, .. } if signed_for == "docker.io/library/nginx-evil"),
        "{fact:?}"
    );
}

#[test]
fn denies_payload_that_is_not_simple_signing() {
    let keys = Keys::new();
    for body in [
        &b"not json"[..],
        &br#"{"critical":{"type":"cosign container image signature"}}"#[..],
    ] {
        let fact = verify(
            &keys.candidate(body),
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert!(
            matches!(only_reason(&fact), Reason::PayloadNotSimpleSigning { .. }),
            "{fact:?}"
        );
        assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
    }
}

#[test]
fn denies_payload_over_the_size_limit() {
    let keys = Keys::new();
    let mut big = payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE);
    big.truncate(big.len() - 1);
    big.extend(std::iter::repeat_n(b' ', PAYLOAD_MAX));
    big.push(b'}');
    let fact = verify(
        &keys.candidate(&big),
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert!(
        matches!(only_reason(&fact), Reason::TooLarge { what: "payload", max, .. } if *max == PAYLOAD_MAX),
        "{fact:?}"
    );
}

#[test]
fn denies_edited_payload() {
    let keys = Keys::new();
    let good = payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE);
    let mut c = keys.candidate(&good);
    if let Material::SimpleSigning { payload, .. } = &mut c.material {
        // Same JSON meaning, one byte more: the signature covers bytes, not meaning.
        payload.push(b'\n');
    }
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(only_reason(&fact), &Reason::KeySignatureInvalid);
    assert_eq!(fact.rejections[0].signer, "k");
}

#[test]
fn denies_unlogged_key_signature_unless_the_signer_allows_it() {
    let keys = Keys::new();
    let c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::Require)],
    );
    assert!(
        only_reason(&fact) == &Reason::NoTlogProof { signer: "k".into() },
        "{fact:?}"
    );
}

#[test]
fn records_every_signer_verdict() {
    let keys = Keys::new();
    let other = Keys::new();
    let c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
    let keyless = Arc::new(
        Signer::keyless(
            "ci",
            "https://token.actions.githubusercontent.com".into(),
            SubjectMatcher::Exact("https://github.com/acme/app".into()),
            None,
        )
        .unwrap(),
    );
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[
            other.signer("other", TlogPolicy::InsecureIgnore),
            keys.signer("k", TlogPolicy::InsecureIgnore),
            keyless,
        ],
    );
    assert_eq!(fact.verified_by, vec!["k".to_owned()]);
    let reasons: Vec<_> = fact
        .rejections
        .iter()
        .map(|r| (r.signer.as_str(), r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("other", Reason::KeySignatureInvalid),
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
fn denies_signature_annotation_that_is_not_base64() {
    let keys = Keys::new();
    let mut c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
    if let Material::SimpleSigning { signature, .. } = &mut c.material {
        *signature = "%%%".into();
    }
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(only_reason(&fact), &Reason::SignatureNotBase64);
}

#[test]
fn denies_malformed_rekor_bundle_for_a_key_that_needs_the_log() {
    let keys = Keys::new();
    let mut c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
    if let Material::SimpleSigning { rekor_bundle, .. } = &mut c.material {
        *rekor_bundle = Some("{}".into());
    }
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::Require)],
    );
    assert!(
        matches!(
            only_reason(&fact),
            Reason::Rekor(RekorProblem::Malformed { .. })
        ),
        "{fact:?}"
    );
    // A signer that does not need the log still checks the signature itself.
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[keys.signer("k", TlogPolicy::InsecureIgnore)],
    );
    assert_eq!(fact.verified_by, vec!["k".to_owned()]);
}

#[test]
fn verifies_committed_p384_ed25519_and_rsa_signatures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
    let body = std::fs::read(dir.join("payload.json")).unwrap();
    for alg in ["p384", "ed25519", "rsa"] {
        let pem = std::fs::read_to_string(dir.join(format!("{alg}.pub"))).unwrap();
        let sig = std::fs::read_to_string(dir.join(format!("payload.{alg}.sig"))).unwrap();
        let signer = Arc::new(Signer::key(alg, &pem, true).unwrap());
        let c = candidate(Material::SimpleSigning {
            payload: body.clone(),
            signature: sig,
            certificate: None,
            chain: None,
            rekor_bundle: None,
        });
        let fact = verify(&c, "127.0.0.1:5123/demo/keys", &digest(DIGEST), &[signer]);
        assert_eq!(fact.verified_by, vec![alg.to_owned()], "{alg}: {fact:?}");
    }
}

#[test]
fn unparseable_bundle_gets_one_rejection_for_every_signer() {
    let keys = Keys::new();
    let c = candidate(Material::Bundle {
        json: b"{\"mediaType\": 3}".to_vec(),
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
    });
    let fact = verify(
        &c,
        REPO,
        &digest(DIGEST),
        &[
            keys.signer("a", TlogPolicy::Require),
            keys.signer("b", TlogPolicy::Require),
        ],
    );
    assert!(
        matches!(only_reason(&fact), Reason::NotBundle { .. }),
        "{fact:?}"
    );
    assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
    assert_eq!(fact.kind, Some(SignatureKind::Bundle));
}

#[test]
fn short_digest_keeps_the_algorithm() {
    assert_eq!(short(DIGEST), "sha256:63a15806ff4b…");
    assert_eq!(short("sha256:abc"), "sha256:abc");
}

#[test]
fn lowercases_words_but_not_acronyms() {
    assert_eq!(lowercase_first("Invalid thing"), "invalid thing");
    assert_eq!(lowercase_first("DSSE failed"), "DSSE failed");
}

#[test]
fn an_attestation_layer_or_a_notation_envelope_is_not_a_cosign_signature() {
    let keys = Keys::new();
    let signers = [keys.signer("k", TlogPolicy::InsecureIgnore)];
    let att = candidate(Material::CosignLayer {
        envelope: b"{}".to_vec(),
        predicate_type: None,
        certificate: None,
        chain: None,
        rekor_bundle: None,
    });
    let fact = verify(&att, REPO, &digest(DIGEST), &signers);
    assert_eq!(only_reason(&fact), &Reason::NotASignature);
    assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
    let notation = candidate(Material::Notation {
        media_type: "application/jose+json".into(),
        envelope: b"{}".to_vec(),
    });
    let fact = verify(&notation, REPO, &digest(DIGEST), &signers);
    assert_eq!(only_reason(&fact), &Reason::NotationEnvelope);
}
