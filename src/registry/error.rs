//! Why the registry could not answer.

use std::path::PathBuf;

use crate::errors::Cause;
use crate::reference::Digest;

/// Why the registry could not answer. Every variant is "could not decide", except
/// [`RegistryError::DigestMismatch`], which is a proof of tampering and denies outright.
///
/// `Clone`, because one answer (an error too) is shared by every caller of a coalesced lookup.
///
/// A dependency's error (reqwest, serde_json, I/O) is kept typed as the `source`, never
/// flattened into the message: print the error with [`crate::errors::Chain`] to show it.
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
        /// What is wrong, in our words.
        reason: String,
        /// The dependency's error behind it, if any.
        #[source]
        source: Option<Cause>,
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
        /// What happened, in our words, e.g. `registry answered HTTP 503 after 3 retries`.
        reason: String,
        /// The transport error behind it, if any (e.g. `connection refused`).
        #[source]
        source: Option<Cause>,
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
        /// The error that showed it (a TLS client meeting a plain-HTTP answer), if any.
        #[source]
        source: Option<Cause>,
    },
    /// An OCI layout could not be read.
    #[error("{path}: {reason}")]
    Layout {
        /// The layout directory or file.
        path: PathBuf,
        /// What is wrong, in our words.
        reason: String,
        /// The I/O or JSON error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
}

impl RegistryError {
    /// [`RegistryError::InvalidResponse`] without a cause (see [`RegistryError::because`]).
    pub(crate) fn invalid_response(image: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            image: image.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`RegistryError::Unavailable`] without a cause (see [`RegistryError::because`]).
    pub(crate) fn unavailable(image: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unavailable {
            image: image.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`RegistryError::NotAllowed`] without a cause (see [`RegistryError::because`]).
    pub(crate) fn not_allowed(image: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::NotAllowed {
            image: image.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`RegistryError::Layout`] without a cause (see [`RegistryError::because`]).
    pub(crate) fn layout(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Layout {
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// This error with `cause`, if any, as its source (see [`RegistryError::because`]).
    pub(crate) fn caused_by(mut self, cause: Option<Cause>) -> Self {
        match &mut self {
            Self::InvalidResponse { source, .. }
            | Self::Unavailable { source, .. }
            | Self::NotAllowed { source, .. }
            | Self::Layout { source, .. } => *source = cause,
            _ => {}
        }
        self
    }

    /// This error with `cause` as its source (for the variants that say a reason; the others
    /// are returned unchanged).
    pub(crate) fn because(self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.caused_by(Some(Cause::new(cause)))
    }

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
