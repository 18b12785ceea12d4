//! `supplygate.yaml`: raw YAML -> validated [`Config`], every problem reported at once with its
//! line and column, unknown keys rejected with a did-you-mean hint.
//!
//! The schema lives in three places that tests keep in step: the `KEYS_*` lists (`keys.rs`), the
//! JSON Schema `supplygate.schema.json` at the repository root, and docs/configuration.md.

mod keys;
mod notation;
mod signer_rules;
#[cfg(test)]
mod tests;
mod text;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::glob::ImageGlob;
use crate::manifest::exclude::PathGlob;
use crate::manifest::yaml::{self, Node};
use crate::manifest::{ExtraImagePaths, ExtraRule, FieldPath, Limits, Origin};
use crate::provenance::{normalise_repository, BuilderRule, RefPattern};
use crate::registry::{HostSettings, RegistrySettings};
use crate::verify::signers::SharedRoot;
use crate::verify::tuf::TufSettings;
use crate::verify::{signers, tuf, Signer, SubjectMatcher};

/// The config file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "supplygate.yaml";

pub use keys::known_keys;
pub use text::{did_you_mean, parse_duration, parse_expiry};

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// Registry access.
    pub registry: RegistrySettings,
    /// Extra image paths for CRDs.
    pub extra_images: ExtraImagePaths,
    /// Limits for reading manifests.
    pub limits: Limits,
    /// Trusted signers by name, in name order.
    pub signers: BTreeMap<String, Arc<Signer>>,
    /// Where each signer is defined (1-based line and column of its name under `signers:`).
    pub signer_positions: BTreeMap<String, (usize, usize)>,
    /// Where `--tuf-refresh` fetches the Sigstore trusted root from.
    pub tuf: TufSettings,
    /// Which images must be signed by whom.
    pub requirements: Vec<Requirement>,
    /// Which images need provenance, from which builders and sources.
    pub provenance: Vec<ProvenanceRule>,
    /// How manifests claim commits, and where local clones are.
    pub source: SourceSettings,
    /// The policy library and its data.
    pub policy: PolicySettings,
    /// Temporary exceptions to denials.
    pub exemptions: Vec<Exemption>,
    /// The emergency override.
    pub break_glass: BreakGlass,
    /// Which manifest paths `check` skips.
    pub paths: PathSettings,
    /// The verification cache (`cache:`), if one is configured.
    pub cache: Option<crate::cache::CacheSettings>,
    /// Every `registries.HOST.layout` as written, with its place: `config validate` checks
    /// that each directory exists (a run only finds out when it reads an image).
    pub layout_sites: Vec<LayoutSite>,
}

/// One `registries.HOST.layout` in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSite {
    /// The registry host.
    pub host: String,
    /// The directory, resolved against the config file's directory.
    pub path: PathBuf,
    /// 1-based line of the value.
    pub line: usize,
    /// 1-based column of the value.
    pub column: usize,
}

/// `paths:`: which manifest files `check` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSettings {
    /// Globs (`*`, `**`, `?`) over paths as walked; a match is skipped and counted.
    pub exclude: Vec<PathGlob>,
}

/// Policy settings.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    /// Load the library shipped in the binary (`policies/`); false to replace it entirely.
    pub builtin: bool,
    /// Extra modules and data (files or directories; `*.rego`, `data.json`, `data.yaml`).
    pub paths: Vec<PathBuf>,
    /// Free-form data for user policies, as `data.supplygate.policy`.
    pub data: serde_json::Value,
    /// Registries (globs over `registry/repository`) images may come from; empty: any.
    pub allowed_registries: Vec<ImageGlob>,
    /// Allow `:latest` and references without tag or digest.
    pub allow_latest: bool,
    /// What happens to an image that no `require:` or `provenance:` rule names.
    pub unmatched_images: Unmatched,
    /// What happens to a value under an `image` key, found by the generic pass, that is not an
    /// image reference (`unrecognised-image-field`).
    pub unknown_image_fields: Unmatched,
    /// Longest evaluation of one image's input.
    pub timeout: Duration,
    /// Where each key written under `policy:` is (1-based line and column of the key), so a
    /// finding one decides can name it.
    pub positions: BTreeMap<String, (usize, usize)>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            builtin: true,
            paths: Vec::new(),
            data: serde_json::json!({}),
            allowed_registries: Vec::new(),
            allow_latest: false,
            unmatched_images: Unmatched::Allow,
            unknown_image_fields: Unmatched::Warn,
            timeout: Duration::from_secs(5),
            positions: BTreeMap::new(),
        }
    }
}

/// `policy.unmatched_images`: the decision for an image no `require:` or `provenance:` rule
/// names (sigstore policy-controller's `no-match-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// Nothing is required of it (the default).
    Allow,
    /// Allowed, with an `image-not-covered` warning.
    Warn,
    /// Denied (`image-not-covered`): every image must be named by a rule.
    Deny,
}

impl Unmatched {
    const NAMES: [&'static str; 3] = ["allow", "warn", "deny"];

    /// The config spelling (`allow`, `warn`, `deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Deny => "deny",
        }
    }
}

/// Denials of matching images in matching namespaces become warnings, until `expires`.
#[derive(Debug, Clone)]
pub struct Exemption {
    /// Globs over `registry/repository`.
    pub images: Vec<ImageGlob>,
    /// Namespaces it applies in; empty: every namespace (the key left out: an empty list
    /// written in the config is an error).
    pub namespaces: Vec<String>,
    /// Why (shown with every exempted denial).
    pub reason: String,
    /// When it stops exempting (a date means the end of that day, UTC).
    pub expires: jiff::Timestamp,
    /// As written, for messages.
    pub expires_written: String,
    /// 1-based config line.
    pub line: usize,
    /// 1-based column of the entry (its first key), for findings.
    pub column: usize,
}

/// A workload annotation that turns denials into warnings, honoured only in `namespaces`.
#[derive(Debug, Clone)]
pub struct BreakGlass {
    /// The annotation key; its value should say why.
    pub annotation: String,
    /// Namespaces where it is honoured; empty: nowhere (the key left out: an empty list
    /// written in the config is an error).
    pub namespaces: Vec<String>,
}

impl Default for BreakGlass {
    fn default() -> Self {
        Self {
            annotation: "supplygate.dev/break-glass".to_owned(),
            namespaces: Vec::new(),
        }
    }
}

/// The annotation or label holding the commit a workload claims, by default.
pub const DEFAULT_COMMIT_KEY: &str = "supplygate.dev/source-commit";

/// Images matching `images` need SLSA provenance verified by one of `signers`, built by a
/// trusted builder from the expected source.
#[derive(Debug, Clone)]
pub struct ProvenanceRule {
    /// Globs over `registry/repository`.
    pub images: Vec<ImageGlob>,
    /// The attestation must be verified by one of these.
    pub signers: Vec<Arc<Signer>>,
    /// Trusted builder ids (exact, or a prefix written with a trailing `*`); empty: any.
    pub builders: Vec<BuilderRule>,
    /// Expected source repository (normalised, e.g. `https://github.com/acme/app`).
    pub source: Option<String>,
    /// Allowed source refs (globs such as `refs/tags/v*`); empty: any.
    pub refs: Vec<RefPattern>,
    /// 1-based line of the rule in the config.
    pub line: usize,
    /// 1-based column of the rule (its first key), for findings.
    pub column: usize,
}

/// Source linkage settings.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Annotation or label (on the workload) holding the commit it claims.
    pub commit_key: String,
    /// Local clones by normalised repository URL, for reachability checks.
    pub clones: BTreeMap<String, PathBuf>,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            commit_key: DEFAULT_COMMIT_KEY.to_owned(),
            clones: BTreeMap::new(),
        }
    }
}

/// Images matching any of `images` must carry a signature on their resolved digest verified by
/// at least one of `signers`.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// Globs over `registry/repository` (`*` within a path segment, `**` across segments).
    pub images: Vec<ImageGlob>,
    /// Any one of these suffices.
    pub signers: Vec<Arc<Signer>>,
    /// 1-based line of the rule in the config, for "defined here" in reports.
    pub line: usize,
    /// 1-based column of the rule (its first key), for findings.
    pub column: usize,
}

impl Config {
    /// The provenance rules that apply to an image named `registry/repository`.
    pub fn provenance_for<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ProvenanceRule> {
        self.provenance
            .iter()
            .filter(move |r| r.images.iter().any(|g| g.matches(name)))
    }

    /// Adds a local clone (`--source-repo URL=PATH`); the URL is normalised.
    pub fn add_clone(&mut self, spec: &str) -> Result<(), String> {
        let (url, path) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}`: expected `URL=PATH`"))?;
        let repo =
            normalise_repository(url).ok_or_else(|| format!("`{url}` is not a repository URL"))?;
        self.source.clones.insert(repo, PathBuf::from(path));
        Ok(())
    }

    /// Whether `--tuf-refresh` has anything to fetch for: a keyless signer on the embedded
    /// root. Key-only configs never do (no network call for trust material on key paths).
    pub fn needs_tuf_refresh(&self) -> bool {
        self.signers.values().any(|s| s.wants_tuf_root())
    }

    /// Puts a root fetched through TUF in place of the embedded one, in every signer without
    /// its own `trusted_root:` (keyless and key alike), wherever rules refer to it.
    pub fn use_tuf_root(&mut self, fetched: &SharedRoot) {
        for signer in self.signers.values_mut() {
            if let Some(updated) = signer.with_tuf_root(fetched) {
                *signer = Arc::new(updated);
            }
        }
        let signers = &self.signers;
        let current = |old: &Arc<Signer>| signers.get(&old.name).cloned().unwrap_or(old.clone());
        for rule in &mut self.requirements {
            rule.signers = rule.signers.iter().map(current).collect();
        }
        for rule in &mut self.provenance {
            rule.signers = rule.signers.iter().map(current).collect();
        }
    }

    /// The requirements that apply to an image named `registry/repository`.
    pub fn requirements_for<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Requirement> {
        self.requirements
            .iter()
            .filter(move |r| r.images.iter().any(|g| g.matches(name)))
    }
}

/// One thing wrong with the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// A likely fix.
    pub hint: Option<String>,
}

/// Why the config could not be used: every problem found, or why the file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed.
    #[error("invalid config")]
    Syntax(#[source] crate::manifest::ManifestError),
    /// The YAML is well formed but the content is wrong.
    #[error("{}", Invalid { path, problems })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

struct Invalid<'a> {
    path: &'a Path,
    problems: &'a [Problem],
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} problem{} in config `{}`",
            n,
            if n == 1 { "" } else { "s" },
            self.path.display()
        )?;
        for p in self.problems {
            write!(
                f,
                "\n  {}:{}:{}: {}",
                self.path.display(),
                p.line,
                p.column,
                p.message
            )?;
            if let Some(hint) = &p.hint {
                write!(f, " ({hint})")?;
            }
        }
        Ok(())
    }
}

/// Why `path` cannot be opened when it is a symlink to nothing: the bare "No such file or
/// directory" reads as a contradiction next to an `ls` that lists the file.
fn dangling(path: &Path) -> Option<std::io::Error> {
    let target = std::fs::read_link(path).ok()?;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "it is a symlink to `{}`, which does not exist",
                target.display()
            ),
        )),
        _ => None,
    }
}

impl Config {
    /// Loads `path`, or `./supplygate.yaml` when `path` is `None` and something is there, or
    /// the defaults.
    ///
    /// The defaults apply only when nothing at all exists at the default path: a dangling
    /// symlink, a directory or an unreadable file there is an error naming it, never a
    /// silent fall-back to a config that may allow more.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_FILE);
                match std::fs::symlink_metadata(&default) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Ok(Self::default());
                    }
                    Err(source) => {
                        return Err(ConfigError::Read {
                            path: default,
                            source,
                        })
                    }
                    Ok(_) => default,
                }
            }
        };
        // Bounded, and a FIFO or device in the config's place is refused, never waited on.
        let limit = Limits::default().max_file_bytes;
        let text = crate::bounded::read_text(&path, limit).map_err(|source| ConfigError::Read {
            source: dangling(&path).unwrap_or(source),
            path: path.clone(),
        })?;
        let Some(text) = text else {
            return Err(ConfigError::Syntax(
                crate::manifest::ManifestError::TooLarge {
                    origin: Arc::new(Origin::File(path)),
                    limit,
                },
            ));
        };
        Self::parse(&text, &path)
    }

    /// Validates config text; `path` names the file in messages and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let origin = Arc::new(Origin::File(path.to_path_buf()));
        let docs = yaml::parse_documents(text, &origin, &Limits::default())
            .map_err(ConfigError::Syntax)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut v = Validator {
            problems: Vec::new(),
            base,
            layout_sites: Vec::new(),
            file: path.display().to_string(),
            broken_signers: BTreeSet::new(),
        };
        let mut config = Config {
            file: Some(path.to_path_buf()),
            ..Config::default()
        };
        let mut docs = docs.into_iter();
        if let Some(doc) = docs.next() {
            v.top(&doc.root, &mut config);
        }
        if let Some(extra) = docs.next() {
            v.problem(
                &extra.root,
                "config has more than one YAML document".into(),
                Some("remove the `---` separator".into()),
            );
        }
        let has_rules = !config.requirements.is_empty()
            || !config.provenance.is_empty()
            || config.policy.unmatched_images != Unmatched::Allow;
        if !config.policy.builtin && has_rules {
            v.problems.push(Problem {
                line: 1,
                column: 1,
                message: "`policy.builtin: false` drops the shipped library, which is what \
                          enforces `require`, `provenance` and `policy.unmatched_images`"
                    .into(),
                hint: Some(
                    "keep the shipped library, or express these rules in your own policies \
                     (with `policy.data`) and remove them here"
                        .into(),
                ),
            });
        }
        if let Some(name) = v
            .broken_signers
            .iter()
            .next()
            .filter(|_| v.problems.is_empty())
        {
            // Fail closed: the rules naming a signer that did not load were dropped, which
            // must never leave a config that loads without them.
            v.problems.push(Problem {
                line: 1,
                column: 1,
                message: format!("signer `{name}` could not be loaded"),
                hint: None,
            });
        }
        if v.problems.is_empty() {
            config.layout_sites = v.layout_sites;
            Ok(config)
        } else {
            v.problems.sort_by_key(|p| (p.line, p.column));
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: v.problems,
            })
        }
    }
}

struct Validator {
    problems: Vec<Problem>,
    base: PathBuf,
    layout_sites: Vec<LayoutSite>,
    /// The config file as messages name it.
    file: String,
    /// Signers defined in the file that failed to load (their problem is reported already):
    /// still defined names, so a rule naming one is not also told the name is unknown.
    broken_signers: BTreeSet<String>,
}
