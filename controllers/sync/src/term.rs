//! Master terms and the metadata each copy of the data keeps about them
//! (see the crate docs for the layout and the rules).

use std::cmp::Ordering;
use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Name of the metadata directory inside the replicated path; rsync
/// excludes it, so it describes the copy it sits in and never travels.
pub const META_DIR: &str = ".hareconcile";

/// One master term: the epoch the master claimed and who it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Term {
    pub epoch: u64,
    pub node: String,
}

impl Term {
    /// What a copy that never saw a master holds.
    pub fn none() -> Term {
        Term {
            epoch: 0,
            node: "-".into(),
        }
    }

    /// Whether a push by the master of `self` may overwrite a copy written
    /// in term `target`: only older epochs, or its own term.
    pub fn may_overwrite(&self, target: &Term) -> bool {
        target.epoch < self.epoch || target == self
    }

    /// The term a master claims after seeing `seen`.
    pub fn next(seen: &Term, node: &str) -> Term {
        Term {
            epoch: seen.epoch + 1,
            node: node.to_string(),
        }
    }
}

impl Ord for Term {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.epoch, &self.node).cmp(&(other.epoch, &other.node))
    }
}

impl PartialOrd for Term {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.epoch, self.node)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a term: expected \"EPOCH NODE\"")]
pub struct BadTerm(pub String);

impl FromStr for Term {
    type Err = BadTerm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTerm(s.to_string());
        let (epoch, node) = s.trim().split_once(' ').ok_or_else(bad)?;
        let node = node.trim();
        if node.is_empty() || node.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Term {
            epoch: epoch.parse().map_err(|_| bad())?,
            node: node.to_string(),
        })
    }
}

/// The last complete push a copy received: the source's state as of
/// `as_of` (the master's clock when the pass started), in term `term`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub as_of: SystemTime,
    pub term: Term,
}

impl FromStr for Synced {
    type Err = BadTerm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (millis, term) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| BadTerm(s.to_string()))?;
        let millis: u64 = millis.parse().map_err(|_| BadTerm(s.to_string()))?;
        Ok(Synced {
            as_of: UNIX_EPOCH + Duration::from_millis(millis),
            term: term.parse()?,
        })
    }
}

impl fmt::Display for Synced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", unix_millis(self.as_of), self.term)
    }
}

/// The term whose state a copy holds *completely*, which is what a new
/// master compares before claiming (the `term` file alone is not enough:
/// the guard records a pusher's term before the data moves, so an
/// interrupted first push leaves a newer term over older data).
/// A copy whose term its own node claimed was written by that node as
/// master: it is that term's data. Any other copy holds the term of its
/// last complete push, or nothing.
pub fn data_term(node: &str, term: &Term, synced: Option<&Synced>) -> Term {
    if term.node == node {
        return term.clone();
    }
    match synced {
        Some(synced) if synced.term <= *term => synced.term.clone(),
        _ => Term::none(),
    }
}

/// What `cat term; cat synced` printed on a peer (see
/// [`crate::remote::read_meta_line`]).
pub fn parse_meta(text: &str) -> Result<(Term, Option<Synced>), BadTerm> {
    let mut lines = text.lines();
    let term = lines.next().unwrap_or_default().parse()?;
    let synced = match lines.next().map(str::trim) {
        None | Some("") | Some("-") => None,
        Some(line) => Some(line.parse()?),
    };
    Ok((term, synced))
}

/// Milliseconds since the Unix epoch, as the remote guard records them.
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Corrupt { path: PathBuf, source: BadTerm },
    #[error("{0}: still locked by another copy in progress after {1:?}")]
    LockTimeout(PathBuf, Duration),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MetaError + '_ {
    move |source| MetaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The metadata directory of one copy of the data.
#[derive(Debug, Clone)]
pub struct Meta {
    dir: PathBuf,
}

impl Meta {
    pub fn of(data: &Path) -> Meta {
        Meta {
            dir: data.join(META_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn term_file(&self) -> PathBuf {
        self.dir.join("term")
    }

    pub fn synced_file(&self) -> PathBuf {
        self.dir.join("synced")
    }

    /// The last complete push that changed something in the copy (same
    /// format as `synced`); a pass that found it in step leaves it alone.
    pub fn changed_file(&self) -> PathBuf {
        self.dir.join("changed")
    }

    /// The change this node's afterSync hooks last ran for.
    fn hooked_file(&self) -> PathBuf {
        self.dir.join("hooked")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }

    pub fn snapshots(&self) -> PathBuf {
        self.dir.join("snapshots")
    }

    /// The term of this copy; [`Term::none`] if it never saw a master.
    pub fn term(&self) -> Result<Term, MetaError> {
        let path = self.term_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .parse()
                .map_err(|source| MetaError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Term::none()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub fn synced(&self) -> Result<Option<Synced>, MetaError> {
        read_record(self.synced_file())
    }

    pub fn changed(&self) -> Result<Option<Synced>, MetaError> {
        read_record(self.changed_file())
    }

    pub fn hooked(&self) -> Result<Option<Synced>, MetaError> {
        read_record(self.hooked_file())
    }

    /// Records that the afterSync hooks ran for `change`. Not fsynced:
    /// after a crash they run once more, which a reload tolerates.
    pub fn set_hooked(&self, change: &Synced) -> Result<(), MetaError> {
        let path = self.hooked_file();
        let temporary = self.dir.join("hooked.tmp");
        std::fs::write(&temporary, format!("{change}\n")).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))
    }

    /// Records `term` durably, so a crash leaves the old or the new term;
    /// readable by the ssh user whose guard checks it when this copy is
    /// a target.
    pub fn set_term(&self, term: &Term) -> Result<(), MetaError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.term_file();
        hareconcile_fs::write_durably_shared(&path, format!("{term}\n").as_bytes())
            .map_err(io(&path))
    }

    /// Takes this copy's lock, the one the remote guard takes with
    /// flock(1), waiting up to `timeout` for a push in progress.
    pub async fn lock(&self, timeout: Duration) -> Result<MetaLock, MetaError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.lock_file();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // SAFETY: flock on a descriptor this function owns.
            let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if taken == 0 {
                return Ok(MetaLock { _file: file });
            }
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(&path)(error));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MetaError::LockTimeout(path, timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A `synced`-style record (`MILLIS EPOCH NODE`), `None` if absent.
fn read_record(path: PathBuf) -> Result<Option<Synced>, MetaError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse()
            .map(Some)
            .map_err(|source| MetaError::Corrupt { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Held while the copy's data or term changes; released on drop (closing
/// the descriptor releases the flock).
pub struct MetaLock {
    _file: File,
}

/// Whether `data` holds anything worth copying: a source that is missing,
/// or empty but for the metadata directory, is a lost disk or an unmounted
/// filesystem, never a state to impose on the targets.
pub fn has_data(data: &Path) -> Result<bool, std::io::Error> {
    for entry in std::fs::read_dir(data)? {
        if entry?.file_name() != META_DIR {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(s: &str) -> Term {
        s.parse().unwrap()
    }

    #[test]
    fn a_push_never_overwrites_a_newer_term() {
        let mine = term("3 n1");
        assert!(mine.may_overwrite(&term("2 n2")));
        assert!(mine.may_overwrite(&Term::none()));
        assert!(mine.may_overwrite(&term("3 n1")), "its own term");
        assert!(!mine.may_overwrite(&term("4 n2")), "a newer master's copy");
        assert!(
            !mine.may_overwrite(&term("3 n2")),
            "the same epoch claimed on the other side of a partition"
        );
    }

    #[test]
    fn terms_order_by_epoch_then_node() {
        assert!(term("2 n9") < term("3 n1"));
        assert!(term("3 n1") < term("3 n2"));
        assert_eq!(Term::next(&term("3 n2"), "n1"), term("4 n1"));
        assert!(Term::none() < term("1 n1"));
    }

    #[test]
    fn terms_round_trip_and_reject_garbage() {
        assert_eq!(term("12 node-a\n").to_string(), "12 node-a");
        for bad in ["", "7", "x n1", "7 ", "7 a b"] {
            assert!(bad.parse::<Term>().is_err(), "{bad:?}");
        }
        let synced: Synced = "1700000000123 4 n2\n".parse().unwrap();
        assert_eq!(unix_millis(synced.as_of), 1_700_000_000_123);
        assert_eq!(synced.term, term("4 n2"));
    }

    #[test]
    fn an_interrupted_push_does_not_make_a_copy_current() {
        let synced = |t: &str| Synced {
            as_of: UNIX_EPOCH,
            term: term(t),
        };
        // The master's own copy is its term's data.
        assert_eq!(data_term("n1", &term("3 n1"), None), term("3 n1"));
        // A replica holds what its last complete push brought.
        assert_eq!(
            data_term("n2", &term("3 n1"), Some(&synced("3 n1"))),
            term("3 n1")
        );
        // A push from term 4 recorded its term, then was cut off: the
        // copy still holds term 3's data, or nothing known.
        assert_eq!(
            data_term("n2", &term("4 n3"), Some(&synced("3 n1"))),
            term("3 n1")
        );
        assert_eq!(data_term("n1", &term("2 n2"), None), Term::none());
        assert_eq!(
            parse_meta("2 n2\n1700000000000 1 n1\n").unwrap(),
            (term("2 n2"), Some(synced_at(1_700_000_000_000, "1 n1")))
        );
        assert_eq!(parse_meta("0 -\n-\n").unwrap(), (Term::none(), None));
        assert!(parse_meta("garbage").is_err());
    }

    fn synced_at(millis: u64, t: &str) -> Synced {
        Synced {
            as_of: UNIX_EPOCH + Duration::from_millis(millis),
            term: term(t),
        }
    }

    #[test]
    fn the_term_persists_on_disk_beside_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::of(dir.path());
        assert_eq!(meta.term().unwrap(), Term::none());
        meta.set_term(&term("5 n1")).unwrap();
        assert_eq!(Meta::of(dir.path()).term().unwrap(), term("5 n1"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".hareconcile/term")).unwrap(),
            "5 n1\n"
        );
        std::fs::write(meta.term_file(), "garbage").unwrap();
        assert!(matches!(meta.term(), Err(MetaError::Corrupt { .. })));
    }

    #[test]
    fn an_empty_or_missing_source_has_no_data() {
        let dir = tempfile::tempdir().unwrap();
        assert!(has_data(&dir.path().join("missing")).is_err());
        assert!(!has_data(dir.path()).unwrap());
        Meta::of(dir.path()).set_term(&term("1 n1")).unwrap();
        assert!(!has_data(dir.path()).unwrap(), "metadata alone is empty");
        std::fs::write(dir.path().join("a"), "x").unwrap();
        assert!(has_data(dir.path()).unwrap());
    }

    #[tokio::test]
    async fn the_lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::of(dir.path());
        let held = meta.lock(Duration::from_secs(1)).await.unwrap();
        let second = meta.lock(Duration::from_millis(100)).await;
        assert!(matches!(second, Err(MetaError::LockTimeout(..))));
        drop(held);
        meta.lock(Duration::from_secs(5)).await.unwrap();
    }
}
