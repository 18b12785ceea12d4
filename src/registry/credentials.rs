//! Stage (3): registry credentials from docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore`) and docker credential helpers.
//!
//! Secrets never reach a log line, an error message or `Debug` output: [`Credential`] and
//! [`Secret`] print `<redacted>`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::OnceCell;

use crate::reference::DOCKER_HUB;

/// The key docker uses for Docker Hub in `auths` and for credential helpers.
const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";
/// A credential helper's largest answer we read.
const HELPER_OUTPUT_LIMIT: usize = 64 * 1024;

/// A string that must never be shown.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for a request header or body only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// User name and password (or a personal access token used as one).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(Secret),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credential {
    /// The value of an `Authorization: Basic` header, when this is a user and password.
    pub(crate) fn basic_header(&self) -> Option<Secret> {
        match self {
            Self::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                Some(Secret(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )))
            }
            Self::IdentityToken(_) => None,
        }
    }
}

#[derive(Default, serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Looks credentials up per host, reading `config.json` once and asking each helper once.
pub(crate) struct CredentialStore {
    config_path: Option<PathBuf>,
    helper_dir: Option<PathBuf>,
    helper_timeout: Duration,
    config: OnceCell<DockerConfig>,
    per_host: Mutex<HashMap<String, Arc<OnceCell<Option<Credential>>>>>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("config_path", &self.config_path)
            .field("helper_dir", &self.helper_dir)
            .finish_non_exhaustive()
    }
}

impl CredentialStore {
    /// `config_path`: the settings' `docker_config` (a file, or a directory holding
    /// `config.json`); when `None`, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    /// `helper_dir`: where `docker-credential-<name>` programs are; `None` searches `PATH`.
    pub(crate) fn new(
        config_path: Option<PathBuf>,
        helper_dir: Option<PathBuf>,
        helper_timeout: Duration,
    ) -> Self {
        let config_path = config_path
            .map(|p| if p.is_dir() { p.join("config.json") } else { p })
            .or_else(default_config_path);
        Self {
            config_path,
            helper_dir,
            helper_timeout,
            config: OnceCell::new(),
            per_host: Mutex::new(HashMap::new()),
        }
    }

    /// The credentials for `registry` (`docker.io`, `ghcr.io`, `127.0.0.1:5000`), if any.
    pub(crate) async fn lookup(&self, registry: &str) -> Option<Credential> {
        let host = normalise_host(registry);
        let cell = {
            let mut map = self.per_host.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(host.clone()).or_default())
        };
        cell.get_or_init(|| self.find(host)).await.clone()
    }

    async fn find(&self, host: String) -> Option<Credential> {
        let config = self.config.get_or_init(|| self.read_config()).await;
        // docker's order: a per-host helper wins; then a stored `auths` entry; then the store.
        if let Some((_, helper)) = config
            .cred_helpers
            .iter()
            .find(|(key, _)| normalise_host(key) == host)
        {
            return self.run_helper(helper, &host).await;
        }
        for (key, entry) in &config.auths {
            if normalise_host(key) != host {
                continue;
            }
            if let Some(credential) = decode_entry(key, entry) {
                return Some(credential);
            }
        }
        match &config.creds_store {
            Some(store) if !store.is_empty() => self.run_helper(store, &host).await,
            _ => None,
        }
    }

    async fn read_config(&self) -> DockerConfig {
        let Some(path) = &self.config_path else {
            return DockerConfig::default();
        };
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return DockerConfig::default(),
            Err(e) => {
                tracing::warn!("cannot read docker config `{}`: {e}", path.display());
                return DockerConfig::default();
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(config) => config,
            Err(e) => {
                // Only the position: serde's message may quote a value, and values are secrets.
                tracing::warn!(
                    "ignoring docker config `{}`: not a valid config at line {} column {}",
                    path.display(),
                    e.line(),
                    e.column()
                );
                DockerConfig::default()
            }
        }
    }

    async fn run_helper(&self, name: &str, host: &str) -> Option<Credential> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            tracing::warn!("ignoring credential helper `{name}`: not a plain program name");
            return None;
        }
        let program = format!("docker-credential-{name}");
        let program: PathBuf = match &self.helper_dir {
            Some(dir) => dir.join(&program),
            None => PathBuf::from(program),
        };
        let server = if host == DOCKER_HUB {
            DOCKER_HUB_SERVER_URL
        } else {
            host
        };
        match tokio::time::timeout(self.helper_timeout, ask_helper(&program, server)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(reason)) => {
                tracing::warn!(
                    "credential helper `{}` failed for `{host}`: {reason}",
                    program.display()
                );
                None
            }
            Err(_) => {
                tracing::warn!(
                    "credential helper `{}` did not answer for `{host}` within {}s",
                    program.display(),
                    self.helper_timeout.as_secs()
                );
                None
            }
        }
    }
}

/// Runs `<program> get` with `server` on stdin. `Ok(None)`: the helper has no credentials.
async fn ask_helper(program: &Path, server: &str) -> Result<Option<Credential>, String> {
    /// "Text file busy": a helper written just now can still be open for writing in a child
    /// that another thread is forking; that lasts until the child's exec.
    const ETXTBSY: i32 = 26;
    let mut command = tokio::process::Command::new(program);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut busy = 0;
    let mut child = loop {
        match command.spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && busy < 3 => {
                busy += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(format!("cannot run it: {e}")),
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .await
            .map_err(|e| format!("cannot write to it: {e}"))?;
        // Dropping stdin closes it, so the helper sees the end of its input.
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("cannot read its answer: {e}"))?;
    if !output.status.success() {
        // docker-credential-helpers answer "credentials not found" with exit status 1.
        let not_found = String::from_utf8_lossy(&output.stdout)
            .to_ascii_lowercase()
            .contains("credentials not found");
        return if not_found {
            Ok(None)
        } else {
            Err(format!("it exited with {}", output.status))
        };
    }
    if output.stdout.len() > HELPER_OUTPUT_LIMIT {
        return Err("its answer is too large".to_owned());
    }
    // The answer holds the secret: report only that it is malformed, never its content.
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| "its answer is not `{\"Username\":…,\"Secret\":…}` JSON".to_owned())?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if answer.username == "<token>" {
        Credential::IdentityToken(Secret(answer.secret))
    } else {
        Credential::Basic {
            username: answer.username,
            password: Secret(answer.secret),
        }
    }))
}

fn decode_entry(key: &str, entry: &AuthEntry) -> Option<Credential> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Some(Credential::IdentityToken(Secret(token.clone())));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((username, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            tracing::warn!(
                "ignoring `auths.\"{key}\".auth` in docker config: not base64 of `user:password`"
            );
            return None;
        };
        return Some(Credential::Basic {
            username: username.to_owned(),
            password: Secret(password.to_owned()),
        });
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => Some(Credential::Basic {
            username: username.clone(),
            password: Secret(password.clone()),
        }),
        _ => None,
    }
}

/// `https://index.docker.io/v1/` -> `docker.io`; `http://host:5000/path` -> `host:5000`.
pub(crate) fn normalise_host(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => host,
    }
}

fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(config: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let store = CredentialStore::new(
            Some(dir.path().to_path_buf()),
            Some(dir.path().to_path_buf()),
            Duration::from_secs(10),
        );
        (dir, store)
    }

    fn basic(user: &str, password: &str) -> Option<Credential> {
        Some(Credential::Basic {
            username: user.to_owned(),
            password: Secret(password.to_owned()),
        })
    }

    #[test]
    fn normalises_docker_hub_keys_and_schemes() {
        assert_eq!(normalise_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_host("registry-1.docker.io"), "docker.io");
        assert_eq!(
            normalise_host("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(normalise_host("GHCR.io"), "ghcr.io");
    }

    #[tokio::test]
    async fn reads_base64_auth_and_docker_hub_v1_key() {
        // "alice:s3cret" and "bob:pw:with:colons"
        let (_dir, store) = store_with(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"},
                "https://127.0.0.1:5000":{"auth":"Ym9iOnB3OndpdGg6Y29sb25z"},
                "ghcr.io":{"username":"carol","password":"pat"},
                "quay.io":{"identitytoken":"refresh-me"}}}"#,
        );
        assert_eq!(store.lookup("docker.io").await, basic("alice", "s3cret"));
        assert_eq!(
            store.lookup("127.0.0.1:5000").await,
            basic("bob", "pw:with:colons")
        );
        assert_eq!(store.lookup("ghcr.io").await, basic("carol", "pat"));
        assert_eq!(
            store.lookup("quay.io").await,
            Some(Credential::IdentityToken(Secret("refresh-me".into())))
        );
        assert_eq!(store.lookup("example.com").await, None);
    }

    #[tokio::test]
    async fn missing_or_broken_config_means_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(
            Some(dir.path().join("nope.json")),
            None,
            Duration::from_secs(1),
        );
        assert_eq!(store.lookup("ghcr.io").await, None);
        let (_dir, broken) = store_with("{not json");
        assert_eq!(broken.lookup("ghcr.io").await, None);
        let (_dir, bad_b64) = store_with(r#"{"auths":{"ghcr.io":{"auth":"***"}}}"#);
        assert_eq!(bad_b64.lookup("ghcr.io").await, None);
    }

    #[cfg(unix)]
    fn write_helper(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn asks_cred_helper_with_host_on_stdin() {
        let (dir, store) = store_with(
            r#"{"credHelpers":{"127.0.0.1:5000":"test"},
                "auths":{"127.0.0.1:5000":{"auth":"aWdub3JlZDppZ25vcmVk"}}}"#,
        );
        // The helper answers only for the host it is asked about, read from stdin.
        write_helper(
            dir.path(),
            "test",
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r host || true\n\
             if [ \"$host\" = 127.0.0.1:5000 ]; then\n\
             printf '{\"ServerURL\":\"%s\",\"Username\":\"helper-user\",\"Secret\":\"helper-pw\"}' \"$host\"\n\
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
        );
        assert_eq!(
            store.lookup("127.0.0.1:5000").await,
            basic("helper-user", "helper-pw")
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn creds_store_token_user_is_an_identity_token_and_not_found_is_anonymous() {
        let (dir, store) = store_with(r#"{"credsStore":"test"}"#);
        write_helper(
            dir.path(),
            "test",
            "#!/bin/sh\nread -r host || true\n\
             case \"$host\" in\n\
             https://index.docker.io/v1/) echo '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}';;\n\
             *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        );
        assert_eq!(
            store.lookup("docker.io").await,
            Some(Credential::IdentityToken(Secret("refresh".into())))
        );
        assert_eq!(store.lookup("ghcr.io").await, None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn hanging_helper_times_out_to_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"credsStore":"slow"}"#).unwrap();
        write_helper(dir.path(), "slow", "#!/bin/sh\nexec sleep 30\n");
        let store = CredentialStore::new(
            Some(dir.path().to_path_buf()),
            Some(dir.path().to_path_buf()),
            Duration::from_millis(300),
        );
        assert_eq!(store.lookup("ghcr.io").await, None);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let credential = basic("alice", "hunter2").unwrap();
        let shown = format!("{credential:?}");
        assert!(shown.contains("alice"));
        assert!(!shown.contains("hunter2"));
        let token = Credential::IdentityToken(Secret("tok-123".into()));
        assert!(!format!("{token:?}").contains("tok-123"));
        let header = credential.basic_header().unwrap();
        assert!(!format!("{header:?}").contains("Basic"));
    }
}
