//! Notation trust policies (`trustpolicy.json`, version 1.0, OCI artifacts) and trust stores
//! (`truststore/x509/{ca,signingAuthority,tsa}/<name>/*`), with the validation rules Notation
//! applies before it verifies anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use super::pki::DistinguishedName;

/// One check of Notation's verification, in the order Notation runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Check {
    /// The envelope verifies and its payload names the artifact. Never overridable.
    Integrity,
    /// The chain leads to the trust store and the signer is a trusted identity.
    Authenticity,
    /// The signing time is trustworthy (valid certificates now, or an authentic timestamp).
    AuthenticTimestamp,
    /// The signature's own `io.cncf.notary.expiry` has not passed.
    Expiry,
    /// No certificate of the chain is revoked.
    Revocation,
}

impl Check {
    /// Notation's name of the check (`integrity`, `authenticity`, `authenticTimestamp`,
    /// `expiry`, `revocation`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integrity => "integrity",
            Self::Authenticity => "authenticity",
            Self::AuthenticTimestamp => "authenticTimestamp",
            Self::Expiry => "expiry",
            Self::Revocation => "revocation",
        }
    }

    /// Every check, in the order Notation runs them.
    pub const ALL: [Self; 5] = [
        Self::Integrity,
        Self::Authenticity,
        Self::AuthenticTimestamp,
        Self::Expiry,
        Self::Revocation,
    ];
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A failure rejects the signature.
    Enforce,
    /// A failure is recorded, the signature still counts.
    Log,
    /// The check is not run.
    Skip,
}

/// `signatureVerification.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Every check enforced.
    Strict,
    /// Integrity and authenticity enforced, the rest logged.
    Permissive,
    /// Integrity enforced, the rest logged.
    Audit,
    /// Nothing verified: the artifact passes unsigned.
    Skip,
}

impl Level {
    /// The level's default action for a check (Notation's table).
    pub fn action(self, check: Check) -> Action {
        match (self, check) {
            (Self::Skip, _) => Action::Skip,
            (Self::Strict, _) | (_, Check::Integrity) => Action::Enforce,
            (Self::Permissive, Check::Authenticity) => Action::Enforce,
            (Self::Permissive | Self::Audit, _) => Action::Log,
        }
    }
}

/// `signatureVerification.verifyTimestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VerifyTimestamp {
    /// Verify a timestamp whenever the signature carries one (the default).
    Always,
    /// Verify it only when a certificate of the signing chain has expired.
    AfterCertExpiry,
}

/// A trust store type (`<type>:<name>` in `trustStores`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StoreKind {
    /// Certificate authorities (signing scheme `notary.x509`).
    Ca,
    /// Signing authorities (signing scheme `notary.x509.signingAuthority`).
    SigningAuthority,
    /// Timestamping authorities' roots.
    Tsa,
}

impl StoreKind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ca" => Some(Self::Ca),
            "signingAuthority" => Some(Self::SigningAuthority),
            "tsa" => Some(Self::Tsa),
            _ => None,
        }
    }

    /// As written in `trustStores` and as the store's directory name.
    pub fn as_str(self) -> &'static str {
        self.dir()
    }

    fn dir(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::SigningAuthority => "signingAuthority",
            Self::Tsa => "tsa",
        }
    }
}

/// Who may have signed: anyone the trust store vouches for, or these subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedIdentities {
    /// `*`.
    Any,
    /// `x509.subject: …` entries; a signer matches one when every attribute of the entry is
    /// in its subject with the same value.
    Subjects(Vec<DistinguishedName>),
}

/// One validated trust policy statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `name`.
    pub name: String,
    /// `registryScopes`; `None` for the `*` statement.
    pub scopes: Option<Vec<String>>,
    /// `signatureVerification.level`.
    pub level: Level,
    /// `signatureVerification.override`.
    pub overrides: BTreeMap<Check, Action>,
    /// `signatureVerification.verifyTimestamp`.
    pub verify_timestamp: VerifyTimestamp,
    /// `trustStores`.
    pub trust_stores: Vec<(StoreKind, String)>,
    /// `trustedIdentities`.
    pub identities: TrustedIdentities,
}

impl Statement {
    /// What a failure of `check` does under this statement.
    pub fn action(&self, check: Check) -> Action {
        self.overrides
            .get(&check)
            .copied()
            .unwrap_or_else(|| self.level.action(check))
    }
}

/// A validated `trustpolicy.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    /// The statements, in file order.
    pub statements: Vec<Statement>,
}

/// Why a trust policy or trust store is unusable (Notation refuses the same files).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON of the trust policy shape (unknown keys included).
    #[error("trust policy is not valid JSON of the expected shape: {detail}")]
    Malformed {
        /// What the JSON reader said, with the line and column.
        detail: String,
    },
    /// `version` other than `1.0`.
    #[error("trust policy version `{version}` is not supported (expected `1.0`)")]
    UnsupportedVersion {
        /// The version written.
        version: String,
    },
    /// No statements.
    #[error("trust policy has no statements")]
    NoStatements,
    /// A statement without a name, or a name used twice.
    #[error("trust policy statement name `{name}` is empty or used twice")]
    BadName {
        /// The name.
        name: String,
    },
    /// No `registryScopes`.
    #[error("statement `{statement}` has no `registryScopes`")]
    NoScopes {
        /// The statement.
        statement: String,
    },
    /// `*` together with other scopes.
    #[error("statement `{statement}`: the wildcard scope `*` must be the only scope")]
    WildcardScopeNotAlone {
        /// The statement.
        statement: String,
    },
    /// A scope in two statements, or `*` in two statements.
    #[error("registry scope `{scope}` appears in more than one statement")]
    DuplicateScope {
        /// The scope.
        scope: String,
    },
    /// A scope that is not `host/repository` (no tag, no digest).
    #[error("registry scope `{scope}` is not `registry/repository`")]
    InvalidScope {
        /// The scope.
        scope: String,
    },
    /// A scope that is valid but not in the normal form references are matched in (upper
    /// case, `:443`, a Docker Hub name without `library/`, `index.docker.io`): it could never
    /// match, so the `*` statement would decide instead.
    #[error("registry scope `{scope}` can never match an image: write it as {}", .normal.as_deref().map_or_else(|| "a lower-case `registry/repository`".to_owned(), |n| format!("`{n}`")))]
    ScopeNotNormal {
        /// The scope.
        scope: String,
        /// Its normal form, when there is one.
        normal: Option<String>,
    },
    /// A JSON object that repeats a key (the last would win silently).
    #[error("trust policy repeats the key `{key}` in one object")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// An unknown level, check, action or `verifyTimestamp` value.
    #[error("statement `{statement}`: unknown value `{value}` in `signatureVerification`")]
    UnknownValue {
        /// The statement.
        statement: String,
        /// The value.
        value: String,
    },
    /// `override` of `integrity`, or any override under level `skip`.
    #[error("statement `{statement}`: this check cannot be overridden")]
    ForbiddenOverride {
        /// The statement.
        statement: String,
    },
    /// Level `skip` with trust stores or identities, or another level without them.
    #[error("statement `{statement}`: `trustStores` and `trustedIdentities` must be set unless the level is `skip`, and empty when it is")]
    TrustMismatch {
        /// The statement.
        statement: String,
    },
    /// A `trustStores` entry that is not `ca|signingAuthority|tsa:<name>`.
    #[error("statement `{statement}`: trust store `{entry}` is not `<type>:<name>`")]
    InvalidTrustStore {
        /// The statement.
        statement: String,
        /// The entry.
        entry: String,
    },
    /// `*` together with other identities, or an identity that is not `x509.subject: <DN>`
    /// with `C`, `ST` and `O`.
    #[error("statement `{statement}`: trusted identity `{identity}` is invalid")]
    InvalidIdentity {
        /// The statement.
        statement: String,
        /// The identity.
        identity: String,
    },
    /// A trust store named by the policy has no certificate.
    #[error("trust store `{}:{name}` has no certificates", kind.as_str())]
    EmptyTrustStore {
        /// Its type.
        kind: StoreKind,
        /// Its name.
        name: String,
    },
    /// A file of a trust store directory is neither PEM certificates nor one DER certificate.
    #[error("trust store file `{path}` holds no certificate")]
    BadCertificateFile {
        /// The file.
        path: PathBuf,
    },
    /// A trust store directory whose name Notation does not allow (letters, digits, `_`,
    /// `.`, `-`).
    #[error(
        "trust store directory `{path}`: its name may hold only letters, digits, `_`, `.` and `-`"
    )]
    BadStoreName {
        /// The directory.
        path: PathBuf,
    },
    /// The trust store directory does not exist.
    #[error("trust store directory `{path}` does not exist")]
    MissingStoreDir {
        /// The directory.
        path: PathBuf,
    },
    /// A trust policy file or trust store directory could not be read.
    #[error("cannot read `{path}`")]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    version: String,
    trust_policies: Vec<RawStatement>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStatement {
    name: String,
    #[serde(default)]
    registry_scopes: Vec<String>,
    signature_verification: RawVerification,
    #[serde(default)]
    trust_stores: Vec<String>,
    #[serde(default)]
    trusted_identities: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVerification {
    level: String,
    #[serde(default)]
    r#override: BTreeMap<String, String>,
    verify_timestamp: Option<String>,
}

impl TrustPolicy {
    /// Parses and validates a `trustpolicy.json`, returning every problem found.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Vec<PolicyError>> {
        if let Some(key) = duplicate_key(bytes) {
            return Err(vec![PolicyError::DuplicateKey { key }]);
        }
        let raw: RawPolicy = serde_json::from_slice(bytes).map_err(|e| {
            vec![PolicyError::Malformed {
                detail: e.to_string(),
            }]
        })?;
        let mut errors = Vec::new();
        if raw.version != "1.0" {
            errors.push(PolicyError::UnsupportedVersion {
                version: raw.version.clone(),
            });
        }
        if raw.trust_policies.is_empty() {
            errors.push(PolicyError::NoStatements);
        }
        let mut statements: Vec<Statement> = Vec::new();
        for statement in raw.trust_policies {
            if statement.name.is_empty() || statements.iter().any(|s| s.name == statement.name) {
                errors.push(PolicyError::BadName {
                    name: statement.name.clone(),
                });
            }
            if let Some(valid) = validate_statement(statement, &mut errors) {
                statements.push(valid);
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for statement in &statements {
            let scopes: Vec<&str> = match &statement.scopes {
                None => vec!["*"],
                Some(scopes) => scopes.iter().map(String::as_str).collect(),
            };
            for scope in scopes {
                if seen.contains(&scope) {
                    errors.push(PolicyError::DuplicateScope {
                        scope: scope.to_owned(),
                    });
                }
                seen.push(scope);
            }
        }
        if errors.is_empty() {
            Ok(Self { statements })
        } else {
            Err(errors)
        }
    }

    /// The statement for an artifact in `repository` (`registry/path`, as Notation writes
    /// scopes): the one naming it exactly, else the `*` statement, else none.
    pub fn statement_for(&self, repository: &str) -> Option<&Statement> {
        self.statements
            .iter()
            .find(|s| {
                s.scopes
                    .as_ref()
                    .is_some_and(|scopes| scopes.iter().any(|sc| sc == repository))
            })
            .or_else(|| self.statements.iter().find(|s| s.scopes.is_none()))
    }
}

fn scope_is_valid(scope: &str) -> bool {
    let Some((host, path)) = scope.split_once('/') else {
        return false;
    };
    !host.is_empty()
        && !path.is_empty()
        && !scope.contains(['@', ' ', '*'])
        && !path.contains(':')
        && path.split('/').all(|part| !part.is_empty())
}

/// `None` when `scope` is in the normal form image names are matched in; otherwise
/// `Some(normal form)` (`Some(None)` when it has none, e.g. an upper-case repository).
fn scope_not_normal(scope: &str) -> Option<Option<String>> {
    let normal = |s: &str| {
        crate::reference::ImageRef::parse(s)
            .ok()
            .filter(|r| r.tag().is_none() && r.digest().is_none())
            .map(|r| r.name())
    };
    match normal(scope) {
        Some(n) if n == scope => None,
        Some(n) => Some(Some(n)),
        None => Some(normal(&scope.to_ascii_lowercase())),
    }
}

/// The first key repeated within one JSON object anywhere in `bytes` (serde's maps keep the
/// last silently); `None` when there is none or the text is not JSON (reported elsewhere).
fn duplicate_key(bytes: &[u8]) -> Option<String> {
    use serde::de::{
        DeserializeSeed, Deserializer as _, Error as _, MapAccess, SeqAccess, Visitor,
    };
    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Check)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(A::Error::custom(format!("\u{0}{key}")));
                }
                map.next_value_seed(Check)?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match (&mut de).deserialize_any(Check) {
        Err(e) => {
            let text = e.to_string();
            let start = text.find('\u{0}')?;
            let rest = text.get(start + 1..)?;
            // serde_json appends " at line L column C"
            let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
            Some(key.to_owned())
        }
        Ok(()) => None,
    }
}

fn validate_statement(raw: RawStatement, errors: &mut Vec<PolicyError>) -> Option<Statement> {
    let name = raw.name;
    let before = errors.len();
    let scopes = if raw.registry_scopes.is_empty() {
        errors.push(PolicyError::NoScopes {
            statement: name.clone(),
        });
        None
    } else if raw.registry_scopes.iter().any(|s| s == "*") {
        if raw.registry_scopes.len() > 1 {
            errors.push(PolicyError::WildcardScopeNotAlone {
                statement: name.clone(),
            });
        }
        None
    } else {
        for scope in &raw.registry_scopes {
            if !scope_is_valid(scope) {
                errors.push(PolicyError::InvalidScope {
                    scope: scope.clone(),
                });
            } else if let Some(normal) = scope_not_normal(scope) {
                errors.push(PolicyError::ScopeNotNormal {
                    scope: scope.clone(),
                    normal,
                });
            }
        }
        Some(raw.registry_scopes)
    };
    let unknown = |value: &str| PolicyError::UnknownValue {
        statement: name.clone(),
        value: value.to_owned(),
    };
    let verification = raw.signature_verification;
    let level = match verification.level.as_str() {
        "strict" => Level::Strict,
        "permissive" => Level::Permissive,
        "audit" => Level::Audit,
        "skip" => Level::Skip,
        other => {
            errors.push(unknown(other));
            Level::Strict
        }
    };
    let mut overrides = BTreeMap::new();
    for (check, action) in &verification.r#override {
        let check = match check.as_str() {
            "integrity" => Check::Integrity,
            "authenticity" => Check::Authenticity,
            "authenticTimestamp" => Check::AuthenticTimestamp,
            "expiry" => Check::Expiry,
            "revocation" => Check::Revocation,
            other => {
                errors.push(unknown(other));
                continue;
            }
        };
        let action = match action.as_str() {
            "enforce" => Action::Enforce,
            "log" => Action::Log,
            "skip" => Action::Skip,
            other => {
                errors.push(unknown(other));
                continue;
            }
        };
        if check == Check::Integrity || level == Level::Skip {
            errors.push(PolicyError::ForbiddenOverride {
                statement: name.clone(),
            });
        }
        overrides.insert(check, action);
    }
    let verify_timestamp = match verification.verify_timestamp.as_deref() {
        None | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(other) => {
            errors.push(unknown(other));
            VerifyTimestamp::Always
        }
    };
    let has_trust = !raw.trust_stores.is_empty() || !raw.trusted_identities.is_empty();
    let complete_trust = !raw.trust_stores.is_empty() && !raw.trusted_identities.is_empty();
    if (level == Level::Skip && has_trust) || (level != Level::Skip && !complete_trust) {
        errors.push(PolicyError::TrustMismatch {
            statement: name.clone(),
        });
    }
    let mut trust_stores = Vec::new();
    for entry in &raw.trust_stores {
        match entry
            .split_once(':')
            .and_then(|(kind, store)| Some((StoreKind::parse(kind)?, store)))
        {
            Some((kind, store)) if store_name_is_valid(store) => {
                trust_stores.push((kind, store.to_owned()));
            }
            _ => errors.push(PolicyError::InvalidTrustStore {
                statement: name.clone(),
                entry: entry.clone(),
            }),
        }
    }
    let identities = parse_identities(&name, &raw.trusted_identities, errors);
    (errors.len() == before).then_some(Statement {
        name,
        scopes,
        level,
        overrides,
        verify_timestamp,
        trust_stores,
        identities,
    })
}

fn store_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn parse_identities(
    statement: &str,
    raw: &[String],
    errors: &mut Vec<PolicyError>,
) -> TrustedIdentities {
    let invalid = |identity: &str| PolicyError::InvalidIdentity {
        statement: statement.to_owned(),
        identity: identity.to_owned(),
    };
    if raw.iter().any(|i| i == "*") {
        if raw.len() > 1 {
            errors.push(invalid("*"));
        }
        return TrustedIdentities::Any;
    }
    let mut subjects = Vec::new();
    for identity in raw {
        let dn = identity
            .split_once(':')
            .filter(|(kind, _)| kind.trim() == "x509.subject")
            .and_then(|(_, dn)| parse_dn(dn))
            .filter(|dn| ["C", "ST", "O"].iter().all(|a| dn.contains_key(*a)));
        match dn {
            Some(dn) => subjects.push(dn),
            None => errors.push(invalid(identity)),
        }
    }
    TrustedIdentities::Subjects(subjects)
}

/// Parses an RFC 4514 DN (`CN=x, O=y\, Inc., C=US`) as written in `trustedIdentities`.
/// Attribute types are case-insensitive; a repeated type makes the DN invalid.
pub fn parse_dn(text: &str) -> Option<DistinguishedName> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next()?),
            ',' | '+' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    let mut dn = DistinguishedName::new();
    for part in parts {
        let (kind, value) = part.split_once('=')?;
        let (kind, value) = (kind.trim().to_ascii_uppercase(), value.trim());
        if kind.is_empty() || value.is_empty() || dn.insert(kind, value.to_owned()).is_some() {
            return None;
        }
    }
    Some(dn)
}

/// A Notation configuration directory as Notation keeps it (`~/.config/notation`): the OCI
/// trust policy and the trust store under it.
#[derive(Debug, Clone)]
pub struct NotationConfig {
    /// `trustpolicy.oci.json`, or `trustpolicy.json` when there is none (Notation 1.2+ reads
    /// them in that order).
    pub policy: TrustPolicy,
    /// `truststore/`.
    pub store: TrustStore,
}

/// The largest trust policy or trust store certificate file read.
const TRUST_FILE_MAX: u64 = 4 * 1024 * 1024;

impl NotationConfig {
    /// Reads `dir/trustpolicy.oci.json` (else `dir/trustpolicy.json`) and `dir/truststore`.
    pub fn load_dir(dir: &Path) -> Result<Self, Vec<PolicyError>> {
        let oci = dir.join("trustpolicy.oci.json");
        let path = if oci.exists() {
            oci
        } else {
            dir.join("trustpolicy.json")
        };
        // Bounded, and a FIFO or device in a file's place is refused, never waited on.
        let bytes = match crate::bounded::read_file(&path, TRUST_FILE_MAX) {
            Ok(Some(bytes)) => bytes,
            _ => return Err(vec![PolicyError::Unreadable { path }]),
        };
        let policy = TrustPolicy::from_json(&bytes)?;
        let store = TrustStore::load_dir(&dir.join("truststore")).map_err(|e| vec![e])?;
        Ok(Self { policy, store })
    }
}

/// Certificates by trust store type and name.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    stores: BTreeMap<(StoreKind, String), Vec<Vec<u8>>>,
}

impl TrustStore {
    /// An empty trust store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one DER certificate to the store `kind:name`.
    pub fn add(&mut self, kind: StoreKind, name: &str, der: Vec<u8>) {
        self.stores
            .entry((kind, name.to_owned()))
            .or_default()
            .push(der);
    }

    /// Reads Notation's layout under `root` (the `truststore` directory):
    /// `x509/<type>/<name>/<file>`, each file PEM certificates or one DER certificate.
    pub fn load_dir(root: &Path) -> Result<Self, PolicyError> {
        let mut store = Self::new();
        for kind in [StoreKind::Ca, StoreKind::SigningAuthority, StoreKind::Tsa] {
            let dir = root.join("x509").join(kind.dir());
            if !dir.exists() {
                continue;
            }
            for named in read_dir_sorted(&dir)? {
                if !named.is_dir() {
                    continue;
                }
                let Some(name) = named
                    .file_name()
                    .and_then(|n| n.to_str())
                    .filter(|n| store_name_is_valid(n))
                else {
                    return Err(PolicyError::BadStoreName { path: named });
                };
                for file in read_dir_sorted(&named)? {
                    if file.is_file() {
                        for der in certificates_in(&file)? {
                            store.add(kind, name, der);
                        }
                    }
                }
            }
        }
        Ok(store)
    }

    /// Every store that holds certificates, in type and name order.
    pub fn names(&self) -> impl Iterator<Item = (StoreKind, &str)> + '_ {
        self.stores
            .iter()
            .filter(|(_, certs)| !certs.is_empty())
            .map(|((kind, name), _)| (*kind, name.as_str()))
    }

    /// The certificates (DER) of the store `kind:name`.
    pub fn certificates(&self, kind: StoreKind, name: &str) -> &[Vec<u8>] {
        self.stores
            .get(&(kind, name.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The certificates of every store of type `kind` that `statement` names. A named store
    /// that is missing or empty is an error (Notation fails the same way).
    pub fn certificates_for(
        &self,
        statement: &Statement,
        kind: StoreKind,
    ) -> Result<Vec<Vec<u8>>, PolicyError> {
        let mut out = Vec::new();
        for (store_kind, name) in statement.trust_stores.iter().filter(|(k, _)| *k == kind) {
            match self.stores.get(&(*store_kind, name.clone())) {
                Some(certs) if !certs.is_empty() => out.extend(certs.iter().cloned()),
                _ => {
                    return Err(PolicyError::EmptyTrustStore {
                        kind,
                        name: name.clone(),
                    })
                }
            }
        }
        Ok(out)
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let unreadable = || PolicyError::Unreadable {
        path: dir.to_path_buf(),
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(|_| unreadable())?
        .map(|entry| entry.map(|e| e.path()).map_err(|_| unreadable()))
        .collect::<Result<Vec<_>, _>>()?;
    paths.sort();
    Ok(paths)
}

fn certificates_in(path: &Path) -> Result<Vec<Vec<u8>>, PolicyError> {
    let bad = || PolicyError::BadCertificateFile {
        path: path.to_path_buf(),
    };
    let bytes = crate::bounded::read_file(path, TRUST_FILE_MAX)
        .ok()
        .flatten()
        .ok_or_else(bad)?;
    let pem: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    use x509_cert::der::Decode as _;
    if !pem.is_empty() {
        // every CERTIFICATE block must be a certificate, not only base64
        for der in &pem {
            x509_cert::Certificate::from_der(der).map_err(|_| bad())?;
        }
        return Ok(pem);
    }
    x509_cert::Certificate::from_der(&bytes).map_err(|_| bad())?;
    Ok(vec![bytes])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_table_matches_notation() {
        use Action::*;
        use Check::*;
        let row = |level: Level| {
            [
                Integrity,
                Authenticity,
                AuthenticTimestamp,
                Expiry,
                Revocation,
            ]
            .map(|c| level.action(c))
        };
        assert_eq!(row(Level::Strict), [Enforce; 5]);
        assert_eq!(row(Level::Permissive), [Enforce, Enforce, Log, Log, Log]);
        assert_eq!(row(Level::Audit), [Enforce, Log, Log, Log, Log]);
        assert_eq!(row(Level::Skip), [Skip; 5]);
    }

    #[test]
    fn parses_dn_with_escapes_and_rejects_repeats() {
        let dn = parse_dn(r"CN=a\, b, O=Notary,C=US").unwrap();
        assert_eq!(dn.get("CN").map(String::as_str), Some("a, b"));
        assert_eq!(dn.get("O").map(String::as_str), Some("Notary"));
        assert_eq!(parse_dn("O=a, O=b"), None);
        assert_eq!(parse_dn("O"), None);
    }

    #[test]
    fn scope_grammar() {
        assert!(scope_is_valid("localhost:5000/test-repo"));
        assert!(scope_is_valid("example.com/a/b"));
        assert!(!scope_is_valid("example.com/a:v1"));
        assert!(!scope_is_valid("example.com/a@sha256:00"));
        assert!(!scope_is_valid("example.com"));
    }

    fn policy(scope: &str, verification: &str) -> String {
        format!(
            r#"{{"version": "1.0", "trustPolicies": [{{"name": "p", "registryScopes": ["{scope}"],
            "signatureVerification": {verification}, "trustStores": ["ca:acme"],
            "trustedIdentities": ["*"]}}]}}"#
        )
    }

    #[test]
    fn scopes_that_could_never_match_are_refused_with_their_normal_form() {
        // review repro 9: such a scope was skipped silently and `*` decided
        let strict = r#"{"level": "strict"}"#;
        for (scope, normal) in [
            ("reg.test:443/notary/valid", Some("reg.test/notary/valid")),
            ("REG.test/notary/valid", Some("reg.test/notary/valid")),
            ("docker.io/app", Some("docker.io/library/app")),
            ("index.docker.io/library/app", Some("docker.io/library/app")),
            ("reg.test/Notary/valid", Some("reg.test/notary/valid")),
        ] {
            assert_eq!(
                TrustPolicy::from_json(policy(scope, strict).as_bytes()).unwrap_err(),
                vec![PolicyError::ScopeNotNormal {
                    scope: scope.to_owned(),
                    normal: normal.map(str::to_owned),
                }],
                "{scope}"
            );
        }
        let ok = TrustPolicy::from_json(policy("reg.test/notary/valid", strict).as_bytes());
        assert_eq!(ok.unwrap().statements.len(), 1);
    }

    #[test]
    fn duplicate_keys_are_refused_anywhere() {
        // review repro 4: `override` is a map, where the last key used to win
        let doubled = policy(
            "reg.test/app",
            r#"{"level": "strict", "override": {"expiry": "enforce", "expiry": "log"}}"#,
        );
        assert_eq!(
            TrustPolicy::from_json(doubled.as_bytes()).unwrap_err(),
            vec![PolicyError::DuplicateKey {
                key: "expiry".into()
            }]
        );
        let top = r#"{"version": "1.0", "version": "1.0", "trustPolicies": []}"#;
        assert_eq!(
            TrustPolicy::from_json(top.as_bytes()).unwrap_err(),
            vec![PolicyError::DuplicateKey {
                key: "version".into()
            }]
        );
    }

    #[test]
    fn a_certificate_block_that_is_not_a_certificate_is_refused() {
        // review repro 8
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("x509").join("ca").join("acme");
        std::fs::create_dir_all(&store).unwrap();
        let file = store.join("root.pem");
        std::fs::write(
            &file,
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert_eq!(
            TrustStore::load_dir(dir.path()).unwrap_err(),
            PolicyError::BadCertificateFile { path: file }
        );
    }
}
