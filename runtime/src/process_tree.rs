//! Processes as /proc describes them, and ending one with everything it
//! started when it leads no process group that could be killed whole: a
//! command another program started for us (a container's exec, a receive
//! under sshd).

/// One process on this node.
pub struct Proc {
    pub pid: i32,
    pub parent: i32,
    pub args: Vec<String>,
}

/// Every process this node's PID namespace shows.
pub fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            // `PID (COMM) STATE PPID ...`; COMM may hold spaces and parens.
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let parent = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some(Proc { pid, parent, args })
        })
        .collect()
}

/// Kills (SIGKILL) the processes `roots` and all their descendants; this
/// process is never among them.
pub fn kill_trees(mut doomed: Vec<i32>) {
    let me = std::process::id() as i32;
    doomed.retain(|pid| *pid != me && *pid > 1);
    // Stop before walking the tree: a stopped process cannot fork, so a
    // child started between one look at /proc and the kill (which would
    // outlive its parents) is found by the next look.
    let mut stopped = 0;
    loop {
        for pid in &doomed[stopped..] {
            // SAFETY: kill(2) on a PID read from /proc; one that exited
            // meanwhile is ESRCH, which is what we want anyway.
            unsafe { libc::kill(*pid, libc::SIGSTOP) };
        }
        stopped = doomed.len();
        let children: Vec<i32> = processes()
            .iter()
            .filter(|p| doomed.contains(&p.parent) && !doomed.contains(&p.pid) && p.pid != me)
            .map(|p| p.pid)
            .collect();
        if children.is_empty() {
            break;
        }
        doomed.extend(children);
    }
    for pid in doomed {
        // SAFETY: as above; SIGKILL ends a stopped process too.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::{Command, Stdio};
    use std::time::Duration;

    use crate::testing::{assert_child_died, hung_command};

    /// The shell is in the test's own process group, so only walking its
    /// descendants reaches the background `sleep`.
    #[test]
    fn a_tree_dies_whole_without_a_group_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let argv = hung_command(&pid_file);
        let mut shell = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
            std::thread::sleep(Duration::from_millis(10));
        }
        kill_trees(vec![shell.id() as i32]);
        assert!(
            shell.wait().unwrap().code().is_none(),
            "the shell was killed"
        );
        assert_child_died(&pid_file);
    }
}
