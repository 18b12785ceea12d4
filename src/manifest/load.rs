//! Reading manifests: files, directories (walked in name order) and standard input, under
//! [`Limits`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{exclude, Limits, ManifestError, Origin, Source};

/// Reads files, directories (recursively: .yaml, .yml, .json, sorted) and `-` (stdin).
///
/// A directory is walked depth first in name order; hidden entries (`.git`, `.github`,
/// `.gitlab-ci.yml`) and symbolic links to directories are skipped. A file named explicitly is
/// read whatever its extension. `-` reads standard input once, however often it is given.
///
/// # Errors
/// [`ManifestError::Io`] for a path that cannot be read, [`ManifestError::TooLarge`] for a file
/// over `limits.max_file_bytes` (found without reading more than the limit), and
/// [`ManifestError::NotUtf8`]. The first error ends the load; [`load_each`] goes on instead.
pub fn load(paths: &[PathBuf], limits: &Limits) -> Result<Vec<Source>, ManifestError> {
    load_each(paths, limits).into_iter().collect()
}

/// Like [`load`], but goes on after an error: one result per file found (a path that cannot
/// be listed gives one error), in the same order.
#[must_use]
pub fn load_each(paths: &[PathBuf], limits: &Limits) -> Vec<Result<Source, ManifestError>> {
    load_excluding(paths, limits, &[]).sources
}

/// What [`load_excluding`] read, and what it skipped on purpose.
#[derive(Debug, Default)]
pub struct Loaded {
    /// One result per file found, in walking order.
    pub sources: Vec<Result<Source, ManifestError>>,
    /// Paths an exclude glob matched (a directory counts once, its files are not listed).
    pub excluded: Vec<PathBuf>,
}

/// Like [`load_each`], skipping the paths (files and directories) that a glob of `exclude`
/// matches. In a directory only regular files are read (a FIFO named `x.yaml` would block the
/// run): any other file, and a dangling symbolic link, is an error naming itself. A path named
/// explicitly is read whatever it is (`<(kustomize build)` is a pipe).
#[must_use]
pub fn load_excluding(paths: &[PathBuf], limits: &Limits, exclude: &[exclude::PathGlob]) -> Loaded {
    let mut out = Loaded::default();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if !stdin_read {
                stdin_read = true;
                out.sources.push(read_limited(
                    std::io::stdin().lock(),
                    Arc::new(Origin::Stdin),
                    limits,
                ));
            }
            continue;
        }
        if exclude::excluded(exclude, &exclude_base(path, path)) {
            out.excluded.push(path.clone());
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_dir(path, limits, exclude, &mut out),
            Ok(_) => out.sources.push(read_file(path, limits)),
            Err(source) => out.sources.push(Err(ManifestError::Io {
                path: path.clone(),
                source,
            })),
        }
    }
    out
}

/// The path exclude globs see for `child`, found under the walked `root`: as walked for a
/// relative root; for an absolute one, relative to the current directory when under it, else
/// to the root's parent — so that `builds/**` cannot match the directories a checkout happens
/// to live in (`/builds/acme/repo/deploy`).
fn exclude_base(root: &Path, child: &Path) -> PathBuf {
    if root.is_relative() {
        return child.to_path_buf();
    }
    let base = std::env::current_dir()
        .ok()
        .filter(|cwd| cwd.parent().is_some() && root.starts_with(cwd))
        .or_else(|| root.parent().map(Path::to_path_buf));
    base.and_then(|b| child.strip_prefix(&b).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| child.to_path_buf())
}

fn walk_dir(root: &Path, limits: &Limits, exclude: &[exclude::PathGlob], out: &mut Loaded) {
    // Iterative, depth first, entries in name order: the stack holds the entries still to
    // visit, reversed so that the first name is popped first.
    let mut stack = vec![(root.to_path_buf(), true)];
    while let Some((path, is_dir)) = stack.pop() {
        if !is_dir {
            out.sources.push(read_file(&path, limits));
            continue;
        }
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(source) => {
                out.sources.push(Err(ManifestError::Io { path, source }));
                continue;
            }
        };
        let mut children = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(source) => {
                    out.sources.push(Err(ManifestError::Io {
                        path: path.clone(),
                        source,
                    }));
                    continue;
                }
            };
            let child = entry.path();
            let name = entry.file_name();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            // Hidden files are read: `kubectl apply -R` and Argo CD apply them too. Skipped:
            // `.git`, and the kubelet's own entries of a ConfigMap volume (`..data` and the
            // timestamped `..2026_…` directory, reached through the visible links).
            let lossy = name.to_string_lossy();
            if lossy == ".git" || (lossy.starts_with("..") && !file_type.is_file()) {
                tracing::debug!(path = %child.display(), "skipping");
                continue;
            }
            let is_dir = file_type.is_dir();
            // kustomize also reads a kustomization from a file named `Kustomization`.
            if !is_dir && !has_manifest_extension(&child) && name != "Kustomization" {
                continue;
            }
            if exclude::excluded(exclude, &exclude_base(root, &child)) {
                tracing::debug!(path = %child.display(), "excluded");
                out.excluded.push(child);
                continue;
            }
            if is_dir {
                children.push((child, true));
                continue;
            }
            // What a link points to, or the entry itself: only regular files are opened.
            let target = if file_type.is_symlink() {
                std::fs::metadata(&child)
            } else {
                entry.metadata()
            };
            match target {
                Ok(meta) if meta.is_dir() => {
                    tracing::debug!(path = %child.display(), "not following a link to a directory");
                }
                Ok(meta) if meta.is_file() => children.push((child, false)),
                Ok(_) => out.sources.push(Err(not_regular(child))),
                Err(source) if file_type.is_symlink() => {
                    let target = std::fs::read_link(&child)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".to_owned());
                    out.sources.push(Err(ManifestError::Io {
                        path: child,
                        source: std::io::Error::new(
                            source.kind(),
                            format!("dangling symbolic link to `{target}`: {source}"),
                        ),
                    }));
                }
                Err(source) => out.sources.push(Err(ManifestError::Io {
                    path: child,
                    source,
                })),
            }
        }
        children.sort();
        stack.extend(children.into_iter().rev());
    }
}

/// A FIFO, socket or device among the manifests of a directory: not opened (a FIFO would
/// block the run), but reported, since its content was not checked.
fn not_regular(path: PathBuf) -> ManifestError {
    ManifestError::Io {
        path,
        source: std::io::Error::other(
            "not a regular file (a FIFO, socket or device): not read; skip it with `--exclude`",
        ),
    }
}

pub(super) fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

fn read_file(path: &Path, limits: &Limits) -> Result<Source, ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let origin = Arc::new(Origin::File(path.to_path_buf()));
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > limits.max_file_bytes {
        return Err(ManifestError::TooLarge {
            origin,
            limit: limits.max_file_bytes,
        });
    }
    read_limited(file, origin, limits)
}

/// Reads the whole text, refusing more than `limits.max_file_bytes`.
pub(super) fn read_limited(
    reader: impl Read,
    origin: Arc<Origin>,
    limits: &Limits,
) -> Result<Source, ManifestError> {
    let read = crate::bounded::read_at_most(reader, limits.max_file_bytes).map_err(|source| {
        ManifestError::Io {
            path: match origin.as_ref() {
                Origin::File(p) => p.clone(),
                Origin::Stdin => PathBuf::from("-"),
                Origin::Named(name) => PathBuf::from(name),
            },
            source,
        }
    })?;
    let Some(bytes) = read else {
        return Err(ManifestError::TooLarge {
            origin,
            limit: limits.max_file_bytes,
        });
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source { origin, text }),
        Err(_) => Err(ManifestError::NotUtf8 { origin }),
    }
}
