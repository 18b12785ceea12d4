//! The lock file format (see docs/lock.md) and its canonical form.

use std::collections::BTreeMap;

use super::LockedImage;
use crate::reference::Digest;
pub(super) use crate::registry::StoredReferrer as RawReferrer;

/// The first line where `file` differs from `canonical`: its 1-based number, the line as
/// written by supplygate and the line in the file, each shortened for a message.
pub(super) fn first_difference(canonical: &str, file: &[u8]) -> (usize, String, String) {
    const SHOWN: usize = 200;
    let shorten = |line: Option<&str>| match line {
        None => "end of file".to_owned(),
        Some(line) => {
            let line = line.trim();
            match line.char_indices().nth(SHOWN) {
                Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or_default()),
                None => line.to_owned(),
            }
        }
    };
    let file = String::from_utf8_lossy(file);
    let mut expected = canonical.split('\n');
    let mut found = file.split('\n');
    let mut number = 0;
    loop {
        number += 1;
        let (e, f) = (expected.next(), found.next());
        if e != f || (e.is_none() && f.is_none()) {
            return (number, shorten(e), shorten(f));
        }
    }
}

/// The file format (see docs/lock.md).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLock {
    pub(super) version: u32,
    pub(super) written_at: String,
    pub(super) supplygate: String,
    pub(super) trust: Digest,
    pub(super) policy: Digest,
    pub(super) images: BTreeMap<String, LockedImage>,
    #[serde(default)]
    pub(super) tags: BTreeMap<String, Digest>,
    #[serde(default)]
    pub(super) referrers: BTreeMap<String, Vec<RawReferrer>>,
    #[serde(default)]
    pub(super) objects: BTreeMap<Digest, RawObject>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) media_type: Option<String>,
    pub(super) data: String,
}
