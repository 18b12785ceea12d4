//! Stage (4), source linkage: pure checks that tie provenance to what is deployed — the
//! commit a manifest claims, the expected source repository, trusted builders, and the
//! agreement between a keyless certificate's source claims and the provenance.

use super::slsa::{is_full_commit, normalise_repository, Provenance};
use crate::verify::Identity;

/// Whether the provenance commit is the one claimed: equal when the claim is a full SHA, a
/// prefix match when the claim is 7 to 63 hex digits (the "tag = commit SHA" convention:
/// `app:4d329c7`). Case-insensitive; anything else (empty, too short, not hex) is no match.
pub fn commit_matches_claim(provenance_commit: &str, claimed: &str) -> bool {
    let commit = provenance_commit.to_ascii_lowercase();
    let claim = claimed.trim().to_ascii_lowercase();
    if !is_full_commit(&commit) || claim.len() < 7 || claim.len() > commit.len() {
        return false;
    }
    if !claim.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    commit.starts_with(&claim)
}

/// Whether two repository URIs name the same repository after normalisation
/// (`git+https://github.com/acme/app.git@refs/heads/main` = `https://github.com/acme/app/` =
/// `github.com/acme/app`). Either one not being a repository URI is no match.
pub fn repository_matches(expected: &str, actual: &str) -> bool {
    match (normalise_repository(expected), normalise_repository(actual)) {
        (Some(e), Some(a)) => e == a,
        _ => false,
    }
}

/// A trusted builder from config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "match", content = "id", rename_all = "kebab-case")]
pub enum BuilderRule {
    /// The builder id, exactly.
    Exact(String),
    /// Builder ids that start with this, at a boundary: the prefix ends with `/`, `@` or
    /// `:`, or the id continues with `/` or `@` right after it. So
    /// `https://github.com/acme` accepts `https://github.com/acme/builder@v1` but not
    /// `https://github.com/acme-evil/builder`.
    Prefix(String),
}

impl BuilderRule {
    /// Whether `builder_id` is accepted by this rule.
    pub fn accepts(&self, builder_id: &str) -> bool {
        match self {
            Self::Exact(id) => builder_id == id,
            Self::Prefix(prefix) => {
                let Some(rest) = builder_id.strip_prefix(prefix.as_str()) else {
                    return false;
                };
                !prefix.is_empty()
                    && (prefix.ends_with(['/', '@', ':'])
                        || rest.is_empty()
                        || rest.starts_with(['/', '@']))
            }
        }
    }
}

/// The first rule that trusts `builder_id`, if any.
pub fn builder_trusted<'a>(
    builder_id: &str,
    trusted: &'a [BuilderRule],
) -> Option<&'a BuilderRule> {
    trusted.iter().find(|rule| rule.accepts(builder_id))
}

/// Whether one source claim of a keyless certificate agrees with the provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Agreement {
    /// Both say the same.
    Agrees,
    /// They differ.
    Disagrees {
        /// What the certificate says.
        certificate: String,
        /// What the provenance says.
        provenance: String,
    },
    /// One of them does not say (no Fulcio source extensions, or no source in provenance).
    Unknown,
}

/// How a keyless certificate's source extensions compare with the provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateAgreement {
    /// `source_repository_uri` vs the provenance source repository.
    pub repository: Agreement,
    /// `source_repository_digest` vs the provenance source commit.
    pub commit: Agreement,
}

impl CertificateAgreement {
    /// Whether neither claim disagrees (unknown counts as no disagreement).
    pub fn no_disagreement(&self) -> bool {
        !matches!(self.repository, Agreement::Disagrees { .. })
            && !matches!(self.commit, Agreement::Disagrees { .. })
    }
}

/// Compares the certificate's `source_repository_uri` / `source_repository_digest` (Fulcio
/// extensions for GitHub Actions and other CI) with the provenance's repository and commit.
/// For slsa-github-generator these name the repository that *ran* the build, which is the
/// source repository.
pub fn certificate_agreement(identity: &Identity, provenance: &Provenance) -> CertificateAgreement {
    let repository = match (&identity.source_repository, &provenance.source_repository) {
        (Some(cert), Some(prov)) if repository_matches(cert, prov) => Agreement::Agrees,
        (Some(cert), Some(prov)) => Agreement::Disagrees {
            certificate: cert.clone(),
            provenance: prov.clone(),
        },
        _ => Agreement::Unknown,
    };
    let commit = match (&identity.source_commit, &provenance.source_commit) {
        (Some(cert), Some(prov)) if cert.eq_ignore_ascii_case(prov) => Agreement::Agrees,
        (Some(cert), Some(prov)) => Agreement::Disagrees {
            certificate: cert.clone(),
            provenance: prov.clone(),
        },
        _ => Agreement::Unknown,
    };
    CertificateAgreement { repository, commit }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::slsa::SlsaVersion;

    const COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";

    #[test]
    fn full_claim_must_equal_the_commit() {
        assert!(commit_matches_claim(COMMIT, COMMIT));
        assert!(commit_matches_claim(COMMIT, &COMMIT.to_uppercase()));
        assert!(!commit_matches_claim(
            COMMIT,
            "4d329c75e7ec1725f7c9ce917a8799d408d06be4"
        ));
    }

    #[test]
    fn short_claim_matches_by_prefix_from_seven_digits() {
        assert!(commit_matches_claim(COMMIT, "4d329c7"));
        assert!(commit_matches_claim(COMMIT, "4d329c75e7ec"));
        assert!(!commit_matches_claim(COMMIT, "4d329c"));
        assert!(!commit_matches_claim(COMMIT, "4d329c8"));
        assert!(!commit_matches_claim(COMMIT, "v1.2.3"));
        assert!(!commit_matches_claim(COMMIT, ""));
        assert!(!commit_matches_claim(COMMIT, &format!("{COMMIT}00")));
    }

    #[test]
    fn claim_never_matches_an_invalid_provenance_commit() {
        assert!(!commit_matches_claim("4d329c7", "4d329c7"));
        assert!(!commit_matches_claim("", "4d329c7"));
    }

    #[test]
    fn repositories_match_after_normalisation() {
        let canonical = "https://github.com/acme/app";
        for other in [
            "git+https://github.com/acme/app.git@refs/heads/main",
            "https://GitHub.com/acme/app/",
            "github.com/acme/app",
        ] {
            assert!(repository_matches(canonical, other), "{other}");
        }
        for other in [
            "https://github.com/acme/app-evil",
            "https://github.com/acme/ap",
            "https://gitlab.com/acme/app",
            "https://github.com/evil/acme/app",
            "not a uri",
        ] {
            assert!(!repository_matches(canonical, other), "{other}");
        }
    }

    #[test]
    fn builder_rules_match_exactly_or_by_prefix_at_a_boundary() {
        let gen = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";
        let rules = [
            BuilderRule::Exact(format!("{gen}@refs/tags/v2.1.0")),
            BuilderRule::Prefix("https://github.com/acme".into()),
        ];
        assert_eq!(
            builder_trusted(&format!("{gen}@refs/tags/v2.1.0"), &rules),
            Some(&rules[0])
        );
        assert_eq!(
            builder_trusted(&format!("{gen}@refs/tags/v2.1.1"), &rules),
            None
        );
        assert_eq!(
            builder_trusted("https://github.com/acme/builder@v1", &rules),
            Some(&rules[1])
        );
        assert_eq!(
            builder_trusted("https://github.com/acme-evil/builder", &rules),
            None
        );
        let tags = BuilderRule::Prefix(format!("{gen}@refs/tags/"));
        assert!(tags.accepts(&format!("{gen}@refs/tags/v2.1.0")));
        assert!(!tags.accepts(&format!("{gen}@refs/heads/main")));
        assert!(!BuilderRule::Prefix(String::new()).accepts("x"));
    }

    fn provenance(repo: Option<&str>, commit: Option<&str>) -> Provenance {
        Provenance {
            slsa_version: SlsaVersion::V1,
            builder_id: None,
            build_type: None,
            source_uri: None,
            source_repository: repo.map(Into::into),
            source_ref: None,
            source_commit: commit.map(Into::into),
            entry_point: None,
            build_started_on: None,
            build_finished_on: None,
            problems: Vec::new(),
        }
    }

    #[test]
    fn certificate_claims_are_compared_with_the_provenance() {
        let identity = Identity {
            source_repository: Some("https://github.com/acme/app".into()),
            source_commit: Some(COMMIT.into()),
            ..Identity::default()
        };
        let ok = certificate_agreement(
            &identity,
            &provenance(Some("https://github.com/acme/app"), Some(COMMIT)),
        );
        assert_eq!(ok.repository, Agreement::Agrees);
        assert_eq!(ok.commit, Agreement::Agrees);
        assert!(ok.no_disagreement());

        let bad = certificate_agreement(
            &identity,
            &provenance(Some("https://github.com/evil/app"), Some(&"0".repeat(40))),
        );
        assert!(matches!(bad.repository, Agreement::Disagrees { .. }));
        assert!(matches!(bad.commit, Agreement::Disagrees { .. }));
        assert!(!bad.no_disagreement());

        let unknown = certificate_agreement(&Identity::default(), &provenance(None, None));
        assert_eq!(unknown.repository, Agreement::Unknown);
        assert!(unknown.no_disagreement());
    }
}
