//! Stage (4), provenance: SLSA provenance predicates (v1 and v0.2) normalised into one
//! [`Provenance`] fact: builder, build type, source repository / ref / commit, entry point,
//! build times. Field values are checked (a commit must be a full lowercase SHA, times
//! RFC 3339); a value that fails is left out and explained in `problems`.

use serde_json::Value;

/// Predicate type of SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// Predicate type of SLSA provenance v0.2.
pub const SLSA_PROVENANCE_V0_2: &str = "https://slsa.dev/provenance/v0.2";
/// The longest string value kept from a predicate (URIs, ids, paths).
const FIELD_MAX: usize = 2048;
/// Dependencies / materials looked at for the source at most.
const DEPENDENCIES_MAX: usize = 256;

/// Which SLSA provenance version a fact was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SlsaVersion {
    /// `https://slsa.dev/provenance/v1`
    #[serde(rename = "v1")]
    V1,
    /// `https://slsa.dev/provenance/v0.2`
    #[serde(rename = "v0.2")]
    V0_2,
}

/// One SLSA provenance predicate, normalised. `None` means the predicate does not say (or
/// said something invalid: see `problems`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// The SLSA version the predicate was written in.
    pub slsa_version: SlsaVersion,
    /// `runDetails.builder.id` (v1), `builder.id` (v0.2).
    pub builder_id: Option<String>,
    /// `buildDefinition.buildType` (v1), `buildType` (v0.2).
    pub build_type: Option<String>,
    /// The source URI as written, e.g. `git+https://github.com/acme/app@refs/heads/main`.
    pub source_uri: Option<String>,
    /// The source repository, normalised ([`normalise_repository`]): `https://github.com/acme/app`.
    pub source_repository: Option<String>,
    /// The source ref, e.g. `refs/heads/main`.
    pub source_ref: Option<String>,
    /// The source commit: a full git SHA-1 (40) or SHA-256 (64), lowercase hex.
    pub source_commit: Option<String>,
    /// The build's entry point: the workflow path (`.github/workflows/release.yml`).
    pub entry_point: Option<String>,
    /// When the build started (RFC 3339, UTC).
    pub build_started_on: Option<String>,
    /// When the build finished (RFC 3339, UTC).
    pub build_finished_on: Option<String>,
    /// Values that were present but invalid, one lowercase line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// A source URI split into its repository and ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUri {
    /// `https://github.com/acme/app`: scheme and host lowercased; `git+`, user info, a
    /// trailing `/` and `.git` removed.
    pub repository: String,
    /// The part after `@` in the path, e.g. `refs/heads/main`.
    pub git_ref: Option<String>,
}

/// Splits and normalises a source URI: `git+https://GitHub.com/acme/app.git@refs/heads/main`
/// is repository `https://github.com/acme/app`, ref `refs/heads/main`. A URI without a
/// scheme (`github.com/acme/app`) is taken as `https://`. `None` when there is no host or
/// no path. The path keeps its case (GitHub's is case-insensitive, other forges' are not).
pub fn parse_source_uri(uri: &str) -> Option<SourceUri> {
    let uri = uri.trim();
    if uri.is_empty() || uri.len() > FIELD_MAX || uri.chars().any(char::is_whitespace) {
        return None;
    }
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    let (scheme, rest) = match uri.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("https".to_owned(), uri),
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    // Query and fragment never name the repository.
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/')?;
    // `git@github.com`: the user is not part of the repository's identity.
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_ascii_lowercase();
    let host_ok = host.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c));
    if !host_ok {
        return None;
    }
    let (path, git_ref) = match path.split_once('@') {
        Some((path, r)) if !r.is_empty() => (path, Some(r.to_owned())),
        Some((path, _)) => (path, None),
        None => (path, None),
    };
    let path = path.trim_end_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if path.is_empty() {
        return None;
    }
    Some(SourceUri {
        repository: format!("{scheme}://{host}/{path}"),
        git_ref,
    })
}

/// The normalised repository of a URI (see [`parse_source_uri`]); `None` if it is not one.
pub fn normalise_repository(uri: &str) -> Option<String> {
    parse_source_uri(uri).map(|s| s.repository)
}

/// Reads a SLSA provenance predicate of `predicate_type`; `None` for other predicate types.
pub fn normalise(predicate_type: &str, predicate: &Value) -> Option<Provenance> {
    match predicate_type {
        SLSA_PROVENANCE_V1 => Some(from_v1(predicate)),
        SLSA_PROVENANCE_V0_2 => Some(from_v0_2(predicate)),
        _ => None,
    }
}

fn from_v1(p: &Value) -> Provenance {
    let mut out = Reader::new(SlsaVersion::V1);
    out.fact.builder_id = out.string(p, &["runDetails", "builder", "id"]);
    out.fact.build_type = out.string(p, &["buildDefinition", "buildType"]);
    let external = at(p, &["buildDefinition", "externalParameters"]);
    // GitHub Actions build types (actions.github.io and slsa-github-generator's) name the
    // workflow; other builders often give a `source` URI.
    let workflow_repo = external.and_then(|e| out.string(e, &["workflow", "repository"]));
    let source_uri = workflow_repo.or_else(|| external.and_then(|e| out.string(e, &["source"])));
    let workflow_ref = external.and_then(|e| out.string(e, &["workflow", "ref"]));
    out.fact.entry_point = external.and_then(|e| out.string(e, &["workflow", "path"]));
    let dependencies = at(p, &["buildDefinition", "resolvedDependencies"]);
    out.source(
        source_uri,
        workflow_ref,
        dependencies,
        &["gitCommit", "sha1"],
    );
    out.fact.build_started_on = out.time(p, &["runDetails", "metadata", "startedOn"]);
    out.fact.build_finished_on = out.time(p, &["runDetails", "metadata", "finishedOn"]);
    out.fact
}

fn from_v0_2(p: &Value) -> Provenance {
    let mut out = Reader::new(SlsaVersion::V0_2);
    out.fact.builder_id = out.string(p, &["builder", "id"]);
    out.fact.build_type = out.string(p, &["buildType"]);
    let config = at(p, &["invocation", "configSource"]);
    let uri = config.and_then(|c| out.string(c, &["uri"]));
    out.fact.entry_point = config.and_then(|c| out.string(c, &["entryPoint"]));
    // configSource is one "dependency" with its own digest; materials are the fallback.
    let config_commit = config.and_then(|c| out.commit_of(c, &["sha1", "gitCommit"]));
    out.source(uri, None, at(p, &["materials"]), &["sha1", "gitCommit"]);
    if config_commit.is_some() {
        out.fact.source_commit = config_commit;
    }
    out.fact.build_started_on = out.time(p, &["metadata", "buildStartedOn"]);
    out.fact.build_finished_on = out.time(p, &["metadata", "buildFinishedOn"]);
    out.fact
}

/// Collects the fact and the problems found while reading it.
struct Reader {
    fact: Provenance,
}

impl Reader {
    fn new(slsa_version: SlsaVersion) -> Self {
        Self {
            fact: Provenance {
                slsa_version,
                builder_id: None,
                build_type: None,
                source_uri: None,
                source_repository: None,
                source_ref: None,
                source_commit: None,
                entry_point: None,
                build_started_on: None,
                build_finished_on: None,
                problems: Vec::new(),
            },
        }
    }

    fn problem(&mut self, text: String) {
        if self.fact.problems.len() < 16 {
            self.fact.problems.push(text);
        }
    }

    /// A non-empty string at `path`, at most [`FIELD_MAX`] long.
    fn string(&mut self, v: &Value, path: &[&str]) -> Option<String> {
        let found = at(v, path)?;
        match found.as_str() {
            Some("") => None,
            Some(s) if s.len() > FIELD_MAX => {
                self.problem(format!(
                    "`{}` is {} bytes long; the limit is {FIELD_MAX}",
                    path.join("."),
                    s.len()
                ));
                None
            }
            Some(s) => Some(s.to_owned()),
            None => {
                self.problem(format!("`{}` is not a string", path.join(".")));
                None
            }
        }
    }

    /// An RFC 3339 time at `path`, normalised to UTC.
    fn time(&mut self, v: &Value, path: &[&str]) -> Option<String> {
        let text = self.string(v, path)?;
        match text.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t.to_string()),
            Err(_) => {
                self.problem(format!(
                    "`{}` is `{text}`, not an RFC 3339 time",
                    path.join(".")
                ));
                None
            }
        }
    }

    /// The first of `algorithms` in `dependency.digest`, validated as a full commit SHA.
    fn commit_of(&mut self, dependency: &Value, algorithms: &[&str]) -> Option<String> {
        let raw = algorithms
            .iter()
            .find_map(|a| at(dependency, &["digest", a]).and_then(Value::as_str))?;
        let lower = raw.to_ascii_lowercase();
        if is_full_commit(&lower) {
            Some(lower)
        } else {
            self.problem(format!(
                "source commit `{}` is not a full git sha (40 or 64 hex digits)",
                raw.chars().take(80).collect::<String>()
            ));
            None
        }
    }

    /// Fills source uri / repository / ref / commit from the declared source (if any) and
    /// the dependency list: the dependency of the same repository, else the first git one.
    fn source(
        &mut self,
        declared: Option<String>,
        declared_ref: Option<String>,
        dependencies: Option<&Value>,
        algorithms: &[&str],
    ) {
        let declared_parsed = declared.as_deref().and_then(parse_source_uri);
        if let (Some(uri), None) = (&declared, &declared_parsed) {
            let uri = uri.chars().take(200).collect::<String>();
            self.problem(format!("source `{uri}` is not a repository uri"));
        }
        let dependencies: Vec<&Value> = dependencies
            .and_then(Value::as_array)
            .map(|a| a.iter().take(DEPENDENCIES_MAX).collect())
            .unwrap_or_default();
        let git_dependency = |want: Option<&str>| {
            dependencies.iter().copied().find(|d| {
                let Some(uri) = d.get("uri").and_then(Value::as_str) else {
                    return false;
                };
                match want {
                    Some(repo) => parse_source_uri(uri).is_some_and(|s| s.repository == repo),
                    None => uri.starts_with("git+"),
                }
            })
        };
        let dependency = match &declared_parsed {
            Some(s) => git_dependency(Some(&s.repository)),
            None => git_dependency(None),
        };
        let dependency_uri = dependency.and_then(|d| self.string(d, &["uri"]));
        let dependency_parsed = dependency_uri.as_deref().and_then(parse_source_uri);
        self.fact.source_uri = declared.or(dependency_uri);
        self.fact.source_repository = declared_parsed
            .as_ref()
            .or(dependency_parsed.as_ref())
            .map(|s| s.repository.clone());
        self.fact.source_ref = declared_ref
            .or_else(|| declared_parsed.and_then(|s| s.git_ref))
            .or_else(|| dependency_parsed.and_then(|s| s.git_ref));
        self.fact.source_commit = dependency.and_then(|d| self.commit_of(d, algorithms));
    }
}

/// The value at a path of object keys.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// A full git object name: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn is_full_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn normalises_source_uris() {
        for (uri, repo, r) in [
            (
                "git+https://github.com/acme/app.git@refs/heads/main",
                "https://github.com/acme/app",
                Some("refs/heads/main"),
            ),
            (
                "git+https://GitHub.COM/acme/app/@refs/tags/v1",
                "https://github.com/acme/app",
                Some("refs/tags/v1"),
            ),
            (
                "https://github.com/acme/app/",
                "https://github.com/acme/app",
                None,
            ),
            ("github.com/acme/app", "https://github.com/acme/app", None),
            (
                "git+ssh://git@github.com/acme/app.git",
                "ssh://github.com/acme/app",
                None,
            ),
            (
                "HTTPS://github.com/acme/app.git#frag",
                "https://github.com/acme/app",
                None,
            ),
        ] {
            let s = parse_source_uri(uri).unwrap();
            assert_eq!(s.repository, repo, "{uri}");
            assert_eq!(s.git_ref.as_deref(), r, "{uri}");
        }
    }

    #[test]
    fn keeps_path_case_and_refuses_non_repositories() {
        assert_eq!(
            normalise_repository("https://github.com/Acme/App").unwrap(),
            "https://github.com/Acme/App"
        );
        for bad in [
            "",
            "https://",
            "https://github.com",
            "https://github.com/",
            "a b",
            "::/x",
        ] {
            assert_eq!(parse_source_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_slsa_v1_github_workflow_provenance() {
        let p = json!({
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {
                    "repository": "https://github.com/example/demo",
                    "ref": "refs/heads/main",
                    "path": ".github/workflows/release.yml"}},
                "resolvedDependencies": [
                    {"uri": "git+https://github.com/other/lib@refs/heads/x", "digest": {"gitCommit": "f".repeat(40)}},
                    {"uri": "git+https://github.com/example/demo@refs/heads/main", "digest": {"gitCommit": COMMIT}}
                ]},
            "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"},
                "metadata": {"startedOn": "2024-01-01T00:00:00Z", "finishedOn": "2024-01-01T01:00:00+01:00"}}
        });
        let f = normalise(SLSA_PROVENANCE_V1, &p).unwrap();
        assert_eq!(f.slsa_version, SlsaVersion::V1);
        assert_eq!(
            f.builder_id.as_deref(),
            Some("https://github.com/actions/runner/github-hosted")
        );
        assert_eq!(
            f.build_type.as_deref(),
            Some("https://actions.github.io/buildtypes/workflow/v1")
        );
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://github.com/example/demo")
        );
        assert_eq!(f.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(f.source_commit.as_deref(), Some(COMMIT));
        assert_eq!(
            f.entry_point.as_deref(),
            Some(".github/workflows/release.yml")
        );
        assert_eq!(f.build_started_on.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(f.build_finished_on.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert!(f.problems.is_empty(), "{:?}", f.problems);
    }

    #[test]
    fn reads_slsa_v1_source_from_dependencies_alone() {
        let p = json!({"buildDefinition": {"resolvedDependencies": [
            {"uri": "https://example.com/tool.tgz", "digest": {"sha256": "00"}},
            {"uri": "git+https://github.com/acme/app@refs/tags/v2", "digest": {"sha1": COMMIT.to_uppercase()}}
        ]}});
        let f = normalise(SLSA_PROVENANCE_V1, &p).unwrap();
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://github.com/acme/app")
        );
        assert_eq!(f.source_ref.as_deref(), Some("refs/tags/v2"));
        assert_eq!(f.source_commit.as_deref(), Some(COMMIT));
        assert_eq!(f.builder_id, None);
    }

    #[test]
    fn reads_slsa_v0_2_provenance() {
        let p = json!({
            "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0"},
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
            "invocation": {"configSource": {
                "uri": "git+https://github.com/example/demo@refs/heads/main",
                "digest": {"sha1": COMMIT},
                "entryPoint": ".github/workflows/release.yml"}},
            "materials": [{"uri": "git+https://github.com/example/demo@refs/heads/main", "digest": {"sha1": COMMIT}}],
            "metadata": {"buildStartedOn": "2024-01-01T00:00:00Z"}
        });
        let f = normalise(SLSA_PROVENANCE_V0_2, &p).unwrap();
        assert_eq!(f.slsa_version, SlsaVersion::V0_2);
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://github.com/example/demo")
        );
        assert_eq!(
            f.source_uri.as_deref(),
            Some("git+https://github.com/example/demo@refs/heads/main")
        );
        assert_eq!(f.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(f.source_commit.as_deref(), Some(COMMIT));
        assert_eq!(
            f.entry_point.as_deref(),
            Some(".github/workflows/release.yml")
        );
        assert_eq!(f.build_started_on.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(f.build_finished_on, None);
    }

    #[test]
    fn explains_invalid_values_instead_of_keeping_them() {
        let p = json!({
            "builder": {"id": 7},
            "invocation": {"configSource": {"uri": "git+https://github.com/a/b@main", "digest": {"sha1": "abc123"}}},
            "metadata": {"buildStartedOn": "yesterday"}
        });
        let f = normalise(SLSA_PROVENANCE_V0_2, &p).unwrap();
        assert_eq!(f.builder_id, None);
        assert_eq!(f.source_commit, None);
        assert_eq!(f.build_started_on, None);
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://github.com/a/b")
        );
        assert_eq!(f.problems.len(), 3, "{:?}", f.problems);
        assert!(f.problems.iter().any(|p| p.contains("not a full git sha")));
        assert!(f
            .problems
            .iter()
            .any(|p| p.contains("not an RFC 3339 time")));
    }

    #[test]
    fn other_predicates_are_not_provenance() {
        assert_eq!(normalise("https://cyclonedx.org/bom", &json!({})), None);
        assert_eq!(
            normalise("https://slsa.dev/provenance/v0.1", &json!({})),
            None
        );
    }

    #[test]
    fn full_commit_needs_40_or_64_lowercase_hex() {
        assert!(is_full_commit(COMMIT));
        assert!(is_full_commit(&"a".repeat(64)));
        assert!(!is_full_commit(&COMMIT.to_uppercase()));
        assert!(!is_full_commit(&COMMIT[..39]));
        assert!(!is_full_commit(&"g".repeat(40)));
    }
}
