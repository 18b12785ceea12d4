//! Red-team findings on the verification cache (branch cachefix): what the registry client
//! may take from a [`Recall`] and what it must always ask.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::{Object, Recall, Referrer, Registry};

use crate::common::{client_settings, GeneratedImage, TestRegistry, OCI_MANIFEST};

/// A cache that answers every tag with `digest` and keeps `digest`'s manifest: what a planted
/// or stale verification cache could say.
#[derive(Debug)]
struct Claims {
    digest: Digest,
    manifest: Vec<u8>,
}

impl Recall for Claims {
    fn object(&self, digest: &Digest) -> Option<Object> {
        (*digest == self.digest).then(|| Object {
            media_type: Some(OCI_MANIFEST.to_owned()),
            data: self.manifest.clone(),
        })
    }
    fn tag(&self, _: &ImageRef, _: &str) -> Option<Option<Digest>> {
        Some(Some(self.digest.clone()))
    }
    fn referrers(&self, _: &ImageRef, _: &Digest) -> Option<Vec<Referrer>> {
        None
    }
}

fn client(registry: &TestRegistry, recall: Arc<dyn Recall>) -> Registry {
    Registry::new(client_settings(registry))
        .unwrap()
        .with_recall(recall)
}

/// repro/5: an image's own tag spelled like a derived tag (`app:sha256-<hex of X>`) is asked
/// of the registry, never answered from the cache, also after discovery recalled the same
/// spelling in the same run.
#[tokio::test]
async fn an_image_tag_spelled_like_a_derived_tag_is_always_asked_of_the_registry() {
    let registry = TestRegistry::start();
    let signed = registry.push_generated("team/app:signed", 1);
    let signed = Digest::parse(&signed).unwrap();
    let tag = signed.tag_prefix();
    // The tag now names another (unsigned) image.
    let moved = registry.push_generated(&format!("team/app:{tag}"), 2);
    let recall = Arc::new(Claims {
        digest: signed.clone(),
        manifest: GeneratedImage::new("seed 1", "amd64", None).manifest,
    });
    let image = ImageRef::parse(&registry.image(&format!("team/app:{tag}"))).unwrap();

    // Discovery's derived lookup may be answered from the cache...
    let first = client(&registry, recall.clone());
    let derived = first.derived_manifest(&image, &tag).await.unwrap();
    assert_eq!(derived.digest, signed);
    assert_eq!(first.stats().requests, 0);
    // ...the resolution of the image's own tag never: it names what the kubelet pulls.
    let resolved = first.resolve(&image).await.unwrap();
    assert_eq!(resolved.digest.to_string(), moved);
    assert!(first.stats().requests > 0);
    // Nor `manifest` by tag.
    let second = client(&registry, recall);
    let by_tag = second.manifest(&image, &tag).await.unwrap();
    assert_eq!(by_tag.digest.to_string(), moved);
}
