//! End-to-end scenarios of the `supplygate` binary: the bundled demo, `check` and `pin` against a
//! real docker-registry started by the test, config and manifest errors, and fail-closed exits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::Outcome;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{cosign_made, TestRegistry};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One run of the binary in a scratch directory with its own manifests and config.
struct Case {
    dir: tempfile::TempDir,
    stdin: Option<String>,
}

impl Case {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            stdin: None,
        }
    }

    fn file(self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// A config allowing plain HTTP to the test registry.
    fn registry_config(self, registry: &TestRegistry) -> Self {
        let text = format!(
            "registries:\n  \"{}\":\n    insecure: true\nnetwork:\n  request_timeout: 5s\n  retries: 1\n",
            registry.host()
        );
        self.file("supplygate.yaml", &text)
    }

    fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_supplygate"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env("DOCKER_CONFIG", self.dir.path().join(".docker-none"))
            .env("NO_COLOR", "1")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = &self.stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Outcome::from_output(out)
    }
}

fn deployment(name: &str, images: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n"
    );
    for (i, image) in images.iter().enumerate() {
        s.push_str(&format!("        - name: c{i}\n          image: {image}\n"));
    }
    s
}

/// Compares `actual` with `tests/snapshots/<name>`; `UPDATE_SNAPSHOTS=1` rewrites the file.
fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(ROOT).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("no snapshot {name}: run with UPDATE_SNAPSHOTS=1, review, commit")
    });
    assert_eq!(
        actual, expected,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 rewrites it after review)"
    );
}

fn images(json: &Value) -> &Vec<Value> {
    json["images"].as_array().unwrap()
}

// ---------------------------------------------------------------- the bundled demo

fn demo(format: &str) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
        .args([
            "check",
            "--config",
            "fixtures/demo/supplygate.yaml",
            "fixtures/demo/manifests",
            "--format",
            format,
        ])
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Outcome::from_output(out)
}

#[test]
fn demo_allows_signed_layout_images_and_denies_the_rest_offline() {
    let out = demo("json");
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let by_line: Vec<(String, u64, String, String)> = images(&json)
        .iter()
        .map(|i| {
            (
                i["file"].as_str().unwrap().to_owned(),
                i["line"].as_u64().unwrap(),
                i["decision"].as_str().unwrap().to_owned(),
                i["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["code"].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect();
    let expect = |file: &str, line: u64, decision: &str, codes: &str| {
        (
            format!("fixtures/demo/manifests/{file}"),
            line,
            decision.to_owned(),
            codes.to_owned(),
        )
    };
    assert_eq!(
        by_line,
        vec![
            expect("api.yaml", 15, "allow", ""),
            expect("api.yaml", 29, "deny", "source-commit-mismatch"),
            expect("jobs.yaml", 18, "deny", "image-not-found"),
            expect("jobs.yaml", 31, "deny", "unsigned-image"),
            expect("jobs.yaml", 43, "deny", "invalid-reference"),
            expect("web.yaml", 17, "allow", ""),
            expect("web.yaml", 20, "allow", ""),
            expect("web.yaml", 22, "allow", ""),
        ]
    );
    let web = &images(&json)[6];
    assert_eq!(
        web["digest"],
        "sha256:7609b07e75220bf3b9b97aebadf80f96ff93e9bdef133afc6ebdf25c66d85c70"
    );
    assert_eq!(web["platforms"].as_array().unwrap().len(), 2);
    assert_eq!(web["column"], 18);
    assert_eq!(json["stats"]["requests"], 0, "offline: no HTTP at all");
}

#[test]
fn demo_human_report_points_at_file_line_column_with_hints() {
    // NO_COLOR is not set here: colour must stay off because stdout is not a terminal.
    let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
        .args([
            "check",
            "--config",
            "fixtures/demo/supplygate.yaml",
            "fixtures/demo/manifests",
        ])
        .current_dir(ROOT)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    for needle in [
        "fixtures/demo/manifests/jobs.yaml\n",
        "18:22  deny   127.0.0.1:5123/demo/cosign-signed:v2",
        "image-not-found:",
        "hint: check the tag",
        "31:18  deny   127.0.0.1:5123/demo/unsigned:v1",
        "unsigned-image:",
        "expected a signature by `demo-ci` (config line 22), found none",
        "43:18  deny   127.0.0.1:5123/demo/Multiarch:v1",
        "invalid-reference:",
        "lowercase",
        "20:18  allow  127.0.0.1:5123/demo/multiarch:v1 -> sha256:7609b07e",
        "(2 platforms) signed by `demo-ci`",
        "29:18  deny   127.0.0.1:5123/demo/attested:v1",
        "source-commit-mismatch:",
        "expected `89abcdef0123456789abcdef0123456789abcdef`, found 0123456789abcdef0123456789abcdef01234567",
        "deny: 8 images, 4 allowed, 4 denied",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_snapshot("demo-human.txt", &mask_elapsed(&text));
}

#[test]
fn explain_lists_every_signature_per_digest() {
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
            .args([
                "explain",
                "--config",
                "fixtures/demo/supplygate.yaml",
                "127.0.0.1:5123/demo/multiarch:v1",
                "--format",
                format,
            ])
            .current_dir(ROOT)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run("human");
    assert_eq!(code, Some(0), "{text}");
    assert_snapshot("explain-multiarch.txt", &text);
    let (code, text) = run("json");
    assert_eq!(code, Some(0), "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["requirements"][0]["satisfied"], true);
    let platforms = json["signatures"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for p in platforms {
        assert_eq!(p["facts"][0]["verified_by"][0], "demo-ci", "{p}");
    }
    assert_eq!(
        json["signatures"]["facts"][0]["location"]["tag"],
        "sha256-7609b07e75220bf3b9b97aebadf80f96ff93e9bdef133afc6ebdf25c66d85c70.sig"
    );
}

#[test]
fn explain_says_why_an_unsigned_image_is_denied() {
    let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
        .args([
            "explain",
            "--config",
            "fixtures/demo/supplygate.yaml",
            "127.0.0.1:5123/demo/unsigned:v1",
        ])
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("NOT satisfied"), "{text}");
    assert!(text.contains(": 0\n  none (no `.sig` tag"), "{text}");
}

#[test]
fn demo_json_report_matches_snapshot() {
    let out = demo("json");
    let mut json = out.json();
    json["stats"]["elapsed_ms"] = Value::from(0);
    assert_snapshot(
        "demo.json",
        &(serde_json::to_string_pretty(&json).unwrap() + "\n"),
    );
}

/// The summary's wall time varies between runs.
fn mask_elapsed(text: &str) -> String {
    text.lines()
        .map(|l| match l.rfind(", ") {
            Some(i) if l.ends_with('s') && l.contains("registry request") => {
                format!("{}, <elapsed>", &l[..i])
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

// ---------------------------------------------------------------- against the real registry

#[test]
fn check_resolves_tags_like_skopeo_and_exits_zero() {
    let registry = TestRegistry::start();
    registry.push_layout(&cosign_made("cosign-signed"), "v1", "team/app:v1");
    registry.push_layout(&cosign_made("multiarch"), "v1", "team/multi:v1");
    let host = registry.host();
    let case = Case::new().registry_config(&registry).file(
        "deploy/app.yaml",
        &deployment(
            "app",
            &[
                &format!("{host}/team/app:v1"),
                &format!("{host}/team/multi:v1"),
                &format!("{host}/team/app:v1"),
            ],
        ),
    );
    let out = case.run(&["check", "deploy", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    let imgs = images(&json);
    assert_eq!(imgs[0]["digest"], registry.skopeo_digest("team/app:v1"));
    assert_eq!(imgs[1]["digest"], registry.skopeo_digest("team/multi:v1"));
    assert_eq!(imgs[1]["platforms"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["stats"]["distinct_images"], 2,
        "same reference twice is looked up once"
    );
    assert_eq!(json["decision"], "allow");
}

#[test]
fn registry_down_fails_closed_with_exit_2() {
    let mut registry = TestRegistry::start();
    let host = registry.host();
    registry.stop();
    let case = Case::new().registry_config(&registry).file(
        "app.yaml",
        &deployment("app", &[&format!("{host}/team/app:v1")]),
    );
    let out = case.run(&["check", "app.yaml", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let json = out.json();
    assert_eq!(json["decision"], "error");
    assert_eq!(images(&json)[0]["decision"], "error");
    let code = images(&json)[0]["findings"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        code == "registry-unavailable" || code == "registry-timeout",
        "{code}"
    );
}

#[test]
fn unknown_tag_is_denied_with_exit_1() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 1);
    let host = registry.host();
    let case = Case::new().registry_config(&registry).file(
        "app.yaml",
        &deployment("app", &[&format!("{host}/team/app:v9")]),
    );
    let out = case.run(&["check", "app.yaml"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("image-not-found"), "{out:?}");
}

#[test]
fn stdin_is_read_with_dash() {
    let registry = TestRegistry::start();
    let digest = registry.push_generated("team/app:v1", 7);
    let host = registry.host();
    let case = Case::new()
        .registry_config(&registry)
        .stdin(&deployment("app", &[&format!("{host}/team/app:v1")]));
    let out = case.run(&["check", "-", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(images(&json)[0]["file"], "<stdin>");
    assert_eq!(images(&json)[0]["digest"], digest);
}

#[test]
fn pin_rewrites_only_image_values_and_round_trips() {
    let registry = TestRegistry::start();
    let app = registry.push_generated("team/app:v1", 11);
    let (multi, _) = registry.push_generated_index("team/multi:v2", 12);
    let host = registry.host();
    let original = format!(
        "# keep this comment\r\napiVersion: v1\r\nkind: Pod\r\nmetadata: {{name: p, labels: {{a: b}}}}\r\nspec:\r\n  containers:\r\n  - {{name: a, image: \"{host}/team/app:v1\"}}   # trailing\r\n  - name: b\r\n    image: '{host}/team/multi:v2'\r\n  initContainers:\r\n  - name: c\r\n    image:   {host}/team/app:v1\r\n"
    );
    let case = Case::new()
        .registry_config(&registry)
        .file("pod.yaml", &original);

    let before = case.run(&["pin", "--check", "pod.yaml"]);
    assert_eq!(before.code, 1, "{before:?}");
    assert_eq!(
        before.stdout.matches("unpinned-image").count(),
        3,
        "{before:?}"
    );
    assert_eq!(case.read("pod.yaml"), original, "--check writes nothing");

    let pinned = case.run(&["pin", "pod.yaml"]);
    assert_eq!(pinned.code, 0, "{pinned:?}");
    let expected = original
        .replace(
            &format!("\"{host}/team/app:v1\""),
            &format!("\"{host}/team/app:v1@{app}\""),
        )
        .replace(
            &format!("'{host}/team/multi:v2'"),
            &format!("'{host}/team/multi:v2@{multi}'"),
        )
        .replace(
            &format!("image:   {host}/team/app:v1\r\n"),
            &format!("image:   {host}/team/app:v1@{app}\r\n"),
        );
    assert_eq!(case.read("pod.yaml"), expected, "only image values change");

    let after = case.run(&["pin", "--check", "pod.yaml"]);
    assert_eq!(after.code, 0, "{after:?}");
    let again = case.run(&["pin", "pod.yaml"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        case.read("pod.yaml"),
        expected,
        "pinning twice changes nothing"
    );
    let check = case.run(&["check", "pod.yaml", "--format", "json"]);
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn pin_writes_nothing_when_any_image_fails() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 21);
    let host = registry.host();
    let good = deployment("good", &[&format!("{host}/team/app:v1")]);
    let bad = deployment("bad", &[&format!("{host}/team/missing:v1")]);
    let case = Case::new()
        .registry_config(&registry)
        .file("a.yaml", &good)
        .file("b.yaml", &bad);
    let out = case.run(&["pin", "."]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("image-not-found"), "{out:?}");
    assert!(out.stderr.contains("nothing was written"), "{out:?}");
    assert_eq!(case.read("a.yaml"), good);
    assert_eq!(case.read("b.yaml"), bad);
}

#[test]
fn pin_refuses_a_file_whose_positions_the_yaml_parser_would_get_wrong() {
    // saphyr-parser counts a directive's non-ASCII text in bytes, shifting every position
    // after it: before the fix, `pin` wrote the digest one character into `nginx`.
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 22);
    let host = registry.host();
    let text = format!(
        "%T\u{e9}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: {host}/team/app:v1\n"
    );
    let case = Case::new()
        .registry_config(&registry)
        .file("pod.yaml", &text);
    let out = case.run(&["pin", "."]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout
            .contains("pod.yaml:1:3  invalid-manifest: non-ASCII text in a YAML directive"),
        "{out:?}"
    );
    assert_eq!(case.read("pod.yaml"), text, "nothing was written");
}

// ---------------------------------------------------------------- where images hide

/// `(file, line, column, kind, path, decision, first finding)` of every image in a JSON report.
fn sites(json: &Value) -> Vec<(String, u64, u64, String, String, String, String)> {
    images(json)
        .iter()
        .map(|i| {
            (
                i["file"].as_str().unwrap().to_owned(),
                i["line"].as_u64().unwrap(),
                i["column"].as_u64().unwrap(),
                i["resource"]["kind"].as_str().unwrap().to_owned(),
                i["path"].as_str().unwrap().to_owned(),
                i["decision"].as_str().unwrap().to_owned(),
                i["findings"][0]["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn custom_resources_named_like_builtin_kinds_are_checked() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 31);
    let host = registry.host();
    // Volcano's Job keeps its pods at `spec.tasks[].template`, not at `spec.template`.
    let volcano = format!(
        "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata:\n  name: train\nspec:\n  tasks:\n  - name: ps\n    template:\n      spec:\n        containers:\n        - name: ps\n          image: {host}/team/app:v1\n  - name: worker\n    template:\n      spec:\n        containers:\n        - name: worker\n          image: {host}/team/missing:v1\n"
    );
    let other = format!(
        "apiVersion: example.com/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  pods:\n  - containers:\n    - name: web\n      image: {host}/team/absent:v1\n    - name: odd\n      image: {{repository: {host}/team/app, tag: v1}}\n"
    );
    let case = Case::new()
        .registry_config(&registry)
        .file("volcano.yaml", &volcano)
        .file("other.yaml", &other)
        .file(
            "app.yaml",
            &deployment("app", &[&format!("{host}/team/app:v1")]),
        );
    let out = case.run(&[
        "check",
        "app.yaml",
        "other.yaml",
        "volcano.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let s = |file: &str, line, column, kind: &str, path: &str, decision: &str, code: &str| {
        let strings = [file, kind, path, decision, code].map(str::to_owned);
        let [file, kind, path, decision, code] = strings;
        (file, line, column, kind, path, decision, code)
    };
    assert_eq!(
        sites(&json),
        [
            s(
                "app.yaml",
                10,
                18,
                "Deployment",
                "spec.template.spec.containers[0].image",
                "allow",
                ""
            ),
            s(
                "other.yaml",
                9,
                14,
                "Deployment",
                "spec.pods[0].containers[0].image",
                "deny",
                "image-not-found"
            ),
            s(
                "other.yaml",
                11,
                14,
                "Deployment",
                "spec.pods[0].containers[1].image",
                "deny",
                "invalid-reference"
            ),
            s(
                "volcano.yaml",
                12,
                18,
                "Job",
                "spec.tasks[0].template.spec.containers[0].image",
                "allow",
                ""
            ),
            s(
                "volcano.yaml",
                18,
                18,
                "Job",
                "spec.tasks[1].template.spec.containers[0].image",
                "deny",
                "image-not-found"
            ),
        ]
    );
    assert_eq!(
        images(&json)[1]["resource"]["api_version"],
        "example.com/v1"
    );
    assert_eq!(
        images(&json)[4]["resource"]["api_version"],
        "batch.volcano.sh/v1alpha1"
    );
}

fn pod_with_image_volume(host: &str, volume_image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: infer\nspec:\n  containers:\n  - name: server\n    image: {host}/team/app:v1\n    volumeMounts: [{{name: model, mountPath: /model}}]\n  volumes:\n  - name: scratch\n    emptyDir: {{}}\n  - name: model\n    image:\n      reference: \"{volume_image}\"\n      pullPolicy: IfNotPresent\n"
    )
}

#[test]
fn image_volumes_are_checked_at_their_line_and_pinned() {
    let registry = TestRegistry::start();
    let app = registry.push_generated("team/app:v1", 41);
    let model = registry.push_generated("team/model:v1", 42);
    let host = registry.host();

    let missing = pod_with_image_volume(&host, &format!("{host}/team/model:v9"));
    let case = Case::new()
        .registry_config(&registry)
        .file("pod.yaml", &missing);
    let out = case.run(&["check", "pod.yaml", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let volume = &images(&json)[1];
    assert_eq!(
        (volume["line"].as_u64(), volume["column"].as_u64()),
        (Some(15), Some(18))
    );
    assert_eq!(volume["image"], format!("{host}/team/model:v9"));
    assert_eq!(volume["container_kind"], "volume");
    assert_eq!(volume["container"], "model");
    assert_eq!(volume["path"], "spec.volumes[1].image.reference");
    assert_eq!(volume["decision"], "deny");
    assert_eq!(volume["findings"][0]["code"], "image-not-found");
    assert_eq!(images(&json)[0]["decision"], "allow");
    let human = case.run(&["check", "pod.yaml"]);
    assert_eq!(human.code, 1, "{human:?}");
    let needle = format!("15:18  deny   {host}/team/model:v9");
    assert!(human.stdout.contains(&needle), "{needle:?} in {human:?}");

    let original = pod_with_image_volume(&host, &format!("{host}/team/model:v1"));
    let case = Case::new()
        .registry_config(&registry)
        .file("pod.yaml", &original);
    let before = case.run(&["pin", "--check", "pod.yaml"]);
    assert_eq!(before.code, 1, "{before:?}");
    assert_eq!(
        before.stdout.matches("unpinned-image").count(),
        2,
        "{before:?}"
    );
    let pinned = case.run(&["pin", "pod.yaml"]);
    assert_eq!(pinned.code, 0, "{pinned:?}");
    let expected = original
        .replace(
            &format!("image: {host}/team/app:v1\n"),
            &format!("image: {host}/team/app:v1@{app}\n"),
        )
        .replace(
            &format!("reference: \"{host}/team/model:v1\""),
            &format!("reference: \"{host}/team/model:v1@{model}\""),
        );
    assert_ne!(expected, original);
    assert_eq!(case.read("pod.yaml"), expected, "only image values change");
    let after = case.run(&["check", "pod.yaml", "--format", "json"]);
    assert_eq!(after.code, 0, "{after:?}");
    assert_eq!(images(&after.json())[1]["digest"], model);
}

// ---------------------------------------------------------------- bad input

#[test]
fn config_typos_are_rejected_with_location_and_hint() {
    let case = Case::new()
        .file(
            "supplygate.yaml",
            "registries:\n  ghcr.io:\n    insecure: yes please\nnetwrok:\n  retries: 3\n",
        )
        .file("app.yaml", &deployment("app", &["nginx"]));
    let out = case.run(&["check", "app.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("2 problems in config `supplygate.yaml`"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("supplygate.yaml:3:15: `insecure` must be `true` or `false`"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("supplygate.yaml:4:1: unknown key `netwrok`"),
        "{out:?}"
    );
    assert!(out.stderr.contains("did you mean `network`?"), "{out:?}");
}

#[test]
fn malformed_yaml_is_an_error_naming_file_and_line() {
    let case = Case::new()
        .file("supplygate.yaml", "network: {offline: true}\n")
        .file(
            "bad.yaml",
            "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n    {name: a, image: x\n",
        )
        .file(
            "good.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        );
    let out = case.run(&["check", ".", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let json = out.json();
    let err = &json["errors"][0];
    assert!(err["file"].as_str().unwrap().ends_with("bad.yaml"), "{err}");
    assert_eq!(err["code"], "invalid-manifest");
    assert!(err["line"].as_u64().unwrap() >= 4, "{err}");
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("spec:\n  containers: [{name: a, image: nginx}]\n");
    let case = Case::new()
        .file("supplygate.yaml", "network: {offline: true}\n")
        .file("bomb.yaml", &bomb);
    let out = case.run(&["check", "bomb.yaml", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.json()["errors"][0]["code"], "invalid-manifest");
}

#[test]
fn missing_path_is_a_usage_error() {
    let out = Case::new().run(&["check", "does-not-exist.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("does-not-exist.yaml"), "{out:?}");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = Case::new().run(&["check", "--formt", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--format"),
        "clap suggests the right flag: {out:?}"
    );
}

#[test]
fn help_matches_snapshots() {
    for (args, name) in [
        (&["--help"][..], "help.txt"),
        (&["check", "--help"][..], "help-check.txt"),
        (&["pin", "--help"][..], "help-pin.txt"),
    ] {
        let out = Case::new().run(args);
        assert_eq!(out.code, 0, "{out:?}");
        assert_snapshot(name, &out.stdout);
    }
}

#[test]
fn images_no_rule_names_are_allowed_warned_or_denied_as_configured() {
    let registry = TestRegistry::start();
    registry.push_generated("other/app:v1", 41);
    let host = registry.host();
    let base = format!(
        "registries:\n  \"{host}\":\n    insecure: true\nnetwork:\n  request_timeout: 5s\n  retries: 1\n\
         signers:\n  ci:\n    insecure_ignore_tlog: true\n    key: |\n      -----BEGIN PUBLIC KEY-----\n      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM\n      5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==\n      -----END PUBLIC KEY-----\n\
         require:\n  - images: [\"{host}/team/**\"]\n    signers: [ci]\n"
    );
    let manifest = deployment("app", &[&format!("{host}/other/app:v1")]);
    let code_of = |setting: &str| {
        let config = format!("{base}policy:\n  unmatched_images: {setting}\n");
        let case = Case::new()
            .file("supplygate.yaml", &config)
            .file("app.yaml", &manifest);
        let out = case.run(&["check", "app.yaml", "--format", "json"]);
        let json = out.json();
        let image = &images(&json)[0];
        let codes: Vec<String> = image["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {}", f["severity"], f["code"]).replace('"', ""))
            .collect();
        (out.code, codes)
    };
    assert_eq!(code_of("allow"), (0, vec![]));
    assert_eq!(
        code_of("warn"),
        (0, vec!["warn image-not-covered".to_owned()])
    );
    assert_eq!(
        code_of("deny"),
        (1, vec!["deny image-not-covered".to_owned()])
    );

    let case = Case::new()
        .file(
            "supplygate.yaml",
            &format!("{base}policy:\n  unmatched_images: denny\n"),
        )
        .file("app.yaml", &manifest);
    let out = case.run(&["check", "app.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("must be `allow`, `warn` or `deny`, found `denny`")
            && out.stderr.contains("did you mean `deny`?"),
        "{out:?}"
    );
}

#[test]
fn config_schema_is_printed_and_is_json() {
    let out = Case::new().run(&["schema", "config"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["title"], "supplygate.yaml");
}

// ---------------------------------------------------------------- cosign-made images in a real registry

/// Pushes every tag of a cosign-made layout (image, `.sig`, `.att`) to `demo/<name>`.
fn push_cosign_made(registry: &TestRegistry, name: &str) {
    let layout = cosign_made(name);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    for m in index["manifests"].as_array().unwrap() {
        let tag = m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        registry.push_layout(&layout, tag, &format!("demo/{name}:{tag}"));
    }
}

#[test]
fn verifies_cosign_and_skopeo_signatures_served_by_a_real_registry() {
    // The images were signed on a registry at 127.0.0.1:5123 and their payloads name that
    // repository. Here a real registry on a random port serves them as a mirror of that host,
    // so the signatures are discovered, fetched and verified over the distribution API.
    let registry = TestRegistry::start();
    for name in ["cosign-signed", "signed", "multiarch"] {
        push_cosign_made(&registry, name);
    }
    let pem = std::fs::read_to_string(PathBuf::from(ROOT).join("fixtures/demo/keys/demo-ci.pub"))
        .unwrap();
    let config = format!(
        "registries:\n  127.0.0.1:5123:\n    mirrors: [\"{host}\"]\n  \"{host}\":\n    insecure: true\nnetwork:\n  retries: 0\nsigners:\n  demo-ci:\n    key: |\n{key}    insecure_ignore_tlog: true\nrequire:\n  - images: [\"127.0.0.1:5123/demo/**\"]\n    signers: [demo-ci]\n",
        host = registry.host(),
        key = pem.lines().map(|l| format!("      {l}\n")).collect::<String>(),
    );
    let refs = [
        "127.0.0.1:5123/demo/cosign-signed:v1",
        "127.0.0.1:5123/demo/signed:v1",
        "127.0.0.1:5123/demo/multiarch:v1",
    ];
    let case = Case::new()
        .file("supplygate.yaml", &config)
        .file("app.yaml", &deployment("app", &refs));
    let out = case.run(&["check", "app.yaml", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert!(
        json["stats"]["requests"].as_u64().unwrap() > 0,
        "served over HTTP"
    );
    for image in images(&json) {
        let sigs = &image["signatures"];
        assert_eq!(sigs["facts"][0]["verified_by"][0], "demo-ci", "{image}");
    }
    let multi = &images(&json)[2]["signatures"]["platforms"];
    assert_eq!(multi.as_array().unwrap().len(), 2);
    for p in multi.as_array().unwrap() {
        assert_eq!(p["facts"][0]["verified_by"][0], "demo-ci", "{p}");
    }
    // The same signatures presented for another repository on the same registry do not count.
    push_cosign_made(&registry, "cosign-signed");
    let moved = format!("{}/demo/cosign-signed:v1", registry.host());
    let case = case
        .file(
            "supplygate.yaml",
            &config.replace("127.0.0.1:5123/demo/**", "127.0.0.1:*/demo/**"),
        )
        .file("moved.yaml", &deployment("moved", &[&moved]));
    let out = case.run(&["check", "moved.yaml", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let finding = &images(&json)[0]["findings"][0];
    assert_eq!(finding["code"], "signature-not-trusted");
    assert!(
        finding["found"]
            .as_str()
            .unwrap()
            .contains("signed for `127.0.0.1:5123/demo/cosign-signed`"),
        "{finding}"
    );
}

// ---------------------------------------------------------------- policies, exemptions, break-glass

/// The demo config (offline, signature required on 127.0.0.1:5123/demo/**) plus `extra`.
fn demo_config(extra: &str) -> String {
    let demo = PathBuf::from(ROOT).join("fixtures/demo");
    format!(
        "registries:\n  127.0.0.1:5123:\n    layout: {}\nnetwork:\n  offline: true\nsigners:\n  demo-ci:\n    key: {}\n    insecure_ignore_tlog: true\nrequire:\n  - images: [\"127.0.0.1:5123/demo/**\"]\n    signers: [demo-ci]\n{extra}",
        demo.join("layouts").display(),
        demo.join("keys/demo-ci.pub").display(),
    )
}

fn pod(namespace: &str, annotations: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: {namespace}\n  annotations: {{{annotations}}}\nspec:\n  containers:\n    - name: c\n      image: {image}\n"
    )
}

fn codes_and_severities(json: &Value) -> Vec<(String, String)> {
    images(json)[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const UNSIGNED: &str = "127.0.0.1:5123/demo/unsigned:v1";
const NOW: &str = "2026-06-01T00:00:00Z";

#[test]
fn exemption_turns_denials_into_warnings_until_it_expires() {
    let exemption = |expires: &str| {
        demo_config(&format!(
            "exemptions:\n  - images: [\"127.0.0.1:5123/demo/unsigned\"]\n    namespaces: [legacy]\n    reason: vendor image, JIRA-1\n    expires: {expires}\n"
        ))
    };
    let case = Case::new()
        .file("supplygate.yaml", &exemption("2026-12-31"))
        .file("legacy.yaml", &pod("legacy", "", UNSIGNED))
        .file("prod.yaml", &pod("prod", "", UNSIGNED));
    let out = case.run(&["check", "legacy.yaml", "--format", "json", "--now", NOW]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(
        codes_and_severities(&json),
        vec![
            ("unsigned-image".into(), "warn".into()),
            ("exemption".into(), "warn".into())
        ]
    );
    let message = images(&json)[0]["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("exempted until 2026-12-31: vendor image, JIRA-1"),
        "{message}"
    );

    // Another namespace: the exemption does not apply, and it matched nothing in this run.
    let out = case.run(&["check", "prod.yaml", "--format", "json", "--now", NOW]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(json["notices"][0]["code"], "exemption");
    assert!(json["notices"][0]["message"]
        .as_str()
        .unwrap()
        .contains("matched no denied image"));

    // Expired: it stops exempting and says so.
    let case = case.file("supplygate.yaml", &exemption("2026-01-31"));
    let out = case.run(&["check", "legacy.yaml", "--format", "json", "--now", NOW]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        codes_and_severities(&out.json()),
        vec![
            ("unsigned-image".into(), "deny".into()),
            ("exemption".into(), "warn".into())
        ]
    );
}

#[test]
fn break_glass_is_honoured_only_in_configured_namespaces_and_always_reported() {
    let config = demo_config("break_glass:\n  namespaces: [ops]\n");
    let annotation = "supplygate.dev/break-glass: \"incident 42\"";
    let case = Case::new()
        .file("supplygate.yaml", &config)
        .file("ops.yaml", &pod("ops", annotation, UNSIGNED))
        .file("prod.yaml", &pod("prod", annotation, UNSIGNED));
    let out = case.run(&["check", "ops.yaml", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let found = codes_and_severities(&out.json());
    assert!(
        found.contains(&("break-glass".into(), "warn".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("unsigned-image".into(), "warn".into())),
        "{found:?}"
    );
    let human = case.run(&["check", "ops.yaml"]);
    assert!(
        human
            .stdout
            .contains("break-glass: break-glass in namespace `ops`"),
        "{human:?}"
    );
    assert!(human.stdout.contains("incident 42"), "{human:?}");

    let out = case.run(&["check", "prod.yaml", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let found = codes_and_severities(&out.json());
    assert!(
        found.contains(&("unsigned-image".into(), "deny".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("break-glass".into(), "warn".into())),
        "{found:?}"
    );
}

#[test]
fn user_policies_add_denials_and_load_errors_name_the_line() {
    let rule = "package supplygate.team\n\nimport rego.v1\n\ndeny contains {\"code\": \"team-label\", \"msg\": sprintf(\"`%s` needs a `team` label\", [input.resource.name]), \"hint\": \"add metadata.labels.team\"} if {\n\tnot input.resource.labels.team\n}\n";
    let case = Case::new()
        .file("supplygate.yaml", &demo_config(""))
        .file("rules/team.rego", rule)
        .file(
            "app.yaml",
            &pod("prod", "", "127.0.0.1:5123/demo/cosign-signed:v1"),
        );
    let out = case.run(&["check", "app.yaml", "--policy", "rules", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let f = &images(&json)[0]["findings"][0];
    assert_eq!(f["code"], "team-label");
    assert_eq!(f["hint"], "add metadata.labels.team");

    let case = case.file(
        "rules/broken.rego",
        "package supplygate.broken\n\ndeny contains x if {\n  x := http.send({})\n}\n",
    );
    let out = case.run(&["check", "app.yaml", "--policy", "rules"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("broken.rego:4:"), "{out:?}");
    assert!(out.stderr.contains("http.send"), "{out:?}");
}

#[test]
fn policy_test_runs_the_shipped_library_tests() {
    let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
        .args(["policy", "test", "policies", "--coverage"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("PASS: data.supplygate.provenance_test."),
        "{text}"
    );
    let failing = Case::new().file(
        "p/x_test.rego",
        "package supplygate.x_test\n\ntest_fails if {\n  1 == 2\n}\n",
    );
    let out = failing.run(&["policy", "test", "p"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("FAIL"), "{out:?}");
}

// ---------------------------------------------------------------- messages a newcomer trips over
// (issue 11, item 4): each message names the real cause, file and code.

#[test]
fn config_typo_names_the_real_file_and_position() {
    let case = Case::new()
        .file(
            "typo.yaml",
            "network:\n  retries: 1\nnetwrok:\n  retries: 3\n",
        )
        .file("app.yaml", &deployment("app", &["nginx"]));
    let out = case.run(&["check", "--config", "typo.yaml", "app.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "typo.yaml:3:1: unknown key `netwrok` in the top level of `typo.yaml` \
             (did you mean `network`?)"
        ),
        "{out:?}"
    );
    assert!(!out.stderr.contains("supplygate.yaml"), "{out:?}");
}

#[test]
fn missing_key_file_is_reported_once_not_as_an_unknown_signer() {
    let case = Case::new()
        .file(
            "supplygate.yaml",
            "signers:\n  ci:\n    key: keys/missing.pub\nrequire:\n  - images: [\"**\"]\n    signers: [ci]\nprovenance:\n  - images: [\"**\"]\n    signers: [ci]\n",
        )
        .file("app.yaml", &deployment("app", &["nginx"]));
    let out = case.run(&["check", "app.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("1 problem in config `supplygate.yaml`"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("supplygate.yaml:3:10: cannot read key `keys/missing.pub`"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("unknown signer"), "{out:?}");
    assert!(
        !out.stderr.contains("needs `images` and `signers`"),
        "{out:?}"
    );

    // A name that is really undefined is still reported next to the broken one.
    let case = case.file(
        "supplygate.yaml",
        "signers:\n  ci:\n    key: keys/missing.pub\nrequire:\n  - images: [\"**\"]\n    signers: [ci, release]\n",
    );
    let out = case.run(&["check", "app.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "supplygate.yaml:6:19: unknown signer `release` (define it under `signers:`)"
        ),
        "{out:?}"
    );
}

#[test]
fn offline_image_without_layout_has_its_own_code_and_hint() {
    let app = deployment("app", &["ghcr.io/acme/app:v1"]);
    let by_flag = Case::new().file("app.yaml", &app);
    let by_config = Case::new()
        .file("app.yaml", &app)
        .file("supplygate.yaml", "network:\n  offline: true\n");
    for (case, args) in [
        (
            by_flag,
            &["check", "--offline", "app.yaml", "--format", "json"][..],
        ),
        (by_config, &["check", "app.yaml", "--format", "json"][..]),
    ] {
        let out = case.run(args);
        assert_eq!(out.code, 2, "{out:?}");
        let json = out.json();
        let f = &images(&json)[0]["findings"][0];
        assert_eq!(f["code"], "offline-no-layout", "{out:?}");
        assert_eq!(f["severity"], "error");
        assert_eq!(
            f["message"],
            "ghcr.io/acme/app:v1: offline, and no OCI layout is configured for host `ghcr.io`"
        );
        let hint = f["hint"].as_str().unwrap();
        assert!(hint.contains("`registries:`"), "{hint}");
        assert!(hint.contains("`--offline`"), "{hint}");
        assert!(!hint.contains("insecure"), "{hint}");
    }
}

#[test]
fn explain_of_a_missing_image_denies_like_check() {
    let image = "127.0.0.1:5123/demo/app:no-such-tag";
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_supplygate"))
            .args(args)
            .current_dir(ROOT)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .output()
            .unwrap();
        Outcome::from_output(out)
    };
    let config = "fixtures/demo/supplygate.yaml";
    let explained = run(&["explain", "--config", config, image, "--format", "json"]);
    assert_eq!(explained.code, 1, "{explained:?}");
    let json = explained.json();
    assert_eq!(json["decision"], "deny", "{explained:?}");
    assert_eq!(json["findings"][0]["code"], "image-not-found");
    assert!(json.get("digest").is_none(), "{explained:?}");

    let human = run(&["explain", "--config", config, image]);
    assert_eq!(human.code, 1, "{human:?}");
    assert!(
        human.stdout.contains("\nfindings\n  image-not-found: "),
        "{human:?}"
    );
    assert!(human.stdout.ends_with("\ndeny\n"), "{human:?}");

    let checked = Case::new()
        .file("app.yaml", &deployment("app", &[image]))
        .run(&[
            "check",
            "--config",
            &format!("{ROOT}/{config}"),
            "app.yaml",
            "--format",
            "json",
        ]);
    assert_eq!(checked.code, explained.code, "{checked:?}");
    assert_eq!(
        images(&checked.json())[0]["findings"][0]["code"],
        "image-not-found"
    );
}

/// `supplygate ARGS` run on a terminal (util-linux `script` gives it one) with `env` set:
/// its stdout.
fn on_a_terminal(case: &Case, args: &str, env: &[(&str, &str)]) -> String {
    let binary = env!("CARGO_BIN_EXE_supplygate");
    let out = Command::new("script")
        .args(["-qec", &format!("'{binary}' {args}"), "/dev/null"])
        .current_dir(case.dir.path())
        .env_remove("NO_COLOR")
        .env_remove("SUPPLYGATE_COLOR")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn empty_no_color_keeps_colour_and_term_dumb_drops_it() {
    let case = Case::new().file("app.yaml", &deployment("app", &["nginx:1.25"]));
    let check = |env: &[(&str, &str)]| on_a_terminal(&case, "check --offline app.yaml", env);
    let escape = "\u{1b}[";
    assert!(check(&[]).contains(escape));
    assert!(check(&[("NO_COLOR", "")]).contains(escape));
    let no_color = check(&[("NO_COLOR", "1")]);
    assert!(!no_color.contains(escape), "{no_color}");
    assert!(no_color.contains("offline-no-layout"), "{no_color}");
    let dumb = check(&[("TERM", "dumb")]);
    assert!(!dumb.contains(escape), "{dumb}");
    assert!(dumb.contains("offline-no-layout"), "{dumb}");
    // `--color always` is obeyed even there.
    let always = on_a_terminal(
        &case,
        "check --offline --color always app.yaml",
        &[("TERM", "dumb")],
    );
    assert!(always.contains(escape), "{always}");
}

#[test]
fn pin_summaries_count_the_lookups_they_made() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 31);
    registry.push_generated("team/web:v1", 32);
    let host = registry.host();
    let case = Case::new()
        .registry_config(&registry)
        .file(
            "a.yaml",
            &deployment(
                "a",
                &[
                    &format!("{host}/team/app:v1"),
                    &format!("{host}/team/web:v1"),
                ],
            ),
        )
        .file(
            "b.yaml",
            &deployment("b", &[&format!("{host}/team/app:v1")]),
        );
    let out = case.run(&["pin", "."]);
    assert_eq!(out.code, 0, "{out:?}");
    let summary = out.stderr.lines().last().unwrap();
    assert!(
        summary.starts_with("pinned 3 images in 2 files; 2 distinct references, "),
        "{out:?}"
    );
    assert!(!summary.contains(" 0 registry requests"), "{out:?}");

    // The report of a failed pin counts them too.
    let case = case.file(
        "c.yaml",
        &deployment("c", &[&format!("{host}/team/gone:v1")]),
    );
    let out = case.run(&["pin", "c.yaml"]);
    assert_eq!(out.code, 1, "{out:?}");
    let last = out.stdout.lines().last().unwrap();
    assert!(last.contains("; 1 distinct reference, "), "{out:?}");
    assert!(!last.contains(" 0 registry requests"), "{out:?}");
}

#[test]
fn human_summary_counts_skipped_documents() {
    let case = Case::new()
        .file("supplygate.yaml", "network: {offline: true}\n")
        .file(
            "mixed.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\nnot: kubernetes\n---\njust a string\n",
        );
    let out = case.run(&["check", "mixed.yaml"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("allow: 0 images, 0 allowed, 2 documents skipped (not a Kubernetes object);"),
        "{out:?}"
    );
    let json = case
        .run(&["check", "mixed.yaml", "--format", "json"])
        .json();
    assert_eq!(json["summary"]["skipped_documents"], 2, "{json}");
}

#[test]
fn control_and_bidi_characters_from_manifests_are_escaped_in_text_outputs() {
    let case = Case::new()
        .file("supplygate.yaml", "network: {offline: true}\n")
        .file(
            "evil.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: \"ngin\\u202Ex\\e[2J\\x07:1\\nallow\"\n",
        );
    for format in ["human", "github", "markdown"] {
        let out = case.run(&["check", "evil.yaml", "--format", format]);
        assert_eq!(out.code, 1, "{format}: {out:?}");
        assert!(
            out.stdout.contains("invalid-reference"),
            "{format}: {out:?}"
        );
        for raw in ['\u{202e}', '\u{1b}', '\u{7}'] {
            assert!(!out.stdout.contains(raw), "{format}: {raw:?} in {out:?}");
        }
        assert!(
            out.stdout.contains("ngin\\u{202e}x\\u{1b}[2J\\u{7}:1"),
            "{format}: {out:?}"
        );
    }
    // The human report keeps the image on its one line: a line break in it cannot start a
    // line that reads like one of the report's own.
    let human = case.run(&["check", "evil.yaml"]);
    assert!(human.stdout.contains("\\u{7}:1\\u{a}allow\n"), "{human:?}");
    assert!(
        !human.stdout.lines().any(|l| l.trim() == "allow"),
        "{human:?}"
    );
}

#[test]
fn a_key_that_does_not_decode_is_explained_and_keeps_the_decoder_error() {
    // The first 27 bytes of a P-256 public key: the DER stops in the middle.
    let case = Case::new()
        .file(
            "cut.pub",
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
        )
        .file("supplygate.yaml", "signers:\n  ci:\n    key: cut.pub\n")
        .file("app.yaml", &deployment("app", &["nginx"]));
    let out = case.run(&["check", "app.yaml", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let error = &out.json()["errors"][0];
    assert_eq!(error["code"], "invalid-config", "{out:?}");
    assert_eq!(error["line"], 3, "{out:?}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("ASN.1"), "the raw cause stays: {message}");
    assert!(
        message.contains(
            "(a certificate or key could not be decoded: its bytes are damaged, truncated or \
             not the kind of object expected here; get a fresh copy of it"
        ),
        "{message}"
    );
}
