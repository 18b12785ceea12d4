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

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::reference::{Digest, DigestAlgorithm, ImageRef};
use crate::registry::Platform;
use crate::verify::reason::Short;
use crate::verify::signature::{
    base64_decode, bundle_dsse, certificate_identity, verify_bundle_for_artifact,
    verify_cosign_dsse, verify_dsse_with_key, Subject, Verified, ANY_SIGNER,
};
use crate::verify::{
    Candidate, Identity, Location, Material, Reason, Rejection, SignatureKind, Signer,
};

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

/// The largest DSSE envelope or bundle parsed: what discovery reads at most.
pub const ENVELOPE_MAX: usize = crate::verify::limits::BUNDLE_MAX;
/// The largest predicate kept as JSON in a fact (serialised size).
pub const PREDICATE_MAX: usize = 256 * 1024;

/// The signed material of one attestation: the verify stage's one [`Material`] (its
/// `CosignLayer` and `Bundle` variants are attestations).
pub type AttestationMaterial = Material;

/// One attestation attached to a digest: the verify stage's one [`Candidate`].
pub type AttestationCandidate = Candidate;

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
    /// Boxed (as the agreement below): a key-signed attestation has none, and a run keeps
    /// every fact until its report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Box<Identity>>,
    /// The certificate's source claims against the provenance, for keyless provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_agreement: Option<Box<CertificateAgreement>>,
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
        fact.certificate_agreement = Some(Box::new(certificate_agreement(identity, provenance)));
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
) -> Result<(), Reason> {
    let envelope = open(&candidate.material, fact)?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Reason::UnknownPayloadType {
            found: envelope.payload_type.chars().take(200).collect(),
        });
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
fn open(material: &AttestationMaterial, fact: &mut AttestationFact) -> Result<Envelope, Reason> {
    match material {
        Material::SimpleSigning { .. } | Material::Notation { .. } => Err(Reason::NotAnAttestation),
        AttestationMaterial::CosignLayer {
            envelope,
            certificate,
            ..
        } => {
            if envelope.len() > ENVELOPE_MAX {
                return Err(Reason::TooLarge {
                    what: "dsse envelope",
                    len: envelope.len(),
                    max: ENVELOPE_MAX,
                });
            }
            if statement::looks_like_bare_statement(envelope) {
                return Err(Reason::BareStatement);
            }
            fact.signature_kind = Some(if certificate.is_some() {
                SignatureKind::CosignKeyless
            } else {
                SignatureKind::CosignKey
            });
            if let Some(pem) = certificate {
                fact.identity = Some(Box::new(certificate_identity(pem)?));
            }
            let wire: DsseWire =
                serde_json::from_slice(envelope).map_err(|e| Reason::NotDsseEnvelope {
                    detail: e.to_string(),
                })?;
            let payload = base64_decode(&wire.payload).ok_or(Reason::DssePayloadNotBase64)?;
            Ok(Envelope {
                payload_type: wire.payload_type,
                payload,
            })
        }
        AttestationMaterial::Bundle { json, .. } => {
            fact.signature_kind = Some(SignatureKind::Bundle);
            if json.len() > ENVELOPE_MAX {
                return Err(Reason::TooLarge {
                    what: "bundle",
                    len: json.len(),
                    max: ENVELOPE_MAX,
                });
            }
            let dsse = bundle_dsse(json)?.ok_or(Reason::BundleIsMessageSignature)?;
            fact.identity = dsse.identity.map(Box::new);
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

/// The subject that is this image, or why none is.
fn match_subject(
    subjects: &[statement::StatementSubject],
    digest: &Digest,
    platforms: &[Platform],
) -> Result<SubjectMatch, Reason> {
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
    Err(match first {
        Some(other) => Reason::StatementAboutOther {
            about: Short(other),
            expected: Short(digest.to_string()),
            platforms: !platforms.is_empty(),
        },
        None => Reason::NoSubjectDigest,
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
    let reject = |reason: Reason| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    match material {
        Material::SimpleSigning { .. } | Material::Notation { .. } => {
            Err(reject(Reason::NotAnAttestation))
        }
        AttestationMaterial::Bundle { json, .. } => {
            verify_bundle_for_artifact(json, Subject::Digest(subject), signer)
        }
        AttestationMaterial::CosignLayer {
            envelope,
            certificate,
            rekor_bundle,
            ..
        } => match (certificate, signer.is_key()) {
            (None, true) => {
                verify_dsse_with_key(envelope, rekor_bundle.as_deref(), subject, signer)
            }
            (Some(_), true) => Err(reject(Reason::SignedWithCertificate {
                signer: signer.name.clone(),
            })),
            (Some(pem), false) => match rekor_bundle {
                Some(rekor) => verify_cosign_dsse(envelope, pem, rekor, subject, signer),
                None => Err(reject(Reason::NoTimeProof)),
            },
            (None, false) => Err(reject(if embeds_certificate(envelope) {
                Reason::CertificateInsideDsse
            } else {
                Reason::SignedWithKey {
                    signer: signer.name.clone(),
                }
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
                fact.identity = v.identity.map(Box::new);
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

#[cfg(test)]
mod tests;
