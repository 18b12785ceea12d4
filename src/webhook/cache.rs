//! The per-image decision cache: one verified decision per image site, keyed by the resolved
//! digest and everything about the site that the policy input contains, with a TTL (shorter
//! for denials; could-not-decide answers are not kept). Concurrent lookups of one key share
//! one evaluation: a hundred pods of a new image cause one verification.
//!
//! A cached [`Decision`] is compact: what an answer reads of an [`ImageReport`] (the parsed
//! reference, the resolved digest, each finding's code, weight, message and hint) and nothing
//! of the site, which the key covers and the review being answered supplies again.
//!
//! A cache belongs to one policy/trust generation: a reload (SIGHUP) starts an empty one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use tokio::sync::OnceCell;

use super::metrics::Lookup;
use crate::manifest::ImageSite;
use crate::reference::ImageRef;
use crate::registry::Resolved;
use crate::report::{self, Code, Finding, ImageReport};

/// What a cached decision is valid for: a SHA-256 over the digest the image resolved to and
/// everything about the site that the policy input holds or the evaluation reads — the image
/// as written, the object (file name, apiVersion, kind, namespace, name, labels,
/// annotations, document and line), the container (name, list, path, line, column) and the
/// extractor that found it. Fields go in length-prefixed, so no two different sites hash the
/// same input. A hundred pods of one ReplicaSet (same template, `generateName`) share one
/// key; a change to anything the policy could read is another key. The config, signers,
/// trusted roots and policies are not in it: a cache belongs to one [`super::Generation`], and a
/// reload starts an empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 32]);

fn optional(s: &Option<String>) -> Option<&[u8]> {
    s.as_deref().map(str::as_bytes)
}

impl Key {
    pub(crate) fn new(site: &ImageSite, digest: &str) -> Self {
        let mut h = sha2::Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(digest.as_bytes());
        field(site.image.as_bytes());
        let r = &site.resource;
        field(site.origin.to_string().as_bytes());
        field(r.api_version.as_bytes());
        field(r.kind.as_bytes());
        for value in [optional(&r.namespace), optional(&r.name)] {
            // Absent and empty differ.
            field(&[u8::from(value.is_some())]);
            field(value.unwrap_or_default());
        }
        for map in [&r.labels, &r.annotations] {
            field(&(map.len() as u64).to_le_bytes());
            for (k, v) in map {
                field(k.as_bytes());
                field(v.as_bytes());
            }
        }
        field(&(r.document as u64).to_le_bytes());
        field(&(r.line as u64).to_le_bytes());
        let container = optional(&site.container);
        field(&[u8::from(container.is_some())]);
        field(container.unwrap_or_default());
        field(&[site.container_kind as u8]);
        field(site.path.as_bytes());
        field(&(site.span.line as u64).to_le_bytes());
        field(&(site.span.column as u64).to_le_bytes());
        field(site.extractor.as_bytes());
        Self(h.finalize().into())
    }
}

/// How long answers are kept, and how many.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long an allow is reused.
    pub ttl: Duration,
    /// How long a deny is reused (shorter: a fix should show up soon).
    pub negative_ttl: Duration,
    /// Most entries kept; beyond it expired entries are dropped first, then arbitrary ones.
    pub max_entries: usize,
}

/// What an answer needs of one site's [`ImageReport`], without the site (the key covers it;
/// the review being answered has it) or any evidence: the reference as parsed, the digest it
/// resolved to, and each finding's code, weight, message and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    reference: Option<ImageRef>,
    resolved: Option<Resolved>,
    findings: Box<[Finding]>,
}

impl Decision {
    /// Keeps what an answer reads of `report`.
    pub(crate) fn new(report: ImageReport) -> Self {
        let resolved = report.resolved.map(|mut r| {
            r.platforms = Vec::new();
            r.media_type.shrink_to_fit();
            r
        });
        let findings = report
            .findings
            .into_iter()
            .map(|f| Finding {
                expected: None,
                found: None,
                package: None,
                ..f
            })
            .map(|mut f| {
                f.message.shrink_to_fit();
                if let Some(h) = f.hint.as_mut() {
                    h.shrink_to_fit();
                }
                f
            })
            .collect();
        Self {
            reference: report.reference,
            resolved,
            findings,
        }
    }

    /// The report of `site` this decision stands for (no evidence: answers never read it).
    pub(crate) fn report(&self, site: ImageSite) -> ImageReport {
        ImageReport {
            site,
            reference: self.reference.clone(),
            resolved: self.resolved.clone(),
            findings: self.findings.to_vec(),
            signatures: None,
            attestations: None,
        }
    }

    /// Heap and inline bytes held, roughly (for `/metrics`).
    pub(crate) fn bytes(&self) -> usize {
        let reference = self
            .reference
            .as_ref()
            .map_or(0, |r| std::mem::size_of::<ImageRef>() + r.to_string().len());
        let resolved = self.resolved.as_ref().map_or(0, |r| {
            std::mem::size_of::<Resolved>() + r.media_type.len() + 2 * 72
        });
        let findings: usize = self
            .findings
            .iter()
            .map(|f| {
                std::mem::size_of::<Finding>()
                    + f.message.capacity()
                    + f.hint.as_ref().map_or(0, String::capacity)
            })
            .sum();
        std::mem::size_of::<Self>() + reference + resolved + findings
    }
}

/// One cached answer.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    /// The decision.
    pub(crate) decision: Arc<Decision>,
    /// Until when it may answer.
    pub(crate) expires: Instant,
}

type Slot = Arc<OnceCell<Cached>>;

/// Per-image decisions keyed by `K`.
#[derive(Debug)]
pub(crate) struct DecisionCache<K> {
    slots: Mutex<HashMap<K, Slot>>,
    settings: CacheSettings,
}

impl<K: Eq + Hash + Clone> DecisionCache<K> {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            settings,
        }
    }

    /// Entries held now (fresh or not yet purged).
    pub(crate) fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The fresh cached decision for `key`, if there is one; never waits or evaluates.
    pub(crate) fn peek(&self, key: &K) -> Option<Cached> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = slots.get(key)?.get()?;
        (cached.expires > Instant::now()).then(|| cached.clone())
    }

    /// The cached decision for `key`, or the one made of the report `evaluate` produces;
    /// callers that arrive while an evaluation of `key` is running wait for it instead of
    /// starting their own.
    pub(crate) async fn get_or_evaluate<F, Fut>(&self, key: K, evaluate: F) -> (Cached, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ImageReport>,
    {
        let slot = self.slot(key);
        if let Some(cached) = slot.get() {
            return (cached.clone(), Lookup::Hit);
        }
        let ran = AtomicBool::new(false);
        let cached = slot
            .get_or_init(|| async {
                ran.store(true, Ordering::Relaxed);
                let report = evaluate().await;
                let overridden = report
                    .findings
                    .iter()
                    .any(|f| matches!(f.code, Code::Exemption | Code::BreakGlass));
                let ttl = match report.decision() {
                    // An exemption expires at a time of its own: never let a cached allow
                    // outlive it.
                    report::Decision::Allow if overridden => Duration::ZERO,
                    report::Decision::Allow => self.settings.ttl,
                    report::Decision::Deny => self.settings.negative_ttl,
                    // Could not decide: shared with the callers waiting now, never reused.
                    report::Decision::Error => Duration::ZERO,
                };
                Cached {
                    decision: Arc::new(Decision::new(report)),
                    expires: Instant::now() + ttl,
                }
            })
            .await;
        let lookup = if ran.load(Ordering::Relaxed) {
            Lookup::Miss
        } else {
            Lookup::Coalesced
        };
        (cached.clone(), lookup)
    }

    /// Bytes held by the fresh entries, roughly: keys, slots and decisions (for `/metrics`).
    pub(crate) fn bytes(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let per_slot = std::mem::size_of::<K>()
            + std::mem::size_of::<Slot>()
            + std::mem::size_of::<OnceCell<Cached>>()
            + 2 * std::mem::size_of::<usize>();
        slots
            .values()
            .map(|s| per_slot + s.get().map_or(0, |c| c.decision.bytes()))
            .sum()
    }

    /// The slot for `key`: the existing one unless its answer has expired.
    fn slot(&self, key: K) -> Slot {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(&key) {
            // An empty slot is an evaluation in flight: join it.
            if slot.get().is_none_or(|c| c.expires > now) {
                return Arc::clone(slot);
            }
        }
        if slots.len() >= self.settings.max_entries {
            make_room(&mut slots, self.settings.max_entries, |s| {
                s.get().is_none_or(|c| c.expires > now)
            });
        }
        let slot = Slot::default();
        slots.insert(key, Arc::clone(&slot));
        slot
    }
}

/// Makes room in a full bounded cache of `max_entries`: drops what is no longer `fresh`, and
/// when that is not enough, half of the entries (which ones matters little; the bound does).
pub(super) fn make_room<K: Hash + Eq + Clone, V>(
    map: &mut HashMap<K, V>,
    max_entries: usize,
    fresh: impl Fn(&V) -> bool,
) {
    map.retain(|_, v| fresh(v));
    let excess = map.len().saturating_sub(max_entries / 2);
    if excess > 0 {
        let victims: Vec<K> = map.keys().take(excess).cloned().collect();
        for k in victims {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::{ContainerKind, Origin, Resource, ScalarStyle, Span};

    fn site() -> ImageSite {
        ImageSite {
            origin: Arc::new(Origin::Named("Pod shop/web-*".to_owned())),
            span: Span {
                line: 1,
                column: 1,
                start: 7,
                end: 8,
            },
            image: "registry.example/app:1".to_owned(),
            style: ScalarStyle::DoubleQuoted,
            resource: Arc::new(Resource {
                api_version: "v1".to_owned(),
                kind: "Pod".to_owned(),
                namespace: Some("shop".to_owned()),
                name: None,
                labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
                annotations: BTreeMap::new(),
                document: 0,
                line: 1,
            }),
            container: Some("web".to_owned()),
            container_kind: ContainerKind::Container,
            path: "spec.containers[0].image".to_owned(),
            extractor: crate::manifest::kinds::KUBERNETES,
        }
    }

    /// A cached decision keeps what an answer reads of the report it was made of (the
    /// reference, each finding's code, weight, message and hint) and is given back for the
    /// site being answered, small.
    #[test]
    fn a_compact_decision_answers_as_the_report_it_was_made_of() {
        use crate::report::Severity;
        let report = ImageReport {
            site: site(),
            reference: ImageRef::parse(&site().image).ok(),
            resolved: None,
            findings: vec![
                Finding::new(Code::UnsignedImage, Severity::Deny, "no signature")
                    .hint("sign it")
                    .expected_found("a signature", "none"),
            ],
            signatures: None,
            attestations: None,
        };
        let decision = Decision::new(report.clone());
        let mut other = site();
        other.span.start = 42;
        let back = decision.report(other);
        assert_eq!(back.site.span.start, 42);
        assert_eq!(back.reference, report.reference);
        assert_eq!(back.decision(), report::Decision::Deny);
        let finding = &back.findings[0];
        assert_eq!(finding.code, Code::UnsignedImage);
        assert_eq!(finding.severity, Severity::Deny);
        assert_eq!(finding.message, "no signature");
        assert_eq!(finding.hint.as_deref(), Some("sign it"));
        assert!(decision.bytes() < 2048, "{}", decision.bytes());
    }

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    /// A hit must never answer for another object: every field the policy input holds (or the
    /// evaluation reads) changes the key; the node's place in the text (`span.start`), which
    /// neither reads, does not.
    #[test]
    fn the_key_covers_everything_the_decision_can_depend_on() {
        let base = Key::new(&site(), DIGEST);
        let mut same = site();
        same.span.start = 99;
        same.span.end = 100;
        assert_eq!(Key::new(&same, DIGEST), base);
        let other_digest = DIGEST.replace("01", "02");
        assert_ne!(Key::new(&site(), &other_digest), base, "digest");
        type Change = fn(&mut ImageSite);
        let changes: [(&str, Change); 17] = [
            ("image", |s| s.image.push('x')),
            ("origin", |s| {
                s.origin = Arc::new(Origin::Named("Pod shop/api-*".into()))
            }),
            ("api_version", |s| {
                Arc::make_mut(&mut s.resource).api_version = "v2".into()
            }),
            ("kind", |s| {
                Arc::make_mut(&mut s.resource).kind = "Job".into()
            }),
            ("namespace", |s| {
                Arc::make_mut(&mut s.resource).namespace = Some("ops".into())
            }),
            ("no namespace", |s| {
                Arc::make_mut(&mut s.resource).namespace = None
            }),
            ("empty namespace", |s| {
                Arc::make_mut(&mut s.resource).namespace = Some(String::new())
            }),
            ("name", |s| {
                Arc::make_mut(&mut s.resource).name = Some("web".into())
            }),
            ("label value", |s| {
                Arc::make_mut(&mut s.resource)
                    .labels
                    .insert("app".into(), "api".into());
            }),
            ("label moved into an annotation", |s| {
                let r = Arc::make_mut(&mut s.resource);
                r.labels.clear();
                r.annotations.insert("app".into(), "web".into());
            }),
            ("annotation", |s| {
                Arc::make_mut(&mut s.resource)
                    .annotations
                    .insert("supplygate.dev/break-glass".into(), "INC-1".into());
            }),
            ("line", |s| Arc::make_mut(&mut s.resource).line = 2),
            ("container", |s| s.container = Some("sidecar".into())),
            ("container kind", |s| s.container_kind = ContainerKind::Init),
            ("path", |s| s.path = "spec.initContainers[0].image".into()),
            ("column", |s| s.span.column = 2),
            ("extractor", |s| {
                s.extractor = crate::manifest::kinds::GENERIC_CONTAINERS
            }),
        ];
        let mut keys = vec![base];
        for (what, change) in changes {
            let mut changed = site();
            change(&mut changed);
            let key = Key::new(&changed, DIGEST);
            assert!(!keys.contains(&key), "{what} does not change the key");
            keys.push(key);
        }
        // Length prefixes: moving a character from one field to the next is another key.
        let mut a = site();
        Arc::make_mut(&mut a.resource).labels = BTreeMap::from([("ab".into(), "c".into())]);
        let mut b = site();
        Arc::make_mut(&mut b.resource).labels = BTreeMap::from([("a".into(), "bc".into())]);
        assert_ne!(Key::new(&a, DIGEST), Key::new(&b, DIGEST));
    }
}
