//! Reading files whose size is not ours to choose (manifests, locks, roots, policies) without
//! letting a huge file or an endless stream cost more memory than an accepted one.

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

/// [`read_at_most`] on the file at `path`.
///
/// # Errors
/// Opening or reading the file.
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    read_at_most(std::fs::File::open(path)?, limit)
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
}
