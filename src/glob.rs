//! Image globs over `registry/repository`: `*` matches within one path segment, `**` across
//! segments, `?` one character. `ghcr.io/acme/*` matches `ghcr.io/acme/app` but not
//! `ghcr.io/acme/team/app`; `ghcr.io/acme/**` matches both.
//!
//! A glob is normalised as a reference is, by the same functions of [`crate::reference`]:
//! `nginx`, `docker.io/nginx`, `index.docker.io/library/nginx`, `DOCKER.IO/library/nginx`
//! and `docker.io:443/library/nginx` are all `docker.io/library/nginx`. A glob that could
//! never match a valid reference (a `/` too many, capitals in the path, a character no
//! repository has, no repository part at all) is an error, not a rule that silently
//! matches nothing (issue 15).

use std::fmt;

use crate::reference::{self, DOCKER_HUB};

/// A compiled image glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageGlob {
    pattern: String,
    normalised: String,
    tokens: Vec<Token>,
}

/// One element of a compiled glob (shared with the manifest path globs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Literal(char),
    AnyChar,
    AnyInSegment,
    AnyAcross,
}

/// Why a glob is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// Empty pattern.
    #[error("empty pattern")]
    Empty,
    /// A tag or digest in the pattern: requirements apply to repositories.
    #[error("a glob names repositories, without `:tag` or `@digest`")]
    HasTag,
    /// The registry host is not one a reference could name.
    #[error("`{0}` is not a registry host a reference could name")]
    InvalidHost(String),
    /// An empty path segment: a trailing `/`, or `//`.
    #[error("an empty path segment (a trailing `/` or `//`) matches no image")]
    EmptySegment,
    /// A path segment no repository path component could match.
    #[error("`{0}` matches no repository path component (lowercase letters and digits, joined by `.`, `_`, `__` or `-`)")]
    InvalidSegment(String),
    /// No repository part: every image name has a registry and a repository.
    #[error("the glob has no repository part, so it matches no image")]
    NoRepository,
    /// A registry host alone, which as a name would be a Docker Hub repository.
    #[error("`{0}` alone names Docker Hub's `library/{0}`, not a registry")]
    BareHost(String),
    /// A wildcard first segment with literal text but no `.` or `:`: it reads like a Docker
    /// Hub namespace (`legacy-*`) yet matches registry hosts (`legacy-attacker.example`).
    #[error(
        "`{0}` is ambiguous: a first segment with a wildcard stands for any registry host, so \
         it also matches hosts such as `{0}.example` that anyone can register"
    )]
    AmbiguousHost(String),
}

impl GlobError {
    /// How to fix the glob.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Empty | Self::HasTag => None,
            Self::InvalidHost(_) => {
                Some("write the host as images name it: `ghcr.io`, `127.0.0.1:5000`")
            }
            Self::EmptySegment => Some("remove the extra `/`"),
            Self::InvalidSegment(s) if s.chars().any(|c| c.is_ascii_uppercase()) => {
                Some("repository names are lowercase")
            }
            Self::InvalidSegment(_) => Some("write the repository as images name it"),
            Self::NoRepository => Some("`**` matches every image, `*/app` `app` on every registry"),
            Self::BareHost(_) => Some("for every image of a registry, write `host/**`"),
            Self::AmbiguousHost(_) => Some(
                "for Docker Hub namespaces write `docker.io/legacy-*/app`; for registry hosts \
                 write a pattern with a dot or port (`*.example.com/app`), or `*` for any",
            ),
        }
    }
}

impl ImageGlob {
    /// Parses a glob; a pattern without a host is normalised like an image name.
    pub fn parse(pattern: &str) -> Result<Self, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        if pattern.contains('@') {
            return Err(GlobError::HasTag);
        }
        let last = pattern.rsplit('/').next().unwrap_or(pattern);
        // Without a `/`, a `:` can only be a tag (`nginx:1.25`); with one, in the last
        // segment (a port is in the first).
        if last.contains(':') {
            return Err(GlobError::HasTag);
        }
        let normalised = normalise(pattern)?;
        Ok(Self {
            pattern: pattern.to_owned(),
            tokens: tokens(&normalised),
            normalised,
        })
    }

    /// The pattern in its normal form (`docker.io/library/nginx` for `nginx`), as matched and
    /// as handed to the policies.
    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    /// Whether `name` (`registry/repository`, already normalised) matches.
    ///
    /// Dynamic programming over (pattern position, name position): exact for any mix of `*`
    /// and `**` (no greedy shortcut that could miss a match), O(pattern × name), and names are
    /// at most 255 characters.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        matches_tokens(&self.tokens, &name)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for ImageGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

fn wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// `*` (within a `/`-separated segment), `**` (across), `?` (one character but `/`), and
/// literals.
pub(crate) fn tokens(pattern: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                tokens.push(Token::AnyAcross);
            }
            '*' => tokens.push(Token::AnyInSegment),
            '?' => tokens.push(Token::AnyChar),
            c => tokens.push(Token::Literal(c)),
        }
    }
    tokens
}

/// Whether the glob `tokens` matches all of `name`.
///
/// Dynamic programming over (pattern position, name position): exact for any mix of `*`
/// and `**` (no greedy shortcut that could miss a match), O(pattern × name).
pub(crate) fn matches_tokens(tokens: &[Token], name: &[char]) -> bool {
    let n = name.len();
    // reach[j]: the pattern prefix consumed so far matches name[..j].
    let mut reach = vec![false; n + 1];
    if let Some(first) = reach.first_mut() {
        *first = true;
    }
    for token in tokens {
        let mut next = vec![false; n + 1];
        match token {
            Token::Literal(l) => {
                for j in 0..n {
                    if reach.get(j) == Some(&true) && name.get(j) == Some(l) {
                        if let Some(x) = next.get_mut(j + 1) {
                            *x = true;
                        }
                    }
                }
            }
            Token::AnyChar => {
                for j in 0..n {
                    if reach.get(j) == Some(&true) && name.get(j).is_some_and(|c| *c != '/') {
                        if let Some(x) = next.get_mut(j + 1) {
                            *x = true;
                        }
                    }
                }
            }
            Token::AnyInSegment | Token::AnyAcross => {
                let across = matches!(token, Token::AnyAcross);
                let mut on = false;
                for j in 0..=n {
                    // A star extends a match over any characters (not `/` for `*`).
                    on = reach.get(j) == Some(&true)
                        || (on && j > 0 && (across || name.get(j - 1).is_some_and(|c| *c != '/')));
                    if let Some(x) = next.get_mut(j) {
                        *x = on;
                    }
                }
            }
        }
        reach = next;
    }
    reach.get(n) == Some(&true)
}

/// The glob in the normal form of references, or why it can never match one.
fn normalise(pattern: &str) -> Result<String, GlobError> {
    let (first, rest) = match pattern.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (pattern, None),
    };
    let (host, path) = match rest {
        // A wildcard first segment may stand for any registry: never pin it to Docker Hub.
        // Its literal characters must still be able to occur in a host.
        Some(rest) if wildcard(first) => {
            let host_char = |c: char| c.is_ascii_alphanumeric() || "*?.:-[]".contains(c);
            if !first.chars().all(host_char) {
                return Err(GlobError::InvalidHost(first.to_owned()));
            }
            let only_wildcards = first.chars().all(|c| c == '*' || c == '?');
            if !only_wildcards && !first.contains(['.', ':']) {
                return Err(GlobError::AmbiguousHost(first.to_owned()));
            }
            (first.to_ascii_lowercase(), rest)
        }
        Some(rest) if reference::is_host_component(first) => {
            let host = reference::validate_host(first)
                .ok()
                .and_then(|()| reference::canonical_host(first))
                .ok_or_else(|| GlobError::InvalidHost(first.to_owned()))?;
            (host, rest)
        }
        Some(_) => (DOCKER_HUB.to_owned(), pattern),
        // `**` alone matches every image; any other single segment is a Docker Hub name.
        None if pattern == "**" => return Ok(pattern.to_owned()),
        None if wildcard(pattern) => return Err(GlobError::NoRepository),
        None if pattern.contains('.') || pattern == "localhost" => {
            return Err(GlobError::BareHost(pattern.to_owned()))
        }
        None => (DOCKER_HUB.to_owned(), pattern),
    };
    for segment in path.split('/') {
        check_segment(segment)?;
    }
    // `docker.io/*` names official images, as `docker.io/nginx` does; `docker.io/**` all.
    let path = if path.contains("**") {
        path.to_owned()
    } else {
        reference::canonical_repository(&host, path)
    };
    Ok(format!("{host}/{path}"))
}

/// Whether some repository path component could match `segment`.
fn check_segment(segment: &str) -> Result<(), GlobError> {
    if segment.is_empty() {
        return Err(GlobError::EmptySegment);
    }
    let ok = if wildcard(segment) {
        let path_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "*?._-".contains(c);
        segment.chars().all(path_char)
    } else {
        reference::validate_path_component(segment).is_ok()
    };
    if ok {
        Ok(())
    } else {
        Err(GlobError::InvalidSegment(segment.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        ImageGlob::parse(p).unwrap().matches(n)
    }

    #[test]
    fn star_stays_in_one_segment() {
        assert!(m("ghcr.io/acme/*", "ghcr.io/acme/app"));
        assert!(!m("ghcr.io/acme/*", "ghcr.io/acme/team/app"));
        assert!(!m("ghcr.io/acme/*", "ghcr.io/acme-evil/app"));
        assert!(m("ghcr.io/acme/**", "ghcr.io/acme/team/app"));
        assert!(m("127.0.0.1:*/team/**", "127.0.0.1:5000/team/a/b"));
        assert!(!m("127.0.0.1:*/team/**", "127.0.0.1:5000/other/a"));
        assert!(m("**", "anything.io/x/y"));
        assert!(m("ghcr.io/acme/app?", "ghcr.io/acme/app2"));
        assert!(!m("ghcr.io/acme/app", "ghcr.io/acme/app-evil"));
    }

    #[test]
    fn double_star_backtracks_past_single_stars() {
        assert!(m("ghcr.io/acme/**/*", "ghcr.io/acme/a/b/c"));
        assert!(m("ghcr.io/acme/**/*", "ghcr.io/acme/a/b"));
        assert!(m("ghcr.io/**/app-*", "ghcr.io/acme/app-x/app-web"));
        assert!(!m("ghcr.io/**/app-*", "ghcr.io/acme/app-x/web"));
    }

    #[test]
    fn wildcard_first_segment_matches_any_registry() {
        assert!(m("*/demo/*", "127.0.0.1:5123/demo/unsigned"));
        assert!(m("**/unsigned", "127.0.0.1:5123/demo/unsigned"));
        assert!(!m("*/demo/*", "127.0.0.1:5123/other/unsigned"));
    }

    #[test]
    fn short_names_are_normalised() {
        assert!(m("nginx", "docker.io/library/nginx"));
        assert!(m("bitnami/*", "docker.io/bitnami/redis"));
    }

    #[test]
    fn rejects_tags_and_empty() {
        assert_eq!(ImageGlob::parse(""), Err(GlobError::Empty));
        assert_eq!(ImageGlob::parse("ghcr.io/a:v1"), Err(GlobError::HasTag));
        assert_eq!(
            ImageGlob::parse("ghcr.io/a@sha256:x"),
            Err(GlobError::HasTag)
        );
        assert!(ImageGlob::parse("127.0.0.1:5000/a").is_ok());
    }

    /// Issue 15, hole 2: every spelling of Docker Hub's nginx a reference accepts is one glob.
    #[test]
    fn globs_are_normalised_like_references() {
        for p in [
            "nginx",
            "docker.io/nginx",
            "index.docker.io/library/nginx",
            "DOCKER.IO/library/nginx",
            "docker.io:443/library/nginx",
            "registry-1.docker.io/library/nginx",
            "Index.Docker.IO:443/nginx",
        ] {
            let g = ImageGlob::parse(p).unwrap();
            assert_eq!(g.normalised(), "docker.io/library/nginx", "{p}");
            let name = crate::reference::ImageRef::parse(&format!("{p}:1.25"))
                .unwrap()
                .name();
            assert!(g.matches(&name), "{p} matches {name}");
        }
        assert_eq!(
            ImageGlob::parse("docker.io/*").unwrap().normalised(),
            "docker.io/library/*"
        );
        assert_eq!(
            ImageGlob::parse("docker.io/**").unwrap().normalised(),
            "docker.io/**"
        );
        assert_eq!(
            ImageGlob::parse("GHCR.io:443/acme/*").unwrap().normalised(),
            "ghcr.io/acme/*"
        );
        assert_eq!(
            ImageGlob::parse("127.0.0.1:*/team/**")
                .unwrap()
                .normalised(),
            "127.0.0.1:*/team/**"
        );
        assert_eq!(ImageGlob::parse("**").unwrap().normalised(), "**");
    }

    #[test]
    fn globs_that_can_never_match_are_errors() {
        let err = |p: &str| ImageGlob::parse(p).unwrap_err();
        assert_eq!(err("docker.io/library/nginx/"), GlobError::EmptySegment);
        assert_eq!(err("ghcr.io//acme/app"), GlobError::EmptySegment);
        assert_eq!(
            err("ghcr.io/Acme/app"),
            GlobError::InvalidSegment("Acme".into())
        );
        assert_eq!(
            err("ghcr.io/acme/App*"),
            GlobError::InvalidSegment("App*".into())
        );
        assert_eq!(
            err("ghcr.io/acme/a+b"),
            GlobError::InvalidSegment("a+b".into())
        );
        assert_eq!(
            err("ghcr.io:0443/acme/app"),
            GlobError::InvalidHost("ghcr.io:0443".into())
        );
        assert_eq!(
            err("ghcr_io.x/acme"),
            GlobError::InvalidHost("ghcr_io.x".into())
        );
        assert_eq!(err("*"), GlobError::NoRepository);
        // A wildcard first segment that reads like a Docker Hub namespace would match hosts
        // anyone can register (`legacy-attacker.example/app`); a lone `legacy**` likewise.
        assert_eq!(
            err("legacy-*/app"),
            GlobError::AmbiguousHost("legacy-*".into())
        );
        assert_eq!(err("legacy**"), GlobError::NoRepository);
        for fine in [
            "*/app",
            "**/app",
            "*.example.com/app",
            "registry-?.acme.dev:5000/**",
        ] {
            assert!(ImageGlob::parse(fine).is_ok(), "{fine}");
        }
        assert!(ImageGlob::parse("docker.io/legacy-*/app")
            .unwrap()
            .matches("docker.io/legacy-team/app"));
        assert_eq!(err("nginx:1.25"), GlobError::HasTag);
        assert_eq!(err("ghcr.io"), GlobError::BareHost("ghcr.io".into()));
        assert!(GlobError::InvalidSegment("Acme".into())
            .hint()
            .unwrap()
            .contains("lowercase"));
    }

    #[test]
    fn pathological_patterns_finish() {
        // (A glob needs a repository part now: the stars are in the path.)
        let p = ImageGlob::parse(&format!("x.io/{}b", "*a".repeat(30))).unwrap();
        assert!(!p.matches(&format!("x.io/{}", "a".repeat(200))));
        assert!(p.matches(&format!("x.io/{}b", "a".repeat(200))));
    }
}
