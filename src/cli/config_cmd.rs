//! `supplygate config validate [FILE]`: loads a config with the real loader and reports every
//! problem with `file:line:column`, or one line saying it is valid.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{write_stdout, Format};
use crate::config::{Config, ConfigError, DEFAULT_FILE};
use crate::manifest::ManifestError;

/// Subcommands of `config`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a config file: exit 0 and one line when valid, else 2 and every problem with
    /// file:line:column
    #[command(after_help = super::examples::CONFIG_VALIDATE)]
    Validate(ValidateArgs),
}

/// Arguments of `config validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The config file [default: --config, else ./supplygate.yaml]
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Output format
    #[arg(long, env = "SUPPLYGATE_CONFIG_VALIDATE_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// One problem, located when the loader knows where.
#[derive(Debug, serde::Serialize)]
struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// The JSON document of `config validate --format json`.
#[derive(Debug, serde::Serialize)]
struct Validation {
    file: String,
    valid: bool,
    problems: Vec<Problem>,
}

pub(crate) fn run(
    args: &ValidateArgs,
    global_config: Option<&Path>,
    policies: &[PathBuf],
) -> anyhow::Result<u8> {
    let file = args
        .file
        .as_deref()
        .or(global_config)
        .unwrap_or(Path::new(DEFAULT_FILE))
        .to_path_buf();
    let (problems, summary) = match Config::load(Some(&file)) {
        Ok(config) => {
            let mut problems = missing_layouts(&config);
            // The policies the config names (`policy.paths`) and those given with `--policy`
            // (`SUPPLYGATE_POLICY`) must load and compile, as a run would load them.
            if let Err(errors) = crate::gate::load_policy(&config, policies) {
                problems.extend(errors.0.iter().map(|e| Problem {
                    line: None,
                    column: None,
                    message: format!("policy: {}", chain(e)),
                    hint: None,
                }));
            }
            let summary = summary(&config);
            (problems, summary)
        }
        Err(e) => (problems(&e), String::new()),
    };
    let shown = file.display().to_string();
    let valid = problems.is_empty();
    let text = match args.format {
        Format::Json => {
            let validation = Validation {
                file: shown,
                valid,
                problems,
            };
            serde_json::to_string_pretty(&validation)? + "\n"
        }
        Format::Human if valid => format!("{shown}: OK ({summary})\n"),
        Format::Human => human(&shown, &problems),
    };
    write_stdout(&text)?;
    Ok(if valid { 0 } else { 2 })
}

fn human(file: &str, problems: &[Problem]) -> String {
    let n = problems.len();
    let mut out = format!(
        "{n} problem{} in config `{file}`\n",
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        let at = match (p.line, p.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            _ => file.to_owned(),
        };
        out.push_str(&format!("{at}: {}", p.message));
        if let Some(hint) = &p.hint {
            out.push_str(&format!(" ({hint})"));
        }
        out.push('\n');
    }
    out
}

/// A problem for each `registries.HOST.layout` that is not a directory: offline, every image
/// of that host would be undecided, which the loader cannot know until a run reads one.
fn missing_layouts(config: &Config) -> Vec<Problem> {
    config
        .layout_sites
        .iter()
        .filter_map(|site| {
            let why = match std::fs::metadata(&site.path) {
                Ok(m) if m.is_dir() => return None,
                Ok(_) => "is not a directory".to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                Err(e) => format!("cannot be read: {e}"),
            };
            Some(Problem {
                line: Some(site.line),
                column: Some(site.column),
                message: format!(
                    "`registries.{}.layout`: `{}` {why}",
                    site.host,
                    site.path.display()
                ),
                hint: Some(
                    "an OCI image layout directory (`skopeo copy … oci:DIR`), relative to the \
                     config file's directory"
                        .into(),
                ),
            })
        })
        .collect()
}

/// What a valid config holds, in a few words.
fn summary(config: &Config) -> String {
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    [
        count(config.signers.len(), "signer", "signers"),
        count(config.requirements.len(), "require rule", "require rules"),
        count(
            config.provenance.len(),
            "provenance rule",
            "provenance rules",
        ),
    ]
    .join(", ")
}

/// Every problem the loader collected, or the one reason it could not read the file.
fn problems(e: &ConfigError) -> Vec<Problem> {
    match e {
        ConfigError::Invalid { problems, .. } => problems
            .iter()
            .map(|p| Problem {
                line: Some(p.line),
                column: Some(p.column),
                message: p.message.clone(),
                hint: p.hint.clone(),
            })
            .collect(),
        ConfigError::Syntax(ManifestError::Syntax {
            line,
            column,
            message,
            ..
        }) => vec![Problem {
            line: Some(*line),
            column: Some(*column),
            message: message.clone(),
            hint: None,
        }],
        other => vec![Problem {
            line: None,
            column: None,
            message: chain(other),
            hint: None,
        }],
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !s.contains(&cause_text) {
            s.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    s
}
