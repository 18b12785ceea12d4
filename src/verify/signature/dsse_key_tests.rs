#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;
use base64::Engine as _;
use serde_json::json;
use sigstore_verify::crypto::KeyPair;

const DIGEST: &str = "sha256:7b265292318e82056f04db3fa982c037bad829edf5461c7999f6274f200942fe";
const INTEGRATED: i64 = 1_700_000_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A signing key, a Rekor key with a trusted root naming it, and a DSSE envelope of a
/// statement about [`DIGEST`] with its `dev.sigstore.cosign/bundle` annotation.
struct Logged {
    signing: KeyPair,
    root: Arc<sigstore_verify::trust_root::TrustedRoot>,
    envelope: Vec<u8>,
    rekor_bundle: String,
}

fn logged() -> Logged {
    let signing = KeyPair::generate_ecdsa_p256().unwrap();
    let rekor = KeyPair::generate_ecdsa_p256().unwrap();
    let rekor_spki = rekor.public_key_der().unwrap();
    let log_id = sha256(rekor_spki.as_bytes());
    let root = json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.supplygate.invalid",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(rekor_spki.as_bytes()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            },
            "logId": {"keyId": b64(log_id.as_slice())}
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": []
    });
    let root =
        Arc::new(sigstore_verify::trust_root::TrustedRoot::from_json(&root.to_string()).unwrap());
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": DIGEST.trim_start_matches("sha256:")}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }))
    .unwrap();
    let pae = sigstore_verify::types::pae(IN_TOTO_PAYLOAD_TYPE, &statement);
    let signature = signing.sign(&pae).unwrap();
    let envelope = json!({
        "payload": b64(&statement),
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "signatures": [{"sig": signature.to_base64(), "keyid": ""}],
    });
    let envelope_bytes = serde_json::to_vec(&envelope).unwrap();
    let pem = signing.public_key_der().unwrap().to_pem();
    let body = serde_json::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex(sha256(&envelope_bytes).as_slice())},
                "payloadHash": {"algorithm": "sha256", "value": hex(sha256(&statement).as_slice())},
                "signatures": [{"signature": signature.to_base64(), "verifier": b64(pem.as_bytes())}],
            },
        }))
        .unwrap();
    let body = b64(&body);
    let log_id = hex(log_id.as_slice());
    let canonical = format!(
        r#"{{"body":"{body}","integratedTime":{INTEGRATED},"logID":"{log_id}","logIndex":7}}"#
    );
    let set = rekor.sign(canonical.as_bytes()).unwrap().to_base64();
    let rekor_bundle = json!({
        "SignedEntryTimestamp": set,
        "Payload": {"body": body, "integratedTime": INTEGRATED, "logIndex": 7, "logID": log_id},
    })
    .to_string();
    Logged {
        signing,
        root,
        envelope: envelope_bytes,
        rekor_bundle,
    }
}

fn signer(l: &Logged, tlog: TlogPolicy) -> Signer {
    let pem = l.signing.public_key_der().unwrap().to_pem();
    Signer::key_with_trusted_root("k", &pem, tlog, Some(l.root.clone())).unwrap()
}

#[test]
fn logged_key_dsse_verifies_with_its_rekor_set() {
    let l = logged();
    let digest = Digest::parse(DIGEST).unwrap();
    let v = verify_dsse_with_key(
        &l.envelope,
        Some(&l.rekor_bundle),
        &digest,
        &signer(&l, TlogPolicy::Require),
    )
    .unwrap();
    assert_eq!(v.signed_at.as_deref(), Some("2023-11-14T22:13:20Z"));
}

#[test]
fn logged_key_dsse_needs_a_valid_set_when_the_log_is_required() {
    let l = logged();
    let digest = Digest::parse(DIGEST).unwrap();
    let forged = l.rekor_bundle.replace("\"logIndex\":7", "\"logIndex\":8");
    let e = verify_dsse_with_key(
        &l.envelope,
        Some(&forged),
        &digest,
        &signer(&l, TlogPolicy::Require),
    )
    .unwrap_err();
    assert_eq!(e.signer, "k");
    // Without the log requirement, the DSSE signature alone still counts.
    let v = verify_dsse_with_key(
        &l.envelope,
        Some(&forged),
        &digest,
        &signer(&l, TlogPolicy::InsecureIgnore),
    )
    .unwrap();
    assert_eq!(v.signed_at, None);
}

#[test]
fn key_dsse_is_refused_by_a_keyless_signer() {
    let l = logged();
    let keyless = Signer::keyless(
        "ci",
        "https://issuer.example".into(),
        crate::verify::SubjectMatcher::Exact("x".into()),
        None,
    )
    .unwrap();
    let e = verify_dsse_with_key(&l.envelope, None, &Digest::parse(DIGEST).unwrap(), &keyless)
        .unwrap_err();
    assert_eq!(
        e.reason,
        Reason::SignedWithKey {
            signer: "ci".into()
        }
    );
}
