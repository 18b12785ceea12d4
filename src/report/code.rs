//! The stable diagnostic codes, each with its name and description.

use std::fmt;

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
    /// A Notary Project signature counted although a check failed: its trust policy statement
    /// only logs that check (`permissive`, `audit`, `override: log`).
    NotationCheckLogged,
    /// A verification cache file was corrupt, truncated or foreign: ignored, removed, and
    /// the registry asked instead (a warning).
    CacheEntryIgnored,
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
        Code::NotationCheckLogged,
        Code::CacheEntryIgnored,
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
            Code::NotationCheckLogged => "notation-check-logged",
            Code::CacheEntryIgnored => "cache-entry-ignored",
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
            Code::NotationCheckLogged => {
                "a Notation signature counted although a check its trust policy only logs failed"
            }
            Code::CacheEntryIgnored => {
                "a verification cache file was corrupt or foreign: ignored, the registry asked"
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
