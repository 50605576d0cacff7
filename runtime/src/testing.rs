//! For tests of code that runs commands: a command that hangs with a
//! child of its own, and a check that the child died with it (feature
//! `testing`).

use std::path::Path;
use std::time::Duration;

/// The argv of a command that never finishes by itself: a shell waiting
/// on a background `sleep 1000` whose pid it writes to `pid_file` (a
/// child that outlives the shell unless its whole group or tree dies).
pub fn hung_command(pid_file: &Path) -> Vec<String> {
    let script = format!("sleep 1000 & echo $! > {}; wait", pid_file.display());
    ["sh", "-c", &script].map(String::from).to_vec()
}

/// Whether process `pid` still runs (a zombie waiting for its reaper
/// does not).
pub fn runs(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Panics unless the `sleep` of [`hung_command`] that wrote `pid_file`
/// is gone (see [`assert_dies`]).
pub fn assert_child_died(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file)
        .expect("the command wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid");
    assert_dies(pid);
}

/// Panics unless process `pid` stops running soon: killed, it only
/// needs its reaper to get to it.
pub fn assert_dies(pid: i32) {
    for _ in 0..500 {
        if !runs(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("process {pid} outlived what should have ended it");
}
