//! Writing the agent's own state files so that a crash or a power cut
//! leaves the old content or the new, never a torn one.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Replaces `path` with `bytes` durably: written beside it, fsync'd,
/// renamed over it, and its directory fsync'd, so the rename itself
/// survives a power cut. The file is private to its owner (0600): state
/// files may hold objects' specs, which are as private as the store.
pub fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, 0o600)
}

/// [`write_durably`] for a file that other users read: it gets the mode
/// of any new file (0666 less the umask). A Replication copy's term and
/// pair state are read on the peer by the ssh user, who need not be root.
pub fn write_durably_shared(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, 0o666)
}

fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = Path::new(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(temporary, path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_content_and_keeps_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        write_durably(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left beside it");
    }

    #[test]
    fn a_shared_file_is_readable_as_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("term");
        write_durably_shared(&path, b"7 n1\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"7 n1\n");
        // Read, not set: umask(2) would change it for the other tests too.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = (status.lines())
            .find_map(|line| line.strip_prefix("Umask:"))
            .map(|umask| u32::from_str_radix(umask.trim(), 8).unwrap())
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666 & !umask);
    }
}
