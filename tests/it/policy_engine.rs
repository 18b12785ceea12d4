//! The Rego policy engine (stage 5) as a library: loading with every problem reported at its
//! position, deny/warn collection across packages, failing closed on errors and time limits,
//! data documents, and the `opa test`-like runner on `fixtures/policy/lib`.
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use supplygate::policy::{
    run_tests, Decision, Durations, Engine, Limits, LoadErrors, Loader, PolicyError, TestFiles,
    TestOptions, TestOutcome,
};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/policy")
        .join(path)
}

/// A library under test: modules and data added fluently, then loaded or refused.
struct Case {
    loader: Loader,
}

impl Case {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        Self {
            loader: Loader::new(limits),
        }
    }

    fn module(mut self, name: &str, source: &str) -> Self {
        self.loader.module(name, source);
        self
    }

    fn data_json(mut self, name: &str, text: &str) -> Self {
        self.loader.data_json(name, text);
        self
    }

    fn data_yaml(mut self, name: &str, text: &str) -> Self {
        self.loader.data_yaml(name, text);
        self
    }

    fn load(self) -> Engine {
        match self.loader.load() {
            Ok(engine) => engine,
            Err(e) => panic!("library refused:\n{e}"),
        }
    }

    fn refuse(self) -> LoadErrors {
        match self.loader.load() {
            Ok(_) => panic!("library loaded, expected it to be refused"),
            Err(e) => e,
        }
    }
}

fn eval(engine: &Engine, input: serde_json::Value) -> Decision {
    engine.evaluate(&input)
}

fn messages(decision: &Decision) -> (Vec<&str>, Vec<&str>) {
    (
        decision.denies.iter().map(|v| v.msg.as_str()).collect(),
        decision.warns.iter().map(|v| v.msg.as_str()).collect(),
    )
}

// ---- load-time errors -------------------------------------------------------------------

#[test]
fn refuses_syntax_error_with_file_line_and_column() {
    let errors = Case::new()
        .module(
            "policies/broken.rego",
            "package supplygate.broken\n\ndeny contains msg if {\n  msg := \n}\n",
        )
        .refuse();
    assert_eq!(errors.0.len(), 1);
    assert!(matches!(errors.0[0], PolicyError::Rego { .. }));
    let text = errors.to_string();
    assert!(text.contains("policies/broken.rego:4:7"), "{text}");
}

#[test]
fn refuses_unknown_builtin_at_load_with_its_position_and_a_suggestion() {
    let errors = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains msg if {\n  msg := sprintff(\"%s\", [input.x])\n}\n",
        )
        .refuse();
    match &errors.0[..] {
        [PolicyError::UnknownFunction {
            file,
            line,
            column,
            function,
            hint,
        }] => {
            assert_eq!((file.as_str(), *line, *column), ("p.rego", 4, 10));
            assert_eq!(function, "sprintff");
            assert_eq!(hint.as_deref(), Some("did you mean `sprintf`?"));
        }
        other => panic!("unexpected errors: {other:?}"),
    }
    assert_eq!(
        errors.to_string(),
        "p.rego:4:10: unknown function `sprintff` (hint: did you mean `sprintf`?)"
    );
}

#[test]
fn refuses_opa_builtin_left_out_of_our_engine_and_says_so() {
    let errors = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains \"x\" if {\n  http.send({\"url\": \"x\"})\n}\n",
        )
        .refuse();
    let text = errors.to_string();
    assert!(text.contains("unknown function `http.send`"), "{text}");
    assert!(
        text.contains("supplygate's Rego engine does not provide"),
        "{text}"
    );
}

#[test]
fn refuses_a_clock_a_decision_must_not_depend_on() {
    let errors = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains \"x\" if {\n  time.now_ns() > 0\n}\n",
        )
        .refuse();
    let text = errors.to_string();
    assert!(text.contains("unknown function `time.now_ns`"), "{text}");
    assert!(
        text.contains("supplygate's Rego engine does not provide"),
        "{text}"
    );
}

#[test]
fn refuses_call_with_wrong_number_of_arguments() {
    let errors = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\nf(a, b) := a + b\n\ndeny contains \"x\" if {\n  f(1) == upper(\"a\", \"b\", \"c\")\n}\n",
        )
        .refuse();
    // `f(1)` is `f` with one argument (two expected); `upper` takes one (plus an output).
    let text = errors.to_string();
    assert!(
        text.contains("p.rego:6:3: function `f` takes 2 arguments, called with 1"),
        "{text}"
    );
    assert!(
        text.contains("p.rego:6:11: function `upper` takes 1 argument, called with 3"),
        "{text}"
    );
}

#[test]
fn accepts_functions_from_other_packages_through_imports_and_full_paths() {
    let engine = Case::new()
        .module("lib.rego", "package lib.text\n\nshout(s) := upper(s)\n")
        .module(
            "p.rego",
            "package supplygate.p\n\nimport data.lib.text\nimport data.lib.text as t\n\n\
             deny contains text.shout(input.a) if input.a\n\
             deny contains t.shout(input.b) if input.b\n\
             deny contains data.lib.text.shout(input.c) if input.c\n\
             deny contains local(\"d\") if input.d\n\nlocal(x) := x\n",
        )
        .load();
    let decision = eval(&engine, json!({"a": "a", "b": "b", "c": "c", "d": true}));
    assert_eq!(messages(&decision).0, ["A", "B", "C", "d"]);
}

#[test]
fn collects_every_problem_before_refusing() {
    let errors = Case::new()
        .module("a.rego", "package supplygate.a\n\ndeny contains x if {\n")
        .module(
            "b.rego",
            "package supplygate.b\n\ndeny contains \"x\" if true\n",
        )
        .data_json("bad.json", "{\"a\": ")
        .refuse();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert!(errors
        .0
        .iter()
        .any(|e| matches!(e, PolicyError::Data { name, .. } if name == "bad.json")));
    assert!(errors
        .0
        .iter()
        .any(|e| matches!(e, PolicyError::Rego { message } if message.contains("a.rego:"))));
}

#[test]
fn reports_bad_data_and_unknown_functions_together() {
    let errors = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains \"x\" if nope(1)\n",
        )
        .data_yaml("d.yaml", "a: [1, 2\nb: 3\n")
        .refuse();
    assert_eq!(errors.0.len(), 2, "{errors}");
    let text = errors.to_string();
    assert!(text.contains("data document `d.yaml`: d.yaml:2:"), "{text}");
    assert!(
        text.contains("p.rego:3:22: unknown function `nope`"),
        "{text}"
    );
}

#[test]
fn refuses_unsafe_variable_at_load() {
    let errors = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains msg if {\n  x == 1\n  msg := \"a\"\n}\n",
        )
        .refuse();
    let text = errors.to_string();
    assert!(text.contains("p.rego:4:"), "{text}");
}

#[test]
fn refuses_module_over_the_size_limit() {
    let limits = Limits {
        max_module_bytes: 64,
        ..Limits::default()
    };
    let big = format!("package supplygate.big\n\n# {}\n", "x".repeat(100));
    let errors = Case::with_limits(limits)
        .module("small.rego", "package supplygate.small\n")
        .module("big.rego", &big)
        .refuse();
    match &errors.0[..] {
        [PolicyError::ModuleTooLarge { name, bytes, limit }] => {
            assert_eq!((name.as_str(), *bytes, *limit), ("big.rego", big.len(), 64));
        }
        other => panic!("unexpected errors: {other:?}"),
    }
}

#[test]
fn refuses_more_modules_than_the_limit() {
    let limits = Limits {
        max_modules: 2,
        ..Limits::default()
    };
    let errors = Case::with_limits(limits)
        .module("a.rego", "package a\n")
        .module("b.rego", "package b\n")
        .module("c.rego", "package c\n")
        .refuse();
    assert!(matches!(
        errors.0[..],
        [PolicyError::TooManyModules { limit: 2 }]
    ));
}

#[test]
fn reports_an_unreadable_path() {
    let mut loader = Loader::new(Limits::default());
    loader.path(&fixture("does-not-exist"), TestFiles::Exclude);
    let errors = loader.load().unwrap_err();
    assert!(matches!(errors.0[..], [PolicyError::Io { .. }]));
    assert!(errors.to_string().contains("could not read"), "{errors}");
}

// ---- deny / warn collection -------------------------------------------------------------

#[test]
fn collects_deny_and_warn_from_every_package_under_the_prefix() {
    let engine = Case::new()
        .module(
            "a.rego",
            "package supplygate.a\n\ndeny contains \"a denies\" if input.x\nwarn contains \"a warns\" if true\n",
        )
        .module(
            "b.rego",
            "package supplygate.b.deep\n\ndeny contains {\"code\": \"b-code\", \"msg\": \"b denies\", \"hint\": \"fix b\"} if input.x\n",
        )
        .module("root.rego", "package supplygate\n\nwarn contains \"root warns\" if true\n")
        // Outside the prefix: a library, never a decider (a `deny` there is refused).
        .module("other.rego", "package other\n\nhelper := true\n")
        .load();
    assert_eq!(
        engine.packages(),
        [
            "data.supplygate",
            "data.supplygate.a",
            "data.supplygate.b.deep"
        ]
    );

    let decision = eval(&engine, json!({"x": true}));
    assert_eq!(decision.errors, Vec::<String>::new());
    assert_eq!(
        messages(&decision),
        (vec!["a denies", "b denies"], vec!["root warns", "a warns"])
    );
    let b = &decision.denies[1];
    assert_eq!(b.code.as_deref(), Some("b-code"));
    assert_eq!(b.hint.as_deref(), Some("fix b"));
    assert_eq!(b.package, "data.supplygate.b.deep");
    assert_eq!(decision.denies[0].code, None);
    assert!(!decision.is_allowed());

    let decision = eval(&engine, json!({"x": false}));
    assert!(decision.is_allowed());
    assert_eq!(decision.warns.len(), 2);
}

#[test]
fn accepts_an_object_with_only_msg() {
    let engine = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains {\"msg\": \"only msg\"} if true\n",
        )
        .load();
    let decision = eval(&engine, json!({}));
    assert_eq!(decision.denies[0].msg, "only msg");
    assert_eq!(
        (
            decision.denies[0].code.as_ref(),
            decision.denies[0].hint.as_ref()
        ),
        (None, None)
    );
}

#[test]
fn a_ref_head_rule_decides_for_its_own_package() {
    let engine = Case::new()
        .module(
            "p.rego",
            "package supplygate\n\nimages.deny contains \"from a ref head\" if true\n",
        )
        .load();
    assert_eq!(engine.packages(), ["data.supplygate.images"]);
    assert_eq!(
        eval(&engine, json!({})).denies[0].package,
        "data.supplygate.images"
    );
}

#[test]
fn malformed_entries_are_errors_that_deny() {
    let engine = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains 42 if true\n\
             deny contains {\"msg\": \"m\", \"hnit\": \"typo\"} if true\n\
             deny contains {\"code\": \"c\"} if true\n\
             warn contains {\"msg\": 1} if true\n",
        )
        .load();
    let decision = eval(&engine, json!({}));
    assert!(decision.denies.is_empty() && decision.warns.is_empty());
    assert_eq!(decision.errors.len(), 4, "{:#?}", decision.errors);
    let all = decision.errors.join("\n");
    assert!(
        all.contains("is a number, not a string or an object with `msg`"),
        "{all}"
    );
    assert!(all.contains("has the key \"hnit\""), "{all}");
    assert!(all.contains("has no `msg`"), "{all}");
    assert!(all.contains("has a `msg` that is a number"), "{all}");
    assert!(!decision.is_allowed());
}

#[test]
fn deny_that_is_not_a_set_is_an_error_with_a_hint() {
    let engine = Case::new()
        .module("p.rego", "package supplygate.p\n\ndeny := true\n")
        .load();
    let decision = eval(&engine, json!({}));
    assert_eq!(
        decision.errors,
        [
            "`data.supplygate.p.deny` must be a set of messages, not a boolean \
          (hint: write `deny contains msg if { ... }`)"
        ]
    );
}

#[test]
fn evaluation_error_denies_with_regorus_message_and_other_packages_still_decide() {
    let engine = Case::new()
        .module(
            "bad.rego",
            "package supplygate.bad\n\ndeny contains msg if {\n  msg := concat(\",\", input.n)\n}\n",
        )
        .module("good.rego", "package supplygate.good\n\ndeny contains \"good denies\" if true\n")
        .load();
    let decision = eval(&engine, json!({"n": 7}));
    assert_eq!(messages(&decision).0, ["good denies"]);
    assert_eq!(decision.errors.len(), 1);
    let error = &decision.errors[0];
    assert!(
        error.starts_with("evaluating `data.supplygate.bad.deny`: "),
        "{error}"
    );
    assert!(error.contains("bad.rego:4:"), "{error}");
    assert!(!decision.is_allowed());
}

#[test]
fn conflicting_complete_rule_values_deny() {
    let engine = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\nlevel := 1 if input.a\nlevel := 2 if input.b\n\
             deny contains \"x\" if level == 3\n",
        )
        .load();
    let decision = eval(&engine, json!({"a": true, "b": true}));
    assert_eq!(decision.errors.len(), 1, "{decision:?}");
    assert!(eval(&engine, json!({"a": true})).is_allowed());
}

#[test]
fn a_policy_over_the_time_limit_denies() {
    let limits = Limits {
        eval_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    // 10^12 iterations: never finishes within any limit a test would set.
    let engine = Case::with_limits(limits)
        .module(
            "slow.rego",
            "package supplygate.slow\n\ndeny contains \"slow\" if {\n\
             n := numbers.range(1, 10000)\n\
             c := count([1 | some a in n; some b in n; some d in n; a + b + d < 0])\n\
             c > 0\n}\n",
        )
        .module(
            "fast.rego",
            "package supplygate.fast\n\nwarn contains \"fast\" if true\n",
        )
        .load();
    let decision = eval(&engine, json!({}));
    assert!(!decision.is_allowed());
    let all = decision.errors.join("\n");
    assert!(all.contains("`data.supplygate.slow.deny`"), "{all}");
    assert!(all.contains("time limit"), "{all}");
}

#[test]
fn strict_builtin_errors_are_errors_not_undefined() {
    // Without strict builtin errors, `to_number("x")` would make the rule silently undefined
    // and the image pass.
    let engine = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains \"small\" if to_number(input.v) < 10\n",
        )
        .load();
    let decision = eval(&engine, json!({"v": "x"}));
    assert_eq!(decision.errors.len(), 1, "{decision:?}");
    assert_eq!(messages(&eval(&engine, json!({"v": "3"}))).0, ["small"]);
}

// ---- data documents ---------------------------------------------------------------------

#[test]
fn data_documents_are_reachable_under_data() {
    let engine = Case::new()
        .data_json(
            "allowed.json",
            r#"{"allowed": {"registries": ["ghcr.io"]}}"#,
        )
        .data_yaml("owners.yaml", "owners:\n  team-a: [alice]\n")
        .module(
            "p.rego",
            "package supplygate.p\n\n\
             deny contains \"registry\" if not input.registry in data.allowed.registries\n\
             deny contains \"owner\" if not input.owner in data.owners[\"team-a\"]\n",
        )
        .load();
    assert!(eval(&engine, json!({"registry": "ghcr.io", "owner": "alice"})).is_allowed());
    assert_eq!(
        messages(&eval(
            &engine,
            json!({"registry": "quay.io", "owner": "bob"})
        ))
        .0,
        ["owner", "registry"]
    );
}

#[test]
fn a_yaml_data_document_with_a_syntax_error_is_refused_with_its_position() {
    let errors = Case::new().data_yaml("d.yaml", "a: [1, 2\nb: 3\n").refuse();
    let text = errors.to_string();
    assert!(
        text.starts_with("data document `d.yaml`: d.yaml:"),
        "{text}"
    );
}

#[test]
fn loads_a_directory_mounting_data_files_at_their_directory() {
    let mut loader = Loader::new(Limits::default());
    loader.path(&fixture("lib"), TestFiles::Exclude);
    let engine = loader.load().unwrap();
    assert_eq!(
        engine.packages(),
        ["data.supplygate.images", "data.supplygate.signatures"]
    );
    // `lib/config/data.yaml` is `data.config`: ghcr.io is allowed, quay.io is not.
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("inputs/pinned.json")).unwrap())
            .unwrap();
    assert!(eval(&engine, input).is_allowed());
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("inputs/latest.json")).unwrap())
            .unwrap();
    let decision = eval(&engine, input);
    let codes: Vec<_> = decision.denies.iter().map(|v| v.code.as_deref()).collect();
    assert_eq!(
        codes,
        [None, Some("untrusted-registry"), Some("unsigned-image")]
    );
    assert_eq!(messages(&decision).1, ["image uses the `latest` tag"]);
}

#[test]
fn a_gate_load_leaves_test_modules_out() {
    let mut gate = Loader::new(Limits::default());
    gate.path(&fixture("lib"), TestFiles::Exclude);
    let report = run_tests(&gate.load().unwrap(), &TestOptions::default());
    assert!(report.results.is_empty());
}

// ---- sharing ----------------------------------------------------------------------------

#[test]
fn one_engine_serves_many_threads() {
    let engine = Case::new()
        .module("p.rego", "package supplygate.p\n\ndeny contains sprintf(\"n=%d\", [input.n]) if input.n % 2 == 0\n")
        .load();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let engine = &engine;
                scope.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let n = t * 25 + i;
                            let d = engine.evaluate(&json!({ "n": n }));
                            (n, d.denies.len())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (n, denies) in handle.join().unwrap() {
                assert_eq!(denies, usize::from(n % 2 == 0), "n={n}");
            }
        }
    });
}

// ---- the test runner --------------------------------------------------------------------

fn fixture_tests(options: &TestOptions) -> supplygate::policy::TestReport {
    let mut loader = Loader::new(Limits::default());
    loader.path(&fixture("lib"), TestFiles::Include);
    run_tests(&loader.load().unwrap(), options)
}

#[test]
fn test_runner_reports_passing_failing_and_erroring_tests() {
    let report = fixture_tests(&TestOptions::default());
    let outcomes: Vec<(&str, &TestOutcome)> = report
        .results
        .iter()
        .map(|r| (r.name.as_str(), &r.outcome))
        .collect();
    assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    let find = |name: &str| outcomes.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_eq!(
        find("test_allows_pinned_image_from_allowed_registry"),
        &TestOutcome::Pass
    );
    assert_eq!(find("test_denies_other_registry"), &TestOutcome::Pass);
    assert_eq!(find("test_docker_hub_default"), &TestOutcome::Pass);
    assert_eq!(find("test_fails_on_purpose"), &TestOutcome::Fail);
    assert!(
        matches!(find("test_errors_on_purpose"), TestOutcome::Error(m) if m.contains("images_test.rego:27:"))
    );
    assert_eq!(
        (report.passed(), report.failed(), report.errored()),
        (3, 1, 1)
    );
    assert!(!report.is_success());
    assert!(report
        .results
        .iter()
        .all(|r| r.package == "data.supplygate.images_test"));

    let text = report.render(Durations::Hide);
    assert!(
        text.contains("PASS: data.supplygate.images_test.test_docker_hub_default\n"),
        "{text}"
    );
    assert!(
        text.contains("FAIL: data.supplygate.images_test.test_fails_on_purpose\n"),
        "{text}"
    );
    assert!(
        text.contains("ERROR: data.supplygate.images_test.test_errors_on_purpose\n  "),
        "{text}"
    );
    assert!(
        text.ends_with("PASS: 3/5\nFAIL: 1/5\nERROR: 1/5\n"),
        "{text}"
    );
    assert!(report
        .render(Durations::Show)
        .contains("test_docker_hub_default ("));
}

#[test]
fn test_runner_filter_selects_tests() {
    let report = fixture_tests(&TestOptions {
        filter: Some("docker_hub".to_owned()),
        ..TestOptions::default()
    });
    assert_eq!(report.results.len(), 1);
    assert!(report.is_success());
    assert!(report.render(Durations::Hide).ends_with("PASS: 1/1\n"));
}

#[test]
fn test_runner_coverage_summary_shows_lines_not_covered() {
    let report = fixture_tests(&TestOptions {
        coverage: true,
        ..TestOptions::default()
    });
    let coverage = report.coverage.as_ref().unwrap();
    let files: Vec<&str> = coverage.files.iter().map(|f| f.file.as_str()).collect();
    assert!(
        files.iter().all(|f| !f.ends_with("_test.rego")),
        "{files:?}"
    );
    let refs = coverage
        .files
        .iter()
        .find(|f| f.file.ends_with("refs.rego"))
        .unwrap();
    // `unused` (line 13) is never called; `registry` is.
    assert!(refs.not_covered.contains(&13), "{refs:?}");
    assert!(refs.covered.contains(&6), "{refs:?}");
    assert!(refs.percent() < 100.0 && refs.percent() > 0.0);
    let text = report.render(Durations::Hide);
    assert!(text.contains("COVERAGE: "), "{text}");
    assert!(text.contains("refs.rego: "), "{text}");
    assert!(text.contains("(not covered: "), "{text}");
}

#[test]
fn test_runner_without_tests_says_how_tests_are_named() {
    let engine = Case::new()
        .module(
            "p.rego",
            "package supplygate.p\n\ndeny contains \"x\" if false\n",
        )
        .load();
    let report = run_tests(&engine, &TestOptions::default());
    assert!(!report.is_success());
    assert!(report
        .render(Durations::Hide)
        .contains("rules named `test_*`"));
}

#[test]
fn test_runner_times_out_a_runaway_test() {
    let limits = Limits {
        eval_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let engine = Case::with_limits(limits)
        .module(
            "slow_test.rego",
            "package slow_test\n\ntest_slow if {\n  n := numbers.range(1, 10000)\n\
             count([1 | some a in n; some b in n; some c in n]) > 0\n}\n",
        )
        .load();
    let report = run_tests(&engine, &TestOptions::default());
    assert!(
        matches!(&report.results[0].outcome, TestOutcome::Error(m) if m.contains("time limit"))
    );
}

#[test]
fn compare_fixture_decides_like_opa_did_when_it_was_written() {
    // fixtures/policy/compare is what tests/opa_compare.py diffs against OPA; this keeps the
    // regorus side of it from rotting. The expected values are OPA 1.20.2's.
    let mut loader = Loader::new(Limits::default());
    loader.path(&fixture("compare/lib"), TestFiles::Exclude);
    let engine = loader.load().unwrap();
    let input: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("compare/inputs/mixed.json")).unwrap(),
    )
    .unwrap();
    let decision = eval(&engine, input);
    assert_eq!(decision.errors, Vec::<String>::new());
    let (denies, warns) = messages(&decision);
    assert_eq!(denies, ["bad quay.io/b"]);
    for expected in [
        "v={\"a\": null, \"b\": [1, \"x\"]}",
        "set={1, 2, 3}",
        "glob=true",
        "glob2=false",
        "semver=-1",
        "json={\"a\":[1,2.5],\"b\":1}",
        "big=12345678901234567890",
        "div=3.5",
        "units=1024",
    ] {
        assert!(warns.contains(&expected), "{expected} not in {warns:?}");
    }
}

#[test]
fn refuses_deny_rules_outside_the_deciding_prefix() {
    let mut loader = Loader::new(Limits::default());
    loader.module(
        "acme.rego",
        "package acme\n\ndeny contains \"no\" if {\n\ttrue\n}\n",
    );
    let err = loader.load().unwrap_err().to_string();
    assert!(err.contains("acme.rego:3:"), "{err}");
    assert!(err.contains("would never decide"), "{err}");
}

#[cfg(unix)]
#[test]
fn refuses_a_linked_policy_directory_instead_of_skipping_it() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(
        shared.join("deny.rego"),
        "package supplygate.shared\n\ndeny contains \"no\" if {\n\ttrue\n}\n",
    )
    .unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::os::unix::fs::symlink(&shared, policies.join("shared")).unwrap();
    let mut loader = Loader::new(Limits::default());
    loader.path(&policies, TestFiles::Exclude);
    let err = loader.load().unwrap_err().to_string();
    assert!(err.contains("shared"), "{err}");
}
