//! The client: writes records 1, 2, 3... through the VIP, one at a time,
//! from a thread inside the client's network namespace, and remembers
//! which ones the server acknowledged (`ok N`: on the master's disk).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hareconcile_lab::Host;
use hareconcile_test_support::lab_manifests::vip;
use hareconcile_test_support::lab_quorum::write_record;

/// Between two writes: about ten a second, enough to see a lost tail.
const PACE: Duration = Duration::from_millis(100);

pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<u64>>>,
    thread: Option<JoinHandle<u64>>,
}

impl Writer {
    pub fn start(client: &Host) -> Writer {
        let netns = std::fs::File::open(client.netns_path()).expect("client namespace");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            move || {
                // setns moves this thread only.
                let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
                let target = SocketAddr::from((vip(), 8080));
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if write_record(target, n) {
                        acked.lock().unwrap().push(n);
                    }
                    std::thread::sleep(PACE);
                }
                n
            }
        });
        Writer {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    /// Every record acknowledged so far, in order.
    pub fn acked(&self) -> Vec<u64> {
        self.acked.lock().unwrap().clone()
    }

    /// Stops writing; how many records were attempted.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap_or_default()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
