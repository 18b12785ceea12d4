//! Where and how `check` writes its report.

use clap::Args;

use super::{write_stdout, Context, Format};
use crate::report::human::Verbosity;
use crate::report::Report;

/// Report options of `check`.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Report format
    #[arg(long, env = "SUPPLYGATE_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Show only images with findings (human format)
    #[arg(short, long)]
    quiet: bool,
}

impl OutputArgs {
    /// Writes the report to stdout.
    pub(crate) fn emit(&self, ctx: &Context, report: &Report) -> anyhow::Result<()> {
        let verbosity = if self.quiet {
            Verbosity::Problems
        } else {
            Verbosity::All
        };
        write_stdout(&ctx.render(report, self.format, verbosity))
    }
}
