//! supplygate guards GitOps deployments: it reads Kubernetes manifests, resolves every
//! container image to a digest, and decides whether it may run.
//!
//! # Module map
//!
//! The pipeline, one stage a module, each consuming the previous stage's output:
//!
//! 1. [`manifest`]: YAML/JSON -> workloads -> image sites with file:line:column (`yaml/` the
//!    positioned YAML reader, `json` the same tree from an admission request's JSON,
//!    `walk`/`sites`/`kinds` the extraction, `kustomize`, `changed` for `--changed-since`,
//!    `rewrite` for `pin`).
//! 2. [`reference`](mod@reference): the image reference grammar and its normalisation.
//! 3. [`registry`]: registry facts (digests, platforms, referrers) over HTTP (`http/`) or from
//!    OCI layouts (`layout`), recorded in and replayed from its own content store (`store`);
//!    verifies every body against its digest.
//! 4. [`verify`] and [`provenance`]: signatures (cosign, Sigstore bundles, Notation) and
//!    attestations found on each digest and verified against the configured signers;
//!    provenance predicates and their source linkage ([`provenance::linkage`], [`git`] for
//!    the local clones). `verify::reason` types why one does not count; `verify::limits` sets
//!    the size limits of both.
//! - [`facts`]: the hand-off. What is known about each image site
//!   ([`facts::ImageReport`]: reference, registry answer, [`facts::SignatureReport`],
//!   [`facts::AttestationReport`]) and the findings made of it ([`facts::Finding`], the
//!   stable [`facts::Code`]s, [`facts::Severity`], [`facts::Decision`]).
//! 5. [`policy`]: the Rego engine (regorus), the shipped library and the input document built
//!    from the facts.
//! 6. [`report`]: the run as data ([`report::Report`]: the image facts with the policy's
//!    findings, files that could not be read, counters) and the renderers (human, JSON, SARIF,
//!    GitHub, Markdown). It re-exports the facts types it renders.
//!
//! On top of the pipeline:
//!
//! - [`gate`]: the one evaluation the front ends share (`sources` where the evidence comes
//!   from: live, recording, or a lock replayed; `read` stage 1, `evidence` stage 4, `findings`
//!   policy decisions and overrides).
//! - [`cache`]: the verification cache kept across runs (`--cache-dir`).
//! - [`lock`]: the evidence lock (`format`, `fingerprint`, `review`) that `check --locked`
//!   and `serve --lock` replay.
//! - [`config`]: `supplygate.yaml` -> validated [`config::Config`] (`keys` the schema's key
//!   tables, `validate`, `signer_rules` and `notation` the checks, `text` small parsers shared
//!   with the CLI and the webhook).
//! - Front ends: [`cli`] (one file per subcommand) and [`webhook`] (`supplygate serve`).
//! - Helpers: [`glob`] image globs, [`bounded`] the one size-bounded file reader, [`git`] the
//!   one git runner, [`hint`] what a dependency's error text means for the user, [`errors`]
//!   typed causes and the one printer of an error's chain.
//!
//! Imports follow the pipeline: a stage names only the stages before it (and the helpers),
//! never one after it. `config` names the stages whose settings it builds (and `cache`); the
//! policy stage and everything on top read it. `gate`, `lock`, `webhook` and `cli` sit on
//! top. `python3 scripts/module_cycles.py` prints the module graph
//! and exits 1 on any import cycle; `tests/run.sh` runs it (see docs/development.md).

pub mod bounded;
pub mod cache;
pub mod cli;
pub mod config;
pub mod errors;
pub mod facts;
pub mod gate;
pub mod git;
pub mod glob;
pub mod hint;
pub mod lock;
pub mod manifest;
pub mod policy;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod report;
pub mod verify;
pub mod webhook;
