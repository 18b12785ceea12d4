//! Sigstore bundles attached to an image.

use super::*;

/// The parts of an in-toto statement checked here.
#[derive(Deserialize)]
pub(super) struct StatementHead {
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<StatementSubject>,
}

#[derive(Deserialize)]
pub(super) struct StatementSubject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

pub(super) fn verify_image_bundle(
    json: &[u8],
    digest: &Digest,
    signers: &[Arc<Signer>],
    fact: &mut SignatureFact,
) -> Result<(), Reason> {
    fact.kind = Some(SignatureKind::Bundle);
    let bundle = parse_bundle(json)?;
    if let Some(cert) = bundle.signing_certificate() {
        fact.identity = Some(Box::new(identity_of(cert)?));
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
pub(super) fn check_bundle_signs(bundle: &Bundle, digest: &Digest) -> Result<(), Reason> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => {
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(Reason::DssePayloadType {
                    found: envelope.payload_type.clone(),
                });
            }
            let statement: StatementHead = serde_json::from_slice(envelope.payload.as_bytes())
                .map_err(|e| Reason::BundlePayloadNotStatement {
                    detail: e.to_string(),
                })?;
            if statement.predicate_type != COSIGN_SIGNATURE_PREDICATE {
                return Err(Reason::AttestationNotSignature {
                    predicate_type: statement.predicate_type,
                });
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
                    Some(other) => Reason::SignsOtherDigest {
                        signed: Short(other),
                        expected: Short(digest.to_string()),
                    },
                    None => Reason::NoSubjectDigest,
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
                    return Err(Reason::SignsOtherDigest {
                        signed: Short(format!(
                            "{}:{}",
                            hash_name(md.algorithm),
                            hex(md.digest.as_bytes())
                        )),
                        expected: Short(digest.to_string()),
                    });
                }
            }
            Ok(())
        }
        _ => Err(Reason::NeitherMessageNorDsse),
    }
}
