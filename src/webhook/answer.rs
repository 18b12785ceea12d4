//! The answer cache: whole answers to reviews seen before, keyed before any expensive work.
//!
//! A review is read as far as its envelope ([`review::Wire`]: its objects stay JSON text);
//! the key is a SHA-256 over everything of it the answer depends on — the endpoint, the
//! request's kind, name, namespace and operation, and the object and old object exactly as
//! written. Everything the answer depends on besides the review (config, policies, signers,
//! lock) belongs to the [`super::generation::Generation`] the cache lives in: a reload starts
//! an empty one. What the review carries but no answer reads (`userInfo`, `dryRun`,
//! `options`, `resource`) is left out: it decides nothing, so two reviews that differ only
//! there get the same answer either way. The uid is not in the key either: it is spliced into
//! the cached bytes, so the answer always names the request it answers.
//!
//! An answer is kept only when every site's decision came from the decision cache or a
//! verification whose decision is cacheable, and only until the first of those decisions
//! expires or the tags' resolutions do (`tag_ttl` after the registry client that resolved
//! them was made): a hit never
//! outlives any part of what it was made of. Could-not-decide answers (deadline, overload, an
//! unresolvable reference, a failed evaluation) are never kept.
//!
//! Most reviews are never seen twice (each pod of a rollout has its own generated name), so an
//! answer is kept only for a key seen before: a first sighting costs the key alone (32 bytes),
//! the second keeps the answer, the third and later are answered from it.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use sha2::Digest as _;

use super::review::{AdmissionResponse, Endpoint, Wire};

/// What an answer is valid for (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 32]);

impl Key {
    pub(crate) fn new(wire: &Wire<'_>, endpoint: Endpoint) -> Self {
        let mut h = sha2::Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(match endpoint {
            Endpoint::Validate => b"validate",
            Endpoint::Mutate => b"mutate",
        });
        field(wire.kind.group.as_bytes());
        field(wire.kind.version.as_bytes());
        field(wire.kind.kind.as_bytes());
        field(wire.name.as_bytes());
        field(wire.operation.as_str().as_bytes());
        // Absent and empty differ.
        for value in [wire.namespace.as_deref(), wire.object, wire.old_object] {
            field(&[u8::from(value.is_some())]);
            field(value.unwrap_or_default().as_bytes());
        }
        Self(h.finalize().into())
    }
}

/// The start of every answer, up to the uid's value.
const PREFIX: &[u8] =
    br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#;

/// One cached answer: its JSON after the uid, and what the log and metrics say of it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The answer's JSON text after the uid's value.
    suffix: Box<[u8]>,
    /// Allowed.
    pub(crate) allowed: bool,
    /// Warnings returned.
    pub(crate) warnings: usize,
    /// Image sites (each counted as a decision-cache hit).
    pub(crate) sites: usize,
    /// The codes the decision counted (`none` when it has none).
    pub(crate) codes: Box<[Box<str>]>,
    /// `Kind namespace/name`, for the log.
    pub(crate) object: Box<str>,
    /// Until when it may answer.
    expires: Instant,
}

impl Answer {
    /// The answer to keep for `response` (made for a request whose uid is `uid`), or `None`
    /// when its JSON does not begin as every answer does (never in practice).
    pub(crate) fn new(
        response: &AdmissionResponse,
        codes: &[String],
        sites: usize,
        object: &str,
        expires: Instant,
    ) -> Option<Self> {
        let json = response.to_json().ok()?;
        let uid = serde_json::to_vec(&response.uid).ok()?;
        let suffix = json.strip_prefix(PREFIX)?.strip_prefix(uid.as_slice())?;
        Some(Self {
            suffix: suffix.into(),
            allowed: response.allowed,
            warnings: response.warnings.as_ref().map_or(0, Vec::len),
            sites,
            codes: codes.iter().map(|c| c.as_str().into()).collect(),
            object: object.into(),
            expires,
        })
    }

    /// The answer's JSON for the request whose uid is `uid`.
    pub(crate) fn body(&self, uid: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREFIX.len() + uid.len() + 2 + self.suffix.len());
        out.extend_from_slice(PREFIX);
        // A string always serialises; on the impossible failure the answer is cut short and
        // the API server sees a malformed body (a failed call, never another request's answer).
        let _ = serde_json::to_writer(&mut out, uid);
        out.extend_from_slice(&self.suffix);
        out
    }

    /// Bytes held, roughly (for `/metrics`).
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.suffix.len()
            + self.object.len()
            + self
                .codes
                .iter()
                .map(|c| c.len() + std::mem::size_of::<Box<str>>())
                .sum::<usize>()
    }
}

/// Whole answers by [`Key`], bounded, and the keys seen once.
#[derive(Debug)]
pub(crate) struct AnswerCache {
    answers: Mutex<HashMap<Key, std::sync::Arc<Answer>>>,
    /// Keys of answers made once and not kept (bounded: beyond `max_entries` it starts again).
    seen: Mutex<HashSet<Key>>,
    max_entries: usize,
}

impl AnswerCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            answers: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashSet::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// Whether an answer for `key` was made before (and not kept); remembers that it now was.
    fn seen_before(&self, key: Key) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.remove(&key) {
            return true;
        }
        if seen.len() >= self.max_entries {
            seen.clear();
        }
        seen.insert(key);
        false
    }

    /// The fresh answer for `key`, if there is one.
    pub(crate) fn get(&self, key: &Key) -> Option<std::sync::Arc<Answer>> {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let answer = answers.get(key)?;
        (answer.expires > Instant::now()).then(|| std::sync::Arc::clone(answer))
    }

    /// Keeps `answer` for `key` if an answer for it was made before (and it has not expired
    /// already); otherwise only remembers the key.
    pub(crate) fn insert(&self, key: Key, answer: Answer) {
        let now = Instant::now();
        if answer.expires <= now || !self.seen_before(key) {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        if answers.len() >= self.max_entries && !answers.contains_key(&key) {
            super::cache::make_room(&mut answers, self.max_entries, |a| a.expires > now);
        }
        answers.insert(key, std::sync::Arc::new(answer));
    }

    /// Entries held now (fresh or not yet purged).
    pub(crate) fn len(&self) -> usize {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Bytes held, roughly: keys, entries and answers (for `/metrics`).
    pub(crate) fn bytes(&self) -> usize {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let per_entry = std::mem::size_of::<Key>() + 3 * std::mem::size_of::<usize>();
        let kept: usize = answers.values().map(|a| per_entry + a.bytes()).sum();
        kept + seen * (std::mem::size_of::<Key>() + std::mem::size_of::<usize>())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::webhook::review;

    const BODY: &str = include_str!("../../fixtures/admission/deployment-create.json");

    fn key_of(review: &Value, endpoint: Endpoint) -> Key {
        let text = review.to_string();
        let wire = review::read(text.as_bytes()).unwrap();
        Key::new(&wire, endpoint)
    }

    /// A hit must never answer a review whose answer could differ: every field of the review
    /// an answer reads changes the key; the uid (spliced in) and the fields no answer reads
    /// do not.
    #[test]
    fn the_key_covers_every_field_the_answer_depends_on_and_not_the_uid() {
        let base: Value = serde_json::from_str(BODY).unwrap();
        let k = key_of(&base, Endpoint::Validate);
        assert_ne!(key_of(&base, Endpoint::Mutate), k, "endpoint");
        type Edit = fn(&mut Value);
        let unread: [(&str, Edit); 5] = [
            ("uid", |r| r["request"]["uid"] = json!("another")),
            ("userInfo", |r| {
                r["request"]["userInfo"] = json!({"username": "mallory"})
            }),
            ("dryRun", |r| r["request"]["dryRun"] = json!(true)),
            ("options", |r| {
                r["request"]["options"] = json!({"kind": "CreateOptions"})
            }),
            ("resource", |r| {
                r["request"]["resource"]["resource"] = json!("other")
            }),
        ];
        for (what, edit) in unread {
            let mut r = base.clone();
            edit(&mut r);
            assert_eq!(key_of(&r, Endpoint::Validate), k, "{what} changes the key");
        }
        let read: [(&str, Edit); 14] = [
            ("kind.group", |r| r["request"]["kind"]["group"] = json!("x")),
            ("kind.version", |r| {
                r["request"]["kind"]["version"] = json!("v2")
            }),
            ("kind.kind", |r| {
                r["request"]["kind"]["kind"] = json!("StatefulSet")
            }),
            ("name", |r| r["request"]["name"] = json!("other")),
            ("namespace", |r| r["request"]["namespace"] = json!("ops")),
            ("empty namespace", |r| r["request"]["namespace"] = json!("")),
            ("no namespace", |r| {
                r["request"].as_object_mut().unwrap().remove("namespace");
            }),
            ("operation", |r| r["request"]["operation"] = json!("UPDATE")),
            ("image", |r| {
                r["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("evil.example/x:1")
            }),
            ("annotation", |r| {
                r["request"]["object"]["metadata"]["annotations"] =
                    json!({"supplygate.dev/break-glass": "INC-1"})
            }),
            ("object's whitespace", |r| {
                let text = r["request"]["object"].to_string();
                r["request"]["object"] = json!(null);
                // Placeholder; replaced below with the same object spaced differently.
                r["request"]["objectText"] = json!(text);
            }),
            ("no object", |r| {
                r["request"].as_object_mut().unwrap().remove("object");
            }),
            ("old object", |r| {
                r["request"]["oldObject"] = json!({"kind": "Deployment"})
            }),
            ("object moved to oldObject", |r| {
                let object = r["request"]["object"].take();
                r["request"]["oldObject"] = object;
            }),
        ];
        let mut keys = vec![k];
        for (what, edit) in read {
            let mut r = base.clone();
            edit(&mut r);
            let key = if let Some(text) = r["request"]["objectText"].as_str() {
                // The same object written with other spacing: other text, another key.
                let spaced = text.replacen(':', ": ", 1);
                let mut envelope = r.clone();
                envelope["request"]
                    .as_object_mut()
                    .unwrap()
                    .remove("objectText");
                envelope["request"]["object"] = json!("__OBJECT__");
                let body = envelope.to_string().replace("\"__OBJECT__\"", &spaced);
                let wire = review::read(body.as_bytes()).unwrap();
                Key::new(&wire, Endpoint::Validate)
            } else {
                key_of(&r, Endpoint::Validate)
            };
            assert!(!keys.contains(&key), "{what} does not change the key");
            keys.push(key);
        }
        // Length prefixes: moving a character from the name into the namespace is another key.
        let mut a = base.clone();
        a["request"]["name"] = json!("ab");
        a["request"]["namespace"] = json!("c");
        let mut b = base.clone();
        b["request"]["name"] = json!("a");
        b["request"]["namespace"] = json!("bc");
        assert_ne!(
            key_of(&a, Endpoint::Validate),
            key_of(&b, Endpoint::Validate)
        );
    }

    /// The cached bytes answer the request that asked, whatever its uid holds: the same JSON
    /// as the answer made for it would be.
    #[test]
    fn the_uid_is_spliced_into_the_cached_answer_as_its_own_answer_would_write_it() {
        let request = review::decode(BODY.as_bytes()).unwrap();
        let mut made = AdmissionResponse::allow(&request).deny("no \"way\"\n".to_owned());
        made.warnings = Some(vec!["w".to_owned()]);
        made.patch = Some(b"[]".to_vec());
        let expires = Instant::now() + Duration::from_secs(60);
        let answer = Answer::new(
            &made,
            &["unsigned-image".to_owned()],
            1,
            "Deployment x",
            expires,
        )
        .unwrap();
        assert!(!answer.allowed);
        assert_eq!(answer.warnings, 1);
        for uid in [
            "705ab4f5-6393-11e8-b7cc-42010a800002",
            "",
            "quote\" backslash\\ slash/",
            "\u{0}\u{1f}\u{7f}\u{2028}é😀",
            "\",\"allowed\":true,\"x\":\"",
        ] {
            let mut theirs = made.clone();
            theirs.uid = uid.to_owned();
            let body = answer.body(uid);
            assert_eq!(body, theirs.to_json().unwrap(), "{uid:?}");
            let parsed: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(parsed["response"]["uid"], uid);
            assert_eq!(parsed["response"]["allowed"], false, "{uid:?}");
        }
    }

    #[test]
    fn answers_expire_and_the_cache_is_bounded() {
        let request = review::decode(BODY.as_bytes()).unwrap();
        let made = AdmissionResponse::allow(&request);
        let cache = AnswerCache::new(4);
        let at = |secs: u64| Instant::now() + Duration::from_secs(secs);
        let key = |i: u8| Key([i; 32]);
        let keep = |i: u8, expires: Instant| {
            cache.insert(key(i), Answer::new(&made, &[], 1, "x", expires).unwrap());
        };
        // Made once: only the key is remembered; made again: kept.
        keep(1, at(60));
        assert!(cache.get(&key(1)).is_none(), "kept on its first sighting");
        assert_eq!(cache.len(), 0);
        keep(1, at(60));
        assert!(
            cache.get(&key(1)).is_some(),
            "not kept on its second sighting"
        );
        keep(0, Instant::now());
        keep(0, Instant::now());
        assert!(cache.get(&key(0)).is_none(), "an expired answer is kept");
        for i in 2..=10 {
            keep(i, at(60));
            keep(i, at(60));
            assert!(cache.len() <= 4, "{}", cache.len());
        }
        assert!(cache.get(&key(10)).is_some());
        assert!(cache.bytes() > 0);
    }
}
