//! Stage (1), the built-in extractors: where the custom resources people deploy images with
//! keep their images, recognised by `kind` *and* API group (a kind of the same name in
//! another group has its own layout, and falls to the generic pass).
//!
//! Each [`Extractor`] names pod specs (read like a `Pod`'s: every container list and image
//! volume) and image fields (a scalar that is an image reference). The table is documented in
//! `docs/manifests.md`; a user rule in `images.extra` for a kind replaces its built-in entry.

use std::sync::LazyLock;

use super::{ContainerKind, FieldPath};

/// The name of the extractor of the built-in Kubernetes workloads (`Pod`, `Deployment`, ...).
pub const KUBERNETES: &str = "kubernetes";
/// The name of the extractor of a user's `images.extra` rule.
pub const USER_RULE: &str = "images.extra";
/// The generic pass's container search: `containers`, `initContainers`, `ephemeralContainers`
/// lists and image volumes anywhere in an object.
pub const GENERIC_CONTAINERS: &str = "generic-containers";
/// Images in a string of an Argo Workflows spec: a `resource` template's `manifest` or a
/// `podSpecPatch`, read with the same reader (their sites cannot be rewritten by `pin`).
pub const ARGO_EMBEDDED: &str = "argo-workflows-embedded";
/// The generic pass's key search: every string under a key named `image`.
pub const GENERIC_IMAGE_KEY: &str = "generic-image-key";

/// One built-in extractor: the kinds of one API group it claims, and where their images are.
#[derive(Debug)]
pub struct Extractor {
    /// Shown with each site it finds (`supplygate images`, the JSON report).
    pub name: &'static str,
    /// The API group, without version.
    pub group: &'static str,
    /// The kinds it claims in that group.
    pub kinds: &'static [&'static str],
    /// Paths to pod specs.
    pub pod_specs: Vec<FieldPath>,
    /// Paths to image scalars, with the container list they stand for; the parent mapping's
    /// `name` names the container.
    pub images: Vec<(FieldPath, ContainerKind)>,
}

/// The extractor claiming objects of `kind` in `api_version`'s group, if any.
pub fn builtin(api_version: &str, kind: &str) -> Option<&'static Extractor> {
    let group = super::api_group(api_version)?;
    EXTRACTORS
        .iter()
        .find(|e| e.group == group && e.kinds.contains(&kind))
}

/// Every built-in extractor, for documentation and tests.
pub fn all() -> &'static [Extractor] {
    &EXTRACTORS
}

/// Parses paths written in this file; a typo is caught by the unit test that parses them all.
fn paths(texts: &[String]) -> Vec<FieldPath> {
    texts
        .iter()
        .filter_map(|t| FieldPath::parse(t).ok())
        .collect()
}

fn images(texts: &[(String, ContainerKind)]) -> Vec<(FieldPath, ContainerKind)> {
    texts
        .iter()
        .filter_map(|(t, k)| FieldPath::parse(t).ok().map(|p| (p, *k)))
        .collect()
}

/// The container fields of an Argo Workflows template at `t` (a `templates[*]` item or
/// `templateDefaults`).
fn argo_template(t: &str) -> Vec<(String, ContainerKind)> {
    use ContainerKind::{Container, Init};
    vec![
        (format!("{t}.container.image"), Container),
        (format!("{t}.script.image"), Container),
        (format!("{t}.containerSet.containers[*].image"), Container),
        (format!("{t}.initContainers[*].image"), Init),
        (format!("{t}.sidecars[*].image"), Container),
    ]
}

/// The argo workflow spec at `s`: its templates and template defaults.
fn argo_workflow_spec(s: &str) -> Vec<(String, ContainerKind)> {
    let mut out = Vec::new();
    for t in argo_templates(s) {
        out.extend(argo_template(&t));
    }
    out
}

/// Every place an Argo Workflows spec at `s` holds a template: `templates[*]`, the template
/// defaults, and the inline templates of steps and DAG tasks.
pub(crate) fn argo_templates(s: &str) -> Vec<String> {
    vec![
        format!("{s}.templates[*]"),
        format!("{s}.templateDefaults"),
        format!("{s}.templates[*].steps[*][*].inline"),
        format!("{s}.templates[*].dag.tasks[*].inline"),
    ]
}

/// The steps of a Tekton task spec at `s`.
fn tekton_task(s: &str) -> Vec<(String, ContainerKind)> {
    use ContainerKind::Container;
    vec![
        (format!("{s}.steps[*].image"), Container),
        (format!("{s}.sidecars[*].image"), Container),
        (format!("{s}.stepTemplate.image"), Container),
    ]
}

/// The embedded task specs of a Tekton pipeline spec at `s`.
fn tekton_pipeline(s: &str) -> Vec<(String, ContainerKind)> {
    let mut out = tekton_task(&format!("{s}.tasks[*].taskSpec"));
    out.extend(tekton_task(&format!("{s}.finally[*].taskSpec")));
    out
}

/// The pod specs of a Ray cluster spec at `s`.
fn ray_cluster(s: &str) -> Vec<String> {
    vec![
        format!("{s}.headGroupSpec.template.spec"),
        format!("{s}.workerGroupSpecs[*].template.spec"),
    ]
}

/// The images of a Spark application spec at `s`.
fn spark(s: &str) -> Vec<(String, ContainerKind)> {
    use ContainerKind::{Container, Init, Other};
    let mut out = vec![(format!("{s}.image"), Other)];
    for role in ["driver", "executor"] {
        out.push((format!("{s}.{role}.image"), Other));
        out.push((format!("{s}.{role}.initContainers[*].image"), Init));
        out.push((format!("{s}.{role}.sidecars[*].image"), Container));
    }
    out
}

/// The images of a KubeVirt VMI spec at `s`.
fn kubevirt(s: &str) -> Vec<(String, ContainerKind)> {
    use ContainerKind::Volume;
    vec![
        (format!("{s}.volumes[*].containerDisk.image"), Volume),
        (
            format!("{s}.domain.firmware.kernelBoot.container.image"),
            Volume,
        ),
    ]
}

fn other(texts: &[&str]) -> Vec<(String, ContainerKind)> {
    texts
        .iter()
        .map(|t| ((*t).to_owned(), ContainerKind::Other))
        .collect()
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

/// One entry of the table, from path texts.
fn entry(
    name: &'static str,
    group: &'static str,
    kinds: &'static [&'static str],
    pod_specs: &[String],
    image_paths: &[(String, ContainerKind)],
) -> Extractor {
    Extractor {
        name,
        group,
        kinds,
        pod_specs: paths(pod_specs),
        images: images(image_paths),
    }
}

static EXTRACTORS: LazyLock<Vec<Extractor>> = LazyLock::new(|| {
    let kubeflow = |field: &str| vec![format!("spec.{field}[*].template.spec")];
    let mut rayjob = ray_cluster("spec.rayClusterSpec");
    rayjob.push("spec.submitterPodTemplate.spec".to_owned());
    let mut collector = other(&["spec.image", "spec.targetAllocator.image"]);
    collector.push((
        "spec.additionalContainers[*].image".to_owned(),
        ContainerKind::Container,
    ));
    vec![
        entry(
            "argo-rollouts",
            "argoproj.io",
            &["Rollout"],
            &strings(&["spec.template.spec"]),
            &[],
        ),
        entry(
            "argo-workflows",
            "argoproj.io",
            &["Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"],
            &[],
            &argo_workflow_spec("spec"),
        ),
        entry(
            "argo-workflows",
            "argoproj.io",
            &["CronWorkflow"],
            &[],
            &argo_workflow_spec("spec.workflowSpec"),
        ),
        entry(
            "tekton",
            "tekton.dev",
            &["Task", "ClusterTask"],
            &[],
            &tekton_task("spec"),
        ),
        entry(
            "tekton",
            "tekton.dev",
            &["TaskRun"],
            &[],
            &tekton_task("spec.taskSpec"),
        ),
        entry(
            "tekton",
            "tekton.dev",
            &["Pipeline"],
            &[],
            &tekton_pipeline("spec"),
        ),
        entry(
            "tekton",
            "tekton.dev",
            &["PipelineRun"],
            &[],
            &tekton_pipeline("spec.pipelineSpec"),
        ),
        entry(
            "tekton",
            "tekton.dev",
            &["StepAction"],
            &[],
            &other(&["spec.image"]),
        ),
        entry(
            "knative-serving",
            "serving.knative.dev",
            &["Service", "Configuration"],
            &strings(&["spec.template.spec"]),
            &[],
        ),
        entry(
            "knative-serving",
            "serving.knative.dev",
            &["Revision"],
            &strings(&["spec"]),
            &[],
        ),
        entry(
            "knative-caching",
            "caching.internal.knative.dev",
            &["Image"],
            &[],
            &other(&["spec.image"]),
        ),
        entry(
            "prometheus-operator",
            "monitoring.coreos.com",
            &[
                "Prometheus",
                "Alertmanager",
                "ThanosRuler",
                "PrometheusAgent",
            ],
            &strings(&["spec"]),
            &other(&["spec.image", "spec.thanos.image"]),
        ),
        entry(
            "opentelemetry-operator",
            "opentelemetry.io",
            &["OpenTelemetryCollector"],
            &strings(&["spec"]),
            &collector,
        ),
        entry(
            "opentelemetry-operator",
            "opentelemetry.io",
            &["Instrumentation"],
            &[],
            &other(&["spec[*].image", "spec.java.extensions[*].image"]),
        ),
        entry(
            "opentelemetry-operator",
            "opentelemetry.io",
            &["OpAMPBridge"],
            &[],
            &other(&["spec.image"]),
        ),
        entry(
            "keda",
            "keda.sh",
            &["ScaledJob"],
            &strings(&["spec.jobTargetRef.template.spec"]),
            &[],
        ),
        entry(
            "kubeflow",
            "kubeflow.org",
            &["PyTorchJob"],
            &kubeflow("pytorchReplicaSpecs"),
            &[],
        ),
        entry(
            "kubeflow",
            "kubeflow.org",
            &["TFJob"],
            &kubeflow("tfReplicaSpecs"),
            &[],
        ),
        entry(
            "kubeflow",
            "kubeflow.org",
            &["MPIJob"],
            &kubeflow("mpiReplicaSpecs"),
            &[],
        ),
        entry(
            "kubeflow",
            "kubeflow.org",
            &["XGBoostJob"],
            &kubeflow("xgbReplicaSpecs"),
            &[],
        ),
        entry(
            "kubeflow",
            "kubeflow.org",
            &["PaddleJob"],
            &kubeflow("paddleReplicaSpecs"),
            &[],
        ),
        entry(
            "kubeflow",
            "kubeflow.org",
            &["JAXJob"],
            &kubeflow("jaxReplicaSpecs"),
            &[],
        ),
        entry("ray", "ray.io", &["RayCluster"], &ray_cluster("spec"), &[]),
        entry("ray", "ray.io", &["RayJob"], &rayjob, &[]),
        entry(
            "ray",
            "ray.io",
            &["RayService"],
            &ray_cluster("spec.rayClusterConfig"),
            &[],
        ),
        entry(
            "spark-operator",
            "sparkoperator.k8s.io",
            &["SparkApplication"],
            &[],
            &spark("spec"),
        ),
        entry(
            "spark-operator",
            "sparkoperator.k8s.io",
            &["ScheduledSparkApplication"],
            &[],
            &spark("spec.template"),
        ),
        entry(
            "crossplane",
            "pkg.crossplane.io",
            &["Provider", "Function", "Configuration"],
            &[],
            &other(&["spec.package"]),
        ),
        entry(
            "crossplane",
            "pkg.crossplane.io",
            &["DeploymentRuntimeConfig"],
            &strings(&["spec.deploymentTemplate.spec.template.spec"]),
            &[],
        ),
        entry(
            "kubevirt",
            "kubevirt.io",
            &["VirtualMachineInstance"],
            &[],
            &kubevirt("spec"),
        ),
        entry(
            "kubevirt",
            "kubevirt.io",
            &["VirtualMachine", "VirtualMachineInstanceReplicaSet"],
            &[],
            &kubevirt("spec.template.spec"),
        ),
        entry(
            "kubevirt",
            "pool.kubevirt.io",
            &["VirtualMachinePool"],
            &[],
            &kubevirt("spec.virtualMachineTemplate.spec.template.spec"),
        ),
        entry(
            "volcano",
            "batch.volcano.sh",
            &["Job"],
            &strings(&["spec.tasks[*].template.spec"]),
            &[],
        ),
    ]
});

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

/// The container lists of a pod spec, in the order Kubernetes starts them.
pub(crate) const CONTAINER_LISTS: [(&str, ContainerKind); 3] = [
    ("initContainers", ContainerKind::Init),
    ("containers", ContainerKind::Container),
    ("ephemeralContainers", ContainerKind::Ephemeral),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path written in the table parses: none is dropped by `paths`/`images`.
    #[test]
    fn every_path_in_the_table_parses() {
        let written = |e: &Extractor| e.pod_specs.len() + e.images.len();
        assert!(all().iter().all(|e| written(e) > 0));
        // Recount from the texts: a path that failed to parse would be missing.
        let argo = builtin("argoproj.io/v1alpha1", "Workflow").unwrap();
        assert_eq!(argo.images.len(), argo_workflow_spec("spec").len());
        let spark = builtin("sparkoperator.k8s.io/v1beta2", "SparkApplication").unwrap();
        assert_eq!(spark.images.len(), 7);
        let ot = builtin("opentelemetry.io/v1beta1", "OpenTelemetryCollector").unwrap();
        assert_eq!(ot.images.len(), 3);
        assert_eq!(ot.pod_specs.len(), 1);
    }

    #[test]
    fn kinds_are_claimed_only_in_their_group() {
        assert_eq!(
            builtin("argoproj.io/v1alpha1", "Rollout").map(|e| e.name),
            Some("argo-rollouts")
        );
        assert!(builtin("example.com/v1", "Rollout").is_none());
        assert!(builtin("argoproj.io", "Rollout").is_none());
        assert!(builtin("batch/v1", "Job").is_none());
        assert_eq!(
            builtin("batch.volcano.sh/v1alpha1", "Job").map(|e| e.name),
            Some("volcano")
        );
        // Each (group, kind) is claimed once.
        let mut seen = std::collections::BTreeSet::new();
        for e in all() {
            for k in e.kinds {
                assert!(seen.insert((e.group, *k)), "{} {k}", e.group);
            }
        }
    }
}
