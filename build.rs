//! Build facts for `supplygate version`: the git commit, the build date, the target and the
//! enabled features, as `SUPPLYGATE_BUILD_*` environment variables for `env!`.
//!
//! Never fails the build: outside a git checkout (a crates.io tarball, a source archive) or
//! without `git` the commit is "unknown". No build dependencies: `git` is run if present.
//! `SOURCE_DATE_EPOCH` (reproducible builds) sets the date; without it, the date the build
//! script last ran.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    // Only our own checkout: a tarball unpacked inside another repository (vendored sources)
    // must not report that repository's commit.
    let own_checkout = git(&dir, &["rev-parse", "--show-toplevel"])
        .is_some_and(|top| std::fs::canonicalize(top).ok() == std::fs::canonicalize(&dir).ok());
    let commit = own_checkout
        .then(|| git(&dir, &["rev-parse", "HEAD"]))
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    // Rebuild the facts when HEAD moves (a commit, a checkout); only paths that exist, since
    // a missing one would rerun this script on every build.
    if let Some(git_dir) = own_checkout
        .then(|| git(&dir, &["rev-parse", "--absolute-git-dir"]))
        .flatten()
    {
        for file in ["HEAD", "logs/HEAD"] {
            let path = Path::new(&git_dir).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok())
        })
        .unwrap_or(0);
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(feature_name))
        .collect();
    features.sort();
    println!("cargo:rustc-env=SUPPLYGATE_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=SUPPLYGATE_BUILD_DATE={}", date(epoch));
    println!("cargo:rustc-env=SUPPLYGATE_BUILD_TARGET={target}");
    println!("cargo:rustc-env=SUPPLYGATE_BUILD_PROFILE={profile}");
    println!(
        "cargo:rustc-env=SUPPLYGATE_BUILD_FEATURES={}",
        features.join(",")
    );
    // The crate the embedded Sigstore trusted root comes from, as locked.
    let lock = std::fs::read_to_string(Path::new(&dir).join("Cargo.lock")).unwrap_or_default();
    println!(
        "cargo:rustc-env=SUPPLYGATE_BUILD_TRUST_ROOT_CRATE={}",
        locked_version(&lock, "sigstore-trust-root").unwrap_or("unknown")
    );
}

/// The version of `name` in a `Cargo.lock`.
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let entry = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    lines.find(|line| line.trim() == entry)?;
    lines
        .next()?
        .trim()
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}

/// `git ARGS` in `dir`, trimmed; `None` when git is missing, fails or says nothing.
fn git(dir: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// `CARGO_FEATURE_TUF_REFRESH` -> `tuf-refresh`.
fn feature_name(env: &str) -> String {
    env.to_ascii_lowercase().replace('_', "-")
}

/// `YYYY-MM-DD` (UTC) of a Unix time, by Howard Hinnant's days-to-civil algorithm.
fn date(epoch: i64) -> String {
    let z = epoch.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
