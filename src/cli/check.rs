//! `supplygate check`: the pull-request check and the pre-sync hook.

use std::path::PathBuf;

use clap::Args;

use super::output::OutputArgs;
use super::select::SelectArgs;
use super::{progress_printer, Context};
use crate::gate;
use crate::policy::input::Mode;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Manifest files or directories (searched for .yaml, .yml, .json); `-` reads stdin
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    select: SelectArgs,
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
    let mut manifests = gate::read_manifests(&args.paths, &ctx.config)?;
    args.select.apply(&mut manifests)?;
    let progress = progress_printer();
    let report = ctx.runtime.block_on(gate::evaluate_manifests(
        manifests,
        &ctx.config,
        &ctx.registry,
        &policy,
        &progress,
    ));
    args.output.emit(ctx, &report)?;
    Ok(report.decision().exit_code())
}
