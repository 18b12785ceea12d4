//! The project's own deploy/ files: the self-check (`supplygate check deploy/` allows every image,
//! each pinned and signed, resolved offline from fixtures/self); the hook Jobs' and the webhook
//! Deployment's own commands run as the cluster would run them (ConfigMaps and Secrets laid out
//! as the kubelet mounts them); and the properties the webhook, the Argo CD and Flux hooks and
//! the Dockerfile promise, read from the files themselves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde_json::Value;
use supplygate::manifest::{yaml, Limits, Origin};

use crate::common;

use common::Outcome;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SELF_CONFIG: &str = "fixtures/self/supplygate.yaml";

/// Runs the binary in the repository root, with no ambient config and no credentials.
fn supplygate(args: &[&str]) -> Outcome {
    let none = tempfile::tempdir().unwrap();
    let out = common::supplygate()
        .args(args)
        .current_dir(ROOT)
        .env_remove("SUPPLYGATE_CONFIG")
        .env_remove("SUPPLYGATE_FORMAT")
        .env_remove("SUPPLYGATE_OFFLINE")
        .env("DOCKER_CONFIG", none.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Outcome::from_output(out)
}

/// Every YAML document of a file under the repository root, as JSON, read with supplygate's own
/// YAML reader (the one `check` uses).
fn docs(rel: &str) -> Vec<Value> {
    let path = Path::new(ROOT).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let origin = Arc::new(Origin::File(path));
    yaml::parse_documents(&text, &origin, &Limits::default())
        .unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
        .into_iter()
        .map(|d| d.root.to_json())
        .filter(|v| !v.is_null())
        .collect()
}

/// The one document of `kind` (and `name`, when given) in a file.
fn doc(rel: &str, kind: &str, name: Option<&str>) -> Value {
    let mut found: Vec<Value> = docs(rel)
        .into_iter()
        .filter(|d| d["kind"] == kind && name.is_none_or(|n| d["metadata"]["name"] == n))
        .collect();
    assert_eq!(found.len(), 1, "{rel}: expected one {kind} {name:?}");
    found.remove(0)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Every file under deploy/ that `check` reads (.yaml, .yml, .json), relative to the root.
fn deploy_files() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(ROOT).join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                let rel = path.strip_prefix(ROOT).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The `--flag` names in container args (`--flag=value` and `--flag value` alike).
fn flags(args: &[String]) -> BTreeSet<String> {
    args.iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap().to_owned())
        .collect()
}

fn only_container(pod_spec: &Value) -> &Value {
    let containers = pod_spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{pod_spec}");
    &containers[0]
}

/// Non-root, read-only root filesystem, no capabilities, no privilege escalation, the runtime's
/// seccomp profile: the `restricted` Pod Security Standard, and what the README promises.
fn assert_hardened(what: &str, pod_spec: &Value) {
    let pod = &pod_spec["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true, "{what}");
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault", "{what}");
    assert_eq!(pod_spec["automountServiceAccountToken"], false, "{what}");
    for c in pod_spec["containers"].as_array().unwrap() {
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{what}");
        assert!(
            c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object(),
            "{what}: requests and limits"
        );
    }
}

#[test]
fn self_check_allows_every_image_in_deploy_pinned_and_signed() {
    let out = supplygate(&[
        "check",
        "--config",
        SELF_CONFIG,
        "--format",
        "json",
        "deploy/",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    assert_eq!(report["decision"], "allow", "{out:?}");
    let images = report["images"].as_array().unwrap();
    let files: BTreeSet<&str> = images.iter().map(|i| i["file"].as_str().unwrap()).collect();
    // The webhook, both hooks and both example applications.
    for file in [
        "deploy/webhook/deployment.yaml",
        "deploy/argocd/presync-job.yaml",
        "deploy/argocd/app/deployment.yaml",
        "deploy/flux/verify-job.yaml",
        "deploy/flux/app/deployment.yaml",
    ] {
        assert!(
            files.contains(file),
            "no image checked in {file}: {files:?}"
        );
    }
    for image in images {
        assert_eq!(image["decision"], "allow", "{image}");
        assert!(image["findings"].as_array().unwrap().is_empty(), "{image}");
        let written = image["image"].as_str().unwrap();
        let digest = image["digest"].as_str().unwrap();
        assert!(
            written.ends_with(&format!("@{digest}")),
            "not pinned: {image}"
        );
        let facts = image["signatures"]["facts"].as_array().unwrap();
        assert!(
            facts
                .iter()
                .any(|f| strings(&f["verified_by"]) == ["self-ci"]),
            "not signed by the fixture key: {image}"
        );
    }
    assert_eq!(
        report["errors"].as_array().map_or(0, Vec::len),
        0,
        "{out:?}"
    );
}

#[test]
fn every_image_in_deploy_is_pinned_by_digest() {
    let out = supplygate(&["pin", "--check", "deploy/"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn self_check_denies_a_pin_the_fixture_does_not_hold_and_an_image_from_elsewhere() {
    let webhook =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/webhook/deployment.yaml")).unwrap();
    let pinned = "ghcr.io/supplygate/supplygate:0.1.0@sha256:";
    assert!(webhook.contains(pinned));
    let dir = tempfile::tempdir().unwrap();
    // Another digest: what a stale or edited pin looks like.
    let stale = replace_digest_after(&webhook, pinned, &"0".repeat(64));
    std::fs::write(dir.path().join("stale.yaml"), stale).unwrap();
    let out = supplygate(&[
        "check",
        "--config",
        SELF_CONFIG,
        "--format",
        "json",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let report = out.json();
    let codes: Vec<&str> = report["images"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"image-not-found"), "{out:?}");

    // An image from a registry the self-check does not serve: undecided, never allowed.
    let elsewhere = replace_image(&webhook, "docker.io/library/busybox:1.36");
    std::fs::write(dir.path().join("stale.yaml"), elsewhere).unwrap();
    let out = supplygate(&[
        "check",
        "--config",
        SELF_CONFIG,
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("offline-no-layout"), "{out:?}");
}

/// `text` with the 64 hex digits after `prefix` replaced by `hex`.
fn replace_digest_after(text: &str, prefix: &str, hex: &str) -> String {
    let start = text.find(prefix).unwrap() + prefix.len();
    format!("{}{hex}{}", &text[..start], &text[start + 64..])
}

/// `text` with the value of its one `image:` replaced by `image`.
fn replace_image(text: &str, image: &str) -> String {
    let key = "image: ";
    let start = text.find(key).unwrap() + key.len();
    let end = start + text[start..].find('\n').unwrap();
    format!("{}{image}{}", &text[..start], &text[end..])
}

/// Writes `files` (key, contents) into `mount` as the kubelet lays out a ConfigMap volume: a
/// hidden timestamped directory, a hidden `..data` link to it, and one visible link per key.
fn configmap_volume(mount: &Path, files: &[(String, String)]) {
    let data = mount.join("..2026_11_24_12_00_00.000000001");
    std::fs::create_dir_all(&data).unwrap();
    for (key, text) in files {
        std::fs::write(data.join(key), text).unwrap();
        std::os::unix::fs::symlink(format!("..data/{key}"), mount.join(key)).unwrap();
    }
    std::os::unix::fs::symlink(data.file_name().unwrap(), mount.join("..data")).unwrap();
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap()
}

#[test]
fn presync_check_reads_manifests_from_a_configmap_volume() {
    // The hook Jobs point `check` at such a mount.
    let mount = tempfile::tempdir().unwrap();
    let text = read("deploy/argocd/app/deployment.yaml");
    configmap_volume(mount.path(), &[("deployment.yaml".to_owned(), text)]);
    let out = supplygate(&[
        "check",
        "--config",
        SELF_CONFIG,
        "--mode",
        "presync",
        "--format",
        "json",
        mount.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    // Read once, through the visible link; the hidden copies are skipped.
    let images = out.json()["images"].as_array().unwrap().clone();
    assert_eq!(images.len(), 1, "{out:?}");
    assert!(images[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("/deployment.yaml"));
}

#[test]
fn every_deploy_file_parses() {
    let files = deploy_files();
    assert!(files.len() >= 20, "{files:?}");
    for file in files {
        assert!(!docs(&file).is_empty(), "{file} is empty");
    }
}

#[test]
fn kustomizations_name_files_that_exist() {
    for dir in [
        "deploy/webhook",
        "deploy/argocd",
        "deploy/flux",
        "deploy/flux/app",
    ] {
        let k = doc(&format!("{dir}/kustomization.yaml"), "Kustomization", None);
        let mut names = strings(&k["resources"]);
        for generator in k["configMapGenerator"].as_array().into_iter().flatten() {
            names.extend(strings(&generator["files"]));
        }
        assert!(!names.is_empty(), "{dir}");
        for name in names {
            assert!(
                Path::new(ROOT).join(dir).join(&name).exists(),
                "{dir}/kustomization.yaml names {name}, which does not exist"
            );
        }
    }
    // The optional mutating webhook is off by default.
    let webhook = doc("deploy/webhook/kustomization.yaml", "Kustomization", None);
    assert!(!strings(&webhook["resources"]).contains(&"mutatingwebhook.yaml".to_owned()));
}

#[test]
fn webhook_fails_closed_and_spares_system_namespaces() {
    let config = doc(
        "deploy/webhook/validatingwebhook.yaml",
        "ValidatingWebhookConfiguration",
        None,
    );
    let cert = doc(
        "deploy/webhook/certificate.yaml",
        "Certificate",
        Some("supplygate-webhook-tls"),
    );
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!(
            "{}/{}",
            cert["metadata"]["namespace"].as_str().unwrap(),
            cert["metadata"]["name"].as_str().unwrap()
        )
    );
    let hooks = config["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(strings(&hook["admissionReviewVersions"]), ["v1"]);
    let timeout = hook["timeoutSeconds"].as_u64().unwrap();
    assert!((1..=30).contains(&timeout), "{timeout}");
    assert_eq!(hook["clientConfig"]["service"]["path"], "/validate");
    let service = &hook["clientConfig"]["service"];
    let svc = doc("deploy/webhook/service.yaml", "Service", None);
    assert_eq!(service["name"], svc["metadata"]["name"]);
    assert_eq!(service["namespace"], svc["metadata"]["namespace"]);
    // The certificate names the Service as the API server dials it.
    let dns = strings(&cert["spec"]["dnsNames"]);
    assert!(
        dns.contains(&"supplygate-webhook.supplygate.svc".to_owned()),
        "{dns:?}"
    );

    let excluded = &hook["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["key"], "kubernetes.io/metadata.name");
    assert_eq!(excluded["operator"], "NotIn");
    assert_eq!(strings(&excluded["values"]), ["kube-system", "supplygate"]);

    let mut resources = BTreeSet::new();
    for rule in hook["rules"].as_array().unwrap() {
        assert_eq!(strings(&rule["operations"]), ["CREATE", "UPDATE"], "{rule}");
        resources.extend(strings(&rule["resources"]));
    }
    for kind in [
        "pods",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
        "replicationcontrollers",
        "podtemplates",
    ] {
        assert!(
            resources.contains(kind),
            "{kind} is not sent to the webhook"
        );
    }
}

#[test]
fn webhook_deployment_is_redundant_hardened_and_probed() {
    let deployment = doc("deploy/webhook/deployment.yaml", "Deployment", None);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_hardened("webhook", pod);
    let container = only_container(pod);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    let args = strings(&container["args"]);
    assert_eq!(args[0], "serve");
    let used = flags(&args);
    for flag in [
        "--config",
        "--tls-cert",
        "--tls-key",
        "--listen",
        "--deadline",
    ] {
        assert!(used.contains(flag), "serve is started without {flag}");
    }
    // serve gives up (and denies) before the API server stops waiting.
    let deadline: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("--deadline="))
        .and_then(|d| d.strip_suffix('s'))
        .unwrap()
        .parse()
        .unwrap();
    let hook = doc(
        "deploy/webhook/validatingwebhook.yaml",
        "ValidatingWebhookConfiguration",
        None,
    );
    assert!(deadline < hook["webhooks"][0]["timeoutSeconds"].as_u64().unwrap());
    // The certificate is mounted from the Secret cert-manager writes, as a directory (not a
    // subPath), so that renewals reach the pod.
    let cert = doc(
        "deploy/webhook/certificate.yaml",
        "Certificate",
        Some("supplygate-webhook-tls"),
    );
    let tls = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == cert["spec"]["secretName"])
        .expect("a volume from the certificate's Secret");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == tls["name"])
        .unwrap();
    assert!(mount["subPath"].is_null());
    let mount_path = mount["mountPath"].as_str().unwrap();
    assert!(
        args.contains(&format!("--tls-cert={mount_path}/tls.crt")),
        "{args:?}"
    );

    let pdb = doc("deploy/webhook/pdb.yaml", "PodDisruptionBudget", None);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

/// The hook Job of a directory and the ConfigMaps its kustomization generates for it.
fn assert_hook_job(dir: &str, job_file: &str) -> Value {
    let job = doc(&format!("{dir}/{job_file}"), "Job", None);
    assert_eq!(
        job["spec"]["backoffLimit"], 0,
        "{dir}: a deny must not be retried"
    );
    assert!(job["spec"]["activeDeadlineSeconds"].as_u64().unwrap() > 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_hardened(dir, pod);
    let container = only_container(pod);
    let args = strings(&container["args"]);
    assert_eq!(args[0], "check", "{dir}");
    assert!(
        args.contains(&"--mode=presync".to_owned()),
        "{dir}: {args:?}"
    );
    let used = flags(&args);
    for flag in ["--config", "--locked", "--mode"] {
        assert!(used.contains(flag), "{dir}: no {flag} in {args:?}");
    }
    // The manifests path, the config and the lock are where the generated ConfigMaps are
    // mounted, and kustomization.yaml generates those ConfigMaps from the files it deploys.
    let kustomization = doc(&format!("{dir}/kustomization.yaml"), "Kustomization", None);
    let generated: Vec<&Value> = kustomization["configMapGenerator"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let mounts = container["volumeMounts"].as_array().unwrap();
    for volume in pod["volumes"].as_array().unwrap() {
        let cm = volume["configMap"]["name"].as_str().unwrap();
        let generator = generated
            .iter()
            .find(|g| g["name"] == cm)
            .unwrap_or_else(|| panic!("{dir}: ConfigMap {cm} is not generated"));
        let files = strings(&generator["files"]);
        let mount = mounts.iter().find(|m| m["name"] == volume["name"]).unwrap();
        let path = mount["mountPath"].as_str().unwrap();
        if files.contains(&"supplygate.lock".to_owned()) {
            assert!(args.contains(&format!("--locked={path}/supplygate.lock")));
            assert!(args.contains(&format!("--config={path}/supplygate.yaml")));
        } else {
            assert_eq!(args.last().unwrap(), path, "{dir}: checks another path");
            // Every manifest the kustomization deploys is in the checked ConfigMap.
            let deployed: Vec<String> = strings(&kustomization["resources"]);
            for file in &files {
                assert!(file.starts_with("app/"), "{dir}: {file}");
            }
            if dir == "deploy/argocd" {
                for r in deployed.iter().filter(|r| r.starts_with("app/")) {
                    assert!(files.contains(r), "{dir}: {r} is deployed but not checked");
                }
            }
        }
    }
    job
}

/// Runs the hook Job of `dir` as the cluster would: the ConfigMaps its kustomization generates
/// for the Job (each listed file under its base name, `edit`ed) laid out as the kubelet mounts
/// them, and the container's own args with its mount paths mapped there.
fn run_hook(dir: &str, job_file: &str, edit: impl Fn(&str, String) -> String) -> Outcome {
    let job = doc(&format!("{dir}/{job_file}"), "Job", None);
    let pod = &job["spec"]["template"]["spec"];
    let container = only_container(pod);
    let kustomization = doc(&format!("{dir}/kustomization.yaml"), "Kustomization", None);
    let root = tempfile::tempdir().unwrap();
    let mut args = strings(&container["args"]);
    for volume in pod["volumes"].as_array().unwrap() {
        let name = volume["name"].as_str().unwrap();
        let generator = kustomization["configMapGenerator"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == volume["configMap"]["name"])
            .unwrap();
        let files: Vec<(String, String)> = strings(&generator["files"])
            .iter()
            .map(|f| {
                let key = f.rsplit('/').next().unwrap().to_owned();
                (key, edit(f, read(&format!("{dir}/{f}"))))
            })
            .collect();
        let local = root.path().join(name);
        std::fs::create_dir(&local).unwrap();
        configmap_volume(&local, &files);
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["mountPath"]
            .as_str()
            .unwrap()
            .to_owned();
        let local = local.to_str().unwrap();
        for arg in &mut args {
            if *arg == mount {
                *arg = local.to_owned();
            } else if let Some((flag, path)) = arg.split_once('=') {
                if let Some(rest) = path.strip_prefix(&format!("{mount}/")) {
                    *arg = format!("{flag}={local}/{rest}");
                }
            }
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    supplygate(&args)
}

/// The hook allows the committed example as it is, and blocks (exit 1) when the manifests
/// name an image the lock does not hold, name the locked image by tag only (not re-checked
/// offline), or when the lock is not the one written for this trust (a changed signer key).
fn assert_hook_blocks_what_the_lock_does_not_cover(dir: &str, job_file: &str) {
    let out = run_hook(dir, job_file, |_, text| text);
    assert_eq!(out.code, 0, "{dir}: {out:?}");
    assert!(out.stdout.contains("1 allowed"), "{dir}: {out:?}");

    // Another image, signed and resolvable, but never verified into the lock.
    let hello = "ghcr.io/supplygate/hello:1.0.0@sha256:";
    let other = "ghcr.io/supplygate/supplygate:0.1.0@sha256:71d9319c459e851ff5039661d4171c9eb719303f4231bcc9b4b5bb18ac6530e1";
    let out = run_hook(dir, job_file, |file, text| {
        if file.starts_with("app/") {
            assert!(text.contains(hello));
            let start = text.find(hello).unwrap();
            format!(
                "{}{other}{}",
                &text[..start],
                &text[start + hello.len() + 64..]
            )
        } else {
            text
        }
    });
    assert_eq!(out.code, 1, "{dir}: {out:?}");
    assert!(out.stdout.contains("not-in-lock"), "{dir}: {out:?}");

    // The same image by tag only: the lock records the tag's digest, but the hook runs
    // `--offline` and cannot re-check it, and the kubelet would pull whatever the tag names:
    // denied `unpinned-image`, as `serve --lock` denies it.
    let out = run_hook(dir, job_file, |file, text| {
        if file.starts_with("app/") {
            let start = text.find(hello).unwrap() + hello.len() - "@sha256:".len();
            format!(
                "{}{}",
                &text[..start],
                &text[start + "@sha256:".len() + 64..]
            )
        } else {
            text
        }
    });
    assert_eq!(out.code, 1, "{dir}: {out:?}");
    assert!(out.stdout.contains("unpinned-image"), "{dir}: {out:?}");
    assert!(out.stdout.contains("supplygate pin"), "{dir}: {out:?}");

    // The config trusts another key than the one the lock was written under.
    let other_key = read("fixtures/keys/other-p256.pub");
    let out = run_hook(dir, job_file, |file, text| {
        if file == "supplygate.yaml" {
            let start = text.find("-----BEGIN").unwrap();
            let end = text.find("-----END PUBLIC KEY-----").unwrap() + 24;
            let indent = "      ";
            let key: Vec<String> = other_key.lines().map(|l| format!("{indent}{l}")).collect();
            format!(
                "{}{}{}",
                &text[..start - indent.len()],
                key.join("\n"),
                &text[end..]
            )
        } else {
            text
        }
    });
    assert_eq!(out.code, 1, "{dir}: {out:?}");
    assert!(out.stdout.contains("lock-stale"), "{dir}: {out:?}");
}

#[test]
fn argocd_presync_hook_command_passes_on_the_committed_lock_only() {
    assert_hook_blocks_what_the_lock_does_not_cover("deploy/argocd", "presync-job.yaml");
}

#[test]
fn flux_verify_job_command_passes_on_the_committed_lock_only() {
    assert_hook_blocks_what_the_lock_does_not_cover("deploy/flux", "verify-job.yaml");
}

#[test]
fn argocd_presync_hook_blocks_the_sync_on_a_nonzero_exit() {
    let job = assert_hook_job("deploy/argocd", "presync-job.yaml");
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["argocd.argoproj.io/hook"], "PreSync");
    assert_eq!(
        annotations["argocd.argoproj.io/hook-delete-policy"],
        "BeforeHookCreation"
    );
    // The ConfigMaps it mounts are PreSync hooks of an earlier wave, with fixed names.
    let k = doc("deploy/argocd/kustomization.yaml", "Kustomization", None);
    let options = &k["generatorOptions"];
    assert_eq!(options["disableNameSuffixHash"], true);
    assert_eq!(options["annotations"]["argocd.argoproj.io/hook"], "PreSync");
    let wave = |v: &Value| v.as_str().unwrap().parse::<i64>().unwrap();
    assert!(
        wave(&options["annotations"]["argocd.argoproj.io/sync-wave"])
            < wave(&annotations["argocd.argoproj.io/sync-wave"])
    );
    let app = doc("deploy/argocd/application.yaml", "Application", None);
    assert_eq!(app["spec"]["source"]["path"], "deploy/argocd");
}

#[test]
fn flux_app_depends_on_a_verify_job_that_flux_waits_for() {
    let job = assert_hook_job("deploy/flux", "verify-job.yaml");
    assert_eq!(job["metadata"]["name"], "supplygate-verify");
    assert!(job["metadata"]["annotations"].is_null());
    let verify = doc(
        "deploy/flux/sync.yaml",
        "Kustomization",
        Some("hello-verify"),
    );
    assert_eq!(verify["spec"]["wait"], true);
    assert_eq!(verify["spec"]["force"], true);
    assert_eq!(verify["spec"]["path"], "./deploy/flux");
    // Flux's timeout outlasts the Job's own deadline, so the Job's failure is what it reports.
    let minutes: u64 = verify["spec"]["timeout"]
        .as_str()
        .unwrap()
        .trim_end_matches('m')
        .parse()
        .unwrap();
    assert!(minutes * 60 > job["spec"]["activeDeadlineSeconds"].as_u64().unwrap());
    let app = doc("deploy/flux/sync.yaml", "Kustomization", Some("hello"));
    assert_eq!(app["spec"]["dependsOn"][0]["name"], "hello-verify");
    assert_eq!(app["spec"]["path"], "./deploy/flux/app");
    // The same source: dependsOn then also requires the verify step at the same revision.
    assert_eq!(app["spec"]["sourceRef"], verify["spec"]["sourceRef"]);
    // The generated names keep their content hash, so new inputs recreate the Job.
    let k = doc("deploy/flux/kustomization.yaml", "Kustomization", None);
    assert!(k["generatorOptions"].is_null());
}

/// The `--flag` names of every `supplygate check …` command in a CI file's scripts.
fn ci_check_flags(file: &str) -> BTreeSet<String> {
    let mut scripts = Vec::new();
    collect_strings(&docs(file), &mut scripts);
    let mut used = BTreeSet::new();
    for script in scripts {
        let Some((_, command)) = script.split_once("supplygate check ") else {
            continue;
        };
        // Up to the end of the command: `||`, or a line not continued with `\`.
        let mut text = String::new();
        for line in command.lines() {
            text.push_str(line);
            text.push(' ');
            if !line.trim_end().ends_with('\\') {
                break;
            }
        }
        let text = text.split("||").next().unwrap();
        used.extend(
            text.split(|c: char| c.is_whitespace() || c == '"')
                .filter(|w| w.starts_with("--"))
                .map(str::to_owned),
        );
    }
    used
}

fn collect_strings(values: &[Value], out: &mut Vec<String>) {
    for v in values {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => collect_strings(items, out),
            Value::Object(map) => collect_strings(&map.values().cloned().collect::<Vec<_>>(), out),
            _ => {}
        }
    }
}

#[test]
fn deploy_files_use_only_flags_the_binary_has() {
    let mut by_command: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for (file, kind) in [
        ("deploy/webhook/deployment.yaml", "Deployment"),
        ("deploy/argocd/presync-job.yaml", "Job"),
        ("deploy/flux/verify-job.yaml", "Job"),
    ] {
        let d = doc(file, kind, None);
        let args = strings(&only_container(&d["spec"]["template"]["spec"])["args"]);
        by_command.push((file.to_owned(), args[0].clone(), flags(&args)));
    }
    for ci in ["deploy/ci/github-actions.yml", "deploy/ci/gitlab-ci.yml"] {
        let used = ci_check_flags(ci);
        assert!(used.contains("--changed-since"), "{ci}: {used:?}");
        by_command.push((ci.to_owned(), "check".to_owned(), used));
    }
    let github = ci_check_flags("deploy/ci/github-actions.yml");
    for flag in ["--format", "--sarif-out", "--markdown-out", "--write-lock"] {
        assert!(github.contains(flag), "github-actions.yml: no {flag}");
    }
    for (file, command, used) in by_command {
        let help = supplygate(&[&command, "--help"]);
        assert_eq!(help.code, 0, "{help:?}");
        for flag in used {
            assert!(
                help.stdout.contains(&format!("{flag} "))
                    || help.stdout.contains(&format!("{flag}\n")),
                "{file}: `supplygate {command}` has no {flag}:\n{}",
                help.stdout
            );
        }
    }
}

#[test]
fn dockerfile_builds_locked_on_pinned_bases_and_runs_as_nonroot() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    for image in &froms {
        let (_, hex) = image.split_once("@sha256:").expect("pinned by digest");
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{image}"
        );
    }
    assert!(froms[1].starts_with("gcr.io/distroless/cc-debian12:nonroot@"));
    assert!(text.contains("cargo build --release --locked"));
    let last_user = text.lines().rev().find(|l| l.starts_with("USER ")).unwrap();
    assert_eq!(last_user, "USER 65532:65532");
    // What the build stage copies is what .dockerignore lets into the context, and exists.
    let ignore = std::fs::read_to_string(Path::new(ROOT).join(".dockerignore")).unwrap();
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for src in &words[1..words.len() - 1] {
            let src = src.trim_end_matches('/');
            assert!(Path::new(ROOT).join(src).exists(), "COPY {src}: missing");
            assert!(
                ignore
                    .lines()
                    .any(|l| l.trim_end_matches('/') == format!("!{src}")),
                "COPY {src}: excluded by .dockerignore"
            );
        }
    }
}

/// A CA and a serving certificate for 127.0.0.1, as cert-manager's Secret would hold them.
fn serving_cert(dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    ca.pem()
}

/// An AdmissionReview v1 for a Pod with one container, as kube-apiserver sends it.
fn pod_review(namespace: &str, image: &str) -> Value {
    let kind = serde_json::json!({"group": "", "version": "v1", "kind": "Pod"});
    let resource = serde_json::json!({"group": "", "version": "v1", "resource": "pods"});
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0d4c1a52-8f0e-4b7a-9a8e-3c1f5e2d7b90",
            "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
            "name": "web", "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"containers": [{"name": "web", "image": image}]}
            },
            "oldObject": null, "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// The webhook Deployment's own container command, run here: its ConfigMaps and the TLS Secret
/// laid out as the kubelet mounts them, `$(POD_NAMESPACE)` expanded, and only the listen
/// address changed (to a free loopback port). Its probes answer, it admits its own namespace
/// without looking at the image, and elsewhere an image it cannot verify is denied.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_deployment_command_serves_its_probes_and_fails_closed() {
    let deployment = doc("deploy/webhook/deployment.yaml", "Deployment", None);
    let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = only_container(pod);
    let kustomization = doc("deploy/webhook/kustomization.yaml", "Kustomization", None);
    let root = tempfile::tempdir().unwrap();
    let mut ca_pem = None;
    let mut paths = Vec::new(); // (mount path in the pod, directory here)
    for volume in pod["volumes"].as_array().unwrap() {
        let name = volume["name"].as_str().unwrap();
        let local = root.path().join(name);
        std::fs::create_dir(&local).unwrap();
        if let Some(cm) = volume["configMap"]["name"].as_str() {
            let generator = kustomization["configMapGenerator"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["name"] == cm)
                .unwrap_or_else(|| panic!("ConfigMap {cm} is not generated"));
            let files: Vec<(String, String)> = strings(&generator["files"])
                .iter()
                .map(|f| {
                    let key = f.rsplit('/').next().unwrap().to_owned();
                    (key, read(&format!("deploy/webhook/{f}")))
                })
                .collect();
            configmap_volume(&local, &files);
        } else if volume["secret"]["secretName"] == "supplygate-webhook-tls" {
            ca_pem = Some(serving_cert(&local));
        }
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap();
        paths.push((
            mount["mountPath"].as_str().unwrap().to_owned(),
            local.to_str().unwrap().to_owned(),
        ));
    }
    let ca_pem = ca_pem.expect("a volume from the serving certificate's Secret");
    // One substitution per value: the mount that is the longest prefix of its path.
    let map = |value: &str| {
        let value = value.replace("$(POD_NAMESPACE)", namespace);
        let (flag, path) = match value.split_once('=') {
            Some((flag, path)) => (format!("{flag}="), path.to_owned()),
            None => (String::new(), value.clone()),
        };
        let best = paths
            .iter()
            .filter(|(mount, _)| path == *mount || path.starts_with(&format!("{mount}/")))
            .max_by_key(|(mount, _)| mount.len());
        match best {
            Some((mount, local)) => format!("{flag}{local}{}", &path[mount.len()..]),
            None => value,
        }
    };
    let mut args: Vec<String> = strings(&container["args"]).iter().map(|a| map(a)).collect();
    let listen = args
        .iter_mut()
        .find(|a| a.starts_with("--listen="))
        .unwrap();
    *listen = "--listen=127.0.0.1:0".to_owned();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplygate"));
    command
        .args(&args)
        .current_dir(root.path())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for env in container["env"].as_array().unwrap() {
        if let Some(value) = env["value"].as_str() {
            command.env(env["name"].as_str().unwrap(), map(value));
        }
    }
    let mut child = command.spawn().unwrap();

    // `serve` prints the bound address on stderr (JSON logs here, as deployed).
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push_str(&line);
            log.push('\n');
            if let Some(i) = line.find("https://") {
                let rest = &line[i + "https://".len()..];
                let end = rest
                    .find(|c: char| c == '"' || c.is_whitespace())
                    .unwrap_or(rest.len());
                if let Ok(addr) = rest[..end].parse::<std::net::SocketAddr>() {
                    return Ok(addr);
                }
            }
        }
        Err(log.clone())
    })
    .await
    .unwrap_or_else(|_| panic!("`serve` printed no address in time"))
    .unwrap_or_else(|log| panic!("`serve` exited:\n{log}"));
    // Keep reading stderr so that the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["scheme"], "HTTPS");
        let url = format!("https://{addr}{}", get["path"].as_str().unwrap());
        // Ready once policies and trust are loaded: allow it a moment, as the kubelet does.
        let mut status = 0;
        for _ in 0..50 {
            status = client.get(&url).send().await.unwrap().status().as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "{probe} {url}");
    }

    let validate = |review: Value| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("https://{addr}/validate"))
                .json(&review)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let answer: Value = response.json().await.unwrap();
            answer["response"].clone()
        }
    };
    // Nothing listens on port 1 of the loopback: the image cannot be looked at.
    let unverifiable = "127.0.0.1:1/team/app:v1";
    for own in [namespace, "kube-system"] {
        let response = validate(pod_review(own, unverifiable)).await;
        assert_eq!(response["allowed"], true, "{own} is excluded: {response:#}");
    }
    let response = validate(pod_review("shop", unverifiable)).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(response["status"]["message"]
        .as_str()
        .unwrap()
        .contains(unverifiable));
}
