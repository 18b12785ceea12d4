//! Signature verification end to end: images pushed to a real `docker-registry`, cosign `.sig`
//! manifests made by our own test Sigstore (`common/pki.rs`) attached to them, then found by
//! `verify::discover` and judged by `verify::verify_candidate` — and, at the end, by the
//! `supplygate` binary. Each negative case breaks one thing and checks it is rejected for
//! that reason, next to the genuine case that passes.
use crate::common;
use crate::common::case::Case;

use crate::pki;
use common::Outcome;

use std::sync::Arc;

use common::TestRegistry;
use pki::{
    push_signatures, sig_tag, Ca, GithubClaims, SigLayer, TestKey, TestSigstore, BUNDLE_V03,
    ISSUER, SOURCE_COMMIT, SOURCE_REF, SOURCE_REPOSITORY, SUBJECT, TRIGGER,
};
use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::Registry;
use supplygate::verify::signers::{parse_trusted_root, TlogPolicy};
use supplygate::verify::{
    discover, verify_candidate, CertificateConstraints, Location, Reason, SignatureFact,
    SignatureKind, Signer, SubjectMatcher,
};

const REPO: &str = "team/app";
const EVIL_SUBJECT: &str =
    "https://github.com/acme/app-evil/.github/workflows/release.yml@refs/heads/main";

/// A registry with one pushed image, a test Sigstore, and signers to judge with.
struct SignedImage {
    registry: TestRegistry,
    sigstore: TestSigstore,
    /// The image's manifest digest.
    digest: String,
}

impl SignedImage {
    fn new() -> Self {
        let registry = TestRegistry::start();
        let digest = registry.push_generated(&format!("{REPO}:v1"), 1);
        Self {
            registry,
            sigstore: TestSigstore::new(),
            digest,
        }
    }

    /// `127.0.0.1:PORT/team/app`: the `docker-reference` cosign signs.
    fn repository(&self) -> String {
        self.registry.image(REPO)
    }

    /// Another image in the same repository; returns its digest.
    fn push_other_image(&self) -> String {
        self.registry.push_generated(&format!("{REPO}:other"), 2)
    }

    /// A genuine keyless signature of this image (customise with `f`).
    fn keyless<'a>(&'a self, f: impl FnOnce(pki::Keyless<'a>) -> pki::Keyless<'a>) -> SigLayer {
        f(self.sigstore.keyless(&self.repository(), &self.digest)).sign()
    }

    /// Attaches `layers` to this image as its cosign `.sig` manifest; returns its digest.
    fn attach(&self, layers: &[SigLayer]) -> String {
        push_signatures(&self.registry, REPO, &self.digest, layers)
    }

    /// Attaches Sigstore bundles to this image as referrers (tag schema); returns the
    /// referrer manifests' digests.
    fn attach_bundles(&self, bundles: &[Vec<u8>]) -> Vec<String> {
        pki::push_bundle_referrer(&self.registry, REPO, &self.digest, bundles)
    }

    /// A keyless signer trusting this scenario's Sigstore.
    fn keyless_signer(&self, name: &str, subject: SubjectMatcher) -> Arc<Signer> {
        keyless_signer(&self.sigstore, name, subject)
    }

    /// Discovers what is attached to the image and verifies every candidate with `signers`.
    async fn facts(&self, signers: &[Arc<Signer>]) -> Vec<SignatureFact> {
        let client = Registry::new(common::client_settings(&self.registry)).unwrap();
        let image = ImageRef::parse(&self.registry.image(&format!("{REPO}:v1"))).unwrap();
        let digest = Digest::parse(&self.digest).unwrap();
        let candidates = discover::signatures(&client, &image, &digest)
            .await
            .unwrap_or_else(|e| panic!("discovery failed: {e}"));
        candidates
            .iter()
            .map(|c| verify_candidate(c, &image.name(), &digest, signers))
            .collect()
    }

    /// The one fact of a single attached signature.
    async fn only_fact(&self, signers: &[Arc<Signer>]) -> SignatureFact {
        let facts = self.facts(signers).await;
        assert_eq!(facts.len(), 1, "expected one signature: {facts:#?}");
        facts.into_iter().next().unwrap()
    }
}

/// The GitHub claims of a workflow in `acme/app-evil`, whose URL starts with `acme/app`'s.
fn evil_claims() -> GithubClaims {
    GithubClaims {
        repository: "https://github.com/acme/app-evil".into(),
        workflow: EVIL_SUBJECT.into(),
        ..GithubClaims::default()
    }
}

fn keyless_signer(sigstore: &TestSigstore, name: &str, subject: SubjectMatcher) -> Arc<Signer> {
    let root = parse_trusted_root(&sigstore.trusted_root_json()).unwrap();
    Arc::new(Signer::keyless(name, ISSUER.to_owned(), subject, Some(Arc::new(root))).unwrap())
}

fn exact(subject: &str) -> SubjectMatcher {
    SubjectMatcher::Exact(subject.to_owned())
}

fn key_signer(name: &str, key: &TestKey, insecure_ignore_tlog: bool) -> Arc<Signer> {
    Arc::new(Signer::key(name, &key.public_pem(), insecure_ignore_tlog).unwrap())
}

/// Asserts nobody verified `fact` and that `signer`'s rejection contains `reason`.
fn assert_rejected(fact: &SignatureFact, signer: &str, reason: &str) {
    assert!(
        fact.verified_by.is_empty(),
        "expected no signer to verify it: {fact:#?}"
    );
    let found = fact
        .rejections
        .iter()
        .find(|r| r.signer == signer)
        .unwrap_or_else(|| panic!("no rejection by `{signer}`: {fact:#?}"));
    assert!(
        found.reason.to_string().contains(reason),
        "`{signer}` rejected it for `{}`, expected `{reason}`",
        found.reason
    );
}

// ------------------------------------------------------------------ library: positive cases

#[tokio::test]
async fn genuine_keyless_signature_is_verified_with_its_identity() {
    let s = SignedImage::new();
    let sig_manifest = s.attach(&[s.keyless(|k| k)]);
    let release = s.keyless_signer("release", exact(SUBJECT));
    let fact = s.only_fact(&[release]).await;

    assert_eq!(fact.verified_by, ["release"], "{fact:#?}");
    assert!(fact.rejections.is_empty(), "{fact:#?}");
    assert_eq!(fact.kind, Some(SignatureKind::CosignKeyless));
    assert_eq!(fact.attached_to.to_string(), s.digest);
    assert_eq!(fact.docker_reference.as_deref(), Some(&*s.repository()));
    assert!(fact.signed_at.is_some(), "the log time is the signing time");
    let identity = fact.identity.as_ref().unwrap();
    assert_eq!(identity.issuer.as_deref(), Some(ISSUER));
    assert_eq!(identity.subject.as_deref(), Some(SUBJECT));
    assert_eq!(
        identity.source_repository.as_deref(),
        Some(SOURCE_REPOSITORY)
    );
    assert_eq!(identity.source_ref.as_deref(), Some(SOURCE_REF));
    assert_eq!(identity.source_commit.as_deref(), Some(SOURCE_COMMIT));
    assert_eq!(identity.workflow.as_deref(), Some(SUBJECT));
    assert_eq!(identity.trigger.as_deref(), Some(TRIGGER));
    match &fact.location {
        Location::CosignTag {
            tag,
            manifest,
            layer,
        } => {
            assert_eq!(tag, &sig_tag(&s.digest));
            assert_eq!(manifest.to_string(), sig_manifest);
            assert_eq!(*layer, 0);
        }
        other => panic!("found at {other:?}, expected the cosign tag"),
    }
}

#[tokio::test]
async fn key_signature_without_log_is_verified_when_the_signer_allows_it() {
    let s = SignedImage::new();
    let key = TestKey::generate();
    s.attach(&[key.sign(&s.repository(), &s.digest)]);
    let fact = s.only_fact(&[key_signer("ci", &key, true)]).await;
    assert_eq!(fact.verified_by, ["ci"], "{fact:#?}");
    assert_eq!(fact.kind, Some(SignatureKind::CosignKey));
    assert!(fact.identity.is_none());
}

#[tokio::test]
async fn logged_key_signature_is_verified_with_the_log_of_the_signers_root() {
    let s = SignedImage::new();
    let key = TestKey::generate();
    s.attach(&[key.sign_logged(&s.sigstore, &s.repository(), &s.digest)]);
    let root = parse_trusted_root(&s.sigstore.trusted_root_json()).unwrap();
    let private_log = Arc::new(
        Signer::key_with_trusted_root(
            "ci",
            &key.public_pem(),
            TlogPolicy::Require,
            Some(Arc::new(root)),
        )
        .unwrap(),
    );
    let fact = s.only_fact(&[private_log]).await;
    assert_eq!(fact.verified_by, ["ci"], "{fact:#?}");
    assert!(fact.signed_at.is_some(), "the SET time is the signing time");
}

#[tokio::test]
async fn denies_key_signature_logged_in_a_log_the_signer_does_not_trust() {
    let s = SignedImage::new();
    let key = TestKey::generate();
    s.attach(&[key.sign_logged(&s.sigstore, &s.repository(), &s.digest)]);
    // `Signer::key` checks log proofs against the public-good root, which does not hold our
    // test Rekor's key.
    let fact = s.only_fact(&[key_signer("ci", &key, false)]).await;
    assert_rejected(&fact, "ci", "inclusion promise");
}

#[tokio::test]
async fn each_signer_judges_each_layer_of_the_signature_manifest() {
    let s = SignedImage::new();
    let key = TestKey::generate();
    s.attach(&[
        s.keyless(|k| k.subject(EVIL_SUBJECT).github(evil_claims())),
        key.sign(&s.repository(), &s.digest),
        s.keyless(|k| k),
    ]);
    let signers = [
        key_signer("ci", &key, true),
        s.keyless_signer("release", exact(SUBJECT)),
    ];
    let facts = s.facts(&signers).await;
    let verdicts: Vec<(usize, Vec<String>)> = facts
        .iter()
        .map(|f| match &f.location {
            Location::CosignTag { layer, .. } => (*layer, f.verified_by.clone()),
            other => panic!("found at {other:?}"),
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            (0, vec![]),
            (1, vec!["ci".to_owned()]),
            (2, vec!["release".to_owned()])
        ],
        "{facts:#?}"
    );
    assert_rejected(&facts[0], "release", "does not match");
    assert_rejected(&facts[0], "ci", "signer `ci` is a key");
}

// ------------------------------------------------------------------ library: negative cases

#[tokio::test]
async fn unsigned_image_has_no_signature_facts() {
    let s = SignedImage::new();
    let release = s.keyless_signer("release", exact(SUBJECT));
    assert!(s.facts(&[release]).await.is_empty());
}

#[tokio::test]
async fn denies_signature_by_another_key() {
    let s = SignedImage::new();
    let other = TestKey::generate();
    s.attach(&[other.sign(&s.repository(), &s.digest)]);
    let trusted = TestKey::generate();
    let fact = s.only_fact(&[key_signer("ci", &trusted, true)]).await;
    assert_rejected(&fact, "ci", "does not verify");
}

#[tokio::test]
async fn denies_key_signature_without_log_when_the_signer_requires_one() {
    let s = SignedImage::new();
    let key = TestKey::generate();
    s.attach(&[key.sign(&s.repository(), &s.digest)]);
    let fact = s.only_fact(&[key_signer("ci", &key, false)]).await;
    assert_rejected(&fact, "ci", "no transparency log proof");
}

#[tokio::test]
async fn denies_genuine_signature_copied_from_another_image() {
    let s = SignedImage::new();
    let other = s.push_other_image();
    // A genuine signature of the other image, attached to this one.
    let copied = s.sigstore.keyless(&s.repository(), &other).sign();
    s.attach(&[copied]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    let short_other = &other[..19];
    assert_rejected(&fact, "*", &format!("signs `{short_other}"));
}

#[tokio::test]
async fn denies_payload_edited_after_signing() {
    let s = SignedImage::new();
    let other = s.push_other_image();
    // Signed for the other image, then edited to name this one: the payload check passes,
    // the signature must not.
    let edited = s
        .sigstore
        .keyless(&s.repository(), &other)
        .sign()
        .with_payload_digest(&s.digest);
    s.attach(&[edited]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "invalid signature");
    assert!(
        !fact.rejections.iter().any(|r| r.signer == "*"),
        "the payload itself names this image: only the signature is wrong: {fact:#?}"
    );
}

#[tokio::test]
async fn denies_key_signature_with_edited_payload() {
    let s = SignedImage::new();
    let other = s.push_other_image();
    let key = TestKey::generate();
    let edited = key
        .sign(&s.repository(), &other)
        .with_payload_digest(&s.digest);
    s.attach(&[edited]);
    let fact = s.only_fact(&[key_signer("ci", &key, true)]).await;
    assert_rejected(&fact, "ci", "does not verify");
}

#[tokio::test]
async fn denies_keyless_signature_with_the_wrong_identity() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| {
        k.subject("https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main")
    })]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(
        &fact,
        "release",
        "identity `https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main` does not match",
    );
    assert_eq!(
        fact.identity.as_ref().and_then(|i| i.subject.as_deref()),
        Some("https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"),
        "the identity is reported even when it is rejected"
    );
}

#[tokio::test]
async fn denies_keyless_signature_from_another_issuer() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.issuer("https://issuer.evil.test"))]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "issuer `https://issuer.evil.test`");
}

/// Issue 15's adversarial suite: issuers are compared exactly. A certificate whose issuer is
/// the configured one with a trailing `/`, in other case or with a trailing space is not from
/// the configured issuer, and a signer configured so does not accept the genuine issuer.
#[tokio::test]
async fn denies_keyless_issuer_spelled_with_a_trailing_slash_or_in_other_case() {
    for issuer in [
        format!("{ISSUER}/"),
        ISSUER.to_uppercase(),
        format!("{ISSUER} "),
    ] {
        let s = SignedImage::new();
        s.attach(&[s.keyless(|k| k.issuer(&issuer))]);
        let fact = s
            .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
            .await;
        assert_rejected(&fact, "release", &format!("issuer `{issuer}`"));
    }
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k)]);
    let root = parse_trusted_root(&s.sigstore.trusted_root_json()).unwrap();
    let slash = Arc::new(
        Signer::keyless(
            "slash",
            format!("{ISSUER}/"),
            exact(SUBJECT),
            Some(Arc::new(root)),
        )
        .unwrap(),
    );
    let fact = s.only_fact(&[slash]).await;
    assert_rejected(&fact, "slash", &format!("issuer `{ISSUER}`"));
}

#[tokio::test]
async fn denies_keyless_certificate_from_a_ca_outside_the_trusted_root() {
    let s = SignedImage::new();
    // Same names as the genuine root; its chain rides along in the chain annotation, which
    // must never be a source of trust.
    let rogue = Ca::root("supplygate-test-root").intermediate("supplygate-test-intermediate");
    s.attach(&[s.keyless(|k| k.issued_by(&rogue))]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "certificate chain");
}

#[tokio::test]
async fn denies_expired_certificate_without_log_time() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.cert_window(-7200, 600).not_logged())]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "no transparency log proof");
}

#[tokio::test]
async fn denies_certificate_that_expired_before_the_log_time() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.cert_window(-7200, 600).logged_at(-60))]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "CertExpired");
}

#[tokio::test]
async fn denies_keyless_signature_logged_in_an_untrusted_log() {
    let s = SignedImage::new();
    let other_log = TestSigstore::new();
    let mut layer = s.keyless(|k| k);
    let genuine: serde_json::Value =
        serde_json::from_str(layer.rekor_bundle.as_ref().unwrap()).unwrap();
    let body = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(genuine["Payload"]["body"].as_str().unwrap())
            .unwrap()
    };
    layer.rekor_bundle = Some(other_log.rekor.rekor_bundle(&body, pki::now() - 30, 7));
    s.attach(&[layer]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "inclusion promise");
}

#[tokio::test]
async fn private_sigstore_without_ct_log_needs_the_explicit_insecure_skip_sct() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.without_sct())]);
    let root =
        Arc::new(parse_trusted_root(&s.sigstore.trusted_root_json_without_ctlogs()).unwrap());
    let strict = Arc::new(
        Signer::keyless(
            "strict",
            ISSUER.to_owned(),
            exact(SUBJECT),
            Some(root.clone()),
        )
        .unwrap(),
    );
    let lenient = Arc::new(
        Signer::keyless("lenient", ISSUER.to_owned(), exact(SUBJECT), Some(root))
            .unwrap()
            .insecure_skip_sct(),
    );
    let fact = s.only_fact(&[strict, lenient]).await;
    assert_eq!(fact.verified_by, ["lenient"], "{fact:#?}");
    let strict = fact
        .rejections
        .iter()
        .find(|r| r.signer == "strict")
        .unwrap();
    assert!(
        matches!(&strict.reason, Reason::Verifier { raw, .. } if raw.contains("SCT") || raw.contains("CT log")),
        "{strict:?}"
    );
}

#[tokio::test]
async fn subject_regex_is_anchored_so_a_prefix_does_not_match_a_longer_repository() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.subject(EVIL_SUBJECT).github(evil_claims()))]);
    let prefix = s.keyless_signer(
        "prefix",
        SubjectMatcher::regex("https://github.com/acme/app").unwrap(),
    );
    let repo_only = s.keyless_signer(
        "repo",
        SubjectMatcher::regex("https://github.com/acme/app/.*").unwrap(),
    );
    let fact = s.only_fact(&[prefix, repo_only]).await;
    assert_rejected(&fact, "prefix", "does not match");
    assert_rejected(&fact, "repo", "does not match");
}

#[tokio::test]
async fn subject_regex_accepts_the_genuine_workflow() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k)]);
    let repo_only = s.keyless_signer(
        "release",
        SubjectMatcher::regex("https://github.com/acme/app/.*").unwrap(),
    );
    let fact = s.only_fact(&[repo_only]).await;
    assert_eq!(fact.verified_by, ["release"], "{fact:#?}");
}

#[tokio::test]
async fn denies_random_signature_bytes_with_genuine_certificate_and_log_entry() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.random_signature())]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "invalid signature");
}

#[tokio::test]
async fn denies_signature_for_another_repository() {
    let s = SignedImage::new();
    let elsewhere = s.registry.image("team/other");
    s.attach(&[s.sigstore.keyless(&elsewhere, &s.digest).sign()]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "*", "signed for");
}

// ------------------------------------------------------------------ library: cosign v3 bundles

#[tokio::test]
async fn genuine_cosign_v3_bundle_attached_as_referrer_is_verified() {
    let s = SignedImage::new();
    let bundle = s.sigstore.keyless(&s.repository(), &s.digest).sign_bundle();
    let referrers = s.attach_bundles(&[bundle]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_eq!(fact.verified_by, ["release"], "{fact:#?}");
    assert_eq!(fact.kind, Some(SignatureKind::Bundle));
    assert_eq!(
        fact.identity
            .as_ref()
            .and_then(|i| i.source_commit.as_deref()),
        Some(SOURCE_COMMIT)
    );
    match &fact.location {
        Location::ReferrersTag {
            tag,
            manifest,
            artifact_type,
        } => {
            assert_eq!(tag, &s.digest.replacen(':', "-", 1));
            assert_eq!(manifest.to_string(), referrers[0]);
            assert_eq!(artifact_type, BUNDLE_V03);
        }
        Location::Referrers {
            manifest,
            artifact_type,
        } => {
            assert_eq!(manifest.to_string(), referrers[0]);
            assert_eq!(artifact_type, BUNDLE_V03);
        }
        other => panic!("found at {other:?}, expected a referrer"),
    }
}

#[tokio::test]
async fn legacy_sig_and_cosign_v3_referrer_on_one_image_are_both_found_and_judged() {
    // An image signed by cosign 2 (`.sig` tag) and again by cosign 3 (bundle referrer, tag
    // schema on docker-registry): `sha256-<hex>.sig` and `sha256-<hex>` live side by side.
    let s = SignedImage::new();
    let sig = s.attach(&[s.keyless(|k| k)]);
    let bundle = s.sigstore.keyless(&s.repository(), &s.digest).sign_bundle();
    let referrers = s.attach_bundles(&[bundle]);
    let facts = s
        .facts(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_eq!(facts.len(), 2, "{facts:#?}");
    let mut seen = Vec::new();
    for fact in &facts {
        assert_eq!(fact.verified_by, ["release"], "{fact:#?}");
        match &fact.location {
            Location::CosignTag { tag, manifest, .. } => {
                assert_eq!(tag, &sig_tag(&s.digest));
                assert_eq!(manifest.to_string(), sig);
                assert_eq!(fact.kind, Some(SignatureKind::CosignKeyless));
                seen.push("sig");
            }
            Location::ReferrersTag { tag, manifest, .. } => {
                assert_eq!(tag, &s.digest.replacen(':', "-", 1));
                assert_eq!(manifest.to_string(), referrers[0]);
                assert_eq!(fact.kind, Some(SignatureKind::Bundle));
                seen.push("referrer");
            }
            other => panic!("found at {other:?}"),
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, ["referrer", "sig"]);

    // A signer whose identity neither has: both are found, both rejected for that reason.
    let facts = s
        .facts(&[s.keyless_signer("evil", exact(EVIL_SUBJECT))])
        .await;
    assert_eq!(facts.len(), 2, "{facts:#?}");
    for fact in &facts {
        assert_rejected(
            fact,
            "evil",
            &format!("identity `{SUBJECT}` does not match `{EVIL_SUBJECT}`"),
        );
    }
}

#[tokio::test]
async fn repo_constraint_rejects_a_workflow_of_another_repository_that_the_regex_lets_through() {
    // `subject_regex` trusting every workflow of the org lets `acme/app-evil` through; the
    // certificate's Source Repository URI (1.3.6.1.4.1.57264.1.12) does not.
    let s = SignedImage::new();
    s.attach(&[
        s.keyless(|k| k.subject(EVIL_SUBJECT).github(evil_claims())),
        s.keyless(|k| k),
    ]);
    let org =
        SubjectMatcher::regex(r"https://github\.com/acme/[^/]+/\.github/workflows/.*").unwrap();
    let signer = |constraints: CertificateConstraints| {
        let root = parse_trusted_root(&s.sigstore.trusted_root_json()).unwrap();
        Arc::new(
            Signer::keyless("org", ISSUER.to_owned(), org.clone(), Some(Arc::new(root)))
                .unwrap()
                .with_constraints(constraints),
        )
    };
    let facts = s.facts(&[signer(CertificateConstraints::default())]).await;
    assert!(facts.iter().all(|f| f.verified_by == ["org"]), "{facts:#?}");

    let pinned = CertificateConstraints {
        source_repository: Some(CertificateConstraints::repository("acme/app").unwrap()),
        ..CertificateConstraints::default()
    };
    let facts = s.facts(&[signer(pinned)]).await;
    let (good, evil): (Vec<_>, Vec<_>) = facts
        .iter()
        .partition(|f| f.identity.as_ref().and_then(|i| i.subject.as_deref()) == Some(SUBJECT));
    assert_eq!((good.len(), evil.len()), (1, 1), "{facts:#?}");
    assert_eq!(good[0].verified_by, ["org"]);
    assert_rejected(
        evil[0],
        "org",
        "source repository `https://github.com/acme/app-evil` (1.3.6.1.4.1.57264.1.12) is not `https://github.com/acme/app`",
    );
}

#[tokio::test]
async fn denies_cosign_v3_bundle_for_another_image() {
    let s = SignedImage::new();
    let other = s.push_other_image();
    let bundle = s.sigstore.keyless(&s.repository(), &other).sign_bundle();
    s.attach_bundles(&[bundle]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "*", &format!("signs `{}", &other[..19]));
}

#[tokio::test]
async fn denies_attestation_bundle_presented_as_a_signature() {
    let s = SignedImage::new();
    // The referrer's annotations claim a signature; the statement inside is provenance.
    let bundle = s
        .sigstore
        .keyless(&s.repository(), &s.digest)
        .predicate_type("https://slsa.dev/provenance/v1")
        .sign_bundle();
    s.attach_bundles(&[bundle]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "*", "not a signature");
}

#[tokio::test]
async fn denies_cosign_v3_bundle_with_random_signature_bytes() {
    let s = SignedImage::new();
    let bundle = s
        .sigstore
        .keyless(&s.repository(), &s.digest)
        .random_signature()
        .sign_bundle();
    s.attach_bundles(&[bundle]);
    let fact = s
        .only_fact(&[s.keyless_signer("release", exact(SUBJECT))])
        .await;
    assert_rejected(&fact, "release", "invalid signature");
}

// ------------------------------------------------------------------ the binary

/// A [`Case`] checking one Deployment of `image`, with a config that reaches `registry` over
/// HTTP, trusts `sigstore`'s root for signer `release` with `subject`, and requires that
/// signer for the repository.
fn cli_case(registry: &TestRegistry, sigstore: &TestSigstore, image: &str, subject: &str) -> Case {
    let config = format!(
        "registries:\n  \"{host}\":\n    insecure: true\n\
         network:\n  request_timeout: 5s\n  retries: 1\n\
         signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{subject}\"\n      trusted_root: root.json\n\
         require:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [release]\n",
        host = registry.host()
    );
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    );
    let case = Case::new()
        .file("supplygate.yaml", &config)
        .file("manifests/app.yaml", &manifest);
    sigstore.write_trusted_root(&case.path("root.json"));
    case
}

/// `check --config supplygate.yaml manifests --format json` in `case`.
fn cli_check(case: &Case) -> Outcome {
    case.run(&[
        "check",
        "--config",
        "supplygate.yaml",
        "manifests",
        "--format",
        "json",
    ])
}

#[test]
fn cli_allows_an_image_signed_by_the_required_identity() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k)]);
    let case = cli_case(
        &s.registry,
        &s.sigstore,
        &s.registry.image(&format!("{REPO}:v1")),
        SUBJECT,
    );
    let out = cli_check(&case);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    let facts = &json["images"][0]["signatures"]["facts"];
    assert_eq!(
        facts[0]["verified_by"],
        serde_json::json!(["release"]),
        "{out:?}"
    );
    assert_eq!(facts[0]["identity"]["source_repository"], SOURCE_REPOSITORY);
}

#[test]
fn cli_denies_an_unsigned_image() {
    let s = SignedImage::new();
    let case = cli_case(
        &s.registry,
        &s.sigstore,
        &s.registry.image(&format!("{REPO}:v1")),
        SUBJECT,
    );
    let out = cli_check(&case);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.all_codes(), ["unsigned-image"], "{out:?}");
}

#[test]
fn cli_denies_a_signature_by_the_wrong_identity_and_names_it() {
    let s = SignedImage::new();
    s.attach(&[s.keyless(|k| k.subject(EVIL_SUBJECT).github(evil_claims()))]);
    let case = cli_case(
        &s.registry,
        &s.sigstore,
        &s.registry.image(&format!("{REPO}:v1")),
        SUBJECT,
    );
    let out = cli_check(&case);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.all_codes(), ["signature-not-trusted"], "{out:?}");
    assert!(out.stdout.contains(EVIL_SUBJECT), "{out:?}");
    let json = out.json();
    let fact = &json["images"][0]["signatures"]["facts"][0];
    assert_eq!(fact["verified_by"], serde_json::json!([]), "{out:?}");
    assert!(
        fact["rejections"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match"),
        "{out:?}"
    );
}
