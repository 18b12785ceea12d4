//! `Lock::parse` and `Lock::canonical` on arbitrary bytes: never panic, and the canonical form
//! is a fixed point (what `canonical` writes, `parse` accepts and writes back byte for byte).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use supplygate::lock::Lock;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz.lock");
    if let Ok(lock) = Lock::parse(bytes, path) {
        // `parse` accepts only what `json` writes.
        match lock.json() {
            Ok(json) => assert_eq!(
                json.as_bytes(),
                bytes,
                "parse accepted a non-canonical lock"
            ),
            Err(e) => panic!("a parsed lock cannot be written: {e}"),
        }
    }
    let Ok(canonical) = Lock::canonical(bytes, path) else {
        return;
    };
    let lock = match Lock::parse(canonical.as_bytes(), path) {
        Ok(lock) => lock,
        Err(e) => panic!("the canonical form is refused by `parse`: {e}\n{canonical}"),
    };
    match Lock::canonical(canonical.as_bytes(), path) {
        Ok(again) => assert_eq!(again, canonical, "canonical form is not a fixed point"),
        Err(e) => panic!("canonical of the canonical form fails: {e}"),
    }
    let _ = lock.json();
});
