//! Which documents `check` evaluates: `--changed-since REV` sets aside the documents that are
//! unchanged since a git revision (see [`crate::manifest::changed`]).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use crate::gate::Manifests;
use crate::manifest::changed::{self, Baseline};
use crate::manifest::exclude::PathGlob;
use crate::manifest::Origin;

/// Document selection options of `check`.
#[derive(Debug, Args)]
pub(crate) struct SelectArgs {
    /// Evaluate only documents changed since this git revision (the rest is read for context)
    // A lock records (or re-verifies) every image: with documents set aside it would be partial.
    #[arg(
        long,
        env = "SUPPLYGATE_CHANGED_SINCE",
        value_name = "REV",
        conflicts_with_all = ["locked", "write_lock"]
    )]
    changed_since: Option<String>,
    /// Skip manifest paths matching this glob (repeatable; `*`, `?` within a path segment,
    /// `**` across; matched against the path or any tail after a `/`, e.g. `charts/**`);
    /// skipped paths are counted in the report
    #[arg(
        long,
        env = "SUPPLYGATE_EXCLUDE",
        value_name = "GLOB",
        value_delimiter = ','
    )]
    exclude: Vec<String>,
}

impl SelectArgs {
    /// The `--changed-since` revision, when given (or set by `SUPPLYGATE_CHANGED_SINCE`).
    pub(crate) fn changed_since(&self) -> Option<&str> {
        self.changed_since.as_deref()
    }

    /// The `--exclude` globs.
    pub(crate) fn exclude(&self) -> anyhow::Result<Vec<PathGlob>> {
        self.exclude
            .iter()
            .map(|g| PathGlob::parse(g).map_err(|e| anyhow::anyhow!("--exclude `{g}`: {e}")))
            .collect()
    }

    /// Sets aside the image sites of unchanged documents and counts those documents.
    /// `paths` are the paths given to `check`: a rename is followed only from under them.
    /// Unreadable files stay reported whether or not they changed: a file that cannot be read
    /// cannot be shown to be unchanged.
    pub(crate) fn apply(&self, paths: &[PathBuf], manifests: &mut Manifests) -> anyhow::Result<()> {
        let Some(rev) = &self.changed_since else {
            return Ok(());
        };
        let mut files: Vec<&Path> = Vec::new();
        for source in &manifests.sources {
            match source.origin.as_ref() {
                Origin::File(path) => files.push(path),
                other => anyhow::bail!(
                    "--changed-since compares files with git history; `{other}` is not a file \
                     (run without --changed-since to check standard input)"
                ),
            }
        }
        // The repository is the current directory's: the manifests cannot choose it.
        let baseline = Baseline::open(rev, paths)
            .map_err(|e| anyhow::Error::new(e).context("--changed-since"))?;
        let olds = baseline
            .files(&files)
            .map_err(|e| anyhow::Error::new(e).context("--changed-since"))?;
        let mut unchanged: HashMap<Arc<Origin>, Vec<Range<usize>>> = HashMap::new();
        let mut count = 0;
        for (source, old) in manifests.sources.iter().zip(&olds) {
            let docs = changed::unchanged_documents(&source.text, old);
            count += docs.len();
            if !docs.is_empty() {
                unchanged
                    .entry(Arc::clone(&source.origin))
                    .or_default()
                    .extend(docs.into_iter().map(|d| d.range));
            }
        }
        tracing::info!(
            commit = baseline.commit(),
            unchanged = count,
            "documents unchanged since the revision are not evaluated"
        );
        manifests.sites.retain(|site| {
            !unchanged
                .get(&site.origin)
                .is_some_and(|ranges| ranges.iter().any(|r| r.contains(&site.span.start)))
        });
        manifests.unchanged = count;
        Ok(())
    }
}
