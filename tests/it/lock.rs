//! The evidence lock end to end: `check --write-lock` against a real `docker-registry` with
//! images signed by our test Sigstore (a cosign v3 bundle referrer and a cosign `.sig`
//! manifest), then `check --locked` — with the registry running but unused (`--offline`), with
//! it stopped, after the registry changed, and on locks edited by hand. The lock is evidence
//! to re-verify, never a verdict to trust: every edit must deny.
//!
//! The manifests are pinned (`repo:tag@digest`) unless a test is about tags: under the lock a
//! tag-only reference is admitted only when its tag was re-checked online just now (the same
//! rule as `serve --lock`).
use crate::common;
use crate::common::case::{run_in_env, Case};

use crate::pki;
use common::Outcome;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::{sha256_digest, TestRegistry};
use pki::{push_bundle_referrer, push_signatures, TestKey, TestSigstore, ISSUER, SUBJECT};
use serde_json::Value;
use supplygate::lock::Lock;

const NOW: &str = "2026-11-24T12:00:00Z";
const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A registry with `team/app:v1` (signed with a cosign v3 bundle referrer) and `team/web:v1`
/// (an image index signed with a cosign `.sig` manifest), a config requiring the test
/// Sigstore's `release` identity for both, and a Deployment running them pinned
/// (`manifests/app.yaml`).
struct Locking {
    registry: TestRegistry,
    sigstore: TestSigstore,
    /// The scratch directory the binary runs in.
    case: Case,
    app_digest: String,
    web_digest: String,
}

impl Locking {
    fn new() -> Self {
        let registry = TestRegistry::start();
        let sigstore = TestSigstore::new();
        let app_digest = registry.push_generated("team/app:v1", 1);
        let bundle = sigstore
            .keyless(&registry.image("team/app"), &app_digest)
            .sign_bundle();
        push_bundle_referrer(&registry, "team/app", &app_digest, &[bundle]);
        let (web_digest, _) = registry.push_generated_index("team/web:v1", 2);
        let layer = sigstore
            .keyless(&registry.image("team/web"), &web_digest)
            .sign();
        push_signatures(&registry, "team/web", &web_digest, &[layer]);
        let case = Case::new();
        sigstore.write_trusted_root(&case.path("root.json"));
        let case = Self {
            registry,
            sigstore,
            case,
            app_digest,
            web_digest,
        };
        case.write_config("");
        case.write_manifest("app.yaml", &[&case.app_key(), &case.web_key()]);
        case
    }

    /// `manifests/<name>`: a Deployment running both images by tag only.
    fn write_unpinned(&self, name: &str) {
        self.write_manifest(name, &[&self.app_tag(), &self.web_tag()]);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.case.path(name)
    }

    /// The config, with `extra_signers` (YAML lines under `signers:`) added.
    fn write_config(&self, extra_signers: &str) {
        let config = format!(
            "registries:\n  \"{host}\":\n    insecure: true\n\
             network:\n  request_timeout: 5s\n  retries: 0\n\
             signers:\n  release:\n    keyless:\n      issuer: \"{ISSUER}\"\n      subject: \"{SUBJECT}\"\n      trusted_root: root.json\n{extra_signers}\
             require:\n  - images: [\"127.0.0.1:*/team/**\"]\n    signers: [release]\n",
            host = self.registry.host()
        );
        std::fs::write(self.path("supplygate.yaml"), config).unwrap();
    }

    /// A Deployment in `manifests/<name>` with one container per image.
    fn write_manifest(&self, name: &str, images: &[&str]) {
        let mut text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\nspec:\n  template:\n    spec:\n      containers:\n",
            name.trim_end_matches(".yaml")
        );
        for (i, image) in images.iter().enumerate() {
            text.push_str(&format!("        - name: c{i}\n          image: {image}\n"));
        }
        std::fs::create_dir_all(self.path("manifests")).unwrap();
        std::fs::write(self.path("manifests").join(name), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_env(args, &[])
    }

    /// `supplygate --config supplygate.yaml --now NOW <args>` in the case's directory, with
    /// the `SUPPLYGATE_*` variables of the caller removed and `env` set.
    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut all = vec!["--config", "supplygate.yaml", "--now", NOW];
        all.extend_from_slice(args);
        run_in_env(self.case.dir(), &all, env)
    }

    fn write_lock(&self) -> Outcome {
        self.run(&[
            "check",
            "manifests",
            "--format",
            "json",
            "--write-lock",
            "supplygate.lock",
        ])
    }

    fn locked(&self, extra: &[&str]) -> Outcome {
        let mut args = vec![
            "check",
            "manifests",
            "--format",
            "json",
            "--locked",
            "supplygate.lock",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn lock(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("supplygate.lock")).unwrap())
            .unwrap()
    }

    /// Saves an edited lock in the one form `--locked` accepts (what `--write-lock` writes):
    /// these tests are about edits that a review would miss, not about the form.
    fn save_lock(&self, lock: &Value) {
        self.save_lock_text(&serde_json::to_string(lock).unwrap());
    }

    fn save_lock_text(&self, text: &str) {
        let canonical = Lock::canonical(text.as_bytes(), Path::new("edited.lock")).unwrap();
        std::fs::write(self.path("supplygate.lock"), canonical).unwrap();
    }

    fn lock_text(&self) -> String {
        std::fs::read_to_string(self.path("supplygate.lock")).unwrap()
    }

    /// `team/app:v1@digest`, as the default manifest names it (and the lock records it).
    fn app_key(&self) -> String {
        format!("{}@{}", self.app_tag(), self.app_digest)
    }

    /// `team/web:v1@digest`, as the default manifest names it (and the lock records it).
    fn web_key(&self) -> String {
        format!("{}@{}", self.web_tag(), self.web_digest)
    }

    fn app_tag(&self) -> String {
        self.registry.image("team/app:v1")
    }

    fn web_tag(&self) -> String {
        self.registry.image("team/web:v1")
    }
}

/// Pushes `team/unsigned:v1` (no signature) and returns it pinned.
fn pushed_unsigned(case: &Locking) -> String {
    let digest = case.registry.push_generated("team/unsigned:v1", 7);
    format!("{}@{digest}", case.registry.image("team/unsigned:v1"))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_str().unwrap())
        .unwrap()
}

fn assert_allowed(out: &Outcome) {
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["decision"], "allow", "{out:?}");
}

/// Writes the lock and checks that both images were allowed and recorded.
fn written(case: &Locking) -> Outcome {
    let out = case.write_lock();
    assert_allowed(&out);
    out
}

#[test]
fn round_trip_decides_the_same_offline_and_with_the_registry_stopped() {
    let mut case = Locking::new();
    let online = written(&case);
    let lock = case.lock();
    assert_eq!(lock["version"], 1);
    assert_eq!(lock["written_at"], NOW);
    let images = lock["images"].as_object().unwrap();
    assert_eq!(images.len(), 2, "{lock:#}");
    let app = &images[&case.app_key()];
    assert_eq!(app["digest"], case.app_digest.as_str());
    assert_eq!(app["decision"], "allow");
    let web = &images[&case.web_key()];
    assert_eq!(web["platforms"].as_object().unwrap().len(), 2, "{web:#}");
    // The verified material itself is in the lock: the bundle, the `.sig` payload, manifests.
    let objects = lock["objects"].as_object().unwrap();
    let bundles = objects
        .values()
        .filter(|o| {
            serde_json::from_slice::<Value>(&unb64(&o["data"]))
                .is_ok_and(|v| v["mediaType"] == BUNDLE_V03)
        })
        .count();
    assert_eq!(bundles, 1, "{lock:#}");
    for (digest, object) in objects {
        assert_eq!(&sha256_digest(&unb64(&object["data"])), digest);
    }
    // Deterministic: the same run writes the same bytes.
    let first = std::fs::read(case.path("supplygate.lock")).unwrap();
    written(&case);
    assert_eq!(std::fs::read(case.path("supplygate.lock")).unwrap(), first);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(case.path("supplygate.lock"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "a lock is committed: readable by all");

    // Offline, with the registry up: the same decisions and not one request.
    let before = case.registry.logged_requests();
    let offline = case.locked(&["--offline"]);
    assert_allowed(&offline);
    assert_eq!(case.registry.logged_requests(), before, "{offline:?}");
    assert_eq!(offline.json()["stats"]["requests"], 0, "{offline:?}");
    let digests = |out: &Outcome| -> Vec<Value> {
        out.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["digest"].clone())
            .collect()
    };
    assert_eq!(digests(&offline), digests(&online));
    assert_eq!(offline.codes(), online.codes());

    assert_eq!(
        offline.json()["notices"],
        Value::Array(vec![]),
        "{offline:?}"
    );

    // The same images also named by tag only, locked while the registry is up.
    case.write_unpinned("tags.yaml");
    written(&case);
    case.registry.stop();
    // The registry gone: pinned references need no registry, so the lock alone decides them
    // as online; a tag-only one cannot be re-checked, so its locked answer is not admitted
    // (the kubelet would pull whatever the tag names): denied, as `serve --lock` does.
    let stopped = case.locked(&[]);
    assert_eq!(stopped.code, 1, "{stopped:?}");
    assert!(
        stopped.codes_of_exactly(&case.app_key()).is_empty(),
        "{stopped:?}"
    );
    assert!(
        stopped.codes_of_exactly(&case.web_key()).is_empty(),
        "{stopped:?}"
    );
    assert_eq!(
        stopped.codes_of_exactly(&case.app_tag()),
        ["unpinned-image"]
    );
    assert_eq!(
        stopped.codes_of_exactly(&case.web_tag()),
        ["unpinned-image"]
    );
    let json = stopped.json();
    let denial = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == case.app_tag().as_str())
        .unwrap()["findings"][0]
        .clone();
    assert_eq!(denial["severity"], "deny");
    let message = denial["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("`{}`", case.app_tag())),
        "{message}"
    );
    assert!(message.contains("`v1`"), "{message}");
    assert!(message.contains(&case.app_digest), "{message}");
    assert!(message.contains("could not answer"), "{message}");
    assert!(
        denial["hint"].as_str().unwrap().contains("supplygate pin"),
        "{denial}"
    );
    assert!(
        stopped.notices("tag-moved-since-lock").is_empty(),
        "{stopped:?}"
    );
    // Opted out: allowed on the lock's word, with a warning per tag that was not checked.
    let insecure = case.locked(&["--insecure-allow-unpinned-with-lock"]);
    assert_allowed(&insecure);
    let warnings = insecure.notices("tag-moved-since-lock");
    assert_eq!(warnings.len(), 2, "{insecure:?}");
    for warning in &warnings {
        assert_eq!(warning["severity"], "warn", "{insecure:?}");
        assert!(warning["message"].as_str().unwrap().contains("not checked"));
    }
    // Pinned references alone decide the same as online, with the registry stopped too.
    std::fs::remove_file(case.path("manifests/tags.yaml")).unwrap();
    for extra in [&[][..], &["--offline"][..]] {
        let stopped = case.locked(extra);
        assert_allowed(&stopped);
        assert_eq!(digests(&stopped), digests(&online));
        assert_eq!(stopped.codes(), online.codes());
        assert_eq!(
            stopped.json()["notices"],
            Value::Array(vec![]),
            "{stopped:?}"
        );
    }
}

#[test]
fn a_denied_run_is_recorded_and_denied_again_from_the_lock() {
    let case = Locking::new();
    let unsigned = pushed_unsigned(&case);
    // By tag: never resolved, so the lock records no tag for it (nothing to re-check).
    let missing = case.registry.image("team/missing:v1");
    case.write_manifest("other.yaml", &[&unsigned, &missing]);
    let out = case.write_lock();
    assert_eq!(out.code, 1, "{out:?}");
    let lock = case.lock();
    assert_eq!(lock["images"][&unsigned]["decision"], "deny");
    assert_eq!(lock["images"][&missing]["decision"], "deny");
    assert_eq!(lock["images"][&missing].get("digest"), None);
    let locked = case.locked(&["--offline"]);
    assert_eq!(locked.code, 1, "{locked:?}");
    assert_eq!(locked.codes(), out.codes());
    assert_eq!(locked.codes_of("team/unsigned"), ["unsigned-image"]);
    assert_eq!(locked.codes_of("team/missing"), ["image-not-found"]);
    assert!(locked.codes_of("team/app").is_empty(), "{locked:?}");
    // Pushed since: the lock says it did not exist, so this is not what was checked.
    case.registry.push_generated("team/missing:v1", 8);
    let online = case.locked(&[]);
    assert_eq!(online.code, 1, "{online:?}");
}

#[test]
fn does_not_write_a_lock_when_the_run_cannot_decide() {
    let mut case = Locking::new();
    case.registry.stop();
    let out = case.write_lock();
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("was not written"), "{out:?}");
    assert!(!case.path("supplygate.lock").exists());
}

#[test]
fn denies_an_image_missing_from_the_lock() {
    let case = Locking::new();
    written(&case);
    // A new, correctly signed image that the lock has never seen.
    let digest = case.registry.push_generated("team/new:v1", 3);
    let layer = case
        .sigstore
        .keyless(&case.registry.image("team/new"), &digest)
        .sign();
    push_signatures(&case.registry, "team/new", &digest, &[layer]);
    let new = format!("{}@{digest}", case.registry.image("team/new:v1"));
    case.write_manifest("new.yaml", &[&new]);
    let online = case.run(&["check", "manifests", "--format", "json"]);
    assert_allowed(&online);
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.codes_of("team/new").contains(&"not-in-lock".to_owned()),
        "{out:?}"
    );
    assert!(out.codes_of("team/app").is_empty(), "{out:?}");
}

#[test]
fn denies_when_the_policies_changed_since_the_lock() {
    let case = Locking::new();
    written(&case);
    std::fs::write(
        case.path("extra.rego"),
        "package supplygate.extra\n\nimport rego.v1\n\nwarn contains v if {\n  false\n  v := {\"msg\": \"never\"}\n}\n",
    )
    .unwrap();
    let same = case.run(&[
        "check",
        "manifests",
        "--format",
        "json",
        "--policy",
        "extra.rego",
    ]);
    assert_allowed(&same);
    let out = case.locked(&["--offline", "--policy", "extra.rego"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.codes_of("team/app"), ["lock-stale"]);
    assert!(out.stdout.contains("the policies changed"), "{out:?}");
}

/// Issue 15's adversarial suite: a lock written under a weaker config (one whose rule does not
/// cover `team/unsigned`, so the unsigned image was allowed and recorded) is stale under the
/// real config, which covers it: `--locked` denies instead of replaying the weak decision.
#[test]
fn denies_a_lock_written_under_a_weaker_config() {
    let case = Locking::new();
    let unsigned = pushed_unsigned(&case);
    case.write_manifest("app.yaml", &[&case.app_key(), &case.web_key(), &unsigned]);
    let strong = std::fs::read_to_string(case.path("supplygate.yaml")).unwrap();
    let weak = strong.replace(
        "images: [\"127.0.0.1:*/team/**\"]",
        "images: [\"127.0.0.1:*/team/app\", \"127.0.0.1:*/team/web\"]",
    );
    assert_ne!(weak, strong);
    std::fs::write(case.path("supplygate.yaml"), weak).unwrap();
    written(&case);
    std::fs::write(case.path("supplygate.yaml"), strong).unwrap();
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    let mut codes = out.codes_of("team/unsigned");
    codes.sort();
    assert_eq!(
        codes,
        ["lock-mismatch", "lock-stale", "unsigned-image"],
        "{out:?}"
    );
    assert!(out.stdout.contains("the policies changed"), "{out:?}");
}

#[test]
fn denies_when_the_signers_changed_since_the_lock() {
    let case = Locking::new();
    written(&case);
    let key = TestKey::generate().public_pem().replace('\n', "\n        ");
    case.write_config(&format!("  other:\n    key: |\n        {key}\n"));
    assert_allowed(&case.run(&["check", "manifests", "--format", "json"]));
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.codes_of("team/web"), ["lock-stale"]);
    assert!(out.stdout.contains("signers or trusted roots"), "{out:?}");
}

#[test]
fn denies_an_edited_image_digest() {
    let case = Locking::new();
    written(&case);
    let mut lock = case.lock();
    let web_digest = lock["images"][&case.web_key()]["digest"].clone();
    lock["images"][&case.app_key()]["digest"] = web_digest;
    case.save_lock(&lock);
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.codes_of("team/app"), ["lock-mismatch"]);
}

#[test]
fn denies_a_tag_edited_to_another_image_in_the_lock() {
    let case = Locking::new();
    case.write_unpinned("app.yaml");
    written(&case);
    let mut lock = case.lock();
    let web_digest = lock["images"][&case.web_tag()]["digest"].clone();
    lock["tags"][&case.app_tag()] = web_digest;
    case.save_lock(&lock);
    // Offline and allowed unpinned: only the lock's answer for the tag is there to judge.
    let out = case.locked(&["--offline", "--insecure-allow-unpinned-with-lock"]);
    assert_eq!(out.code, 1, "{out:?}");
    let codes = out.codes_of("team/app");
    assert!(codes.contains(&"lock-mismatch".to_owned()), "{out:?}");
    // Re-verified, not trusted: the other image has no signature for this repository.
    assert!(codes.contains(&"unsigned-image".to_owned()), "{out:?}");
}

/// Issue 15's lock tampering: a tag removed from the lock leaves the tag-only reference with
/// no locked answer, which is never read as "anything goes".
#[test]
fn denies_a_tag_removed_from_the_lock() {
    let case = Locking::new();
    case.write_unpinned("app.yaml");
    written(&case);
    let mut lock = case.lock();
    lock["tags"]
        .as_object_mut()
        .unwrap()
        .remove(&case.app_tag())
        .unwrap();
    case.save_lock(&lock);
    // Offline and allowed unpinned: only the lock could have answered for the tag.
    let out = case.locked(&["--offline", "--insecure-allow-unpinned-with-lock"]);
    assert_eq!(out.code, 1, "{out:?}");
    let codes = out.codes_of("team/app");
    assert!(codes.contains(&"image-not-found".to_owned()), "{out:?}");
    assert!(codes.contains(&"lock-mismatch".to_owned()), "{out:?}");
}

#[test]
fn denies_an_edited_manifest_object() {
    let case = Locking::new();
    written(&case);
    let mut lock = case.lock();
    let object = &mut lock["objects"][&case.app_digest];
    let mut body = unb64(&object["data"]);
    body.extend_from_slice(b" ");
    object["data"] = Value::from(b64(&body));
    case.save_lock(&lock);
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.codes_of("team/app")
            .contains(&"digest-mismatch".to_owned()),
        "{out:?}"
    );
}

/// The bundle object, its digest, and the referrer manifest that names it as a layer.
fn bundle_and_referrer(lock: &Value) -> (String, Value, String, Value) {
    let objects = lock["objects"].as_object().unwrap();
    let (bundle_digest, bundle) = objects
        .iter()
        .find(|(_, o)| {
            serde_json::from_slice::<Value>(&unb64(&o["data"]))
                .is_ok_and(|v| v["mediaType"] == BUNDLE_V03)
        })
        .map(|(d, o)| {
            (
                d.clone(),
                serde_json::from_slice(&unb64(&o["data"])).unwrap(),
            )
        })
        .unwrap();
    let (referrer_digest, referrer) = objects
        .iter()
        .find(|(_, o)| {
            serde_json::from_slice::<Value>(&unb64(&o["data"]))
                .is_ok_and(|v| v["layers"][0]["digest"] == bundle_digest.as_str())
        })
        .map(|(d, o)| {
            (
                d.clone(),
                serde_json::from_slice(&unb64(&o["data"])).unwrap(),
            )
        })
        .unwrap();
    (bundle_digest, bundle, referrer_digest, referrer)
}

/// The bundle with its DSSE payload (the signed statement) changed.
fn tampered_bundle(bundle: &Value) -> Vec<u8> {
    let mut bundle = bundle.clone();
    let payload = unb64(&bundle["dsseEnvelope"]["payload"]);
    let mut statement: Value = serde_json::from_slice(&payload).unwrap();
    statement["predicate"]["tampered"] = Value::Bool(true);
    bundle["dsseEnvelope"]["payload"] = Value::from(b64(&serde_json::to_vec(&statement).unwrap()));
    serde_json::to_vec(&bundle).unwrap()
}

#[test]
fn denies_an_edited_bundle() {
    let case = Locking::new();
    written(&case);
    let mut lock = case.lock();
    let (bundle_digest, bundle, _, _) = bundle_and_referrer(&lock);
    lock["objects"][&bundle_digest]["data"] = Value::from(b64(&tampered_bundle(&bundle)));
    case.save_lock(&lock);
    let out = case.locked(&["--offline"]);
    // Evidence that does not hash to its digest is tampering: a deny (`digest-mismatch`), not
    // a could-not-decide.
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    let app = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == case.app_key().as_str())
        .unwrap();
    assert_ne!(app["decision"], "allow", "{out:?}");
    assert!(
        app["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["expected"] == bundle_digest.as_str()),
        "the mismatch must name the bundle's digest: {out:?}"
    );
    assert!(out
        .codes_of("team/app")
        .contains(&"lock-mismatch".to_owned()));
}

#[test]
fn denies_an_edited_bundle_stored_under_its_new_digest() {
    let case = Locking::new();
    written(&case);
    let mut lock = case.lock();
    let (bundle_digest, bundle, referrer_digest, mut referrer) = bundle_and_referrer(&lock);
    // A careful forger re-addresses everything: the bundle, the referrer manifest naming it,
    // and the referrers listing naming that.
    let forged = tampered_bundle(&bundle);
    let forged_digest = sha256_digest(&forged);
    referrer["layers"][0]["digest"] = Value::from(forged_digest.clone());
    referrer["layers"][0]["size"] = Value::from(forged.len());
    let referrer_bytes = serde_json::to_vec(&referrer).unwrap();
    let new_referrer_digest = sha256_digest(&referrer_bytes);
    let objects = lock["objects"].as_object_mut().unwrap();
    let mut referrer_object = objects.remove(&referrer_digest).unwrap();
    referrer_object["data"] = Value::from(b64(&referrer_bytes));
    objects.insert(new_referrer_digest.clone(), referrer_object);
    let mut bundle_object = objects.remove(&bundle_digest).unwrap();
    bundle_object["data"] = Value::from(b64(&forged));
    objects.insert(forged_digest, bundle_object);
    let text = serde_json::to_string(&lock)
        .unwrap()
        .replace(&referrer_digest, &new_referrer_digest);
    case.save_lock_text(&text);
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    let codes = out.codes_of("team/app");
    assert!(
        codes.contains(&"signature-not-trusted".to_owned()),
        "the forged bundle must be found and fail its signature: {out:?}"
    );
    assert!(!codes.contains(&"digest-mismatch".to_owned()), "{out:?}");
}

#[test]
fn denies_an_edited_decision_either_way() {
    let case = Locking::new();
    let unsigned = pushed_unsigned(&case);
    case.write_manifest("other.yaml", &[&unsigned]);
    assert_eq!(case.write_lock().code, 1);
    let mut lock = case.lock();
    lock["images"][&case.app_key()]["decision"] = Value::from("deny");
    lock["images"][&unsigned]["decision"] = Value::from("allow");
    case.save_lock(&lock);
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.codes_of("team/app"), ["lock-mismatch"]);
    let codes = out.codes_of("team/unsigned");
    assert!(codes.contains(&"unsigned-image".to_owned()), "{out:?}");
    assert!(codes.contains(&"lock-mismatch".to_owned()), "{out:?}");
}

#[test]
fn denies_a_tag_that_moved_when_the_registry_is_reachable() {
    let case = Locking::new();
    case.write_unpinned("app.yaml");
    written(&case);
    // Re-checked online and still the locked digests: allowed, with nothing to say.
    let same = case.locked(&[]);
    assert_allowed(&same);
    assert_eq!(same.json()["notices"], Value::Array(vec![]), "{same:?}");
    // Someone pushes another (even correctly signed) image over the locked tag.
    let digest = case.registry.push_generated("team/app:v1", 9);
    let bundle = case
        .sigstore
        .keyless(&case.registry.image("team/app"), &digest)
        .sign_bundle();
    push_bundle_referrer(&case.registry, "team/app", &digest, &[bundle]);
    let out = case.locked(&[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.codes_of("team/app"), ["tag-moved-since-lock"]);
    assert!(out.stdout.contains(&digest), "{out:?}");
    assert!(out.codes_of("team/web").is_empty(), "{out:?}");
    // Offline the move is not seen, and no tag is re-checked: both tag-only references are
    // denied, the moved one and the other alike.
    let offline = case.locked(&["--offline"]);
    assert_eq!(offline.code, 1, "{offline:?}");
    assert_eq!(offline.codes_of("team/app"), ["unpinned-image"]);
    assert_eq!(offline.codes_of("team/web"), ["unpinned-image"]);
    // Opted out, the lock alone decides: what was verified is what it records.
    assert_allowed(&case.locked(&["--offline", "--insecure-allow-unpinned-with-lock"]));
}

#[test]
fn refuses_a_lock_that_is_not_one() {
    let case = Locking::new();
    std::fs::write(case.path("supplygate.lock"), "{\"version\": 7}").unwrap();
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("format version 7"), "{out:?}");
    let out = case.run(&[
        "check",
        "manifests",
        "--locked",
        "missing.lock",
        "--write-lock",
        "x.lock",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(Path::new(&case.path("x.lock")).exists().eq(&false));
}

#[test]
fn refuses_a_lock_with_a_duplicate_key_naming_the_line() {
    let case = Locking::new();
    let unsigned = pushed_unsigned(&case);
    case.write_manifest("other.yaml", &[&unsigned]);
    assert_eq!(case.write_lock().code, 1);
    // A second `images` entry for the denied image, saying `allow`: serde would keep the last
    // one, while a reviewer reads the first. The decision is re-computed anyway, but no
    // ambiguous lock is read at all.
    let text = case.lock_text();
    let entry = format!("    \"{unsigned}\": {{");
    let start = text.find(&entry).unwrap();
    let end = start + text[start..].find("\n    }").unwrap() + "\n    }".len();
    let forged = text[start..end].replace("\"deny\"", "\"allow\"");
    let duplicated = format!("{}{forged},\n{}", &text[..end + 2], &text[end + 2..]);
    // The parsed lock holds the forged entry where the first one was written, so its first
    // difference with the file is the first entry's decision.
    let decision = start + text[start..].find("\"decision\"").unwrap();
    let line = text[..decision].matches('\n').count() + 1;
    std::fs::write(case.path("supplygate.lock"), &duplicated).unwrap();
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("not in the form supplygate writes"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains(&format!("line {line} is `\"decision\": \"deny\",`")),
        "{out:?}"
    );
    assert!(out.stderr.contains("--write-lock"), "{out:?}");
    // Reordered keys (same content) are refused too: the lock has one reviewable form.
    let value: Value = serde_json::from_str(&text).unwrap();
    std::fs::write(
        case.path("supplygate.lock"),
        serde_json::to_string_pretty(&value).unwrap() + "\n",
    )
    .unwrap();
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("line 2 "), "{out:?}");
    // The file as written is accepted.
    std::fs::write(case.path("supplygate.lock"), &text).unwrap();
    assert_eq!(case.locked(&["--offline"]).code, 1);
}

#[test]
fn refuses_locked_with_changed_since_given_as_a_flag_or_in_the_environment() {
    let case = Locking::new();
    written(&case);
    let out = case.locked(&["--offline", "--changed-since", "HEAD"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--changed-since"), "{out:?}");
    let out = case.run_with_env(
        &[
            "check",
            "manifests",
            "--offline",
            "--format",
            "json",
            "--locked",
            "supplygate.lock",
        ],
        &[("SUPPLYGATE_CHANGED_SINCE", "HEAD")],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--changed-since"), "{out:?}");
    assert!(out.stdout.is_empty(), "nothing is evaluated");
    // The same through SUPPLYGATE_LOCKED.
    let out = case.run_with_env(
        &["check", "manifests", "--offline", "--changed-since", "HEAD"],
        &[("SUPPLYGATE_LOCKED", "supplygate.lock")],
    );
    assert_eq!(out.code, 2, "{out:?}");
}

/// The default manifest (pinned) plus `manifests/tags.yaml` naming the same images by tag
/// only, locked online.
fn pinned_and_unpinned() -> Locking {
    let case = Locking::new();
    case.write_unpinned("tags.yaml");
    written(&case);
    case
}

#[test]
fn offline_locked_denies_every_unchecked_unpinned_tag_but_not_pinned_ones() {
    let case = pinned_and_unpinned();
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.codes_of_exactly(&case.app_key()).is_empty(), "{out:?}");
    assert!(out.codes_of_exactly(&case.web_key()).is_empty(), "{out:?}");
    assert_eq!(out.codes_of_exactly(&case.app_tag()), ["unpinned-image"]);
    assert_eq!(out.codes_of_exactly(&case.web_tag()), ["unpinned-image"]);
    let json = out.json();
    let app = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == case.app_tag().as_str())
        .unwrap();
    assert_eq!(app["decision"], "deny");
    let finding = &app["findings"][0];
    assert_eq!(finding["severity"], "deny");
    assert_eq!(finding["expected"], case.app_digest.as_str());
    let message = finding["message"].as_str().unwrap();
    for part in [
        format!("`{}`", case.app_tag()),
        "`v1`".to_owned(),
        case.app_digest.clone(),
        "--offline".to_owned(),
    ] {
        assert!(message.contains(&part), "`{part}` in: {message}");
    }
    let hint = finding["hint"].as_str().unwrap();
    assert!(hint.contains("supplygate pin"), "{hint}");
    assert!(hint.contains("without `--offline`"), "{hint}");
    // The denial replaces the warnings.
    assert!(out.notices("tag-moved-since-lock").is_empty(), "{out:?}");
    // Shown in the human report too.
    let human = case.run(&[
        "check",
        "manifests",
        "--offline",
        "--locked",
        "supplygate.lock",
    ]);
    assert_eq!(human.code, 1, "{human:?}");
    assert!(human.stdout.contains("unpinned-image"), "{human:?}");
    assert!(human.stdout.contains("supplygate pin"), "{human:?}");
    // With only pinned references there is nothing to deny or warn about.
    std::fs::remove_file(case.path("manifests/tags.yaml")).unwrap();
    let out = case.locked(&["--offline"]);
    assert_allowed(&out);
    assert_eq!(out.json()["notices"], Value::Array(vec![]), "{out:?}");
}

#[test]
fn insecure_allow_unpinned_with_lock_warns_about_every_unchecked_tag_instead() {
    let case = pinned_and_unpinned();
    let out = case.locked(&["--offline", "--insecure-allow-unpinned-with-lock"]);
    assert_allowed(&out);
    assert!(
        out.codes().iter().all(|(_, codes)| codes.is_empty()),
        "{out:?}"
    );
    let unchecked = out.notices("tag-moved-since-lock");
    assert_eq!(
        unchecked.len(),
        2,
        "app:v1 and web:v1, not the pinned ones: {out:?}"
    );
    for notice in &unchecked {
        assert_eq!(notice["severity"], "warn");
        assert!(notice["message"].as_str().unwrap().contains("not checked"));
        assert!(notice["hint"].as_str().unwrap().contains("pin"));
    }
    let app = unchecked
        .iter()
        .find(|n| n["message"].as_str().unwrap().contains("team/app:v1`"))
        .unwrap();
    assert_eq!(app["expected"], case.app_digest.as_str());
    // The same through the environment, and in the human report.
    let human = case.run_with_env(
        &[
            "check",
            "manifests",
            "--offline",
            "--locked",
            "supplygate.lock",
        ],
        &[("SUPPLYGATE_INSECURE_ALLOW_UNPINNED_WITH_LOCK", "true")],
    );
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human.stdout.contains("not checked") || human.stderr.contains("not checked"),
        "{human:?}"
    );
    assert!(
        human.stderr.contains("--insecure-allow-unpinned-with-lock"),
        "the opt-out is logged: {human:?}"
    );
    // Pinned references alone: nothing to warn about.
    std::fs::remove_file(case.path("manifests/tags.yaml")).unwrap();
    let out = case.locked(&["--offline", "--insecure-allow-unpinned-with-lock"]);
    assert_allowed(&out);
    assert_eq!(out.json()["notices"], Value::Array(vec![]), "{out:?}");
}

#[test]
fn denies_edited_platform_digests() {
    let case = Locking::new();
    written(&case);
    let mut lock = case.lock();
    let platforms = lock["images"][&case.web_key()]["platforms"]
        .as_object_mut()
        .unwrap();
    let first = platforms.keys().next().unwrap().clone();
    platforms.insert(first, Value::from(case.app_digest.clone()));
    case.save_lock(&lock);
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.codes_of("team/web"), ["lock-mismatch"]);
    assert!(out.stdout.contains("platform digests"), "{out:?}");
    assert!(out.codes_of("team/app").is_empty(), "{out:?}");
}

#[test]
fn refuses_an_unknown_referrer_source() {
    let case = Locking::new();
    written(&case);
    let text = case.lock_text();
    let at = text.find("\"via\": \"").unwrap() + "\"via\": \"".len();
    let end = at + text[at..].find('"').unwrap();
    let edited = format!("{}mirror{}", &text[..at], &text[end..]);
    std::fs::write(case.path("supplygate.lock"), edited).unwrap();
    let out = case.locked(&["--offline"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("`via` is `mirror`"), "{out:?}");
}

#[test]
fn a_stale_lock_fails_even_when_the_manifests_name_no_image() {
    let case = Locking::new();
    written(&case);
    std::fs::create_dir_all(case.path("config")).unwrap();
    std::fs::write(
        case.path("config/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "config",
            "--offline",
            "--format",
            "json",
            "--locked",
            "supplygate.lock",
        ];
        args.extend_from_slice(extra);
        case.run(&args)
    };
    assert_allowed(&run(&[]));
    std::fs::write(
        case.path("extra.rego"),
        "package supplygate.extra\n\nimport rego.v1\n\nwarn contains v if {\n  false\n  v := {\"msg\": \"never\"}\n}\n",
    )
    .unwrap();
    let out = run(&["--policy", "extra.rego"]);
    assert_eq!(out.code, 2, "{out:?}");
    let errors = out.json()["errors"].clone();
    assert!(
        errors
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "lock-stale"
                && e["message"].as_str().unwrap().contains("policies changed")),
        "{out:?}"
    );
}

/// `stats.requests` of a JSON report.
fn requests(out: &Outcome) -> u64 {
    out.json()["stats"]["requests"].as_u64().unwrap()
}

/// `check manifests --format json --cache-dir cache <extra>`.
fn cached(case: &Locking, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "check",
        "manifests",
        "--format",
        "json",
        "--cache-dir",
        "cache",
    ];
    args.extend_from_slice(extra);
    case.run(&args)
}

/// The cache's entry files (`cache/v1/evidence/<fingerprint>/*.json`).
fn cache_entries(case: &Locking) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(case.path("cache/v1/evidence")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            found.push(file.unwrap().path());
        }
    }
    found.sort();
    found
}

#[test]
fn a_repeated_check_with_the_cache_asks_nothing_about_a_pinned_digest_and_once_per_tag() {
    let case = Locking::new();
    // By digest only: nothing about the image can have changed.
    let by_digest = |repo: &str, digest: &str| format!("{}@{digest}", case.registry.image(repo));
    case.write_manifest(
        "app.yaml",
        &[
            &by_digest("team/app", &case.app_digest),
            &by_digest("team/web", &case.web_digest),
        ],
    );
    let cold = cached(&case, &[]);
    assert_allowed(&cold);
    assert!(requests(&cold) > 0, "{cold:?}");
    let warm = cached(&case, &[]);
    assert_allowed(&warm);
    assert_eq!(warm.codes(), cold.codes());
    assert_eq!(requests(&warm), 0, "{warm:?}");

    // By tag: the tag is asked every run (one request each), nothing else.
    case.write_unpinned("app.yaml");
    let cold = cached(&case, &[]);
    assert_allowed(&cold);
    let warm = cached(&case, &[]);
    assert_allowed(&warm);
    assert_eq!(requests(&warm), 2, "{warm:?}");

    // Past the entries' time to live (a day by default) the answers about each digest (its
    // signature tags, its referrers) are asked again; only objects, content-addressed and
    // checked against their digest, still come from the cache.
    let later = cached(&case, &["--now", "2026-11-26T12:00:00Z"]);
    assert_allowed(&later);
    assert!(requests(&later) > requests(&warm) + 2, "{later:?}");
}

#[test]
fn the_cache_never_allows_on_its_own_word() {
    let case = Locking::new();
    let cold = cached(&case, &[]);
    assert_allowed(&cold);
    let entries = cache_entries(&case);
    assert!(entries.len() >= 2, "{entries:?}");

    // One digest's entry planted where another digest's belongs: refused as foreign, reported,
    // and the registry asked instead; the run decides as without a cache.
    std::fs::copy(&entries[0], &entries[1]).unwrap();
    let planted = cached(&case, &[]);
    assert_allowed(&planted);
    assert!(requests(&planted) > 0, "{planted:?}");
    let notices = planted.notices("cache-entry-ignored");
    assert_eq!(notices.len(), 1, "{planted:?}");
    assert!(
        notices[0]["message"]
            .as_str()
            .unwrap()
            .contains("written for `"),
        "{notices:?}"
    );

    // A truncated entry: the same.
    let entries = cache_entries(&case);
    let text = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], &text[..text.len() / 2]).unwrap();
    let truncated = cached(&case, &[]);
    assert_allowed(&truncated);
    assert_eq!(
        truncated.notices("cache-entry-ignored").len(),
        1,
        "{truncated:?}"
    );

    // The signers changed (the rule now needs a key that signed nothing): the entries written
    // under the old signers are not used, and nothing is allowed from them.
    std::fs::write(
        case.path("other.pub"),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/other-p256.pub"))
            .unwrap(),
    )
    .unwrap();
    let config = std::fs::read_to_string(case.path("supplygate.yaml"))
        .unwrap()
        .replace("signers: [release]", "signers: [other]")
        .replace(
            "signers:\n",
            "signers:\n  other:\n    key: other.pub\n    insecure_ignore_tlog: true\n",
        );
    std::fs::write(case.path("supplygate.yaml"), config).unwrap();
    let rekeyed = cached(&case, &[]);
    assert_eq!(rekeyed.json()["decision"], "deny", "{rekeyed:?}");
    assert!(requests(&rekeyed) > 0, "{rekeyed:?}");
    for (_, codes) in rekeyed.codes() {
        assert!(
            codes
                .iter()
                .any(|c| c == "unsigned-image" || c == "signature-not-trusted"),
            "{codes:?}"
        );
    }
}

/// repro/7 (related): a cache directory whose `v1/objects` is a file is not used for the run
/// (a warning names it); the run decides as without a cache, never exit 2.
#[test]
fn a_cache_directory_that_cannot_hold_the_cache_is_a_warning_not_a_failed_run() {
    let case = Locking::new();
    std::fs::create_dir_all(case.path("cache/v1")).unwrap();
    std::fs::write(case.path("cache/v1/objects"), b"").unwrap();
    let out = cached(&case, &[]);
    assert_allowed(&out);
    let notices = out.notices("cache-entry-ignored");
    assert_eq!(notices.len(), 1, "{out:?}");
    let message = notices[0]["message"].as_str().unwrap();
    assert!(message.contains("v1/objects"), "{message}");
    assert!(message.contains("not used this run"), "{message}");
}
