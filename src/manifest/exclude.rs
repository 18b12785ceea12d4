//! Stage (1): `--exclude GLOB` and `paths.exclude`, the manifest paths a run skips on purpose.
//!
//! A glob matches a path as walked (`deploy/charts/web/templates/a.yaml`, `/` separators, a
//! leading `./` ignored), or any of its tails that start after a `/`: `charts/**` skips every
//! `charts` directory wherever it is, `*.tpl.yaml` every such file. `*` and `?` stay within
//! one path segment, `**` crosses segments. A directory that matches is not walked.

use std::path::Path;

use crate::glob::{matches_tokens, tokens, Token};

/// A compiled path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    pattern: String,
    tokens: Vec<Token>,
}

/// Why a path glob is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathGlobError {
    /// Empty pattern.
    #[error("an exclude glob cannot be empty")]
    Empty,
}

impl PathGlob {
    /// Parses a glob.
    ///
    /// # Errors
    /// [`PathGlobError::Empty`] for an empty pattern.
    pub fn parse(pattern: &str) -> Result<Self, PathGlobError> {
        let trimmed = pattern.trim_start_matches("./").trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(PathGlobError::Empty);
        }
        let tokens = tokens(trimmed);
        Ok(Self {
            pattern: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `path`, or one of its tails after a `/`, matches.
    #[must_use]
    pub fn matches_path(&self, path: &Path) -> bool {
        let text = path.to_string_lossy().replace('\\', "/");
        let text = text.trim_start_matches("./");
        let chars: Vec<char> = text.chars().collect();
        let starts = std::iter::once(0).chain(
            chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '/')
                .map(|(i, _)| i + 1),
        );
        for start in starts {
            if matches_tokens(&self.tokens, chars.get(start..).unwrap_or_default()) {
                return true;
            }
        }
        false
    }
}

/// Whether any glob of `globs` matches `path`.
#[must_use]
pub fn excluded(globs: &[PathGlob], path: &Path) -> bool {
    globs.iter().any(|g| g.matches_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, path: &str) -> bool {
        PathGlob::parse(glob).unwrap().matches_path(Path::new(path))
    }

    #[test]
    fn globs_match_whole_paths_and_tails_after_a_slash() {
        assert!(m("charts/**", "deploy/charts/web/templates/a.yaml"));
        assert!(m("charts", "deploy/charts"));
        assert!(m("*.tpl.yaml", "a/b/x.tpl.yaml"));
        assert!(m("./deploy/charts/", "deploy/charts"));
        assert!(m(
            "deploy/*/templates/*.yaml",
            "./deploy/web/templates/a.yaml"
        ));
        assert!(!m("deploy/*.yaml", "deploy/web/a.yaml"));
        assert!(!m("charts/**", "deploy/mycharts/a.yaml"));
        assert!(!m("a?c", "a/c"));
        assert!(m("a?c", "abc"));
        assert_eq!(PathGlob::parse("./"), Err(PathGlobError::Empty));
    }
}
