//! Retries: which failures are retried, backoff with jitter, `Retry-After`, and the attempt
//! itself under the host and global concurrency bounds.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, SystemTime};

use super::*;

/// The longest wait a `Retry-After` may ask for.
pub(super) const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// The first backoff; doubled per retry, up to [`MAX_BACKOFF`], with jitter.
pub(super) const BASE_BACKOFF: Duration = Duration::from_millis(250);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(8);

impl Http {
    /// Sends `call`, retrying 429/5xx/connection errors/timeouts with backoff.
    pub(super) async fn with_retries(
        &self,
        call: &Call<'_>,
        authorization: Option<&Secret>,
    ) -> Result<Fetched, RegistryError> {
        let mut retried = 0;
        loop {
            let outcome = self.attempt(call, authorization).await;
            let outcome = match outcome {
                Err(Failure::Transport {
                    plain_http: true,
                    error,
                }) if call.url.scheme() == "https" => {
                    // A plain-HTTP server will not learn TLS on a retry.
                    let host = url_host(&call.url);
                    return Err(RegistryError::not_allowed(
                        call.image,
                        format!(
                            "`{host}` answers plain HTTP, not HTTPS; set `insecure: true` for \
                             it in supplygate.yaml to allow plain HTTP"
                        ),
                    )
                    .because(error));
                }
                other => other,
            };
            let retry = match &outcome {
                Ok(fetched) => retryable(fetched.status),
                Err(Failure::Fatal(_)) => false,
                Err(Failure::Timeout | Failure::Transport { .. }) => true,
            };
            if !retry {
                return outcome.map_err(|f| self.final_error(call.image, Err(f), retried));
            }
            if retried >= self.retries {
                return Err(self.final_error(call.image, outcome, retried));
            }
            let wait = match &outcome {
                Ok(fetched) => retry_after(&fetched.headers).unwrap_or_else(|| backoff(retried)),
                Err(_) => backoff(retried),
            };
            tracing::debug!(
                "{}: retrying {} {} in {} ms",
                call.image,
                call.method,
                call.url.path(),
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
            retried += 1;
        }
    }

    fn final_error(
        &self,
        image: &str,
        outcome: Result<Fetched, Failure>,
        retried: u32,
    ) -> RegistryError {
        let after = match retried {
            0 => String::new(),
            1 => " after 1 retry".to_owned(),
            n => format!(" after {n} retries"),
        };
        match outcome {
            Ok(fetched) => RegistryError::unavailable(
                image.to_owned(),
                format!("registry answered HTTP {}{after}", fetched.status),
            ),
            Err(Failure::Timeout) => RegistryError::Timeout {
                image: image.to_owned(),
                seconds: ceil_seconds(self.request_timeout),
            },
            Err(Failure::Transport { error, .. }) => {
                RegistryError::unavailable(image, format!("the request failed{after}"))
                    .because(error)
            }
            Err(Failure::Fatal(e)) => e,
        }
    }

    /// One HTTP request, under its host's permit (if the host is bounded) and a global one,
    /// acquired in that order; headers and body within the timeout.
    async fn attempt(
        &self,
        call: &Call<'_>,
        authorization: Option<&Secret>,
    ) -> Result<Fetched, Failure> {
        let closed = |_| {
            Failure::Fatal(RegistryError::unavailable(
                call.image.to_owned(),
                "the registry client is shutting down".to_owned(),
            ))
        };
        let _host_permit = match self.host_semaphores.get(&url_host(&call.url)) {
            Some(semaphore) => Some(semaphore.acquire().await.map_err(closed)?),
            None => None,
        };
        let _permit = self.semaphore.acquire().await.map_err(closed)?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.client.request(call.method.clone(), call.url.clone());
        if let Some(accept) = call.accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(authorization) = authorization {
            let mut value = HeaderValue::from_str(authorization.expose()).map_err(|_| {
                Failure::Fatal(RegistryError::invalid_response(
                    call.image.to_owned(),
                    "a credential or token is not a valid header value".to_owned(),
                ))
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(form) = call.form {
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.expose().to_owned());
        }
        let exchange = async {
            let mut response = request.send().await.map_err(classify)?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            if status.is_success() && call.method != Method::HEAD {
                let too_large = || {
                    Failure::Fatal(RegistryError::TooLarge {
                        image: call.image.to_owned(),
                        limit: call.body_limit,
                    })
                };
                let announced = response.content_length();
                if announced.is_some_and(|n| n > call.body_limit as u64) {
                    return Err(too_large());
                }
                while let Some(chunk) = response.chunk().await.map_err(classify)? {
                    if body.len().saturating_add(chunk.len()) > call.body_limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(Fetched {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Timeout),
        }
    }
}

pub(super) fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

pub(super) fn classify(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Transport {
            plain_http: is_plain_http_answer(&error),
            error,
        }
    }
}

/// Whether `error` is rustls meeting a plain-HTTP answer where a TLS record was due: an HTTP
/// status line read as a TLS record header has no valid content type (`H` is 0x48) or
/// protocol version. Decided from the error's kind anywhere in its chain, never its text.
pub(super) fn is_plain_http_answer(error: &(dyn std::error::Error + 'static)) -> bool {
    use rustls::{Error as Tls, InvalidMessage};
    let plain = |e: &(dyn std::error::Error + 'static)| {
        matches!(
            e.downcast_ref::<Tls>(),
            Some(Tls::InvalidMessage(
                InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion
            ))
        )
    };
    let mut next = Some(error);
    while let Some(e) = next {
        // `io::Error::source` skips the error it wraps: look inside too.
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if plain(e) || wrapped.is_some_and(|w| plain(w) || is_plain_http_answer(w)) {
            return true;
        }
        next = e.source();
    }
    false
}

pub(super) fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `BASE_BACKOFF * 2^retried`, capped, times a random factor in [0.5, 1).
pub(super) fn backoff(retried: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << retried.min(16));
    let capped = exp.min(MAX_BACKOFF);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(retried);
    let random = hasher.finish() % 1000;
    let millis = u64::try_from(capped.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(millis / 2 + millis * random / 2000)
}

/// `Retry-After` as seconds or an HTTP date, capped at [`MAX_RETRY_WAIT`].
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => parse_http_date(value)?
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(MAX_RETRY_WAIT))
}

/// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (the only form HTTP/1.1 senders may use),
/// through `httpdate`, the parser hyper uses; its obsolete forms are refused as before.
pub(super) fn parse_http_date(value: &str) -> Option<SystemTime> {
    let time = httpdate::parse_http_date(value).ok()?;
    (httpdate::fmt_http_date(time) == value).then_some(time)
}
