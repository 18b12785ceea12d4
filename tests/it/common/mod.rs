//! Test harness: starts Debian's `docker-registry` (distribution 2.8) for real on 127.0.0.1,
//! builds tiny OCI images, and pushes them with skopeo, the independent client whose answers
//! the tests compare ours with.
//!
//! Everything here is synchronous (std::process, std::net), so sync and tokio tests can use it.
//! `tests/it/main.rs` declares it once for every test module; not every module uses every helper.
#![allow(dead_code)]

pub mod att;
pub mod case;
pub mod pki;

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

const MISSING_TOOLS: &str = "run tests/run.sh: it installs docker-registry and skopeo";
const START_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 5;

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A running `docker-registry` on 127.0.0.1 with its own storage; killed on drop.
pub struct TestRegistry {
    child: Option<Child>,
    dir: TempDir,
    port: u16,
    auth: Option<(String, String)>,
}

impl TestRegistry {
    /// An anonymous registry over plain HTTP with deletes enabled.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// A registry that requires HTTP basic auth (htpasswd file, bcrypt as the registry requires).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Self {
        Self::start_inner(Some((user.to_owned(), password.to_owned())))
    }

    fn start_inner(auth: Option<(String, String)>) -> Self {
        require_tools();
        let dir = tempfile::Builder::new()
            .prefix("supplygate-registry-")
            .tempdir()
            .expect("create the registry's temp dir");
        let htpasswd = auth.as_ref().map(|(user, password)| {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap_or_else(|e| panic!("htpasswd: {e}; {MISSING_TOOLS} and apache2-utils"));
            assert!(out.status.success(), "htpasswd failed: {out:?}");
            let path = dir.path().join("htpasswd");
            fs::write(&path, &out.stdout).unwrap();
            path
        });
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let config_path = dir.path().join("config.yml");
            fs::write(
                &config_path,
                registry_config(dir.path(), port, htpasswd.as_deref()),
            )
            .unwrap();
            let stdout = fs::File::create(dir.path().join("access.log")).unwrap();
            let stderr = fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn docker-registry: {e}; {MISSING_TOOLS}"));
            match wait_until_ready(&mut child, dir.path(), port) {
                Ok(()) => {
                    return Self {
                        child: Some(child),
                        dir,
                        port,
                        auth,
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = e;
                    // Another process took the port between our probe and the registry's
                    // bind: try another one. Anything else is a real failure.
                    if !last_error.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("docker-registry did not start: {last_error}");
    }

    /// The registry's stderr so far.
    pub fn registry_log(&self) -> String {
        read_registry_log(self.dir.path())
    }

    /// `127.0.0.1:PORT`, the host part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host/reference`, e.g. `127.0.0.1:5000/demo/app:v1`.
    pub fn image(&self, reference: &str) -> String {
        format!("{}/{reference}", self.host())
    }

    /// A temp dir that lives as long as the registry (for docker configs, layouts, ...).
    pub fn scratch_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("scratch");
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Pushes every manifest of tag `src_tag` of an OCI layout (an index with `--all`) to
    /// `dest` (`repo:tag`) with skopeo, keeping the digests.
    pub fn push_layout(&self, layout_dir: &Path, src_tag: &str, dest: &str) {
        let src = format!("oci:{}:{src_tag}", layout_dir.display());
        let dst = format!("docker://{}", self.image(dest));
        let mut args = vec![
            "copy".to_owned(),
            "-q".to_owned(),
            "--all".to_owned(),
            "--preserve-digests".to_owned(),
            "--dest-tls-verify=false".to_owned(),
        ];
        if let Some((user, password)) = &self.auth {
            args.push(format!("--dest-creds={user}:{password}"));
        }
        args.push(src);
        args.push(dst);
        self.skopeo(&args);
    }

    /// Builds a tiny OCI image unique to `seed` (one config, one uncompressed tar layer),
    /// pushes it to `dest` (`repo:tag`) with skopeo, and returns its manifest digest.
    pub fn push_generated(&self, dest: &str, seed: u64) -> String {
        let mut layout = OciLayout::new(&self.scratch_dir());
        let image = GeneratedImage::new(&format!("seed {seed}"), "amd64", None);
        let digest = layout.add_image(&image);
        layout.tag(&digest, OCI_MANIFEST, "generated");
        layout.write_index();
        self.push_layout(layout.path(), "generated", dest);
        digest
    }

    /// Like [`Self::push_generated`], but an image index of linux/amd64 and linux/arm64/v8;
    /// returns the index digest and `(architecture, digest)` of each platform.
    pub fn push_generated_index(&self, dest: &str, seed: u64) -> (String, Vec<(String, String)>) {
        let mut layout = OciLayout::new(&self.scratch_dir());
        let (index, platforms) = layout.add_index(&format!("seed {seed}"));
        layout.tag(&index, OCI_INDEX, "generated");
        layout.write_index();
        self.push_layout(layout.path(), "generated", dest);
        (index, platforms)
    }

    /// Pushes one distinct tiny image per tag to `repo` with our own minimal HTTP/1.1 client
    /// (monolithic blob uploads, then the manifest): much faster than one skopeo per tag.
    /// Image `i` is made from the text `repo:tag`, so the same tag always gets the same digest.
    /// Returns the manifest digests, in the order of `tags`.
    pub fn push_generated_many(&self, repo: &str, tags: &[String]) -> Vec<String> {
        tags.iter()
            .map(|tag| {
                let image = GeneratedImage::new(&format!("{repo}:{tag}"), "amd64", None);
                self.upload_blob(repo, &image.layer);
                self.upload_blob(repo, &image.config);
                self.put_manifest(repo, tag, OCI_MANIFEST, &image.manifest);
                sha256_digest(&image.manifest)
            })
            .collect()
    }

    fn auth_header(&self) -> Vec<(String, String)> {
        match &self.auth {
            Some((user, password)) => vec![(
                "Authorization".to_owned(),
                format!("Basic {}", base64_encode(&format!("{user}:{password}"))),
            )],
            None => Vec::new(),
        }
    }

    /// Uploads a blob (monolithic: `POST` an upload, then `PUT` it with its digest).
    pub fn upload_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let headers = self.auth_header();
        let started = http(
            self.port,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &headers,
            &[],
        )
        .unwrap();
        assert_eq!(started.status, 202, "start upload: {started:?}");
        let location = started
            .header("location")
            .expect("upload location")
            .to_owned();
        // The location may be absolute; keep the path and query.
        let path = match location.find("/v2/") {
            Some(i) => location[i..].to_owned(),
            None => panic!("unexpected upload location `{location}`"),
        };
        let separator = if path.contains('?') { '&' } else { '?' };
        let done = http(
            self.port,
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            &headers,
            bytes,
        )
        .unwrap();
        assert_eq!(done.status, 201, "finish upload of {digest}: {done:?}");
        digest
    }

    /// Puts a manifest under `reference` (a tag or its digest).
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
        let mut headers = self.auth_header();
        headers.push(("Content-Type".to_owned(), media_type.to_owned()));
        let response = http(
            self.port,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
            body,
        )
        .unwrap();
        assert_eq!(
            response.status, 201,
            "put manifest {repo}:{reference}: {response:?}"
        );
    }

    /// Deletes a manifest by digest (the tags pointing at it go too).
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let response = http(
            self.port,
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &self.auth_header(),
            &[],
        )
        .unwrap();
        assert_eq!(
            response.status, 202,
            "delete manifest {repo}@{digest}: {response:?}"
        );
    }

    /// The digest an independent client (skopeo) sees for `reference` (`repo:tag` or
    /// `repo@digest`, without the host).
    pub fn skopeo_digest(&self, reference: &str) -> String {
        let mut args = vec![
            "inspect".to_owned(),
            "--tls-verify=false".to_owned(),
            "--format".to_owned(),
            "{{.Digest}}".to_owned(),
        ];
        if let Some((user, password)) = &self.auth {
            args.push(format!("--creds={user}:{password}"));
        }
        args.push(format!("docker://{}", self.image(reference)));
        self.skopeo(&args).trim().to_owned()
    }

    /// The raw manifest body skopeo fetches for `reference`.
    pub fn skopeo_raw_manifest(&self, reference: &str) -> Vec<u8> {
        let mut args = vec![
            "inspect".to_owned(),
            "--raw".to_owned(),
            "--tls-verify=false".to_owned(),
        ];
        if let Some((user, password)) = &self.auth {
            args.push(format!("--creds={user}:{password}"));
        }
        args.push(format!("docker://{}", self.image(reference)));
        self.skopeo(&args).into_bytes()
    }

    fn skopeo(&self, args: &[String]) -> String {
        // An empty auth file: the machine's credentials never leak into a test.
        let auth_file = self.dir.path().join("skopeo-auth.json");
        if !auth_file.exists() {
            fs::write(&auth_file, "{}").unwrap();
        }
        let out = Command::new("skopeo")
            .arg("--insecure-policy")
            .args(args)
            .env("REGISTRY_AUTH_FILE", &auth_file)
            .output()
            .unwrap_or_else(|e| panic!("run skopeo: {e}; {MISSING_TOOLS}"));
        assert!(
            out.status.success(),
            "skopeo {} failed: {}\nregistry stderr:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.registry_log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Rewrites a stored blob (a manifest body, too) in place, behind the registry's back:
    /// the registry keeps announcing the old digest and serves the new bytes.
    pub fn tamper_blob(&self, digest: &str, tamper: impl FnOnce(&mut Vec<u8>)) {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let path = self
            .dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let mut bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        tamper(&mut bytes);
        fs::write(&path, bytes).unwrap();
    }

    /// The requests to `/v2/` the registry has logged so far (its access log), not counting
    /// this method's own marker requests. Sends a marker request and waits until the registry
    /// has logged it, so every request answered before the call is counted.
    pub fn logged_requests(&self) -> usize {
        let marker = format!("/v2/?supplygate-test-marker={}", unique_number());
        let _ = http(self.port, "GET", &marker, &[], &[]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
            if log.contains(&marker) {
                return log
                    .lines()
                    .filter(|line| {
                        line.contains(" /v2/") && !line.contains("supplygate-test-marker")
                    })
                    .count();
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not log the marker request"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the registry and waits for it (also done on drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_registry_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
}

/// Polls `GET /v2/` until the registry answers 200 (anonymous) or 401 (auth required), and
/// makes sure that it was this registry that answered: another test's registry may have taken
/// the port first, and then this one fails to bind while the probe succeeds.
fn wait_until_ready(child: &mut Child, dir: &Path, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let marker = format!("/v2/?supplygate-test-marker=ready-{}", unique_number());
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "it exited with {status}; its stderr:\n{}",
                read_registry_log(dir)
            ));
        }
        if let Ok(response) = http(port, "GET", &marker, &[], &[]) {
            if response.status == 200 || response.status == 401 {
                return answered_by_this_registry(child, dir, port, &marker);
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "`GET /v2/` on port {port} did not answer 200 or 401 within {}s; its stderr:\n{}",
                START_TIMEOUT.as_secs(),
                read_registry_log(dir)
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether this registry's access log has `marker` (waiting for the log line to be written).
fn answered_by_this_registry(
    child: &mut Child,
    dir: &Path,
    port: u16,
    marker: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = fs::read_to_string(dir.join("access.log")).unwrap_or_default();
        if log.contains(marker) {
            return Ok(());
        }
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if exited || Instant::now() > deadline {
            // Reported like a failed bind, so that the caller tries another port.
            return Err(format!(
                "another process answered on port {port} (address already in use); its stderr:\n{}",
                read_registry_log(dir)
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn registry_config(dir: &Path, port: u16, htpasswd: Option<&Path>) -> String {
    let mut config = format!(
        "version: 0.1\n\
         log:\n  level: error\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        dir.join("data").display()
    );
    if let Some(path) = htpasswd {
        let _ = write!(
            config,
            "auth:\n  htpasswd:\n    realm: supplygate-test\n    path: {}\n",
            path.display()
        );
    }
    config
}

fn require_tools() {
    for tool in ["docker-registry", "skopeo"] {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false);
        assert!(found, "`{tool}` not found: {MISSING_TOOLS}");
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

fn unique_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Writes a docker `config.json` with basic credentials for `host` into `dir`; returns its path.
pub fn docker_config_with_basic(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    let auth = base64_encode(&format!("{user}:{password}"));
    let config = json!({ "auths": { host: { "auth": auth } } });
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("config.json");
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// Writes a docker `config.json` without credentials into `dir` (so a test never reads the
/// machine's own); returns its path.
pub fn docker_config_empty(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("config.json");
    fs::write(&path, "{\"auths\":{}}").unwrap();
    path
}

/// The cosign-made OCI layout `name` (`cosign-signed`, `multiarch`, ...) from the third-party
/// fixtures in `fixtures/external/`.
pub fn cosign_made(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/external/cosign-made/layout")
        .join(name);
    assert!(
        path.join("index.json").is_file(),
        "fixture layout {} is missing from fixtures/external/",
        path.display()
    );
    path
}

/// Copies the directory tree `from` to `to` (made as needed).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Pushes every tag of the cosign-made layout `name` (image, `.sig`, `.att`) to
/// `demo/<name>` in `registry`.
pub fn push_cosign_made(registry: &TestRegistry, name: &str) {
    let layout = cosign_made(name);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    for m in index["manifests"].as_array().unwrap() {
        let tag = m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        registry.push_layout(&layout, tag, &format!("demo/{name}:{tag}"));
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let mut out = String::from("sha256:");
    for b in Sha256::digest(bytes) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn base64_encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A tiny deterministic OCI image: an uncompressed tar layer with one file, its config and
/// its manifest, all as bytes.
pub struct GeneratedImage {
    /// The layer blob (a tar archive).
    pub layer: Vec<u8>,
    /// The config blob (JSON).
    pub config: Vec<u8>,
    /// The manifest body (JSON).
    pub manifest: Vec<u8>,
}

impl GeneratedImage {
    /// The image whose only file holds `content`, for `architecture` (and `variant`).
    pub fn new(content: &str, architecture: &str, variant: Option<&str>) -> Self {
        let layer = tar_with_one_file("content.txt", format!("{content}\n").as_bytes());
        let layer_digest = sha256_digest(&layer);
        let mut config = json!({
            "architecture": architecture,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": { "Labels": { "dev.supplygate.test.content": content } },
            "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        });
        if let Some(variant) = variant {
            config["variant"] = json!(variant);
        }
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len() },
            "layers": [
                { "mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": layer.len() }
            ],
        });
        let manifest = serde_json::to_vec(&manifest).unwrap();
        Self {
            layer,
            config,
            manifest,
        }
    }

    /// The manifest's digest.
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
}

/// A ustar archive with one regular file (mode 0644, mtime 2024-01-01).
fn tar_with_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |offset: usize, field: &[u8]| {
        header[offset..offset + field.len()].copy_from_slice(field);
    };
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, format!("{:011o}\0", 1_704_067_200u64).as_bytes());
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.resize(tar.len() + 1024, 0);
    tar
}

/// An OCI image layout being written in a fresh temp dir under `parent`.
pub struct OciLayout {
    dir: PathBuf,
    refs: Vec<serde_json::Value>,
}

impl OciLayout {
    /// An empty layout in a new directory under `parent`.
    pub fn new(parent: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("layout-")
            .tempdir_in(parent)
            .unwrap()
            .keep();
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
        Self {
            dir,
            refs: Vec::new(),
        }
    }

    /// The layout directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Stores a blob; returns its digest.
    pub fn add_blob(&self, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let hex = digest.trim_start_matches("sha256:");
        fs::write(self.dir.join("blobs/sha256").join(hex), bytes).unwrap();
        digest
    }

    /// Stores an image's blobs and manifest; returns the manifest digest.
    pub fn add_image(&self, image: &GeneratedImage) -> String {
        self.add_blob(&image.layer);
        self.add_blob(&image.config);
        self.add_blob(&image.manifest)
    }

    /// Stores a linux/amd64 + linux/arm64/v8 index made from `content`; returns the index
    /// digest and `(architecture, digest)` per platform.
    pub fn add_index(&self, content: &str) -> (String, Vec<(String, String)>) {
        let mut descriptors = Vec::new();
        let mut platforms = Vec::new();
        for (architecture, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let image =
                GeneratedImage::new(&format!("{content} {architecture}"), architecture, variant);
            let digest = self.add_image(&image);
            let mut platform = json!({ "architecture": architecture, "os": "linux" });
            if let Some(variant) = variant {
                platform["variant"] = json!(variant);
            }
            descriptors.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": image.manifest.len(),
                "platform": platform,
            }));
            platforms.push((architecture.to_owned(), digest));
        }
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors });
        let index = serde_json::to_vec(&index).unwrap();
        (self.add_blob(&index), platforms)
    }

    /// Names a stored manifest `tag` in `index.json`.
    pub fn tag(&mut self, digest: &str, media_type: &str, tag: &str) {
        let hex = digest.trim_start_matches("sha256:");
        let size = fs::metadata(self.dir.join("blobs/sha256").join(hex))
            .unwrap()
            .len();
        self.refs.push(json!({
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": { REF_NAME: tag },
        }));
    }

    /// Writes `index.json`.
    pub fn write_index(&self) {
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs });
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec_pretty(&index).unwrap(),
        )
        .unwrap();
    }
}

/// A response of the minimal HTTP client.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// Everything after the headers, as sent (not de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on a fresh connection (`Connection: close`, so the
/// body is everything up to EOF).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// What one run of the `supplygate` binary said.
pub struct Outcome {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// From a finished process.
    pub fn from_output(out: std::process::Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Standard output as JSON (the report of `--format json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    // Readers of the JSON report the test modules share.

    /// `(image, [codes])` of every image of the JSON report.
    pub fn codes(&self) -> Vec<(String, Vec<String>)> {
        self.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let codes = i["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["code"].as_str().unwrap().to_owned())
                    .collect();
                (i["image"].as_str().unwrap().to_owned(), codes)
            })
            .collect()
    }

    /// The codes of the image written exactly `image`.
    pub fn codes_of_exactly(&self, image: &str) -> Vec<String> {
        self.codes()
            .into_iter()
            .find(|(i, _)| i == image)
            .unwrap_or_else(|| panic!("no image `{image}`: {self:?}"))
            .1
    }

    /// The report's notices with `code`.
    pub fn notices(&self, code: &str) -> Vec<serde_json::Value> {
        self.json()["notices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["code"] == code)
            .cloned()
            .collect()
    }

    pub fn codes_of(&self, image_part: &str) -> Vec<String> {
        self.codes()
            .into_iter()
            .find(|(i, _)| i.contains(image_part))
            .unwrap_or_else(|| panic!("no image `{image_part}`: {self:?}"))
            .1
    }

    /// Every finding code of every image.
    pub fn all_codes(&self) -> Vec<String> {
        let json = self.json();
        json["images"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["findings"].as_array().cloned().unwrap_or_default())
            .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn verified_by(&self) -> serde_json::Value {
        self.json()["images"][0]["signatures"]["facts"][0]["verified_by"].clone()
    }

    /// `(file, line, decision)` of every evaluated image.
    pub fn evaluated(&self) -> Vec<(String, u64, String)> {
        self.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["file"].as_str().unwrap().to_owned(),
                    i["line"].as_u64().unwrap(),
                    i["decision"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Client settings for `registry`: plain HTTP to it, and credentials from an empty Docker
/// config (the machine's own `~/.docker/config.json` never takes part).
pub fn client_settings(registry: &TestRegistry) -> supplygate::registry::RegistrySettings {
    use supplygate::registry::{HostSettings, RegistrySettings};
    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        registry.host(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
    settings.docker_config = Some(docker_config_empty(
        &registry.scratch_dir().join("docker-empty"),
    ));
    settings
}

/// The binary, with none of this process's `SUPPLYGATE_*` variables: a developer's shell
/// (`SUPPLYGATE_OFFLINE`, `SUPPLYGATE_FORMAT`, …) cannot change what a test sees. Variables
/// a test means are set on the returned command.
pub fn supplygate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_supplygate"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SUPPLYGATE_") {
            command.env_remove(&name);
        }
    }
    command
}

/// `supplygate serve` in `dir` (config, certificate and key there), `args` after the defaults.
pub fn serve_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = supplygate();
    command
        .args([
            "serve",
            "--config",
            "supplygate.yaml",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "tls.crt",
            "--tls-key",
            "tls.key",
        ])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_CONFIG", dir.join(".docker-none"))
        // Generous deadline and cache lifetimes, so that a slow CI machine neither turns a
        // review into `deadline-exceeded` nor expires a cache a test counts on; the tests of
        // those limits pass the flags, which win over the environment.
        .env("SUPPLYGATE_DEADLINE", "60s")
        .env("SUPPLYGATE_TAG_TTL", "1h")
        .env("SUPPLYGATE_DECISION_TTL", "1h")
        .env("SUPPLYGATE_NEGATIVE_TTL", "1h");
    command
}
