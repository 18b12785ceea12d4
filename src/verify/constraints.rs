//! Constraints on the CI claims a Fulcio certificate carries (the extensions under
//! `1.3.6.1.4.1.57264.1`), as `gh attestation verify` offers them: source repository
//! (`--repo`), owner (`--owner`), signer workflow (`--signer-workflow`), source ref
//! (`--source-ref`) and runner environment (`--deny-self-hosted-runners`).
//!
//! Every value is compared whole: `acme/app` never matches `acme/app-evil`, and a workflow
//! path never matches a longer one. Repository and owner compare ASCII-case-insensitively,
//! as GitHub names do and as `gh` compares them; workflow and ref compare exactly.

use std::fmt;

use sigstore_verify::crypto::FulcioCiClaims;

/// The runner environment GitHub puts in `.1.11` for its own runners.
pub const GITHUB_HOSTED: &str = "github-hosted";

const GITHUB: &str = "https://github.com";

/// Extension OIDs, for messages.
const OID_BUILD_SIGNER_URI: &str = "1.3.6.1.4.1.57264.1.9";
const OID_RUNNER_ENVIRONMENT: &str = "1.3.6.1.4.1.57264.1.11";
const OID_SOURCE_REPOSITORY_URI: &str = "1.3.6.1.4.1.57264.1.12";
const OID_SOURCE_REPOSITORY_REF: &str = "1.3.6.1.4.1.57264.1.14";
const OID_SOURCE_REPOSITORY_OWNER_URI: &str = "1.3.6.1.4.1.57264.1.16";

/// Why a constraint from config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {expected}")]
pub struct ConstraintError {
    /// The value as written.
    pub value: String,
    /// What was expected, e.g. "`owner/name` or `https://host/owner/name`".
    pub expected: &'static str,
}

/// What a keyless signer requires of the certificate's CI claims, beyond issuer and SAN.
/// Each field is `None` (or `false`) when not constrained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateConstraints {
    /// Source Repository URI (`.1.12`), e.g. `https://github.com/acme/app`.
    pub source_repository: Option<String>,
    /// Source Repository Owner URI (`.1.16`), e.g. `https://github.com/acme`.
    pub source_owner: Option<String>,
    /// Build Signer URI (`.1.9`): the workflow that signed, which for a reusable workflow is
    /// the called workflow, not the caller. Without `@` the ref part of the certificate's
    /// value is not compared.
    pub signer_workflow: Option<String>,
    /// Source Repository Ref (`.1.14`), e.g. `refs/heads/main`.
    pub source_ref: Option<String>,
    /// Runner Environment (`.1.11`) must be `github-hosted`.
    pub deny_self_hosted_runners: bool,
}

impl CertificateConstraints {
    /// Whether nothing is constrained.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `acme/app` (on github.com) or `https://host/acme/app` (GHE.com, GitHub Enterprise
    /// Server) as the full Source Repository URI.
    pub fn repository(value: &str) -> Result<String, ConstraintError> {
        let bad = || ConstraintError {
            value: value.to_owned(),
            expected: "`owner/name` or `https://host/owner/name`",
        };
        let (base, path) = split_host(value).ok_or_else(bad)?;
        match path.split('/').collect::<Vec<_>>().as_slice() {
            // A clone URL's `.git`: the certificate's Source Repository URI never has it, so
            // the constraint could never match.
            [_, name] if name.ends_with(".git") => Err(ConstraintError {
                value: value.to_owned(),
                expected: "a repository as the certificate names it: drop the `.git` \
                           (`owner/name`, not a clone URL)",
            }),
            [owner, name] if is_name(owner) && is_name(name) => Ok(format!("{base}/{path}")),
            _ => Err(bad()),
        }
    }

    /// `acme` (on github.com) or `https://host/acme` as the full Source Repository Owner URI.
    pub fn owner(value: &str) -> Result<String, ConstraintError> {
        let bad = || ConstraintError {
            value: value.to_owned(),
            expected: "an owner name or `https://host/owner`",
        };
        let (base, path) = split_host(value).ok_or_else(bad)?;
        if is_name(path) {
            Ok(format!("{base}/{path}"))
        } else {
            Err(bad())
        }
    }

    /// `owner/repo/.github/workflows/file.yml` (on github.com), optionally `@ref`, or the same
    /// after `https://host/` or `host/` (as `gh --signer-workflow` takes it).
    pub fn signer_workflow(value: &str) -> Result<String, ConstraintError> {
        let bad = || ConstraintError {
            value: value.to_owned(),
            expected:
                "`owner/repo/.github/workflows/file.yml[@ref]`, optionally after `https://host/`",
        };
        let (base, path) = split_host(value).ok_or_else(bad)?;
        let file = path.split_once('@').map_or(path, |(file, _)| file);
        let reference = path.split_once('@').map(|(_, r)| r);
        let mut parts = file.splitn(3, '/');
        let (Some(owner), Some(name), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let ok = is_name(owner)
            && is_name(name)
            && rest.starts_with(".github/workflows/")
            && rest.len() > ".github/workflows/".len()
            && !rest.ends_with('/')
            && reference.is_none_or(|r| !r.is_empty() && !r.contains('@'));
        if ok {
            Ok(format!("{base}/{path}"))
        } else {
            Err(bad())
        }
    }

    /// A full ref: `refs/heads/…`, `refs/tags/…`, `refs/pull/…`.
    pub fn source_ref(value: &str) -> Result<String, ConstraintError> {
        if value.starts_with("refs/")
            && value.len() > "refs/".len()
            && !value.chars().any(char::is_whitespace)
        {
            Ok(value.to_owned())
        } else {
            Err(ConstraintError {
                value: value.to_owned(),
                expected: "a full ref such as `refs/heads/main` or `refs/tags/v1.2.3`",
            })
        }
    }

    /// Checks the certificate's claims; the first mismatch, naming the extension, what was
    /// expected and what was found.
    pub fn check(&self, claims: &FulcioCiClaims) -> Result<(), crate::verify::Reason> {
        let eq_fold = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let exact = |a: &str, b: &str| a == b;
        compare(
            "source repository",
            OID_SOURCE_REPOSITORY_URI,
            self.source_repository.as_deref(),
            claims.source_repository_uri.as_deref(),
            eq_fold,
        )?;
        compare(
            "source repository owner",
            OID_SOURCE_REPOSITORY_OWNER_URI,
            self.source_owner.as_deref(),
            claims.source_repository_owner_uri.as_deref(),
            eq_fold,
        )?;
        if let Some(expected) = &self.signer_workflow {
            let found = claims.build_signer_uri.as_deref();
            // Without `@ref` in config, the certificate's ref is not compared.
            let found_cmp = match (expected.contains('@'), found) {
                (false, Some(f)) => Some(f.split_once('@').map_or(f, |(file, _)| file)),
                (_, f) => f,
            };
            let matched = found_cmp.is_some_and(|f| f == expected);
            if !matched {
                return Err(mismatch(
                    "signer workflow",
                    OID_BUILD_SIGNER_URI,
                    expected,
                    found,
                ));
            }
        }
        compare(
            "source ref",
            OID_SOURCE_REPOSITORY_REF,
            self.source_ref.as_deref(),
            claims.source_repository_ref.as_deref(),
            exact,
        )?;
        if self.deny_self_hosted_runners {
            compare(
                "runner environment",
                OID_RUNNER_ENVIRONMENT,
                Some(GITHUB_HOSTED),
                claims.runner_environment.as_deref(),
                exact,
            )?;
        }
        Ok(())
    }
}

/// `repo acme/app, owner acme, …` for messages and lock files.
impl fmt::Display for CertificateConstraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = &self.source_repository {
            parts.push(format!("repo `{v}`"));
        }
        if let Some(v) = &self.source_owner {
            parts.push(format!("owner `{v}`"));
        }
        if let Some(v) = &self.signer_workflow {
            parts.push(format!("signer workflow `{v}`"));
        }
        if let Some(v) = &self.source_ref {
            parts.push(format!("source ref `{v}`"));
        }
        if self.deny_self_hosted_runners {
            parts.push(format!("runner `{GITHUB_HOSTED}`"));
        }
        f.write_str(&parts.join(", "))
    }
}

fn compare(
    what: &'static str,
    oid: &'static str,
    expected: Option<&str>,
    found: Option<&str>,
    same: impl Fn(&str, &str) -> bool,
) -> Result<(), crate::verify::Reason> {
    match expected {
        Some(e) if !found.is_some_and(|f| same(f, e)) => Err(mismatch(what, oid, e, found)),
        _ => Ok(()),
    }
}

fn mismatch(
    what: &'static str,
    oid: &'static str,
    expected: &str,
    found: Option<&str>,
) -> crate::verify::Reason {
    crate::verify::Reason::Claim {
        what,
        oid,
        expected: expected.to_owned(),
        found: found.map(str::to_owned),
    }
}

/// `(https://host, rest)`: `https://host/rest`, `host/rest` when the first segment has a dot
/// (as `gh` tells a host from an owner), else github.com.
fn split_host(value: &str) -> Option<(String, &str)> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) || value.is_empty() {
        return None;
    }
    let (host, rest) = match value.strip_prefix("https://") {
        Some(rest) => rest.split_once('/')?,
        None => match value.split_once('/') {
            Some((first, rest)) if first.contains('.') => (first, rest),
            _ => return Some((GITHUB.to_owned(), value)),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    host_ok.then(|| (format!("https://{}", host.to_ascii_lowercase()), rest))
}

/// An owner or repository name: letters, digits, `-`, `_`, `.` (not `.` or `..`).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::verify::Reason;

    /// The reason for claim `what` (`oid`) being `found` where `expected` is required.
    fn claim(what: &'static str, oid: &'static str, expected: &str, found: Option<&str>) -> Reason {
        Reason::Claim {
            what,
            oid,
            expected: expected.to_owned(),
            found: found.map(str::to_owned),
        }
    }

    fn claims() -> FulcioCiClaims {
        let mut c = FulcioCiClaims::default();
        c.source_repository_uri = Some("https://github.com/acme/app".into());
        c.source_repository_owner_uri = Some("https://github.com/acme".into());
        c.build_signer_uri =
            Some("https://github.com/acme/ci/.github/workflows/build.yml@refs/heads/main".into());
        c.source_repository_ref = Some("refs/heads/main".into());
        c.runner_environment = Some("self-hosted".into());
        c
    }

    #[test]
    fn a_repository_with_git_suffix_is_refused_with_a_hint() {
        let e = CertificateConstraints::repository("acme/app.git").unwrap_err();
        assert_eq!(e.value, "acme/app.git");
        assert!(e.to_string().contains("drop the `.git`"), "{e}");
        let e =
            CertificateConstraints::repository("https://acme.ghe.com/acme/app.git").unwrap_err();
        assert_eq!(e.value, "https://acme.ghe.com/acme/app.git");
        assert!(e.to_string().contains("drop the `.git`"), "{e}");
    }

    #[test]
    fn values_are_expanded_to_the_certificate_form() {
        assert_eq!(
            CertificateConstraints::repository("acme/app").unwrap(),
            "https://github.com/acme/app"
        );
        assert_eq!(
            CertificateConstraints::repository("https://acme.ghe.com/acme/app").unwrap(),
            "https://acme.ghe.com/acme/app"
        );
        assert_eq!(
            CertificateConstraints::owner("acme").unwrap(),
            "https://github.com/acme"
        );
        assert_eq!(
            CertificateConstraints::signer_workflow("github.com/acme/ci/.github/workflows/b.yml")
                .unwrap(),
            "https://github.com/acme/ci/.github/workflows/b.yml"
        );
        assert_eq!(
            CertificateConstraints::signer_workflow("acme/ci/.github/workflows/b.yml@refs/tags/v1")
                .unwrap(),
            "https://github.com/acme/ci/.github/workflows/b.yml@refs/tags/v1"
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "acme",
            "acme/app/x",
            "acme/",
            "/app",
            "acme/a pp",
            "https://github.com/acme",
        ] {
            let e = CertificateConstraints::repository(bad).unwrap_err();
            assert_eq!(e.value, bad);
            assert_eq!(e.expected, "`owner/name` or `https://host/owner/name`");
        }
        for bad in ["acme/app", "", "https://github.com/"] {
            assert!(CertificateConstraints::owner(bad)
                .unwrap_err()
                .to_string()
                .contains("is not an owner name"));
        }
        for bad in [
            "acme/ci/build.yml",
            "acme/ci/.github/workflows/",
            "acme/ci/.github/workflows/b.yml@",
        ] {
            assert!(CertificateConstraints::signer_workflow(bad)
                .unwrap_err()
                .expected
                .starts_with("`owner/repo/.github/workflows/file.yml[@ref]`"));
        }
        for bad in ["main", "refs/", "refs/heads/a b"] {
            assert!(CertificateConstraints::source_ref(bad)
                .unwrap_err()
                .expected
                .starts_with("a full ref"));
        }
    }

    #[test]
    fn repository_and_owner_compare_whole_and_case_insensitively() {
        let c = |repo: &str| CertificateConstraints {
            source_repository: Some(CertificateConstraints::repository(repo).unwrap()),
            ..Default::default()
        };
        assert_eq!(c("acme/app").check(&claims()), Ok(()));
        assert_eq!(c("ACME/App").check(&claims()), Ok(()));
        assert_eq!(
            c("acme/ap").check(&claims()),
            Err(claim(
                "source repository",
                "1.3.6.1.4.1.57264.1.12",
                "https://github.com/acme/ap",
                Some("https://github.com/acme/app")
            ))
        );
        let mut evil = claims();
        evil.source_repository_uri = Some("https://github.com/acme/app-evil".into());
        assert_eq!(
            c("acme/app").check(&evil),
            Err(claim(
                "source repository",
                "1.3.6.1.4.1.57264.1.12",
                "https://github.com/acme/app",
                Some("https://github.com/acme/app-evil")
            ))
        );
        let owner = CertificateConstraints {
            source_owner: Some(CertificateConstraints::owner("acm").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            owner.check(&claims()),
            Err(claim(
                "source repository owner",
                "1.3.6.1.4.1.57264.1.16",
                "https://github.com/acm",
                Some("https://github.com/acme")
            ))
        );
        assert_eq!(
            owner.check(&FulcioCiClaims::default()),
            Err(claim(
                "source repository owner",
                "1.3.6.1.4.1.57264.1.16",
                "https://github.com/acm",
                None
            ))
        );
    }

    #[test]
    fn signer_workflow_compares_the_signer_not_the_caller() {
        let c = |w: &str| CertificateConstraints {
            signer_workflow: Some(CertificateConstraints::signer_workflow(w).unwrap()),
            ..Default::default()
        };
        assert_eq!(
            c("acme/ci/.github/workflows/build.yml").check(&claims()),
            Ok(())
        );
        assert_eq!(
            c("acme/ci/.github/workflows/build.yml@refs/heads/main").check(&claims()),
            Ok(())
        );
        assert_eq!(
            c("acme/ci/.github/workflows/build.yml@refs/tags/v1").check(&claims()),
            Err(claim(
                "signer workflow",
                "1.3.6.1.4.1.57264.1.9",
                "https://github.com/acme/ci/.github/workflows/build.yml@refs/tags/v1",
                Some("https://github.com/acme/ci/.github/workflows/build.yml@refs/heads/main")
            ))
        );
        // No prefix matching: a shorter file name is another workflow.
        assert!(matches!(
            c("acme/ci/.github/workflows/build.ym").check(&claims()),
            Err(Reason::Claim {
                what: "signer workflow",
                ..
            })
        ));
        // The caller's repository is not the signer.
        assert!(matches!(
            c("acme/app/.github/workflows/build.yml").check(&claims()),
            Err(Reason::Claim { expected, .. })
                if expected == "https://github.com/acme/app/.github/workflows/build.yml"
        ));
    }

    #[test]
    fn source_ref_and_runner_environment_compare_exactly() {
        let r = CertificateConstraints {
            source_ref: Some("refs/heads/mai".into()),
            ..Default::default()
        };
        assert_eq!(
            r.check(&claims()),
            Err(claim(
                "source ref",
                "1.3.6.1.4.1.57264.1.14",
                "refs/heads/mai",
                Some("refs/heads/main")
            ))
        );
        let hosted = CertificateConstraints {
            deny_self_hosted_runners: true,
            ..Default::default()
        };
        assert_eq!(
            hosted.check(&claims()),
            Err(claim(
                "runner environment",
                "1.3.6.1.4.1.57264.1.11",
                "github-hosted",
                Some("self-hosted")
            ))
        );
        let mut ok = claims();
        ok.runner_environment = Some(GITHUB_HOSTED.into());
        assert_eq!(hosted.check(&ok), Ok(()));
    }
}
