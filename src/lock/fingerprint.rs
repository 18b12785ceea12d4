//! The fingerprint of what judged the images: signers and trusted roots, and the policies.

use std::sync::Arc;

use base64::Engine as _;

use super::LockError;
use crate::config::Config;
use crate::reference::Digest;
use crate::verify::signers::SignerKind;
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
                "algorithm": format!("{algorithm:?}"),
                "scheme": format!("{scheme:?}"),
                "tlog": format!("{tlog:?}"),
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
        });
    }
    entries.sort_by_key(|e| e.get("name").and_then(|n| n.as_str()).map(str::to_owned));
    let text = serde_json::to_string(&entries).map_err(|source| LockError::Serialize {
        what: "the signers",
        source,
    })?;
    Ok(Digest::sha256_of(text.as_bytes()))
}
