//! Facts decided in Rust, once per image, and handed to the policies: which config rules name
//! the image and whether its registry is allowed (`input.image.matched`), the commit the
//! workload claims (`input.source_claim`), and for each provenance rule and attestation whether
//! its builder is trusted, its source repository and ref are the rule's, its commit is the
//! claimed one and which reachability answers concern it (`input.provenance_checks`). Image
//! globs, builder prefixes, ref patterns, repository URIs and commit claims have one home here
//! (and in the modules these call): the policies never match one themselves, so OPA and
//! regorus cannot disagree on one, and no evaluation rebuilds a regular expression.
//!
//! Rule indexes are positions in `data.supplygate.config.require` and `.provenance`, which
//! [`super::input::config_data`] writes in the config's order; [`Rules::from_config`] and
//! [`Rules::from_config_data`] read the same lists in the same order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::glob::ImageGlob;
use crate::provenance::{
    commit_matches_claim, repository_matches, AttestationFact, BuilderRule, RefPattern,
};

/// What a clone says about a provenance commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReachabilityResult {
    /// Reachable from an allowed ref (`via`).
    Reachable,
    /// In the clone, on none of the allowed refs.
    NotReachable,
    /// Not in the clone (a fork, or the clone is out of date).
    NotInClone,
    /// A clone is configured for the repository but the provenance names no commit.
    NoCommit,
    /// git failed (`message`).
    Error,
}

/// One reachability answer from a local clone, for a provenance commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReachabilityFact {
    /// The source repository (normalised).
    pub repository: String,
    /// The commit.
    pub commit: String,
    /// The allowed ref patterns it was checked against.
    pub refs: Vec<String>,
    /// The clone's path.
    pub clone: String,
    /// The answer.
    pub result: ReachabilityResult,
    /// The ref it was reached from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Details (the error, or how many refs were checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The refs a commit is checked against when a provenance rule names none.
pub const ANY_BRANCH_OR_TAG: [&str; 2] = ["refs/heads/*", "refs/tags/*"];

/// The config's rules, compiled once per run.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    require: Vec<RequireRule>,
    provenance: Vec<ProvenanceRule>,
    allowed_registries: Vec<ImageGlob>,
    commit_key: String,
}

/// What one `require:` rule checks.
#[derive(Debug, Clone, Default)]
struct RequireRule {
    images: Vec<ImageGlob>,
    /// The names of the rule's signers.
    signers: Vec<String>,
}

/// What one `provenance:` rule checks.
#[derive(Debug, Clone, Default)]
struct ProvenanceRule {
    images: Vec<ImageGlob>,
    /// The names of the rule's signers.
    signers: Vec<String>,
    builders: Vec<BuilderRule>,
    source: Option<String>,
    refs: Vec<RefPattern>,
    /// The refs reachability is checked against: the rule's, or [`ANY_BRANCH_OR_TAG`].
    checked_refs: Vec<String>,
}

impl ProvenanceRule {
    fn new(
        images: Vec<ImageGlob>,
        signers: Vec<String>,
        builders: Vec<BuilderRule>,
        source: Option<String>,
        refs: Vec<RefPattern>,
    ) -> Self {
        let checked_refs = if refs.is_empty() {
            ANY_BRANCH_OR_TAG.iter().map(|r| (*r).to_owned()).collect()
        } else {
            refs.iter().map(|r| r.as_str().to_owned()).collect()
        };
        Self {
            images,
            signers,
            builders,
            source,
            refs,
            checked_refs,
        }
    }
}

/// `input.image.matched`: what the config's globs say about one image name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Matched {
    /// Indexes of the `require:` rules whose globs match, in config order.
    pub require: Vec<usize>,
    /// Indexes of the `provenance:` rules whose globs match, in config order.
    pub provenance: Vec<usize>,
    /// `policy.allowed_registries`: `true` when a glob matches, `false` when none does, `null`
    /// when the list is empty or the image has no name (an invalid reference).
    pub allowed_registry: Option<bool>,
    /// The gate's verdict on the `require` rules above: the image resolved, its signatures
    /// were looked up, and each rule has a signature on the resolved digest verified by one of
    /// its signers (vacuously so when none matches, but only for an image that resolved and
    /// whose signatures were looked up). The signature policy skips its denials when this is
    /// `true` and judges the facts itself otherwise (also when it is missing).
    #[serde(default)]
    pub require_satisfied: bool,
    /// The gate's verdict on the `provenance` rules above: the image resolved, its
    /// attestations were looked up, and each rule has a verified provenance that passes every
    /// check ([`ProvenanceCheck::passes`]) about the resolved digest, or one about each
    /// platform of the index (vacuously so when none matches, but only for an image that
    /// resolved and whose attestations were looked up). The provenance policy skips its denials when
    /// this is `true` and judges the checks itself otherwise (also when it is missing).
    #[serde(default)]
    pub provenance_satisfied: bool,
}

/// Where the workload's commit claim was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimFrom {
    /// `metadata.annotations[commit_key]`.
    Annotation,
    /// `metadata.labels[commit_key]` (read only without the annotation).
    Label,
}

/// `input.source_claim`: the commit the workload claims to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceClaim {
    /// The annotation or label key (`source.commit_key`).
    pub key: String,
    /// The claimed commit, as written.
    pub value: String,
    /// Annotation or label.
    pub from: ClaimFrom,
}

/// One entry of `input.provenance_checks[rule][fact]`: how one attestation's provenance
/// fares against one matching provenance rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProvenanceCheck {
    /// One of the rule's signers verified the attestation.
    pub verified: bool,
    /// Every check below passes: the builder is trusted, the repository and ref are the
    /// rule's, the commit claim and a commit-SHA tag match (or do not apply), the certificate
    /// does not disagree with the provenance, every reachability answer concerning it is
    /// `reachable` and none says `no-commit`. The policy judges a verified provenance by this
    /// (`passing`/`failing`) and explains a failing one from the checks below; a `false` it
    /// cannot explain denies (`policy-error`).
    pub passes: bool,
    /// A builder rule accepts the builder id (`true` when the rule names no builders).
    pub builder_trusted: bool,
    /// The source repository is the rule's, normalised (`true` when the rule names none).
    pub source_repository_matches: bool,
    /// The source ref is a valid git ref that a ref pattern of the rule matches (`true` when
    /// the rule names no refs).
    pub source_ref_allowed: bool,
    /// The commit starts with the claimed one (`null`: the workload claims none).
    pub commit_claim_matches: Option<bool>,
    /// The commit starts with the tag, when the tag looks like a commit SHA (7 to 40 hex
    /// digits); `null` otherwise.
    pub tag_commit_matches: Option<bool>,
    /// Indexes into `input.reachability` of the answers for this commit under this rule's
    /// refs, in this repository.
    pub reachability: Vec<usize>,
    /// Indexes into `input.reachability` of `no-commit` answers for this repository, when the
    /// provenance names no commit.
    pub no_commit: Vec<usize>,
}

/// The parts of one provenance the checks read.
#[derive(Debug, Clone, Default)]
pub struct ProvenanceView<'a> {
    /// The signers that verified the attestation (`verified_by`).
    pub verified_by: Vec<&'a str>,
    /// The signing certificate names another repository or commit than the provenance
    /// (`certificate_agreement`: a `disagrees` result).
    pub certificate_disagrees: bool,
    /// `builder_id`.
    pub builder_id: Option<&'a str>,
    /// `source_repository` (normalised).
    pub source_repository: Option<&'a str>,
    /// `source_ref`.
    pub source_ref: Option<&'a str>,
    /// `source_commit`.
    pub source_commit: Option<&'a str>,
}

impl<'a> ProvenanceView<'a> {
    /// The parts of an attestation's provenance the checks read; `None` without one.
    pub fn of(f: &'a AttestationFact) -> Option<Self> {
        f.provenance.as_ref().map(|p| Self {
            verified_by: f.verified_by.iter().map(String::as_str).collect(),
            certificate_disagrees: f
                .certificate_agreement
                .as_ref()
                .is_some_and(|a| !a.no_disagreement()),
            builder_id: p.builder_id.as_deref(),
            source_repository: p.source_repository.as_deref(),
            source_ref: p.source_ref.as_deref(),
            source_commit: p.source_commit.as_deref(),
        })
    }
}

/// Whether every one of `rules` has, among `facts`, a verified provenance about the image
/// digest itself (not one platform of an index) that passes the rule: judged by the checks
/// the policies read ([`ProvenanceCheck::verified`] and [`ProvenanceCheck::passes`]), with what
/// is known while attestations are discovered: the image's `tag`, no commit claim and no
/// reachability answers. The gate's referrers shortcut stops looking when this holds, and
/// only where a claim, a commit-SHA tag or a clone cannot add a check (see
/// `gate::evidence::attestation_shortcut`).
pub fn provenance_satisfied(
    rules: &[crate::config::ProvenanceRule],
    tag: Option<&str>,
    facts: &[AttestationFact],
) -> bool {
    let subject = Subject {
        name: None,
        tag,
        claim: None,
        provenances: facts.iter().map(ProvenanceView::of).collect(),
        reachability: &[],
        ..Subject::default()
    };
    rules.iter().map(ProvenanceRule::from_config).all(|rule| {
        subject.provenances.iter().zip(facts).any(|(p, f)| {
            let about_image = f
                .subject_match
                .as_ref()
                .is_some_and(|m| m.platform.is_none());
            about_image
                && p.as_ref().is_some_and(|p| {
                    let c = rule.check(p, &subject);
                    c.verified && c.passes
                })
        })
    })
}

/// The subject an attestation's statement matched (`subject_match`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attested {
    /// The digest it names (`subject_match.digest`; `None` when that is not a string).
    pub digest: Option<String>,
    /// It names a platform of the index (`subject_match.platform` is there and not `null`).
    pub platform: bool,
}

/// What the facts of one image are derived from.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    /// `registry/repository`; `None` for an invalid reference.
    pub name: Option<&'a str>,
    /// The tag as written.
    pub tag: Option<&'a str>,
    /// The workload's claim ([`Rules::claim`]).
    pub claim: Option<SourceClaim>,
    /// Per attestation fact (in `input.attestations.facts` order): its provenance, if any.
    pub provenances: Vec<Option<ProvenanceView<'a>>>,
    /// `input.reachability`.
    pub reachability: &'a [ReachabilityFact],
    /// `input.image.resolved`.
    pub resolved: bool,
    /// The digest of each entry of `input.image.platforms` (`None` where it is not a string).
    pub platforms: Vec<Option<String>>,
    /// Per signature fact on the resolved digest (`input.signatures.facts`): the signers that
    /// verified it. `None` when the signatures were not looked up (`null`, or an `error`).
    pub signatures: Option<Vec<Vec<&'a str>>>,
    /// The attestations were looked up (`input.attestations` without an `error`).
    pub attestations_checked: bool,
    /// Per attestation fact (in `provenances` order): the subject it matched, if any.
    pub attested: Vec<Option<Attested>>,
}

/// Everything [`Rules::derive`] decides for one image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// `input.image.matched`.
    pub matched: Matched,
    /// `input.source_claim`.
    pub source_claim: Option<SourceClaim>,
    /// `input.provenance_checks`: one list per config provenance rule (empty for a rule that
    /// does not match), one entry per attestation fact (`null` for one without provenance).
    pub provenance_checks: Vec<Vec<Option<ProvenanceCheck>>>,
}

impl Facts {
    /// Writes the facts into an input document (`image.matched`, `source_claim`,
    /// `provenance_checks`), replacing what was there.
    pub fn write_into(&self, input: &mut Value) {
        let Some(doc) = input.as_object_mut() else {
            return;
        };
        if let Some(image) = doc.get_mut("image").and_then(Value::as_object_mut) {
            image.insert("matched".to_owned(), serde_json::json!(self.matched));
        }
        doc.insert(
            "source_claim".to_owned(),
            serde_json::json!(self.source_claim),
        );
        doc.insert(
            "provenance_checks".to_owned(),
            serde_json::json!(self.provenance_checks),
        );
    }
}

impl Rules {
    /// The rules of a loaded config.
    pub fn from_config(config: &Config) -> Self {
        Self {
            require: config
                .requirements
                .iter()
                .map(|r| RequireRule {
                    images: r.images.clone(),
                    signers: r.signers.iter().map(|s| s.name.clone()).collect(),
                })
                .collect(),
            provenance: config
                .provenance
                .iter()
                .map(ProvenanceRule::from_config)
                .collect(),
            allowed_registries: config.policy.allowed_registries.clone(),
            commit_key: config.source.commit_key.clone(),
        }
    }

    /// The rules of a `data.supplygate.config` document (fixtures, policy tests), each glob,
    /// builder and ref parsed as the config parses it. A missing list is empty and a missing
    /// commit key the default, as the policies read them.
    ///
    /// # Errors
    /// The first value that does not parse.
    pub fn from_config_data(config: &Value) -> Result<Self, String> {
        fn strings(v: Option<&Value>) -> Vec<&str> {
            v.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        }
        let globs = |v: Option<&Value>| -> Result<Vec<ImageGlob>, String> {
            strings(v)
                .into_iter()
                .map(|g| ImageGlob::parse(g).map_err(|e| format!("`{g}`: {e}")))
                .collect()
        };
        fn list<'v>(config: &'v Value, key: &str) -> Vec<&'v Value> {
            config
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect()
        }
        let require = list(config, "require")
            .into_iter()
            .map(|r| {
                Ok(RequireRule {
                    images: globs(r.get("images"))?,
                    signers: strings(r.get("signers"))
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .collect::<Result<_, String>>()?;
        let mut provenance = Vec::new();
        for r in list(config, "provenance") {
            let builders = r
                .get("builders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|b| {
                    let id = b.get("id").and_then(Value::as_str).unwrap_or_default();
                    match b.get("match").and_then(Value::as_str) {
                        Some("exact") => Ok(BuilderRule::Exact(id.to_owned())),
                        Some("prefix") => Ok(BuilderRule::Prefix(id.to_owned())),
                        other => Err(format!("builder match {other:?}")),
                    }
                })
                .collect::<Result<_, _>>()?;
            let refs = strings(r.get("refs"))
                .into_iter()
                .map(|p| RefPattern::parse(p).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            let source = r.get("source").and_then(Value::as_str).map(str::to_owned);
            let signers = strings(r.get("signers"))
                .into_iter()
                .map(str::to_owned)
                .collect();
            provenance.push(ProvenanceRule::new(
                globs(r.get("images"))?,
                signers,
                builders,
                source,
                refs,
            ));
        }
        Ok(Self {
            require,
            provenance,
            allowed_registries: globs(config.pointer("/registries/allow"))?,
            commit_key: config
                .pointer("/source/commit_key")
                .and_then(Value::as_str)
                .unwrap_or(crate::config::DEFAULT_COMMIT_KEY)
                .to_owned(),
        })
    }

    /// The facts for an image named `name` (`registry/repository`, normalised); `None` for a
    /// site whose reference is invalid.
    pub fn matched(&self, name: Option<&str>) -> Matched {
        let Some(name) = name else {
            return Matched::default();
        };
        let matches = |globs: &[ImageGlob]| globs.iter().any(|g| g.matches(name));
        Matched {
            require: (0..self.require.len())
                .filter(|&i| self.require.get(i).is_some_and(|r| matches(&r.images)))
                .collect(),
            provenance: (0..self.provenance.len())
                .filter(|&i| self.provenance.get(i).is_some_and(|r| matches(&r.images)))
                .collect(),
            allowed_registry: (!self.allowed_registries.is_empty())
                .then(|| matches(&self.allowed_registries)),
            require_satisfied: false,
            provenance_satisfied: false,
        }
    }

    /// The commit a workload claims: its `source.commit_key` annotation, else that label.
    pub fn claim<'a>(
        &self,
        annotation: impl Fn(&str) -> Option<&'a str>,
        label: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<SourceClaim> {
        let (value, from) = match annotation(&self.commit_key) {
            Some(v) => (v, ClaimFrom::Annotation),
            None => (label(&self.commit_key)?, ClaimFrom::Label),
        };
        Some(SourceClaim {
            key: self.commit_key.clone(),
            value: value.to_owned(),
            from,
        })
    }

    /// Everything the policies are told about one image.
    pub fn derive(&self, subject: &Subject<'_>) -> Facts {
        let mut matched = self.matched(subject.name);
        let provenance_checks: Vec<Vec<Option<ProvenanceCheck>>> = self
            .provenance
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                if !matched.provenance.contains(&i) {
                    return Vec::new();
                }
                subject
                    .provenances
                    .iter()
                    .map(|p| p.as_ref().map(|p| rule.check(p, subject)))
                    .collect()
            })
            .collect();
        matched.require_satisfied = self.require_verdict(&matched.require, subject);
        matched.provenance_satisfied =
            provenance_verdict(&matched.provenance, &provenance_checks, subject);
        Facts {
            matched,
            source_claim: subject.claim.clone(),
            provenance_checks,
        }
    }

    /// Whether the image resolved, its signatures were looked up, and each of the `require`
    /// rules at `indexes` has a signature on the resolved digest verified by one of its
    /// signers: what the signature policy asks (platform signatures never count).
    fn require_verdict(&self, indexes: &[usize], subject: &Subject<'_>) -> bool {
        let Some(signatures) = subject.signatures.as_ref().filter(|_| subject.resolved) else {
            return false;
        };
        indexes.iter().all(|&i| {
            self.require.get(i).is_some_and(|rule| {
                signatures
                    .iter()
                    .any(|by| by.iter().any(|v| rule.signers.iter().any(|s| s == v)))
            })
        })
    }

    /// The facts of an input document written without them (fixtures, tools), read from the
    /// document as the gate reads them from its report.
    ///
    /// # Errors
    /// `input.reachability` is not a list of reachability answers.
    pub fn derive_for_input<'a>(&self, input: &'a Value) -> Result<Facts, String> {
        let reachability: Vec<ReachabilityFact> = match input.get("reachability") {
            Some(v) if !v.is_null() => {
                serde_json::from_value(v.clone()).map_err(|e| format!("reachability: {e}"))?
            }
            _ => Vec::new(),
        };
        fn text(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str)
        }
        let provenances = input
            .pointer("/attestations/facts")
            .and_then(Value::as_array)
            .map(|facts| {
                facts
                    .iter()
                    .map(|f| {
                        f.get("provenance")
                            .filter(|p| p.is_object())
                            .map(|p| ProvenanceView {
                                verified_by: f
                                    .get("verified_by")
                                    .and_then(Value::as_array)
                                    .into_iter()
                                    .flatten()
                                    .filter_map(Value::as_str)
                                    .collect(),
                                certificate_disagrees: ["repository", "commit"].iter().any(
                                    |what| {
                                        f.pointer(&format!("/certificate_agreement/{what}/result"))
                                            .and_then(Value::as_str)
                                            == Some("disagrees")
                                    },
                                ),
                                builder_id: text(p.get("builder_id")),
                                source_repository: text(p.get("source_repository")),
                                source_ref: text(p.get("source_ref")),
                                source_commit: text(p.get("source_commit")),
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let claim = self.claim(
            |k| {
                text(
                    input
                        .pointer("/resource/annotations")
                        .and_then(|m| m.get(k)),
                )
            },
            |k| text(input.pointer("/resource/labels").and_then(|m| m.get(k))),
        );
        // Looked up: an object without an `error` (as the policies read `checked`).
        let checked = |key: &str| {
            input
                .get(key)
                .and_then(Value::as_object)
                .filter(|o| o.get("error").is_none_or(Value::is_null))
        };
        let array = |v: Option<&'a Value>| v.and_then(Value::as_array).into_iter().flatten();
        // A fact whose `verified_by` is not a list is left to the policy (which fails on it):
        // no verdict.
        let signatures = checked("signatures").and_then(|s| {
            array(s.get("facts"))
                .map(|f| {
                    let by = f.get("verified_by").and_then(Value::as_array)?;
                    Some(by.iter().filter_map(Value::as_str).collect())
                })
                .collect::<Option<Vec<Vec<&str>>>>()
        });
        let attested = array(input.pointer("/attestations/facts"))
            .map(|f| {
                f.get("subject_match")
                    .and_then(Value::as_object)
                    .map(|m| Attested {
                        digest: text(m.get("digest")).map(str::to_owned),
                        platform: m.get("platform").is_some_and(|p| !p.is_null()),
                    })
            })
            .collect();
        Ok(self.derive(&Subject {
            name: text(input.pointer("/image/name")),
            tag: text(input.pointer("/image/tag")),
            claim,
            provenances,
            reachability: &reachability,
            resolved: input.pointer("/image/resolved") == Some(&Value::Bool(true)),
            platforms: array(input.pointer("/image/platforms"))
                .map(|p| text(p.get("digest")).map(str::to_owned))
                .collect(),
            signatures,
            attestations_checked: checked("attestations").is_some(),
            attested,
        }))
    }
}

/// Whether the image resolved, its attestations were looked up, and each of the `provenance`
/// rules at `indexes` has a verified provenance that passes every check (`checks[i][j]`:
/// `verified` and `passes`) about the resolved digest, or, for an index, one about each of its
/// platforms: what the provenance policy asks. Stricter than the policy where an input is
/// malformed (a fact without `subject_match` counts for nothing here), never looser.
fn provenance_verdict(
    indexes: &[usize],
    checks: &[Vec<Option<ProvenanceCheck>>],
    subject: &Subject<'_>,
) -> bool {
    if !subject.resolved || !subject.attestations_checked {
        return false;
    }
    indexes.iter().all(|&i| {
        let Some(checks) = checks.get(i).filter(|c| c.len() == subject.attested.len()) else {
            return false;
        };
        let passing: Vec<&Attested> = checks
            .iter()
            .zip(&subject.attested)
            .filter_map(|(c, a)| match (c, a) {
                (Some(c), Some(a)) if c.verified && c.passes => Some(a),
                _ => None,
            })
            .collect();
        passing.iter().any(|a| !a.platform)
            || (!subject.platforms.is_empty()
                && subject.platforms.iter().all(|p| {
                    p.as_ref().is_some_and(|p| {
                        passing
                            .iter()
                            .any(|a| a.digest.as_deref() == Some(p.as_str()))
                    })
                }))
    })
}

impl ProvenanceRule {
    fn from_config(r: &crate::config::ProvenanceRule) -> Self {
        Self::new(
            r.images.clone(),
            r.signers.iter().map(|s| s.name.clone()).collect(),
            r.builders.clone(),
            r.source.clone(),
            r.refs.clone(),
        )
    }

    /// How one provenance fares against this rule: the one place its checks are decided.
    fn check(&self, p: &ProvenanceView<'_>, subject: &Subject<'_>) -> ProvenanceCheck {
        let rule = self;
        let commit_is = |claim: &str| {
            p.source_commit
                .is_some_and(|c| commit_matches_claim(c, claim))
        };
        let tag_commit_matches = subject
            .tag
            .filter(|t| (7..=40).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|t| commit_is(&t.to_ascii_lowercase()));
        let same_repository = |repo: &str| match p.source_repository {
            Some(actual) => repo == actual || repository_matches(repo, actual),
            None => rule
                .source
                .as_deref()
                .is_some_and(|s| repository_matches(repo, s)),
        };
        let mut reachability = Vec::new();
        let mut no_commit = Vec::new();
        for (k, r) in subject.reachability.iter().enumerate() {
            if !same_repository(&r.repository) {
                continue;
            }
            if r.result == ReachabilityResult::NoCommit && p.source_commit.is_none() {
                no_commit.push(k);
            }
            if p.source_commit == Some(r.commit.as_str()) && r.refs == rule.checked_refs {
                reachability.push(k);
            }
        }
        let builder_trusted = rule.builders.is_empty()
            || p.builder_id
                .is_some_and(|id| rule.builders.iter().any(|b| b.accepts(id)));
        let source_repository_matches = match &rule.source {
            None => true,
            Some(expected) => p
                .source_repository
                .is_some_and(|actual| repository_matches(expected, actual)),
        };
        let source_ref_allowed = rule.refs.is_empty()
            || p.source_ref
                .is_some_and(|r| is_git_ref(r) && rule.refs.iter().any(|pat| pat.matches(r)));
        let commit_claim_matches = subject.claim.as_ref().map(|c| commit_is(&c.value));
        // Every answer concerning the commit must say `reachable`; one that cannot be read
        // (an index past the list) does not.
        let reachable = reachability.iter().all(|&k| {
            subject
                .reachability
                .get(k)
                .is_some_and(|r| r.result == ReachabilityResult::Reachable)
        });
        let passes = builder_trusted
            && source_repository_matches
            && source_ref_allowed
            && commit_claim_matches != Some(false)
            && tag_commit_matches != Some(false)
            && !p.certificate_disagrees
            && no_commit.is_empty()
            && reachable;
        ProvenanceCheck {
            verified: p
                .verified_by
                .iter()
                .any(|v| rule.signers.iter().any(|s| s == v)),
            passes,
            builder_trusted,
            source_repository_matches,
            source_ref_allowed,
            commit_claim_matches,
            tag_commit_matches,
            reachability,
            no_commit,
        }
    }
}

/// Whether `name` is a ref git could have (`git check-ref-format`): under `refs/`, without
/// `..`, `//`, `@{`, a component starting with `.` or ending with `.lock`, control
/// characters, spaces or `~^:?*[\`, and not ending with `/` or `.`. Anything else matches no
/// pattern, so `refs/tags/v*` never accepts `refs/tags/v1/../../heads/dev`.
pub fn is_git_ref(name: &str) -> bool {
    name.starts_with("refs/")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.contains("/.")
        && !name.contains(".lock/")
        && !name.ends_with(".lock")
        && !name.ends_with(['/', '.'])
        && !name
            .chars()
            .any(|c| c <= '\u{20}' || c == '\u{7f}' || "~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, clippy::indexing_slicing)]
    use serde_json::json;

    use super::*;

    /// The config of the library's fixtures and Rego tests.
    fn config() -> Value {
        json!({
            "require": [
                {"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
                {"images": ["127.0.0.1:*/team/*"], "signers": ["ci", "release"], "line": 16},
            ],
            "provenance": [{
                "images": ["ghcr.io/acme/app"],
                "signers": ["ci"],
                "builders": [
                    {"match": "prefix", "id": "https://github.com/acme"},
                    {"match": "exact", "id": "https://builder.example/v1"},
                ],
                "source": "https://github.com/acme/app",
                "refs": ["refs/heads/main", "refs/tags/v*"],
                "line": 20,
            }],
            "source": {"commit_key": "supplygate.dev/source-commit"},
            "registries": {"allow": ["ghcr.io/acme/**", "docker.io/library/*", "127.0.0.1:*/team/**"]},
        })
    }

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    /// The provenance of the Rego tests' `t.provenance`.
    fn provenance() -> ProvenanceView<'static> {
        ProvenanceView {
            verified_by: vec!["ci"],
            certificate_disagrees: false,
            builder_id: Some(
                "https://github.com/acme/builder/.github/workflows/build.yml@refs/tags/v2",
            ),
            source_repository: Some("https://github.com/acme/app"),
            source_ref: Some("refs/heads/main"),
            source_commit: Some(COMMIT),
        }
    }

    /// The check of one provenance of `ghcr.io/acme/app:<tag>` under provenance rule 0.
    fn check_with(
        config: &Value,
        tag: &str,
        claim: Option<SourceClaim>,
        p: ProvenanceView<'_>,
        reachability: &[ReachabilityFact],
    ) -> ProvenanceCheck {
        let rules = Rules::from_config_data(config).unwrap_or_else(|e| panic!("{e}"));
        let facts = rules.derive(&Subject {
            name: Some("ghcr.io/acme/app"),
            tag: Some(tag),
            claim,
            provenances: vec![Some(p)],
            reachability,
            ..Subject::default()
        });
        match facts.provenance_checks.first().and_then(|c| c.first()) {
            Some(Some(c)) => c.clone(),
            other => panic!("no check for rule 0, fact 0: {other:?}"),
        }
    }

    fn check(p: ProvenanceView<'_>) -> ProvenanceCheck {
        check_with(&config(), "v1.2.0", None, p, &[])
    }

    #[test]
    fn the_provenance_of_the_tests_passes_every_check() {
        let c = check(provenance());
        assert_eq!(
            c,
            ProvenanceCheck {
                verified: true,
                passes: true,
                builder_trusted: true,
                source_repository_matches: true,
                source_ref_allowed: true,
                ..ProvenanceCheck::default()
            }
        );
    }

    /// `passes` is every check at once: each failing check, alone, makes it `false`; a
    /// signer the rule does not name leaves `verified` `false`.
    #[test]
    fn a_provenance_passes_only_when_every_check_does() {
        assert!(check(provenance()).passes);
        let untrusted = ProvenanceView {
            builder_id: Some("https://evil.example/b"),
            ..provenance()
        };
        assert!(!check(untrusted).passes);
        let fork = ProvenanceView {
            source_repository: Some("https://github.com/evil/app"),
            ..provenance()
        };
        assert!(!check(fork).passes);
        let side = ProvenanceView {
            source_ref: Some("refs/heads/feature"),
            ..provenance()
        };
        assert!(!check(side).passes);
        let disagrees = ProvenanceView {
            certificate_disagrees: true,
            ..provenance()
        };
        let c = check(disagrees);
        assert!(c.builder_trusted && c.source_repository_matches && c.source_ref_allowed);
        assert!(
            !c.passes,
            "a certificate that disagrees fails the provenance"
        );
        let claimed = check_with(
            &config(),
            "v1",
            Some(claim("fedcba98765", ClaimFrom::Annotation)),
            provenance(),
            &[],
        );
        assert!(!claimed.passes, "another commit than the claimed one");
        assert!(!check_with(&config(), "fedcba9876", None, provenance(), &[]).passes);
        let other_signer = ProvenanceView {
            verified_by: vec!["release"],
            ..provenance()
        };
        let c = check(other_signer);
        assert!(!c.verified && c.passes);
        let unsigned = ProvenanceView {
            verified_by: Vec::new(),
            ..provenance()
        };
        assert!(!check(unsigned).verified);
        let refs = ["refs/heads/main", "refs/tags/v*"];
        for (result, passes) in [
            (ReachabilityResult::Reachable, true),
            (ReachabilityResult::NotReachable, false),
            (ReachabilityResult::NotInClone, false),
            (ReachabilityResult::Error, false),
        ] {
            let c = check_with(
                &config(),
                "v1",
                None,
                provenance(),
                &[reach(result, COMMIT, &refs)],
            );
            assert_eq!(c.reachability, vec![0]);
            assert_eq!(c.passes, passes, "{result:?}");
        }
        let no_commit = ProvenanceView {
            source_commit: None,
            ..provenance()
        };
        let c = check_with(
            &config(),
            "v1",
            None,
            no_commit,
            &[reach(ReachabilityResult::NoCommit, "", &refs)],
        );
        assert!(!c.passes, "a clone that cannot check a missing commit");
    }

    // Moved from policies/lib/provenance_test.rego and util_test.rego (builder_accepts).
    #[test]
    fn builder_prefixes_match_at_a_boundary_and_exact_ids_exactly() {
        let trusted = |id: Option<&str>| {
            check(ProvenanceView {
                builder_id: id,
                ..provenance()
            })
            .builder_trusted
        };
        assert!(!trusted(Some("https://github.com/acme-evil/builder@v1")));
        assert!(trusted(Some("https://github.com/acme@v1")));
        assert!(trusted(Some("https://github.com/acme")));
        assert!(trusted(Some("https://github.com/acme/builder@v1")));
        assert!(!trusted(Some("https://github.com/acmeevil")));
        assert!(trusted(Some("https://builder.example/v1")));
        assert!(!trusted(Some("https://builder.example/v1/x")));
        assert!(!trusted(Some("https://evil.example/b")));
        assert!(!trusted(None), "a missing builder is untrusted");
        let rule = |b: Value| {
            let mut c = config();
            c["provenance"][0]["builders"] = b;
            c
        };
        let sep = rule(json!([{"match": "prefix", "id": "https://github.com/acme/"}]));
        let anything = ProvenanceView {
            builder_id: Some("https://github.com/acme/anything"),
            ..provenance()
        };
        assert!(check_with(&sep, "v1", None, anything, &[]).builder_trusted);
        let port = rule(json!([{"match": "prefix", "id": "https://x.example:"}]));
        let on_port = ProvenanceView {
            builder_id: Some("https://x.example:8443"),
            ..provenance()
        };
        assert!(check_with(&port, "v1", None, on_port, &[]).builder_trusted);
        let empty = rule(json!([{"match": "prefix", "id": ""}]));
        let any = ProvenanceView {
            builder_id: Some("anything"),
            ..provenance()
        };
        assert!(!check_with(&empty, "v1", None, any.clone(), &[]).builder_trusted);
        let none = rule(json!([]));
        assert!(check_with(&none, "v1", None, any, &[]).builder_trusted);
    }

    // Moved from policies/lib/provenance_test.rego and util_test.rego (normalize_repository).
    #[test]
    fn source_repositories_are_compared_normalised() {
        let matches = |repo: Option<&str>| {
            check(ProvenanceView {
                source_repository: repo,
                ..provenance()
            })
            .source_repository_matches
        };
        assert!(matches(Some("git+https://GitHub.com/acme/app.git/")));
        assert!(matches(Some("github.com/acme/app")));
        assert!(matches(Some("https://github.com/acme/app?x=1#y")));
        assert!(!matches(Some("https://github.com/ACME/app")));
        assert!(!matches(Some("https://github.com/evil/app")));
        assert!(!matches(Some("https://github.com")));
        assert!(!matches(Some("not a url")));
        assert!(!matches(None));
        assert_eq!(
            crate::provenance::normalise_repository("ssh://git@github.com/acme/app.git").as_deref(),
            Some("ssh://github.com/acme/app")
        );
    }

    // Moved from policies/lib/provenance_test.rego and util_test.rego (ref_matches, git_ref).
    #[test]
    fn ref_patterns_glob_across_slashes_and_only_git_refs_match() {
        let allowed = |r: Option<&str>| {
            check(ProvenanceView {
                source_ref: r,
                ..provenance()
            })
            .source_ref_allowed
        };
        assert!(allowed(Some("refs/tags/v1.2.0")));
        assert!(allowed(Some("refs/tags/v1/rc")));
        assert!(allowed(Some("refs/tags/v1.2.0-rc.1")));
        assert!(!allowed(Some("refs/tags/1.2.0")));
        assert!(!allowed(Some("refs/heads/main2")));
        assert!(!allowed(Some("refs/heads/feature")));
        assert!(!allowed(None));
        for bad in [
            "refs/tags/v1/../../heads/dev",
            "refs/tags/v1//x",
            "refs/tags/v1/.hidden",
            "refs/tags/v1.lock",
            "refs/tags/v1.lock/x",
            "refs/tags/v1/",
            "refs/tags/v1.",
            "refs/tags/v1@{0}",
            "refs/tags/v1 x",
            "refs/tags/v1\tx",
            "refs/tags/v1~1",
            "refs/tags/v1^",
            "refs/tags/v1:x",
            "refs/tags/v1\\x",
            "refs/tags/v[1]",
            "refs/tags/v1\u{7f}",
        ] {
            assert!(!allowed(Some(bad)), "`{bad}`");
        }
        let pattern = |p: &str| RefPattern::parse(p).unwrap_or_else(|e| panic!("{e}"));
        assert!(pattern("refs/heads/release-?").matches("refs/heads/release-1"));
        assert!(!pattern("refs/heads/m.in").matches("refs/heads/main"));
        // `?` is one character, not one byte: `v??` does not match a two-byte `é`.
        assert!(!pattern("refs/tags/v??").matches("refs/tags/v\u{e9}"));
        assert!(pattern("refs/tags/v?").matches("refs/tags/v\u{e9}"));
        assert!(!is_git_ref("main"));
        let any = check_with(
            &{
                let mut c = config();
                c["provenance"][0]["refs"] = json!([]);
                c
            },
            "v1",
            None,
            ProvenanceView {
                source_ref: Some("refs/heads/anything"),
                ..provenance()
            },
            &[],
        );
        assert!(any.source_ref_allowed, "a rule without refs allows any");
    }

    fn claim(value: &str, from: ClaimFrom) -> SourceClaim {
        SourceClaim {
            key: "supplygate.dev/source-commit".to_owned(),
            value: value.to_owned(),
            from,
        }
    }

    // Moved from policies/lib/provenance_test.rego and util_test.rego (commit_matches_claim).
    #[test]
    fn the_annotation_claim_wins_and_claims_are_prefixes_of_full_commits() {
        let rules = Rules::from_config_data(&config()).unwrap_or_else(|e| panic!("{e}"));
        const ANNOTATIONS: &[(&str, &str)] = &[("supplygate.dev/source-commit", "fedcba98765")];
        const LABELS: &[(&str, &str)] = &[("supplygate.dev/source-commit", "0123456")];
        const NONE: &[(&str, &str)] = &[];
        let get = |m: &'static [(&'static str, &'static str)]| {
            move |k: &str| m.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
        };
        let both = rules.claim(get(ANNOTATIONS), get(LABELS));
        assert_eq!(both, Some(claim("fedcba98765", ClaimFrom::Annotation)));
        let label = rules.claim(get(NONE), get(LABELS));
        assert_eq!(label, Some(claim("0123456", ClaimFrom::Label)));
        assert_eq!(rules.claim(get(NONE), get(NONE)), None);

        let matches = |value: &str, commit: Option<&str>| {
            check_with(
                &config(),
                "v1",
                Some(claim(value, ClaimFrom::Annotation)),
                ProvenanceView {
                    source_commit: commit,
                    ..provenance()
                },
                &[],
            )
            .commit_claim_matches
        };
        assert_eq!(matches("fedcba98765", Some(COMMIT)), Some(false));
        assert_eq!(matches("0123456789ABC", Some(COMMIT)), Some(true));
        assert_eq!(matches(" 0123456789ABCDEF ", Some(COMMIT)), Some(true));
        assert_eq!(matches(COMMIT, Some(COMMIT)), Some(true));
        assert_eq!(matches("012345", Some(COMMIT)), Some(false));
        assert_eq!(matches("0123456x", Some(COMMIT)), Some(false));
        assert_eq!(matches(&format!("{COMMIT}0"), Some(COMMIT)), Some(false));
        assert_eq!(matches("0123456", Some("0123456")), Some(false));
        assert_eq!(matches(COMMIT, None), Some(false), "no commit: a mismatch");
        assert_eq!(check(provenance()).commit_claim_matches, None);
    }

    // Moved from policies/lib/provenance_test.rego (tag_failures).
    #[test]
    fn a_commit_sha_tag_must_prefix_the_commit() {
        let tag = |t: &str| check_with(&config(), t, None, provenance(), &[]).tag_commit_matches;
        assert_eq!(tag("fedcba9876"), Some(false));
        assert_eq!(tag("0123456789AB"), Some(true));
        assert_eq!(tag("abcdef"), None, "not 7 to 40 hex digits: not a commit");
        assert_eq!(tag("v1.2.3"), None);
    }

    fn reach(result: ReachabilityResult, commit: &str, refs: &[&str]) -> ReachabilityFact {
        ReachabilityFact {
            repository: "https://github.com/acme/app".to_owned(),
            commit: commit.to_owned(),
            refs: refs.iter().map(|r| (*r).to_owned()).collect(),
            clone: "/src/app".to_owned(),
            result,
            via: None,
            message: None,
        }
    }

    // Moved from policies/lib/provenance_test.rego (reachability, same_repository).
    #[test]
    fn reachability_answers_concern_the_same_commit_refs_and_repository() {
        let refs = ["refs/heads/main", "refs/tags/v*"];
        let answers = [
            reach(ReachabilityResult::NotReachable, COMMIT, &refs),
            reach(
                ReachabilityResult::NotReachable,
                "fedcba9876543210fedcba9876543210fedcba98",
                &refs,
            ),
            reach(ReachabilityResult::NotReachable, COMMIT, &["refs/heads/*"]),
            ReachabilityFact {
                repository: "git+https://github.com/acme/app.git".to_owned(),
                ..reach(ReachabilityResult::Reachable, COMMIT, &refs)
            },
            ReachabilityFact {
                repository: "https://github.com/evil/app".to_owned(),
                ..reach(ReachabilityResult::NotInClone, COMMIT, &refs)
            },
            reach(ReachabilityResult::NoCommit, "", &refs),
        ];
        let c = check_with(&config(), "v1", None, provenance(), &answers);
        assert_eq!(c.reachability, vec![0, 3]);
        assert!(c.no_commit.is_empty());
        // Without a commit: only the `no-commit` answer for the repository concerns it.
        let no_commit = ProvenanceView {
            source_commit: None,
            ..provenance()
        };
        let c = check_with(&config(), "v1", None, no_commit, &answers);
        assert!(c.reachability.is_empty());
        assert_eq!(c.no_commit, vec![5]);
        // Without a repository in the provenance, the rule's names it.
        let no_repo = ProvenanceView {
            source_repository: None,
            ..provenance()
        };
        let c = check_with(&config(), "v1", None, no_repo, &answers);
        assert_eq!(c.reachability, vec![0, 3]);
        // A rule without refs takes the answer for any branch or tag.
        let mut any = config();
        any["provenance"][0]["refs"] = json!([]);
        let wide = [reach(
            ReachabilityResult::NotReachable,
            COMMIT,
            &["refs/heads/*", "refs/tags/*"],
        )];
        let c = check_with(&any, "v1", None, provenance(), &wide);
        assert_eq!(c.reachability, vec![0]);
        let c = check_with(&config(), "v1", None, provenance(), &wide);
        assert!(c.reachability.is_empty());
    }

    #[test]
    fn rules_that_do_not_match_get_no_checks_and_facts_without_provenance_none() {
        let rules = Rules::from_config_data(&config()).unwrap_or_else(|e| panic!("{e}"));
        let facts = rules.derive(&Subject {
            name: Some("ghcr.io/acme/other"),
            provenances: vec![Some(provenance())],
            ..Subject::default()
        });
        assert_eq!(facts.provenance_checks, vec![Vec::new()]);
        let facts = rules.derive(&Subject {
            name: Some("ghcr.io/acme/app"),
            provenances: vec![None, Some(provenance())],
            ..Subject::default()
        });
        assert_eq!(facts.provenance_checks.len(), 1);
        assert!(facts.provenance_checks[0][0].is_none());
        assert!(facts.provenance_checks[0][1].is_some());
    }

    fn matched(config: &Value, name: &str) -> Matched {
        match Rules::from_config_data(config) {
            Ok(rules) => rules.matched(Some(name)),
            Err(e) => panic!("the config's globs parse: {e}"),
        }
    }

    fn m(require: &[usize], provenance: &[usize], allowed: Option<bool>) -> Matched {
        Matched {
            require: require.to_vec(),
            provenance: provenance.to_vec(),
            allowed_registry: allowed,
            ..Matched::default()
        }
    }

    /// The gate's verdicts: a provenance about each platform of an index satisfies the rule
    /// only when every platform has its own; a signature counts only on the resolved digest,
    /// only when the image resolved and the signatures were looked up.
    #[test]
    fn verdicts_need_every_platform_and_a_signer_of_the_rule() {
        let rules = Rules::from_config_data(&config()).unwrap_or_else(|e| panic!("{e}"));
        let about = |platform: &str| {
            Some(Attested {
                digest: Some(platform.to_owned()),
                platform: true,
            })
        };
        let subject =
            |attested: Vec<Option<Attested>>, signatures: Vec<Vec<&'static str>>| Subject {
                name: Some("ghcr.io/acme/app"),
                tag: Some("v1.2.0"),
                provenances: vec![Some(provenance()); attested.len()],
                resolved: true,
                platforms: vec![Some("sha256:b".to_owned()), Some("sha256:c".to_owned())],
                signatures: Some(signatures),
                attestations_checked: true,
                attested,
                ..Subject::default()
            };
        let both = rules.derive(&subject(
            vec![about("sha256:b"), about("sha256:c")],
            vec![vec!["release"], vec!["ci"]],
        ));
        assert!(both.matched.provenance_satisfied && both.matched.require_satisfied);
        let one = rules.derive(&subject(vec![about("sha256:b")], vec![vec!["release"]]));
        assert!(!one.matched.provenance_satisfied, "one platform of two");
        assert!(!one.matched.require_satisfied, "no signature by `ci`");
        let image = Some(Attested {
            digest: Some("sha256:a".to_owned()),
            platform: false,
        });
        let mut unresolved = subject(vec![image.clone()], vec![vec!["ci"]]);
        assert!(rules.derive(&unresolved).matched.provenance_satisfied);
        unresolved.resolved = false;
        let facts = rules.derive(&unresolved);
        assert!(!facts.matched.provenance_satisfied && !facts.matched.require_satisfied);
        let mut not_looked_up = subject(vec![image], vec![vec!["ci"]]);
        not_looked_up.signatures = None;
        not_looked_up.attestations_checked = false;
        let facts = rules.derive(&not_looked_up);
        assert!(!facts.matched.provenance_satisfied && !facts.matched.require_satisfied);
    }

    // Moved from policies/lib/images_test.rego and signatures_test.rego: the glob semantics
    // those packages relied on, now decided here.
    #[test]
    fn rules_and_registries_follow_the_glob_semantics_of_the_config() {
        let c = config();
        assert_eq!(matched(&c, "ghcr.io/acme/app"), m(&[0], &[0], Some(true)));
        assert_eq!(matched(&c, "quay.io/evil/app"), m(&[], &[], Some(false)));
        // A single star stays within a segment; a double star crosses them.
        assert_eq!(
            matched(&c, "docker.io/library/team/app"),
            m(&[], &[], Some(false))
        );
        assert_eq!(matched(&c, "ghcr.io/acme/a/b/c"), m(&[0], &[], Some(true)));
        assert_eq!(
            matched(&c, "127.0.0.1:5000/team/x/y"),
            m(&[], &[], Some(true))
        );
        assert_eq!(
            matched(&c, "127.0.0.1:5000/team/app"),
            m(&[1], &[], Some(true))
        );
        assert_eq!(
            matched(&c, "127.0.0.1:5000/team/a/b"),
            m(&[], &[], Some(true))
        );
        // `ghcr.io/acme/**` needs the separator before it.
        assert_eq!(matched(&c, "ghcr.io/acme"), m(&[], &[], Some(false)));
        assert_eq!(matched(&c, "ghcr.io/acme-evil/x"), m(&[], &[], Some(false)));
        assert_eq!(
            matched(&c, "docker.io/library/nginx"),
            m(&[], &[], Some(true))
        );
        assert_eq!(matched(&c, "ghcr.io/acme/x/y"), m(&[0], &[], Some(true)));
    }

    #[test]
    fn an_empty_allow_list_decides_nothing_and_short_globs_are_image_names() {
        let empty = json!({"registries": {"allow": []}});
        assert_eq!(matched(&empty, "quay.io/x/y"), m(&[], &[], None));
        let short = json!({"registries": {"allow": ["nginx", "acme/*"]}});
        assert_eq!(
            matched(&short, "docker.io/library/nginx"),
            m(&[], &[], Some(true))
        );
        assert_eq!(
            matched(&short, "docker.io/acme/app"),
            m(&[], &[], Some(true))
        );
    }

    #[test]
    fn every_matching_rule_is_listed_in_config_order() {
        let c = json!({"require": [
            {"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
            {"images": ["ghcr.io/*/app"], "signers": ["release"], "line": 30},
        ]});
        assert_eq!(matched(&c, "ghcr.io/acme/app"), m(&[0, 1], &[], None));
    }

    // Moved from policies/lib/util_test.rego (image_matches, normalize_glob).
    #[test]
    fn globs_match_as_the_policies_matched_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("ghcr.io/acme/*", "ghcr.io/acme/app", true),
            ("ghcr.io/acme/*", "ghcr.io/acme/team/app", false),
            ("ghcr.io/acme/*", "ghcr.io/acme", false),
            ("ghcr.io/acme/**", "ghcr.io/acme/team/app", true),
            ("ghcr.io/ac**", "ghcr.io/acme/team/app", true),
            ("ghcr.io/**/app", "ghcr.io/x/y/app", true),
            ("ghcr.io/**/app", "ghcr.io/app", false),
            ("127.0.0.1:*/team/**", "127.0.0.1:5000/team/a/b", true),
            ("127.0.0.1:*/team/**", "127.0.0.1:5000/other/a", false),
            ("ghcr.io/acme/ap?", "ghcr.io/acme/app", true),
            ("ghcr.io/acme?app", "ghcr.io/acme/app", false),
            ("ghcr.io/acme/app", "ghcrxio/acme/app", false),
            ("index.docker.io/nginx", "docker.io/library/nginx", true),
        ];
        for (glob, name, expected) in cases {
            let g = ImageGlob::parse(glob).unwrap_or_else(|e| panic!("`{glob}`: {e}"));
            assert_eq!(g.matches(name), *expected, "`{glob}` on `{name}`");
        }
    }

    /// Issue 13: a `require:` glob written with another spelling of the host (Docker Hub's
    /// aliases, capitals, `:443`) names the same images as the normal form.
    #[test]
    fn a_require_glob_written_with_a_host_alias_matches_the_normal_name() {
        for glob in [
            "index.docker.io/library/nginx",
            "registry-1.docker.io/nginx",
            "DOCKER.IO/library/nginx",
            "docker.io:443/library/nginx",
            "docker.io/nginx",
            "nginx",
        ] {
            let c = json!({"require": [{"images": [glob], "signers": ["ci"]}]});
            assert_eq!(
                matched(&c, "docker.io/library/nginx"),
                m(&[0], &[], None),
                "`{glob}`"
            );
        }
        let upper = json!({"require": [{"images": ["GHCR.io:443/acme/*"], "signers": ["ci"]}]});
        assert_eq!(matched(&upper, "ghcr.io/acme/app"), m(&[0], &[], None));
    }

    #[test]
    fn normal_forms_are_those_the_policies_were_given() {
        for (glob, normal) in [
            ("nginx", "docker.io/library/nginx"),
            ("acme/app", "docker.io/acme/app"),
            ("localhost/app", "localhost/app"),
            ("*/acme/**", "*/acme/**"),
            ("ghcr.io/acme/*", "ghcr.io/acme/*"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
            ("DOCKER.IO/library/nginx", "docker.io/library/nginx"),
            ("docker.io:443/library/nginx", "docker.io/library/nginx"),
            ("registry-1.docker.io/nginx", "docker.io/library/nginx"),
            ("docker.io/**", "docker.io/**"),
            ("GHCR.io:443/acme/*", "ghcr.io/acme/*"),
            ("127.0.0.1:5000/a", "127.0.0.1:5000/a"),
        ] {
            let g = ImageGlob::parse(glob).unwrap_or_else(|e| panic!("`{glob}`: {e}"));
            assert_eq!(g.normalised(), normal, "`{glob}`");
            // The normal form parses to itself: the fixtures' config data reads back the same.
            let again = ImageGlob::parse(normal).unwrap_or_else(|e| panic!("`{normal}`: {e}"));
            assert_eq!(again.normalised(), normal);
        }
    }

    #[test]
    fn an_invalid_reference_matches_nothing() {
        let rules = Rules::from_config_data(&config()).unwrap_or_default();
        assert_eq!(rules.matched(None), Matched::default());
    }
}
