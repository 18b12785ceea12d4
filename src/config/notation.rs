//! The `notation:` signer kind of `supplygate.yaml`: a trust policy written inline, or an
//! existing Notation `trustpolicy.json` with its trust store directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Node, Validator};
use crate::verify::notation::{Crls, InlinePolicy, NotationTrust};
use crate::verify::Signer;

pub(super) const KEYS_NOTATION: &[&str] = &[
    "trust_store",
    "trust_policy",
    "identities",
    "level",
    "trust_stores",
    "override",
    "verify_timestamp",
    "crls",
];

impl Validator {
    /// A `provenance:` rule may not name a `notation:` signer: Notation signs images, not
    /// SLSA attestations.
    pub(super) fn no_notation_provenance(&mut self, node: &Node, signers: &[Arc<Signer>]) {
        for s in signers.iter().filter(|s| s.is_notation()) {
            self.problem(
                node,
                format!(
                    "signer `{}` is a `notation:` signer: it verifies image signatures, not provenance attestations",
                    s.name
                ),
                Some("name a cosign key or keyless signer here".into()),
            );
        }
    }

    pub(super) fn notation_signer(&mut self, name: &str, node: &Node) -> Option<Signer> {
        let ctx = format!("signers.{name}.notation");
        let fields = self.fields(node, KEYS_NOTATION, &ctx);
        // A non-mapping was already reported by `fields`.
        node.as_mapping()?;
        let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let Some(store_node) = field("trust_store") else {
            self.problem(
                node,
                format!("notation signer `{name}` needs a `trust_store`"),
                Some("a directory in Notation's layout: `x509/ca/<name>/*.crt`".into()),
            );
            return None;
        };
        let trust_store = self.path(store_node, "trust_store")?;
        // CRLs: the trust store's `crl/` folder, and the files listed.
        let mut crl_files = Vec::new();
        if let Some(v) = field("crls") {
            for (_, text) in self.string_items(v, "crls") {
                crl_files.push(self.resolve(&text));
            }
        }
        let crl_node = field("crls").unwrap_or(store_node);
        let mut crls = match Crls::from_files(&crl_files) {
            Ok(c) => c,
            Err(e) => {
                self.problem(crl_node, format!("signer `{name}`: {e}"), None);
                return None;
            }
        };
        if let Err(e) = crls.add_dir(&trust_store.join("crl")) {
            self.problem(store_node, format!("signer `{name}`: {e}"), None);
            return None;
        }
        let built = if let Some(policy_node) = field("trust_policy") {
            for key in [
                "identities",
                "level",
                "trust_stores",
                "override",
                "verify_timestamp",
            ] {
                if let Some(v) = field(key) {
                    self.problem(
                        v,
                        format!("`{key}` comes from the `trust_policy` file of signer `{name}`"),
                        Some("give either `trust_policy:` or the policy inline, not both".into()),
                    );
                }
            }
            let path = self.path(policy_node, "trust_policy")?;
            NotationTrust::from_files(&path, &trust_store, crls).map_err(|e| (policy_node, e))
        } else {
            let mut inline = InlinePolicy::default();
            match field("level") {
                Some(v) => {
                    inline.level = self.string(v, "level")?;
                    if inline.level == "skip" {
                        let e = crate::verify::notation::NotationSignerError::SkipLevel;
                        self.problem(v, format!("notation signer `{name}`: {e}"), None);
                        return None;
                    }
                }
                None => {
                    self.problem(
                        node,
                        format!("notation signer `{name}` needs a `level`"),
                        Some("`strict` unless you mean Notation's `permissive` or `audit`".into()),
                    );
                    return None;
                }
            }
            match field("identities") {
                Some(v) => {
                    inline.identities = self
                        .string_items(v, "identities")
                        .into_iter()
                        .map(|(_, s)| s)
                        .collect();
                }
                None => {
                    self.problem(
                        node,
                        format!("notation signer `{name}` needs `identities`"),
                        Some(
                            "e.g. `[\"x509.subject: C=US, ST=WA, O=Acme\"]`; `[\"*\"]` trusts everyone the CA vouches for"
                                .into(),
                        ),
                    );
                    return None;
                }
            }
            if let Some(v) = field("trust_stores") {
                inline.trust_stores = self
                    .string_items(v, "trust_stores")
                    .into_iter()
                    .map(|(_, s)| s)
                    .collect();
            }
            if let Some(v) = field("verify_timestamp") {
                inline.verify_timestamp = self.string(v, "verify_timestamp");
            }
            if let Some(v) = field("override") {
                let mut overrides = BTreeMap::new();
                for (check, action) in self.fields(v, OVERRIDABLE, &format!("{ctx}.override")) {
                    if let Some(action) = self.string(action, check) {
                        overrides.insert(check.to_owned(), action);
                    }
                }
                inline.overrides = overrides;
            }
            NotationTrust::inline(name, &inline, &trust_store, crls)
                .map_err(|e| (inline_error_node(&e, &inline, &field, node, store_node), e))
        };
        match built {
            Ok(trust) => Some(Signer::notation(name, trust)),
            Err((at, e)) => {
                self.problem(at, format!("notation signer `{name}`: {e}"), None);
                None
            }
        }
    }
}

/// Where in `supplygate.yaml` an inline signer's error lies: the key whose value the
/// validated policy refused (`level`, `override`, `identities`, `verify_timestamp`,
/// `trust_stores`), the `trust_store` for the directory, else the `notation:` mapping.
fn inline_error_node<'n>(
    error: &crate::verify::notation::NotationSignerError,
    inline: &InlinePolicy,
    field: &dyn Fn(&str) -> Option<&'n Node>,
    node: &'n Node,
    store_node: &'n Node,
) -> &'n Node {
    use crate::verify::notation::{NotationSignerError, PolicyError};
    let at = |key: &str| field(key).unwrap_or(node);
    let NotationSignerError::Policy(errors) = error else {
        return store_node;
    };
    match errors.first() {
        Some(PolicyError::UnknownValue { value, .. }) => {
            if *value == inline.level {
                at("level")
            } else if inline.verify_timestamp.as_deref() == Some(value.as_str()) {
                at("verify_timestamp")
            } else {
                at("override")
            }
        }
        Some(PolicyError::ForbiddenOverride { .. }) => at("override"),
        Some(PolicyError::InvalidIdentity { .. }) | Some(PolicyError::TrustMismatch { .. }) => {
            at("identities")
        }
        Some(PolicyError::InvalidTrustStore { .. }) | Some(PolicyError::EmptyTrustStore { .. }) => {
            field("trust_stores").unwrap_or(store_node)
        }
        Some(
            PolicyError::BadStoreName { .. }
            | PolicyError::MissingStoreDir { .. }
            | PolicyError::BadCertificateFile { .. }
            | PolicyError::Unreadable { .. },
        ) => store_node,
        _ => node,
    }
}

/// The checks `override:` may name (Notation refuses `integrity`).
const OVERRIDABLE: &[&str] = &["authenticity", "authenticTimestamp", "expiry", "revocation"];
