//! `supplygate check`: the pull-request check and the pre-sync hook.

use std::path::PathBuf;

use clap::Args;

use super::{progress_printer, write_stdout, Context, Format};
use crate::gate;
use crate::policy::input::Mode;
use crate::report::human::Verbosity;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Manifest files or directories (searched for .yaml, .yml, .json); `-` reads stdin
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Report format
    #[arg(long, env = "SUPPLYGATE_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Show only images with findings (human format)
    #[arg(short, long)]
    quiet: bool,
    /// Where this runs; policies see it as `input.mode`
    #[arg(long, env = "SUPPLYGATE_MODE", value_enum, default_value_t = RunMode::Check)]
    mode: RunMode,
}

/// `input.mode` for `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RunMode {
    /// Pull-request check
    Check,
    /// Argo CD / Flux pre-sync hook
    Presync,
}

pub(crate) fn run(ctx: &Context, args: CheckArgs) -> anyhow::Result<u8> {
    let mode = match args.mode {
        RunMode::Check => Mode::Check,
        RunMode::Presync => Mode::Presync,
    };
    let policy = ctx.policy(mode)?;
    let progress = progress_printer();
    let report = ctx.runtime.block_on(gate::evaluate(
        &args.paths,
        &ctx.config,
        &ctx.registry,
        &policy,
        &progress,
    ))?;
    let verbosity = if args.quiet {
        Verbosity::Problems
    } else {
        Verbosity::All
    };
    write_stdout(&ctx.render(&report, args.format, verbosity))?;
    Ok(report.decision().exit_code())
}
