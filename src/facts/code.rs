//! The stable diagnostic codes, each with its name and description.

use std::fmt;

/// Declares [`Code`] from one table: each documented code's variant, its kebab-case name and
/// its one-line description, so the enum, [`Code::ALL`], [`Code::as_str`] and
/// [`Code::description`] cannot drift apart.
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal: $description:literal,)*) => {
        /// A stable, documented diagnostic code, or a code chosen by a policy rule.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
            /// A code from a policy rule (the shipped library's are documented; user rules
            /// choose their own). `policy` when a rule gave none.
            Rule(std::sync::Arc<str>),
        }

        impl Code {
            /// Every documented code, for documentation and the uniqueness test.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The kebab-case name used in every output format.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Code::$variant => $name,)*
                    Code::Rule(code) => code,
                }
            }

            /// One line: what the code means (SARIF `shortDescription`, the table in
            /// docs/diagnostics.md).
            pub fn description(&self) -> &str {
                match self {
                    $(Code::$variant => $description,)*
                    Code::Rule(_) => "a denial or warning from a policy rule",
                }
            }
        }
    };
}

codes! {
    /// The `image:` value is not a valid reference.
    InvalidReference = "invalid-reference":
        "the `image:` value is not a valid reference",
    /// The tag or digest does not exist in the registry.
    ImageNotFound = "image-not-found":
        "the tag or digest does not exist in the registry",
    /// A manifest body does not hash to the digest asked for or announced.
    DigestMismatch = "digest-mismatch":
        "a manifest body does not hash to the digest asked for or announced",
    /// `repo:tag@digest` where the tag now points to another digest.
    TagMoved = "tag-moved":
        "`repo:tag@digest` whose tag now points to another digest",
    /// The registry refused our credentials or wants some.
    RegistryUnauthorized = "registry-unauthorized":
        "the registry wants credentials or refused ours",
    /// The registry did not answer in time.
    RegistryTimeout = "registry-timeout":
        "the registry did not answer in time",
    /// The registry failed (5xx, 429 after retries, connection refused).
    RegistryUnavailable = "registry-unavailable":
        "the registry failed (5xx, 429 or connection failures)",
    /// Plain HTTP to a host not marked insecure.
    RegistryNotAllowed = "registry-not-allowed":
        "plain HTTP to a host not marked insecure",
    /// Offline, and no OCI layout is configured for the image's host.
    OfflineNoLayout = "offline-no-layout":
        "offline, and no OCI layout is configured for the host",
    /// The registry answered something that is not the distribution API.
    InvalidRegistryResponse = "invalid-registry-response":
        "the registry answer is not the distribution API",
    /// A manifest larger than the limit.
    ManifestTooLarge = "manifest-too-large":
        "an image manifest larger than the limit",
    /// An OCI layout on disk is broken.
    InvalidOciLayout = "invalid-oci-layout":
        "an OCI layout on disk is broken",
    /// A manifest file could not be read (malformed YAML, too large, too deep, not UTF-8).
    InvalidManifest = "invalid-manifest":
        "a manifest file could not be read",
    /// YAML that Kubernetes' reader and ours could read differently, refused.
    AmbiguousYaml = "ambiguous-yaml":
        "YAML that Kubernetes could read differently from supplygate: refused",
    /// The config file cannot be read or is invalid: could not decide.
    InvalidConfig = "invalid-config":
        "the config file cannot be read or is invalid: could not decide",
    /// The run could not start or finish (a path that cannot be read, a flag, the policies,
    /// the registry client, the lock): could not decide.
    RunFailed = "run-failed":
        "the run could not start or finish: could not decide",
    /// An image reference without a digest (`pin --check`).
    UnpinnedImage = "unpinned-image":
        "an image reference without a digest",
    /// A signature is required and the resolved digest has none.
    UnsignedImage = "unsigned-image":
        "a signature is required and the resolved digest has none",
    /// Signatures were found but none was verified by a required signer.
    SignatureNotTrusted = "signature-not-trusted":
        "signatures were found but none was verified by a required signer",
    /// Looking for signatures failed (registry error): could not decide.
    SignatureCheckFailed = "signature-check-failed":
        "looking for signatures failed: could not decide",
    /// A provenance rule applies and no SLSA provenance was verified by a listed signer.
    ProvenanceMissing = "provenance-missing":
        "no SLSA provenance was verified by a listed signer",
    /// The provenance names a builder the rule does not trust.
    UntrustedBuilder = "untrusted-builder":
        "the provenance names a builder the rule does not trust",
    /// The provenance names another source repository than the rule expects.
    SourceRepositoryMismatch = "source-repository-mismatch":
        "the provenance names another source repository than the rule expects",
    /// The provenance's source ref is not among the rule's allowed refs.
    SourceRefNotAllowed = "source-ref-not-allowed":
        "the provenance's source ref is not allowed",
    /// The manifest (annotation, label, or a commit-SHA tag) claims another commit.
    SourceCommitMismatch = "source-commit-mismatch":
        "the manifest claims another commit than the provenance",
    /// The commit is not reachable from an allowed branch or tag in the local clone.
    CommitNotReachable = "commit-not-reachable":
        "the commit is not reachable from an allowed branch or tag",
    /// The keyless certificate's repository or commit disagrees with the provenance.
    CertificateProvenanceMismatch = "certificate-provenance-mismatch":
        "the keyless certificate disagrees with the provenance",
    /// Looking for attestations or checking the clone failed: could not decide.
    ProvenanceCheckFailed = "provenance-check-failed":
        "looking for attestations or checking the clone failed: could not decide",
    /// A policy failed to evaluate (an error or the time limit): could not decide.
    PolicyError = "policy-error":
        "a policy failed to evaluate: could not decide",
    /// A break-glass annotation turned denials into warnings.
    BreakGlass = "break-glass":
        "a break-glass annotation turned denials into warnings",
    /// A break-glass annotation without a reason: it overrides nothing.
    BreakGlassWithoutReason = "break-glass-without-reason":
        "a break-glass annotation without a reason: the denials stand",
    /// Webhook: the object's `metadata.namespace` is not the AdmissionRequest's namespace.
    NamespaceMismatch = "namespace-mismatch":
        "webhook: the object's namespace is not the request's (which is authoritative)",
    /// An exemption turned denials into warnings, or expired, or matched nothing.
    Exemption = "exemption":
        "an exemption turned denials into warnings, expired, or matched nothing",
    /// `check --locked`: the image is not in the evidence lock.
    NotInLock = "not-in-lock":
        "`--locked`: the image is not in the evidence lock",
    /// `check --locked`: signers, trusted roots or policies changed since the lock was written.
    LockStale = "lock-stale":
        "`--locked`: signers, trusted roots or policies changed since the lock was written",
    /// `check --locked`: the image resolved to another digest or was decided otherwise than
    /// the lock records.
    LockMismatch = "lock-mismatch":
        "`--locked`: another digest or decision than the lock records",
    /// `check --locked`: a tag in the lock now points elsewhere in the registry.
    TagMovedSinceLock = "tag-moved-since-lock":
        "`--locked`: a locked tag now points to another digest in the registry",
    /// The run read no document at all (empty input, an empty directory, only empty files).
    NoManifests = "no-manifests":
        "the run read no document: nothing was checked",
    /// A file is a Helm (Go) template, not a manifest: render it first.
    HelmTemplate = "helm-template":
        "a file is a Helm template, not a manifest: render it first",
    /// A kustomization whose `images:` transformer, patches or Helm charts change images: the
    /// files as written are not what is deployed; render it first.
    KustomizationNotRendered = "kustomization-not-rendered":
        "a kustomization changes images: check its rendered output, not its files",
    /// A value under an `image` key, found by the generic pass, is not an image reference.
    UnrecognisedImageField = "unrecognised-image-field":
        "a value under an `image` key of an unknown field is not an image reference",
    /// A Notary Project signature counted although a check failed: its trust policy statement
    /// only logs that check (`permissive`, `audit`, `override: log`).
    NotationCheckLogged = "notation-check-logged":
        "a Notation signature counted although a check its trust policy only logs failed",
    /// A verification cache file was corrupt, truncated or foreign: ignored, removed, and
    /// the registry asked instead (a warning).
    CacheEntryIgnored = "cache-entry-ignored":
        "a verification cache file was corrupt or foreign: ignored, the registry asked",
}

impl Code {
    /// The documented code named `code`, or a policy rule's own code.
    pub fn from_rule(code: &str) -> Self {
        Self::ALL
            .iter()
            .find(|c| c.as_str() == code)
            .cloned()
            .unwrap_or_else(|| Code::Rule(std::sync::Arc::from(code)))
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
