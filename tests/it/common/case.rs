//! Running the binary the way every CLI test does, a scratch directory to run it in, and the
//! snapshot files its output is compared with.
//!
//! [`run_in`] is the one recipe: the binary in a directory, none of the caller's `SUPPLYGATE_*`
//! variables, no Docker credentials, no colour, no GitHub step summary, no stdin. [`Case`] is
//! the fluent scratch directory around it:
//!
//! ```ignore
//! let out = Case::new()
//!     .registry_config(&registry)
//!     .file("app.yaml", &deployment)
//!     .run(&["check", "app.yaml"]);
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{supplygate, Outcome, TestRegistry};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `supplygate <args>` in `dir`: none of this process's `SUPPLYGATE_*` variables, Docker
/// credentials from an empty place, no colour, no GitHub step summary.
pub fn command_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = supplygate();
    cmd.args(args)
        .current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("DOCKER_CONFIG", dir.join(".docker-none"))
        .env("NO_COLOR", "1");
    cmd
}

/// [`command_in`], run to completion with no stdin.
pub fn run_in(dir: &Path, args: &[&str]) -> Outcome {
    run_in_env::<&str>(dir, args, &[])
}

/// [`run_in`] with `env` set (after the defaults, so it can override them).
pub fn run_in_env<V: AsRef<OsStr>>(dir: &Path, args: &[&str], env: &[(&str, V)]) -> Outcome {
    let mut cmd = command_in(dir, args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Outcome::from_output(out)
}

/// `command` run to completion with `text` on its stdin, its output captured.
pub fn output_with_stdin(command: &mut Command, text: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// One run of the binary in a scratch directory with its own files.
pub struct Case {
    dir: tempfile::TempDir,
    stdin: Option<String>,
}

impl Default for Case {
    fn default() -> Self {
        Self::new()
    }
}

impl Case {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            stdin: None,
        }
    }

    /// With `name` (directories made as needed) holding `text`.
    pub fn file(self, name: &str, text: &str) -> Self {
        self.write(name, text);
        self
    }

    /// Writes `name` in place (for a case that is already running).
    pub fn write(&self, name: &str, text: &str) -> &Self {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// With a FIFO (named pipe) at `name`: opening it for reading blocks until a writer
    /// comes, which none will.
    #[cfg(unix)]
    pub fn fifo(self, name: &str) -> Self {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let made = Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(made.success(), "mkfifo {}: {made}", path.display());
        self
    }

    /// A `supplygate.yaml` allowing plain HTTP to the test registry.
    pub fn registry_config(self, registry: &TestRegistry) -> Self {
        self.registry_config_with(registry, "")
    }

    /// [`Case::registry_config`] followed by `extra` (more top-level config).
    pub fn registry_config_with(self, registry: &TestRegistry, extra: &str) -> Self {
        let text = format!(
            "registries:\n  \"{}\":\n    insecure: true\nnetwork:\n  request_timeout: 5s\n  retries: 1\n{extra}",
            registry.host()
        );
        self.file("supplygate.yaml", &text)
    }

    /// `text` on the binary's stdin.
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    /// The binary in the case's directory ([`command_in`]).
    pub fn command(&self, args: &[&str]) -> Command {
        command_in(self.dir.path(), args)
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        let Some(text) = &self.stdin else {
            return run_in(self.dir.path(), args);
        };
        Outcome::from_output(output_with_stdin(&mut self.command(args), text))
    }

    /// [`Case::run`] (no stdin) for a run that might block: one still running after a
    /// minute is killed and the test fails, naming `what` it must not have waited on.
    pub fn run_unblocked(&self, args: &[&str], what: &str) -> Outcome {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if child.try_wait().unwrap().is_some() {
                return Outcome::from_output(child.wait_with_output().unwrap());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child.kill().unwrap();
        let out = Outcome::from_output(child.wait_with_output().unwrap());
        panic!("`supplygate {args:?}` waited on {what}: {out:?}");
    }

    /// `run` with one more environment variable.
    pub fn run_env(&self, args: &[&str], name: &str, value: &str) -> Outcome {
        run_in_env(self.dir.path(), args, &[(name, value)])
    }
}

/// The settings of the report snapshots: `tests/snapshots/<name>.snap`, no module prefix, no
/// expression in the header (the content is the rendered output, exactly).
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(PathBuf::from(ROOT).join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// Compares `actual` with the `insta` snapshot `tests/snapshots/<name>.snap`. A mismatch
/// fails and, outside CI, leaves `<name>.snap.new` beside it to review (`cargo insta
/// review`, or `INSTA_UPDATE=always` to rewrite, then review the diff before committing).
/// insta ignores white space at the very end of a snapshot, so the one property of it that
/// matters, that the output ends its last line, is asserted here.
// Benches include this module too and take no snapshots.
#[allow(unused_macros)]
macro_rules! assert_snapshot {
    ($name:expr, $actual:expr $(,)?) => {{
        let actual: &str = $actual;
        assert!(
            actual.ends_with('\n'),
            "{} does not end its last line",
            $name
        );
        $crate::common::case::snapshot_settings().bind(|| insta::assert_snapshot!($name, actual))
    }};
}
pub(crate) use assert_snapshot;

/// The summary's wall time varies between runs: `…, N registry requests, 1.2s` ends in
/// `<elapsed>` instead.
pub fn mask_elapsed(text: &str) -> String {
    text.lines()
        .map(|l| match l.rfind(", ") {
            Some(i) if l.ends_with('s') && l.contains("registry request") => {
                format!("{}, <elapsed>", &l[..i])
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
