//! Every key the config schema knows, by section: the lists unknown keys are checked against.

use std::collections::BTreeMap;

pub(super) const KEYS_TOP: &[&str] = &[
    "registries",
    "network",
    "images",
    "limits",
    "signers",
    "tuf",
    "require",
    "provenance",
    "source",
    "policies",
    "policy",
    "exemptions",
    "break_glass",
    "paths",
    "cache",
];
pub(super) const KEYS_CACHE: &[&str] = &["dir", "ttl", "max_bytes"];
pub(super) const KEYS_POLICY: &[&str] = &[
    "builtin",
    "paths",
    "data",
    "allowed_registries",
    "allow_latest",
    "unmatched_images",
    "unknown_image_fields",
    "timeout",
];
pub(super) const KEYS_EXEMPTION: &[&str] = &["images", "namespaces", "reason", "expires"];
pub(super) const KEYS_BREAK_GLASS: &[&str] = &["annotation", "namespaces"];
pub(super) const KEYS_PROVENANCE: &[&str] = &["images", "signers", "builders", "source", "refs"];
pub(super) const KEYS_SOURCE: &[&str] = &["commit_key", "clones"];
pub(super) const KEYS_SIGNER: &[&str] = &[
    "key",
    "insecure_ignore_tlog",
    "trusted_root",
    "keyless",
    "notation",
];
pub(super) const KEYS_KEYLESS: &[&str] = &[
    "issuer",
    "subject",
    "subject_regex",
    "trusted_root",
    "insecure_skip_sct",
    "repo",
    "owner",
    "signer_workflow",
    "source_ref",
    "deny_self_hosted_runners",
    "timestamp_threshold",
    "allow_timestamp_only",
];
pub(super) const KEYS_TUF: &[&str] = &[
    "url",
    "root",
    "cache_dir",
    "timeout",
    "insecure_fallback_to_embedded",
];
pub(super) const KEYS_REQUIRE: &[&str] = &["images", "signers"];
pub(super) const KEYS_HOST: &[&str] = &["concurrency", "insecure", "layout", "mirrors"];
pub(super) const KEYS_NETWORK: &[&str] = &[
    "concurrency",
    "connect_timeout",
    "request_timeout",
    "retries",
    "max_manifest_bytes",
    "offline",
    "docker_config",
];
pub(super) const KEYS_IMAGES: &[&str] = &["extra"];
pub(super) const KEYS_EXTRA: &[&str] = &["kind", "api_version", "pod_specs", "images"];
pub(super) const KEYS_PATHS: &[&str] = &["exclude"];
pub(super) const KEYS_LIMITS: &[&str] = &["max_file_bytes", "max_depth", "max_nodes"];

pub(super) fn backticked(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every key the schema knows, by section, for the schema-consistency test.
pub fn known_keys() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("", KEYS_TOP),
        ("registries.*", KEYS_HOST),
        ("network", KEYS_NETWORK),
        ("cache", KEYS_CACHE),
        ("images", KEYS_IMAGES),
        ("images.extra[]", KEYS_EXTRA),
        ("limits", KEYS_LIMITS),
        ("signers.*", KEYS_SIGNER),
        ("signers.*.keyless", KEYS_KEYLESS),
        ("signers.*.notation", super::notation::KEYS_NOTATION),
        ("tuf", KEYS_TUF),
        ("require[]", KEYS_REQUIRE),
        ("provenance[]", KEYS_PROVENANCE),
        ("source", KEYS_SOURCE),
        ("policy", KEYS_POLICY),
        ("exemptions[]", KEYS_EXEMPTION),
        ("break_glass", KEYS_BREAK_GLASS),
        ("paths", KEYS_PATHS),
    ])
}
