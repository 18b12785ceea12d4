//! Stage (3): manifest media types, and the little of a manifest body the registry stage reads
//! (its media type and, for an index, the platform manifests).
//!
//! The structs here are our own, not `oci_client::manifest::OciImageIndex`: we need only four
//! fields and want to read them leniently (a Docker manifest list is not an OCI index to the
//! letter), and `oci_spec`'s `Arch` maps some names lossily (`armbe` comes back as `arm64be`),
//! while a report must show the platform exactly as the registry wrote it.

/// OCI image index.
pub(crate) const OCI_IMAGE_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub(crate) const OCI_IMAGE_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list.
pub(crate) const IMAGE_MANIFEST_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest v2 schema 2.
pub(crate) const IMAGE_MANIFEST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.v2+json";

use std::collections::BTreeMap;

use super::{Descriptor, ImageManifest, Platform};
use crate::errors::Cause;
use crate::reference::Digest;

/// Why a body is not the manifest or index expected: our words, and the JSON reader's error
/// behind them, if any (the caller makes it an `InvalidResponse` or `Layout` error).
#[derive(Debug, Clone)]
pub(crate) struct Invalid {
    /// What is wrong, in our words.
    pub(crate) reason: String,
    /// The JSON reader's error.
    pub(crate) source: Option<Cause>,
}

impl Invalid {
    fn json(reason: &str, error: serde_json::Error) -> Self {
        Self {
            reason: reason.to_owned(),
            source: Some(Cause::new(error)),
        }
    }

    /// The reason after `context` (`context: reason`).
    pub(crate) fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            reason: format!("{context}: {}", self.reason),
            source: self.source,
        }
    }
}

impl From<String> for Invalid {
    fn from(reason: String) -> Self {
        Self {
            reason,
            source: None,
        }
    }
}

/// Platform manifests accepted in one index: real ones list a handful; every platform costs
/// signature lookups, so a hostile index must not fan out without bound.
pub(crate) const MAX_PLATFORMS: usize = 128;

/// The manifest types we ask for, best first: OCI and Docker, index and single manifest.
pub(crate) const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
];

/// The `Accept` header of a manifest request.
pub(crate) fn manifest_accept() -> String {
    ACCEPTED_MANIFEST_TYPES.join(", ")
}

/// Whether `media_type` is an index (OCI image index or Docker manifest list).
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_IMAGE_INDEX_MEDIA_TYPE || media_type == IMAGE_MANIFEST_LIST_MEDIA_TYPE
}

/// A `Content-Type` without its parameters (`; charset=utf-8`), lowercased.
pub(crate) fn bare_content_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What a manifest body says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedManifest {
    /// From the body's `mediaType`, else the `Content-Type`, else inferred from the fields.
    pub(crate) media_type: String,
    /// For an index, every entry a runtime could select: entries without a `platform` (or with
    /// `platform: null`) count too, with an empty os and architecture, since containerd keeps
    /// them (sorted last). Only buildkit's attestation manifests are left out, `unknown/unknown`
    /// entries annotated `vnd.docker.reference.type: attestation-manifest`: no runtime selects
    /// an `unknown` os, and one without that annotation still counts.
    pub(crate) platforms: Vec<Platform>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    manifests: Option<Vec<RawEntry>>,
    config: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    digest: String,
    platform: Option<RawPlatform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// The annotation buildkit puts on the attestation manifests of an index.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";

impl RawEntry {
    /// A buildkit attestation manifest: no runtime ever selects it.
    fn is_attestation_manifest(&self) -> bool {
        self.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
            && self
                .annotations
                .as_ref()
                .and_then(|a| a.get(REFERENCE_TYPE))
                .is_some_and(|t| t == "attestation-manifest")
    }
}

#[derive(serde::Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Reads a manifest body. The error is a reason for `InvalidResponse` / `Layout`.
pub(crate) fn parse_manifest(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<ParsedManifest, Invalid> {
    let raw: RawManifest = serde_json::from_slice(body)
        .map_err(|e| Invalid::json("manifest is not a JSON manifest object", e))?;
    match raw
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
    {
        Some(2) => {}
        Some(1) => {
            return Err(
                "Docker schema 1 manifests are not supported (push the image again \
                        with a current client to get a schema 2 manifest)"
                    .to_owned()
                    .into(),
            )
        }
        Some(v) => return Err(format!("unsupported `schemaVersion` {v}").into()),
        None => return Err("manifest has no numeric `schemaVersion`".to_owned().into()),
    }
    let from_header = content_type
        .map(bare_content_type)
        .filter(|t| ACCEPTED_MANIFEST_TYPES.contains(&t.as_str()));
    let media_type = match (raw.media_type, from_header) {
        (Some(t), _) => t,
        (None, Some(t)) => t,
        (None, None) if raw.manifests.is_some() => OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned(),
        (None, None) if raw.config.is_some() => OCI_IMAGE_MEDIA_TYPE.to_owned(),
        (None, None) => return Err("cannot tell the manifest's media type".to_owned().into()),
    };
    let mut platforms = Vec::new();
    if is_index(&media_type) {
        let entries = raw
            .manifests
            .ok_or_else(|| format!("`{media_type}` without a `manifests` list"))?;
        for entry in entries {
            let digest = Digest::parse(&entry.digest)
                .map_err(|_| format!("invalid digest `{}` in the index", entry.digest))?;
            if entry.is_attestation_manifest() {
                continue;
            }
            if platforms.len() == MAX_PLATFORMS {
                return Err(format!(
                    "the index lists more than {MAX_PLATFORMS} platform manifests"
                )
                .into());
            }
            platforms.push(match entry.platform {
                Some(platform) => Platform {
                    os: platform.os,
                    architecture: platform.architecture,
                    variant: platform.variant.filter(|v| !v.is_empty()),
                    digest,
                },
                None => Platform {
                    os: String::new(),
                    architecture: String::new(),
                    variant: None,
                    digest,
                },
            });
        }
    }
    Ok(ParsedManifest {
        media_type,
        platforms,
    })
}

/// A descriptor as written (strings unchecked).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: u64,
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

impl RawDescriptor {
    fn check(self, what: &str) -> Result<Descriptor, String> {
        let digest = Digest::parse(&self.digest)
            .map_err(|_| format!("invalid digest `{}` in {what}", self.digest))?;
        let media_type = self
            .media_type
            .ok_or_else(|| format!("descriptor `{digest}` in {what} has no `mediaType`"))?;
        Ok(Descriptor {
            media_type,
            digest,
            size: self.size,
            artifact_type: self.artifact_type.filter(|t| !t.is_empty()),
            annotations: self.annotations.unwrap_or_default(),
        })
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawImageManifest {
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: RawDescriptor,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct RawIndex {
    manifests: Vec<RawDescriptor>,
}

/// Reads the fields of an image manifest (OCI or Docker schema 2) that attached artifacts
/// use. `media_type` is the one already established for the body ([`parse_manifest`]).
pub(crate) fn parse_image_manifest(
    body: &[u8],
    media_type: &str,
) -> Result<ImageManifest, Invalid> {
    if is_index(media_type) {
        return Err(format!("expected an image manifest, found an index (`{media_type}`)").into());
    }
    let raw: RawImageManifest =
        serde_json::from_slice(body).map_err(|e| Invalid::json("not an image manifest", e))?;
    let config = raw.config.check("`config`")?;
    let layers = raw
        .layers
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.check("`layers`"))
        .collect::<Result<Vec<_>, _>>()?;
    let subject = raw.subject.map(|s| s.check("`subject`")).transpose()?;
    Ok(ImageManifest {
        media_type: raw.media_type.unwrap_or_else(|| media_type.to_owned()),
        artifact_type: raw.artifact_type.filter(|t| !t.is_empty()),
        config,
        layers,
        subject,
        annotations: raw.annotations.unwrap_or_default(),
    })
}

/// Reads the `manifests` of an OCI image index (a referrers answer or a referrers tag).
pub(crate) fn parse_index_descriptors(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Vec<Descriptor>, Invalid> {
    let parsed = parse_manifest(body, content_type)?;
    if parsed.media_type != OCI_IMAGE_INDEX_MEDIA_TYPE {
        return Err(format!("expected an OCI image index, found `{}`", parsed.media_type).into());
    }
    let raw: RawIndex =
        serde_json::from_slice(body).map_err(|e| Invalid::json("not an image index", e))?;
    Ok(raw
        .manifests
        .into_iter()
        .map(|d| d.check("the index"))
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
    const B: &str = "sha256:4fda8d2584a49b7e717560ae8b7c4939e847c56516a00e718f5b7a602ebf3d3b";

    #[test]
    fn lists_platforms_of_an_index_and_skips_attestation_entries() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{A}","size":1,
                "platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{B}","size":1,
                "platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{B}","size":1,
                "platform":{{"os":"unknown","architecture":"unknown"}},
                "annotations":{{"vnd.docker.reference.type":"attestation-manifest",
                  "vnd.docker.reference.digest":"{A}"}}}}]}}"#
        );
        let parsed = parse_manifest(body.as_bytes(), None).unwrap();
        assert_eq!(parsed.media_type, OCI_IMAGE_INDEX_MEDIA_TYPE);
        assert_eq!(parsed.platforms.len(), 2);
        assert_eq!(parsed.platforms[0].architecture, "amd64");
        assert_eq!(parsed.platforms[0].variant, None);
        assert_eq!(parsed.platforms[1].variant.as_deref(), Some("v8"));
        assert_eq!(parsed.platforms[1].digest.to_string(), B);
    }

    /// Issue 15, hole 1: containerd selects entries without a platform (sorted last), so they
    /// must be checked like any other; so must `unknown/unknown` without buildkit's annotation.
    #[test]
    fn counts_entries_without_a_platform_or_unknown_without_the_attestation_annotation() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{A}","size":1}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{B}","size":1,
                "platform":null}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{A}","size":1,
                "platform":{{"os":"unknown","architecture":"unknown"}},
                "annotations":{{"vnd.docker.reference.type":"attestation-manifest-not"}}}}]}}"#
        );
        let parsed = parse_manifest(body.as_bytes(), None).unwrap();
        let names: Vec<String> = parsed.platforms.iter().map(Platform::name).collect();
        assert_eq!(names, ["(no platform)", "(no platform)", "unknown/unknown"]);
        assert_eq!(parsed.platforms[1].digest.to_string(), B);
    }

    #[test]
    fn refuses_an_index_that_fans_out_to_too_many_platforms() {
        let entry = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{A}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}"#
        );
        let many = |n: usize| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
                vec![entry.as_str(); n].join(",")
            )
        };
        assert_eq!(
            parse_manifest(many(MAX_PLATFORMS).as_bytes(), None)
                .unwrap()
                .platforms
                .len(),
            MAX_PLATFORMS
        );
        let err = parse_manifest(many(MAX_PLATFORMS + 1).as_bytes(), None).unwrap_err();
        assert!(err.reason.contains("more than 128"), "{err:?}");
    }

    #[test]
    fn takes_media_type_from_content_type_when_body_has_none() {
        let body = br#"{"schemaVersion":2,"manifests":[]}"#;
        let parsed = parse_manifest(
            body,
            Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(parsed.media_type, IMAGE_MANIFEST_LIST_MEDIA_TYPE);
    }

    #[test]
    fn infers_single_manifest_from_config_field() {
        let body = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let parsed = parse_manifest(body, Some("application/octet-stream")).unwrap();
        assert_eq!(parsed.media_type, OCI_IMAGE_MEDIA_TYPE);
        assert!(parsed.platforms.is_empty());
    }

    #[test]
    fn rejects_garbage_schema_one_and_bad_index_digests() {
        for garbage in [&b"<html>oops</html>"[..], b"[1,2]"] {
            let e = parse_manifest(garbage, None).unwrap_err();
            assert_eq!(e.reason, "manifest is not a JSON manifest object", "{e:?}");
            // The JSON reader's error is kept typed, as the cause.
            let json = e
                .source
                .as_deref()
                .and_then(|s| s.downcast_ref::<serde_json::Error>());
            assert!(json.is_some(), "{e:?}");
        }
        let v1 = br#"{"schemaVersion":1,"name":"x"}"#;
        assert!(parse_manifest(v1, None)
            .unwrap_err()
            .reason
            .contains("schema 1"));
        let bad = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[{"digest":"sha256:nothex","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        assert!(parse_manifest(bad, None)
            .unwrap_err()
            .reason
            .contains("invalid digest"));
    }

    #[test]
    fn accept_header_names_all_four_manifest_types() {
        let accept = manifest_accept();
        for t in ACCEPTED_MANIFEST_TYPES {
            assert!(accept.contains(t));
        }
        assert_eq!(accept.matches(", ").count(), 3);
    }
}
