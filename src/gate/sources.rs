//! Where a run's evidence comes from, handed to the one evaluation: the registry live, the
//! registry recording what it answers (for an evidence lock or the verification cache), or an
//! evidence lock replayed. Front ends choose an [`Evidence`] and call [`evaluate_with`]; none
//! runs a workflow of its own.
//!
//! A replayed lock re-checks unpinned tags in one of three modes ([`TagCheck`]): online and
//! offline for `check --locked`, and [`TagCheck::Admission`] for `serve --lock`, where a
//! reference `/mutate` pinned to the locked digest is reviewed as the tag it was locked as, and
//! the "tag not checked" warning is part of the image's own answer. Either way the one
//! evaluation decides: the webhook only adds its admission rule (`require_pins`: a tag-only
//! reference is not admitted under a lock), which is about the answer, not the evidence.

use std::sync::Arc;

use super::{evaluate_manifests, Manifests, PolicyRun, Progress};
use crate::config::Config;
use crate::lock::{self, Fingerprint, Lock, UncheckedTags};
use crate::reference::ImageRef;
use crate::registry::{Registry, RegistryError, RegistrySettings};
use crate::report::Report;

/// The evidence of one run.
#[derive(Debug)]
pub enum Evidence {
    /// The registry (and its layouts and verification cache) as configured.
    Live(Arc<Registry>),
    /// The registry, recording every answer it gives ([`Registry::take_recording`]).
    Recording(Arc<Registry>),
    /// An evidence lock, replayed: every answer comes from its store, checked as a network
    /// answer would be; the run is then reviewed against the lock, and its tags re-checked as
    /// [`Replay`]'s [`TagCheck`] says.
    Replaying(Replay),
}

/// What replaying a lock needs beyond the lock itself.
#[derive(Debug)]
pub struct Replay {
    lock: Arc<Lock>,
    /// The client answering from the lock's store.
    registry: Arc<Registry>,
    /// The fingerprint of this run's signers and policies, compared with the lock's.
    fingerprint: Fingerprint,
    /// How unpinned tags are re-checked.
    tags: TagCheck,
}

/// How a replayed run re-checks the tags of unpinned references.
#[derive(Debug)]
pub enum TagCheck {
    /// Against this live registry; a tag it cannot answer for is treated as `unchecked` says.
    Online(Arc<Registry>, UncheckedTags),
    /// Not at all (`--offline`); every unpinned tag is treated as `unchecked` says.
    Offline(UncheckedTags),
    /// As an admission review (`serve --lock`): not at all (the lock's client is the only
    /// one), and
    /// - a pin the lock records as a tag (`repo:tag@digest`, as `/mutate` writes a locked
    ///   tag, with the digest the lock records for the tag; the Pods of a pinned Deployment and
    ///   the validating review after the mutation) is reviewed as that tag: what was locked;
    /// - every unpinned tag the lock records gets a "tag not checked" warning in the findings
    ///   of each image with that reference (the report's notices are not part of an image's
    ///   answer). Whether a tag-only reference is admitted at all is the webhook's rule.
    Admission,
}

impl Evidence {
    /// Replaying `lock` under `fingerprint`, with a client made from `settings` that answers
    /// from the lock only.
    pub fn replaying(
        settings: RegistrySettings,
        lock: Arc<Lock>,
        fingerprint: Fingerprint,
        tags: TagCheck,
    ) -> Result<Self, RegistryError> {
        let registry = Arc::new(Registry::replaying(settings, lock.evidence())?);
        Ok(Self::Replaying(Replay {
            lock,
            registry,
            fingerprint,
            tags,
        }))
    }

    /// The client the evaluation asks.
    pub fn registry(&self) -> &Arc<Registry> {
        match self {
            Self::Live(registry) | Self::Recording(registry) => registry,
            Self::Replaying(replay) => &replay.registry,
        }
    }
}

/// The one evaluation of `manifests` on `evidence`: [`evaluate_manifests`], and for a replayed
/// lock its review ([`Lock::review`]) and tag re-checks ([`lock::check_tags`] online,
/// [`lock::deny_unchecked_tags`] or [`lock::tags_not_checked`] offline,
/// [`lock::tags_not_checked_in_images`] for an admission review).
pub async fn evaluate_with(
    manifests: Manifests,
    config: &Config,
    evidence: &Evidence,
    policy: &PolicyRun,
    progress: Progress<'_>,
) -> Report {
    let mut report =
        evaluate_manifests(manifests, config, evidence.registry(), policy, progress).await;
    if let Evidence::Replaying(replay) = evidence {
        // As `check --locked`: not in the lock, a stale lock, another digest or decision than
        // recorded all deny. An admission review compares a pinned locked tag as the tag.
        let written = match replay.tags {
            TagCheck::Admission => review_pins_as_tags(&replay.lock, &mut report),
            TagCheck::Online(..) | TagCheck::Offline(_) => Vec::new(),
        };
        replay.lock.review(&mut report, &replay.fingerprint);
        for (i, reference) in written {
            if let Some(image) = report.images.get_mut(i) {
                image.reference = Some(reference);
            }
        }
        match &replay.tags {
            TagCheck::Online(registry, unchecked) => {
                lock::check_tags(&replay.lock, &mut report, registry, *unchecked).await;
            }
            TagCheck::Offline(UncheckedTags::Deny) => {
                lock::deny_unchecked_tags(&replay.lock, &mut report);
            }
            TagCheck::Offline(UncheckedTags::Warn) => {
                lock::tags_not_checked(&replay.lock, &mut report);
            }
            TagCheck::Admission => lock::tags_not_checked_in_images(&replay.lock, &mut report),
        }
    }
    report
}

/// Replaces every image reference of `report` that is a pin of a locked tag
/// ([`locked_tag_of_pin`]) by that tag; returns the references replaced (image index, as
/// written), to be restored after the lock's review.
fn review_pins_as_tags(lock: &Lock, report: &mut Report) -> Vec<(usize, ImageRef)> {
    let mut written = Vec::new();
    for (i, image) in report.images.iter_mut().enumerate() {
        let tag = image
            .reference
            .as_ref()
            .and_then(|r| locked_tag_of_pin(lock, r));
        if let Some(tag) = tag {
            if let Some(pin) = image.reference.replace(tag) {
                written.push((i, pin));
            }
        }
    }
    written
}

/// `repo:tag` when `reference` is `repo:tag@digest`, the lock does not record it as written,
/// and the lock records `digest` for that tag.
fn locked_tag_of_pin(lock: &Lock, reference: &ImageRef) -> Option<ImageRef> {
    let (tag, digest) = (reference.tag()?, reference.digest()?);
    if lock.images.contains_key(&reference.to_string()) || lock.tag(reference, tag) != Some(digest)
    {
        return None;
    }
    Some(reference.without_digest())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::{ContainerKind, ImageSite, Origin, Resource, ScalarStyle, Span};
    use crate::reference::Digest;
    use crate::registry::Store;
    use crate::report::{Code, ImageReport, Severity};

    const TAG: &str = "registry.example/team/app:v1";

    /// A lock recording that `TAG` names the digest returned.
    fn lock() -> (Lock, Digest) {
        let mut store = Store::default();
        let digest = Digest::sha256_of(br#"{"schemaVersion":2}"#);
        store.insert_tag(&ImageRef::parse(TAG).unwrap(), "v1", &digest);
        let fingerprint = Fingerprint {
            trust: Digest::sha256_of(b"trust"),
            policy: Digest::sha256_of(b"policy"),
        };
        let at = "2026-11-24T12:00:00Z".parse().unwrap();
        (
            Lock::new(store, &Report::default(), fingerprint, at),
            digest,
        )
    }

    fn image(reference: &str) -> ImageReport {
        ImageReport {
            site: ImageSite {
                origin: Arc::new(Origin::Named("Pod shop/web".to_owned())),
                span: Span {
                    line: 1,
                    column: 1,
                    start: 0,
                    end: 1,
                },
                image: reference.to_owned(),
                style: ScalarStyle::Plain,
                resource: Arc::new(Resource {
                    api_version: "v1".to_owned(),
                    kind: "Pod".to_owned(),
                    namespace: Some("shop".to_owned()),
                    name: Some("web".to_owned()),
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    document: 0,
                    line: 1,
                }),
                container: Some("web".to_owned()),
                container_kind: ContainerKind::Container,
                path: "spec.containers[0].image".to_owned(),
                extractor: crate::manifest::kinds::KUBERNETES,
            },
            reference: Some(ImageRef::parse(reference).unwrap()),
            resolved: None,
            findings: Vec::new(),
            signatures: None,
            attestations: None,
        }
    }

    /// Only a pin of a locked tag with the locked digest is reviewed as the tag.
    #[test]
    fn admission_reviews_a_pin_of_a_locked_tag_as_the_tag() {
        let (lock, digest) = lock();
        let pin = format!("{TAG}@{digest}");
        let other = format!("{TAG}@{}", Digest::sha256_of(b"other"));
        let bare = format!("registry.example/team/app@{digest}");
        let parse = |r: &str| ImageRef::parse(r).unwrap();
        assert_eq!(
            locked_tag_of_pin(&lock, &parse(&pin)),
            Some(parse(TAG)),
            "a pin of the locked digest"
        );
        for not in [other.as_str(), bare.as_str(), TAG] {
            assert_eq!(locked_tag_of_pin(&lock, &parse(not)), None, "{not}");
        }
        let mut report = Report {
            images: vec![image(TAG), image(&pin), image(&other)],
            ..Report::default()
        };
        let written = review_pins_as_tags(&lock, &mut report);
        assert_eq!(written, vec![(1, parse(&pin))]);
        let references: Vec<_> = report.images.iter().map(|i| i.reference.clone()).collect();
        assert_eq!(
            references,
            vec![Some(parse(TAG)), Some(parse(TAG)), Some(parse(&other))]
        );
    }

    /// The "tag not checked" warning goes to the images with that unpinned reference, not to
    /// the report's notices, nor to a pinned image or another repository.
    #[test]
    fn admission_puts_the_unchecked_tag_warning_in_the_image_findings() {
        let (lock, digest) = lock();
        let pin = format!("{TAG}@{digest}");
        let mut report = Report {
            images: vec![
                image(TAG),
                image(&pin),
                image("registry.example/team/other:v1"),
                image(TAG),
            ],
            ..Report::default()
        };
        lock::tags_not_checked_in_images(&lock, &mut report);
        assert!(report.notices.is_empty());
        let codes: Vec<Vec<(Code, Severity)>> = report
            .images
            .iter()
            .map(|i| {
                i.findings
                    .iter()
                    .map(|f| (f.code.clone(), f.severity))
                    .collect()
            })
            .collect();
        let warned = vec![(Code::TagMovedSinceLock, Severity::Warn)];
        assert_eq!(codes, vec![warned.clone(), vec![], vec![], warned]);
    }
}
