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

use super::signers::{SignerKind, TlogPolicy};
use super::{Candidate, Identity, Material, Rejection, SignatureFact, SignatureKind, Signer};
use crate::reference::{Digest, DigestAlgorithm, ImageRef};

/// The largest simple-signing payload parsed (cosign's are about 250 bytes).
pub const PAYLOAD_MAX: usize = 1024 * 1024;
/// The largest Sigstore bundle parsed.
pub const BUNDLE_MAX: usize = 8 * 1024 * 1024;
/// The largest Rekor bundle annotation parsed.
const REKOR_BUNDLE_MAX: usize = 1024 * 1024;
/// `critical.type` of a cosign simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// The in-toto predicate type of a cosign v3 image signature (a DSSE bundle).
pub const COSIGN_SIGNATURE_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The DSSE payload type of in-toto statements.
const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
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
    let mut fact = SignatureFact {
        location: candidate.location.clone(),
        attached_to: candidate.attached_to.clone(),
        kind: None,
        verified_by: Vec::new(),
        rejections: Vec::new(),
        identity: None,
        signed_at: None,
        time_proofs: Vec::new(),
        docker_reference: None,
    };
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
    let reject = |reason: String| Rejection {
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
    let reject = |reason: String| Rejection {
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
    let envelope: DsseEnvelope = serde_json::from_slice(envelope_json)
        .map_err(|e| reject(format!("not a dsse envelope ({e})")))?;
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
    let reject = |reason: String| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    let certificate = certificate_pem
        .map(parse_certificate_pem)
        .transpose()
        .map_err(reject)?;
    let signature = SignatureBytes::from_base64(signature.trim())
        .map_err(|_| reject("the signature annotation is not base64".into()))?;
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
    let reject = |reason: String| Rejection {
        signer: signer.name.clone(),
        reason,
    };
    let SignerKind::Key {
        key,
        scheme,
        tlog,
        verifier,
        trusted_root,
        ..
    } = &signer.kind
    else {
        return Err(reject(format!(
            "signed with a key, signer `{}` is a keyless identity",
            signer.name
        )));
    };
    if envelope_json.len() > BUNDLE_MAX {
        return Err(reject(too_large(
            "dsse envelope",
            envelope_json.len(),
            BUNDLE_MAX,
        )));
    }
    let wire: DsseWire = serde_json::from_slice(envelope_json)
        .map_err(|e| reject(format!("not a dsse envelope ({e})")))?;
    let plain = || -> Result<Verified, String> {
        let payload = base64_decode(&wire.payload)
            .ok_or_else(|| "the dsse payload is not base64".to_owned())?;
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
            Err("dsse signature does not verify with this key".to_owned())
        }
    };
    let Some(rekor_bundle) = rekor_bundle else {
        return match tlog {
            TlogPolicy::InsecureIgnore => plain().map_err(reject),
            TlogPolicy::Require => Err(reject(format!(
                "no transparency log proof; set `insecure_ignore_tlog: true` on signer `{}` for keys signed with `--tlog-upload=false`",
                signer.name
            ))),
        };
    };
    let logged = (|| -> Result<Verified, String> {
        let envelope: DsseEnvelope = serde_json::from_slice(envelope_json)
            .map_err(|e| format!("not a dsse envelope ({e})"))?;
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
            .map(|r| verified(&r, None, &bundle, trusted_root))
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
pub fn certificate_identity(pem: &str) -> Result<Identity, String> {
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
pub fn bundle_dsse(json: &[u8]) -> Result<Option<BundleDsse>, String> {
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

/// Standard base64 (with or without padding), as DSSE payloads are written.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .ok()
}

// ---------------------------------------------------------------------------------------
// cosign simple signing (`.sig` layers)

/// What a `.sig` layer's signature is checked over, and its log proof.
struct SimpleSig<'a> {
    payload: &'a [u8],
    rekor_bundle: Option<&'a str>,
}

/// The simple-signing payload, as far as it is checked. Unknown fields are allowed
/// (`optional` carries anything).
#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: PayloadImage,
    identity: PayloadIdentity,
}

#[derive(Deserialize)]
struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
struct PayloadIdentity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

/// Fills `fact` with the per-signer verdicts; `Err` is a problem with the candidate itself
/// (one rejection for every signer).
fn verify_simple_signing(
    sig: &SimpleSig<'_>,
    (signature, certificate): (&str, Option<&str>),
    repository: &str,
    digest: &Digest,
    signers: &[Arc<Signer>],
    fact: &mut SignatureFact,
) -> Result<(), String> {
    fact.kind = Some(if certificate.is_some() {
        SignatureKind::CosignKeyless
    } else {
        SignatureKind::CosignKey
    });
    let certificate = match certificate {
        Some(pem) => {
            let der = parse_certificate_pem(pem)?;
            fact.identity = Some(identity_of(&der)?);
            Some(der)
        }
        None => None,
    };
    let payload = parse_payload(sig.payload)?;
    fact.docker_reference = Some(payload.critical.identity.reference.clone());
    check_payload(&payload, repository, digest)?;
    let signature = SignatureBytes::from_base64(signature.trim())
        .map_err(|_| "the signature annotation is not base64".to_owned())?;

    for signer in signers {
        let verdict = verify_simple_for(sig, &signature, certificate.as_ref(), signer);
        record(fact, signer, verdict);
    }
    Ok(())
}

/// One signer's verdict on a `.sig` layer's signature (the payload is checked elsewhere).
fn verify_simple_for(
    sig: &SimpleSig<'_>,
    signature: &SignatureBytes,
    certificate: Option<&DerCertificate>,
    signer: &Signer,
) -> Result<Verified, String> {
    if let Some(mismatch) = kind_mismatch(signer, certificate.is_some()) {
        return Err(mismatch);
    }
    match certificate {
        None => verify_simple_with_key(sig, signature, signer),
        Some(cert) => verify_simple_keyless(sig, signature, cert, signer),
    }
}

/// Why `signer` cannot verify a signature made with a certificate (`keyless`) or a key.
fn kind_mismatch(signer: &Signer, keyless: bool) -> Option<String> {
    match (&signer.kind, keyless) {
        (SignerKind::Key { .. }, true) => Some(format!(
            "signed with a certificate, signer `{}` is a key",
            signer.name
        )),
        (SignerKind::Keyless { .. }, false) => Some(format!(
            "signed with a key, signer `{}` is a keyless identity",
            signer.name
        )),
        _ => None,
    }
}

fn parse_payload(bytes: &[u8]) -> Result<Payload, String> {
    if bytes.len() > PAYLOAD_MAX {
        return Err(too_large("payload", bytes.len(), PAYLOAD_MAX));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| format!("payload is not a cosign simple-signing document ({e})"))
}

/// The signer-independent checks: what the payload says it signs.
fn check_payload(payload: &Payload, repository: &str, digest: &Digest) -> Result<(), String> {
    let critical = &payload.critical;
    if critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(format!(
            "payload type is `{}`, not `{SIMPLE_SIGNING_TYPE}`",
            critical.kind
        ));
    }
    let signed = Digest::parse(&critical.image.digest).map_err(|_| {
        format!(
            "payload digest `{}` is not a valid digest",
            critical.image.digest
        )
    })?;
    if &signed != digest {
        return Err(signs_other_digest(&signed, digest));
    }
    let reference = &critical.identity.reference;
    let signed_for = ImageRef::parse(reference)
        .map_err(|_| format!("payload reference `{reference}` is not an image reference"))?
        .name();
    let expected = ImageRef::parse(repository)
        .map(|r| r.name())
        .unwrap_or_else(|_| repository.to_owned());
    if signed_for != expected {
        return Err(format!("signed for `{signed_for}`, not `{expected}`"));
    }
    Ok(())
}

fn verify_simple_with_key(
    sig: &SimpleSig<'_>,
    signature: &SignatureBytes,
    signer: &Signer,
) -> Result<Verified, String> {
    let SignerKind::Key {
        key,
        scheme,
        tlog,
        verifier,
        trusted_root,
        ..
    } = &signer.kind
    else {
        return Err("internal: not a key signer".into());
    };
    let plain = || {
        verify_signature(key, sig.payload, signature, *scheme)
            .map(|()| Verified {
                identity: None,
                signed_at: None,
                time_proofs: Vec::new(),
            })
            .map_err(|_| "signature does not verify with this key".to_owned())
    };
    let Some(rekor_bundle) = sig.rekor_bundle else {
        return match tlog {
            TlogPolicy::InsecureIgnore => plain(),
            TlogPolicy::Require => Err(format!(
                "no transparency log proof; set `insecure_ignore_tlog: true` on signer `{}` for keys signed with `--tlog-upload=false`",
                signer.name
            )),
        };
    };
    let logged = legacy_tlog_entry(rekor_bundle).and_then(|entry| {
        let bundle = legacy_bundle(
            VerificationMaterialContent::PublicKey(PublicKeyIdentifier::new("")),
            entry,
            message_signature(sig.payload, signature),
        );
        let policy = PublicKeyVerificationPolicy::new(key.clone());
        verifier
            .verify(Artifact::from_blob(sig.payload), &bundle, &policy)
            .map(|r| verified(&r, None, &bundle, trusted_root))
            .map_err(|e| reason_of(&e))
    });
    match (logged, tlog) {
        (Ok(v), _) => Ok(v),
        // The log proof is optional for this signer: a key signature that verifies counts.
        (Err(_), TlogPolicy::InsecureIgnore) => plain(),
        (Err(e), TlogPolicy::Require) => Err(e),
    }
}

fn verify_simple_keyless(
    sig: &SimpleSig<'_>,
    signature: &SignatureBytes,
    certificate: &DerCertificate,
    signer: &Signer,
) -> Result<Verified, String> {
    let Some(rekor_bundle) = sig.rekor_bundle else {
        return Err(
            "no transparency log proof or timestamp: cannot tell when the certificate was valid"
                .into(),
        );
    };
    let entry = legacy_tlog_entry(rekor_bundle)?;
    // The leaf only: the chain annotation is never a source of trust.
    let bundle = legacy_bundle(
        VerificationMaterialContent::Certificate(CertificateContent::new(certificate.clone())),
        entry,
        message_signature(sig.payload, signature),
    );
    verify_bundle(&bundle, Artifact::from_blob(sig.payload), signer)
}

fn message_signature(payload: &[u8], signature: &SignatureBytes) -> SignatureContent {
    SignatureContent::MessageSignature(
        MessageSignature::new(signature.clone()).with_message_digest(MessageDigest::new(
            HashAlgorithm::Sha2256,
            DigestBytes::new(sha256(payload).as_slice().to_vec()),
        )),
    )
}

// ---------------------------------------------------------------------------------------
// legacy cosign annotations -> v0.1 bundle

/// `dev.sigstore.cosign/bundle`: the Rekor SET and the entry it covers.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundleAnnotation {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct BodyKind {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

fn legacy_tlog_entry(annotation: &str) -> Result<TransparencyLogEntry, String> {
    if annotation.len() > REKOR_BUNDLE_MAX {
        return Err(too_large(
            "rekor bundle annotation",
            annotation.len(),
            REKOR_BUNDLE_MAX,
        ));
    }
    let rekor: RekorBundleAnnotation = serde_json::from_str(annotation)
        .map_err(|e| format!("rekor bundle annotation is malformed ({e})"))?;
    let body = CanonicalizedBody::from_base64(&rekor.payload.body)
        .map_err(|_| "rekor entry body is not base64".to_owned())?;
    let kind: BodyKind = serde_json::from_slice(body.as_bytes())
        .map_err(|e| format!("rekor entry body is malformed ({e})"))?;
    let kind_version = match (kind.kind.as_str(), kind.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => KindVersion::HashedRekordV001,
        ("dsse", "0.0.1") => KindVersion::DsseV001,
        ("intoto", "0.0.2") => KindVersion::IntotoV002,
        (k, v) => {
            return Err(format!(
                "rekor entry kind `{k}` version `{v}` is not supported"
            ))
        }
    };
    let log_index = LogIndex::try_from(rekor.payload.log_index)
        .map_err(|_| format!("rekor log index `{}` is invalid", rekor.payload.log_index))?;
    let log_id = DigestBytes::from_hex(&rekor.payload.log_id)
        .map_err(|_| format!("rekor log id `{}` is not hex", rekor.payload.log_id))?;
    let integrated_time =
        jiff::Timestamp::from_second(rekor.payload.integrated_time).map_err(|_| {
            format!(
                "rekor integrated time `{}` is invalid",
                rekor.payload.integrated_time
            )
        })?;
    let set = SignedTimestamp::from_base64(&rekor.signed_entry_timestamp)
        .map_err(|_| "rekor signed entry timestamp is not base64".to_owned())?;
    Ok(TransparencyLogEntry::new(
        log_index,
        LogId::new(LogKeyId::new(log_id.into_bytes())),
        kind_version,
        body,
    )
    .with_integrated_time(integrated_time)
    .with_inclusion_promise(InclusionPromise::new(set)))
}

fn legacy_bundle(
    material: VerificationMaterialContent,
    entry: TransparencyLogEntry,
    content: SignatureContent,
) -> Bundle {
    Bundle::new(
        MediaType::Bundle0_1,
        VerificationMaterial::new(material).with_tlog_entries(vec![entry]),
        content,
    )
}

// ---------------------------------------------------------------------------------------
// Sigstore bundles attached to an image

/// The parts of an in-toto statement checked here.
#[derive(Deserialize)]
struct StatementHead {
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<StatementSubject>,
}

#[derive(Deserialize)]
struct StatementSubject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

fn verify_image_bundle(
    json: &[u8],
    digest: &Digest,
    signers: &[Arc<Signer>],
    fact: &mut SignatureFact,
) -> Result<(), String> {
    fact.kind = Some(SignatureKind::Bundle);
    let bundle = parse_bundle(json)?;
    if let Some(cert) = bundle.signing_certificate() {
        fact.identity = Some(identity_of(cert)?);
    }
    check_bundle_signs(&bundle, digest)?;
    let keyless = bundle.signing_certificate().is_some();
    for signer in signers {
        let verdict = match kind_mismatch(signer, keyless) {
            Some(mismatch) => Err(mismatch),
            None => artifact_for(Subject::Digest(digest))
                .and_then(|artifact| verify_bundle(&bundle, artifact, signer)),
        };
        record(fact, signer, verdict);
    }
    Ok(())
}

/// What an image bundle claims to sign: a cosign signature statement, or a message
/// signature, over `digest`.
fn check_bundle_signs(bundle: &Bundle, digest: &Digest) -> Result<(), String> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => {
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(format!(
                    "dsse payload type is `{}`, not `{IN_TOTO_PAYLOAD_TYPE}`",
                    envelope.payload_type
                ));
            }
            let statement: StatementHead = serde_json::from_slice(envelope.payload.as_bytes())
                .map_err(|e| format!("dsse payload is not an in-toto statement ({e})"))?;
            if statement.predicate_type != COSIGN_SIGNATURE_PREDICATE {
                return Err(format!(
                    "attestation `{}`, not a signature",
                    statement.predicate_type
                ));
            }
            let algorithm = algorithm_name(digest);
            let signs_it = statement
                .subject
                .iter()
                .any(|s| s.digest.get(algorithm).map(String::as_str) == Some(digest.hex()));
            if !signs_it {
                let first = statement
                    .subject
                    .iter()
                    .flat_map(|s| s.digest.iter())
                    .next()
                    .map(|(a, h)| format!("{a}:{h}"));
                return Err(match first {
                    Some(other) => format!(
                        "signs `{}`, not this image's `{}`",
                        short(&other),
                        short(&digest.to_string())
                    ),
                    None => "the statement has no subject digest".into(),
                });
            }
            Ok(())
        }
        SignatureContent::MessageSignature(m) => {
            // A message signature over an image signs the manifest bytes: its digest is the
            // image digest.
            if let Some(md) = &m.message_digest {
                let same = md.algorithm == hash_algorithm(digest)
                    && hex(md.digest.as_bytes()) == digest.hex();
                if !same {
                    return Err(format!(
                        "signs `{}`, not this image's `{}`",
                        short(&format!(
                            "{}:{}",
                            hash_name(md.algorithm),
                            hex(md.digest.as_bytes())
                        )),
                        short(&digest.to_string())
                    ));
                }
            }
            Ok(())
        }
        _ => Err("the bundle holds neither a message signature nor a dsse envelope".into()),
    }
}

// ---------------------------------------------------------------------------------------
// shared

/// The verifier call, with the policy chosen by the signer (never by the bundle).
fn verify_bundle(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    signer: &Signer,
) -> Result<Verified, String> {
    if let Some(mismatch) = kind_mismatch(signer, bundle.signing_certificate().is_some()) {
        return Err(mismatch);
    }
    match &signer.kind {
        SignerKind::Key {
            key,
            tlog,
            verifier,
            trusted_root,
            ..
        } => {
            let policy = match tlog {
                TlogPolicy::Require => PublicKeyVerificationPolicy::new(key.clone()),
                TlogPolicy::InsecureIgnore => {
                    PublicKeyVerificationPolicy::new(key.clone()).skip_tlog_unsafe()
                }
            };
            let result = verifier
                .verify(artifact, bundle, &policy)
                .map_err(|e| rejection_of(&e, bundle, trusted_root))?;
            Ok(verified(&result, None, bundle, trusted_root))
        }
        SignerKind::Keyless {
            issuer,
            subject,
            verifier,
            insecure_skip_sct,
            trusted_root,
            constraints,
            ..
        } => {
            // Identity is matched here (regex or exact) and only on a verified result.
            let mut policy = VerificationPolicy::any_identity().require_issuer(issuer.clone());
            if *insecure_skip_sct {
                policy = policy.skip_sct();
            }
            let result = verifier
                .verify(artifact, bundle, &policy)
                .map_err(|e| rejection_of(&e, bundle, trusted_root))?;
            if !result.certificate_verified() {
                return Err("the certificate chain was not verified".into());
            }
            let Some(san) = result.identity() else {
                return Err("the certificate has no URI or email subject".into());
            };
            if !subject.matches(san.as_str()) {
                return Err(format!(
                    "identity `{}` does not match {subject}",
                    san.as_str()
                ));
            }
            if !constraints.is_empty() {
                let Some(info) = result.certificate() else {
                    return Err("the certificate's claims cannot be read".into());
                };
                constraints.check(&info.ci_claims)?;
            }
            let identity = result.certificate().map(identity_from);
            Ok(verified(&result, identity, bundle, trusted_root))
        }
    }
}

fn verified(
    result: &VerificationResult,
    identity: Option<Identity>,
    bundle: &Bundle,
    root: &TrustedRoot,
) -> Verified {
    Verified {
        time_proofs: super::timestamp::time_proofs(bundle, root),
        identity,
        signed_at: result
            .verified_timestamps()
            .iter()
            .min()
            .map(|t| t.to_string()),
    }
}

fn record(fact: &mut SignatureFact, signer: &Signer, verdict: Result<Verified, String>) {
    match verdict {
        Ok(v) => {
            fact.verified_by.push(signer.name.clone());
            if let Some(at) = v.signed_at {
                if fact.signed_at.as_ref().is_none_or(|old| earlier(&at, old)) {
                    fact.signed_at = Some(at);
                }
            }
            if fact.identity.is_none() {
                fact.identity = v.identity;
            }
            if fact.time_proofs.is_empty() {
                fact.time_proofs = v.time_proofs;
            }
        }
        Err(reason) => fact.rejections.push(Rejection {
            signer: signer.name.clone(),
            reason,
        }),
    }
}

/// Whether RFC 3339 time `a` is before `b`. Not string order: a fractional second sorts
/// before the whole one (`…:04.5Z` < `…:04Z` as strings, since `.` < `Z`).
pub(crate) fn earlier(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a < b,
        _ => a < b,
    }
}

fn parse_bundle(json: &[u8]) -> Result<Bundle, String> {
    if json.len() > BUNDLE_MAX {
        return Err(too_large("bundle", json.len(), BUNDLE_MAX));
    }
    let text = std::str::from_utf8(json).map_err(|_| "the bundle is not utf-8".to_owned())?;
    Bundle::from_json(text).map_err(|e| {
        format!(
            "not a sigstore bundle ({})",
            lowercase_first(&e.to_string())
        )
    })
}

fn parse_certificate_pem(pem: &str) -> Result<DerCertificate, String> {
    DerCertificate::from_pem(pem)
        .map_err(|_| "the certificate annotation is not a PEM certificate".to_owned())
}

/// The identity in a certificate, read before (and whatever the outcome of) verification.
fn identity_of(cert: &DerCertificate) -> Result<Identity, String> {
    parse_certificate_info(cert)
        .map(|info| identity_from(&info))
        .map_err(|e| {
            format!(
                "the certificate cannot be parsed ({})",
                lowercase_first(&e.to_string())
            )
        })
}

fn identity_from(info: &CertificateInfo) -> Identity {
    let ci = &info.ci_claims;
    Identity {
        issuer: info.issuer.clone(),
        subject: info.identity.as_ref().map(|s| s.as_str().to_owned()),
        source_repository: ci.source_repository_uri.clone(),
        source_ref: ci.source_repository_ref.clone(),
        source_commit: ci.source_repository_digest.clone(),
        workflow: ci.build_config_uri.clone(),
        trigger: ci.build_trigger.clone(),
        source_owner: ci.source_repository_owner_uri.clone(),
        signer_workflow: ci.build_signer_uri.clone(),
        runner_environment: ci.runner_environment.clone(),
    }
}

fn artifact_for(subject: Subject<'_>) -> Result<Artifact<'_>, String> {
    match subject {
        Subject::Bytes(bytes) => Ok(Artifact::from_blob(bytes)),
        Subject::Digest(d) => {
            let invalid = || format!("digest `{d}` cannot be used");
            let digest = match d.algorithm() {
                DigestAlgorithm::Sha256 => {
                    ArtifactDigest::sha256(Sha256Hash::from_hex(d.hex()).map_err(|_| invalid())?)
                }
                DigestAlgorithm::Sha512 => ArtifactDigest::new(
                    HashAlgorithm::Sha2512,
                    DigestBytes::from_hex(d.hex()).map_err(|_| invalid())?,
                )
                .map_err(|_| invalid())?,
            };
            Ok(Artifact::Digest(digest))
        }
    }
}

fn algorithm_name(d: &Digest) -> &'static str {
    match d.algorithm() {
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha512 => "sha512",
    }
}

fn hash_algorithm(d: &Digest) -> HashAlgorithm {
    match d.algorithm() {
        DigestAlgorithm::Sha256 => HashAlgorithm::Sha2256,
        DigestAlgorithm::Sha512 => HashAlgorithm::Sha2512,
    }
}

fn hash_name(h: HashAlgorithm) -> &'static str {
    match h {
        HashAlgorithm::Sha2256 => "sha256",
        HashAlgorithm::Sha2384 => "sha384",
        HashAlgorithm::Sha2512 => "sha512",
        _ => "unknown",
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
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

fn signs_other_digest(signed: &Digest, expected: &Digest) -> String {
    format!(
        "signs `{}`, not this image's `{}`",
        short(&signed.to_string()),
        short(&expected.to_string())
    )
}

fn too_large(what: &str, len: usize, max: usize) -> String {
    format!("{what} is {len} bytes; the limit is {max}")
}

/// A verifier error as a one-line reason; a rejected RFC 3161 timestamp is explained
/// (which TSA, which genTime, why each authority of the root refused it).
fn rejection_of(e: &sigstore_verify::Error, bundle: &Bundle, root: &TrustedRoot) -> String {
    if let sigstore_verify::Error::Timestamp(_) = e {
        if let Some(explained) = super::timestamp::explain_rejection(bundle, root) {
            // The verifier's own message names only the last authority it tried.
            return explained;
        }
    }
    reason_of(e)
}

/// A verifier error as a one-line reason.
fn reason_of(e: &sigstore_verify::Error) -> String {
    match e {
        sigstore_verify::Error::IssuerMismatch { expected, actual } => match actual {
            Some(actual) => format!("issuer `{actual}` is not `{expected}`"),
            None => format!("the certificate has no issuer; expected `{expected}`"),
        },
        other => {
            let raw = lowercase_first(&other.to_string());
            // webpki and the log code speak in type names; say what they mean first.
            let plain = if raw.contains("CertExpired") || raw.contains("CertNotValidYet") {
                Some("the certificate was not valid at the time the log or a timestamp proves")
            } else if raw.contains("UnknownIssuer")
                || (raw.contains("certificate chain")
                    && raw.contains("InvalidSignatureForPublicKey"))
            {
                Some("the certificate was not issued by a CA of the trusted root")
            } else if raw.contains("No log key valid") {
                Some("logged in a transparency log that is not in the trusted root")
            } else {
                None
            };
            match plain {
                Some(plain) => format!("{plain} ({raw})"),
                None => raw,
            }
        }
    }
}

/// Lowercases the first letter unless it starts an acronym (`DSSE`, `SCT`).
fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && !b.is_uppercase() => {
            let mut out: String = a.to_lowercase().collect();
            out.push_str(s.get(a.len_utf8()..).unwrap_or_default());
            out
        }
        _ => s.to_owned(),
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
    use crate::verify::signers::SubjectMatcher;
    use crate::verify::Location;
    use sigstore_verify::crypto::KeyPair;

    const DIGEST: &str = "sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455";
    const OTHER: &str = "sha256:309f2197ead520b0393d343706195162f3621d69270af529ed5bc78f3affcc40";
    const REPO: &str = "127.0.0.1:5123/demo/app";

    fn digest(s: &str) -> Digest {
        Digest::parse(s).unwrap()
    }

    #[test]
    fn earlier_compares_times_not_strings() {
        assert!(earlier("2026-12-06T03:30:04Z", "2026-12-06T03:30:04.5Z"));
        assert!(!earlier("2026-12-06T03:30:04.5Z", "2026-12-06T03:30:04Z"));
        assert!(earlier("2026-12-06T03:30:03.999Z", "2026-12-06T03:30:04Z"));
    }

    fn payload(reference: &str, digest: &str, kind: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{kind}"}},"optional":null}}"#
        )
        .into_bytes()
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
        fn candidate(&self, payload: &[u8]) -> Candidate {
            let signature = self.pair.sign(payload).unwrap().to_base64();
            candidate(Material::SimpleSigning {
                payload: payload.to_vec(),
                signature,
                certificate: None,
                chain: None,
                rekor_bundle: None,
            })
        }
    }

    fn candidate(material: Material) -> Candidate {
        Candidate {
            location: Location::CosignTag {
                tag: "sha256-63a1.sig".into(),
                manifest: digest(OTHER),
                layer: 0,
            },
            attached_to: digest(DIGEST),
            material,
        }
    }

    fn only_reason(fact: &SignatureFact) -> &str {
        assert!(fact.verified_by.is_empty(), "{fact:?}");
        assert_eq!(fact.rejections.len(), 1, "{fact:?}");
        &fact.rejections[0].reason
    }

    #[test]
    fn accepts_a_key_signature_over_the_right_payload() {
        let keys = Keys::new();
        let c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
        let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
        let fact = verify(&c, REPO, &digest(DIGEST), &[signer]);
        assert_eq!(fact.verified_by, vec!["k".to_owned()]);
        assert!(fact.rejections.is_empty());
        assert_eq!(fact.kind, Some(SignatureKind::CosignKey));
        assert_eq!(fact.docker_reference.as_deref(), Some(REPO));
        assert_eq!(fact.signed_at, None);
    }

    #[test]
    fn denies_payload_of_another_type() {
        let keys = Keys::new();
        let c = keys.candidate(&payload(REPO, DIGEST, "atomic container signature"));
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert_eq!(
            only_reason(&fact),
            "payload type is `atomic container signature`, not `cosign container image signature`"
        );
        assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
    }

    #[test]
    fn denies_signature_for_other_digest() {
        let keys = Keys::new();
        let c = keys.candidate(&payload(REPO, OTHER, SIMPLE_SIGNING_TYPE));
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert_eq!(
            only_reason(&fact),
            "signs `sha256:309f2197ead5…`, not this image's `sha256:63a15806ff4b…`"
        );
    }

    #[test]
    fn denies_signature_for_other_repository() {
        let keys = Keys::new();
        let c = keys.candidate(&payload(
            "127.0.0.1:5123/demo/app-evil",
            DIGEST,
            SIMPLE_SIGNING_TYPE,
        ));
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert_eq!(
            only_reason(&fact),
            "signed for `127.0.0.1:5123/demo/app-evil`, not `127.0.0.1:5123/demo/app`"
        );
        assert_eq!(
            fact.docker_reference.as_deref(),
            Some("127.0.0.1:5123/demo/app-evil")
        );
    }

    #[test]
    fn denies_signature_for_same_path_on_another_registry() {
        let keys = Keys::new();
        let c = keys.candidate(&payload("ghcr.io/demo/app", DIGEST, SIMPLE_SIGNING_TYPE));
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert!(only_reason(&fact).starts_with("signed for `ghcr.io/demo/app`"));
    }

    #[test]
    fn accepts_docker_reference_with_tag_or_digest() {
        let keys = Keys::new();
        let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
        for reference in [
            format!("{REPO}:v1"),
            format!("{REPO}@{DIGEST}"),
            format!("{REPO}:v1@{DIGEST}"),
        ] {
            let c = keys.candidate(&payload(&reference, DIGEST, SIMPLE_SIGNING_TYPE));
            let fact = verify(&c, REPO, &digest(DIGEST), std::slice::from_ref(&signer));
            assert_eq!(
                fact.verified_by,
                vec!["k".to_owned()],
                "{reference}: {fact:?}"
            );
        }
    }

    #[test]
    fn normalises_docker_hub_forms() {
        let keys = Keys::new();
        let signer = keys.signer("k", TlogPolicy::InsecureIgnore);
        for (reference, repository) in [
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
            ("docker.io/library/nginx:1.25", "docker.io/library/nginx"),
            ("nginx", "docker.io/library/nginx"),
            ("registry-1.docker.io/acme/app", "docker.io/acme/app"),
            ("docker.io/acme/app", "acme/app"),
        ] {
            let c = keys.candidate(&payload(reference, DIGEST, SIMPLE_SIGNING_TYPE));
            let fact = verify(
                &c,
                repository,
                &digest(DIGEST),
                std::slice::from_ref(&signer),
            );
            assert_eq!(
                fact.verified_by,
                vec!["k".to_owned()],
                "{reference}: {fact:?}"
            );
        }
        let c = keys.candidate(&payload(
            "docker.io/library/nginx-evil",
            DIGEST,
            SIMPLE_SIGNING_TYPE,
        ));
        let fact = verify(&c, "docker.io/library/nginx", &digest(DIGEST), &[signer]);
        assert!(only_reason(&fact).starts_with("signed for"));
    }

    #[test]
    fn denies_payload_that_is_not_simple_signing() {
        let keys = Keys::new();
        for (body, start) in [
            (
                &b"not json"[..],
                "payload is not a cosign simple-signing document",
            ),
            (
                &br#"{"critical":{"type":"cosign container image signature"}}"#[..],
                "payload is not a cosign simple-signing document",
            ),
        ] {
            let fact = verify(
                &keys.candidate(body),
                REPO,
                &digest(DIGEST),
                &[keys.signer("k", TlogPolicy::InsecureIgnore)],
            );
            assert!(only_reason(&fact).starts_with(start), "{fact:?}");
            assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
        }
    }

    #[test]
    fn denies_payload_over_the_size_limit() {
        let keys = Keys::new();
        let mut big = payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE);
        big.truncate(big.len() - 1);
        big.extend(std::iter::repeat_n(b' ', PAYLOAD_MAX));
        big.push(b'}');
        let fact = verify(
            &keys.candidate(&big),
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert!(
            only_reason(&fact).starts_with("payload is 1048"),
            "{fact:?}"
        );
    }

    #[test]
    fn denies_edited_payload() {
        let keys = Keys::new();
        let good = payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE);
        let mut c = keys.candidate(&good);
        if let Material::SimpleSigning { payload, .. } = &mut c.material {
            // Same JSON meaning, one byte more: the signature covers bytes, not meaning.
            payload.push(b'\n');
        }
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert_eq!(
            only_reason(&fact),
            "signature does not verify with this key"
        );
        assert_eq!(fact.rejections[0].signer, "k");
    }

    #[test]
    fn denies_unlogged_key_signature_unless_the_signer_allows_it() {
        let keys = Keys::new();
        let c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::Require)],
        );
        assert!(
            only_reason(&fact).starts_with(
                "no transparency log proof; set `insecure_ignore_tlog: true` on signer `k`"
            ),
            "{fact:?}"
        );
    }

    #[test]
    fn records_every_signer_verdict() {
        let keys = Keys::new();
        let other = Keys::new();
        let c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
        let keyless = Arc::new(
            Signer::keyless(
                "ci",
                "https://token.actions.githubusercontent.com".into(),
                SubjectMatcher::Exact("https://github.com/acme/app".into()),
                None,
            )
            .unwrap(),
        );
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[
                other.signer("other", TlogPolicy::InsecureIgnore),
                keys.signer("k", TlogPolicy::InsecureIgnore),
                keyless,
            ],
        );
        assert_eq!(fact.verified_by, vec!["k".to_owned()]);
        let reasons: Vec<_> = fact
            .rejections
            .iter()
            .map(|r| (r.signer.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("other", "signature does not verify with this key"),
                ("ci", "signed with a key, signer `ci` is a keyless identity"),
            ]
        );
    }

    #[test]
    fn denies_signature_annotation_that_is_not_base64() {
        let keys = Keys::new();
        let mut c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
        if let Material::SimpleSigning { signature, .. } = &mut c.material {
            *signature = "%%%".into();
        }
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert_eq!(only_reason(&fact), "the signature annotation is not base64");
    }

    #[test]
    fn denies_malformed_rekor_bundle_for_a_key_that_needs_the_log() {
        let keys = Keys::new();
        let mut c = keys.candidate(&payload(REPO, DIGEST, SIMPLE_SIGNING_TYPE));
        if let Material::SimpleSigning { rekor_bundle, .. } = &mut c.material {
            *rekor_bundle = Some("{}".into());
        }
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::Require)],
        );
        assert!(
            only_reason(&fact).starts_with("rekor bundle annotation is malformed"),
            "{fact:?}"
        );
        // A signer that does not need the log still checks the signature itself.
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[keys.signer("k", TlogPolicy::InsecureIgnore)],
        );
        assert_eq!(fact.verified_by, vec!["k".to_owned()]);
    }

    #[test]
    fn verifies_committed_p384_ed25519_and_rsa_signatures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
        let body = std::fs::read(dir.join("payload.json")).unwrap();
        for alg in ["p384", "ed25519", "rsa"] {
            let pem = std::fs::read_to_string(dir.join(format!("{alg}.pub"))).unwrap();
            let sig = std::fs::read_to_string(dir.join(format!("payload.{alg}.sig"))).unwrap();
            let signer = Arc::new(Signer::key(alg, &pem, true).unwrap());
            let c = candidate(Material::SimpleSigning {
                payload: body.clone(),
                signature: sig,
                certificate: None,
                chain: None,
                rekor_bundle: None,
            });
            let fact = verify(&c, "127.0.0.1:5123/demo/keys", &digest(DIGEST), &[signer]);
            assert_eq!(fact.verified_by, vec![alg.to_owned()], "{alg}: {fact:?}");
        }
    }

    #[test]
    fn unparseable_bundle_gets_one_rejection_for_every_signer() {
        let keys = Keys::new();
        let c = candidate(Material::Bundle {
            json: b"{\"mediaType\": 3}".to_vec(),
            media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
        });
        let fact = verify(
            &c,
            REPO,
            &digest(DIGEST),
            &[
                keys.signer("a", TlogPolicy::Require),
                keys.signer("b", TlogPolicy::Require),
            ],
        );
        assert!(
            only_reason(&fact).starts_with("not a sigstore bundle"),
            "{fact:?}"
        );
        assert_eq!(fact.rejections[0].signer, ANY_SIGNER);
        assert_eq!(fact.kind, Some(SignatureKind::Bundle));
    }

    #[test]
    fn short_digest_keeps_the_algorithm() {
        assert_eq!(short(DIGEST), "sha256:63a15806ff4b…");
        assert_eq!(short("sha256:abc"), "sha256:abc");
    }

    #[test]
    fn lowercases_words_but_not_acronyms() {
        assert_eq!(lowercase_first("Invalid thing"), "invalid thing");
        assert_eq!(lowercase_first("DSSE failed"), "DSSE failed");
    }
}

#[cfg(test)]
mod dsse_key_tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use base64::Engine as _;
    use serde_json::json;
    use sigstore_verify::crypto::KeyPair;

    const DIGEST: &str = "sha256:7b265292318e82056f04db3fa982c037bad829edf5461c7999f6274f200942fe";
    const INTEGRATED: i64 = 1_700_000_000;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A signing key, a Rekor key with a trusted root naming it, and a DSSE envelope of a
    /// statement about [`DIGEST`] with its `dev.sigstore.cosign/bundle` annotation.
    struct Logged {
        signing: KeyPair,
        root: Arc<sigstore_verify::trust_root::TrustedRoot>,
        envelope: Vec<u8>,
        rekor_bundle: String,
    }

    fn logged() -> Logged {
        let signing = KeyPair::generate_ecdsa_p256().unwrap();
        let rekor = KeyPair::generate_ecdsa_p256().unwrap();
        let rekor_spki = rekor.public_key_der().unwrap();
        let log_id = sha256(rekor_spki.as_bytes());
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.supplygate.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(rekor_spki.as_bytes()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"}
                },
                "logId": {"keyId": b64(log_id.as_slice())}
            }],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": []
        });
        let root = Arc::new(
            sigstore_verify::trust_root::TrustedRoot::from_json(&root.to_string()).unwrap(),
        );
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "x", "digest": {"sha256": DIGEST.trim_start_matches("sha256:")}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        }))
        .unwrap();
        let pae = sigstore_verify::types::pae(IN_TOTO_PAYLOAD_TYPE, &statement);
        let signature = signing.sign(&pae).unwrap();
        let envelope = json!({
            "payload": b64(&statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": signature.to_base64(), "keyid": ""}],
        });
        let envelope_bytes = serde_json::to_vec(&envelope).unwrap();
        let pem = signing.public_key_der().unwrap().to_pem();
        let body = serde_json::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex(sha256(&envelope_bytes).as_slice())},
                "payloadHash": {"algorithm": "sha256", "value": hex(sha256(&statement).as_slice())},
                "signatures": [{"signature": signature.to_base64(), "verifier": b64(pem.as_bytes())}],
            },
        }))
        .unwrap();
        let body = b64(&body);
        let log_id = hex(log_id.as_slice());
        let canonical = format!(
            r#"{{"body":"{body}","integratedTime":{INTEGRATED},"logID":"{log_id}","logIndex":7}}"#
        );
        let set = rekor.sign(canonical.as_bytes()).unwrap().to_base64();
        let rekor_bundle = json!({
            "SignedEntryTimestamp": set,
            "Payload": {"body": body, "integratedTime": INTEGRATED, "logIndex": 7, "logID": log_id},
        })
        .to_string();
        Logged {
            signing,
            root,
            envelope: envelope_bytes,
            rekor_bundle,
        }
    }

    fn signer(l: &Logged, tlog: TlogPolicy) -> Signer {
        let pem = l.signing.public_key_der().unwrap().to_pem();
        Signer::key_with_trusted_root("k", &pem, tlog, Some(l.root.clone())).unwrap()
    }

    #[test]
    fn logged_key_dsse_verifies_with_its_rekor_set() {
        let l = logged();
        let digest = Digest::parse(DIGEST).unwrap();
        let v = verify_dsse_with_key(
            &l.envelope,
            Some(&l.rekor_bundle),
            &digest,
            &signer(&l, TlogPolicy::Require),
        )
        .unwrap();
        assert_eq!(v.signed_at.as_deref(), Some("2023-11-14T22:13:20Z"));
    }

    #[test]
    fn logged_key_dsse_needs_a_valid_set_when_the_log_is_required() {
        let l = logged();
        let digest = Digest::parse(DIGEST).unwrap();
        let forged = l.rekor_bundle.replace("\"logIndex\":7", "\"logIndex\":8");
        let e = verify_dsse_with_key(
            &l.envelope,
            Some(&forged),
            &digest,
            &signer(&l, TlogPolicy::Require),
        )
        .unwrap_err();
        assert_eq!(e.signer, "k");
        // Without the log requirement, the DSSE signature alone still counts.
        let v = verify_dsse_with_key(
            &l.envelope,
            Some(&forged),
            &digest,
            &signer(&l, TlogPolicy::InsecureIgnore),
        )
        .unwrap();
        assert_eq!(v.signed_at, None);
    }

    #[test]
    fn key_dsse_is_refused_by_a_keyless_signer() {
        let l = logged();
        let keyless = Signer::keyless(
            "ci",
            "https://issuer.example".into(),
            crate::verify::SubjectMatcher::Exact("x".into()),
            None,
        )
        .unwrap();
        let e = verify_dsse_with_key(&l.envelope, None, &Digest::parse(DIGEST).unwrap(), &keyless)
            .unwrap_err();
        assert_eq!(
            e.reason,
            "signed with a key, signer `ci` is a keyless identity"
        );
    }
}
