//! Manifests as people write them: the custom resources of well-known projects (their own
//! published examples, in `fixtures/external/`), the generic pass, empty renders, Helm
//! templates, excluded paths and files that are not regular files, through the library and
//! the `supplygate check` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::Value;
use supplygate::manifest::{self, ExtraImagePaths, ExtraRule, Limits, Origin, Source};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn external(path: &str) -> PathBuf {
    Path::new(ROOT).join("fixtures/external").join(path)
}

fn extract_with(text: &str, extra: &ExtraImagePaths) -> Vec<manifest::ImageSite> {
    let source = Source {
        origin: Arc::new(Origin::File("t.yaml".into())),
        text: text.to_owned(),
    };
    manifest::extract(&source, extra, &Limits::default())
        .unwrap()
        .sites
}

/// The 1-based lines holding an `image:` or `package:` value, read without any YAML parser:
/// an oracle independent of the extractors.
fn image_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            ["image:", "package:"]
                .iter()
                .any(|k| t.starts_with(k) && !t[k.len()..].trim().is_empty())
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// Every upstream example: each `image:` line is found exactly once, by the extractor named,
/// and at its line.
#[test]
fn every_image_of_the_upstream_examples_is_found_by_its_extractor() {
    let table: &[(&str, &str, usize)] = &[
        ("argoproj/argo-rollouts/examples/rollout-canary.yaml", "argo-rollouts", 1),
        ("argoproj/argo-workflows/examples/init-container.yaml", "argo-workflows", 2),
        ("argoproj/argo-workflows/examples/sidecar-nginx.yaml", "argo-workflows", 2),
        ("argoproj/argo-workflows/examples/scripts-bash.yaml", "argo-workflows", 2),
        ("argoproj/argo-workflows/examples/cron-workflow.yaml", "argo-workflows", 1),
        ("argoproj/argo-workflows/examples/container-set-template/graph-workflow.yaml", "argo-workflows", 4),
        ("argoproj/argo-workflows/examples/workflow-template/templates.yaml", "argo-workflows", 5),
        ("argoproj/argo-workflows/examples/cluster-workflow-template/clustertemplates.yaml", "argo-workflows", 5),
        ("tektoncd/pipeline/examples/v1/taskruns/sidecar-ready.yaml", "tekton", 2),
        ("tektoncd/pipeline/examples/v1/taskruns/steptemplate-env-merge.yaml", "tekton", 5),
        ("tektoncd/pipeline/examples/v1/taskruns/alpha/param-enum.yaml", "tekton", 1),
        ("tektoncd/pipeline/examples/v1/taskruns/stepaction.yaml", "tekton", 1),
        ("tektoncd/pipeline/examples/v1/pipelineruns/pipelinerun-with-final-tasks.yaml", "tekton", 5),
        ("tektoncd/pipeline/examples/v1/pipelineruns/pipelinerun-with-pipelinespec-and-taskspec.yaml", "tekton", 3),
        ("knative/serving/test/test_images/helloworld/service.yaml", "knative-serving", 1),
        ("knative/serving/test/test_images/helloworld/helloworld.yaml", "knative-serving", 1),
        ("knative/serving/config/core/999-cache.yaml", "knative-caching", 1),
        ("prometheus-operator/kube-prometheus/manifests/prometheus-prometheus.yaml", "prometheus-operator", 1),
        ("prometheus-operator/kube-prometheus/manifests/alertmanager-alertmanager.yaml", "prometheus-operator", 1),
        ("prometheus-operator/prometheus-operator/example/thanos/thanos-ruler.yaml", "prometheus-operator", 1),
        ("prometheus-operator/prometheus-operator/example/rbac/prometheus-agent/prometheus.yaml", "prometheus-operator", 0),
        // Upstream examples without an image (the operator's default): no site is invented.
        ("prometheus-operator/prometheus-operator/example/user-guides/getting-started/prometheus.yaml", "prometheus-operator", 0),
        ("prometheus-operator/prometheus-operator/example/user-guides/alerting/alertmanager-example.yaml", "prometheus-operator", 0),
        ("open-telemetry/opentelemetry-operator/tests/e2e/extension/00-install-jaeger-extension.yaml", "opentelemetry-operator", 1),
        ("open-telemetry/opentelemetry-operator/tests/e2e-upgrade/instrumentation-blocked-upgrade/00-install-instrumentation-blocked.yaml", "opentelemetry-operator", 2),
        ("kedacore/keda/config/samples/keda_v1alpha1_scaledjob.yaml", "keda", 0),
        ("kubeflow/training-operator/examples/pytorch/simple.yaml", "kubeflow", 2),
        ("kubeflow/training-operator/examples/tensorflow/simple.yaml", "kubeflow", 1),
        ("kubeflow/training-operator/examples/mpi/tensorflow-mnist.yaml", "kubeflow", 2),
        ("ray-project/kuberay/ray-operator/config/samples/ray-cluster.volcano-scheduler.yaml", "ray", 1),
        ("ray-project/kuberay/ray-operator/config/samples/ray-job.sample.yaml", "ray", 2),
        ("ray-project/kuberay/ray-operator/config/samples/ray-service.no-ray-serve-replica.yaml", "ray", 2),
        ("kubeflow/spark-operator/config/samples/v1beta2_sparkapplication.yaml", "spark-operator", 1),
        ("kubeflow/spark-operator/config/samples/v1beta2_scheduledsparkapplication.yaml", "spark-operator", 1),
        ("crossplane/crossplane/test/e2e/manifests/pkg/dependency-upgrade/already-exists/provider.yaml", "crossplane", 1),
        ("crossplane/crossplane/test/e2e/manifests/apiextensions/composition/required-schemas/setup/functions.yaml", "crossplane", 1),
        ("crossplane/crossplane/test/e2e/manifests/pkg/dependency-upgrade/transitive-noop/configuration-a-updated.yaml", "crossplane", 1),
        ("kubevirt/kubevirt/examples/vm-cirros.yaml", "kubevirt", 1),
        ("kubevirt/kubevirt/examples/vmi-ephemeral.yaml", "kubevirt", 1),
        ("kubevirt/kubevirt/examples/vmi-replicaset-cirros.yaml", "kubevirt", 1),
        ("kubevirt/kubevirt/examples/vm-pool-cirros.yaml", "kubevirt", 1),
        ("volcano-sh/volcano/example/job.yaml", "volcano", 1),
    ];
    for (file, extractor, count) in table {
        let text = std::fs::read_to_string(external(file)).unwrap();
        let sites = extract_with(&text, &ExtraImagePaths::default());
        let lines: Vec<usize> = sites.iter().map(|s| s.span.line).collect();
        assert_eq!(lines, image_lines(&text), "{file}");
        assert_eq!(sites.len(), *count, "{file}");
        for s in &sites {
            assert_eq!(s.extractor, *extractor, "{file}: {}", s.path);
            // The span holds the value written on that line.
            let written = &text[s.span.start..s.span.end];
            assert_eq!(written.trim_matches(['"', '\'']), s.image, "{file}");
        }
    }
}

#[test]
fn argo_workflow_templates_report_every_container_kind_with_its_path() {
    let text = std::fs::read_to_string(external(
        "argoproj/argo-workflows/examples/init-container.yaml",
    ))
    .unwrap();
    let got: Vec<(String, String)> = extract_with(&text, &ExtraImagePaths::default())
        .into_iter()
        .map(|s| (s.path, s.image))
        .collect();
    // The issue's partial coverage: the init container alone looked like the whole workflow.
    assert_eq!(
        got,
        [
            (
                "spec.templates[0].container.image".to_owned(),
                "alpine:3.23".to_owned()
            ),
            (
                "spec.templates[0].initContainers[0].image".to_owned(),
                "alpine:3.23".to_owned()
            ),
        ]
    );
}

#[test]
fn built_in_extractors_cover_fields_the_examples_do_not_use() {
    let text = "\
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
spec:
  jobTargetRef:
    template:
      spec:
        containers: [{name: w, image: 'worker:1'}]
---
apiVersion: serving.knative.dev/v1
kind: Revision
spec:
  containers: [{image: 'rev:1'}]
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
spec:
  image: prom:1
  thanos: {image: 'thanos:1'}
  containers: [{name: config-reloader, image: 'reloader:1'}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
spec:
  tasks:
  - taskSpec:
      stepTemplate: {image: 'tmpl:1'}
      steps: [{name: s, image: 'step:1'}]
      sidecars: [{name: c, image: 'side:1'}]
  finally:
  - taskSpec: {steps: [{image: 'fin:1'}]}
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
spec:
  templateDefaults: {container: {image: 'default:1'}}
  templates:
  - name: s
    script: {image: 'script:1', source: x}
  - name: cs
    containerSet: {containers: [{name: a, image: 'set:1'}]}
    sidecars: [{name: b, image: 'sidecar:1'}]
";
    let got: Vec<(String, &str)> = extract_with(text, &ExtraImagePaths::default())
        .into_iter()
        .map(|s| (s.image, s.extractor))
        .collect();
    let want = [
        ("worker:1", "keda"),
        ("rev:1", "knative-serving"),
        ("prom:1", "prometheus-operator"),
        ("thanos:1", "prometheus-operator"),
        ("reloader:1", "prometheus-operator"),
        ("tmpl:1", "tekton"),
        ("step:1", "tekton"),
        ("side:1", "tekton"),
        ("fin:1", "tekton"),
        ("default:1", "argo-workflows"),
        ("script:1", "argo-workflows"),
        ("set:1", "argo-workflows"),
        ("sidecar:1", "argo-workflows"),
    ];
    let want: Vec<(String, &str)> = want.iter().map(|(i, e)| ((*i).to_owned(), *e)).collect();
    assert_eq!(got, want);
}

#[test]
fn a_kind_of_the_same_name_in_another_group_falls_to_the_generic_pass() {
    let text = "apiVersion: example.com/v1\nkind: Workflow\nspec:\n  templates:\n  - container: {image: 'x:1'}\n  \
                settings: {image: 'y:2', other: {image: 'z:3'}}\nmetadata:\n  annotations: {image: 'not:read'}\n";
    let got: Vec<(String, &str)> = extract_with(text, &ExtraImagePaths::default())
        .into_iter()
        .map(|s| (s.path, s.extractor))
        .collect();
    assert_eq!(
        got,
        [
            (
                "spec.templates[0].container.image".to_owned(),
                "generic-image-key"
            ),
            ("spec.settings.image".to_owned(), "generic-image-key"),
            ("spec.settings.other.image".to_owned(), "generic-image-key"),
        ]
    );
}

#[test]
fn a_user_rule_replaces_the_built_in_extractor_of_its_kind() {
    let text =
        "apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  steps: [{name: a, image: 'a:1'}]\n  \
                custom: {ref: 'c:1'}\n";
    let extra = ExtraImagePaths {
        rules: vec![ExtraRule {
            kind: "Task".into(),
            api_version: Some("tekton.dev".into()),
            pod_specs: vec![],
            images: vec!["spec.custom.ref".into()],
        }],
    };
    let got: Vec<(String, &str)> = extract_with(text, &extra)
        .into_iter()
        .map(|s| (s.path, s.extractor))
        .collect();
    // The rule's path, then the generic pass: the step image is still reported.
    assert_eq!(
        got,
        [
            ("spec.steps[0].image".to_owned(), "generic-image-key"),
            ("spec.custom.ref".to_owned(), "images.extra"),
        ]
    );
}

#[test]
fn kubernetes_own_kinds_get_no_image_key_pass() {
    let text = "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: 'a:1'\n---\napiVersion: networking.k8s.io/v1\n\
                kind: Ingress\nspec: {image: 'b:1'}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: X\nspec: {image: 'c:1'}\n";
    let got: Vec<String> = extract_with(text, &ExtraImagePaths::default())
        .into_iter()
        .map(|s| s.image)
        .collect();
    // A CRD group under `k8s.io` is not Kubernetes' own.
    assert_eq!(got, ["c:1"]);
}

// ---- the binary ----

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The binary, with none of this process's `SUPPLYGATE_*` variables (a developer's shell
/// cannot change what a test sees).
fn supplygate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_supplygate"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SUPPLYGATE_") {
            command.env_remove(&name);
        }
    }
    command
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = supplygate()
        .args(args)
        .current_dir(dir)
        .env_remove("SUPPLYGATE_EXCLUDE")
        .env_remove("SUPPLYGATE_ALLOW_EMPTY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A scratch directory with an offline config (no registry is ever asked).
fn scratch(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("supplygate.yaml"),
        format!("network:\n  offline: true\n{config}"),
    )
    .unwrap();
    dir
}

const FORMATS: [&str; 5] = ["human", "json", "sarif", "github", "markdown"];

#[test]
fn nothing_read_is_exit_2_with_no_manifests_in_every_format() {
    let dir = scratch("");
    std::fs::write(dir.path().join("empty.yaml"), "").unwrap();
    std::fs::write(
        dir.path().join("comments.yaml"),
        "# only\n---\n# comments\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("nothing")).unwrap();
    std::fs::create_dir(dir.path().join("no-yaml")).unwrap();
    std::fs::write(dir.path().join("no-yaml/README.md"), "x").unwrap();
    let inputs: [&[&str]; 6] = [
        &["-"],
        &["/dev/null"],
        &["empty.yaml"],
        &["comments.yaml"],
        &["nothing"],
        &["no-yaml"],
    ];
    for input in inputs {
        for format in FORMATS {
            let mut args = vec!["check", "--format", format];
            args.extend(input);
            let r = run(dir.path(), &args, "");
            assert_eq!(r.code, 2, "{input:?} {format}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stdout.contains("no-manifests"),
                "{input:?} {format}: {}",
                r.stdout
            );
            if format == "markdown" {
                assert!(!r.stdout.contains("allow:"), "{}", r.stdout);
                assert!(r.stdout.starts_with("### supplygate: ⛔ error"));
            }
        }
    }
    let json: Value =
        serde_json::from_str(&run(dir.path(), &["check", "--format", "json", "-"], "").stdout)
            .unwrap();
    assert_eq!(json["decision"], "error");
    assert_eq!(json["notices"][0]["code"], "no-manifests");
    assert_eq!(json["notices"][0]["severity"], "error");
}

#[test]
fn allow_empty_opts_out_with_a_warning() {
    let dir = scratch("");
    let r = run(dir.path(), &["check", "--allow-empty", "-"], "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r
        .stdout
        .contains("no-manifests: no Kubernetes object was read: the input holds no YAML or JSON document; allowed by `--allow-empty`"));
    assert!(r.stdout.contains("no document read"), "{}", r.stdout);
    // So does an input of documents that are not Kubernetes objects.
    let r = run(dir.path(), &["check", "--allow-empty", "-"], "{}\n");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 document read, 1 skipped"),
        "{}",
        r.stdout
    );
}

/// A render step that failed prints an error, or `{}`, or nothing useful: documents that are
/// not Kubernetes objects must not pass for an empty deployment.
#[test]
fn no_kubernetes_object_is_no_manifests_or_invalid_manifest_in_every_format() {
    let dir = scratch("");
    std::fs::create_dir_all(dir.path().join("values/chart/templates")).unwrap();
    std::fs::write(
        dir.path().join("values/values.yaml"),
        "replicas: 2\nimage: {repository: x}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("values/chart/Chart.yaml"),
        "name: c\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("values/chart/templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: evil.example/a:1}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("list.json"), "[]\n").unwrap();
    let pod_list = r#"[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"a","image":"evil.example/a:1"}]}}]"#;
    // (stdin, args, code, what the output holds)
    let cases: [(&str, &[&str], &str, &str); 7] = [
        (
            "Error: could not find template x\n",
            &["-"],
            "no-manifests",
            "1 document read, 1 skipped",
        ),
        ("{}\n", &["-"], "no-manifests", "1 document read, 1 skipped"),
        (
            "Killed\n",
            &["-"],
            "invalid-manifest",
            "not a Kubernetes object: the document is a string",
        ),
        (
            "[]\n",
            &["-"],
            "invalid-manifest",
            "not a Kubernetes object: the document is a list",
        ),
        (
            pod_list,
            &["-"],
            "invalid-manifest",
            "not a Kubernetes object: the document is a list",
        ),
        (
            "",
            &["list.json"],
            "invalid-manifest",
            "not a Kubernetes object: the document is a list",
        ),
        (
            "",
            &["values"],
            "no-manifests",
            "skipped as not Kubernetes objects",
        ),
    ];
    for (stdin, input, code, text) in cases {
        for format in FORMATS {
            let mut args = vec!["check", "--format", format];
            args.extend(input);
            if input == ["values"] {
                args.extend(["--exclude", "templates/**"]);
            }
            let r = run(dir.path(), &args, stdin);
            assert_eq!(
                r.code, 2,
                "{input:?} {stdin:?} {format}: {}{}",
                r.stdout, r.stderr
            );
            assert!(
                r.stdout.contains(code),
                "{input:?} {stdin:?} {format}: {}",
                r.stdout
            );
            if format == "json" {
                let json: Value = serde_json::from_str(&r.stdout).unwrap();
                assert_eq!(json["decision"], "error", "{json}");
                let found = if code == "no-manifests" {
                    &json["notices"][0]
                } else {
                    &json["errors"][0]
                };
                assert_eq!(found["code"], code, "{json}");
                assert!(found["message"].as_str().unwrap().contains(text), "{json}");
            }
        }
    }
    // A file found in a directory that is a list is skipped and counted, not refused.
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/list.json"), "[]\n").unwrap();
    let r = run(dir.path(), &["check", "--format", "json", "d"], "");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["notices"][0]["code"], "no-manifests", "{json}");
    assert_eq!(json["summary"]["skipped_documents"], 1, "{json}");
    assert_eq!(json["errors"].as_array().unwrap().len(), 0, "{json}");
}

#[test]
fn pin_check_refuses_an_input_without_kubernetes_objects() {
    let dir = scratch("");
    std::fs::create_dir(dir.path().join("nothing")).unwrap();
    for (stdin, input) in [("", "-"), ("{}\n", "-"), ("", "nothing")] {
        for format in ["human", "json"] {
            let r = run(
                dir.path(),
                &["pin", "--check", "--format", format, input],
                stdin,
            );
            assert_eq!(r.code, 2, "{input} {stdin:?}: {}{}", r.stdout, r.stderr);
            assert!(r.stdout.contains("no-manifests"), "{}", r.stdout);
        }
    }
    // The report counts the documents it read.
    let r = run(
        dir.path(),
        &["pin", "--check", "--format", "json", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["summary"]["documents"], 1, "{json}");
}

#[test]
fn documents_without_images_allow_and_say_so_in_every_format() {
    let dir = scratch("");
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    for format in FORMATS {
        let r = run(dir.path(), &["check", "--format", format, "-"], text);
        assert_eq!(r.code, 0, "{format}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("no image found in 2 documents"),
            "{format}: {}",
            r.stdout
        );
    }
}

#[test]
fn an_unrecognised_image_field_warns_by_default_and_denies_when_configured() {
    let text = "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n  image: 'Not A Reference'\n";
    let dir = scratch("");
    let r = run(dir.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let finding = &json["images"][0]["findings"][0];
    assert_eq!(finding["code"], "unrecognised-image-field");
    assert_eq!(finding["severity"], "warn");
    assert_eq!(json["images"][0]["path"], "spec.image");
    assert_eq!(json["images"][0]["extractor"], "generic-image-key");
    // Left at its default, no config entry is behind the warning.
    assert!(finding.get("config").is_none(), "{finding}");

    let deny = scratch("policy:\n  unknown_image_fields: deny\n");
    let r = run(deny.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        json["images"][0]["findings"][0]["code"],
        "unrecognised-image-field"
    );
    assert_eq!(json["images"][0]["findings"][0]["severity"], "deny");
    // The key that made it a denial, where it is written (line 4 of scratch's config).
    assert_eq!(
        json["images"][0]["findings"][0]["config"],
        serde_json::json!([{
            "file": "supplygate.yaml", "line": 4, "column": 3,
            "key": "policy.unknown_image_fields"
        }])
    );

    let allow = scratch("policy:\n  unknown_image_fields: allow\n");
    let r = run(allow.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["images"][0]["path"], "spec.image");
    assert_eq!(json["images"][0]["decision"], "allow");
    assert_eq!(json["images"][0]["findings"].as_array().unwrap().len(), 0);

    // A mapping or a list under an `image` key is decided the same way, at its own line and
    // path, in every format: not skipped.
    let text = "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n  image: {repository: evil.example/helm, tag: latest}\n  other:\n    image: [evil.example/l:1]\n";
    for format in FORMATS {
        let r = run(deny.path(), &["check", "--format", format, "-"], text);
        assert_eq!(r.code, 1, "{format}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("unrecognised-image-field"),
            "{format}: {}",
            r.stdout
        );
    }
    let r = run(deny.path(), &["check", "--format", "json", "-"], text);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let sites: Vec<_> = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["line"].as_u64().unwrap(),
                i["findings"][0]["code"].as_str().unwrap().to_owned(),
                i["findings"][0]["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [("spec.image", 5), ("spec.other.image", 7)].map(|(p, l)| {
        (
            p.to_owned(),
            l,
            "unrecognised-image-field".to_owned(),
            "deny".to_owned(),
        )
    });
    assert_eq!(sites, expected, "{json}");
    assert!(json["images"][0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("(it is a mapping)"));
    let r = run(dir.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        json["images"][1]["findings"][0]["severity"], "warn",
        "{json}"
    );

    // A value of a known container field that is not a reference stays a denial.
    let pod =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, image: 'Not A Reference'}]\n";
    let r = run(dir.path(), &["check", "--format", "json", "-"], pod);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        json["images"][0]["findings"][0]["code"],
        "invalid-reference"
    );
}

#[test]
fn an_image_in_an_unknown_custom_resource_is_checked_not_skipped() {
    // Offline without a layout: the reference cannot be looked up, so the run cannot decide.
    let dir = scratch("");
    let text = "apiVersion: example.com/v1\nkind: Thing\nspec:\n  runner:\n    image: ghcr.io/acme/runner:1\n";
    let r = run(dir.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["images"][0]["image"], "ghcr.io/acme/runner:1");
    assert_eq!(
        json["images"][0]["findings"][0]["code"],
        "offline-no-layout"
    );
}

#[test]
fn a_helm_template_is_one_finding_with_the_render_hint_and_can_be_excluded() {
    let dir = scratch("");
    let chart = dir.path().join("chart/templates");
    std::fs::create_dir_all(&chart).unwrap();
    std::fs::write(
        chart.join("deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      \
         {{- range .Values.containers }}\n      - image: {{ .image }}\n      {{- end }}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("chart/values.yaml"), "image: nginx\n").unwrap();
    let r = run(dir.path(), &["check", "--format", "json", "chart"], "");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["code"], "helm-template");
    assert_eq!(errors[0]["line"], 7);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("helm template RELEASE CHART | supplygate check -"));

    // Excluded (flag, environment or config): skipped and counted; the values file stays.
    for (args, env) in [
        (
            vec![
                "check",
                "--format",
                "json",
                "--exclude",
                "templates/**",
                "chart",
            ],
            None,
        ),
        (
            vec!["check", "--format", "json", "chart"],
            Some("templates"),
        ),
    ] {
        let mut cmd = supplygate();
        cmd.args(&args).current_dir(dir.path());
        match env {
            Some(glob) => cmd.env("SUPPLYGATE_EXCLUDE", glob),
            None => cmd.env_remove("SUPPLYGATE_EXCLUDE"),
        };
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        // Only the values file is left, which is not a Kubernetes object: nothing was checked.
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["notices"][0]["code"], "no-manifests", "{json}");
        assert_eq!(json["summary"]["excluded_paths"], 1);
        assert_eq!(json["errors"].as_array().unwrap().len(), 0);
        assert!(json["notes"].as_array().unwrap().contains(&Value::from(
            "1 path excluded (`--exclude`, `paths.exclude`)"
        )));
    }
    let configured = scratch("paths:\n  exclude: [\"chart/templates\"]\n");
    std::fs::create_dir_all(configured.path().join("chart/templates")).unwrap();
    std::fs::copy(
        chart.join("deployment.yaml"),
        configured.path().join("chart/templates/deployment.yaml"),
    )
    .unwrap();
    let r = run(
        configured.path(),
        &["check", "--format", "json", "chart"],
        "",
    );
    // Everything excluded: nothing read, which is still an error.
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["notices"][0]["code"], "no-manifests");
    assert!(json["notices"][0]["message"]
        .as_str()
        .unwrap()
        .contains("(1 path excluded)"));
}

#[test]
fn a_yaml_file_with_template_like_strings_is_read_as_yaml() {
    // Argo Workflows parameters look like template actions inside valid YAML strings.
    let dir = scratch("policy:\n  unknown_image_fields: warn\n");
    let text =
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates:\n  - name: a\n    \
                container: {image: '{{inputs.parameters.image}}'}\n";
    let r = run(dir.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        json["images"][0]["findings"][0]["code"],
        "invalid-reference"
    );
    assert_eq!(json["images"][0]["extractor"], "argo-workflows");
}

#[cfg(unix)]
#[test]
fn a_fifo_and_a_dangling_link_in_a_directory_are_reported_without_hanging() {
    let dir = scratch("");
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    let status = Command::new("mkfifo")
        .arg(m.join("pipe.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("gone.yaml", m.join("link.yaml")).unwrap();
    std::fs::write(m.join("ok.yaml"), "apiVersion: v1\nkind: Service\n").unwrap();
    let r = run(dir.path(), &["check", "--format", "json", "m"], "");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let messages: Vec<String> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["file"].as_str().unwrap(),
                e["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("m/link.yaml dangling symbolic link to `gone.yaml`"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("m/pipe.yaml not a regular file"),
        "{messages:?}"
    );
    assert_eq!(json["summary"]["documents"], 1);
}

#[test]
fn an_image_without_requirements_is_said_to_be_resolved_only() {
    let layouts = Path::new(ROOT).join("fixtures/demo/layouts");
    let dir = scratch(&format!(
        "registries:\n  127.0.0.1:5123:\n    layout: {}\n",
        layouts.display()
    ));
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: '127.0.0.1:5123/demo/cosign-signed:v1'}\n";
    for format in FORMATS {
        let r = run(dir.path(), &["check", "--format", format, "-"], text);
        assert_eq!(r.code, 0, "{format}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout
                .contains("resolved only: no signature or provenance requirement applies"),
            "{format}: {}",
            r.stdout
        );
    }
    let r = run(dir.path(), &["check", "--format", "json", "-"], text);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["images"][0]["resolved_only"], true);
    assert_eq!(json["summary"]["resolved_only"], 1);
    // With a requirement naming the image, it is no longer "resolved only" (and is denied).
    let required = scratch(&format!(
        "registries:\n  127.0.0.1:5123:\n    layout: {}\nsigners:\n  ci:\n    key: {}\n    insecure_ignore_tlog: true\n\
         require:\n  - images: [\"127.0.0.1:5123/demo/**\"]\n    signers: [ci]\n",
        layouts.display(),
        Path::new(ROOT).join("fixtures/demo/keys/demo-ci.pub").display()
    ));
    let r = run(required.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["images"][0]["resolved_only"], false);
    assert!(!r.stdout.contains("resolved only"));
}

#[test]
fn an_invalid_file_with_argo_parameters_is_not_called_a_helm_template() {
    let dir = scratch("");
    // Invalid YAML (a tab where indentation belongs) holding Argo parameters, not Go actions.
    let argo = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n\ttemplates: '{{inputs.parameters.x}} {{item}}'\n";
    let r = run(dir.path(), &["check", "--format", "json", "-"], argo);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["errors"][0]["code"], "invalid-manifest");
    for action in [
        "{{- if .Values.x }}",
        "{{ .Values.image }}",
        "{{ include \"x\" . }}",
        "{{end}}",
    ] {
        let helm = format!("apiVersion: v1\nkind: Pod\nspec:\n\tx: 1\n{action}\n");
        let r = run(dir.path(), &["check", "--format", "json", "-"], &helm);
        let json: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(json["errors"][0]["code"], "helm-template", "{action}");
    }
}

/// Argo Workflows runs the images of a `resource` template's `manifest` (upstream
/// `examples/k8s-jobs.yaml`) and of `podSpecPatch` strings: they are read with the same reader
/// and reported at the string's start; a string that cannot be read is decided by
/// `policy.unknown_image_fields`, never skipped.
#[test]
fn argo_resource_manifests_and_pod_spec_patches_are_read() {
    let text = std::fs::read_to_string(external("argoproj/argo-workflows/examples/k8s-jobs.yaml"))
        .unwrap();
    let sites = extract_with(&text, &ExtraImagePaths::default());
    let got: Vec<_> = sites
        .iter()
        .map(|s| (s.image.as_str(), s.span.line, s.path.as_str(), s.extractor))
        .collect();
    assert_eq!(
        got,
        [(
            "python:alpine3.6",
            36,
            "spec.templates[0].resource.manifest#spec.template.spec.containers[0].image",
            "argo-workflows-embedded"
        )]
    );
    assert_eq!(sites[0].resource.kind, "Job");
    assert_eq!(sites[0].container.as_deref(), Some("rand"));

    let wf = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  podSpecPatch: |\n    containers:\n    - name: main\n      image: evil.example/patched:latest\n  templates:\n  - name: main\n    podSpecPatch: '{\"initContainers\":[{\"name\":\"x\",\"image\":\"evil.example/init:latest\"}]}'\n    container: {image: 'ok:1'}\n  - name: bad\n    resource: {action: create, manifest: 'a: [b'}\n";
    let got: Vec<_> = extract_with(wf, &ExtraImagePaths::default())
        .into_iter()
        .map(|s| (s.image, s.span.line, s.path))
        .collect();
    assert_eq!(
        got[0],
        (
            "evil.example/patched:latest".to_owned(),
            6,
            "spec.podSpecPatch#containers[0].image".to_owned()
        )
    );
    assert_eq!(
        got[1],
        (
            "evil.example/init:latest".to_owned(),
            11,
            "spec.templates[0].podSpecPatch#initContainers[0].image".to_owned()
        )
    );
    assert_eq!(got[2].0, "ok:1");
    assert_eq!(got[3].2, "spec.templates[1].resource.manifest");
    assert!(
        got[3].0.starts_with("<manifest not read: not valid YAML"),
        "{got:?}"
    );

    // Through the binary: the embedded images are checked like any other (`pin --check`
    // reports them unpinned), and the unreadable string is `unrecognised-image-field`.
    let dir = scratch("policy:\n  unknown_image_fields: deny\n");
    for format in FORMATS {
        let r = run(dir.path(), &["check", "--format", format, "-"], wf);
        assert_eq!(r.code, 2, "{format}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("unrecognised-image-field"),
            "{format}: {}",
            r.stdout
        );
    }
    let r = run(dir.path(), &["check", "--format", "json", "-"], wf);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 4, "{json}");
    assert_eq!(images[0]["image"], "evil.example/patched:latest", "{json}");
    assert_eq!(
        images[3]["findings"][0]["code"], "unrecognised-image-field",
        "{json}"
    );
    assert_eq!(images[3]["findings"][0]["severity"], "deny", "{json}");
    assert!(images[3]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("its images are not checked"));
    let r = run(dir.path(), &["pin", "--check", "--format", "json", "-"], wf);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let unpinned: Vec<_> = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["findings"][0]["code"] == "unpinned-image")
        .map(|i| i["image"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        unpinned,
        [
            "evil.example/patched:latest",
            "evil.example/init:latest",
            "ok:1"
        ]
    );
}

/// A kustomization that changes images checks something other than what is deployed when its
/// files are read as written: `kustomization-not-rendered` (exit 2) in every format.
#[test]
fn a_kustomization_that_changes_images_must_be_rendered_first() {
    let dir = scratch("");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: web, image: 'ghcr.io/acme/ok:1'}\n";
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("k/deployment.yaml", deployment);
    write(
        "k/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\nimages:\n- name: ghcr.io/acme/ok\n  newName: evil.example/x\n  newTag: latest\n",
    );
    // Without apiVersion/kind, recognised by its file name; an inline patch naming `image`.
    write("p/deployment.yaml", deployment);
    write(
        "p/kustomization.yml",
        "resources: [deployment.yaml]\npatches:\n- patch: |-\n    - op: replace\n      path: /spec/template/spec/containers/0/image\n      value: evil.example/x:1\n  target: {kind: Deployment}\n",
    );
    // What the red-team review found past a rule that looked for `image` in patches: an
    // escaped key, `kind` without `apiVersion`, a transformer file, a field in capitals
    // (kustomize matches field names in any case), a base directory, and the image overrides of
    // Flux and Argo CD.
    write("e/deployment.yaml", deployment);
    write(
        "e/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\npatches:\n- patch: '[{\"op\": \"add\", \"path\": \"/spec/template/spec/containers/0\", \"value\": {\"name\": \"c\", \"im\\x61ge\": \"evil.example/x:1\"}}]'\n  target: {kind: Deployment}\n",
    );
    write("n/deployment.yaml", deployment);
    write(
        "n/kustomization.yaml",
        "kind: Kustomization\nresources: [deployment.yaml]\nimages: [{name: ghcr.io/acme/ok, newName: evil.example/x}]\n",
    );
    write("t/deployment.yaml", deployment);
    write(
        "t/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\ntransformers: [t.yaml]\n",
    );
    write("c/deployment.yaml", deployment);
    write(
        "c/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\nIMAGES: [{name: ghcr.io/acme/ok, newName: evil.example/x}]\n",
    );
    write("b/base/deployment.yaml", deployment);
    write(
        "b/overlay/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../base]\n",
    );
    write(
        "f/flux.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: f}\nspec:\n  images: [{name: a, newTag: b}]\n",
    );
    write(
        "a/app.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  source:\n    kustomize:\n      images: ['ghcr.io/acme/ok=evil.example/x:1']\n",
    );
    // Round 3: `kind` left out (kustomize fills it in) or in capitals, a file named
    // `Kustomization`, resources a directory walk does not read, ApplicationSet generators
    // and Flux HelmRelease post-renderers.
    write("ak/deployment.yaml", deployment);
    write(
        "ak/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nresources: [deployment.yaml]\nimages: [{name: ghcr.io/acme/ok, newName: evil.example/x}]\n",
    );
    write("cap/deployment.yaml", deployment);
    write(
        "cap/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nKind: Kustomization\nresources: [deployment.yaml]\nimages: [{name: ghcr.io/acme/ok, newName: evil.example/x}]\n",
    );
    write("bare/deployment.yaml", deployment);
    write(
        "bare/Kustomization",
        "resources: [deployment.yaml]\nimages: [{name: ghcr.io/acme/ok, newName: evil.example/x}]\n",
    );
    write("txt/deployment.yaml", deployment);
    write("txt/evil.txt", deployment);
    write(
        "txt/kustomization.yaml",
        "resources: [deployment.yaml, evil.txt]\n",
    );
    write("dot/deployment.yaml", deployment);
    write("dot/.evil.yaml", deployment);
    write(
        "dot/kustomization.yaml",
        "resources: [deployment.yaml, .evil.yaml]\n",
    );
    write(
        "as/appset.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n  generators:\n  - list:\n      elements: [{a: b}]\n      template:\n        spec:\n          source:\n            kustomize:\n              images: ['ghcr.io/acme/ok=evil.example/x:1']\n",
    );
    write(
        "hr/release.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  postRenderers:\n  - kustomize:\n      images: [{name: ghcr.io/acme/ok, newName: evil.example/x}]\n",
    );
    for (input, line, what) in [
        ("ak", 3, "its `images` can change"),
        ("cap", 4, "its `images` can change"),
        ("bare", 2, "its `images` can change"),
        (
            "txt",
            1,
            "resource `evil.txt` is a file a directory walk does not read",
        ),
        ("as", 5, "ApplicationSet's spec mentions images"),
        ("hr", 6, "HelmRelease's `spec.postRenderers`"),
        ("k", 4, "its `images` can change"),
        ("p", 2, "its `patches` can change"),
        ("e", 4, "its `patches` can change"),
        ("n", 3, "its `images` can change"),
        ("t", 4, "its `transformers` can change"),
        ("c", 4, "its `IMAGES` can change"),
        ("b/overlay", 3, "resource `../base` is a directory"),
        ("f", 5, "Flux Kustomization's `spec.images`"),
        ("a", 7, "Argo CD Application's `kustomize.images`"),
    ] {
        for format in FORMATS {
            let r = run(dir.path(), &["check", "--format", format, input], "");
            assert_eq!(r.code, 2, "{input} {format}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stdout.contains("kustomization-not-rendered"),
                "{input} {format}: {}",
                r.stdout
            );
        }
        let r = run(dir.path(), &["check", "--format", "json", input], "");
        let json: Value = serde_json::from_str(&r.stdout).unwrap();
        let error = &json["errors"][0];
        assert_eq!(error["code"], "kustomization-not-rendered", "{json}");
        assert_eq!(error["line"], line, "{json}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(what), "{json}");
        assert!(
            message.contains("kubectl kustomize DIR | supplygate check -"),
            "{json}"
        );
    }
    // Hidden files are read, as `kubectl apply -R` and Argo CD read them: the kustomization
    // listing one is then read as written, and the hidden Deployment is a site.
    let r = run(dir.path(), &["images", "--format", "json", "dot"], "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    let files: Vec<&str> = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["dot/.evil.yaml", "dot/deployment.yaml"], "{json}");
    // A kustomization that only lists resource files, names and generated ConfigMaps, and a
    // Flux `Kustomization` without overrides, are read as they are.
    write("plain/deployment.yaml", deployment);
    write(
        "plain/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\nnamespace: x\nconfigMapGenerator: [{name: c, literals: [a=b]}]\n",
    );
    write(
        "plain/flux.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: f}\nspec:\n  path: ./app\n  images: []\n",
    );
    let r = run(dir.path(), &["check", "--format", "json", "plain"], "");
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["errors"].as_array().unwrap().len(), 0, "{json}");
}

#[test]
fn an_object_of_any_kind_with_items_is_read_as_a_list_like_kubectl_reads_it() {
    // Kubernetes' decoder reads an object with an `items` list as a list whatever its kind:
    // kubectl applies the Deployment here, not the Pod. Both images are sites.
    let dir = scratch("");
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: 'ghcr.io/acme/signed:1'}\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n  spec:\n    template:\n      spec:\n        containers:\n        - {name: c, image: 'ghcr.io/acme/hidden:1'}\n";
    let found = listed_sites(dir.path(), text);
    assert!(
        found.contains(&(
            "items[0].spec.template.spec.containers[0].image".into(),
            "ghcr.io/acme/hidden:1".into()
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "spec.containers[0].image".into(),
            "ghcr.io/acme/signed:1".into()
        )),
        "{found:?}"
    );
}

#[test]
fn a_document_separator_kubectl_reads_otherwise_is_refused_in_check_and_pin() {
    // `---#` splits documents for kubectl, not for YAML: the second Pod would be a string.
    let dir = scratch("");
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: 'ghcr.io/acme/signed@sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455'}\n---# : |\n  apiVersion: v1\n  kind: Pod\n  metadata: {name: q}\n  spec:\n    containers:\n    - {name: b, image: 'ghcr.io/acme/hidden:1'}\n";
    for args in [
        &["check", "--format", "json", "-"][..],
        &["pin", "--check", "-"][..],
    ] {
        let r = run(dir.path(), args, text);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            (r.stdout.clone() + &r.stderr).contains("ambiguous-yaml"),
            "{args:?}: {}{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn argo_inline_templates_of_steps_and_dag_tasks_are_read() {
    let dir = scratch("");
    let text = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  templates:\n  - name: main\n    steps:\n    - - name: make\n        inline:\n          resource:\n            action: create\n            manifest: |\n              apiVersion: v1\n              kind: Pod\n              metadata: {name: x}\n              spec:\n                containers:\n                - {name: c, image: 'ghcr.io/acme/from-manifest:1'}\n  - name: dag\n    dag:\n      tasks:\n      - name: t\n        inline:\n          container: {image: 'ghcr.io/acme/inline:1'}\n          podSpecPatch: '{\"containers\": [{\"name\": \"main\", \"image\": \"ghcr.io/acme/patched:1\"}]}'\n";
    let found = listed_sites(dir.path(), text);
    for expected in [
        (
            "spec.templates[0].steps[0][0].inline.resource.manifest#spec.containers[0].image",
            "ghcr.io/acme/from-manifest:1",
        ),
        (
            "spec.templates[1].dag.tasks[0].inline.container.image",
            "ghcr.io/acme/inline:1",
        ),
        (
            "spec.templates[1].dag.tasks[0].inline.podSpecPatch#containers[0].image",
            "ghcr.io/acme/patched:1",
        ),
    ] {
        let expected = (expected.0.to_owned(), expected.1.to_owned());
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
}

#[test]
fn a_template_of_a_helm_chart_is_refused_even_when_it_is_valid_yaml() {
    // Its actions sit in comments, so YAML reads the signed image; Helm renders another.
    let dir = scratch("");
    let chart = dir.path().join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/deploy.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    # {{- if false }}\n    image: ghcr.io/acme/signed:1\n    # {{- end }}\n",
    )
    .unwrap();
    let r = run(dir.path(), &["check", "--format", "json", "chart"], "");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["errors"][0]["code"], "helm-template", "{json}");
    assert_eq!(json["errors"][0]["line"], 7, "{json}");
    // Any action, at any depth under the chart: `{{ "…" }}` prints text Helm renders.
    let deep = chart.join("templates/a/b/c/d");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(
        deep.join("pod.yaml"),
        "# {{ \"\\nimage: evil.example/x:1\" }}\napiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers: [{name: a, image: 'ghcr.io/acme/signed:1'}]\n",
    )
    .unwrap();
    let r = run(
        dir.path(),
        &["check", "--format", "json", "chart/templates/a"],
        "",
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["errors"][0]["code"], "helm-template", "{json}");
    std::fs::remove_dir_all(chart.join("templates/a")).unwrap();
    // The same text outside a chart is read as the YAML it is.
    std::fs::remove_file(chart.join("Chart.yaml")).unwrap();
    let r = run(dir.path(), &["images", "--format", "json", "chart"], "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn exclude_globs_see_paths_from_the_checked_directory_not_above_it() {
    // `builds/**` written for the repository must not match where the checkout lives
    // (`/…/builds/acme/repo/deploy`, as GitLab CI lays it out).
    let dir = scratch("");
    let deploy = dir.path().join("builds/acme/repo/deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    std::fs::write(
        deploy.join("app.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: 'ghcr.io/acme/app:1'}]\n",
    )
    .unwrap();
    let absolute = deploy.to_str().unwrap();
    // Run from `/`, so that the checked directory is not under the current one.
    let json_of = |mode: &str, glob: &str| -> (i32, Value) {
        let args = [
            "check",
            mode,
            "--format",
            "json",
            "--exclude",
            glob,
            absolute,
        ];
        let r = run(Path::new("/"), &args, "");
        let json = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
        (r.code, json)
    };
    // Checked (offline without a layout: could not decide), not excluded.
    let (code, json) = json_of("--offline", "builds/**");
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["images"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["summary"]["excluded_paths"], 0, "{json}");
    // Written for what is under the checked directory, it still applies.
    let (_, json) = json_of("--offline", "deploy/app.yaml");
    assert_eq!(json["images"].as_array().unwrap().len(), 0, "{json}");
    assert_eq!(json["summary"]["excluded_paths"], 1, "{json}");
    // `check --list` lists what `check` reads: the same exclusions.
    let (_, json) = json_of("--list", "deploy/app.yaml");
    assert_eq!(json["images"].as_array().unwrap().len(), 0, "{json}");
}

/// `supplygate images --format json -` of `text`: each site's field path and image.
fn listed_sites(dir: &Path, text: &str) -> Vec<(String, String)> {
    let r = run(dir, &["images", "--format", "json", "-"], text);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    json["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["field"].as_str().unwrap().to_owned(),
                i["image"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
