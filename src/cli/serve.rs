//! `supplygate serve`: the admission webhook.

use clap::Args;

use super::Context;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {}

pub(crate) fn run(_ctx: &Context, _args: ServeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`serve` is not built yet")
}
