//! End-to-end scenarios of the `supplygate` binary: the bundled demo, `check` and `pin` against a
//! real docker-registry started by the test, config and manifest errors, and fail-closed exits.

use crate::common;
use crate::common::case::{assert_snapshot, mask_elapsed, output_with_stdin, Case};

use common::Outcome;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{cosign_made, TestRegistry};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn deployment(name: &str, images: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n"
    );
    for (i, image) in images.iter().enumerate() {
        s.push_str(&format!("        - name: c{i}\n          image: {image}\n"));
    }
    s
}

fn images(json: &Value) -> &Vec<Value> {
    json["images"].as_array().unwrap()
}

// ---------------------------------------------------------------- the bundled demo

fn demo(format: &str) -> Outcome {
    let out = common::supplygate()
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
    let out = common::supplygate()
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
    assert_snapshot!("demo-human.txt", &mask_elapsed(&text));
}

#[test]
fn explain_lists_every_signature_per_digest() {
    let run = |format: &str| {
        let out = common::supplygate()
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
    assert_snapshot!("explain-multiarch.txt", &text);
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
    let out = common::supplygate()
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
    // How many lookups a cache answered depends on timing: a tag's digest learnt on the way
    // (a `repo:tag@digest` reference) fills the cache only if no lookup of it is in flight.
    let hits = json["stats"]["cache_hits"].as_u64().unwrap();
    assert!(hits <= 16, "cache_hits {hits}");
    json["stats"]["cache_hits"] = Value::from(0);
    assert_snapshot!(
        "demo.json",
        &(serde_json::to_string_pretty(&json).unwrap() + "\n"),
    );
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
        assert_snapshot!(name, &out.stdout);
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

#[test]
fn verifies_cosign_and_skopeo_signatures_served_by_a_real_registry() {
    // The images were signed on a registry at 127.0.0.1:5123 and their payloads name that
    // repository. Here a real registry on a random port serves them as a mirror of that host,
    // so the signatures are discovered, fetched and verified over the distribution API.
    let registry = TestRegistry::start();
    for name in ["cosign-signed", "signed", "multiarch"] {
        common::push_cosign_made(&registry, name);
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
    common::push_cosign_made(&registry, "cosign-signed");
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
    // Each finding names its config entry: the `require:` rule (line 11 of `demo_config`) and
    // the exemption (line 14).
    let config_of = |n: usize| images(&json)[0]["findings"][n]["config"].clone();
    assert_eq!(
        config_of(0),
        serde_json::json!([{"file": "supplygate.yaml", "line": 11, "column": 5, "key": "require[0]"}])
    );
    assert_eq!(
        config_of(1),
        serde_json::json!([{"file": "supplygate.yaml", "line": 14, "column": 5, "key": "exemptions[0]"}])
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

/// Of two `require:` rules matching an image, the finding names the one its signatures leave
/// unsatisfied, and where that rule's signer is defined; an `images` finding names the `policy:` key it enforces; a finding of a user
/// package names no config entry.
#[test]
fn a_denial_names_the_unsatisfied_rule_and_the_policy_key_behind_it() {
    let demo = PathBuf::from(ROOT).join("fixtures/demo");
    let config = format!(
        "registries:\n  127.0.0.1:5123:\n    layout: {}\nnetwork:\n  offline: true\nsigners:\n  \
         demo-ci:\n    key: {}\n    insecure_ignore_tlog: true\n  other:\n    key: {}\n    \
         insecure_ignore_tlog: true\nrequire:\n  - images: [\"127.0.0.1:5123/demo/**\"]\n    \
         signers: [demo-ci]\n  - images: [\"127.0.0.1:5123/demo/cosign-signed\"]\n    \
         signers: [other]\npolicy:\n  allowed_registries: [\"ghcr.io/**\"]\n",
        demo.join("layouts").display(),
        demo.join("keys/demo-ci.pub").display(),
        PathBuf::from(ROOT)
            .join("fixtures/keys/other-p256.pub")
            .display(),
    );
    let lines: Vec<&str> = config.lines().collect();
    assert_eq!(
        lines[15],
        "  - images: [\"127.0.0.1:5123/demo/cosign-signed\"]"
    );
    assert_eq!(lines[9], "  other:");
    assert_eq!(lines[18], "  allowed_registries: [\"ghcr.io/**\"]");
    let case = Case::new().file("supplygate.yaml", &config).file(
        "app.yaml",
        &pod("prod", "", "127.0.0.1:5123/demo/cosign-signed:v1"),
    );
    let out = case.run(&["check", "app.yaml", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let config_of = |code: &str| -> Value {
        images(&json)[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("no `{code}` in {json}"))["config"]
            .clone()
    };
    assert_eq!(
        config_of("signature-not-trusted"),
        serde_json::json!([
            {"file": "supplygate.yaml", "line": 16, "column": 5, "key": "require[1]"},
            {"file": "supplygate.yaml", "line": 10, "column": 3, "key": "signers.other"}
        ])
    );
    assert_eq!(
        config_of("registry-not-allowed-by-policy"),
        serde_json::json!([{
            "file": "supplygate.yaml", "line": 19, "column": 3, "key": "policy.allowed_registries"
        }])
    );
    let human = case.run(&["check", "app.yaml"]);
    assert!(
        human
            .stdout
            .contains("config: supplygate.yaml:16:5 (require[1])\n"),
        "{human:?}"
    );
    assert!(!human.stdout.contains("(require[0])"), "{human:?}");

    let rule =
        "package supplygate.team\n\nimport rego.v1\n\ndeny contains \"no team label\" if {\n  \
                not input.resource.labels.team\n}\n";
    let case = case.file("rules/team.rego", rule);
    let out = case.run(&["check", "app.yaml", "--policy", "rules", "--format", "json"]);
    let json = out.json();
    let mine = images(&json)[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["package"] == "data.supplygate.team")
        .unwrap_or_else(|| panic!("{json}"))
        .clone();
    assert!(mine.get("config").is_none(), "{mine}");
}

#[test]
fn policy_test_runs_the_shipped_library_tests() {
    let out = common::supplygate()
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

// ------------------------------------------------- the commands people reach for (issue 11)

/// Every command with its own `--help` snapshot (`help-<name>.txt`).
const COMMANDS: &[&[&str]] = &[
    &["check"],
    &["pin"],
    &["explain"],
    &["images"],
    &["serve"],
    &["policy"],
    &["policy", "test"],
    &["config"],
    &["config", "validate"],
    &["init"],
    &["schema"],
    &["completion"],
    &["man"],
    &["version"],
];

#[test]
fn every_command_help_has_examples_and_matches_its_snapshot() {
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let out = Case::new().run(&args);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout.contains("\nExamples:\n  supplygate "),
            "{command:?}: {out:?}"
        );
        let name = format!("help-{}.txt", command.join("-"));
        assert_snapshot!(name.as_str(), &out.stdout);
    }
}

#[test]
fn bash_completion_is_valid_bash_and_completes_every_command() {
    let case = Case::new();
    let out = case.run(&["completion", "bash"]);
    assert_eq!(out.code, 0, "{out:?}");
    std::fs::write(case.path("supplygate.bash"), &out.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(case.path("supplygate.bash"))
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {syntax:?}");
    // Sourced, it registers the completion function for `supplygate`.
    let registered = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p supplygate",
            case.path("supplygate.bash").display()
        ))
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&registered.stdout);
    assert!(registered.contains("supplygate"), "{registered}");
    for word in [
        "check",
        "pin",
        "explain",
        "images",
        "serve",
        "policy",
        "config",
        "validate",
        "init",
        "schema",
        "completion",
        "man",
        "version",
        "--dry-run",
        "--keyless-github",
        "--list",
    ] {
        assert!(
            out.stdout.contains(word),
            "no `{word}` in the bash completion"
        );
    }
    for shell in ["zsh", "fish", "powershell"] {
        let out = case.run(&["completion", shell]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout.contains("images") && out.stdout.contains("dry-run"),
            "{shell}"
        );
    }
    let out = case.run(&["completion", "tcsh"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("invalid value 'tcsh'"), "{out:?}");
}

/// `groff` reads the page without a warning (`-ww` turns them all on; `-k` decodes UTF-8 as
/// `man` does).
fn assert_groff_clean(page: &str) {
    let mut groff = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = groff.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let warnings = String::from_utf8_lossy(&out.stderr);
    // Filling a long usage line is a layout notice, not a problem with the page.
    let real: Vec<&str> = warnings
        .lines()
        .filter(|l| !l.contains("cannot adjust line") && !l.contains("cannot break line"))
        .collect();
    assert!(real.is_empty(), "groff: {real:?}");
}

#[test]
fn man_pages_render_with_groff_and_cover_every_command() {
    let case = Case::new();
    let top = case.run(&["man"]);
    assert_eq!(top.code, 0, "{top:?}");
    assert!(top.stdout.contains(".TH supplygate 1"), "{top:?}");
    assert_groff_clean(&top.stdout);
    let sub = case.run(&["man", "policy", "test"]);
    assert_eq!(sub.code, 0, "{sub:?}");
    assert!(
        sub.stdout.contains(".TH supplygate-policy-test 1"),
        "{sub:?}"
    );
    assert_groff_clean(&sub.stdout);

    let out = case.run(&["man", "--dir", "pages"]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut pages: Vec<String> = std::fs::read_dir(case.path("pages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("supplygate-{}.1", c.join("-")))
        .chain(["supplygate.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    for page in &pages {
        assert_groff_clean(&std::fs::read_to_string(case.path("pages").join(page)).unwrap());
    }

    let bad = case.run(&["man", "chek"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr
            .contains("`supplygate` has no subcommand `chek`; it has: check,"),
        "{bad:?}"
    );
}

/// The commit `git` says this checkout is at, or "unknown" outside one (as build.rs decides).
fn head_commit() -> String {
    let top = Command::new("git")
        .args(["-C", ROOT, "rev-parse", "--show-toplevel"])
        .output();
    let own = top.as_ref().is_ok_and(|o| {
        std::fs::canonicalize(String::from_utf8_lossy(&o.stdout).trim()).ok()
            == std::fs::canonicalize(ROOT).ok()
    });
    if !own {
        return "unknown".to_owned();
    }
    let out = Command::new("git")
        .args(["-C", ROOT, "rev-parse", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn version_names_commit_target_and_the_embedded_trusted_root() {
    let case = Case::new();
    let out = case.run(&["version", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["commit"], head_commit().as_str());
    let date = json["build_date"].as_str().unwrap();
    assert!(
        date.len() == 10
            && format!("{date}T00:00:00Z")
                .parse::<jiff::Timestamp>()
                .is_ok(),
        "{date}"
    );
    assert!(json["target"].as_str().unwrap().contains('-'), "{json}");
    assert!(json["features"].is_array(), "{json}");
    let root = &json["trusted_root"];
    let sha = root["sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{root}"
    );
    assert!(
        root["source"]
            .as_str()
            .unwrap()
            .starts_with("sigstore-trust-root 0."),
        "{root}"
    );
    assert!(root["media_type"]
        .as_str()
        .unwrap()
        .starts_with("application/vnd.dev.sigstore.trustedroot+json"));

    let human = case.run(&["version"]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains(sha), "{human:?}");
    let long = case.run(&["--version"]);
    assert_eq!(long.code, 0, "{long:?}");
    assert_eq!(long.stdout.trim_end(), human.stdout.trim_end());
    let short = case.run(&["-V"]);
    assert_eq!(short.stdout.lines().count(), 1, "{short:?}");
    assert!(
        short.stdout.starts_with(&format!(
            "supplygate {} ({} ",
            env!("CARGO_PKG_VERSION"),
            head_commit().get(..12).unwrap_or("unknown")
        )),
        "{short:?}"
    );
}

const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM\n5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==\n-----END PUBLIC KEY-----\n";

#[test]
fn init_writes_configs_that_load_for_each_setup() {
    for (args, file, summary) in [
        (
            &["--keyless-github", "acme/app"][..],
            "supplygate.yaml",
            "1 signer, 1 require rule",
        ),
        (
            &["--key", "cosign.pub"][..],
            "supplygate.yaml",
            "1 signer, 1 require rule",
        ),
        (
            &[
                "--keyless-github",
                "acme/app",
                "--key",
                "cosign.pub",
                "--registry",
                "ghcr.io",
                "--registry",
                "registry.internal:5000",
            ][..],
            "supplygate.yaml",
            "2 signers, 1 require rule",
        ),
        (
            &[
                "--key",
                "keys/cosign.pub",
                "--registry",
                "ghcr.io",
                "-o",
                "deploy/supplygate.yaml",
            ][..],
            "deploy/supplygate.yaml",
            "1 signer, 1 require rule",
        ),
    ] {
        let case = Case::new()
            .file("cosign.pub", PUBLIC_KEY)
            .file("keys/cosign.pub", PUBLIC_KEY)
            .file("deploy/.keep", "");
        let mut init = vec!["init"];
        init.extend_from_slice(args);
        let out = case.run(&init);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stderr.contains(&format!("wrote {file}")), "{out:?}");
        let text = case.read(file);
        assert!(
            text.starts_with("# supplygate.yaml, written by `supplygate init"),
            "{text}"
        );
        let valid = case.run(&["config", "validate", file]);
        assert_eq!(valid.code, 0, "{args:?}: {valid:?}\n{text}");
        assert_eq!(
            valid.stdout,
            format!("{file}: OK ({summary}, 0 provenance rules)\n")
        );
    }
    // Standard output: nothing written.
    let case = Case::new();
    let out = case.run(&["init", "--keyless-github", "acme/app", "-o", "-"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("subject_regex: 'https://github\\.com/acme/app/"),
        "{out:?}"
    );
    assert!(!case.path("supplygate.yaml").exists());
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing_that_does_not_load() {
    let case = Case::new().file("supplygate.yaml", "# mine\n");
    let out = case.run(&["init", "--keyless-github", "acme/app"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("`supplygate.yaml` already exists; not overwritten (--force replaces it)"),
        "{out:?}"
    );
    assert_eq!(case.read("supplygate.yaml"), "# mine\n");
    let forced = case.run(&["init", "--keyless-github", "acme/app", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(case.read("supplygate.yaml").contains("keyless:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let created = case.run(&[
            "init",
            "--keyless-github",
            "acme/app",
            "--force",
            "-o",
            "new.yaml",
        ]);
        assert_eq!(created.code, 0, "{created:?}");
        let mode = std::fs::metadata(case.path("new.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(
            mode & 0o044,
            0,
            "a config is readable like the manifests: {mode:o}"
        );
    }

    // A symlink is an existing file too: never followed.
    #[cfg(unix)]
    {
        let case = Case::new().file("target.txt", "keep\n");
        std::os::unix::fs::symlink(case.path("target.txt"), case.path("link.yaml")).unwrap();
        let out = case.run(&["init", "--keyless-github", "acme/app", "-o", "link.yaml"]);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("`link.yaml` already exists"), "{out:?}");
        assert_eq!(case.read("target.txt"), "keep\n");
    }

    let case = Case::new();
    let out = case.run(&["init", "--key", "missing.pub"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("nothing was written"), "{out:?}");
    assert!(
        out.stderr.contains("cannot read key `missing.pub`"),
        "{out:?}"
    );
    assert!(!case.path("supplygate.yaml").exists());

    let out = case.run(&["init", "--keyless-github", "acme/app/../x"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("expected OWNER/REPO"), "{out:?}");
    let out = case.run(&[
        "init",
        "--keyless-github",
        "acme/app",
        "--registry",
        "https://ghcr.io",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("expected a registry host"), "{out:?}");
    let out = case.run(&["init"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--keyless-github"), "{out:?}");
}

#[test]
fn config_validate_lists_every_problem_with_its_location() {
    let case = Case::new()
        .file(
            "typo.yaml",
            "registries:\n  ghcr.io:\n    insecure: yes please\nnetwrok:\n  retries: 3\n",
        )
        .file("good.yaml", "network: {offline: true}\n")
        .file("tab.yaml", "network:\n\toffline: true\n");
    let out = case.run(&["config", "validate", "typo.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.starts_with("2 problems in config `typo.yaml`\n"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("typo.yaml:3:15: `insecure` must be `true` or `false`"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("typo.yaml:4:1: unknown key `netwrok`"),
        "{out:?}"
    );
    let json = case.run(&["config", "validate", "--format", "json", "typo.yaml"]);
    assert_eq!(json.code, 2, "{json:?}");
    let json = json.json();
    assert_eq!(json["valid"], false);
    let located: Vec<(u64, u64)> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(located, [(3, 15), (4, 1)]);
    assert_eq!(json["problems"][1]["hint"], "did you mean `network`?");

    let tab = case.run(&["config", "validate", "tab.yaml"]);
    assert_eq!(tab.code, 2, "{tab:?}");
    assert!(tab.stdout.contains("tab.yaml:2:"), "{tab:?}");

    let good = case.run(&["config", "validate", "good.yaml"]);
    assert_eq!(good.code, 0, "{good:?}");
    assert_eq!(
        good.stdout,
        "good.yaml: OK (0 signers, 0 require rules, 0 provenance rules)\n"
    );
    let json = case.run(&["config", "validate", "--format", "json", "good.yaml"]);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(json.json()["valid"], true);

    // No file named and none here: nothing was validated, which is not OK.
    let missing = case.run(&["config", "validate"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stdout
            .contains("supplygate.yaml: cannot read config `supplygate.yaml`"),
        "{missing:?}"
    );
    // --config names the file when no FILE is given.
    let global = case.run(&["--config", "good.yaml", "config", "validate"]);
    assert_eq!(global.code, 0, "{global:?}");

    // Policies the config names are loaded too.
    let case = case
        .file("bad.rego", "package x\ndeny contains msg if {\n")
        .file("policy.yaml", "policy:\n  paths: [bad.rego]\n");
    let out = case.run(&["config", "validate", "policy.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("policy: "), "{out:?}");
}

#[test]
fn images_lists_sites_with_workload_field_and_extractor_without_resolving() {
    let manifests = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: busybox:1.36\n      containers:\n        - name: app\n          image: \"ghcr.io/acme/app:v1\\u001b[2J\\u202e\"\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: canary}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: nginx:1.27}]\n---\napiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: build}\nspec:\n  steps: [{name: s, image: alpine}]\n---\njust: data\n";
    // The registry named in the config is a closed port: nothing may be asked of it.
    let case = Case::new()
        .file(
            "supplygate.yaml",
            "registries:\n  \"127.0.0.1:9\":\n    insecure: true\nimages:\n  extra:\n    - kind: Task\n      api_version: tekton.dev\n      images: [\"spec.steps[*].image\"]\n",
        )
        .file("app.yaml", manifests);
    let out = case.run(&["images", "app.yaml"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{202e}'),
        "{out:?}"
    );
    assert_snapshot!("images-human.txt", &out.stdout);

    let json = case.run(&["images", "--format", "json", "app.yaml"]);
    assert_eq!(json.code, 0, "{json:?}");
    let json = json.json();
    let rows: Vec<(String, u64, u64, String, String, String, String)> = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["file"].as_str().unwrap().to_owned(),
                i["line"].as_u64().unwrap(),
                i["column"].as_u64().unwrap(),
                format!(
                    "{}/{}",
                    i["kind"].as_str().unwrap(),
                    i["name"].as_str().unwrap()
                ),
                i["field"].as_str().unwrap().to_owned(),
                i["extractor"].as_str().unwrap().to_owned(),
                i["image"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |line, column, workload: &str, field: &str, extractor: &str, image: &str| {
        (
            "app.yaml".to_owned(),
            line,
            column,
            workload.to_owned(),
            field.to_owned(),
            extractor.to_owned(),
            image.to_owned(),
        )
    };
    assert_eq!(
        rows,
        [
            row(
                11,
                18,
                "Deployment/web",
                "spec.template.spec.initContainers[0].image",
                "kubernetes",
                "busybox:1.36"
            ),
            row(
                14,
                18,
                "Deployment/web",
                "spec.template.spec.containers[0].image",
                "kubernetes",
                "ghcr.io/acme/app:v1\u{1b}[2J\u{202e}"
            ),
            row(
                22,
                37,
                "Rollout/canary",
                "spec.template.spec.containers[0].image",
                "argo-rollouts",
                "nginx:1.27"
            ),
            row(
                28,
                28,
                "Task/build",
                "spec.steps[0].image",
                "images.extra",
                "alpine"
            ),
        ]
    );
    assert_eq!(json["images"][0]["namespace"], "shop");
    assert_eq!(json["images"][0]["container"], "init");
    assert_eq!(json["skipped_documents"], 1);

    // `check --list` is the same listing.
    let list = case.run(&["check", "--list", "--format", "json", "app.yaml"]);
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(list.json(), json);
    let sarif = case.run(&["check", "--list", "--format", "sarif", "app.yaml"]);
    assert_eq!(sarif.code, 2, "{sarif:?}");
    assert!(
        sarif
            .stderr
            .contains("--list prints human or json, not sarif"),
        "{sarif:?}"
    );

    // A listing is of every document: never of a selection that a lock would then miss.
    let selected = case.run(&["check", "--list", "--changed-since", "HEAD", "app.yaml"]);
    assert_eq!(selected.code, 2, "{selected:?}");
    assert!(
        selected
            .stderr
            .contains("'--list' cannot be used with '--changed-since <REV>'"),
        "{selected:?}"
    );

    // A file that cannot be read is listed as an error, exit 2.
    let case = case.file("bad.yaml", "apiVersion: v1\nkind: Pod\nspec: [\n");
    let out = case.run(&["images", "."]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("bad.yaml:"), "{out:?}");
    assert!(out.stdout.contains("error[invalid-manifest]"), "{out:?}");
}

#[test]
fn pin_dry_run_prints_a_diff_that_patch_applies_and_writes_nothing() {
    let registry = TestRegistry::start();
    let app = registry.push_generated("team/app:v1", 31);
    let host = registry.host();
    let original = format!(
        "# keep\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: a, image: \"{host}/team/app:v1\"}}\n  - name: b\n    image: '{host}/team/app:v1'   # trailing\n  - name: c\n    image: busybox@sha256:{}\n",
        "1".repeat(64)
    );
    let case = Case::new()
        .registry_config(&registry)
        .file("pod.yaml", &original)
        .file(
            "other.yaml",
            &deployment("d", &[&format!("{host}/team/app:v1")]),
        );

    let dry = case.run(&["pin", "--dry-run", "pod.yaml", "other.yaml"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(case.read("pod.yaml"), original, "--dry-run writes nothing");
    assert!(
        dry.stdout
            .starts_with("--- a/pod.yaml\n+++ b/pod.yaml\n@@ -4,8 +4,8 @@\n"),
        "{dry:?}"
    );
    assert!(
        dry.stdout
            .contains("\n--- a/other.yaml\n+++ b/other.yaml\n@@ -7,4 +7,4 @@\n"),
        "{dry:?}"
    );
    assert!(
        dry.stderr.contains("would pin 3 images in 2 files"),
        "{dry:?}"
    );
    assert!(
        dry.stdout.contains(&format!("-    image: '{host}/team/app:v1'   # trailing\n+    image: '{host}/team/app:v1@{app}'   # trailing\n")),
        "{dry:?}"
    );

    let json = case.run(&[
        "pin",
        "--dry-run",
        "--format",
        "json",
        "pod.yaml",
        "other.yaml",
    ]);
    assert_eq!(json.code, 0, "{json:?}");
    let json = json.json();
    assert_eq!(json["dry_run"], true);
    let rewrites: Vec<(String, u64, u64, String, String)> = json["rewrites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
                r["column"].as_u64().unwrap(),
                r["old"].as_str().unwrap().to_owned(),
                r["new"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let old = format!("{host}/team/app:v1");
    let new = format!("{host}/team/app:v1@{app}");
    assert_eq!(
        rewrites,
        [
            ("other.yaml".to_owned(), 10, 18, old.clone(), new.clone()),
            ("pod.yaml".to_owned(), 7, 22, old.clone(), new.clone()),
            ("pod.yaml".to_owned(), 9, 12, old.clone(), new.clone()),
        ]
    );
    assert_eq!(case.read("pod.yaml"), original);

    // The diff, applied by `patch`, gives exactly what `pin` writes.
    let patched = Command::new("patch")
        .args(["-p1", "--quiet", "--no-backup-if-mismatch"])
        .current_dir(case.path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let patched = {
        let mut child = patched;
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dry.stdout.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(patched.status.success(), "patch: {patched:?}");
    let by_patch = (case.read("pod.yaml"), case.read("other.yaml"));
    std::fs::write(case.path("pod.yaml"), &original).unwrap();
    std::fs::write(case.path("other.yaml"), deployment("d", &[&old])).unwrap();
    let pinned = case.run(&["pin", "--format", "json", "pod.yaml", "other.yaml"]);
    assert_eq!(pinned.code, 0, "{pinned:?}");
    assert_eq!(pinned.json()["dry_run"], false);
    assert_eq!(pinned.json()["rewrites"].as_array().unwrap().len(), 3);
    assert_eq!((case.read("pod.yaml"), case.read("other.yaml")), by_patch);

    // Nothing left to pin: an empty diff.
    let again = case.run(&["pin", "--dry-run", "pod.yaml"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout, "");
    assert!(
        again.stderr.contains("would pin 0 images in 0 files"),
        "{again:?}"
    );
}

#[test]
fn flags_are_read_from_supplygate_env_vars() {
    let case = Case::new()
        .file("supplygate.yaml", "network: {offline: true}\n")
        .file("app.yaml", &deployment("app", &["nginx:1.27"]));
    // --source-repo had none (issue 11); a bad value from the variable is refused like the flag.
    let out = case.run_env(
        &["images", "app.yaml"],
        "SUPPLYGATE_SOURCE_REPO",
        "not-a-spec",
    );
    assert_eq!(out.code, 0, "images reads no clone: {out:?}");
    let out = case.run_env(
        &["check", "app.yaml"],
        "SUPPLYGATE_SOURCE_REPO",
        "not-a-spec",
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("--source-repo `not-a-spec`: expected `URL=PATH`"),
        "{out:?}"
    );
    let flag = case.run(&["check", "--source-repo", "not-a-spec", "app.yaml"]);
    assert_eq!(flag.stderr, out.stderr);

    // `--list` has no variable: one left in a pipeline's environment must not turn `check`
    // into a listing that exits 0 (read as allow).
    let listed = case.run_env(
        &["check", "app.yaml", "--format", "json"],
        "SUPPLYGATE_LIST",
        "true",
    );
    assert_eq!(listed.code, 2, "{listed:?}");
    // A check's report (a listing has no decision), undecided offline.
    assert_eq!(listed.json()["decision"], "error", "{listed:?}");
    assert_eq!(listed.json()["summary"]["errors"], 1, "{listed:?}");
    let flag = case.run(&["check", "--list", "app.yaml", "--format", "json"]);
    assert_eq!(flag.code, 0, "{flag:?}");
    assert_eq!(flag.json()["images"][0]["extractor"], "kubernetes");

    // A clock moved by a variable is never silent: it would accept expired certificates.
    let clock = case.run_env(
        &["check", "app.yaml"],
        "SUPPLYGATE_NOW",
        "2020-01-01T00:00:00Z",
    );
    assert!(
        clock.stderr.contains(
            "--now (SUPPLYGATE_NOW): evaluating at 2020-01-01T00:00:00Z, not the real time"
        ),
        "{clock:?}"
    );
    let real = case.run(&["check", "app.yaml"]);
    assert!(!real.stderr.contains("--now"), "{real:?}");

    let bad = case.run_env(&["images", "app.yaml"], "SUPPLYGATE_VERBOSE", "9");
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr
            .contains("SUPPLYGATE_VERBOSE `9`: expected a number from 0 to 3"),
        "{bad:?}"
    );
    // -v: `--tuf-refresh` on a key-only config says at info level that it fetched nothing.
    let info = case.run_env(
        &["check", "--tuf-refresh", "app.yaml"],
        "SUPPLYGATE_VERBOSE",
        "1",
    );
    assert!(info.stderr.contains("nothing fetched"), "{info:?}");
    let quiet = case.run(&["check", "--tuf-refresh", "app.yaml"]);
    assert!(!quiet.stderr.contains("nothing fetched"), "{quiet:?}");
}

#[cfg(unix)]
#[test]
fn default_config_path_that_cannot_be_read_is_an_error_not_the_defaults() {
    let manifest = deployment("app", &["nginx:1.27"]);
    // A dangling symlink, a directory: something is there, so the defaults do not apply.
    let dangling = Case::new().file("app.yaml", &manifest);
    std::os::unix::fs::symlink("gone.yaml", dangling.path("supplygate.yaml")).unwrap();
    let directory = Case::new()
        .file("app.yaml", &manifest)
        .file("supplygate.yaml/.keep", "");
    for (what, case, why) in [
        (
            "dangling symlink",
            dangling,
            "it is a symlink to `gone.yaml`, which does not exist",
        ),
        ("directory", directory, "Is a directory"),
    ] {
        for args in [&["check", "app.yaml"][..], &["images", "app.yaml"][..]] {
            let out = case.run(args);
            assert_eq!(out.code, 2, "{what} {args:?}: {out:?}");
            assert!(
                out.stderr
                    .contains(&format!("cannot read config `supplygate.yaml`: {why}")),
                "{what} {args:?}: {out:?}"
            );
            assert_eq!(out.stdout, "", "{what} {args:?}: {out:?}");
        }
    }
    // Nothing there at all: the defaults.
    let none = Case::new().file("app.yaml", &manifest);
    let out = none.run(&["images", "app.yaml"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn check_format_variable_does_not_reach_other_commands_and_empty_init_vars_are_unset() {
    let case = Case::new()
        .file("supplygate.yaml", "network: {offline: true}\n")
        .file("app.yaml", &deployment("app", &["nginx:1.27"]));
    // SUPPLYGATE_FORMAT=sarif is for `check`; `images` and `config validate` have no SARIF.
    let images = case.run_env(&["images", "app.yaml"], "SUPPLYGATE_FORMAT", "sarif");
    assert_eq!(images.code, 0, "{images:?}");
    assert!(images.stdout.contains("app.yaml:"), "{images:?}");
    let valid = case.run_env(&["config", "validate"], "SUPPLYGATE_FORMAT", "sarif");
    assert_eq!(valid.code, 0, "{valid:?}");
    assert!(valid.stdout.starts_with("supplygate.yaml: OK"), "{valid:?}");
    let check = case.run_env(&["check", "app.yaml"], "SUPPLYGATE_FORMAT", "sarif");
    assert_eq!(check.json()["version"], "2.1.0", "{check:?}");
    // Their own variables.
    let json = case.run_env(&["images", "app.yaml"], "SUPPLYGATE_IMAGES_FORMAT", "json");
    assert_eq!(json.json()["images"][0]["image"], "nginx:1.27", "{json:?}");
    let json = case.run_env(
        &["config", "validate"],
        "SUPPLYGATE_CONFIG_VALIDATE_FORMAT",
        "json",
    );
    assert_eq!(json.json()["valid"], true, "{json:?}");

    // An empty SUPPLYGATE_INIT_* value is unset, not an empty key path or host.
    let out = Outcome::from_output(
        case.command(&["init", "--keyless-github", "acme/app", "-o", "-"])
            .env("SUPPLYGATE_INIT_KEY", "")
            .env("SUPPLYGATE_INIT_REGISTRY", "")
            .env("SUPPLYGATE_INIT_FORCE", "")
            .env("SUPPLYGATE_INIT_OUTPUT", "")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("keyless:"), "{out:?}");
    assert!(!out.stdout.contains("key: "), "{out:?}");
    let out = case.run_env(&["init"], "SUPPLYGATE_INIT_KEYLESS_GITHUB", "");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("the following required arguments were not provided"),
        "{out:?}"
    );
}

#[cfg(unix)]
#[test]
fn pin_dry_run_quotes_file_names_and_patch_writes_only_that_file() {
    let registry = TestRegistry::start();
    let app = registry.push_generated("team/app:v1", 32);
    let host = registry.host();
    // A name that, unquoted, would end the `+++` header and name another file.
    let evil = "x.yaml\n+++ b/victim.yaml";
    let manifest = deployment("d", &[&format!("{host}/team/app:v1")]);
    let case = Case::new()
        .registry_config(&registry)
        .file("victim.yaml", "keep: me\n")
        .file("dir/my app \"1\".yaml", &manifest);
    std::fs::create_dir(case.path("x.yaml\n+++ b")).unwrap();
    std::fs::write(case.path(evil), &manifest).unwrap();

    let dry = case.run(&["pin", "--dry-run", evil, "dir"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains(
            "--- \"a/x.yaml\\n+++ b/victim.yaml\"\n+++ \"b/x.yaml\\n+++ b/victim.yaml\"\n"
        ),
        "{dry:?}"
    );
    assert!(
        dry.stdout
            .contains("--- \"a/dir/my app \\\"1\\\".yaml\"\n+++ \"b/dir/my app \\\"1\\\".yaml\"\n"),
        "{dry:?}"
    );

    let patched = output_with_stdin(
        Command::new("patch")
            .args(["-p1", "--quiet", "--no-backup-if-mismatch"])
            .current_dir(case.path("")),
        &dry.stdout,
    );
    assert!(patched.status.success(), "patch: {patched:?}");
    assert_eq!(case.read("victim.yaml"), "keep: me\n");
    let pinned = manifest.replace(
        &format!("{host}/team/app:v1"),
        &format!("{host}/team/app:v1@{app}"),
    );
    assert_eq!(case.read(evil), pinned);
    assert_eq!(case.read("dir/my app \"1\".yaml"), pinned);
    let mut names: Vec<String> = std::fs::read_dir(case.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["dir", "supplygate.yaml", "victim.yaml", "x.yaml\n+++ b"],
        "{names:?}"
    );
}

#[test]
fn pin_reads_a_file_named_twice_once() {
    let registry = TestRegistry::start();
    let app = registry.push_generated("team/app:v1", 33);
    let host = registry.host();
    let manifest = deployment("d", &[&format!("{host}/team/app:v1")]);
    let case = Case::new()
        .registry_config(&registry)
        .file("f.yaml", &manifest);
    let out = case.run(&["pin", "f.yaml", "f.yaml", "./f.yaml", "."]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("pinned 1 image in 1 file"), "{out:?}");
    assert_eq!(
        case.read("f.yaml"),
        manifest.replace(
            &format!("{host}/team/app:v1"),
            &format!("{host}/team/app:v1@{app}")
        )
    );
}

#[cfg(unix)]
#[test]
fn init_key_path_is_right_through_a_symlinked_output_directory() {
    // `link` is `real/deploy`: `link/..` is `real`, not the case directory.
    let case = Case::new()
        .file("keys/cosign.pub", PUBLIC_KEY)
        .file("real/deploy/.keep", "");
    std::os::unix::fs::symlink("real/deploy", case.path("link")).unwrap();
    let out = case.run(&[
        "init",
        "--key",
        "keys/cosign.pub",
        "-o",
        "link/supplygate.yaml",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = case.read("real/deploy/supplygate.yaml");
    assert!(text.contains("key: \"../../keys/cosign.pub\"\n"), "{text}");
    for config in ["link/supplygate.yaml", "real/deploy/supplygate.yaml"] {
        let valid = case.run(&["config", "validate", config]);
        assert_eq!(valid.code, 0, "{config}: {valid:?}");
        assert!(valid.stdout.contains(": OK (1 signer"), "{valid:?}");
    }
}

#[test]
fn config_validate_checks_layout_directories_and_policy_flags() {
    let case = Case::new()
        .file(
            "conf/layouts.yaml",
            "network: {offline: true}\nregistries:\n  ghcr.io:\n    layout: mirror/ghcr\n  quay.io:\n    layout: there\n",
        )
        .file("conf/there/oci-layout", "{\"imageLayoutVersion\": \"1.0.0\"}")
        .file("conf/file.yaml", "registries:\n  ghcr.io: {layout: layouts.yaml}\n")
        .file("bad.rego", "package x\ndeny contains msg if {\n")
        .file("good.rego", "package supplygate.x\n\ndeny contains msg if {\n\tfalse\n\tmsg := \"no\"\n}\n")
        .file("ok.yaml", "network: {offline: true}\n");
    let out = case.run(&["config", "validate", "conf/layouts.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stdout,
        "1 problem in config `conf/layouts.yaml`\nconf/layouts.yaml:4:13: \
         `registries.ghcr.io.layout`: `conf/mirror/ghcr` does not exist (an OCI image layout \
         directory (`skopeo copy … oci:DIR`), relative to the config file's directory)\n",
        "{out:?}"
    );
    let json = case.run(&[
        "config",
        "validate",
        "--format",
        "json",
        "conf/layouts.yaml",
    ]);
    assert_eq!(json.code, 2, "{json:?}");
    assert_eq!(json.json()["problems"][0]["line"], 4);
    assert_eq!(json.json()["problems"][0]["column"], 13);
    let out = case.run(&["config", "validate", "conf/file.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.contains(
            "conf/file.yaml:2:21: `registries.ghcr.io.layout`: `conf/layouts.yaml` is not a \
             directory"
        ),
        "{out:?}"
    );

    // `--policy` files are loaded and compiled like the config's own `policy.paths`.
    let out = case.run(&["config", "validate", "ok.yaml", "--policy", "bad.rego"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.starts_with("1 problem in config `ok.yaml`\n"),
        "{out:?}"
    );
    assert!(out.stdout.contains("ok.yaml: policy: "), "{out:?}");
    assert!(out.stdout.contains("bad.rego"), "{out:?}");
    let out = case.run_env(
        &["config", "validate", "ok.yaml"],
        "SUPPLYGATE_POLICY",
        "bad.rego",
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("bad.rego"), "{out:?}");
    let out = case.run(&["config", "validate", "ok.yaml", "--policy", "good.rego"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = case.run(&["config", "validate", "ok.yaml", "--policy", "missing.rego"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("missing.rego"), "{out:?}");
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

/// A FIFO where the config or a key file belongs is refused by name, never waited on (opening
/// it for reading would block until a writer came).
#[cfg(unix)]
#[test]
fn a_fifo_as_config_or_key_is_refused_by_name_without_waiting() {
    let manifest = deployment("app", &["nginx:1.27"]);
    let case = Case::new().file("app.yaml", &manifest).fifo("pipe.yaml");
    for args in [
        &["check", "--config", "pipe.yaml", "app.yaml"][..],
        &["images", "--config", "pipe.yaml", "app.yaml"][..],
    ] {
        let out = case.run_unblocked(args, "the config FIFO");
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(
                "cannot read config `pipe.yaml`: not a regular file but a FIFO (named pipe)"
            ),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.stdout, "", "{args:?}: {out:?}");
    }

    let case = Case::new()
        .file(
            "supplygate.yaml",
            "signers:\n  ci:\n    key: keys/ci.pub\nrequire:\n  - images: [\"**\"]\n    signers: [ci]\n",
        )
        .file("app.yaml", &manifest)
        .fifo("keys/ci.pub");
    let out = case.run_unblocked(&["check", "app.yaml"], "the key FIFO");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "supplygate.yaml:3:10: cannot read key `keys/ci.pub`: not a regular file but a FIFO \
             (named pipe)"
        ),
        "{out:?}"
    );
    assert_eq!(out.stdout, "", "{out:?}");
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
        let out = common::supplygate()
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
        .current_dir(case.dir())
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
            "m/mixed.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\nnot: kubernetes\n---\njust a string\n",
        );
    // Found in a directory, documents that are not Kubernetes objects are skipped and counted.
    let out = case.run(&["check", "m"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("allow: 0 images, 0 allowed, 2 documents skipped (not a Kubernetes object);"),
        "{out:?}"
    );
    let json = case.run(&["check", "m", "--format", "json"]).json();
    assert_eq!(json["summary"]["skipped_documents"], 2, "{json}");
    // In a file named on the command line, a document that is a string is refused, as kubectl
    // refuses it; the mapping without `apiVersion` and `kind` is still skipped.
    let json = case
        .run(&["check", "m/mixed.yaml", "--format", "json"])
        .json();
    assert_eq!(json["decision"], "error", "{json}");
    assert_eq!(json["errors"][0]["code"], "invalid-manifest", "{json}");
    assert_eq!(json["errors"][0]["line"], 6, "{json}");
    assert_eq!(json["summary"]["skipped_documents"], 1, "{json}");
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

/// `repo: acme/app.git` could never match a certificate's Source Repository URI: a config
/// error with the hint, and `init --keyless-github acme/app.git` refuses it too.
#[test]
fn a_repository_with_a_git_suffix_is_refused_with_a_hint() {
    let case = Case::new()
        .file(
            "supplygate.yaml",
            "signers:\n  gh:\n    keyless:\n      issuer: https://token.actions.githubusercontent.com\n      subject_regex: 'x'\n      repo: acme/app.git\n",
        )
        .file("app.yaml", &deployment("app", &["nginx"]));
    let out = case.run(&["check", "app.yaml", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let error = &out.json()["errors"][0];
    assert_eq!(error["code"], "invalid-config", "{out:?}");
    assert_eq!(error["line"], 6, "{out:?}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("drop the `.git`"),
        "{out:?}"
    );
    let out = case.run(&[
        "init",
        "--keyless-github",
        "acme/app.git",
        "--output",
        "new.yaml",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("write `acme/app`"), "{out:?}");
}
