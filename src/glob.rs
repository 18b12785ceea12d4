//! Image globs over `registry/repository`: `*` matches within one path segment, `**` across
//! segments, `?` one character. `ghcr.io/acme/*` matches `ghcr.io/acme/app` but not
//! `ghcr.io/acme/team/app`; `ghcr.io/acme/**` matches both. Short Docker Hub names are
//! normalised first (`nginx` is `docker.io/library/nginx`).

use std::fmt;

/// A compiled image glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageGlob {
    pattern: String,
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
        if last.contains(':') && pattern.contains('/') {
            return Err(GlobError::HasTag);
        }
        Ok(Self {
            pattern: pattern.to_owned(),
            tokens: tokens(&normalise(pattern)),
        })
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

fn normalise(pattern: &str) -> String {
    let (first, rest) = match pattern.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (pattern, None),
    };
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    // A wildcard first segment may stand for any registry: never pin it to Docker Hub.
    if first.contains(['*', '?']) {
        return pattern.to_owned();
    }
    match rest {
        Some(_) if is_host => pattern.to_owned(),
        Some(_) => format!("docker.io/{pattern}"),
        None if first.contains('*') => pattern.to_owned(),
        None => format!("docker.io/library/{pattern}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn pathological_patterns_finish() {
        let p = ImageGlob::parse(&format!("{}b", "*a".repeat(30))).unwrap();
        assert!(!p.matches(&"a".repeat(200)));
        assert!(p.matches(&format!("{}b", "a".repeat(200))));
    }
}
