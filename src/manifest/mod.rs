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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub mod changed;
pub mod exclude;
pub mod json;
pub mod kinds;
mod kustomize;
mod load;
mod path;
pub mod rewrite;
mod sites;
mod walk;
pub mod yaml;

pub(crate) use kinds::api_group;
pub use load::{load, load_each, load_excluding, Loaded};
pub use path::{FieldPath, PathError};
pub use rewrite::{apply_edits, write_atomic, Edit, RewriteError};
pub use walk::{builtin_pod_specs, extract, extract_object};

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
    /// Could not read a file or directory (the cause is the source, not in the message).
    #[error("cannot read `{}`", path.display())]
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

#[cfg(test)]
mod tests;
