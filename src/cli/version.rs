//! `supplygate version` (and `--version`): what this binary is, how it was built, and which
//! Sigstore trusted root it carries.

use clap::Args;
use sha2::{Digest as _, Sha256};
use sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT;

use super::{write_stdout, Format};

/// Arguments of `version`.
#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// Output format
    #[arg(long, env = "SUPPLYGATE_VERSION_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// A fact `build.rs` recorded, or "unknown" when the build did not run it (a build from a
/// copy of `src/` without `build.rs`).
macro_rules! built {
    ($name:literal) => {
        match option_env!($name) {
            Some(value) => value,
            None => "unknown",
        }
    };
}

/// The facts `build.rs` recorded, and the embedded trusted root.
#[derive(Debug, serde::Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
    /// Full git commit hash, or "unknown" outside a git checkout.
    commit: &'static str,
    /// `YYYY-MM-DD`, UTC (`SOURCE_DATE_EPOCH` when set).
    build_date: &'static str,
    target: &'static str,
    profile: &'static str,
    features: Vec<&'static str>,
    trusted_root: TrustedRoot,
}

/// The Sigstore public-good trusted root embedded in the binary (used unless a signer names
/// its own `trusted_root` or `--tuf-refresh` fetches a newer one).
#[derive(Debug, serde::Serialize)]
struct TrustedRoot {
    name: &'static str,
    /// The crate and version it is embedded from.
    source: String,
    /// SHA-256 of the embedded JSON: identifies the exact root.
    sha256: String,
    media_type: String,
    /// The latest `validFor.start` of any key or certificate in it: roughly, how fresh it is.
    newest_valid_from: Option<String>,
    tlogs: usize,
    certificate_authorities: usize,
    ctlogs: usize,
    timestamp_authorities: usize,
}

impl Version {
    fn current() -> Self {
        let features = built!("SUPPLYGATE_BUILD_FEATURES")
            .split(',')
            .filter(|f| !f.is_empty())
            .collect();
        Self {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            commit: built!("SUPPLYGATE_BUILD_COMMIT"),
            build_date: built!("SUPPLYGATE_BUILD_DATE"),
            target: built!("SUPPLYGATE_BUILD_TARGET"),
            profile: built!("SUPPLYGATE_BUILD_PROFILE"),
            features,
            trusted_root: TrustedRoot::embedded(),
        }
    }

    fn human(&self) -> String {
        let root = &self.trusted_root;
        let features = if self.features.is_empty() {
            "none".to_owned()
        } else {
            self.features.join(", ")
        };
        let mut s = format!(
            "{} {}\ncommit:       {}\nbuild date:   {}\ntarget:       {}\nprofile:      {}\n\
             features:     {features}\ntrusted root: {}, embedded from {}\n  sha256:     {}\n  \
             media type: {}\n",
            self.name,
            self.version,
            self.commit,
            self.build_date,
            self.target,
            self.profile,
            root.name,
            root.source,
            root.sha256,
            root.media_type,
        );
        if let Some(newest) = &root.newest_valid_from {
            s.push_str(&format!("  newest key: valid from {newest}\n"));
        }
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        s.push_str(&format!(
            "  contents:   {}, {}, {}, {}\n",
            count(root.tlogs, "transparency log", "transparency logs"),
            count(
                root.certificate_authorities,
                "certificate authority",
                "certificate authorities"
            ),
            count(root.ctlogs, "CT log", "CT logs"),
            count(
                root.timestamp_authorities,
                "timestamp authority",
                "timestamp authorities"
            ),
        ));
        s
    }
}

impl TrustedRoot {
    fn embedded() -> Self {
        let json = SIGSTORE_PRODUCTION_TRUSTED_ROOT;
        let sha256 = Sha256::digest(json.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // The embedded root is parsed for real by the verifier; here it is only described,
        // so a field this reading does not find is left out rather than an error.
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let list = |key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut starts: Vec<String> = Vec::new();
        for key in [
            "tlogs",
            "certificateAuthorities",
            "ctlogs",
            "timestampAuthorities",
        ] {
            for entry in list(key) {
                for pointer in ["/validFor/start", "/publicKey/validFor/start"] {
                    if let Some(start) = entry.pointer(pointer).and_then(|v| v.as_str()) {
                        starts.push(start.to_owned());
                    }
                }
            }
        }
        // RFC 3339 in UTC sorts as text.
        starts.sort();
        Self {
            name: "Sigstore public-good",
            source: format!(
                "sigstore-trust-root {}",
                built!("SUPPLYGATE_BUILD_TRUST_ROOT_CRATE")
            ),
            sha256,
            media_type: value
                .get("mediaType")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_owned(),
            newest_valid_from: starts.pop(),
            tlogs: list("tlogs").len(),
            certificate_authorities: list("certificateAuthorities").len(),
            ctlogs: list("ctlogs").len(),
            timestamp_authorities: list("timestampAuthorities").len(),
        }
    }
}

/// `--version`: the same text as `supplygate version`, without the name clap puts first.
pub(crate) fn long_version() -> String {
    let text = Version::current().human();
    let name = concat!(env!("CARGO_PKG_NAME"), " ");
    text.strip_prefix(name)
        .unwrap_or(&text)
        .trim_end()
        .to_owned()
}

/// `-V`: one line.
pub(crate) fn short_version() -> String {
    let commit = built!("SUPPLYGATE_BUILD_COMMIT");
    let short = commit.get(..12).unwrap_or(commit);
    format!(
        "{} ({short} {})",
        env!("CARGO_PKG_VERSION"),
        built!("SUPPLYGATE_BUILD_DATE")
    )
}

pub(crate) fn run(args: &VersionArgs) -> anyhow::Result<u8> {
    let version = Version::current();
    let text = match args.format {
        Format::Human => version.human(),
        Format::Json => serde_json::to_string_pretty(&version)? + "\n",
    };
    write_stdout(&text)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_embedded_root_that_signers_use() {
        let root = TrustedRoot::embedded();
        assert_eq!(root.sha256.len(), 64);
        assert!(root
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot+json"));
        assert!(root.tlogs >= 1 && root.certificate_authorities >= 1 && root.ctlogs >= 1);
        // The same JSON the verifier parses.
        crate::verify::signers::parse_trusted_root(SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap();
        let newest = root.newest_valid_from.unwrap();
        newest.parse::<jiff::Timestamp>().unwrap();
    }
}
