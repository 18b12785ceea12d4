//! Stage (4), source linkage in a local clone: is the provenance commit reachable from an
//! allowed branch or tag? Runs the `git` binary (`for-each-ref`, `merge-base
//! --is-ancestor`) with a timeout, no prompts, no system config, no replace refs, and
//! refuses shallow clones (their history cannot prove ancestry).
//!
//! `git` rather than `gix`: `gix` with only the features needed added 74 crates and about
//! a minute of build time, and needs Rust 1.88 (this crate declares 1.86).

use std::path::{Path, PathBuf};

use super::slsa::is_full_commit;
pub use crate::git::GIT_TIMEOUT;
use crate::git::{self, Output};
/// The most refs tested for ancestry in one call.
pub const REFS_MAX: usize = 2000;
/// The most bytes of `git` output read.
const OUTPUT_MAX: u64 = 16 * 1024 * 1024;

/// Why reachability could not be decided (the gate fails closed on these).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A ref pattern from config is not usable.
    #[error("invalid ref pattern `{pattern}`: {reason}")]
    InvalidRefPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The commit is not a full SHA.
    #[error("`{commit}` is not a full commit sha (40 or 64 lowercase hex digits)")]
    InvalidCommit {
        /// The value given.
        commit: String,
    },
    /// The directory is not a git repository.
    #[error("`{}` is not a git repository: {stderr}", .clone.display())]
    NotARepository {
        /// The clone path.
        clone: PathBuf,
        /// What git said.
        stderr: String,
    },
    /// The clone is shallow.
    #[error("`{}` is a shallow clone; its history cannot prove ancestry: run `git fetch --unshallow`", .clone.display())]
    Shallow {
        /// The clone path.
        clone: PathBuf,
    },
    /// git could not be run, ran too long, or failed.
    #[error(transparent)]
    Run(#[from] crate::git::RunError),
}

/// A pattern for refs a commit may come from: `refs/heads/main`, `refs/tags/v*`.
/// `*` matches any run of characters (including `/`), `?` one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefPattern {
    pattern: String,
}

impl RefPattern {
    /// Checks a pattern: it must start with `refs/`, and may not contain whitespace,
    /// control characters, `..`, `~`, `^`, `:`, `\` or `[` (git's forbidden ref characters).
    pub fn parse(pattern: &str) -> Result<Self, GitError> {
        let invalid = |reason| GitError::InvalidRefPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        if !pattern.starts_with("refs/") || pattern.len() <= "refs/".len() {
            return Err(invalid(
                "it must start with `refs/`, e.g. `refs/heads/main` or `refs/tags/v*`",
            ));
        }
        if pattern.len() > 1024 {
            return Err(invalid("it is longer than 1024 characters"));
        }
        if pattern.contains("..")
            || pattern
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "~^:\\[".contains(c))
        {
            return Err(invalid(
                "it contains a character git does not allow in refs",
            ));
        }
        Ok(Self {
            pattern: pattern.to_owned(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `name` (a full ref name) matches.
    pub fn matches(&self, name: &str) -> bool {
        // By characters, not bytes: `?` is one character, as git's patterns mean it.
        let pattern: Vec<char> = self.pattern.chars().collect();
        let text: Vec<char> = name.chars().collect();
        glob_match(&pattern, &text)
    }
}

/// Iterative glob match with backtracking to the last `*` (linear in practice).
fn glob_match(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// Whether a commit is reachable from an allowed ref.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Reachability {
    /// The commit is an ancestor of (or is) the tip of `via`.
    Reachable {
        /// The ref whose history contains it, as listed in the clone
        /// (e.g. `refs/heads/main`, `refs/remotes/origin/main`, `refs/tags/v1.2.0`).
        via: String,
    },
    /// The commit is in the clone but on no allowed ref (a side branch, say).
    NotReachable {
        /// How many refs matched the allowed patterns and were tested.
        refs_checked: usize,
    },
    /// The clone does not have the commit (a fork's commit, or the clone is out of date).
    NotInClone,
}

/// Whether `commit` (a full SHA) is reachable from a ref of the local clone `clone` that
/// matches one of `allowed_refs`. Remote-tracking branches count as branches:
/// `refs/remotes/<remote>/main` matches the pattern `refs/heads/main`, so a plain
/// `git clone` works as well as a mirror. Tags are peeled to their commit.
///
/// Replace refs are ignored (`--no-replace-objects`), the system and global git config
/// are not read, no repository above `clone` is used, and each command is killed after
/// [`GIT_TIMEOUT`].
pub fn commit_reachable(
    clone: &Path,
    commit: &str,
    allowed_refs: &[RefPattern],
) -> Result<Reachability, GitError> {
    if !is_full_commit(commit) {
        return Err(GitError::InvalidCommit {
            commit: commit.chars().take(80).collect(),
        });
    }
    // Absolute, so that the ceiling in `run` applies to relative paths too.
    let clone = &std::fs::canonicalize(clone).map_err(|e| GitError::NotARepository {
        clone: clone.to_owned(),
        stderr: e.to_string().to_lowercase(),
    })?;
    let shallow = match run(clone, &["rev-parse", "--is-shallow-repository"]) {
        Ok(out) if out.success => out.text(),
        Ok(out) => {
            return Err(GitError::NotARepository {
                clone: clone.to_owned(),
                stderr: out.stderr,
            })
        }
        Err(e) => return Err(e),
    };
    if shallow.trim() == "true" {
        return Err(GitError::Shallow {
            clone: clone.to_owned(),
        });
    }
    let object = format!("{commit}^{{commit}}");
    let exists = run(clone, &["cat-file", "-e", &object])?;
    if !exists.success {
        return Ok(Reachability::NotInClone);
    }
    let listed = run(
        clone,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/",
            "refs/tags/",
            "refs/remotes/",
        ],
    )?;
    if !listed.success {
        return Err(git::RunError::failed(listed, "for-each-ref").into());
    }
    let listed = listed.text();
    let candidates = listed
        .lines()
        .filter(|name| allowed(name, allowed_refs))
        .take(REFS_MAX)
        .collect::<Vec<_>>();
    for name in &candidates {
        // `--end-of-options` keeps a ref name from ever being read as an option.
        let tip = format!("{name}^{{commit}}");
        let out = run(
            clone,
            &[
                "merge-base",
                "--is-ancestor",
                "--end-of-options",
                commit,
                &tip,
            ],
        )?;
        match out.code {
            Some(0) => {
                return Ok(Reachability::Reachable {
                    via: (*name).to_owned(),
                })
            }
            Some(1) => {}
            _ => return Err(git::RunError::failed(out, "merge-base --is-ancestor").into()),
        }
    }
    Ok(Reachability::NotReachable {
        refs_checked: candidates.len(),
    })
}

/// Whether a listed ref matches a pattern, remote-tracking branches as branches.
fn allowed(name: &str, patterns: &[RefPattern]) -> bool {
    let as_branch = name
        .strip_prefix("refs/remotes/")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, branch)| *branch != "HEAD")
        .map(|(_, branch)| format!("refs/heads/{branch}"));
    patterns
        .iter()
        .any(|p| p.matches(name) || as_branch.as_deref().is_some_and(|b| p.matches(b)))
}

/// Runs `git -C clone <args>` ([`crate::git::run`]): a bare mirror is a fine clone, but no
/// repository above `clone` is (a clone path inside some other checkout must not be answered
/// from that checkout).
fn run(clone: &Path, args: &[&str]) -> Result<Output, GitError> {
    let ceiling = clone
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(clone);
    let options = git::Options {
        discovery: git::Discovery::AnyBelow { ceiling },
        output_max: OUTPUT_MAX,
        input: None,
    };
    git::run(clone, args, options).map_err(GitError::from)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn commit(dir: &Path, message: &str) -> String {
        git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
        git(dir, &["rev-parse", "HEAD"])
    }

    /// main: a - b (tag v1.0.0) - c; side branch `feature` from a: s; tag `x-side` on s.
    struct Repo {
        dir: tempfile::TempDir,
        a: String,
        b: String,
        c: String,
        side: String,
    }

    fn repo() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        git(p, &["init", "-q", "-b", "main"]);
        let a = commit(p, "a");
        let b = commit(p, "b");
        git(p, &["tag", "-a", "-m", "release", "v1.0.0"]);
        let c = commit(p, "c");
        git(p, &["checkout", "-q", "-b", "feature", &a]);
        let side = commit(p, "side");
        git(p, &["tag", "x-side"]);
        git(p, &["checkout", "-q", "main"]);
        Repo { dir, a, b, c, side }
    }

    fn patterns(ps: &[&str]) -> Vec<RefPattern> {
        ps.iter().map(|p| RefPattern::parse(p).unwrap()).collect()
    }

    #[test]
    fn commit_on_main_is_reachable_from_main() {
        let r = repo();
        for c in [&r.a, &r.b, &r.c] {
            let got = commit_reachable(r.dir.path(), c, &patterns(&["refs/heads/main"])).unwrap();
            assert_eq!(
                got,
                Reachability::Reachable {
                    via: "refs/heads/main".into()
                }
            );
        }
    }

    #[test]
    fn commit_on_a_side_branch_is_not_reachable_from_main() {
        let r = repo();
        let got = commit_reachable(
            r.dir.path(),
            &r.side,
            &patterns(&["refs/heads/main", "refs/tags/v*"]),
        )
        .unwrap();
        assert_eq!(got, Reachability::NotReachable { refs_checked: 2 });
        // It is reachable from its own branch.
        let got =
            commit_reachable(r.dir.path(), &r.side, &patterns(&["refs/heads/feat*"])).unwrap();
        assert!(matches!(got, Reachability::Reachable { .. }), "{got:?}");
    }

    #[test]
    fn annotated_tags_are_peeled_and_globbed() {
        let r = repo();
        let allowed = patterns(&["refs/tags/v*"]);
        assert_eq!(
            commit_reachable(r.dir.path(), &r.b, &allowed).unwrap(),
            Reachability::Reachable {
                via: "refs/tags/v1.0.0".into()
            }
        );
        // c came after the tag.
        assert_eq!(
            commit_reachable(r.dir.path(), &r.c, &allowed).unwrap(),
            Reachability::NotReachable { refs_checked: 1 }
        );
    }

    #[test]
    fn unknown_commit_is_not_in_the_clone() {
        let r = repo();
        let got = commit_reachable(
            r.dir.path(),
            "0123456789abcdef0123456789abcdef01234567",
            &patterns(&["refs/heads/main"]),
        )
        .unwrap();
        assert_eq!(got, Reachability::NotInClone);
    }

    #[test]
    fn remote_tracking_branches_count_as_branches() {
        let r = repo();
        let clone = tempfile::tempdir().unwrap();
        let out = Command::new("git")
            .args(["clone", "-q", "--no-local"])
            .arg(r.dir.path())
            .arg(clone.path().join("c"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let path = clone.path().join("c");
        // `feature` exists only as refs/remotes/origin/feature in the clone.
        let got = commit_reachable(&path, &r.side, &patterns(&["refs/heads/feature"])).unwrap();
        assert_eq!(
            got,
            Reachability::Reachable {
                via: "refs/remotes/origin/feature".into()
            }
        );
    }

    #[test]
    fn refuses_shallow_clones_and_non_repositories() {
        let r = repo();
        let clone = tempfile::tempdir().unwrap();
        let url = format!("file://{}", r.dir.path().display());
        let out = Command::new("git")
            .args(["clone", "-q", "--depth", "1", &url])
            .arg(clone.path().join("s"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let e = commit_reachable(
            &clone.path().join("s"),
            &r.c,
            &patterns(&["refs/heads/main"]),
        )
        .unwrap_err();
        assert!(matches!(e, GitError::Shallow { .. }), "{e}");

        // A directory inside a repository is not that repository.
        let inside = r.dir.path().join("sub");
        std::fs::create_dir(&inside).unwrap();
        let e = commit_reachable(&inside, &r.c, &patterns(&["refs/heads/main"])).unwrap_err();
        assert!(matches!(e, GitError::NotARepository { .. }), "{e}");

        let empty = tempfile::tempdir().unwrap();
        let e = commit_reachable(empty.path(), &r.c, &patterns(&["refs/heads/main"])).unwrap_err();
        assert!(matches!(e, GitError::NotARepository { .. }), "{e}");
    }

    #[test]
    fn refuses_commits_that_are_not_full_shas() {
        let r = repo();
        for bad in ["HEAD", "--all", &r.c[..12], &r.c.to_uppercase()] {
            let e = commit_reachable(r.dir.path(), bad, &[]).unwrap_err();
            assert!(matches!(e, GitError::InvalidCommit { .. }), "{bad}");
        }
    }

    #[test]
    fn ref_patterns_are_checked_and_globbed() {
        const NOT_REFS: &str =
            "it must start with `refs/`, e.g. `refs/heads/main` or `refs/tags/v*`";
        const BAD_CHAR: &str = "it contains a character git does not allow in refs";
        for (bad, expected) in [
            ("main", NOT_REFS),
            ("refs/", NOT_REFS),
            ("refs/heads/a b", BAD_CHAR),
            ("refs/heads/../x", BAD_CHAR),
            ("refs/heads/a:b", BAD_CHAR),
            ("refs/heads/[ab]", BAD_CHAR),
        ] {
            match RefPattern::parse(bad) {
                Err(GitError::InvalidRefPattern { reason, .. }) => {
                    assert_eq!(reason, expected, "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let p = RefPattern::parse("refs/tags/v*").unwrap();
        assert!(p.matches("refs/tags/v1.2.3"));
        assert!(p.matches("refs/tags/v"));
        assert!(!p.matches("refs/tags/x1"));
        assert!(!p.matches("refs/heads/v1"));
        let p = RefPattern::parse("refs/heads/release-?.*").unwrap();
        assert!(p.matches("refs/heads/release-1.x"));
        assert!(!p.matches("refs/heads/release-12"));
        assert!(RefPattern::parse("refs/heads/main")
            .unwrap()
            .matches("refs/heads/main"));
        assert!(!RefPattern::parse("refs/heads/main")
            .unwrap()
            .matches("refs/heads/main2"));
    }
}
