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

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use tokio::sync::OnceCell;

use super::metrics::Lookup;
use crate::facts::ConfigLocation;
use crate::manifest::ImageSite;
use crate::reference::{Digest, ImageRef};
use crate::registry::Resolved;
use crate::report::{self, Code, Finding, ImageReport, Severity};

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
/// resolved to, and each finding's code, weight, message, hint and config entries.
///
/// Compact: the reference is parsed again from the site's image (kept only when the
/// evaluation reported another one), and the findings are kept as a [`Template`] with the
/// image, the reference and the digest left out of their text, shared by every decision that
/// reads the same (every unsigned image of one rule has the same one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// `None`: the site's image as parsed (always, in practice); else what was reported.
    reference: Option<Box<Option<ImageRef>>>,
    resolved: Option<Resolution>,
    findings: Template,
}

/// A digest held in place, in 32 bytes when it is a SHA-256 (always, in practice): a cache
/// that keeps one per image keeps no allocation of its own for it (thousands of small
/// long-lived allocations among a review's short-lived ones keep the allocator's memory
/// from being reused or returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompactDigest {
    Sha256([u8; 32]),
    Other(Box<Digest>),
}

impl CompactDigest {
    pub(crate) fn new(digest: &Digest) -> Self {
        match digest.sha256_bytes() {
            Some(bytes) if Digest::from_sha256_bytes(&bytes) == *digest => Self::Sha256(bytes),
            _ => Self::Other(Box::new(digest.clone())),
        }
    }

    /// The digest it was made of.
    pub(crate) fn digest(&self) -> Digest {
        match self {
            Self::Sha256(bytes) => Digest::from_sha256_bytes(bytes),
            Self::Other(digest) => (**digest).clone(),
        }
    }
}

/// What a reference resolved to, as [`Resolved`] without its platforms (answers never read
/// them); the media type shared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolution {
    digest: CompactDigest,
    media_type: Arc<str>,
    tag_digest: Option<Box<Digest>>,
}

impl Resolution {
    fn resolved(&self) -> Resolved {
        Resolved {
            digest: self.digest.digest(),
            media_type: self.media_type.to_string(),
            platforms: Vec::new(),
            tag_digest: self.tag_digest.as_deref().cloned(),
        }
    }
}

/// A decision's findings with the values of the image they are about left out of their text.
type Template = Arc<[FindingText]>;

/// A finding without the values of the image it is about.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FindingText {
    code: Code,
    severity: Severity,
    message: Box<[Piece]>,
    hint: Option<Box<[Piece]>>,
    config: Box<[ConfigLocation]>,
}

/// A piece of a finding's text: as written, or one of the values of the image it is about
/// (put back as they are when the decision answers, see [`Values`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Piece {
    Text(Box<str>),
    /// The site's image as written.
    Image,
    /// The reference as parsed, printed.
    Reference,
    /// The reference's `registry/repository`.
    Name,
    /// The digest it resolved to.
    Digest,
}

/// The values a [`Piece`] stands for, for one site and decision.
struct Values<'a> {
    image: &'a str,
    reference: String,
    name: String,
    digest: String,
}

impl<'a> Values<'a> {
    fn of(image: &'a str, reference: Option<&ImageRef>, resolved: Option<&Resolution>) -> Self {
        Self {
            image,
            reference: reference.map(ToString::to_string).unwrap_or_default(),
            name: reference.map(ImageRef::name).unwrap_or_default(),
            digest: resolved
                .map(|r| r.digest.digest().to_string())
                .unwrap_or_default(),
        }
    }

    /// `text` as pieces: each occurrence of a value (the longest first) left out.
    fn pieces(&self, text: &str) -> Box<[Piece]> {
        let mut needles = [
            (self.image, Piece::Image),
            (self.reference.as_str(), Piece::Reference),
            (self.name.as_str(), Piece::Name),
            (self.digest.as_str(), Piece::Digest),
        ];
        needles.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        let mut pieces = Vec::new();
        let (mut from, mut at) = (0, 0);
        while let Some(rest) = text.get(at..).filter(|r| !r.is_empty()) {
            let found = needles
                .iter()
                .find(|(n, _)| !n.is_empty() && rest.starts_with(n));
            match found {
                Some((needle, piece)) => {
                    if let Some(literal) = text.get(from..at).filter(|l| !l.is_empty()) {
                        pieces.push(Piece::Text(literal.into()));
                    }
                    pieces.push(piece.clone());
                    at += needle.len();
                    from = at;
                }
                None => at += rest.chars().next().map_or(1, char::len_utf8),
            }
        }
        if let Some(literal) = text.get(from..).filter(|l| !l.is_empty()) {
            pieces.push(Piece::Text(literal.into()));
        }
        // Kept as written unless the pieces give the same text back.
        if self.text(&pieces) == text {
            pieces.into()
        } else {
            Box::new([Piece::Text(text.into())])
        }
    }

    /// The text of `pieces`.
    fn text(&self, pieces: &[Piece]) -> String {
        let mut text = String::new();
        for piece in pieces {
            text.push_str(match piece {
                Piece::Text(t) => t,
                Piece::Image => self.image,
                Piece::Reference => &self.reference,
                Piece::Name => &self.name,
                Piece::Digest => &self.digest,
            });
        }
        text
    }
}

/// Most distinct templates and media types shared at once; beyond it the sharing starts
/// again (decisions keep the ones they hold).
const MAX_SHARED: usize = 1024;

/// `value`, or the equal one `set` already shares; `set` starts again once it holds
/// [`MAX_SHARED`] (decisions keep the ones they hold).
fn intern<T: ?Sized + Eq + Hash>(set: &mut HashSet<Arc<T>>, value: Arc<T>) -> Arc<T> {
    if let Some(shared) = set.get(&value) {
        return Arc::clone(shared);
    }
    if set.len() >= MAX_SHARED {
        set.clear();
    }
    set.insert(Arc::clone(&value));
    value
}

/// The templates and media types decisions share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    templates: HashSet<Template>,
    media_types: HashSet<Arc<str>>,
}

impl Shared {
    fn template(&mut self, findings: Vec<FindingText>) -> Template {
        intern(&mut self.templates, findings.into())
    }

    fn media_type(&mut self, media_type: &str) -> Arc<str> {
        match self.media_types.get(media_type) {
            Some(shared) => Arc::clone(shared),
            None => intern(&mut self.media_types, media_type.into()),
        }
    }

    /// Bytes held, roughly (for `/metrics`).
    fn bytes(&self) -> usize {
        let templates: usize = self
            .templates
            .iter()
            .flat_map(|t| t.iter())
            .map(|f| {
                let pieces = |p: &[Piece]| {
                    p.iter()
                        .map(|p| {
                            std::mem::size_of::<Piece>()
                                + match p {
                                    Piece::Text(t) => t.len(),
                                    _ => 0,
                                }
                        })
                        .sum::<usize>()
                };
                std::mem::size_of::<FindingText>()
                    + pieces(&f.message)
                    + f.hint.as_deref().map_or(0, pieces)
                    + f.config
                        .iter()
                        .map(|c| std::mem::size_of::<ConfigLocation>() + c.file.len() + c.key.len())
                        .sum::<usize>()
            })
            .sum();
        let media_types: usize = self.media_types.iter().map(|m| m.len() + 16).sum();
        templates + media_types
    }
}

impl Decision {
    /// Keeps what an answer reads of `report`, sharing what other decisions read the same.
    pub(crate) fn new(report: ImageReport, shared: &mut Shared) -> Self {
        let resolved = report.resolved.map(|r| Resolution {
            media_type: shared.media_type(&r.media_type),
            digest: CompactDigest::new(&r.digest),
            tag_digest: r.tag_digest.map(Box::new),
        });
        let values = Values::of(
            &report.site.image,
            report.reference.as_ref(),
            resolved.as_ref(),
        );
        let findings = report
            .findings
            .iter()
            .map(|f| FindingText {
                code: f.code.clone(),
                severity: f.severity,
                message: values.pieces(&f.message),
                hint: f.hint.as_deref().map(|h| values.pieces(h)),
                config: f.config.clone().into(),
            })
            .collect();
        let reference = (report.reference != ImageRef::parse(&report.site.image).ok())
            .then(|| Box::new(report.reference));
        Self {
            reference,
            resolved,
            findings: shared.template(findings),
        }
    }

    /// The report of `site` this decision stands for (no evidence: answers never read it).
    pub(crate) fn report(&self, site: ImageSite) -> ImageReport {
        let reference = match &self.reference {
            None => ImageRef::parse(&site.image).ok(),
            Some(reported) => (**reported).clone(),
        };
        let values = Values::of(&site.image, reference.as_ref(), self.resolved.as_ref());
        let findings = self
            .findings
            .iter()
            .map(|f| Finding {
                code: f.code.clone(),
                severity: f.severity,
                message: values.text(&f.message),
                expected: None,
                found: None,
                hint: f.hint.as_deref().map(|h| values.text(h)),
                package: None,
                config: f.config.to_vec(),
            })
            .collect();
        ImageReport {
            site,
            reference,
            resolved: self.resolved.as_ref().map(Resolution::resolved),
            findings,
            signatures: None,
            attestations: None,
        }
    }

    /// Heap and inline bytes held by this decision alone, roughly (for `/metrics`; what it
    /// shares is counted once, by [`DecisionCache::bytes`]).
    pub(crate) fn bytes(&self) -> usize {
        let reference = self.reference.as_ref().map_or(0, |r| {
            std::mem::size_of::<Option<ImageRef>>()
                + r.as_ref().as_ref().map_or(0, |r| r.to_string().len())
        });
        let resolved = self.resolved.as_ref().map_or(0, |r| {
            r.tag_digest
                .as_ref()
                .map_or(0, |d| std::mem::size_of::<Digest>() + d.hex().len())
        });
        std::mem::size_of::<Self>() + reference + resolved
    }
}

/// One cached answer.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    /// The decision (held in place: see [`CompactDigest`]).
    pub(crate) decision: Decision,
    /// Until when it may answer.
    pub(crate) expires: Instant,
}

type Slot = Arc<OnceCell<Cached>>;

/// One key's entry: an evaluation that callers wait for, then its decision alone.
#[derive(Debug)]
enum Entry {
    Pending(Slot),
    Done(Cached),
}

impl Entry {
    /// Whether it can still answer (or is being evaluated).
    fn fresh(&self, now: Instant) -> bool {
        match self {
            Self::Pending(slot) => slot.get().is_none_or(|c| c.expires > now),
            Self::Done(cached) => cached.expires > now,
        }
    }
}

/// Per-image decisions keyed by `K`.
#[derive(Debug)]
pub(crate) struct DecisionCache<K> {
    slots: Mutex<HashMap<K, Entry>>,
    /// What decisions share (their findings' templates, media types).
    shared: Mutex<Shared>,
    settings: CacheSettings,
}

impl<K: Eq + Hash + Clone> DecisionCache<K> {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            shared: Mutex::new(Shared::default()),
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
        let cached = match slots.get(key)? {
            Entry::Done(cached) => cached,
            Entry::Pending(slot) => slot.get()?,
        };
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
        let slot = match self.slot(key.clone()) {
            Ok(cached) => return (cached, Lookup::Hit),
            Err(slot) => slot,
        };
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
                let decision = Decision::new(
                    report,
                    &mut self.shared.lock().unwrap_or_else(PoisonError::into_inner),
                );
                Cached {
                    decision,
                    expires: Instant::now() + ttl,
                }
            })
            .await;
        let lookup = if ran.load(Ordering::Relaxed) {
            // Evaluated: the entry keeps the decision alone from now on (the slot goes when
            // its last waiter has read it).
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = slots.get_mut(&key) {
                if matches!(entry, Entry::Pending(s) if Arc::ptr_eq(s, &slot)) {
                    *entry = Entry::Done(cached.clone());
                }
            }
            Lookup::Miss
        } else {
            Lookup::Coalesced
        };
        (cached.clone(), lookup)
    }

    /// Bytes held by the fresh entries, roughly: keys, entries, decisions and what they share
    /// (for `/metrics`).
    pub(crate) fn bytes(&self) -> usize {
        let shared = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes();
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's own slot and control byte per entry (the decision is held in it).
        let per_entry = std::mem::size_of::<K>() + std::mem::size_of::<Entry>() + 1;
        let entries: usize = slots
            .values()
            .map(|e| {
                per_entry
                    + match e {
                        Entry::Done(c) => c.decision.bytes() - std::mem::size_of::<Decision>(),
                        Entry::Pending(s) => {
                            16 + std::mem::size_of::<OnceCell<Cached>>()
                                + s.get().map_or(0, |c| c.decision.bytes())
                        }
                    }
            })
            .sum();
        entries + shared
    }

    /// The fresh decision for `key`, or the slot to evaluate it in (or to wait on, when an
    /// evaluation is in flight).
    fn slot(&self, key: K) -> Result<Cached, Slot> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.get(&key) {
            Some(Entry::Done(cached)) if cached.expires > now => return Ok(cached.clone()),
            // An empty slot is an evaluation in flight: join it.
            Some(Entry::Pending(slot)) => match slot.get() {
                None => return Err(Arc::clone(slot)),
                Some(cached) if cached.expires > now => return Ok(cached.clone()),
                Some(_) => {}
            },
            _ => {}
        }
        if slots.len() >= self.settings.max_entries {
            make_room(&mut slots, self.settings.max_entries, |e| e.fresh(now));
        }
        let slot = Slot::default();
        slots.insert(key, Entry::Pending(Arc::clone(&slot)));
        Err(slot)
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
        let decision = Decision::new(report.clone(), &mut Shared::default());
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

    /// Decisions about different images whose findings read the same but for the image, its
    /// name and its digest share one template of them, and each gives its own text back
    /// exactly; a reference other than the site's image as parsed is kept.
    #[test]
    fn decisions_share_their_findings_text_and_give_back_each_images_own() {
        let mut shared = Shared::default();
        let mut decisions = Vec::new();
        for i in 0..3u8 {
            let mut site = site();
            site.image = format!("registry.example/app{i}:1");
            let reference = ImageRef::parse(&site.image).unwrap();
            let digest = Digest::sha256_of(&[i]);
            let resolved = Resolved {
                digest: digest.clone(),
                media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
                platforms: Vec::new(),
                tag_digest: (i == 1).then(|| Digest::sha256_of(b"moved")),
            };
            let message = format!("`{}` ({digest}) has no signature; é", site.image);
            let hint = format!(
                "sign it: `cosign sign {}@{digest}` ({reference}, not `{}x`)",
                reference.name(),
                site.image
            );
            let report = ImageReport {
                site: site.clone(),
                reference: Some(reference),
                resolved: Some(resolved),
                findings: vec![
                    Finding::new(Code::UnsignedImage, Severity::Deny, message).hint(hint),
                    Finding::new(Code::Exemption, Severity::Warn, ""),
                ],
                signatures: None,
                attestations: None,
            };
            let decision = Decision::new(report.clone(), &mut shared);
            let back = decision.report(site);
            assert_eq!(back.reference, report.reference);
            assert_eq!(back.resolved, report.resolved);
            assert_eq!(back.findings, report.findings);
            assert!(decision.bytes() < 512, "{}", decision.bytes());
            decisions.push(decision);
        }
        assert!(Arc::ptr_eq(&decisions[0].findings, &decisions[2].findings));
        assert_eq!(shared.templates.len(), 1);
        assert_eq!(shared.media_types.len(), 1);

        let mut site = site();
        site.image = "registry.example/app:1".to_owned();
        let other = ImageRef::parse("registry.example/other:2").ok();
        let report = ImageReport {
            site: site.clone(),
            reference: other.clone(),
            resolved: None,
            findings: Vec::new(),
            signatures: None,
            attestations: None,
        };
        let back = Decision::new(report, &mut shared).report(site);
        assert_eq!(back.reference, other);
    }

    /// A SHA-256 digest is held as its 32 bytes and given back as written; any other is kept
    /// as it is.
    #[test]
    fn a_compact_digest_gives_back_the_digest_it_was_made_of() {
        let sha256 = Digest::sha256_of(b"x");
        let compact = CompactDigest::new(&sha256);
        assert!(matches!(compact, CompactDigest::Sha256(_)));
        assert_eq!(compact.digest(), sha256);
        assert_eq!(compact.digest().to_string(), sha256.to_string());
        let sha512 = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
        let compact = CompactDigest::new(&sha512);
        assert!(matches!(compact, CompactDigest::Other(_)));
        assert_eq!(compact.digest(), sha512);
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
