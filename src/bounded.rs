//! Reading files whose size is not ours to choose (manifests, locks, roots, policies, config,
//! keys) without letting a huge file or an endless stream cost more memory than an accepted
//! one, and without letting a FIFO or a device in a file's place hold the run.

use std::io::Read;
use std::path::Path;

/// Reads `reader` to its end, but at most one byte past `limit`: `Ok(None)` when there is more
/// than `limit` bytes.
///
/// # Errors
/// The reader's I/O error.
pub fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let over = u64::try_from(bytes.len()).map_or(true, |n| n > limit);
    Ok((!over).then_some(bytes))
}

/// Something other than a regular file where a file was to be read. Inside an
/// [`std::io::Error`] of kind [`std::io::ErrorKind::InvalidInput`]
/// (see [`is_not_regular`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a regular file but {0}")]
pub struct NotRegular(pub &'static str);

/// Whether `error` is [`read_file`]'s refusal of a FIFO, device or socket (a directory is
/// refused with the system's own `EISDIR`).
pub fn is_not_regular(error: &std::io::Error) -> Option<NotRegular> {
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<NotRegular>())
        .copied()
}

/// Whether a final symbolic link is followed when opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it (files the user names: config, keys, roots, policies, locks).
    Follow,
    /// Refuse it (files the program wrote itself, e.g. the verification cache: a link
    /// planted there is not followed).
    Refuse,
}

/// Opens `path` for reading (`append: false`) or appending, without blocking on a FIFO
/// (`O_NONBLOCK`; a regular file ignores it) and, with [`Links::Refuse`], without following
/// a final symbolic link (`O_NOFOLLOW`).
///
/// # Errors
/// Opening the file.
pub fn open_nonblocking(path: &Path, append: bool, links: Links) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::File::options();
    if append {
        options.append(true);
    } else {
        options.read(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let nofollow = match links {
            Links::Follow => 0,
            Links::Refuse => libc::O_NOFOLLOW,
        };
        options.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    #[cfg(not(unix))]
    let _ = links;
    options.open(path)
}

/// What kind of file `meta` describes, for [`NotRegular`]; `None` for a regular file.
fn not_regular(meta: &std::fs::Metadata) -> Option<NotRegular> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return Some(NotRegular("a FIFO (named pipe)"));
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some(NotRegular("a device"));
        }
        if kind.is_socket() {
            return Some(NotRegular("a socket"));
        }
    }
    Some(NotRegular("a special file"))
}

/// [`read_at_most`] on the regular file at `path`, following a symbolic link. A FIFO, device
/// or socket is refused without blocking (an [`std::io::ErrorKind::InvalidInput`] error
/// holding a [`NotRegular`]): a FIFO given as a config or key path would otherwise wait for a
/// writer forever. A directory is refused with `EISDIR`.
///
/// # Errors
/// Opening or reading the file; not a regular file.
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    read_regular(path, limit, Links::Follow)
}

/// [`read_file`], choosing whether a final symbolic link is followed.
///
/// # Errors
/// Opening or reading the file; not a regular file (with [`Links::Refuse`], a symbolic link
/// too: the open fails with `ELOOP`).
pub fn read_regular(path: &Path, limit: u64, links: Links) -> std::io::Result<Option<Vec<u8>>> {
    let file = open_nonblocking(path, false, links)?;
    // Checked on the opened file, so that nothing can be swapped in between.
    let meta = file.metadata()?;
    if meta.is_dir() {
        // The words `read` would have said (`Is a directory`).
        #[cfg(unix)]
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
        #[cfg(not(unix))]
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "Is a directory",
        ));
    }
    if let Some(refused) = not_regular(&meta) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            refused,
        ));
    }
    read_at_most(file, limit)
}

/// [`read_file`] as UTF-8 text; a file that is not UTF-8 is an
/// [`std::io::ErrorKind::InvalidData`] error, as with [`std::fs::read_to_string`].
///
/// # Errors
/// As [`read_file`]; not UTF-8.
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<Option<String>> {
    read_file(path, limit)?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_one_byte_more() {
        assert_eq!(read_at_most(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_at_most(&b"abcd"[..], 3).unwrap(), None);
        assert_eq!(read_at_most(std::io::repeat(b'x'), 10).unwrap(), None);
        let e = read_file(Path::new("/nonexistent/supplygate"), 1).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_directory_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo: {made}");
        let e = read_file(&fifo, 10).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(is_not_regular(&e), Some(NotRegular("a FIFO (named pipe)")));
        assert_eq!(e.to_string(), "not a regular file but a FIFO (named pipe)");

        let e = read_file(Path::new("/dev/null"), 10).unwrap_err();
        assert_eq!(is_not_regular(&e), Some(NotRegular("a device")), "{e}");
        let e = read_file(dir.path(), 10).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");

        // A link to a regular file is followed, unless links are refused.
        let file = dir.path().join("file");
        std::fs::write(&file, "abc").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_file(&link, 3).unwrap(), Some(b"abc".to_vec()));
        let e = read_regular(&link, 3, Links::Refuse).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert_eq!(read_text(&file, 3).unwrap().as_deref(), Some("abc"));
    }
}
