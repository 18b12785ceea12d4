//! Stage (4), verification: one attached signature against the trusted signers.
//!
//! sigstore-verify does the cryptography (certificate chain at the logged time, SCT, Rekor
//! SET and inclusion proofs, RFC 3161 timestamps, log-entry consistency). This module does
//! what it does not: it decides which policy applies from config (never from the
//! signature), checks the cosign simple-signing payload (type, signed digest, repository),
//! checks that a DSSE bundle is an image signature and not an attestation, matches the
//! certificate subject against the signer, and turns every failure into a [`Rejection`].
//!
//! Legacy cosign `.sig` layers (payload + annotations) are converted to v0.1 bundles
//! (certificate or key, Rekor SET, message signature over the payload blob) so that the
//! same verifier checks them.

use std::sync::Arc;

use serde::Deserialize;
use sigstore_verify::crypto::{parse_certificate_info, sha256, verify_signature, CertificateInfo};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::bundle::{
    CertificateContent, InclusionPromise, LogId, MessageDigest, MessageSignature,
    PublicKeyIdentifier, SignatureContent, TransparencyLogEntry, VerificationMaterial,
    VerificationMaterialContent,
};
use sigstore_verify::types::{
    Artifact, ArtifactDigest, Bundle, CanonicalizedBody, DerCertificate, DigestBytes, DsseEnvelope,
    HashAlgorithm, KindVersion, LogIndex, LogKeyId, MediaType, Sha256Hash, SignatureBytes,
    SignedTimestamp,
};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult};

use super::reason::{RekorProblem, Short};
use super::signers::{SignerKind, TlogPolicy};
use super::{
    Candidate, Identity, Material, Reason, Rejection, SignatureFact, SignatureKind, Signer,
};
use crate::reference::{Digest, DigestAlgorithm, ImageRef};

/// The largest simple-signing payload parsed (cosign's are about 250 bytes).
pub const PAYLOAD_MAX: usize = super::limits::PAYLOAD_MAX;
/// The largest Sigstore bundle parsed: what discovery reads at most.
pub const BUNDLE_MAX: usize = super::limits::BUNDLE_MAX;
/// The largest Rekor bundle annotation parsed.
const REKOR_BUNDLE_MAX: usize = 1024 * 1024;
/// `critical.type` of a cosign simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// The in-toto predicate type of a cosign v3 image signature (a DSSE bundle).
pub const COSIGN_SIGNATURE_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The signer name of a rejection that applies to every signer.
pub const ANY_SIGNER: &str = "*";

/// What a signer accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The certificate identity, for keyless signatures.
    pub identity: Option<Identity>,
    /// The earliest time a log or timestamp authority proved (RFC 3339); `None` for a key
    /// signature accepted without any proof.
    pub signed_at: Option<String>,
    /// What proved the time, one line each (which TSA or log, when).
    pub time_proofs: Vec<String>,
}

/// What a signature must sign.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// These bytes (a blob, or an in-toto subject given as its content).
    Bytes(&'a [u8]),
    /// Content with this digest (an image manifest).
    Digest(&'a Digest),
}

/// Verifies one candidate against every signer; see [`super::verify_candidate`].
pub(crate) fn verify(
    candidate: &Candidate,
    repository: &str,
    digest: &Digest,
    signers: &[Arc<Signer>],
) -> SignatureFact {
    let mut fact = SignatureFact::unverified(
        candidate.location.clone(),
        candidate.attached_to.clone(),
        None,
    );
    let outcome = match &candidate.material {
        Material::SimpleSigning {
            payload,
            signature,
            certificate,
            chain: _,
            rekor_bundle,
        } => {
            let sig = SimpleSig {
                payload,
                rekor_bundle: rekor_bundle.as_deref(),
            };
            let annotations = (signature.as_str(), certificate.as_deref());
            verify_simple_signing(&sig, annotations, repository, digest, signers, &mut fact)
        }
        Material::Bundle { json, .. } => verify_image_bundle(json, digest, signers, &mut fact),
        Material::CosignLayer { .. } => Err(Reason::NotASignature),
        Material::Notation { .. } => Err(Reason::NotationEnvelope),
    };
    if let Err(reason) = outcome {
        fact.rejections = vec![Rejection {
            signer: ANY_SIGNER.into(),
            reason,
        }];
        fact.verified_by.clear();
        fact.signed_at = None;
        fact.time_proofs.clear();
    }
    fact
}

/// Verifies a Sigstore bundle (v0.1-v0.3) over `subject` with `signer`, whatever it signs:
/// a blob, or the subject of a DSSE in-toto statement. Policy comes from the signer: a key
/// signer accepts only public-key bundles, a keyless signer only certificates from its
/// trusted root with its issuer and subject.
///
/// This is the building block of image verification, exposed for blobs and for the
/// conformance suite; image signatures should go through [`super::verify_candidate`],
/// which also checks what the bundle claims to be.
pub fn verify_bundle_for_artifact(
    bundle_json: &[u8],
    subject: Subject<'_>,
    signer: &Signer,
) -> Result<Verified, Rejection> {
    let reject = |reason: Reason| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    let bundle = parse_bundle(bundle_json).map_err(reject)?;
    let artifact = artifact_for(subject).map_err(reject)?;
    verify_bundle(&bundle, artifact, signer).map_err(reject)
}

/// Verifies a legacy cosign DSSE layer (a `.att` layer: the envelope blob, the
/// `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/bundle` annotations) whose
/// in-toto subject must be `subject`, with a keyless `signer`. Converts it to a v0.1
/// bundle; the DSSE signature, certificate chain, SCT, Rekor SET and the entry's
/// consistency with the envelope are all checked. Does not look at the predicate.
pub fn verify_cosign_dsse(
    envelope_json: &[u8],
    certificate_pem: &str,
    rekor_bundle: &str,
    subject: &Digest,
    signer: &Signer,
) -> Result<Verified, Rejection> {
    let reject = |reason: Reason| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    if envelope_json.len() > BUNDLE_MAX {
        return Err(reject(too_large(
            "dsse envelope",
            envelope_json.len(),
            BUNDLE_MAX,
        )));
    }
    let envelope: DsseEnvelope = serde_json::from_slice(envelope_json).map_err(|e| {
        reject(Reason::NotDsseEnvelope {
            detail: e.to_string(),
        })
    })?;
    let certificate = parse_certificate_pem(certificate_pem).map_err(reject)?;
    let entry = legacy_tlog_entry(rekor_bundle).map_err(reject)?;
    let bundle = legacy_bundle(
        VerificationMaterialContent::Certificate(CertificateContent::new(certificate)),
        entry,
        SignatureContent::DsseEnvelope(envelope),
    );
    let artifact = artifact_for(Subject::Digest(subject)).map_err(reject)?;
    verify_bundle(&bundle, artifact, signer).map_err(reject)
}

/// Verifies the signature of a legacy cosign `.sig` layer over its payload blob with
/// `signer`: `signature` is the `dev.cosignproject.cosign/signature` annotation,
/// `certificate_pem` and `rekor_bundle` the `dev.sigstore.cosign/certificate` and
/// `dev.sigstore.cosign/bundle` ones. Keyless layers and logged key layers become v0.1
/// bundles (certificate or key, Rekor SET, message signature over `payload`).
///
/// Does NOT check what the payload says (type, digest, repository): image signatures go
/// through [`super::verify_candidate`], which does.
pub fn verify_cosign_message_signature(
    payload: &[u8],
    signature: &str,
    certificate_pem: Option<&str>,
    rekor_bundle: Option<&str>,
    signer: &Signer,
) -> Result<Verified, Rejection> {
    let reject = |reason: Reason| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    let certificate = certificate_pem
        .map(parse_certificate_pem)
        .transpose()
        .map_err(reject)?;
    let signature = SignatureBytes::from_base64(signature.trim())
        .map_err(|_| reject(Reason::SignatureNotBase64))?;
    let sig = SimpleSig {
        payload,
        rekor_bundle,
    };
    verify_simple_for(&sig, &signature, certificate.as_ref(), signer).map_err(reject)
}

/// Verifies a DSSE envelope (a cosign `.att` layer made with a key) whose in-toto subject
/// must be `subject`, with a key `signer`: one of the envelope's signatures must verify over
/// the DSSE pre-authentication encoding (`DSSEv1 <len> <type> <len> <payload>`) with the key,
/// hashed with SHA-256 like cosign. The signer's transparency log policy applies as for
/// `.sig` layers: with a `dev.sigstore.cosign/bundle` annotation (`rekor_bundle`) the Rekor
/// SET is checked too; without one, only a signer with `insecure_ignore_tlog` accepts it.
///
/// Does not look at the statement: [`crate::provenance`] checks subject and predicate.
pub fn verify_dsse_with_key(
    envelope_json: &[u8],
    rekor_bundle: Option<&str>,
    subject: &Digest,
    signer: &Signer,
) -> Result<Verified, Rejection> {
    let reject = |reason: Reason| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    if signer.is_notation() {
        return Err(reject(notation_only(signer)));
    }
    let SignerKind::Key {
        key,
        scheme,
        tlog,
        verifier,
        trusted_root,
        ..
    } = &signer.kind
    else {
        return Err(reject(Reason::SignedWithKey {
            signer: signer.name.clone(),
        }));
    };
    if envelope_json.len() > BUNDLE_MAX {
        return Err(reject(too_large(
            "dsse envelope",
            envelope_json.len(),
            BUNDLE_MAX,
        )));
    }
    let wire: DsseWire = serde_json::from_slice(envelope_json).map_err(|e| {
        reject(Reason::NotDsseEnvelope {
            detail: e.to_string(),
        })
    })?;
    let plain = || -> Result<Verified, Reason> {
        let payload = base64_decode(&wire.payload).ok_or(Reason::DssePayloadNotBase64)?;
        let pae = sigstore_verify::types::pae(&wire.payload_type, &payload);
        let verifies = wire
            .signatures
            .iter()
            .take(DSSE_SIGNATURES_MAX)
            .filter_map(|s| SignatureBytes::from_base64(s.sig.trim()).ok())
            .any(|sig| verify_signature(key, &pae, &sig, *scheme).is_ok());
        if verifies {
            Ok(Verified {
                identity: None,
                signed_at: None,
                time_proofs: Vec::new(),
            })
        } else {
            Err(Reason::DsseSignatureInvalid)
        }
    };
    let Some(rekor_bundle) = rekor_bundle else {
        return match tlog {
            TlogPolicy::InsecureIgnore => plain().map_err(reject),
            TlogPolicy::Require => Err(reject(Reason::NoTlogProof {
                signer: signer.name.clone(),
            })),
        };
    };
    let logged = (|| -> Result<Verified, Reason> {
        let envelope: DsseEnvelope =
            serde_json::from_slice(envelope_json).map_err(|e| Reason::NotDsseEnvelope {
                detail: e.to_string(),
            })?;
        let entry = legacy_tlog_entry(rekor_bundle)?;
        let bundle = legacy_bundle(
            VerificationMaterialContent::PublicKey(PublicKeyIdentifier::new("")),
            entry,
            SignatureContent::DsseEnvelope(envelope),
        );
        let artifact = artifact_for(Subject::Digest(subject))?;
        let policy = PublicKeyVerificationPolicy::new(key.clone());
        verifier
            .verify(artifact, &bundle, &policy)
            .map(|r| verified(&r, None, &bundle, trusted_root, true))
            .map_err(|e| reason_of(&e))
    })();
    match (logged, tlog) {
        (Ok(v), _) => Ok(v),
        // The log proof is optional for this signer: a DSSE signature that verifies counts.
        (Err(_), TlogPolicy::InsecureIgnore) => plain().map_err(reject),
        (Err(e), TlogPolicy::Require) => Err(reject(e)),
    }
}

/// The identity in a PEM certificate (a `dev.sigstore.cosign/certificate` annotation), read
/// without verifying anything: for reports, never for trust.
pub fn certificate_identity(pem: &str) -> Result<Identity, Reason> {
    identity_of(&parse_certificate_pem(pem)?)
}

/// The DSSE content of a Sigstore bundle, read without verifying anything.
#[derive(Debug, Clone)]
pub struct BundleDsse {
    /// The envelope's `payloadType`.
    pub payload_type: String,
    /// The decoded payload (an in-toto statement, when it is one).
    pub payload: Vec<u8>,
    /// The signing certificate's identity, for keyless bundles.
    pub identity: Option<Identity>,
}

/// Parses a Sigstore bundle and returns its DSSE envelope's payload; `Ok(None)` for a
/// bundle holding a message signature instead.
pub fn bundle_dsse(json: &[u8]) -> Result<Option<BundleDsse>, Reason> {
    let bundle = parse_bundle(json)?;
    let identity = bundle.signing_certificate().map(identity_of).transpose()?;
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => Ok(Some(BundleDsse {
            payload_type: envelope.payload_type.clone(),
            payload: envelope.payload.as_bytes().to_vec(),
            identity,
        })),
        _ => Ok(None),
    }
}

/// Signatures of one DSSE envelope tried at most with a key.
const DSSE_SIGNATURES_MAX: usize = 16;

/// The DSSE wire format, with any number of signatures (securesystemslib and cosign write
/// one; the DSSE spec allows several).
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
    sig: String,
}

/// Standard base64 (with or without padding), as DSSE payloads are written (also used by
/// provenance).
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .ok()
}

mod bundle;
mod shared;
mod simple;

use bundle::verify_image_bundle;
pub(crate) use shared::earlier;
use shared::{
    algorithm_name, artifact_for, hash_algorithm, hash_name, hex, identity_of, parse_bundle,
    parse_certificate_pem, reason_of, record, signs_other_digest, too_large, verified,
    verify_bundle,
};
use simple::{
    kind_mismatch, legacy_bundle, legacy_tlog_entry, notation_only, verify_simple_for,
    verify_simple_signing, SimpleSig,
};

#[cfg(test)]
mod dsse_key_tests;
#[cfg(test)]
mod tests;
