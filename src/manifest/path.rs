//! The field path grammar of extractors and user rules: `spec.steps[*].image`,
//! `spec.containers[0].image`, `metadata.annotations["example.com/image"]`.

use super::sites::{join, path_key};
use super::yaml::{self, Node};

/// A parsed field path such as `spec.steps[*].image`, `spec.containers[0].image` or
/// `metadata.annotations["example.com/image"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    steps: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathStep {
    Key(String),
    Index(usize),
    /// `[*]`: every item of a list, or every value of a mapping.
    Each,
}

/// A field path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path `{path}` at character {position}: {message}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// 1-based character position of the problem.
    pub position: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl FieldPath {
    /// Parses `a.b[*].c`, `a.b[0].c` and quoted keys `a["x.y/z"]` (or `a['x.y/z']`).
    ///
    /// # Errors
    /// [`PathError`] with the position of the first problem.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let chars: Vec<char> = path.chars().collect();
        let err = |position: usize, message| PathError {
            path: path.to_owned(),
            position: position + 1,
            message,
        };
        let mut steps = Vec::new();
        let mut i = 0;
        // Whether a key may start here (at the start or after a `.`).
        let mut want_key = true;
        while i < chars.len() || want_key {
            match chars.get(i) {
                Some('[') => {
                    let close = |from: usize| {
                        chars
                            .get(from..)
                            .and_then(|rest| rest.iter().position(|c| *c == ']'))
                            .map(|p| from + p)
                    };
                    match chars.get(i + 1) {
                        Some(q @ ('"' | '\'')) => {
                            let mut key = String::new();
                            let mut j = i + 2;
                            loop {
                                match chars.get(j) {
                                    None => return Err(err(i, "unterminated quoted key")),
                                    Some('\\') if *q == '"' => {
                                        key.extend(chars.get(j + 1));
                                        j += 2;
                                    }
                                    Some(c) if c == q => break,
                                    Some(c) => {
                                        key.push(*c);
                                        j += 1;
                                    }
                                }
                            }
                            if chars.get(j + 1) != Some(&']') {
                                return Err(err(j + 1, "expected `]` after the quoted key"));
                            }
                            steps.push(PathStep::Key(key));
                            i = j + 2;
                        }
                        _ => {
                            let Some(end) = close(i + 1) else {
                                return Err(err(i, "unbalanced `[`"));
                            };
                            let inner: String =
                                chars.get(i + 1..end).unwrap_or_default().iter().collect();
                            let step = match inner.as_str() {
                                "*" => PathStep::Each,
                                n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                                    PathStep::Index(
                                        n.parse().map_err(|_| err(i + 1, "index too large"))?,
                                    )
                                }
                                _ => {
                                    return Err(err(
                                        i + 1,
                                        "expected `*`, a number or a quoted key in `[...]`",
                                    ))
                                }
                            };
                            steps.push(step);
                            i = end + 1;
                        }
                    }
                    want_key = false;
                }
                Some('.') if !want_key => {
                    i += 1;
                    want_key = true;
                    if i >= chars.len() {
                        return Err(err(i - 1, "path ends with `.`"));
                    }
                }
                Some(c) if want_key && !matches!(c, '.' | ']') => {
                    let start = i;
                    while chars.get(i).is_some_and(|c| !matches!(c, '.' | '[' | ']')) {
                        i += 1;
                    }
                    steps.push(PathStep::Key(
                        chars.get(start..i).unwrap_or_default().iter().collect(),
                    ));
                    want_key = false;
                }
                None => return Err(err(i, "empty path")),
                Some(_) => return Err(err(i, "expected a key, `[` or `.`")),
            }
        }
        Ok(Self { steps })
    }

    /// Every node the path reaches from `root`, with its full path (after `prefix`) and its
    /// parent when the last step is a key.
    pub(super) fn resolve<'n>(
        &self,
        root: &'n Node,
        prefix: &str,
    ) -> Vec<(&'n Node, String, Option<&'n Node>)> {
        let mut current = vec![(root, prefix.trim_end_matches('.').to_owned(), None)];
        for step in &self.steps {
            let mut next = Vec::new();
            for (node, path, _) in current {
                match step {
                    PathStep::Key(key) => {
                        if let Some(child) = node.get(key) {
                            next.push((child, join(&path, &path_key(key)), Some(node)));
                        }
                    }
                    PathStep::Index(n) => {
                        if let Some(child) = node.as_sequence().and_then(|s| s.get(*n)) {
                            next.push((child, format!("{path}[{n}]"), None));
                        }
                    }
                    PathStep::Each => match &node.value {
                        yaml::Value::Sequence(items) => {
                            for (i, child) in items.iter().enumerate() {
                                next.push((child, format!("{path}[{i}]"), None));
                            }
                        }
                        yaml::Value::Mapping(entries) => {
                            for (k, child) in entries {
                                if let Some(key) = k.as_str() {
                                    next.push((child, join(&path, &path_key(key)), None));
                                }
                            }
                        }
                        _ => {}
                    },
                }
            }
            current = next;
        }
        current
    }
}
