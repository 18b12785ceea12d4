//! The documentation cannot drift from the code: every `supplygate.yaml` the docs show loads
//! through the real config loader ([`Config::load`]), and every relative link in `README.md`,
//! `CONTRIBUTING.md` and `docs/*.md` points at a file, and a heading, that exists.
//!
//! Fenced YAML blocks must say what they are in the info string: `yaml supplygate` is a whole
//! config and is loaded; `yaml fragment` is part of one (shown for a single key) and is not;
//! `yaml kubernetes`, `yaml github-actions` and `yaml gitlab-ci` are other files. A bare `yaml`
//! fence is an error, so a new example cannot skip the test by accident.
//!
//! Examples name files the loader reads: signer keys (`key: keys/cosign.pub`), Sigstore
//! trusted roots (`trusted_root: roots/trusted_root.json`), Notation trust stores and trust
//! policies (`trust_store: notation/truststore`, `trust_policy: notation/trustpolicy.json`). Each example is written as
//! `supplygate.yaml` into a fresh directory, and every relative path it gives to `key:` or
//! `trusted_root:` gets a real file of that kind copied from `fixtures/` (a P-256 public key, the
//! cosign test suite's trusted root), so the loader parses real material, not a stub it would
//! refuse. Other paths (`layout:`, `cache_dir:`, policy paths) are not read when a config loads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use supplygate::config::Config;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A real public key for every `key:` path an example names.
const KEY_FIXTURE: &str = "fixtures/keys/other-p256.pub";
/// A real Sigstore trusted root for every `trusted_root:` path an example names.
const TRUSTED_ROOT_FIXTURE: &str =
    "fixtures/external/sigstore/cosign/pkg/cosign/testdata/trusted_root_pgi.json";

/// A real Notation trust store for every `trust_store:` path an example names: this
/// certificate as `x509/ca/e2e/e2e.crt` under it.
const TRUST_STORE_CERT: &str =
    "fixtures/external/notaryproject/notation/test/e2e/testdata/config/localkeys/e2e.crt";
/// A real Notation `trustpolicy.json` (statement `e2e`, store `ca:e2e`) for every
/// `trust_policy:` path an example names.
const TRUST_POLICY_FIXTURE: &str =
    "fixtures/external/notaryproject/notation/test/e2e/testdata/config/trustpolicies/trustpolicy.json";

/// The info strings a YAML fence may carry, and whether the block is a whole config.
const YAML_KINDS: &[(&str, bool)] = &[
    ("yaml supplygate", true),
    ("yaml fragment", false),
    ("yaml kubernetes", false),
    ("yaml github-actions", false),
    ("yaml gitlab-ci", false),
];

fn root() -> &'static Path {
    Path::new(ROOT)
}

/// README.md, CONTRIBUTING.md and docs/*.md, as paths relative to the repository root.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// One fenced code block: where its opening fence is, its info string, its text (with the
/// fence's indentation removed).
struct Block {
    line: usize,
    info: String,
    text: String,
}

/// Splits Markdown into fenced blocks and the prose lines outside them (1-based line numbers).
fn split(markdown: &str) -> (Vec<Block>, Vec<(usize, &str)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(usize, String, Block)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let block = Block {
                        line: n,
                        info: info.trim().to_owned(),
                        text: String::new(),
                    };
                    open = Some((indent, " ".repeat(indent), block));
                } else {
                    prose.push((n, line));
                }
            }
            Some((_, pad, block)) => {
                if trimmed == "```" {
                    let (_, _, block) = open.take().unwrap();
                    blocks.push(block);
                } else {
                    block
                        .text
                        .push_str(line.strip_prefix(pad.as_str()).unwrap_or(trimmed));
                    block.text.push('\n');
                }
            }
        }
    }
    if let Some((_, _, block)) = open {
        panic!("code block opened at line {} is never closed", block.line);
    }
    (blocks, prose)
}

/// The relative paths an example gives to `key:` and `trusted_root:` (inline PEM excluded).
fn referenced_files(config: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for line in config.lines() {
        let line = line.trim_start().trim_start_matches("- ");
        for (key, fixture) in [
            ("key:", KEY_FIXTURE),
            ("trusted_root:", TRUSTED_ROOT_FIXTURE),
            ("trust_store:", TRUST_STORE_CERT),
            ("trust_policy:", TRUST_POLICY_FIXTURE),
        ] {
            let Some(value) = line.strip_prefix(key) else {
                continue;
            };
            let value = value.split(" #").next().unwrap().trim();
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            if value.is_empty() || value.starts_with('|') || value.contains("BEGIN") {
                continue;
            }
            out.push((fixture, value.to_owned()));
        }
    }
    out
}

/// Writes `config` as `supplygate.yaml` with the files it names, and loads it.
fn load_example(config: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, path) in referenced_files(config) {
        if Path::new(&path).is_absolute() {
            return Err(format!(
                "names the absolute path `{path}`: use a path relative to the config"
            ));
        }
        let mut target = dir.path().join(&path);
        if fixture == TRUST_STORE_CERT {
            target = target.join("x509/ca/e2e/e2e.crt");
        }
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(root().join(fixture), &target).unwrap();
    }
    let file = dir.path().join("supplygate.yaml");
    std::fs::write(&file, config).unwrap();
    Config::load(Some(&file))
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

#[test]
fn every_config_example_in_the_docs_loads() {
    let mut failures = Vec::new();
    let mut loaded = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        for block in split(&text).0 {
            if !block.info.starts_with("yaml") {
                continue;
            }
            let at = format!("{}:{}", file.display(), block.line);
            match YAML_KINDS.iter().find(|(info, _)| *info == block.info) {
                None => failures.push(format!(
                    "{at}: a YAML block must be marked `yaml supplygate` (a whole config, loaded \
                     here) or `yaml fragment` (or kubernetes, github-actions, gitlab-ci); found \
                     `{}`",
                    block.info
                )),
                Some((_, false)) => {}
                Some((_, true)) => {
                    loaded += 1;
                    if let Err(e) = load_example(&block.text) {
                        failures.push(format!("{at}: the example does not load: {e}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    // The docs show well over a dozen whole configs; none found means this test lost them.
    assert!(loaded >= 10, "only {loaded} config examples found");
}

/// The text of every `yaml supplygate` block in the docs, with where it starts.
fn config_examples() -> Vec<(String, Block)> {
    let mut out = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        for block in split(&text).0 {
            if block.info == "yaml supplygate" {
                out.push((file.display().to_string(), block));
            }
        }
    }
    out
}

/// Every key the loader knows is shown in a whole config in the docs, as a key or as a
/// commented-out optional key (`# trusted_root: …`). Names are matched in any section, so this
/// catches a key nobody documented, not a key documented in the wrong place.
#[test]
fn every_config_key_is_shown_in_an_example() {
    let mut shown = BTreeSet::new();
    for (_, block) in config_examples() {
        for line in block.text.lines() {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line);
            if let Some((key, _)) = line.split_once(':') {
                if key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    shown.insert(key.to_owned());
                }
            }
        }
    }
    let mut missing = Vec::new();
    for (section, keys) in supplygate::config::known_keys() {
        for key in keys {
            if !shown.contains(*key) {
                missing.push(if section.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{section}.{key}")
                });
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config keys no `yaml supplygate` example in the docs shows: {missing:?}"
    );
}

#[test]
fn every_shipped_config_loads() {
    let mut configs = vec![
        root().join("fixtures/demo/supplygate.yaml"),
        root().join("fixtures/self/supplygate.yaml"),
    ];
    let mut dirs = vec![root().join("deploy"), root().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "supplygate.yaml") {
                configs.push(path);
            }
        }
    }
    // deploy/webhook, deploy/argocd, deploy/flux, and the two fixtures.
    assert!(configs.len() >= 5, "{configs:?}");
    for path in configs {
        if let Err(e) = Config::load(Some(&path)) {
            panic!("{} does not load: {e:#}", path.display());
        }
    }
}

/// The anchor GitHub gives a heading: lowercase, punctuation other than `-` and `_` dropped,
/// spaces turned into `-`, the link text of `[text](url)` kept.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(start) = rest.find("](") {
        let Some(end) = rest[start..].find(')') else {
            break;
        };
        text.push_str(&rest[..start]);
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a Markdown file defines (GitHub numbers repeated headings `-1`, `-2`…).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, line) in split(markdown).1 {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading.trim());
        let mut candidate = base.clone();
        let mut n = 0;
        while out.contains(&candidate) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
        out.insert(candidate);
    }
    out
}

/// The targets of inline links `[text](target)` on a prose line, outside inline code.
fn link_targets(line: &str) -> Vec<String> {
    let mut outside_code = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            outside_code.push_str(part);
        }
        outside_code.push(' ');
    }
    let mut out = Vec::new();
    let mut rest = outside_code.as_str();
    while let Some(start) = rest.find("](") {
        let tail = &rest[start + 2..];
        let Some(end) = tail.find(')') else {
            break;
        };
        out.push(tail[..end].trim().to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let dir = file.parent().unwrap_or(Path::new(""));
        for (n, line) in split(&text).1 {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let at = format!("{}:{n}: `{target}`", file.display());
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let resolved = if path.is_empty() {
                    file.clone()
                } else {
                    normalise(&dir.join(path))
                };
                if !root().join(&resolved).exists() {
                    failures.push(format!("{at}: no file `{}`", resolved.display()));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if resolved.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let target_text = std::fs::read_to_string(root().join(&resolved)).unwrap();
                if !anchors(&target_text).contains(anchor) {
                    failures.push(format!(
                        "{at}: `{}` has no heading with the anchor `#{anchor}`",
                        resolved.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} relative links found");
}

/// `docs/../src/x` -> `src/x`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_helpers_find_what_they_must() {
    // A bare `yaml` fence, an indented one, and a link inside inline code.
    let md = "# A `b` c\n\n```yaml\nx: 1\n```\n\n- item\n  ```yaml supplygate\n  a: 1\n  ```\n\
              see [x](docs/a.md#a-b-c) and `[no](nope.md)`\n";
    let (blocks, prose) = split(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].info.as_str()), (3, "yaml"));
    assert_eq!(blocks[1].info, "yaml supplygate");
    assert_eq!(blocks[1].text, "a: 1\n");
    let links: Vec<String> = prose.iter().flat_map(|(_, l)| link_targets(l)).collect();
    assert_eq!(links, ["docs/a.md#a-b-c"]);
    assert!(anchors(md).contains("a-b-c"));
    assert_eq!(
        slug("Evidence lock in the cluster: `--lock`"),
        "evidence-lock-in-the-cluster---lock"
    );
    assert_eq!(slug("See [the lock](lock.md) now"), "see-the-lock-now");
    assert_eq!(
        referenced_files("signers:\n  ci:\n    key: keys/c.pub   # a comment\n    # key: x\n"),
        [(KEY_FIXTURE, "keys/c.pub".to_owned())]
    );
    // A config the loader refuses is reported, not silently passed.
    let err = load_example("signers:\n  ci:\n    kye: keys/c.pub\n").unwrap_err();
    assert!(err.contains("unknown key `kye`"), "{err}");
}
