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
pub(super) fn verify_simple_for(
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
pub(super) fn kind_mismatch(signer: &Signer, keyless: bool) -> Option<String> {
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

pub(super) fn parse_payload(bytes: &[u8]) -> Result<Payload, String> {
    if bytes.len() > PAYLOAD_MAX {
        return Err(too_large("payload", bytes.len(), PAYLOAD_MAX));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| format!("payload is not a cosign simple-signing document ({e})"))
}

/// The signer-independent checks: what the payload says it signs.
pub(super) fn check_payload(
    payload: &Payload,
    repository: &str,
    digest: &Digest,
) -> Result<(), String> {
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

pub(super) fn verify_simple_with_key(
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

pub(super) fn verify_simple_keyless(
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

pub(super) fn legacy_tlog_entry(annotation: &str) -> Result<TransparencyLogEntry, String> {
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
