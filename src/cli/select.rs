//! Which documents `check` evaluates.

use clap::Args;

use crate::gate::Manifests;

/// Document selection options of `check`.
#[derive(Debug, Args)]
pub(crate) struct SelectArgs {
    /// Evaluate only documents changed since this git revision (the rest is read for context)
    #[arg(long, value_name = "REV")]
    changed_since: Option<String>,
}

impl SelectArgs {
    /// Sets aside the documents not selected.
    pub(crate) fn apply(&self, _manifests: &mut Manifests) -> anyhow::Result<()> {
        match &self.changed_since {
            None => Ok(()),
            Some(rev) => anyhow::bail!("--changed-since {rev}: not built yet"),
        }
    }
}
