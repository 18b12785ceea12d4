//! Stage (6): the outcome of a run as data ([`Report`]), the stable diagnostic [`Code`]s, and
//! the renderers ([`human`], [`json`]).
//!
//! A denial is data, not an error: every finding is a [`Finding`] on the image it concerns,
//! and the run's [`Decision`] is derived from them.

use std::fmt;

use crate::manifest::ImageSite;
use crate::reference::ImageRef;
use crate::registry::Resolved;

pub mod human;
pub mod json;

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
    /// Plain HTTP to a host not marked insecure, or a host without a layout when offline.
    RegistryNotAllowed,
    /// The registry answered something that is not the distribution API.
    InvalidRegistryResponse,
    /// A manifest larger than the limit.
    ManifestTooLarge,
    /// An OCI layout on disk is broken.
    InvalidOciLayout,
    /// A manifest file could not be read (malformed YAML, too large, too deep, not UTF-8).
    InvalidManifest,
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
    /// An exemption turned denials into warnings, or expired, or matched nothing.
    Exemption,
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
        Code::InvalidRegistryResponse,
        Code::ManifestTooLarge,
        Code::InvalidOciLayout,
        Code::InvalidManifest,
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
        Code::Exemption,
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
            Code::InvalidRegistryResponse => "invalid-registry-response",
            Code::ManifestTooLarge => "manifest-too-large",
            Code::InvalidOciLayout => "invalid-oci-layout",
            Code::InvalidManifest => "invalid-manifest",
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
            Code::Exemption => "exemption",
            Code::Rule(code) => code,
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

impl ImageReport {
    /// Allow when nothing blocks, else the most severe finding's weight.
    pub fn decision(&self) -> Decision {
        decision_of(self.findings.iter().map(|f| f.severity))
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
    /// Warnings about the run rather than one image (an exemption that matched nothing).
    pub notices: Vec<Finding>,
    /// Counters.
    pub stats: RunStats,
}

impl Report {
    /// Error when anything could not be decided, else deny when anything is denied, else allow.
    pub fn decision(&self) -> Decision {
        let files = self.file_errors.iter().map(|_| Severity::Error);
        let images = self
            .images
            .iter()
            .flat_map(|i| i.findings.iter().map(|f| f.severity));
        decision_of(files.chain(images))
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

#[cfg(test)]
mod tests {
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
    fn every_code_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for c in Code::ALL {
            assert!(
                readme.contains(&format!("`{}`", c.as_str())),
                "README does not document `{c}`"
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
}
