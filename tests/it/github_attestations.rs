//! GitHub artifact attestations (`actions/attest-build-provenance`, `gh attestation`): the real
//! bundles GitHub's CLI ships as test data (`cli/cli` `pkg/cmd/attestation/test/data/`,
//! vendored under `fixtures/external/cli/cli/`), verified offline through supplygate's own
//! verification path against the `trusted_root.json` shipped beside them, with the identity
//! facts of the Fulcio certificate and of the SLSA provenance asserted; the identity
//! constraints `gh attestation verify` offers (`--repo`, `--owner`, `--signer-workflow`,
//! `--source-ref`, `--deny-self-hosted-runners`) set through `supplygate.yaml`; and tampered
//! copies of the bundles (edited in the test) rejected with a specific reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use supplygate::config::{Config, ConfigError};
use supplygate::provenance::{
    verify_attestation, AttestationCandidate, AttestationFact, AttestationKind, AttestationMaterial,
};
use supplygate::reference::Digest;
use supplygate::verify::signers::load_trusted_root;
use supplygate::verify::{
    verify_bundle_for_artifact, CertificateConstraints, Identity, Location, Reason, SignatureKind,
    Signer, Subject, SubjectMatcher,
};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/external/cli/cli/pkg/cmd/attestation/test/data"
);
const DATA_REL: &str = "fixtures/external/cli/cli/pkg/cmd/attestation/test/data";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_HOSTED_BUILDER: &str = "https://github.com/actions/runner/github-hosted";
/// The build type of `actions/attest-build-provenance` since 2024.
const ACTIONS_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";
/// Its earlier name, in the 2023 and early-2024 bundles.
const SLSA_GHA_BUILD_TYPE: &str =
    "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";

/// `sigstore-js-2.1.0.tgz` (not copied: an npm package), sha512 of the upstream file.
const SIGSTORE_JS_TGZ: &str = "sha512:90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4e82b9232c78e8a258463b1e55c0f7469f730265008fa6633f";
const SIGSTORE_JS_WORKFLOW: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
/// `reusable-workflow-artifact` (not copied: a wheel), sha256 of the upstream file.
const REUSABLE_ARTIFACT: &str =
    "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25";
const REUSABLE_SIGNER: &str = "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d";
const REUSABLE_CALLER: &str =
    "https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main";
const CUSTOM_ISSUER: &str = "https://token.actions.githubusercontent.com/hammer-time";
const CUSTOM_WORKFLOW: &str =
    "https://github.com/too-legit/attest/.github/workflows/integration.yml@refs/heads/main";

fn data(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn signer(issuer: &str, subject: &str, constraints: CertificateConstraints) -> Arc<Signer> {
    let root = load_trusted_root(&data("trusted_root.json")).unwrap();
    Arc::new(
        Signer::keyless(
            "gh",
            issuer.into(),
            SubjectMatcher::Exact(subject.into()),
            Some(root),
        )
        .unwrap()
        .with_constraints(constraints),
    )
}

fn candidate(json: Vec<u8>, subject: &Digest) -> AttestationCandidate {
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

fn verify(json: Vec<u8>, subject: &str, signers: &[Arc<Signer>]) -> AttestationFact {
    let subject = digest(subject);
    verify_attestation(
        &candidate(json, &subject),
        "ghcr.io/acme/app",
        &subject,
        &[],
        signers,
    )
}

fn reasons(fact: &AttestationFact) -> Vec<String> {
    fact.rejections
        .iter()
        .map(|r| r.reason.to_string())
        .collect()
}

/// The one rejection of the one signer.
fn rejection(fact: &AttestationFact) -> String {
    assert!(!fact.counts(), "accepted: {fact:?}");
    assert_eq!(fact.rejections.len(), 1, "{:?}", reasons(fact));
    fact.rejections[0].reason.to_string()
}

/// The JSON lines of a `.jsonl` file (what `gh attestation download` writes).
fn lines(name: &str) -> Vec<Vec<u8>> {
    read(name)
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(<[u8]>::to_vec)
        .collect()
}

fn identity(fact: &AttestationFact) -> &Identity {
    fact.identity.as_ref().expect("a keyless identity")
}

// ---------------------------------------------------------------------------------------
// accepted, with the identity facts

#[test]
fn sigstore_js_release_bundles_verify_in_every_packaging() {
    let s = signer(
        GITHUB_ISSUER,
        SIGSTORE_JS_WORKFLOW,
        CertificateConstraints::default(),
    );
    let mut bundles = vec![
        ("v0.1", read("sigstore-js-2.1.0-bundle-v0.1.json")),
        ("v0.3", read("sigstore-js-2.1.0-bundle.json")),
    ];
    for (i, line) in lines("sigstore-js-2.1.0_with_2_bundles.jsonl")
        .into_iter()
        .enumerate()
    {
        bundles.push((if i == 0 { "jsonl #0" } else { "jsonl #1" }, line));
    }
    assert_eq!(bundles.len(), 4);
    for (what, json) in bundles {
        let fact = verify(json, SIGSTORE_JS_TGZ, std::slice::from_ref(&s));
        assert!(fact.counts(), "{what}: {:?}", reasons(&fact));
        assert_eq!(fact.signature_kind, Some(SignatureKind::Bundle), "{what}");
        assert_eq!(fact.kind, Some(AttestationKind::SlsaProvenanceV1), "{what}");
        assert_eq!(fact.subject_names, vec!["pkg:npm/sigstore@2.1.0"], "{what}");
        let id = identity(&fact);
        assert_eq!(id.issuer.as_deref(), Some(GITHUB_ISSUER));
        assert_eq!(id.subject.as_deref(), Some(SIGSTORE_JS_WORKFLOW));
        assert_eq!(
            id.source_repository.as_deref(),
            Some("https://github.com/sigstore/sigstore-js")
        );
        assert_eq!(
            id.source_owner.as_deref(),
            Some("https://github.com/sigstore")
        );
        assert_eq!(id.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(
            id.source_commit.as_deref(),
            Some("26d16513386ffaa790b1c32f927544f1322e4194")
        );
        assert_eq!(id.workflow.as_deref(), Some(SIGSTORE_JS_WORKFLOW));
        assert_eq!(id.signer_workflow.as_deref(), Some(SIGSTORE_JS_WORKFLOW));
        assert_eq!(id.trigger.as_deref(), Some("push"));
        assert_eq!(id.runner_environment.as_deref(), Some("github-hosted"));
        let p = fact.verified_provenance().expect("verified provenance");
        assert_eq!(p.builder_id.as_deref(), Some(GITHUB_HOSTED_BUILDER));
        assert_eq!(p.build_type.as_deref(), Some(SLSA_GHA_BUILD_TYPE));
        assert_eq!(
            p.source_repository.as_deref(),
            Some("https://github.com/sigstore/sigstore-js")
        );
        assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(
            p.source_commit.as_deref(),
            Some("26d16513386ffaa790b1c32f927544f1322e4194")
        );
        assert_eq!(
            p.entry_point.as_deref(),
            Some(".github/workflows/release.yml")
        );
        let agreement = fact.certificate_agreement.as_ref().unwrap();
        assert!(agreement.no_disagreement(), "{what}: {agreement:?}");
        assert!(fact.signed_at.is_some(), "{what}");
    }
}

#[test]
fn reusable_workflow_attestation_names_the_called_workflow_as_signer() {
    // The certificate's SAN (and Build Signer URI) is the reusable workflow that signed; the
    // caller is the Build Config URI.
    let s = signer(
        GITHUB_ISSUER,
        REUSABLE_SIGNER,
        CertificateConstraints::default(),
    );
    let fact = verify(
        read("reusable-workflow-attestation.sigstore.json"),
        REUSABLE_ARTIFACT,
        &[s],
    );
    assert!(fact.counts(), "{:?}", reasons(&fact));
    let id = identity(&fact);
    assert_eq!(id.subject.as_deref(), Some(REUSABLE_SIGNER));
    assert_eq!(id.signer_workflow.as_deref(), Some(REUSABLE_SIGNER));
    assert_eq!(id.workflow.as_deref(), Some(REUSABLE_CALLER));
    assert_eq!(
        id.source_repository.as_deref(),
        Some("https://github.com/malancas/attest-demo")
    );
    assert_eq!(id.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        id.source_commit.as_deref(),
        Some("95baf27389e83e6a5c48f42e190d48d7abcea19e")
    );
    assert_eq!(id.trigger.as_deref(), Some("workflow_dispatch"));
    assert_eq!(id.runner_environment.as_deref(), Some("github-hosted"));
    let p = fact.verified_provenance().unwrap();
    assert_eq!(p.builder_id.as_deref(), Some(GITHUB_HOSTED_BUILDER));
    assert_eq!(p.build_type.as_deref(), Some(SLSA_GHA_BUILD_TYPE));
    assert_eq!(
        p.entry_point.as_deref(),
        Some(".github/workflows/shared.yml")
    );
    assert_eq!(
        fact.subject_names,
        vec!["github_provenance_demo-0.0.0-py3-none-any.whl"]
    );
}

#[test]
fn custom_issuer_attestation_verifies_with_its_own_issuer_only() {
    let artifact = read("custom-issuer-artifact");
    assert_eq!(artifact, b"hello-world");
    let subject = Digest::sha256_of(&artifact).to_string();
    let fact = verify(
        read("custom-issuer.sigstore.json"),
        &subject,
        &[signer(
            CUSTOM_ISSUER,
            CUSTOM_WORKFLOW,
            CertificateConstraints::default(),
        )],
    );
    assert!(fact.counts(), "{:?}", reasons(&fact));
    let id = identity(&fact);
    assert_eq!(id.issuer.as_deref(), Some(CUSTOM_ISSUER));
    assert_eq!(
        id.source_repository.as_deref(),
        Some("https://github.com/too-legit/attest")
    );
    assert_eq!(
        id.source_commit.as_deref(),
        Some("283bf967fa3c591925dd25e6a6e8e781542117bf")
    );
    assert_eq!(id.runner_environment.as_deref(), Some("github-hosted"));
    let p = fact.verified_provenance().unwrap();
    // The current build type; this producer put the workflow in `builder.id`.
    assert_eq!(p.build_type.as_deref(), Some(ACTIONS_BUILD_TYPE));
    assert_eq!(p.builder_id.as_deref(), Some(CUSTOM_WORKFLOW));

    // The same bundle over the artifact's bytes, the way `gh attestation verify FILE` does.
    let bytes = verify_bundle_for_artifact(
        &read("custom-issuer.sigstore.json"),
        Subject::Bytes(&artifact),
        &signer(
            CUSTOM_ISSUER,
            CUSTOM_WORKFLOW,
            CertificateConstraints::default(),
        ),
    )
    .unwrap();
    assert_eq!(
        bytes.identity.unwrap().subject.as_deref(),
        Some(CUSTOM_WORKFLOW)
    );

    // The enterprise's issuer is not github.com's: exact match, as gh's `--cert-oidc-issuer`.
    let fact = verify(
        read("custom-issuer.sigstore.json"),
        &subject,
        &[signer(
            GITHUB_ISSUER,
            CUSTOM_WORKFLOW,
            CertificateConstraints::default(),
        )],
    );
    assert_eq!(
        rejection(&fact),
        format!("issuer `{CUSTOM_ISSUER}` is not `{GITHUB_ISSUER}`")
    );
}

// ---------------------------------------------------------------------------------------
// identity constraints from supplygate.yaml

/// A config with one keyless signer `gh` whose `keyless:` section is `extra` on top of
/// issuer, subject and the vendored trusted root.
fn config(issuer: &str, subject: &str, extra: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "signers:\n  gh:\n    keyless:\n      issuer: {issuer}\n      subject: {subject}\n      trusted_root: {DATA_REL}/trusted_root.json\n{extra}require:\n  - images: [\"**\"]\n    signers: [gh]\n"
    );
    Config::parse(
        &text,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("supplygate.yaml"),
    )
}

fn configured(issuer: &str, subject: &str, extra: &str) -> Arc<Signer> {
    match config(issuer, subject, extra) {
        Ok(c) => c.signers["gh"].clone(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn gh_style_constraints_accept_the_matching_bundle() {
    let fact = verify(
        read("sigstore-js-2.1.0-bundle.json"),
        SIGSTORE_JS_TGZ,
        &[configured(
            GITHUB_ISSUER,
            SIGSTORE_JS_WORKFLOW,
            "      repo: sigstore/sigstore-js\n      owner: sigstore\n      signer_workflow: sigstore/sigstore-js/.github/workflows/release.yml\n      source_ref: refs/heads/main\n      deny_self_hosted_runners: true\n",
        )],
    );
    assert!(fact.counts(), "{:?}", reasons(&fact));

    // Repository and owner compare case-insensitively, as GitHub names (and gh) do; the
    // workflow may pin the ref too.
    let fact = verify(
        read("reusable-workflow-attestation.sigstore.json"),
        REUSABLE_ARTIFACT,
        &[configured(
            GITHUB_ISSUER,
            REUSABLE_SIGNER,
            "      repo: Malancas/Attest-Demo\n      owner: https://github.com/MALANCAS\n      signer_workflow: github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d\n",
        )],
    );
    assert!(fact.counts(), "{:?}", reasons(&fact));
}

#[test]
fn each_gh_style_constraint_rejects_a_mismatch_naming_expected_and_found() {
    let js = |extra: &str| {
        rejection(&verify(
            read("sigstore-js-2.1.0-bundle.json"),
            SIGSTORE_JS_TGZ,
            &[configured(GITHUB_ISSUER, SIGSTORE_JS_WORKFLOW, extra)],
        ))
    };
    // No prefix tricks, either way round.
    assert_eq!(
        js("      repo: sigstore/sigstore-j\n"),
        "source repository `https://github.com/sigstore/sigstore-js` (1.3.6.1.4.1.57264.1.12) is not `https://github.com/sigstore/sigstore-j`"
    );
    assert_eq!(
        js("      repo: sigstore/sigstore-js-evil\n"),
        "source repository `https://github.com/sigstore/sigstore-js` (1.3.6.1.4.1.57264.1.12) is not `https://github.com/sigstore/sigstore-js-evil`"
    );
    assert_eq!(
        js("      repo: https://acme.ghe.com/sigstore/sigstore-js\n"),
        "source repository `https://github.com/sigstore/sigstore-js` (1.3.6.1.4.1.57264.1.12) is not `https://acme.ghe.com/sigstore/sigstore-js`"
    );
    assert_eq!(
        js("      owner: sigstor\n"),
        "source repository owner `https://github.com/sigstore` (1.3.6.1.4.1.57264.1.16) is not `https://github.com/sigstor`"
    );
    assert_eq!(
        js("      source_ref: refs/heads/mai\n"),
        "source ref `refs/heads/main` (1.3.6.1.4.1.57264.1.14) is not `refs/heads/mai`"
    );
    assert_eq!(
        js("      signer_workflow: sigstore/sigstore-js/.github/workflows/release.yml@refs/tags/v2.1.0\n"),
        format!("signer workflow `{SIGSTORE_JS_WORKFLOW}` (1.3.6.1.4.1.57264.1.9) is not `https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/tags/v2.1.0`")
    );

    // For a reusable workflow the signer is the called workflow: naming the caller fails.
    let reusable = |extra: &str| {
        rejection(&verify(
            read("reusable-workflow-attestation.sigstore.json"),
            REUSABLE_ARTIFACT,
            &[configured(GITHUB_ISSUER, REUSABLE_SIGNER, extra)],
        ))
    };
    assert_eq!(
        reusable("      signer_workflow: malancas/attest-demo/.github/workflows/shared.yml\n"),
        format!("signer workflow `{REUSABLE_SIGNER}` (1.3.6.1.4.1.57264.1.9) is not `https://github.com/malancas/attest-demo/.github/workflows/shared.yml`")
    );
    // … and the reusable workflow's repository is not the source repository.
    assert_eq!(
        reusable("      repo: github/artifact-attestations-workflows\n"),
        "source repository `https://github.com/malancas/attest-demo` (1.3.6.1.4.1.57264.1.12) is not `https://github.com/github/artifact-attestations-workflows`"
    );
}

#[test]
fn malformed_constraints_are_config_errors_with_their_line() {
    let problems = |extra: &str| match config(GITHUB_ISSUER, SIGSTORE_JS_WORKFLOW, extra) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(ConfigError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect::<Vec<_>>(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        problems("      repo: sigstore\n"),
        vec![(
            7,
            "`repo`: `sigstore` is not `owner/name` or `https://host/owner/name`".to_owned()
        )]
    );
    assert_eq!(
        problems("      owner: sigstore/sigstore-js\n"),
        vec![(
            7,
            "`owner`: `sigstore/sigstore-js` is not an owner name or `https://host/owner`"
                .to_owned()
        )]
    );
    assert_eq!(
        problems("      source_ref: main\n")[0].1,
        "`source_ref`: `main` is not a full ref such as `refs/heads/main` or `refs/tags/v1.2.3`"
    );
    assert!(problems("      signer_workflow: release.yml\n")[0]
        .1
        .starts_with("`signer_workflow`: `release.yml` is not `owner/repo/.github/workflows/"));
    assert_eq!(
        problems("      deny_self_hosted_runners: yes please\n")[0].0,
        7
    );
    let unknown = problems("      signer_repo: sigstore/sigstore-js\n");
    assert_eq!(unknown[0].0, 7);
    assert!(unknown[0].1.contains("signer_repo"), "{unknown:?}");
}

// ---------------------------------------------------------------------------------------
// rejected

fn mutate(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&read(name)).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn js_signer() -> Vec<Arc<Signer>> {
    vec![signer(
        GITHUB_ISSUER,
        SIGSTORE_JS_WORKFLOW,
        CertificateConstraints::default(),
    )]
}

#[test]
fn an_edited_provenance_payload_is_rejected() {
    // Claim the self-hosted runner as builder: the DSSE signature no longer verifies.
    let json = mutate("sigstore-js-2.1.0-bundle.json", |v| {
        let payload = v["dsseEnvelope"]["payload"].as_str().unwrap();
        let text = String::from_utf8(b64().decode(payload).unwrap()).unwrap();
        let edited = text.replace(
            GITHUB_HOSTED_BUILDER,
            "https://github.com/actions/runner/self-hosted",
        );
        assert_ne!(text, edited);
        v["dsseEnvelope"]["payload"] = b64().encode(edited).into();
    });
    let fact = verify(json, SIGSTORE_JS_TGZ, &js_signer());
    assert_eq!(
        rejection(&fact),
        "invalid signature: DSSE signature verification failed: Verification error: ECDSA_P256_SHA256 signature invalid"
    );
    assert!(fact.verified_provenance().is_none());
}

#[test]
fn another_artifact_is_not_attested() {
    let other = format!("sha512:{}", "ab".repeat(64));
    let fact = verify(read("sigstore-js-2.1.0-bundle.json"), &other, &js_signer());
    assert_eq!(
        rejection(&fact),
        "the statement is about `sha512:90f223f992e4…`, not this image's `sha512:abababababab…`"
    );
}

#[test]
fn a_certificate_from_another_ca_is_rejected() {
    // The reusable-workflow bundle's certificate in the sigstore-js bundle: a certificate
    // chained to the root, but not the key that signed the envelope.
    let other_cert = {
        let v: Value =
            serde_json::from_slice(&read("reusable-workflow-attestation.sigstore.json")).unwrap();
        v["verificationMaterial"]["certificate"]["rawBytes"].clone()
    };
    let json = mutate("sigstore-js-2.1.0-bundle.json", |v| {
        v["verificationMaterial"]["certificate"]["rawBytes"] = other_cert;
    });
    let fact = verify(
        json,
        SIGSTORE_JS_TGZ,
        &[signer(
            GITHUB_ISSUER,
            REUSABLE_SIGNER,
            CertificateConstraints::default(),
        )],
    );
    // Its validity (May 2024) does not cover the log's time (August 2023).
    let reason = rejection(&fact);
    assert!(
        reason
            .starts_with("the certificate was not valid at the time the log or a timestamp proves"),
        "{reason}"
    );

    // One flipped byte inside the certificate's signature: not issued by the root's CA.
    let json = mutate("sigstore-js-2.1.0-bundle.json", |v| {
        let raw = v["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap();
        let mut der = b64().decode(raw).unwrap();
        let last = der.len() - 2;
        der[last] ^= 0x01;
        v["verificationMaterial"]["certificate"]["rawBytes"] = b64().encode(der).into();
    });
    let reason = rejection(&verify(json, SIGSTORE_JS_TGZ, &js_signer()));
    assert!(
        reason.starts_with("the certificate was not issued by a CA of the trusted root"),
        "{reason}"
    );
}

#[test]
fn an_edited_log_entry_is_rejected() {
    // Move the integrated time: the Rekor SET no longer verifies.
    let json = mutate("reusable-workflow-attestation.sigstore.json", |v| {
        let entry = &mut v["verificationMaterial"]["tlogEntries"][0];
        let t: i64 = entry["integratedTime"].as_str().unwrap().parse().unwrap();
        entry["integratedTime"] = (t + 60).to_string().into();
    });
    let fact = verify(
        json,
        REUSABLE_ARTIFACT,
        &[signer(
            GITHUB_ISSUER,
            REUSABLE_SIGNER,
            CertificateConstraints::default(),
        )],
    );
    assert_eq!(
        rejection(&fact),
        "invalid inclusion promise: SET verification failed: Verification error: ECDSA_P256_SHA256 signature invalid"
    );
}

#[test]
fn upstream_negative_bundles_are_rejected() {
    // gh's own invalid-signature bundle (an email identity; a DSSE envelope over plain text,
    // which is refused before its signature is even looked at).
    let s = signer(
        "https://github.com/login/oauth",
        "brian@dehamer.com",
        CertificateConstraints::default(),
    );
    let json = read("sigstoreBundle-invalid-signature.json");
    let reason = verify_bundle_for_artifact(&json, Subject::Bytes(b"hello, world!"), &s)
        .unwrap_err()
        .reason;
    assert_eq!(
        reason,
        Reason::Verifier {
            plain: None,
            raw: "unsupported bundle: unsupported DSSE payload type \"text/plain\": cannot bind artifact to attestation".into()
        }
    );

    // Bundles without a certificate, without verification material.
    for name in [
        "github_provenance_demo-0.0.12-py3-none-any-bundle-missing-cert.jsonl",
        "github_provenance_demo-0.0.12-py3-none-any-bundle-missing-verification-material.jsonl",
    ] {
        let fact = verify(
            lines(name).remove(0),
            "sha256:ae57936def59bc4c75edd3a837d89bcefc6d3a5e31d55a6fa7a71624f92c3c3b",
            &js_signer(),
        );
        let reason = rejection(&fact);
        assert!(
            reason.starts_with("not a sigstore bundle"),
            "{name}: {reason}"
        );
    }
}

#[test]
fn a_github_instance_attestation_needs_githubs_trusted_root() {
    // A private-repository attestation from GitHub's own Sigstore instance (Fulcio
    // "GitHub, Inc.", an RFC 3161 timestamp, no Rekor entry). Timestamp-only bundles are
    // accepted only by a signer with `allow_timestamp_only: true`; with it, the timestamp
    // must still come from a TSA of the trusted root, and cli/cli's trusted_root.json at the
    // vendored commit lists the public-good instance only (no TSA), so it cannot verify.
    let bundle = lines("github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl").remove(0);
    let digest = "sha256:ae57936def59bc4c75edd3a837d89bcefc6d3a5e31d55a6fa7a71624f92c3c3b";
    let identity =
        "https://github.com/actions/attest-demo/.github/workflows/build-python.yml@refs/heads/main";
    let strict = signer(GITHUB_ISSUER, identity, CertificateConstraints::default());
    let fact = verify(bundle.clone(), digest, std::slice::from_ref(&strict));
    assert_eq!(
        rejection(&fact),
        "the bundle has no transparency log entry, only 1 RFC 3161 timestamp; a keyless \
         signer accepts that only with `allow_timestamp_only: true`"
    );
    let allowing = std::sync::Arc::new((*strict).clone().allow_timestamp_only());
    let fact = verify(bundle, digest, &[allowing]);
    let reason = rejection(&fact);
    assert!(
        reason.starts_with(
            "the RFC 3161 timestamp was not accepted: the trusted root lists no timestamp \
             authority valid now"
        ),
        "{reason}"
    );
    assert!(reason.contains("O=GitHub\\, Inc."), "{reason}");
}
