//! Stage (4): signatures. Finds what is attached to an image digest (cosign `.sig` tags,
//! Sigstore bundles through the referrers API or its tag fallback) and verifies each against
//! the trusted signers, recording for every signature where it was found and why it did or
//! did not count.
//!
//! [`signers`] builds the trusted signers from config, [`discover`] finds candidates,
//! [`signature`] verifies them ([`verify_candidate`]).

use std::sync::Arc;

use crate::reference::Digest;

pub mod constraints;
pub mod discover;
pub mod limits;
pub mod notation;
pub mod notation_stage;
pub mod reason;
pub mod signature;
pub mod signers;
mod timestamp;
pub mod tuf;

pub use constraints::CertificateConstraints;
pub use reason::{Reason, RekorProblem};
pub use signature::{
    verify_bundle_for_artifact, verify_cosign_dsse, verify_cosign_message_signature, Subject,
    Verified,
};
pub use signers::{Signer, SignerError, SignerKind, SubjectMatcher, TlogPolicy};

/// Where an attached artifact was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum Location {
    /// cosign's tag scheme: `sha256-<hex>.sig` (or `.att`), layer `layer` of that manifest.
    CosignTag {
        /// The tag, e.g. `sha256-63a1….sig`.
        tag: String,
        /// The signature manifest's digest.
        manifest: Digest,
        /// 0-based layer index.
        layer: usize,
    },
    /// The OCI referrers API (`/v2/<repo>/referrers/<digest>`).
    Referrers {
        /// The referring manifest's digest.
        manifest: Digest,
        /// Its `artifactType`.
        artifact_type: String,
    },
    /// The referrers tag schema fallback (`sha256-<hex>` index), for registries without the API.
    ReferrersTag {
        /// The tag, `sha256-<hex>`.
        tag: String,
        /// The referring manifest's digest.
        manifest: Digest,
        /// Its `artifactType`.
        artifact_type: String,
    },
}

/// `sha256-….sig layer 0`, `referrer sha256:…`, `referrer sha256:… (tag sha256-…)`.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CosignTag { tag, layer, .. } => write!(f, "{tag} layer {layer}"),
            Self::Referrers { manifest, .. } => write!(f, "referrer {manifest}"),
            Self::ReferrersTag { tag, manifest, .. } => {
                write!(f, "referrer {manifest} (tag {tag})")
            }
        }
    }
}

/// The signed material of one attached artifact, as found (bytes verbatim: never reserialised).
#[derive(Debug, Clone)]
pub enum Material {
    /// A cosign simple-signing layer: the payload blob and the layer's annotations.
    SimpleSigning {
        /// The payload blob (the JSON that was signed), verbatim.
        payload: Vec<u8>,
        /// `dev.cosignproject.cosign/signature` (base64).
        signature: String,
        /// `dev.sigstore.cosign/certificate` (PEM), keyless only.
        certificate: Option<String>,
        /// `dev.sigstore.cosign/chain` (PEM), keyless only. Never a source of trust.
        chain: Option<String>,
        /// `dev.sigstore.cosign/bundle` (Rekor SET JSON), when uploaded to a log.
        rekor_bundle: Option<String>,
    },
    /// A Sigstore bundle (v0.1-v0.3), JSON verbatim: a signature, or (DSSE) an attestation.
    Bundle {
        /// The bundle JSON.
        json: Vec<u8>,
        /// Its media type, e.g. `application/vnd.dev.sigstore.bundle.v0.3+json`.
        media_type: String,
    },
    /// A layer of cosign's `sha256-<hex>.att` manifest (media type
    /// `application/vnd.dsse.envelope.v1+json`) and its annotations: an attestation.
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
    /// The one layer of a Notary Project signature manifest: a JWS or COSE_Sign1 envelope.
    Notation {
        /// The layer's media type (`application/jose+json` or `application/cose`;
        /// verification refuses any other).
        media_type: String,
        /// The envelope, verbatim.
        envelope: Vec<u8>,
    },
}

impl Material {
    /// A cosign `.att` layer from its blob and its layer annotations.
    pub fn cosign_layer(
        envelope: Vec<u8>,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        let annotation = |name: &str| annotations.get(name).cloned();
        Self::CosignLayer {
            envelope,
            predicate_type: annotation(discover::PREDICATE_TYPE_ANNOTATION),
            certificate: annotation(discover::CERTIFICATE_ANNOTATION),
            chain: annotation(discover::CHAIN_ANNOTATION),
            rekor_bundle: annotation(discover::REKOR_BUNDLE_ANNOTATION),
        }
    }
}

/// One artifact attached to a digest, ready for verification: a signature
/// ([`verify_candidate`]) or an attestation ([`crate::provenance::verify_attestation`]); the
/// one candidate type of stage (4).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it was found.
    pub location: Location,
    /// The digest it is attached to (the one it claims to sign is checked in verification).
    pub attached_to: Digest,
    /// What it contains.
    pub material: Material,
}

impl Candidate {
    /// The attestation view of a signature candidate: Sigstore bundles found through the
    /// referrers API may hold attestations. `None` for cosign `.sig` layers.
    pub fn from_signature_candidate(candidate: &Candidate) -> Option<Self> {
        match &candidate.material {
            Material::Bundle { .. } => Some(candidate.clone()),
            Material::SimpleSigning { .. }
            | Material::CosignLayer { .. }
            | Material::Notation { .. } => None,
        }
    }

    /// A Notary Project signature's layer media type and envelope.
    pub fn notation_envelope(&self) -> Option<(&str, &[u8])> {
        match &self.material {
            Material::Notation {
                media_type,
                envelope,
            } => Some((media_type, envelope)),
            _ => None,
        }
    }
}

/// What kind of signature a candidate turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    /// cosign simple signing with a public key.
    CosignKey,
    /// cosign simple signing with a Fulcio certificate.
    CosignKeyless,
    /// A Sigstore bundle.
    Bundle,
    /// A Notary Project signature (JWS or COSE_Sign1 envelope, X.509 chain).
    Notation,
}

/// The identity in a keyless certificate, and the GitHub Actions claims when present.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, or .1.1).
    pub issuer: Option<String>,
    /// The certificate's SAN (URI or email).
    pub subject: Option<String>,
    /// `source_repository_uri` (e.g. `https://github.com/acme/app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// `source_repository_ref` (e.g. `refs/heads/main`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// `source_repository_digest` (the commit SHA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// `build_config_uri` (the workflow file at a ref).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// `build_trigger` (e.g. `push`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `source_repository_owner_uri` (e.g. `https://github.com/acme`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_owner: Option<String>,
    /// `build_signer_uri`: the workflow that signed, at a ref; for a reusable workflow the
    /// called one, where `workflow` is the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_workflow: Option<String>,
    /// `runner_environment` (`github-hosted` or `self-hosted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
}

/// Why a signer did not accept a candidate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// The signer's name from config.
    pub signer: String,
    /// Why, typed; serialised as one lowercase line: e.g. "signs `sha256:aaa…`, not this
    /// image's `sha256:bbb…`", "identity `https://github.com/evil/…` does not match `…`".
    pub reason: Reason,
}

/// The verdict on one attached signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureFact {
    /// Where it was found.
    pub location: Location,
    /// The digest it was attached to.
    pub attached_to: Digest,
    /// What kind it is (`None` when it could not even be parsed).
    pub kind: Option<SignatureKind>,
    /// The signers that verified it (empty: it does not count).
    pub verified_by: Vec<String>,
    /// Why each other signer rejected it, or a parse error under signer `*`.
    pub rejections: Vec<Rejection>,
    /// The keyless identity, when there is a certificate (verified or not: see `verified_by`).
    /// Boxed: a key signature has none, and a run keeps every fact until its report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Box<Identity>>,
    /// The time the log or a timestamp authority proved (RFC 3339), when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    /// What proved that time, one line each: an RFC 3161 timestamp (its TSA and genTime) or a
    /// log entry (its log, index and integrated time), when verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub time_proofs: Vec<String>,
    /// `critical.identity.docker-reference` of a simple-signing payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// What a Notary Project signature says and how each Notation signer decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notation: Option<Box<notation_stage::NotationFact>>,
}

impl SignatureFact {
    /// A fact about the signature at `location` that nothing has verified or rejected yet.
    pub fn unverified(
        location: Location,
        attached_to: Digest,
        kind: Option<SignatureKind>,
    ) -> Self {
        Self {
            location,
            attached_to,
            kind,
            verified_by: Vec::new(),
            rejections: Vec::new(),
            identity: None,
            signed_at: None,
            time_proofs: Vec::new(),
            docker_reference: None,
            notation: None,
        }
    }
}

/// Verifies one candidate against every signer; never panics, never errors: a problem is a
/// rejection. `repository` is the image's `registry/repository`, `digest` the digest that must be
/// signed.
pub fn verify_candidate(
    candidate: &Candidate,
    repository: &str,
    digest: &Digest,
    signers: &[Arc<Signer>],
) -> SignatureFact {
    signature::verify(candidate, repository, digest, signers)
}
