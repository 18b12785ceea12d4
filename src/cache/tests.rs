#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::registry::{Descriptor, ReferrerSource};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn image() -> ImageRef {
    ImageRef::parse("registry.example/team/app:v1").unwrap()
}

fn fingerprint(name: &str) -> Digest {
    Digest::sha256_of(name.as_bytes())
}

/// A recording of one signed digest: its `.sig` tag, a "no `.att`" answer, its referrers
/// listing, and the `.sig` manifest and payload objects.
fn recording(subject: &Digest) -> (Store, Digest, Digest) {
    let img = image();
    let sig_manifest = br#"{"schemaVersion":2}"#.to_vec();
    let sig = Digest::sha256_of(&sig_manifest);
    let payload = b"payload".to_vec();
    let payload_digest = Digest::sha256_of(&payload);
    let mut store = Store::default();
    let prefix = subject.tag_prefix();
    store.insert_tag(&img, &format!("{prefix}.sig"), &sig);
    store.insert_missing_tag(&img, &format!("{prefix}.att"));
    // The image tag itself is never kept.
    store.insert_tag(&img, "v1", subject);
    store.insert_object(&sig, Some(MANIFEST), &sig_manifest);
    store.insert_object(&payload_digest, None, &payload);
    store.insert_referrers(
        &img,
        subject,
        &[Referrer {
            descriptor: Descriptor {
                media_type: MANIFEST.to_owned(),
                digest: Digest::sha256_of(b"bundle"),
                size: 6,
                artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".into()),
                annotations: BTreeMap::new(),
            },
            source: ReferrerSource::Api,
        }],
    );
    (store, sig, payload_digest)
}

fn open(dir: &Path, fp: &Digest, now: SystemTime) -> Cache {
    Cache::open(CacheSettings::new(dir.to_owned()), fp.clone(), now).unwrap()
}

#[test]
fn keeps_the_answers_about_a_vouched_digest_and_every_object() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (store, sig, payload) = recording(&subject);
    let now = SystemTime::now();
    let img = image();
    open(dir.path(), &fingerprint("a"), now).save(&store, [(&img, &subject)]);

    let cache = open(dir.path(), &fingerprint("a"), now);
    let prefix = subject.tag_prefix();
    assert_eq!(
        cache.tag(&img, &format!("{prefix}.sig")),
        Some(Some(sig.clone()))
    );
    assert_eq!(cache.tag(&img, &format!("{prefix}.att")), Some(None));
    // Not a derived tag: always asked of the registry.
    assert_eq!(cache.tag(&img, "v1"), None);
    // Another repository's derived tag: nothing kept.
    let other = ImageRef::parse("registry.example/team/other:v1").unwrap();
    assert_eq!(cache.tag(&other, &format!("{prefix}.sig")), None);
    assert_eq!(cache.referrers(&img, &subject).unwrap().len(), 1);
    let object = Recall::object(&cache, &sig).unwrap();
    assert_eq!(object.media_type.as_deref(), Some(MANIFEST));
    assert_eq!(Recall::object(&cache, &payload).unwrap().media_type, None);
    assert!(cache.problems().is_empty());
    assert_eq!(cache.stats().entries_used, 1);

    // Another fingerprint (other signers or policies): nothing about the digest is used.
    let other_trust = open(dir.path(), &fingerprint("b"), now);
    assert_eq!(other_trust.tag(&img, &format!("{prefix}.sig")), None);
    assert_eq!(other_trust.referrers(&img, &subject), None);
}

#[test]
fn an_entry_past_its_ttl_is_a_miss_and_one_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (store, _, _) = recording(&subject);
    let then = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let img = image();
    open(dir.path(), &fingerprint("a"), then).save(&store, [(&img, &subject)]);
    let tag = format!("{}.sig", subject.tag_prefix());

    let later = open(
        dir.path(),
        &fingerprint("a"),
        then + DEFAULT_TTL + Duration::from_secs(1),
    );
    assert_eq!(later.tag(&img, &tag), None);
    assert!(later.problems().is_empty());

    let earlier = open(
        dir.path(),
        &fingerprint("a"),
        then - Duration::from_secs(60),
    );
    assert_eq!(earlier.tag(&img, &tag), None);
    assert_eq!(earlier.problems().len(), 1, "{:?}", earlier.problems());
    assert!(earlier.problems()[0].contains("written later than now"));
}

#[test]
fn an_entry_planted_under_another_digest_or_fingerprint_is_ignored_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Digest::sha256_of(b"image a"), Digest::sha256_of(b"image b"));
    let (store, _, _) = recording(&a);
    let now = SystemTime::now();
    let img = image();
    let writer = open(dir.path(), &fingerprint("a"), now);
    writer.save(&store, [(&img, &a)]);
    let entry_a = writer.entry_path(&Store::referrers_key(&img, &a));

    // A's entry copied to where B's belongs: its subject says A.
    let entry_b = writer.entry_path(&Store::referrers_key(&img, &b));
    std::fs::copy(&entry_a, &entry_b).unwrap();
    let reader = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(reader.tag(&img, &format!("{}.sig", b.tag_prefix())), None);
    assert_eq!(reader.referrers(&img, &b), None);
    let problems = reader.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&format!("written for `{}`", Store::referrers_key(&img, &a))));
    assert!(!entry_b.exists(), "a foreign entry is removed");

    // A's entry copied under another fingerprint (signers changed since): refused too.
    let other = open(dir.path(), &fingerprint("b"), now);
    let planted = other.entry_path(&Store::referrers_key(&img, &a));
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::copy(&entry_a, &planted).unwrap();
    assert_eq!(other.tag(&img, &format!("{}.sig", a.tag_prefix())), None);
    assert!(other.problems()[0].contains("under fingerprint"));
}

#[test]
fn corrupt_and_truncated_files_are_ignored_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (store, sig, payload) = recording(&subject);
    let now = SystemTime::now();
    let img = image();
    let writer = open(dir.path(), &fingerprint("a"), now);
    writer.save(&store, [(&img, &subject)]);

    // An object whose bytes changed (or were cut short) no longer hashes to its name.
    let payload_path = writer.object_path(&payload).unwrap();
    let mut bytes = std::fs::read(&payload_path).unwrap();
    bytes.pop();
    std::fs::write(&payload_path, &bytes).unwrap();
    // One without even its media type line.
    let sig_path = writer.object_path(&sig).unwrap();
    std::fs::write(&sig_path, b"{").unwrap();
    // An entry that is not JSON.
    let entry = writer.entry_path(&Store::referrers_key(&img, &subject));
    std::fs::write(&entry, b"{\"version\":1,").unwrap();

    let reader = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(Recall::object(&reader, &payload), None);
    assert_eq!(Recall::object(&reader, &sig), None);
    assert_eq!(
        reader.tag(&img, &format!("{}.sig", subject.tag_prefix())),
        None
    );
    let problems = reader.problems().join("\n");
    assert!(problems.contains("does not hash to its name"), "{problems}");
    assert!(problems.contains("no media type line"), "{problems}");
    assert!(problems.contains("not a cache entry"), "{problems}");
    assert!(!payload_path.exists() && !sig_path.exists() && !entry.exists());
}

#[test]
fn only_the_exact_derived_tags_of_a_digest_name_it() {
    let d = Digest::sha256_of(b"x");
    let prefix = d.tag_prefix();
    assert_eq!(subject_of_tag(&format!("{prefix}.sig")), Some(d.clone()));
    assert_eq!(subject_of_tag(&format!("{prefix}.att")), Some(d.clone()));
    assert_eq!(subject_of_tag(&prefix), Some(d));
    assert_eq!(subject_of_tag("v1"), None);
    assert_eq!(subject_of_tag(&format!("{prefix}.sbom")), None);
    assert_eq!(subject_of_tag(&prefix.to_uppercase()), None);
}

#[test]
fn stays_under_its_size_bound_by_removing_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let settings = CacheSettings {
        max_bytes: 4096,
        ..CacheSettings::new(dir.path().to_owned())
    };
    let cache = Cache::open(settings, fingerprint("a"), SystemTime::now()).unwrap();
    let mut store = Store::default();
    for i in 0..16u8 {
        let data = vec![i; 1000];
        store.insert_object(&Digest::sha256_of(&data), None, &data);
    }
    cache.save(&store, []);
    let mut total = 0;
    walk(&cache.root, &mut |_, meta| total += meta.len());
    assert!(total <= 4096, "{total} bytes kept");
    assert!(cache.stats().evicted >= 12, "{:?}", cache.stats());
}

#[test]
fn answers_read_from_the_cache_never_refresh_their_own_age() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (store, sig, _) = recording(&subject);
    let then = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let img = image();
    open(dir.path(), &fingerprint("a"), then).save(&store, [(&img, &subject)]);
    let tag = format!("{}.sig", subject.tag_prefix());

    // Used 20 hours later, the run recording what it recalled (as the registry client does)
    // and saving it: the entry keeps the time the registry answered...
    let run = open(
        dir.path(),
        &fingerprint("a"),
        then + Duration::from_secs(20 * 60 * 60),
    );
    assert_eq!(run.tag(&img, &tag), Some(Some(sig.clone())));
    run.save(&store, [(&img, &subject)]);
    // ...so 40 hours after the registry was last asked, it is a miss: the registry is asked
    // (re-written at +20 hours, it would still be used).
    let now = then + Duration::from_secs(40 * 60 * 60);
    let past = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(past.tag(&img, &tag), None);
    assert!(past.problems().is_empty(), "{:?}", past.problems());
    let raw: RawEntry = serde_json::from_slice(
        &std::fs::read(past.entry_path(&Store::referrers_key(&img, &subject))).unwrap(),
    )
    .unwrap();
    assert_eq!(raw.written_at, 1_800_000_000);

    // A run that found no usable entry writes what the registry answered it: now.
    past.save(&store, [(&img, &subject)]);
    let fresh = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(fresh.tag(&img, &tag), Some(Some(sig)));
}

#[test]
fn a_time_past_what_the_clock_holds_is_ignored_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (store, _, _) = recording(&subject);
    let now = SystemTime::now();
    let img = image();
    let writer = open(dir.path(), &fingerprint("a"), now);
    writer.save(&store, [(&img, &subject)]);
    let path = writer.entry_path(&Store::referrers_key(&img, &subject));
    let mut raw: RawEntry = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    raw.written_at = u64::MAX;
    std::fs::write(&path, serde_json::to_vec(&raw).unwrap()).unwrap();

    let reader = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(
        reader.tag(&img, &format!("{}.sig", subject.tag_prefix())),
        None
    );
    let problems = reader.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("written later than now"),
        "{problems:?}"
    );
    assert!(!path.exists(), "the bad entry is removed");
}

#[test]
fn the_image_tag_is_never_kept_even_when_spelled_like_a_derived_tag() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (mut store, _, _) = recording(&subject);
    // The image is named `app:sha256-<hex of its digest>`: the tag it was resolved by is the
    // image's own, not discovery's referrers tag.
    let own = ImageRef::parse(&format!(
        "registry.example/team/app:{}",
        subject.tag_prefix()
    ))
    .unwrap();
    store.insert_tag(&own, &subject.tag_prefix(), &subject);
    let now = SystemTime::now();
    open(dir.path(), &fingerprint("a"), now).save(&store, [(&own, &subject)]);
    let reader = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(reader.tag(&own, &subject.tag_prefix()), None);
    // Discovery's own derived tags are still kept.
    assert!(reader
        .tag(&own, &format!("{}.sig", subject.tag_prefix()))
        .is_some());
}

#[cfg(unix)]
#[test]
fn a_fifo_or_other_non_regular_file_is_ignored_removed_and_reported_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Digest::sha256_of(b"image");
    let (store, sig, _) = recording(&subject);
    let now = SystemTime::now();
    let img = image();
    let writer = open(dir.path(), &fingerprint("a"), now);
    writer.save(&store, [(&img, &subject)]);
    let mkfifo = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let entry = writer.entry_path(&Store::referrers_key(&img, &subject));
    mkfifo(&entry);
    let object = writer.object_path(&sig).unwrap();
    mkfifo(&object);

    let reader = open(dir.path(), &fingerprint("a"), now);
    assert_eq!(
        reader.tag(&img, &format!("{}.sig", subject.tag_prefix())),
        None
    );
    assert_eq!(Recall::object(&reader, &sig), None);
    let problems = reader.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.contains("not a regular file")),
        "{problems:?}"
    );
    assert!(!entry.exists() && !object.exists());
    // Saving over where a FIFO was (or still is) writes the object, without blocking.
    mkfifo_again(&object);
    reader.save(&store, [(&img, &subject)]);
    assert!(std::fs::symlink_metadata(&object).unwrap().is_file());
}

#[cfg(unix)]
fn mkfifo_again(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_directory_that_cannot_hold_the_cache_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("v1")).unwrap();
    std::fs::write(dir.path().join("v1/objects"), b"").unwrap();
    let err = Cache::open(
        CacheSettings::new(dir.path().to_owned()),
        fingerprint("a"),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("v1/objects"), "{err}");
}
