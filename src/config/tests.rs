#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
use super::keys::KEYS_TOP;
use super::*;

fn problems(text: &str) -> Vec<Problem> {
    match Config::parse(text, Path::new("supplygate.yaml")) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn reads_a_full_config() {
    let text = "\
registries:
  127.0.0.1:5000:
    insecure: true
  demo.example:
    layout: layouts/demo
    mirrors: [mirror.example:5000]
  mirror.example:5000:
    concurrency: 2
network:
  concurrency: 4
  connect_timeout: 500ms
  request_timeout: 2m
  retries: 1
  offline: false
images:
  extra:
    - kind: Rollout
      api_version: argoproj.io
      pod_specs: [spec.template.spec]
limits:
  max_depth: 64
";
    let c = Config::parse(text, Path::new("conf/supplygate.yaml")).unwrap();
    assert!(c.registry.hosts["127.0.0.1:5000"].insecure);
    let demo = &c.registry.hosts["demo.example"];
    assert_eq!(demo.layout.as_deref(), Some(Path::new("conf/layouts/demo")));
    assert_eq!(demo.mirrors, vec!["mirror.example:5000"]);
    assert_eq!(demo.concurrency, None);
    assert_eq!(c.registry.hosts["mirror.example:5000"].concurrency, Some(2));
    assert_eq!(c.registry.concurrency, 4);
    assert_eq!(c.registry.connect_timeout, Duration::from_millis(500));
    assert_eq!(c.registry.request_timeout, Duration::from_secs(120));
    assert_eq!(c.registry.retries, 1);
    assert_eq!(c.extra_images.rules[0].kind, "Rollout");
    assert_eq!(
        c.extra_images.rules[0].pod_specs,
        vec!["spec.template.spec"]
    );
    assert_eq!(c.limits.max_depth, 64);
}

#[test]
fn empty_config_is_the_default() {
    let c = Config::parse("", Path::new("x.yaml")).unwrap();
    assert_eq!(
        c.registry.concurrency,
        RegistrySettings::default().concurrency
    );
}

#[test]
fn rejects_unknown_keys_with_location_and_hint() {
    let p = problems("registries:\n  ghcr.io:\n    insecur: true\nnetwrk: {}\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[0].line, p[0].column), (3, 5));
    assert!(p[0].message.contains("unknown key `insecur`"), "{:?}", p[0]);
    assert_eq!(p[0].hint.as_deref(), Some("did you mean `insecure`?"));
    assert_eq!((p[1].line, p[1].column), (4, 1));
    assert_eq!(p[1].hint.as_deref(), Some("did you mean `network`?"));
}

#[test]
fn reports_every_problem_at_once() {
    let p = problems(
        "network:\n  concurrency: lots\n  connect_timeout: soon\n  retries: 99\nlimits: []\n",
    );
    let lines: Vec<usize> = p.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5], "{p:?}");
    assert!(p[0].message.contains("whole number"));
    assert!(p[1].hint.as_deref().unwrap().contains("500ms"));
    assert!(p[2].message.contains("between 0 and 10"));
    assert!(p[3].message.contains("must be a mapping"));
}

#[test]
fn host_concurrency_is_a_whole_number_from_1_to_1024() {
    let p = problems(
            "registries:\n  a.example:\n    concurrency: 0\n  b.example:\n    concurrency: many\n  c.example:\n    concurrency: 1025\n  d.example:\n    concurrancy: 2\n",
        );
    let at: Vec<(usize, usize)> = p.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(at, [(3, 18), (5, 18), (7, 18), (9, 5)], "{p:?}");
    assert!(p[0].message.contains("between 1 and 1024"), "{:?}", p[0]);
    assert!(p[1].message.contains("whole number"), "{:?}", p[1]);
    assert!(p[2].message.contains("`concurrency` is 1025"), "{:?}", p[2]);
    assert_eq!(p[3].hint.as_deref(), Some("did you mean `concurrency`?"));
    let c = Config::parse(
        "registries:\n  a.example:\n    concurrency: 1\n  b.example:\n    concurrency: 1024\n",
        Path::new("x.yaml"),
    )
    .unwrap();
    assert_eq!(c.registry.hosts["a.example"].concurrency, Some(1));
    assert_eq!(c.registry.hosts["b.example"].concurrency, Some(1024));
}

#[test]
fn rejects_bad_hosts_and_paths() {
    let p = problems(
            "registries:\n  https://ghcr.io:\n    insecure: true\nimages:\n  extra:\n    - kind: X\n      images: ['a..b']\n    - api_version: v1\n",
        );
    assert!(p[0].message.contains("without a scheme") || p[0].message.contains("scheme"));
    assert!(p
        .iter()
        .any(|x| x.message.contains("invalid field path `a..b`")));
    assert!(p.iter().any(|x| x.message.contains("needs a `kind`")));
}

#[test]
fn error_display_lists_file_line_column() {
    let err = Config::parse("nework: {}\n", Path::new("ci/supplygate.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ci/supplygate.yaml:1:1: unknown key `nework`"),
        "{text}"
    );
    assert!(text.contains("did you mean `network`?"), "{text}");
}

#[test]
fn exemptions_need_images_reason_and_expiry() {
    let p = problems(
            "exemptions:\n  - images: [ghcr.io/a/*]\n    reason: legacy\n  - images: [x]\n    expires: someday\n    reason: r\n",
        );
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].line, 2);
    assert!(p[0].message.contains("needs `expires`"), "{p:?}");
    assert_eq!(p[1].line, 5);
    assert!(p[1].message.contains("`expires` must be a date"), "{p:?}");
}

#[test]
fn exemption_date_means_the_end_of_that_day() {
    let c = Config::parse(
            "exemptions:\n  - images: [ghcr.io/a/*]\n    namespaces: [legacy]\n    reason: r\n    expires: 2026-12-31\n",
            Path::new("s.yaml"),
        )
        .unwrap();
    let e = &c.exemptions[0];
    assert_eq!(e.expires.to_string(), "2027-01-01T00:00:00Z");
    assert_eq!(e.namespaces, vec!["legacy"]);
    assert_eq!(
        parse_expiry("2026-06-01T12:00:00Z").unwrap().to_string(),
        "2026-06-01T12:00:00Z"
    );
}

#[test]
fn policy_and_break_glass_settings() {
    let c = Config::parse(
            "policy:\n  paths: [extra]\n  data: {team: a}\n  allowed_registries: [ghcr.io/**]\n  allow_latest: true\n  timeout: 2s\nbreak_glass:\n  namespaces: [ops]\n",
            Path::new("conf/s.yaml"),
        )
        .unwrap();
    assert_eq!(c.policy.paths, vec![PathBuf::from("conf/extra")]);
    assert_eq!(c.policy.data["team"], "a");
    assert!(c.policy.allow_latest);
    assert_eq!(c.policy.timeout, Duration::from_secs(2));
    assert_eq!(c.break_glass.annotation, "supplygate.dev/break-glass");
    assert_eq!(c.break_glass.namespaces, vec!["ops"]);
}

#[test]
fn refuses_overrides_that_would_match_namespace_less_manifests() {
    let p = problems("break_glass:\n  namespaces: [\"\", ops]\nexemptions:\n  - images: [x]\n    namespaces: [\" \"]\n    reason: r\n    expires: 2030-01-01\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter().all(|p| p.message.contains("empty namespace")),
        "{p:?}"
    );
}

#[test]
fn refuses_dropping_the_library_that_enforces_the_rules() {
    let p = problems(
            "signers:\n  k:\n    key: |\n      -----BEGIN PUBLIC KEY-----\n      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfA3b0ffjJL8Zpd49DdQg3fl9O7cf\n      WApIEJumKC6nt6WXnPTi7bbqRvckHfiPD6+0repNrMtrr5SksJD8fSLvlg==\n      -----END PUBLIC KEY-----\nrequire:\n  - images: [\"**\"]\n    signers: [k]\npolicy:\n  builtin: false\n",
        );
    assert!(
        p.iter()
            .any(|p| p.message.contains("`policy.builtin: false` drops")),
        "{p:?}"
    );
    let p = problems("policy:\n  builtin: false\n  unmatched_images: deny\n");
    assert!(
        p.iter()
            .any(|p| p.message.contains("`policy.builtin: false` drops")),
        "{p:?}"
    );
    let allow = "policy:\n  builtin: false\n  unmatched_images: allow\n";
    assert!(Config::parse(allow, Path::new("supplygate.yaml")).is_ok());
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
    assert_eq!(parse_duration("3"), None);
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration("1d"), None);
}

#[test]
fn did_you_mean_only_for_close_words() {
    assert_eq!(did_you_mean("registry", KEYS_TOP), Some("registries"));
    assert_eq!(did_you_mean("zzz", KEYS_TOP), None);
}

const KEYLESS_AND_KEY: &str = "signers:\n  ci:\n    keyless:\n      issuer: https://token.actions.githubusercontent.com\n      subject: https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main\n  k:\n    insecure_ignore_tlog: true\n    key: |\n      -----BEGIN PUBLIC KEY-----\n      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfA3b0ffjJL8Zpd49DdQg3fl9O7cf\n      WApIEJumKC6nt6WXnPTi7bbqRvckHfiPD6+0repNrMtrr5SksJD8fSLvlg==\n      -----END PUBLIC KEY-----\nrequire:\n  - images: [\"**\"]\n    signers: [ci, k]\n";

#[test]
fn tuf_settings_are_read_and_checked() {
    let c = Config::parse(
            "tuf:\n  url: https://tuf.example.internal/\n  root: tuf/root.json\n  cache_dir: /var/cache/sg\n  timeout: 15s\n",
            Path::new("/etc/sg/supplygate.yaml"),
        )
        .unwrap();
    assert_eq!(c.tuf.url, "https://tuf.example.internal/");
    assert_eq!(c.tuf.root, Some(PathBuf::from("/etc/sg/tuf/root.json")));
    assert_eq!(c.tuf.cache_dir, Some(PathBuf::from("/var/cache/sg")));
    assert_eq!(c.tuf.timeout, Duration::from_secs(15));
    assert!(!c.tuf.insecure_fallback_to_embedded);
    assert_eq!(Config::default().tuf.url, tuf::PUBLIC_GOOD_URL);

    let p = problems("tuf:\n  url: https://tuf.example.internal\n  rooot: x\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].message.contains("set `tuf.root`"), "{p:?}");
    assert_eq!((p[0].line, p[0].column), (2, 8));
    assert_eq!(p[1].hint.as_deref(), Some("did you mean `root`?"));
    let p = problems("tuf:\n  url: file:///tmp/tuf\n  root: r.json\n");
    assert!(p[0].message.contains("is not an http(s) URL"), "{p:?}");
}

#[test]
fn key_only_configs_need_no_tuf_refresh() {
    let c = Config::parse(KEYLESS_AND_KEY, Path::new("supplygate.yaml")).unwrap();
    assert!(c.needs_tuf_refresh());
    let key_only = KEYLESS_AND_KEY.replace("signers: [ci, k]", "signers: [k]");
    let start = key_only.find("  ci:").unwrap();
    let end = key_only.find("  k:").unwrap();
    let key_only = format!("{}{}", &key_only[..start], &key_only[end..]);
    let c = Config::parse(&key_only, Path::new("supplygate.yaml")).unwrap();
    assert!(!c.needs_tuf_refresh(), "{key_only}");
}

#[test]
fn a_tuf_root_reaches_the_rules_that_name_the_signer() {
    use crate::verify::signers::{parse_trusted_root, RootSource};
    let mut c = Config::parse(KEYLESS_AND_KEY, Path::new("supplygate.yaml")).unwrap();
    let root =
        parse_trusted_root(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap();
    c.use_tuf_root(&SharedRoot::new(Arc::new(root)).unwrap());
    assert!(!c.needs_tuf_refresh());
    for s in c.signers.values().chain(&c.requirements[0].signers) {
        assert_eq!(s.root_source(), RootSource::Tuf, "{}", s.name);
    }
    assert!(Arc::ptr_eq(&c.signers["ci"], &c.requirements[0].signers[0]));
}

#[test]
fn json_schema_knows_the_same_keys() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../supplygate.schema.json")).unwrap();
    let props = |v: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let defs = &schema["$defs"];
    let sections = [
        ("", &schema),
        ("registries.*", &defs["host"]),
        ("network", &defs["network"]),
        ("cache", &defs["cache"]),
        ("images", &defs["images"]),
        ("images.extra[]", &defs["extraRule"]),
        ("limits", &defs["limits"]),
        ("signers.*", &defs["signer"]),
        ("signers.*.keyless", &defs["keyless"]),
        ("signers.*.notation", &defs["notation"]),
        ("tuf", &defs["tuf"]),
        ("require[]", &defs["requirement"]),
        ("provenance[]", &defs["provenanceRule"]),
        ("source", &defs["source"]),
        ("policy", &defs["policy"]),
        ("exemptions[]", &defs["exemption"]),
        ("break_glass", &defs["breakGlass"]),
        ("paths", &defs["paths"]),
    ];
    let known = known_keys();
    for (name, node) in sections {
        let mut expected: Vec<String> = known[name].iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(props(node), expected, "section `{name}`");
        assert_eq!(node["additionalProperties"], serde_json::json!(false));
    }
}

#[test]
fn cache_settings_are_read_and_checked() {
    let c = Config::parse(
        "cache:\n  dir: cache\n  ttl: 2d\n  max_bytes: 2097152\n",
        Path::new("conf/supplygate.yaml"),
    )
    .unwrap();
    let cache = c.cache.unwrap();
    assert_eq!(cache.dir, Path::new("conf/cache"));
    assert_eq!(cache.ttl, Duration::from_secs(2 * 86_400));
    assert_eq!(cache.max_bytes, 2_097_152);
    let defaults = Config::parse("cache:\n  dir: /c\n", Path::new("supplygate.yaml"))
        .unwrap()
        .cache
        .unwrap();
    assert_eq!(defaults.ttl, crate::cache::DEFAULT_TTL);
    assert!(Config::parse("{}", Path::new("supplygate.yaml"))
        .unwrap()
        .cache
        .is_none());

    let p = problems("cache:\n  ttl: 12h\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("`cache` needs `dir`"), "{p:?}");
    let p = problems("cache:\n  dir: c\n  ttl: 31d\n");
    assert!(p[0].message.contains("at most 30 days"), "{p:?}");
    let p = problems("cache:\n  dir: c\n  max_bytes: 10\n");
    assert!(p[0].message.contains("`max_bytes` is 10"), "{p:?}");
}
