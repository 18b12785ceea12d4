//! `supplygate init`: writes a commented `supplygate.yaml` for a chosen setup, checked with
//! the real loader before it is written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::write_stdout;
use crate::config::{Config, DEFAULT_FILE};
use crate::manifest::write_atomic;
use crate::reference::ImageRef;

/// Arguments of `init`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("signer").required(true).multiple(true)
    .args(["keyless_github", "key"])))]
pub(crate) struct InitArgs {
    /// Trust images signed keyless (cosign, actions/attest-build-provenance) by the GitHub
    /// Actions workflows of OWNER/REPO, on `main` or a tag
    #[arg(
        long,
        env = "SUPPLYGATE_INIT_KEYLESS_GITHUB",
        value_name = "OWNER/REPO"
    )]
    keyless_github: Option<String>,
    /// Trust images signed with the private key of this public key (`cosign.pub`)
    #[arg(long, env = "SUPPLYGATE_INIT_KEY", value_name = "PATH")]
    key: Option<PathBuf>,
    /// Require signatures on every image from this registry host (repeatable) [default: the
    /// repository's ghcr.io images with --keyless-github, else every image]
    #[arg(
        long,
        env = "SUPPLYGATE_INIT_REGISTRY",
        value_name = "HOST",
        value_delimiter = ','
    )]
    registry: Vec<String>,
    /// Where to write; `-` for stdout
    #[arg(short, long, env = "SUPPLYGATE_INIT_OUTPUT", value_name = "FILE", default_value = DEFAULT_FILE)]
    output: PathBuf,
    /// Replace an existing file
    #[arg(long, env = "SUPPLYGATE_INIT_FORCE")]
    force: bool,
}

/// A GitHub repository, validated: `owner/repo` in GitHub's alphabet.
struct GithubRepo {
    owner: String,
    repo: String,
}

impl GithubRepo {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let invalid = || {
            anyhow::anyhow!(
                "--keyless-github `{text}`: expected OWNER/REPO as on github.com (`acme/app`)"
            )
        };
        let (owner, repo) = text.split_once('/').ok_or_else(invalid)?;
        let owner_ok = !owner.is_empty()
            && owner.len() <= 39
            && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let repo_ok = !repo.is_empty()
            && repo.len() <= 100
            && repo != "."
            && repo != ".."
            && repo
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !owner_ok || !repo_ok {
            return Err(invalid());
        }
        // A clone URL's `.git` is not part of the name the certificate carries: the
        // constraint could never match.
        if let Some(name) = repo.strip_suffix(".git") {
            anyhow::bail!(
                "--keyless-github `{text}`: a repository name does not end in `.git` (the \
                 signing certificate names `{owner}/{name}`); write `{owner}/{name}`"
            );
        }
        Ok(Self {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        })
    }
}

/// A registry host as written in image references (`ghcr.io`, `registry.internal:5000`), as
/// image names are normalised before globs match them (`index.docker.io` is `docker.io`).
fn registry_host(text: &str) -> anyhow::Result<String> {
    // A name without `.` or `:` would be read as a Docker Hub repository, not a host.
    let host_like = !text.contains('/') && (text.contains(['.', ':']) || text == "localhost");
    match ImageRef::parse(&format!("{text}/supplygate-init-probe")) {
        Ok(r) if host_like => Ok(r.registry().to_owned()),
        _ => anyhow::bail!(
            "--registry `{text}`: expected a registry host as written in image references \
             (`ghcr.io`, `registry.internal:5000`), without scheme or path"
        ),
    }
}

pub(crate) fn run(args: &InitArgs) -> anyhow::Result<u8> {
    let github = args
        .keyless_github
        .as_deref()
        .map(GithubRepo::parse)
        .transpose()?;
    let registries = args
        .registry
        .iter()
        .map(|r| registry_host(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let to_stdout = args.output == Path::new("-");
    let key = match &args.key {
        Some(key) => Some(key_as_written(key, &args.output, to_stdout)?),
        None => None,
    };
    let text = render(&Setup {
        github: github.as_ref(),
        key: key.as_deref(),
        registries: &registries,
    });
    // Loaded as `check` would load it, from where it goes: a config that does not load (a
    // key file that is missing or not a public key) is not written.
    let at = if to_stdout {
        PathBuf::from(DEFAULT_FILE)
    } else {
        args.output.clone()
    };
    Config::parse(&text, &at)
        .with_context(|| "the config for this setup does not load; nothing was written")?;
    if to_stdout {
        write_stdout(&text)?;
        return Ok(0);
    }
    write(&args.output, &text, args.force)?;
    eprintln!(
        "wrote {}; check it with `supplygate config validate {}`",
        args.output.display(),
        args.output.display()
    );
    Ok(0)
}

/// Writes a new file, never following or replacing what is there unless `force`.
fn write(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    // Replaced in place (keeping its permissions); a new file is created below, with the
    // usual permissions rather than a temporary file's private ones.
    if force && path.symlink_metadata().is_ok() {
        return write_atomic(path, text)
            .with_context(|| format!("cannot write `{}`", path.display()));
    }
    // `create_new` fails on any existing entry, a symlink included: nothing is overwritten,
    // even if the file appears between a check and the write.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "`{}` already exists; not overwritten (--force replaces it)",
            path.display()
        ),
        other => other.with_context(|| format!("cannot create `{}`", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// The key path as the config must say it: relative paths in a config are relative to the
/// config's directory, while the user gave one relative to the current directory.
///
/// Both directories are resolved first (symlinks followed): the loader opens `DIR/../k.pub`
/// through the file system, where `..` of a symlinked directory is its target's parent, not
/// the directory the symlink sits in. The key file's own name is kept (a symlinked key stays
/// one). What cannot be resolved is written absolute.
fn key_as_written(key: &Path, output: &Path, to_stdout: bool) -> anyhow::Result<String> {
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty());
    let path = match dir {
        Some(dir) if key.is_relative() && !to_stdout => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let key = cwd.join(key);
            let real_key = key
                .parent()
                .and_then(|d| std::fs::canonicalize(d).ok())
                .zip(key.file_name())
                .map(|(d, name)| d.join(name));
            match (real_key, std::fs::canonicalize(cwd.join(dir))) {
                (Some(real_key), Ok(real_dir)) => relative_to(&real_key, &real_dir),
                _ => key,
            }
        }
        _ => key.to_path_buf(),
    };
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("--key `{}`: the path is not UTF-8", path.display()))
}

/// `path` relative to `dir` (`../keys/cosign.pub`), both absolute; `path` itself when a `..`
/// or `.` in `dir` makes a lexical answer unsafe.
fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    use std::path::Component;
    let plain = |p: &Path| {
        p.components()
            .all(|c| !matches!(c, Component::ParentDir | Component::CurDir))
    };
    if !plain(dir) || !plain(path) {
        return path.to_path_buf();
    }
    let (mut a, mut b) = (path.components().peekable(), dir.components().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        if x != y {
            break;
        }
        a.next();
        b.next();
    }
    let mut out: PathBuf = b.map(|_| Component::ParentDir).collect();
    out.extend(a);
    out
}

/// What `init` was asked for.
struct Setup<'a> {
    github: Option<&'a GithubRepo>,
    key: Option<&'a str>,
    registries: &'a [String],
}

/// The config text. User values are written as JSON strings (valid YAML double-quoted
/// scalars), so no value can break out of its place; the subject regex is built from a
/// validated OWNER/REPO.
fn render(setup: &Setup) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut invoked = String::from("supplygate init");
    if let Some(gh) = setup.github {
        invoked.push_str(&format!(" --keyless-github {}/{}", gh.owner, gh.repo));
    }
    if let Some(key) = setup.key {
        // Quoted: a path may hold a newline, which would end the comment.
        invoked.push_str(&format!(" --key {}", quote(key)));
    }
    for r in setup.registries {
        invoked.push_str(&format!(" --registry {r}"));
    }
    let mut signers = Vec::new();
    let mut out = format!(
        "# supplygate.yaml, written by `{invoked}`\n\
         # (supplygate {}). Check it with `supplygate config validate`; every key is described\n\
         # in docs/configuration.md and in `supplygate schema config`.\n\n\
         signers:\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(gh) = setup.github {
        signers.push("github");
        let owner = regex::escape(&gh.owner);
        let repo = regex::escape(&gh.repo);
        out.push_str(&format!(
            "  # Keyless: a Sigstore (Fulcio) certificate issued by GitHub Actions whose subject\n\
             \x20 # is a workflow file of {0}/{1} (`.github/workflows/…`) at the branch `main` or\n\
             \x20 # at a tag, as `cosign sign` or actions/attest-build-provenance make in a workflow\n\
             \x20 # of {0}/{1} run for `main` or a tag. The subject names the workflow file that\n\
             \x20 # signed, not the run that called it, so a reusable workflow of another\n\
             \x20 # repository does not match even when {0}/{1} calls it; and `repo:` below asks\n\
             \x20 # that the source repository the run was for is {0}/{1} too, so a reusable\n\
             \x20 # workflow of {0}/{1} called from another repository does not match either.\n\
             \x20 # A run for another branch or for a pull request (`refs/pull/…`) does not match.\n\
             \x20 # Checked against Sigstore's public-good trusted root embedded in supplygate\n\
             \x20 # (`supplygate version` names it; `--tuf-refresh` fetches a newer one).\n\
             \x20 github:\n\
             \x20   keyless:\n\
             \x20     issuer: https://token.actions.githubusercontent.com\n\
             \x20     # Anchored at both ends; OWNER/REPO spelt exactly as on github.com.\n\
             \x20     # Edit `heads/main` if your default branch has another name.\n\
             \x20     subject_regex: 'https://github\\.com/{owner}/{repo}/\\.github/workflows/[^@]+@refs/(heads/main|tags/.+)'\n\
             \x20     # The certificate's Source Repository claim (as `gh attestation verify --repo`).\n\
             \x20     repo: {0}/{1}\n\
             \x20     # Only GitHub-hosted runners (`--deny-self-hosted-runners`):\n\
             \x20     # deny_self_hosted_runners: true\n",
            gh.owner, gh.repo
        ));
    }
    if let Some(key) = setup.key {
        signers.push("key");
        out.push_str(&format!(
            "  # A key pair (`cosign generate-key-pair`, or a KMS key's exported public key):\n\
             \x20 # signatures made with the private key of this public key. A relative path is\n\
             \x20 # relative to this file.\n\
             \x20 key:\n\
             \x20   key: {}\n\
             \x20   # The signature must be in the Rekor transparency log (cosign's default). Only\n\
             \x20   # for signatures made with `--tlog-upload=false`:\n\
             \x20   # insecure_ignore_tlog: true\n",
            quote(key)
        ));
    }
    let images: Vec<String> = if !setup.registries.is_empty() {
        setup.registries.iter().map(|r| format!("{r}/**")).collect()
    } else if let Some(gh) = setup.github {
        let name = format!("ghcr.io/{}/{}", gh.owner, gh.repo).to_ascii_lowercase();
        vec![name.clone(), format!("{name}/**")]
    } else {
        vec!["**".to_owned()]
    };
    let images_text: Vec<String> = images.iter().map(|i| quote(i)).collect();
    let scope = if setup.registries.is_empty() && setup.github.is_none() {
        "Every image".to_owned()
    } else {
        format!("Every image named by {}", images.join(" or "))
    };
    out.push_str(&format!(
            "\nrequire:\n\
             \x20 # {scope}\n\
             \x20 # must carry a signature on its digest verified by one of these signers (any one\n\
             \x20 # suffices). Globs: `*` within a path segment, `**` across segments.\n\
             \x20 - images: [{}]\n\
             \x20   signers: [{}]\n\n\
             policy:\n\
             \x20 # Any other image is denied (`image-not-covered`), so an image from another registry\n\
             \x20 # or repository cannot pass unchecked. `warn` reports such images and allows them.\n\
             \x20 unmatched_images: deny\n",
            images_text.join(", "),
            signers.join(", ")
        ));
    out.push_str(
        "\n# Registries: per host, as written in image references. For example:\n\
         # registries:\n\
         #   registry.internal:5000:\n\
         #     insecure: true               # plain HTTP (TLS errors are never ignored)\n\
         #   ghcr.io:\n\
         #     mirrors: [mirror.internal]   # tried first; content still verified by digest\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Unmatched;
    use crate::verify::signers::SignerKind;

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM\n\
        5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==\n\
        -----END PUBLIC KEY-----\n";

    fn load(setup: &Setup, dir: &Path) -> Config {
        let text = render(setup);
        Config::parse(&text, &dir.join("supplygate.yaml")).unwrap()
    }

    /// Which signers a `require:` rule asks of `image` (`registry/repository`).
    fn required(config: &Config, image: &str) -> Vec<String> {
        config
            .requirements_for(image)
            .flat_map(|r| r.signers.iter().map(|s| s.name.clone()))
            .collect()
    }

    #[test]
    fn keyless_github_trusts_the_repository_workflows_on_main_and_tags_only() {
        let dir = tempfile::tempdir().unwrap();
        let gh = GithubRepo::parse("acme/app").unwrap();
        let git = match GithubRepo::parse("acme/app.git") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert!(git.contains("does not end in `.git`"), "{git}");
        assert!(git.contains("write `acme/app`"), "{git}");
        let config = load(
            &Setup {
                github: Some(&gh),
                key: None,
                registries: &[],
            },
            dir.path(),
        );
        let signer = &config.signers["github"];
        let SignerKind::Keyless {
            issuer,
            subject,
            constraints,
            ..
        } = &signer.kind
        else {
            panic!("not keyless: {signer:?}");
        };
        assert_eq!(issuer, "https://token.actions.githubusercontent.com");
        // The source repository is the caller's: a reusable workflow of acme/app run for
        // another repository carries that repository here and is refused.
        assert_eq!(
            constraints.source_repository.as_deref(),
            Some("https://github.com/acme/app")
        );
        assert!(!constraints.deny_self_hosted_runners);
        let workflow = "https://github.com/acme/app/.github/workflows/release.yml";
        assert!(subject.matches(&format!("{workflow}@refs/heads/main")));
        assert!(subject.matches(&format!("{workflow}@refs/tags/v1.2.3")));
        for other in [
            format!("{workflow}@refs/heads/feature"),
            format!("{workflow}@refs/pull/7/merge"),
            "https://github.com/acme/app-fork/.github/workflows/release.yml@refs/heads/main".into(),
            "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main".into(),
            "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main@refs/heads/x"
                .into(),
            "https://githubXcom/acme/app/.github/workflows/release.yml@refs/heads/main".into(),
            format!("https://evil.example/?{workflow}@refs/heads/main"),
        ] {
            assert!(!subject.matches(&other), "{other} must not match");
        }
        // The comment says what the regex does, no more: the subject is the signing workflow
        // file, so a reusable workflow of acme/app matches whoever calls it, and one of another
        // repository does not, even called from acme/app.
        let text = render(&Setup {
            github: Some(&gh),
            key: None,
            registries: &[],
        });
        let comment: String = text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('#'))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            comment.contains(
                "a reusable workflow of acme/app called from another repository does not match \
                 either"
            ),
            "{comment}"
        );
        assert!(
            comment.contains(
                "a reusable workflow of another repository does not match even when acme/app \
                 calls it"
            ),
            "{comment}"
        );
        assert!(
            !comment.contains("A workflow of another repository"),
            "{comment}"
        );
        assert!(subject
            .matches("https://github.com/acme/app/.github/workflows/reusable.yml@refs/heads/main"));
        assert!(!subject.matches(
            "https://github.com/other/shared/.github/workflows/build.yml@refs/heads/main"
        ));
        assert_eq!(required(&config, "ghcr.io/acme/app"), ["github"]);
        assert_eq!(required(&config, "ghcr.io/acme/app/worker"), ["github"]);
        assert!(required(&config, "ghcr.io/acme/app-evil").is_empty());
        // ... and what no rule names is denied, as the comment says.
        assert_eq!(config.policy.unmatched_images, Unmatched::Deny);
    }

    #[test]
    fn key_with_registries_requires_the_key_for_those_registries_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cosign.pub"), KEY).unwrap();
        let registries = ["ghcr.io".to_owned(), "registry.internal:5000".to_owned()];
        let config = load(
            &Setup {
                github: None,
                key: Some("cosign.pub"),
                registries: &registries,
            },
            dir.path(),
        );
        assert!(config.signers["key"].is_key());
        assert_eq!(required(&config, "ghcr.io/any/thing"), ["key"]);
        assert_eq!(
            required(&config, "registry.internal:5000/team/app"),
            ["key"]
        );
        assert!(required(&config, "docker.io/library/nginx").is_empty());
        assert_eq!(config.policy.unmatched_images, Unmatched::Deny);
    }

    #[test]
    fn key_alone_requires_it_of_every_image_and_both_signers_suffice_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pub"), KEY).unwrap();
        let config = load(
            &Setup {
                github: None,
                key: Some("k.pub"),
                registries: &[],
            },
            dir.path(),
        );
        assert_eq!(required(&config, "docker.io/library/nginx"), ["key"]);
        let gh = GithubRepo::parse("acme/app").unwrap();
        let both = load(
            &Setup {
                github: Some(&gh),
                key: Some("k.pub"),
                registries: &[],
            },
            dir.path(),
        );
        // One rule listing both: any one of them suffices, as the comment says.
        assert_eq!(both.requirements.len(), 1);
        assert_eq!(required(&both, "ghcr.io/acme/app"), ["github", "key"]);
    }

    #[test]
    fn key_paths_are_made_relative_to_the_config_directory() {
        let rel = |p: &str, d: &str| relative_to(Path::new(p), Path::new(d));
        assert_eq!(
            rel("/w/keys/k.pub", "/w/deploy"),
            Path::new("../keys/k.pub")
        );
        assert_eq!(rel("/w/deploy/k.pub", "/w/deploy"), Path::new("k.pub"));
        assert_eq!(rel("/w/k.pub", "/w/a/b"), Path::new("../../k.pub"));
        assert_eq!(rel("/w/k.pub", "/w/../a"), Path::new("/w/k.pub"));
    }

    #[test]
    fn rejects_repositories_and_hosts_that_could_widen_the_pattern() {
        for bad in [
            "acme",
            "acme/",
            "/app",
            "acme/app/x",
            "ac.me/app",
            "acme/..",
            "acme/a(b",
            "acme/.*",
        ] {
            let e = GithubRepo::parse(bad).err().unwrap();
            assert!(e.to_string().contains("expected OWNER/REPO"), "{bad}: {e}");
        }
        for bad in ["https://ghcr.io", "ghcr.io/acme", "ghcr", "", "ghcr.io/**"] {
            let e = registry_host(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected a registry host"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            registry_host("registry.internal:5000").unwrap(),
            "registry.internal:5000"
        );
        assert_eq!(registry_host("localhost").unwrap(), "localhost");
        assert_eq!(registry_host("index.docker.io").unwrap(), "docker.io");
    }

    #[test]
    fn user_values_cannot_break_out_of_their_yaml_scalar() {
        let dir = tempfile::tempdir().unwrap();
        let name = "k\"\n  insecure_ignore_tlog: true #.pub";
        std::fs::write(dir.path().join(name), KEY).unwrap();
        let config = load(
            &Setup {
                github: None,
                key: Some(name),
                registries: &[],
            },
            dir.path(),
        );
        let SignerKind::Key { tlog, .. } = &config.signers["key"].kind else {
            panic!("not a key signer");
        };
        assert!(
            matches!(tlog, crate::verify::signers::TlogPolicy::Require),
            "{tlog:?}"
        );
    }
}
