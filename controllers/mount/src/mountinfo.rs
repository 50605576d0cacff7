//! What the kernel says is mounted, from `/proc/self/mountinfo`
//! (proc(5)): reading it never touches the filesystems themselves, so it
//! answers even while a network mount hangs.

use std::path::{Path, PathBuf};

/// One line of mountinfo: a mount as this process's mount namespace sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    /// Type as the kernel names it: `nfs4` for a `-t nfs` v4 mount,
    /// `fuse.sshfs` for sshfs.
    pub fs_type: String,
    /// The mount source (`server:/export`, `root@nas:/export`, `/dev/sda1`).
    pub source: String,
    /// Per-mount options (`rw`, `nosuid`, `relatime`...).
    pub mount_options: Vec<String>,
    /// Per-superblock options, where filesystems show theirs (`vers=4.2`).
    pub super_options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {problem}")]
pub struct ParseError {
    pub line: usize,
    pub problem: &'static str,
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011` tab,
/// `\012` newline, `\134` backslash) in a path or source field.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                // Three octal digits reach 511; the kernel only escapes bytes.
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn options(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter(|o| !o.is_empty())
        .map(unescape)
        .collect()
}

/// Parses the whole file, in the kernel's order (a mount listed later
/// over the same point hides the earlier one).
pub fn parse(text: &str) -> Result<Vec<MountEntry>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            parse_line(line).map_err(|problem| ParseError {
                line: i + 1,
                problem,
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Result<MountEntry, &'static str> {
    let fields: Vec<&str> = line.split(' ').collect();
    // id, parent, major:minor, root, mount point, options, optional
    // fields (zero or more), "-", type, source, super options.
    let separator = fields
        .iter()
        .skip(6)
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .ok_or("no \"-\" separator after the optional fields")?;
    if fields.len() < separator + 3 {
        return Err("too few fields");
    }
    Ok(MountEntry {
        mount_point: PathBuf::from(unescape(fields[4])),
        fs_type: unescape(fields[separator + 1]),
        source: unescape(fields[separator + 2]),
        mount_options: options(fields[5]),
        super_options: fields
            .get(separator + 3)
            .map_or_else(Vec::new, |f| options(f)),
    })
}

/// The mount visible at `path`: the last one listed there.
pub fn find<'a>(entries: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    entries.iter().rev().find(|e| e.mount_point == path)
}

/// Reading or parsing `/proc/self/mountinfo` failed.
#[derive(Debug, thiserror::Error)]
#[error("reading /proc/self/mountinfo: {0}")]
pub struct ReadError(#[from] std::io::Error);

impl From<ReadError> for hareconcile_runtime::ReconcileError {
    fn from(error: ReadError) -> Self {
        hareconcile_runtime::ReconcileError::system(error)
    }
}

/// This process's mounts, read afresh.
pub fn read() -> Result<Vec<MountEntry>, ReadError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    parse(&text).map_err(|e| ReadError(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue
61 27 0:52 / /srv/data rw,nosuid,nodev,relatime shared:30 - fuse.sshfs root@10.77.0.3:/export rw,user_id=0,group_id=0
62 27 0:53 / /srv/web rw,relatime - nfs4 10.0.0.5:/export/web rw,vers=4.2,rsize=1048576,hard,proto=tcp
63 27 0:54 / /srv/data rw,relatime - tmpfs tmpfs rw
";

    #[test]
    fn reads_fields_around_optional_ones() {
        let entries = parse(SAMPLE).unwrap();
        assert_eq!(entries.len(), 5);
        let ext3 = &entries[1];
        assert_eq!(ext3.mount_point, Path::new("/mnt/with space"));
        assert_eq!(ext3.fs_type, "ext3");
        assert_eq!(ext3.source, "/dev/root");
        assert_eq!(ext3.mount_options, ["rw", "noatime"]);
        assert_eq!(ext3.super_options, ["rw", "errors=continue"]);
        let sshfs = &entries[2];
        assert_eq!(sshfs.fs_type, "fuse.sshfs");
        assert_eq!(sshfs.source, "root@10.77.0.3:/export");
        assert_eq!(entries[3].super_options[1], "vers=4.2");
    }

    #[test]
    fn the_last_mount_over_a_point_is_the_visible_one() {
        let entries = parse(SAMPLE).unwrap();
        assert_eq!(
            find(&entries, Path::new("/srv/data")).unwrap().fs_type,
            "tmpfs"
        );
        assert!(find(&entries, Path::new("/srv")).is_none());
    }

    #[test]
    fn decodes_octal_escapes_and_leaves_other_backslashes() {
        assert_eq!(unescape("a\\040b\\011c\\012d\\134e"), "a b\tc\nd\\e");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("not\\089octal"), "not\\089octal");
        assert_eq!(unescape("caf\\303\\251"), "café");
    }

    #[test]
    fn rejects_lines_without_the_separator() {
        let error = parse("22 27 0:21 / /proc rw,relatime proc proc rw\n").unwrap_err();
        assert_eq!(error.line, 1);
        let error = parse("22 27 0:21 / /proc rw - proc\n").unwrap_err();
        assert_eq!(error.problem, "too few fields");
    }

    #[test]
    fn reads_this_process_mounts() {
        let entries = read().unwrap();
        assert!(entries.iter().any(|e| e.fs_type == "proc"));
    }
}
