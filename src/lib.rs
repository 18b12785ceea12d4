//! supplygate guards GitOps deployments: it reads Kubernetes manifests, resolves every
//! container image to a digest, and decides whether it may run.
//!
//! One pipeline, thin front ends:
//!
//! 1. [`manifest`]: YAML/JSON -> workloads -> image sites with file:line:column
//! 2. [`reference`]: image reference grammar and normalisation
//! 3. [`registry`]: registry facts (digests, platforms) over HTTP or from OCI layouts
//! 4. [`gate`]: runs the stages in order and produces a [`report::Report`]
//! 5. [`report`]: human and JSON renderers, diagnostic codes
//!
//! `supplygate check`, `supplygate pin` and the pre-sync hook all call [`gate::evaluate`].

pub mod bounded;
pub mod cache;
pub mod cli;
pub mod config;
pub mod gate;
pub mod git;
pub mod glob;
pub mod lock;
pub mod manifest;
pub mod policy;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod report;
pub mod verify;
pub mod webhook;
