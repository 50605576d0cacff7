//! Secret files: peer tokens, VRRP passwords, mount and git credentials,
//! ssh keys.
//!
//! A secret that its group or everyone may read is no longer a secret, and
//! one owned by another user may be replaced by them. OpenSSH refuses such
//! a private key outright ("UNPROTECTED PRIVATE KEY FILE") rather than warn,
//! because a warning is read after the damage; so does this reader, with
//! the command that fixes it.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::read::{open_regular, read_open, ReadError};

/// Tokens, passwords and credentials are a line or a few; an ssh key a few
/// kilobytes.
const MAX_SECRET_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret file {}: {source}", .path.display())]
    Read { path: PathBuf, source: ReadError },
    #[error(
        "secret file {} may be accessed by {who} (mode {mode:04o}): a secret must be private to its owner, as ssh requires of its keys; run: chmod 600 {}",
        .path.display(), .path.display()
    )]
    Exposed {
        path: PathBuf,
        mode: u32,
        who: &'static str,
    },
    #[error(
        "secret file {} belongs to uid {owner}, neither this agent's user (uid {agent}) nor root: whoever owns it can change it; run: chown {agent} {}",
        .path.display(), .path.display()
    )]
    Foreign {
        path: PathBuf,
        owner: u32,
        agent: u32,
    },
}

/// Refuses a secret file its group or others may access, or that a user
/// other than this process's or root owns.
pub fn check_private(path: &Path, metadata: &Metadata) -> Result<(), SecretError> {
    let agent = unsafe { libc::geteuid() };
    let owner = metadata.uid();
    if owner != agent && owner != 0 {
        return Err(SecretError::Foreign {
            path: path.to_path_buf(),
            owner,
            agent,
        });
    }
    let mode = metadata.mode() & 0o7777;
    let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
        (false, false) => return Ok(()),
        (true, false) => "its group",
        (false, true) => "others",
        (true, true) => "its group and others",
    };
    Err(SecretError::Exposed {
        path: path.to_path_buf(),
        mode,
        who,
    })
}

/// The bytes of the secret file `path`: a private regular file, at most
/// 64 KiB.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    let read = |source| SecretError::Read {
        path: path.to_path_buf(),
        source,
    };
    let (file, metadata) = open_regular(path).map_err(read)?;
    // Judged on the descriptor read, so the file checked is the one read.
    check_private(path, &metadata)?;
    read_open(file, &metadata, MAX_SECRET_BYTES).map_err(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn secret(mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn a_private_file_is_read() {
        for mode in [0o600, 0o400] {
            let (_dir, path) = secret(mode);
            assert_eq!(read_secret(&path).unwrap(), b"s3cret\n");
        }
    }

    #[test]
    fn a_file_others_may_read_is_refused_with_the_fix() {
        let (_dir, path) = secret(0o644);
        let message = read_secret(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "secret file {p} may be accessed by its group and others (mode 0644): a secret must be private to its owner, as ssh requires of its keys; run: chmod 600 {p}",
                p = path.display()
            )
        );
        for (mode, who) in [(0o640, "its group"), (0o602, "others")] {
            let (_dir, path) = secret(mode);
            let error = read_secret(&path).unwrap_err();
            assert!(
                matches!(&error, SecretError::Exposed { who: w, .. } if *w == who),
                "{error}"
            );
        }
    }

    #[test]
    fn devices_are_refused_before_permissions_are_judged() {
        let error = read_secret(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "secret file /dev/zero: it is a character device, not a regular file: only regular files are read"
        );
    }

    #[test]
    fn a_file_of_another_user_is_refused() {
        let (_dir, path) = secret(0o600);
        let metadata = std::fs::metadata(&path).unwrap();
        if unsafe { libc::geteuid() } != 0 {
            assert!(std::env::var_os("CI").is_none(), "CI runs tests as root");
            return;
        }
        // As root, hand the file to a user that is neither root nor us.
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 4242, metadata.gid()) }, 0);
        let error = read_secret(&path).unwrap_err();
        assert!(
            matches!(
                error,
                SecretError::Foreign {
                    owner: 4242,
                    agent: 0,
                    ..
                }
            ),
            "{error}"
        );
    }
}
