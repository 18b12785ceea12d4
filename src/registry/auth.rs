//! Stage (3): registry authentication state: `WWW-Authenticate` challenges (Bearer, Basic),
//! bearer tokens cached per host and scope until they expire.
//!
//! Tokens are [`Secret`]s: `Debug` prints `<redacted>`, and no message here ever shows one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::credentials::Secret;

/// Docker's default token lifetime when the token server does not say (`expires_in`).
const DEFAULT_TOKEN_SECONDS: u64 = 60;
/// Tokens are dropped this long before they expire, so that none runs out in flight.
const EXPIRY_MARGIN_SECONDS: u64 = 5;

/// What a registry asked for in its `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Get a token from `realm`.
    Bearer {
        /// The token server URL.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The scope the registry wants, when it says.
        scope: Option<String>,
    },
    /// Send user and password.
    Basic,
}

/// Parses a `WWW-Authenticate` value; the first Bearer or Basic challenge wins.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let mut parser = Parser {
        rest: header.trim(),
    };
    while !parser.rest.is_empty() {
        let scheme = parser.token();
        if scheme.is_empty() {
            return None;
        }
        let params = parser.params();
        if scheme.eq_ignore_ascii_case("bearer") {
            let find = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let realm = find("realm").filter(|r| !r.is_empty())?;
            return Some(Challenge::Bearer {
                realm,
                service: find("service"),
                scope: find("scope").filter(|s| !s.is_empty()),
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
    }
    None
}

struct Parser<'a> {
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn skip(&mut self, chars: &[char]) {
        self.rest = self.rest.trim_start_matches(|c: char| chars.contains(&c));
    }

    fn token(&mut self) -> &'a str {
        self.skip(&[' ', '\t', ',']);
        let end = self
            .rest
            .find([' ', '\t', ',', '='])
            .unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }

    /// `k=v, k="quoted \" v"` up to the next scheme (a token not followed by `=`).
    fn params(&mut self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        loop {
            let saved = self.rest;
            let key = self.token();
            self.skip(&[' ', '\t']);
            let Some(after_eq) = self.rest.strip_prefix('=') else {
                // Not a parameter: the start of the next challenge (or the end).
                self.rest = saved;
                return params;
            };
            if key.is_empty() {
                self.rest = "";
                return params;
            }
            self.rest = after_eq.trim_start_matches([' ', '\t']);
            let value = if let Some(quoted) = self.rest.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                self.rest = quoted.get(end..).unwrap_or_default();
                value
            } else {
                let end = self.rest.find([',', ' ', '\t']).unwrap_or(self.rest.len());
                let (value, rest) = self.rest.split_at(end);
                self.rest = rest;
                value.to_owned()
            };
            params.push((key.to_owned(), value));
            self.skip(&[' ', '\t', ',']);
        }
    }
}

/// A token server's answer (distribution token spec; `access_token` is the OAuth2 name).
#[derive(serde::Deserialize)]
pub(crate) struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The token and how long to keep it; `None` when the answer holds no token.
    pub(crate) fn into_token(self) -> Option<(Secret, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let seconds = self
            .expires_in
            .unwrap_or(DEFAULT_TOKEN_SECONDS)
            .max(DEFAULT_TOKEN_SECONDS);
        let keep = seconds.saturating_sub(EXPIRY_MARGIN_SECONDS);
        Some((Secret::new(token), Duration::from_secs(keep)))
    }
}

/// Challenges seen per host, and tokens per host and scope.
#[derive(Default)]
pub(crate) struct AuthState {
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), (Secret, Instant)>>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tokens = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("AuthState")
            .field("cached_tokens", &tokens)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    /// The challenge `host` answered with last, if any.
    pub(crate) fn challenge(&self, host: &str) -> Option<Challenge> {
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(host)
            .cloned()
    }

    /// Remembers how `host` wants to be authenticated, so that later requests (other scopes
    /// too) authenticate up front instead of taking a 401 first.
    pub(crate) fn remember_challenge(&self, host: &str, challenge: Challenge) {
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_owned(), challenge);
    }

    /// A token for `host` and `scope` that has not expired.
    pub(crate) fn token(&self, host: &str, scope: &str) -> Option<Secret> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (host.to_owned(), scope.to_owned());
        match tokens.get(&key) {
            Some((token, until)) if Instant::now() < *until => Some(token.clone()),
            Some(_) => {
                tokens.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps a token for `keep`.
    pub(crate) fn store_token(&self, host: &str, scope: &str, token: Secret, keep: Duration) {
        let until = Instant::now() + keep;
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((host.to_owned(), scope.to_owned()), (token, until));
    }

    /// Drops a token the registry refused.
    pub(crate) fn forget_token(&self, host: &str, scope: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(host.to_owned(), scope.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            })
        );
    }

    #[test]
    fn parses_unquoted_escaped_and_multiple_challenges() {
        let c = parse_challenge(r#"Bearer realm=https://x/token, service="a \"b\"""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://x/token".into(),
                service: Some(r#"a "b""#.into()),
                scope: None,
            }
        );
        let c = parse_challenge(r#"Negotiate abc, Basic realm="registry""#);
        assert_eq!(c, Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(r#"basic realm="x", charset="UTF-8""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge(""), None);
        assert_eq!(parse_challenge("=,=,\""), None);
    }

    #[test]
    fn token_answer_takes_token_or_access_token_with_minimum_lifetime() {
        let a: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"x","expires_in":3}"#).unwrap();
        let (token, keep) = a.into_token().unwrap();
        assert_eq!(token.expose(), "x");
        assert_eq!(keep, Duration::from_secs(55));
        let a: TokenAnswer =
            serde_json::from_str(r#"{"token":"t","access_token":"x","expires_in":600}"#).unwrap();
        let (token, keep) = a.into_token().unwrap();
        assert_eq!(token.expose(), "t");
        assert_eq!(keep, Duration::from_secs(595));
        let a: TokenAnswer = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(a.into_token().is_none());
    }

    #[test]
    fn caches_tokens_per_host_and_scope_until_expiry() {
        let state = AuthState::default();
        let a = Secret::new("secret-a".into());
        state.store_token("h", "repository:a:pull", a, Duration::from_secs(60));
        let b = Secret::new("secret-b".into());
        state.store_token("h", "repository:b:pull", b, Duration::ZERO);
        assert!(!format!("{state:?}").contains("secret-a"));
        assert_eq!(
            state.token("h", "repository:a:pull").unwrap().expose(),
            "secret-a"
        );
        assert!(state.token("h", "repository:b:pull").is_none());
        assert!(state.token("other", "repository:a:pull").is_none());
        state.forget_token("h", "repository:a:pull");
        assert!(state.token("h", "repository:a:pull").is_none());
    }
}
