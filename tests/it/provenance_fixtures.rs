//! Real attestations verified and normalised straight from the external fixtures, without
//! the discovery module: slsa-github-generator provenance (keyless cosign `.att` layers and
//! v0.3 Sigstore bundles, public-good trust root), cosign- and securesystemslib-made SLSA
//! provenance (key, no tlog), cosign's own `oci-attestation` bundle, and the cases a gate
//! must refuse (other builder, source, branch; edited payload; another image's subject;
//! buildkit's unsigned statement; old-format envelopes without log evidence).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use supplygate::provenance::{
    builder_trusted, commit_matches_claim, repository_matches, verify_attestation, Agreement,
    AttestationCandidate, AttestationFact, AttestationKind, AttestationMaterial, BuilderRule,
    RefPattern, SlsaVersion,
};
use supplygate::reference::Digest;
use supplygate::registry::Platform;
use supplygate::verify::signature::ANY_SIGNER;
use supplygate::verify::signers::load_trusted_root;
use supplygate::verify::{Location, SignatureKind, Signer, SubjectMatcher};

const EXTERNAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/external");
const SLSA_TESTDATA: &str = "slsa-framework/slsa-verifier/cli/slsa-verifier/testdata";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GENERATOR: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows";
const EXAMPLE_PACKAGE: &str = "https://github.com/slsa-framework/example-package";
const EXAMPLE_COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";
const DEMO_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const IMAGE_REPOSITORY: &str =
    "ghcr.io/slsa-framework/example-package.verifier-e2e.all.tag.main.default.slsa3";

fn external(path: &str) -> PathBuf {
    Path::new(EXTERNAL).join(path)
}

fn digest(s: &str) -> Digest {
    Digest::parse(s.trim()).unwrap()
}

fn pgi_signer(name: &str, identity: &str) -> Arc<Signer> {
    let root = load_trusted_root(&external(
        "sigstore/cosign/pkg/cosign/testdata/trusted_root_pgi.json",
    ))
    .unwrap();
    Arc::new(
        Signer::keyless(
            name,
            GITHUB_ISSUER.into(),
            SubjectMatcher::Exact(identity.into()),
            Some(root),
        )
        .unwrap(),
    )
}

fn container_builder(version: &str) -> String {
    format!("{GENERATOR}/generator_container_slsa3.yml@refs/tags/{version}")
}

fn cosign_key(tlog_ignored: bool) -> Arc<Signer> {
    let pem = std::fs::read_to_string(external("cosign-made/keys/cosign.pub")).unwrap();
    Arc::new(Signer::key("cosign", &pem, tlog_ignored).unwrap())
}

/// One OCI image layout, read from disk.
struct Layout {
    dir: PathBuf,
    index: Value,
}

impl Layout {
    fn open(dir: PathBuf) -> Self {
        let index =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        Self { dir, index }
    }

    fn slsa_container(version: &str) -> Self {
        Self::open(external(&format!(
            "{SLSA_TESTDATA}/gha_generic_container/{version}/container_workflow_dispatch"
        )))
    }

    fn cosign_made(name: &str) -> Self {
        Self::open(external(&format!("cosign-made/layout/{name}")))
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

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest)).unwrap()
    }

    /// The `index.json` entry whose annotation `key` is `value`.
    fn entry(&self, key: &str, value: &str) -> Digest {
        let entry = self.index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"][key] == value)
            .unwrap_or_else(|| panic!("no `{key}: {value}` in {}", self.dir.display()));
        digest(entry["digest"].as_str().unwrap())
    }

    /// The `.att` layers of one attestation manifest, as discovery would hand them over.
    fn attestations(&self, manifest: &Digest, tag: &str) -> Vec<AttestationCandidate> {
        let body = self.json(&manifest.to_string());
        body["layers"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let annotations: BTreeMap<String, String> =
                    serde_json::from_value(layer["annotations"].clone()).unwrap_or_default();
                let blob = self.blob(layer["digest"].as_str().unwrap());
                AttestationCandidate {
                    location: Location::CosignTag {
                        tag: tag.into(),
                        manifest: manifest.clone(),
                        layer: i,
                    },
                    // Callers set the image digest; the manifest stands in until then.
                    attached_to: manifest.clone(),
                    material: AttestationMaterial::cosign_layer(blob, &annotations),
                }
            })
            .collect()
    }

    /// The platform manifests of an image index (not buildkit's attestation manifests).
    fn platforms(&self, index: &Digest) -> Vec<Platform> {
        self.json(&index.to_string())["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["platform"]["os"] != "unknown")
            .map(|m| Platform {
                os: m["platform"]["os"].as_str().unwrap().into(),
                architecture: m["platform"]["architecture"].as_str().unwrap().into(),
                variant: m["platform"]["variant"].as_str().map(Into::into),
                digest: digest(m["digest"].as_str().unwrap()),
            })
            .collect()
    }
}

/// The slsa-verifier container fixture: image digest, its platforms, its one `.att` layer.
struct Container {
    layout: Layout,
    image: Digest,
    platforms: Vec<Platform>,
    att: AttestationCandidate,
}

fn container(version: &str) -> Container {
    let layout = Layout::slsa_container(version);
    let image = digest(
        &std::fs::read_to_string(external(&format!(
            "{SLSA_TESTDATA}/gha_generic_container/{version}/container_workflow_dispatch.digest"
        )))
        .unwrap(),
    );
    assert_eq!(
        layout.entry("kind", "dev.cosignproject.cosign/imageIndex"),
        image
    );
    let att_manifest = layout.entry("kind", "dev.cosignproject.cosign/atts");
    let tag = format!("{}.att", image.tag_prefix());
    let mut atts = layout.attestations(&att_manifest, &tag);
    assert_eq!(atts.len(), 1);
    let mut att = atts.remove(0);
    att.attached_to = image.clone();
    let platforms = layout.platforms(&image);
    Container {
        layout,
        image,
        platforms,
        att,
    }
}

fn verify_container(c: &Container, signers: &[Arc<Signer>]) -> AttestationFact {
    verify_attestation(&c.att, IMAGE_REPOSITORY, &c.image, &c.platforms, signers)
}

fn reasons(fact: &AttestationFact) -> Vec<(String, String)> {
    fact.rejections
        .iter()
        .map(|r| (r.signer.clone(), r.reason.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// slsa-github-generator container provenance (keyless `.att`)

#[test]
fn slsa_generator_v2_1_0_provenance_verifies_and_is_normalised() {
    let c = container("v2.1.0");
    let builder = container_builder("v2.1.0");
    let fact = verify_container(&c, &[pgi_signer("slsa", &builder)]);
    assert_eq!(
        fact.verified_by,
        vec!["slsa".to_owned()],
        "{:?}",
        reasons(&fact)
    );
    assert!(fact.rejections.is_empty());
    assert_eq!(fact.signature_kind, Some(SignatureKind::CosignKeyless));
    assert_eq!(fact.kind, Some(AttestationKind::SlsaProvenanceV0_2));
    assert_eq!(
        fact.statement_type.as_deref(),
        Some("https://in-toto.io/Statement/v0.1")
    );
    let matched = fact.subject_match.as_ref().unwrap();
    assert_eq!(matched.digest, c.image);
    assert_eq!(matched.platform, None);
    assert_eq!(fact.subject_names, vec![IMAGE_REPOSITORY.to_owned()]);
    assert!(fact.subject_name_matches_repository);
    // The Rekor SET's integrated time (log index 174304112, 2025-02).
    assert!(
        fact.signed_at.as_deref().unwrap().starts_with("2025-"),
        "{fact:?}"
    );

    let p = fact.verified_provenance().unwrap();
    assert_eq!(p.slsa_version, SlsaVersion::V0_2);
    assert_eq!(p.builder_id.as_deref(), Some(builder.as_str()));
    assert_eq!(
        p.build_type.as_deref(),
        Some("https://github.com/slsa-framework/slsa-github-generator/container@v1")
    );
    assert_eq!(p.source_repository.as_deref(), Some(EXAMPLE_PACKAGE));
    assert_eq!(
        p.source_uri.as_deref(),
        Some("git+https://github.com/slsa-framework/example-package@refs/heads/main")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(p.source_commit.as_deref(), Some(EXAMPLE_COMMIT));
    assert_eq!(
        p.entry_point.as_deref(),
        Some(".github/workflows/verifier-e2e.all.workflow_dispatch.main.all.slsa3.yml")
    );
    assert!(p.problems.is_empty(), "{:?}", p.problems);

    // The keyless certificate's source claims agree with the provenance.
    let identity = fact.identity.as_ref().unwrap();
    assert_eq!(identity.issuer.as_deref(), Some(GITHUB_ISSUER));
    assert_eq!(identity.subject.as_deref(), Some(builder.as_str()));
    let agreement = fact.certificate_agreement.as_ref().unwrap();
    assert_eq!(agreement.repository, Agreement::Agrees);
    assert_eq!(agreement.commit, Agreement::Agrees);

    // Source linkage as slsa-verifier checks it: builder, source, branch.
    let trusted = [BuilderRule::Exact(builder.clone())];
    assert!(builder_trusted(p.builder_id.as_deref().unwrap(), &trusted).is_some());
    let prefix = [BuilderRule::Prefix(format!(
        "{GENERATOR}/generator_container_slsa3.yml@refs/tags/"
    ))];
    assert!(builder_trusted(&builder, &prefix).is_some());
    let source = p.source_repository.as_deref().unwrap();
    assert!(repository_matches(
        "github.com/slsa-framework/example-package",
        source
    ));
    assert!(commit_matches_claim(
        p.source_commit.as_deref().unwrap(),
        "4d329c7"
    ));
    let main = RefPattern::parse("refs/heads/main").unwrap();
    assert!(main.matches(p.source_ref.as_deref().unwrap()));
}

#[test]
fn slsa_generator_provenance_fails_with_another_builder() {
    let c = container("v2.1.0");
    for identity in [
        format!("{GENERATOR}/not-trusted.yml@refs/tags/v2.1.0"),
        container_builder("v2.1.1"),
        container_builder("v1.10.0"),
    ] {
        let fact = verify_container(&c, &[pgi_signer("slsa", &identity)]);
        assert!(!fact.counts(), "{identity}");
        let r = reasons(&fact);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].0, "slsa");
        assert!(
            r[0].1.starts_with(&format!(
                "identity `{}` does not match `{identity}`",
                container_builder("v2.1.0")
            )),
            "{r:?}"
        );
        assert!(fact.verified_provenance().is_none());
    }
    // The wrong issuer is refused too.
    let root = load_trusted_root(&external(
        "sigstore/cosign/pkg/cosign/testdata/trusted_root_pgi.json",
    ))
    .unwrap();
    let signer = Signer::keyless(
        "google",
        "https://accounts.google.com".into(),
        SubjectMatcher::Exact(container_builder("v2.1.0")),
        Some(root),
    )
    .unwrap();
    let fact = verify_container(&c, &[Arc::new(signer)]);
    assert!(!fact.counts());
    // Builder policy on the provenance itself: not-trusted.yml is not the trusted builder.
    let p = verify_container(&c, &[pgi_signer("slsa", &container_builder("v2.1.0"))])
        .provenance
        .unwrap();
    let untrusted = [BuilderRule::Exact(format!(
        "{GENERATOR}/not-trusted.yml@refs/tags/v2.1.0"
    ))];
    assert!(builder_trusted(p.builder_id.as_deref().unwrap(), &untrusted).is_none());
}

#[test]
fn slsa_generator_provenance_fails_for_another_source_or_branch() {
    let c = container("v2.1.0");
    let fact = verify_container(&c, &[pgi_signer("slsa", &container_builder("v2.1.0"))]);
    let p = fact.verified_provenance().unwrap();
    let source = p.source_repository.as_deref().unwrap();
    // slsa-verifier's negative sources (main_regression_test.go).
    for other in [
        "github.com/slsa-framework/example-packageA",
        "Agithub.com/slsa-framework/example-package",
        "github.com/Aslsa-framework/example-package",
    ] {
        assert!(!repository_matches(other, source), "{other}");
    }
    let master = RefPattern::parse("refs/heads/master").unwrap();
    assert!(!master.matches(p.source_ref.as_deref().unwrap()));
    assert!(!commit_matches_claim(
        p.source_commit.as_deref().unwrap(),
        "d37a7f740ee7404914456f24dcd90e865a0509e8"
    ));
}

#[test]
fn slsa_generator_v1_10_0_provenance_names_its_tag_and_commit() {
    let c = container("v1.10.0");
    let builder = container_builder("v1.10.0");
    let fact = verify_container(&c, &[pgi_signer("slsa", &builder)]);
    assert!(fact.counts(), "{:?}", reasons(&fact));
    let p = fact.verified_provenance().unwrap();
    assert_eq!(p.builder_id.as_deref(), Some(builder.as_str()));
    assert_eq!(p.source_repository.as_deref(), Some(EXAMPLE_PACKAGE));
    assert_eq!(p.source_ref.as_deref(), Some("refs/tags/v13.0.30"));
    assert_eq!(
        p.source_commit.as_deref(),
        Some("d37a7f740ee7404914456f24dcd90e865a0509e8")
    );
    assert!(RefPattern::parse("refs/tags/v*")
        .unwrap()
        .matches(p.source_ref.as_deref().unwrap()));
    // The v2.1.0 builder identity does not accept it.
    let fact = verify_container(&c, &[pgi_signer("slsa", &container_builder("v2.1.0"))]);
    assert!(!fact.counts());
}

#[test]
fn slsa_generator_attestation_is_not_about_another_image() {
    let c = container("v2.1.0");
    let other = container("v1.10.0");
    let fact = verify_attestation(
        &c.att,
        IMAGE_REPOSITORY,
        &other.image,
        &other.platforms,
        &[pgi_signer("slsa", &container_builder("v2.1.0"))],
    );
    assert!(!fact.counts());
    let r = reasons(&fact);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, ANY_SIGNER);
    assert_eq!(
        r[0].1,
        "the statement is about `sha256:234e2c830c2f…`, not this image's `sha256:e0a0a765d690…` or one of its platforms"
    );
}

#[test]
fn buildkit_attestation_manifest_never_counts() {
    for version in ["v2.1.0", "v1.10.0"] {
        let c = container(version);
        let index = c.layout.json(&c.image.to_string());
        let buildkit = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
            .unwrap();
        let manifest = digest(buildkit["digest"].as_str().unwrap());
        let candidates = c.layout.attestations(&manifest, "buildkit");
        assert_eq!(candidates.len(), 1);
        let fact = verify_attestation(
            &candidates[0],
            IMAGE_REPOSITORY,
            &c.image,
            &c.platforms,
            &[
                pgi_signer("slsa", &container_builder(version)),
                cosign_key(true),
            ],
        );
        assert!(!fact.counts(), "{version}");
        assert!(fact.verified_provenance().is_none());
        let r = reasons(&fact);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            r[0],
            (
                ANY_SIGNER.to_owned(),
                "an unsigned in-toto statement, not a dsse envelope (buildkit attestations never count)"
                    .to_owned()
            )
        );
    }
}

// ---------------------------------------------------------------------------------------
// cosign-made: key-signed SLSA provenance, no transparency log

/// The `.att` candidates of `demo/<name>:v1` and its digest.
fn cosign_made(name: &str) -> (Digest, Vec<AttestationCandidate>) {
    let layout = Layout::cosign_made(name);
    let image = layout.entry("org.opencontainers.image.ref.name", "v1");
    let tag = format!("{}.att", image.tag_prefix());
    let manifest = layout.entry("org.opencontainers.image.ref.name", &tag);
    let mut candidates = layout.attestations(&manifest, &tag);
    for c in &mut candidates {
        c.attached_to = image.clone();
    }
    (image, candidates)
}

fn assert_demo_source(fact: &AttestationFact) {
    let p = fact.verified_provenance().unwrap();
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/example/demo")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(p.source_commit.as_deref(), Some(DEMO_COMMIT));
    assert_eq!(
        p.entry_point.as_deref(),
        Some(".github/workflows/release.yml")
    );
    assert!(repository_matches(
        "https://github.com/example/demo",
        p.source_repository.as_deref().unwrap()
    ));
    assert!(!repository_matches(
        "https://github.com/evil/demo",
        p.source_repository.as_deref().unwrap()
    ));
}

#[test]
fn cosign_attested_slsa_v1_verifies_with_the_key() {
    let (image, atts) = cosign_made("cosign-attested");
    assert_eq!(atts.len(), 1);
    let fact = verify_attestation(
        &atts[0],
        "127.0.0.1:5123/demo/cosign-attested",
        &image,
        &[],
        &[cosign_key(true)],
    );
    assert_eq!(
        fact.verified_by,
        vec!["cosign".to_owned()],
        "{:?}",
        reasons(&fact)
    );
    assert_eq!(fact.signature_kind, Some(SignatureKind::CosignKey));
    assert_eq!(fact.kind, Some(AttestationKind::SlsaProvenanceV1));
    assert_eq!(
        fact.statement_type.as_deref(),
        Some("https://in-toto.io/Statement/v0.1")
    );
    assert!(fact.subject_name_matches_repository);
    assert_eq!(fact.signed_at, None);
    assert_demo_source(&fact);
    let p = fact.verified_provenance().unwrap();
    assert_eq!(
        p.builder_id.as_deref(),
        Some("https://github.com/actions/runner/github-hosted")
    );
    assert_eq!(
        p.build_type.as_deref(),
        Some("https://actions.github.io/buildtypes/workflow/v1")
    );
    assert_eq!(p.build_started_on.as_deref(), Some("2024-01-01T00:00:00Z"));
}

#[test]
fn attested_slsa_v1_and_v0_2_layers_verify_with_the_key() {
    let (image, atts) = cosign_made("attested");
    assert_eq!(atts.len(), 2);
    let facts: Vec<_> = atts
        .iter()
        .map(|a| {
            verify_attestation(
                a,
                "127.0.0.1:5123/demo/attested",
                &image,
                &[],
                &[cosign_key(true)],
            )
        })
        .collect();
    for fact in &facts {
        assert!(fact.counts(), "{:?}", reasons(fact));
        assert_demo_source(fact);
    }
    assert_eq!(facts[0].kind, Some(AttestationKind::SlsaProvenanceV1));
    assert_eq!(
        facts[0].statement_type.as_deref(),
        Some("https://in-toto.io/Statement/v1")
    );
    assert_eq!(facts[1].kind, Some(AttestationKind::SlsaProvenanceV0_2));
    let v02 = facts[1].verified_provenance().unwrap();
    assert_eq!(
        v02.builder_id.as_deref(),
        Some(container_builder("v1.9.0").as_str())
    );
    assert_eq!(
        v02.build_type.as_deref(),
        Some("https://github.com/slsa-framework/slsa-github-generator/container@v1")
    );
    // The JSON shape the report and the policy input will carry.
    let json = serde_json::to_value(&facts[1]).unwrap();
    assert_eq!(json["kind"], "slsa-provenance-v0.2");
    assert_eq!(json["provenance"]["slsa_version"], "v0.2");
    assert_eq!(json["provenance"]["source_commit"], DEMO_COMMIT);
    assert_eq!(json["location"]["via"], "cosign-tag");
}

#[test]
fn cosign_made_attestation_needs_the_tlog_unless_the_signer_waives_it() {
    let (image, atts) = cosign_made("cosign-attested");
    let fact = verify_attestation(
        &atts[0],
        "127.0.0.1:5123/demo/cosign-attested",
        &image,
        &[],
        &[cosign_key(false)],
    );
    assert!(!fact.counts());
    assert!(
        reasons(&fact)[0].1.starts_with("no transparency log proof"),
        "{:?}",
        reasons(&fact)
    );
}

#[test]
fn cosign_made_attestation_with_edited_payload_is_rejected() {
    let (image, atts) = cosign_made("attested");
    for att in &atts {
        let AttestationMaterial::CosignLayer { envelope, .. } = &att.material else {
            panic!("a cosign layer");
        };
        let mut wire: Value = serde_json::from_slice(envelope).unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let payload = engine.decode(wire["payload"].as_str().unwrap()).unwrap();
        let edited = String::from_utf8(payload)
            .unwrap()
            .replace("example/demo", "example/evil");
        wire["payload"] = Value::String(engine.encode(edited));
        let mut tampered = att.clone();
        if let AttestationMaterial::CosignLayer { envelope, .. } = &mut tampered.material {
            *envelope = serde_json::to_vec(&wire).unwrap();
        }
        let fact = verify_attestation(
            &tampered,
            "127.0.0.1:5123/demo/attested",
            &image,
            &[],
            &[cosign_key(true)],
        );
        assert!(!fact.counts());
        assert_eq!(
            reasons(&fact),
            vec![(
                "cosign".to_owned(),
                "dsse signature does not verify with this key".to_owned()
            )]
        );
        // What it claims is shown, never as verified provenance.
        assert_eq!(
            fact.provenance
                .as_ref()
                .unwrap()
                .source_repository
                .as_deref(),
            Some("https://github.com/example/evil")
        );
        assert!(fact.verified_provenance().is_none());
    }
}

#[test]
fn cosign_made_attestation_for_another_digest_is_rejected() {
    let (_, atts) = cosign_made("attested");
    let (other, _) = cosign_made("cosign-attested");
    let fact = verify_attestation(
        &atts[0],
        "127.0.0.1:5123/demo/attested",
        &other,
        &[],
        &[cosign_key(true)],
    );
    assert!(!fact.counts());
    assert_eq!(
        reasons(&fact),
        vec![(
            ANY_SIGNER.to_owned(),
            "the statement is about `sha256:7b265292318e…`, not this image's `sha256:2be689e46898…`"
                .to_owned()
        )]
    );
}

#[test]
fn cosign_made_attestation_is_rejected_by_another_key() {
    let (image, atts) = cosign_made("attested");
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/p384.pub"),
    )
    .unwrap();
    let other = Arc::new(Signer::key("other", &pem, true).unwrap());
    let fact = verify_attestation(
        &atts[0],
        "127.0.0.1:5123/demo/attested",
        &image,
        &[],
        &[other, cosign_key(true)],
    );
    assert_eq!(fact.verified_by, vec!["cosign".to_owned()]);
    assert_eq!(
        reasons(&fact),
        vec![(
            "other".to_owned(),
            "dsse signature does not verify with this key".to_owned()
        )]
    );
}

// ---------------------------------------------------------------------------------------
// Sigstore bundles holding attestations

fn bundle_candidate(path: &Path, subject: &Digest) -> AttestationCandidate {
    let json = std::fs::read(path).unwrap();
    let value: Value = serde_json::from_slice(&json).unwrap();
    let media_type = value["mediaType"].as_str().unwrap().to_owned();
    AttestationCandidate {
        location: Location::Referrers {
            manifest: Digest::sha256_of(&json),
            artifact_type: media_type.clone(),
        },
        attached_to: subject.clone(),
        material: AttestationMaterial::Bundle { json, media_type },
    }
}

#[test]
fn slsa_generator_generic_bundles_verify() {
    let binary = digest("sha256:376e7e01348585b6e6643bc6663146b9d525d9b41228bf180eaeb4d4a3706caa");
    let builder = format!("{GENERATOR}/generator_generic_slsa3.yml@refs/tags/v2.1.0");
    for (file, git_ref) in [
        ("binary-linux-amd64-workflow_dispatch", "refs/heads/main"),
        ("binary-linux-amd64-push-v13.0.30", "refs/tags/v13.0.30"),
        ("binary-linux-amd64-push-v14", "refs/tags/v14"),
        ("binary-linux-amd64-push-v14.2", "refs/tags/v14.2"),
    ] {
        let path = external(&format!(
            "{SLSA_TESTDATA}/gha_generic/v2.1.0/{file}.intoto.jsonl"
        ));
        let c = bundle_candidate(&path, &binary);
        let fact = verify_attestation(
            &c,
            "binary-linux-amd64",
            &binary,
            &[],
            &[pgi_signer("slsa", &builder)],
        );
        assert!(fact.counts(), "{file}: {:?}", reasons(&fact));
        assert_eq!(fact.signature_kind, Some(SignatureKind::Bundle));
        assert_eq!(fact.kind, Some(AttestationKind::SlsaProvenanceV0_2));
        assert_eq!(fact.subject_names.len(), 1, "{file}");
        assert!(
            fact.subject_names[0].contains("binary-linux-amd64"),
            "{file}"
        );
        let p = fact.verified_provenance().unwrap();
        assert_eq!(p.builder_id.as_deref(), Some(builder.as_str()), "{file}");
        assert_eq!(
            p.source_repository.as_deref(),
            Some(EXAMPLE_PACKAGE),
            "{file}"
        );
        assert_eq!(p.source_ref.as_deref(), Some(git_ref), "{file}");
        assert_eq!(p.source_commit.as_deref(), Some(EXAMPLE_COMMIT), "{file}");
        let agreement = fact.certificate_agreement.as_ref().unwrap();
        assert!(agreement.no_disagreement(), "{file}: {agreement:?}");
        // The container builder's identity does not sign generic provenance.
        let fact = verify_attestation(
            &c,
            "binary-linux-amd64",
            &binary,
            &[],
            &[pgi_signer("slsa", &container_builder("v2.1.0"))],
        );
        assert!(!fact.counts(), "{file}");
    }
}

#[test]
fn old_format_envelopes_without_log_evidence_are_rejected_offline() {
    let generic = pgi_signer(
        "slsa",
        &format!("{GENERATOR}/generator_generic_slsa3.yml@refs/tags/v2.1.0"),
    );
    for (file, sha) in [
        (
            "untrusted-builder",
            "b01c4f22b92c57fe1c94ba99b568e8d704bbf544882784b5b8c765fc32e627c4",
        ),
        (
            "expired-cert",
            "4bdb495d05cbb9eb0722ec4fcfef8a02d5ca7a2fca0b0fed718447f89d39a589",
        ),
        (
            "no-tlog-upload",
            "4bdb495d05cbb9eb0722ec4fcfef8a02d5ca7a2fca0b0fed718447f89d39a589",
        ),
        (
            "e2e-builder-repo",
            "f6737bf6354c4bcd931635b2f362bfa088ccc9b79ae1e2a618959fc461b3551a",
        ),
    ] {
        let subject = digest(&format!("sha256:{sha}"));
        let path = external(&format!(
            "{SLSA_TESTDATA}/binary-linux-amd64-{file}.intoto.jsonl"
        ));
        let c = AttestationCandidate {
            location: Location::Referrers {
                manifest: subject.clone(),
                artifact_type: "application/vnd.dsse.envelope.v1+json".into(),
            },
            attached_to: subject.clone(),
            material: AttestationMaterial::cosign_layer(
                std::fs::read(&path).unwrap(),
                &BTreeMap::new(),
            ),
        };
        let fact = verify_attestation(
            &c,
            "binary-linux-amd64",
            &subject,
            &[],
            &[generic.clone(), cosign_key(true)],
        );
        assert!(!fact.counts(), "{file}");
        // The statement itself is about the artifact: the rejection is the signature's.
        assert!(fact.subject_match.is_some(), "{file}: {:?}", reasons(&fact));
        let r = reasons(&fact);
        assert_eq!(r.len(), 2, "{file}: {r:?}");
        assert!(
            r[0].1.contains("cannot be verified offline"),
            "{file}: {r:?}"
        );
        assert_eq!(
            r[1].1, "dsse signature does not verify with this key",
            "{file}"
        );
    }
}

#[test]
fn cosign_oci_attestation_bundle_is_recorded_as_another_predicate() {
    let subject = digest("sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4");
    let path = external("sigstore/cosign/pkg/cosign/testdata/oci-attestation.sigstore.json");
    let c = bundle_candidate(&path, &subject);
    let root = load_trusted_root(&external(
        "sigstore/cosign/pkg/cosign/testdata/trusted_root_pgi.json",
    ))
    .unwrap();
    let signer = |subject: &str| {
        Arc::new(
            Signer::keyless(
                "cody",
                "https://github.com/login/oauth".into(),
                SubjectMatcher::Exact(subject.into()),
                Some(root.clone()),
            )
            .unwrap(),
        )
    };
    let fact = verify_attestation(
        &c,
        "127.0.0.1:60943/repo",
        &subject,
        &[],
        &[signer("cody@soyland.com")],
    );
    assert!(fact.counts(), "{:?}", reasons(&fact));
    assert_eq!(fact.kind, Some(AttestationKind::Other));
    assert_eq!(
        fact.predicate_type.as_deref(),
        Some("https://cosign.sigstore.dev/attestation/v1")
    );
    assert!(fact.predicate.is_some());
    assert_eq!(fact.provenance, None);
    assert!(fact.subject_name_matches_repository);
    let fact = verify_attestation(
        &c,
        "127.0.0.1:60943/repo",
        &subject,
        &[],
        &[signer("evil@soyland.com")],
    );
    assert!(!fact.counts());
}

#[test]
fn damaged_envelopes_never_count_and_never_panic() {
    let (image, atts) = cosign_made("attested");
    let c = container("v2.1.0");
    let signers = [
        cosign_key(true),
        pgi_signer("slsa", &container_builder("v2.1.0")),
    ];
    for (att, image, platforms) in [
        (&atts[0], &image, &[][..]),
        (&c.att, &c.image, &c.platforms[..]),
    ] {
        let AttestationMaterial::CosignLayer { envelope, .. } = &att.material else {
            panic!("a cosign layer");
        };
        let len = envelope.len();
        let mut damaged = Vec::new();
        for cut in (0..len).step_by(len / 40 + 1) {
            damaged.push(envelope[..cut].to_vec());
        }
        for at in (0..len).step_by(len / 40 + 1) {
            let mut flipped = envelope.clone();
            flipped[at] ^= 0x01;
            damaged.push(flipped);
        }
        for bytes in damaged {
            let mut candidate = att.clone();
            if let AttestationMaterial::CosignLayer { envelope, .. } = &mut candidate.material {
                *envelope = bytes.clone();
            }
            let fact = verify_attestation(&candidate, "x", image, platforms, &signers);
            // A flip inside JSON whitespace or in an unsigned field may leave it valid.
            if fact.counts() {
                let original = verify_attestation(att, "x", image, platforms, &signers);
                assert_eq!(fact.provenance, original.provenance);
                assert_eq!(fact.subject_match, original.subject_match);
            }
        }
    }
}
