//! Stage (5): Rego policy decisions. Loads a policy library once, then evaluates it against
//! one input document at a time and collects its `deny` and `warn` sets into a [`Decision`].
//!
//! The engine is [regorus](https://github.com/microsoft/regorus), an in-process Rego
//! interpreter. Rego v1 syntax.
//!
//! # Which rules decide
//!
//! Every package at or under [`PACKAGE_PREFIX`] (`data.supplygate`, `data.supplygate.images`,
//! ...) that declares a rule named `deny` or `warn` contributes. The packages are found at load
//! time from the modules' rule heads, so a package needs no registration; each package's
//! `deny` and `warn` is then evaluated on its own (`data.supplygate.images.deny`), which
//! attributes every message to its package and keeps one package's error from hiding the
//! others' findings. Packages outside the prefix are libraries: they are evaluated only when a
//! deciding package refers to them. Test modules (`*_test.rego`) are left out of a gate load
//! ([`TestFiles::Exclude`]).
//!
//! `deny` and `warn` must be sets (`deny contains msg if { ... }`). Each entry is either a
//! string (the message) or an object `{"msg": ..., "code": ..., "hint": ...}` where only `msg`
//! is required and every value is a string; any other key is refused, so that a misspelt
//! `hnit` does not silently lose a hint.
//!
//! # Failing closed
//!
//! A [`Decision`] with a non-empty [`Decision::errors`] denies: evaluation errors (a builtin
//! given a wrong type, with strict builtin errors on; a conflict between rule values), a
//! malformed `deny`/`warn` entry and the evaluation time limit all end up there, with regorus'
//! own message (which carries the policy file, line and column).
//!
//! # Limits
//!
//! [`Limits`] bounds the size of each module, the number of modules, the size of each data
//! document and the evaluation time per input. The time limit is regorus' cooperative
//! execution timer, shared by all packages of one evaluation: regorus checks it between
//! evaluation steps, so one builtin call is not interrupted (builtins are bounded by their
//! arguments, which the same limit bounds).
//!
//! # Load-time checks
//!
//! Parse errors, calls to functions that are neither builtins (of the regorus build we use)
//! nor defined in the library, calls with the wrong number of arguments and the analyser's
//! errors (unsafe variables, recursion) are all reported when the library is loaded, each with
//! its file, line and column, not when an input first reaches them.
//!
//! # Cargo features of regorus
//!
//! Enabled: `std`, `arc` (a shareable, `Send + Sync` engine), `base64`, `base64url`, `hex`
//! (digests and payloads), `regex`, `glob`, `graph` (`walk`), `semver`, `coverage` (the test
//! runner), `cache` (compiled regexes and globs are reused across inputs). Left out: `rvm` (a
//! second evaluator we do not use), `http` (no network from policies), `time` (no shipped or
//! example policy reads a clock or parses a date: policies compare `input.now`, an RFC 3339
//! UTC string, and a decision must not depend on when it is evaluated; leaving it out drops
//! chrono-tz and 11 other crates from the build), `net`, `uuid`, `urlquery`, `jsonschema`,
//! `jsonpatch`, `yaml` and `opa-runtime`; a policy calling one of their builtins is refused at
//! load time.

mod engine;
pub mod facts;
mod test_runner;

use std::path::PathBuf;
use std::time::Duration;

pub use engine::{Engine, Loader};
pub mod input;
pub mod shipped;
pub use test_runner::{
    run_tests, CoverageSummary, Durations, FileCoverage, TestOptions, TestOutcome, TestReport,
    TestResult,
};

/// The package prefix under which `deny` and `warn` rules decide: `data.supplygate`.
pub const PACKAGE_PREFIX: &str = "supplygate";

/// Bounds on what a policy library may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted module, in bytes.
    pub max_module_bytes: usize,
    /// Most modules in one library.
    pub max_modules: usize,
    /// Largest accepted data document, in bytes.
    pub max_data_bytes: usize,
    /// Longest evaluation of one input (all packages together) or of one test rule.
    pub eval_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_module_bytes: 512 * 1024,
            max_modules: 1000,
            max_data_bytes: 16 * 1024 * 1024,
            eval_timeout: Duration::from_secs(5),
        }
    }
}

/// Whether loading a directory picks up `*_test.rego` modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFiles {
    /// Load them (for the test runner).
    Include,
    /// Skip them (for the gate).
    Exclude,
}

/// One entry of a `deny` or `warn` set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Violation {
    /// The entry's `code`, when it is an object that has one (a stable kebab-case code).
    pub code: Option<String>,
    /// The message.
    pub msg: String,
    /// The entry's `hint`, when it has one.
    pub hint: Option<String>,
    /// What the rule expected, when the entry says.
    pub expected: Option<String>,
    /// What was found instead, when the entry says.
    pub found: Option<String>,
    /// The package whose rule produced it, e.g. `data.supplygate.images`.
    pub package: String,
}

/// What the policy library decided for one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// Entries of every `deny` set, by package then entry.
    pub denies: Vec<Violation>,
    /// Entries of every `warn` set, by package then entry.
    pub warns: Vec<Violation>,
    /// Why (part of) the policy could not be evaluated; each one denies.
    pub errors: Vec<String>,
}

impl Decision {
    /// True when nothing denies: no `deny` entry and no error.
    pub fn is_allowed(&self) -> bool {
        self.denies.is_empty() && self.errors.is_empty()
    }
}

/// A problem found while loading a policy library.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file or directory could not be read.
    #[error("could not read `{}`", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A module is larger than [`Limits::max_module_bytes`].
    #[error(
        "policy module `{name}` is {bytes} bytes, over the limit of {limit} bytes \
         (hint: split it into several modules)"
    )]
    ModuleTooLarge {
        /// The module's name (its path).
        name: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// More modules than [`Limits::max_modules`].
    #[error("the policy library has more than {limit} modules")]
    TooManyModules {
        /// The limit.
        limit: usize,
    },
    /// A data document is larger than [`Limits::max_data_bytes`].
    #[error("data document `{name}` is {bytes} bytes, over the limit of {limit} bytes")]
    DataTooLarge {
        /// The document's name (its path).
        name: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A data document is not valid JSON or YAML, or conflicts with another one.
    #[error("data document `{name}`: {message}")]
    Data {
        /// The document's name (its path).
        name: String,
        /// What is wrong, with its position where the parser gives one.
        message: String,
    },
    /// regorus refused a module or the library: a syntax error, an unsafe variable, a
    /// recursion, a conflicting definition. The message is regorus' own, with the file,
    /// line, column and the offending line.
    #[error("{message}")]
    Rego {
        /// The pre-rendered message.
        message: String,
    },
    /// A call to a function that is neither a builtin nor defined in the library.
    #[error(
        "{file}:{line}:{column}: unknown function `{function}`{}",
        hint_suffix(hint)
    )]
    UnknownFunction {
        /// The module's name.
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// The function as called.
        function: String,
        /// A likely fix.
        hint: Option<String>,
    },
    /// A call with a number of arguments that the function does not take.
    #[error(
        "{file}:{line}:{column}: function `{function}` takes {expected} argument{}, \
         called with {actual}",
        if *expected == 1 { "" } else { "s" }
    )]
    WrongArity {
        /// The module's name.
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// The function as called.
        function: String,
        /// How many arguments it takes.
        expected: usize,
        /// How many it was given.
        actual: usize,
    },
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default()
}

/// Every problem found while loading a policy library (at least one).
#[derive(Debug, thiserror::Error)]
#[error("{}", render_all(.0))]
pub struct LoadErrors(pub Vec<PolicyError>);

fn render_all(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(|e| {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                s.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}
