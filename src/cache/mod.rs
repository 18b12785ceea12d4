//! The verification cache (`--cache-dir DIR`, `cache.dir`): evidence a run fetched and
//! verified, kept across runs so that a repeated check asks the registry only what can have
//! changed (a tag) and nothing about a digest it already vouched for.
//!
//! It holds the same records as the evidence lock — registry answers, not verdicts — and the
//! pipeline re-verifies them as if they came from the network: every object is checked
//! against its digest when read, every signature and attestation cryptographically, every
//! policy re-evaluated. Layout under `DIR/v1/`:
//!
//! * `objects/<algorithm>/<hex>`: a manifest or blob (`<media type>\n<bytes>`), content
//!   addressed: written once, checked against its name on every read;
//! * `evidence/<fingerprint>/<sha256 of host/repository@digest>.json`: per digest an image
//!   was allowed under, and per trust-and-policy fingerprint, the answers about that digest
//!   (its `sha256-<hex>.sig`/`.att` tags and referrers tag, "not found" included, and its
//!   referrers listing), with the subject and fingerprint written inside and the time it
//!   was written.
//!
//! An image tag (`app:v1`) is never kept: it is asked every run. An entry older than
//! `cache.ttl`, or written under other signers or policies (another fingerprint), is not
//! used. A corrupt, truncated or foreign file (an entry whose subject or fingerprint is not
//! the one its path names, an object that does not hash to its name) is ignored, removed and
//! reported as a warning; nothing read from the cache can allow an image by itself.
//!
//! Concurrent runs may share a directory: every file is written to a temporary name and
//! renamed into place, objects are content-addressed (two writers write the same bytes), and
//! a file evicted while another run reads it is a miss. The directory is kept under
//! `cache.max_size` by removing the least recently used files after each run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bounded::Links;
use crate::reference::{Digest, ImageRef};
use crate::registry::{Object, Recall, Referrer, Store, StoredReferrer};

/// The cache format version (the `v1` directory).
pub const VERSION: u32 = 1;
/// How long an entry is used by default: a day.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The default size bound of the directory: 512 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// The largest entry read.
const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;
/// The largest object read (manifests and signature blobs; the registry's limits are lower).
const MAX_OBJECT_BYTES: u64 = 16 * 1024 * 1024;

/// Where the cache is and how it is bounded (validated config and flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// The directory.
    pub dir: PathBuf,
    /// How long an entry is used.
    pub ttl: Duration,
    /// The size the directory is kept under.
    pub max_bytes: u64,
}

impl CacheSettings {
    /// Settings for `dir` with the default TTL and size bound.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            ttl: DEFAULT_TTL,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// An entry file: the answers about one digest, under one fingerprint.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    version: u32,
    /// The trust-and-policy fingerprint it was written under.
    fingerprint: Digest,
    /// `host/repository@digest`.
    subject: String,
    /// Seconds since the Unix epoch.
    written_at: u64,
    /// Tag -> digest, for tags derived from the subject's digest.
    #[serde(default)]
    tags: BTreeMap<String, Digest>,
    /// Derived tags the registry did not have.
    #[serde(default)]
    missing_tags: BTreeSet<String>,
    /// The subject's referrers listing, when one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    referrers: Option<Vec<StoredReferrer>>,
}

/// One usable entry.
#[derive(Debug)]
struct Entry {
    /// When the registry gave these answers (seconds since the Unix epoch).
    written_at: u64,
    tags: BTreeMap<String, Digest>,
    missing_tags: BTreeSet<String>,
    referrers: Option<Vec<Referrer>>,
}

/// Counters of one run, for the report and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries used.
    pub entries_used: u64,
    /// Entries written.
    pub entries_written: u64,
    /// Objects written.
    pub objects_written: u64,
    /// Files removed to stay under the size bound.
    pub evicted: u64,
}

/// The verification cache of one run: its directory under one fingerprint.
#[derive(Debug)]
pub struct Cache {
    settings: CacheSettings,
    /// `DIR/v1`.
    root: PathBuf,
    fingerprint: Digest,
    now: SystemTime,
    /// Entries read this run, by subject (`None`: none usable).
    entries: Mutex<HashMap<String, Option<Arc<Entry>>>>,
    /// Files ignored this run, with why (for warnings in the report).
    problems: Mutex<BTreeSet<String>>,
    stats: Mutex<CacheStats>,
}

impl Cache {
    /// The cache in `settings.dir` for runs judged under `fingerprint` (the trust and policy
    /// digests of the evidence lock's fingerprint, hashed together), at `now`.
    pub fn open(
        settings: CacheSettings,
        fingerprint: Digest,
        now: SystemTime,
    ) -> std::io::Result<Self> {
        let root = settings.dir.join(format!("v{VERSION}"));
        for dir in [root.join("objects"), root.join("evidence")] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| std::io::Error::new(e.kind(), format!("`{}`: {e}", dir.display())))?;
        }
        Ok(Self {
            settings,
            root,
            fingerprint,
            now,
            entries: Mutex::new(HashMap::new()),
            problems: Mutex::new(BTreeSet::new()),
            stats: Mutex::new(CacheStats::default()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    /// Files ignored so far (corrupt, truncated, foreign), each with why.
    pub fn problems(&self) -> Vec<String> {
        lock(&self.problems).iter().cloned().collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> CacheStats {
        *lock(&self.stats)
    }

    fn problem(&self, path: &Path, why: &str) {
        tracing::warn!("verification cache: `{}` ignored: {why}", path.display());
        lock(&self.problems).insert(format!("`{}`: {why}", path.display()));
        // A bad file is not read again by a later run.
        let _ = std::fs::remove_file(path);
    }

    fn object_path(&self, digest: &Digest) -> Option<PathBuf> {
        let text = digest.to_string();
        let (algorithm, hex) = text.split_once(':')?;
        let safe = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        (safe(algorithm) && safe(hex)).then(|| self.root.join("objects").join(algorithm).join(hex))
    }

    fn entry_path(&self, subject: &str) -> PathBuf {
        let fingerprint = self.fingerprint.to_string();
        let fingerprint = fingerprint.split_once(':').map_or("", |(_, hex)| hex);
        let name = Digest::sha256_of(subject.as_bytes()).to_string();
        let name = name.split_once(':').map_or("", |(_, hex)| hex);
        self.root
            .join("evidence")
            .join(fingerprint)
            .join(format!("{name}.json"))
    }

    /// The usable entry about `digest` in `image`'s repository, read once per run.
    fn entry(&self, image: &ImageRef, digest: &Digest) -> Option<Arc<Entry>> {
        let subject = Store::referrers_key(image, digest);
        if let Some(known) = lock(&self.entries).get(&subject) {
            return known.clone();
        }
        let entry = self.read_entry(&subject).map(Arc::new);
        if entry.is_some() {
            lock(&self.stats).entries_used += 1;
        }
        lock(&self.entries).insert(subject, entry.clone());
        entry
    }

    /// The bytes of the regular file at `path`, at most `limit`; `None` (a miss) when there is
    /// none, and a reported problem when something else is there (a FIFO, which would block
    /// the run on open; a device; a link; a directory) or it is too large.
    fn read_regular(&self, path: &Path, limit: u64, what: &str) -> Option<Vec<u8>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                self.problem(path, "not a regular file");
                return None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::debug!("verification cache: `{}`: {e}", path.display());
                return None;
            }
        }
        match crate::bounded::read_regular(path, limit, Links::Refuse) {
            Ok(Some(bytes)) => Some(bytes),
            Ok(None) => {
                self.problem(path, &format!("larger than {what} can be"));
                None
            }
            Err(e) if crate::bounded::is_not_regular(&e).is_some() => {
                self.problem(path, "not a regular file");
                None
            }
            Err(e) => {
                tracing::debug!("verification cache: `{}`: {e}", path.display());
                None
            }
        }
    }

    fn read_entry(&self, subject: &str) -> Option<Entry> {
        let path = self.entry_path(subject);
        let bytes = self.read_regular(&path, MAX_ENTRY_BYTES, "an entry")?;
        let raw: RawEntry = match serde_json::from_slice(&bytes) {
            Ok(raw) => raw,
            Err(e) => {
                self.problem(&path, &format!("not a cache entry ({e})"));
                return None;
            }
        };
        if raw.version != VERSION {
            self.problem(&path, &format!("format version {}", raw.version));
            return None;
        }
        // Foreign: written for another digest or fingerprint than its path names (copied or
        // planted). Never used for this one.
        if raw.subject != subject || raw.fingerprint != self.fingerprint {
            self.problem(
                &path,
                &format!(
                    "written for `{}` under fingerprint `{}`, found where `{subject}` under \
                     `{}` belongs",
                    raw.subject, raw.fingerprint, self.fingerprint
                ),
            );
            return None;
        }
        // Checked: a time past what the clock can hold is "later than now", never a panic.
        let age = UNIX_EPOCH
            .checked_add(Duration::from_secs(raw.written_at))
            .ok_or(())
            .and_then(|written| self.now.duration_since(written).map_err(|_| ()));
        match age {
            Ok(age) if age <= self.settings.ttl => {}
            // Expired: not a problem, a miss (the run writes it afresh).
            Ok(_) => return None,
            // Written in the future (a clock set back, or an edit): not trusted.
            Err(_) => {
                self.problem(&path, "written later than now");
                return None;
            }
        }
        let referrers = match raw.referrers {
            None => None,
            Some(listing) => match listing
                .into_iter()
                .map(Referrer::try_from)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(listing) => Some(listing),
                Err(via) => {
                    self.problem(&path, &format!("a referrer has `via` `{via}`"));
                    return None;
                }
            },
        };
        Some(Entry {
            written_at: raw.written_at,
            tags: raw.tags,
            missing_tags: raw.missing_tags,
            referrers,
        })
    }

    /// Keeps what `recording` holds about each of `vouched` (`(image, digest)` of images the
    /// run allowed, and of their platforms), and every object it recorded; then keeps the
    /// directory under its size bound. Failures to write are warnings: the cache is only
    /// ever a shortcut.
    pub fn save<'a>(
        &self,
        recording: &Store,
        vouched: impl IntoIterator<Item = (&'a ImageRef, &'a Digest)>,
    ) {
        let mut written = CacheStats::default();
        for (digest, object) in &recording.objects {
            match self.write_object(digest, object) {
                Ok(true) => written.objects_written += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!("verification cache: cannot write `{digest}`: {e}"),
            }
        }
        let now = self
            .now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut seen = BTreeSet::new();
        for (image, digest) in vouched {
            let subject = Store::referrers_key(image, digest);
            if !seen.insert(subject.clone()) {
                continue;
            }
            // The recording holds the answers this run used, recalled ones too: an entry read
            // this run keeps the time the registry gave its answers, so that a cached answer
            // never refreshes its own age and the entry runs out `ttl` after the registry was
            // last asked. (Answers fetched afresh beside it are then kept for less long, never
            // longer.)
            let read = lock(&self.entries)
                .get(&subject)
                .and_then(|entry| entry.as_ref().map(|e| e.written_at));
            let written_at = read.map_or(now, |then| then.min(now));
            let entry = entry_of(
                recording,
                image,
                digest,
                &subject,
                &self.fingerprint,
                written_at,
            );
            if entry.tags.is_empty() && entry.missing_tags.is_empty() && entry.referrers.is_none() {
                continue;
            }
            let path = self.entry_path(&subject);
            match serde_json::to_vec(&entry)
                .map_err(std::io::Error::other)
                .and_then(|bytes| write_atomic(&path, &bytes))
            {
                Ok(()) => written.entries_written += 1,
                Err(e) => {
                    tracing::warn!("verification cache: cannot write `{}`: {e}", path.display())
                }
            }
        }
        written.evicted = self.evict();
        let mut stats = lock(&self.stats);
        stats.objects_written += written.objects_written;
        stats.entries_written += written.entries_written;
        stats.evicted += written.evicted;
    }

    /// Writes an object unless it is there; `Ok(true)` when written.
    fn write_object(&self, digest: &Digest, object: &Object) -> std::io::Result<bool> {
        let Some(path) = self.object_path(digest) else {
            return Ok(false);
        };
        if digest.same_algorithm_of(&object.data) != *digest {
            // Never expected: the registry records only what it checked.
            return Ok(false);
        }
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                touch(&path);
                return Ok(false);
            }
            // Something else in its place (a FIFO, a link): replaced by the object.
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(_) => {}
        }
        let media_type = object.media_type.as_deref().unwrap_or_default();
        if media_type.contains('\n') {
            return Ok(false);
        }
        let mut bytes = Vec::with_capacity(media_type.len() + 1 + object.data.len());
        bytes.extend_from_slice(media_type.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&object.data);
        write_atomic(&path, &bytes)?;
        Ok(true)
    }

    /// Removes the least recently used files until the directory is under 90% of its bound
    /// (when it is over the bound); the number removed.
    fn evict(&self) -> u64 {
        let mut files = Vec::new();
        let mut total = 0u64;
        walk(&self.root, &mut |path, meta| {
            total += meta.len();
            let used = meta.modified().unwrap_or(UNIX_EPOCH);
            files.push((used, meta.len(), path.to_owned()));
        });
        if total <= self.settings.max_bytes {
            return 0;
        }
        files.sort();
        let target = self.settings.max_bytes / 10 * 9;
        let mut removed = 0;
        for (_, len, path) in files {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
                removed += 1;
            }
        }
        tracing::info!(
            removed,
            "verification cache: over {} bytes, least recently used files removed",
            self.settings.max_bytes
        );
        removed
    }
}

/// The entry about `digest` from what `recording` holds: the tags derived from the digest in
/// its repository, and its referrers listing.
fn entry_of(
    recording: &Store,
    image: &ImageRef,
    digest: &Digest,
    subject: &str,
    fingerprint: &Digest,
    written_at: u64,
) -> RawEntry {
    let prefix = Store::tag_key(image, &digest.tag_prefix());
    // The image's own tag is never kept, even when it is spelled like a derived tag: it is
    // always asked of the registry.
    let own = image.tag().map(|tag| Store::tag_key(image, tag));
    let derived = |key: &str| {
        own.as_deref() != Some(key)
            && key
                .strip_prefix(&prefix)
                .is_some_and(|rest| matches!(rest, "" | ".sig" | ".att"))
    };
    let tag_of = |key: &str| key.rsplit_once(':').map(|(_, tag)| tag.to_owned());
    RawEntry {
        version: VERSION,
        fingerprint: fingerprint.clone(),
        subject: subject.to_owned(),
        written_at,
        tags: recording
            .tags
            .iter()
            .filter(|(key, _)| derived(key))
            .filter_map(|(key, digest)| Some((tag_of(key)?, digest.clone())))
            .collect(),
        missing_tags: recording
            .missing_tags
            .iter()
            .filter(|key| derived(key))
            .filter_map(|key| tag_of(key))
            .collect(),
        referrers: recording
            .referrers(image, digest)
            .map(|listing| listing.iter().map(StoredReferrer::from).collect()),
    }
}

impl Recall for Cache {
    fn object(&self, digest: &Digest) -> Option<Object> {
        let path = self.object_path(digest)?;
        let bytes = self.read_regular(&path, MAX_OBJECT_BYTES, "an object")?;
        let Some(split) = bytes.iter().position(|b| *b == b'\n') else {
            self.problem(&path, "truncated: no media type line");
            return None;
        };
        let (head, data) = bytes.split_at(split);
        let data = data.get(1..).unwrap_or_default().to_vec();
        if digest.same_algorithm_of(&data) != *digest {
            self.problem(&path, "its content does not hash to its name");
            return None;
        }
        let Ok(media_type) = std::str::from_utf8(head) else {
            self.problem(&path, "its media type is not UTF-8");
            return None;
        };
        touch(&path);
        Some(Object {
            media_type: (!media_type.is_empty()).then(|| media_type.to_owned()),
            data,
        })
    }

    fn tag(&self, image: &ImageRef, tag: &str) -> Option<Option<Digest>> {
        let subject = subject_of_tag(tag)?;
        let entry = self.entry(image, &subject)?;
        if let Some(digest) = entry.tags.get(tag) {
            return Some(Some(digest.clone()));
        }
        entry.missing_tags.contains(tag).then_some(None)
    }

    fn referrers(&self, image: &ImageRef, digest: &Digest) -> Option<Vec<Referrer>> {
        self.entry(image, digest)?.referrers.clone()
    }
}

/// The digest a derived tag names: `sha256-<hex>`, `sha256-<hex>.sig`, `sha256-<hex>.att`.
fn subject_of_tag(tag: &str) -> Option<Digest> {
    let base = tag
        .strip_suffix(".sig")
        .or_else(|| tag.strip_suffix(".att"))
        .unwrap_or(tag);
    let (algorithm, hex) = base.split_once('-')?;
    let digest = Digest::parse(&format!("{algorithm}:{hex}")).ok()?;
    // Only the exact spelling the digest derives (no truncated or other-case forms).
    (digest.tag_prefix() == base).then_some(digest)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks a file used now (for least-recently-used eviction); best effort, regular files only
/// (opened without blocking, so that a FIFO swapped in cannot hold the run).
fn touch(path: &Path) {
    if let Ok(file) = crate::bounded::open_nonblocking(path, true, Links::Refuse) {
        if file.metadata().is_ok_and(|m| m.is_file()) {
            let _ = file.set_modified(SystemTime::now());
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that a reader sees the whole file or none.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Calls `f` for every file under `dir` (not following symbolic links).
fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            walk(&entry.path(), f);
        } else if meta.is_file() {
            f(&entry.path(), &meta);
        }
    }
}

#[cfg(test)]
mod tests;
