//! Comparing a run with the lock, and re-checking its tags against the registry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{platform_name, Fingerprint, Lock, LockedDecision};
use crate::reference::{Digest, ImageRef};
use crate::registry::{Registry, RegistryError};
use crate::report::{Code, Decision, FileError, Finding, Report, Severity};

impl Lock {
    /// Compares a run made from this lock (or checked against it) with what it recorded, and
    /// adds a denying finding to every image where they differ:
    ///
    /// * `lock-stale`: signers, trusted roots or policies changed since it was written;
    /// * `not-in-lock`: the image is not in the lock;
    /// * `lock-mismatch`: the image resolved to another digest, or was decided otherwise.
    ///
    /// Images in the lock that the manifests no longer name are ignored.
    pub fn review(&self, report: &mut Report, current: &Fingerprint) {
        let name = self.name();
        // The decision per reference, over all its sites, before lock findings change it.
        let mut decided: BTreeMap<String, LockedDecision> = BTreeMap::new();
        for image in &report.images {
            if let Some(reference) = &image.reference {
                let decision = match image.decision() {
                    Decision::Allow => LockedDecision::Allow,
                    Decision::Deny | Decision::Error => LockedDecision::Deny,
                };
                let entry = decided
                    .entry(reference.to_string())
                    .or_insert(LockedDecision::Allow);
                if decision == LockedDecision::Deny {
                    *entry = LockedDecision::Deny;
                }
            }
        }
        let stale: Vec<Finding> = [
            (
                "signers or trusted roots",
                &self.fingerprint.trust,
                &current.trust,
            ),
            ("the policies", &self.fingerprint.policy, &current.policy),
        ]
        .into_iter()
        .filter(|(_, locked, now)| locked != now)
        .map(|(what, locked, now)| {
            Finding::new(
                Code::LockStale,
                Severity::Deny,
                format!("{what} changed since {name} was written"),
            )
            .expected_found(locked.to_string(), now.to_string())
        })
        .collect();
        let rewrite = "run `supplygate check --write-lock` online on these manifests, review \
                       the lock's diff and commit it with them";
        if report.images.is_empty() {
            // No image to carry the finding: a stale lock still fails the run (exit 2: it no
            // longer vouches for anything), as a problem with the lock file itself.
            for finding in &stale {
                report.file_errors.push(FileError {
                    file: self
                        .path
                        .as_deref()
                        .map_or_else(|| "lock".to_owned(), |p| p.display().to_string()),
                    line: None,
                    column: None,
                    code: Code::LockStale,
                    message: format!("{}; {rewrite}", finding.message),
                });
            }
        }
        for image in &mut report.images {
            for finding in &stale {
                image.findings.push(finding.clone().hint(rewrite));
            }
            let Some(reference) = &image.reference else {
                continue;
            };
            let key = reference.to_string();
            let Some(locked) = self.images.get(&key) else {
                image.findings.push(
                    Finding::new(
                        Code::NotInLock,
                        Severity::Deny,
                        format!("`{key}` is not in {name}"),
                    )
                    .hint(rewrite),
                );
                continue;
            };
            let digest = image.resolved.as_ref().map(|r| &r.digest);
            if digest != locked.digest.as_ref() {
                let show = |d: Option<&Digest>| {
                    d.map_or_else(|| "not found".to_owned(), Digest::to_string)
                };
                image.findings.push(
                    Finding::new(
                        Code::LockMismatch,
                        Severity::Deny,
                        format!("`{key}` resolved to another digest than {name} records"),
                    )
                    .expected_found(show(locked.digest.as_ref()), show(digest))
                    .hint(rewrite),
                );
            } else {
                // Same index digest: the platform digests come from the index itself, so a
                // difference is an edit of the lock's `platforms`.
                let platforms: BTreeMap<String, Digest> = image
                    .resolved
                    .iter()
                    .flat_map(|r| &r.platforms)
                    .map(|p| (platform_name(p), p.digest.clone()))
                    .collect();
                if platforms != locked.platforms {
                    let show = |m: &BTreeMap<String, Digest>| {
                        m.iter()
                            .map(|(p, d)| format!("{p}={d}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    image.findings.push(
                        Finding::new(
                            Code::LockMismatch,
                            Severity::Deny,
                            format!("`{key}` has other platform digests than {name} records"),
                        )
                        .expected_found(show(&locked.platforms), show(&platforms))
                        .hint(rewrite),
                    );
                }
            }
            let now = decided.get(&key).copied().unwrap_or(LockedDecision::Deny);
            if now != locked.decision {
                image.findings.push(
                    Finding::new(
                        Code::LockMismatch,
                        Severity::Deny,
                        format!(
                            "`{key}` is decided `{}` now, but {name} records `{}`",
                            now.as_str(),
                            locked.decision.as_str()
                        ),
                    )
                    .expected_found(locked.decision.as_str(), now.as_str())
                    .hint(rewrite),
                );
            }
        }
    }
}

/// What `check --locked` does with an unpinned reference (a tag, no digest) whose tag was not
/// re-checked against the registry in this run: offline, or the registry could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UncheckedTags {
    /// Deny it with `unpinned-image`: the lock's tag -> digest answer cannot be re-checked,
    /// and the kubelet pulls whatever the tag names at pull time. The same rule as
    /// `serve --lock`.
    Deny,
    /// Allow it on the lock's word, with a warning notice per tag
    /// (`--insecure-allow-unpinned-with-lock`).
    Warn,
}

/// Why a tag was not re-checked against the registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum NotChecked {
    /// `--offline` or `offline: true`.
    Offline,
    /// The registry was asked and could not answer (the error, for the message).
    Unanswered(String),
    /// The check itself failed (a panicked task).
    Failed,
}

impl NotChecked {
    fn why(&self) -> String {
        match self {
            Self::Offline => "offline: `--offline` or `offline: true`".to_owned(),
            Self::Unanswered(e) => format!("the registry could not answer: {e}"),
            Self::Failed => "the check failed (internal error)".to_owned(),
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Self::Offline => {
                "pin it in git with `supplygate pin` (`repo:tag@sha256:…`) so that what runs is \
                 what the lock verified, or run without `--offline` so that the tag is re-checked \
                 against the registry"
            }
            Self::Unanswered(_) | Self::Failed => {
                "pin it in git with `supplygate pin` (`repo:tag@sha256:…`) so that what runs is \
                 what the lock verified, or run again when the registry answers so that the tag \
                 is re-checked"
            }
        }
    }
}

/// Asks `registry` (the network) where every tag of the report's unpinned references points
/// now, and denies, with `tag-moved-since-lock`, each one that no longer names the digest the
/// lock recorded (or no longer exists): the cluster would pull something else than what was
/// verified. A tag that still names the locked digest is allowed. A pinned reference runs its
/// digest whatever the tag does, so it is not asked.
///
/// A tag the registry could not answer for was not re-checked: under [`UncheckedTags::Deny`]
/// its images are denied with `unpinned-image` (as [`deny_unchecked_tags`] does offline), under
/// [`UncheckedTags::Warn`] a warning notice says which tag was not checked and the lock alone
/// decides.
pub async fn check_tags(
    lock: &Lock,
    report: &mut Report,
    registry: &Arc<Registry>,
    unchecked: UncheckedTags,
) {
    let wanted = unpinned_tags(lock, report);
    let mut tasks = tokio::task::JoinSet::new();
    for (reference, tag, locked) in wanted.iter().cloned() {
        let registry = Arc::clone(registry);
        tasks.spawn(async move {
            let now = registry.tag_digest(&reference, &tag).await;
            (reference, tag, locked, now)
        });
    }
    let name = lock.name();
    let mut moved: Vec<(ImageRef, Finding)> = Vec::new();
    let mut answered: BTreeSet<(ImageRef, String, Digest)> = BTreeSet::new();
    let mut not_checked: Vec<(ImageRef, String, Digest, NotChecked)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // A task that panicked names no tag: every wanted tag without an answer is treated as
        // not checked below, so a failed check never allows by omission.
        let Ok((reference, tag, locked, now)) = joined else {
            continue;
        };
        answered.insert((reference.clone(), tag.clone(), locked.clone()));
        let hint = "the cluster would pull another image than the one verified: pin the \
                    reference (`supplygate pin`), or write the lock again and review it";
        match now {
            Ok(now) if now == locked => {}
            Ok(now) => moved.push((
                reference.clone(),
                Finding::new(
                    Code::TagMovedSinceLock,
                    Severity::Deny,
                    format!("the tag `{tag}` of `{reference}` moved since {name} was written"),
                )
                .expected_found(locked.to_string(), now.to_string())
                .hint(hint),
            )),
            Err(RegistryError::NotFound { .. }) => moved.push((
                reference.clone(),
                Finding::new(
                    Code::TagMovedSinceLock,
                    Severity::Deny,
                    format!("the tag `{tag}` of `{reference}` no longer exists; {name} records it"),
                )
                .expected_found(locked.to_string(), "no such tag")
                .hint(hint),
            )),
            Err(e) => {
                let e = crate::errors::Chain(&e);
                tracing::warn!("{reference}: tag `{tag}` not checked against the registry: {e}");
                not_checked.push((
                    reference,
                    tag,
                    locked,
                    NotChecked::Unanswered(e.to_string()),
                ));
            }
        }
    }
    for (reference, tag, locked) in wanted {
        if !answered.contains(&(reference.clone(), tag.clone(), locked.clone())) {
            tracing::warn!(
                "{reference}: tag `{tag}` not checked against the registry: the check failed"
            );
            not_checked.push((reference, tag, locked, NotChecked::Failed));
        }
    }
    for image in &mut report.images {
        for (reference, finding) in &moved {
            if image.reference.as_ref() == Some(reference) {
                image.findings.push(finding.clone());
            }
        }
    }
    not_checked.sort();
    match unchecked {
        UncheckedTags::Deny => deny_unpinned(report, not_checked),
        UncheckedTags::Warn => {
            for (reference, tag, locked, why) in not_checked {
                report.notices.push(
                    Finding::new(
                        Code::TagMovedSinceLock,
                        Severity::Warn,
                        format!(
                            "the tag `{tag}` of `{reference}` was not checked against the \
                             registry ({}): the lock verified `{locked}`, but the cluster pulls \
                             whatever the tag names when it starts the image",
                            why.why()
                        ),
                    )
                    .expected_found(locked.to_string(), "not checked")
                    .hint(
                        "decided from the lock alone (`--insecure-allow-unpinned-with-lock`): \
                         pin the reference (`supplygate pin`), or run again when the registry \
                         answers",
                    ),
                );
            }
        }
    }
}

/// When the tags are not checked (`--offline`), under [`UncheckedTags::Deny`]: denies, with
/// `unpinned-image`, every image whose unpinned reference names a tag the lock records, since
/// nothing then shows that the tag still names the locked digest and the kubelet pulls
/// whatever it names at pull time. The same rule as `serve --lock`. Pinned references
/// (`repo:tag@digest`) run the locked digest and are not affected; an image allowed by an
/// exemption or break-glass keeps its warning notice instead, as in the webhook.
pub fn deny_unchecked_tags(lock: &Lock, report: &mut Report) {
    let not_checked = unpinned_tags(lock, report)
        .into_iter()
        .map(|(reference, tag, locked)| (reference, tag, locked, NotChecked::Offline))
        .collect();
    deny_unpinned(report, not_checked);
}

/// Denies with `unpinned-image` every image of `report` whose reference is one of
/// `not_checked`, unless an exemption or break-glass allowed it unverified (then a warning
/// notice says the tag was not checked, as the webhook keeps it).
fn deny_unpinned(report: &mut Report, not_checked: Vec<(ImageRef, String, Digest, NotChecked)>) {
    for (reference, tag, locked, why) in not_checked {
        let mut excepted = false;
        for image in &mut report.images {
            if image.reference.as_ref() != Some(&reference) {
                continue;
            }
            if image
                .findings
                .iter()
                .any(|f| matches!(f.code, Code::Exemption | Code::BreakGlass))
            {
                excepted = true;
                continue;
            }
            image.findings.push(
                Finding::new(
                    Code::UnpinnedImage,
                    Severity::Deny,
                    format!(
                        "`{reference}` names no digest and its tag `{tag}` was not re-checked \
                         against the registry ({}): under the evidence lock only a digest, or a \
                         tag re-checked online, is admitted, since the kubelet pulls whatever the \
                         tag names when it starts the container; the lock verified `{locked}`",
                        why.why()
                    ),
                )
                .expected_found(locked.to_string(), "not checked")
                .hint(why.hint()),
            );
        }
        if excepted {
            report.notices.push(
                Finding::new(
                    Code::TagMovedSinceLock,
                    Severity::Warn,
                    format!(
                        "the tag `{tag}` of `{reference}` was not checked against the registry \
                         ({}): allowed by an exemption or break-glass; the lock verified \
                         `{locked}`, but the cluster pulls whatever the tag names",
                        why.why()
                    ),
                )
                .expected_found(locked.to_string(), "not checked")
                .hint(why.hint()),
            );
        }
    }
}

/// When the tags are not checked (`--offline`) and unpinned references are allowed
/// (`check --locked --insecure-allow-unpinned-with-lock`; `serve --lock` puts them in the
/// images' findings, [`tags_not_checked_in_images`]):
/// a warning notice per unpinned tag of the report that the lock records, since nothing then
/// shows that the tag still names the locked digest, and the cluster pulls whatever it names
/// at pull time. Pinned references (`repo:tag@digest`) run the locked digest and need no
/// notice.
pub fn tags_not_checked(lock: &Lock, report: &mut Report) {
    let warnings = not_checked_warnings(lock, report);
    report
        .notices
        .extend(warnings.into_iter().map(|(_, warning)| warning));
}

/// As [`tags_not_checked`], but each warning goes into the findings of every image with that
/// reference (an admission review, whose answer is made of its image's findings only).
pub fn tags_not_checked_in_images(lock: &Lock, report: &mut Report) {
    for (reference, warning) in not_checked_warnings(lock, report) {
        for image in &mut report.images {
            if image.reference.as_ref() == Some(&reference) {
                image.findings.push(warning.clone());
            }
        }
    }
}

/// The "tag not checked" warning of every unpinned reference whose tag the lock records.
fn not_checked_warnings(lock: &Lock, report: &Report) -> Vec<(ImageRef, Finding)> {
    unpinned_tags(lock, report)
        .into_iter()
        .map(|(reference, tag, locked)| {
            let warning = Finding::new(
                Code::TagMovedSinceLock,
                Severity::Warn,
                format!(
                    "the tag `{tag}` of `{reference}` was not checked against the registry \
                     (offline): the lock verified `{locked}`, but the cluster pulls whatever \
                     the tag names when it starts the image"
                ),
            )
            .expected_found(locked.to_string(), "not checked")
            .hint(
                "pin the reference (`repo:tag@digest`, `supplygate pin`) so that what runs is \
                 what the lock verified, or run without `--offline` to check the tag",
            );
            (reference, warning)
        })
        .collect()
}

/// `(reference, tag, locked digest)` of every unpinned reference of the report whose tag the
/// lock records.
fn unpinned_tags(lock: &Lock, report: &Report) -> BTreeSet<(ImageRef, String, Digest)> {
    let mut wanted = BTreeSet::new();
    for image in &report.images {
        let Some(reference) = &image.reference else {
            continue;
        };
        if reference.digest().is_some() {
            continue;
        }
        let tag = reference.tag_or_default().unwrap_or("latest").to_owned();
        if let Some(locked) = lock.tag(reference, &tag) {
            wanted.insert((reference.clone(), tag, locked.clone()));
        }
    }
    wanted
}
