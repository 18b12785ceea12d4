//! Stage (6): the outcome of a run as data ([`Report`]), the stable diagnostic [`Code`]s, and
//! the renderers ([`human`], [`json`], [`sarif`], [`github`], [`markdown`]).
//!
//! A denial is data, not an error: every finding is a [`Finding`] on the image it concerns,
//! and the run's [`Decision`] is derived from them.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::manifest::{ImageSite, Origin};
use crate::reference::ImageRef;
use crate::registry::Resolved;

pub mod github;
pub mod human;
pub mod json;
pub mod markdown;
pub mod sarif;

/// A stable, documented diagnostic code, or a code chosen by a policy rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The `image:` value is not a valid reference.
    InvalidReference,
    /// The tag or digest does not exist in the registry.
    ImageNotFound,
    /// A manifest body does not hash to the digest asked for or announced.
    DigestMismatch,
    /// `repo:tag@digest` where the tag now points to another digest.
    TagMoved,
    /// The registry refused our credentials or wants some.
    RegistryUnauthorized,
    /// The registry did not answer in time.
    RegistryTimeout,
    /// The registry failed (5xx, 429 after retries, connection refused).
    RegistryUnavailable,
    /// Plain HTTP to a host not marked insecure.
    RegistryNotAllowed,
    /// Offline, and no OCI layout is configured for the image's host.
    OfflineNoLayout,
    /// The registry answered something that is not the distribution API.
    InvalidRegistryResponse,
    /// A manifest larger than the limit.
    ManifestTooLarge,
    /// An OCI layout on disk is broken.
    InvalidOciLayout,
    /// A manifest file could not be read (malformed YAML, too large, too deep, not UTF-8).
    InvalidManifest,
    /// YAML that Kubernetes' reader and ours could read differently, refused.
    AmbiguousYaml,
    /// The config file cannot be read or is invalid: could not decide.
    InvalidConfig,
    /// The run could not start or finish (a path that cannot be read, a flag, the policies,
    /// the registry client, the lock): could not decide.
    RunFailed,
    /// An image reference without a digest (`pin --check`).
    UnpinnedImage,
    /// A signature is required and the resolved digest has none.
    UnsignedImage,
    /// Signatures were found but none was verified by a required signer.
    SignatureNotTrusted,
    /// Looking for signatures failed (registry error): could not decide.
    SignatureCheckFailed,
    /// A provenance rule applies and no SLSA provenance was verified by a listed signer.
    ProvenanceMissing,
    /// The provenance names a builder the rule does not trust.
    UntrustedBuilder,
    /// The provenance names another source repository than the rule expects.
    SourceRepositoryMismatch,
    /// The provenance's source ref is not among the rule's allowed refs.
    SourceRefNotAllowed,
    /// The manifest (annotation, label, or a commit-SHA tag) claims another commit.
    SourceCommitMismatch,
    /// The commit is not reachable from an allowed branch or tag in the local clone.
    CommitNotReachable,
    /// The keyless certificate's repository or commit disagrees with the provenance.
    CertificateProvenanceMismatch,
    /// Looking for attestations or checking the clone failed: could not decide.
    ProvenanceCheckFailed,
    /// A policy failed to evaluate (an error or the time limit): could not decide.
    PolicyError,
    /// A break-glass annotation turned denials into warnings.
    BreakGlass,
    /// A break-glass annotation without a reason: it overrides nothing.
    BreakGlassWithoutReason,
    /// Webhook: the object's `metadata.namespace` is not the AdmissionRequest's namespace.
    NamespaceMismatch,
    /// An exemption turned denials into warnings, or expired, or matched nothing.
    Exemption,
    /// `check --locked`: the image is not in the evidence lock.
    NotInLock,
    /// `check --locked`: signers, trusted roots or policies changed since the lock was written.
    LockStale,
    /// `check --locked`: the image resolved to another digest or was decided otherwise than
    /// the lock records.
    LockMismatch,
    /// `check --locked`: a tag in the lock now points elsewhere in the registry.
    TagMovedSinceLock,
    /// The run read no document at all (empty input, an empty directory, only empty files).
    NoManifests,
    /// A file is a Helm (Go) template, not a manifest: render it first.
    HelmTemplate,
    /// A kustomization whose `images:` transformer, patches or Helm charts change images: the
    /// files as written are not what is deployed; render it first.
    KustomizationNotRendered,
    /// A value under an `image` key, found by the generic pass, is not an image reference.
    UnrecognisedImageField,
    /// A code from a policy rule (the shipped library's are documented; user rules choose
    /// their own). `policy` when a rule gave none.
    Rule(std::sync::Arc<str>),
}

impl Code {
    /// Every code, for documentation and the uniqueness test.
    pub const ALL: &'static [Code] = &[
        Code::InvalidReference,
        Code::ImageNotFound,
        Code::DigestMismatch,
        Code::TagMoved,
        Code::RegistryUnauthorized,
        Code::RegistryTimeout,
        Code::RegistryUnavailable,
        Code::RegistryNotAllowed,
        Code::OfflineNoLayout,
        Code::InvalidRegistryResponse,
        Code::ManifestTooLarge,
        Code::InvalidOciLayout,
        Code::InvalidManifest,
        Code::AmbiguousYaml,
        Code::InvalidConfig,
        Code::RunFailed,
        Code::UnpinnedImage,
        Code::UnsignedImage,
        Code::SignatureNotTrusted,
        Code::SignatureCheckFailed,
        Code::ProvenanceMissing,
        Code::UntrustedBuilder,
        Code::SourceRepositoryMismatch,
        Code::SourceRefNotAllowed,
        Code::SourceCommitMismatch,
        Code::CommitNotReachable,
        Code::CertificateProvenanceMismatch,
        Code::ProvenanceCheckFailed,
        Code::PolicyError,
        Code::BreakGlass,
        Code::BreakGlassWithoutReason,
        Code::NamespaceMismatch,
        Code::Exemption,
        Code::NotInLock,
        Code::LockStale,
        Code::LockMismatch,
        Code::TagMovedSinceLock,
        Code::NoManifests,
        Code::HelmTemplate,
        Code::KustomizationNotRendered,
        Code::UnrecognisedImageField,
    ];

    /// The documented code named `code`, or a policy rule's own code.
    pub fn from_rule(code: &str) -> Self {
        Self::ALL
            .iter()
            .find(|c| c.as_str() == code)
            .cloned()
            .unwrap_or_else(|| Code::Rule(std::sync::Arc::from(code)))
    }

    /// The kebab-case name used in every output format.
    pub fn as_str(&self) -> &str {
        match self {
            Code::InvalidReference => "invalid-reference",
            Code::ImageNotFound => "image-not-found",
            Code::DigestMismatch => "digest-mismatch",
            Code::TagMoved => "tag-moved",
            Code::RegistryUnauthorized => "registry-unauthorized",
            Code::RegistryTimeout => "registry-timeout",
            Code::RegistryUnavailable => "registry-unavailable",
            Code::RegistryNotAllowed => "registry-not-allowed",
            Code::OfflineNoLayout => "offline-no-layout",
            Code::InvalidRegistryResponse => "invalid-registry-response",
            Code::ManifestTooLarge => "manifest-too-large",
            Code::InvalidOciLayout => "invalid-oci-layout",
            Code::InvalidManifest => "invalid-manifest",
            Code::AmbiguousYaml => "ambiguous-yaml",
            Code::InvalidConfig => "invalid-config",
            Code::RunFailed => "run-failed",
            Code::UnpinnedImage => "unpinned-image",
            Code::UnsignedImage => "unsigned-image",
            Code::SignatureNotTrusted => "signature-not-trusted",
            Code::SignatureCheckFailed => "signature-check-failed",
            Code::ProvenanceMissing => "provenance-missing",
            Code::UntrustedBuilder => "untrusted-builder",
            Code::SourceRepositoryMismatch => "source-repository-mismatch",
            Code::SourceRefNotAllowed => "source-ref-not-allowed",
            Code::SourceCommitMismatch => "source-commit-mismatch",
            Code::CommitNotReachable => "commit-not-reachable",
            Code::CertificateProvenanceMismatch => "certificate-provenance-mismatch",
            Code::ProvenanceCheckFailed => "provenance-check-failed",
            Code::PolicyError => "policy-error",
            Code::BreakGlass => "break-glass",
            Code::BreakGlassWithoutReason => "break-glass-without-reason",
            Code::NamespaceMismatch => "namespace-mismatch",
            Code::Exemption => "exemption",
            Code::NotInLock => "not-in-lock",
            Code::LockStale => "lock-stale",
            Code::LockMismatch => "lock-mismatch",
            Code::TagMovedSinceLock => "tag-moved-since-lock",
            Code::NoManifests => "no-manifests",
            Code::HelmTemplate => "helm-template",
            Code::KustomizationNotRendered => "kustomization-not-rendered",
            Code::UnrecognisedImageField => "unrecognised-image-field",
            Code::Rule(code) => code,
        }
    }

    /// One line: what the code means (SARIF `shortDescription`, the table in docs/diagnostics.md).
    pub fn description(&self) -> &str {
        match self {
            Code::InvalidReference => "the `image:` value is not a valid reference",
            Code::ImageNotFound => "the tag or digest does not exist in the registry",
            Code::DigestMismatch => {
                "a manifest body does not hash to the digest asked for or announced"
            }
            Code::TagMoved => "`repo:tag@digest` whose tag now points to another digest",
            Code::RegistryUnauthorized => "the registry wants credentials or refused ours",
            Code::RegistryTimeout => "the registry did not answer in time",
            Code::RegistryUnavailable => "the registry failed (5xx, 429 or connection failures)",
            Code::RegistryNotAllowed => "plain HTTP to a host not marked insecure",
            Code::OfflineNoLayout => "offline, and no OCI layout is configured for the host",
            Code::InvalidRegistryResponse => "the registry answer is not the distribution API",
            Code::ManifestTooLarge => "an image manifest larger than the limit",
            Code::InvalidOciLayout => "an OCI layout on disk is broken",
            Code::InvalidManifest => "a manifest file could not be read",
            Code::AmbiguousYaml => {
                "YAML that Kubernetes could read differently from supplygate: refused"
            }
            Code::InvalidConfig => "the config file cannot be read or is invalid: could not decide",
            Code::RunFailed => "the run could not start or finish: could not decide",
            Code::UnpinnedImage => "an image reference without a digest",
            Code::UnsignedImage => "a signature is required and the resolved digest has none",
            Code::SignatureNotTrusted => {
                "signatures were found but none was verified by a required signer"
            }
            Code::SignatureCheckFailed => "looking for signatures failed: could not decide",
            Code::ProvenanceMissing => "no SLSA provenance was verified by a listed signer",
            Code::UntrustedBuilder => "the provenance names a builder the rule does not trust",
            Code::SourceRepositoryMismatch => {
                "the provenance names another source repository than the rule expects"
            }
            Code::SourceRefNotAllowed => "the provenance's source ref is not allowed",
            Code::SourceCommitMismatch => "the manifest claims another commit than the provenance",
            Code::CommitNotReachable => "the commit is not reachable from an allowed branch or tag",
            Code::CertificateProvenanceMismatch => {
                "the keyless certificate disagrees with the provenance"
            }
            Code::ProvenanceCheckFailed => {
                "looking for attestations or checking the clone failed: could not decide"
            }
            Code::PolicyError => "a policy failed to evaluate: could not decide",
            Code::BreakGlass => "a break-glass annotation turned denials into warnings",
            Code::BreakGlassWithoutReason => {
                "a break-glass annotation without a reason: the denials stand"
            }
            Code::NamespaceMismatch => {
                "webhook: the object's namespace is not the request's (which is authoritative)"
            }
            Code::Exemption => {
                "an exemption turned denials into warnings, expired, or matched nothing"
            }
            Code::NotInLock => "`--locked`: the image is not in the evidence lock",
            Code::LockStale => {
                "`--locked`: signers, trusted roots or policies changed since the lock was written"
            }
            Code::LockMismatch => "`--locked`: another digest or decision than the lock records",
            Code::TagMovedSinceLock => {
                "`--locked`: a locked tag now points to another digest in the registry"
            }
            Code::NoManifests => "the run read no document: nothing was checked",
            Code::HelmTemplate => "a file is a Helm template, not a manifest: render it first",
            Code::KustomizationNotRendered => {
                "a kustomization changes images: check its rendered output, not its files"
            }
            Code::UnrecognisedImageField => {
                "a value under an `image` key of an unknown field is not an image reference"
            }
            Code::Rule(_) => "a denial or warning from a policy rule",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Reported; does not block.
    Warn,
    /// Blocks: the image must not run.
    Deny,
    /// Blocks: the gate could not decide (fail closed).
    Error,
}

/// The outcome for one image, or for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// May run.
    Allow,
    /// Must not run.
    Deny,
    /// Could not decide; treated as deny.
    Error,
}

impl Decision {
    /// The process exit code: 0 allow, 1 deny, 2 could not decide.
    pub fn exit_code(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::Deny => 1,
            Decision::Error => 2,
        }
    }
}

/// One reason about one image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Weight.
    pub severity: Severity,
    /// One line: what is wrong.
    pub message: String,
    /// What was expected, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was found, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The likely fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    /// A finding without expected/found/hint.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            expected: None,
            found: None,
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds what was expected and what was found.
    #[must_use]
    pub fn expected_found(mut self, expected: impl Into<String>, found: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }
}

/// Everything known about one image site.
#[derive(Debug, Clone)]
pub struct ImageReport {
    /// Where it is.
    pub site: ImageSite,
    /// The parsed reference, when it parses.
    pub reference: Option<ImageRef>,
    /// What the registry said, when it answered.
    pub resolved: Option<Resolved>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Signature facts, when a signature requirement applies.
    pub signatures: Option<std::sync::Arc<crate::gate::SignatureReport>>,
    /// Attestation facts, when a provenance rule applies.
    pub attestations: Option<std::sync::Arc<crate::gate::AttestationReport>>,
}

/// What is said of an image allowed without any signature or provenance requirement.
pub const RESOLVED_ONLY: &str = "resolved only: no signature or provenance requirement applies";

impl ImageReport {
    /// Allow when nothing blocks, else the most severe finding's weight.
    pub fn decision(&self) -> Decision {
        decision_of(self.findings.iter().map(|f| f.severity))
    }

    /// Allowed, resolved, and neither signatures nor attestations were looked for (no
    /// `require:` or `provenance:` rule names it): only its existence was checked.
    pub fn resolved_only(&self) -> bool {
        self.decision() == Decision::Allow
            && self.resolved.is_some()
            && self.signatures.is_none()
            && self.attestations.is_none()
    }
}

/// A problem with a whole file (it could not be read), located as well as possible.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Code (always a could-not-decide code).
    pub code: Code,
    /// What is wrong.
    pub message: String,
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    /// Distinct references looked up.
    pub distinct_images: usize,
    /// HTTP requests sent to registries.
    pub requests: u64,
    /// Lookups answered from the in-process cache.
    pub cache_hits: u64,
    /// Wall time of the run.
    pub elapsed_ms: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per image site, in file and line order.
    pub images: Vec<ImageReport>,
    /// Files that could not be read.
    pub file_errors: Vec<FileError>,
    /// Documents that were not Kubernetes objects.
    pub skipped_documents: usize,
    /// Documents unchanged since `--changed-since`: read for context, not evaluated.
    pub unchanged_documents: usize,
    /// Documents read that are not empty.
    pub documents: usize,
    /// Kubernetes objects read (`no-manifests` when there is none).
    pub objects: usize,
    /// Paths skipped by `--exclude` or `paths.exclude`.
    pub excluded_paths: usize,
    /// Warnings about the run rather than one image (an exemption that matched nothing).
    pub notices: Vec<Finding>,
    /// Counters.
    pub stats: RunStats,
}

impl Report {
    /// Error when anything could not be decided, else deny when anything is denied, else allow.
    /// Run-level notices weigh too (`no-manifests` is an error).
    pub fn decision(&self) -> Decision {
        let files = self.file_errors.iter().map(|_| Severity::Error);
        let images = self
            .images
            .iter()
            .flat_map(|i| i.findings.iter().map(|f| f.severity));
        let notices = self.notices.iter().map(|n| n.severity);
        decision_of(files.chain(images).chain(notices))
    }

    /// The images allowed on their resolution alone: no `require:` or `provenance:` rule named
    /// them, so no signature or provenance was asked for.
    pub fn resolved_only(&self) -> impl Iterator<Item = &ImageReport> {
        self.images.iter().filter(|i| i.resolved_only())
    }

    /// Sentences about what the run did not check, for every format: an input with documents
    /// but no image, images allowed without any signature or provenance requirement, paths
    /// excluded.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.documents == 0 && self.images.is_empty() {
            notes.push("no document read".to_owned());
        }
        let evaluated = self.documents.saturating_sub(self.unchanged_documents);
        if self.images.is_empty() && evaluated > 0 {
            let n = evaluated;
            notes.push(format!(
                "no image found in {n} document{}",
                if n == 1 { "" } else { "s" }
            ));
        }
        notes.extend(self.unchanged_note());
        let resolved_only = self.resolved_only().count();
        if resolved_only > 0 {
            notes.push(format!(
                "{resolved_only} image{} {RESOLVED_ONLY}",
                if resolved_only == 1 { "" } else { "s" }
            ));
        }
        if self.excluded_paths > 0 {
            let n = self.excluded_paths;
            notes.push(format!(
                "{n} path{} excluded (`--exclude`, `paths.exclude`)",
                if n == 1 { "" } else { "s" }
            ));
        }
        notes
    }

    /// The note on documents `--changed-since` set aside, when it did: they were read but not
    /// evaluated, so that "no image found" is not taken for "nothing to check".
    pub fn unchanged_note(&self) -> Option<String> {
        match self.unchanged_documents {
            0 => None,
            n => Some(format!(
                "{n} unchanged document{} not evaluated (`--changed-since`)",
                if n == 1 { " was" } else { "s were" }
            )),
        }
    }

    /// How many images have each decision: (allowed, denied, errors).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for i in &self.images {
            match i.decision() {
                Decision::Allow => c.0 += 1,
                Decision::Deny => c.1 += 1,
                Decision::Error => c.2 += 1,
            }
        }
        c
    }

    /// Number of warnings over all images.
    pub fn warnings(&self) -> usize {
        self.images
            .iter()
            .flat_map(|i| &i.findings)
            .filter(|f| f.severity == Severity::Warn)
            .count()
    }
}

fn decision_of(severities: impl Iterator<Item = Severity>) -> Decision {
    severities.fold(Decision::Allow, |acc, s| {
        let d = match s {
            Severity::Warn => Decision::Allow,
            Severity::Deny => Decision::Deny,
            Severity::Error => Decision::Error,
        };
        acc.max(d)
    })
}

/// Where the files of a report live, so that code hosts can place findings: SARIF, GitHub
/// annotations and Markdown name files relative to the repository root (`%SRCROOT%`), which
/// is not always the directory `check` ran in.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    root: PathBuf,
    cwd: PathBuf,
}

impl SourceRoot {
    /// `root` is the repository's top directory; relative paths in the report are relative to
    /// `cwd`.
    pub fn new(root: PathBuf, cwd: PathBuf) -> Self {
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Self { root, cwd }
    }

    /// The path of a manifest relative to the root, with `/` separators; `None` for standard
    /// input, a named text, or a file outside the root.
    pub fn relative(&self, origin: &Origin) -> Option<String> {
        match origin {
            Origin::File(path) => self.relative_path(path),
            Origin::Stdin | Origin::Named(_) => None,
        }
    }

    /// Like [`SourceRoot::relative`] for a path as a report writes it (a [`FileError`]'s
    /// `file`); `None` also when no such file exists (standard input).
    pub fn relative_file(&self, file: &str) -> Option<String> {
        let path = Path::new(file);
        if !self.cwd.join(path).exists() {
            return None;
        }
        self.relative_path(path)
    }

    /// The root-relative path when there is one, else the origin as the human report shows it.
    pub fn display(&self, origin: &Origin) -> String {
        self.relative(origin).unwrap_or_else(|| origin.to_string())
    }

    /// The absolute path of a manifest file (symbolic links resolved when it exists); `None`
    /// for standard input or a named text.
    pub fn absolute(&self, origin: &Origin) -> Option<PathBuf> {
        match origin {
            Origin::File(path) => Some(self.absolute_path(path)),
            Origin::Stdin | Origin::Named(_) => None,
        }
    }

    /// Like [`SourceRoot::absolute`] for a [`FileError`]'s `file`; `None` also when no such
    /// file exists (standard input, a run-level error).
    pub fn absolute_file(&self, file: &str) -> Option<PathBuf> {
        let path = Path::new(file);
        self.cwd
            .join(path)
            .exists()
            .then(|| self.absolute_path(path))
    }

    fn absolute_path(&self, path: &Path) -> PathBuf {
        let absolute = self.cwd.join(path);
        // Symbolic links resolved when the file exists, so that the root (from `git`, also
        // resolved) is a prefix; lexically otherwise.
        std::fs::canonicalize(&absolute).unwrap_or_else(|_| lexical(&absolute))
    }

    fn relative_path(&self, path: &Path) -> Option<String> {
        let absolute = self.absolute_path(path);
        let rest = absolute.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.is_empty() {
            return None;
        }
        Some(parts.join("/"))
    }
}

/// What an error passed on verbatim from a dependency (a DER decoder, rustls, reqwest,
/// serde_json) means for the user, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explained {
    /// What happened, in the user's terms.
    pub meaning: &'static str,
    /// The likely fix.
    pub action: &'static str,
}

/// The [`Explained`] sentence for a dependency's error text found in `raw`, or `None` when
/// `raw` holds none of the known kinds. The raw text stays in the message after it: it is
/// what a bug report or a search needs.
pub fn explain_dependency_error(raw: &str) -> Option<Explained> {
    let has = |signs: &[&str]| signs.iter().any(|s| raw.contains(s));
    if has(&["ASN.1", "DER byte", "DER message", "der::Error"]) {
        return Some(Explained {
            meaning: "a certificate or key could not be decoded: its bytes are damaged, \
                      truncated or not the kind of object expected here",
            action: "get a fresh copy of it (export the key again with `cosign public-key`, \
                     download the trusted root again, or sign the image again)",
        });
    }
    if has(&[
        "invalid peer certificate",
        "UnknownIssuer",
        "NotValidForName",
        "certificate verify failed",
        "CertificateExpired",
        "BadSignature",
        "InvalidCertificate",
    ]) {
        return Some(Explained {
            meaning: "the registry's TLS certificate is not trusted on this machine (a \
                      private CA, a self-signed or expired certificate, or one for another host)",
            action: "install the registry's CA certificate in the system trust store, or have \
                     the certificate fixed; do not turn TLS off for a registry you deploy from",
        });
    }
    if has(&[
        "tls handshake",
        "HandshakeFailure",
        "received fatal alert",
        "peer is incompatible",
    ]) {
        return Some(Explained {
            meaning: "the TLS handshake with the registry failed",
            action: "check that the host serves HTTPS on that port and that no proxy \
                     intercepts TLS",
        });
    }
    if has(&[
        "dns error",
        "failed to lookup address",
        "Connection refused",
        "connection refused",
        "Connection reset",
        "error sending request",
        "tcp connect error",
    ]) {
        return Some(Explained {
            meaning: "the registry could not be reached",
            action: "check the host name and port, the network, and any proxy (`HTTPS_PROXY`)",
        });
    }
    let json_position = raw.contains(" at line ") && raw.contains(" column ");
    if json_position
        && has(&[
            "expected value",
            "EOF while parsing",
            "missing field",
            "invalid type",
            "unknown variant",
            "trailing characters",
            "expected `",
            "key must be a string",
        ])
    {
        return Some(Explained {
            meaning: "a JSON document (a registry's answer or a file) does not have the shape \
                      expected here",
            action: "check that the file is the kind the setting names, or that the host is \
                     the registry itself and no proxy or login page answers in its place",
        });
    }
    None
}

/// Whether `c` acts on a terminal or on the text around it instead of showing as itself: C0
/// and C1 controls (ESC starts terminal sequences), DEL, the Unicode bidirectional controls
/// (U+202E shows `lmay.gnp` as `gnp.yaml`: "Trojan Source"), the line and paragraph
/// separators, the zero-width space and the byte-order mark.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Writes `c` as `\u{202e}`: visible, and what a Rust or JavaScript string would read back.
pub fn push_escaped(out: &mut String, c: char) {
    use fmt::Write as _;
    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
}

/// `s` with every [`is_unsafe_char`] escaped as `\u{…}`, line breaks included: one line of
/// text that shows what the manifest holds and cannot act on the terminal.
pub fn escape_unsafe(s: &str) -> std::borrow::Cow<'_, str> {
    escape_unsafe_except(s, &[])
}

/// Like [`escape_unsafe`], but each char of `keep` passes as it is (a renderer that handles
/// line breaks itself keeps `\n`).
pub fn escape_unsafe_except<'a>(s: &'a str, keep: &[char]) -> std::borrow::Cow<'a, str> {
    if !s.chars().any(|c| is_unsafe_char(c) && !keep.contains(&c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep.contains(&c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `a/./b/../c` -> `a/c`, without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{s} is not kebab-case"
            );
        }
    }

    #[test]
    fn every_code_has_a_row_in_the_diagnostics_table() {
        let doc = include_str!("../../docs/diagnostics.md");
        for c in Code::ALL {
            assert!(
                doc.lines()
                    .any(|l| l.starts_with(&format!("| `{}` |", c.as_str()))),
                "docs/diagnostics.md has no table row for `{c}`"
            );
        }
    }

    #[test]
    fn error_outranks_deny_outranks_warn() {
        use Severity::*;
        assert_eq!(decision_of([Warn].into_iter()), Decision::Allow);
        assert_eq!(decision_of([Warn, Deny].into_iter()), Decision::Deny);
        assert_eq!(
            decision_of([Deny, Error, Warn].into_iter()),
            Decision::Error
        );
        assert_eq!(decision_of(std::iter::empty()), Decision::Allow);
        assert_eq!(Decision::Deny.exit_code(), 1);
    }

    #[test]
    fn source_root_names_files_relative_to_the_root_with_slashes() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("apps/web");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("d.yaml"), "x").unwrap();
        let root = SourceRoot::new(dir.path().to_path_buf(), sub.clone());
        let file = |p: &str| Origin::File(PathBuf::from(p));
        assert_eq!(
            root.relative(&file("d.yaml")).as_deref(),
            Some("apps/web/d.yaml")
        );
        assert_eq!(
            root.relative(&file("./../web/d.yaml")).as_deref(),
            Some("apps/web/d.yaml")
        );
        assert_eq!(root.relative(&file("/elsewhere/d.yaml")), None);
        assert_eq!(root.relative(&Origin::Stdin), None);
        assert_eq!(root.relative_file("<stdin>"), None);
        assert_eq!(root.display(&Origin::Stdin), "<stdin>");
    }

    #[test]
    fn unsafe_chars_are_escaped_visibly() {
        assert_eq!(escape_unsafe("nginx:1.25"), "nginx:1.25");
        assert_eq!(
            escape_unsafe("a\u{202e}lmay.exe\u{1b}[2Jb\nc\u{7f}\u{9b}"),
            "a\\u{202e}lmay.exe\\u{1b}[2Jb\\u{a}c\\u{7f}\\u{9b}"
        );
        assert_eq!(
            escape_unsafe_except("a\nb\u{2066}", &['\n']),
            "a\nb\\u{2066}"
        );
        // Printable non-ASCII text is text.
        assert_eq!(escape_unsafe("café ü 日本"), "café ü 日本");
    }

    #[test]
    fn dependency_errors_get_a_meaning_and_an_action() {
        let der = "malformed ASN.1 DER value for GeneralizedTime at DER byte 71";
        let e = explain_dependency_error(der).unwrap();
        assert!(e
            .meaning
            .starts_with("a certificate or key could not be decoded"));
        let tls = "error sending request: client error (Connect): invalid peer certificate: \
                   UnknownIssuer";
        assert!(explain_dependency_error(tls)
            .unwrap()
            .meaning
            .contains("TLS certificate is not trusted"));
        let json = "invalid registry response: expected value at line 1 column 1";
        assert!(explain_dependency_error(json)
            .unwrap()
            .meaning
            .contains("does not have the shape expected"));
        assert_eq!(explain_dependency_error("HTTP 503 after 3 retries"), None);
        assert_eq!(explain_dependency_error("tag `v9` not found"), None);
    }

    #[test]
    fn every_code_has_a_description() {
        for c in Code::ALL {
            assert!(!c.description().is_empty(), "{c}");
        }
    }
}
