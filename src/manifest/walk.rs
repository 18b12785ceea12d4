//! The extraction walker: documents -> objects (items of lists included) -> the extractors
//! that apply to each (built-in workloads, custom-resource extractors, user rules, embedded
//! Argo manifests, the generic pass).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::kinds::{self, api_group, GENERIC_CONTAINERS, USER_RULE};
use super::kustomize::kustomization_changes;
use super::sites::SiteSink;
use super::yaml::{self, Node};
use super::{
    ContainerKind, ExtraImagePaths, ExtraRule, Extracted, FieldPath, ImageSite, Limits,
    ManifestError, Origin, Resource, ScalarStyle, Skipped, Source,
};

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
            defaults: None,
            out: &mut out,
        };
        walker.document(&doc.root);
        index += 1;
        Ok(())
    })?;
    Ok(out)
}

/// Finds every image site in one object already read (an admission request's, by
/// [`ObjectTree`](super::json::ObjectTree)): the walker of [`extract`] on one document, with `defaults` for the
/// object's `apiVersion` and `kind` when it has no such keys. The caller checks the tree
/// against the limits first ([`ObjectTree::check`](super::json::ObjectTree::check)).
#[must_use]
pub fn extract_object(
    root: &Node,
    origin: &Arc<Origin>,
    extra: &ExtraImagePaths,
    limits: &Limits,
    defaults: Option<(&str, &str)>,
) -> Extracted {
    let mut out = Extracted::default();
    let mut walker = Walker {
        origin,
        extra,
        limits,
        depth: 0,
        document: 0,
        doc_line: root.span.line,
        defaults,
        out: &mut out,
    };
    walker.document(root);
    out
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
    /// `apiVersion` and `kind` for a root object without those keys (an admission request's).
    defaults: Option<(&'a str, &'a str)>,
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

    fn document(&mut self, root: &Node) {
        let doc_line = self.doc_line;
        if root.is_null() {
            self.skip(doc_line, "empty document".to_owned());
            return;
        }
        self.out.documents += 1;
        if root.as_mapping().is_none() {
            let reason = format!(
                "not a Kubernetes object: the document is {}",
                root.kind_name()
            );
            self.out.not_objects.push(Skipped {
                origin: self.origin.clone(),
                document: self.document,
                line: doc_line,
                reason: reason.clone(),
            });
            self.skip(doc_line, reason);
            return;
        }
        if let Some((line, reason)) = kustomization_changes(root, self.origin) {
            self.out.kustomizations.push(Skipped {
                origin: self.origin.clone(),
                document: self.document,
                line,
                reason,
            });
        }
        let first_site = self.out.sites.len();
        let mut stack = vec![Pending {
            node: root,
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
        // An admission request's object may leave `apiVersion` and `kind` out (the request
        // says them): the request's fill them in where the object has no such key at all.
        let defaults = self.defaults.filter(|_| p.prefix.is_empty());
        let own = |key: &str| {
            let default = match (node.get(key), defaults) {
                (None, Some((api_version, kind))) => Some(if key == "apiVersion" {
                    api_version
                } else {
                    kind
                }),
                _ => None,
            };
            node.get(key)
                .and_then(Node::as_str)
                .or(default)
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
                    defaults: None,
                    out: &mut inner,
                };
                walker.document(&doc.root);
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
