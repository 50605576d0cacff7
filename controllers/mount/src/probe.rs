//! Is a mount still served? A statfs(2) of the mount point reaches the
//! server (NFS FSSTAT, a FUSE statfs request to sshfs), so it fails when
//! the server is gone and blocks when it hangs.
//!
//! The call runs on a thread of its own, never on the async runtime nor
//! its blocking pool: a hung one may never return, and neither the agent
//! nor its shutdown may wait for it. At most one probe per mount is
//! outstanding; while it is, the mount counts as hung without starting
//! another, so a dead server cannot pile threads up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// The question a probe asks of a path.
pub type Check = Arc<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    Healthy,
    Failed(String),
    /// No answer for this long (still waiting).
    Hung(Duration),
}

impl ProbeResult {
    pub fn is_healthy(&self) -> bool {
        *self == ProbeResult::Healthy
    }
}

impl std::fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeResult::Healthy => write!(f, "ok"),
            ProbeResult::Failed(why) => write!(f, "failed: {why}"),
            ProbeResult::Hung(waited) => {
                write!(f, "hung: no answer for {:.1}s", waited.as_secs_f64())
            }
        }
    }
}

struct Outstanding {
    started: Instant,
    answer: oneshot::Receiver<Result<(), String>>,
}

/// Probes one mount.
pub struct Prober {
    check: Check,
    outstanding: Mutex<Option<Outstanding>>,
}

fn statfs(path: &Path) -> Result<(), String> {
    nix::sys::statfs::statfs(path)
        .map(|_| ())
        .map_err(|errno| errno.desc().to_string())
}

impl Default for Prober {
    fn default() -> Self {
        Prober::with_check(Arc::new(statfs))
    }
}

impl Prober {
    pub fn with_check(check: Check) -> Self {
        Prober {
            check,
            outstanding: Mutex::new(None),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Outstanding>> {
        self.outstanding.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&self, path: &Path) -> Result<Outstanding, String> {
        let (answer_tx, answer) = oneshot::channel();
        let check = Arc::clone(&self.check);
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("mount-probe".into())
            .spawn(move || {
                let _ = answer_tx.send(check(&path));
            })
            .map_err(|e| format!("cannot start a probe thread: {e}"))?;
        Ok(Outstanding {
            started: Instant::now(),
            answer,
        })
    }

    /// Asks afresh, waiting at most `timeout`; while an earlier probe is
    /// still unanswered, reports it hung instead.
    pub async fn probe(&self, path: &Path, timeout: Duration) -> ProbeResult {
        let earlier = self.slot().take();
        let started = match earlier {
            Some(mut earlier) => match earlier.answer.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {
                    let waited = earlier.started.elapsed();
                    *self.slot() = Some(earlier);
                    return ProbeResult::Hung(waited);
                }
                // It answered late: that answer is old news, ask again.
                _ => self.start(path),
            },
            None => self.start(path),
        };
        let mut outstanding = match started {
            Ok(outstanding) => outstanding,
            Err(why) => return ProbeResult::Failed(why),
        };
        match tokio::time::timeout(timeout, &mut outstanding.answer).await {
            Ok(Ok(Ok(()))) => ProbeResult::Healthy,
            Ok(Ok(Err(why))) => ProbeResult::Failed(why),
            Ok(Err(_)) => ProbeResult::Failed("the probe thread died".into()),
            Err(_) => {
                let waited = outstanding.started.elapsed();
                *self.slot() = Some(outstanding);
                ProbeResult::Hung(waited)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[tokio::test]
    async fn a_reachable_path_is_healthy_and_a_missing_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let prober = Prober::default();
        let timeout = Duration::from_secs(30);
        assert_eq!(
            prober.probe(dir.path(), timeout).await,
            ProbeResult::Healthy
        );
        let missing = prober.probe(&dir.path().join("gone"), timeout).await;
        assert!(
            matches!(&missing, ProbeResult::Failed(why) if why.contains("No such file")),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn a_hung_probe_is_never_doubled_and_its_end_is_noticed() {
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let started = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&started);
        let prober = Prober::with_check(Arc::new(move |_: &Path| {
            // The first probe hangs until released, as on a dead server.
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = released.lock().unwrap().recv();
            }
            Ok(())
        }));
        let path = Path::new("/");
        let short = Duration::from_millis(50);
        assert!(matches!(
            prober.probe(path, short).await,
            ProbeResult::Hung(_)
        ));
        for _ in 0..3 {
            assert!(matches!(
                prober.probe(path, short).await,
                ProbeResult::Hung(_)
            ));
        }
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one probe outstanding at most"
        );
        release.send(()).unwrap();
        // Once the hung one returns, the next probe asks afresh.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let result = prober.probe(path, Duration::from_secs(30)).await;
            if result.is_healthy() {
                break;
            }
            assert!(Instant::now() < deadline, "still {result}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }
}
