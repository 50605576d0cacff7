//! For tests of code that runs commands: a command that hangs with a
//! child of its own, a check that the child died with it, and stand-in
//! executables that never fail with "Text file busy" (feature `testing`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Writes `text` to `path` as an executable (mode 0755): a stand-in
/// command or a hook script.
///
/// The file is written by a `sh` child, never through a descriptor of
/// this process. Test processes are multi-threaded, and a child another
/// thread forks holds copies of all their descriptors until it execs; as
/// long as one copy is open for writing on the file, executing it fails
/// with "Text file busy" (ETXTBSY), whoever executes it. The child's
/// descriptor lives and dies in the child; this process only writes the
/// text into a pipe.
pub fn write_executable(path: &Path, text: &str) {
    let mut writer = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh runs");
    writer
        .stdin
        .take()
        .expect("a piped stdin")
        .write_all(text.as_bytes())
        .expect("sh reads the text");
    let status = writer.wait().expect("sh ends");
    assert!(
        status.success(),
        "writing {} failed: {status}",
        path.display()
    );
}

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
