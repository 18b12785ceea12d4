//! `supplygate policy test [PATH]...`: runs every `test_*` rule of the policies, like `opa test`.

use std::path::PathBuf;

use clap::Args;

use super::{write_stdout, Format};
use crate::policy::{self, Durations, TestFiles, TestOptions};

/// Arguments of `policy test`.
#[derive(Debug, Args)]
pub(crate) struct PolicyTestArgs {
    /// Policy files or directories (with their `*_test.rego`) [default: policies]
    #[arg(value_name = "PATH", default_value = "policies")]
    paths: Vec<PathBuf>,
    /// Load the library shipped in the binary too (to test your rules against it)
    #[arg(long, env = "SUPPLYGATE_POLICY_TEST_WITH_BUILTIN")]
    with_builtin: bool,
    /// Print a coverage summary
    #[arg(long, env = "SUPPLYGATE_POLICY_TEST_COVERAGE")]
    coverage: bool,
    /// Only tests whose name contains this
    #[arg(long, env = "SUPPLYGATE_POLICY_TEST_RUN", value_name = "TEXT")]
    run: Option<String>,
    /// Output format
    #[arg(long, env = "SUPPLYGATE_POLICY_TEST_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub(crate) fn run(args: PolicyTestArgs) -> anyhow::Result<u8> {
    let mut loader = policy::Loader::new(policy::Limits::default());
    if args.with_builtin {
        loader.embedded(policy::shipped::MODULES);
    }
    for path in &args.paths {
        loader.path(path, TestFiles::Include);
    }
    let engine = loader
        .load()
        .map_err(|e| anyhow::anyhow!("cannot load the policies:\n{e}"))?;
    let report = policy::run_tests(
        &engine,
        &TestOptions {
            coverage: args.coverage,
            filter: args.run,
        },
    );
    let text = match args.format {
        Format::Human => report.render(Durations::Show),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    write_stdout(&text)?;
    Ok(if report.is_success() { 0 } else { 1 })
}
