//! The fingerprint of what judged the images: signers and trusted roots, and the policies.

use std::sync::Arc;

use base64::Engine as _;

use super::LockError;
use crate::config::Config;
use crate::reference::Digest;
use sigstore_verify::crypto::{KeyAlgorithm, SigningScheme};

use crate::verify::signers::{SignerKind, TlogPolicy};
use crate::verify::Signer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `sha256` over every signer (name, kind, key or identity, options) and its trusted root.
    pub trust: Digest,
    /// The policy library's [`crate::policy::Engine::digest`].
    pub policy: Digest,
}

impl Fingerprint {
    /// The fingerprint of a run with `config`'s signers and the `policy` library.
    pub fn new(config: &Config, policy: &crate::policy::Engine) -> Result<Self, LockError> {
        Ok(Self {
            trust: trust_digest(config.signers.values())?,
            policy: policy.digest().clone(),
        })
    }
}

/// `sha256` over a canonical JSON of the signers (sorted by name): kind, key (DER) or identity,
/// verification options, and the trusted root each uses.
pub(super) fn trust_digest<'a>(
    signers: impl Iterator<Item = &'a Arc<Signer>>,
) -> Result<Digest, LockError> {
    let serialize = |source| LockError::Serialize {
        what: "a trusted root",
        source,
    };
    let mut entries: Vec<serde_json::Value> = Vec::new();
    for signer in signers {
        let root_digest = |root: &sigstore_verify::trust_root::TrustedRoot| {
            serde_json::to_vec(root)
                .map(|json| Digest::sha256_of(&json).to_string())
                .map_err(serialize)
        };
        entries.push(match &signer.kind {
            SignerKind::Key {
                key,
                algorithm,
                scheme,
                tlog,
                trusted_root,
                ..
            } => serde_json::json!({
                "name": signer.name,
                "kind": "key",
                "key": base64::engine::general_purpose::STANDARD.encode(key.as_bytes()),
                "algorithm": algorithm_name(*algorithm)?,
                "scheme": scheme_name(*scheme)?,
                "tlog": tlog_name(*tlog),
                "trusted_root": root_digest(trusted_root)?,
            }),
            SignerKind::Keyless {
                issuer,
                subject,
                trusted_root,
                insecure_skip_sct,
                constraints,
                timestamp_threshold,
                allow_timestamp_only,
                ..
            } => {
                let mut entry = serde_json::json!({
                    "name": signer.name,
                    "kind": "keyless",
                    "issuer": issuer,
                    "subject": subject.to_string(),
                    "insecure_skip_sct": insecure_skip_sct,
                    "trusted_root": root_digest(trusted_root)?,
                });
                // Only when set, so that locks written before constraints existed still match.
                if let (false, Some(map)) = (constraints.is_empty(), entry.as_object_mut()) {
                    map.insert("constraints".into(), constraints.to_string().into());
                }
                // Likewise only when not the default.
                if let (true, Some(map)) = (*timestamp_threshold != 1, entry.as_object_mut()) {
                    map.insert("timestamp_threshold".into(), (*timestamp_threshold).into());
                }
                if let (true, Some(map)) = (*allow_timestamp_only, entry.as_object_mut()) {
                    map.insert("allow_timestamp_only".into(), true.into());
                }
                entry
            }
            SignerKind::Notation(trust) => serde_json::json!({
                "name": signer.name,
                "kind": "notation",
                "trust": trust.fingerprint(),
            }),
        });
    }
    entries.sort_by_key(|e| e.get("name").and_then(|n| n.as_str()).map(str::to_owned));
    let text = serde_json::to_string(&entries).map_err(|source| LockError::Serialize {
        what: "the signers",
        source,
    })?;
    Ok(Digest::sha256_of(text.as_bytes()))
}

// The names below are part of every committed lock's `trust` digest. They are written out
// here, not taken from `Debug`, so that a dependency renaming a variant or changing its
// `Debug` cannot mark every lock stale; they are the names `Debug` printed when locks of
// format version 1 were first written, so those locks keep their fingerprint.

/// The stable name of a key algorithm in the trust digest.
fn algorithm_name(algorithm: KeyAlgorithm) -> Result<&'static str, LockError> {
    Ok(match algorithm {
        KeyAlgorithm::EcdsaP256 => "EcdsaP256",
        KeyAlgorithm::EcdsaP384 => "EcdsaP384",
        KeyAlgorithm::Ed25519 => "Ed25519",
        KeyAlgorithm::Rsa => "Rsa",
        KeyAlgorithm::MlDsa44 => "MlDsa44",
        KeyAlgorithm::MlDsa65 => "MlDsa65",
        KeyAlgorithm::MlDsa87 => "MlDsa87",
        _ => {
            return Err(LockError::UnnamedTrust {
                what: "key algorithm",
            })
        }
    })
}

/// The stable name of a signing scheme in the trust digest.
fn scheme_name(scheme: SigningScheme) -> Result<&'static str, LockError> {
    Ok(match scheme {
        SigningScheme::EcdsaP256Sha256 => "EcdsaP256Sha256",
        SigningScheme::EcdsaP256Sha384 => "EcdsaP256Sha384",
        SigningScheme::EcdsaP384Sha256 => "EcdsaP384Sha256",
        SigningScheme::EcdsaP384Sha384 => "EcdsaP384Sha384",
        SigningScheme::Ed25519 => "Ed25519",
        SigningScheme::RsaPssSha256 => "RsaPssSha256",
        SigningScheme::RsaPssSha384 => "RsaPssSha384",
        SigningScheme::RsaPssSha512 => "RsaPssSha512",
        SigningScheme::RsaPkcs1Sha256 => "RsaPkcs1Sha256",
        SigningScheme::RsaPkcs1Sha384 => "RsaPkcs1Sha384",
        SigningScheme::RsaPkcs1Sha512 => "RsaPkcs1Sha512",
        SigningScheme::MlDsa44 => "MlDsa44",
        SigningScheme::MlDsa65 => "MlDsa65",
        SigningScheme::MlDsa87 => "MlDsa87",
        _ => {
            return Err(LockError::UnnamedTrust {
                what: "signing scheme",
            })
        }
    })
}

/// The stable name of a transparency log policy in the trust digest.
fn tlog_name(tlog: TlogPolicy) -> &'static str {
    match tlog {
        TlogPolicy::Require => "Require",
        TlogPolicy::InsecureIgnore => "InsecureIgnore",
    }
}
