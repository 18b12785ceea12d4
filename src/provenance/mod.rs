//! Stage (4), attestations and provenance: verifies an attached in-toto attestation (a
//! cosign `.att` DSSE layer, or a Sigstore bundle holding a DSSE envelope) against the
//! trusted signers, checks that its statement is about this image, and turns its predicate
//! into one [`AttestationFact`] — SLSA provenance (v1, v0.2) normalised into [`Provenance`],
//! anything else kept as JSON.
//!
//! Like signatures, a denial is data: every problem is a [`Rejection`] in the fact, and an
//! attestation counts only when `verified_by` is not empty ([`AttestationFact::counts`]).
//! [`linkage`] holds the pure source checks (claimed commit, expected repository, trusted
//! builders, certificate vs provenance), [`git`] the reachability of a commit in a local clone.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::reference::{Digest, DigestAlgorithm, ImageRef};
use crate::registry::Platform;
use crate::verify::discover::{
    CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, PREDICATE_TYPE_ANNOTATION, REKOR_BUNDLE_ANNOTATION,
};
use crate::verify::signature::{
    bundle_dsse, certificate_identity, verify_bundle_for_artifact, verify_cosign_dsse,
    verify_dsse_with_key, Subject, Verified, ANY_SIGNER,
};
use crate::verify::{Candidate, Identity, Location, Material, Rejection, SignatureKind, Signer};

pub mod git;
pub mod linkage;
pub mod slsa;
pub mod statement;

pub use git::{commit_reachable, GitError, Reachability, RefPattern};
pub use linkage::{
    builder_trusted, certificate_agreement, commit_matches_claim, repository_matches, Agreement,
    BuilderRule, CertificateAgreement,
};
pub use slsa::{normalise_repository, parse_source_uri, Provenance, SlsaVersion, SourceUri};
pub use statement::IN_TOTO_PAYLOAD_TYPE;

/// The largest DSSE envelope or bundle parsed.
pub const ENVELOPE_MAX: usize = 8 * 1024 * 1024;
/// The largest predicate kept as JSON in a fact (serialised size).
pub const PREDICATE_MAX: usize = 256 * 1024;

/// The signed material of one attestation, as found (bytes verbatim).
#[derive(Debug, Clone)]
pub enum AttestationMaterial {
    /// A layer of cosign's `sha256-<hex>.att` manifest (media type
    /// `application/vnd.dsse.envelope.v1+json`) and its annotations.
    CosignLayer {
        /// The DSSE envelope JSON.
        envelope: Vec<u8>,
        /// `predicateType`: a hint for choosing layers, never trusted.
        predicate_type: Option<String>,
        /// `dev.sigstore.cosign/certificate` (PEM), keyless only.
        certificate: Option<String>,
        /// `dev.sigstore.cosign/chain` (PEM), keyless only. Never a source of trust.
        chain: Option<String>,
        /// `dev.sigstore.cosign/bundle` (Rekor SET JSON), when uploaded to a log.
        rekor_bundle: Option<String>,
    },
    /// A Sigstore bundle (v0.1-v0.3) whose content is a DSSE envelope, JSON verbatim.
    Bundle {
        /// The bundle JSON.
        json: Vec<u8>,
        /// Its media type.
        media_type: String,
    },
}

impl AttestationMaterial {
    /// A cosign `.att` layer from its blob and its layer annotations.
    pub fn cosign_layer(envelope: Vec<u8>, annotations: &BTreeMap<String, String>) -> Self {
        let annotation = |name: &str| annotations.get(name).cloned();
        Self::CosignLayer {
            envelope,
            predicate_type: annotation(PREDICATE_TYPE_ANNOTATION),
            certificate: annotation(CERTIFICATE_ANNOTATION),
            chain: annotation(CHAIN_ANNOTATION),
            rekor_bundle: annotation(REKOR_BUNDLE_ANNOTATION),
        }
    }
}

/// One attestation attached to a digest, ready for verification.
#[derive(Debug, Clone)]
pub struct AttestationCandidate {
    /// Where it was found.
    pub location: Location,
    /// The digest it is attached to (the subject it claims is checked in verification).
    pub attached_to: Digest,
    /// What it contains.
    pub material: AttestationMaterial,
}

impl AttestationCandidate {
    /// The attestation view of a signature candidate: Sigstore bundles found through the
    /// referrers API may hold attestations. `None` for cosign `.sig` layers.
    pub fn from_signature_candidate(candidate: &Candidate) -> Option<Self> {
        match &candidate.material {
            Material::Bundle { json, media_type } => Some(Self {
                location: candidate.location.clone(),
                attached_to: candidate.attached_to.clone(),
                material: AttestationMaterial::Bundle {
                    json: json.clone(),
                    media_type: media_type.clone(),
                },
            }),
            Material::SimpleSigning { .. } => None,
        }
    }
}

/// What kind of predicate an attestation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AttestationKind {
    /// `https://slsa.dev/provenance/v1`, normalised.
    #[serde(rename = "slsa-provenance-v1")]
    SlsaProvenanceV1,
    /// `https://slsa.dev/provenance/v0.2`, normalised.
    #[serde(rename = "slsa-provenance-v0.2")]
    SlsaProvenanceV0_2,
    /// Anything else (vulnerability scans, SBOMs, cosign's custom predicate…), kept as JSON.
    #[serde(rename = "other")]
    Other,
}

/// Which subject of the statement is this image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubjectMatch {
    /// The digest the subject names: the image digest, or one of its platform digests.
    pub digest: Digest,
    /// `os/architecture[/variant]` when it is a platform digest of the image index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// The verdict on one attached attestation, and what it says.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttestationFact {
    /// Where it was found.
    pub location: Location,
    /// The digest it was attached to.
    pub attached_to: Digest,
    /// How it is signed (`None` when it could not even be parsed).
    pub signature_kind: Option<SignatureKind>,
    /// The statement's `_type`.
    pub statement_type: Option<String>,
    /// The statement's `predicateType` (the signed one, not the layer annotation).
    pub predicate_type: Option<String>,
    /// What the predicate is.
    pub kind: Option<AttestationKind>,
    /// The signers that verified it (empty: it does not count).
    pub verified_by: Vec<String>,
    /// Why each other signer rejected it, or a problem with the attestation under signer `*`.
    pub rejections: Vec<Rejection>,
    /// Which subject is this image (`None`: none is, and it is rejected).
    pub subject_match: Option<SubjectMatch>,
    /// Every subject name of the statement, as written.
    pub subject_names: Vec<String>,
    /// Whether a subject name is this image's repository (informative: cosign writes the
    /// bare repository, buildkit a purl, other tools file names).
    pub subject_name_matches_repository: bool,
    /// The normalised SLSA provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The predicate of other attestation kinds, as JSON (left out above [`PREDICATE_MAX`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Value>,
    /// The keyless identity, when there is a certificate (verified or not: see `verified_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The certificate's source claims against the provenance, for keyless provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_agreement: Option<CertificateAgreement>,
    /// The time a log or timestamp authority proved (RFC 3339), when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    /// Things worth knowing that are not rejections (a predicate too large to keep…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl AttestationFact {
    /// Whether the attestation counts: some trusted signer verified it (which implies its
    /// statement is about this image and its payload type is in-toto).
    pub fn counts(&self) -> bool {
        !self.verified_by.is_empty()
    }

    /// The normalised provenance, only when the attestation counts.
    pub fn verified_provenance(&self) -> Option<&Provenance> {
        self.provenance.as_ref().filter(|_| self.counts())
    }
}

/// Verifies one attestation against every signer and reads its statement; never panics,
/// never errors: a problem is a rejection. `repository` is the image's
/// `registry/repository`, `digest` the image digest, `platforms` the platform manifests of
/// an image index (a statement about one of them is about this image too).
pub fn verify_attestation(
    candidate: &AttestationCandidate,
    repository: &str,
    digest: &Digest,
    platforms: &[Platform],
    signers: &[Arc<Signer>],
) -> AttestationFact {
    let mut fact = AttestationFact {
        location: candidate.location.clone(),
        attached_to: candidate.attached_to.clone(),
        signature_kind: None,
        statement_type: None,
        predicate_type: None,
        kind: None,
        verified_by: Vec::new(),
        rejections: Vec::new(),
        subject_match: None,
        subject_names: Vec::new(),
        subject_name_matches_repository: false,
        provenance: None,
        predicate: None,
        identity: None,
        certificate_agreement: None,
        signed_at: None,
        notes: Vec::new(),
    };
    if let Err(reason) = verify_into(candidate, repository, digest, platforms, signers, &mut fact) {
        fact.rejections = vec![Rejection {
            signer: ANY_SIGNER.into(),
            reason,
        }];
        fact.verified_by.clear();
        fact.signed_at = None;
    }
    if let (Some(identity), Some(provenance)) = (&fact.identity, &fact.provenance) {
        fact.certificate_agreement = Some(certificate_agreement(identity, provenance));
    }
    fact
}

/// The envelope's parts the checks need.
struct Envelope {
    payload_type: String,
    payload: Vec<u8>,
}

fn verify_into(
    candidate: &AttestationCandidate,
    repository: &str,
    digest: &Digest,
    platforms: &[Platform],
    signers: &[Arc<Signer>],
    fact: &mut AttestationFact,
) -> Result<(), String> {
    let envelope = open(&candidate.material, fact)?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "unknown payload type `{}`; expected `{IN_TOTO_PAYLOAD_TYPE}`",
            envelope.payload_type.chars().take(200).collect::<String>()
        ));
    }
    let statement = statement::parse(&envelope.payload)?;
    fact.statement_type = Some(statement.statement_type.clone());
    fact.predicate_type = Some(statement.predicate_type.clone());
    if let AttestationMaterial::CosignLayer {
        predicate_type: Some(hint),
        ..
    } = &candidate.material
    {
        if *hint != statement.predicate_type {
            fact.notes.push(format!(
                "the layer annotation says `{}`; the signed statement says `{}`",
                hint.chars().take(200).collect::<String>(),
                statement.predicate_type
            ));
        }
    }
    fact.subject_names = statement
        .subjects
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    fact.subject_name_matches_repository = fact
        .subject_names
        .iter()
        .any(|n| same_repository(n, repository));
    let matched = match_subject(&statement.subjects, digest, platforms)?;
    let subject = matched.digest.clone();
    fact.subject_match = Some(matched);
    describe_predicate(&statement, fact);

    for signer in signers {
        let verdict = verify_with(&candidate.material, &subject, signer);
        record(fact, signer, verdict);
    }
    Ok(())
}

/// Parses the material far enough to read its payload, filling kind and identity.
fn open(material: &AttestationMaterial, fact: &mut AttestationFact) -> Result<Envelope, String> {
    match material {
        AttestationMaterial::CosignLayer {
            envelope,
            certificate,
            ..
        } => {
            if envelope.len() > ENVELOPE_MAX {
                return Err(format!(
                    "dsse envelope is {} bytes; the limit is {ENVELOPE_MAX}",
                    envelope.len()
                ));
            }
            if statement::looks_like_bare_statement(envelope) {
                return Err(
                    "an unsigned in-toto statement, not a dsse envelope (buildkit attestations never count)"
                        .into(),
                );
            }
            fact.signature_kind = Some(if certificate.is_some() {
                SignatureKind::CosignKeyless
            } else {
                SignatureKind::CosignKey
            });
            if let Some(pem) = certificate {
                fact.identity = Some(certificate_identity(pem)?);
            }
            let wire: DsseWire = serde_json::from_slice(envelope)
                .map_err(|e| format!("not a dsse envelope ({e})"))?;
            let payload = base64_decode(&wire.payload)
                .ok_or_else(|| "the dsse payload is not base64".to_owned())?;
            Ok(Envelope {
                payload_type: wire.payload_type,
                payload,
            })
        }
        AttestationMaterial::Bundle { json, .. } => {
            fact.signature_kind = Some(SignatureKind::Bundle);
            if json.len() > ENVELOPE_MAX {
                return Err(format!(
                    "bundle is {} bytes; the limit is {ENVELOPE_MAX}",
                    json.len()
                ));
            }
            let dsse = bundle_dsse(json)?.ok_or_else(|| {
                "the bundle holds a message signature, not an attestation".to_owned()
            })?;
            fact.identity = dsse.identity;
            Ok(Envelope {
                payload_type: dsse.payload_type,
                payload: dsse.payload,
            })
        }
    }
}

/// The DSSE wire format, as far as it is read here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseWire {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<DsseWireSignature>,
}

#[derive(Deserialize)]
struct DsseWireSignature {
    /// slsa-github-generator's old format carries the Fulcio certificate here.
    #[serde(default)]
    cert: Option<String>,
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .ok()
}

/// The subject that is this image, or why none is.
fn match_subject(
    subjects: &[statement::StatementSubject],
    digest: &Digest,
    platforms: &[Platform],
) -> Result<SubjectMatch, String> {
    let names = |d: &Digest| -> bool {
        let algorithm = match d.algorithm() {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        };
        subjects.iter().any(|s| {
            s.digest
                .get(algorithm)
                .is_some_and(|hex| hex.eq_ignore_ascii_case(d.hex()))
        })
    };
    if names(digest) {
        return Ok(SubjectMatch {
            digest: digest.clone(),
            platform: None,
        });
    }
    if let Some(p) = platforms.iter().find(|p| names(&p.digest)) {
        return Ok(SubjectMatch {
            digest: p.digest.clone(),
            platform: Some(p.name()),
        });
    }
    let first = subjects
        .iter()
        .flat_map(|s| s.digest.iter())
        .next()
        .map(|(a, h)| format!("{a}:{h}"));
    let also = if platforms.is_empty() {
        ""
    } else {
        " or one of its platforms"
    };
    Err(match first {
        Some(other) => format!(
            "the statement is about `{}`, not this image's `{}`{also}",
            short(&other),
            short(&digest.to_string())
        ),
        None => "the statement has no subject digest".into(),
    })
}

fn describe_predicate(statement: &statement::Statement, fact: &mut AttestationFact) {
    match slsa::normalise(&statement.predicate_type, &statement.predicate) {
        Some(provenance) => {
            fact.kind = Some(match provenance.slsa_version {
                SlsaVersion::V1 => AttestationKind::SlsaProvenanceV1,
                SlsaVersion::V0_2 => AttestationKind::SlsaProvenanceV0_2,
            });
            fact.provenance = Some(provenance);
        }
        None => {
            fact.kind = Some(AttestationKind::Other);
            let size = serde_json::to_vec(&statement.predicate).map_or(usize::MAX, |v| v.len());
            if size <= PREDICATE_MAX {
                fact.predicate = Some(statement.predicate.clone());
            } else {
                fact.notes.push(format!(
                    "the predicate is {size} bytes; only predicates up to {PREDICATE_MAX} bytes are kept"
                ));
            }
        }
    }
}

/// One signer's verdict on the material's signature over `subject`.
fn verify_with(
    material: &AttestationMaterial,
    subject: &Digest,
    signer: &Signer,
) -> Result<Verified, Rejection> {
    let reject = |reason: String| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    match material {
        AttestationMaterial::Bundle { json, .. } => {
            verify_bundle_for_artifact(json, Subject::Digest(subject), signer)
        }
        AttestationMaterial::CosignLayer {
            envelope,
            certificate,
            rekor_bundle,
            ..
        } => match (certificate, signer.is_key()) {
            (None, true) => verify_dsse_with_key(envelope, rekor_bundle.as_deref(), subject, signer),
            (Some(_), true) => Err(reject(format!(
                "signed with a certificate, signer `{}` is a key",
                signer.name
            ))),
            (Some(pem), false) => match rekor_bundle {
                Some(rekor) => verify_cosign_dsse(envelope, pem, rekor, subject, signer),
                None => Err(reject(
                    "no transparency log proof or timestamp: cannot tell when the certificate was valid"
                        .into(),
                )),
            },
            (None, false) => Err(reject(if embeds_certificate(envelope) {
                "the certificate is inside the dsse signature (old slsa-github-generator format) and there is no transparency log proof: it cannot be verified offline".into()
            } else {
                format!(
                    "signed with a key, signer `{}` is a keyless identity",
                    signer.name
                )
            })),
        },
    }
}

fn embeds_certificate(envelope: &[u8]) -> bool {
    serde_json::from_slice::<DsseWire>(envelope)
        .is_ok_and(|w| w.signatures.iter().any(|s| s.cert.is_some()))
}

fn record(fact: &mut AttestationFact, signer: &Signer, verdict: Result<Verified, Rejection>) {
    match verdict {
        Ok(v) => {
            fact.verified_by.push(signer.name.clone());
            if let Some(at) = v.signed_at {
                // RFC 3339 in UTC with `Z`: string order is time order.
                if fact.signed_at.as_ref().is_none_or(|old| at < *old) {
                    fact.signed_at = Some(at);
                }
            }
            if fact.identity.is_none() {
                fact.identity = v.identity;
            }
        }
        Err(rejection) => fact.rejections.push(rejection),
    }
}

/// Whether a subject name (`repo`, `repo:tag`, `repo@digest`, `pkg:docker/repo@tag?…`)
/// names `repository`.
fn same_repository(name: &str, repository: &str) -> bool {
    let name = name.strip_prefix("pkg:docker/").unwrap_or(name);
    let name = name.split('?').next().unwrap_or_default();
    // purls write `repo@tag`; image references write `repo@sha256:…` — both end the name.
    let name = name.split('@').next().unwrap_or_default();
    let parsed = |s: &str| ImageRef::parse(s).ok().map(|r| r.name());
    match (parsed(name), parsed(repository)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `sha256:63a15806ff4b…`: enough to tell digests apart in one line.
fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => {
            format!("{alg}:{}…", hex.get(..12).unwrap_or(hex))
        }
        _ => digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use crate::verify::signers::{SubjectMatcher, TlogPolicy};
    use base64::Engine as _;
    use sigstore_verify::crypto::KeyPair;

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

    fn only_reason(fact: &AttestationFact) -> &str {
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
        assert_eq!(
            only_reason(&fact),
            "dsse signature does not verify with this key"
        );
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
            "unknown payload type `application/vnd.example+json`; expected `application/vnd.in-toto+json`"
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
                .starts_with("unknown statement type `https://in-toto.io/Statement/v2`"),
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
            .map(|r| (r.signer.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("other", "dsse signature does not verify with this key"),
                ("ci", "signed with a key, signer `ci` is a keyless identity"),
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
            only_reason(&fact)
                .starts_with("no transparency log proof; set `insecure_ignore_tlog: true`"),
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
        assert!(fact.notes[0]
            .starts_with("the layer annotation says `https://slsa.dev/provenance/v0.2`"));
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
        assert!(only_reason(&fact).starts_with("an unsigned in-toto statement"));
        for (body, start) in [
            (&b"not json"[..], "not a dsse envelope"),
            (
                &br#"{"payloadType":"application/vnd.in-toto+json","payload":"%%%","signatures":[]}"#[..],
                "the dsse payload is not base64",
            ),
            (
                &br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#[..],
                "the dsse payload is not an in-toto statement",
            ),
        ] {
            let fact = verify_attestation(
                &candidate(body.to_vec()),
                REPO,
                &digest(DIGEST),
                &[],
                std::slice::from_ref(&signer),
            );
            assert!(only_reason(&fact).starts_with(start), "{fact:?}");
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
            "signed with a certificate, signer `k` is a key"
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
}
