//! Waiting for what agents do asynchronously. Deadlines are generous and
//! only bound how long a broken build takes to fail: a test asserts what
//! happens, never how fast (timings are printed by the benchmarks).

use std::time::{Duration, Instant};

/// How often a condition is checked: fine enough for the failover figures
/// the benchmarks take with it, coarse enough not to load a busy machine.
const EVERY: Duration = Duration::from_millis(20);

/// How often [`retry`] tries again: its attempts run commands (an apply, a
/// status across nodes), far dearer than a check.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// Checks `done` until it holds or `timeout` passed; whether it held.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(EVERY);
    }
    true
}

/// Waits up to `timeout` until `done`; fails with `what` and `explain()`
/// (the agents' logs, the state last seen) if it never holds.
pub fn eventually(
    timeout: Duration,
    what: &str,
    explain: &dyn Fn() -> String,
    done: impl FnMut() -> bool,
) {
    assert!(wait_until(timeout, done), "{what}\n{}", explain());
}

/// Calls `attempt` until it returns `Ok` or `timeout` passed; that value.
/// Fails with `what` and the last `Err`, which says what was seen (the
/// output of the last try, the agents' logs).
pub fn retry<T>(
    timeout: Duration,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) => assert!(Instant::now() < deadline, "{what}\n{last}"),
        }
        std::thread::sleep(RETRY_EVERY);
    }
}
