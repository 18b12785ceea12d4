//! `supplygate.yaml`: raw YAML -> validated [`Config`], every problem reported at once with its
//! line and column, unknown keys rejected with a did-you-mean hint.
//!
//! The schema lives in three places that tests keep in step: the `KEYS_*` lists below, the
//! JSON Schema `supplygate.schema.json` at the repository root, and docs/configuration.md.

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

mod notation;

/// The config file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "supplygate.yaml";

const KEYS_TOP: &[&str] = &[
    "registries",
    "network",
    "images",
    "limits",
    "signers",
    "tuf",
    "require",
    "provenance",
    "source",
    "policies",
    "policy",
    "exemptions",
    "break_glass",
    "paths",
];
const KEYS_POLICY: &[&str] = &[
    "builtin",
    "paths",
    "data",
    "allowed_registries",
    "allow_latest",
    "unmatched_images",
    "unknown_image_fields",
    "timeout",
];
const KEYS_EXEMPTION: &[&str] = &["images", "namespaces", "reason", "expires"];
const KEYS_BREAK_GLASS: &[&str] = &["annotation", "namespaces"];
const KEYS_PROVENANCE: &[&str] = &["images", "signers", "builders", "source", "refs"];
const KEYS_SOURCE: &[&str] = &["commit_key", "clones"];
const KEYS_SIGNER: &[&str] = &[
    "key",
    "insecure_ignore_tlog",
    "trusted_root",
    "keyless",
    "notation",
];
const KEYS_KEYLESS: &[&str] = &[
    "issuer",
    "subject",
    "subject_regex",
    "trusted_root",
    "insecure_skip_sct",
    "repo",
    "owner",
    "signer_workflow",
    "source_ref",
    "deny_self_hosted_runners",
    "timestamp_threshold",
    "allow_timestamp_only",
];
const KEYS_TUF: &[&str] = &[
    "url",
    "root",
    "cache_dir",
    "timeout",
    "insecure_fallback_to_embedded",
];
const KEYS_REQUIRE: &[&str] = &["images", "signers"];
const KEYS_HOST: &[&str] = &["concurrency", "insecure", "layout", "mirrors"];
const KEYS_NETWORK: &[&str] = &[
    "concurrency",
    "connect_timeout",
    "request_timeout",
    "retries",
    "max_manifest_bytes",
    "offline",
    "docker_config",
];
const KEYS_IMAGES: &[&str] = &["extra"];
const KEYS_EXTRA: &[&str] = &["kind", "api_version", "pod_specs", "images"];
const KEYS_PATHS: &[&str] = &["exclude"];
const KEYS_LIMITS: &[&str] = &["max_file_bytes", "max_depth", "max_nodes"];

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
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            source: dangling(&path).unwrap_or(source),
            path: path.clone(),
        })?;
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

/// The context name [`Validator::fields`] is given for the file's top-level mapping.
const TOP_LEVEL: &str = "";

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

impl Validator {
    fn problem(&mut self, node: &Node, message: String, hint: Option<String>) {
        // A cause a dependency wrote verbatim (a DER decoder, serde_json) gets a sentence in
        // the user's terms; the message keeps the cause.
        let hint = hint.or_else(|| {
            crate::report::explain_dependency_error(&message)
                .map(|e| format!("{}; {}", e.meaning, e.action))
        });
        self.problems.push(Problem {
            line: node.span.line,
            column: node.span.column,
            message,
            hint,
        });
    }

    fn expected(&mut self, node: &Node, what: &str, key: &str) {
        let place = self.place(key);
        self.problem(
            node,
            format!("{place} must be {what}, found {}", node.kind_name()),
            None,
        );
    }

    /// `key` in backticks, or the file itself for [`TOP_LEVEL`]: whatever the file is
    /// called, messages name it, not the default `supplygate.yaml`.
    fn place(&self, key: &str) -> String {
        if key == TOP_LEVEL {
            format!("the top level of `{}`", self.file)
        } else {
            format!("`{key}`")
        }
    }

    /// The entries of a mapping whose keys must be in `known`; reports unknown keys.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        known: &[&str],
        key: &str,
    ) -> Vec<(&'n str, &'n Node)> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(entries) = node.as_mapping() else {
            self.expected(node, "a mapping", key);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, value) in entries {
            let Some(name) = k.as_str() else {
                let place = self.place(key);
                self.problem(k, format!("keys of {place} must be strings"), None);
                continue;
            };
            if known.contains(&name) {
                out.push((name, value));
            } else {
                let hint = did_you_mean(name, known)
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("known keys: {}", backticked(known))));
                let place = self.place(key);
                self.problem(k, format!("unknown key `{name}` in {place}"), hint);
            }
        }
        out
    }

    fn top(&mut self, root: &Node, config: &mut Config) {
        let fields = self.fields(root, KEYS_TOP, TOP_LEVEL);
        // Signers first: `require` refers to them by name wherever it stands in the file.
        for (key, value) in &fields {
            if *key == "signers" {
                self.signers(value, &mut config.signers);
            }
        }
        for (key, value) in fields {
            match key {
                "registries" => self.registries(value, &mut config.registry),
                "network" => self.network(value, &mut config.registry),
                "images" => self.images(value, &mut config.extra_images),
                "limits" => self.limits(value, &mut config.limits),
                "require" => self.require(value, &config.signers, &mut config.requirements),
                "provenance" => self.provenance(value, &config.signers, &mut config.provenance),
                "source" => self.source(value, &mut config.source),
                "policy" => self.policy(value, &mut config.policy),
                "paths" => self.paths(value, &mut config.paths),
                // `policies: [dir, …]` is shorthand for `policy.paths`.
                "policies" => {
                    for (_, p) in self.string_items(value, "policies") {
                        config.policy.paths.push(self.resolve(&p));
                    }
                }
                "exemptions" => self.exemptions(value, &mut config.exemptions),
                "tuf" => self.tuf(value, &mut config.tuf),
                "break_glass" => self.break_glass(value, &mut config.break_glass),
                _ => {}
            }
        }
    }

    fn signers(&mut self, node: &Node, out: &mut BTreeMap<String, Arc<Signer>>) {
        if node.is_null() {
            return;
        }
        let Some(entries) = node.as_mapping() else {
            self.expected(node, "a mapping of signer names", "signers");
            return;
        };
        for (k, value) in entries {
            let Some(name) = k.as_str() else {
                self.problem(k, "signer names must be strings".into(), None);
                continue;
            };
            let ctx = format!("signers.{name}");
            let fields = self.fields(value, KEYS_SIGNER, &ctx);
            let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            let ignore_tlog = match field("insecure_ignore_tlog") {
                Some(v) => self.boolean(v, "insecure_ignore_tlog").unwrap_or(false),
                None => false,
            };
            let signer = match (field("key"), field("keyless")) {
                _ if field("notation").is_some() => {
                    for other in ["key", "keyless", "trusted_root", "insecure_ignore_tlog"] {
                        if let Some(v) = field(other) {
                            self.problem(
                                v,
                                format!("`{other}` does not go with `notation:` (signer `{name}`)"),
                                Some("define two signers".into()),
                            );
                        }
                    }
                    field("notation").and_then(|n| self.notation_signer(name, n))
                }
                (Some(key), None) => self.key_signer(name, key, ignore_tlog, field("trusted_root")),
                (None, Some(keyless)) => {
                    if let Some(v) = field("trusted_root") {
                        self.problem(
                            v,
                            "`trusted_root` of a keyless signer goes under `keyless:`".into(),
                            None,
                        );
                    }
                    if let Some(v) = field("insecure_ignore_tlog") {
                        self.problem(
                            v,
                            "`insecure_ignore_tlog` applies to `key` signers only".into(),
                            Some("keyless signatures always need a log or timestamp proof".into()),
                        );
                    }
                    self.keyless_signer(name, keyless)
                }
                (Some(_), Some(_)) => {
                    self.problem(
                        value,
                        format!("signer `{name}` has both `key` and `keyless`"),
                        Some("define two signers".into()),
                    );
                    None
                }
                (None, None) => {
                    if value.as_mapping().is_some() || value.is_null() {
                        self.problem(
                            k,
                            format!("signer `{name}` needs `key`, `keyless` or `notation`"),
                            Some("e.g. `key: keys/cosign.pub`".into()),
                        );
                    }
                    None
                }
            };
            match signer {
                Some(signer) => {
                    out.insert(name.to_owned(), Arc::new(signer));
                }
                None => {
                    self.broken_signers.insert(name.to_owned());
                }
            }
        }
    }

    fn key_signer(
        &mut self,
        name: &str,
        node: &Node,
        ignore_tlog: bool,
        root: Option<&Node>,
    ) -> Option<Signer> {
        let root = match root {
            Some(v) => {
                let path = self.path(v, "trusted_root")?;
                match signers::load_trusted_root(&path) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.problem(v, format!("trusted root `{}`: {e}", path.display()), None);
                        return None;
                    }
                }
            }
            None => None,
        };
        let text = self.string(node, "key")?;
        let pem = if text.contains("-----BEGIN") {
            text
        } else {
            let path = self.resolve(&text);
            match std::fs::read_to_string(&path) {
                Ok(pem) => pem,
                Err(e) => {
                    self.problem(
                        node,
                        format!("cannot read key `{}`: {e}", path.display()),
                        None,
                    );
                    return None;
                }
            }
        };
        let tlog = if ignore_tlog {
            signers::TlogPolicy::InsecureIgnore
        } else {
            signers::TlogPolicy::Require
        };
        match Signer::key_with_trusted_root(name, &pem, tlog, root) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(node, format!("signer `{name}`: {e}"), None);
                None
            }
        }
    }

    fn keyless_signer(&mut self, name: &str, node: &Node) -> Option<Signer> {
        let ctx = format!("signers.{name}.keyless");
        let fields = self.fields(node, KEYS_KEYLESS, &ctx);
        let mut issuer = None;
        let mut subject = None;
        let mut root = None;
        let mut subject_node = None;
        let mut skip_sct = false;
        let mut threshold = 1;
        let mut timestamp_only = false;
        let mut constraints = crate::verify::CertificateConstraints::default();
        for (key, v) in fields {
            match key {
                "repo" | "owner" | "signer_workflow" | "source_ref" => {
                    let Some(text) = self.string(v, key) else {
                        continue;
                    };
                    let parsed = match key {
                        "repo" => crate::verify::CertificateConstraints::repository(&text),
                        "owner" => crate::verify::CertificateConstraints::owner(&text),
                        "signer_workflow" => {
                            crate::verify::CertificateConstraints::signer_workflow(&text)
                        }
                        _ => crate::verify::CertificateConstraints::source_ref(&text),
                    };
                    match parsed {
                        Ok(value) => {
                            let slot = match key {
                                "repo" => &mut constraints.source_repository,
                                "owner" => &mut constraints.source_owner,
                                "signer_workflow" => &mut constraints.signer_workflow,
                                _ => &mut constraints.source_ref,
                            };
                            *slot = Some(value);
                        }
                        Err(e) => self.problem(v, format!("`{key}`: {e}"), None),
                    }
                }
                "deny_self_hosted_runners" => {
                    constraints.deny_self_hosted_runners = self.boolean(v, key).unwrap_or(false)
                }
                "issuer" => issuer = self.string(v, key),
                "subject" | "subject_regex" => {
                    if subject_node.is_some() {
                        self.problem(
                            v,
                            "give `subject` or `subject_regex`, not both".into(),
                            None,
                        );
                        continue;
                    }
                    subject_node = Some(v);
                    let Some(text) = self.string(v, key) else {
                        continue;
                    };
                    subject = if key == "subject" {
                        Some(SubjectMatcher::Exact(text))
                    } else {
                        match SubjectMatcher::regex(&text) {
                            Ok(m) => Some(m),
                            Err(e) => {
                                self.problem(v, e.to_string(), None);
                                None
                            }
                        }
                    };
                }
                "insecure_skip_sct" => skip_sct = self.boolean(v, key).unwrap_or(false),
                "timestamp_threshold" => {
                    threshold = self
                        .count(v, key, 1, signers::TIMESTAMP_THRESHOLD_MAX)
                        .unwrap_or(1)
                }
                "allow_timestamp_only" => timestamp_only = self.boolean(v, key).unwrap_or(false),
                "trusted_root" => {
                    let Some(path) = self.path(v, key) else {
                        continue;
                    };
                    match signers::load_trusted_root(&path) {
                        Ok(r) => root = Some(r),
                        Err(e) => {
                            self.problem(v, format!("trusted root `{}`: {e}", path.display()), None)
                        }
                    }
                }
                _ => {}
            }
        }
        // A non-mapping was already reported by `fields`.
        node.as_mapping()?;
        if issuer.is_none() {
            self.problem(
                node,
                format!("keyless signer `{name}` needs an `issuer`"),
                Some("e.g. `issuer: https://token.actions.githubusercontent.com`".into()),
            );
        }
        if subject_node.is_none() {
            self.problem(
                node,
                format!("keyless signer `{name}` needs `subject` or `subject_regex`"),
                Some(
                    "trusting every identity of an issuer trusts everyone who can log in there"
                        .into(),
                ),
            );
        }
        let built = Signer::keyless(name, issuer?, subject?, root)
            .and_then(|s| s.with_timestamp_threshold(threshold))
            .map(|s| if skip_sct { s.insecure_skip_sct() } else { s })
            .map(|s| {
                if timestamp_only {
                    s.allow_timestamp_only()
                } else {
                    s
                }
            });
        match built {
            Ok(s) => Some(s.with_constraints(constraints)),
            Err(e) => {
                self.problem(node, format!("signer `{name}`: {e}"), None);
                None
            }
        }
    }

    fn require(
        &mut self,
        node: &Node,
        signers: &BTreeMap<String, Arc<Signer>>,
        out: &mut Vec<Requirement>,
    ) {
        if node.is_null() {
            return;
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of rules", "require");
            return;
        };
        for item in items {
            let mut rule = Requirement {
                images: Vec::new(),
                signers: Vec::new(),
                line: item.span.line,
            };
            let mut named_broken = false;
            for (key, v) in self.fields(item, KEYS_REQUIRE, "require[]") {
                match key {
                    "images" => self.image_globs(v, &mut rule.images),
                    "signers" => named_broken |= self.signer_refs(v, signers, &mut rule.signers),
                    _ => {}
                }
            }
            if named_broken {
                // Its signer's problem is reported; the rule is not usable, nor wrong.
                continue;
            }
            if item.as_mapping().is_some() && (rule.images.is_empty() || rule.signers.is_empty()) {
                self.problem(
                    item,
                    "a `require` rule needs `images` and `signers`".into(),
                    None,
                );
                continue;
            }
            out.push(rule);
        }
    }

    /// Adds the named signers to `out`; true when one of the names is a signer that failed to
    /// load (reported where it is defined, not again here).
    fn signer_refs(
        &mut self,
        node: &Node,
        signers: &BTreeMap<String, Arc<Signer>>,
        out: &mut Vec<Arc<Signer>>,
    ) -> bool {
        let mut named_broken = false;
        for name in self.string_items(node, "signers") {
            let (entry, text) = name;
            if let Some(s) = signers.get(&text) {
                out.push(Arc::clone(s));
            } else if self.broken_signers.contains(&text) {
                named_broken = true;
            } else {
                let known: Vec<&str> = signers.keys().map(String::as_str).collect();
                let hint = did_you_mean(&text, &known)
                    .map(|k| format!("did you mean `{k}`?"))
                    .unwrap_or_else(|| "define it under `signers:`".to_owned());
                self.problem(entry, format!("unknown signer `{text}`"), Some(hint));
            }
        }
        named_broken
    }

    /// The string items of a list, with their nodes (non-strings are reported).
    fn string_items<'n>(&mut self, node: &'n Node, key: &str) -> Vec<(&'n Node, String)> {
        let Some(list) = node.as_sequence() else {
            if !node.is_null() {
                self.expected(node, "a list of strings", key);
            }
            return Vec::new();
        };
        list.iter()
            .filter_map(|entry| self.string(entry, key).map(|s| (entry, s)))
            .collect()
    }

    fn image_globs(&mut self, node: &Node, out: &mut Vec<ImageGlob>) {
        for (entry, text) in self.string_items(node, "images") {
            match ImageGlob::parse(&text) {
                Ok(g) => out.push(g),
                Err(e) => self.problem(
                    entry,
                    format!("invalid image glob `{text}`: {e}"),
                    e.hint().map(str::to_owned),
                ),
            }
        }
    }

    fn provenance(
        &mut self,
        node: &Node,
        signers: &BTreeMap<String, Arc<Signer>>,
        out: &mut Vec<ProvenanceRule>,
    ) {
        if node.is_null() {
            return;
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of rules", "provenance");
            return;
        };
        for item in items {
            let mut rule = ProvenanceRule {
                images: Vec::new(),
                signers: Vec::new(),
                builders: Vec::new(),
                source: None,
                refs: Vec::new(),
                line: item.span.line,
            };
            let mut named_broken = false;
            for (key, v) in self.fields(item, KEYS_PROVENANCE, "provenance[]") {
                match key {
                    "images" => self.image_globs(v, &mut rule.images),
                    "signers" => {
                        named_broken |= self.signer_refs(v, signers, &mut rule.signers);
                        self.no_notation_provenance(v, &rule.signers);
                    }
                    "builders" => {
                        for (_, b) in self.string_items(v, key) {
                            rule.builders.push(match b.strip_suffix('*') {
                                Some(prefix) => BuilderRule::Prefix(prefix.to_owned()),
                                None => BuilderRule::Exact(b),
                            });
                        }
                    }
                    "source" => {
                        if let Some(text) = self.string(v, key) {
                            match normalise_repository(&text) {
                                Some(repo) => rule.source = Some(repo),
                                None => self.problem(
                                    v,
                                    format!("`{text}` is not a repository URL"),
                                    Some("e.g. `https://github.com/acme/app`".into()),
                                ),
                            }
                        }
                    }
                    "refs" => {
                        for (entry, text) in self.string_items(v, key) {
                            match RefPattern::parse(&text) {
                                Ok(p) => rule.refs.push(p),
                                Err(e) => self.problem(
                                    entry,
                                    e.to_string(),
                                    Some("e.g. `refs/heads/main` or `refs/tags/v*`".into()),
                                ),
                            }
                        }
                    }
                    _ => {}
                }
            }
            if named_broken {
                continue;
            }
            if item.as_mapping().is_some() && (rule.images.is_empty() || rule.signers.is_empty()) {
                self.problem(
                    item,
                    "a `provenance` rule needs `images` and `signers`".into(),
                    Some("unsigned provenance proves nothing: name who must have signed it".into()),
                );
                continue;
            }
            out.push(rule);
        }
    }

    fn policy(&mut self, node: &Node, out: &mut PolicySettings) {
        for (key, v) in self.fields(node, KEYS_POLICY, "policy") {
            match key {
                "builtin" => {
                    if let Some(b) = self.boolean(v, key) {
                        out.builtin = b;
                    }
                }
                "paths" => {
                    for (_, p) in self.string_items(v, key) {
                        out.paths.push(self.resolve(&p));
                    }
                }
                "data" => {
                    if v.as_mapping().is_none() {
                        self.expected(v, "a mapping", "policy.data");
                    } else {
                        out.data = v.to_json();
                    }
                }
                "allowed_registries" => self.image_globs(v, &mut out.allowed_registries),
                "allow_latest" => {
                    if let Some(b) = self.boolean(v, key) {
                        out.allow_latest = b;
                    }
                }
                "unmatched_images" => {
                    if let Some(u) = self.unmatched(v, "policy.unmatched_images") {
                        out.unmatched_images = u;
                    }
                }
                "unknown_image_fields" => {
                    if let Some(u) = self.unmatched(v, "policy.unknown_image_fields") {
                        out.unknown_image_fields = u;
                    }
                }
                "timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        out.timeout = d;
                    }
                }
                _ => {}
            }
        }
    }

    /// `allow`, `warn` or `deny`, with a did-you-mean hint.
    fn unmatched(&mut self, v: &Node, key: &str) -> Option<Unmatched> {
        let text = self.string(v, key)?;
        match text.as_str() {
            "allow" => Some(Unmatched::Allow),
            "warn" => Some(Unmatched::Warn),
            "deny" => Some(Unmatched::Deny),
            _ => {
                let hint =
                    did_you_mean(&text, &Unmatched::NAMES).map(|s| format!("did you mean `{s}`?"));
                self.problem(
                    v,
                    format!("`{key}` must be `allow`, `warn` or `deny`, found `{text}`"),
                    hint,
                );
                None
            }
        }
    }

    fn paths(&mut self, node: &Node, out: &mut PathSettings) {
        for (key, v) in self.fields(node, KEYS_PATHS, "paths") {
            if key == "exclude" {
                for (item, glob) in self.string_items(v, "paths.exclude") {
                    match PathGlob::parse(&glob) {
                        Ok(g) => out.exclude.push(g),
                        Err(e) => self.problem(item, format!("`paths.exclude`: {e}"), None),
                    }
                }
            }
        }
    }

    fn exemptions(&mut self, node: &Node, out: &mut Vec<Exemption>) {
        if node.is_null() {
            return;
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of exemptions", "exemptions");
            return;
        };
        for item in items {
            let mut images = Vec::new();
            let mut namespaces = Vec::new();
            let mut reason = None;
            let mut expires = None;
            let mut expires_given = false;
            for (key, v) in self.fields(item, KEYS_EXEMPTION, "exemptions[]") {
                match key {
                    "images" => self.image_globs(v, &mut images),
                    "namespaces" => namespaces = self.namespaces(v, "exemptions[].namespaces"),
                    "reason" => reason = self.string(v, key).filter(|r| !r.trim().is_empty()),
                    "expires" => {
                        expires_given = true;
                        let Some(text) = self.string(v, key) else {
                            continue;
                        };
                        match parse_expiry(&text) {
                            Some(t) => expires = Some((t, text)),
                            None => self.problem(
                                v,
                                format!(
                                    "`expires` must be a date or an RFC 3339 time, found `{text}`"
                                ),
                                Some("e.g. `2026-12-31` (the end of that day, UTC)".into()),
                            ),
                        }
                    }
                    _ => {}
                }
            }
            if item.as_mapping().is_none() {
                continue;
            }
            let missing: Vec<&str> = [
                ("images", images.is_empty()),
                ("reason", reason.is_none()),
                ("expires", !expires_given),
            ]
            .into_iter()
            .filter_map(|(k, m)| m.then_some(k))
            .collect();
            if !missing.is_empty() {
                self.problem(
                    item,
                    format!("an exemption needs {}", backticked(&missing)),
                    Some("every exemption says why and until when".into()),
                );
                continue;
            }
            if let (Some(reason), Some((expires, expires_written))) = (reason, expires) {
                out.push(Exemption {
                    images,
                    namespaces,
                    reason,
                    expires,
                    expires_written,
                    line: item.span.line,
                });
            }
        }
    }

    /// Namespace names; an empty one would match every manifest that names no namespace.
    /// An empty list is an error: `exemptions[].namespaces: []` once meant "every namespace"
    /// while `break_glass.namespaces: []` meant "none", and a list that reads as "none" must
    /// never grant everything (leave the key out for every namespace).
    fn namespaces(&mut self, node: &Node, key: &str) -> Vec<String> {
        let empty = node.is_null() || node.as_sequence().is_some_and(|l| l.is_empty());
        if empty {
            self.problem(
                node,
                format!("`{key}` is an empty list: it would be unclear whether it means no namespace or every one"),
                Some(if key.starts_with("exemptions") {
                    "name the namespaces, or leave `namespaces` out to exempt in every namespace".into()
                } else {
                    "name the namespaces, or leave `namespaces` out to honour break-glass nowhere".into()
                }),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (entry, name) in self.string_items(node, "namespaces") {
            if name.trim().is_empty() {
                self.problem(
                    entry,
                    "an empty namespace would match every manifest without `metadata.namespace`"
                        .into(),
                    Some("name the namespaces explicitly".into()),
                );
            } else {
                out.push(name);
            }
        }
        out
    }

    fn break_glass(&mut self, node: &Node, out: &mut BreakGlass) {
        for (key, v) in self.fields(node, KEYS_BREAK_GLASS, "break_glass") {
            match key {
                "annotation" => {
                    if let Some(a) = self.string(v, key) {
                        out.annotation = a;
                    }
                }
                "namespaces" => out.namespaces = self.namespaces(v, "break_glass.namespaces"),
                _ => {}
            }
        }
    }

    fn source(&mut self, node: &Node, out: &mut SourceSettings) {
        for (key, v) in self.fields(node, KEYS_SOURCE, "source") {
            match key {
                "commit_key" => {
                    if let Some(k) = self.string(v, key) {
                        out.commit_key = k;
                    }
                }
                "clones" => {
                    let Some(entries) = v.as_mapping() else {
                        if !v.is_null() {
                            self.expected(v, "a mapping of repository URL to path", key);
                        }
                        continue;
                    };
                    for (k, path) in entries {
                        let Some(url) = k.as_str() else { continue };
                        let Some(repo) = normalise_repository(url) else {
                            self.problem(k, format!("`{url}` is not a repository URL"), None);
                            continue;
                        };
                        if let Some(p) = self.path(path, "clones") {
                            out.clones.insert(repo, p);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn registries(&mut self, node: &Node, settings: &mut RegistrySettings) {
        if node.is_null() {
            return;
        }
        let Some(entries) = node.as_mapping() else {
            self.expected(node, "a mapping of registry hosts", "registries");
            return;
        };
        for (k, value) in entries {
            let Some(host) = k.as_str() else {
                self.problem(k, "registry hosts must be strings".into(), None);
                continue;
            };
            if let Some(reason) = invalid_host(host) {
                self.problem(k, format!("invalid registry host `{host}`: {reason}"), None);
                continue;
            }
            let mut h = HostSettings::default();
            let ctx = format!("registries.{host}");
            for (key, v) in self.fields(value, KEYS_HOST, &ctx) {
                match key {
                    "insecure" => {
                        if let Some(b) = self.boolean(v, key) {
                            h.insecure = b;
                        }
                    }
                    "layout" => {
                        h.layout = self.path(v, key);
                        if let Some(path) = &h.layout {
                            self.layout_sites.push(LayoutSite {
                                host: host.to_owned(),
                                path: path.clone(),
                                line: v.span.line,
                                column: v.span.column,
                            });
                        }
                    }
                    "mirrors" => h.mirrors = self.strings(v, key),
                    "concurrency" => h.concurrency = self.count(v, key, 1, 1024),
                    _ => {}
                }
            }
            for m in &h.mirrors {
                if let Some(reason) = invalid_host(m) {
                    self.problem(value, format!("invalid mirror host `{m}`: {reason}"), None);
                }
            }
            settings.hosts.insert(host.to_owned(), h);
        }
    }

    fn network(&mut self, node: &Node, s: &mut RegistrySettings) {
        for (key, v) in self.fields(node, KEYS_NETWORK, "network") {
            match key {
                "concurrency" => {
                    if let Some(n) = self.count(v, key, 1, 1024) {
                        s.concurrency = n;
                    }
                }
                "connect_timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        s.connect_timeout = d;
                    }
                }
                "request_timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        s.request_timeout = d;
                    }
                }
                "retries" => {
                    if let Some(n) = self.count(v, key, 0, 10) {
                        s.retries = u32::try_from(n).unwrap_or(10);
                    }
                }
                "max_manifest_bytes" => {
                    if let Some(n) = self.count(v, key, 1024, 64 * 1024 * 1024) {
                        s.max_manifest_bytes = n;
                    }
                }
                "offline" => {
                    if let Some(b) = self.boolean(v, key) {
                        s.offline = b;
                    }
                }
                "docker_config" => s.docker_config = self.path(v, key),
                _ => {}
            }
        }
    }

    fn images(&mut self, node: &Node, extra: &mut ExtraImagePaths) {
        for (key, v) in self.fields(node, KEYS_IMAGES, "images") {
            if key != "extra" {
                continue;
            }
            let Some(items) = v.as_sequence() else {
                if !v.is_null() {
                    self.expected(v, "a list of rules", "images.extra");
                }
                continue;
            };
            for item in items {
                let mut rule = ExtraRule {
                    kind: String::new(),
                    api_version: None,
                    pod_specs: Vec::new(),
                    images: Vec::new(),
                };
                let mut has_kind = false;
                for (k, value) in self.fields(item, KEYS_EXTRA, "images.extra[]") {
                    match k {
                        "kind" => {
                            if let Some(s) = self.string(value, k) {
                                rule.kind = s;
                                has_kind = true;
                            }
                        }
                        "api_version" => rule.api_version = self.string(value, k),
                        "pod_specs" => rule.pod_specs = self.field_paths(value, k),
                        "images" => rule.images = self.field_paths(value, k),
                        _ => {}
                    }
                }
                if item.as_mapping().is_some() {
                    if !has_kind {
                        self.problem(item, "an `images.extra` rule needs a `kind`".into(), None);
                    }
                    if rule.pod_specs.is_empty() && rule.images.is_empty() {
                        self.problem(
                            item,
                            "an `images.extra` rule needs `pod_specs` or `images`".into(),
                            Some("e.g. `pod_specs: [spec.template.spec]`".into()),
                        );
                    }
                }
                extra.rules.push(rule);
            }
        }
    }

    fn tuf(&mut self, node: &Node, out: &mut TufSettings) {
        let mut url_node = None;
        for (key, v) in self.fields(node, KEYS_TUF, "tuf") {
            match key {
                "url" => {
                    if let Some(url) = self.string(v, key) {
                        out.url = url;
                        url_node = Some(v);
                    }
                }
                "root" => out.root = self.path(v, key),
                "cache_dir" => out.cache_dir = self.path(v, key),
                "timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        out.timeout = d;
                    }
                }
                "insecure_fallback_to_embedded" => {
                    if let Some(b) = self.boolean(v, key) {
                        out.insecure_fallback_to_embedded = b;
                    }
                }
                _ => {}
            }
        }
        if let Err(e) = tuf::validate(out) {
            let hint = match e {
                tuf::TufError::MissingRoot { .. } => None,
                _ => Some(format!("e.g. `{}`", tuf::PUBLIC_GOOD_URL)),
            };
            self.problem(url_node.unwrap_or(node), e.to_string(), hint);
        }
    }

    fn limits(&mut self, node: &Node, limits: &mut Limits) {
        for (key, v) in self.fields(node, KEYS_LIMITS, "limits") {
            match key {
                "max_file_bytes" => {
                    if let Some(n) = self.count(v, key, 1, 1 << 30) {
                        limits.max_file_bytes = n as u64;
                    }
                }
                "max_depth" => {
                    if let Some(n) = self.count(v, key, 8, 1024) {
                        limits.max_depth = n;
                    }
                }
                "max_nodes" => {
                    if let Some(n) = self.count(v, key, 1000, 100_000_000) {
                        limits.max_nodes = n;
                    }
                }
                _ => {}
            }
        }
    }

    fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        let b = node.as_bool();
        if b.is_none() {
            self.expected(node, "`true` or `false`", key);
        }
        b
    }

    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_str() {
            Some(s) if node.as_mapping().is_none() && node.as_sequence().is_none() => {
                Some(s.to_owned())
            }
            _ => {
                self.expected(node, "a string", key);
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, key: &str) -> Vec<String> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of strings", key);
            return Vec::new();
        };
        items.iter().filter_map(|i| self.string(i, key)).collect()
    }

    fn field_paths(&mut self, node: &Node, key: &str) -> Vec<String> {
        let paths = self.strings(node, key);
        if let Some(items) = node.as_sequence() {
            for (item, p) in items.iter().zip(&paths) {
                if let Err(e) = FieldPath::parse(p) {
                    self.problem(
                        item,
                        format!(
                            "invalid field path `{p}`: {} at character {}",
                            e.message, e.position
                        ),
                        Some(
                            "write paths like `spec.template.spec` or `spec.steps[*].image`".into(),
                        ),
                    );
                }
            }
        }
        paths
    }

    fn path(&mut self, node: &Node, key: &str) -> Option<PathBuf> {
        let s = self.string(node, key)?;
        Some(self.resolve(&s))
    }

    /// A path relative to the config file's directory.
    fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    fn count(&mut self, node: &Node, key: &str, min: usize, max: usize) -> Option<usize> {
        match node.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.problem(
                    node,
                    format!("`{key}` is {n}; it must be between {min} and {max}"),
                    None,
                );
                None
            }
            None => {
                self.expected(node, "a whole number", key);
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let parsed = match node.as_u64() {
            Some(secs) => Some(Duration::from_secs(secs)),
            None => node.as_str().and_then(parse_duration),
        };
        match parsed {
            Some(d) if !d.is_zero() && d <= Duration::from_secs(3600) => Some(d),
            Some(_) => {
                self.problem(
                    node,
                    format!("`{key}` must be more than 0 and at most 1h"),
                    None,
                );
                None
            }
            None => {
                self.problem(
                    node,
                    format!("`{key}` must be a duration"),
                    Some("e.g. `500ms`, `10s`, `2m`, or a number of seconds".into()),
                );
                None
            }
        }
    }
}

/// An exemption's end: an RFC 3339 time, or a date meaning the end of that day (UTC).
pub fn parse_expiry(text: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    let date: jiff::civil::Date = text.parse().ok()?;
    let next = date.tomorrow().ok()?;
    next.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Parses `500ms`, `10s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

fn invalid_host(host: &str) -> Option<&'static str> {
    if host.contains("://") {
        return Some("write the host without a scheme (`registry.example.com:5000`)");
    }
    if host.contains('/') {
        return Some("a host has no path");
    }
    let probe = format!("{host}/probe");
    match crate::reference::ImageRef::parse(&probe) {
        Ok(r) if r.registry() == host || host == "docker.io" => None,
        Ok(_) if host == "index.docker.io" => None,
        _ => Some("expected a host name or address with an optional port"),
    }
}

fn backticked(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest known word to `word`, when close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1) + usize::from(word.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + usize::from(ca != *cb);
            let del = prev
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let ins = cur.get(j).copied().unwrap_or(usize::MAX).saturating_add(1);
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or_default()
}

/// Every key the schema knows, by section, for the schema-consistency test.
pub fn known_keys() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("", KEYS_TOP),
        ("registries.*", KEYS_HOST),
        ("network", KEYS_NETWORK),
        ("images", KEYS_IMAGES),
        ("images.extra[]", KEYS_EXTRA),
        ("limits", KEYS_LIMITS),
        ("signers.*", KEYS_SIGNER),
        ("signers.*.keyless", KEYS_KEYLESS),
        ("signers.*.notation", notation::KEYS_NOTATION),
        ("tuf", KEYS_TUF),
        ("require[]", KEYS_REQUIRE),
        ("provenance[]", KEYS_PROVENANCE),
        ("source", KEYS_SOURCE),
        ("policy", KEYS_POLICY),
        ("exemptions[]", KEYS_EXEMPTION),
        ("break_glass", KEYS_BREAK_GLASS),
        ("paths", KEYS_PATHS),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match Config::parse(text, Path::new("supplygate.yaml")) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_full_config() {
        let text = "\
registries:
  127.0.0.1:5000:
    insecure: true
  demo.example:
    layout: layouts/demo
    mirrors: [mirror.example:5000]
  mirror.example:5000:
    concurrency: 2
network:
  concurrency: 4
  connect_timeout: 500ms
  request_timeout: 2m
  retries: 1
  offline: false
images:
  extra:
    - kind: Rollout
      api_version: argoproj.io
      pod_specs: [spec.template.spec]
limits:
  max_depth: 64
";
        let c = Config::parse(text, Path::new("conf/supplygate.yaml")).unwrap();
        assert!(c.registry.hosts["127.0.0.1:5000"].insecure);
        let demo = &c.registry.hosts["demo.example"];
        assert_eq!(demo.layout.as_deref(), Some(Path::new("conf/layouts/demo")));
        assert_eq!(demo.mirrors, vec!["mirror.example:5000"]);
        assert_eq!(demo.concurrency, None);
        assert_eq!(c.registry.hosts["mirror.example:5000"].concurrency, Some(2));
        assert_eq!(c.registry.concurrency, 4);
        assert_eq!(c.registry.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.registry.request_timeout, Duration::from_secs(120));
        assert_eq!(c.registry.retries, 1);
        assert_eq!(c.extra_images.rules[0].kind, "Rollout");
        assert_eq!(
            c.extra_images.rules[0].pod_specs,
            vec!["spec.template.spec"]
        );
        assert_eq!(c.limits.max_depth, 64);
    }

    #[test]
    fn empty_config_is_the_default() {
        let c = Config::parse("", Path::new("x.yaml")).unwrap();
        assert_eq!(
            c.registry.concurrency,
            RegistrySettings::default().concurrency
        );
    }

    #[test]
    fn rejects_unknown_keys_with_location_and_hint() {
        let p = problems("registries:\n  ghcr.io:\n    insecur: true\nnetwrk: {}\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (3, 5));
        assert!(p[0].message.contains("unknown key `insecur`"), "{:?}", p[0]);
        assert_eq!(p[0].hint.as_deref(), Some("did you mean `insecure`?"));
        assert_eq!((p[1].line, p[1].column), (4, 1));
        assert_eq!(p[1].hint.as_deref(), Some("did you mean `network`?"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let p = problems(
            "network:\n  concurrency: lots\n  connect_timeout: soon\n  retries: 99\nlimits: []\n",
        );
        let lines: Vec<usize> = p.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5], "{p:?}");
        assert!(p[0].message.contains("whole number"));
        assert!(p[1].hint.as_deref().unwrap().contains("500ms"));
        assert!(p[2].message.contains("between 0 and 10"));
        assert!(p[3].message.contains("must be a mapping"));
    }

    #[test]
    fn host_concurrency_is_a_whole_number_from_1_to_1024() {
        let p = problems(
            "registries:\n  a.example:\n    concurrency: 0\n  b.example:\n    concurrency: many\n  c.example:\n    concurrency: 1025\n  d.example:\n    concurrancy: 2\n",
        );
        let at: Vec<(usize, usize)> = p.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(at, [(3, 18), (5, 18), (7, 18), (9, 5)], "{p:?}");
        assert!(p[0].message.contains("between 1 and 1024"), "{:?}", p[0]);
        assert!(p[1].message.contains("whole number"), "{:?}", p[1]);
        assert!(p[2].message.contains("`concurrency` is 1025"), "{:?}", p[2]);
        assert_eq!(p[3].hint.as_deref(), Some("did you mean `concurrency`?"));
        let c = Config::parse(
            "registries:\n  a.example:\n    concurrency: 1\n  b.example:\n    concurrency: 1024\n",
            Path::new("x.yaml"),
        )
        .unwrap();
        assert_eq!(c.registry.hosts["a.example"].concurrency, Some(1));
        assert_eq!(c.registry.hosts["b.example"].concurrency, Some(1024));
    }

    #[test]
    fn rejects_bad_hosts_and_paths() {
        let p = problems(
            "registries:\n  https://ghcr.io:\n    insecure: true\nimages:\n  extra:\n    - kind: X\n      images: ['a..b']\n    - api_version: v1\n",
        );
        assert!(p[0].message.contains("without a scheme") || p[0].message.contains("scheme"));
        assert!(p
            .iter()
            .any(|x| x.message.contains("invalid field path `a..b`")));
        assert!(p.iter().any(|x| x.message.contains("needs a `kind`")));
    }

    #[test]
    fn error_display_lists_file_line_column() {
        let err = Config::parse("nework: {}\n", Path::new("ci/supplygate.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ci/supplygate.yaml:1:1: unknown key `nework`"),
            "{text}"
        );
        assert!(text.contains("did you mean `network`?"), "{text}");
    }

    #[test]
    fn exemptions_need_images_reason_and_expiry() {
        let p = problems(
            "exemptions:\n  - images: [ghcr.io/a/*]\n    reason: legacy\n  - images: [x]\n    expires: someday\n    reason: r\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].line, 2);
        assert!(p[0].message.contains("needs `expires`"), "{p:?}");
        assert_eq!(p[1].line, 5);
        assert!(p[1].message.contains("`expires` must be a date"), "{p:?}");
    }

    #[test]
    fn exemption_date_means_the_end_of_that_day() {
        let c = Config::parse(
            "exemptions:\n  - images: [ghcr.io/a/*]\n    namespaces: [legacy]\n    reason: r\n    expires: 2026-12-31\n",
            Path::new("s.yaml"),
        )
        .unwrap();
        let e = &c.exemptions[0];
        assert_eq!(e.expires.to_string(), "2027-01-01T00:00:00Z");
        assert_eq!(e.namespaces, vec!["legacy"]);
        assert_eq!(
            parse_expiry("2026-06-01T12:00:00Z").unwrap().to_string(),
            "2026-06-01T12:00:00Z"
        );
    }

    #[test]
    fn policy_and_break_glass_settings() {
        let c = Config::parse(
            "policy:\n  paths: [extra]\n  data: {team: a}\n  allowed_registries: [ghcr.io/**]\n  allow_latest: true\n  timeout: 2s\nbreak_glass:\n  namespaces: [ops]\n",
            Path::new("conf/s.yaml"),
        )
        .unwrap();
        assert_eq!(c.policy.paths, vec![PathBuf::from("conf/extra")]);
        assert_eq!(c.policy.data["team"], "a");
        assert!(c.policy.allow_latest);
        assert_eq!(c.policy.timeout, Duration::from_secs(2));
        assert_eq!(c.break_glass.annotation, "supplygate.dev/break-glass");
        assert_eq!(c.break_glass.namespaces, vec!["ops"]);
    }

    #[test]
    fn refuses_overrides_that_would_match_namespace_less_manifests() {
        let p = problems("break_glass:\n  namespaces: [\"\", ops]\nexemptions:\n  - images: [x]\n    namespaces: [\" \"]\n    reason: r\n    expires: 2030-01-01\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter().all(|p| p.message.contains("empty namespace")),
            "{p:?}"
        );
    }

    #[test]
    fn refuses_dropping_the_library_that_enforces_the_rules() {
        let p = problems(
            "signers:\n  k:\n    key: |\n      -----BEGIN PUBLIC KEY-----\n      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfA3b0ffjJL8Zpd49DdQg3fl9O7cf\n      WApIEJumKC6nt6WXnPTi7bbqRvckHfiPD6+0repNrMtrr5SksJD8fSLvlg==\n      -----END PUBLIC KEY-----\nrequire:\n  - images: [\"**\"]\n    signers: [k]\npolicy:\n  builtin: false\n",
        );
        assert!(
            p.iter()
                .any(|p| p.message.contains("`policy.builtin: false` drops")),
            "{p:?}"
        );
        let p = problems("policy:\n  builtin: false\n  unmatched_images: deny\n");
        assert!(
            p.iter()
                .any(|p| p.message.contains("`policy.builtin: false` drops")),
            "{p:?}"
        );
        let allow = "policy:\n  builtin: false\n  unmatched_images: allow\n";
        assert!(Config::parse(allow, Path::new("supplygate.yaml")).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("3"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1d"), None);
    }

    #[test]
    fn did_you_mean_only_for_close_words() {
        assert_eq!(did_you_mean("registry", KEYS_TOP), Some("registries"));
        assert_eq!(did_you_mean("zzz", KEYS_TOP), None);
    }

    const KEYLESS_AND_KEY: &str = "signers:\n  ci:\n    keyless:\n      issuer: https://token.actions.githubusercontent.com\n      subject: https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main\n  k:\n    insecure_ignore_tlog: true\n    key: |\n      -----BEGIN PUBLIC KEY-----\n      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfA3b0ffjJL8Zpd49DdQg3fl9O7cf\n      WApIEJumKC6nt6WXnPTi7bbqRvckHfiPD6+0repNrMtrr5SksJD8fSLvlg==\n      -----END PUBLIC KEY-----\nrequire:\n  - images: [\"**\"]\n    signers: [ci, k]\n";

    #[test]
    fn tuf_settings_are_read_and_checked() {
        let c = Config::parse(
            "tuf:\n  url: https://tuf.example.internal/\n  root: tuf/root.json\n  cache_dir: /var/cache/sg\n  timeout: 15s\n",
            Path::new("/etc/sg/supplygate.yaml"),
        )
        .unwrap();
        assert_eq!(c.tuf.url, "https://tuf.example.internal/");
        assert_eq!(c.tuf.root, Some(PathBuf::from("/etc/sg/tuf/root.json")));
        assert_eq!(c.tuf.cache_dir, Some(PathBuf::from("/var/cache/sg")));
        assert_eq!(c.tuf.timeout, Duration::from_secs(15));
        assert!(!c.tuf.insecure_fallback_to_embedded);
        assert_eq!(Config::default().tuf.url, tuf::PUBLIC_GOOD_URL);

        let p = problems("tuf:\n  url: https://tuf.example.internal\n  rooot: x\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("set `tuf.root`"), "{p:?}");
        assert_eq!((p[0].line, p[0].column), (2, 8));
        assert_eq!(p[1].hint.as_deref(), Some("did you mean `root`?"));
        let p = problems("tuf:\n  url: file:///tmp/tuf\n  root: r.json\n");
        assert!(p[0].message.contains("is not an http(s) URL"), "{p:?}");
    }

    #[test]
    fn key_only_configs_need_no_tuf_refresh() {
        let c = Config::parse(KEYLESS_AND_KEY, Path::new("supplygate.yaml")).unwrap();
        assert!(c.needs_tuf_refresh());
        let key_only = KEYLESS_AND_KEY.replace("signers: [ci, k]", "signers: [k]");
        let start = key_only.find("  ci:").unwrap();
        let end = key_only.find("  k:").unwrap();
        let key_only = format!("{}{}", &key_only[..start], &key_only[end..]);
        let c = Config::parse(&key_only, Path::new("supplygate.yaml")).unwrap();
        assert!(!c.needs_tuf_refresh(), "{key_only}");
    }

    #[test]
    fn a_tuf_root_reaches_the_rules_that_name_the_signer() {
        use crate::verify::signers::{parse_trusted_root, RootSource};
        let mut c = Config::parse(KEYLESS_AND_KEY, Path::new("supplygate.yaml")).unwrap();
        let root =
            parse_trusted_root(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
                .unwrap();
        c.use_tuf_root(&SharedRoot::new(Arc::new(root)).unwrap());
        assert!(!c.needs_tuf_refresh());
        for s in c.signers.values().chain(&c.requirements[0].signers) {
            assert_eq!(s.root_source(), RootSource::Tuf, "{}", s.name);
        }
        assert!(Arc::ptr_eq(&c.signers["ci"], &c.requirements[0].signers[0]));
    }

    #[test]
    fn json_schema_knows_the_same_keys() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("supplygate.schema.json")).unwrap();
        let props = |v: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = v["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let defs = &schema["$defs"];
        let sections = [
            ("", &schema),
            ("registries.*", &defs["host"]),
            ("network", &defs["network"]),
            ("images", &defs["images"]),
            ("images.extra[]", &defs["extraRule"]),
            ("limits", &defs["limits"]),
            ("signers.*", &defs["signer"]),
            ("signers.*.keyless", &defs["keyless"]),
            ("signers.*.notation", &defs["notation"]),
            ("tuf", &defs["tuf"]),
            ("require[]", &defs["requirement"]),
            ("provenance[]", &defs["provenanceRule"]),
            ("source", &defs["source"]),
            ("policy", &defs["policy"]),
            ("exemptions[]", &defs["exemption"]),
            ("break_glass", &defs["breakGlass"]),
            ("paths", &defs["paths"]),
        ];
        let known = known_keys();
        for (name, node) in sections {
            let mut expected: Vec<String> = known[name].iter().map(|s| s.to_string()).collect();
            expected.sort();
            assert_eq!(props(node), expected, "section `{name}`");
            assert_eq!(node["additionalProperties"], serde_json::json!(false));
        }
    }
}
