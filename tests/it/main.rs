//! The integration tests: one binary (`cargo test --test it`), one module per area. Shared
//! helpers live in `common` (the test registry, image builders, `Outcome`), `common::pki` (a
//! throwaway Sigstore) and `common::att` (attestations made with it).
//!
//! Run one area with `cargo test --test it <module>::`, e.g. `cargo test --test it tuf::`.

// Marks the whole binary as test code for clippy's `allow-*-in-tests` (clippy.toml): helpers
// outside `#[test]` functions may unwrap too.
#![cfg(test)]

mod common;
use common::{att, pki};

mod adversarial;
mod cache_review;
mod changed_since;
mod cli;
mod conformance;
mod cosign_made;
mod deploy;
mod discovery;
mod docs_examples;
mod github_attestations;
mod lock;
mod manifests;
mod notation;
mod notation_discovery;
mod notation_review;
mod outputs;
mod policy_engine;
mod policy_input_schema;
mod policy_library;
mod provenance;
mod provenance_fixtures;
mod registry;
mod signatures;
mod timestamps;
mod tuf;
mod webhook;
mod yaml;
