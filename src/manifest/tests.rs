use std::path::Path;

use super::load::read_limited;
use super::sites::MAX_COLLECTION_TEXT;
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
    let deployment =
        format!("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n{volume}");
    let cronjob = format!(
            "apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n{}",
            volume.replace("      ", "          ")
        );
    let crd =
        format!("apiVersion: example.com/v1\nkind: Thing\nspec:\n  runner:\n    spec:\n{volume}");
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
    assert!(
        matches!(
            crate::reference::ImageRef::parse(&found[0].image),
            Err(crate::reference::ReferenceError::InvalidHost(host)) if host.starts_with("{\"a\"")
        ),
        "{:?}",
        crate::reference::ImageRef::parse(&found[0].image)
    );
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
    let text =
        "apiVersion: example.com/v1\nkind: AllowList\nitems: []\nspec:\n  template:\n    spec:\n\
                    \x20     containers:\n      - {name: a, image: a:1}\n";
    let found = sites(text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "spec.template.spec.containers[0].image");
    assert_eq!(found[0].resource.kind, "AllowList");
}

#[test]
fn kinds_without_images_yield_nothing_and_are_not_skipped() {
    let text =
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}]\n---\n\
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
    let text =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: &img nginx:1\n  \
                    - name: b\n    image: *img\n";
    let found = sites(text);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].span, found[1].span);
    assert_eq!(found[1].container.as_deref(), Some("b"));
}

#[test]
fn merge_keys_bring_images_into_containers() {
    let text =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - &base {name: a, image: nginx:1}\n  \
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
    assert!(
        matches!(&err, Err(ManifestError::Syntax { message, .. }) if message.contains("unprintable")),
        "{err:?}"
    );
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
