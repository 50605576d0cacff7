//! The thread every VRRP instance runs on: one OS thread named `vrrp` with
//! a current-thread tokio runtime of its own, at real-time priority
//! (SCHED_RR) when the kernel allows it, as keepalived's
//! `vrrp_rt_priority` puts its VRRP process.
//!
//! On the agent's shared runtime an advert waited behind whatever else
//! was ready (compose, GitOps, the API) and behind every other process of
//! the host: under CPU load adverts stalled for 50-135 ms, and at 10 ms
//! adverts the backup takes over after 30 ms. A real-time thread runs
//! before every normal one the moment its timer fires; one thread for all
//! instances also keeps their timers, sockets and netlink on one reactor,
//! with no wake-ups handed between worker threads.
//!
//! Nothing it starts inherits the priority: the policy is set with
//! SCHED_RESET_ON_FORK, so the runtime's blocking threads and every
//! process spawned from this thread (notify hooks, `nft`) start at normal
//! priority. A hook script must never run at real-time priority.
//!
//! RLIMIT_RTTIME bounds a runaway: a thread at real-time priority that
//! runs for [`RT_TIME_LIMIT`] without sleeping gets the agent killed by
//! the kernel (dmesg: "RT Watchdog Timeout"), so that systemd restarts it
//! and the other node takes over, instead of a core that normal processes
//! never get back. keepalived's default is 10 ms for its VRRP process; one
//! runtime polling every instance in turn needs more headroom than that.

use std::fmt;
use std::future::Future;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use tokio::runtime::{EnterGuard, Handle};
use tracing::{info, warn};

/// From <linux/sched.h>; the libc crate does not define it for Linux.
const SCHED_RESET_ON_FORK: libc::c_int = 0x4000_0000;

/// How long the VRRP thread may run at real-time priority without
/// sleeping before the kernel kills the agent.
pub const RT_TIME_LIMIT: Duration = Duration::from_millis(200);

/// The scheduling the VRRP thread asks for (`--vrrp-rt-priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// SCHED_RR at this priority (1-99).
    RealTime(u8),
    /// The normal scheduler (SCHED_OTHER), as every other thread.
    Normal,
}

impl Scheduling {
    /// What the agent asks for unless told otherwise: above every normal
    /// process, below the kernel's threaded interrupt handlers (50) and
    /// anything an operator deliberately runs higher.
    pub const DEFAULT: Scheduling = Scheduling::RealTime(10);

    /// The SCHED_RR priority, 0 for the normal scheduler (as `chrt` shows it).
    pub fn rt_priority(self) -> u8 {
        match self {
            Scheduling::RealTime(priority) => priority,
            Scheduling::Normal => 0,
        }
    }
}

impl fmt::Display for Scheduling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheduling::RealTime(priority) => write!(f, "{priority}"),
            Scheduling::Normal => f.write_str("off"),
        }
    }
}

impl FromStr for Scheduling {
    type Err = String;

    fn from_str(text: &str) -> Result<Scheduling, String> {
        if text == "off" {
            return Ok(Scheduling::Normal);
        }
        match text.parse::<u8>() {
            Ok(priority @ 1..=99) => Ok(Scheduling::RealTime(priority)),
            _ => Err(format!(
                "{text:?}: give a SCHED_RR priority from 1 to 99, or `off` for normal scheduling"
            )),
        }
    }
}

/// The running VRRP thread: where instance tasks are spawned, and the
/// scheduling it got.
#[derive(Clone)]
pub struct VrrpThread {
    runtime: Handle,
    scheduling: Scheduling,
}

impl VrrpThread {
    /// Starts the thread and its runtime, which live as long as the
    /// process: instances are stopped through their handles, and a
    /// runtime shut down under a handle would fail its next spawn.
    /// Asked for real time and refused (no CAP_SYS_NICE, a container's
    /// cgroup without real-time budget), it warns once and runs at
    /// normal priority.
    pub fn start(requested: Scheduling) -> io::Result<VrrpThread> {
        let (started, outcome) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("vrrp".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                let scheduling = schedule_this_thread(requested);
                let _ = started.send(Ok(VrrpThread {
                    runtime: runtime.handle().clone(),
                    scheduling,
                }));
                runtime.block_on(std::future::pending::<()>());
            })?;
        outcome
            .recv()
            .map_err(|_| io::Error::other("the VRRP thread ended while starting"))?
    }

    /// The scheduling the thread runs with.
    pub fn scheduling(&self) -> Scheduling {
        self.scheduling
    }

    /// Runs `task` to completion on the VRRP thread; whatever it spawns
    /// stays there.
    pub async fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> T {
        match self.runtime.spawn(task).await {
            Ok(output) => output,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => unreachable!("the VRRP runtime lives as long as the process"),
        }
    }

    /// While the guard lives, `tokio::spawn` and new sockets on this
    /// thread go to the VRRP thread's runtime.
    pub fn enter(&self) -> EnterGuard<'_> {
        self.runtime.enter()
    }
}

/// Applies `requested` to the calling thread and says what it got.
fn schedule_this_thread(requested: Scheduling) -> Scheduling {
    let Scheduling::RealTime(priority) = requested else {
        info!("VRRP thread at normal priority (--vrrp-rt-priority off)");
        return Scheduling::Normal;
    };
    limit_rt_time();
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: plain system call on the calling thread (pid 0) with a
    // parameter that lives across it.
    let refused =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | SCHED_RESET_ON_FORK, &param) != 0 };
    if refused {
        let error = io::Error::last_os_error();
        warn!(
            %error,
            "VRRP thread at normal priority: the kernel refused SCHED_RR {priority} \
             (the agent needs CAP_SYS_NICE, and a container or cgroup a real-time budget); \
             adverts may stall while the host is busy"
        );
        return Scheduling::Normal;
    }
    info!(
        priority,
        rt_time_limit_ms = RT_TIME_LIMIT.as_millis() as u64,
        "VRRP thread at real-time priority (SCHED_RR)"
    );
    requested
}

/// Lowers RLIMIT_RTTIME to [`RT_TIME_LIMIT`] unless it is lower already.
/// Soft and hard alike: at the soft limit the kernel would send SIGXCPU,
/// which kills with a core dump; the hard limit's SIGKILL says what it is.
fn limit_rt_time() {
    let limit = RT_TIME_LIMIT.as_micros() as libc::rlim_t;
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `current`, which is ours.
    if unsafe { libc::getrlimit(libc::RLIMIT_RTTIME, &mut current) } != 0 {
        return;
    }
    let lowered = libc::rlimit {
        rlim_cur: current.rlim_cur.min(limit),
        rlim_max: current.rlim_max.min(limit),
    };
    // SAFETY: setrlimit reads `lowered`, which is ours.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &lowered) } != 0 {
        warn!(error = %io::Error::last_os_error(), "cannot limit the VRRP thread's real-time CPU (RLIMIT_RTTIME)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_takes_a_priority_or_off() {
        assert_eq!("10".parse(), Ok(Scheduling::RealTime(10)));
        assert_eq!("99".parse(), Ok(Scheduling::RealTime(99)));
        assert_eq!("off".parse(), Ok(Scheduling::Normal));
        for wrong in ["0", "100", "-1", "rr", ""] {
            assert!(wrong.parse::<Scheduling>().is_err(), "{wrong:?}");
        }
        assert_eq!(Scheduling::DEFAULT.to_string(), "10");
        assert_eq!(Scheduling::Normal.to_string(), "off");
    }

    #[tokio::test]
    async fn tasks_run_on_the_vrrp_thread() {
        let thread = VrrpThread::start(Scheduling::Normal).expect("thread starts");
        let name = thread
            .run(async { std::thread::current().name().map(str::to_string) })
            .await;
        assert_eq!(name.as_deref(), Some("vrrp"));
        assert_eq!(thread.scheduling(), Scheduling::Normal);
    }
}
