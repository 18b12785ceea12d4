//! Stage (1) of a run: reading the manifests named on the command line (or given in memory)
//! and searching them for image sites; unreadable files and templates become file errors.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::Config;
use crate::manifest::exclude::PathGlob;
use crate::manifest::{self, ImageSite, ManifestError, Source};
use crate::report::{Code, FileError, Finding, Report, Severity};

/// The manifests of a run, read and searched for images.
#[derive(Debug, Default)]
pub struct Manifests {
    /// The texts, for rewriting (`pin`).
    pub sources: Vec<Source>,
    /// Every image site, in file and line order.
    pub sites: Vec<ImageSite>,
    /// Files that could not be read as YAML.
    pub file_errors: Vec<FileError>,
    /// Documents that were not Kubernetes objects.
    pub skipped: usize,
    /// Documents set aside as unchanged (`check --changed-since`): read, not evaluated.
    pub unchanged: usize,
    /// Documents read that are not empty.
    pub documents: usize,
    /// Kubernetes objects read (see [`manifest::Extracted::objects`]).
    pub objects: usize,
    /// Paths skipped by `--exclude` or `paths.exclude`.
    pub excluded: usize,
}

/// What a run that read no document decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyInput {
    /// Could not decide (`no-manifests`, exit 2): a render step that printed nothing must not
    /// pass for an empty deployment.
    Refuse,
    /// Allowed, with a `no-manifests` warning (`--allow-empty`).
    Allow,
}

/// Adds the `no-manifests` notice to a report whose run read no document at all and had no
/// unreadable file (which already fails the run): an error under [`EmptyInput::Refuse`], a
/// warning under [`EmptyInput::Allow`].
pub fn refuse_empty(report: &mut Report, empty: EmptyInput) {
    if report.objects > 0 || !report.images.is_empty() || !report.file_errors.is_empty() {
        return;
    }
    let excluded = match report.excluded_paths {
        0 => String::new(),
        n => format!(" ({n} path{} excluded)", if n == 1 { "" } else { "s" }),
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let what = match report.documents {
        0 => "the input holds no YAML or JSON document".to_owned(),
        n => format!(
            "{n} document{} read, {} skipped as not Kubernetes objects (no `apiVersion` and \
             `kind`)",
            plural(n),
            report.skipped_documents
        ),
    };
    let finding = match empty {
        EmptyInput::Refuse => Finding::new(
            Code::NoManifests,
            Severity::Error,
            format!("no Kubernetes object was read: {what}{excluded}"),
        )
        .hint(
            "check the render step that feeds supplygate (kustomize, helm) and the paths given; \
             `--allow-empty` accepts an empty input on purpose",
        ),
        EmptyInput::Allow => Finding::new(
            Code::NoManifests,
            Severity::Warn,
            format!("no Kubernetes object was read: {what}{excluded}; allowed by `--allow-empty`"),
        ),
    };
    report.notices.push(finding);
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A path named on the command line could not be opened.
    #[error("cannot read `{}`", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The cause, shown once (by the chain, not by this message).
        #[source]
        source: std::io::Error,
    },
}

/// Reads and searches every path. A file that is not valid YAML becomes a [`FileError`]; a path
/// that cannot be opened is an error for the whole run.
pub fn read_manifests(paths: &[PathBuf], config: &Config) -> Result<Manifests, GateError> {
    read_manifests_excluding(paths, config, &[])
}

/// [`read_manifests`], skipping the paths `exclude` (`--exclude`) or `paths.exclude` match.
pub fn read_manifests_excluding(
    paths: &[PathBuf],
    config: &Config,
    exclude: &[PathGlob],
) -> Result<Manifests, GateError> {
    let globs: Vec<PathGlob> = config
        .paths
        .exclude
        .iter()
        .chain(exclude)
        .cloned()
        .collect();
    let read = manifest::load_excluding(paths, &config.limits, &globs);
    for path in &read.excluded {
        tracing::info!(path = %path.display(), "excluded");
    }
    let mut loaded = Vec::new();
    // A file named twice (`pin f.yaml f.yaml`, `f.yaml ./f.yaml`, a directory and a file in
    // it) is read once: twice, `pin` would rewrite it twice and `check` count it twice.
    let mut seen = BTreeSet::new();
    for source in read.sources {
        if let Ok(Source { origin, .. }) = &source {
            if let manifest::Origin::File(path) = origin.as_ref() {
                let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                if !seen.insert(key) {
                    tracing::info!(path = %path.display(), "named more than once; read once");
                    continue;
                }
            }
        }
        match source {
            // A path the user named that cannot be opened is a usage error, not a finding.
            Err(ManifestError::Io { path, source }) if paths.contains(&path) => {
                return Err(GateError::Unreadable { path, source })
            }
            other => loaded.push(other),
        }
    }
    let mut manifests = search_named(loaded, config, paths);
    manifests.excluded = read.excluded.len();
    Ok(manifests)
}

/// Searches texts already in memory (or read by [`read_manifests`]) for images; a text that is
/// not valid YAML, or a load error, becomes a [`FileError`].
pub fn search_manifests(loaded: Vec<Result<Source, ManifestError>>, config: &Config) -> Manifests {
    search_named(loaded, config, &[])
}

/// [`search_manifests`]; a document of standard input or of a file in `named` (named on the
/// command line) that is a scalar or a list is an `invalid-manifest` error, as kubectl refuses
/// it. In a file found in a directory it is skipped (and counted).
fn search_named(
    loaded: Vec<Result<Source, ManifestError>>,
    config: &Config,
    named: &[PathBuf],
) -> Manifests {
    let mut out = Manifests::default();
    for loaded in loaded {
        let source = match loaded {
            Ok(s) => s,
            Err(e) => {
                out.file_errors.push(file_error(&e));
                continue;
            }
        };
        // In a Helm chart, a template is rendered before anything reads it as YAML, so a
        // template that happens to be valid YAML (its actions in comments, say) is still no
        // manifest: what Helm renders from it may hold other images.
        if in_helm_chart(&source.origin) && source.text.contains("{{") {
            out.file_errors.push(FileError {
                file: source.origin.to_string(),
                line: text_line_of_template(&source.text),
                column: None,
                code: Code::HelmTemplate,
                message: "a Helm (Go) template in a chart (a `Chart.yaml` above it): it holds \
                          template actions `{{ … }}`, and Helm renders it before anything \
                          reads it as YAML, even where it is valid YAML (actions in comments); \
                          hint: render it first (`helm template RELEASE CHART | supplygate \
                          check -`), or skip it with `--exclude` or `paths.exclude`"
                    .to_owned(),
            });
            out.sources.push(source);
            continue;
        }
        match manifest::extract(&source, &config.extra_images, &config.limits) {
            Ok(found) => {
                let explicit = match source.origin.as_ref() {
                    manifest::Origin::Stdin => true,
                    manifest::Origin::File(path) => named.contains(path),
                    manifest::Origin::Named(_) => false,
                };
                let refused = if explicit { found.not_objects.len() } else { 0 };
                if explicit {
                    out.file_errors
                        .extend(found.not_objects.iter().map(|s| FileError {
                            file: s.origin.to_string(),
                            line: Some(s.line),
                            column: None,
                            code: Code::InvalidManifest,
                            message: format!(
                                "document {}: {} (kubectl refuses it)",
                                s.document + 1,
                                s.reason
                            ),
                        }));
                }
                out.file_errors
                    .extend(found.kustomizations.iter().map(|k| FileError {
                        file: k.origin.to_string(),
                        line: Some(k.line),
                        column: None,
                        code: Code::KustomizationNotRendered,
                        message: format!(
                            "{}; the files as written are not what is deployed; hint: \
                             render it first (`kubectl kustomize DIR | supplygate check -`, \
                             `kustomize build DIR`, or `helm template`), or skip it with \
                             `--exclude`",
                            k.reason
                        ),
                    }));
                out.skipped += found.skipped.len() - refused;
                out.documents += found.documents;
                out.objects += found.objects;
                out.sites.extend(found.sites);
            }
            Err(e) if is_template(&source.text) => out.file_errors.push(helm_template(&source, &e)),
            Err(e) => out.file_errors.push(file_error(&e)),
        }
        out.sources.push(source);
    }
    // Reports list images in file and line order, whatever order the reader found them in.
    out.sites
        .sort_by(|a, b| (&a.origin, a.span.start).cmp(&(&b.origin, b.span.start)));
    out
}

/// Whether a text that is not valid YAML holds Go template actions: a Helm chart's template,
/// to be rendered first. An action is `{{-`, or `{{` followed by a field or variable (`.Values`,
/// `$x`), a comment or a template keyword or function (`if`, `range`, `include`, ...); Argo
/// Workflows' `{{inputs.parameters.x}}` and `{{item}}` are not (and a valid YAML text is read
/// as it is, whatever its strings hold).
fn is_template(text: &str) -> bool {
    const WORDS: [&str; 18] = [
        "if", "else", "end", "range", "with", "define", "template", "block", "include", "tpl",
        "toYaml", "required", "default", "printf", "quote", "nindent", "indent", "fail",
    ];
    text.split("{{").skip(1).any(|rest| {
        if rest.starts_with('-') {
            return true;
        }
        let action = rest.trim_start();
        if action.starts_with(['.', '$']) || action.starts_with("/*") {
            return true;
        }
        let word: String = action
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let after = action.get(word.len()..).unwrap_or_default();
        WORDS.contains(&word.as_str())
            && (after.starts_with(char::is_whitespace) || after.starts_with("}}"))
    })
}

/// Whether a file lies in a Helm chart: a `Chart.yaml` in any directory above it (Helm
/// renders templates at any depth under `templates/`). In a chart every `{{` is an action
/// Helm evaluates, whatever follows it (`{{ "text" }}`, `{{ print … }}`).
fn in_helm_chart(origin: &manifest::Origin) -> bool {
    let manifest::Origin::File(path) = origin else {
        return false;
    };
    let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
    path.ancestors()
        .skip(1)
        .any(|dir| dir.join("Chart.yaml").is_file())
}

/// One finding for a whole Helm template, rather than its first YAML error.
fn helm_template(source: &Source, e: &ManifestError) -> FileError {
    let line = text_line_of_template(&source.text);
    FileError {
        file: source.origin.to_string(),
        line,
        column: None,
        code: Code::HelmTemplate,
        message: format!(
            "a Helm (Go) template, not a manifest: it holds template actions `{{{{ … }}}}` and is \
             not valid YAML ({}); hint: render it first (`helm template RELEASE CHART | \
             supplygate check -`), or skip it with `--exclude` or `paths.exclude`",
            syntax_message(e)
        ),
    }
}

/// A reader error without the file name, which the finding carries already.
fn syntax_message(e: &ManifestError) -> String {
    match e {
        ManifestError::Syntax {
            line,
            column,
            message,
            ..
        } => format!("line {line}, column {column}: {message}"),
        other => other.to_string(),
    }
}

/// The 1-based line of the first template action.
fn text_line_of_template(text: &str) -> Option<usize> {
    let at = text.find("{{")?;
    Some(text.get(..at)?.matches('\n').count() + 1)
}

fn file_error(e: &ManifestError) -> FileError {
    let code = match e {
        ManifestError::Ambiguous { .. } => Code::AmbiguousYaml,
        _ => Code::InvalidManifest,
    };
    let (file, line, column, message) = match e {
        ManifestError::Syntax {
            origin,
            line,
            column,
            message,
        }
        | ManifestError::Ambiguous {
            origin,
            line,
            column,
            message,
        } => (
            origin.to_string(),
            Some(*line),
            Some(*column),
            message.clone(),
        ),
        ManifestError::TooLarge { origin, limit } => (
            origin.to_string(),
            None,
            None,
            format!("file is larger than the limit of {limit} bytes (`limits.max_file_bytes`)"),
        ),
        ManifestError::NotUtf8 { origin } => {
            (origin.to_string(), None, None, "not valid UTF-8".to_owned())
        }
        ManifestError::Io { path, source } => {
            (path.display().to_string(), None, None, source.to_string())
        }
    };
    FileError {
        file,
        line,
        column,
        code,
        message,
    }
}
