#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use saphyr_parser::{Event, ScalarStyle as SaphyrStyle};

use super::positions::{written_matches, LineCursor};
use super::*;

fn origin() -> Arc<Origin> {
    Arc::new(Origin::File("t.yaml".into()))
}

fn parse(text: &str) -> Vec<Document> {
    parse_documents(text, &origin(), &Limits::default()).unwrap()
}

fn parse_err(text: &str, limits: &Limits) -> (usize, usize, String) {
    match parse_documents(text, &origin(), limits) {
        Err(ManifestError::Syntax {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn written<'t>(text: &'t str, node: &Node) -> &'t str {
    &text[node.span.start..node.span.end]
}

#[test]
fn quoted_scalar_span_is_exactly_the_quoted_text() {
    let text = "a: \"x:1\"   # c\nb: 'it''s'  # d\nc: plain   # e\n";
    let root = &parse(text)[0].root;
    assert_eq!(written(text, root.get("a").unwrap()), "\"x:1\"");
    assert_eq!(written(text, root.get("b").unwrap()), "'it''s'");
    assert_eq!(root.get("b").unwrap().as_str(), Some("it's"));
    assert_eq!(written(text, root.get("c").unwrap()), "plain");
    let a = root.get("a").unwrap();
    assert_eq!((a.span.line, a.span.column), (1, 4));
}

#[test]
fn double_quoted_span_skips_escaped_quotes() {
    let text = "a: \"x\\\"y\\\\\"  # c\n";
    let a = parse(text)[0].root.get("a").cloned().unwrap();
    assert_eq!(written(text, &a), "\"x\\\"y\\\\\"");
    assert_eq!(a.as_str(), Some("x\"y\\"));
}

#[test]
fn span_skips_anchor_tag_and_comment_before_the_scalar() {
    let text = "a: &x !!str # c\n  \"v\"  # d\nb: *x\n";
    let root = &parse(text)[0].root;
    let a = root.get("a").unwrap();
    assert_eq!(written(text, a), "\"v\"");
    assert_eq!((a.span.line, a.span.column), (2, 3));
    // The alias keeps the anchor's span, so rewriting it rewrites the anchor.
    assert_eq!(root.get("b").unwrap().span, a.span);
}

#[test]
fn multibyte_text_gives_byte_offsets_and_char_columns() {
    let text = "é: ünï\nx: [ \"ö\", ß ]\n";
    let root = &parse(text)[0].root;
    let v = root.get("é").unwrap();
    assert_eq!(written(text, v), "ünï");
    assert_eq!((v.span.line, v.span.column), (1, 4));
    let items = root.get("x").unwrap().as_sequence().unwrap();
    assert_eq!(written(text, &items[0]), "\"ö\"");
    assert_eq!(written(text, &items[1]), "ß");
    assert_eq!(items[1].span.column, 11);
}

#[test]
fn refuses_directives_with_non_ascii_text() {
    for text in [
        "%\u{e9}\n---\ncontainers:\n- image: nginx\n",
        "# c\r\n%X \u{e9}\u{e9}\n---\na: b\n",
        "\u{feff}%\u{e9}\n---\na: b\n",
    ] {
        let (line, column, message) = parse_err(text, &Limits::default());
        assert!(
            message.contains("non-ASCII text in a YAML directive"),
            "{message}"
        );
        assert_eq!((line, column), if line == 1 { (1, 2) } else { (2, 4) });
    }
    // ASCII directives are fine, and positions after them are right.
    let text = "%YAML 1.2\n%TAG !e! tag:e.com,2000:\n---\nk: \u{e9}\nv: 'x'\n";
    let v = parse(text)[0].root.get("v").cloned().unwrap();
    assert_eq!(written(text, &v), "'x'");
}

#[test]
fn positions_are_checked_against_lines_and_text() {
    let text = "a: b\r\nc: d\re: f\n";
    let mut parser = Parser::new_from_str(text);
    let mut cursor = LineCursor::new();
    let mut scalars = 0;
    while let Some(Ok((event, span))) = parser.next_event() {
        if matches!(event, Event::Scalar(..)) {
            assert!(cursor.agrees(text, &span.start), "{span:?}");
            let drifted = saphyr_parser::Marker::new(
                span.start.index() + 1,
                span.start.line(),
                span.start.col(),
            );
            assert!(!cursor.agrees(text, &drifted));
            scalars += 1;
        }
    }
    assert_eq!(scalars, 6);
    assert!(written_matches(
        "'it''s'",
        "it's",
        SaphyrStyle::SingleQuoted
    ));
    assert!(written_matches("a\n  b", "a b", SaphyrStyle::Plain));
    assert!(!written_matches("ginx", "nginx", SaphyrStyle::Plain));
    assert!(!written_matches("aaa", "nginx", SaphyrStyle::DoubleQuoted));
}

#[test]
fn long_multibyte_text_maps_offsets_past_the_checkpoints() {
    let text = format!("k: {}\nz: \"end\"\n", "é".repeat(300));
    let z = parse(&text)[0].root.get("z").cloned().unwrap();
    assert_eq!(written(&text, &z), "\"end\"");
}

#[test]
fn crlf_and_bom_keep_offsets_right() {
    let text = "\u{feff}a: 'b'\r\nc: \"d\"\r\n";
    let root = &parse(text)[0].root;
    assert_eq!(written(text, root.get("a").unwrap()), "'b'");
    let c = root.get("c").unwrap();
    assert_eq!(written(text, c), "\"d\"");
    assert_eq!((c.span.line, c.span.column), (2, 4));
}

#[test]
fn documents_report_their_start_lines() {
    let docs = parse("# c\na: 1\n---\nb: 2\n---\n\n---\n# only a comment\n");
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[0].line, 2);
    assert_eq!(docs[1].line, 3);
    assert!(docs[2].root.is_null());
    assert_eq!(docs[3].line, 7);
}

#[test]
fn json_reads_like_yaml() {
    let text = "{\n\t\"a\":\"b\",\n\t\"c\": [1, {\"d\": null}]\n}\n";
    let root = &parse(text)[0].root;
    assert_eq!(written(text, root.get("a").unwrap()), "\"b\"");
    assert_eq!(
        root.to_json(),
        serde_json::json!({"a": "b", "c": [1, {"d": null}]})
    );
}

#[test]
fn to_json_types_plain_scalars_as_kubernetes_does() {
    // YAML 1.1 as go-yaml v2 reads it (kubectl's JSON for the same text): `yes` and `n`
    // are booleans, `0755` is octal, `1_000` has separators, `1:30` and dates are text.
    let text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: 0x1f\nh: yes\nj:\n\
                    k: 0755\nl: 0o755\nm: 1_000\nx: 1:30\no: 2001-12-14\np: n\nq: 1e3\n\
                    r: 0b101\ns: 09\nt: +12\nu: 1e400\nv: -0x1F\nw: 18446744073709551615\n";
    assert_eq!(
        parse(text)[0].root.to_json(),
        serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1",
                               "g": 31, "h": true, "j": null, "k": 493, "l": 493, "m": 1000,
                               "x": "1:30", "o": "2001-12-14", "p": false, "q": 1000.0,
                               "r": 5, "s": 9.0, "t": 12, "u": "1e400", "v": -31,
                               "w": 18_446_744_073_709_551_615_u64})
    );
}

#[test]
fn accessors_type_scalars() {
    let root = &parse("a: 12\nb: 'x'\nc: false\nd: \"true\"\ne: null\nf:\n")[0].root;
    assert_eq!(root.get("a").unwrap().as_u64(), Some(12));
    assert_eq!(root.get("b").unwrap().as_u64(), None);
    assert_eq!(root.get("c").unwrap().as_bool(), Some(false));
    assert_eq!(root.get("d").unwrap().as_bool(), None);
    assert!(root.get("e").unwrap().is_null());
    assert_eq!(root.get("e").unwrap().as_str(), None);
    assert!(root.get("f").unwrap().is_null());
    assert_eq!(root.get("d").unwrap().kind_name(), "a string");
    assert_eq!(root.get("a").unwrap().kind_name(), "an integer");
    assert_eq!(root.kind_name(), "a mapping");
}

#[test]
fn merge_keys_apply_with_explicit_keys_winning() {
    let text = "base: &b {image: 'x:1', name: base}\nc:\n  <<: *b\n  name: mine\n";
    let root = &parse(text)[0].root;
    let c = root.get("c").unwrap();
    assert_eq!(c.get("name").unwrap().as_str(), Some("mine"));
    let image = c.get("image").unwrap();
    assert_eq!(image.as_str(), Some("x:1"));
    assert_eq!(written(text, image), "'x:1'");
    assert!(c.get("<<").is_none());
}

#[test]
fn refuses_merge_of_a_scalar() {
    let (line, _, message) = parse_err("a: &a 1\nb:\n  <<: *a\n", &Limits::default());
    assert_eq!(line, 3);
    assert!(message.contains("merge key"), "{message}");
}

#[test]
fn refuses_lines_kubectl_splits_otherwise() {
    let limits = Limits::default();
    for text in [
        "a: 1\n---# : |\n  kind: Pod\n",
        "a: 1\n---#\n",
        "a: 1\n--- {b: 2}\n",
        "a: 1\n---x\n",
        "a: 1\r\n---#x\r\n",
    ] {
        let err = parse_documents(text, &origin(), &limits).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::Ambiguous {
                    line: 2,
                    column: 1,
                    ..
                }
            ),
            "{text:?}: {err:?}"
        );
    }
    for text in [
        "a: 1\n---\nb: 2\n",
        "a: 1\n--- # c\nb: 2\n",
        "a: 1\r\n---\t\r\nb: 2\r\n",
    ] {
        assert_eq!(parse(text).len(), 2, "{text:?}");
    }
    // Inside a block scalar, indented: not at a line's start.
    assert_eq!(parse("a: |\n  ---#x\n").len(), 1);
}

#[test]
fn refuses_duplicate_keys() {
    let (line, column, message) = parse_err("a: 1\nimage: x\nb: 2\nimage: y\n", &Limits::default());
    assert_eq!((line, column), (4, 1));
    assert!(
        message.contains("duplicate key `image` (first at line 2)"),
        "{message}"
    );
}

#[test]
fn malformed_yaml_reports_the_parser_position() {
    let (line, column, message) = parse_err("a: b\n c: [1,\n", &Limits::default());
    assert!(line >= 2 && column >= 1, "{line}:{column}");
    assert!(message.starts_with("invalid YAML"), "{message}");
    let err = parse_documents("a: 'x\n", &origin(), &Limits::default()).unwrap_err();
    assert!(err.to_string().starts_with("t.yaml:"), "{err}");
}

#[test]
fn refuses_deep_flow_nesting_without_recursing() {
    for text in [
        "[".repeat(10_000),
        "{a: ".repeat(10_000),
        format!("x: {}1{}", "[".repeat(10_000), "]".repeat(10_000)),
    ] {
        let (line, column, message) = parse_err(&text, &Limits::default());
        assert_eq!(line, 1);
        assert!(column > 128, "{column}");
        assert!(message.contains("is deeper than"), "{message}");
    }
}

#[test]
fn refuses_deep_block_nesting() {
    let dashes = "- ".repeat(10_000) + "x\n";
    let (_, _, message) = parse_err(&dashes, &Limits::default());
    assert!(message.contains("deeper than the limit"), "{message}");
    let mut indented = String::new();
    for i in 0..2_000 {
        indented.push_str(&" ".repeat(i));
        indented.push_str("a:\n");
    }
    let (line, _, message) = parse_err(&indented, &Limits::default());
    assert_eq!(line, 129);
    assert!(message.contains("deeper than the limit"), "{message}");
}

#[test]
fn accepts_nesting_at_the_limit() {
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let ok = "[[[[[1]]]]]";
    assert!(parse_documents(ok, &origin(), &limits).is_ok());
    parse_err("[[[[[[1]]]]]]", &limits);
}

#[test]
fn caps_depth_at_the_hard_limit_whatever_the_config_says() {
    let limits = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    // Block sequences on one line: `- - - x`. 1,000 levels are built, converted to JSON
    // and dropped on a test thread's small stack; 2,000 are refused.
    let deep = "- ".repeat(1_000) + "x\n";
    let docs = parse_documents(&deep, &origin(), &limits).unwrap();
    let json = docs[0].root.to_json();
    assert!(json.is_array());
    drop(docs);
    let deeper = "- ".repeat(2_000) + "x\n";
    let (_, _, message) = parse_err(&deeper, &limits);
    assert!(
        message.contains(&format!("limit of {HARD_MAX_DEPTH} levels")),
        "{message}"
    );
}

#[test]
fn refuses_aliases_that_nest_past_the_limit() {
    let limits = Limits {
        max_depth: 6,
        ..Limits::default()
    };
    let text = "a: &a [[[1]]]\nb: [[[*a]]]\n";
    let (line, _, message) = parse_err(text, &limits);
    assert_eq!(line, 2);
    assert!(message.contains("alias makes nesting deeper"), "{message}");
}

fn billion_laughs() -> String {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = ('b'..='j').collect();
    let mut prev = 'a';
    for name in names {
        let refs = vec![format!("*{prev}"); 10].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        prev = name;
    }
    text
}

#[test]
fn refuses_alias_bomb() {
    let (line, _, message) = parse_err(&billion_laughs(), &Limits::default());
    assert!(line <= 7, "{line}");
    assert!(message.contains("alias bomb"), "{message}");
}

#[test]
fn refuses_many_small_alias_bombs_across_documents() {
    let limits = Limits {
        max_nodes: 10_000,
        ..Limits::default()
    };
    let doc = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
                   c: [*b,*b,*b,*b,*b]\n";
    assert!(parse_documents(doc, &origin(), &limits).is_ok());
    let many = vec![doc; 50].join("---\n");
    let (_, _, message) = parse_err(&many, &limits);
    assert!(message.contains("in this file"), "{message}");
}

#[test]
fn refuses_text_over_the_size_limit() {
    let limits = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let err = parse_documents("a: 0123456789\n", &origin(), &limits).unwrap_err();
    assert!(
        matches!(err, ManifestError::TooLarge { limit: 10, .. }),
        "{err}"
    );
}

#[test]
fn refuses_recursive_alias() {
    let (_, _, message) = parse_err("a: &a [1, *a]\n", &Limits::default());
    assert!(message.contains("recursive alias"), "{message}");
}

fn ambiguous_err(text: &str) -> (usize, usize, String) {
    match parse_documents(text, &origin(), &Limits::default()) {
        Err(ManifestError::Ambiguous {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected an ambiguous-yaml refusal, got {other:?}"),
    }
}

#[test]
fn reports_a_tab_where_it_is() {
    let text = "a:\n  b: 1\n  c: 2\n  d: 3\n  e: 4\n  f: 5\n  name: abcdefgh\n\timage: x\n";
    let (line, column, message) = parse_err(text, &Limits::default());
    assert_eq!((line, column), (8, 1), "{message}");
    assert!(message.contains("found a tab"), "{message}");
}

#[test]
fn names_an_undefined_alias() {
    for (text, line) in [("a: 1\nb: *nope\n", 2), ("x: &nope 1\n---\nb: *nope\n", 3)] {
        let (l, column, message) = parse_err(text, &Limits::default());
        assert_eq!((l, column), (line, 4));
        assert!(message.starts_with("undefined alias `nope`"), "{message}");
    }
}

#[test]
fn accepts_flow_collections_closed_at_the_key_column() {
    let text =
        "c:\n  args: [\n    a, b,\n  ]\n  env: [\n  x\n  ]\n  cmd: ['\n    echo \"hi\"\n  ']\n";
    let root = &parse(text)[0].root;
    assert_eq!(
        root.to_json(),
        serde_json::json!({"c": {"args": ["a", "b"], "env": ["x"], "cmd": [" echo \"hi\" "]}})
    );
    let text = "c:\n  d:\n    v: [\"a\n  b\"]\n";
    let v = parse(text)[0]
        .root
        .get("c")
        .unwrap()
        .get("d")
        .unwrap()
        .get("v")
        .cloned();
    let items = v.unwrap();
    let item = &items.as_sequence().unwrap()[0];
    assert_eq!(item.as_str(), Some("a b"));
    assert_eq!(written(text, item), "\"a\n  b\"");
}

#[test]
fn refuses_unicode_line_breaks() {
    for (c, name) in [
        ('\u{2028}', "LINE SEPARATOR"),
        ('\u{2029}', "PARAGRAPH SEPARATOR"),
        ('\u{85}', "NEXT LINE"),
    ] {
        let text = format!("a: 1\nimage: signed:1 # x{c}image: evil:1\n");
        let (line, column, message) = ambiguous_err(&text);
        assert_eq!((line, column), (2, 20));
        assert!(message.contains(name), "{message}");
    }
    // Escaped, it is only text.
    let root = &parse("a: \"x\\u2028y\"\n")[0].root;
    assert_eq!(root.get("a").unwrap().as_str(), Some("x\u{2028}y"));
}

#[test]
fn refuses_tags_that_change_the_data() {
    for (text, needle) in [
        ("c:\n  !!binary aW1hZ2U=: evil:1\n", "tag `!!binary`"),
        ("image: !!str null\n", "`!!str` makes `null` a string"),
        ("image: !!str\n", "`!!str` makes `` a string"),
        ("a: !!int \"3\"\n", "tag `!!int`"),
        ("a: !foo bar\n", "tag `!foo`"),
        ("a: ! 3\n", "tag `!`"),
        ("a: !!set {x, y}\n", "tag `!!set` on a mapping"),
        ("a: !!omap [x: 1]\n", "tag `!!omap` on a list"),
        (
            "%TAG !! tag:example.com,2000:\n---\na: !!str x\n",
            "tag `!<tag:example.com",
        ),
        (
            "b: &b {image: evil}\nc:\n  !!merge \"<<\": *b\n",
            "tag `!!merge`",
        ),
        (
            "b: &b {image: evil}\nc:\n  !!str <<: *b\n",
            "`!!str` makes `<<` a string",
        ),
    ] {
        let (_, _, message) = ambiguous_err(text);
        assert!(message.contains(needle), "{text:?}: {message}");
    }
    // Tags that change nothing are read.
    let root = &parse("a: !!str x\nb: !!str '1'\nc: !!map {d: !!seq [e]}\n")[0].root;
    assert_eq!(
        root.to_json(),
        serde_json::json!({"a": "x", "b": "1", "c": {"d": ["e"]}})
    );
}

#[test]
fn merge_keys_follow_kubernetes_or_are_refused() {
    // Quoted `<<` is an ordinary key for both readers.
    let root = &parse("c: {\"<<\": {image: evil}}\n")[0].root;
    assert_eq!(
        root.to_json(),
        serde_json::json!({"c": {"<<": {"image": "evil"}}})
    );
    // The first of a list of mappings wins, like go-yaml.
    let root = &parse("c: {<<: [{image: first}, {image: second}]}\n")[0].root;
    assert_eq!(
        root.get("c").unwrap().get("image").unwrap().as_str(),
        Some("first")
    );
    let (line, column, message) = ambiguous_err("c:\n  image: signed\n  <<: {image: evil}\n");
    assert_eq!((line, column), (2, 3));
    assert!(
        message.contains("`image` is set before the merge key"),
        "{message}"
    );
    let (line, _, message) = ambiguous_err("c: {<<: {image: a},\n  <<: {image: b}}\n");
    assert_eq!(line, 2);
    assert!(message.contains("a second merge key"), "{message}");
}

#[test]
fn keys_are_converted_like_kubernetes_and_checked_for_duplicates_after() {
    let root = &parse("a: {yes: v, 0755: s, 1_0: t, 0x10: z, n: w}\n")[0].root;
    assert_eq!(
        root.to_json(),
        serde_json::json!({"a": {"true": "v", "493": "s", "10": "t", "16": "z", "false": "w"}})
    );
    let (line, _, message) = parse_err("a: {1: x, \"1\": y}\n", &Limits::default());
    assert_eq!(line, 1);
    assert!(message.contains("duplicate key `1`"), "{message}");
    for text in ["a: {1.5: x}\n", "a: {~: x}\n", "a: {[1]: x}\n"] {
        let (_, _, message) = ambiguous_err(text);
        assert!(message.contains("a mapping key that is"), "{message}");
    }
}

#[test]
fn refuses_question_marks_in_flow_plain_scalars() {
    // kubectl: `[a, ?b: c]` is `["a", {"b": "c"}]` and `[?c]` is `[{"c": null}]`.
    for (text, expected) in [
        ("a: [a, ?b: c]\n", 1),
        ("a: {b: [?c]}\n", 1),
        ("c: [{name: a, ?image: evil}]\n", 1),
        ("c: &c [?image: evil]\n", 1),
        ("c: &c # x\n  !!seq [?image: evil]\n", 2),
    ] {
        let (line, _, message) = ambiguous_err(text);
        assert_eq!(line, expected);
        assert!(message.contains("`?` is an indicator there"), "{message}");
    }
    // Outside flow collections, and quoted, `?` is text for both.
    let root = &parse("a: c?d\nb: ['?c', \"x?y\"]\nc: ?d\n")[0].root;
    assert_eq!(
        root.to_json(),
        serde_json::json!({"a": "c?d", "b": ["?c", "x?y"], "c": "?d"})
    );
}

#[test]
fn reads_a_last_line_of_blanks_without_a_break_as_kubectl_does() {
    // Found by the yaml_kubernetes fuzz target; the values are kubectl's.
    for (text, value) in [
        ("pie: |\n e: |\n ", "e: |\n"),
        ("a: |\n  x\n  ", "x\n"),
        ("a: |\n  x\n   ", "x\n \n"),
        ("a: |\n  x", "x\n"),
    ] {
        let root = &parse(text)[0].root;
        let json = root.to_json();
        let got = json.as_object().and_then(|o| o.values().next()).cloned();
        assert_eq!(got, Some(serde_json::json!(value)), "{text:?}");
    }
    let docs = parse("a: 1\nimage: nginx\n  ");
    assert_eq!(docs.len(), 1);
}

#[test]
fn refuses_anchor_names_that_libyaml_ends_early() {
    // For go-yaml, `&a?image` is the anchor `a` on the scalar `?image`.
    for (text, line, column) in [
        ("a: &L?z\n", 1, 4),
        ("a: &x.y [1]\n", 1, 4),
        ("a: !!str &x:y b\n", 1, 10),
        ("a: &ok 1\nb: *ok\nc: [&x? 2]\n", 3, 5),
    ] {
        let (l, c, message) = ambiguous_err(text);
        assert_eq!((l, c), (line, column), "{text:?}: {message}");
        assert!(message.contains("name `"), "{message}");
    }
    let root = &parse("a: &a-1_B {x: 1}\nb: *a-1_B\nc: !!str &t yz\n")[0].root;
    assert_eq!(
        root.to_json(),
        serde_json::json!({"a": {"x": 1}, "b": {"x": 1}, "c": "yz"})
    );
}

#[test]
fn refuses_what_kubernetes_cannot_read() {
    for text in [
        "a: .inf\n",
        "a: [-.Inf]\n",
        "a: .nan\n",
        "a: \"\\/\"\n",
        "a: [c?d]\n",
        "a: [:d]\n",
    ] {
        let (line, _, _) = ambiguous_err(text);
        assert_eq!(line, 1);
    }
    let (_, _, message) = ambiguous_err("|\n#x\n");
    assert!(message.contains("block scalar"), "{message}");
}

#[test]
fn block_scalars_have_block_style() {
    let text = "a: |\n  x\nb: >-\n  y\n";
    let root = &parse(text)[0].root;
    assert!(matches!(
        &root.get("a").unwrap().value,
        Value::Scalar { text, style: ScalarStyle::Block } if text == "x\n"
    ));
}
