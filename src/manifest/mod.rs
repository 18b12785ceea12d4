//! Stage (1): Kubernetes manifests (YAML or JSON) -> workloads -> container image sites,
//! each with the file, line and column of its `image:` value.
//!
//! [`load`] reads files, directories and stdin under [`Limits`]; [`extract`] parses each
//! source with [`yaml`] (exact spans, limits enforced while streaming) and finds the image
//! sites; [`rewrite`] puts new values back byte-exactly for `supplygate pin`.
//!
//! Where images are looked for, in each object (and in each item of a `List` or `*List`):
//! - built-in workloads, recognised by `kind` *and* API group: the pod spec of `v1` `Pod`,
//!   `ReplicationController` and `PodTemplate`; `apps/*` `Deployment`, `ReplicaSet`,
//!   `StatefulSet` and `DaemonSet` (and the legacy `extensions/*` `Deployment`, `ReplicaSet`,
//!   `DaemonSet`); `batch/*` `Job` and `CronJob`;
//! - kinds named by an [`ExtraRule`] (CRDs): its `pod_specs` and `images` paths;
//! - any other object, including a custom resource that borrows a built-in kind's name in its
//!   own group (Volcano's `batch.volcano.sh` `Job`) and an object without `apiVersion` or
//!   `kind`: every `containers`, `initContainers` and `ephemeralContainers` list of mappings,
//!   and every `volumes` list with an `image` volume, found anywhere in the object. A CRD that
//!   embeds a pod template (Argo Rollout, Knative Service, Volcano Job, ...) is thus checked
//!   even without a rule, rather than passing unseen. An object without `apiVersion`/`kind`
//!   and without any container is skipped.
//!
//! In a pod spec, images are the `image` of every container and the `image.reference` of
//! every image volume (`volumes[].image`, which the kubelet pulls like a container image).
//! An `image` (or `reference`) that is missing or null is skipped (the API server rejects or
//! defaults it); a scalar of another YAML type (`image: 1.0`) is kept as its text, and a
//! mapping or list is kept as its JSON text (`{"repository":"nginx"}`), so that both fail the
//! reference check at their location rather than passing unseen.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kinds::{GENERIC_CONTAINERS, GENERIC_IMAGE_KEY, USER_RULE};
use yaml::Node;

pub mod changed;
pub mod exclude;
pub mod kinds;
pub mod rewrite;
pub mod yaml;

pub use rewrite::{apply_edits, write_atomic, Edit, RewriteError};

/// Where a manifest came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A file on disk (as given or found when walking a directory).
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// A text with a name of its own, not a file: an object from an admission request
    /// (`Deployment shop/web`).
    Named(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Stdin => f.write_str("<stdin>"),
            Self::Named(name) => f.write_str(name),
        }
    }
}

/// A manifest file's text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it came from.
    pub origin: Arc<Origin>,
    /// The whole text, UTF-8.
    pub text: String,
}

/// Size and shape limits for untrusted YAML.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes visited in one document, counting every alias expansion; also the most
    /// nodes that anchors and aliases may copy in one file (see [`yaml`]).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 16 * 1024 * 1024,
            max_depth: 128,
            max_nodes: 1_000_000,
        }
    }
}

/// A position in a text: 1-based line and column (in characters), and the byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Byte offset of the first byte (for a quoted scalar: the opening quote).
    pub start: usize,
    /// Byte offset one past the last byte (for a quoted scalar: past the closing quote).
    pub end: usize,
}

/// How the `image:` scalar is written, so that `pin` can keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScalarStyle {
    /// `image: nginx`
    Plain,
    /// `image: 'nginx'`
    SingleQuoted,
    /// `image: "nginx"`
    DoubleQuoted,
    /// `image: |` or `>` block scalars.
    Block,
}

/// Which list of a pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerKind {
    /// `containers`
    Container,
    /// `initContainers`
    Init,
    /// `ephemeralContainers`
    Ephemeral,
    /// An image volume (`volumes[].image.reference`); the site's `container` is the volume's name.
    Volume,
    /// An image path from config (`images:` of an extra kind).
    Other,
}

/// The Kubernetes object an image site belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resource {
    /// `apiVersion`
    pub api_version: String,
    /// `kind`
    pub kind: String,
    /// `metadata.namespace`
    pub namespace: Option<String>,
    /// `metadata.name`
    pub name: Option<String>,
    /// `metadata.labels`
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`
    pub annotations: BTreeMap<String, String>,
    /// 0-based index of the YAML document in its file.
    pub document: usize,
    /// 1-based line where the object starts.
    pub line: usize,
}

/// One `image:` value in a manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSite {
    /// The file it is in.
    #[serde(serialize_with = "serialize_origin")]
    pub origin: Arc<Origin>,
    /// Where the value is.
    pub span: Span,
    /// The scalar's value (unquoted, unescaped); for a mapping or list, its JSON text (never a
    /// valid reference).
    pub image: String,
    /// How the scalar is written.
    pub style: ScalarStyle,
    /// The object it belongs to.
    pub resource: Arc<Resource>,
    /// The container's `name`, when the image is in a container; the volume's `name` for an
    /// image volume.
    pub container: Option<String>,
    /// Which container list.
    pub container_kind: ContainerKind,
    /// Path from the object root, e.g. `spec.template.spec.containers[0].image`.
    pub path: String,
    /// Which extractor found it: `kubernetes` (built-in workloads), a custom resource's
    /// extractor (`argo-workflows`, `tekton`, ... see [`kinds`]), `images.extra` (a user
    /// rule), or the generic pass (`generic-containers`, `generic-image-key`).
    pub extractor: &'static str,
}

fn serialize_origin<S: serde::Serializer>(o: &Arc<Origin>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(o)
}

/// A document that was not read as a Kubernetes object, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The file.
    pub origin: Arc<Origin>,
    /// 0-based document index.
    pub document: usize,
    /// 1-based line of the document start.
    pub line: usize,
    /// Why (e.g. "no `apiVersion`/`kind`").
    pub reason: String,
}

/// Extra places to find images in kinds the tool does not know (CRDs), from config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraImagePaths {
    /// Rules, tried in order for every object.
    pub rules: Vec<ExtraRule>,
}

/// One CRD rule: which objects, and where their pod specs or image fields are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRule {
    /// `kind` to match exactly.
    pub kind: String,
    /// `apiVersion` to match: exact (`argoproj.io/v1alpha1`) or group only (`argoproj.io`); `None` matches any.
    pub api_version: Option<String>,
    /// Paths to pod specs (`spec.template.spec`): containers, initContainers, ephemeralContainers are read there.
    pub pod_specs: Vec<String>,
    /// Paths to image scalars (`spec.steps[*].image`).
    pub images: Vec<String>,
}

/// What one source yielded.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// Image sites in document order.
    pub sites: Vec<ImageSite>,
    /// Documents that were not Kubernetes objects.
    pub skipped: Vec<Skipped>,
    /// Documents read that are not empty (a document of comments only is empty).
    pub documents: usize,
    /// Kubernetes objects read (a mapping with `apiVersion` and `kind`, an item of a typed
    /// list, or an object without them whose containers were checked); the items of a `List`
    /// count, the list itself does not.
    pub objects: usize,
    /// Kustomizations that change images (`images:`, patches, Helm charts): the files as
    /// written are not what is deployed. `line` is the field's, `reason` names it.
    pub kustomizations: Vec<Skipped>,
    /// Documents whose top level is a scalar or a list (`Error: ...` printed by a failed render
    /// step, `[]`): kubectl refuses them. Also in `skipped`.
    pub not_objects: Vec<Skipped>,
}

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Could not read a file or directory.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Malformed YAML/JSON, or a limit exceeded while reading it.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        origin: Arc<Origin>,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// YAML that Kubernetes' reader (go-yaml) and ours could read differently: refused rather
    /// than read one way and applied another (see `docs/yaml.md`).
    #[error("{origin}:{line}:{column}: {message}")]
    Ambiguous {
        /// The file.
        origin: Arc<Origin>,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The construct and why it is refused.
        message: String,
    },
    /// The file is larger than [`Limits::max_file_bytes`].
    #[error("{origin}: file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The file.
        origin: Arc<Origin>,
        /// The limit.
        limit: u64,
    },
    /// The file is not UTF-8.
    #[error("{origin}: not valid UTF-8")]
    NotUtf8 {
        /// The file.
        origin: Arc<Origin>,
    },
}

/// Reads files, directories (recursively: .yaml, .yml, .json, sorted) and `-` (stdin).
///
/// A directory is walked depth first in name order; hidden entries (`.git`, `.github`,
/// `.gitlab-ci.yml`) and symbolic links to directories are skipped. A file named explicitly is
/// read whatever its extension. `-` reads standard input once, however often it is given.
///
/// # Errors
/// [`ManifestError::Io`] for a path that cannot be read, [`ManifestError::TooLarge`] for a file
/// over `limits.max_file_bytes` (found without reading more than the limit), and
/// [`ManifestError::NotUtf8`]. The first error ends the load; [`load_each`] goes on instead.
pub fn load(paths: &[PathBuf], limits: &Limits) -> Result<Vec<Source>, ManifestError> {
    load_each(paths, limits).into_iter().collect()
}

/// Like [`load`], but goes on after an error: one result per file found (a path that cannot
/// be listed gives one error), in the same order.
#[must_use]
pub fn load_each(paths: &[PathBuf], limits: &Limits) -> Vec<Result<Source, ManifestError>> {
    load_excluding(paths, limits, &[]).sources
}

/// What [`load_excluding`] read, and what it skipped on purpose.
#[derive(Debug, Default)]
pub struct Loaded {
    /// One result per file found, in walking order.
    pub sources: Vec<Result<Source, ManifestError>>,
    /// Paths an exclude glob matched (a directory counts once, its files are not listed).
    pub excluded: Vec<PathBuf>,
}

/// Like [`load_each`], skipping the paths (files and directories) that a glob of `exclude`
/// matches. In a directory only regular files are read (a FIFO named `x.yaml` would block the
/// run): any other file, and a dangling symbolic link, is an error naming itself. A path named
/// explicitly is read whatever it is (`<(kustomize build)` is a pipe).
#[must_use]
pub fn load_excluding(paths: &[PathBuf], limits: &Limits, exclude: &[exclude::PathGlob]) -> Loaded {
    let mut out = Loaded::default();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if !stdin_read {
                stdin_read = true;
                out.sources.push(read_limited(
                    std::io::stdin().lock(),
                    Arc::new(Origin::Stdin),
                    limits,
                ));
            }
            continue;
        }
        if exclude::excluded(exclude, &exclude_base(path, path)) {
            out.excluded.push(path.clone());
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_dir(path, limits, exclude, &mut out),
            Ok(_) => out.sources.push(read_file(path, limits)),
            Err(source) => out.sources.push(Err(ManifestError::Io {
                path: path.clone(),
                source,
            })),
        }
    }
    out
}

/// The path exclude globs see for `child`, found under the walked `root`: as walked for a
/// relative root; for an absolute one, relative to the current directory when under it, else
/// to the root's parent — so that `builds/**` cannot match the directories a checkout happens
/// to live in (`/builds/acme/repo/deploy`).
fn exclude_base(root: &Path, child: &Path) -> PathBuf {
    if root.is_relative() {
        return child.to_path_buf();
    }
    let base = std::env::current_dir()
        .ok()
        .filter(|cwd| cwd.parent().is_some() && root.starts_with(cwd))
        .or_else(|| root.parent().map(Path::to_path_buf));
    base.and_then(|b| child.strip_prefix(&b).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| child.to_path_buf())
}

fn walk_dir(root: &Path, limits: &Limits, exclude: &[exclude::PathGlob], out: &mut Loaded) {
    // Iterative, depth first, entries in name order: the stack holds the entries still to
    // visit, reversed so that the first name is popped first.
    let mut stack = vec![(root.to_path_buf(), true)];
    while let Some((path, is_dir)) = stack.pop() {
        if !is_dir {
            out.sources.push(read_file(&path, limits));
            continue;
        }
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(source) => {
                out.sources.push(Err(ManifestError::Io { path, source }));
                continue;
            }
        };
        let mut children = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(source) => {
                    out.sources.push(Err(ManifestError::Io {
                        path: path.clone(),
                        source,
                    }));
                    continue;
                }
            };
            let child = entry.path();
            let name = entry.file_name();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            // Hidden files are read: `kubectl apply -R` and Argo CD apply them too. Skipped:
            // `.git`, and the kubelet's own entries of a ConfigMap volume (`..data` and the
            // timestamped `..2026_…` directory, reached through the visible links).
            let lossy = name.to_string_lossy();
            if lossy == ".git" || (lossy.starts_with("..") && !file_type.is_file()) {
                tracing::debug!(path = %child.display(), "skipping");
                continue;
            }
            let is_dir = file_type.is_dir();
            // kustomize also reads a kustomization from a file named `Kustomization`.
            if !is_dir && !has_manifest_extension(&child) && name != "Kustomization" {
                continue;
            }
            if exclude::excluded(exclude, &exclude_base(root, &child)) {
                tracing::debug!(path = %child.display(), "excluded");
                out.excluded.push(child);
                continue;
            }
            if is_dir {
                children.push((child, true));
                continue;
            }
            // What a link points to, or the entry itself: only regular files are opened.
            let target = if file_type.is_symlink() {
                std::fs::metadata(&child)
            } else {
                entry.metadata()
            };
            match target {
                Ok(meta) if meta.is_dir() => {
                    tracing::debug!(path = %child.display(), "not following a link to a directory");
                }
                Ok(meta) if meta.is_file() => children.push((child, false)),
                Ok(_) => out.sources.push(Err(not_regular(child))),
                Err(source) if file_type.is_symlink() => {
                    let target = std::fs::read_link(&child)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".to_owned());
                    out.sources.push(Err(ManifestError::Io {
                        path: child,
                        source: std::io::Error::new(
                            source.kind(),
                            format!("dangling symbolic link to `{target}`: {source}"),
                        ),
                    }));
                }
                Err(source) => out.sources.push(Err(ManifestError::Io {
                    path: child,
                    source,
                })),
            }
        }
        children.sort();
        stack.extend(children.into_iter().rev());
    }
}

/// A FIFO, socket or device among the manifests of a directory: not opened (a FIFO would
/// block the run), but reported, since its content was not checked.
fn not_regular(path: PathBuf) -> ManifestError {
    ManifestError::Io {
        path,
        source: std::io::Error::other(
            "not a regular file (a FIFO, socket or device): not read; skip it with `--exclude`",
        ),
    }
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

fn read_file(path: &Path, limits: &Limits) -> Result<Source, ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let origin = Arc::new(Origin::File(path.to_path_buf()));
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > limits.max_file_bytes {
        return Err(ManifestError::TooLarge {
            origin,
            limit: limits.max_file_bytes,
        });
    }
    read_limited(file, origin, limits)
}

/// Reads the whole text, refusing more than `limits.max_file_bytes`.
fn read_limited(
    reader: impl Read,
    origin: Arc<Origin>,
    limits: &Limits,
) -> Result<Source, ManifestError> {
    let read = crate::bounded::read_at_most(reader, limits.max_file_bytes).map_err(|source| {
        ManifestError::Io {
            path: match origin.as_ref() {
                Origin::File(p) => p.clone(),
                Origin::Stdin => PathBuf::from("-"),
                Origin::Named(name) => PathBuf::from(name),
            },
            source,
        }
    })?;
    let Some(bytes) = read else {
        return Err(ManifestError::TooLarge {
            origin,
            limit: limits.max_file_bytes,
        });
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source { origin, text }),
        Err(_) => Err(ManifestError::NotUtf8 { origin }),
    }
}

/// Finds every image site in one source.
///
/// Documents are parsed one at a time, so memory holds one document tree at most. Sites come
/// in document order; within a document, in the order their values are written.
///
/// # Errors
/// [`ManifestError::Syntax`] or [`ManifestError::TooLarge`] when the text is not valid YAML or
/// exceeds `limits`; nothing is returned for the file then.
pub fn extract(
    source: &Source,
    extra: &ExtraImagePaths,
    limits: &Limits,
) -> Result<Extracted, ManifestError> {
    let mut out = Extracted::default();
    let mut index = 0;
    yaml::for_each_document(&source.text, &source.origin, limits, |doc| {
        let mut walker = Walker {
            origin: &source.origin,
            extra,
            limits,
            depth: 0,
            document: index,
            doc_line: doc.line,
            out: &mut out,
        };
        walker.document(&doc);
        index += 1;
        Ok(())
    })?;
    Ok(out)
}

/// The API group of an `apiVersion` (`""` for the core `v1`), or `None` when it is not of the
/// form `group/version` or `v1`.
pub(crate) fn api_group(api_version: &str) -> Option<&str> {
    match api_version.split_once('/') {
        Some((group, version)) if !group.is_empty() && !version.is_empty() => Some(group),
        Some(_) => None,
        None if api_version == "v1" => Some(""),
        None => None,
    }
}

/// Whether `group` is one of the API groups Kubernetes itself serves: their objects have known
/// fields (the API server prunes others), and only the workloads hold images.
fn kubernetes_group(group: &str) -> bool {
    const GROUPS: [&str; 6] = ["", "apps", "batch", "extensions", "autoscaling", "policy"];
    const K8S_IO: [&str; 18] = [
        "admissionregistration",
        "apiextensions",
        "apiregistration",
        "authentication",
        "authorization",
        "certificates",
        "coordination",
        "discovery",
        "events",
        "flowcontrol.apiserver",
        "internal.apiserver",
        "networking",
        "node",
        "rbac.authorization",
        "resource",
        "scheduling",
        "storage",
        "storagemigration",
    ];
    GROUPS.contains(&group)
        || group
            .strip_suffix(".k8s.io")
            .is_some_and(|g| K8S_IO.contains(&g))
}

/// Pod spec locations of the built-in workload kinds, matched by kind and API group: a custom
/// resource named `Job` or `Deployment` in another group has its own layout, and is searched.
pub fn builtin_pod_specs(api_version: &str, kind: &str) -> Option<&'static str> {
    let group = api_group(api_version)?;
    Some(match (group, kind) {
        ("", "Pod") => "spec",
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("batch", "Job") => "spec.template.spec",
        ("batch", "CronJob") => "spec.jobTemplate.spec.template.spec",
        ("", "PodTemplate") => "template.spec",
        _ => return None,
    })
}

/// The container lists of a pod spec, in the order Kubernetes starts them.
const CONTAINER_LISTS: [(&str, ContainerKind); 3] = [
    ("initContainers", ContainerKind::Init),
    ("containers", ContainerKind::Container),
    ("ephemeralContainers", ContainerKind::Ephemeral),
];

/// An object still to visit: the node, its path prefix (`items[2].` in a list), and the
/// `apiVersion`/`kind` a typed list (`PodList`) gives items that do not say.
struct Pending<'n> {
    node: &'n Node,
    prefix: String,
    inherited: Option<(String, String)>,
}

struct Walker<'a> {
    origin: &'a Arc<Origin>,
    extra: &'a ExtraImagePaths,
    limits: &'a Limits,
    /// How many embedded manifests deep this walker reads (Argo `resource.manifest`).
    depth: usize,
    document: usize,
    /// Where the document starts (its `---`, or its first token).
    doc_line: usize,
    out: &'a mut Extracted,
}

impl Walker<'_> {
    fn skip(&mut self, line: usize, reason: String) {
        tracing::debug!(origin = %self.origin, document = self.document, line, "skipped: {reason}");
        self.out.skipped.push(Skipped {
            origin: self.origin.clone(),
            document: self.document,
            line,
            reason,
        });
    }

    fn document(&mut self, doc: &yaml::Document) {
        if doc.root.is_null() {
            self.skip(doc.line, "empty document".to_owned());
            return;
        }
        self.out.documents += 1;
        if doc.root.as_mapping().is_none() {
            let reason = format!(
                "not a Kubernetes object: the document is {}",
                doc.root.kind_name()
            );
            self.out.not_objects.push(Skipped {
                origin: self.origin.clone(),
                document: self.document,
                line: doc.line,
                reason: reason.clone(),
            });
            self.skip(doc.line, reason);
            return;
        }
        if let Some((line, reason)) = kustomization_changes(&doc.root, self.origin) {
            self.out.kustomizations.push(Skipped {
                origin: self.origin.clone(),
                document: self.document,
                line,
                reason,
            });
        }
        let first_site = self.out.sites.len();
        let mut stack = vec![Pending {
            node: &doc.root,
            prefix: String::new(),
            inherited: None,
        }];
        while let Some(pending) = stack.pop() {
            let mut items = self.object(pending);
            items.reverse();
            stack.extend(items);
        }
        if let Some(sites) = self.out.sites.get_mut(first_site..) {
            sites.sort_by_key(|s| s.span.start);
        }
    }

    /// Reads one object; returns the items of a list, to be read next.
    fn object<'n>(&mut self, p: Pending<'n>) -> Vec<Pending<'n>> {
        let node = p.node;
        let line = if p.prefix.is_empty() {
            self.doc_line
        } else {
            node.span.line
        };
        let at = if p.prefix.is_empty() {
            String::new()
        } else {
            format!("`{}`: ", p.prefix.trim_end_matches('.'))
        };
        if node.as_mapping().is_none() {
            let kind = node.kind_name();
            self.skip(line, format!("{at}not a Kubernetes object: it is {kind}"));
            return Vec::new();
        }
        let own = |key: &str| {
            node.get(key)
                .and_then(Node::as_str)
                .filter(|s| !s.is_empty())
        };
        let (api_version, kind) = match (own("apiVersion"), own("kind"), &p.inherited) {
            (Some(a), Some(k), _) => (a.to_owned(), k.to_owned()),
            (a, k, Some((ia, ik))) => (
                a.map_or_else(|| ia.clone(), str::to_owned),
                k.map_or_else(|| ik.clone(), str::to_owned),
            ),
            (a, k, None) => {
                // Not a Kubernetes object as written, but fail closed: containers in it are
                // still checked (under whatever `apiVersion`/`kind` it has); only an object
                // without any is skipped.
                let resource = Arc::new(resource(
                    node,
                    a.unwrap_or_default().to_owned(),
                    k.unwrap_or_default().to_owned(),
                    self.document,
                ));
                let mut sink = SiteSink::new(self.origin, &resource);
                sink.extractor = GENERIC_CONTAINERS;
                sink.search_containers(node, &p.prefix, None);
                if sink.sites.is_empty() {
                    let what = "it has no string `apiVersion` and `kind`";
                    self.skip(line, format!("{at}not a Kubernetes object: {what}"));
                } else {
                    tracing::warn!(
                        origin = %self.origin,
                        line,
                        "{at}an object without `apiVersion` and `kind` has containers; checking them"
                    );
                    self.out.objects += 1;
                    self.out.sites.append(&mut sink.sites);
                }
                return Vec::new();
            }
        };
        let resource = Arc::new(resource(node, api_version, kind, self.document));
        let mut sink = SiteSink::new(self.origin, &resource);
        // Kubernetes' decoder reads any object with an `items` list as a list, whatever its
        // kind (`Pod` with `items:` included): kubectl applies the items, not the object. So
        // items are objects here too, and the rest of the object is searched as well.
        let items = node.get("items").and_then(Node::as_sequence);
        if items.is_none() {
            self.out.objects += 1;
        }
        {
            if let Some(items) = items {
                let (api_version, kind) = (&resource.api_version, &resource.kind);
                let inherited = (kind != "List" && kind.ends_with("List")).then(|| {
                    let item_kind = kind.strip_suffix("List").unwrap_or(kind).to_owned();
                    (api_version.clone(), item_kind)
                });
                // A custom resource may be named `*List` and have `items`: whatever else it
                // holds is searched too, so that a name cannot hide its containers.
                sink.generic(node, &p.prefix, Some("items"));
                self.out.sites.append(&mut sink.sites);
                return items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Pending {
                        node: item,
                        prefix: format!("{}items[{i}].", p.prefix),
                        inherited: inherited.clone(),
                    })
                    .collect();
            }
        }
        let rules: Vec<&ExtraRule> = self
            .extra
            .rules
            .iter()
            .filter(|r| r.matches(&resource.api_version, &resource.kind))
            .collect();
        let builtin = builtin_pod_specs(&resource.api_version, &resource.kind);
        if let Some(path) = builtin {
            sink.extractor = kinds::KUBERNETES;
            match FieldPath::parse(path) {
                Ok(fp) => {
                    for (spec, spec_path, _) in fp.resolve(node, &p.prefix) {
                        sink.pod_spec(spec, &spec_path);
                    }
                }
                Err(e) => tracing::debug!("{}{path}: {e}", p.prefix),
            }
        }
        // A user rule for the kind replaces the built-in extractor of a custom resource.
        let crd =
            kinds::builtin(&resource.api_version, &resource.kind).filter(|_| rules.is_empty());
        if let Some(extractor) = crd {
            sink.extractor = extractor.name;
            for fp in &extractor.pod_specs {
                for (spec, spec_path, _) in fp.resolve(node, &p.prefix) {
                    sink.pod_spec(spec, &spec_path);
                }
            }
            for (fp, kind) in &extractor.images {
                for (image, path, parent) in fp.resolve(node, &p.prefix) {
                    let name = parent.and_then(|c| c.get("name")).and_then(Node::as_str);
                    sink.image(image, path, name, *kind);
                }
            }
        }
        sink.extractor = USER_RULE;
        for rule in &rules {
            for text in &rule.pod_specs {
                match FieldPath::parse(text) {
                    Ok(fp) => {
                        for (spec, spec_path, _) in fp.resolve(node, &p.prefix) {
                            sink.pod_spec(spec, &spec_path);
                        }
                    }
                    Err(e) => tracing::warn!(
                        "ignoring `pod_specs` entry of the `{}` rule: {e}",
                        rule.kind
                    ),
                }
            }
            for text in &rule.images {
                match FieldPath::parse(text) {
                    Ok(fp) => {
                        for (image, path, parent) in fp.resolve(node, &p.prefix) {
                            let name = parent.and_then(|c| c.get("name")).and_then(Node::as_str);
                            sink.image(image, path, name, ContainerKind::Other);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("ignoring `images` entry of the `{}` rule: {e}", rule.kind)
                    }
                }
            }
        }
        self.argo_embedded(node, &resource, &p.prefix);
        // The generic pass, on every object but the built-in workloads and other objects of
        // Kubernetes' own API groups (whose fields the API server knows, and prunes when
        // unknown): whatever no extractor found (a field added in a later version, a kind
        // nobody knows) is still reported rather than skipped.
        if builtin.is_none() {
            let group = api_group(&resource.api_version);
            if group.is_some_and(kubernetes_group) {
                sink.extractor = GENERIC_CONTAINERS;
                sink.search_containers(node, &p.prefix, None);
            } else {
                sink.generic(node, &p.prefix, None);
            }
        }
        self.out.sites.append(&mut sink.sites);
        Vec::new()
    }
}

/// What makes the files as written other than what is deployed: a GitOps object that overrides
/// images ([`gitops_image_overrides`]), or a kustomization with a field that can change them
/// ([`kustomization_fields`]). Returns the field's line and a sentence naming the object.
fn kustomization_changes(root: &Node, origin: &Origin) -> Option<(usize, String)> {
    gitops_image_overrides(root).or_else(|| {
        kustomization_fields(root, origin)
            .map(|(line, why)| (line, format!("a kustomization: {why}")))
    })
}

/// Whether `root` is a kustomization (`Kustomization`/`Component` of `kustomize.config.k8s.io`
/// or without `apiVersion`, an object of that group without `kind`, or a kustomization file
/// without either) with a non-empty field outside [`KUSTOMIZATION_KEYS_WITHOUT_IMAGES`], or a
/// resource a directory walk does not read ([`unread_resources`]).
fn kustomization_fields(root: &Node, origin: &Origin) -> Option<(usize, String)> {
    // kustomize reads its file into Go structs, whose field names match in any case.
    let own = |key: &str| {
        root.as_mapping()?
            .iter()
            .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .and_then(|(_, v)| v.as_str())
    };
    let path = match origin {
        Origin::File(path) => Some(path.as_path()),
        _ => None,
    };
    let named = path
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains(&n));
    // kustomize reads `kind` alone (no `apiVersion`) and, for a file named as a kustomization,
    // neither.
    let is = match (own("apiVersion"), own("kind")) {
        (Some(a), Some("Kustomization" | "Component")) => {
            api_group(a) == Some("kustomize.config.k8s.io")
        }
        (None, Some("Kustomization" | "Component")) => true,
        // kustomize fills in a missing kind.
        (Some(a), None) => api_group(a) == Some("kustomize.config.k8s.io") || named,
        (None, None) => named,
        _ => false,
    };
    if !is {
        return None;
    }
    let entries = root.as_mapping()?;
    for (key, value) in entries {
        let Some(name) = key.as_str() else {
            return Some((
                key.span.line,
                "it has a key that is not a string".to_owned(),
            ));
        };
        let empty = value.is_null()
            || value.as_sequence().is_some_and(<[Node]>::is_empty)
            || value.as_mapping().is_some_and(<[(Node, Node)]>::is_empty);
        // kustomize reads its file into Go structs, whose field names match in any case.
        let lower = name.to_ascii_lowercase();
        if empty || KUSTOMIZATION_KEYS_WITHOUT_IMAGES.contains(&lower.as_str()) {
            continue;
        }
        if lower == "resources" {
            if let Some(why) = unread_resources(value, path) {
                return Some((value.span.line, why));
            }
            continue;
        }
        return Some((
            key.span.line,
            format!(
                "its `{name}` can change what kustomize renders (images, patches, transformers, \
                 generators, components)"
            ),
        ));
    }
    None
}

/// Kustomization fields that cannot change an image: names, labels, annotations, generated
/// ConfigMaps and Secrets. Any other non-empty field (`images`, `patches*`, `replacements`,
/// `transformers`, `generators`, `components`, `helmCharts`, `vars`, `configurations`, …)
/// means the rendered output must be checked instead.
const KUSTOMIZATION_KEYS_WITHOUT_IMAGES: &[&str] = &[
    "apiversion",
    "kind",
    "metadata",
    "namespace",
    "nameprefix",
    "namesuffix",
    "commonlabels",
    "labels",
    "commonannotations",
    "configmapgenerator",
    "secretgenerator",
    "generatoroptions",
    "sortoptions",
    "buildmetadata",
];

/// Why a Kustomization's `resources` are not all read as they are: an entry that is a
/// directory or a URL is another kustomization, built with its own transformers (and not
/// necessarily among the paths checked); on standard input nothing can be resolved.
fn unread_resources(value: &Node, path: Option<&Path>) -> Option<String> {
    let Some(items) = value.as_sequence() else {
        return Some("its `resources` is not a list".to_owned());
    };
    let dir = path.and_then(Path::parent);
    for item in items {
        let Some(entry) = item.as_str() else {
            return Some("its `resources` holds something other than a path".to_owned());
        };
        let remote = entry.contains("://") || entry.starts_with("github.com/");
        let file = dir.map(|d| d.join(entry));
        let is_file = file.as_deref().is_some_and(Path::is_file);
        if remote || !is_file {
            return Some(format!(
                "its resource `{entry}` is a directory, a URL or another kustomization, which \
                 kustomize builds with its own transformers"
            ));
        }
        // A resource a directory walk does not read (without a manifest extension, under
        // `.git`, or a kubelet `..` directory) would be rendered and never checked.
        let skipped = Path::new(entry).components().any(|c| {
            let name = c.as_os_str().to_string_lossy();
            name == ".git" || (name.starts_with("..") && c != std::path::Component::ParentDir)
        });
        if skipped || !file.as_deref().is_some_and(has_manifest_extension) {
            return Some(format!(
                "its resource `{entry}` is a file a directory walk does not read (not `.yaml`, \
                 `.yml` or `.json`, or under `.git`), so what kustomize renders from it is not \
                 checked"
            ));
        }
    }
    None
}

/// A GitOps object that overrides the images of what it deploys: a Flux `Kustomization`
/// (`kustomize.toolkit.fluxcd.io`) with `spec.images`, `spec.patches` or `spec.postBuild`
/// substitutions, or an Argo CD `Application`/`ApplicationSet` template whose source has
/// `kustomize.images`, `kustomize.patches` or Helm parameters naming an image. The manifests
/// it points at are then not what runs.
fn gitops_image_overrides(root: &Node) -> Option<(usize, String)> {
    let api = root.get("apiVersion").and_then(Node::as_str)?;
    let kind = root.get("kind").and_then(Node::as_str)?;
    let spec = root.get("spec")?;
    fn non_empty(n: Option<&Node>) -> Option<&Node> {
        n.filter(|v| {
            !(v.is_null()
                || v.as_sequence().is_some_and(<[Node]>::is_empty)
                || v.as_mapping().is_some_and(<[(Node, Node)]>::is_empty))
        })
    }
    match (api_group(api), kind) {
        (Some("kustomize.toolkit.fluxcd.io"), "Kustomization") => {
            for key in [
                "images",
                "patches",
                "patchesStrategicMerge",
                "patchesJson6902",
                "postBuild",
            ] {
                if let Some(v) = non_empty(spec.get(key)) {
                    return Some((
                        v.span.line,
                        format!(
                            "this Flux Kustomization's `spec.{key}` changes the objects it \
                             applies, so their images are not the ones written in them"
                        ),
                    ));
                }
            }
            None
        }
        (Some("helm.toolkit.fluxcd.io"), "HelmRelease") => {
            if let Some(v) = non_empty(spec.get("postRenderers")) {
                return Some((
                    v.span.line,
                    "this Flux HelmRelease's `spec.postRenderers` change the objects it \
                     renders"
                        .to_owned(),
                ));
            }
            for key in ["values", "valuesFrom"] {
                if let Some(v) = non_empty(spec.get(key)) {
                    let text = v.to_json().to_string().to_ascii_lowercase();
                    if key == "valuesFrom" || text.contains("image") {
                        return Some((
                            v.span.line,
                            format!(
                                "this Flux HelmRelease's `spec.{key}` may set the images of \
                                 what it renders"
                            ),
                        ));
                    }
                }
            }
            None
        }
        (Some("argoproj.io"), "ApplicationSet") => {
            // Generators and `templatePatch` fill the template in: any image override or
            // patch anywhere in the spec counts.
            let text = spec.to_json().to_string().to_ascii_lowercase();
            let overrides = ["\"images\"", "\"patches\"", "templatepatch", "image"]
                .iter()
                .find(|needle| text.contains(*needle));
            overrides.map(|needle| {
                (
                    spec.span.line,
                    format!(
                        "this Argo CD ApplicationSet's spec mentions {} (its generators or \
                         template patch may override the images of what it deploys)",
                        needle.trim_matches('"')
                    ),
                )
            })
        }
        (Some("argoproj.io"), "Application") => {
            let mut sources: Vec<&Node> = spec.get("source").into_iter().collect();
            if let Some(list) = spec.get("sources").and_then(Node::as_sequence) {
                sources.extend(list);
            }
            for source in sources {
                let kustomize = source.get("kustomize");
                for key in ["images", "patches"] {
                    if let Some(v) = non_empty(kustomize.and_then(|k| k.get(key))) {
                        return Some((
                            v.span.line,
                            format!(
                                "this Argo CD {kind}'s `kustomize.{key}` changes the images of \
                                 what it deploys"
                            ),
                        ));
                    }
                }
                if let Some(helm) = source.get("helm") {
                    let text = helm.to_json().to_string().to_ascii_lowercase();
                    if text.contains("image") {
                        return Some((
                            helm.span.line,
                            format!(
                                "this Argo CD {kind}'s Helm parameters or values name an image"
                            ),
                        ));
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// How deep embedded manifests are read (a `resource.manifest` creating a Workflow whose
/// templates create ...); deeper, the string is reported unread.
const MAX_EMBEDDED_DEPTH: usize = 4;

impl Walker<'_> {
    /// The strings of an Argo Workflows spec that hold images Argo runs: a `resource`
    /// template's `manifest` (an object Argo creates) and `podSpecPatch` (of the workflow, a
    /// template or the template defaults). They are parsed with the same reader and their
    /// image sites reported at the string's start, with the path inside the string after
    /// `#`; a string that cannot be read is a site of its own that no reference matches, so
    /// `policy.unknown_image_fields` decides it (never silence).
    fn argo_embedded(&mut self, node: &Node, resource: &Arc<Resource>, prefix: &str) {
        if api_group(&resource.api_version) != Some("argoproj.io") {
            return;
        }
        let spec = match resource.kind.as_str() {
            "Workflow" | "WorkflowTemplate" | "ClusterWorkflowTemplate" => "spec",
            "CronWorkflow" => "spec.workflowSpec",
            _ => return,
        };
        let mut fields = vec![(format!("{spec}.podSpecPatch"), false)];
        for t in kinds::argo_templates(spec) {
            fields.push((format!("{t}.resource.manifest"), true));
            // A manifest Argo reads from an artifact is nowhere in these files: reported
            // unread (a mapping, not a string), for `policy.unknown_image_fields` to decide.
            fields.push((format!("{t}.resource.manifestFrom"), true));
            fields.push((format!("{t}.podSpecPatch"), false));
        }
        for (path, manifest) in fields {
            let Ok(fp) = FieldPath::parse(&path) else {
                continue;
            };
            for (value, value_path, _) in fp.resolve(node, prefix) {
                self.embedded(value, &value_path, resource, manifest);
            }
        }
    }

    fn embedded(&mut self, value: &Node, path: &str, resource: &Arc<Resource>, manifest: bool) {
        let what = if manifest {
            "manifest"
        } else {
            "pod spec patch"
        };
        let text = match &value.value {
            yaml::Value::Scalar { text, .. } if !value.is_null() => text,
            yaml::Value::Null => return,
            _ if value.is_null() => return,
            _ => {
                let why = format!("it is {}, not a string", value.kind_name());
                return self.unread_embedded(value, path, resource, what, &why);
            }
        };
        if self.depth >= MAX_EMBEDDED_DEPTH {
            let why = format!("embedded more than {MAX_EMBEDDED_DEPTH} deep");
            return self.unread_embedded(value, path, resource, what, &why);
        }
        let origin = Arc::new(Origin::Named(format!("{} `{path}`", self.origin)));
        let docs = match yaml::parse_documents(text, &origin, self.limits) {
            Ok(docs) => docs,
            Err(e) => {
                let why = format!("not valid YAML: {e}");
                return self.unread_embedded(value, path, resource, what, &why);
            }
        };
        let mut inner = Extracted::default();
        if manifest {
            for (i, doc) in docs.iter().enumerate() {
                let mut walker = Walker {
                    origin: &origin,
                    extra: self.extra,
                    limits: self.limits,
                    depth: self.depth + 1,
                    document: i,
                    doc_line: doc.line,
                    out: &mut inner,
                };
                walker.document(doc);
            }
        } else {
            let mut sink = SiteSink::new(&origin, resource);
            for doc in &docs {
                sink.pod_spec(&doc.root, "");
            }
            inner.sites = sink.sites;
        }
        let style = match &value.value {
            yaml::Value::Scalar { style, .. } => *style,
            _ => ScalarStyle::Plain,
        };
        for site in inner.sites {
            // The object Argo creates, placed where its string is in the file.
            let mut object = (*site.resource).clone();
            object.document = resource.document;
            object.line = value.span.line;
            self.out.sites.push(ImageSite {
                origin: self.origin.clone(),
                span: value.span,
                style,
                resource: if manifest {
                    Arc::new(object)
                } else {
                    resource.clone()
                },
                path: format!("{path}#{}", site.path),
                extractor: kinds::ARGO_EMBEDDED,
                ..site
            });
        }
    }

    /// An embedded manifest or patch that could not be read: a site whose text is no
    /// reference, decided by `policy.unknown_image_fields`.
    fn unread_embedded(
        &mut self,
        value: &Node,
        path: &str,
        resource: &Arc<Resource>,
        what: &str,
        why: &str,
    ) {
        tracing::debug!(origin = %self.origin, "`{path}`: {why}");
        self.out.sites.push(ImageSite {
            origin: self.origin.clone(),
            span: value.span,
            image: format!("<{what} not read: {why}>"),
            style: ScalarStyle::Plain,
            resource: resource.clone(),
            container: None,
            container_kind: ContainerKind::Other,
            path: path.to_owned(),
            extractor: kinds::ARGO_EMBEDDED,
        });
    }
}

impl ExtraRule {
    /// Whether the rule applies to an object: same `kind`, and `apiVersion` equal to the
    /// rule's or (for a rule naming a group only) in the rule's group.
    #[must_use]
    pub fn matches(&self, api_version: &str, kind: &str) -> bool {
        if self.kind != kind {
            return false;
        }
        match &self.api_version {
            None => true,
            Some(want) => {
                want == api_version
                    || (!want.contains('/')
                        && api_version
                            .split_once('/')
                            .is_some_and(|(group, _)| group == want))
            }
        }
    }
}

fn resource(node: &Node, api_version: String, kind: String, document: usize) -> Resource {
    let metadata = node.get("metadata");
    let field = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let map = |key: &str| -> BTreeMap<String, String> {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Node::as_mapping)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
            .collect()
    };
    Resource {
        api_version,
        kind,
        namespace: field("namespace"),
        name: field("name"),
        labels: map("labels"),
        annotations: map("annotations"),
        document,
        line: node.span.line,
    }
}

/// Collects the image sites of one object, once per path.
struct SiteSink<'a> {
    origin: &'a Arc<Origin>,
    resource: &'a Arc<Resource>,
    seen: HashSet<String>,
    sites: Vec<ImageSite>,
    /// The extractor now at work, recorded with each site.
    extractor: &'static str,
}

impl<'a> SiteSink<'a> {
    fn new(origin: &'a Arc<Origin>, resource: &'a Arc<Resource>) -> Self {
        Self {
            origin,
            resource,
            seen: HashSet::new(),
            sites: Vec::new(),
            extractor: GENERIC_CONTAINERS,
        }
    }

    fn pod_spec(&mut self, spec: &Node, path: &str) {
        if spec.as_mapping().is_none() {
            if !spec.is_null() {
                tracing::debug!("`{path}` is {}, not a pod spec", spec.kind_name());
            }
            return;
        }
        for (list, kind) in CONTAINER_LISTS {
            if let Some(containers) = spec.get(list) {
                self.containers(containers, &join(path, list), kind);
            }
        }
        if let Some(volumes) = spec.get("volumes") {
            self.volumes(volumes, &join(path, "volumes"));
        }
    }

    /// The `image.reference` of every image volume (KEP-4639): the kubelet pulls it.
    fn volumes(&mut self, list: &Node, path: &str) {
        let Some(items) = list.as_sequence() else {
            if !list.is_null() {
                tracing::debug!("`{path}` is {}, not a list of volumes", list.kind_name());
            }
            return;
        };
        for (i, volume) in items.iter().enumerate() {
            let Some(image) = volume.get("image").filter(|v| !v.is_null()) else {
                continue;
            };
            let path = format!("{path}[{i}].image");
            let name = volume.get("name").and_then(Node::as_str);
            if image.as_mapping().is_none() {
                // Not an `ImageVolumeSource`: kept (as text, or as JSON that fails the
                // reference check) rather than passing unseen.
                self.image(image, path, name, ContainerKind::Volume);
                continue;
            }
            match image.get("reference") {
                Some(reference) => self.image(
                    reference,
                    format!("{path}.reference"),
                    name,
                    ContainerKind::Volume,
                ),
                None => tracing::debug!("`{path}` has no `reference`; skipping it"),
            }
        }
    }

    fn containers(&mut self, list: &Node, path: &str, kind: ContainerKind) {
        let Some(items) = list.as_sequence() else {
            if !list.is_null() {
                tracing::debug!("`{path}` is {}, not a list of containers", list.kind_name());
            }
            return;
        };
        for (i, container) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let name = container.get("name").and_then(Node::as_str);
            match container.get("image") {
                Some(image) => self.image(image, format!("{path}.image"), name, kind),
                None => tracing::debug!("`{path}` has no `image`; skipping it"),
            }
        }
    }

    fn image(&mut self, node: &Node, path: String, container: Option<&str>, kind: ContainerKind) {
        let (image, style) = match &node.value {
            yaml::Value::Scalar { text, style } if !node.is_null() => (text.clone(), *style),
            yaml::Value::Mapping(_) | yaml::Value::Sequence(_) => {
                tracing::debug!("`{path}` is {}, not an image", node.kind_name());
                (collection_text(node), ScalarStyle::Plain)
            }
            _ => {
                tracing::debug!("`{path}` is null; skipping it");
                return;
            }
        };
        if !self.seen.insert(path.clone()) {
            return;
        }
        self.sites.push(ImageSite {
            origin: self.origin.clone(),
            span: node.span,
            image,
            style,
            resource: self.resource.clone(),
            container: container.map(str::to_owned),
            container_kind: kind,
            path,
            extractor: self.extractor,
        });
    }

    /// The generic pass: container lists and image volumes anywhere in the object, then every
    /// value under a key named `image` outside `metadata` (except under the root's `skip`): a
    /// mapping or list there is a site too (as JSON text), not skipped.
    fn generic(&mut self, root: &Node, prefix: &str, skip: Option<&str>) {
        self.extractor = GENERIC_CONTAINERS;
        self.search_containers(root, prefix, skip);
        self.extractor = GENERIC_IMAGE_KEY;
        let mut stack = vec![(root, prefix.trim_end_matches('.').to_owned(), true)];
        while let Some((node, path, at_root)) = stack.pop() {
            match &node.value {
                yaml::Value::Mapping(entries) => {
                    for (k, v) in entries.iter().rev() {
                        let Some(key) = k.as_str() else { continue };
                        if at_root && (skip == Some(key) || key == "metadata") {
                            continue;
                        }
                        let child = join(&path, &path_key(key));
                        match &v.value {
                            yaml::Value::Scalar { .. } if key == "image" => {
                                let name = node.get("name").and_then(Node::as_str);
                                self.image(v, child, name, ContainerKind::Other);
                            }
                            // `image: {repository: ..., tag: ...}` or `image: [...]`: kept as
                            // JSON text, which is no reference, so `unrecognised-image-field`
                            // decides it; what it holds is searched too.
                            yaml::Value::Mapping(_) | yaml::Value::Sequence(_)
                                if key == "image" =>
                            {
                                // Unless a site was found in it already (an image volume's
                                // `image: {reference: ...}`).
                                let inside = |p: &String| {
                                    p.strip_prefix(child.as_str())
                                        .is_some_and(|rest| rest.starts_with(['.', '[']))
                                };
                                if !self.seen.iter().any(inside) {
                                    let name = node.get("name").and_then(Node::as_str);
                                    self.image(v, child.clone(), name, ContainerKind::Other);
                                }
                                stack.push((v, child, false));
                            }
                            _ => stack.push((v, child, false)),
                        }
                    }
                }
                yaml::Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, format!("{path}[{i}]"), false));
                    }
                }
                _ => {}
            }
        }
        // The key pass found sites in document order within each mapping; the caller sorts.
    }

    /// For kinds without a known layout: every container list, and every volume list with an
    /// image volume, anywhere in the object (except under the root's `skip` key).
    fn search_containers(&mut self, root: &Node, prefix: &str, skip: Option<&str>) {
        let mut stack = vec![(root, prefix.trim_end_matches('.').to_owned())];
        let mut at_root = true;
        while let Some((node, path)) = stack.pop() {
            let skip = if at_root { skip } else { None };
            at_root = false;
            match &node.value {
                yaml::Value::Mapping(entries) => {
                    for (k, v) in entries.iter().rev() {
                        let Some(key) = k.as_str() else { continue };
                        if skip == Some(key) {
                            continue;
                        }
                        let child = join(&path, &path_key(key));
                        let list = CONTAINER_LISTS.iter().find(|(name, _)| *name == key);
                        let items = v.as_sequence().unwrap_or_default();
                        if let Some((_, kind)) =
                            list.filter(|_| items.iter().any(|c| c.get("image").is_some()))
                        {
                            tracing::debug!(
                                "reading `{child}` of unknown kind `{}` as containers",
                                self.resource.kind
                            );
                            self.containers(v, &child, *kind);
                        } else if key == "volumes"
                            && items
                                .iter()
                                .any(|c| c.get("image").and_then(Node::as_mapping).is_some())
                        {
                            tracing::debug!(
                                "reading `{child}` of unknown kind `{}` as volumes",
                                self.resource.kind
                            );
                            self.volumes(v, &child);
                        } else {
                            stack.push((v, child));
                        }
                    }
                }
                yaml::Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, format!("{path}[{i}]")));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The longest text kept for an `image` that is a mapping or a list.
const MAX_COLLECTION_TEXT: usize = 120;

/// A mapping or list where an image reference belongs, as JSON text (shortened): it starts with
/// `{` or `[`, so it never parses as a reference, and the report shows what was written.
fn collection_text(node: &Node) -> String {
    let text = node.to_json().to_string();
    match text.char_indices().nth(MAX_COLLECTION_TEXT) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.trim_start_matches('.').to_owned()
    } else if key.starts_with('[') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

/// A key as written in a path: bare when it can be, else `["quoted"]`.
fn path_key(key: &str) -> String {
    let bare = !key.is_empty() && !key.contains(['.', '[', ']', '"', '\'']);
    if bare {
        key.to_owned()
    } else {
        format!("[\"{}\"]", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

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
    fn resolve<'n>(
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

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/manifests");

    fn source(text: &str) -> Source {
        Source {
            origin: Arc::new(Origin::File("t.yaml".into())),
            text: text.to_owned(),
        }
    }

    fn fixture(name: &str) -> Source {
        let path = Path::new(FIXTURES).join(name);
        load(&[path], &Limits::default()).unwrap().remove(0)
    }

    fn sites(text: &str) -> Vec<ImageSite> {
        extract(
            &source(text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap()
        .sites
    }

    /// `(image, line, column, text at the span)` of every site.
    fn positions(src: &Source, found: &[ImageSite]) -> Vec<(String, usize, usize, String)> {
        found
            .iter()
            .map(|s| {
                (
                    s.image.clone(),
                    s.span.line,
                    s.span.column,
                    src.text[s.span.start..s.span.end].to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_deployment_images_with_exact_positions() {
        let src = fixture("deployment.yaml");
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        assert!(found.skipped.is_empty());
        assert_eq!(
            positions(&src, &found.sites),
            [
                (
                    "ghcr.io/example/shop-migrate:1.4.2".into(),
                    23,
                    18,
                    "\"ghcr.io/example/shop-migrate:1.4.2\"".into()
                ),
                (
                    "ghcr.io/example/shop-web:1.4.2".into(),
                    27,
                    18,
                    "ghcr.io/example/shop-web:1.4.2".into()
                ),
                (
                    "docker.io/envoyproxy/envoy:v1.30.1".into(),
                    31,
                    18,
                    "'docker.io/envoyproxy/envoy:v1.30.1'".into()
                ),
            ]
        );
        let first = &found.sites[0];
        assert_eq!(first.path, "spec.template.spec.initContainers[0].image");
        assert_eq!(first.container.as_deref(), Some("migrate"));
        assert_eq!(first.container_kind, ContainerKind::Init);
        assert_eq!(first.style, ScalarStyle::DoubleQuoted);
        assert_eq!(
            found.sites[1].path,
            "spec.template.spec.containers[0].image"
        );
        assert_eq!(found.sites[2].style, ScalarStyle::SingleQuoted);
        let r = &first.resource;
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str()),
            ("apps/v1", "Deployment")
        );
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_deref()),
            (Some("shop"), Some("web"))
        );
        assert_eq!(r.labels["app.kubernetes.io/name"], "web");
        assert_eq!(r.annotations["supplygate.dev/owner"], "team-web");
        assert_eq!((r.document, r.line), (0, 2));
    }

    #[test]
    fn finds_cronjob_image() {
        let src = fixture("cronjob.yaml");
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        assert_eq!(found.sites.len(), 1);
        let site = &found.sites[0];
        assert_eq!(
            site.path,
            "spec.jobTemplate.spec.template.spec.containers[0].image"
        );
        assert_eq!((site.span.line, site.span.column), (15, 20));
        assert_eq!(site.image, "registry.example.com/reports/nightly:2024.06");
    }

    #[test]
    fn reads_list_items_with_flow_style_positions() {
        let src = fixture("list.yaml");
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);
        assert_eq!(
            positions(&src, &found.sites),
            [
                ("busybox:1.36".into(), 9, 39, "\"busybox:1.36\"".into()),
                ("postgres:16.3".into(), 20, 18, "postgres:16.3".into()),
            ]
        );
        assert_eq!(found.sites[0].path, "items[0].spec.containers[0].image");
        assert_eq!(found.sites[0].resource.kind, "Pod");
        assert_eq!(found.sites[0].resource.line, 4);
        assert_eq!(
            found.sites[1].path,
            "items[1].spec.template.spec.containers[0].image"
        );
        assert_eq!(found.sites[1].resource.name.as_deref(), Some("db"));
    }

    #[test]
    fn list_items_that_are_not_objects_are_skipped_with_their_path() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- 3\n- {metadata: {}}\n";
        let found = extract(
            &source(text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        let reasons: Vec<(usize, &str)> = found
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (4, "`items[0]`: not a Kubernetes object: it is an integer"),
                (
                    5,
                    "`items[1]`: not a Kubernetes object: it has no string `apiVersion` and `kind`"
                ),
            ]
        );
    }

    #[test]
    fn typed_lists_give_their_kind_to_items() {
        let text = "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n  spec:\n    containers:\n    - image: x:1\n";
        let found = sites(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].resource.kind, "Pod");
        assert_eq!(found[0].resource.api_version, "v1");
        assert_eq!(found[0].path, "items[0].spec.containers[0].image");
    }

    #[test]
    fn multi_document_lines_continue_and_non_objects_are_skipped() {
        let src = fixture("multi.yaml");
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        assert_eq!(
            positions(&src, &found.sites),
            [(
                "quay.io/prometheus/node-exporter:v1.8.1".into(),
                28,
                18,
                "quay.io/prometheus/node-exporter:v1.8.1".into()
            )]
        );
        assert_eq!(found.sites[0].resource.document, 2);
        assert_eq!(found.sites[0].resource.line, 14);
        let skipped: Vec<(usize, usize, &str)> = found
            .skipped
            .iter()
            .map(|s| (s.document, s.line, s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(skipped[0].0, 1);
        assert_eq!(skipped[0].1, 9);
        assert!(
            skipped[0].2.contains("not a Kubernetes object"),
            "{}",
            skipped[0].2
        );
        assert_eq!(skipped[1].2, "empty document");
    }

    #[test]
    fn unknown_kinds_are_searched_for_container_lists() {
        let src = fixture("rollout.yaml");
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        assert_eq!(found.sites.len(), 1);
        assert_eq!(
            found.sites[0].path,
            "spec.template.spec.containers[0].image"
        );
        assert_eq!(found.sites[0].container.as_deref(), Some("checkout"));
        assert_eq!(
            (found.sites[0].span.line, found.sites[0].span.column),
            (21, 16)
        );
    }

    fn rule(kind: &str, api: Option<&str>, pod_specs: &[&str], images: &[&str]) -> ExtraImagePaths {
        ExtraImagePaths {
            rules: vec![ExtraRule {
                kind: kind.into(),
                api_version: api.map(Into::into),
                pod_specs: pod_specs.iter().map(|s| (*s).to_owned()).collect(),
                images: images.iter().map(|s| (*s).to_owned()).collect(),
            }],
        }
    }

    #[test]
    fn extra_rules_match_by_group_and_read_their_paths() {
        let src = fixture("rollout.yaml");
        let extra = rule("Rollout", Some("argoproj.io"), &["spec.template.spec"], &[]);
        let found = extract(&src, &extra, &Limits::default()).unwrap();
        assert_eq!(found.sites.len(), 1);
        assert_eq!(found.sites[0].container_kind, ContainerKind::Container);
        // A rule for another group does not match; the kind is then searched instead.
        assert!(!rule("Rollout", Some("example.com"), &[], &[]).rules[0]
            .matches("argoproj.io/v1alpha1", "Rollout"));
        assert!(
            rule("Rollout", Some("argoproj.io/v1alpha1"), &[], &[]).rules[0]
                .matches("argoproj.io/v1alpha1", "Rollout")
        );
        assert!(!rule("Rollout", Some("argoproj.io/v1"), &[], &[]).rules[0]
            .matches("argoproj.io/v1alpha1", "Rollout"));
        assert!(!rule("Rollout", Some("argoproj"), &[], &[]).rules[0]
            .matches("argoproj.io/v1alpha1", "Rollout"));
    }

    #[test]
    fn extra_image_paths_support_wildcards_indices_and_quoted_keys() {
        let text = "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  annotations:\n    x.io/img: 'a:1'\n\
                    spec:\n  steps:\n  - name: s0\n    image: b:1\n  - name: s1\n    image: c:1\n  sidecars:\n  - image: d:1\n";
        let extra = rule(
            "Task",
            Some("tekton.dev"),
            &[],
            &[
                "spec.steps[*].image",
                "spec.sidecars[0].image",
                "metadata.annotations[\"x.io/img\"]",
            ],
        );
        let found = extract(&source(text), &extra, &Limits::default())
            .unwrap()
            .sites;
        let got: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|s| (s.image.as_str(), s.path.as_str(), s.container.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("a:1", "metadata.annotations[\"x.io/img\"]", None),
                ("b:1", "spec.steps[0].image", Some("s0")),
                ("c:1", "spec.steps[1].image", Some("s1")),
                ("d:1", "spec.sidecars[0].image", None),
            ]
        );
        assert!(found
            .iter()
            .all(|s| s.container_kind == ContainerKind::Other));
    }

    #[test]
    fn field_paths_parse_and_refuse_nonsense() {
        assert!(FieldPath::parse("spec.template.spec").is_ok());
        assert!(FieldPath::parse("a[*].b[12]['c.d'][\"e\\\"f\"]").is_ok());
        assert!(FieldPath::parse("[\"x\"].y").is_ok());
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a[",
            "a[x]",
            "a[]",
            "a]b",
            "a[\"x\"",
            "a[\"x\"b]",
        ] {
            let err = FieldPath::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("invalid field path"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn skips_only_containers_without_an_image() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: none\n  - name: null\n    image:\n\
                    \x20 - name: map\n    image: {a: b}\n  - name: number\n    image: 1.5\n";
        let found = sites(text);
        let got: Vec<(&str, Option<&str>, usize, usize)> = found
            .iter()
            .map(|s| {
                let name = s.container.as_deref();
                (s.image.as_str(), name, s.span.line, s.span.column)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("{\"a\":\"b\"}", Some("map"), 9, 12),
                ("1.5", Some("number"), 11, 12)
            ]
        );
    }

    /// `(image, path, kind, name, line, column)` of every site.
    fn summary(
        found: &[ImageSite],
    ) -> Vec<(String, String, ContainerKind, Option<String>, usize, usize)> {
        found
            .iter()
            .map(|s| {
                (
                    s.image.clone(),
                    s.path.clone(),
                    s.container_kind,
                    s.container.clone(),
                    s.span.line,
                    s.span.column,
                )
            })
            .collect()
    }

    #[test]
    fn image_volumes_are_sites_in_every_pod_spec() {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: app\n    image: app:1\n\
                   \x20 volumes:\n  - name: cfg\n    configMap: {name: c}\n  - name: models\n    image:\n      reference: \"models:v2\"\n\
                   \x20     pullPolicy: IfNotPresent\n  - {name: tools, image: {reference: tools:1}}\n  - name: empty\n    image: {}\n";
        let src = source(pod);
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        let v = ContainerKind::Volume;
        assert_eq!(
            summary(&found.sites),
            [
                (
                    "app:1".into(),
                    "spec.containers[0].image".into(),
                    ContainerKind::Container,
                    Some("app".into()),
                    7,
                    12
                ),
                (
                    "models:v2".into(),
                    "spec.volumes[1].image.reference".into(),
                    v,
                    Some("models".into()),
                    13,
                    18
                ),
                (
                    "tools:1".into(),
                    "spec.volumes[2].image.reference".into(),
                    v,
                    Some("tools".into()),
                    15,
                    38
                ),
            ]
        );
        assert_eq!(
            &pod[found.sites[1].span.start..found.sites[1].span.end],
            "\"models:v2\""
        );
        assert_eq!(found.sites[1].style, ScalarStyle::DoubleQuoted);

        let volume = "      volumes:\n      - name: m\n        image: {reference: vol:1}\n";
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n{volume}"
        );
        let cronjob = format!(
            "apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n{}",
            volume.replace("      ", "          ")
        );
        let crd = format!(
            "apiVersion: example.com/v1\nkind: Thing\nspec:\n  runner:\n    spec:\n{volume}"
        );
        let extra = rule("Thing", None, &["spec.runner.spec"], &[]);
        for (text, extra, path) in [
            (
                &deployment,
                &ExtraImagePaths::default(),
                "spec.template.spec.volumes[0].image.reference",
            ),
            (
                &cronjob,
                &ExtraImagePaths::default(),
                "spec.jobTemplate.spec.template.spec.volumes[0].image.reference",
            ),
            (&crd, &extra, "spec.runner.spec.volumes[0].image.reference"),
            (
                &crd,
                &ExtraImagePaths::default(),
                "spec.runner.spec.volumes[0].image.reference",
            ),
        ] {
            let found = extract(&source(text), extra, &Limits::default())
                .unwrap()
                .sites;
            let got: Vec<(&str, &str, ContainerKind)> = found
                .iter()
                .map(|s| (s.image.as_str(), s.path.as_str(), s.container_kind))
                .collect();
            assert_eq!(got, [("vol:1", path, v)], "{text}");
        }
    }

    #[test]
    fn non_scalar_images_become_sites_that_fail_the_reference_check() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: seq\n    image: [nginx]\n  - name: block\n\
                    \x20   image:\n      repository: nginx\n      tag: \"1.27\"\n  volumes:\n  - name: v\n    image:\n      reference: {a: 1}\n\
                    \x20 - name: w\n    image: [x]\n---\napiVersion: example.com/v1\nkind: Widget\nspec:\n  pods:\n  - containers:\n\
                    \x20   - name: c\n      image: {repository: evil}\n";
        let found = sites(text);
        let got: Vec<(&str, &str, usize, usize)> = found
            .iter()
            .map(|s| {
                (
                    s.image.as_str(),
                    s.path.as_str(),
                    s.span.line,
                    s.span.column,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("[\"nginx\"]", "spec.containers[0].image", 6, 12),
                (
                    "{\"repository\":\"nginx\",\"tag\":\"1.27\"}",
                    "spec.containers[1].image",
                    9,
                    7
                ),
                ("{\"a\":1}", "spec.volumes[0].image.reference", 14, 18),
                ("[\"x\"]", "spec.volumes[1].image", 16, 12),
                (
                    "{\"repository\":\"evil\"}",
                    "spec.pods[0].containers[0].image",
                    24,
                    14
                ),
            ]
        );
        for site in &found {
            assert!(
                crate::reference::ImageRef::parse(&site.image).is_err(),
                "{}",
                site.image
            );
        }
        // A huge value is shortened, and still not a reference.
        let long = format!(
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: {{a: \"{}\"}}\n",
            "x/".repeat(500)
        );
        let found = sites(&long);
        assert_eq!(found[0].image.chars().count(), MAX_COLLECTION_TEXT + 1);
        assert!(found[0].image.ends_with('…'));
        assert!(crate::reference::ImageRef::parse(&found[0].image).is_err());
    }

    #[test]
    fn builtin_kinds_need_their_api_group() {
        let table = [
            ("v1", "Pod", Some("spec")),
            ("v1", "PodTemplate", Some("template.spec")),
            ("v1", "ReplicationController", Some("spec.template.spec")),
            ("apps/v1", "Deployment", Some("spec.template.spec")),
            ("apps/v1beta2", "StatefulSet", Some("spec.template.spec")),
            (
                "extensions/v1beta1",
                "DaemonSet",
                Some("spec.template.spec"),
            ),
            ("batch/v1", "Job", Some("spec.template.spec")),
            (
                "batch/v1beta1",
                "CronJob",
                Some("spec.jobTemplate.spec.template.spec"),
            ),
            ("extensions/v1beta1", "StatefulSet", None),
            ("batch.volcano.sh/v1alpha1", "Job", None),
            ("example.com/v1", "Deployment", None),
            ("example.com/v1", "Pod", None),
            ("v2", "Pod", None),
            ("apps/v1", "Pod", None),
            ("batch/v1", "Deployment", None),
            ("/v1", "Pod", None),
            ("apps/", "Deployment", None),
            ("", "Pod", None),
        ];
        for (api_version, kind, want) in table {
            assert_eq!(
                builtin_pod_specs(api_version, kind),
                want,
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn custom_resources_named_like_builtin_kinds_are_searched() {
        let volcano = "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: train}\nspec:\n  tasks:\n\
                       \x20 - name: ps\n    template:\n      spec:\n        containers:\n        - name: ps\n          image: ps:1\n\
                       \x20 - name: worker\n    template:\n      spec:\n        initContainers:\n        - {name: w0, image: 'init:1'}\n\
                       \x20       containers:\n        - name: worker\n          image: worker:1\n---\n\
                       apiVersion: example.com/v1\nkind: Deployment\nspec:\n  workload:\n    containers:\n    - {name: x, image: x:1}\n";
        let found = sites(volcano);
        let got: Vec<(&str, &str, &str, usize)> = found
            .iter()
            .map(|s| {
                (
                    s.image.as_str(),
                    s.path.as_str(),
                    s.resource.kind.as_str(),
                    s.span.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "ps:1",
                    "spec.tasks[0].template.spec.containers[0].image",
                    "Job",
                    11
                ),
                (
                    "init:1",
                    "spec.tasks[1].template.spec.initContainers[0].image",
                    "Job",
                    16
                ),
                (
                    "worker:1",
                    "spec.tasks[1].template.spec.containers[0].image",
                    "Job",
                    19
                ),
                ("x:1", "spec.workload.containers[0].image", "Deployment", 26),
            ]
        );
        assert_eq!(found[0].resource.api_version, "batch.volcano.sh/v1alpha1");
        assert_eq!(found[1].container_kind, ContainerKind::Init);
    }

    #[test]
    fn objects_without_api_version_or_kind_are_searched_and_skipped_only_when_empty() {
        let text = "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, image: a:1}\n---\n\
                    apiVersion: v1\nspec:\n  containers:\n  - {name: b, image: b:1}\n---\nvalues:\n  image: c:1\n";
        let found = extract(
            &source(text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        let got: Vec<(&str, &str, &str, &str)> = found
            .sites
            .iter()
            .map(|s| {
                let r = &s.resource;
                (
                    s.image.as_str(),
                    s.path.as_str(),
                    r.api_version.as_str(),
                    r.kind.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "a:1",
                    "spec.template.spec.containers[0].image",
                    "",
                    "Deployment"
                ),
                ("b:1", "spec.containers[0].image", "v1", ""),
            ]
        );
        let skipped: Vec<(usize, &str)> = found
            .skipped
            .iter()
            .map(|s| (s.document, s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [(
                2,
                "not a Kubernetes object: it has no string `apiVersion` and `kind`"
            )]
        );
    }

    #[test]
    fn kinds_named_like_lists_are_searched_beside_their_items() {
        let text = "apiVersion: example.com/v1\nkind: AllowList\nitems: []\nspec:\n  template:\n    spec:\n\
                    \x20     containers:\n      - {name: a, image: a:1}\n";
        let found = sites(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "spec.template.spec.containers[0].image");
        assert_eq!(found[0].resource.kind, "AllowList");
    }

    #[test]
    fn kinds_without_images_yield_nothing_and_are_not_skipped() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}]\n---\n\
                    apiVersion: v1\nkind: ConfigMap\ndata:\n  containers: '[{\"image\": \"x\"}]'\n";
        let found = extract(
            &source(text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        assert!(found.sites.is_empty());
        assert!(found.skipped.is_empty());
    }

    #[test]
    fn positions_survive_crlf_and_multibyte_text() {
        let text = "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  annotations: {note: \"déjà vu\"}\r\nspec:\r\n  \
                    containers:\r\n  - {name: \"ü\", image: 'nginx:1'}\r\n  - name: b\r\n    image: \"redis:7\"\r\n";
        let src = source(text);
        let found = extract(&src, &ExtraImagePaths::default(), &Limits::default()).unwrap();
        assert_eq!(
            positions(&src, &found.sites),
            [
                ("nginx:1".into(), 7, 24, "'nginx:1'".into()),
                ("redis:7".into(), 9, 12, "\"redis:7\"".into()),
            ]
        );
        // 23 characters precede the quote on its line, one of them the two-byte `ü`: the
        // column counts characters, the offset bytes.
        let line_start = text.match_indices("\r\n").nth(5).unwrap().0 + 2;
        assert_eq!(found.sites[0].span.column - 1, 23);
        assert_eq!(found.sites[0].span.start - line_start, 24);
    }

    #[test]
    fn aliased_images_share_the_anchor_span() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: &img nginx:1\n  \
                    - name: b\n    image: *img\n";
        let found = sites(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].span, found[1].span);
        assert_eq!(found[1].container.as_deref(), Some("b"));
    }

    #[test]
    fn merge_keys_bring_images_into_containers() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - &base {name: a, image: nginx:1}\n  \
                    - <<: *base\n    name: b\n";
        let found = sites(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].container.as_deref(), Some("b"));
        assert_eq!(found[1].image, "nginx:1");
    }

    #[test]
    fn json_manifests_are_read() {
        let text = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
  "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}"#;
        let found = sites(text);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].span.line, found[0].span.column), (2, 50));
        assert_eq!(
            &text[found[0].span.start..found[0].span.end],
            "\"nginx:1.27\""
        );
    }

    #[test]
    fn load_walks_directories_in_order_reads_hidden_files_and_skips_git_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        for f in [
            "a.yaml",
            "b/c/d.yml",
            "b/x.json",
            "z.txt",
            ".git/e.yaml",
            ".hidden.yaml",
            "y.YAML",
        ] {
            std::fs::write(root.join(f), "a: 1\n").unwrap();
        }
        let loaded = load(&[root.to_path_buf()], &Limits::default()).unwrap();
        let names: Vec<String> = loaded
            .iter()
            .map(|s| match s.origin.as_ref() {
                Origin::File(p) => p.strip_prefix(root).unwrap().display().to_string(),
                other => other.to_string(),
            })
            .collect();
        // `.hidden.yaml` is read (kubectl apply -R reads it); `.git` is not walked.
        assert_eq!(
            names,
            [".hidden.yaml", "a.yaml", "b/c/d.yml", "b/x.json", "y.YAML"]
        );
        // A file named explicitly is read whatever its extension.
        assert_eq!(
            load(&[root.join("z.txt")], &Limits::default())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn load_refuses_large_missing_and_non_utf8_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        // A sparse 20 MB file: the size check must not read it.
        std::fs::File::create(&big)
            .unwrap()
            .set_len(20 * 1024 * 1024)
            .unwrap();
        let err = load(&[big], &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::TooLarge {
                    limit: 16_777_216,
                    ..
                }
            ),
            "{err}"
        );
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, b"a: \xff\xfe\n").unwrap();
        assert!(matches!(
            load(&[bad], &Limits::default()),
            Err(ManifestError::NotUtf8 { .. })
        ));
        let missing = dir.path().join("missing.yaml");
        assert!(matches!(
            load(&[missing], &Limits::default()),
            Err(ManifestError::Io { .. })
        ));
    }

    #[test]
    fn read_limited_stops_one_byte_past_the_limit() {
        let limits = Limits {
            max_file_bytes: 8,
            ..Limits::default()
        };
        let endless = std::io::repeat(b'a');
        let err = read_limited(endless, Arc::new(Origin::Stdin), &limits).unwrap_err();
        assert!(matches!(err, ManifestError::TooLarge { limit: 8, .. }));
        let ok = read_limited(&b"12345678"[..], Arc::new(Origin::Stdin), &limits).unwrap();
        assert_eq!(ok.text, "12345678");
    }

    #[test]
    fn refuses_twenty_megabytes_of_text_against_a_sixteen_megabyte_limit() {
        let text = "a: b\n".repeat(4 * 1024 * 1024);
        let err = extract(
            &source(&text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ManifestError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn garbage_bytes_are_refused_without_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200 {
            let len = (xorshift(&mut state) % 400) as usize;
            let text: String = (0..len)
                .map(|_| char::from_u32((xorshift(&mut state) % 0x3000) as u32).unwrap_or('x'))
                .collect();
            let _ = extract(
                &source(&text),
                &ExtraImagePaths::default(),
                &Limits::default(),
            );
        }
        let err = extract(
            &source("\u{0}\u{1}[}{:::\u{7f}"),
            &ExtraImagePaths::default(),
            &Limits::default(),
        );
        assert!(err.is_err());
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Mutated and truncated versions of real manifests: no panic, and whatever is found has
    /// spans inside the text on character boundaries.
    #[test]
    fn mutated_manifests_never_panic() {
        const ALPHABET: &[u8] = b"[]{}:-&*!|>'\"#,? \n\t%@`abc01\\";
        let seeds: Vec<String> = [
            "deployment.yaml",
            "cronjob.yaml",
            "list.yaml",
            "multi.yaml",
            "rollout.yaml",
        ]
        .iter()
        .map(|f| fixture(f).text)
        .chain([
            "a: &a [x, *a]\nb: &b {<<: *b}\n".to_owned(),
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - &c {image: é}\n  - <<: *c\n"
                .to_owned(),
        ])
        .collect();
        let extra = rule(
            "Rollout",
            None,
            &["spec.template.spec"],
            &["spec.x[*].image"],
        );
        let limits = Limits {
            max_depth: 16,
            max_nodes: 2_000,
            ..Limits::default()
        };
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut parsed = 0;
        for round in 0..3_000 {
            let seed = &seeds[round % seeds.len()];
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..=(xorshift(&mut state) % 4) {
                let at = (xorshift(&mut state) as usize) % (bytes.len() + 1);
                let pick = ALPHABET[(xorshift(&mut state) as usize) % ALPHABET.len()];
                match xorshift(&mut state) % 5 {
                    0 => bytes.truncate(at),
                    1 => bytes.insert(at, pick),
                    2 if at < bytes.len() => bytes[at] = pick,
                    3 => {
                        let end = (at + (xorshift(&mut state) as usize) % 40).min(bytes.len());
                        bytes.drain(at..end);
                    }
                    _ => {
                        let end = (at + (xorshift(&mut state) as usize) % 40).min(bytes.len());
                        let copy = bytes[at..end].to_vec();
                        bytes.splice(at..at, copy);
                    }
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            if let Ok(docs) = yaml::parse_documents(&text, &Arc::new(Origin::Stdin), &limits) {
                for doc in &docs {
                    let _ = doc.root.to_json();
                }
            }
            if let Ok(found) = extract(&source(&text), &extra, &limits) {
                parsed += 1;
                for site in found.sites {
                    assert!(
                        text.get(site.span.start..site.span.end).is_some(),
                        "{text:?} {site:?}"
                    );
                }
            }
        }
        // The mutations must leave many inputs valid, or the test exercises only errors.
        assert!(parsed > 300, "only {parsed} inputs parsed");
    }
}
