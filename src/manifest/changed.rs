//! Stage (1) for `check --changed-since REV`: which YAML documents of a manifest file are
//! unchanged since a git revision.
//!
//! A document is unchanged when a file that the same check read at `REV` has a document with
//! the same text after normalisation: trailing whitespace (and so CRLF) ignored, the
//! `---`/`...` markers and blank lines around the document ignored. Comments count. That file
//! is the same path at `REV`, or, for a file git sees as renamed, the path it was renamed from;
//! either must be one the check would have read at `REV` (under one of the checked paths, not
//! hidden, a manifest extension) and a regular file there.
//!
//! Nothing git says about the work tree is trusted to mean "unchanged": the text that was read
//! and is about to be evaluated is compared with the blob at `REV` itself, so `.gitattributes`
//! filters (`ident`, `eol`, `working-tree-encoding`) and index flags (`assume-unchanged`,
//! `skip-worktree`) cannot hide an edit. A manifest reached through a symbolic link (the file or
//! a directory above it, inside the work tree) is new: every document is evaluated.
//!
//! The repository is the current directory's work tree, found with bare-repository discovery
//! off (`safe.bareRepository=explicit`) and checked to round-trip, so a directory committed to
//! look like a git dir cannot become the root.
//!
//! Documents are split on the text's document markers: a line that starts with `---` or
//! `...` followed by a blank or the line end. YAML forbids such a line inside a document's
//! content (in block scalars and quoted scalars alike), so the split agrees with the parser.
//!
//! Runs the `git` binary like [`crate::provenance::git`]: no system or global config, no
//! hooks, no fsmonitor, no replace refs, no prompts, a timeout per command and bounded output.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

pub use crate::git::GIT_TIMEOUT;
use crate::git::{Discovery, Output, RunError};
/// The most bytes of `git` output read (a file listing, or the old texts: an old text past it
/// is not compared, and its file counts as new).
const OUTPUT_MAX: u64 = 64 * 1024 * 1024;

/// Why documents could not be compared with a revision (`check` exits 2).
#[derive(Debug, thiserror::Error)]
pub enum ChangedError {
    /// The directory is not in a git work tree.
    #[error("`{}` is not in a git work tree: {stderr}; `--changed-since` compares with the git history of the current directory's repository (run from inside it)", .dir.display())]
    NotARepository {
        /// Where git was asked.
        dir: PathBuf,
        /// What git said (first line).
        stderr: String,
    },
    /// git names a work tree that does not name itself as the top: a directory made to look
    /// like a repository, or a `core.worktree` elsewhere.
    #[error("git reports the work tree `{}` for `{}`, but `{}` from there; refusing to compare with a repository whose top is unclear", .root.display(), .dir.display(), .again.display())]
    InconsistentRepository {
        /// Where git was asked first.
        dir: PathBuf,
        /// The top it reported.
        root: PathBuf,
        /// The top reported when asked from `root`.
        again: PathBuf,
    },
    /// The revision is not a commit of the repository.
    #[error("revision `{rev}` is not a commit in `{}`: {stderr}; in CI, fetch it first (e.g. `actions/checkout` with `fetch-depth: 0`, or `git fetch origin {rev}`)", .root.display())]
    RevisionNotFound {
        /// The revision as given.
        rev: String,
        /// The repository.
        root: PathBuf,
        /// What git said (first line).
        stderr: String,
    },
    /// The revision cannot be passed to git safely.
    #[error("`{rev}` is not a usable revision: {reason}")]
    InvalidRevision {
        /// The revision as given (shortened).
        rev: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A manifest is not a file of the repository's work tree.
    #[error("`{}` is outside the git work tree `{}`; `--changed-since` can only compare files of the current directory's repository", .path.display(), .root.display())]
    OutsideRepository {
        /// The manifest.
        path: PathBuf,
        /// The work tree.
        root: PathBuf,
    },
    /// git could not be run, ran too long, or failed.
    #[error(transparent)]
    Run(#[from] crate::git::RunError),
}

/// The top directory of the git work tree that contains `dir`, canonical.
///
/// Bare repositories are not discovered (`safe.bareRepository=explicit`), and the top must
/// name itself as the top: a directory committed to look like a git dir cannot be a root.
///
/// # Errors
/// [`ChangedError::NotARepository`] when `dir` is in no work tree,
/// [`ChangedError::InconsistentRepository`] when the top does not round-trip; spawn and timeout
/// errors.
pub fn work_tree_root(dir: &Path) -> Result<PathBuf, ChangedError> {
    let top = toplevel(dir)?;
    let again = toplevel(&top)?;
    if again != top {
        return Err(ChangedError::InconsistentRepository {
            dir: dir.to_path_buf(),
            root: top,
            again,
        });
    }
    Ok(top)
}

fn toplevel(dir: &Path) -> Result<PathBuf, ChangedError> {
    let not_a_repository = |stderr: String| ChangedError::NotARepository {
        dir: dir.to_path_buf(),
        stderr,
    };
    let out = git(dir, &["rev-parse", "--show-toplevel"], None)?;
    if !out.success {
        return Err(not_a_repository(out.stderr));
    }
    let top = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    if top.is_empty() {
        // A bare repository or the inside of `.git`: there is no work tree to compare.
        return Err(not_a_repository("no work tree".to_owned()));
    }
    std::fs::canonicalize(&top)
        .map_err(|e| not_a_repository(format!("cannot resolve `{top}`: {e}")))
}

/// How a file of the work tree relates to the revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileBaseline {
    /// Nothing to compare with (added, untracked, reached through a link, not a regular file
    /// at the revision, renamed from a path the check did not read, or its old text
    /// unreadable): every document is changed.
    New,
    /// The text at the revision of the file or of the checked file it was renamed from.
    Old(String),
}

/// A regular file of the revision's tree.
#[derive(Debug, Clone)]
struct Blob {
    oid: String,
}

/// The work tree compared with one revision.
#[derive(Debug)]
pub struct Baseline {
    root: PathBuf,
    cwd: PathBuf,
    commit: String,
    /// The checked paths, relative to the root (`""` for the root itself).
    checked: Vec<Vec<u8>>,
    /// Root-relative new path -> old path, for renames from a checked path.
    renamed: HashMap<Vec<u8>, Vec<u8>>,
    /// Regular files of the revision's tree under the checked paths.
    tree: HashMap<Vec<u8>, Blob>,
}

impl Baseline {
    /// Compares the current directory's work tree with `rev` (a branch, tag, commit,
    /// `HEAD~1`…) for a check of `checked` (the paths given to `check`, relative to the
    /// current directory or absolute). Renames are git's rename detection (`git diff -M`)
    /// between the revision and the work tree, honoured only from a checked path.
    ///
    /// # Errors
    /// Not a work tree, an inconsistent one, an unknown revision, or a git failure.
    pub fn open(rev: &str, checked: &[PathBuf]) -> Result<Self, ChangedError> {
        check_revision(rev)?;
        let cwd = std::env::current_dir().map_err(|e| ChangedError::NotARepository {
            dir: PathBuf::from("."),
            stderr: format!("cannot read the current directory: {e}"),
        })?;
        let root = work_tree_root(&cwd)?;
        let object = format!("{rev}^{{commit}}");
        let out = git(
            &root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &object,
            ],
            None,
        )?;
        let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.success || commit.is_empty() {
            return Err(ChangedError::RevisionNotFound {
                rev: rev.to_owned(),
                root,
                stderr: if out.stderr.is_empty() {
                    "unknown revision".to_owned()
                } else {
                    out.stderr
                },
            });
        }
        let mut checked_rel: Vec<Vec<u8>> = checked
            .iter()
            .filter(|p| p.as_os_str() != "-")
            .filter_map(|p| {
                let lexical = lexical_absolute(&cwd, p)?;
                path_bytes(lexical.strip_prefix(&root).ok()?)
            })
            .collect();
        checked_rel.sort();
        checked_rel.dedup();
        let mut baseline = Self {
            root,
            cwd,
            commit,
            checked: checked_rel,
            renamed: HashMap::new(),
            tree: HashMap::new(),
        };
        if baseline.checked.is_empty() {
            // Every manifest is outside the work tree: `file` says so.
            return Ok(baseline);
        }
        baseline.tree = baseline.list_tree()?;
        baseline.renamed = baseline.list_renames()?;
        Ok(baseline)
    }

    /// The full commit the revision names.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The work tree's top directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The revision's regular files under the checked paths.
    fn list_tree(&self) -> Result<HashMap<Vec<u8>, Blob>, ChangedError> {
        let mut args: Vec<OsString> = ["ls-tree", "-r", "-z", "--full-tree", &self.commit]
            .iter()
            .map(OsString::from)
            .collect();
        if !self.checked.iter().any(Vec::is_empty) {
            args.push("--".into());
            args.extend(self.checked.iter().filter_map(|p| os_string(p)));
        }
        let out = git(&self.root, &args, None)?;
        if !out.success {
            return Err(RunError::failed(out, "ls-tree").into());
        }
        // A cut listing only makes files look new (evaluated): safe, but say so.
        if out.truncated {
            tracing::warn!("the git tree listing is longer than {OUTPUT_MAX} bytes; files past it are evaluated as new");
        }
        Ok(parse_ls_tree(&out.stdout))
    }

    /// Renames (and copies) between the revision and the work tree whose old path is checked.
    fn list_renames(&self) -> Result<HashMap<Vec<u8>, Vec<u8>>, ChangedError> {
        let diff = git(
            &self.root,
            &[
                "diff",
                "--name-status",
                "-z",
                "-M",
                "--no-relative",
                "--no-ext-diff",
                "--no-textconv",
                "--ignore-submodules",
                &self.commit,
                "--",
            ],
            None,
        )?;
        if !diff.success {
            return Err(RunError::failed(diff, "diff --name-status").into());
        }
        // A cut list can only miss renames, which makes files look new: safe, but say so.
        if diff.truncated {
            tracing::warn!("the git change list is longer than {OUTPUT_MAX} bytes; renames past it are not followed");
        }
        Ok(parse_renames(&diff.stdout)
            .into_iter()
            .filter(|(_, old)| self.is_checked(old))
            .collect())
    }

    /// Whether the check read the root-relative `path` when run at the revision with the same
    /// paths: a named path, or a manifest file under a named directory without a hidden
    /// component below it (like the directory walk).
    fn is_checked(&self, path: &[u8]) -> bool {
        self.checked.iter().any(|base| {
            if path == base.as_slice() {
                return true;
            }
            let below = if base.is_empty() {
                path
            } else {
                match path
                    .strip_prefix(base.as_slice())
                    .and_then(|rest| rest.strip_prefix(b"/"))
                {
                    Some(rest) => rest,
                    None => return false,
                }
            };
            !below.is_empty()
                && below
                    .split(|b| *b == b'/')
                    .all(|c| !c.is_empty() && !c.starts_with(b"."))
                && has_manifest_extension(below)
        })
    }

    /// The path in the revision's tree to compare `path` (as read by the check) with, or
    /// `None` when its documents are all new.
    ///
    /// # Errors
    /// [`ChangedError::OutsideRepository`] for a file outside the work tree.
    fn old_path(&self, path: &Path) -> Result<Option<Vec<u8>>, ChangedError> {
        let outside = || ChangedError::OutsideRepository {
            path: path.to_path_buf(),
            root: self.root.clone(),
        };
        let physical = std::fs::canonicalize(path).map_err(|_| outside())?;
        let lexical = lexical_absolute(&self.cwd, path).ok_or_else(outside)?;
        let Ok(relative) = lexical.strip_prefix(&self.root) else {
            if physical.starts_with(&self.root) {
                // Inside the work tree only through a link: nothing to compare with.
                return Ok(None);
            }
            return Err(outside());
        };
        let first = relative.components().next();
        if first.is_none() || first.is_some_and(|c| c.as_os_str() == ".git") {
            return Err(outside());
        }
        // A link anywhere below the root (the file or a directory above it): the path names
        // something else than at the revision.
        if physical != lexical {
            return Ok(None);
        }
        let Some(relative) = path_bytes(relative) else {
            return Ok(None);
        };
        let old = self.renamed.get(&relative).cloned().unwrap_or(relative);
        Ok((self.is_checked(&old) && self.tree.contains_key(&old)).then_some(old))
    }

    /// How each file (relative to the current directory, or absolute) relates to the revision;
    /// the old texts are read with one `git cat-file --batch`.
    ///
    /// # Errors
    /// [`ChangedError::OutsideRepository`] for a file outside the work tree; git failures.
    pub fn files(&self, paths: &[&Path]) -> Result<Vec<FileBaseline>, ChangedError> {
        let mut olds = Vec::with_capacity(paths.len());
        for path in paths {
            olds.push(self.old_path(path)?);
        }
        let mut oids: Vec<&str> = olds
            .iter()
            .flatten()
            .filter_map(|old| self.tree.get(old))
            .map(|b| b.oid.as_str())
            .collect();
        oids.sort_unstable();
        oids.dedup();
        let texts = self.blobs(&oids)?;
        Ok(olds
            .into_iter()
            .map(|old| {
                old.and_then(|old| self.tree.get(&old))
                    .and_then(|blob| texts.get(blob.oid.as_str()))
                    .map_or(FileBaseline::New, |text| FileBaseline::Old(text.clone()))
            })
            .collect())
    }

    /// The UTF-8 blobs among `oids`, exactly as stored (no filters); a blob that is missing, not
    /// UTF-8 or past the output bound is left out (its files count as new).
    fn blobs(&self, oids: &[&str]) -> Result<HashMap<String, String>, ChangedError> {
        if oids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut input = Vec::new();
        for oid in oids {
            input.extend_from_slice(oid.as_bytes());
            input.push(b'\n');
        }
        let out = git(&self.root, &["cat-file", "--batch"], Some(input))?;
        if !out.success {
            return Err(RunError::failed(out, "cat-file --batch").into());
        }
        Ok(parse_batch(&out.stdout))
    }
}

/// `cwd/path` without `.` components and with `..` removing the component before it; `None`
/// when `..` would climb above `/`.
fn lexical_absolute(cwd: &Path, path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let joined = cwd.join(path);
    for component in joined.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => {
                out.push(component.as_os_str());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
        }
    }
    Some(out)
}

/// A relative path as git writes it: `/`-separated bytes.
fn path_bytes(path: &Path) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for component in path.components() {
        let Component::Normal(name) = component else {
            return None;
        };
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(os_bytes(name)?);
    }
    Some(out)
}

#[cfg(unix)]
fn os_bytes(s: &OsStr) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt as _;
    Some(s.as_bytes())
}

#[cfg(not(unix))]
fn os_bytes(s: &OsStr) -> Option<&[u8]> {
    s.to_str().map(str::as_bytes)
}

#[cfg(unix)]
fn os_string(b: &[u8]) -> Option<OsString> {
    use std::os::unix::ffi::OsStrExt as _;
    Some(OsStr::from_bytes(b).to_owned())
}

#[cfg(not(unix))]
fn os_string(b: &[u8]) -> Option<OsString> {
    std::str::from_utf8(b).ok().map(OsString::from)
}

/// `.yaml`, `.yml` or `.json`, in any case: the files the directory walk reads.
fn has_manifest_extension(path: &[u8]) -> bool {
    let name = path.rsplit(|b| *b == b'/').next().unwrap_or_default();
    let Some(dot) = name.iter().rposition(|b| *b == b'.') else {
        return false;
    };
    let ext = name.get(dot + 1..).unwrap_or_default().to_ascii_lowercase();
    dot > 0 && matches!(ext.as_slice(), b"yaml" | b"yml" | b"json")
}

/// Refuses revisions git could read as an option or that no ref can be named.
fn check_revision(rev: &str) -> Result<(), ChangedError> {
    let invalid = |reason| ChangedError::InvalidRevision {
        rev: rev.chars().take(80).collect(),
        reason,
    };
    if rev.is_empty() {
        return Err(invalid("it is empty"));
    }
    if rev.len() > 1024 {
        return Err(invalid("it is longer than 1024 characters"));
    }
    if rev.starts_with('-') {
        return Err(invalid("it starts with `-`"));
    }
    if rev.chars().any(char::is_control) {
        return Err(invalid("it contains control characters"));
    }
    Ok(())
}

/// `git ls-tree -r -z` -> the regular files (modes 100644 and 100755): path -> blob.
fn parse_ls_tree(out: &[u8]) -> HashMap<Vec<u8>, Blob> {
    let mut tree = HashMap::new();
    for entry in out.split(|b| *b == 0) {
        let Some(tab) = entry.iter().position(|b| *b == b'\t') else {
            continue;
        };
        let (Some(meta), Some(path)) = (entry.get(..tab), entry.get(tab + 1..)) else {
            continue;
        };
        let meta = String::from_utf8_lossy(meta);
        let mut fields = meta.split(' ');
        let (Some(mode), Some(kind), Some(oid)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if matches!(mode, "100644" | "100755") && kind == "blob" && !path.is_empty() {
            tree.insert(
                path.to_vec(),
                Blob {
                    oid: oid.to_owned(),
                },
            );
        }
    }
    tree
}

/// `git diff --name-status -z` -> new path -> old path, for renamed and copied files.
fn parse_renames(out: &[u8]) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut renamed = HashMap::new();
    let mut fields = out.split(|b| *b == 0);
    while let Some(status) = fields.next() {
        match status.first() {
            Some(b'R' | b'C') => {
                let (Some(old), Some(new)) = (fields.next(), fields.next()) else {
                    break;
                };
                renamed.insert(new.to_vec(), old.to_vec());
            }
            Some(_) => {
                if fields.next().is_none() {
                    break;
                }
            }
            None => break,
        }
    }
    renamed
}

/// `git cat-file --batch` -> oid -> text, for the complete UTF-8 blobs of the output.
fn parse_batch(mut out: &[u8]) -> HashMap<String, String> {
    let mut texts = HashMap::new();
    while let Some(eol) = out.iter().position(|b| *b == b'\n') {
        let header = String::from_utf8_lossy(out.get(..eol).unwrap_or_default()).into_owned();
        out = out.get(eol + 1..).unwrap_or_default();
        let mut fields = header.split(' ');
        let (Some(oid), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            // `<oid> missing` and the like: no content follows.
            continue;
        };
        let Ok(size) = size.parse::<usize>() else {
            break;
        };
        let Some(content) = out.get(..size) else {
            // Cut by the output bound: this and any later blob are left out.
            break;
        };
        if kind == "blob" {
            if let Ok(text) = std::str::from_utf8(content) {
                texts.insert(oid.to_owned(), text.to_owned());
            }
        }
        out = out.get(size + 1..).unwrap_or_default();
    }
    texts
}

/// One YAML document of a text: its byte range (marker lines included) and its normalised
/// text, the key of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText {
    /// Bytes of the text.
    pub range: Range<usize>,
    /// Lines without trailing whitespace, without the `---`/`...` markers and without blank
    /// lines at either end.
    pub normalized: String,
}

impl DocumentText {
    /// Whether the document has anything but blank lines and comments.
    pub fn has_content(&self) -> bool {
        self.normalized
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    }
}

/// Splits a text into its documents at the document markers.
pub fn split_documents(text: &str) -> Vec<DocumentText> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut lines: Vec<&str> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        let bare = if offset == 0 {
            bare.trim_start_matches('\u{feff}')
        } else {
            bare
        };
        if let Some(rest) = marker(bare, "---") {
            if offset > start {
                docs.push(document(start..offset, &lines));
            }
            lines.clear();
            start = offset;
            if !rest.trim().is_empty() {
                lines.push(rest.trim_start());
            }
        } else if marker(bare, "...").is_some() {
            docs.push(document(start..end, &lines));
            lines.clear();
            start = end;
        } else {
            lines.push(bare);
        }
        offset = end;
    }
    if text.len() > start {
        docs.push(document(start..text.len(), &lines));
    }
    docs
}

/// The rest of the line when it is the marker `m` followed by a blank or the line end.
fn marker<'a>(line: &'a str, m: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(m)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

fn document(range: Range<usize>, lines: &[&str]) -> DocumentText {
    let trimmed: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    let first = trimmed.iter().position(|l| !l.is_empty());
    let last = trimmed.iter().rposition(|l| !l.is_empty());
    let normalized = match (first, last) {
        (Some(f), Some(l)) => trimmed.get(f..=l).unwrap_or_default().join("\n"),
        _ => String::new(),
    };
    DocumentText { range, normalized }
}

/// The documents of `current` that are unchanged against `baseline`, with content (blank and
/// comment-only documents are neither counted nor set aside).
pub fn unchanged_documents(current: &str, baseline: &FileBaseline) -> Vec<DocumentText> {
    let docs = split_documents(current)
        .into_iter()
        .filter(DocumentText::has_content);
    match baseline {
        FileBaseline::New => Vec::new(),
        FileBaseline::Old(old) => {
            let before: HashSet<String> = split_documents(old)
                .into_iter()
                .map(|d| d.normalized)
                .collect();
            docs.filter(|d| before.contains(&d.normalized)).collect()
        }
    }
}

/// Runs `git -C dir <args>` ([`crate::git::run`]) on work trees only; `input` is written to
/// its standard input.
fn git<S: AsRef<OsStr>>(
    dir: &Path,
    args: &[S],
    input: Option<Vec<u8>>,
) -> Result<Output, ChangedError> {
    let options = crate::git::Options {
        discovery: Discovery::WorkTreeOnly,
        output_max: OUTPUT_MAX,
        input: input.as_deref(),
    };
    crate::git::run(dir, args, options).map_err(ChangedError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        split_documents(text)
            .into_iter()
            .map(|d| d.normalized)
            .collect()
    }

    #[test]
    fn splits_at_markers_and_normalises_trailing_space_and_crlf() {
        let text = "a: 1  \r\n---\r\nb: 2\r\n\r\n--- # c\nc: 3\n...\n";
        assert_eq!(texts(text), ["a: 1", "b: 2", "# c\nc: 3"]);
        let docs = split_documents(text);
        assert_eq!(&text[docs[1].range.clone()], "---\r\nb: 2\r\n\r\n");
    }

    #[test]
    fn dashes_inside_content_do_not_split() {
        let text = "a: |\n  ---x\n  --- y\nb: ----\n";
        assert_eq!(split_documents(text).len(), 1);
    }

    #[test]
    fn a_moved_document_is_unchanged_and_an_edited_one_is_not() {
        let old = FileBaseline::Old("a: 1\n---\nb: 2\n---\nc: 3\n".to_owned());
        let now = "---\nc: 3\n---\nb: 3\n---\na: 1   \n";
        let same: Vec<String> = unchanged_documents(now, &old)
            .into_iter()
            .map(|d| d.normalized)
            .collect();
        assert_eq!(same, ["c: 3", "a: 1"]);
        assert!(unchanged_documents(now, &FileBaseline::New).is_empty());
    }

    #[test]
    fn comment_only_documents_do_not_count() {
        let docs = split_documents("# header\n---\na: 1\n---\n# nothing\n");
        let content: Vec<bool> = docs.iter().map(DocumentText::has_content).collect();
        assert_eq!(content, [false, true, false]);
    }

    #[test]
    fn renames_with_odd_names() {
        let out = b"M\0a.yaml\0R087\0old dir/x.yaml\0new,dir/x.yaml\0A\0n.yaml\0D\0gone.yaml\0";
        let renamed = parse_renames(out);
        assert_eq!(renamed.len(), 1);
        assert_eq!(renamed[b"new,dir/x.yaml".as_slice()], b"old dir/x.yaml");
    }

    #[test]
    fn only_regular_files_of_the_tree_are_compared() {
        let out = b"100644 blob aa\tdeploy/a.yaml\x00120000 blob bb\tdeploy/l.yaml\x00160000 commit cc\tsub\x00100755 blob dd\tx y.yaml\x00";
        let tree = parse_ls_tree(out);
        let mut paths: Vec<&[u8]> = tree.keys().map(Vec::as_slice).collect();
        paths.sort_unstable();
        assert_eq!(paths, [b"deploy/a.yaml".as_slice(), b"x y.yaml"]);
    }

    #[test]
    fn batch_output_cut_or_missing_leaves_blobs_out() {
        let out = b"aa blob 3\nx:1\nbb missing\ncc blob 5\nx:";
        let texts = parse_batch(out);
        assert_eq!(texts.len(), 1);
        assert_eq!(texts["aa"], "x:1");
    }

    #[test]
    fn checked_paths_follow_the_directory_walk() {
        let baseline = Baseline {
            root: PathBuf::from("/r"),
            cwd: PathBuf::from("/r"),
            commit: String::new(),
            checked: vec![b"deploy".to_vec(), b"one.txt".to_vec()],
            renamed: HashMap::new(),
            tree: HashMap::new(),
        };
        assert!(baseline.is_checked(b"deploy/a.yaml"));
        assert!(baseline.is_checked(b"deploy/sub/a.YML"));
        assert!(baseline.is_checked(b"one.txt"));
        assert!(!baseline.is_checked(b"deploy/a.txt"));
        assert!(!baseline.is_checked(b"deploy/.drafts/a.yaml"));
        assert!(!baseline.is_checked(b"deployment/a.yaml"));
        assert!(!baseline.is_checked(b"examples/a.yaml"));
        assert!(!baseline.is_checked(b"deploy/.yaml"));
    }

    #[test]
    fn lexical_paths_drop_dots() {
        let cwd = Path::new("/r/apps");
        assert_eq!(
            lexical_absolute(cwd, Path::new("./x/../y.yaml")).unwrap(),
            Path::new("/r/apps/y.yaml")
        );
        assert_eq!(
            lexical_absolute(cwd, Path::new("../b")).unwrap(),
            Path::new("/r/b")
        );
    }

    #[test]
    fn revisions_that_look_like_options_are_refused() {
        let reason = |rev: &str| match check_revision(rev) {
            Err(ChangedError::InvalidRevision { reason, .. }) => reason,
            other => panic!("{rev:?}: {other:?}"),
        };
        assert_eq!(reason("--output=/tmp/x"), "it starts with `-`");
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason("main\n"), "it contains control characters");
        assert!(check_revision("HEAD~1").is_ok());
    }
}
