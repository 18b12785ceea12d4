//! The lock file format (see docs/lock.md) and its canonical form.

use std::collections::BTreeMap;

use super::LockedImage;
use crate::reference::Digest;
use crate::registry::{Descriptor, Referrer, ReferrerSource};

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

/// A referrers listing entry: the descriptor and where the listing came from.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReferrer {
    pub(super) media_type: String,
    pub(super) digest: Digest,
    pub(super) size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
    /// `api`, or the referrers tag it was read from.
    pub(super) via: String,
}

impl From<&Referrer> for RawReferrer {
    fn from(r: &Referrer) -> Self {
        Self {
            media_type: r.descriptor.media_type.clone(),
            digest: r.descriptor.digest.clone(),
            size: r.descriptor.size,
            artifact_type: r.descriptor.artifact_type.clone(),
            annotations: r.descriptor.annotations.clone(),
            via: match &r.source {
                ReferrerSource::Api => "api".to_owned(),
                ReferrerSource::Tag { tag } => format!("tag {tag}"),
            },
        }
    }
}

impl TryFrom<RawReferrer> for Referrer {
    /// The unknown `via`.
    type Error = String;

    fn try_from(r: RawReferrer) -> Result<Self, String> {
        let source = match r.via.as_str() {
            "api" => ReferrerSource::Api,
            via => match via.strip_prefix("tag ") {
                Some(tag) if !tag.is_empty() && !tag.contains(char::is_whitespace) => {
                    ReferrerSource::Tag {
                        tag: tag.to_owned(),
                    }
                }
                _ => return Err(r.via),
            },
        };
        Ok(Self {
            descriptor: Descriptor {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                artifact_type: r.artifact_type,
                annotations: r.annotations,
            },
            source,
        })
    }
}
