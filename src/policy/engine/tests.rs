use super::survey::*;
use super::*;

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn engine_is_send_and_sync() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Engine>();
}

#[test]
fn render_path_roots_at_data_and_quotes_non_identifiers() {
    assert_eq!(
        render_path(&strings(&["supplygate", "images"]), &strings(&["deny"])),
        "data.supplygate.images.deny"
    );
    assert_eq!(
        render_path(&strings(&["data", "lib"]), &strings(&["f"])),
        "data.lib.f"
    );
    assert_eq!(
        render_path(&strings(&["supplygate", "my-pkg"]), &strings(&["deny"])),
        "data.supplygate[\"my-pkg\"].deny"
    );
    assert_eq!(render_path(&[], &[]), "");
}

#[test]
fn identifiers_are_ascii_names() {
    assert!(is_identifier("test_a1"));
    assert!(is_identifier("_x"));
    assert!(!is_identifier("1a"));
    assert!(!is_identifier("a-b"));
    assert!(!is_identifier(""));
}

#[test]
fn edit_distance_counts_single_character_edits() {
    assert_eq!(edit_distance("sprintf", "sprintf"), 0);
    assert_eq!(edit_distance("sprintff", "sprintf"), 1);
    assert_eq!(edit_distance("contians", "contains"), 2);
    assert_eq!(edit_distance("", "abc"), 3);
}

#[test]
fn closest_suggests_only_near_names() {
    let known = ["startswith", "endswith", "data.lib.check_image"];
    assert_eq!(
        closest("startwith", known.into_iter()).as_deref(),
        Some("startswith")
    );
    assert_eq!(
        closest("check_imag", known.into_iter()).as_deref(),
        Some("check_image")
    );
    assert_eq!(closest("frobnicate", known.into_iter()), None);
}

/// Issue 15, hole 4: a user module cannot reach into a shipped package, in any spelling.
#[test]
fn user_rules_in_shipped_packages_are_refused_with_their_place() {
    let attempts = [
        (
            "package supplygate.images\n\ncovered if input.image.name\n",
            "supplygate.images.covered",
        ),
        (
            "package supplygate\n\nimages.covered if input.image.name\n",
            "supplygate.images.covered",
        ),
        (
            "package supplygate.images\n\ndefault allow_latest := true\n",
            "supplygate.images.allow_latest",
        ),
        (
            "package supplygate.lib.util\n\nimage_matches(p, n) if true\n",
            "supplygate.lib.util.image_matches",
        ),
        (
            "package supplygate.config.images\n\nunmatched := \"allow\"\n",
            "supplygate.config.images.unmatched",
        ),
        (
            "package supplygate.provenance\n\ndeny contains \"x\" if false\n",
            "supplygate.provenance.deny",
        ),
    ];
    for (source, rule) in attempts {
        let mut loader = Loader::new(Limits::default());
        loader
            .embedded(crate::policy::shipped::MODULES)
            .module("mine/evil.rego", source);
        let errors = loader.load().unwrap_err().to_string();
        assert!(
            errors.contains(&format!(
                "mine/evil.rego:3:1: rule `{rule}` would change the shipped package"
            )),
            "{source}: {errors}"
        );
    }
    // Their own package is theirs; and without the shipped library, nothing is protected.
    let mut loader = Loader::new(Limits::default());
    loader.embedded(crate::policy::shipped::MODULES).module(
        "mine/ok.rego",
        "package supplygate.mine\n\ndeny contains \"x\" if false\n",
    );
    assert!(loader.load().is_ok());
}

#[test]
fn a_file_named_like_a_shipped_module_is_refused() {
    let mut loader = Loader::new(Limits::default());
    loader.embedded(crate::policy::shipped::MODULES).module(
        "policies/lib/images.rego",
        "package supplygate.images\n\ncovered if true\n",
    );
    let errors = loader.load().unwrap_err().to_string();
    assert!(
        errors.contains("has the name of a shipped module"),
        "{errors}"
    );
}

#[test]
fn deciding_packages_ignore_functions_and_other_prefixes() {
    let mut loader = Loader::new(Limits::default());
    loader
        .module(
            "a.rego",
            "package supplygate.a\n\ndeny(x) := x\nwarn contains \"w\" if true\n",
        )
        .module("b.rego", "package supplygatex\n\nhelper := true\n");
    let engine = loader.load().unwrap();
    assert_eq!(engine.packages(), ["data.supplygate.a"]);
    let kinds: Vec<Kind> = engine.rule_sets.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [Kind::Warn]);
}

#[test]
fn quoted_package_components_are_evaluated_by_bracket_path() {
    let mut loader = Loader::new(Limits::default());
    loader.module(
        "q.rego",
        "package supplygate[\"my-images\"]\n\ndeny contains \"q\" if true\n",
    );
    let engine = loader.load().unwrap();
    assert_eq!(engine.packages(), ["data.supplygate[\"my-images\"]"]);
    let decision = engine.evaluate(&serde_json::json!({}));
    assert_eq!(decision.errors, Vec::<String>::new());
    assert_eq!(decision.denies[0].msg, "q");
}

#[test]
fn test_rules_are_found_once_with_their_first_line() {
    let mut loader = Loader::new(Limits::default());
    loader.module(
        "t_test.rego",
        "package t\n\ntest_a if true\n\ntest_a if false\n\ntest_fn(x) := x\n",
    );
    let engine = loader.load().unwrap();
    let tests = engine.tests();
    assert_eq!(tests.len(), 1);
    assert_eq!(
        (tests[0].path.as_str(), tests[0].line),
        ("data.t.test_a", 3)
    );
}

#[test]
fn a_file_over_the_limit_is_refused_with_its_real_size_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.rego");
    // Multi-byte characters straddle the read cap: still "too large", not "not UTF-8".
    std::fs::write(&path, "é".repeat(100)).unwrap();
    let mut loader = Loader::new(Limits {
        max_module_bytes: 51,
        ..Limits::default()
    });
    loader.path(&path, TestFiles::Exclude);
    let errors = loader.load().unwrap_err();
    assert!(
        matches!(
            &errors.0[..],
            [PolicyError::ModuleTooLarge {
                bytes: 200,
                limit: 51,
                ..
            }]
        ),
        "{errors:?}"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.rego");
    std::fs::write(&path, [0x70, 0xff, 0xfe]).unwrap();
    let mut loader = Loader::new(Limits::default());
    loader.path(&path, TestFiles::Exclude);
    let errors = loader.load().unwrap_err();
    assert!(
        matches!(&errors.0[..], [PolicyError::Io { .. }]),
        "{errors:?}"
    );
}

#[test]
fn empty_yaml_data_is_an_empty_object_and_two_documents_are_refused() {
    assert_eq!(yaml_document("e.yaml", "").unwrap(), serde_json::json!({}));
    let err = yaml_document("two.yaml", "a: 1\n---\nb: 2\n").unwrap_err();
    assert_eq!(err, "has 2 YAML documents; a data document must be one");
}

fn engine_of(source: &str) -> Engine {
    let mut loader = Loader::new(Limits::default());
    loader.module("p.rego", source);
    loader.load().unwrap()
}

fn keys(engine: &Engine) -> Option<Vec<String>> {
    engine
        .input_keys
        .as_deref()
        .map(|k| k.iter().cloned().collect())
}

#[test]
fn the_input_is_cut_to_the_top_level_keys_the_modules_name() {
    let engine = engine_of(
        "package supplygate.p\n\nimport input.resource as r\n\n\
         deny contains input.image.written if input[\"mode\"] == \"check\"\n\
         warn contains r.name if true\n",
    );
    assert_eq!(keys(&engine), Some(strings(&["image", "mode", "resource"])));
    // What a module cannot name cannot change its decision; what it names arrives whole.
    let decision = engine.decide(&serde_json::json!({
        "mode": "check",
        "image": {"written": "a:1", "deep": {"x": [1, 2.5, -3, null, true]}},
        "resource": {"name": "web"},
        "signatures": {"facts": [{"big": "unread"}]},
    }));
    assert_eq!(decision.errors, Vec::<String>::new());
    assert_eq!(decision.denies[0].msg, "a:1");
    assert_eq!(decision.warns[0].msg, "web");
}

#[test]
fn any_use_of_input_that_names_no_key_keeps_the_whole_input() {
    for source in [
        // A key chosen at evaluation time.
        "package supplygate.p\n\ndeny contains k if { some k, _ in input; k == \"secret\" }\n",
        "package supplygate.p\n\nk := \"secret\"\ndeny contains k if input[k]\n",
        // The whole document, bare or through an import or a builtin.
        "package supplygate.p\n\ndeny contains \"x\" if count(input) > 1\n",
        "package supplygate.p\n\nimport input as doc\n\ndeny contains \"x\" if doc.secret\n",
        "package supplygate.p\n\ndeny contains \"x\" if object.get(input, \"secret\", false)\n",
        "package supplygate.p\n\ndeny contains \"x\" if { doc := input; doc.secret }\n",
    ] {
        let engine = engine_of(source);
        assert_eq!(keys(&engine), None, "{source}");
        // Each of these denies because of a key the others do not name.
        let decision = engine.decide(&serde_json::json!({"image": {}, "secret": true}));
        assert_eq!(decision.errors, Vec::<String>::new(), "{source}");
        assert_eq!(decision.denies.len(), 1, "{source}");
    }
}

#[test]
fn the_shipped_library_reads_these_input_keys_only() {
    let mut loader = Loader::new(Limits::default());
    loader.embedded(crate::policy::shipped::MODULES);
    let engine = loader.load().unwrap();
    assert_eq!(
        keys(&engine),
        Some(strings(&[
            "attestations",
            "image",
            "provenance_checks",
            "reachability",
            "signatures",
            "source_claim",
        ]))
    );
}

fn memo_entries(engine: &Engine) -> usize {
    engine.memo.as_ref().map_or(0, |m| {
        m.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    })
}

/// The memo is keyed by what regorus is handed: inputs that differ only in keys no module
/// names share one decision; a difference in a named key, or any difference when the modules
/// read the whole input, is decided again.
#[test]
fn the_memo_shares_decisions_of_inputs_that_differ_only_where_no_module_reads() {
    let engine =
        engine_of("package supplygate.p\n\ndeny contains input.image.written if input.image.bad\n");
    let site = |image: serde_json::Value, workload: &str| serde_json::json!({"image": image, "resource": {"name": workload}});
    let bad = serde_json::json!({"written": "a:1", "bad": true});
    let first = engine.evaluate(&site(bad.clone(), "web"));
    let second = engine.evaluate(&site(bad, "worker"));
    assert_eq!(first.denies[0].msg, "a:1");
    assert_eq!(first, second);
    assert_eq!(memo_entries(&engine), 1, "the second site was a memo hit");
    let good = engine.evaluate(&site(serde_json::json!({"written": "a:1"}), "web"));
    assert!(good.denies.is_empty(), "{good:?}");
    assert_eq!(memo_entries(&engine), 2);

    let whole = engine_of("package supplygate.p\n\ndeny contains \"x\" if count(input) > 1\n");
    assert!(whole
        .evaluate(&serde_json::json!({"image": {}}))
        .denies
        .is_empty());
    let denied = whole.evaluate(&serde_json::json!({"image": {}, "secret": true}));
    assert_eq!(denied.denies.len(), 1, "{denied:?}");
    assert_eq!(memo_entries(&whole), 2);
}

/// Engines loaded anew for evaluations at once ([`Engine::spare`]) decide exactly as the
/// prepared one: the shipped library on every fixture input, on the first spare (a copy), on
/// those loaded from the sources, and on copies again past the limit.
#[test]
fn spare_engines_decide_as_the_prepared_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("fixtures/policy/library-inputs");
    let mut loader = Loader::new(Limits::default());
    loader.embedded(crate::policy::shipped::MODULES);
    let data = std::fs::read_to_string(dir.join("data/supplygate.json")).unwrap();
    loader.data_json("data/supplygate.json", &data);
    let engine = loader.load().unwrap();
    let mut inputs: Vec<serde_json::Value> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect();
    inputs.sort_by_key(ToString::to_string);
    let expected: Vec<Decision> = inputs.iter().map(|i| engine.decide(i)).collect();
    assert!(expected.iter().any(|d| !d.denies.is_empty()));
    assert!(expected.iter().all(|d| d.errors.is_empty()));
    for n in 0..IDLE_ENGINES + 2 {
        let spare = engine.spare();
        for (input, want) in inputs.iter().zip(&expected) {
            // The only idle engine: the decision runs on it.
            *engine.idle.lock().unwrap() = vec![(std::thread::current().id(), spare.clone())];
            assert_eq!(&engine.decide(input), want, "spare {n}");
        }
    }
    assert_eq!(
        engine.spares.load(Ordering::Relaxed),
        1 + IDLE_ENGINES + 2,
        "every spare was counted (the first decision took one)"
    );
}

/// A thread takes back the idle engine it used last, not whichever was returned last.
#[test]
fn a_thread_takes_back_the_engine_it_used_last() {
    let engine = engine_of("package supplygate.p\n\ndeny contains \"x\" if input.image.bad\n");
    let other = std::thread::spawn(|| std::thread::current().id())
        .join()
        .unwrap();
    let this = std::thread::current().id();
    let spare = engine.spare();
    // This thread's engine first, another thread's on top (what a plain pop would take).
    *engine.idle.lock().unwrap() = vec![(this, spare.clone()), (other, spare)];
    let decision = engine.decide(&serde_json::json!({"image": {"bad": true}}));
    assert_eq!(decision.denies.len(), 1, "{decision:?}");
    let owners: Vec<_> = engine
        .idle
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        owners,
        vec![other, this],
        "the other thread's engine stayed idle"
    );
}

/// `prepare` readies engines for evaluations at once: that many idle, the first a copy and the
/// others loaded anew, each deciding as the prepared one; asking again adds none.
#[test]
fn prepare_readies_idle_engines_once() {
    let engine = engine_of("package supplygate.p\n\ndeny contains \"x\" if input.image.bad\n");
    engine.prepare(3);
    assert_eq!(engine.idle.lock().unwrap().len(), 3);
    assert_eq!(engine.spares.load(Ordering::Relaxed), 3);
    engine.prepare(3);
    assert_eq!(engine.spares.load(Ordering::Relaxed), 3, "none added");
    engine.prepare(IDLE_ENGINES + 5);
    assert_eq!(engine.idle.lock().unwrap().len(), IDLE_ENGINES);
    let decision = engine.decide(&serde_json::json!({"image": {"bad": true}}));
    assert_eq!(decision.denies.len(), 1, "{decision:?}");
}
