//! `check --changed-since REV` in a real git repository built by the test (two commits plus
//! work-tree changes), against a real docker-registry: only changed documents are evaluated,
//! the rest are counted, and every way of not being able to compare is exit 2.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::Outcome;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::TestRegistry;

impl Outcome {
    /// `(file, line, decision)` of every evaluated image.
    fn evaluated(&self) -> Vec<(String, u64, String)> {
        self.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["file"].as_str().unwrap().to_owned(),
                    i["line"].as_u64().unwrap(),
                    i["decision"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// A git work tree with a config for the test registry.
struct Repo {
    dir: tempfile::TempDir,
    host: String,
}

impl Repo {
    fn new(registry: &TestRegistry) -> Self {
        let repo = Self {
            dir: tempfile::tempdir().unwrap(),
            host: registry.host(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write(
            "supplygate.yaml",
            &format!(
                "registries:\n  \"{}\":\n    insecure: true\nnetwork:\n  request_timeout: 5s\n  retries: 1\n",
                repo.host
            ),
        );
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// A Deployment named `name` running `repo:tag` of the test registry.
    fn deployment(&self, name: &str, image: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: {}/{image}\n",
            self.host
        )
    }

    fn run_in(&self, dir: &Path, args: &[&str]) -> Outcome {
        self.run_with(dir, args, &[])
    }

    fn run_with(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let out = common::supplygate()
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env("DOCKER_CONFIG", self.path().join(".docker-none"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Outcome::from_output(out)
    }

    fn run(&self, args: &[&str]) -> Outcome {
        self.run_in(self.path(), args)
    }

    /// `check PATH --changed-since REV --format json` from the top of the repository.
    fn changed_since(&self, path: &str, rev: &str) -> Outcome {
        self.run(&["check", path, "--changed-since", rev, "--format", "json"])
    }

    fn link(&self, target: &str, name: &str) {
        std::os::unix::fs::symlink(target, self.path().join(name)).unwrap();
    }
}

/// `(file, decision)` of every evaluated image, and the count of unchanged documents.
fn decided(out: &Outcome) -> (Vec<(String, String)>, u64) {
    let images = out
        .evaluated()
        .into_iter()
        .map(|(file, _, decision)| (file, decision))
        .collect();
    let unchanged = out.json()["summary"]["unchanged_documents"]
        .as_u64()
        .unwrap();
    (images, unchanged)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(f, d)| ((*f).to_owned(), (*d).to_owned()))
        .collect()
}

/// Commit 1: `a.yaml` (three documents), `b.yaml`, `c.yaml`; all images but `a2` missing from
/// the registry, so each of them is denied whenever it is evaluated.
/// Commit 2: in `a.yaml` the third document moved to the top and `a2` now runs `app:v2`,
/// trailing blanks and CRLF on `a1`; `c.yaml` renamed (`git mv`) unchanged; `d.yaml` added.
/// Work tree: `e.yaml` created and not added.
fn two_commits(registry: &TestRegistry) -> (Repo, String, String) {
    registry.push_generated("team/app:v1", 1);
    registry.push_generated("team/app:v2", 2);
    let repo = Repo::new(registry);
    let a1 = repo.deployment("a1", "team/missing:a1");
    let a2 = repo.deployment("a2", "team/app:v1");
    let a3 = repo.deployment("a3", "team/missing:a3");
    repo.write(
        "apps/a.yaml",
        &format!("# app a\n---\n{a1}---\n{a2}---\n{a3}"),
    );
    repo.write("apps/b.yaml", &repo.deployment("b", "team/missing:b"));
    repo.write("apps/c.yaml", &repo.deployment("c", "team/missing:c"));
    let first = repo.commit("first");

    let a1_crlf = a1.replace('\n', "  \r\n");
    let a2_new = repo.deployment("a2", "team/app:v2");
    repo.write(
        "apps/a.yaml",
        &format!("# app a\n---\n{a3}---\n{a1_crlf}---\n{a2_new}"),
    );
    std::fs::create_dir_all(repo.path().join("apps/moved")).unwrap();
    repo.git(&["mv", "apps/c.yaml", "apps/moved/c.yaml"]);
    repo.write("apps/d.yaml", &repo.deployment("d", "team/app:v1"));
    let second = repo.commit("second");

    repo.write("apps/e.yaml", &repo.deployment("e", "team/app:v1"));
    (repo, first, second)
}

#[test]
fn evaluates_only_documents_changed_since_the_revision() {
    let registry = TestRegistry::start();
    let (repo, first, _) = two_commits(&registry);

    // Control: without --changed-since every missing image is denied.
    let all = repo.run(&["check", "apps", "--format", "json"]);
    assert_eq!(all.code, 1, "{all:?}");
    assert_eq!(all.evaluated().len(), 7, "{all:?}");
    assert_eq!(all.json()["summary"]["unchanged_documents"], 0);

    let out = repo.run(&[
        "check",
        "apps",
        "--changed-since",
        &first,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "unchanged denials are not evaluated: {out:?}");
    assert_eq!(
        out.evaluated(),
        [
            ("apps/a.yaml".to_owned(), 34, "allow".to_owned()),
            ("apps/d.yaml".to_owned(), 10, "allow".to_owned()),
            ("apps/e.yaml".to_owned(), 10, "allow".to_owned()),
        ]
    );
    // a1 (whitespace and CRLF only) and a3 (moved) in a.yaml, b.yaml, the renamed c.yaml.
    assert_eq!(out.json()["summary"]["unchanged_documents"], 4, "{out:?}");

    let human = repo.run(&["check", "apps", "--changed-since", &first]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human
            .stdout
            .contains("3 images, 3 allowed, 4 unchanged documents not evaluated;"),
        "{human:?}"
    );
}

#[test]
fn a_branch_name_and_work_tree_edits_are_compared_too() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    // Against HEAD only the untracked file is new.
    let out = repo.run(&[
        "check",
        "apps",
        "--changed-since",
        "main",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.evaluated(),
        [("apps/e.yaml".to_owned(), 10, "allow".to_owned())]
    );
    assert_eq!(out.json()["summary"]["unchanged_documents"], 6);

    // An uncommitted edit of one document: that document is evaluated (and denied).
    let edited = repo.deployment("b", "team/missing:b2");
    repo.write("apps/b.yaml", &edited);
    let out = repo.run(&[
        "check",
        "apps",
        "--changed-since",
        "HEAD",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.evaluated(),
        [
            ("apps/b.yaml".to_owned(), 10, "deny".to_owned()),
            ("apps/e.yaml".to_owned(), 10, "allow".to_owned()),
        ]
    );
    assert_eq!(out.json()["summary"]["unchanged_documents"], 5);

    // Run from a subdirectory, with a path into it: the repository is found all the same.
    let sub = repo.path().join("apps");
    let config = repo.path().join("supplygate.yaml");
    let out = repo.run_in(
        &sub,
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            ".",
            "--changed-since",
            "HEAD~1",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["summary"]["unchanged_documents"], 3, "{out:?}");
}

#[test]
fn unreadable_files_are_reported_whether_or_not_they_changed() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    repo.write(
        "apps/broken.yaml",
        "apiVersion: v1\nkind: Pod\nspec: [unclosed\n",
    );
    repo.commit("broken");
    let out = repo.run(&[
        "check",
        "apps",
        "--changed-since",
        "HEAD",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    let json = out.json();
    assert_eq!(json["errors"][0]["file"], "apps/broken.yaml");
    assert_eq!(json["errors"][0]["code"], "invalid-manifest");
    assert!(out.evaluated().is_empty(), "{out:?}");
}

#[test]
fn a_revision_that_is_not_a_commit_is_exit_2() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    let out = repo.run(&["check", "apps", "--changed-since", "no-such-branch"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("--changed-since: revision `no-such-branch` is not a commit"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("fetch-depth: 0"),
        "a hint for CI: {out:?}"
    );
    assert!(out.stdout.is_empty(), "no report: {out:?}");

    let out = repo.run(&["check", "apps", "--changed-since=--output=/tmp/x"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("starts with `-`"), "{out:?}");
}

#[test]
fn outside_a_git_work_tree_is_exit_2() {
    let registry = TestRegistry::start();
    let plain = tempfile::tempdir().unwrap();
    let repo = Repo::new(&registry);
    std::fs::write(
        plain.path().join("x.yaml"),
        repo.deployment("x", "team/app:v1"),
    )
    .unwrap();
    let config = repo.path().join("supplygate.yaml");
    let out = repo.run_in(
        plain.path(),
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "x.yaml",
            "--changed-since",
            "HEAD",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("is not in a git work tree"), "{out:?}");
}

#[test]
fn a_manifest_outside_the_repository_or_on_stdin_is_exit_2() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    let other = tempfile::tempdir().unwrap();
    let outside: PathBuf = other.path().join("x.yaml");
    std::fs::write(&outside, repo.deployment("x", "team/app:v1")).unwrap();
    let out = repo.run(&[
        "check",
        "apps",
        outside.to_str().unwrap(),
        "--changed-since",
        "HEAD",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("is outside the git work tree"),
        "{out:?}"
    );

    let out = repo.run(&["check", "-", "--changed-since", "HEAD"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("`<stdin>` is not a file"), "{out:?}");
}

/// The reviewer's attack: a directory committed to look like a git dir (`HEAD`, `objects/`,
/// `refs/`, a config with `worktree = ..`) made the first manifest's folder the "repository",
/// and every path then missed git's change list.
#[test]
fn a_directory_made_to_look_like_a_git_dir_does_not_move_the_repository() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 1);
    let repo = Repo::new(&registry);
    repo.write("deploy/ok.yaml", &repo.deployment("ok", "team/app:v1"));
    let base = repo.commit("base");

    repo.write("deploy/0/HEAD", "ref: refs/heads/main\n");
    repo.write("deploy/0/objects/keep", "");
    repo.write("deploy/0/refs/keep", "");
    repo.write(
        "deploy/0/config",
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = ..\n",
    );
    repo.write("deploy/0/a.yaml", "# nothing\n");
    repo.write(
        "deploy/evil.yaml",
        &repo.deployment("evil", "team/missing:evil"),
    );
    repo.write("deploy/ok.yaml", &repo.deployment("ok", "team/missing:ok"));
    repo.commit("pull request");
    // The attack is real: git with default settings takes `deploy/` for a work tree.
    let fake = Command::new("git")
        .arg("-C")
        .arg(repo.path().join("deploy/0"))
        .args(["rev-parse", "--show-toplevel"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&fake.stdout)
            .trim()
            .ends_with("/deploy"),
        "{fake:?}"
    );

    let out = repo.changed_since("deploy", &base);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        decided(&out),
        (
            pairs(&[("deploy/evil.yaml", "deny"), ("deploy/ok.yaml", "deny")]),
            0
        ),
        "{out:?}"
    );

    // Run from inside the fake git dir: no repository at all, exit 2 and no report.
    let config = repo.path().join("supplygate.yaml");
    let out = repo.run_in(
        &repo.path().join("deploy/0"),
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "..",
            "--changed-since",
            &base,
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// `.gitattributes` filters and index flags make git list no change while the bytes differ:
/// the text read is compared with the revision's blob itself.
#[test]
fn attributes_and_index_flags_do_not_hide_an_edit() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 1);
    let repo = Repo::new(&registry);
    let host = registry.host();
    repo.write(
        "deploy/ident.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: ok}}\nspec:\n  containers: [{{name: x, image: {host}/team/app:v1, env: [{{name: REV, value: \"$Id$\"}}]}}]\n"
        ),
    );
    repo.write("deploy/assumed.yaml", &repo.deployment("a", "team/app:v1"));
    repo.write("deploy/skipped.yaml", &repo.deployment("s", "team/app:v1"));
    repo.commit("base");

    // `ident` collapses `$Id: … $` on a line: a second container hides between the two.
    repo.write(
        "deploy/ident.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: ok}}\nspec:\n  containers: [{{name: x, image: {host}/team/app:v1, env: [{{name: REV, value: \"$Id: \"}}]}}, {{name: y, image: {host}/team/missing:ident, env: [{{name: Z, value: \" $\"}}]}}]\n"
        ),
    );
    repo.write(".gitattributes", "*.yaml ident\n");
    repo.write(
        "deploy/assumed.yaml",
        &repo.deployment("a", "team/missing:assumed"),
    );
    repo.git(&["update-index", "--assume-unchanged", "deploy/assumed.yaml"]);
    repo.write(
        "deploy/skipped.yaml",
        &repo.deployment("s", "team/missing:skipped"),
    );
    repo.git(&["update-index", "--skip-worktree", "deploy/skipped.yaml"]);
    // The attack is real: git lists none of the three files as changed.
    assert_eq!(
        repo.git(&["diff", "--name-only", "main", "--", "deploy"]),
        ""
    );

    let out = repo.changed_since("deploy", "main");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        decided(&out),
        (
            pairs(&[
                ("deploy/assumed.yaml", "deny"),
                ("deploy/ident.yaml", "allow"),
                ("deploy/ident.yaml", "deny"),
                ("deploy/skipped.yaml", "deny"),
            ]),
            0
        ),
        "{out:?}"
    );
}

/// A link is followed when the file is read, so the path says nothing about the text: a
/// manifest reached through a link (the file or a directory above it) is new.
#[test]
fn a_manifest_reached_through_a_link_is_new() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 1);
    let repo = Repo::new(&registry);
    repo.write("deploy/ok.yaml", &repo.deployment("ok", "team/app:v1"));
    repo.write(
        "examples/evil.yaml",
        &repo.deployment("evil", "team/missing:evil"),
    );
    repo.commit("base");

    // An untracked link to a tracked file that did not change.
    repo.link("../examples/evil.yaml", "deploy/evil.yaml");
    let expected = (
        pairs(&[("deploy/evil.yaml", "deny")]),
        1, // deploy/ok.yaml
    );
    let out = repo.changed_since("deploy", "main");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(decided(&out), expected, "{out:?}");

    // Committed: new since the base, and still new against the commit that added it.
    repo.commit("link");
    for rev in ["HEAD~1", "HEAD"] {
        let out = repo.changed_since("deploy", rev);
        assert_eq!(out.code, 1, "{rev}: {out:?}");
        assert_eq!(decided(&out), expected, "{rev}: {out:?}");
    }

    // The checked directory itself replaced by a link to a directory nobody checked.
    repo.git(&["rm", "-q", "-r", "deploy"]);
    repo.link("examples", "deploy");
    let out = repo.changed_since("deploy", "HEAD");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        decided(&out),
        (pairs(&[("deploy/evil.yaml", "deny")]), 0),
        "{out:?}"
    );
}

/// A rename is followed only from a file the same check read at the revision: under a checked
/// path, not hidden, with a manifest extension.
#[test]
fn a_rename_from_a_path_the_check_did_not_read_is_new() {
    let registry = TestRegistry::start();
    registry.push_generated("team/app:v1", 1);
    let repo = Repo::new(&registry);
    repo.write("deploy/ok.yaml", &repo.deployment("ok", "team/app:v1"));
    repo.write(
        "examples/evil.yaml",
        &repo.deployment("evil", "team/missing:evil"),
    );
    repo.write(
        "deploy/.drafts/hidden.yaml",
        &repo.deployment("hidden", "team/missing:hidden"),
    );
    repo.write(
        "deploy/notes.txt",
        &repo.deployment("notes", "team/missing:notes"),
    );
    repo.commit("base");

    repo.git(&["mv", "examples/evil.yaml", "deploy/evil.yaml"]);
    repo.git(&["mv", "deploy/.drafts/hidden.yaml", "deploy/hidden.yaml"]);
    repo.git(&["mv", "deploy/notes.txt", "deploy/notes.yaml"]);
    std::fs::create_dir_all(repo.path().join("deploy/moved")).unwrap();
    repo.git(&["mv", "deploy/ok.yaml", "deploy/moved/ok.yaml"]);
    // The attack is real: git pairs every one of them as a rename.
    let status = repo.git(&["diff", "--name-status", "-M", "main"]);
    assert_eq!(status.matches("R100").count(), 4, "{status}");

    let out = repo.changed_since("deploy", "main");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        decided(&out),
        (
            pairs(&[
                ("deploy/evil.yaml", "deny"),
                ("deploy/hidden.yaml", "deny"),
                ("deploy/notes.yaml", "deny"),
            ]),
            1 // deploy/moved/ok.yaml, renamed within deploy/
        ),
        "{out:?}"
    );

    // Named files: a rename from a file that is not named is not followed either.
    let out = repo.run(&[
        "check",
        "deploy/moved/ok.yaml",
        "deploy/evil.yaml",
        "--changed-since",
        "main",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        decided(&out),
        (
            pairs(&[
                ("deploy/evil.yaml", "deny"),
                ("deploy/moved/ok.yaml", "allow")
            ]),
            0
        ),
        "{out:?}"
    );
}

/// A lock covers every image: it cannot be written or checked with documents set aside,
/// whether `--changed-since` comes as a flag or from the environment.
/// With every document unchanged nothing is evaluated: every format says so, rather than "no
/// image found".
#[test]
fn all_documents_unchanged_say_they_were_not_evaluated_in_every_format() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    repo.commit("everything");
    let json = repo.changed_since("apps", "HEAD");
    assert_eq!(json.code, 0, "{json:?}");
    let unchanged = json.json()["summary"]["unchanged_documents"]
        .as_u64()
        .unwrap();
    assert!(unchanged > 0, "{json:?}");
    let note = format!("{unchanged} unchanged documents were not evaluated (`--changed-since`)");
    let notes = json.json()["notes"].clone();
    assert!(
        notes.as_array().unwrap().contains(&note.clone().into()),
        "{notes}"
    );
    assert!(!json.stdout.contains("no image found"), "{json:?}");
    for format in ["sarif", "github"] {
        let out = repo.run(&[
            "check",
            "apps",
            "--changed-since",
            "HEAD",
            "--format",
            format,
        ]);
        assert_eq!(out.code, 0, "{format}: {out:?}");
        assert!(out.stdout.contains(&note), "{format}: {out:?}");
        assert!(!out.stdout.contains("no image found"), "{format}: {out:?}");
    }
    for format in ["human", "markdown"] {
        let out = repo.run(&[
            "check",
            "apps",
            "--changed-since",
            "HEAD",
            "--format",
            format,
        ]);
        assert_eq!(out.code, 0, "{format}: {out:?}");
        let counted = format!("{unchanged} unchanged documents not evaluated");
        assert!(out.stdout.contains(&counted), "{format}: {out:?}");
        assert!(!out.stdout.contains("no image found"), "{format}: {out:?}");
    }
}

/// A pre-sync hook admits what it does not check: `--changed-since` is refused there, from the
/// flag or the environment.
#[test]
fn presync_mode_refuses_changed_since() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    let out = repo.run(&[
        "check",
        "apps",
        "--mode",
        "presync",
        "--changed-since",
        "HEAD",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--mode presync checks every document"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    let out = repo.run_with(
        repo.path(),
        &["check", "apps", "--mode", "presync", "--format", "json"],
        &[("SUPPLYGATE_CHANGED_SINCE", "HEAD")],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("SUPPLYGATE_CHANGED_SINCE"), "{out:?}");
}

#[test]
fn changed_since_conflicts_with_locks() {
    let registry = TestRegistry::start();
    let (repo, _, _) = two_commits(&registry);
    let lock = repo.path().join("images.lock");
    let lock = lock.to_str().unwrap();
    for args in [
        ["--changed-since", "HEAD", "--locked", lock],
        ["--changed-since", "HEAD", "--write-lock", lock],
    ] {
        let mut all = vec!["check", "apps"];
        all.extend(args);
        let out = repo.run(&all);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("cannot be used with"), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
    for flag in ["--locked", "--write-lock"] {
        let out = repo.run_with(
            repo.path(),
            &["check", "apps", flag, lock],
            &[("SUPPLYGATE_CHANGED_SINCE", "HEAD")],
        );
        assert_eq!(out.code, 2, "{flag}: {out:?}");
        assert!(out.stderr.contains("cannot be used with"), "{out:?}");
    }
    assert!(!Path::new(lock).exists(), "no lock written");
}
