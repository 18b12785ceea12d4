//! Objects whose files as written are not what is deployed: kustomizations that can change
//! images, and GitOps objects that override the images of what they deploy.

use std::path::Path;

use super::kinds::api_group;
use super::load::has_manifest_extension;
use super::yaml::Node;
use super::Origin;

/// What makes the files as written other than what is deployed: a GitOps object that overrides
/// images ([`gitops_image_overrides`]), or a kustomization with a field that can change them
/// ([`kustomization_fields`]). Returns the field's line and a sentence naming the object.
pub(super) fn kustomization_changes(root: &Node, origin: &Origin) -> Option<(usize, String)> {
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
