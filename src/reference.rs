//! Stage (2): the image reference grammar of the distribution project
//! (`host[:port]/path[:tag][@digest]`), its normalisation, and the [`Digest`] newtype.
//!
//! Parsing never panics: whatever a manifest says, the answer is an [`ImageRef`] or a
//! [`ReferenceError`] that the report turns into an `invalid-reference` finding.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use sha2::{Digest as _, Sha256, Sha512};

/// The registry that names without a host refer to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves [`DOCKER_HUB`]'s distribution API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The longest name (host and path) the distribution grammar allows.
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The longest tag the distribution grammar allows.
const TAG_LENGTH_MAX: usize = 128;

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference is the empty string.
    #[error("image reference is empty")]
    Empty,
    /// A path component breaks the grammar (`[a-z0-9]+` joined by `.`, `_`, `__` or `-`).
    #[error(
        "invalid repository path component `{component}`{}",
        hint_for(component)
    )]
    InvalidPathComponent {
        /// The offending component.
        component: String,
    },
    /// The registry host is not a valid host\[:port\].
    #[error("invalid registry host `{0}`")]
    InvalidHost(String),
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag `{0}`: a tag is 1-128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`")]
    InvalidTag(String),
    /// The digest is not `algorithm:hex` of a supported algorithm and the right length.
    #[error("invalid digest `{0}`: expected `sha256:` followed by 64 lowercase hex digits")]
    InvalidDigest(String),
    /// The first component would be a registry host only because of its capitals, and a host's
    /// case does not count: lowercased, it would name a Docker Hub repository instead.
    #[error(
        "`{0}` is neither a registry host nor a repository name: a host needs a `.`, a port or \
         to be `localhost`, and repository names must be lowercase"
    )]
    HostOnlyByCase(String),
    /// The name is longer than the grammar allows.
    #[error("repository name is {0} characters long; the limit is 255")]
    NameTooLong(usize),
}

fn hint_for(component: &str) -> String {
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        " (repository names must be lowercase)".to_owned()
    } else if component.is_empty() {
        " (empty component: check for `//` or a trailing `/`)".to_owned()
    } else {
        String::new()
    }
}

/// A content digest hash algorithm supported for verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, the algorithm of every mainstream registry.
    Sha256,
    /// SHA-512, allowed by the OCI image spec.
    Sha512,
}

impl DigestAlgorithm {
    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:4d0b…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    /// Shared by clones: an image's digest is copied into every fact about it (the resolution,
    /// each signature and attestation found, their subjects), and a run keeps them all.
    hex: Arc<str>,
}

impl Digest {
    /// Parses `algorithm:hex`, accepting sha256 and sha512 with lowercase hex of the right length.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let invalid = || ReferenceError::InvalidDigest(s.to_owned());
        let (algorithm, hex) = s.split_once(':').ok_or_else(invalid)?;
        let algorithm = match algorithm {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => return Err(invalid()),
        };
        let lower_hex = hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() != algorithm.hex_len() || !lower_hex {
            return Err(invalid());
        }
        Ok(Self {
            algorithm,
            hex: Arc::from(hex),
        })
    }

    /// A SHA-256 digest's 32 bytes (`None` for another algorithm): a compact form for long
    /// lived caches; [`Digest::from_sha256_bytes`] gives the same digest back.
    pub fn sha256_bytes(&self) -> Option<[u8; 32]> {
        if self.algorithm != DigestAlgorithm::Sha256 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(self.hex.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        (self.hex.len() == 64).then_some(bytes)
    }

    /// The SHA-256 digest whose bytes are `bytes`.
    pub fn from_sha256_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: to_hex(bytes).into(),
        }
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: to_hex(&Sha256::digest(bytes)).into(),
        }
    }

    /// The digest of `bytes` under this digest's algorithm.
    pub fn same_algorithm_of(&self, bytes: &[u8]) -> Self {
        let hex = match self.algorithm {
            DigestAlgorithm::Sha256 => to_hex(&Sha256::digest(bytes)),
            DigestAlgorithm::Sha512 => to_hex(&Sha512::digest(bytes)),
        };
        Self {
            algorithm: self.algorithm,
            hex: hex.into(),
        }
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.same_algorithm_of(bytes) == *self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The cosign-style tag for things attached to this digest: `sha256-<hex>`.
    pub fn tag_prefix(&self) -> String {
        format!("{}-{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference as written in a manifest (`nginx`, `ghcr.io/acme/app:v1@sha256:…`).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest)?)),
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/', so that a port is not a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest.get(last_slash..).and_then(|tail| tail.rfind(':')) {
            Some(i) => {
                let colon = last_slash + i;
                let name = rest.get(..colon).unwrap_or_default();
                let tag = rest.get(colon + 1..).unwrap_or_default();
                (name, Some(tag))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        let (registry, repository) = split_domain(name)?;
        for component in repository.split('/') {
            validate_path_component(component)?;
        }
        // The limit applies to the normalised name (`docker.io/library/…`), as in Docker's
        // `ParseNormalizedNamed`, so that the normal form parses again.
        let total = registry.len() + 1 + repository.len();
        if total > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong(total));
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry host as users write it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host that serves the distribution API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path (`library/nginx`, `acme/app`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest as written, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag, or `latest` when neither tag nor digest was written.
    pub fn tag_or_default(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether the reference pins a digest.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The same reference with `digest` added (the tag is kept).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository and tag, without the digest.
    pub fn without_digest(&self) -> Self {
        Self {
            digest: None,
            ..self.clone()
        }
    }
}

/// The fully normalised form: `docker.io/library/nginx:latest`, `ghcr.io/a/b:v1@sha256:…`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = self.tag_or_default() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Appends `@digest` to a reference as the user wrote it, replacing any digest it had.
///
/// `nginx:1.25` becomes `nginx:1.25@sha256:…`: the short form stays readable in git.
pub fn pin_written(written: &str, digest: &Digest) -> String {
    let base = written.split_once('@').map_or(written, |(base, _)| base);
    format!("{base}@{digest}")
}

fn split_domain(name: &str) -> Result<(String, String), ReferenceError> {
    let (first, rest) = match name.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (name, None),
    };
    match rest {
        Some(rest) if is_host_component(first) => {
            validate_host(first)?;
            let registry = canonical_host(first)
                .ok_or_else(|| ReferenceError::HostOnlyByCase(first.to_owned()))?;
            let repository = canonical_repository(&registry, rest);
            Ok((registry, repository))
        }
        Some(_) => Ok((DOCKER_HUB.to_owned(), name.to_owned())),
        None => Ok((DOCKER_HUB.to_owned(), format!("library/{name}"))),
    }
}

/// A first name component that reads as a host without its case folded: Docker's rule (a
/// `.`, a `:`, `localhost`).
fn recognised_host(h: &str) -> bool {
    h.contains('.') || h.contains(':') || h == "localhost"
}

/// Whether the first component of a name is a registry host (Docker's rule: a `.`, a `:`,
/// `localhost`, or a capital letter). References and image globs share it.
pub(crate) fn is_host_component(first: &str) -> bool {
    recognised_host(first) || first.chars().any(|c| c.is_ascii_uppercase())
}

/// The one spelling of a registry host, shared by references and image globs: lowercased
/// (host names are case-insensitive), without `:443` (HTTPS's default), and Docker Hub's
/// aliases (`index.docker.io`, `registry-1.docker.io`) as `docker.io` — so that globs and
/// `registries:` settings cannot be sidestepped by another spelling. `None` when the host
/// reads as one only by its capitals: `X/app` lowercased is Docker Hub's `x/app`.
pub(crate) fn canonical_host(host: &str) -> Option<String> {
    let lowered = host.to_ascii_lowercase();
    if !recognised_host(&lowered) {
        return None;
    }
    // `x:443` without its port must still read as a host, or it would name another image.
    let host = match lowered.strip_suffix(":443") {
        Some(h) if recognised_host(h) => h,
        _ => &lowered,
    };
    if host == "index.docker.io" || host == DOCKER_HUB_API {
        Some(DOCKER_HUB.to_owned())
    } else {
        Some(host.to_owned())
    }
}

/// The repository path in its normal form: Docker Hub's one-component names are official
/// images (`docker.io/nginx` is `docker.io/library/nginx`). Shared with image globs.
pub(crate) fn canonical_repository(registry: &str, path: &str) -> String {
    if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    }
}

pub(crate) fn validate_host(host: &str) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidHost(host.to_owned());
    let (hostname, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(invalid)?;
        // One spelling per address (RFC 5952, as Rust prints it): `[fd00:0::10]` and
        // `[fd00::10]` are one registry, which globs must not see as two.
        let canonical = addr
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.to_string() == addr.to_ascii_lowercase());
        if !addr.contains(':') || !canonical {
            return Err(invalid());
        }
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').ok_or_else(invalid)?)),
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        // One spelling per port too: `ghcr.io:0443` is `ghcr.io` to every client, but would
        // not match a `ghcr.io/**` glob.
        let canonical = port
            .parse::<u16>()
            .is_ok_and(|n| n != 0 && n.to_string() == port);
        if !canonical {
            return Err(invalid());
        }
    }
    if let Some(hostname) = hostname {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !hostname.split('.').all(label_ok) {
            return Err(invalid());
        }
    }
    Ok(())
}

pub(crate) fn validate_path_component(component: &str) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidPathComponent {
        component: component.to_owned(),
    };
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !bytes.first().copied().is_some_and(alnum) {
        return Err(invalid());
    }
    if !bytes.last().copied().is_some_and(alnum) {
        return Err(invalid());
    }
    // Separators: one `.`, one or two `_`, or any run of `-`; never mixed, never adjacent otherwise.
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or_default();
        if alnum(b) {
            i += 1;
            continue;
        }
        let start = i;
        while bytes.get(i).is_some_and(|&c| !alnum(c)) {
            i += 1;
        }
        let sep = bytes.get(start..i).unwrap_or_default();
        let ok = sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&c| c == b'-');
        if !ok {
            return Err(invalid());
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= TAG_LENGTH_MAX
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag(tag.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:4d0b7c83ff7d9a8e5e6c0a8e1b1f0b6a5c2d9e8f7a6b5c4d3e2f1a0b9c8d7e6f";

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_docker_hub_short_names() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(
            norm("index.docker.io/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
    }

    #[test]
    fn keeps_hosts_ports_and_digests() {
        assert_eq!(
            norm("localhost:5000/team/app:v1"),
            "localhost:5000/team/app:v1"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
        assert_eq!(norm("[::1]:5000/app:v2"), "[::1]:5000/app:v2");
        let r = ImageRef::parse(&format!("ghcr.io/acme/app:v1@{D}")).unwrap();
        assert_eq!(r.registry(), "ghcr.io");
        assert_eq!(r.repository(), "acme/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        let bare = ImageRef::parse(&format!("ghcr.io/acme/app@{D}")).unwrap();
        assert_eq!(bare.tag_or_default(), None);
        assert_eq!(bare.to_string(), format!("ghcr.io/acme/app@{D}"));
    }

    #[test]
    fn registry_host_has_one_spelling() {
        for written in [
            "GHCR.IO/acme/app",
            "Ghcr.io/acme/app",
            "ghcr.io:443/acme/app",
        ] {
            assert_eq!(norm(written), "ghcr.io/acme/app:latest", "{written}");
        }
        assert_eq!(norm("Docker.IO/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("LOCALHOST:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("localhost:443/app"), "localhost/app:latest");
        // Without its port `x` would not be a host: the port stays.
        assert_eq!(norm("x:443/app"), "x:443/app:latest");
        assert_eq!(norm("[FD00::10]:5000/app"), "[fd00::10]:5000/app:latest");
        assert_eq!(
            ImageRef::parse("X/app"),
            Err(ReferenceError::HostOnlyByCase("X".to_owned()))
        );
    }

    #[test]
    fn api_host_of_docker_hub_is_registry_1() {
        assert_eq!(ImageRef::parse("nginx").unwrap().api_host(), DOCKER_HUB_API);
        assert_eq!(
            ImageRef::parse("ghcr.io/a/b").unwrap().api_host(),
            "ghcr.io"
        );
    }

    #[test]
    fn rejects_invalid_references() {
        for (bad, part) in [
            ("", "Empty"),
            ("team/UPPER", "InvalidPathComponent"),
            ("ghcr.io/Acme/app", "InvalidPathComponent"),
            ("app:", "InvalidTag"),
            ("app:-tag", "InvalidTag"),
            ("app@sha256:abc", "InvalidDigest"),
            ("app@md5:0123", "InvalidDigest"),
            ("a//b", "InvalidPathComponent"),
            ("a/b/", "InvalidPathComponent"),
            ("ghcr.io/a..b", "InvalidPathComponent"),
            ("ghcr.io/a_-b", "InvalidPathComponent"),
            ("ghcr.io:port/a", "InvalidHost"),
            ("-host.io/a", "InvalidHost"),
            ("app:tag with space", "InvalidTag"),
            ("[D]/y:z", "InvalidHost"),
            ("[]/a", "InvalidPathComponent"),
            ("ghcr.io:0443/acme/app", "InvalidHost"),
            ("ghcr.io:00443/acme/app", "InvalidHost"),
            ("localhost:0/app", "InvalidHost"),
            ("localhost:65536/app", "InvalidHost"),
            ("[fd00:0::10]:5000/app", "InvalidHost"),
            ("[0:0:0:0:0:0:0:1]/app", "InvalidHost"),
        ] {
            // The variant says which part was refused (the host, a path component, the tag,
            // the digest), so a reference refused for another reason fails the test.
            let e = ImageRef::parse(bad).expect_err(bad);
            let variant = format!("{e:?}");
            assert!(variant.starts_with(part), "{bad:?}: {variant}");
        }
        let long_tag = format!("app:{}", "a".repeat(129));
        assert!(
            matches!(
                ImageRef::parse(&long_tag),
                Err(ReferenceError::InvalidTag(_))
            ),
            "{long_tag}"
        );
        let long_name = format!("ghcr.io/{}", "a".repeat(260));
        assert_eq!(
            ImageRef::parse(&long_name),
            Err(ReferenceError::NameTooLong(268))
        );
        // The normalised name counts: 250 characters written are 268 as `docker.io/library/…`.
        assert_eq!(
            ImageRef::parse(&"a".repeat(250)),
            Err(ReferenceError::NameTooLong(268))
        );
    }

    #[test]
    fn accepts_separators_the_grammar_allows() {
        for good in ["a__b", "a_b", "a.b", "a---b", "a-b/c.d_e__f"] {
            assert!(ImageRef::parse(good).is_ok(), "{good:?} should parse");
        }
    }

    #[test]
    fn uppercase_hint_is_given() {
        let err = ImageRef::parse("ghcr.io/Acme/app").unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
    }

    #[test]
    fn digest_parsing_and_hashing() {
        let d = Digest::sha256_of(b"hello");
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hello!"));
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        for bad in ["sha256:ABCDEF".to_owned(), D.to_uppercase()] {
            assert!(
                matches!(Digest::parse(&bad), Err(ReferenceError::InvalidDigest(_))),
                "{bad}"
            );
        }
        assert!(d.tag_prefix().starts_with("sha256-2cf24d"));
        let sha512 = Digest::parse(&format!("sha512:{}", "a".repeat(128))).unwrap();
        assert!(!sha512.matches(b"x"));
    }

    #[test]
    fn pin_written_keeps_the_short_form() {
        let d = Digest::parse(D).unwrap();
        assert_eq!(pin_written("nginx:1.25", &d), format!("nginx:1.25@{D}"));
        assert_eq!(
            pin_written(&format!("nginx:1.25@sha256:{}", "0".repeat(64)), &d),
            format!("nginx:1.25@{D}")
        );
    }

    #[test]
    fn never_panics_and_the_normal_form_parses_to_the_same_reference() {
        // A cheap deterministic fuzz: every short string over an alphabet of grammar characters.
        let alphabet = ['a', 'B', '0', '.', '_', '-', ':', '/', '@', '[', ']', 'é'];
        let mut stack = vec![String::new()];
        while let Some(s) = stack.pop() {
            if let Ok(r) = ImageRef::parse(&s) {
                let shown = r.to_string();
                let again = ImageRef::parse(&shown)
                    .unwrap_or_else(|e| panic!("{s:?} → {shown:?} does not parse: {e}"));
                assert_eq!(
                    (again.registry(), again.repository(), again.digest()),
                    (r.registry(), r.repository(), r.digest()),
                    "{s:?} → {shown:?}"
                );
                assert_eq!(again.tag(), r.tag_or_default(), "{s:?} → {shown:?}");
            }
            if s.chars().count() < 4 {
                for c in alphabet {
                    stack.push(format!("{s}{c}"));
                }
            }
        }
    }
}
