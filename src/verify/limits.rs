//! Size limits of signature and attestation material, each set once here and used both where
//! the bytes are fetched ([`super::discover`]) and where they are parsed ([`super::signature`],
//! `provenance`), so that the two can never disagree.

/// Largest simple-signing payload (cosign's are about 250 bytes).
pub const PAYLOAD_MAX: usize = 1024 * 1024;
/// Largest Sigstore bundle or DSSE envelope (provenance predicates can be large).
pub const BUNDLE_MAX: usize = 4 * 1024 * 1024;
/// Largest Notary Project signature envelope (Notation's own limit is 4 MiB too).
pub const NOTATION_ENVELOPE_MAX: usize = 4 * 1024 * 1024;
