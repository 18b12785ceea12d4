//! The pull-request outputs of `check`: SARIF 2.1.0 (validated against the OASIS schema in
//! fixtures/sarif), GitHub workflow commands, Markdown, and several formats in one run, against
//! the bundled demo (OCI layouts) and a real docker-registry started by the test.

use crate::common;
use crate::common::case::{assert_snapshot, mask_elapsed, run_in, run_in_env, Case};

use common::Outcome;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::TestRegistry;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The bundled demo (offline, OCI layouts): 4 allowed, 4 denied.
fn demo(extra: &[&str]) -> Outcome {
    let mut args = vec![
        "check",
        "--config",
        "fixtures/demo/supplygate.yaml",
        "fixtures/demo/manifests",
    ];
    args.extend_from_slice(extra);
    run_in(Path::new(ROOT), &args)
}

fn deployment(name: &str, images: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n"
    );
    for (i, image) in images.iter().enumerate() {
        s.push_str(&format!("        - name: c{i}\n          image: {image}\n"));
    }
    s
}

/// Validates a SARIF log against the OASIS SARIF 2.1.0 schema with Debian's
/// python3-jsonschema (installed by tests/run.sh). Returns the validator's complaints.
fn sarif_schema_errors(log: &str) -> Vec<String> {
    let schema = PathBuf::from(ROOT).join("fixtures/sarif/sarif-schema-2.1.0.json");
    let script = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    print("MISSING python3-jsonschema")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
doc = json.load(sys.stdin)
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
for e in sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.absolute_path)):
    print("/".join(str(p) for p in e.absolute_path) + ": " + e.message)
"#;
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 is needed to validate SARIF (tests/run.sh installs python3-jsonschema)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(log.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.contains("MISSING"),
        "python3-jsonschema is not installed: `apt-get install python3-jsonschema` (tests/run.sh does)"
    );
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

fn results(sarif: &Value) -> &Vec<Value> {
    sarif["runs"][0]["results"].as_array().unwrap()
}

/// `(uri, line, column, ruleId, level)` of every result.
fn placed(sarif: &Value) -> Vec<(String, u64, u64, String, String)> {
    results(sarif)
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                loc["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                loc["region"]["startLine"].as_u64().unwrap_or(0),
                loc["region"]["startColumn"].as_u64().unwrap_or(0),
                r["ruleId"].as_str().unwrap().to_owned(),
                r["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- SARIF

#[test]
fn the_schema_check_rejects_a_broken_sarif_log() {
    // The validator is real: a result with an unknown level and a region starting at line 0
    // is refused by the shipped schema.
    let broken = r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
        "results": [{"message": {"text": "m"}, "level": "fatal",
        "locations": [{"physicalLocation": {"region": {"startLine": 0}}}]}]}]}"#;
    let errors = sarif_schema_errors(broken);
    assert!(errors.iter().any(|e| e.contains("fatal")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("startLine")), "{errors:?}");
}

#[test]
fn demo_sarif_is_valid_sarif_2_1_0_located_at_each_manifest_line() {
    let out = demo(&["--format", "sarif"]);
    assert_eq!(out.code, 1, "{out:?}");
    let errors = sarif_schema_errors(&out.stdout);
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
    let sarif = out.json();
    assert_eq!(sarif["version"], "2.1.0");
    let driver = &sarif["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "supplygate");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver["informationUri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let m = "fixtures/demo/manifests";
    assert_eq!(
        placed(&sarif),
        vec![
            (
                format!("{m}/api.yaml"),
                29,
                18,
                "source-commit-mismatch".into(),
                "error".into()
            ),
            (
                format!("{m}/jobs.yaml"),
                18,
                22,
                "image-not-found".into(),
                "error".into()
            ),
            (
                format!("{m}/jobs.yaml"),
                31,
                18,
                "unsigned-image".into(),
                "error".into()
            ),
            (
                format!("{m}/jobs.yaml"),
                43,
                18,
                "invalid-reference".into(),
                "error".into()
            ),
        ]
    );
    // One rule per code used, each result pointing at its rule.
    let rules: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "image-not-found",
            "invalid-reference",
            "source-commit-mismatch",
            "unsigned-image"
        ]
    );
    for r in results(&sarif) {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(driver["rules"][index]["id"], r["ruleId"]);
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
            "%SRCROOT%"
        );
    }
    let rule = &driver["rules"][0];
    assert!(rule["shortDescription"]["text"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert!(rule["help"]["text"]
        .as_str()
        .unwrap()
        .contains("image-not-found"));
    // The same places as the JSON report.
    let json = demo(&["--format", "json"]).json();
    let denied: Vec<(u64, u64)> = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["decision"] != "allow")
        .map(|i| (i["line"].as_u64().unwrap(), i["column"].as_u64().unwrap()))
        .collect();
    let in_sarif: Vec<(u64, u64)> = placed(&sarif).iter().map(|p| (p.1, p.2)).collect();
    assert_eq!(denied, in_sarif);
    assert_snapshot!("demo.sarif", &out.stdout);
}

/// The demo's `require:` rule is written at fixtures/demo/supplygate.yaml line 22, column 5
/// (`- images: …`), its `provenance:` rule at line 26, column 5.
#[test]
fn a_require_denial_names_its_config_rule_in_human_json_and_sarif() {
    let config =
        std::fs::read_to_string(PathBuf::from(ROOT).join("fixtures/demo/supplygate.yaml")).unwrap();
    let lines: Vec<&str> = config.lines().collect();
    assert_eq!(lines[21], "  - images: [\"127.0.0.1:5123/demo/**\"]");
    assert_eq!(lines[25], "  - images: [\"127.0.0.1:5123/demo/attested\"]");

    let human = demo(&[]);
    assert_eq!(human.code, 1, "{human:?}");
    assert!(
        human.stdout.contains(
            "           policy: data.supplygate.signatures\n           \
             config: fixtures/demo/supplygate.yaml:22:5 (require[0])\n"
        ),
        "{human:?}"
    );
    assert!(
        human
            .stdout
            .contains("config: fixtures/demo/supplygate.yaml:26:5 (provenance[0])\n"),
        "{human:?}"
    );
    // Only policy findings name a config entry: not `image-not-found` or `invalid-reference`.
    assert_eq!(human.stdout.matches("config: ").count(), 2, "{human:?}");

    let json = demo(&["--format", "json"]).json();
    let finding = |code: &str| -> Value {
        json["images"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["findings"].as_array().unwrap())
            .find(|f| f["code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(
        finding("unsigned-image")["config"],
        serde_json::json!([{
            "file": "fixtures/demo/supplygate.yaml", "line": 22, "column": 5, "key": "require[0]"
        }])
    );
    assert_eq!(
        finding("source-commit-mismatch")["config"],
        serde_json::json!([{
            "file": "fixtures/demo/supplygate.yaml", "line": 26, "column": 5,
            "key": "provenance[0]"
        }])
    );
    assert!(finding("image-not-found").get("config").is_none());

    let sarif = demo(&["--format", "sarif"]);
    assert!(sarif_schema_errors(&sarif.stdout).is_empty());
    let sarif = sarif.json();
    let unsigned = results(&sarif)
        .iter()
        .find(|r| r["ruleId"] == "unsigned-image")
        .unwrap();
    assert_eq!(
        unsigned["relatedLocations"],
        serde_json::json!([{
            "id": 0,
            "message": {"text": "config: require[0]"},
            "physicalLocation": {
                "artifactLocation": {"uri": "fixtures/demo/supplygate.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 22, "startColumn": 5},
            },
        }])
    );
    let not_found = results(&sarif)
        .iter()
        .find(|r| r["ruleId"] == "image-not-found")
        .unwrap();
    assert!(not_found.get("relatedLocations").is_none(), "{not_found}");
}

#[test]
fn sarif_fingerprints_survive_lines_added_above_and_paths_are_repo_relative() {
    let registry = TestRegistry::start();
    let host = registry.host();
    let s = Case::new().registry_config_with(&registry, "");
    let missing = format!("{host}/team/missing:v1");
    s.write("apps/web/app.yaml", &deployment("app", &[&missing]));
    // Run from a subdirectory of a directory that is not a git work tree: paths are relative
    // to the current directory then.
    let sub = s.path("apps");
    let config = s.path("supplygate.yaml");
    let config = config.to_str().unwrap();
    let first = run_in(
        &sub,
        &["check", "--config", config, "--format", "sarif", "web"],
    );
    assert_eq!(first.code, 1, "{first:?}");
    assert!(sarif_schema_errors(&first.stdout).is_empty());
    let first = first.json();
    assert_eq!(
        placed(&first),
        [(
            "web/app.yaml".to_owned(),
            11,
            18,
            "image-not-found".to_owned(),
            "error".to_owned()
        )]
    );
    s.write(
        "apps/web/app.yaml",
        &format!(
            "# a comment\n# and another\n{}",
            deployment("app", &[&missing])
        ),
    );
    let second = run_in(
        &sub,
        &["check", "--config", config, "--format", "sarif", "web"],
    )
    .json();
    assert_eq!(placed(&second)[0].1, 13, "the line moved");
    let fp = |v: &Value| results(v)[0]["partialFingerprints"]["supplygate/v1"].clone();
    assert!(fp(&first).is_string());
    assert_eq!(fp(&first), fp(&second), "the fingerprint did not");
}

#[test]
fn sarif_reports_unreadable_files_warnings_and_notices() {
    let registry = TestRegistry::start();
    let host = registry.host();
    let digest = registry.push_generated("team/app:v1", 3);
    registry.push_generated("team/app:v2", 4);
    let s = Case::new().registry_config_with(&registry, "exemptions:\n  - images: [\"nothing.example/*\"]\n    reason: unused on purpose\n    expires: 2099-12-31\n",
    );
    // `v2@<digest of v1>`: runs v1, warns that the tag moved.
    s.write(
        "moved.yaml",
        &deployment("moved", &[&format!("{host}/team/app:v2@{digest}")]),
    );
    s.write(
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nspec: [unclosed\n",
    );
    let out = s.run(&["check", ".", "--format", "sarif"]);
    assert_eq!(out.code, 2, "an unreadable file is undecided: {out:?}");
    let errors = sarif_schema_errors(&out.stdout);
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
    let sarif = out.json();
    let placed = placed(&sarif);
    assert!(
        placed.contains(&(
            "moved.yaml".into(),
            11,
            18,
            "tag-moved".into(),
            "warning".into()
        )),
        "{placed:?}"
    );
    let broken = placed.iter().find(|p| p.0 == "broken.yaml").unwrap();
    assert_eq!(
        (broken.3.as_str(), broken.4.as_str()),
        ("invalid-manifest", "error")
    );
    assert!(broken.1 >= 3, "{broken:?}");
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(invocation["exitCode"], 2);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["descriptor"]["id"], "exemption");
    assert!(notes[0]["message"]["text"]
        .as_str()
        .unwrap()
        .contains("matched no"));
}

// ---------------------------------------------------------------- GitHub

#[test]
fn github_annotations_escape_file_names_and_messages() {
    let registry = TestRegistry::start();
    let host = registry.host();
    let s = Case::new().registry_config_with(&registry, "");
    // A file name with `,` and `:`, which end a property, and an invalid image whose value
    // holds `%` and a line break, which would end the command.
    s.write(
        "odd,name:x.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: \"bad%image\\n::warning::injected\"\n",
    );
    s.write(
        "ok.yaml",
        &deployment("ok", &[&format!("{host}/team/missing:v1")]),
    );
    let out = s.run(&["check", ".", "--format", "github"]);
    assert_eq!(out.code, 1, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "two annotations and the summary: {out:?}");
    assert!(
        lines[0].starts_with(
            "::error file=odd%2Cname%3Ax.yaml,line=7,col=14,title=supplygate invalid-reference::"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("bad%25image%0A::warning::injected"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1]
            .starts_with("::error file=ok.yaml,line=11,col=18,title=supplygate image-not-found::"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("%0Ahint: "),
        "the hint on its own line: {}",
        lines[1]
    );
    assert!(
        // `supplygate.yaml` is scanned too: a document that is not a Kubernetes object.
        lines[2].starts_with(
            "supplygate deny: 2 images, 0 allowed, 2 denied, \
             1 document skipped (not a Kubernetes object);"
        ),
        "{}",
        lines[2]
    );
}

#[test]
fn demo_github_annotations_match_the_snapshot() {
    let out = demo(&["--format", "github"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("::error "))
            .count(),
        4
    );
    assert_snapshot!("demo-github.txt", &mask_elapsed(&out.stdout));
}

// ---------------------------------------------------------------- Markdown

#[test]
fn markdown_lists_problems_in_a_table_and_folds_allowed_images() {
    let registry = TestRegistry::start();
    let host = registry.host();
    let s = Case::new().registry_config_with(&registry, "");
    let tags: Vec<String> = (0..30).map(|i| format!("v{i}")).collect();
    registry.push_generated_many("team/many", &tags);
    let images: Vec<String> = tags
        .iter()
        .map(|t| format!("{host}/team/many:{t}"))
        .collect();
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    s.write("many.yaml", &deployment("many", &images));
    s.write(
        "evil.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: \"x|y`<img src=z>[l](http://e)\"\n",
    );
    let out = s.run(&["check", ".", "--format", "markdown"]);
    assert_eq!(out.code, 1, "{out:?}");
    let md = &out.stdout;
    assert!(md.starts_with("### supplygate: ❌ deny\n"), "{md}");
    assert!(md.contains("31 images, 30 allowed, 1 denied"), "{md}");
    let header = "| location | image | digest | signature | provenance | decision | reason |";
    assert_eq!(md.matches(header).count(), 2, "{md}");
    // Every table row has exactly the 8 unescaped pipes of 7 columns.
    for row in md.lines().filter(|l| l.starts_with("| `")) {
        let bare = row.replace("\\|", "");
        assert_eq!(bare.matches('|').count(), 8, "{row}");
    }
    let evil = md.lines().find(|l| l.contains("evil.yaml")).unwrap();
    assert!(
        evil.starts_with("| `evil.yaml:7` | ``x\\|y`<img src=z>[l](http://e)`` |"),
        "{evil}"
    );
    assert!(
        evil.contains("**deny**") && evil.contains("`invalid-reference`"),
        "{evil}"
    );
    assert!(
        evil.contains("\\<img src=z\\>"),
        "HTML in the message is escaped: {evil}"
    );
    let details = md
        .find("<details><summary>30 allowed images without findings</summary>")
        .unwrap();
    let closing = md.find("</details>").unwrap();
    assert!(details < closing);
    assert_eq!(md[details..closing].matches("| allow |").count(), 30);
    assert!(md[details..closing].contains("`sha256:"), "short digests");
}

#[test]
fn demo_markdown_matches_the_snapshot() {
    let out = demo(&["--format", "markdown"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_snapshot!("demo.md", &mask_elapsed(&out.stdout));
}

// ---------------------------------------------------------------- several outputs

#[test]
fn one_run_writes_every_requested_format() {
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("out/report.sarif");
    let md = dir.path().join("report.md");
    let json = dir.path().join("report.json");
    std::fs::create_dir_all(sarif.parent().unwrap()).unwrap();
    std::fs::write(&md, "stale\n").unwrap();
    let out = demo(&[
        "--format",
        "human",
        "--sarif-out",
        sarif.to_str().unwrap(),
        "--markdown-out",
        md.to_str().unwrap(),
        "--json-out",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("18:22  deny   127.0.0.1:5123/demo/cosign-signed:v2"),
        "{out:?}"
    );
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(results(&sarif).len(), 4);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.starts_with("### supplygate: ❌ deny"),
        "replaced, not appended: {md}"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(json["summary"]["denied"], 4);
    assert_eq!(json["summary"]["unchanged_documents"], 0);
    // Nothing else was left in the directories (no temporary files).
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(dir.path()), ["out", "report.json", "report.md"]);
    assert_eq!(names(&dir.path().join("out")), ["report.sarif"]);
}

/// `--format json` writes the report on stdout as it is serialised (a report of 10,000 images
/// is not held as one text): the same bytes as the JSON file of the same run.
#[test]
fn json_on_stdout_is_the_json_report_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = demo(&["--format", "json", "--json-out", json.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    let file = std::fs::read_to_string(&json).unwrap();
    assert_eq!(out.stdout, file);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["summary"]["denied"], 4);
    assert_eq!(report["images"].as_array().unwrap().len(), 8);
    assert!(out.stdout.ends_with("}\n"), "{}", out.stdout);
}

#[test]
fn markdown_is_appended_to_the_github_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step_summary");
    std::fs::write(&summary, "## Earlier output of this step\n\n").unwrap();
    let out = run_in_env(
        Path::new(ROOT),
        &[
            "check",
            "--config",
            "fixtures/demo/supplygate.yaml",
            "fixtures/demo/manifests",
            "--format",
            "github",
            "--markdown-out",
            summary.to_str().unwrap(),
        ],
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("## Earlier output of this step\n\n### supplygate: ❌ deny\n"),
        "{text}"
    );
    assert!(out.stdout.starts_with("::error "), "{out:?}");
}

#[test]
fn an_output_file_that_cannot_be_written_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no/such/dir/report.sarif");
    let out = demo(&["--sarif-out", target.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("cannot write the SARIF report to"),
        "{out:?}"
    );
    assert!(!target.exists());
}

// ---------------------------------------------------------------- issue 11: every error path
// still writes a well-formed report in every requested format.

#[test]
fn a_run_that_cannot_decide_still_writes_every_requested_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("app.yaml"), deployment("app", &["nginx:1.25"])).unwrap();
    std::fs::write(
        d.join("typo.yaml"),
        "network:\n  offline: true\nnetwrok: {}\n",
    )
    .unwrap();
    std::fs::write(d.join("offline.yaml"), "network:\n  offline: true\n").unwrap();
    std::fs::write(
        d.join("broken.rego"),
        "package supplygate.x\n\ndeny contains x if {\n",
    )
    .unwrap();
    // (the args, the code of the finding, the file it names, its line)
    let cases: [(&[&str], &str, &str, Option<u64>); 6] = [
        (&["check", "nope.yaml"], "run-failed", "nope.yaml", None),
        (
            &["check", "--config", "missing.yaml", "app.yaml"],
            "invalid-config",
            "missing.yaml",
            None,
        ),
        (
            &["check", "--config", "typo.yaml", "app.yaml"],
            "invalid-config",
            "typo.yaml",
            Some(3),
        ),
        (
            &["check", "--offline", "--now", "yesterday", "app.yaml"],
            "run-failed",
            "<run>",
            None,
        ),
        (
            &[
                "check",
                "--config",
                "offline.yaml",
                "--policy",
                "broken.rego",
                "app.yaml",
            ],
            "run-failed",
            "<run>",
            None,
        ),
        (
            &[
                "check",
                "--config",
                "offline.yaml",
                "--locked",
                "no.lock",
                "app.yaml",
            ],
            "run-failed",
            "<run>",
            None,
        ),
    ];
    for (args, code, file, line) in cases {
        let with = |extra: &[&str]| -> Outcome {
            let mut all = args.to_vec();
            all.extend_from_slice(extra);
            let out = run_in(d, &all);
            assert_eq!(out.code, 2, "{all:?}: {out:?}");
            assert!(out.stderr.starts_with("error: "), "{all:?}: {out:?}");
            out
        };
        let json = with(&["--format", "json"]).json();
        assert_eq!(json["decision"], "error", "{args:?}: {json}");
        let error = &json["errors"][0];
        assert_eq!(error["code"], code, "{args:?}: {json}");
        assert_eq!(error["file"], file, "{args:?}: {json}");
        assert_eq!(error["line"].as_u64(), line, "{args:?}: {json}");

        let sarif = with(&["--format", "sarif"]).stdout;
        assert_eq!(
            sarif_schema_errors(&sarif),
            Vec::<String>::new(),
            "{args:?}"
        );
        let log: Value = serde_json::from_str(&sarif).unwrap();
        assert_eq!(results(&log)[0]["ruleId"], code, "{args:?}: {sarif}");
        assert_eq!(
            log["runs"][0]["invocations"][0]["executionSuccessful"],
            false
        );

        let md = with(&["--format", "markdown"]).stdout;
        assert!(md.starts_with("### supplygate: ⛔ error"), "{args:?}: {md}");
        assert!(md.contains(&format!("**{code}**")), "{args:?}: {md}");

        // The files too, whatever the format on stdout (human: the error on stderr only).
        let out = with(&[
            "--sarif-out",
            "out.sarif",
            "--json-out",
            "out.json",
            "--markdown-out",
            "out.md",
        ]);
        assert_eq!(out.stdout, "", "{args:?}");
        let sarif = std::fs::read_to_string(d.join("out.sarif")).unwrap();
        assert_eq!(
            sarif_schema_errors(&sarif),
            Vec::<String>::new(),
            "{args:?}"
        );
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("out.json")).unwrap()).unwrap();
        assert_eq!(json["errors"][0]["code"], code, "{args:?}");
        assert!(!std::fs::read_to_string(d.join("out.md"))
            .unwrap()
            .is_empty());
        for f in ["out.sarif", "out.json", "out.md"] {
            std::fs::remove_file(d.join(f)).unwrap();
        }
    }
}

#[test]
fn a_missing_path_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["check", "nope.yaml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: cannot read `nope.yaml`: No such file or directory (os error 2)\n"
    );
}

#[test]
fn sarif_places_a_manifest_outside_the_repository_by_absolute_uri_or_sarif_root() {
    let repo = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["init", "-q"])
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(status.success());
    let elsewhere = tempfile::tempdir().unwrap();
    let apps = std::fs::canonicalize(elsewhere.path())
        .unwrap()
        .join("my apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("app.yaml"), deployment("app", &["nginx:1.25"])).unwrap();
    std::fs::write(apps.join("bad.yaml"), "kind: [\n").unwrap();
    let apps_arg = apps.to_str().unwrap();
    let locations = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["check", "--offline", apps_arg, "--format", "sarif"];
        args.extend_from_slice(extra);
        let out = run_in(repo.path(), &args);
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(sarif_schema_errors(&out.stdout), Vec::<String>::new());
        let log: Value = serde_json::from_str(&out.stdout).unwrap();
        let results = results(&log);
        assert_eq!(results.len(), 2, "{log}");
        results
            .iter()
            .map(|r| r["locations"][0]["physicalLocation"].clone())
            .collect()
    };
    let absolute = locations(&[]);
    let base = format!("file://{}", apps.to_str().unwrap().replace(' ', "%20"));
    let uris: Vec<&Value> = absolute.iter().map(|l| &l["artifactLocation"]).collect();
    assert!(
        uris.contains(&&serde_json::json!({ "uri": format!("{base}/app.yaml") })),
        "{absolute:?}"
    );
    assert!(
        uris.contains(&&serde_json::json!({ "uri": format!("{base}/bad.yaml") })),
        "{absolute:?}"
    );
    assert!(absolute
        .iter()
        .all(|l| l["region"]["startLine"].as_u64() > Some(0)));

    let rooted = locations(&["--sarif-root", apps_arg]);
    let uris: Vec<&Value> = rooted.iter().map(|l| &l["artifactLocation"]).collect();
    assert!(
        uris.contains(&&serde_json::json!({ "uri": "app.yaml", "uriBaseId": "%SRCROOT%" })),
        "{rooted:?}"
    );

    let out = run_in(
        repo.path(),
        &[
            "check",
            "--offline",
            apps_arg,
            "--format",
            "json",
            "--sarif-root",
            "no/such/dir",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.json()["errors"][0]["code"], "run-failed", "{out:?}");
    assert!(
        out.stderr
            .contains("--sarif-root `no/such/dir` is not a directory"),
        "{out:?}"
    );
}
