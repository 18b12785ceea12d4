//! The admission webhook end to end: `supplygate serve` started as a process with a generated
//! certificate, a real TLS client posting AdmissionReview bodies as kube-apiserver sends them
//! (`fixtures/admission/`), images in a real `docker-registry`, signatures from the test
//! Sigstore. Assertions are on the AdmissionReview answers, HTTP statuses and `/metrics`.
use crate::common;
use crate::pki;

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use common::{serve_command, TestRegistry};
use pki::{push_signatures, ServingCert, TestSigstore, ISSUER, SUBJECT};

/// The registry address the fixtures are written with.
const FIXTURE_REGISTRY: &str = "127.0.0.1:5000";

// ------------------------------------------------------------------ harness

/// A scratch directory with `supplygate.yaml`, the Sigstore trusted root and a certificate.
struct Setup {
    dir: tempfile::TempDir,
    registry: TestRegistry,
    sigstore: TestSigstore,
    cert: ServingCert,
}

impl Setup {
    /// A registry, a Sigstore, and a config requiring signer `release` for `team/**`.
    fn new() -> Self {
        let setup = Self {
            dir: tempfile::tempdir().unwrap(),
            registry: TestRegistry::start(),
            sigstore: TestSigstore::new(),
            cert: ServingCert::new("webhook test CA"),
        };
        setup
            .sigstore
            .write_trusted_root(&setup.path().join("root.json"));
        setup.cert.write(setup.path());
        setup.write_config(true, &[]);
        setup
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `supplygate.yaml`: the test registry (and `extra_hosts`) over HTTP, signer
    /// `release`, and when `require` the requirement that `team/**` is signed by it.
    fn write_config(&self, require: bool, extra_hosts: &[String]) {
        let mut hosts = format!("  \"{}\":\n    insecure: true\n", self.registry.host());
        for h in extra_hosts {
            hosts.push_str(&format!("  \"{h}\":\n    insecure: true\n"));
        }
        let mut config = format!(
            "registries:\n{hosts}\
             network:\n  request_timeout: 5s\n  retries: 1\n\
             signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: root.json\n"
        );
        if require {
            config.push_str(
                "require:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [release]\n",
            );
        }
        std::fs::write(self.path().join("supplygate.yaml"), config).unwrap();
    }

    /// Pushes a distinct image as `repo:tag`; returns its digest.
    fn push(&self, repo: &str, tag: &str) -> String {
        self.registry
            .push_generated_many(repo, &[tag.to_owned()])
            .pop()
            .unwrap()
    }

    /// Pushes `repo:tag` and a genuine keyless signature for it; returns its digest.
    fn push_signed(&self, repo: &str, tag: &str) -> String {
        let digest = self.push(repo, tag);
        let layer = self
            .sigstore
            .keyless(&self.registry.image(repo), &digest)
            .sign();
        push_signatures(&self.registry, repo, &digest, &[layer]);
        digest
    }

    /// Starts `supplygate serve` here with `args` after the defaults.
    fn serve(&self, args: &[&str]) -> Hook {
        Hook::start(self.path(), &self.cert.ca_pem, args)
    }

    /// A fixture with the test registry's address in place of the fixtures' one.
    fn fixture(&self, name: &str) -> Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/admission")
            .join(name);
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(&text.replace(FIXTURE_REGISTRY, &self.registry.host())).unwrap()
    }

    /// The pod fixture (generateName, an init container, two containers) with `images`
    /// for its containers in order (init first) and the namespace `namespace`.
    fn pod(&self, namespace: &str, images: [&str; 3]) -> Value {
        let mut review = self.fixture("pod-init-containers-create.json");
        let host = self.registry.host();
        set_namespace(&mut review, namespace);
        let spec = &mut review["request"]["object"]["spec"];
        spec["initContainers"][0]["image"] = json!(format!("{host}/{}", images[0]));
        spec["containers"][0]["image"] = json!(format!("{host}/{}", images[1]));
        spec["containers"][1]["image"] = json!(format!("{host}/{}", images[2]));
        review
    }
}

fn set_namespace(review: &mut Value, namespace: &str) {
    review["request"]["namespace"] = json!(namespace);
    review["request"]["object"]["metadata"]["namespace"] = json!(namespace);
}

/// A running `supplygate serve`; killed on drop.
struct Hook {
    child: Child,
    addr: SocketAddr,
    /// The CA clients trust.
    ca_pem: String,
    stderr: Arc<Mutex<String>>,
}

impl Hook {
    fn start(dir: &Path, ca_pem: &str, args: &[&str]) -> Self {
        let mut child = serve_command(dir, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                // Text: `listening on https://ADDR`; JSON: the `listening` event's `url`.
                let json_url = serde_json::from_str::<Value>(&line).ok().and_then(|event| {
                    (event["event"] == "listening")
                        .then(|| event["url"].as_str().map(str::to_owned))?
                });
                let url = line
                    .strip_prefix("listening on ")
                    .map(str::to_owned)
                    .or(json_url);
                if let Some(addr) = url.as_deref().and_then(|u| u.strip_prefix("https://")) {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "`supplygate serve` did not start:\n{}",
                    stderr.lock().unwrap()
                )
            });
        Self {
            child,
            addr,
            ca_pem: ca_pem.to_owned(),
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// A fresh client (new connections) trusting only `ca_pem`.
    fn client_trusting(ca_pem: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    fn client(&self) -> reqwest::Client {
        Self::client_trusting(&self.ca_pem)
    }

    /// POSTs `body` to `path`; the status and the body text.
    async fn post(&self, path: &str, body: Vec<u8>) -> (u16, String) {
        let response = self
            .client()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} failed: {e:?}\n{}", self.log()));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POSTs a review to `/validate` and returns its `response`.
    async fn validate(&self, review: &Value) -> Value {
        self.review("/validate", review).await
    }

    async fn review(&self, path: &str, review: &Value) -> Value {
        let (status, body) = self.post(path, serde_json::to_vec(review).unwrap()).await;
        assert_eq!(status, 200, "{body}\n{}", self.log());
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(
            answer["response"]["uid"], review["request"]["uid"],
            "the answer must carry the request's uid"
        );
        answer["response"].clone()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client().get(self.url(path)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The value of one sample of `/metrics` (`name{labels}` exactly as exposed); 0 if absent.
    async fn metric(&self, sample: &str) -> f64 {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200);
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }

    fn log(&self) -> String {
        format!("--- serve stderr\n{}", self.stderr.lock().unwrap())
    }

    /// Sends SIGHUP and waits until the reload is counted with `result` (`ok`, `failed`),
    /// for the first time.
    async fn reload(&self, result: &str) {
        self.signal("HUP");
        let sample = format!("supplygate_reloads_total{{what=\"config\",result=\"{result}\"}}");
        self.eventually(&format!("a reload ({result})"), || async {
            self.metric(&sample).await == 1.0
        })
        .await;
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) until `check` holds; panics with the server log if it never does.
    async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} never happened\n{}", self.log());
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(response: &Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers: a registry that
/// hangs. Connections are held until the listener is dropped with the returned guard.
fn hanging_registry() -> (String, Arc<Mutex<Vec<std::net::TcpStream>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    (host, held)
}

// ------------------------------------------------------------------ decisions

#[tokio::test(flavor = "multi_thread")]
async fn allows_a_deployment_whose_image_is_signed_by_the_required_identity() {
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    let hook = s.serve(&[]);
    let response = hook.validate(&s.fixture("deployment-create.json")).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    assert!(response.get("patch").is_none(), "/validate never patches");
}

#[tokio::test(flavor = "multi_thread")]
async fn denies_a_pod_naming_each_unsigned_container_with_its_reason_and_hint() {
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    s.push("team/migrate", "v1");
    s.push("team/sidecar", "v1");
    let hook = s.serve(&[]);
    let review = s.pod(
        "shop",
        ["team/migrate:v1", "team/app:v1", "team/sidecar:v1"],
    );
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert_eq!(response["status"]["code"], 403);
    let message = message(&response);
    assert!(
        message.starts_with("supplygate denied Pod shop/web-5d9c7b8f64-*:"),
        "{message}"
    );
    let host = s.registry.host();
    assert!(
        message.contains(&format!(
            "container `migrate` image `{host}/team/migrate:v1`: [unsigned-image]"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "container `metrics` image `{host}/team/sidecar:v1`: [unsigned-image]"
        )),
        "{message}"
    );
    assert!(
        !message.contains("team/app:v1"),
        "the signed image is fine: {message}"
    );
    assert!(message.contains("(hint: "), "{message}");
    assert_eq!(
        hook.metric(
            "supplygate_admission_decisions_total{result=\"denied\",code=\"unsigned-image\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_the_images_of_a_cronjob() {
    let s = Setup::new();
    s.push("team/report", "v1");
    let hook = s.serve(&[]);
    let response = hook.validate(&s.fixture("cronjob-create.json")).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("supplygate denied CronJob batch/nightly-report:"),
        "{response:#}"
    );
    s.push_signed("team/report", "v2");
    let mut review = s.fixture("cronjob-create.json");
    review["request"]["object"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        [0]["image"] = json!(s.registry.image("team/report:v2"));
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], true, "{response:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_is_evaluated_only_when_its_images_change() {
    let s = Setup::new();
    // Neither image is signed: only an evaluation can deny.
    s.push("team/app", "v1");
    s.push("team/app", "v2");
    let hook = s.serve(&[]);
    let response = hook
        .validate(&s.fixture("deployment-update-scale.json"))
        .await;
    assert_eq!(response["allowed"], true, "{response:#}");
    assert_eq!(hook.metric("supplygate_verifications_total").await, 0.0);
    assert_eq!(
        hook.metric(
            "supplygate_admission_decisions_total{result=\"allowed\",code=\"images-unchanged\"}"
        )
        .await,
        1.0
    );
    let response = hook
        .validate(&s.fixture("deployment-update-image.json"))
        .await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(message(&response).contains("team/app:v2"), "{response:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn excluded_namespaces_are_allowed_without_evaluation() {
    let s = Setup::new();
    s.push("team/app", "v1");
    let hook = s.serve(&["--namespace", "supplygate"]);
    for namespace in ["kube-system", "supplygate"] {
        let mut review = s.fixture("deployment-create.json");
        set_namespace(&mut review, namespace);
        let response = hook.validate(&review).await;
        assert_eq!(response["allowed"], true, "{namespace}: {response:#}");
    }
    assert_eq!(hook.metric("supplygate_verifications_total").await, 0.0);
    let response = hook.validate(&s.fixture("deployment-create.json")).await;
    assert_eq!(response["allowed"], false, "shop is checked: {response:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_namespace_allows_a_denied_image_with_a_warning() {
    let s = Setup::new();
    s.push("team/app", "v1");
    let hook = s.serve(&["--audit-namespace", "staging"]);
    let mut review = s.fixture("deployment-create.json");
    set_namespace(&mut review, "staging");
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], true, "{response:#}");
    let warnings = warnings(&response);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("audit: would deny") && w.contains("[unsigned-image]")),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_without_an_object_or_with_parts_that_are_not_objects_is_denied() {
    let s = Setup::new();
    let hook = s.serve(&[]);
    let mut review = s.fixture("deployment-create.json");
    review["request"]["object"] = Value::Null;
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("the CREATE request has no `object`"),
        "{response:#}"
    );
    review["request"].as_object_mut().unwrap().remove("object");
    review["request"]["operation"] = json!("UPDATE");
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");

    // A `List` whose items the reader cannot take for objects: their images are unknown.
    let response = hook
        .validate(&s.fixture("list-items-without-kind-create.json"))
        .await;
    assert_eq!(response["allowed"], false, "{response:#}");
    let denial = message(&response);
    assert!(
        denial.contains("`items[0]`: not a Kubernetes object"),
        "{denial}"
    );
    assert_eq!(hook.metric("supplygate_verifications_total").await, 0.0);
    assert_sample(
        &hook,
        "supplygate_admission_decisions_total{result=\"denied\",code=\"invalid-manifest\"}",
        "3",
    )
    .await;
}

impl Setup {
    /// Appends `text` to `supplygate.yaml`.
    fn append_config(&self, text: &str) {
        let path = self.path().join("supplygate.yaml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(text);
        std::fs::write(path, config).unwrap();
    }
}

/// The answer's JSONPatch, if any.
fn patch_of(response: &Value) -> Option<Value> {
    let patch = response["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// Issue 15, hole 5, end to end: an object claiming the break-glass namespace `ops` in a
/// request for `shop` is denied for the disagreement; the same object in a request for `ops`
/// is the control (break-glass applies there).
#[tokio::test(flavor = "multi_thread")]
async fn an_object_claiming_the_break_glass_namespace_in_a_request_for_another_is_denied() {
    let s = Setup::new();
    s.push("team/app", "v1");
    s.append_config("break_glass:\n  namespaces: [ops]\n");
    let hook = s.serve(&[]);
    let mut review = s.fixture("deployment-create.json");
    set_namespace(&mut review, "ops");
    review["request"]["object"]["metadata"]["annotations"]["supplygate.dev/break-glass"] =
        json!("INC-42: registry outage");
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());

    review["request"]["namespace"] = json!("shop");
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("[namespace-mismatch]"),
        "{response:#}"
    );
    assert_eq!(
        hook.metric(
            "supplygate_admission_decisions_total{result=\"denied\",code=\"namespace-mismatch\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn break_glass_is_not_pinned_and_removing_it_decides_the_object_again() {
    let s = Setup::new();
    // Unsigned: only break-glass allows it.
    s.push("team/app", "v1");
    s.append_config("break_glass:\n  namespaces: [shop]\n");
    let hook = s.serve(&["--mutate"]);
    let annotation = "supplygate.dev/break-glass";

    let mut create = s.fixture("deployment-create.json");
    create["request"]["object"]["metadata"]["annotations"][annotation] = json!("INC-42");
    let response = hook.review("/mutate", &create).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    assert!(
        warnings(&response)
            .iter()
            .any(|w| w.contains("[break-glass]")),
        "{response:#}"
    );
    // The digest was never verified: it is not written into the object as if it had been.
    assert_eq!(patch_of(&response), None, "{response:#}");

    // Scaling with the annotation kept: nothing to decide.
    let mut update = s.fixture("deployment-update-scale.json");
    update["request"]["oldObject"]["metadata"]["annotations"][annotation] = json!("INC-42");
    update["request"]["object"]["metadata"]["annotations"][annotation] = json!("INC-42");
    let response = hook.validate(&update).await;
    assert_eq!(response["allowed"], true, "{response:#}");
    assert_eq!(
        hook.metric(
            "supplygate_admission_decisions_total{result=\"allowed\",code=\"images-unchanged\"}"
        )
        .await,
        1.0
    );
    // Removing the annotation ends the emergency: the unchanged image is decided again.
    update["request"]["object"]["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(annotation);
    let response = hook.validate(&update).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("[unsigned-image]"),
        "{response:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mutate_does_not_pin_an_image_an_exemption_allowed() {
    let s = Setup::new();
    s.push("team/app", "v1");
    s.append_config(
        "exemptions:\n  - images: [\"127.0.0.1:*/team/app\"]\n    reason: vendor image, INC-7\n    \
         expires: 2999-01-01\n",
    );
    let hook = s.serve(&["--mutate"]);
    let response = hook
        .review("/mutate", &s.fixture("deployment-create.json"))
        .await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    assert!(
        warnings(&response)
            .iter()
            .any(|w| w.contains("[exemption]")),
        "{response:#}"
    );
    assert_eq!(patch_of(&response), None, "{response:#}");
}

// ------------------------------------------------------------------ bad input

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_review_gets_http_400_with_the_reason() {
    let s = Setup::new();
    let hook = s.serve(&["--max-body-bytes", "65536"]);
    let (status, body) = hook.post("/validate", b"{\"kind\": ".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("is not an AdmissionReview"), "{body}");

    let mut v1beta1 = s.fixture("deployment-create.json");
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (status, body) = hook
        .post("/validate", serde_json::to_vec(&v1beta1).unwrap())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("admissionReviewVersions"), "{body}");

    let mut no_request = s.fixture("deployment-create.json");
    no_request.as_object_mut().unwrap().remove("request");
    let (status, body) = hook
        .post("/validate", serde_json::to_vec(&no_request).unwrap())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no `request`"), "{body}");

    let mut huge = s.fixture("deployment-create.json");
    huge["request"]["object"]["metadata"]["annotations"]["big"] = json!("x".repeat(100_000));
    let (status, body) = hook
        .post("/validate", serde_json::to_vec(&huge).unwrap())
        .await;
    assert_eq!(status, 413, "{body}");

    // Still serving after all that.
    assert_eq!(hook.get("/healthz").await.0, 200);
    assert_eq!(hook.metric("supplygate_http_bad_requests_total").await, 4.0);
}

// ------------------------------------------------------------------ deadline

#[tokio::test(flavor = "multi_thread")]
async fn a_verification_that_does_not_finish_in_time_is_denied_or_warned_in_audit() {
    let s = Setup::new();
    let (hanging, _held) = hanging_registry();
    s.write_config(true, std::slice::from_ref(&hanging));
    let hook = s.serve(&["--deadline", "1s", "--audit-namespace", "staging"]);
    let mut review = s.fixture("deployment-create.json");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(format!("{hanging}/team/slow:v1"));
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("verification did not finish within 1000ms"),
        "{response:#}"
    );

    set_namespace(&mut review, "staging");
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], true, "{response:#}");
    assert!(
        warnings(&response)
            .iter()
            .any(|w| w.contains("allowed unverified: verification did not finish")),
        "{response:#}"
    );
    assert_eq!(
        hook.metric(
            "supplygate_admission_decisions_total{result=\"denied\",code=\"deadline-exceeded\"}"
        )
        .await,
        1.0
    );
}

/// Issue 15's adversarial suite: sixty reviews at once, each of a Pod with the signed
/// `team/app:v1` beside an image nobody has verified yet on a registry that never answers,
/// under a short deadline. Not one answer is `allowed: true`; each names the deadline.
#[tokio::test(flavor = "multi_thread")]
async fn sixty_concurrent_cold_reviews_under_a_short_deadline_never_allow_an_undecided_image() {
    const REVIEWS: usize = 60;
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    let (hanging, _held) = hanging_registry();
    s.write_config(true, std::slice::from_ref(&hanging));
    let hook = s.serve(&["--deadline", "1s"]);
    let client = hook.client();
    let mut tasks = Vec::new();
    for i in 0..REVIEWS {
        let mut review = s.pod("shop", ["team/app:v1", "team/app:v1", "team/app:v1"]);
        review["request"]["uid"] = json!(format!("cold-{i}"));
        review["request"]["object"]["spec"]["containers"][1]["image"] =
            json!(format!("{hanging}/team/slow{i}:v1"));
        let request = client
            .post(hook.url("/validate"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&review).unwrap())
            .send();
        tasks.push(tokio::spawn(async move {
            let answer: Value = request.await.unwrap().json().await.unwrap();
            answer["response"].clone()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let response = t.await.unwrap();
        assert_eq!(response["allowed"], false, "review {i}: {response:#}");
        assert!(
            message(&response).contains("verification did not finish within 1000ms"),
            "review {i}: {response:#}"
        );
    }
    assert_eq!(
        hook.metric(
            "supplygate_admission_decisions_total{result=\"denied\",code=\"deadline-exceeded\"}"
        )
        .await,
        REVIEWS as f64,
        "{}",
        hook.log()
    );
    let (_, metrics) = hook.get("/metrics").await;
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("supplygate_admission_decisions_total{result=\"allowed\"")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_review_in_flight_finish_then_exits() {
    let s = Setup::new();
    let (hanging, _held) = hanging_registry();
    s.write_config(true, std::slice::from_ref(&hanging));
    let mut hook = s.serve(&["--deadline", "2s"]);
    let mut review = s.fixture("deployment-create.json");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(format!("{hanging}/team/slow:v1"));
    let body = serde_json::to_vec(&review).unwrap();
    let request = hook.client().post(hook.url("/validate")).body(body).send();
    let in_flight = tokio::spawn(request);
    // Signal only once the review is being evaluated (it waits on the hanging registry).
    hook.eventually("the review to be in flight", || async {
        hook.metric("supplygate_reviews_in_flight").await >= 1.0
    })
    .await;
    hook.signal("TERM");
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer:#}");
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = hook.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "did not exit\n{}", hook.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", hook.log());
}

// ------------------------------------------------------------------ caching

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_review_is_answered_from_the_cache_without_registry_requests() {
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    let hook = s.serve(&[]);
    let review = s.fixture("deployment-create.json");
    assert_eq!(hook.validate(&review).await["allowed"], true);
    let requests = hook.metric("supplygate_registry_requests_total").await;
    assert!(requests > 0.0);
    let logged = s.registry.logged_requests();
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], true, "{response:#}");
    assert_eq!(
        hook.metric("supplygate_decision_cache_requests_total{result=\"hit\"}")
            .await,
        1.0
    );
    assert_eq!(hook.metric("supplygate_verifications_total").await, 1.0);
    assert_eq!(
        hook.metric("supplygate_registry_requests_total").await,
        requests
    );
    assert_eq!(s.registry.logged_requests(), logged);
}

/// A review seen twice before is answered from the answer cache's bytes: with its own uid (never
/// the first review's, whatever characters it holds), the same decision, no verification or
/// registry request; a review that differs in what the answer reads (the namespace, here an
/// audit one) is not answered from it.
#[tokio::test(flavor = "multi_thread")]
async fn a_review_seen_before_is_answered_from_its_cached_bytes_with_its_own_uid() {
    let s = Setup::new();
    s.push("team/app", "v1");
    let hook = s.serve(&["--audit-namespace", "staging"]);
    let mut review = s.fixture("deployment-create.json");
    let first = hook.validate(&review).await;
    assert_eq!(first["allowed"], false, "{first:#}");
    assert!(message(&first).contains("[unsigned-image]"), "{first:#}");
    // Seen once: not kept yet (most reviews are never seen again).
    assert_eq!(hook.metric("supplygate_answer_cache_entries").await, 0.0);
    let requests = hook.metric("supplygate_registry_requests_total").await;
    let uids = [
        "second",
        "quote\" and \\ backslash",
        "\u{2028}é\",\"allowed\":true",
    ];
    for uid in uids {
        review["request"]["uid"] = json!(uid);
        // `validate` asserts that the answer carries this request's uid.
        let again = hook.validate(&review).await;
        let mut expected = first.clone();
        expected["uid"] = json!(uid);
        assert_eq!(again, expected);
    }
    assert_eq!(
        hook.metric("supplygate_decision_cache_requests_total{result=\"hit\"}")
            .await,
        uids.len() as f64
    );
    // Kept on its second sighting, answered from the cache on the third and fourth.
    assert_eq!(hook.metric("supplygate_answer_cache_entries").await, 1.0);
    assert_eq!(hook.metric("supplygate_verifications_total").await, 1.0);
    assert_eq!(
        hook.metric("supplygate_registry_requests_total").await,
        requests
    );
    assert_sample(
        &hook,
        "supplygate_admission_decisions_total{result=\"denied\",code=\"unsigned-image\"}",
        &(uids.len() + 1).to_string(),
    )
    .await;
    set_namespace(&mut review, "staging");
    let audited = hook.validate(&review).await;
    assert_eq!(audited["allowed"], true, "{audited:#}");
    assert!(
        warnings(&audited)
            .iter()
            .any(|w| w.starts_with("audit: would deny") && w.contains("[unsigned-image]")),
        "{audited:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_tag_is_seen_after_the_tag_ttl() {
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    let hook = s.serve(&["--tag-ttl", "1s"]);
    let review = s.fixture("deployment-create.json");
    assert_eq!(hook.validate(&review).await["allowed"], true);
    // The tag now names another image, which nobody signed.
    let other = common::GeneratedImage::new("another build", "amd64", None);
    s.registry.upload_blob("team/app", &other.layer);
    s.registry.upload_blob("team/app", &other.config);
    s.registry
        .put_manifest("team/app", "v1", common::OCI_MANIFEST, &other.manifest);
    hook.eventually("the moved tag to be denied", || async {
        hook.validate(&review).await["allowed"] == false
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reviews_of_a_new_image_share_one_verification() {
    const REVIEWS: usize = 40;
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    s.push("team/migrate", "v1");
    s.push("team/sidecar", "v1");
    for tag in ["v8", "v9"] {
        s.push_signed("team/app", tag);
        s.push("team/migrate", tag);
        s.push("team/sidecar", tag);
    }
    let hook = s.serve(&[]);
    // What one review of this shape costs once the client knows the registry (v8 warms it
    // up: the referrers API probe is made once per host), measured on a twin set (v9).
    let warm_up = s.pod(
        "shop",
        ["team/migrate:v8", "team/app:v8", "team/sidecar:v8"],
    );
    assert_eq!(hook.validate(&warm_up).await["allowed"], false);
    let before = hook.metric("supplygate_registry_requests_total").await;
    let twin = s.pod(
        "shop",
        ["team/migrate:v9", "team/app:v9", "team/sidecar:v9"],
    );
    assert_eq!(hook.validate(&twin).await["allowed"], false);
    let after_twin = hook.metric("supplygate_registry_requests_total").await;
    let one_review = after_twin - before;
    assert!(one_review > 0.0);
    assert_eq!(hook.metric("supplygate_verifications_total").await, 6.0);

    let review = s.pod(
        "shop",
        ["team/migrate:v1", "team/app:v1", "team/sidecar:v1"],
    );
    let body = serde_json::to_vec(&review).unwrap();
    let client = hook.client();
    let mut tasks = Vec::new();
    for _ in 0..REVIEWS {
        let request = client.post(hook.url("/validate")).body(body.clone()).send();
        tasks.push(tokio::spawn(async move {
            let answer: Value = request.await.unwrap().json().await.unwrap();
            answer["response"]["allowed"].as_bool()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Some(false));
    }
    // One verification per image for all forty reviews, and no more registry requests
    // than a single review needs.
    assert_eq!(hook.metric("supplygate_verifications_total").await, 9.0);
    assert_eq!(
        hook.metric("supplygate_registry_requests_total").await - after_twin,
        one_review,
        "{}",
        hook.log()
    );
    let shared = hook
        .metric("supplygate_decision_cache_requests_total{result=\"hit\"}")
        .await
        + hook
            .metric("supplygate_decision_cache_requests_total{result=\"coalesced\"}")
            .await;
    assert_eq!(shared, (3 * (REVIEWS - 1)) as f64);
}

// ------------------------------------------------------------------ mutate

#[tokio::test(flavor = "multi_thread")]
async fn mutate_pins_an_allowed_tag_to_its_verified_digest_and_is_off_by_default() {
    let s = Setup::new();
    let digest = s.push_signed("team/app", "v1");
    let off = s.serve(&[]);
    let review = s.fixture("deployment-create.json");
    let (status, body) = off
        .post("/mutate", serde_json::to_vec(&review).unwrap())
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("--mutate"), "{body}");
    drop(off);

    let hook = s.serve(&["--mutate"]);
    let response = hook.review("/mutate", &review).await;
    assert_eq!(response["allowed"], true, "{response:#}");
    assert_eq!(response["patchType"], "JSONPatch");
    let patch: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let image = s.registry.image("team/app:v1");
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": image},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image",
             "value": format!("{image}@{digest}")},
        ])
    );
}

// ------------------------------------------------------------------ reloads

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_is_reloaded_when_its_files_change() {
    let s = Setup::new();
    let mut hook = s.serve(&["--tls-reload-interval", "200ms"]);
    let rotated = ServingCert::new("rotated CA");
    let before = Hook::client_trusting(&rotated.ca_pem)
        .get(hook.url("/healthz"))
        .send()
        .await;
    // The new CA is not in use yet: the handshake fails on the certificate, not on anything else.
    let e = before.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    rotated.write(s.path());
    hook.eventually("the rotated certificate to be served", || async {
        Hook::client_trusting(&rotated.ca_pem)
            .get(hook.url("/healthz"))
            .send()
            .await
            .is_ok()
    })
    .await;
    hook.ca_pem = rotated.ca_pem.clone();
    assert_eq!(
        hook.metric("supplygate_reloads_total{what=\"certificate\",result=\"ok\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_config_and_policies() {
    let s = Setup::new();
    s.push("team/app", "v1");
    s.write_config(false, &[]);
    let hook = s.serve(&[]);
    let review = s.fixture("deployment-create.json");
    assert_eq!(
        hook.validate(&review).await["allowed"],
        true,
        "nothing is required yet"
    );
    s.write_config(true, &[]);
    hook.reload("ok").await;
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("[unsigned-image]"),
        "{response:#}"
    );

    // A broken config keeps the last good one serving.
    std::fs::write(s.path().join("supplygate.yaml"), "require: [oops\n").unwrap();
    hook.reload("failed").await;
    assert_eq!(hook.validate(&review).await["allowed"], false);
    assert_eq!(hook.get("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_interval_reloads_like_sighup_without_a_signal() {
    let s = Setup::new();
    s.push("team/app", "v1");
    s.write_config(false, &[]);
    let hook = s.serve(&["--reload-interval", "1s"]);
    let review = s.fixture("deployment-create.json");
    assert_eq!(hook.validate(&review).await["allowed"], true);
    // A ConfigMap update, as the kubelet writes it: no one sends a signal.
    s.write_config(true, &[]);
    hook.eventually("the new config to decide", || async {
        hook.validate(&review).await["allowed"] == false
    })
    .await;
    // Counted and logged just after the new generation is in place.
    let ok = "supplygate_reloads_total{what=\"config\",result=\"ok\"}";
    hook.eventually("the reload to be counted and logged", || async {
        hook.metric(ok).await >= 1.0 && hook.log().contains("trigger=interval")
    })
    .await;

    // A broken config keeps the last good one serving, and is tried again at the next tick.
    std::fs::write(s.path().join("supplygate.yaml"), "require: [oops\n").unwrap();
    let failed = "supplygate_reloads_total{what=\"config\",result=\"failed\"}";
    hook.eventually("two failed reloads", || async {
        hook.metric(failed).await >= 2.0
    })
    .await;
    assert_eq!(hook.validate(&review).await["allowed"], false);
    assert_eq!(hook.get("/readyz").await.0, 200);
}

#[test]
fn reload_interval_below_a_second_or_over_a_year_is_refused() {
    let s = Setup::new();
    let out = serve_command(s.path(), &["--reload-interval", "100ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`100ms` is too short"), "{stderr}");
    let out = serve_command(s.path(), &["--reload-interval", "9000h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`9000h` is longer than a year"), "{stderr}");
}

// ------------------------------------------------------------------ evidence lock

impl Setup {
    /// Runs `check --write-lock supplygate.lock` online on a Deployment naming `images` (in
    /// this registry); the check must allow.
    fn write_lock(&self, images: &[&str]) {
        let mut manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  \
                            namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n"
            .to_owned();
        for (i, image) in images.iter().enumerate() {
            let image = self.registry.image(image);
            manifest.push_str(&format!("        - name: c{i}\n          image: {image}\n"));
        }
        std::fs::write(self.path().join("web.yaml"), manifest).unwrap();
        let out = common::supplygate()
            .args(["--config", "supplygate.yaml", "check", "--write-lock"])
            .args(["supplygate.lock", "web.yaml"])
            .current_dir(self.path())
            .env_remove("SUPPLYGATE_CONFIG")
            .env("DOCKER_CONFIG", self.path().join(".docker-none"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The `/metrics` text has `sample` with exactly `value`.
async fn assert_sample(hook: &Hook, sample: &str, value: &str) {
    let (_, text) = hook.get("/metrics").await;
    assert!(
        text.lines().any(|l| l == format!("{sample} {value}")),
        "no `{sample} {value}` in:\n{text}"
    );
}

/// The deployment fixture with its image set to `image` (in the test registry).
fn with_image(s: &Setup, fixture: &str, image: &str) -> Value {
    let mut review = s.fixture(fixture);
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(s.registry.image(image));
    review
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_lock_reviews_are_decided_from_it_without_a_registry() {
    let mut s = Setup::new();
    let app = s.push_signed("team/app", "v1");
    let other = s.push_signed("team/other", "v1");
    let pinned_app = format!("team/app:v1@{app}");
    s.write_lock(&["team/app:v1", &pinned_app]);
    // Nothing to ask any more: every answer must come from the lock.
    s.registry.stop();
    let hook = s.serve(&["--lock", "supplygate.lock"]);
    let response = hook
        .validate(&with_image(&s, "deployment-create.json", &pinned_app))
        .await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    assert!(warnings(&response).is_empty(), "{response:#}");

    // A tag: the kubelet would pull whatever it names then, which the lock never verified.
    let response = hook.validate(&s.fixture("deployment-create.json")).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    let denial = message(&response);
    assert!(denial.contains("[unpinned-image]"), "{denial}");
    assert!(denial.contains("supplygate pin"), "{denial}");
    assert!(denial.contains("/mutate"), "{denial}");
    assert!(
        !warnings(&response)
            .iter()
            .any(|w| w.contains("[tag-moved-since-lock]")),
        "{response:#}"
    );
    assert_sample(
        &hook,
        "supplygate_admission_decisions_total{result=\"denied\",code=\"unpinned-image\"}",
        "1",
    )
    .await;

    // Signed, but not in the lock: denied, naming the image and why.
    let other = format!("team/other:v1@{other}");
    let pod = s.pod(
        "shop",
        [pinned_app.as_str(), other.as_str(), pinned_app.as_str()],
    );
    let response = hook.validate(&pod).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    let denial = message(&response);
    assert!(denial.contains("[not-in-lock]"), "{denial}");
    assert!(denial.contains("team/other:v1"), "{denial}");
    assert!(!denial.contains("team/app:v1"), "{denial}");
    assert!(!denial.contains("[unpinned-image]"), "{denial}");
    assert_sample(&hook, "supplygate_registry_requests_total", "0").await;

    // Another config (the requirement is gone, so are the policies the lock was judged
    // by): after the reload, the lock is stale and denies.
    s.write_config(false, &[]);
    hook.reload("ok").await;
    let response = hook.validate(&s.fixture("deployment-create.json")).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(message(&response).contains("[lock-stale]"), "{response:#}");
    assert_sample(&hook, "supplygate_registry_requests_total", "0").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_lock_mutate_pins_tags_to_the_locked_digest_unless_allowed_insecurely() {
    let mut s = Setup::new();
    let app = s.push_signed("team/app", "v1");
    s.write_lock(&["team/app:v1"]);
    s.registry.stop();
    let review = s.fixture("deployment-create.json");
    let image = s.registry.image("team/app:v1");

    // `/mutate` pins the tag to the digest the lock verified: what runs is what was locked.
    let hook = s.serve(&["--lock", "supplygate.lock", "--mutate"]);
    let response = hook.review("/mutate", &review).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    let patch: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        patch[1],
        json!({"op": "replace", "path": "/spec/template/spec/containers/0/image",
               "value": format!("{image}@{app}")})
    );
    assert!(warnings(&response).is_empty(), "{response:#}");
    // `/validate` of the same server still denies the tag, and allows what `/mutate` made of
    // it (validating webhooks run after mutation; so do the Pods of a pinned Deployment).
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(
        message(&response).contains("[unpinned-image]"),
        "{response:#}"
    );
    let pinned = with_image(&s, "deployment-create.json", &format!("team/app:v1@{app}"));
    let response = hook.validate(&pinned).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    assert!(warnings(&response).is_empty(), "{response:#}");
    // Pinned to another digest than the lock's tag: not what the lock verified.
    let moved = format!("team/app:v1@sha256:{}", "0".repeat(64));
    let response = hook
        .validate(&with_image(&s, "deployment-create.json", &moved))
        .await;
    assert_eq!(response["allowed"], false, "{response:#}");
    drop(hook);

    drop(s);

    // A reference written without a tag is `latest`: `/mutate` pins it as
    // `repo:latest@digest`, which the same server's `/validate` admits as the locked tag
    // (red-team: a `repo@digest` pin was denied `not-in-lock`).
    let mut s = Setup::new();
    s.append_config("policy:\n  allow_latest: true\n");
    let notag = s.push_signed("team/notag", "latest");
    s.write_lock(&["team/notag"]);
    s.registry.stop();
    let hook = s.serve(&["--lock", "supplygate.lock", "--mutate"]);
    let review = with_image(&s, "deployment-create.json", "team/notag");
    let response = hook.review("/mutate", &review).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    let image = s.registry.image("team/notag");
    let pinned = format!("{image}:latest@{notag}");
    assert_eq!(
        patch_of(&response).unwrap()[1],
        json!({"op": "replace", "path": "/spec/template/spec/containers/0/image",
               "value": pinned})
    );
    let response = hook
        .validate(&with_image(
            &s,
            "deployment-create.json",
            &format!("team/notag:latest@{notag}"),
        ))
        .await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    drop(hook);
    drop(s);
    let mut s = Setup::new();
    let _app = s.push_signed("team/app", "v1");
    s.write_lock(&["team/app:v1"]);
    s.registry.stop();
    let review = s.fixture("deployment-create.json");

    // The explicit opt-out: allowed, with the warning that the tag was not checked.
    let hook = s.serve(&[
        "--lock",
        "supplygate.lock",
        "--insecure-allow-unpinned-with-lock",
    ]);
    hook.eventually("the opt-out to be logged", || async {
        hook.log().contains("insecure-allow-unpinned-with-lock")
    })
    .await;
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], true, "{response:#}");
    assert!(
        warnings(&response)
            .iter()
            .any(|w| w.contains("[tag-moved-since-lock]") && w.contains("not checked")),
        "{response:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reads_the_lock_again_and_a_broken_lock_keeps_the_last_good_one() {
    let s = Setup::new();
    let app = s.push_signed("team/app", "v1");
    s.push_signed("team/web", "v1");
    let pinned_app = format!("team/app:v1@{app}");
    s.write_lock(&[&pinned_app]);
    let hook = s.serve(&["--lock", "supplygate.lock"]);
    let review = with_image(&s, "deployment-create.json", &pinned_app);
    assert_eq!(hook.validate(&review).await["allowed"], true);

    // A lock of other manifests: `team/app:v1` is no longer in it.
    s.write_lock(&["team/web:v1"]);
    hook.reload("ok").await;
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(message(&response).contains("[not-in-lock]"), "{response:#}");

    // A lock that does not read: the last good one keeps deciding (without a lock, the
    // signed image would be allowed from the registry).
    let lock = s.path().join("supplygate.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    std::fs::write(&lock, text.replacen("  ", "    ", 1)).unwrap();
    hook.reload("failed").await;
    let response = hook.validate(&review).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    assert!(message(&response).contains("[not-in-lock]"), "{response:#}");
    assert!(hook.log().contains("reload-failed"), "{}", hook.log());
    assert_eq!(hook.get("/readyz").await.0, 200);
}

#[test]
fn serve_refuses_to_start_on_a_lock_that_does_not_read() {
    let s = Setup::new();
    std::fs::write(s.path().join("supplygate.lock"), "{}\n").unwrap();
    let out = serve_command(s.path(), &["--lock", "supplygate.lock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the evidence lock (`--lock`)"),
        "{stderr}"
    );
}

// ------------------------------------------------------------------ logs

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_record_each_review_without_the_requesting_user() {
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    let hook = s.serve(&["--log-format", "json"]);
    let review = s.fixture("deployment-create.json");
    assert_eq!(hook.validate(&review).await["allowed"], true);
    let user = review["request"]["userInfo"]["username"].as_str().unwrap();
    hook.eventually("the review to be logged", || async {
        hook.stderr.lock().unwrap().contains("\"event\":\"review\"")
    })
    .await;
    let log = hook.stderr.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("\"event\":\"review\""))
        .unwrap();
    let event: Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["level"], "info");
    assert_eq!(event["uid"], review["request"]["uid"]);
    assert_eq!(event["object"], "Deployment shop/web");
    assert_eq!(event["operation"], "CREATE");
    assert_eq!(event["allowed"], true);
    assert!(!log.contains(user), "{log}");
    assert!(!log.contains("JTI="), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_review_is_logged_before_its_answer_leaves_even_if_the_server_is_killed_then() {
    // Allowed reviews' lines are batched by a writer thread (up to 10 ms); a deny's line must
    // already be on stderr when the answer arrives, so a SIGKILL right after loses no deny.
    let s = Setup::new();
    s.push("team/migrate", "v1");
    let mut hook = s.serve(&["--log-format", "json"]);
    let review = s.pod(
        "shop",
        ["team/migrate:v1", "team/migrate:v1", "team/migrate:v1"],
    );
    let uid = review["request"]["uid"].as_str().unwrap().to_owned();
    assert_eq!(hook.validate(&review).await["allowed"], false);
    hook.child.kill().unwrap();
    hook.child.wait().unwrap();
    hook.eventually("the deny to be in the log", || async {
        hook.stderr.lock().unwrap().lines().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|e| {
                e["event"] == "review" && e["uid"] == uid.as_str() && e["allowed"] == false
            })
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_json_lines_from_every_module_and_never_hold_credentials() {
    let s = Setup::new();
    // A private registry, its password in the Docker config serve reads.
    let private = TestRegistry::start_with_basic_auth("alice", "s3cret-pw-for-logs");
    private.push_generated("team/private:v1", 7);
    let docker = s.path().join(".docker-none");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw-for-logs");
    std::fs::write(
        docker.join("config.json"),
        json!({"auths": {private.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    // And a registry that is not there: its retries are logged (debug) by the registry client.
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    s.write_config(false, &[private.host(), gone.clone()]);
    // The global flag, given after the subcommand as the deployment does.
    let hook = s.serve(&["-vv", "--log-format=json"]);
    let mut review = s.fixture("deployment-create.json");
    let containers = &mut review["request"]["object"]["spec"]["template"]["spec"]["containers"];
    containers[0]["image"] = json!(private.image("team/private:v1"));
    assert_eq!(
        hook.validate(&review).await["allowed"],
        true,
        "{}",
        hook.log()
    );
    let pod = s.pod("shop", ["team/app:v1", "team/app:v1", "team/app:v1"]);
    let mut pod = pod;
    pod["request"]["object"]["spec"]["containers"][0]["image"] =
        json!(format!("{gone}/team/gone:v1"));
    assert_eq!(hook.validate(&pod).await["allowed"], false);
    hook.eventually("a registry event", || async {
        hook.stderr
            .lock()
            .unwrap()
            .contains("\"target\":\"supplygate::registry")
    })
    .await;

    let log = hook.stderr.lock().unwrap().clone();
    for line in log.lines() {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{log}"));
        assert!(event["ts"].is_string(), "{line}");
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&event["level"].as_str().unwrap()),
            "{line}"
        );
    }
    let registry_event = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| {
            e["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("supplygate::registry"))
        })
        .unwrap();
    assert_eq!(registry_event["level"], "debug", "{registry_event}");
    assert!(registry_event["message"].is_string(), "{registry_event}");
    assert!(log.contains("\"event\":\"listening\""), "{log}");
    assert!(log.contains("\"event\":\"review\""), "{log}");
    assert!(!log.contains("s3cret-pw-for-logs"), "{log}");
    assert!(!log.contains(&auth), "{log}");
    assert!(!log.contains("Basic "), "{log}");
}

// ------------------------------------------------------------------ YAML tricks

/// The YAML tricks of issue 12 as the API server sends them: kubectl's JSON for each
/// `fixtures/yaml-differential` case (what the cluster would run), with its images moved to
/// the test registry. The CLI refuses the YAML (`ambiguous-yaml`, tests/yaml.rs); the webhook
/// sees the image kubectl read and denies it.
#[tokio::test(flavor = "multi_thread")]
async fn denies_what_each_yaml_trick_hides_as_the_api_server_sends_it() {
    let s = Setup::new();
    s.push_signed("team/app", "v1");
    s.push("team/evil", "v1");
    let hook = s.serve(&[]);
    let host = s.registry.host();
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/yaml-differential");
    for case in [
        "ls-in-comment",
        "ps-in-comment",
        "nel-in-comment",
        "binary-key",
        "tagged-quoted-merge-key",
        "merge-after-explicit-key",
        "question-mark-key-in-flow",
        "str-null",
    ] {
        let kubectl = std::fs::read_to_string(corpus.join(format!("{case}.kubectl.json")))
            .unwrap()
            .replace("registry.example/app:1", &format!("{host}/team/app:v1"))
            .replace("registry.example/evil:1", &format!("{host}/team/evil:v1"));
        let mut object: Value = serde_json::from_str(&kubectl).unwrap();
        object["metadata"]["namespace"] = json!("shop");
        let mut review = s.fixture("pod-init-containers-create.json");
        review["request"]["object"] = object;
        let response = hook.validate(&review).await;
        assert_eq!(response["allowed"], false, "{case}: {response:#}");
        let message = message(&response);
        if case == "str-null" {
            // `docker.io/library/null`: not a registry this config allows.
            assert!(message.contains("`null`"), "{case}: {message}");
        } else {
            assert!(
                message.contains(&format!("image `{host}/team/evil:v1`: [unsigned-image]")),
                "{case}: {message}"
            );
        }
    }
}

// ------------------------------------------------------------------ Notation

/// A Notary Project signature decides a review like a cosign one: `localhost:5000` serves
/// notation's e2e layout with a valid signature, `localhost:5001` the one whose signature
/// expired; the rule asks for a `notation:` signer over the e2e certificate.
#[tokio::test(flavor = "multi_thread")]
async fn a_notation_signed_image_is_admitted_and_an_expired_signature_denied() {
    let s = Setup::new();
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/external/notaryproject/notation/test/e2e/testdata");
    let store = s.path().join("truststore/x509/ca/e2e");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(e2e.join("config/localkeys/e2e.crt"), store.join("e2e.crt")).unwrap();
    let layouts = e2e.join("registry/oci_layout");
    let config = format!(
        "registries:\n  localhost:5000:\n    layout: {}\n  localhost:5001:\n    layout: {}\n\
         network:\n  offline: true\n\
         signers:\n  notary-e2e:\n    notation:\n      trust_store: truststore\n      identities: [\"x509.subject: C=US, ST=WA, O=Notary\"]\n      level: strict\n\
         require:\n  - images: [\"localhost:*/**\"]\n    signers: [notary-e2e]\n",
        layouts.join("e2e-valid-signature").display(),
        layouts.join("e2e-expired-signature").display(),
    );
    std::fs::write(s.path().join("supplygate.yaml"), config).unwrap();
    let hook = s.serve(&[]);
    let review = |image: &str| {
        let mut review = s.fixture("pod-init-containers-create.json");
        let spec = &mut review["request"]["object"]["spec"];
        spec["initContainers"][0]["image"] = json!(image);
        spec["containers"][0]["image"] = json!(image);
        spec["containers"][1]["image"] = json!(image);
        review
    };
    let response = hook.validate(&review("localhost:5000/e2e:v1")).await;
    assert_eq!(response["allowed"], true, "{response:#}\n{}", hook.log());
    let response = hook.validate(&review("localhost:5001/e2e:v1")).await;
    assert_eq!(response["allowed"], false, "{response:#}");
    let message = message(&response);
    assert!(
        message.contains(
            "container `web` image `localhost:5001/e2e:v1`: [signature-not-trusted] 1 signature on \
             `localhost:5001/e2e:v1` (sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9), \
             none by `notary-e2e`"
        ),
        "{message}"
    );
}
