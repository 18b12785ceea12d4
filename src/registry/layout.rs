//! Stage (3): the OCI image layout backend, an offline stand-in for a registry host.
//!
//! A host's `layout` path is either one layout (an `oci-layout` file and `index.json`), whose
//! `org.opencontainers.image.ref.name` annotations name tags (`v1`, `repo:v1` or
//! `host/repo:v1`; a bare tag matches every repository of the host), or a directory of
//! layouts per repository (`<path>/<repository>/index.json`). Digests resolve to
//! `blobs/<algorithm>/<hex>`, read within a size limit and verified against their digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{media, Descriptor, RegistryError};
use crate::reference::{Digest, ImageRef};

/// The annotation that names a tag in `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The largest `index.json` read (a layout may hold many tags).
const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;
/// The largest `oci-layout` marker read (it is `{"imageLayoutVersion": "1.0.0"}`).
const MAX_MARKER_BYTES: u64 = 64 * 1024;
/// Manifests of `index.json` read at most when looking for referrers by `subject`.
const MAX_SCANNED_MANIFESTS: usize = 256;

#[derive(serde::Deserialize)]
struct LayoutMarker {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

#[derive(serde::Deserialize)]
struct LayoutIndex {
    #[serde(default)]
    manifests: Vec<LayoutEntry>,
}

#[derive(serde::Deserialize)]
struct LayoutEntry {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A blob read from a layout and verified.
#[derive(Debug)]
pub(crate) struct LayoutBlob {
    pub(crate) digest: Digest,
    pub(crate) body: Vec<u8>,
    /// The media type of the `index.json` entry, when the blob was found through one.
    pub(crate) media_type: Option<String>,
}

/// The layout directory that serves `image` under the host's `root`.
async fn layout_dir(root: &Path, image: &ImageRef) -> Result<PathBuf, RegistryError> {
    if is_layout(root).await? {
        return Ok(root.to_path_buf());
    }
    if !tokio::fs::metadata(root).await.is_ok_and(|m| m.is_dir()) {
        return Err(layout_error(root, "no such directory"));
    }
    // Repository components are `[a-z0-9]` separated by `.`, `_` or `-`: never `..`.
    let per_repository = root.join(image.repository());
    if is_layout(&per_repository).await? {
        return Ok(per_repository);
    }
    tracing::debug!(
        "{image}: neither `{}` nor `{}` is an OCI layout",
        root.display(),
        per_repository.display()
    );
    Err(RegistryError::NotFound {
        image: image.to_string(),
    })
}

async fn is_layout(dir: &Path) -> Result<bool, RegistryError> {
    let marker = dir.join("oci-layout");
    let bytes = match read_bounded(&marker, MAX_MARKER_BYTES).await {
        Ok(Some(bytes)) => bytes,
        _ => return Ok(false),
    };
    let marker_json: LayoutMarker = serde_json::from_slice(&bytes)
        .map_err(|e| layout_error(&marker, "not an `oci-layout` file").because(e))?;
    if !marker_json.image_layout_version.starts_with("1.") {
        return Err(layout_error(
            &marker,
            &format!(
                "unsupported `imageLayoutVersion` `{}`",
                marker_json.image_layout_version
            ),
        ));
    }
    Ok(true)
}

fn layout_error(path: &Path, reason: &str) -> RegistryError {
    RegistryError::layout(path, reason)
}

async fn read_index(dir: &Path) -> Result<LayoutIndex, RegistryError> {
    let path = dir.join("index.json");
    let bytes = read_bounded(&path, MAX_INDEX_BYTES)
        .await?
        .ok_or_else(|| layout_error(&path, "missing `index.json`"))?;
    serde_json::from_slice(&bytes).map_err(|e| layout_error(&path, "invalid JSON").because(e))
}

/// `Ok(None)` when the file does not exist. Through [`crate::bounded::read_file`]: at most
/// `limit` bytes are read, and a FIFO or device in a file's place is refused, never waited
/// on.
async fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
    match read_file(path, limit).await? {
        Read::Bytes(bytes) => Ok(Some(bytes)),
        Read::Missing => Ok(None),
        Read::TooLarge => Err(layout_error(
            path,
            &format!("larger than the limit of {limit} bytes"),
        )),
    }
}

/// What [`read_file`] found.
enum Read {
    Bytes(Vec<u8>),
    Missing,
    TooLarge,
}

/// [`crate::bounded::read_file`] off the async threads.
async fn read_file(path: &Path, limit: u64) -> Result<Read, RegistryError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || crate::bounded::read_file(&owned, limit)).await;
    match read {
        Ok(Ok(Some(bytes))) => Ok(Read::Bytes(bytes)),
        Ok(Ok(None)) => Ok(Read::TooLarge),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Read::Missing),
        Ok(Err(e)) => Err(layout_error(path, "cannot read").because(e)),
        Err(e) => Err(layout_error(path, "cannot read").because(e)),
    }
}

/// How well a ref name matches `image` with `tag`: 3 `host/repo:tag`, 2 `repo:tag`, 1 `tag`.
fn match_rank(ref_name: &str, image: &ImageRef, tag: &str) -> Option<u8> {
    if ref_name == tag {
        return Some(1);
    }
    let last_slash = ref_name.rfind('/').map_or(0, |i| i + 1);
    let colon = last_slash + ref_name.get(last_slash..)?.rfind(':')?;
    let (name, ref_tag) = (ref_name.get(..colon)?, ref_name.get(colon + 1..)?);
    if ref_tag != tag {
        return None;
    }
    if name == image.repository() {
        return Some(2);
    }
    if name == format!("{}/{}", image.registry(), image.repository()) {
        return Some(3);
    }
    // Spellings such as `nginx:1` or `index.docker.io/library/nginx:1`, normalised.
    let parsed = ImageRef::parse(ref_name).ok()?;
    if parsed.repository() != image.repository() {
        return None;
    }
    if parsed.registry() == image.registry() {
        let names_host = name.contains('/') && {
            let first = name.split('/').next().unwrap_or_default();
            first.contains('.') || first.contains(':') || first == "localhost"
        };
        return Some(if names_host { 3 } else { 2 });
    }
    None
}

/// The digest `tag` names in the layout of `image`.
pub(crate) async fn tag_digest(
    root: &Path,
    image: &ImageRef,
    tag: &str,
) -> Result<(Digest, Option<String>), RegistryError> {
    let dir = layout_dir(root, image).await?;
    let index = read_index(&dir).await?;
    let index_path = dir.join("index.json");
    let mut best: Option<(u8, &LayoutEntry)> = None;
    for entry in &index.manifests {
        let Some(name) = entry.annotations.get(REF_NAME) else {
            continue;
        };
        let Some(rank) = match_rank(name, image, tag) else {
            continue;
        };
        match best {
            Some((best_rank, best_entry)) if best_rank == rank => {
                if best_entry.digest != entry.digest {
                    return Err(layout_error(
                        &index_path,
                        &format!("tag `{tag}` names two different manifests"),
                    ));
                }
            }
            Some((best_rank, _)) if best_rank > rank => {}
            _ => best = Some((rank, entry)),
        }
    }
    let Some((_, entry)) = best else {
        return Err(RegistryError::NotFound {
            image: image.to_string(),
        });
    };
    let digest = Digest::parse(&entry.digest).map_err(|_| {
        layout_error(
            &index_path,
            &format!("invalid digest `{}` for tag `{tag}`", entry.digest),
        )
    })?;
    Ok((digest, entry.media_type.clone()))
}

/// The blob `digest` of `image`'s layout, at most `limit` bytes, verified.
pub(crate) async fn blob(
    root: &Path,
    image: &ImageRef,
    digest: &Digest,
    limit: usize,
) -> Result<LayoutBlob, RegistryError> {
    let dir = layout_dir(root, image).await?;
    let text = digest.to_string();
    let (algorithm, hex) = text.split_once(':').unwrap_or_default();
    let path = dir.join("blobs").join(algorithm).join(hex);
    let too_large = || RegistryError::TooLarge {
        image: image.to_string(),
        limit,
    };
    let body = match read_file(&path, limit as u64).await? {
        Read::Bytes(body) if body.len() <= limit => body,
        Read::Bytes(_) | Read::TooLarge => return Err(too_large()),
        Read::Missing => {
            return Err(RegistryError::NotFound {
                image: image.to_string(),
            })
        }
    };
    let actual = digest.same_algorithm_of(&body);
    if actual != *digest {
        return Err(RegistryError::DigestMismatch {
            image: image.to_string(),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(LayoutBlob {
        digest: digest.clone(),
        body,
        media_type: None,
    })
}

/// The manifest `tag` names, read and verified.
pub(crate) async fn tagged_manifest(
    root: &Path,
    image: &ImageRef,
    tag: &str,
    limit: usize,
) -> Result<LayoutBlob, RegistryError> {
    let (digest, media_type) = tag_digest(root, image, tag).await?;
    let mut found = blob(root, image, &digest, limit).await?;
    found.media_type = media_type;
    Ok(found)
}

/// The image manifests listed in `index.json` of `image`'s layout whose `subject` is
/// `digest` (what a registry's referrers API would answer), as descriptors with the
/// manifest's artifact type and annotations. Reads at most [`MAX_SCANNED_MANIFESTS`]
/// manifests, each verified; entries that are not image manifests are not read.
pub(crate) async fn subject_referrers(
    root: &Path,
    image: &ImageRef,
    digest: &Digest,
    limit: usize,
) -> Result<Vec<Descriptor>, RegistryError> {
    let dir = layout_dir(root, image).await?;
    let index = read_index(&dir).await?;
    let mut found: Vec<Descriptor> = Vec::new();
    let candidates = index
        .manifests
        .iter()
        .filter(|e| e.media_type.as_deref() == Some(media::OCI_IMAGE_MEDIA_TYPE));
    for (read, entry) in candidates.enumerate() {
        if read >= MAX_SCANNED_MANIFESTS {
            tracing::debug!(
                "{}: more than {MAX_SCANNED_MANIFESTS} manifests; the rest not scanned for referrers",
                dir.display()
            );
            break;
        }
        let Ok(entry_digest) = Digest::parse(&entry.digest) else {
            continue;
        };
        if found.iter().any(|d| d.digest == entry_digest) {
            continue;
        }
        let body = match blob(root, image, &entry_digest, limit).await {
            Ok(found) => found.body,
            // A partial layout: what is not there refers to nothing.
            Err(RegistryError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let manifest =
            media::parse_image_manifest(&body, media::OCI_IMAGE_MEDIA_TYPE).map_err(|why| {
                layout_error(
                    &dir.join(format!(
                        "blobs/{}",
                        entry_digest.to_string().replacen(':', "/", 1)
                    )),
                    &format!("manifest `{entry_digest}`: {}", why.reason),
                )
                .caused_by(why.source)
            })?;
        if manifest.subject.as_ref().map(|s| &s.digest) != Some(digest) {
            continue;
        }
        found.push(Descriptor {
            media_type: media::OCI_IMAGE_MEDIA_TYPE.to_owned(),
            digest: entry_digest,
            size: body.len() as u64,
            artifact_type: Some(manifest.effective_artifact_type().to_owned()),
            annotations: manifest.annotations,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn ranks_ref_names_by_specificity() {
        let img = image("127.0.0.1:5123/demo/multiarch:v1");
        assert_eq!(match_rank("v1", &img, "v1"), Some(1));
        assert_eq!(match_rank("demo/multiarch:v1", &img, "v1"), Some(2));
        assert_eq!(
            match_rank("127.0.0.1:5123/demo/multiarch:v1", &img, "v1"),
            Some(3)
        );
        assert_eq!(match_rank("v2", &img, "v1"), None);
        assert_eq!(match_rank("demo/other:v1", &img, "v1"), None);
        assert_eq!(
            match_rank("10.0.0.1:5123/demo/multiarch:v1", &img, "v1"),
            None
        );
        let hub = image("nginx:1.25");
        assert_eq!(match_rank("nginx:1.25", &hub, "1.25"), Some(2));
        assert_eq!(
            match_rank("docker.io/library/nginx:1.25", &hub, "1.25"),
            Some(3)
        );
        assert_eq!(match_rank("library/nginx:1.25", &hub, "1.25"), Some(2));
    }

    #[tokio::test]
    async fn rejects_ambiguous_tags_and_bad_markers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let a = "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
        let b = "sha256:4fda8d2584a49b7e717560ae8b7c4939e847c56516a00e718f5b7a602ebf3d3b";
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"digest":"{a}","annotations":{{"{REF_NAME}":"v1"}}}},
            {{"digest":"{b}","annotations":{{"{REF_NAME}":"v1"}}}},
            {{"digest":"{b}","annotations":{{"{REF_NAME}":"app:v2"}}}},
            {{"digest":"{a}","annotations":{{"{REF_NAME}":"v2"}}}}]}}"#
        );
        std::fs::write(dir.path().join("index.json"), index).unwrap();
        let err = tag_digest(dir.path(), &image("r.example/app:v1"), "v1")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-oci-layout");
        assert!(err.to_string().contains("two different manifests"));
        // The more specific ref name wins over the bare tag.
        let (digest, _) = tag_digest(dir.path(), &image("r.example/app:v2"), "v2")
            .await
            .unwrap();
        assert_eq!(digest.to_string(), b);
        let err = tag_digest(dir.path(), &image("r.example/app:v3"), "v3")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "image-not-found");

        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"9"}"#,
        )
        .unwrap();
        let err = tag_digest(dir.path(), &image("r.example/app:v2"), "v2")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-oci-layout");
    }

    /// A FIFO where `index.json` or a blob belongs is refused as an invalid layout, with the
    /// refusal kept as the typed cause; never waited on.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_fifo_in_a_layout_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let mkfifo = |path: &Path| {
            let made = std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap();
            assert!(made.success(), "mkfifo: {made}");
        };
        mkfifo(&dir.path().join("index.json"));
        let err = tag_digest(dir.path(), &image("r.example/app:v1"), "v1")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-oci-layout", "{err}");
        assert!(
            matches!(&err, RegistryError::Layout { reason, .. } if reason == "cannot read"),
            "{err:?}"
        );
        let io = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.and_then(crate::bounded::is_not_regular),
            Some(crate::bounded::NotRegular("a FIFO (named pipe)")),
            "{err:?}"
        );

        let digest = Digest::sha256_of(b"{}");
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        mkfifo(&blobs.join(digest.hex()));
        let err = blob(dir.path(), &image("r.example/app:v1"), &digest, 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-oci-layout", "{err}");
    }

    #[tokio::test]
    async fn verifies_blob_hash_and_size() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("index.json"), r#"{"manifests":[]}"#).unwrap();
        let body = b"{\"schemaVersion\":2}";
        let digest = Digest::sha256_of(body);
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(blobs.join(digest.hex()), b"{\"schemaVersion\":3}").unwrap();
        let img = image("r.example/app:v1");
        let err = blob(dir.path(), &img, &digest, 1024).await.unwrap_err();
        assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
        std::fs::write(blobs.join(digest.hex()), body).unwrap();
        assert_eq!(
            blob(dir.path(), &img, &digest, 1024).await.unwrap().body,
            body
        );
        let err = blob(dir.path(), &img, &digest, 4).await.unwrap_err();
        assert_eq!(err.code(), "manifest-too-large");
        let missing = Digest::sha256_of(b"other");
        let err = blob(dir.path(), &img, &missing, 1024).await.unwrap_err();
        assert_eq!(err.code(), "image-not-found");
    }
}
