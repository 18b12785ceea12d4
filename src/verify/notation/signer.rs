//! The `notation:` signer kind: a Notation trust policy and trust store, either written in
//! `supplygate.yaml` (one statement, scope `*`) or a `trustpolicy.json` used as it is.
//!
//! Both forms go through [`TrustPolicy::from_json`], so an inline signer is validated exactly
//! as Notation validates a policy file, and both are checked against the trust store when the
//! config is loaded: a store the policy names that is missing or empty is a config error, not
//! a signature that fails later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::policy::{Level, PolicyError, Statement, StoreKind, TrustPolicy, TrustStore};
use super::revocation::Crls;
use crate::reference::Digest;

/// Where a Notation signer's trust policy comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum PolicySource {
    /// Written in `supplygate.yaml`: one statement named after the signer, scope `*`.
    Inline,
    /// A `trustpolicy.json`, used as it is.
    File {
        /// The file.
        path: PathBuf,
    },
}

/// What an inline `notation:` signer says (`supplygate.yaml`), before validation.
#[derive(Debug, Clone, Default)]
pub struct InlinePolicy {
    /// `level`: `strict`, `permissive` or `audit` (`skip` verifies nothing and is refused).
    pub level: String,
    /// `identities`: `x509.subject: …` entries, or `*` alone.
    pub identities: Vec<String>,
    /// `trust_stores`: `ca:<name>`, `signingAuthority:<name>`, `tsa:<name>`; empty: every
    /// store found in the trust store directory.
    pub trust_stores: Vec<String>,
    /// `override`: check → action (`log`, `skip`, `enforce`), as in `trustpolicy.json`.
    pub overrides: BTreeMap<String, String>,
    /// `verify_timestamp`: `always` (default) or `afterCertExpiry`.
    pub verify_timestamp: Option<String>,
}

/// Why a `notation:` signer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotationSignerError {
    /// The policy (inline or file) is refused as Notation refuses it.
    #[error("{}", join(.0))]
    Policy(Vec<PolicyError>),
    /// Level `skip` in `supplygate.yaml`: such a signer can never vouch for an image.
    #[error("level `skip` verifies nothing, so this signer could never satisfy `require:`; leave the images out of the rule instead")]
    SkipLevel,
    /// The trust store directory holds no certificate.
    #[error("trust store `{}` holds no certificates under `x509/{{ca,signingAuthority,tsa}}/<name>/`", .path.display())]
    EmptyDirectory {
        /// The directory.
        path: PathBuf,
    },
}

fn join(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A Notation signer's trust: the policy, the store, and the CRLs for revocation.
#[derive(Debug, Clone)]
pub struct NotationTrust {
    /// The validated trust policy.
    pub policy: TrustPolicy,
    /// The certificates.
    pub store: TrustStore,
    /// Where the policy comes from.
    pub source: PolicySource,
    /// Certificate revocation lists available offline.
    pub crls: Crls,
}

impl NotationTrust {
    /// An inline signer: one statement named `name` with scope `*`, over the Notation trust
    /// store directory `trust_store` (`x509/<type>/<name>/<file>`).
    pub fn inline(
        name: &str,
        policy: &InlinePolicy,
        trust_store: &Path,
        crls: Crls,
    ) -> Result<Self, NotationSignerError> {
        if policy.level == "skip" {
            return Err(NotationSignerError::SkipLevel);
        }
        let store = load_store(trust_store)?;
        let stores: Vec<String> = if policy.trust_stores.is_empty() {
            store
                .names()
                .map(|(kind, name)| format!("{}:{name}", kind.as_str()))
                .collect()
        } else {
            policy.trust_stores.clone()
        };
        if stores.is_empty() {
            return Err(NotationSignerError::EmptyDirectory {
                path: trust_store.to_path_buf(),
            });
        }
        let mut verification = serde_json::Map::new();
        verification.insert("level".into(), json!(policy.level));
        if !policy.overrides.is_empty() {
            verification.insert("override".into(), json!(policy.overrides));
        }
        if let Some(v) = &policy.verify_timestamp {
            verification.insert("verifyTimestamp".into(), json!(v));
        }
        let document = json!({
            "version": "1.0",
            "trustPolicies": [{
                "name": name,
                "registryScopes": ["*"],
                "signatureVerification": verification,
                "trustStores": stores,
                "trustedIdentities": policy.identities,
            }],
        });
        let policy = TrustPolicy::from_json(document.to_string().as_bytes())
            .map_err(NotationSignerError::Policy)?;
        Self::checked(policy, store, PolicySource::Inline, crls)
    }

    /// A `trustpolicy.json` and a trust store directory, as Notation keeps them.
    pub fn from_files(
        trust_policy: &Path,
        trust_store: &Path,
        crls: Crls,
    ) -> Result<Self, NotationSignerError> {
        let unreadable = || {
            NotationSignerError::Policy(vec![PolicyError::Unreadable {
                path: trust_policy.to_path_buf(),
            }])
        };
        let bytes = crate::bounded::read_file(trust_policy, POLICY_MAX)
            .map_err(|_| unreadable())?
            .ok_or_else(unreadable)?;
        let policy = TrustPolicy::from_json(&bytes).map_err(NotationSignerError::Policy)?;
        let store = load_store(trust_store)?;
        let source = PolicySource::File {
            path: trust_policy.to_path_buf(),
        };
        Self::checked(policy, store, source, crls)
    }

    /// Every store each statement names must hold certificates (Notation fails at
    /// verification; here the config is refused up front).
    fn checked(
        policy: TrustPolicy,
        store: TrustStore,
        source: PolicySource,
        crls: Crls,
    ) -> Result<Self, NotationSignerError> {
        let mut errors = Vec::new();
        for statement in policy.statements.iter().filter(|s| s.level != Level::Skip) {
            for kind in [StoreKind::Ca, StoreKind::SigningAuthority, StoreKind::Tsa] {
                if let Err(e) = store.certificates_for(statement, kind) {
                    errors.push(e);
                }
            }
        }
        if !errors.is_empty() {
            return Err(NotationSignerError::Policy(errors));
        }
        Ok(Self {
            policy,
            store,
            source,
            crls,
        })
    }

    /// The statement that applies to `repository` (`registry/repository`).
    pub fn statement_for(&self, repository: &str) -> Option<&Statement> {
        self.policy.statement_for(repository)
    }

    /// What the lock fingerprints: the policy as validated and the certificates by digest.
    /// Built from values, never from `Debug`. CRLs are not in it: `--locked` re-runs the
    /// revocation check with the CRLs of the day (as it judges expiry at the current clock),
    /// so a routine CRL refresh does not stale every lock, and a newly revoked certificate
    /// changes the decision (a `lock-mismatch` deny).
    pub fn fingerprint(&self) -> serde_json::Value {
        let statements: Vec<serde_json::Value> = self
            .policy
            .statements
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "scopes": s.scopes,
                    "level": s.level,
                    "overrides": s.overrides.iter().map(|(c, a)| json!([c, a])).collect::<Vec<_>>(),
                    "verify_timestamp": s.verify_timestamp,
                    "trust_stores": s.trust_stores.iter().map(|(k, n)| format!("{}:{n}", k.as_str())).collect::<Vec<_>>(),
                    "identities": match &s.identities {
                        super::TrustedIdentities::Any => json!("*"),
                        super::TrustedIdentities::Subjects(subjects) => json!(subjects),
                    },
                })
            })
            .collect();
        let certificates: Vec<String> = self
            .store
            .names()
            .flat_map(|(kind, name)| {
                self.store
                    .certificates(kind, name)
                    .iter()
                    .map(move |der| format!("{}:{name}:{}", kind.as_str(), Digest::sha256_of(der)))
                    .collect::<Vec<_>>()
            })
            .collect();
        json!({
            "statements": statements,
            "certificates": certificates,
        })
    }
}

/// The trust store directory of a signer, which must exist (a typo is not an empty store).
fn load_store(trust_store: &Path) -> Result<TrustStore, NotationSignerError> {
    if !trust_store.is_dir() {
        return Err(NotationSignerError::Policy(vec![
            PolicyError::MissingStoreDir {
                path: trust_store.to_path_buf(),
            },
        ]));
    }
    TrustStore::load_dir(trust_store).map_err(|e| NotationSignerError::Policy(vec![e]))
}

/// The largest `trustpolicy.json` read.
const POLICY_MAX: u64 = 1024 * 1024;
