//! The policy library shipped in the binary: `policies/lib/*.rego` (tests excluded), loaded
//! unless `policy.builtin: false`. A test keeps this list in step with the directory.

/// `(file name, source)` of every shipped module.
pub const MODULES: &[(&str, &str)] = &[
    (
        "policies/lib/util.rego",
        include_str!("../../policies/lib/util.rego"),
    ),
    (
        "policies/lib/images.rego",
        include_str!("../../policies/lib/images.rego"),
    ),
    (
        "policies/lib/signatures.rego",
        include_str!("../../policies/lib/signatures.rego"),
    ),
    (
        "policies/lib/provenance.rego",
        include_str!("../../policies/lib/provenance.rego"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_in_policies_lib_is_shipped() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/lib");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rego") && !n.ends_with("_test.rego"))
            .map(|n| format!("policies/lib/{n}"))
            .collect();
        on_disk.sort();
        let mut shipped: Vec<String> = MODULES.iter().map(|(n, _)| (*n).to_owned()).collect();
        shipped.sort();
        assert_eq!(shipped, on_disk);
    }
}
