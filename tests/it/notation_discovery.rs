//! Notary Project signatures found where Notation leaves them and decided by
//! `verify::notation`: the OCI layouts of notation's e2e suite read from disk (their referrers
//! tag `sha256-<hex>` lists one signature; `index.json` lists every signature manifest, found
//! by its `subject`), and the same images in Debian's `docker-registry` (no referrers API), the
//! image copied with skopeo and the signature manifests and referrers tag index pushed as they
//! are (skopeo 1.9 will not copy that index with its digests preserved).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jiff::Timestamp;
use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::{HostSettings, Registry, RegistrySettings};
use supplygate::verify::discover::{self, NotationCandidate};
use supplygate::verify::notation::{
    self, Check, Failure, Finding, Outcome, StoreKind, Target, TrustPolicy, TrustStore,
};
use supplygate::verify::Location;

use common::{docker_config_empty, TestRegistry};

const E2E: &str = "fixtures/external/notaryproject/notation/test/e2e/testdata";
const E2E_SUBJECT: &str = "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US";
/// The `v1` image of every e2e layout (the same content in each).
const IMAGE: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
/// The signature manifest of `e2e-valid-signature`, also the one its referrers tag lists.
const SIGNATURE: &str = "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f";
/// The second signature of `e2e-valid-multiple-signatures` (not in the referrers tag).
const SECOND_SIGNATURE: &str =
    "sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(E2E).join(path)
}

fn layout(name: &str) -> PathBuf {
    fixture(&format!("registry/oci_layout/{name}"))
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// After the e2e certificates that expire, before the ones that do not (as tests/notation.rs).
fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// The e2e suite's `trustpolicy.json` and `ca:e2e` holding `localkeys/e2e.crt`.
fn decide(found: &NotationCandidate, target: &Target) -> Outcome {
    let policy = TrustPolicy::from_json(
        &std::fs::read(fixture("config/trustpolicies/trustpolicy.json")).unwrap(),
    )
    .unwrap();
    let pem = std::fs::read_to_string(fixture("config/localkeys/e2e.crt")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut store = TrustStore::new();
    store.add(StoreKind::Ca, "e2e", STANDARD.decode(body).unwrap());
    let statement = policy.statement_for("localhost:5000/e2e").unwrap();
    notation::verify(
        &found.media_type,
        &found.envelope,
        target,
        statement,
        &store,
        now(),
    )
    .unwrap()
}

fn signer(outcome: Outcome) -> String {
    match outcome {
        Outcome::Verified(v) => v.signer,
        other => panic!("expected verified, got {other:?}"),
    }
}

fn manifest_of(found: &NotationCandidate) -> &Digest {
    match &found.location {
        Location::Referrers { manifest, .. } | Location::ReferrersTag { manifest, .. } => manifest,
        other => panic!("not a referrer: {other:?}"),
    }
}

/// A client reading `localhost:5000` from the OCI layout at `dir` only.
fn layout_client(dir: PathBuf) -> Registry {
    let mut settings = RegistrySettings {
        offline: true,
        ..RegistrySettings::default()
    };
    settings.hosts.insert(
        "localhost:5000".to_owned(),
        HostSettings {
            layout: Some(dir),
            ..HostSettings::default()
        },
    );
    Registry::new(settings).unwrap()
}

/// Finds the signatures of the layout's `v1` and the target they must name.
async fn found_in(client: &Registry, image: &ImageRef) -> (Vec<NotationCandidate>, Target) {
    let manifest = client.manifest(image, "v1").await.unwrap();
    let target = Target::of_manifest(&manifest);
    assert_eq!(target.digest, digest(IMAGE));
    let found = discover::notation_signatures(client, image, &target.digest)
        .await
        .unwrap();
    (found, target)
}

#[tokio::test]
async fn e2e_layouts_are_found_from_disk_and_decide_as_notation_does() {
    let image = ImageRef::parse("localhost:5000/e2e:v1").unwrap();

    let client = layout_client(layout("e2e-valid-signature"));
    let (found, target) = found_in(&client, &image).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].location,
        Location::ReferrersTag {
            tag: digest(IMAGE).tag_prefix(),
            manifest: digest(SIGNATURE),
            artifact_type: notation::SIGNATURE_ARTIFACT_TYPE.to_owned()
        }
    );
    assert_eq!(found[0].attached_to, digest(IMAGE));
    assert_eq!(found[0].media_type, notation::JWS_MEDIA_TYPE);
    assert_eq!(signer(decide(&found[0], &target)), E2E_SUBJECT);
    assert_eq!(client.stats().requests, 0);

    // both signatures of the multiple-signature layout are found, the second one by its
    // `subject` only; the one by e2e.crt counts
    let client = layout_client(layout("e2e-valid-multiple-signatures"));
    let (found, target) = found_in(&client, &image).await;
    let manifests: Vec<&Digest> = found.iter().map(manifest_of).collect();
    assert_eq!(
        manifests,
        vec![&digest(SIGNATURE), &digest(SECOND_SIGNATURE)]
    );
    assert!(
        matches!(found[1].location, Location::Referrers { .. }),
        "{:?}",
        found[1].location
    );
    let verified: Vec<String> = found
        .iter()
        .filter_map(|f| match decide(f, &target) {
            Outcome::Verified(v) => Some(v.signer),
            _ => None,
        })
        .collect();
    assert_eq!(verified, vec![E2E_SUBJECT.to_owned()]);

    // the invalid signature is found, and refused on its envelope type
    let client = layout_client(layout("e2e-invalid-signature"));
    let (found, target) = found_in(&client, &image).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        decide(&found[0], &target),
        Outcome::Rejected(Finding {
            check: Check::Integrity,
            failure: Failure::UnsupportedEnvelope {
                media_type: "application/vnd.oci.image.layer.v1.tar".into()
            }
        })
    );

    // the expired signature: found, rejected on expiry under strict
    let client = layout_client(layout("e2e-expired-signature"));
    let (found, target) = found_in(&client, &image).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let Outcome::Rejected(finding) = decide(&found[0], &target) else {
        panic!("expired signature accepted");
    };
    assert_eq!(finding.check, Check::Expiry);
    assert!(
        matches!(finding.failure, Failure::SignatureExpired { .. }),
        "{finding:?}"
    );
}

#[tokio::test]
async fn a_signature_is_found_only_for_the_digest_it_is_attached_to() {
    // The signature manifest itself has no signature; neither has an unrelated digest.
    let client = layout_client(layout("e2e-valid-signature"));
    let image = ImageRef::parse("localhost:5000/e2e:v1").unwrap();
    for other in [
        SIGNATURE,
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let found = discover::notation_signatures(&client, &image, &digest(other))
            .await
            .unwrap();
        assert!(found.is_empty(), "{other}: {found:#?}");
    }
}

/// Pushes every signature manifest of the layout (the untagged entries of `index.json`, with
/// their blobs) by digest, and its referrers tag index under its tag, bytes as they are.
fn push_signatures(registry: &TestRegistry, dir: &Path, repo: &str) {
    let read = |digest: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut tagged_index = None;
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let media_type = entry["mediaType"].as_str().unwrap();
        match entry["annotations"]["org.opencontainers.image.ref.name"].as_str() {
            Some("v1") => {}
            Some(tag) => tagged_index = Some((tag.to_owned(), read(digest))),
            None => {
                let body = read(digest);
                let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let layers = manifest["layers"].as_array().unwrap();
                for blob in layers.iter().chain([&manifest["config"]]) {
                    registry.upload_blob(repo, &read(blob["digest"].as_str().unwrap()));
                }
                registry.put_manifest(repo, digest, media_type, &body);
            }
        }
    }
    let (tag, body) = tagged_index.unwrap();
    registry.put_manifest(repo, &tag, common::OCI_INDEX, &body);
}

#[tokio::test]
async fn e2e_layouts_are_found_in_docker_registry() {
    let registry = TestRegistry::start();
    let tag = digest(IMAGE).tag_prefix();
    for name in ["e2e-valid-signature", "e2e-valid-multiple-signatures"] {
        registry.push_layout(&layout(name), "v1", &format!("{name}:v1"));
        push_signatures(&registry, &layout(name), name);
    }
    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        registry.host(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
    settings.docker_config = Some(docker_config_empty(
        &registry.scratch_dir().join("docker-empty"),
    ));
    let client = Registry::new(settings).unwrap();
    for name in ["e2e-valid-signature", "e2e-valid-multiple-signatures"] {
        let image = ImageRef::parse(&registry.image(&format!("{name}:v1"))).unwrap();
        let (found, target) = found_in(&client, &image).await;
        // docker-registry 2.8 has no referrers API: the referrers tag lists one signature
        // (in both layouts), which is all a client of this registry can see.
        assert_eq!(found.len(), 1, "{name}: {found:#?}");
        assert_eq!(
            found[0].location,
            Location::ReferrersTag {
                tag: tag.clone(),
                manifest: digest(SIGNATURE),
                artifact_type: notation::SIGNATURE_ARTIFACT_TYPE.to_owned()
            },
            "{name}"
        );
        assert_eq!(signer(decide(&found[0], &target)), E2E_SUBJECT, "{name}");
    }
    // an image copied without its referrers tag has no signature
    registry.push_layout(&layout("e2e-valid-signature"), "v1", "unsigned:v1");
    let image = ImageRef::parse(&registry.image("unsigned:v1")).unwrap();
    let (found, _) = found_in(&client, &image).await;
    assert!(found.is_empty(), "{found:#?}");

    // a signature manifest with two envelope layers, listed as a signature: Notation refuses
    // it, and it is not a candidate here
    let dir = layout("e2e-valid-signature");
    registry.push_layout(&dir, "v1", "two-layers:v1");
    push_signatures(&registry, &dir, "two-layers");
    let blob = dir.join("blobs/sha256").join(&SIGNATURE["sha256:".len()..]);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    let layer = manifest["layers"][0].clone();
    manifest["layers"] = serde_json::json!([layer.clone(), layer]);
    let body = serde_json::to_vec(&manifest).unwrap();
    let two = common::sha256_digest(&body);
    registry.put_manifest("two-layers", &two, common::OCI_MANIFEST, &body);
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": common::OCI_INDEX,
        "manifests": [{"mediaType": common::OCI_MANIFEST, "digest": two, "size": body.len(),
                       "artifactType": notation::SIGNATURE_ARTIFACT_TYPE}],
    });
    registry.put_manifest(
        "two-layers",
        &tag,
        common::OCI_INDEX,
        &serde_json::to_vec(&index).unwrap(),
    );
    let image = ImageRef::parse(&registry.image("two-layers:v1")).unwrap();
    let (found, _) = found_in(&client, &image).await;
    assert!(found.is_empty(), "{found:#?}");
}
