//! Stage (4), discovery: what is attached to a digest, in a registry or an OCI layout —
//! cosign's `sha256-<hex>.sig` tag and Sigstore bundles among the digest's referrers (the OCI
//! referrers API, or its tag fallback). Only finds; [`super::signature`] verifies.
//! [`notation_signatures`] finds Notary Project signatures the same way, for images whose rules
//! name a Notation signer ([`super::notation_stage`] decides them).
//!
//! Requests per digest (a cosign `.sig` with one layer costs its manifest and one payload blob
//! more; each bundle referrer its manifest and its bundle blob):
//!
//! * nothing attached, registry with the referrers API: **2** (`.sig` 404, empty referrers);
//! * nothing attached, registry without it (Debian's `docker-registry` 2.8): **3** for the
//!   first digest of a host (`.sig` 404, referrers 404, referrers tag 404), **2** after that
//!   (a registry whose 404 is an error about the repository: after the first digest of each
//!   repository; see `registry::http::NotFoundScope`).
//!
//! Every manifest and blob is fetched by digest or verified against the digest the registry
//! announces, and cached by the [`Registry`] (one request per distinct thing).

use super::{Candidate, Location, Material};
use crate::reference::{Digest, ImageRef};
use crate::registry::{Descriptor, Referrer, ReferrerSource, Registry, RegistryError};

/// Artifact type of a Notation signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";

/// Media type of a cosign simple-signing layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation with the base64 signature over the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation with the signing certificate (PEM), keyless signatures only.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation with the certificate chain (PEM), keyless signatures only.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation with the Rekor bundle (signed entry timestamp) JSON.
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Media type of a DSSE envelope layer of cosign's `.att` manifest.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// `.att` layer annotation naming the in-toto predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// The media types of a Sigstore bundle (cosign 2.x/3.x attach it as a referrer whose
/// `artifactType` and only layer have one of them).
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];

/// Layers of one `.sig` or `.att` manifest read at most (cosign adds one per signing).
const MAX_SIGNATURE_LAYERS: usize = 64;
/// Largest simple-signing payload read.
const MAX_PAYLOAD_BYTES: usize = super::limits::PAYLOAD_MAX;
/// Bundle referrers read at most per digest.
const MAX_BUNDLES: usize = 64;
/// Largest bundle read.
const MAX_BUNDLE_BYTES: usize = super::limits::BUNDLE_MAX;
/// Largest DSSE envelope read (provenance predicates can be large).
const MAX_ENVELOPE_BYTES: usize = super::limits::BUNDLE_MAX;
/// Notary Project signature referrers read at most per digest.
pub const MAX_NOTATION_SIGNATURES: usize = 64;
/// Largest Notary Project signature envelope read (Notation's own limit is 4 MiB too).
const MAX_NOTATION_ENVELOPE_BYTES: usize = super::limits::NOTATION_ENVELOPE_MAX;

/// Every signature candidate attached to `digest` in `image`'s repository: cosign
/// `sha256-<hex>.sig` layers, and Sigstore bundles from the referrers API (or its tag
/// fallback). A missing `.sig` tag or an empty referrers list is `Ok(vec![])`; any other
/// registry failure is an error (the caller fails closed).
pub async fn signatures(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Candidate>, RegistryError> {
    // The two lookups are independent: send them together.
    let (signed, bundles) = tokio::join!(
        cosign_signatures(registry, image, digest),
        bundle_referrers(registry, image, digest)
    );
    let mut found = signed?;
    found.extend(bundles?);
    Ok(found)
}

/// Every DSSE attestation attached to `digest` with cosign's tag scheme: the layers of
/// `sha256-<hex>.att`. A missing tag is `Ok(vec![])`; any other failure is an error.
/// (Attestations in Sigstore bundles are among [`signatures`]' bundle candidates.)
pub async fn attestations(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Candidate>, RegistryError> {
    let tag = format!("{}.att", digest.tag_prefix());
    let Some((manifest, layers)) = tagged_layers(registry, image, &tag).await? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        if layer.media_type != DSSE_MEDIA_TYPE {
            tracing::debug!(
                "{image}: `{tag}` layer {index} is `{}`, not a DSSE envelope",
                layer.media_type
            );
            continue;
        }
        let envelope = registry
            .blob(image, &layer.digest, MAX_ENVELOPE_BYTES)
            .await?;
        found.push(Candidate {
            location: Location::CosignTag {
                tag: tag.clone(),
                manifest: manifest.clone(),
                layer: index,
            },
            attached_to: digest.clone(),
            material: Material::cosign_layer(envelope, &layer.annotations),
        });
    }
    Ok(found)
}

/// The manifest digest and the first [`MAX_SIGNATURE_LAYERS`] layers of the image manifest
/// tagged `tag`; `None` when there is no such tag.
async fn tagged_layers(
    registry: &Registry,
    image: &ImageRef,
    tag: &str,
) -> Result<Option<(Digest, Vec<Descriptor>)>, RegistryError> {
    let manifest = match registry.derived_manifest(image, tag).await {
        Ok(manifest) => manifest,
        Err(RegistryError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut layers = manifest.image_manifest(image)?.layers;
    if layers.len() > MAX_SIGNATURE_LAYERS {
        tracing::warn!(
            "{image}: `{tag}` has {} layers; reading the first {MAX_SIGNATURE_LAYERS} only",
            layers.len()
        );
        layers.truncate(MAX_SIGNATURE_LAYERS);
    }
    Ok(Some((manifest.digest, layers)))
}

/// Whether `media_type` names a Sigstore bundle (parameters compared without spaces and case).
pub fn is_bundle_media_type(media_type: &str) -> bool {
    let normal: String = media_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    BUNDLE_MEDIA_TYPES.contains(&normal.as_str())
}

/// The layers of cosign's `sha256-<hex>.sig` manifest (the cheap half of [`signatures`]:
/// one tag, one blob per layer; a missing tag is `Ok(vec![])`).
pub async fn cosign_signatures(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Candidate>, RegistryError> {
    let tag = format!("{}.sig", digest.tag_prefix());
    let Some((manifest, layers)) = tagged_layers(registry, image, &tag).await? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            tracing::debug!(
                "{image}: `{tag}` layer {index} is `{}`, not a simple-signing layer",
                layer.media_type
            );
            continue;
        }
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            tracing::debug!("{image}: `{tag}` layer {index} has no `{SIGNATURE_ANNOTATION}`");
            continue;
        };
        let payload = registry
            .blob(image, &layer.digest, MAX_PAYLOAD_BYTES)
            .await?;
        let annotation = |name: &str| layer.annotations.get(name).cloned();
        found.push(Candidate {
            location: Location::CosignTag {
                tag: tag.clone(),
                manifest: manifest.clone(),
                layer: index,
            },
            attached_to: digest.clone(),
            material: Material::SimpleSigning {
                payload,
                signature: signature.clone(),
                certificate: annotation(CERTIFICATE_ANNOTATION),
                chain: annotation(CHAIN_ANNOTATION),
                rekor_bundle: annotation(REKOR_BUNDLE_ANNOTATION),
            },
        });
    }
    Ok(found)
}

/// The Sigstore bundles among the referrers of `digest` (the other half of [`signatures`]: the
/// referrers API or its tag, then each bundle's manifest and blob).
pub async fn bundle_referrers(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Candidate>, RegistryError> {
    let referrers = registry.referrers(image, digest).await?;
    let bundles: Vec<&Referrer> = referrers
        .iter()
        .filter(|r| {
            let listed = listed_artifact_type(&r.descriptor);
            let wanted = is_bundle_media_type(listed);
            if !wanted {
                tracing::debug!(
                    "{image}: referrer `{}` of `{digest}` is `{listed}`, not a Sigstore bundle",
                    r.descriptor.digest
                );
            }
            wanted
        })
        .collect();
    if bundles.len() > MAX_BUNDLES {
        tracing::warn!(
            "{image}: {} bundle referrers of `{digest}`; reading the first {MAX_BUNDLES} only",
            bundles.len()
        );
    }
    let mut found = Vec::new();
    for referrer in bundles.into_iter().take(MAX_BUNDLES) {
        if let Some(candidate) = bundle_candidate(registry, image, digest, referrer).await? {
            found.push(candidate);
        }
    }
    Ok(found)
}

/// Every Notary Project signature among the referrers of `digest` (the referrers API, its tag
/// fallback, or an OCI layout's `index.json`). A signature manifest that does not name
/// `digest` as its subject, is not of the signature artifact type, or does not have exactly
/// one layer (Notation refuses those too) is left out; registry failures are errors.
pub async fn notation_signatures(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Candidate>, RegistryError> {
    notation_signatures_counted(registry, image, digest)
        .await
        .map(|(found, _)| found)
}

/// [`notation_signatures`], with how many Notation signatures the referrers listing names
/// (more than [`MAX_NOTATION_SIGNATURES`]: the rest were not read).
pub async fn notation_signatures_counted(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<(Vec<Candidate>, usize), RegistryError> {
    let referrers = registry.referrers(image, digest).await?;
    let signatures: Vec<&Referrer> = referrers
        .iter()
        .filter(|r| listed_artifact_type(&r.descriptor) == SIGNATURE_ARTIFACT_TYPE)
        .collect();
    let listed_count = signatures.len();
    if signatures.len() > MAX_NOTATION_SIGNATURES {
        tracing::warn!(
            "{image}: {} Notation signatures of `{digest}`; reading the first \
             {MAX_NOTATION_SIGNATURES} only",
            signatures.len()
        );
    }
    let mut found = Vec::new();
    for referrer in signatures.into_iter().take(MAX_NOTATION_SIGNATURES) {
        let listed = &referrer.descriptor;
        let manifest = registry.manifest(image, &listed.digest.to_string()).await?;
        let parsed = manifest.image_manifest(image)?;
        if parsed.subject.as_ref().map(|s| &s.digest) != Some(digest) {
            tracing::debug!(
                "{image}: referrer `{}` does not name `{digest}` as its subject",
                listed.digest
            );
            continue;
        }
        let artifact_type = parsed.effective_artifact_type().to_owned();
        if artifact_type != SIGNATURE_ARTIFACT_TYPE {
            tracing::debug!(
                "{image}: referrer `{}` is `{artifact_type}`, listed as a Notation signature",
                listed.digest
            );
            continue;
        }
        let [layer] = parsed.layers.as_slice() else {
            tracing::debug!(
                "{image}: Notation signature `{}` has {} layers, not one",
                listed.digest,
                parsed.layers.len()
            );
            continue;
        };
        // One oversized envelope (anyone who can push can attach one) is skipped, not a
        // could-not-decide for an image that has a valid signature too.
        let envelope = match registry
            .blob(image, &layer.digest, MAX_NOTATION_ENVELOPE_BYTES)
            .await
        {
            Err(RegistryError::TooLarge { .. }) => {
                tracing::warn!(
                    "{image}: Notation signature `{}` has an envelope over {} bytes; skipped",
                    listed.digest,
                    MAX_NOTATION_ENVELOPE_BYTES
                );
                continue;
            }
            other => other?,
        };
        found.push(Candidate {
            location: referrer_location(referrer, &manifest.digest, artifact_type),
            attached_to: digest.clone(),
            material: Material::Notation {
                media_type: layer.media_type.clone(),
                envelope,
            },
        });
    }
    Ok((found, listed_count))
}

/// Where a referrer was found, as a [`Location`].
fn referrer_location(referrer: &Referrer, manifest: &Digest, artifact_type: String) -> Location {
    match &referrer.source {
        ReferrerSource::Api => Location::Referrers {
            manifest: manifest.clone(),
            artifact_type,
        },
        ReferrerSource::Tag { tag } => Location::ReferrersTag {
            tag: tag.clone(),
            manifest: manifest.clone(),
            artifact_type,
        },
    }
}

/// A referrer listing's artifact type: `artifactType`, else the descriptor's media type.
fn listed_artifact_type(descriptor: &Descriptor) -> &str {
    descriptor
        .artifact_type
        .as_deref()
        .unwrap_or(&descriptor.media_type)
}

/// Reads one bundle referrer: its manifest (verified against the listed digest), which must
/// name `digest` as its subject, and its bundle layer.
async fn bundle_candidate(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    referrer: &Referrer,
) -> Result<Option<Candidate>, RegistryError> {
    let listed = &referrer.descriptor;
    let manifest = registry.manifest(image, &listed.digest.to_string()).await?;
    let parsed = manifest.image_manifest(image)?;
    if parsed.subject.as_ref().map(|s| &s.digest) != Some(digest) {
        // A stale or foreign entry of a referrers tag: not attached to this digest.
        tracing::debug!(
            "{image}: referrer `{}` does not name `{digest}` as its subject",
            listed.digest
        );
        return Ok(None);
    }
    let artifact_type = parsed.effective_artifact_type().to_owned();
    let Some(layer) = parsed
        .layers
        .iter()
        .find(|l| is_bundle_media_type(&l.media_type))
    else {
        tracing::debug!(
            "{image}: referrer `{}` (`{artifact_type}`) has no bundle layer",
            listed.digest
        );
        return Ok(None);
    };
    let json = registry
        .blob(image, &layer.digest, MAX_BUNDLE_BYTES)
        .await?;
    let location = referrer_location(referrer, &manifest.digest, artifact_type);
    Ok(Some(Candidate {
        location,
        attached_to: digest.clone(),
        material: Material::Bundle {
            json,
            media_type: layer.media_type.clone(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::testserver::{Reply, Request, Server};

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    const EMPTY_CONFIG: &str = r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;

    fn client(server: &Server) -> Registry {
        Registry::new(server.settings()).unwrap()
    }

    /// A referrer manifest of `artifact_type` with one layer `layer` attached to `subject`.
    fn referrer_manifest(artifact_type: &str, layer: &Descriptor, subject: &Digest) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact_type}","config":{EMPTY_CONFIG},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":100}}}}"#,
            layer.media_type, layer.digest, layer.size
        )
    }

    fn descriptor(media_type: &str, body: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::sha256_of(body),
            size: body.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn finds_bundle_through_the_referrers_api_and_ignores_other_artifacts() {
        let subject = Digest::sha256_of(b"the image manifest");
        let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec();
        let bundle_layer = descriptor(BUNDLE_MEDIA_TYPES[0], &bundle);
        let bundle_manifest = referrer_manifest(BUNDLE_MEDIA_TYPES[0], &bundle_layer, &subject);
        let bundle_digest = Digest::sha256_of(bundle_manifest.as_bytes());
        let sbom_digest = Digest::sha256_of(b"an sbom manifest, never fetched");
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{sbom_digest}","size":10,"artifactType":"application/spdx+json"}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{bundle_digest}","size":{},"artifactType":"{}",
                "annotations":{{"dev.sigstore.bundle.content":"message-signature"}}}}]}}"#,
            bundle_manifest.len(),
            BUNDLE_MEDIA_TYPES[0]
        );
        let server = Server::start({
            let referrers_path = format!("/v2/app/referrers/{subject}");
            let manifest_path = format!("/v2/app/manifests/{bundle_digest}");
            let blob_path = format!("/v2/app/blobs/{}", bundle_layer.digest);
            let bundle = bundle.clone();
            move |r: &Request| match r.path() {
                p if p == referrers_path => Reply::body(200, index.clone())
                    .header("Content-Type", OCI_INDEX)
                    .header("OCI-Filters-Applied", "artifactType"),
                p if p == manifest_path => {
                    Reply::body(200, bundle_manifest.clone()).header("Content-Type", OCI_MANIFEST)
                }
                p if p == blob_path => Reply::body(200, bundle.clone()),
                _ => Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                    .header("Content-Type", "application/json"),
            }
        })
        .await;
        let registry = client(&server);
        let image = ImageRef::parse(&format!("{}/app:v1", server.host())).unwrap();
        let found = signatures(&registry, &image, &subject).await.unwrap();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            found[0].location,
            Location::Referrers {
                manifest: bundle_digest.clone(),
                artifact_type: BUNDLE_MEDIA_TYPES[0].to_owned()
            }
        );
        assert_eq!(found[0].attached_to, subject);
        let Material::Bundle { json, media_type } = &found[0].material else {
            panic!("expected a bundle: {:?}", found[0].material);
        };
        assert_eq!(json, &bundle);
        assert_eq!(media_type, BUNDLE_MEDIA_TYPES[0]);
        let mut paths: Vec<String> = server
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path()))
            .collect();
        paths.sort();
        let mut expected = [
            format!("GET /v2/app/blobs/{}", bundle_layer.digest),
            format!("GET /v2/app/manifests/{bundle_digest}"),
            format!("GET /v2/app/manifests/{}.sig", subject.tag_prefix()),
            format!("GET /v2/app/referrers/{subject}"),
        ];
        expected.sort();
        assert_eq!(paths, expected);
        // Asked again: all cached.
        signatures(&registry, &image, &subject).await.unwrap();
        assert_eq!(registry.stats().requests, 4);
    }

    #[tokio::test]
    async fn skips_referrer_whose_manifest_names_another_subject() {
        let subject = Digest::sha256_of(b"the image manifest");
        let other = Digest::sha256_of(b"another image");
        let bundle = b"{}".to_vec();
        let layer = descriptor(BUNDLE_MEDIA_TYPES[0], &bundle);
        let foreign = referrer_manifest(BUNDLE_MEDIA_TYPES[0], &layer, &other);
        let foreign_digest = Digest::sha256_of(foreign.as_bytes());
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{foreign_digest}","size":1,"artifactType":"{}"}}]}}"#,
            BUNDLE_MEDIA_TYPES[0]
        );
        let server = Server::start(move |r: &Request| {
            if r.path().contains("/referrers/") {
                Reply::body(200, index.clone()).header("Content-Type", OCI_INDEX)
            } else if r.path().ends_with(&foreign_digest.to_string()) {
                Reply::body(200, foreign.clone()).header("Content-Type", OCI_MANIFEST)
            } else {
                Reply::status(404)
            }
        })
        .await;
        let registry = client(&server);
        let image = ImageRef::parse(&format!("{}/app:v1", server.host())).unwrap();
        assert!(signatures(&registry, &image, &subject)
            .await
            .unwrap()
            .is_empty());
        // The bundle blob was never fetched.
        assert!(server
            .requests()
            .iter()
            .all(|r| !r.path().contains("/blobs/")));
    }

    #[tokio::test]
    async fn sig_layer_without_signature_annotation_is_skipped_and_server_error_fails() {
        let subject = Digest::sha256_of(b"the image manifest");
        let payload = b"{\"critical\":{}}".to_vec();
        let payload_digest = Digest::sha256_of(&payload);
        let sig = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{EMPTY_CONFIG},"layers":[
              {{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{payload_digest}","size":{n}}},
              {{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{payload_digest}","size":{n},
                "annotations":{{"{SIGNATURE_ANNOTATION}":"MEUCIQ==","{CERTIFICATE_ANNOTATION}":"PEM"}}}}]}}"#,
            n = payload.len()
        );
        let server = Server::start({
            let payload = payload.clone();
            move |r: &Request| {
                if r.path().ends_with(".sig") {
                    Reply::body(200, sig.clone()).header("Content-Type", OCI_MANIFEST)
                } else if r.path().contains("/blobs/") {
                    Reply::body(200, payload.clone())
                } else if r.path().contains("/broken/") {
                    Reply::status(503)
                } else {
                    Reply::body(404, "404 page not found\n").header("Content-Type", "text/plain")
                }
            }
        })
        .await;
        let registry = client(&server);
        let image = ImageRef::parse(&format!("{}/app:v1", server.host())).unwrap();
        let found = signatures(&registry, &image, &subject).await.unwrap();
        assert_eq!(found.len(), 1, "{found:#?}");
        let Location::CosignTag { tag, layer, .. } = &found[0].location else {
            panic!("{:?}", found[0].location);
        };
        assert_eq!(
            (tag.as_str(), *layer),
            (format!("{}.sig", subject.tag_prefix()).as_str(), 1)
        );
        let Material::SimpleSigning {
            payload: got,
            signature,
            certificate,
            chain,
            rekor_bundle,
        } = &found[0].material
        else {
            panic!("{:?}", found[0].material);
        };
        assert_eq!(got, &payload);
        assert_eq!(signature, "MEUCIQ==");
        assert_eq!(certificate.as_deref(), Some("PEM"));
        assert_eq!((chain, rekor_bundle), (&None, &None));

        let broken = ImageRef::parse(&format!("{}/broken:v1", server.host())).unwrap();
        let err = signatures(&registry, &broken, &subject).await.unwrap_err();
        assert_eq!(err.code(), "registry-unavailable", "{err}");
    }

    /// Issue 15's adversarial suite: a signature lookup the registry refuses (401), answers
    /// with an empty body or 20 MB, or whose payload blob comes back empty fails closed with
    /// its code, never as "no signatures".
    #[tokio::test]
    async fn signature_lookups_answered_with_401_empty_or_huge_bodies_fail_closed() {
        let subject = Digest::sha256_of(b"the image manifest");
        let payload = b"{\"critical\":{}}".to_vec();
        let payload_digest = Digest::sha256_of(&payload);
        let sig = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{EMPTY_CONFIG},"layers":[
              {{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{payload_digest}","size":{n},
                "annotations":{{"{SIGNATURE_ANNOTATION}":"MEUCIQ=="}}}}]}}"#,
            n = payload.len()
        );
        let server = Server::start(move |r: &Request| {
            let path = r.path();
            if path.contains("/private/") {
                Reply::status(401).header("WWW-Authenticate", r#"Basic realm="registry""#)
            } else if path.contains("/referrers/") {
                Reply::body(404, "404 page not found\n").header("Content-Type", "text/plain")
            } else if path.starts_with("/v2/huge/") && path.ends_with(".sig") {
                Reply::body(200, vec![b' '; 20 << 20]).header("Content-Type", OCI_MANIFEST)
            } else if path.starts_with("/v2/empty/") && path.ends_with(".sig") {
                Reply::body(200, "").header("Content-Type", OCI_MANIFEST)
            } else if path.ends_with(".sig") {
                Reply::body(200, sig.clone()).header("Content-Type", OCI_MANIFEST)
            } else if path.contains("/blobs/") {
                Reply::body(200, "")
            } else {
                Reply::body(404, "404 page not found\n").header("Content-Type", "text/plain")
            }
        })
        .await;
        let registry = client(&server);
        for (repo, code) in [
            ("private", "registry-unauthorized"),
            ("empty", "invalid-registry-response"),
            ("emptyblob", "digest-mismatch"),
            ("huge", "manifest-too-large"),
        ] {
            let image = ImageRef::parse(&format!("{}/{repo}:v1", server.host())).unwrap();
            let err = signatures(&registry, &image, &subject).await.unwrap_err();
            assert_eq!(err.code(), code, "{repo}: {err}");
        }
    }

    #[test]
    fn recognises_every_bundle_media_type_spelling() {
        for t in BUNDLE_MEDIA_TYPES {
            assert!(is_bundle_media_type(t), "{t}");
        }
        assert!(is_bundle_media_type(
            "application/vnd.dev.sigstore.bundle+json; version=0.3"
        ));
        assert!(!is_bundle_media_type(
            "application/vnd.dev.sigstore.bundle.v0.4+json"
        ));
        assert!(!is_bundle_media_type("application/vnd.in-toto+json"));
        assert!(!is_bundle_media_type(SIMPLE_SIGNING_MEDIA_TYPE));
    }
}
