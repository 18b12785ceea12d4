//! Where and how `check` writes its report: one format on stdout, and more formats to files in
//! the same run (`--sarif-out`, `--markdown-out`, `--json-out`).

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::{write_stdout, write_stdout_with, Context};
use crate::manifest::{changed, write_atomic};
use crate::report::human::{self, Verbosity};
use crate::report::{github, json, markdown, sarif, Report, SourceRoot};

/// Formats `check` can write on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Grouped by file, for people
    Human,
    /// The documented JSON report
    Json,
    /// SARIF 2.1.0, for code scanning
    Sarif,
    /// GitHub Actions annotations (`::error file=…,line=…::…`)
    Github,
    /// A Markdown table, for a pull-request comment or the job summary
    Markdown,
}

/// Report options of `check`.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Report format on stdout
    #[arg(long, env = "SUPPLYGATE_FORMAT", value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Show only images with findings (human format)
    #[arg(short, long, env = "SUPPLYGATE_QUIET")]
    quiet: bool,
    /// Also write a SARIF 2.1.0 report to FILE (replaced atomically)
    #[arg(long, env = "SUPPLYGATE_SARIF_OUT", value_name = "FILE")]
    sarif_out: Option<PathBuf>,
    /// Also write a Markdown report to FILE (replaced atomically; appended when FILE is
    /// $GITHUB_STEP_SUMMARY)
    #[arg(long, env = "SUPPLYGATE_MARKDOWN_OUT", value_name = "FILE")]
    markdown_out: Option<PathBuf>,
    /// Also write the JSON report to FILE (replaced atomically)
    #[arg(long, env = "SUPPLYGATE_JSON_OUT", value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// The directory SARIF, GitHub and Markdown paths are relative to [default: the git work
    /// tree of the current directory, else the current directory]; a file outside it gets an
    /// absolute `file://` URI in SARIF
    #[arg(long, env = "SUPPLYGATE_SARIF_ROOT", value_name = "DIR")]
    sarif_root: Option<PathBuf>,
}

impl OutputArgs {
    /// The format asked for on stdout.
    pub(crate) fn format(&self) -> OutputFormat {
        self.format
    }

    /// Writes the extra report files, then the report on stdout. A file that cannot be
    /// written is an error (exit 2): a CI step must not pass on a report nobody can read.
    pub(crate) fn emit(&self, ctx: &Context, report: &Report) -> anyhow::Result<()> {
        self.write(ctx.color, report, true)
    }

    /// Like [`OutputArgs::emit`] for the report of a run that failed before it could decide
    /// (its error as findings): every file, and stdout unless the format there is `human`,
    /// which the error printed on stderr is already.
    pub(crate) fn emit_failure(&self, report: &Report) -> anyhow::Result<()> {
        self.write(
            human::Color::Never,
            report,
            self.format != OutputFormat::Human,
        )
    }

    /// Refuses a `--sarif-root` that is not a directory (a typo would place nothing).
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        match &self.sarif_root {
            Some(dir) if !dir.is_dir() => {
                anyhow::bail!("--sarif-root `{}` is not a directory", dir.display())
            }
            _ => Ok(()),
        }
    }

    fn write(&self, color: human::Color, report: &Report, stdout: bool) -> anyhow::Result<()> {
        let needs_root = matches!(
            self.format,
            OutputFormat::Sarif | OutputFormat::Github | OutputFormat::Markdown
        ) || self.sarif_out.is_some()
            || self.markdown_out.is_some();
        let root = if needs_root {
            Some(source_root(self.sarif_root.as_deref())?)
        } else {
            None
        };
        let root = root.as_ref();
        if let Some(path) = &self.sarif_out {
            let text = render(color, report, OutputFormat::Sarif, Verbosity::All, root);
            write_report(path, &text, "SARIF")?;
        }
        if let Some(path) = &self.markdown_out {
            let text = render(color, report, OutputFormat::Markdown, Verbosity::All, root);
            if is_step_summary(path) {
                append(path, &text)?;
            } else {
                write_report(path, &text, "Markdown")?;
            }
        }
        if let Some(path) = &self.json_out {
            let text = render(color, report, OutputFormat::Json, Verbosity::All, root);
            write_report(path, &text, "JSON")?;
        }
        if !stdout {
            return Ok(());
        }
        if self.format == OutputFormat::Json {
            // The same text as `render`, written as it is made.
            return write_stdout_with(|out| json::write(report, out));
        }
        let verbosity = if self.quiet {
            Verbosity::Problems
        } else {
            Verbosity::All
        };
        write_stdout(&render(color, report, self.format, verbosity, root))
    }
}

/// `--color auto`: colour on a terminal, unless `NO_COLOR` is set to a non-empty value
/// (no-color.org: an empty `NO_COLOR=` does not count) or the terminal says it cannot show
/// colour (`TERM=dumb`, as Emacs shells and some CI runners set it).
pub(crate) fn auto_color(
    stdout_is_terminal: bool,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
) -> human::Color {
    let no_color = no_color.is_some_and(|v| !v.is_empty());
    let dumb = term.is_some_and(|t| t == "dumb");
    if stdout_is_terminal && !no_color && !dumb {
        human::Color::Always
    } else {
        human::Color::Never
    }
}

fn render(
    color: human::Color,
    report: &Report,
    format: OutputFormat,
    verbosity: Verbosity,
    root: Option<&SourceRoot>,
) -> String {
    let fallback;
    let root = match root {
        Some(r) => r,
        None => {
            fallback = SourceRoot::new(PathBuf::from("."), PathBuf::from("."));
            &fallback
        }
    };
    match format {
        OutputFormat::Human => human::render(report, color, verbosity),
        OutputFormat::Json => json::render(report) + "\n",
        OutputFormat::Sarif => sarif::render(report, root),
        OutputFormat::Github => github::render(report, root),
        OutputFormat::Markdown => markdown::render(report, root),
    }
}

/// `--sarif-root` when given, else the repository root when the current directory is in a
/// git work tree, else the current directory: code hosts place findings by paths relative to
/// the root.
fn source_root(chosen: Option<&Path>) -> anyhow::Result<SourceRoot> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    // A `--sarif-root` that is no directory fails the run ([`OutputArgs::validate`]); the
    // report that says so is still placed, by the default root.
    let root = match chosen.filter(|dir| dir.is_dir()) {
        Some(dir) => cwd.join(dir),
        None => changed::work_tree_root(&cwd).unwrap_or_else(|_| cwd.clone()),
    };
    Ok(SourceRoot::new(root, cwd))
}

fn write_report(path: &Path, text: &str, what: &str) -> anyhow::Result<()> {
    write_atomic(path, text)
        .with_context(|| format!("cannot write the {what} report to `{}`", path.display()))
}

/// Whether `path` is the job summary file GitHub gave this step.
fn is_step_summary(path: &Path) -> bool {
    let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return false;
    };
    let summary = Path::new(&summary);
    path == summary
        || std::fs::canonicalize(path)
            .ok()
            .zip(std::fs::canonicalize(summary).ok())
            .is_some_and(|(a, b)| a == b)
}

/// GitHub's job summary is one file per step that every command of the step appends to
/// (`echo … >> $GITHUB_STEP_SUMMARY`): replacing it would drop what came before. One write,
/// so that the report is never interleaved with another writer's lines.
fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let context = || {
        format!(
            "cannot append the Markdown report to `{}` ($GITHUB_STEP_SUMMARY)",
            path.display()
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(context)?;
    file.write_all(text.as_bytes()).with_context(context)?;
    file.sync_all().with_context(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_color_follows_no_color_org_and_term_dumb() {
        let color = |tty, no_color: Option<&str>, term: Option<&str>| {
            auto_color(tty, no_color.map(OsStr::new), term.map(OsStr::new))
        };
        assert_eq!(color(true, None, Some("xterm")), human::Color::Always);
        assert_eq!(color(true, None, None), human::Color::Always);
        // An empty NO_COLOR is as if unset; any other value disables colour.
        assert_eq!(color(true, Some(""), Some("xterm")), human::Color::Always);
        assert_eq!(color(true, Some("1"), Some("xterm")), human::Color::Never);
        assert_eq!(color(true, Some("0"), Some("xterm")), human::Color::Never);
        assert_eq!(color(true, None, Some("dumb")), human::Color::Never);
        assert_eq!(color(false, None, Some("xterm")), human::Color::Never);
    }
}
