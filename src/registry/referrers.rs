//! Referrers of a digest: the referrers API, the referrers tag schema where a registry has no
//! API (remembered per host), and an OCI layout's `subject` scan.

use std::sync::{Arc, PoisonError};

use super::cache::Reference;
use super::types::MAX_REFERRERS;
use super::{
    http, invalid, layout, media, Referrer, ReferrerSource, Registry, RegistryError, Source,
};
use crate::errors::Chain;
use crate::reference::{Digest, ImageRef};

impl Registry {
    pub(super) async fn fetch_referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let name = image.to_string();
        let limit = self.settings.max_manifest_bytes;
        let mut found = match self.source(image)? {
            // Absent: no listing was needed when the lock was written; none now either.
            Source::Replay(store) => store.referrers(image, digest).unwrap_or_default().to_vec(),
            Source::Layout(root) => {
                let mut found = self.tagged_referrers(image, digest).await?;
                for descriptor in layout::subject_referrers(root, image, digest, limit).await? {
                    if !found
                        .iter()
                        .any(|r| r.descriptor.digest == descriptor.digest)
                    {
                        found.push(Referrer {
                            descriptor,
                            source: ReferrerSource::Api,
                        });
                    }
                }
                found
            }
            Source::Network => {
                if let Some(found) = self.recalled_referrers(image, digest) {
                    return Ok(found);
                }
                let mut last_error = None;
                // The first endpoint that answers decides, as for manifests: mirrors first.
                let mut use_tag_schema = false;
                for endpoint in self.http.endpoints(image)? {
                    // Until this host has answered once, lookups go one at a time: the
                    // first answer (often "no API") spares the others a request.
                    let mut probe = Some(self.referrers_probe(endpoint.host()).lock_owned().await);
                    if probe.as_deref().is_some_and(|answered| *answered) {
                        probe = None;
                    }
                    if self.lacks_referrers_api(endpoint.host()) {
                        use_tag_schema = true;
                        break;
                    }
                    let answer = self
                        .http
                        .get_referrers(&name, &endpoint, image.repository(), digest, limit)
                        .await;
                    match answer {
                        Ok(http::ReferrersAnswer::Pages(pages)) => {
                            let mut found = Vec::new();
                            for (body, content_type) in pages {
                                let descriptors =
                                    media::parse_index_descriptors(&body, content_type.as_deref())
                                        .map_err(|why| {
                                            invalid(&name, why.context("referrers answer"))
                                        })?;
                                found.extend(descriptors.into_iter().map(|descriptor| Referrer {
                                    descriptor,
                                    source: ReferrerSource::Api,
                                }));
                            }
                            if let Some(answered) = probe.as_mut() {
                                **answered = true;
                            }
                            return Ok(bounded_referrers(&name, found));
                        }
                        Ok(http::ReferrersAnswer::Unsupported { json_error }) => {
                            tracing::debug!(
                                "{name}: no referrers API at `{}`; using the referrers tag",
                                endpoint.host()
                            );
                            // A router's 404 says the API is missing for the whole host; a
                            // registry's JSON error may be about this repository only.
                            if !json_error {
                                self.without_referrers_api
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .insert(endpoint.host().to_owned());
                            }
                            if let Some(answered) = probe.as_mut() {
                                **answered = true;
                            }
                            use_tag_schema = true;
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(
                                "{name}: referrers from `{}`: {}",
                                endpoint.host(),
                                Chain(&e)
                            );
                            last_error = Some(e);
                        }
                    }
                }
                // When no endpoint answered, one that could not might have listed referrers:
                // fail closed.
                if let (false, Some(e)) = (use_tag_schema, last_error) {
                    return Err(e);
                }
                self.tagged_referrers(image, digest).await?
            }
        };
        found = bounded_referrers(&name, found);
        Ok(found)
    }

    /// The per-host gate of the first referrers request (see `referrers_probes`).
    fn referrers_probe(&self, host: &str) -> Arc<tokio::sync::Mutex<bool>> {
        let mut probes = self
            .referrers_probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(probes.entry(host.to_owned()).or_default())
    }

    fn lacks_referrers_api(&self, host: &str) -> bool {
        self.without_referrers_api
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(host)
    }

    /// The referrers tag schema: the index tagged `<alg>-<hex>` (the algorithm cut to 32
    /// characters and the hex to 64, as OCI distribution 1.1 says); no such tag, no referrers.
    async fn tagged_referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let name = image.to_string();
        let text = digest.to_string();
        let (algorithm, hex) = text.split_once(':').unwrap_or_default();
        let tag = format!(
            "{}-{}",
            algorithm.get(..32).unwrap_or(algorithm),
            hex.get(..64).unwrap_or(hex)
        );
        let Some(reference) = Reference::parse(&tag) else {
            tracing::debug!("{name}: `{tag}` is not a valid tag");
            return Ok(Vec::new());
        };
        let index = match self
            .cached_manifest(image, reference, super::Ask::Derived)
            .await
        {
            Ok(index) => index,
            Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let descriptors = media::parse_index_descriptors(&index.body, Some(&index.media_type))
            .map_err(|why| invalid(&name, why.context(format_args!("referrers tag `{tag}`"))))?;
        Ok(descriptors
            .into_iter()
            .map(|descriptor| Referrer {
                descriptor,
                source: ReferrerSource::Tag { tag: tag.clone() },
            })
            .collect())
    }
}

fn bounded_referrers(name: &str, mut found: Vec<Referrer>) -> Vec<Referrer> {
    if found.len() > MAX_REFERRERS {
        tracing::warn!(
            "{name}: {} referrers listed; reading the first {MAX_REFERRERS} only",
            found.len()
        );
        found.truncate(MAX_REFERRERS);
    }
    found
}
