//! Where a run's evidence comes from, handed to the one evaluation: the registry live, the
//! registry recording what it answers (for an evidence lock or the verification cache), or an
//! evidence lock replayed. Front ends choose an [`Evidence`] and call [`evaluate_with`]; none
//! runs a workflow of its own.

use std::sync::Arc;

use super::{evaluate_manifests, Manifests, PolicyRun, Progress};
use crate::config::Config;
use crate::lock::{self, Fingerprint, Lock, UncheckedTags};
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
    /// answer would be; the run is then reviewed against the lock, and its tags re-checked.
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
/// [`lock::deny_unchecked_tags`] or [`lock::tags_not_checked`] offline).
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
        replay.lock.review(&mut report, &replay.fingerprint);
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
        }
    }
    report
}
