//! `--tuf-refresh` end to end: the `supplygate` binary fetches the Sigstore trusted root through
//! TUF from a repository served on 127.0.0.1 (the python-tuf repositories of `fixtures/tuf`),
//! and keyless verification uses it. The fixture's target is the trusted root of a throwaway
//! test Sigstore (`tests/it/common/pki.rs`) that signed `fixtures/tuf/sigstore/bundle.json`, so
//! the signed image is allowed only when the fetched root is the one in use.
//!
//! Every TUF failure (tampered target or metadata, expired metadata, rollback, timeout) is an
//! error, exit 2, naming what failed; a key-only config makes no request at all.
//!
//! `fixtures/tuf/generate.sh` regenerates the fixture: this file's
//! `fixture_bundle_verifies_only_with_the_fixture_root` with
//! `SUPPLYGATE_REGENERATE_TUF_FIXTURE=1` writes a new test Sigstore, then python-tuf writes
//! the repositories.
use crate::common;

use crate::pki;
use common::case::{run_in_env, Case};
use common::Outcome;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{GeneratedImage, OciLayout, TestRegistry, OCI_MANIFEST};
use pki::{TestKey, TestSigstore, BUNDLE_V03, COSIGN_SIGN_PREDICATE, ISSUER, OCI_EMPTY, SUBJECT};
use serde_json::json;
use supplygate::verify::tuf::{self, Network, TufSettings};

/// The content of the signed image: `GeneratedImage::new(IMAGE_CONTENT, "amd64", None)`,
/// which `TestRegistry::push_generated(_, IMAGE_SEED)` pushes, always the same digest.
const IMAGE_SEED: u64 = 4242;
const IMAGE_CONTENT: &str = "seed 4242";
/// The host name the OCI layout stands in for, in tests that need no registry.
const LAYOUT_HOST: &str = "registry.tuf.test";
const REPO: &str = "tuf/app";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tuf")
        .join(path)
}

fn image() -> GeneratedImage {
    GeneratedImage::new(IMAGE_CONTENT, "amd64", None)
}

fn bundle() -> Vec<u8> {
    std::fs::read(fixture("sigstore/bundle.json")).unwrap()
}

// ------------------------------------------------------------------ a TUF repository on loopback

/// A static file server on 127.0.0.1 (HTTP/1.1, one request per connection), recording every
/// path asked for. `hanging` accepts connections and never answers.
struct FileServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    root: Arc<Mutex<PathBuf>>,
}

impl FileServer {
    fn serve(root: &Path) -> Self {
        Self::start(Some(root))
    }

    fn hanging() -> Self {
        Self::start(None)
    }

    fn start(root: Option<&Path>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(Mutex::new(root.map(Path::to_path_buf).unwrap_or_default()));
        let hang = root.is_none();
        let (log, dir) = (requests.clone(), served.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, dir) = (log.clone(), dir.clone());
                std::thread::spawn(move || {
                    if hang {
                        std::thread::sleep(Duration::from_secs(600));
                        drop(stream);
                    } else {
                        answer(stream, &log, &dir);
                    }
                });
            }
        });
        Self {
            port,
            requests,
            root: served,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves another directory from now on.
    fn set_root(&self, root: &Path) {
        *self.root.lock().unwrap() = root.to_path_buf();
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(mut stream: TcpStream, log: &Mutex<Vec<String>>, root: &Mutex<PathBuf>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    log.lock().unwrap().push(path.clone());
    let relative = path.trim_start_matches('/');
    let file = root.lock().unwrap().join(relative);
    let body = if relative.split('/').any(|c| c == "..") {
        None
    } else {
        std::fs::read(file).ok()
    };
    let response = match body {
        Some(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&response);
}

/// A copy of a fixture repository, to break one thing in it.
fn copy_repository(name: &str, into: &Path) -> PathBuf {
    let dest = into.join(name);
    common::copy_dir(&fixture(name), &dest);
    dest
}

/// The path of the one target file of a repository (`targets/<sha256>.trusted_root.json`).
fn target_file(repository: &Path) -> PathBuf {
    let entry = std::fs::read_dir(repository.join("targets"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    entry.path()
}

// ------------------------------------------------------------------ the binary

/// Where the image and its signatures live.
enum Images {
    /// A real `docker-registry`.
    Registry(TestRegistry),
    /// An OCI layout standing in for [`LAYOUT_HOST`].
    Layout(PathBuf),
}

/// A check of one image with the TUF settings: `supplygate.yaml` and a manifest written into
/// a [`Case`] (the shared scratch directory that runs the binary).
struct TufCheck {
    case: Case,
    images: Images,
    signers: String,
    tuf: Vec<String>,
    /// Temp dirs that must live as long as the case (layouts).
    kept: Vec<tempfile::TempDir>,
}

const KEYLESS_SIGNER: &str = "keyless";

impl TufCheck {
    /// The fixture image with the fixture bundle, in the real registry.
    fn in_registry() -> Self {
        let registry = TestRegistry::start();
        let digest = registry.push_generated(&format!("{REPO}:v1"), IMAGE_SEED);
        assert_eq!(digest, image().digest());
        pki::push_bundle_referrer(&registry, REPO, &digest, &[bundle()]);
        Self::new(Images::Registry(registry))
    }

    /// The fixture image with the fixture bundle as its referrer, in an OCI layout.
    fn in_layout() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::new(dir.path());
        let image = image();
        let digest = layout.add_image(&image);
        layout.tag(&digest, OCI_MANIFEST, "v1");
        let bundle = bundle();
        let empty = layout.add_blob(b"{}");
        let layer = layout.add_blob(&bundle);
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": { "mediaType": OCI_EMPTY, "digest": empty, "size": 2 },
            "layers": [{ "mediaType": BUNDLE_V03, "digest": layer, "size": bundle.len() }],
            "subject": { "mediaType": OCI_MANIFEST, "digest": digest, "size": image.manifest.len() },
            "annotations": {
                "dev.sigstore.bundle.content": "dsse-envelope",
                "dev.sigstore.bundle.predicateType": COSIGN_SIGN_PREDICATE,
            },
        }))
        .unwrap();
        let referrer = layout.add_blob(&referrer);
        layout.tag(&referrer, OCI_MANIFEST, "bundle");
        layout.write_index();
        let mut case = Self::new(Images::Layout(layout.path().to_path_buf()));
        case.kept.push(dir);
        case
    }

    fn new(images: Images) -> Self {
        Self {
            case: Case::new(),
            images,
            signers: format!(
                "  {KEYLESS_SIGNER}:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n"
            ),
            tuf: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Replaces the signers (YAML under `signers:`, indented two spaces).
    fn signers(mut self, yaml: &str) -> Self {
        self.signers = yaml.to_owned();
        self
    }

    /// Sets `key: value` under `tuf:`.
    fn tuf(mut self, key: &str, value: &str) -> Self {
        let prefix = format!("  {key}: ");
        self.tuf.retain(|line| !line.starts_with(&prefix));
        self.tuf.push(format!("{prefix}{value}\n"));
        self
    }

    /// `tuf.url` is `server`, `tuf.root` the fixture's initial root.
    fn from(self, server: &FileServer) -> Self {
        let root = fixture("root.json");
        self.tuf("url", &server.url())
            .tuf("root", &format!("\"{}\"", root.display()))
            .tuf("timeout", "20s")
    }

    fn cache_dir(&self) -> PathBuf {
        self.case.path("tuf-cache")
    }

    fn dir(&self) -> &Path {
        self.case.dir()
    }

    fn host(&self) -> String {
        match &self.images {
            Images::Registry(r) => r.host(),
            Images::Layout(_) => LAYOUT_HOST.to_owned(),
        }
    }

    fn write(&self) {
        let host = self.host();
        let registry = match &self.images {
            Images::Registry(_) => format!("  \"{host}\":\n    insecure: true\n"),
            Images::Layout(path) => format!("  \"{host}\":\n    layout: \"{}\"\n", path.display()),
        };
        let mut config = format!(
            "registries:\n{registry}network:\n  request_timeout: 5s\n  retries: 1\n\
             signers:\n{signers}require:\n  - images: [\"{host}/tuf/**\"]\n    signers: [{first}]\n",
            signers = self.signers,
            first = self
                .signers
                .trim_start()
                .split(':')
                .next()
                .unwrap_or_default(),
        );
        if !self.tuf.is_empty() {
            config.push_str("tuf:\n");
            for line in &self.tuf {
                config.push_str(line);
            }
        }
        self.case.write("supplygate.yaml", &config);
        let manifest = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {host}/{REPO}:v1\n"
        );
        self.case.write("app.yaml", &manifest);
    }

    /// `supplygate check app.yaml --format json` with `args` and `env`.
    fn check(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        self.write();
        let mut all = vec!["check", "--config", "supplygate.yaml", "app.yaml"];
        all.extend_from_slice(&["--format", "json"]);
        all.extend_from_slice(args);
        run_in_env(self.case.dir(), &all, env)
    }
}

// ------------------------------------------------------------------ the fixture itself

/// The fixture bundle verifies with the fixture Sigstore's root given as a file, and not with
/// the embedded public-good root: so in the tests below, "allowed" means "the TUF root was
/// used". With `SUPPLYGATE_REGENERATE_TUF_FIXTURE=1`, first writes a new test Sigstore's
/// trusted root and a bundle signing the fixture image (then run `fixtures/tuf/generate.py`).
#[test]
fn fixture_bundle_verifies_only_with_the_fixture_root() {
    if std::env::var_os("SUPPLYGATE_REGENERATE_TUF_FIXTURE").is_some() {
        let sigstore = TestSigstore::new();
        let dir = fixture("sigstore");
        std::fs::create_dir_all(&dir).unwrap();
        sigstore.write_trusted_root(&dir.join("trusted_root.json"));
        let bundle = sigstore
            .keyless(&format!("{LAYOUT_HOST}/{REPO}"), &image().digest())
            .sign_bundle();
        std::fs::write(dir.join("bundle.json"), bundle).unwrap();
    }
    let case = TufCheck::in_registry();
    let out = case.check(&[], &[]);
    assert_eq!(out.code, 1, "the embedded root must not verify it: {out:?}");
    assert_eq!(out.verified_by(), json!([]), "{out:?}");

    let root = fixture("sigstore/trusted_root.json");
    let case = case.signers(&format!(
        "  {KEYLESS_SIGNER}:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: \"{}\"\n",
        root.display()
    ));
    let out = case.check(&[], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.verified_by(), json!([KEYLESS_SIGNER]), "{out:?}");
}

// ------------------------------------------------------------------ refresh

#[test]
fn keyless_verification_uses_the_root_fetched_through_tuf() {
    let server = FileServer::serve(&fixture("repository"));
    let case = TufCheck::in_registry().from(&server);

    // Not asked: no request, the embedded root, which does not know the test Sigstore.
    let out = case.check(&[], &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(server.requests(), Vec::<String>::new());

    let out = case.check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.verified_by(), json!([KEYLESS_SIGNER]), "{out:?}");
    let requests = server.requests();
    let target = target_file(&fixture("repository"));
    let target_name = target.file_name().unwrap().to_str().unwrap();
    for expected in [
        "/2.root.json".to_owned(),
        "/3.root.json".to_owned(),
        "/timestamp.json".to_owned(),
        "/2.snapshot.json".to_owned(),
        "/2.targets.json".to_owned(),
        format!("/targets/{target_name}"),
    ] {
        assert!(requests.contains(&expected), "{expected} in {requests:?}");
    }
}

#[test]
fn the_environment_variable_asks_for_the_refresh_too() {
    let server = FileServer::serve(&fixture("repository"));
    let case = TufCheck::in_layout().from(&server);
    let out = case.check(&[], &[("SUPPLYGATE_TUF_REFRESH", "1")]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!server.requests().is_empty());
}

#[test]
fn a_tampered_target_is_an_error_naming_it() {
    let scratch = tempfile::tempdir().unwrap();
    let repository = copy_repository("repository", scratch.path());
    let target = target_file(&repository);
    // Same length, other bytes: only the pinned hash can tell (another CA URI stands for a CA
    // the attacker controls).
    let original = std::fs::read_to_string(&target).unwrap();
    let tampered = original.replace("fulcio.supplygate", "fulcio.evilsigner");
    assert_ne!(tampered, original);
    assert_eq!(tampered.len(), original.len());
    std::fs::write(&target, tampered).unwrap();
    let server = FileServer::serve(&repository);

    let out = TufCheck::in_layout()
        .from(&server)
        .check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("cannot refresh the Sigstore trusted root (`--tuf-refresh`)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("trusted_root.json"), "{out:?}");
    assert!(out.stderr.contains("sha256 mismatch"), "{out:?}");
    // No decision without trust material: the report that is still written (issue 11) says
    // the run could not decide and evaluated nothing.
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["decision"], "error", "{out:?}");
    assert_eq!(report["images"], serde_json::json!([]), "{out:?}");
    assert_eq!(report["errors"][0]["code"], "run-failed", "{out:?}");
}

#[test]
fn tampered_metadata_is_an_error_naming_the_role() {
    let scratch = tempfile::tempdir().unwrap();
    let repository = copy_repository("repository", scratch.path());
    // Point the timestamp at another snapshot without re-signing it.
    let path = repository.join("timestamp.json");
    let mut timestamp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    timestamp["signed"]["meta"]["snapshot.json"]["version"] = json!(7);
    std::fs::write(&path, serde_json::to_vec_pretty(&timestamp).unwrap()).unwrap();
    let server = FileServer::serve(&repository);

    let out = TufCheck::in_layout()
        .from(&server)
        .check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    let stderr = out.stderr.to_lowercase();
    assert!(stderr.contains("timestamp"), "{out:?}");
    assert!(
        stderr.contains("signature") || stderr.contains("threshold"),
        "{out:?}"
    );
}

#[test]
fn expired_metadata_is_an_error() {
    let server = FileServer::serve(&fixture("expired"));
    let out = TufCheck::in_layout()
        .from(&server)
        .check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("expired"), "{out:?}");
    assert!(out.stderr.contains(&server.url()), "{out:?}");
}

#[test]
fn a_rollback_to_older_metadata_is_refused() {
    let server = FileServer::serve(&fixture("repository"));
    let case = TufCheck::in_layout().from(&server);
    let cache = case.cache_dir();
    let case = case.tuf("cache_dir", &format!("\"{}\"", cache.display()));
    let out = case.check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 0, "{out:?}");

    // The same repository, validly signed, but older than what the cache has seen.
    server.set_root(&fixture("rollback"));
    let out = case.check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    let stderr = out.stderr.to_lowercase();
    assert!(
        stderr.contains("version") || stderr.contains("rollback"),
        "{out:?}"
    );
}

#[test]
fn a_repository_that_does_not_answer_times_out_as_an_error() {
    let server = FileServer::hanging();
    let out = TufCheck::in_layout()
        .from(&server)
        .tuf("timeout", "1s")
        .check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("timed out after 1s"), "{out:?}");
}

#[test]
fn the_embedded_root_is_used_on_failure_only_when_asked() {
    let server = FileServer::serve(&fixture("expired"));
    let out = TufCheck::in_layout()
        .from(&server)
        .tuf("insecure_fallback_to_embedded", "true")
        .check(&["--tuf-refresh"], &[]);
    // A decision (with the embedded root, which does not know the test Sigstore), not an error.
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("expired"), "{out:?}");
    assert!(
        out.stderr.contains("tuf.insecure_fallback_to_embedded"),
        "{out:?}"
    );
}

// ------------------------------------------------------------------ no request when not needed

#[test]
fn a_key_only_config_makes_no_tuf_request() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate();
    let mut layout = OciLayout::new(dir.path());
    let digest = layout.add_image(&image());
    layout.tag(&digest, OCI_MANIFEST, "v1");
    let (manifest, blobs) =
        pki::signature_manifest(&[key.sign(&format!("{LAYOUT_HOST}/{REPO}"), &digest)]);
    for blob in &blobs {
        layout.add_blob(blob);
    }
    let signature = layout.add_blob(&manifest);
    layout.tag(&signature, OCI_MANIFEST, &pki::sig_tag(&digest));
    layout.write_index();
    let server = FileServer::serve(&fixture("repository"));

    let mut case = TufCheck::new(Images::Layout(layout.path().to_path_buf()));
    case.kept.push(dir);
    let pem = key.public_pem().replace('\n', "\n        ");
    let out = case
        .signers(&format!(
            "  release:\n    insecure_ignore_tlog: true\n    key: |\n        {pem}\n"
        ))
        .from(&server)
        .check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(server.requests(), Vec::<String>::new());
}

#[test]
fn a_signer_with_its_own_trusted_root_makes_no_tuf_request() {
    let server = FileServer::serve(&fixture("repository"));
    let root = fixture("sigstore/trusted_root.json");
    let out = TufCheck::in_layout()
        .signers(&format!(
            "  {KEYLESS_SIGNER}:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: \"{}\"\n",
            root.display()
        ))
        .from(&server)
        .check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(server.requests(), Vec::<String>::new());
}

// ------------------------------------------------------------------ the cache, offline

#[test]
fn offline_runs_reuse_the_last_verified_root_from_the_cache() {
    let server = FileServer::serve(&fixture("repository"));
    let case = TufCheck::in_layout().from(&server);
    let cache = case.cache_dir();

    // Offline without a cache: an error, not the embedded root.
    let out = case.check(&["--tuf-refresh", "--offline"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("`tuf.cache_dir` is not set"), "{out:?}");

    let case = case.tuf("cache_dir", &format!("\"{}\"", cache.display()));
    let out = case.check(&["--tuf-refresh", "--offline"], &[]);
    assert_eq!(out.code, 2, "nothing cached yet: {out:?}");

    let out = case.check(&["--tuf-refresh"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let online = server.requests().len();
    assert!(online > 0);

    let out = case.check(&["--tuf-refresh", "--offline"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.verified_by(), json!([KEYLESS_SIGNER]), "{out:?}");
    assert_eq!(server.requests().len(), online, "offline made a request");
}

#[test]
fn a_tampered_cache_does_not_verify_offline() {
    let server = FileServer::serve(&fixture("repository"));
    let scratch = tempfile::tempdir().unwrap();
    let settings = TufSettings {
        url: server.url(),
        root: Some(fixture("root.json")),
        cache_dir: Some(scratch.path().to_path_buf()),
        timeout: Duration::from_secs(20),
        insecure_fallback_to_embedded: false,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fetched = runtime
        .block_on(tuf::refresh(
            &settings,
            Network::Online,
            Duration::from_secs(5),
        ))
        .unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("sigstore/trusted_root.json")).unwrap())
            .unwrap();
    assert_eq!(
        fetched.certificate_authorities.len(),
        expected["certificateAuthorities"].as_array().unwrap().len()
    );

    // Swap the cached target for another trusted root: offline re-verification refuses it.
    let cached = walk(scratch.path())
        .into_iter()
        .find(|p| p.ends_with("targets/trusted_root.json"))
        .unwrap();
    std::fs::write(
        &cached,
        sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT,
    )
    .unwrap();
    let e = runtime
        .block_on(tuf::refresh(
            &settings,
            Network::Offline,
            Duration::from_secs(5),
        ))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not verify"), "{e}");
    assert!(e.contains("trusted_root.json"), "{e}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

// ------------------------------------------------------------------ serve: periodic refresh

/// A `supplygate serve` child, killed on drop; its stderr goes to a file.
struct Serving {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until `check` holds, then returns what it found.
    fn eventually<T>(&self, what: &str, mut check: impl FnMut(&str) -> Option<T>) -> T {
        let until = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = check(&self.log()) {
                return found;
            }
            assert!(
                std::time::Instant::now() < until,
                "{what} never happened\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether the webhook at `addr` allows a Deployment of `image` (the AdmissionReview fixture).
async fn allows(addr: &str, ca_pem: &str, image: &str) -> bool {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/admission/deployment-create.json");
    let mut review: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(image);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let answer: serde_json::Value = client
        .post(format!("https://{addr}/validate"))
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["response"]["allowed"].as_bool().unwrap()
}

/// `serve --tuf-refresh --reload-interval 1s` with `tuf.url` on `server` and
/// `insecure_fallback_to_embedded` (which applies at start, and on reload only while the
/// embedded root serves): the case, the server, its CA, its address, and the image to review.
fn serve_reloading_every_second(
    server: &FileServer,
) -> (TufCheck, Serving, pki::ServingCert, String, String) {
    let case = TufCheck::in_registry()
        .from(server)
        .tuf("insecure_fallback_to_embedded", "true");
    case.write();
    let cert = pki::ServingCert::new("tuf test CA");
    cert.write(case.dir());
    let log = case.dir().join("serve.log");
    let child = common::serve_command(case.dir(), &["--tuf-refresh", "--reload-interval", "1s"])
        .env_remove("SUPPLYGATE_OFFLINE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let serving = Serving { child, log };
    let addr = serving.eventually("listening", |log| {
        log.lines()
            .find_map(|l| l.strip_prefix("listening on https://"))
            .map(str::to_owned)
    });
    let image = format!("{}/{REPO}:v1", case.host());
    (case, serving, cert, addr, image)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refreshes_the_trusted_root_at_each_reload_interval() {
    let server = FileServer::serve(&fixture("repository"));
    // With the fallback on: once a root was fetched, a failed refresh on reload keeps it,
    // never an older embedded one.
    let (_case, serving, cert, addr, image) = serve_reloading_every_second(&server);
    // Allowed: the root fetched through TUF at start is in use (the embedded one denies).
    assert!(
        allows(&addr, &cert.ca_pem, &image).await,
        "{}",
        serving.log()
    );

    // Fetched again at every interval, without a signal.
    let timestamps = || {
        server
            .requests()
            .iter()
            .filter(|p| p.as_str() == "/timestamp.json")
            .count()
    };
    serving.eventually("two refreshes after the first", |_| {
        (timestamps() >= 3).then_some(())
    });
    assert!(
        serving.log().contains("trigger=interval"),
        "{}",
        serving.log()
    );

    // The repository's metadata expires: the refresh fails, the last good root keeps serving
    // (the embedded one would deny).
    server.set_root(&fixture("expired"));
    serving.eventually("a failed refresh", |log| {
        log.lines()
            .any(|l| l.contains("reload-failed") && l.contains("expired"))
            .then_some(())
    });
    assert!(
        allows(&addr, &cert.ca_pem, &image).await,
        "{}",
        serving.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_that_started_on_the_embedded_root_moves_to_the_fetched_one_when_tuf_answers() {
    // Expired metadata at start: with the fallback, serve starts on the embedded root.
    let server = FileServer::serve(&fixture("expired"));
    let (_case, serving, cert, addr, image) = serve_reloading_every_second(&server);
    assert!(
        !allows(&addr, &cert.ca_pem, &image).await,
        "the embedded root does not know the test Sigstore\n{}",
        serving.log()
    );
    // Reloads while TUF still fails may fall back too: the embedded root is what serves
    // already, and the config can still change.
    serving.eventually("a reload on the embedded root", |log| {
        log.lines()
            .any(|l| l.contains("reloaded") && l.contains("trigger=interval"))
            .then_some(())
    });
    // The repository is fixed: the next reload fetches its root, without a restart.
    server.set_root(&fixture("repository"));
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !allows(&addr, &cert.ca_pem, &image).await {
        assert!(
            std::time::Instant::now() < until,
            "the fetched root was never used\n{}",
            serving.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
