//! `supplygate completion SHELL` and `supplygate man`: shell completions and man pages,
//! generated from the clap definitions so that they never drift from the flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::write_stdout;

/// Arguments of `completion`.
#[derive(Debug, Args)]
pub(crate) struct CompletionArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The page of this subcommand (`check`, `policy test`) [default: supplygate(1)]
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    subcommand: Vec<String>,
    /// Write every page (supplygate.1, supplygate-check.1, …) into DIR instead
    #[arg(long, env = "SUPPLYGATE_MAN_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn completion(args: &CompletionArgs) -> anyhow::Result<u8> {
    let mut cmd = super::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "supplygate", &mut script);
    write_stdout(&String::from_utf8_lossy(&script))?;
    Ok(0)
}

pub(crate) fn man(args: &ManArgs) -> anyhow::Result<u8> {
    let mut cmd = super::command();
    cmd.build();
    if let Some(dir) = &args.dir {
        write_all(&cmd, dir)?;
        return Ok(0);
    }
    // `build` gave each subcommand its display name (`supplygate-policy-test`), which names
    // its page, as with clap_mangen's `generate_to`.
    let mut page = cmd;
    for name in &args.subcommand {
        let parent = page.get_name().to_owned();
        let Some(sub) = page.find_subcommand(name).cloned() else {
            let known: Vec<&str> = page.get_subcommands().map(|c| c.get_name()).collect();
            anyhow::bail!(
                "`{parent}` has no subcommand `{name}`; it has: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        };
        page = sub;
    }
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut text)
        .context("cannot render the man page")?;
    write_stdout(&String::from_utf8_lossy(&text))?;
    Ok(0)
}

/// Every page, for packagers (`supplygate man --dir target/man`): one per command, not for
/// clap's `help` subcommands. `cmd` is built, so each page is named by its display name.
fn write_all(cmd: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_all(sub, dir)?;
    }
    clap_mangen::Man::new(cmd.clone())
        .generate_to(dir)
        .with_context(|| format!("cannot write the man pages into `{}`", dir.display()))?;
    Ok(())
}
