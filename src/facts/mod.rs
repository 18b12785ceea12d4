//! The hand-off between the stages and the policy: what is known about each image site (its
//! reference, what the registry answered, the signatures and attestations found on its digest
//! and verified) and the findings made of it, with their stable [`Code`]s and weights.
//!
//! The stages up to (4) produce these facts, [`crate::policy`] decides on them, and
//! [`crate::report`] renders them; nothing here reaches up to either.

use std::sync::Arc;

use crate::manifest::ImageSite;
use crate::provenance::AttestationFact;
use crate::reference::{Digest, ImageRef};
use crate::registry::Resolved;
use crate::verify::{SignatureFact, Signer};

mod code;
#[cfg(test)]
mod tests;

pub use code::Code;

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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
    /// The policy package whose rule made it (`data.supplygate.signatures`); none for the
    /// gate's own findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The config entries responsible: the `require:` or `provenance:` rules, or the
    /// `policy:` key, whose check produced it (empty when no config entry did).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigLocation>,
}

/// Where in the config file an entry behind a finding is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ConfigLocation {
    /// The config file, as it was named (`--config`, or `supplygate.yaml`).
    pub file: String,
    /// 1-based line of the entry.
    pub line: usize,
    /// 1-based column of the entry.
    pub column: usize,
    /// Which entry: `require[0]`, `provenance[1]`, `policy.allowed_registries`.
    pub key: String,
}

impl std::fmt::Display for ConfigLocation {
    /// `supplygate.yaml:22:5 (require[0])`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{} ({})",
            self.file, self.line, self.column, self.key
        )
    }
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
            package: None,
            config: Vec::new(),
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Names the config entries behind it.
    #[must_use]
    pub fn config(mut self, entries: Vec<ConfigLocation>) -> Self {
        self.config = entries;
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
    pub signatures: Option<Arc<SignatureReport>>,
    /// Attestation facts, when a provenance rule applies.
    pub attestations: Option<Arc<AttestationReport>>,
}

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

pub(crate) fn decision_of(severities: impl Iterator<Item = Severity>) -> Decision {
    severities.fold(Decision::Allow, |acc, s| {
        let d = match s {
            Severity::Warn => Decision::Allow,
            Severity::Deny => Decision::Deny,
            Severity::Error => Decision::Error,
        };
        acc.max(d)
    })
}

/// Every signature found on an image's resolved digest and on each of its platform manifests,
/// with each signer's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureReport {
    /// The digest the requirement is about (index or single manifest).
    pub digest: Digest,
    /// Signatures attached to `digest`.
    pub facts: Vec<SignatureFact>,
    /// Signatures attached to each platform manifest of an index, recorded separately.
    pub platforms: Vec<PlatformSignatures>,
}

/// Signatures on one platform manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlatformSignatures {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The platform manifest's digest.
    pub digest: Digest,
    /// Signatures attached to it.
    pub facts: Vec<SignatureFact>,
}

impl SignatureReport {
    /// The signers that verified a signature on the resolved digest, sorted, each once.
    pub fn verified_by(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .facts
            .iter()
            .flat_map(|f| f.verified_by.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Whether a signature on the resolved digest was verified by one of `signers`.
    pub fn satisfies(&self, signers: &[Arc<Signer>]) -> bool {
        verified_by_one_of(&self.facts, signers)
    }
}

/// Whether one of `facts` was verified by one of `signers`.
pub(crate) fn verified_by_one_of(facts: &[SignatureFact], signers: &[Arc<Signer>]) -> bool {
    facts.iter().any(|f| {
        f.verified_by
            .iter()
            .any(|v| signers.iter().any(|s| s.name == *v))
    })
}

/// Every attestation attached to an image's resolved digest, with each signer's verdict and
/// the normalised provenance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttestationReport {
    /// The digest they are attached to.
    pub digest: Digest,
    /// One fact per attestation (cosign `.att` layers and DSSE bundles among the referrers).
    pub facts: Vec<AttestationFact>,
}
