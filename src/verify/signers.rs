//! Stage (4), trust: the signers from config (public keys and keyless identities), checked
//! once when the config is loaded so that verification can only fail on the signature.
//!
//! Every constructor validates what it is given: a key must be a PEM `PUBLIC KEY` of a
//! supported algorithm, a regex must compile, a trusted root must parse and be usable by
//! [`Verifier::new`]. The [`Verifier`] is built once per signer and kept.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use sigstore_verify::crypto::{KeyAlgorithm, SigningScheme, VerificationKey};
use sigstore_verify::trust_root::{TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT};
use sigstore_verify::types::DerPublicKey;
use sigstore_verify::Verifier;

use super::constraints::CertificateConstraints;
use super::notation::NotationTrust;

/// The longest subject regex accepted (compiled size is bounded by the regex crate too).
const REGEX_PATTERN_MAX: usize = 4096;
/// The largest trusted root file read (the public-good root is about 10 KiB).
const TRUSTED_ROOT_MAX: u64 = 4 * 1024 * 1024;

/// Why a signer from config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The key text is not a PEM `PUBLIC KEY` block.
    #[error("not a PEM public key ({cause}){}", hint_for_pem(.pem_label))]
    NotPemPublicKey {
        /// The PEM label found, if the text was PEM at all (e.g. `EC PRIVATE KEY`).
        pem_label: Option<String>,
        /// What the PEM parser said.
        cause: sigstore_verify::types::Error,
    },
    /// The key is a well-formed SubjectPublicKeyInfo of an algorithm cosign keys do not use.
    #[error("unsupported key type ({cause}): use an ECDSA P-256/P-384, Ed25519 or RSA public key")]
    UnsupportedKey {
        /// What the key parser said.
        cause: sigstore_verify::crypto::Error,
    },
    /// The key's algorithm is known but the key itself does not decode.
    #[error("invalid {algorithm} public key ({cause})")]
    InvalidKey {
        /// `ECDSA P-256`, `Ed25519`, …
        algorithm: &'static str,
        /// What the key parser said.
        cause: sigstore_verify::crypto::Error,
    },
    /// A `subject_regex` does not compile.
    #[error("invalid regex `{pattern}`: {}", regex_reason(.cause))]
    InvalidRegex {
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler said.
        cause: regex::Error,
    },
    /// A `subject_regex` is longer than [`REGEX_PATTERN_MAX`].
    #[error("regex is {len} characters long; the limit is {REGEX_PATTERN_MAX}")]
    RegexTooLong {
        /// Its length.
        len: usize,
    },
    /// An issuer that is empty.
    #[error("the issuer is empty")]
    EmptyIssuer,
    /// A `timestamp_threshold` of 0 or above [`TIMESTAMP_THRESHOLD_MAX`].
    #[error(
        "timestamp threshold {threshold} is out of range: give 1 to {TIMESTAMP_THRESHOLD_MAX}"
    )]
    TimestampThreshold {
        /// The threshold given.
        threshold: usize,
    },
    /// The trusted root file cannot be read.
    #[error("cannot read it ({cause})")]
    ReadTrustedRoot {
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The trusted root file is larger than [`TRUSTED_ROOT_MAX`].
    #[error("it is larger than the limit of {TRUSTED_ROOT_MAX} bytes")]
    TrustedRootTooLarge,
    /// The trusted root is not a Sigstore `trusted_root.json`.
    #[error("not a Sigstore trusted root ({cause})")]
    InvalidTrustedRoot {
        /// What the parser said.
        cause: sigstore_verify::trust_root::Error,
    },
    /// The trusted root parses but its keys or certificates cannot be used.
    #[error("trusted root is unusable ({cause})")]
    UnusableTrustedRoot {
        /// What the verifier said.
        cause: sigstore_verify::Error,
    },
}

/// The one-line reason of a regex error (its `Display` spans lines and shows the anchored
/// pattern, which the user did not write).
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or("syntax error")
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("it compiles to more than {limit} bytes; simplify it")
        }
        other => other.to_string(),
    }
}

fn hint_for_pem(label: &Option<String>) -> String {
    match label.as_deref() {
        Some(l) if l.contains("PRIVATE") => {
            "; this is a private key: give its public half (`cosign public-key --key …`)".into()
        }
        Some("CERTIFICATE") => {
            "; this is a certificate: use a `keyless` signer, or extract the key with `openssl x509 -pubkey -noout`".into()
        }
        Some(_) => "; expected `-----BEGIN PUBLIC KEY-----`".into(),
        None => String::new(),
    }
}

/// How a keyless subject (the certificate's SAN: a URI or an email) is matched.
#[derive(Debug, Clone)]
pub enum SubjectMatcher {
    /// Exactly this SAN.
    Exact(String),
    /// A regex, anchored at both ends (`^(?:…)$`) whatever the user wrote. Build it with
    /// [`SubjectMatcher::regex`].
    Regex {
        /// The pattern as written in config (for messages).
        pattern: String,
        /// The anchored, compiled regex.
        anchored: regex::Regex,
    },
}

impl SubjectMatcher {
    /// Compiles `pattern` anchored as `^(?:pattern)$`, so that
    /// `https://github.com/acme/app/.*` never matches `https://github.com/acme/app-evil/…`
    /// and a pattern already written as `^…$` means the same.
    pub fn regex(pattern: &str) -> Result<Self, SignerError> {
        if pattern.len() > REGEX_PATTERN_MAX {
            return Err(SignerError::RegexTooLong { len: pattern.len() });
        }
        // The pattern must be a regex on its own: `a)|(.*` only balances inside the group
        // below, where it would leave `.*` unanchored.
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|cause| SignerError::InvalidRegex {
                pattern: pattern.to_owned(),
                cause,
            })?;
        let anchored = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .build()
            .map_err(|cause| SignerError::InvalidRegex {
                pattern: pattern.to_owned(),
                cause,
            })?;
        Ok(Self::Regex {
            pattern: pattern.to_owned(),
            anchored,
        })
    }

    /// Whether the SAN `subject` is accepted.
    pub fn matches(&self, subject: &str) -> bool {
        match self {
            Self::Exact(expected) => subject == expected,
            Self::Regex { anchored, .. } => anchored.is_match(subject),
        }
    }
}

/// `` `https://…` `` for exact subjects, `` regex `…` `` for patterns (as written).
impl fmt::Display for SubjectMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "`{s}`"),
            Self::Regex { pattern, .. } => write!(f, "regex `{pattern}`"),
        }
    }
}

/// Whether a key signer accepts signatures that were never logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlogPolicy {
    /// A transparency log proof (Rekor SET or inclusion proof) is required.
    Require,
    /// Signatures without log proof are accepted (cosign `--tlog-upload=false`); a proof that
    /// is present is still checked when it can be, and used for `signed_at`.
    InsecureIgnore,
}

/// Where a signer's trusted root comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootSource {
    /// The copy of Sigstore's public-good root embedded in the binary (the default).
    Embedded,
    /// A `trusted_root:` file from config (or a root given by the caller).
    Configured,
    /// Fetched and verified through TUF (`--tuf-refresh`), in place of the embedded one.
    Tuf,
}

/// A trusted root with its verifier, built once and shared by every signer that uses it.
#[derive(Clone)]
pub struct SharedRoot {
    root: Arc<TrustedRoot>,
    verifier: Arc<Verifier>,
}

impl SharedRoot {
    /// Checks that a verifier can use `root`.
    pub fn new(root: Arc<TrustedRoot>) -> Result<Self, SignerError> {
        let verifier =
            Verifier::new(&root).map_err(|cause| SignerError::UnusableTrustedRoot { cause })?;
        Ok(Self {
            root,
            verifier: Arc::new(verifier),
        })
    }

    /// The root.
    pub fn root(&self) -> &Arc<TrustedRoot> {
        &self.root
    }
}

impl fmt::Debug for SharedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRoot")
            .field(
                "certificate_authorities",
                &self.root.certificate_authorities.len(),
            )
            .field("tlogs", &self.root.tlogs.len())
            .finish_non_exhaustive()
    }
}

/// What a signer is. Built by the [`Signer`] constructors, which validate everything.
#[derive(Clone)]
pub enum SignerKind {
    /// A public key (ECDSA P-256/P-384, Ed25519, RSA).
    Key {
        /// The key, DER SubjectPublicKeyInfo.
        key: DerPublicKey,
        /// Its algorithm.
        algorithm: KeyAlgorithm,
        /// How simple-signing payloads are verified: SHA-256 with every key type, like
        /// cosign (`--signature-digest-algorithm` defaults to sha256, also for P-384).
        scheme: SigningScheme,
        /// Whether a transparency log proof is required.
        tlog: TlogPolicy,
        /// The trusted root whose Rekor keys check log proofs on key signatures.
        trusted_root: Arc<TrustedRoot>,
        /// Its verifier, built once.
        verifier: Arc<Verifier>,
        /// Where `trusted_root` comes from.
        root_source: RootSource,
    },
    /// A Fulcio identity, verified against a trusted root.
    Keyless {
        /// OIDC issuer, exact.
        issuer: String,
        /// Certificate subject (SAN).
        subject: SubjectMatcher,
        /// The trusted root (Sigstore's `trusted_root.json` format).
        trusted_root: Arc<TrustedRoot>,
        /// Its verifier, built once.
        verifier: Arc<Verifier>,
        /// Where `trusted_root` comes from.
        root_source: RootSource,
        /// Accept certificates without a verified SCT (a private Sigstore without a CT log).
        insecure_skip_sct: bool,
        /// What the certificate's CI claims must say (repository, owner, signer workflow,
        /// ref, runner), beyond issuer and subject.
        constraints: CertificateConstraints,
        /// How many independent verified times a bundle must carry: RFC 3161 timestamps
        /// from distinct timestamp authorities of the trusted root, and Rekor v1 integrated
        /// times signed by a SET (one per log). At least 1 (the default), like cosign's
        /// `--timestamp-threshold`.
        timestamp_threshold: usize,
        /// Accept bundles with no transparency log entry at all when their RFC 3161
        /// timestamps verify (GitHub's private-repository instance, Rekor-less signing). A
        /// log entry a bundle does carry is always verified in full.
        allow_timestamp_only: bool,
    },
    /// A Notation trust policy and trust store: Notary Project signatures (JWS or COSE_Sign1,
    /// X.509 chains), never cosign ones.
    Notation(Arc<NotationTrust>),
}

/// The largest `timestamp_threshold` a keyless signer accepts.
pub const TIMESTAMP_THRESHOLD_MAX: usize = 16;

impl fmt::Debug for SignerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key {
                algorithm,
                tlog,
                root_source,
                ..
            } => f
                .debug_struct("Key")
                .field("algorithm", algorithm)
                .field("tlog", tlog)
                .field("root_source", root_source)
                .finish_non_exhaustive(),
            Self::Keyless {
                issuer,
                subject,
                root_source,
                constraints,
                timestamp_threshold,
                allow_timestamp_only,
                ..
            } => f
                .debug_struct("Keyless")
                .field("issuer", issuer)
                .field("subject", subject)
                .field("root_source", root_source)
                .field("constraints", constraints)
                .field("timestamp_threshold", timestamp_threshold)
                .field("allow_timestamp_only", allow_timestamp_only)
                .finish_non_exhaustive(),
            Self::Notation(trust) => f
                .debug_struct("Notation")
                .field("source", &trust.source)
                .field("statements", &trust.policy.statements.len())
                .finish_non_exhaustive(),
        }
    }
}

/// A named signer from config.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Name in config.
    pub name: String,
    /// What it is.
    pub kind: SignerKind,
}

impl Signer {
    /// A key signer from a PEM `PUBLIC KEY` (ECDSA P-256/P-384, Ed25519, RSA), whose log
    /// proofs are checked against the embedded Sigstore public-good trusted root.
    ///
    /// `insecure_ignore_tlog` accepts signatures without a transparency log proof (cosign
    /// `--tlog-upload=false`); it is config's `insecure_ignore_tlog`.
    pub fn key(name: &str, pem: &str, insecure_ignore_tlog: bool) -> Result<Self, SignerError> {
        let tlog = if insecure_ignore_tlog {
            TlogPolicy::InsecureIgnore
        } else {
            TlogPolicy::Require
        };
        Self::key_with_trusted_root(name, pem, tlog, None)
    }

    /// A key signer whose log proofs are checked against `trusted_root` (`None`: the embedded
    /// Sigstore public-good root), e.g. for a private Rekor.
    pub fn key_with_trusted_root(
        name: &str,
        pem: &str,
        tlog: TlogPolicy,
        trusted_root: Option<Arc<TrustedRoot>>,
    ) -> Result<Self, SignerError> {
        let key = parse_public_key(pem)?;
        let algorithm =
            KeyAlgorithm::from_spki(&key).map_err(|cause| SignerError::UnsupportedKey { cause })?;
        let scheme = match algorithm {
            KeyAlgorithm::EcdsaP256 => SigningScheme::EcdsaP256Sha256,
            KeyAlgorithm::EcdsaP384 => SigningScheme::EcdsaP384Sha256,
            KeyAlgorithm::Ed25519 => SigningScheme::Ed25519,
            KeyAlgorithm::Rsa => SigningScheme::RsaPkcs1Sha256,
            other => {
                return Err(SignerError::UnsupportedKey {
                    cause: sigstore_verify::crypto::Error::UnsupportedAlgorithm(format!(
                        "{other:?}"
                    )),
                })
            }
        };
        VerificationKey::from_der(&key, scheme).map_err(|cause| SignerError::InvalidKey {
            algorithm: algorithm_name(algorithm),
            cause,
        })?;
        let root_source = source_of(&trusted_root);
        let (trusted_root, verifier) = verifier_for(trusted_root)?;
        Ok(Self {
            name: name.to_owned(),
            kind: SignerKind::Key {
                key,
                algorithm,
                scheme,
                tlog,
                trusted_root,
                verifier,
                root_source,
            },
        })
    }

    /// A keyless signer: certificates issued by a Fulcio CA of `trusted_root` (`None`: the
    /// embedded Sigstore public-good root, `SIGSTORE_PRODUCTION_TRUSTED_ROOT`) to `subject`
    /// through the OIDC `issuer` (exact, e.g. `https://token.actions.githubusercontent.com`).
    pub fn keyless(
        name: &str,
        issuer: String,
        subject: SubjectMatcher,
        trusted_root: Option<Arc<TrustedRoot>>,
    ) -> Result<Self, SignerError> {
        if issuer.trim().is_empty() {
            return Err(SignerError::EmptyIssuer);
        }
        let root_source = source_of(&trusted_root);
        let (trusted_root, verifier) = verifier_for(trusted_root)?;
        Ok(Self {
            name: name.to_owned(),
            kind: SignerKind::Keyless {
                issuer,
                subject,
                trusted_root,
                verifier,
                root_source,
                insecure_skip_sct: false,
                constraints: CertificateConstraints::default(),
                timestamp_threshold: 1,
                allow_timestamp_only: false,
            },
        })
    }

    /// For a keyless signer: require these CI claims of the certificate (`gh attestation
    /// verify`'s `--repo`, `--owner`, `--signer-workflow`, `--source-ref`,
    /// `--deny-self-hosted-runners`). No effect on key signers.
    #[must_use]
    pub fn with_constraints(mut self, required: CertificateConstraints) -> Self {
        if let SignerKind::Keyless { constraints, .. } = &mut self.kind {
            *constraints = required;
        }
        self
    }

    /// For a keyless signer: accept certificates whose SCT (certificate transparency proof)
    /// cannot be verified, for a private Sigstore that runs no CT log. Weakens verification:
    /// a mis-issued certificate would go unnoticed. No effect on key signers.
    #[must_use]
    pub fn insecure_skip_sct(mut self) -> Self {
        if let SignerKind::Keyless {
            insecure_skip_sct, ..
        } = &mut self.kind
        {
            *insecure_skip_sct = true;
        }
        self
    }

    /// For a keyless signer: require `threshold` independent verified times (RFC 3161
    /// timestamps from distinct timestamp authorities, SET-signed Rekor v1 integrated times
    /// from distinct logs). Between 1 and [`TIMESTAMP_THRESHOLD_MAX`]. No effect on key
    /// signers.
    pub fn with_timestamp_threshold(mut self, threshold: usize) -> Result<Self, SignerError> {
        if !(1..=TIMESTAMP_THRESHOLD_MAX).contains(&threshold) {
            return Err(SignerError::TimestampThreshold { threshold });
        }
        if let SignerKind::Keyless {
            timestamp_threshold,
            ..
        } = &mut self.kind
        {
            *timestamp_threshold = threshold;
        }
        Ok(self)
    }

    /// For a keyless signer: accept bundles without any transparency log entry whose
    /// RFC 3161 timestamps verify against the trusted root (at least the timestamp
    /// threshold of them). No effect on key signers.
    #[must_use]
    pub fn allow_timestamp_only(mut self) -> Self {
        if let SignerKind::Keyless {
            allow_timestamp_only,
            ..
        } = &mut self.kind
        {
            *allow_timestamp_only = true;
        }
        self
    }

    /// A Notation signer: Notary Project signatures decided under `trust` (see
    /// [`NotationTrust::inline`] and [`NotationTrust::from_files`]).
    pub fn notation(name: &str, trust: NotationTrust) -> Self {
        Self {
            name: name.to_owned(),
            kind: SignerKind::Notation(Arc::new(trust)),
        }
    }

    /// Whether this signer decides Notary Project signatures (and only those).
    pub fn is_notation(&self) -> bool {
        matches!(self.kind, SignerKind::Notation(_))
    }

    /// The signer's name in config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a key signer (as opposed to a keyless identity).
    pub fn is_key(&self) -> bool {
        matches!(self.kind, SignerKind::Key { .. })
    }

    /// Where the signer's trusted root comes from.
    pub fn root_source(&self) -> RootSource {
        match &self.kind {
            SignerKind::Key { root_source, .. } | SignerKind::Keyless { root_source, .. } => {
                *root_source
            }
            // Its trust is its own trust store, never a Sigstore root.
            SignerKind::Notation(_) => RootSource::Configured,
        }
    }

    /// Whether `--tuf-refresh` has something to do for this signer: a keyless identity on the
    /// embedded root. Key signers never ask for a refresh (no network for key-only configs),
    /// though they take a root that was fetched anyway (see [`Self::with_tuf_root`]).
    pub fn wants_tuf_root(&self) -> bool {
        !self.is_key() && self.root_source() == RootSource::Embedded
    }

    /// This signer with `fetched` (a root verified through TUF) in place of the embedded root;
    /// `None` when it has its own `trusted_root:`, which always wins.
    pub fn with_tuf_root(&self, fetched: &SharedRoot) -> Option<Self> {
        if self.root_source() != RootSource::Embedded {
            return None;
        }
        let mut kind = self.kind.clone();
        match &mut kind {
            SignerKind::Key {
                trusted_root,
                verifier,
                root_source,
                ..
            }
            | SignerKind::Keyless {
                trusted_root,
                verifier,
                root_source,
                ..
            } => {
                *trusted_root = fetched.root.clone();
                *verifier = fetched.verifier.clone();
                *root_source = RootSource::Tuf;
            }
            SignerKind::Notation(_) => return None,
        }
        Some(Self {
            name: self.name.clone(),
            kind,
        })
    }
}

fn source_of(root: &Option<Arc<TrustedRoot>>) -> RootSource {
    match root {
        Some(_) => RootSource::Configured,
        None => RootSource::Embedded,
    }
}

/// Reads a Sigstore `trusted_root.json` (for a private Fulcio/Rekor, or a pinned copy of the
/// public-good root) and checks that a verifier can use it.
pub fn load_trusted_root(path: &Path) -> Result<Arc<TrustedRoot>, SignerError> {
    let bytes = crate::bounded::read_file(path, TRUSTED_ROOT_MAX)
        .map_err(|cause| SignerError::ReadTrustedRoot { cause })?
        .ok_or(SignerError::TrustedRootTooLarge)?;
    let text = String::from_utf8(bytes).map_err(|e| SignerError::ReadTrustedRoot {
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let root = parse_trusted_root(&text)?;
    // Fail at config time, not at the first signature, if the root cannot be used.
    Verifier::new(&root).map_err(|cause| SignerError::UnusableTrustedRoot { cause })?;
    Ok(Arc::new(root))
}

/// Parses a `trusted_root.json` document.
pub fn parse_trusted_root(json: &str) -> Result<TrustedRoot, SignerError> {
    TrustedRoot::from_json(json).map_err(|cause| SignerError::InvalidTrustedRoot { cause })
}

fn parse_public_key(pem: &str) -> Result<DerPublicKey, SignerError> {
    DerPublicKey::from_pem(pem).map_err(|cause| SignerError::NotPemPublicKey {
        pem_label: pem_label(pem),
        cause,
    })
}

/// The label of the first `-----BEGIN …-----` line, if any.
fn pem_label(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = text.get(start..)?;
    let end = rest.find("-----")?;
    rest.get(..end).map(str::to_owned)
}

fn algorithm_name(algorithm: KeyAlgorithm) -> &'static str {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
        KeyAlgorithm::EcdsaP384 => "ECDSA P-384",
        KeyAlgorithm::Ed25519 => "Ed25519",
        KeyAlgorithm::Rsa => "RSA",
        _ => "ML-DSA",
    }
}

type RootAndVerifier = (Arc<TrustedRoot>, Arc<Verifier>);

/// The root and its verifier; the public-good one is parsed and built once per process.
fn verifier_for(root: Option<Arc<TrustedRoot>>) -> Result<RootAndVerifier, SignerError> {
    static PRODUCTION: OnceLock<RootAndVerifier> = OnceLock::new();
    match root {
        Some(root) => {
            let verifier =
                Verifier::new(&root).map_err(|cause| SignerError::UnusableTrustedRoot { cause })?;
            Ok((root, Arc::new(verifier)))
        }
        None => {
            if let Some(found) = PRODUCTION.get() {
                return Ok(found.clone());
            }
            let root = Arc::new(parse_trusted_root(SIGSTORE_PRODUCTION_TRUSTED_ROOT)?);
            let verifier =
                Verifier::new(&root).map_err(|cause| SignerError::UnusableTrustedRoot { cause })?;
            Ok(PRODUCTION
                .get_or_init(|| (root, Arc::new(verifier)))
                .clone())
        }
    }
}

#[cfg(test)]
mod tests;
