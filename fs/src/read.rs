//! Regular files, through a size limit, without ever blocking on what is
//! not a regular file.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a path is, for messages about the ones that are not regular files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Symlink,
}

impl FileKind {
    pub fn of(metadata: &Metadata) -> FileKind {
        let t = metadata.file_type();
        if t.is_file() {
            FileKind::Regular
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Socket
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Symlink => "a symbolic link",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("it is {0}, not a regular file: only regular files are read")]
    NotRegular(FileKind),
    #[error("it is larger than {}: no file of this kind is that large; check what the path names", size(*.limit))]
    TooLarge { limit: u64 },
    /// Where the first byte that is not UTF-8 is, as [`utf8_error_at`]
    /// gives it: parsers report it there, as any other syntax error.
    #[error("it is not UTF-8 text (line {line}, column {column} is not): save it as UTF-8")]
    NotUtf8 { line: usize, column: usize },
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn regular(metadata: &Metadata) -> Result<(), ReadError> {
    match FileKind::of(metadata) {
        FileKind::Regular => Ok(()),
        other => Err(ReadError::NotRegular(other)),
    }
}

/// Opens `path` (following links) if it is a regular file, without
/// blocking if it is not: the type is checked before opening, so a device
/// is never opened, and again on the descriptor, opened non-blocking, in
/// case the path was swapped for a FIFO in between.
pub(crate) fn open_regular(path: &Path) -> Result<(File, Metadata), ReadError> {
    regular(&std::fs::metadata(path)?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let metadata = file.metadata()?;
    regular(&metadata)?;
    Ok((file, metadata))
}

/// The bytes of the regular file `path`, at most `limit` of them.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, metadata) = open_regular(path)?;
    read_open(file, &metadata, limit)
}

pub(crate) fn read_open(file: File, metadata: &Metadata, limit: u64) -> Result<Vec<u8>, ReadError> {
    if metadata.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    // The length may change while reading (a file being written): the
    // limit holds whatever it grows to.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_regular`] for text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_regular(path, limit)?).map_err(|e| {
        let (line, column) = utf8_error_at(e.as_bytes(), e.utf8_error().valid_up_to());
        ReadError::NotUtf8 { line, column }
    })
}

/// The line and column (1-based, the column in characters) of the byte at
/// `valid_up_to`, the first that is not UTF-8 in `bytes`: where an editor
/// shows the mistake.
pub fn utf8_error_at(bytes: &[u8], valid_up_to: usize) -> (usize, usize) {
    let before = &bytes[..valid_up_to];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    // Everything before `valid_up_to` is valid UTF-8.
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    pub(crate) fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn reads_a_regular_file_within_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "secret\n").unwrap();
        assert_eq!(read_text(&file, 7).unwrap(), "secret\n");
        let error = read_text(&file, 6).unwrap_err();
        assert!(matches!(error, ReadError::TooLarge { limit: 6 }), "{error}");
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        // Nobody writes to the FIFO: a blocking open would wait forever.
        for (path, kind) in [
            (Path::new("/dev/zero"), FileKind::CharDevice),
            (fifo.as_path(), FileKind::Fifo),
            (dir.path(), FileKind::Directory),
        ] {
            match read_regular(path, 1 << 20) {
                Err(ReadError::NotRegular(found)) => assert_eq!(found, kind, "{path:?}"),
                other => panic!("{path:?}: {other:?}"),
            }
        }
        let error = read_regular(Path::new("/dev/zero"), 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is a character device, not a regular file: only regular files are read"
        );
    }

    #[test]
    fn the_limit_is_named_in_the_message_and_text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
        assert!(read_regular(&big, 1 << 20)
            .unwrap_err()
            .to_string()
            .starts_with("it is larger than 1 MiB"));
        let latin1 = dir.path().join("latin1");
        std::fs::write(&latin1, b"name: caf\xe9\n\xc3\xa9t\xe9\n").unwrap();
        assert!(matches!(
            read_text(&latin1, 100),
            Err(ReadError::NotUtf8 {
                line: 1,
                column: 10
            })
        ));
        // Columns count characters, not bytes.
        std::fs::write(&latin1, b"name: ok\n\xc3\xa9t\xe9\n").unwrap();
        assert!(matches!(
            read_text(&latin1, 100),
            Err(ReadError::NotUtf8 { line: 2, column: 3 })
        ));
    }
}
