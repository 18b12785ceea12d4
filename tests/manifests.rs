//! Manifests as people write them: the custom resources of well-known projects (their own
//! published examples, in `fixtures/external/`), the generic pass, empty renders, Helm
//! templates, excluded paths and files that are not regular files, through the library and
//! the `supplygate check` binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

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
    // The partial coverage: the init container alone looked like the whole workflow.
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
        .contains("no-manifests: no manifest was read; allowed by `--allow-empty`"));
    assert!(r.stdout.contains("no document read"), "{}", r.stdout);
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

    let deny = scratch("policy:\n  unknown_image_fields: deny\n");
    let r = run(deny.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        json["images"][0]["findings"][0]["code"],
        "unrecognised-image-field"
    );
    assert_eq!(json["images"][0]["findings"][0]["severity"], "deny");

    let allow = scratch("policy:\n  unknown_image_fields: allow\n");
    let r = run(allow.path(), &["check", "--format", "json", "-"], text);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["images"][0]["path"], "spec.image");
    assert_eq!(json["images"][0]["decision"], "allow");
    assert_eq!(json["images"][0]["findings"].as_array().unwrap().len(), 0);

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
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        let json: Value = serde_json::from_str(&stdout).unwrap();
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
