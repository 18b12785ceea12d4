//! Real cosign and skopeo signatures (cosign-made fixtures, key-based, no tlog) verified
//! straight from their OCI layouts, without the discovery module: every positive case of
//! the fixture README verifies, and each kind of tampering is rejected for the right reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use supplygate::reference::Digest;
use supplygate::verify::{
    verify_candidate, Candidate, Location, Material, Reason, SignatureFact, SignatureKind, Signer,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/external/cosign-made");
const REGISTRY: &str = "127.0.0.1:5123/demo";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One OCI image layout, read from disk.
struct Layout {
    dir: PathBuf,
    index: Value,
}

impl Layout {
    fn open(name: &str) -> Self {
        let dir = Path::new(FIXTURES).join("layout").join(name);
        let index =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        Self { dir, index }
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let bytes = std::fs::read(self.dir.join("blobs/sha256").join(hex)).unwrap();
        assert!(
            Digest::parse(digest).unwrap().matches(&bytes),
            "blob {digest}"
        );
        bytes
    }

    /// The digest of the manifest tagged `tag`.
    fn tagged(&self, tag: &str) -> Digest {
        let entry = self.index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag)
            .unwrap_or_else(|| panic!("no ref name `{tag}` in {}", self.dir.display()));
        Digest::parse(entry["digest"].as_str().unwrap()).unwrap()
    }

    /// The `.sig` candidates (one per layer) attached to `image`, as discovery would find them.
    fn signatures(&self, image: &Digest) -> Vec<Candidate> {
        let tag = format!("{}.sig", image.tag_prefix());
        let manifest_digest = self.tagged(&tag);
        let manifest: Value =
            serde_json::from_slice(&self.blob(&manifest_digest.to_string())).unwrap();
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                assert_eq!(
                    layer["mediaType"],
                    "application/vnd.dev.cosign.simplesigning.v1+json"
                );
                let annotation = |k: &str| layer["annotations"][k].as_str().map(str::to_owned);
                Candidate {
                    location: Location::CosignTag {
                        tag: tag.clone(),
                        manifest: manifest_digest.clone(),
                        layer: i,
                    },
                    attached_to: image.clone(),
                    material: Material::SimpleSigning {
                        payload: self.blob(layer["digest"].as_str().unwrap()),
                        signature: annotation("dev.cosignproject.cosign/signature").unwrap(),
                        certificate: annotation("dev.sigstore.cosign/certificate"),
                        chain: annotation("dev.sigstore.cosign/chain"),
                        rekor_bundle: annotation("dev.sigstore.cosign/bundle"),
                    },
                }
            })
            .collect()
    }

    /// The single `.sig` candidate of the image tagged `v1`.
    fn signature_of_v1(&self) -> (Digest, Candidate) {
        let image = self.tagged("v1");
        let mut found = self.signatures(&image);
        assert_eq!(found.len(), 1);
        (image, found.remove(0))
    }
}

fn cosign_key(insecure_ignore_tlog: bool) -> Arc<Signer> {
    let pem = std::fs::read_to_string(Path::new(FIXTURES).join("keys/cosign.pub")).unwrap();
    Arc::new(Signer::key("release", &pem, insecure_ignore_tlog).unwrap())
}

fn other_key() -> Arc<Signer> {
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/other-p256.pub"),
    )
    .unwrap();
    Arc::new(Signer::key("other", &pem, true).unwrap())
}

fn repo(name: &str) -> String {
    format!("{REGISTRY}/{name}")
}

fn assert_verified(fact: &SignatureFact) {
    assert_eq!(fact.verified_by, vec!["release".to_owned()], "{fact:#?}");
    assert!(fact.rejections.is_empty(), "{fact:#?}");
    assert_eq!(fact.kind, Some(SignatureKind::CosignKey));
    assert_eq!(fact.identity, None);
    assert_eq!(fact.signed_at, None, "no log, no time");
}

fn only_rejection(fact: &SignatureFact) -> (&str, &Reason) {
    assert!(fact.verified_by.is_empty(), "{fact:#?}");
    assert_eq!(fact.rejections.len(), 1, "{fact:#?}");
    (&fact.rejections[0].signer, &fact.rejections[0].reason)
}

#[test]
fn cosign_signature_with_bare_repository_identity_verifies() {
    let layout = Layout::open("cosign-signed");
    let (image, c) = layout.signature_of_v1();
    let fact = verify_candidate(&c, &repo("cosign-signed"), &image, &[cosign_key(true)]);
    assert_verified(&fact);
    assert_eq!(
        fact.docker_reference.as_deref(),
        Some("127.0.0.1:5123/demo/cosign-signed")
    );
}

#[test]
fn cosign_signature_next_to_an_attestation_verifies() {
    let layout = Layout::open("cosign-attested");
    let (image, c) = layout.signature_of_v1();
    assert_verified(&verify_candidate(
        &c,
        &repo("cosign-attested"),
        &image,
        &[cosign_key(true)],
    ));
}

#[test]
fn skopeo_signature_with_tagged_identity_verifies() {
    for name in ["signed", "attested"] {
        let layout = Layout::open(name);
        let (image, c) = layout.signature_of_v1();
        let fact = verify_candidate(&c, &repo(name), &image, &[cosign_key(true)]);
        assert_verified(&fact);
        assert_eq!(
            fact.docker_reference.as_deref(),
            Some(format!("{REGISTRY}/{name}:v1").as_str())
        );
    }
}

#[test]
fn multiarch_index_and_both_platforms_verify() {
    let layout = Layout::open("multiarch");
    let index = layout.tagged("v1");
    let index_json: Value = serde_json::from_slice(&layout.blob(&index.to_string())).unwrap();
    let mut digests = vec![index];
    for m in index_json["manifests"].as_array().unwrap() {
        digests.push(Digest::parse(m["digest"].as_str().unwrap()).unwrap());
    }
    assert_eq!(digests.len(), 3);
    for digest in &digests {
        let found = layout.signatures(digest);
        assert_eq!(found.len(), 1, "{digest}");
        assert_verified(&verify_candidate(
            &found[0],
            &repo("multiarch"),
            digest,
            &[cosign_key(true)],
        ));
    }
    // A platform's signature does not vouch for its sibling.
    let amd64_sig = &layout.signatures(&digests[1])[0];
    let fact = verify_candidate(
        amd64_sig,
        &repo("multiarch"),
        &digests[2],
        &[cosign_key(true)],
    );
    let (signer, reason) = only_rejection(&fact);
    assert_eq!(signer, "*");
    assert!(
        matches!(reason, Reason::SignsOtherDigest { .. }),
        "{reason:?}"
    );
    assert_eq!(
        reason.to_string(),
        "signs `sha256:6671f7d080fc…`, not this image's `sha256:4fda8d2584a4…`"
    );
}

#[test]
fn denies_signature_for_other_digest() {
    let (_, c) = Layout::open("cosign-signed").signature_of_v1();
    let other_image = Layout::open("signed").tagged("v1");
    let fact = verify_candidate(
        &c,
        &repo("cosign-signed"),
        &other_image,
        &[cosign_key(true)],
    );
    let (signer, reason) = only_rejection(&fact);
    assert_eq!(signer, "*");
    assert!(
        matches!(reason, Reason::SignsOtherDigest { .. }),
        "{reason:?}"
    );
    assert_eq!(
        reason.to_string(),
        "signs `sha256:63a15806ff4b…`, not this image's `sha256:309f2197ead5…`"
    );
}

#[test]
fn denies_payload_with_one_byte_edited() {
    let (image, mut c) = Layout::open("signed").signature_of_v1();
    if let Material::SimpleSigning { payload, .. } = &mut c.material {
        let text = String::from_utf8(payload.clone()).unwrap();
        let at = text.find("1795503358").unwrap() + 9;
        assert_eq!(payload[at], b'8');
        payload[at] = b'9'; // the skopeo timestamp: still a valid payload for this image
    }
    let fact = verify_candidate(&c, &repo("signed"), &image, &[cosign_key(true)]);
    assert_eq!(
        only_rejection(&fact),
        ("release", &Reason::KeySignatureInvalid)
    );
}

#[test]
fn denies_edited_digest_in_payload() {
    let (image, mut c) = Layout::open("cosign-signed").signature_of_v1();
    if let Material::SimpleSigning { payload, .. } = &mut c.material {
        let text = String::from_utf8(payload.clone()).unwrap();
        let at = text.find("sha256:63a1").unwrap() + "sha256:".len();
        payload[at] = b'7';
    }
    let fact = verify_candidate(&c, &repo("cosign-signed"), &image, &[cosign_key(true)]);
    let (signer, reason) = only_rejection(&fact);
    assert_eq!(signer, "*");
    assert!(
        matches!(reason, Reason::SignsOtherDigest { signed, .. } if signed.0.starts_with("sha256:73a15806ff4b")),
        "{reason}"
    );
}

#[test]
fn denies_unlogged_signature_when_the_key_requires_the_log() {
    let (image, c) = Layout::open("cosign-signed").signature_of_v1();
    let fact = verify_candidate(&c, &repo("cosign-signed"), &image, &[cosign_key(false)]);
    assert_eq!(
        only_rejection(&fact),
        (
            "release",
            &Reason::NoTlogProof {
                signer: "release".into()
            }
        )
    );
}

#[test]
fn denies_signature_by_another_key() {
    let (image, c) = Layout::open("signed").signature_of_v1();
    let fact = verify_candidate(&c, &repo("signed"), &image, &[other_key()]);
    assert_eq!(
        only_rejection(&fact),
        ("other", &Reason::KeySignatureInvalid)
    );
    // With both keys trusted, the right one verifies and the other is recorded.
    let fact = verify_candidate(
        &c,
        &repo("signed"),
        &image,
        &[other_key(), cosign_key(true)],
    );
    assert_eq!(fact.verified_by, vec!["release".to_owned()]);
    assert_eq!(fact.rejections.len(), 1);
    assert_eq!(fact.rejections[0].signer, "other");
}

#[test]
fn denies_signature_presented_for_another_repository() {
    let (image, c) = Layout::open("signed").signature_of_v1();
    let fact = verify_candidate(&c, &repo("other"), &image, &[cosign_key(true)]);
    assert_eq!(
        only_rejection(&fact),
        (
            "*",
            &Reason::SignedForOtherRepository {
                signed_for: "127.0.0.1:5123/demo/signed".into(),
                expected: "127.0.0.1:5123/demo/other".into()
            }
        )
    );
    // Same path on another registry is another repository too.
    let fact = verify_candidate(
        &c,
        "127.0.0.1:5131/demo/signed",
        &image,
        &[cosign_key(true)],
    );
    assert!(matches!(
        only_rejection(&fact).1,
        Reason::SignedForOtherRepository { .. }
    ));
}
