//! Why the registry could not answer.

use std::path::PathBuf;

use crate::reference::Digest;

/// Why the registry could not answer. Every variant is "could not decide", except
/// [`RegistryError::DigestMismatch`], which is a proof of tampering and denies outright.
///
/// `Clone`, because one answer (an error too) is shared by every caller of a coalesced lookup.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The body does not hash to the digest that was asked for or announced.
    #[error("{image}: manifest body hashes to `{actual}`, but `{expected}` was expected")]
    DigestMismatch {
        /// The reference.
        image: String,
        /// The digest asked for or announced.
        expected: Digest,
        /// The body's digest.
        actual: Digest,
    },
    /// The tag or digest does not exist (404 / MANIFEST_UNKNOWN).
    #[error("{image}: not found in the registry")]
    NotFound {
        /// The reference.
        image: String,
    },
    /// Credentials missing or refused.
    #[error("{image}: the registry refused access ({status})")]
    Unauthorized {
        /// The reference.
        image: String,
        /// The HTTP status.
        status: u16,
    },
    /// Manifest larger than the limit.
    #[error("{image}: manifest is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The reference.
        image: String,
        /// The limit.
        limit: usize,
    },
    /// A response that is not what the API promises (bad JSON, bad header, unknown media type).
    #[error("{image}: invalid registry response: {reason}")]
    InvalidResponse {
        /// The reference.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// Timed out (after retries).
    #[error("{image}: the registry did not answer within {seconds}s")]
    Timeout {
        /// The reference.
        image: String,
        /// The timeout that ran out.
        seconds: u64,
    },
    /// Any other HTTP or transport failure (after retries).
    #[error("{image}: {reason}")]
    Unavailable {
        /// The reference.
        image: String,
        /// What happened, e.g. `HTTP 503 after 3 retries` or `connection refused`.
        reason: String,
    },
    /// Offline (`--offline`, `network.offline`) and no OCI layout is configured for the host:
    /// there is nowhere to read the image from.
    #[error("{image}: offline, and no OCI layout is configured for host `{host}`")]
    Offline {
        /// The reference.
        image: String,
        /// The registry host that has no layout.
        host: String,
    },
    /// Plain HTTP to a host not marked insecure.
    #[error("{image}: {reason}")]
    NotAllowed {
        /// The reference.
        image: String,
        /// What is not allowed and how to allow it.
        reason: String,
    },
    /// An OCI layout could not be read.
    #[error("{path}: {reason}")]
    Layout {
        /// The layout directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl RegistryError {
    /// The stable diagnostic code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DigestMismatch { .. } => "digest-mismatch",
            Self::NotFound { .. } => "image-not-found",
            Self::Unauthorized { .. } => "registry-unauthorized",
            Self::TooLarge { .. } => "manifest-too-large",
            Self::InvalidResponse { .. } => "invalid-registry-response",
            Self::Timeout { .. } => "registry-timeout",
            Self::Unavailable { .. } => "registry-unavailable",
            Self::NotAllowed { .. } => "registry-not-allowed",
            Self::Offline { .. } => "offline-no-layout",
            Self::Layout { .. } => "invalid-oci-layout",
        }
    }
}
