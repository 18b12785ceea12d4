//! The one way supplygate runs the `git` binary: for source linkage in a local clone
//! ([`crate::provenance::git`]) and for `check --changed-since` ([`crate::manifest::changed`]).
//!
//! Hardened the same way for both: no system or global config, no hooks, no fsmonitor, no
//! untracked cache, no replace refs, literal pathspecs, no prompts, no lazy fetches, the
//! caller's `GIT_*` repository variables removed, a timeout per command, and standard output
//! read up to a bound (the rest is drained and reported as truncated, so that a caller can
//! refuse a partial answer). Every pipe is read on a thread, so a full pipe never blocks the
//! child or this process.

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one `git` command may run.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which repositories `git -C dir` may find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery<'a> {
    /// Work trees only (`safe.bareRepository=explicit`): a directory committed to look like a
    /// git dir is never a repository.
    WorkTreeOnly,
    /// Any repository at `dir` (a bare mirror clone too), but none above `ceiling`: a clone
    /// path inside some other checkout is not answered from that checkout.
    AnyBelow {
        /// `GIT_CEILING_DIRECTORIES`.
        ceiling: &'a Path,
    },
}

/// How a command is run.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Which repositories may be found.
    pub discovery: Discovery<'a>,
    /// The most bytes of standard output read.
    pub output_max: u64,
    /// Written to the command's standard input (else it reads nothing).
    pub input: Option<&'a [u8]>,
}

/// What a finished command said.
#[derive(Debug)]
pub struct Output {
    /// Exit status 0.
    pub success: bool,
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The exit status, for messages.
    pub status: String,
    /// Standard output, up to [`Options::output_max`] bytes.
    pub stdout: Vec<u8>,
    /// Standard output was longer than the bound and is cut.
    pub truncated: bool,
    /// The first line of standard error, trimmed.
    pub stderr: String,
}

impl Output {
    /// Standard output as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Why a command did not finish, or failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `git` could not be started (or waited for).
    #[error("cannot run `git` (is git installed?)")]
    Spawn {
        /// The I/O error.
        #[source]
        cause: std::io::Error,
    },
    /// It ran longer than [`GIT_TIMEOUT`].
    #[error("`git {command}` took longer than {}s", GIT_TIMEOUT.as_secs())]
    Timeout {
        /// The git subcommand.
        command: String,
    },
    /// It exited unsuccessfully where success was needed ([`RunError::failed`]).
    #[error("`git {command}` failed with {status}: {stderr}")]
    Failed {
        /// The git subcommand.
        command: String,
        /// Its exit status.
        status: String,
        /// What it said (first line).
        stderr: String,
    },
}

impl RunError {
    /// `command` finished with `out`, which the caller cannot use.
    pub fn failed(out: Output, command: &str) -> Self {
        Self::Failed {
            command: command.to_owned(),
            status: out.status,
            stderr: out.stderr,
        }
    }
}

/// Runs `git -C dir <args>`, hardened as the module says.
pub fn run<S: AsRef<OsStr>>(
    dir: &Path,
    args: &[S],
    options: Options<'_>,
) -> Result<Output, RunError> {
    let mut command = Command::new("git");
    command
        .args(["--no-replace-objects", "--literal-pathspecs"])
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.untrackedCache=false",
        ]);
    match options.discovery {
        Discovery::WorkTreeOnly => {
            command.args(["-c", "safe.bareRepository=explicit"]);
        }
        Discovery::AnyBelow { ceiling } => {
            command.env("GIT_CEILING_DIRECTORIES", ceiling);
        }
    }
    let mut child = command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_NO_LAZY_FETCH", "1")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_NAMESPACE")
        .env_remove("GIT_EXTERNAL_DIFF")
        .stdin(if options.input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|cause| RunError::Spawn { cause })?;
    let writer = match (child.stdin.take(), options.input) {
        (Some(mut stdin), Some(input)) => {
            let input = input.to_vec();
            Some(std::thread::spawn(move || {
                // git stops reading only when it fails, which its status says.
                let _ = stdin.write_all(&input);
            }))
        }
        _ => None,
    };
    let stdout = child
        .stdout
        .take()
        .map(|pipe| reader(pipe, options.output_max));
    // Only the first line of standard error is kept; a bound keeps a chatty git cheap.
    let stderr = child.stderr.take().map(|pipe| reader(pipe, 64 * 1024));
    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout {
                    command: args
                        .first()
                        .map(|a| a.as_ref().to_string_lossy().into_owned())
                        .unwrap_or_default(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(cause) => return Err(RunError::Spawn { cause }),
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let collect =
        |h: Option<JoinHandle<(Vec<u8>, bool)>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    let (stderr, _) = collect(stderr);
    let stderr = String::from_utf8_lossy(&stderr);
    let (stdout, truncated) = collect(stdout);
    Ok(Output {
        success: status.success(),
        code: status.code(),
        status: status.to_string(),
        stdout,
        truncated,
        stderr: stderr.lines().next().unwrap_or_default().trim().to_owned(),
    })
}

/// Reads at most `max` bytes and drains the rest; the flag says whether anything was dropped.
fn reader<R: std::io::Read + Send + 'static>(mut pipe: R, max: u64) -> JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut pipe).take(max).read_to_end(&mut bytes);
        let dropped = std::io::copy(&mut pipe, &mut std::io::sink()).unwrap_or(0);
        (bytes, dropped > 0)
    })
}
