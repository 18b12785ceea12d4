//! The registry's content store: what it learnt, addressed by content — manifests and blobs
//! by digest, tag answers (`host/repository:tag` -> digest) and referrers listings
//! (`host/repository@digest` -> listing).
//!
//! The [`super::Registry`] records into a store while it fetches (for an evidence lock or the
//! verification cache) and can answer from one instead of the network (replaying a lock or a
//! cache entry). A store is only a set of answers: every object read from it is checked
//! against its digest as a network answer is ([`Store::object_verified`]), and everything
//! else is re-verified by the stages that use it. The lock and the cache only serialise it.

use std::collections::BTreeMap;

use super::{Descriptor, Referrer, ReferrerSource, RegistryError};
use crate::reference::{Digest, ImageRef};

/// One stored object: a manifest or a blob, as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The manifest's media type; `None` for a blob.
    pub media_type: Option<String>,
    /// The bytes (not yet checked against their digest: [`Store::object_verified`] checks
    /// them on use).
    pub data: Vec<u8>,
}

/// Tag answers, referrers listings and objects. Negative answers (a tag the registry does not
/// have) are kept apart ([`Store::missing_tags`]): a lock leaves them out (absent means not
/// found), the cache keeps them for the signature tags of a digest it vouches for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    /// `host/repository:tag` -> digest.
    pub tags: BTreeMap<String, Digest>,
    /// `host/repository:tag` the registry answered "not found" for.
    pub missing_tags: std::collections::BTreeSet<String>,
    /// `host/repository@digest` -> the referrers listed for it.
    pub referrers: BTreeMap<String, Vec<Referrer>>,
    /// Manifests and blobs by digest.
    pub objects: BTreeMap<Digest, Object>,
}

impl Store {
    /// `host/repository:tag`, the key of a tag answer.
    pub fn tag_key(image: &ImageRef, tag: &str) -> String {
        format!("{}/{}:{tag}", image.registry(), image.repository())
    }

    /// `host/repository@digest`, the key of a referrers listing.
    pub fn referrers_key(image: &ImageRef, digest: &Digest) -> String {
        format!("{}/{}@{digest}", image.registry(), image.repository())
    }

    /// Records that `image`'s `tag` names `digest`.
    pub fn insert_tag(&mut self, image: &ImageRef, tag: &str, digest: &Digest) {
        let key = Self::tag_key(image, tag);
        self.missing_tags.remove(&key);
        self.tags.insert(key, digest.clone());
    }

    /// Records that the registry has no `tag` for `image`.
    pub fn insert_missing_tag(&mut self, image: &ImageRef, tag: &str) {
        let key = Self::tag_key(image, tag);
        if !self.tags.contains_key(&key) {
            self.missing_tags.insert(key);
        }
    }

    /// Records an object (the first copy of a digest is kept).
    pub fn insert_object(&mut self, digest: &Digest, media_type: Option<&str>, data: &[u8]) {
        self.objects
            .entry(digest.clone())
            .or_insert_with(|| Object {
                media_type: media_type.map(str::to_owned),
                data: data.to_vec(),
            });
    }

    /// Records the referrers listing of `digest`.
    pub fn insert_referrers(&mut self, image: &ImageRef, digest: &Digest, found: &[Referrer]) {
        self.referrers
            .insert(Self::referrers_key(image, digest), found.to_vec());
    }

    /// The digest recorded for `image`'s `tag`.
    pub fn tag(&self, image: &ImageRef, tag: &str) -> Option<&Digest> {
        self.tags.get(&Self::tag_key(image, tag))
    }

    /// Whether the registry answered "not found" for `image`'s `tag`.
    pub fn tag_missing(&self, image: &ImageRef, tag: &str) -> bool {
        self.missing_tags.contains(&Self::tag_key(image, tag))
    }

    /// The stored object named `digest`, unchecked.
    pub fn object(&self, digest: &Digest) -> Option<&Object> {
        self.objects.get(digest)
    }

    /// The stored object named `digest`, checked against it and against `limit` bytes;
    /// `Ok(None)` when absent.
    pub fn object_verified(
        &self,
        image: &ImageRef,
        digest: &Digest,
        limit: usize,
    ) -> Result<Option<&Object>, RegistryError> {
        let Some(object) = self.objects.get(digest) else {
            return Ok(None);
        };
        if object.data.len() > limit {
            return Err(RegistryError::TooLarge {
                image: image.to_string(),
                limit,
            });
        }
        let actual = digest.same_algorithm_of(&object.data);
        if actual != *digest {
            return Err(RegistryError::DigestMismatch {
                image: image.to_string(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(Some(object))
    }

    /// The referrers listing recorded for `digest` in `image`'s repository.
    pub fn referrers(&self, image: &ImageRef, digest: &Digest) -> Option<&[Referrer]> {
        self.referrers
            .get(&Self::referrers_key(image, digest))
            .map(Vec::as_slice)
    }

    /// Adds everything `other` holds that this store does not.
    pub fn merge(&mut self, other: Self) {
        for (key, digest) in other.tags {
            self.missing_tags.remove(&key);
            self.tags.entry(key).or_insert(digest);
        }
        for key in other.missing_tags {
            if !self.tags.contains_key(&key) {
                self.missing_tags.insert(key);
            }
        }
        for (key, listing) in other.referrers {
            self.referrers.entry(key).or_insert(listing);
        }
        for (digest, object) in other.objects {
            self.objects.entry(digest).or_insert(object);
        }
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.missing_tags.is_empty()
            && self.referrers.is_empty()
            && self.objects.is_empty()
    }
}

/// A referrers listing entry: the descriptor and where the listing came from.
///
/// The form an evidence lock and the verification cache write a [`Referrer`] in.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StoredReferrer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `api`, or the referrers tag it was read from.
    pub via: String,
}

impl From<&Referrer> for StoredReferrer {
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

impl TryFrom<StoredReferrer> for Referrer {
    /// The unknown `via`.
    type Error = String;

    fn try_from(r: StoredReferrer) -> Result<Self, String> {
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
