//! The agent holds a descriptor for every peer and API connection, watched
//! file, container stream and ssh master. Service managers usually start
//! daemons with a soft limit of 1024 (for programs still using
//! `select()`), far below the hard limit, and 1,100 idle connections were
//! once enough to break manifest reloads. The agent uses epoll only, so
//! it takes the whole hard limit, as nginx and systemd itself do.

use tracing::{info, warn};

/// Raises the soft RLIMIT_NOFILE to the hard limit.
pub fn raise_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        warn!(error = %std::io::Error::last_os_error(), "cannot read the open files limit");
        return;
    }
    if limit.rlim_cur >= limit.rlim_max {
        return;
    }
    let soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        info!(from = soft, to = limit.rlim_max, "open files limit raised");
    } else {
        warn!(
            limit = soft,
            error = %std::io::Error::last_os_error(),
            "cannot raise the open files limit"
        );
    }
}
