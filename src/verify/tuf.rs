//! Stage (4), trust material: `--tuf-refresh` fetches Sigstore's `trusted_root.json` through
//! TUF (The Update Framework) instead of using the copy embedded in the binary.
//!
//! Only on request, and only when a keyless signer would otherwise use the embedded root:
//! [`crate::config::Config::needs_tuf_refresh`] decides, the CLI asks. The TUF client is
//! sigstore-trust-root's (sigstore-tuf): it walks the root chain from a root we already trust
//! (Sigstore's public-good `root.json` embedded in that crate, or `tuf.root` for a private
//! Sigstore), then timestamp, snapshot and targets, and checks the target's length and hashes.
//! Every failure (expired or badly signed metadata, a rollback, a target that does not match
//! its hashes, a timeout) is a [`TufError`], never a silent fallback: the caller decides.
//!
//! With `tuf.cache_dir`, verified metadata is kept; an offline run (`--offline`) re-verifies
//! that cache from the trusted `root.json` at the current time and serves the target from it,
//! and an online run uses it as the anti-rollback floor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sigstore_trust_root::{SigstoreInstance, TufBootstrap, TufConfig};
use sigstore_verify::trust_root::TrustedRoot;

/// Sigstore's public-good TUF repository, the default `tuf.url`.
pub const PUBLIC_GOOD_URL: &str = "https://tuf-repo-cdn.sigstore.dev";
/// The largest initial `root.json` read (sigstore-tuf's own limit for a root).
const ROOT_MAX: u64 = 512_000;
/// The longest TUF URL accepted.
const URL_MAX: usize = 2048;

/// Where the trusted root is fetched from and how (`tuf:` in `supplygate.yaml`).
#[derive(Debug, Clone)]
pub struct TufSettings {
    /// The repository: metadata at `<url>/`, targets at `<url>/targets/`.
    pub url: String,
    /// The `root.json` trust starts from; `None`: the public-good root embedded in
    /// sigstore-trust-root (only with [`PUBLIC_GOOD_URL`], which config enforces).
    pub root: Option<PathBuf>,
    /// Where verified metadata is kept between runs (`None`: nothing is written).
    pub cache_dir: Option<PathBuf>,
    /// The longest a whole refresh may take (every request included).
    pub timeout: Duration,
    /// Use the embedded root, with a warning, when the refresh fails. Weakens trust: a root
    /// rotated because of a compromise would go unnoticed.
    pub insecure_fallback_to_embedded: bool,
}

impl Default for TufSettings {
    fn default() -> Self {
        Self {
            url: PUBLIC_GOOD_URL.to_owned(),
            root: None,
            cache_dir: None,
            timeout: Duration::from_secs(60),
            insecure_fallback_to_embedded: false,
        }
    }
}

/// Whether the refresh may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Fetch from `tuf.url` (and update the cache, when there is one).
    Online,
    /// Re-verify the cache of an earlier refresh; no request at all.
    Offline,
}

/// Why no trusted root could be had through TUF.
#[derive(Debug, thiserror::Error)]
pub enum TufError {
    /// `tuf.url` is not an absolute http(s) URL.
    #[error("`tuf.url` `{url}` is not an http(s) URL")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
    },
    /// A repository other than the public-good one, without the `root.json` to start from.
    #[error(
        "TUF repository `{url}` needs the `root.json` to trust first: set `tuf.root` \
         (the repository's initial root, obtained out of band)"
    )]
    MissingRoot {
        /// The repository.
        url: String,
    },
    /// The initial `root.json` cannot be read.
    #[error("cannot read TUF root `{}`", path.display())]
    ReadRoot {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The initial `root.json` is larger than [`ROOT_MAX`].
    #[error("TUF root `{}` is larger than the limit of {ROOT_MAX} bytes", path.display())]
    RootTooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Offline, but there is no cache to re-verify.
    #[error(
        "offline, the trusted root comes from the TUF cache of an earlier refresh, but \
         `tuf.cache_dir` is not set (set it, and refresh once online)"
    )]
    OfflineWithoutCache,
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client for TUF")]
    Client(#[source] sigstore_trust_root::reqwest::Error),
    /// TUF verification or transport failed; nothing from the repository was trusted.
    #[error("TUF refresh from `{url}` failed: {}", tuf_reason(.cause))]
    Refresh {
        /// The repository.
        url: String,
        /// What sigstore-trust-root said (it names the role and the check that failed).
        cause: sigstore_trust_root::Error,
    },
    /// Offline re-verification of the cache failed.
    #[error("the TUF cache `{}` of `{url}` does not verify: {}", dir.display(), tuf_reason(.cause))]
    Cache {
        /// The repository.
        url: String,
        /// The cache directory used.
        dir: PathBuf,
        /// What sigstore-trust-root said.
        cause: sigstore_trust_root::Error,
    },
    /// The refresh took longer than `tuf.timeout`.
    #[error("TUF refresh from `{url}` timed out after {}s (`tuf.timeout`)", after.as_secs_f64())]
    TimedOut {
        /// The repository.
        url: String,
        /// The limit.
        after: Duration,
    },
}

/// sigstore-trust-root wraps TUF errors as `TUF error: …`; the prefix repeats ours.
fn tuf_reason(e: &sigstore_trust_root::Error) -> String {
    match e {
        sigstore_trust_root::Error::Tuf(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Checks the settings that can be checked without I/O (config calls it, to report problems
/// with their line).
pub fn validate(settings: &TufSettings) -> Result<(), TufError> {
    let url = settings.url.as_str();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() > URL_MAX || url.chars().any(char::is_whitespace) {
        return Err(TufError::InvalidUrl {
            url: settings.url.clone(),
        });
    }
    if settings.root.is_none() && !is_public_good(url) {
        return Err(TufError::MissingRoot {
            url: settings.url.clone(),
        });
    }
    Ok(())
}

fn is_public_good(url: &str) -> bool {
    url.trim_end_matches('/') == PUBLIC_GOOD_URL
}

/// Fetches and verifies `trusted_root.json` through TUF, at the current time (TUF expiry is
/// about the present: a `--now` in the past must not revive expired metadata).
///
/// `connect_timeout` bounds each connection; `settings.timeout` the whole refresh.
pub async fn refresh(
    settings: &TufSettings,
    network: Network,
    connect_timeout: Duration,
) -> Result<Arc<TrustedRoot>, TufError> {
    validate(settings)?;
    let url = settings.url.clone();
    let bootstrap = match &settings.root {
        Some(path) => TufBootstrap::trusted(read_root(path)?),
        None => TufBootstrap::trusted(SigstoreInstance::PublicGood.tuf_root()),
    };
    let mut config = TufConfig::custom(url.clone(), bootstrap);
    let cache = settings
        .cache_dir
        .as_deref()
        .map(|d| cache_dir_for(d, &url));
    config = match &cache {
        Some(dir) => config.with_cache_dir(dir.clone()),
        None => config.without_cache(),
    };
    if network == Network::Offline {
        if cache.is_none() {
            return Err(TufError::OfflineWithoutCache);
        }
        config = config.offline();
    } else {
        let client = sigstore_trust_root::reqwest::Client::builder()
            // No per-request timeout: the one below bounds the whole refresh, and a second
            // timer of the same length could fire first and hide which limit was hit.
            .connect_timeout(connect_timeout)
            .user_agent(concat!("supplygate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TufError::Client)?;
        config = config.with_http_client(client);
    }
    let fetched = tokio::time::timeout(settings.timeout, TrustedRoot::from_tuf(config)).await;
    match fetched {
        Ok(Ok(root)) => Ok(Arc::new(root)),
        Ok(Err(cause)) => match (network, cache) {
            (Network::Offline, Some(dir)) => Err(TufError::Cache { url, dir, cause }),
            _ => Err(TufError::Refresh { url, cause }),
        },
        Err(_) => Err(TufError::TimedOut {
            url,
            after: settings.timeout,
        }),
    }
}

fn read_root(path: &Path) -> Result<Vec<u8>, TufError> {
    let read = crate::bounded::read_file(path, ROOT_MAX).map_err(|source| TufError::ReadRoot {
        path: path.to_path_buf(),
        source,
    })?;
    read.ok_or_else(|| TufError::RootTooLarge {
        path: path.to_path_buf(),
    })
}

/// One subdirectory per repository, so that a cache never mixes two repositories' metadata:
/// `https://tuf.example/x` -> `https%3A%2F%2Ftuf.example%2Fx`.
fn cache_dir_for(base: &Path, url: &str) -> PathBuf {
    let mut name = String::with_capacity(url.len() * 3);
    for byte in url.trim_end_matches('/').bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    base.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_repository_needs_its_root() {
        let settings = TufSettings {
            url: "https://tuf.example.internal".into(),
            ..TufSettings::default()
        };
        let e = validate(&settings).unwrap_err().to_string();
        assert!(e.contains("set `tuf.root`"), "{e}");
        assert!(validate(&TufSettings::default()).is_ok());
        let with_slash = TufSettings {
            url: format!("{PUBLIC_GOOD_URL}/"),
            ..TufSettings::default()
        };
        assert!(validate(&with_slash).is_ok());
    }

    #[test]
    fn only_http_urls_are_accepted() {
        for url in ["file:///etc", "tuf.example", "https://a b"] {
            let settings = TufSettings {
                url: url.into(),
                root: Some("root.json".into()),
                ..TufSettings::default()
            };
            assert!(
                matches!(validate(&settings), Err(TufError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn cache_directories_are_per_repository() {
        let base = Path::new("/cache");
        assert_eq!(
            cache_dir_for(base, "http://127.0.0.1:8080/tuf/"),
            Path::new("/cache/http%3A%2F%2F127.0.0.1%3A8080%2Ftuf")
        );
        assert_ne!(
            cache_dir_for(base, "https://a.example"),
            cache_dir_for(base, "https://b.example")
        );
    }

    #[tokio::test]
    async fn offline_without_a_cache_is_an_error_not_a_fallback() {
        let e = refresh(
            &TufSettings::default(),
            Network::Offline,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, TufError::OfflineWithoutCache), "{e}");
    }

    #[tokio::test]
    async fn an_unreadable_root_is_named() {
        let settings = TufSettings {
            url: "http://127.0.0.1:9".into(),
            root: Some("/nonexistent/root.json".into()),
            ..TufSettings::default()
        };
        let e = refresh(&settings, Network::Online, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read TUF root `/nonexistent/root.json`"),
            "{e}"
        );
    }
}
