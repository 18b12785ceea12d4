//! Collecting the image sites of one object: pod specs, container lists, image volumes, and
//! the generic pass over objects of unknown layout.

use std::collections::HashSet;
use std::sync::Arc;

use super::kinds::CONTAINER_LISTS;
use super::kinds::{GENERIC_CONTAINERS, GENERIC_IMAGE_KEY};
use super::yaml::{self, Node};
use super::{ContainerKind, ImageSite, Origin, Resource, ScalarStyle};

/// Collects the image sites of one object, once per path.
pub(super) struct SiteSink<'a> {
    pub(super) origin: &'a Arc<Origin>,
    pub(super) resource: &'a Arc<Resource>,
    pub(super) seen: HashSet<String>,
    pub(super) sites: Vec<ImageSite>,
    /// The extractor now at work, recorded with each site.
    pub(super) extractor: &'static str,
}

impl<'a> SiteSink<'a> {
    pub(super) fn new(origin: &'a Arc<Origin>, resource: &'a Arc<Resource>) -> Self {
        Self {
            origin,
            resource,
            seen: HashSet::new(),
            sites: Vec::new(),
            extractor: GENERIC_CONTAINERS,
        }
    }

    pub(super) fn pod_spec(&mut self, spec: &Node, path: &str) {
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

    pub(super) fn image(
        &mut self,
        node: &Node,
        path: String,
        container: Option<&str>,
        kind: ContainerKind,
    ) {
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
    pub(super) fn generic(&mut self, root: &Node, prefix: &str, skip: Option<&str>) {
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
    pub(super) fn search_containers(&mut self, root: &Node, prefix: &str, skip: Option<&str>) {
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
pub(super) const MAX_COLLECTION_TEXT: usize = 120;

/// A mapping or list where an image reference belongs, as JSON text (shortened): it starts with
/// `{` or `[`, so it never parses as a reference, and the report shows what was written.
fn collection_text(node: &Node) -> String {
    let text = node.to_json().to_string();
    match text.char_indices().nth(MAX_COLLECTION_TEXT) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text,
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.trim_start_matches('.').to_owned()
    } else if key.starts_with('[') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

/// A key as written in a path: bare when it can be, else `["quoted"]`.
pub(super) fn path_key(key: &str) -> String {
    let bare = !key.is_empty() && !key.contains(['.', '[', ']', '"', '\'']);
    if bare {
        key.to_owned()
    } else {
        format!("[\"{}\"]", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
