//! cosign simple signing (`.sig` layers), and legacy cosign annotations converted to v0.1 bundles.

use super::*;

/// What a `.sig` layer's signature is checked over, and its log proof.
pub(super) struct SimpleSig<'a> {
    pub(super) payload: &'a [u8],
    pub(super) rekor_bundle: Option<&'a str>,
}

/// The simple-signing payload, as far as it is checked. Unknown fields are allowed
/// (`optional` carries anything).
#[derive(Deserialize)]
pub(super) struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
pub(super) struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: PayloadImage,
    identity: PayloadIdentity,
}

#[derive(Deserialize)]
pub(super) struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
pub(super) struct PayloadIdentity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

/// Fills `fact` with the per-signer verdicts; `Err` is a problem with the candidate itself
/// (one rejection for every signer).
pub(super) fn verify_simple_signing(
    sig: &SimpleSig<'_>,
    (signature, certificate): (&str, Option<&str>),
    repository: &str,
    digest: &Digest,
    signers: &[Arc<Signer>],
    fact: &mut SignatureFact,
) -> Result<(), Reason> {
    fact.kind = Some(if certificate.is_some() {
        SignatureKind::CosignKeyless
    } else {
        SignatureKind::CosignKey
    });
    let certificate = match certificate {
        Some(pem) => {
            let der = parse_certificate_pem(pem)?;
            fact.identity = Some(Box::new(identity_of(&der)?));
            Some(der)
        }
        None => None,
    };
    let payload = parse_payload(sig.payload)?;
    fact.docker_reference = Some(payload.critical.identity.reference.clone());
    check_payload(&payload, repository, digest)?;
    let signature =
        SignatureBytes::from_base64(signature.trim()).map_err(|_| Reason::SignatureNotBase64)?;

    for signer in signers {
        let verdict = verify_simple_for(sig, &signature, certificate.as_ref(), signer);
        record(fact, signer, verdict);
    }
    Ok(())
}

/// One signer's verdict on a `.sig` layer's signature (the payload is checked elsewhere).
pub(super) fn verify_simple_for(
    sig: &SimpleSig<'_>,
    signature: &SignatureBytes,
    certificate: Option<&DerCertificate>,
    signer: &Signer,
) -> Result<Verified, Reason> {
    if let Some(mismatch) = kind_mismatch(signer, certificate.is_some()) {
        return Err(mismatch);
    }
    match certificate {
        None => verify_simple_with_key(sig, signature, signer),
        Some(cert) => verify_simple_keyless(sig, signature, cert, signer),
    }
}

/// Why `signer` cannot verify a signature made with a certificate (`keyless`) or a key.
pub(super) fn kind_mismatch(signer: &Signer, keyless: bool) -> Option<Reason> {
    match (&signer.kind, keyless) {
        (SignerKind::Notation(_), _) => Some(notation_only(signer)),
        (SignerKind::Key { .. }, true) => Some(Reason::SignedWithCertificate {
            signer: signer.name.clone(),
        }),
        (SignerKind::Keyless { .. }, false) => Some(Reason::SignedWithKey {
            signer: signer.name.clone(),
        }),
        _ => None,
    }
}

/// The rejection of a cosign or Sigstore signature by a `notation:` signer.
pub(super) fn notation_only(signer: &Signer) -> Reason {
    Reason::NotationSignerOnly {
        signer: signer.name.clone(),
    }
}

pub(super) fn parse_payload(bytes: &[u8]) -> Result<Payload, Reason> {
    if bytes.len() > PAYLOAD_MAX {
        return Err(too_large("payload", bytes.len(), PAYLOAD_MAX));
    }
    serde_json::from_slice(bytes).map_err(|e| Reason::PayloadNotSimpleSigning {
        detail: e.to_string(),
    })
}

/// The signer-independent checks: what the payload says it signs.
pub(super) fn check_payload(
    payload: &Payload,
    repository: &str,
    digest: &Digest,
) -> Result<(), Reason> {
    let critical = &payload.critical;
    if critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(Reason::PayloadType {
            found: critical.kind.clone(),
        });
    }
    let signed =
        Digest::parse(&critical.image.digest).map_err(|_| Reason::PayloadDigestInvalid {
            digest: critical.image.digest.clone(),
        })?;
    if &signed != digest {
        return Err(signs_other_digest(&signed, digest));
    }
    let reference = &critical.identity.reference;
    let signed_for = ImageRef::parse(reference)
        .map_err(|_| Reason::PayloadReferenceInvalid {
            reference: reference.clone(),
        })?
        .name();
    let expected = ImageRef::parse(repository)
        .map(|r| r.name())
        .unwrap_or_else(|_| repository.to_owned());
    if signed_for != expected {
        return Err(Reason::SignedForOtherRepository {
            signed_for,
            expected,
        });
    }
    Ok(())
}

pub(super) fn verify_simple_with_key(
    sig: &SimpleSig<'_>,
    signature: &SignatureBytes,
    signer: &Signer,
) -> Result<Verified, Reason> {
    let SignerKind::Key {
        key,
        scheme,
        tlog,
        verifier,
        trusted_root,
        ..
    } = &signer.kind
    else {
        return Err(Reason::NotAKeySigner);
    };
    let plain = || {
        verify_signature(key, sig.payload, signature, *scheme)
            .map(|()| Verified {
                identity: None,
                signed_at: None,
                time_proofs: Vec::new(),
            })
            .map_err(|_| Reason::KeySignatureInvalid)
    };
    let Some(rekor_bundle) = sig.rekor_bundle else {
        return match tlog {
            TlogPolicy::InsecureIgnore => plain(),
            TlogPolicy::Require => Err(Reason::NoTlogProof {
                signer: signer.name.clone(),
            }),
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
            .map(|r| verified(&r, None, &bundle, trusted_root, true))
            .map_err(|e| reason_of(&e))
    });
    match (logged, tlog) {
        (Ok(v), _) => Ok(v),
        // The log proof is optional for this signer: a key signature that verifies counts.
        (Err(_), TlogPolicy::InsecureIgnore) => plain(),
        (Err(e), TlogPolicy::Require) => Err(e),
    }
}

pub(super) fn verify_simple_keyless(
    sig: &SimpleSig<'_>,
    signature: &SignatureBytes,
    certificate: &DerCertificate,
    signer: &Signer,
) -> Result<Verified, Reason> {
    let Some(rekor_bundle) = sig.rekor_bundle else {
        return Err(Reason::NoTimeProof);
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

pub(super) fn message_signature(payload: &[u8], signature: &SignatureBytes) -> SignatureContent {
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
pub(super) struct RekorBundleAnnotation {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
pub(super) struct BodyKind {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

pub(super) fn legacy_tlog_entry(annotation: &str) -> Result<TransparencyLogEntry, Reason> {
    if annotation.len() > REKOR_BUNDLE_MAX {
        return Err(too_large(
            "rekor bundle annotation",
            annotation.len(),
            REKOR_BUNDLE_MAX,
        ));
    }
    let rekor: RekorBundleAnnotation =
        serde_json::from_str(annotation).map_err(|e| RekorProblem::Malformed {
            detail: e.to_string(),
        })?;
    let body = CanonicalizedBody::from_base64(&rekor.payload.body)
        .map_err(|_| RekorProblem::BodyNotBase64)?;
    let kind: BodyKind =
        serde_json::from_slice(body.as_bytes()).map_err(|e| RekorProblem::BodyMalformed {
            detail: e.to_string(),
        })?;
    let kind_version = match (kind.kind.as_str(), kind.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => KindVersion::HashedRekordV001,
        ("dsse", "0.0.1") => KindVersion::DsseV001,
        ("intoto", "0.0.2") => KindVersion::IntotoV002,
        (k, v) => {
            return Err(RekorProblem::UnsupportedKind {
                kind: k.to_owned(),
                version: v.to_owned(),
            }
            .into())
        }
    };
    let log_index =
        LogIndex::try_from(rekor.payload.log_index).map_err(|_| RekorProblem::LogIndex {
            index: rekor.payload.log_index,
        })?;
    let log_id = DigestBytes::from_hex(&rekor.payload.log_id).map_err(|_| RekorProblem::LogId {
        id: rekor.payload.log_id.clone(),
    })?;
    let integrated_time =
        jiff::Timestamp::from_second(rekor.payload.integrated_time).map_err(|_| {
            RekorProblem::IntegratedTime {
                time: rekor.payload.integrated_time,
            }
        })?;
    let set = SignedTimestamp::from_base64(&rekor.signed_entry_timestamp)
        .map_err(|_| RekorProblem::SetNotBase64)?;
    Ok(TransparencyLogEntry::new(
        log_index,
        LogId::new(LogKeyId::new(log_id.into_bytes())),
        kind_version,
        body,
    )
    .with_integrated_time(integrated_time)
    .with_inclusion_promise(InclusionPromise::new(set)))
}

pub(super) fn legacy_bundle(
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
