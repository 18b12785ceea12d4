//! Stage (6): the outcome of a run as data ([`Report`]), the stable diagnostic [`Code`]s, and
//! the renderers ([`human`], [`json`], [`sarif`], [`github`], [`markdown`]).
//!
//! A denial is data, not an error: every finding is a [`Finding`] on the image it concerns,
//! and the run's [`Decision`] is derived from them.

use std::path::{Component, Path, PathBuf};

use crate::manifest::Origin;

pub mod github;
pub mod human;
pub mod json;
pub mod markdown;
pub mod sarif;
#[cfg(test)]
mod tests;
mod text;

use crate::facts::decision_of;
pub use crate::facts::{Code, Decision, Finding, ImageReport, Severity};
pub use text::{escape_unsafe, escape_unsafe_except, is_unsafe_char, push_escaped};

/// What is said of an image allowed without any signature or provenance requirement.
pub const RESOLVED_ONLY: &str = "resolved only: no signature or provenance requirement applies";

/// A problem with a whole file (it could not be read), located as well as possible.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Code (always a could-not-decide code).
    pub code: Code,
    /// What is wrong.
    pub message: String,
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    /// Distinct references looked up.
    pub distinct_images: usize,
    /// HTTP requests sent to registries.
    pub requests: u64,
    /// Lookups answered from the in-process cache.
    pub cache_hits: u64,
    /// Wall time of the run.
    pub elapsed_ms: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per image site, in file and line order.
    pub images: Vec<ImageReport>,
    /// Files that could not be read.
    pub file_errors: Vec<FileError>,
    /// Documents that were not Kubernetes objects.
    pub skipped_documents: usize,
    /// Documents unchanged since `--changed-since`: read for context, not evaluated.
    pub unchanged_documents: usize,
    /// Documents read that are not empty.
    pub documents: usize,
    /// Kubernetes objects read (`no-manifests` when there is none).
    pub objects: usize,
    /// Paths skipped by `--exclude` or `paths.exclude`.
    pub excluded_paths: usize,
    /// Warnings about the run rather than one image (an exemption that matched nothing).
    pub notices: Vec<Finding>,
    /// Counters.
    pub stats: RunStats,
}

impl Report {
    /// Error when anything could not be decided, else deny when anything is denied, else allow.
    /// Run-level notices weigh too (`no-manifests` is an error).
    pub fn decision(&self) -> Decision {
        let files = self.file_errors.iter().map(|_| Severity::Error);
        let images = self
            .images
            .iter()
            .flat_map(|i| i.findings.iter().map(|f| f.severity));
        let notices = self.notices.iter().map(|n| n.severity);
        decision_of(files.chain(images).chain(notices))
    }

    /// The images allowed on their resolution alone: no `require:` or `provenance:` rule named
    /// them, so no signature or provenance was asked for.
    pub fn resolved_only(&self) -> impl Iterator<Item = &ImageReport> {
        self.images.iter().filter(|i| i.resolved_only())
    }

    /// Sentences about what the run did not check, for every format: an input with documents
    /// but no image, images allowed without any signature or provenance requirement, paths
    /// excluded.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.documents == 0 && self.images.is_empty() {
            notes.push("no document read".to_owned());
        }
        let evaluated = self.documents.saturating_sub(self.unchanged_documents);
        if self.images.is_empty() && evaluated > 0 {
            let n = evaluated;
            notes.push(format!(
                "no image found in {n} document{}",
                if n == 1 { "" } else { "s" }
            ));
        }
        notes.extend(self.unchanged_note());
        let resolved_only = self.resolved_only().count();
        if resolved_only > 0 {
            notes.push(format!(
                "{resolved_only} image{} {RESOLVED_ONLY}",
                if resolved_only == 1 { "" } else { "s" }
            ));
        }
        if self.excluded_paths > 0 {
            let n = self.excluded_paths;
            notes.push(format!(
                "{n} path{} excluded (`--exclude`, `paths.exclude`)",
                if n == 1 { "" } else { "s" }
            ));
        }
        notes
    }

    /// The note on documents `--changed-since` set aside, when it did: they were read but not
    /// evaluated, so that "no image found" is not taken for "nothing to check".
    pub fn unchanged_note(&self) -> Option<String> {
        match self.unchanged_documents {
            0 => None,
            n => Some(format!(
                "{n} unchanged document{} not evaluated (`--changed-since`)",
                if n == 1 { " was" } else { "s were" }
            )),
        }
    }

    /// How many images have each decision: (allowed, denied, errors).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for i in &self.images {
            match i.decision() {
                Decision::Allow => c.0 += 1,
                Decision::Deny => c.1 += 1,
                Decision::Error => c.2 += 1,
            }
        }
        c
    }

    /// Number of warnings over all images.
    pub fn warnings(&self) -> usize {
        self.images
            .iter()
            .flat_map(|i| &i.findings)
            .filter(|f| f.severity == Severity::Warn)
            .count()
    }
}

/// Where the files of a report live, so that code hosts can place findings: SARIF, GitHub
/// annotations and Markdown name files relative to the repository root (`%SRCROOT%`), which
/// is not always the directory `check` ran in.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    root: PathBuf,
    cwd: PathBuf,
}

impl SourceRoot {
    /// `root` is the repository's top directory; relative paths in the report are relative to
    /// `cwd`.
    pub fn new(root: PathBuf, cwd: PathBuf) -> Self {
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Self { root, cwd }
    }

    /// The path of a manifest relative to the root, with `/` separators; `None` for standard
    /// input, a named text, or a file outside the root.
    pub fn relative(&self, origin: &Origin) -> Option<String> {
        match origin {
            Origin::File(path) => self.relative_path(path),
            Origin::Stdin | Origin::Named(_) => None,
        }
    }

    /// Like [`SourceRoot::relative`] for a path as a report writes it (a [`FileError`]'s
    /// `file`); `None` also when no such file exists (standard input).
    pub fn relative_file(&self, file: &str) -> Option<String> {
        let path = Path::new(file);
        if !self.cwd.join(path).exists() {
            return None;
        }
        self.relative_path(path)
    }

    /// A config entry behind a finding, `file:line:column (key)`, its file relative to the
    /// root when it is under it.
    pub fn config_entry(&self, c: &crate::facts::ConfigLocation) -> String {
        let file = self
            .relative_file(&c.file)
            .unwrap_or_else(|| c.file.clone());
        format!("{file}:{}:{} ({})", c.line, c.column, c.key)
    }

    /// The root-relative path when there is one, else the origin as the human report shows it.
    pub fn display(&self, origin: &Origin) -> String {
        self.relative(origin).unwrap_or_else(|| origin.to_string())
    }

    /// The absolute path of a manifest file (symbolic links resolved when it exists); `None`
    /// for standard input or a named text.
    pub fn absolute(&self, origin: &Origin) -> Option<PathBuf> {
        match origin {
            Origin::File(path) => Some(self.absolute_path(path)),
            Origin::Stdin | Origin::Named(_) => None,
        }
    }

    /// Like [`SourceRoot::absolute`] for a [`FileError`]'s `file`; `None` also when no such
    /// file exists (standard input, a run-level error).
    pub fn absolute_file(&self, file: &str) -> Option<PathBuf> {
        let path = Path::new(file);
        self.cwd
            .join(path)
            .exists()
            .then(|| self.absolute_path(path))
    }

    fn absolute_path(&self, path: &Path) -> PathBuf {
        let absolute = self.cwd.join(path);
        // Symbolic links resolved when the file exists, so that the root (from `git`, also
        // resolved) is a prefix; lexically otherwise.
        std::fs::canonicalize(&absolute).unwrap_or_else(|_| lexical(&absolute))
    }

    fn relative_path(&self, path: &Path) -> Option<String> {
        let absolute = self.absolute_path(path);
        let rest = absolute.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.is_empty() {
            return None;
        }
        Some(parts.join("/"))
    }
}
/// `a/./b/../c` -> `a/c`, without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
