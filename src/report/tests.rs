use super::*;

#[test]
fn codes_are_unique_kebab_case() {
    let mut seen = std::collections::BTreeSet::new();
    for c in Code::ALL {
        let s = c.as_str();
        assert!(seen.insert(s), "duplicate code {s}");
        assert!(
            s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{s} is not kebab-case"
        );
    }
}

#[test]
fn every_code_has_a_row_in_the_diagnostics_table() {
    let doc = include_str!("../../docs/diagnostics.md");
    for c in Code::ALL {
        assert!(
            doc.lines()
                .any(|l| l.starts_with(&format!("| `{}` |", c.as_str()))),
            "docs/diagnostics.md has no table row for `{c}`"
        );
    }
}

#[test]
fn error_outranks_deny_outranks_warn() {
    use Severity::*;
    assert_eq!(decision_of([Warn].into_iter()), Decision::Allow);
    assert_eq!(decision_of([Warn, Deny].into_iter()), Decision::Deny);
    assert_eq!(
        decision_of([Deny, Error, Warn].into_iter()),
        Decision::Error
    );
    assert_eq!(decision_of(std::iter::empty()), Decision::Allow);
    assert_eq!(Decision::Deny.exit_code(), 1);
}

#[test]
fn source_root_names_files_relative_to_the_root_with_slashes() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("apps/web");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("d.yaml"), "x").unwrap();
    let root = SourceRoot::new(dir.path().to_path_buf(), sub.clone());
    let file = |p: &str| Origin::File(PathBuf::from(p));
    assert_eq!(
        root.relative(&file("d.yaml")).as_deref(),
        Some("apps/web/d.yaml")
    );
    assert_eq!(
        root.relative(&file("./../web/d.yaml")).as_deref(),
        Some("apps/web/d.yaml")
    );
    assert_eq!(root.relative(&file("/elsewhere/d.yaml")), None);
    assert_eq!(root.relative(&Origin::Stdin), None);
    assert_eq!(root.relative_file("<stdin>"), None);
    assert_eq!(root.display(&Origin::Stdin), "<stdin>");
}

#[test]
fn unsafe_chars_are_escaped_visibly() {
    assert_eq!(escape_unsafe("nginx:1.25"), "nginx:1.25");
    assert_eq!(
        escape_unsafe("a\u{202e}lmay.exe\u{1b}[2Jb\nc\u{7f}\u{9b}"),
        "a\\u{202e}lmay.exe\\u{1b}[2Jb\\u{a}c\\u{7f}\\u{9b}"
    );
    assert_eq!(
        escape_unsafe_except("a\nb\u{2066}", &['\n']),
        "a\nb\\u{2066}"
    );
    // Printable non-ASCII text is text.
    assert_eq!(escape_unsafe("café ü 日本"), "café ü 日本");
}

#[test]
fn dependency_errors_get_a_meaning_and_an_action() {
    let der = "malformed ASN.1 DER value for GeneralizedTime at DER byte 71";
    let e = explain_dependency_error(der).unwrap();
    assert!(e
        .meaning
        .starts_with("a certificate or key could not be decoded"));
    let tls = "error sending request: client error (Connect): invalid peer certificate: \
               UnknownIssuer";
    assert!(explain_dependency_error(tls)
        .unwrap()
        .meaning
        .contains("TLS certificate is not trusted"));
    let json = "invalid registry response: expected value at line 1 column 1";
    assert!(explain_dependency_error(json)
        .unwrap()
        .meaning
        .contains("does not have the shape expected"));
    assert_eq!(explain_dependency_error("HTTP 503 after 3 retries"), None);
    assert_eq!(explain_dependency_error("tag `v9` not found"), None);
}

#[test]
fn every_code_has_a_description() {
    for c in Code::ALL {
        assert!(!c.description().is_empty(), "{c}");
    }
}
