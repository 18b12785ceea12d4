//! `ImageRef::parse` on arbitrary UTF-8: never panics, and what it accepts round-trips.
//!
//! Invariants (src/reference.rs): `Display` is "the fully normalised form", so it parses
//! again to the same registry, repository and digest, with the tag defaulted (`latest` when
//! neither tag nor digest was written), and printing that again gives the same text;
//! `pin_written` keeps the name and tag and sets the digest; `Digest` round-trips too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supplygate::reference::{pin_written, Digest, ImageRef};

const SHA256_HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|s: &str| {
    if let Ok(d) = Digest::parse(s) {
        let again = Digest::parse(&d.to_string());
        assert_eq!(again.as_ref(), Ok(&d), "digest `{s}` does not round-trip");
    }
    let Ok(r) = ImageRef::parse(s) else {
        return;
    };
    let shown = r.to_string();
    let again = match ImageRef::parse(&shown) {
        Ok(again) => again,
        Err(e) => panic!("`{s}` parses, but its normal form `{shown}` does not: {e}"),
    };
    assert_eq!(
        again.registry(),
        r.registry(),
        "registry of `{s}` vs `{shown}`"
    );
    assert_eq!(
        again.repository(),
        r.repository(),
        "repository of `{s}` vs `{shown}`"
    );
    assert_eq!(again.tag(), r.tag_or_default(), "tag of `{s}` vs `{shown}`");
    assert_eq!(again.digest(), r.digest(), "digest of `{s}` vs `{shown}`");
    assert_eq!(
        again.to_string(),
        shown,
        "normal form of `{s}` is not stable"
    );
    assert_eq!(r.name(), format!("{}/{}", r.registry(), r.repository()));
    assert_eq!(r.is_pinned(), r.digest().is_some());

    let Ok(digest) = Digest::parse(&format!("sha256:{SHA256_HEX}")) else {
        panic!("constant digest does not parse");
    };
    let pinned_text = pin_written(s, &digest);
    let pinned = match ImageRef::parse(&pinned_text) {
        Ok(p) => p,
        Err(e) => panic!("`{s}` parses, but pinned as `{pinned_text}` it does not: {e}"),
    };
    assert_eq!(
        pinned.registry(),
        r.registry(),
        "pinning `{s}` changed the registry"
    );
    assert_eq!(
        pinned.repository(),
        r.repository(),
        "pinning `{s}` changed the repository"
    );
    assert_eq!(pinned.tag(), r.tag(), "pinning `{s}` changed the tag");
    assert_eq!(pinned.digest(), Some(&digest));
    assert_eq!(r.with_digest(digest.clone()), pinned);
    assert_eq!(pinned.without_digest(), r.without_digest());
});
