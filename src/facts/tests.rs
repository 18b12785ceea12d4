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
fn every_code_has_a_description() {
    for c in Code::ALL {
        assert!(!c.description().is_empty(), "{c}");
    }
}
