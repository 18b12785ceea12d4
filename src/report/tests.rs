use super::*;

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
