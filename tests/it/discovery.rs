//! Discovery end to end: cosign-made signatures pushed with skopeo into Debian's real
//! `docker-registry` (distribution 2.8, which has no referrers API), a Sigstore bundle attached
//! through the referrers tag schema, and the same images read from OCI layouts.
use crate::common;

use std::path::{Path, PathBuf};

use serde_json::json;
use supplygate::provenance::AttestationMaterial;
use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::{HostSettings, Registry, RegistrySettings};
use supplygate::verify::discover::{self, SIGNATURE_ANNOTATION};
use supplygate::verify::{Candidate, Location, Material};

use common::{cosign_made, sha256_digest, GeneratedImage, TestRegistry, OCI_INDEX, OCI_MANIFEST};

const COSIGN_SIGNED: &str =
    "sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455";
const SIGNED: &str = "sha256:309f2197ead520b0393d343706195162f3621d69270af529ed5bc78f3affcc40";
const COSIGN_ATTESTED: &str =
    "sha256:2be689e468983747e2c08811e6e1f0c4510338edf67216f86b975990b9603ac1";
const MULTIARCH: &str = "sha256:7609b07e75220bf3b9b97aebadf80f96ff93e9bdef133afc6ebdf25c66d85c70";
const AMD64: &str = "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
const ARM64: &str = "sha256:4fda8d2584a49b7e717560ae8b7c4939e847c56516a00e718f5b7a602ebf3d3b";
const ATTESTED: &str = "sha256:7b265292318e82056f04db3fa982c037bad829edf5461c7999f6274f200942fe";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// `(signed digest, .sig manifest digest, payload blob digest)` of every cosign-made `.sig`.
const SIGS: [(&str, &str, &str); 6] = [
    (
        COSIGN_SIGNED,
        "sha256:0e34429bc0b2159de8cb2d1f2e35a17104c68d798213d6118848b07ed24ddbfd",
        "sha256:bc17217bf90b8ef8da90fed8357d0e176cf89873bff8a84b5b75cf5731d36628",
    ),
    (
        SIGNED,
        "sha256:f883b9599eb26aa527d49b3da7c5ff6f0b16bc37d182ed7e178b5a40d80e84d3",
        "sha256:db05ef8f034ca53b7ef5352af7d85edac9b749e1e1af10de4a7f69658b4bdd26",
    ),
    (
        COSIGN_ATTESTED,
        "sha256:eed9adbf737e410047bfd64b830cbe2ef318ae9f15132c3e5824e80f55a3acd5",
        "sha256:0df339346fb44dc3396c4cd484a8fdd005b6ff349f8d62d742b4c8ff50700bd0",
    ),
    (
        MULTIARCH,
        "sha256:e9bb3465b2e1b842fd1a766e08ba6b070675c1ed89af705d1b970c0f259336c0",
        "sha256:c57332f73a567c9c2fbf4d62fae764b0756527a66c44b9377dde0da7bb926558",
    ),
    (
        AMD64,
        "sha256:9332edf9403821243f5bc73cdcddea428950c571b7dd87bae294e7c97389c5be",
        "sha256:7e31a7139e9f0da008d259c4a4dbf760dfc62cca87263b7eaad7e97985f5b1a7",
    ),
    (
        ARM64,
        "sha256:7652bb25668e0e51de2f914d5a16a4ea03c89384679995a6e185a1e37a320c61",
        "sha256:41db7130380e2b3ef66404af641a074a8e640300aceabaaef32862a5570e0d0b",
    ),
];

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// The cosign `.sig` tag of `signed`.
fn sig_tag(signed: &str) -> String {
    format!("{}.sig", digest(signed).tag_prefix())
}

/// A real registry with cosign-made images pushed, and a client of it with no credentials of
/// the machine.
struct Pushed {
    registry: TestRegistry,
}

impl Pushed {
    fn new() -> Self {
        Self {
            registry: TestRegistry::start(),
        }
    }

    /// Pushes cosign-made layout `name` as `demo/<name>`: its `v1` and the `.sig` of each of
    /// `signed`, with skopeo, digests preserved.
    fn push_cosign_made(&self, name: &str, signed: &[&str]) -> &Self {
        let layout = cosign_made(name);
        self.registry
            .push_layout(&layout, "v1", &format!("demo/{name}:v1"));
        for s in signed {
            let tag = sig_tag(s);
            self.registry
                .push_layout(&layout, &tag, &format!("demo/{name}:{tag}"));
        }
        self
    }

    fn client(&self) -> Registry {
        Registry::new(common::client_settings(&self.registry)).unwrap()
    }

    fn image(&self, reference: &str) -> ImageRef {
        ImageRef::parse(&self.registry.image(reference)).unwrap()
    }
}

/// A client reading host `host` from the OCI layout(s) at `layout` only.
fn layout_client(host: &str, layout: PathBuf) -> Registry {
    let mut settings = RegistrySettings {
        offline: true,
        ..RegistrySettings::default()
    };
    settings.hosts.insert(
        host.to_owned(),
        HostSettings {
            layout: Some(layout),
            ..HostSettings::default()
        },
    );
    Registry::new(settings).unwrap()
}

/// Asserts that `found` is exactly the cosign-made `.sig` of `signed` (one layer), as the
/// fixture README describes it, and returns its payload.
fn assert_is_cosign_made_sig(found: &[Candidate], signed: &str) -> Vec<u8> {
    let (_, manifest, payload_digest) = SIGS
        .iter()
        .find(|(s, _, _)| *s == signed)
        .unwrap_or_else(|| panic!("no fixture signature of {signed}"));
    assert_eq!(found.len(), 1, "{found:#?}");
    let candidate = &found[0];
    assert_eq!(
        candidate.location,
        Location::CosignTag {
            tag: sig_tag(signed),
            manifest: digest(manifest),
            layer: 0,
        }
    );
    assert_eq!(candidate.attached_to, digest(signed));
    let Material::SimpleSigning {
        payload,
        signature,
        certificate,
        chain,
        rekor_bundle,
    } = &candidate.material
    else {
        panic!("expected simple signing: {:?}", candidate.material);
    };
    assert_eq!(sha256_digest(payload), *payload_digest);
    let text = String::from_utf8(payload.clone()).unwrap();
    assert!(
        text.contains(&format!(r#""docker-manifest-digest":"{signed}""#)),
        "{text}"
    );
    // DER ECDSA P-256 in base64: 96 characters give or take a few.
    assert!((90..=100).contains(&signature.len()), "{signature}");
    assert_eq!((certificate, chain, rekor_bundle), (&None, &None, &None));
    payload.clone()
}

#[tokio::test]
async fn finds_the_cosign_sig_of_cosign_and_skopeo_signed_images() {
    let case = Pushed::new();
    case.push_cosign_made("cosign-signed", &[COSIGN_SIGNED])
        .push_cosign_made("signed", &[SIGNED]);
    let client = case.client();
    for (name, signed) in [("cosign-signed", COSIGN_SIGNED), ("signed", SIGNED)] {
        let image = case.image(&format!("demo/{name}:v1"));
        let found = discover::signatures(&client, &image, &digest(signed))
            .await
            .unwrap();
        assert_is_cosign_made_sig(&found, signed);
    }
}

#[tokio::test]
async fn signature_discovery_costs_four_requests_then_nothing() {
    let case = Pushed::new();
    case.push_cosign_made("cosign-signed", &[COSIGN_SIGNED]);
    let client = case.client();
    let image = case.image("demo/cosign-signed:v1");
    let logged = case.registry.logged_requests();
    discover::signatures(&client, &image, &digest(COSIGN_SIGNED))
        .await
        .unwrap();
    // `.sig` manifest, payload blob, referrers API (404), referrers tag (404).
    assert_eq!(client.stats().requests, 4);
    assert_eq!(case.registry.logged_requests() - logged, 4);
    let found = discover::signatures(&client, &image, &digest(COSIGN_SIGNED))
        .await
        .unwrap();
    assert_is_cosign_made_sig(&found, COSIGN_SIGNED);
    assert_eq!(client.stats().requests, 4);
}

#[tokio::test]
async fn multiarch_index_and_each_platform_have_their_own_sig() {
    let case = Pushed::new();
    case.push_cosign_made("multiarch", &[MULTIARCH, AMD64, ARM64]);
    let client = case.client();
    let image = case.image("demo/multiarch:v1");
    let resolved = client.resolve(&image).await.unwrap();
    assert_eq!(resolved.digest, digest(MULTIARCH));
    let platforms: Vec<String> = resolved
        .platforms
        .iter()
        .map(|p| p.digest.to_string())
        .collect();
    assert_eq!(platforms, [AMD64, ARM64]);
    let mut payloads = Vec::new();
    for signed in [MULTIARCH, AMD64, ARM64] {
        let found = discover::signatures(&client, &image, &digest(signed))
            .await
            .unwrap();
        payloads.push(assert_is_cosign_made_sig(&found, signed));
    }
    payloads.dedup();
    assert_eq!(payloads.len(), 3);
}

#[tokio::test]
async fn unsigned_image_has_no_candidates_for_at_most_three_requests() {
    let case = Pushed::new();
    let first = digest(&case.registry.push_generated("demo/unsigned:v1", 1));
    let second = digest(&case.registry.push_generated("demo/unsigned:v2", 2));
    let client = case.client();
    let image = case.image("demo/unsigned:v1");
    let logged = case.registry.logged_requests();
    let found = discover::signatures(&client, &image, &first).await.unwrap();
    assert!(found.is_empty(), "{found:#?}");
    // `.sig` 404, referrers API 404 (no API in distribution 2.8), referrers tag 404.
    assert_eq!(client.stats().requests, 3);
    assert_eq!(case.registry.logged_requests() - logged, 3);
    // The host is known to have no referrers API now: two requests per digest.
    let found = discover::signatures(&client, &image, &second)
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(client.stats().requests, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_probe_the_referrers_api_once_per_host() {
    let case = Pushed::new();
    let tags: Vec<String> = (0..12).map(|i| format!("v{i}")).collect();
    let digests = case.registry.push_generated_many("demo/many", &tags);
    let client = std::sync::Arc::new(case.client());
    let image = case.image("demo/many:v0");
    let mut tasks = tokio::task::JoinSet::new();
    for d in &digests {
        let (client, image, d) = (client.clone(), image.clone(), digest(d));
        tasks.spawn(async move { discover::signatures(&client, &image, &d).await });
    }
    while let Some(found) = tasks.join_next().await {
        assert!(found.unwrap().unwrap().is_empty());
    }
    // Per digest: `.sig` 404 and referrers tag 404; the API itself is asked once per host.
    assert_eq!(client.stats().requests, 2 * 12 + 1);
}

#[tokio::test]
async fn attestation_manifest_is_not_a_signature_candidate() {
    let case = Pushed::new();
    let layout = cosign_made("cosign-attested");
    case.push_cosign_made("cosign-attested", &[COSIGN_ATTESTED]);
    let att = format!("{}.att", digest(COSIGN_ATTESTED).tag_prefix());
    case.registry
        .push_layout(&layout, &att, &format!("demo/cosign-attested:{att}"));
    let client = case.client();
    let image = case.image("demo/cosign-attested:v1");
    let found = discover::signatures(&client, &image, &digest(COSIGN_ATTESTED))
        .await
        .unwrap();
    assert_is_cosign_made_sig(&found, COSIGN_ATTESTED);
}

#[tokio::test]
async fn finds_each_dsse_layer_of_the_cosign_att_with_its_predicate_type() {
    let case = Pushed::new();
    for (name, signed) in [("cosign-attested", COSIGN_ATTESTED), ("attested", ATTESTED)] {
        case.push_cosign_made(name, &[signed]);
        let att = format!("{}.att", digest(signed).tag_prefix());
        case.registry
            .push_layout(&cosign_made(name), &att, &format!("demo/{name}:{att}"));
    }
    let unsigned = digest(&case.registry.push_generated("demo/unsigned:v1", 3));
    let client = case.client();
    let expected = [
        (
            "cosign-attested",
            COSIGN_ATTESTED,
            "sha256:4176ea671e2ab5ccf67f8d3559b0ebe73934d7a49e79e329b3d1c7fd4b52a337",
            vec![(
                "sha256:2d85359fa2828b2ace9ad190fd00d1997c0026755c618351dffd98da7555e5ae",
                "https://slsa.dev/provenance/v1",
            )],
        ),
        (
            "attested",
            ATTESTED,
            "sha256:51b72061578722121cf411718b4bbc54d4c61d467f9f7a272eedba14a7e0d8e2",
            vec![
                (
                    "sha256:f974b228d41b8ac679aff468329a1466c428b0b5cf36f5fc617721ad670c23a6",
                    "https://slsa.dev/provenance/v1",
                ),
                (
                    "sha256:80aa070e0ab1f913ce251fbde81658eb70fd37cd0cd807c0bcf32c8f3ffde8a9",
                    "https://slsa.dev/provenance/v0.2",
                ),
            ],
        ),
    ];
    for (name, signed, att_manifest, layers) in expected {
        let image = case.image(&format!("demo/{name}:v1"));
        let found = discover::attestations(&client, &image, &digest(signed))
            .await
            .unwrap();
        let seen: Vec<(String, Option<&str>)> = found
            .iter()
            .map(|a| match &a.material {
                AttestationMaterial::CosignLayer {
                    envelope,
                    predicate_type,
                    ..
                } => (sha256_digest(envelope), predicate_type.as_deref()),
                other => panic!("expected a cosign layer, found {other:?}"),
            })
            .collect();
        let want: Vec<(String, Option<&str>)> = layers
            .iter()
            .map(|(d, p)| ((*d).to_owned(), Some(*p)))
            .collect();
        assert_eq!(seen, want, "{name}");
        for (i, a) in found.iter().enumerate() {
            assert_eq!(
                a.location,
                Location::CosignTag {
                    tag: format!("{}.att", digest(signed).tag_prefix()),
                    manifest: digest(att_manifest),
                    layer: i,
                }
            );
            assert_eq!(a.attached_to, digest(signed));
        }
    }
    let image = case.image("demo/unsigned:v1");
    let none = discover::attestations(&client, &image, &unsigned)
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// Attaches `bundle` to the manifest `subject` (of `subject_size` bytes) in `repo` the way
/// cosign 2.x/3.x does on a registry without the referrers API: an artifact manifest whose
/// `subject` is the image and whose one layer is the bundle, listed by the index tagged
/// `sha256-<hex>`. Returns the artifact manifest's digest.
fn attach_bundle_by_tag(
    registry: &TestRegistry,
    repo: &str,
    subject: &str,
    subject_size: usize,
    bundle: &[u8],
) -> String {
    let config = b"{}";
    let config_digest = registry.upload_blob(repo, config);
    let bundle_digest = registry.upload_blob(repo, bundle);
    let annotations = json!({
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
    });
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{ "mediaType": BUNDLE, "digest": bundle_digest, "size": bundle.len() }],
        "subject": { "mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size },
        "annotations": annotations,
    }))
    .unwrap();
    let manifest_digest = sha256_digest(&manifest);
    registry.put_manifest(repo, &manifest_digest, OCI_MANIFEST, &manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "artifactType": BUNDLE,
            "annotations": annotations,
        }],
    }))
    .unwrap();
    let tag = digest(subject).tag_prefix();
    registry.put_manifest(repo, &tag, OCI_INDEX, &index);
    manifest_digest
}

fn sigstore_bundle_fixture() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "fixtures/external/sigstore/cosign/pkg/cosign/testdata/oci-attestation.sigstore.json",
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn finds_a_bundle_attached_through_the_referrers_tag_schema() {
    let case = Pushed::new();
    let repo = "demo/bundled";
    let subject = case.registry.push_generated(&format!("{repo}:v1"), 7);
    let subject_size = GeneratedImage::new("seed 7", "amd64", None).manifest.len();
    let bundle = sigstore_bundle_fixture();
    let referrer = attach_bundle_by_tag(&case.registry, repo, &subject, subject_size, &bundle);
    let client = case.client();
    let image = case.image(&format!("{repo}:v1"));
    let found = discover::signatures(&client, &image, &digest(&subject))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].location,
        Location::ReferrersTag {
            tag: digest(&subject).tag_prefix(),
            manifest: digest(&referrer),
            artifact_type: BUNDLE.to_owned(),
        }
    );
    assert_eq!(found[0].attached_to, digest(&subject));
    let Material::Bundle { json, media_type } = &found[0].material else {
        panic!("expected a bundle: {:?}", found[0].material);
    };
    assert_eq!(json, &bundle);
    assert_eq!(media_type, BUNDLE);
    // `.sig` 404, referrers API 404, referrers tag, bundle manifest, bundle blob.
    assert_eq!(client.stats().requests, 5);

    // Another image of the repository: the referrers tag of the first is not its own.
    let other = digest(&case.registry.push_generated(&format!("{repo}:v2"), 8));
    let found = discover::signatures(&client, &image, &other).await.unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

#[tokio::test]
async fn bundle_referrer_tampered_in_storage_fails_closed() {
    let case = Pushed::new();
    let repo = "demo/tampered";
    let subject = case.registry.push_generated(&format!("{repo}:v1"), 9);
    let subject_size = GeneratedImage::new("seed 9", "amd64", None).manifest.len();
    let bundle = sigstore_bundle_fixture();
    attach_bundle_by_tag(&case.registry, repo, &subject, subject_size, &bundle);
    case.registry
        .tamper_blob(&sha256_digest(&bundle), |bytes| bytes[0] = b' ');
    let client = case.client();
    let image = case.image(&format!("{repo}:v1"));
    let err = discover::signatures(&client, &image, &digest(&subject))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "digest-mismatch", "{err}");
}

#[tokio::test]
async fn finds_the_same_signatures_in_a_directory_of_oci_layouts() {
    let layouts = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/layouts");
    let client = layout_client("registry.demo.example", layouts);
    let image =
        |name: &str| ImageRef::parse(&format!("registry.demo.example/demo/{name}:v1")).unwrap();
    let found = discover::signatures(&client, &image("cosign-signed"), &digest(COSIGN_SIGNED))
        .await
        .unwrap();
    assert_is_cosign_made_sig(&found, COSIGN_SIGNED);
    for signed in [MULTIARCH, AMD64, ARM64] {
        let found = discover::signatures(&client, &image("multiarch"), &digest(signed))
            .await
            .unwrap();
        assert_is_cosign_made_sig(&found, signed);
    }
    // The same image digest, in a repository without its `.sig`.
    let found = discover::signatures(&client, &image("unsigned"), &digest(COSIGN_SIGNED))
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(client.stats().requests, 0);
}

#[tokio::test]
async fn finds_the_sig_in_a_single_cosign_made_layout() {
    let client = layout_client("127.0.0.1:5123", cosign_made("signed"));
    let image = ImageRef::parse("127.0.0.1:5123/demo/signed:v1").unwrap();
    let found = discover::signatures(&client, &image, &digest(SIGNED))
        .await
        .unwrap();
    assert_is_cosign_made_sig(&found, SIGNED);
    let Material::SimpleSigning { signature, .. } = &found[0].material else {
        unreachable!("checked above");
    };
    // The annotation as written in the fixture's `.sig` manifest.
    let manifest = std::fs::read_to_string(
        cosign_made("signed")
            .join("blobs/sha256/f883b9599eb26aa527d49b3da7c5ff6f0b16bc37d182ed7e178b5a40d80e84d3"),
    )
    .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest["layers"][0]["annotations"][SIGNATURE_ANNOTATION],
        json!(signature)
    );
}

/// The cosign-made fixtures' key, as a signer named `release` (their signatures carry no log
/// proof).
fn release_key() -> std::sync::Arc<supplygate::verify::Signer> {
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/external/cosign-made/keys/cosign.pub"),
    )
    .unwrap();
    std::sync::Arc::new(supplygate::verify::Signer::key("release", &pem, true).unwrap())
}

/// A signer whose key signed nothing here.
fn other_key() -> std::sync::Arc<supplygate::verify::Signer> {
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/other-p256.pub"),
    )
    .unwrap();
    std::sync::Arc::new(supplygate::verify::Signer::key("other", &pem, true).unwrap())
}

/// A client that reaches `127.0.0.1:5123` (where the cosign-made fixtures were signed, the
/// name their signatures vouch for) through the test registry as its mirror, and names the
/// image as signed: `127.0.0.1:5123/demo/<name>:v1`.
fn signed_name_client(case: &Pushed, name: &str) -> (Registry, ImageRef) {
    let mut settings = RegistrySettings {
        retries: 0,
        ..RegistrySettings::default()
    };
    settings.hosts.insert(
        "127.0.0.1:5123".to_owned(),
        HostSettings {
            insecure: true,
            mirrors: vec![case.registry.host()],
            ..HostSettings::default()
        },
    );
    settings.hosts.insert(
        case.registry.host(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
    settings.docker_config = Some(common::docker_config_empty(
        &case.registry.scratch_dir().join("docker-empty"),
    ));
    let image = ImageRef::parse(&format!("127.0.0.1:5123/demo/{name}:v1")).unwrap();
    (Registry::new(settings).unwrap(), image)
}

#[tokio::test]
async fn a_key_signed_image_costs_three_requests_when_its_sig_satisfies_the_rules() {
    let case = Pushed::new();
    case.push_cosign_made("cosign-signed", &[COSIGN_SIGNED]);
    let (client, image) = signed_name_client(&case, "cosign-signed");
    let logged = case.registry.logged_requests();
    let resolved = client.resolve(&image).await.unwrap();
    let signers = [release_key(), other_key()];
    let needed = [vec![release_key()]];
    let report =
        supplygate::gate::check_signatures_for(&client, &image, &resolved, &signers, Some(&needed))
            .await
            .unwrap();
    assert_eq!(report.verified_by(), ["release"]);
    // The tag, the `.sig` manifest, its payload blob: no referrers lookup.
    assert_eq!(client.stats().requests, 3);
    assert_eq!(case.registry.logged_requests() - logged, 3);
}

#[tokio::test]
async fn the_referrers_are_read_whenever_the_sig_cannot_satisfy_the_rules() {
    let case = Pushed::new();
    case.push_cosign_made("cosign-signed", &[COSIGN_SIGNED]);
    let repo = "demo/bundled";
    let subject = case.registry.push_generated(&format!("{repo}:v1"), 7);
    let subject_size = GeneratedImage::new("seed 7", "amd64", None).manifest.len();
    let bundle = sigstore_bundle_fixture();
    let referrer = attach_bundle_by_tag(&case.registry, repo, &subject, subject_size, &bundle);
    let signers = [release_key(), other_key()];

    // A signature that is only among the referrers (no `.sig` at all) is found when a rule
    // needs a signature.
    let client = case.client();
    let image = case.image(&format!("{repo}:v1"));
    let resolved = client.resolve(&image).await.unwrap();
    let needed = [vec![release_key()]];
    let report =
        supplygate::gate::check_signatures_for(&client, &image, &resolved, &signers, Some(&needed))
            .await
            .unwrap();
    assert_eq!(report.facts.len(), 1, "{:#?}", report.facts);
    assert_eq!(
        report.facts[0].location,
        Location::ReferrersTag {
            tag: digest(&subject).tag_prefix(),
            manifest: digest(&referrer),
            artifact_type: BUNDLE.to_owned(),
        }
    );

    // A `.sig` that verifies, but by a signer the rule does not name: the referrers are read
    // too (API 404, then the referrers tag 404), so a bundle by the right signer would count.
    for needed in [
        vec![vec![other_key()]],
        vec![vec![release_key()], vec![other_key()]],
    ] {
        let (client, image) = signed_name_client(&case, "cosign-signed");
        let logged = case.registry.logged_requests();
        let resolved = client.resolve(&image).await.unwrap();
        let report = supplygate::gate::check_signatures_for(
            &client,
            &image,
            &resolved,
            &signers,
            Some(&needed),
        )
        .await
        .unwrap();
        assert_eq!(report.verified_by(), ["release"]);
        assert!(!needed.iter().all(|set| report.satisfies(set)));
        // The tag, `.sig`, payload, referrers API, referrers tag (as the mirror logs them).
        assert_eq!(case.registry.logged_requests() - logged, 5);
    }

    // A full account (`explain`) reads the referrers whatever the rules.
    let (client, image) = signed_name_client(&case, "cosign-signed");
    let logged = case.registry.logged_requests();
    let resolved = client.resolve(&image).await.unwrap();
    supplygate::gate::check_signatures(&client, &image, &resolved, &signers)
        .await
        .unwrap();
    assert_eq!(case.registry.logged_requests() - logged, 5);
}
