//! Reaching another node: the ssh command line, and the guard that runs
//! on the target around every push so that a copy holding a newer term
//! is never overwritten (rule 3 of the crate docs).

use std::path::{Path, PathBuf};

use hareconcile_model::Ssh;

use crate::term::{unix_millis, Meta, Term};

/// How long the guard waits for the target's lock (a pull or another
/// push in progress there) before giving up this pass.
pub const LOCK_WAIT_SECS: u32 = 60;

/// The marker the guard prints when it refuses; how the pusher tells a
/// refusal from a failure, whatever the transfer tool makes of the exit.
pub const REFUSED: &str = "hareconcile-refused:";

/// Exit status of a refusing guard, when the tool passes it through.
pub const REFUSED_STATUS: i32 = 86;

/// The guard's `$0`: in its command line, followed by the pusher's
/// `EPOCH NODE MILLIS META`, it names a receive in progress and into which
/// copy (see [`crate::receiving`]).
pub const GUARD_NAME: &str = "hareconcile-guard";

/// Runs on the target under its lock, with arguments
/// `EPOCH NODE MILLIS META AFTER COMMAND...`: refuses unless the pusher's
/// term may overwrite the copy's, records the pusher's term durably before
/// any data moves, runs COMMAND (the receiving half of the transfer), then
/// the shell line AFTER (installing databases, see [`crate::sqlite`]), and
/// on success records the source state the copy now holds (`synced`) and,
/// if the pass changed the copy, that too (`changed`, which the target's
/// afterSync hooks follow).
///
/// Changed means: AFTER installed something, or COMMAND's itemized log
/// (`META/pass.log`, see [`crate::rsync::itemized_log`]) lists an item
/// outside the metadata directory, or COMMAND kept no such log (a zfs
/// receive: it cannot tell, so it counts as a change).
const GUARD: &str = r#"e0=$1 n0=$2 ms=$3 m=$4 after=$5; shift 5
t=$(cat "$m/term" 2>/dev/null) || t="0 -"
e=${t%% *} n=${t#* }
case $e in ''|*[!0-9]*) echo "hareconcile-refused: unreadable term '$t' in $m/term" >&2; exit 86;; esac
if [ "$e" -gt "$e0" ] || { [ "$e" -eq "$e0" ] && [ "$n" != "$n0" ]; }; then
  echo "hareconcile-refused: target holds term $t, newer than $e0 $n0" >&2; exit 86
fi
if [ "$t" != "$e0 $n0" ]; then
  printf '%s %s\n' "$e0" "$n0" > "$m/term.tmp" && sync "$m/term.tmp" && mv -f "$m/term.tmp" "$m/term" && sync "$m" || exit 87
fi
rm -f "$m/pass.log"
"$@" || exit $?
if [ -n "$after" ]; then sh -c "$after" || exit 88; fi
item='^[^[]*\[[0-9]+\] ([<>ch.][fdLDS][^ ]{9}|\*deleting) +'
if [ -n "$after" ] || [ ! -e "$m/pass.log" ] || grep -E "$item" "$m/pass.log" | grep -qvE "$item\.hareconcile/"; then
  printf '%s %s %s\n' "$ms" "$e0" "$n0" > "$m/changed.tmp" && mv -f "$m/changed.tmp" "$m/changed"
fi
printf '%s %s %s\n' "$ms" "$e0" "$n0" > "$m/synced.tmp" && mv -f "$m/synced.tmp" "$m/synced""#;

/// Quotes one word for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command line for the remote login shell.
pub fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// How this node reaches the others: the Replication's ssh settings and
/// where the persistent connections' sockets live.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub ssh: Ssh,
    /// A directory only this node's root can enter (0700): one ssh master
    /// connection per target listens here (`ControlMaster`), and every
    /// pass, probe and hook to that target runs as a new session over it
    /// instead of a new handshake. `None`: a handshake each time.
    pub control_dir: Option<PathBuf>,
}

impl Link {
    pub fn new(ssh: Ssh, control_dir: Option<PathBuf>) -> Link {
        Link { ssh, control_dir }
    }
}

/// How long an idle master connection stays up after its last session.
const CONTROL_PERSIST: &str = "ControlPersist=300";

/// A Unix socket's path holds at most 107 bytes, and ssh binds the master's
/// socket under its final name plus a `.XXXXXXXXXXXXXXXX` suffix first.
const SUN_PATH_MAX: usize = 107;
const BIND_SUFFIX: usize = 17;

/// The socket of the master connection to `host`: `DIR/USER@HOST:PORT`
/// (ssh's `%r@%h:%p`, short enough for a state directory of a usual
/// length, where ssh's 40-digit `%C` is not); `None` when even that does
/// not fit, or the directory has characters ssh's option parser would
/// read as syntax (blanks, quotes, `%`), and every session makes its own
/// handshake.
fn control_path(link: &Link, host: &str) -> Option<String> {
    let dir = path_str(link.control_dir.as_ref()?);
    if dir.contains(|c: char| c.is_whitespace() || "'\"\\%".contains(c)) {
        return None;
    }
    let name = format!("{}@{host}:{}", link.ssh.user, link.ssh.port);
    let path = format!("{dir}/{name}");
    (path.len() + BIND_SUFFIX <= SUN_PATH_MAX).then(|| format!("{dir}/%r@%h:%p"))
}

/// Creates `dir` for the connection sockets, private to root (0700): a
/// socket there is an authenticated session to a peer.
pub fn prepare_control_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// `ssh` and its options for `host`, without the host: batch mode (never
/// prompt), strict host keys, keepalives so a dead peer fails the pass
/// instead of hanging it, and the shared master connection when there is
/// a place for its socket.
///
/// The security options come first: for each option ssh keeps the first
/// value it is given, so nothing after them (a later `-o`, a value that
/// slipped through as an option, the user's ssh_config) can turn host-key
/// checking off or let ssh prompt.
pub fn ssh_command(link: &Link, host: &str) -> Vec<String> {
    ssh_words(link, host, Connection::Shared)
}

/// How a session reaches its peer.
#[derive(Clone, Copy)]
enum Connection {
    /// Through the shared master connection when there is one; 5 s to
    /// connect, as a pass may cross a slow link.
    Shared,
    /// A connection of its own with 2 s to connect, for a quick look at a
    /// peer during a takeover. A shared master whose peer was cut off
    /// keeps its dead TCP connection until the keepalives give up (15 s),
    /// and a session through it waits as long; a peer on the LAN answers
    /// a connect in milliseconds, so 2 s without one means cut off or
    /// gone, and each second spent waiting is a second the Service is
    /// down.
    Fresh,
}

fn ssh_words(link: &Link, host: &str, connection: Connection) -> Vec<String> {
    let ssh = &link.ssh;
    let mut options = vec![
        "BatchMode=yes".to_string(),
        "StrictHostKeyChecking=yes".into(),
    ];
    if let Some(known_hosts) = &ssh.known_hosts_file {
        options.push(format!("UserKnownHostsFile={}", path_str(known_hosts)));
    }
    let connect_timeout = match connection {
        Connection::Shared => "ConnectTimeout=5",
        Connection::Fresh => "ConnectTimeout=2",
    };
    options.extend([
        connect_timeout.into(),
        "ServerAliveInterval=5".into(),
        "ServerAliveCountMax=3".into(),
    ]);
    let shared = match connection {
        Connection::Shared => control_path(link, host),
        Connection::Fresh => None,
    };
    if let Some(path) = shared {
        // `auto`: the first session becomes the master, later ones join
        // it; if its socket is gone or dead they connect on their own.
        options.extend([
            "ControlMaster=auto".to_string(),
            format!("ControlPath={path}"),
            CONTROL_PERSIST.to_string(),
        ]);
    }
    let mut words = vec!["ssh".to_string()];
    for option in options {
        words.extend(["-o".into(), option]);
    }
    words.extend([
        "-p".into(),
        ssh.port.to_string(),
        "-l".into(),
        ssh.user.clone(),
    ]);
    if let Some(identity) = &ssh.identity_file {
        words.extend(["-i".into(), path_str(identity)]);
    }
    words
}

/// The `ssh` command as rsync's `-e` takes it: one string that rsync
/// splits on spaces itself, no shell involved. Its only quoting: inside
/// `'...'` or `"..."` everything is literal, and the quote character
/// doubled stands for itself. So a word with anything but plain
/// characters goes in single quotes with its single quotes doubled, and
/// comes out of rsync's split exactly as it went in.
pub fn rsync_shell(link: &Link, host: &str) -> String {
    ssh_command(link, host)
        .iter()
        .map(|w| {
            let plain = !w.is_empty() && !w.contains([' ', '\'', '"']);
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ssh ... HOST LINE`.
pub fn ssh_run(link: &Link, host: &str, line: String) -> Vec<String> {
    with_line(ssh_command(link, host), host, line)
}

/// `ssh ... HOST LINE` on a connection of its own with a short connect
/// timeout: for reading a peer's term while taking over, where a peer cut
/// off must cost as little time as possible (see [`Connection::Fresh`]).
pub fn ssh_probe(link: &Link, host: &str, line: String) -> Vec<String> {
    with_line(ssh_words(link, host, Connection::Fresh), host, line)
}

fn with_line(mut ssh: Vec<String>, host: &str, line: String) -> Vec<String> {
    ssh.push(host.to_string());
    ssh.push(line);
    ssh
}

/// Prints the term of the copy at `data` on the remote node (`0 -` if it
/// never saw a master), then its last complete push (`-` if none), for
/// [`crate::term::parse_meta`].
pub fn read_meta_line(data: &Path) -> String {
    let meta = Meta::of(data);
    format!(
        "cat {} 2>/dev/null || echo {}; cat {} 2>/dev/null || echo -",
        shell_quote(&path_str(&meta.term_file())),
        shell_quote(&Term::none().to_string()),
        shell_quote(&path_str(&meta.synced_file())),
    )
}

/// Writes `MILLIS EPOCH NODE` (a `synced`-style record, see
/// [`crate::term::Synced`]) to `file` on a peer, replacing it whole.
pub fn record_line(file: &Path, at: std::time::SystemTime, term: &Term) -> String {
    let file = path_str(file);
    format!(
        "printf '%s %s %s\\n' {millis} {epoch} {node} > {tmp} && mv -f {tmp} {file}",
        millis = unix_millis(at),
        epoch = term.epoch,
        node = shell_quote(&term.node),
        tmp = shell_quote(&format!("{file}.tmp")),
        file = shell_quote(&file),
    )
}

/// The guard around `receive` on the target (a shell line): takes the
/// copy's lock, checks and records `term`, runs `receive` and then the
/// shell line `after` (may be empty), records that the copy holds the
/// source state of `as_of`. `receive` may be left
/// open-ended (rsync appends its server arguments to it).
pub fn guarded(
    data: &Path,
    term: &Term,
    as_of: std::time::SystemTime,
    after: &str,
    receive: &str,
) -> String {
    let meta = Meta::of(data);
    let dir = shell_quote(&path_str(meta.dir()));
    format!(
        "mkdir -p {dir} && exec flock -w {LOCK_WAIT_SECS} {lock} sh -c {guard} {GUARD_NAME} {epoch} {node} {millis} {dir} {after} {receive}",
        after = shell_quote(after),
        lock = shell_quote(&path_str(&meta.lock_file())),
        guard = shell_quote(GUARD),
        epoch = term.epoch,
        node = shell_quote(&term.node),
        millis = unix_millis(as_of),
    )
}

/// The refusal line of a guard's stderr, if it refused.
pub fn refusal(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|line| line.split_once(REFUSED))
        .map(|(_, why)| why.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_runtime::testing::write_executable;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn quoting_survives_a_shell() {
        for word in ["plain", "with space", "it's", "", "$HOME", "a\"b"] {
            let out = Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_quote(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
    }

    #[test]
    fn ssh_never_prompts_and_checks_host_keys() {
        let ssh = Ssh {
            user: "backup".into(),
            identity_file: Some(PathBuf::from("/etc/hc/id key")),
            port: 2222,
            known_hosts_file: Some(PathBuf::from("/etc/hc/known_hosts")),
        };
        assert_eq!(
            rsync_shell(&Link::new(ssh.clone(), None), "10.77.0.2"),
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes \
             -o UserKnownHostsFile=/etc/hc/known_hosts -o ConnectTimeout=5 \
             -o ServerAliveInterval=5 -o ServerAliveCountMax=3 \
             -p 2222 -l backup -i '/etc/hc/id key'"
        );
        let shared = Link::new(ssh.clone(), Some(PathBuf::from("/var/lib/hareconcile/ssh")));
        assert!(rsync_shell(&shared, "10.77.0.2").contains(
            " -o ControlMaster=auto -o ControlPath=/var/lib/hareconcile/ssh/%r@%h:%p -o ControlPersist=300 -p "
        ));
        // A socket path the kernel would refuse: a handshake each time.
        let long = Link::new(
            ssh.clone(),
            Some(PathBuf::from(format!("/{}", "d".repeat(60)))),
        );
        assert!(rsync_shell(&long, "10.77.0.2").contains("ControlMaster"));
        assert!(
            !rsync_shell(&long, "fd00:1234:5678:9abc:def0:1234:5678:9abc")
                .contains("ControlMaster")
        );
        // Nor one ssh would split: the same.
        let blank = Link::new(ssh, Some(PathBuf::from("/var/lib/hare conc")));
        assert!(!rsync_shell(&blank, "10.77.0.2").contains("ControlMaster"));
    }

    /// Whatever the values, the security options lead: ssh keeps the first
    /// value of each option, so nothing later can turn them off.
    #[test]
    fn the_security_options_come_before_any_configured_value() {
        let ssh = Ssh {
            user: "backup".into(),
            identity_file: None,
            port: 22,
            known_hosts_file: Some(PathBuf::from("/etc/hc/known_hosts")),
        };
        let words = ssh_command(&Link::new(ssh, None), "10.77.0.2");
        assert_eq!(
            words[..7],
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "UserKnownHostsFile=/etc/hc/known_hosts"
            ]
        );
        let user = words.iter().position(|w| w == "-l").unwrap();
        assert!(user > 7, "{words:?}");
    }

    /// A takeover's look at a peer's term never goes through the shared
    /// master connection (dead across a partition until its keepalives
    /// give up) and gives up connecting after 2 s; the security options
    /// still lead.
    #[test]
    fn a_takeover_probe_connects_on_its_own_and_briefly() {
        let ssh = Ssh {
            user: "backup".into(),
            identity_file: None,
            port: 22,
            known_hosts_file: None,
        };
        let link = Link::new(ssh, Some(PathBuf::from("/var/lib/hareconcile/ssh")));
        let shared = ssh_run(&link, "10.77.0.2", "true".into());
        assert!(
            shared.contains(&"ControlMaster=auto".to_string()),
            "{shared:?}"
        );
        assert!(
            shared.contains(&"ConnectTimeout=5".to_string()),
            "{shared:?}"
        );
        let probe = ssh_probe(&link, "10.77.0.2", "true".into());
        assert!(!probe.iter().any(|w| w.starts_with("Control")), "{probe:?}");
        assert!(probe.contains(&"ConnectTimeout=2".to_string()), "{probe:?}");
        assert_eq!(
            probe[..5],
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes"
            ]
        );
        assert_eq!(probe[probe.len() - 2..], ["10.77.0.2", "true"]);
    }

    /// rsync splits `-e` itself, with quoting of its own: a real rsync,
    /// with a stand-in for ssh that records its arguments, must pass each
    /// word through exactly, whatever quotes and blanks it holds.
    #[test]
    fn rsync_passes_every_word_of_the_ssh_command_through_unchanged() {
        if std::process::Command::new("rsync")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("rsync is not installed: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let recorded = dir.path().join("argv");
        let fake_ssh = dir.path().join("ssh");
        write_executable(
            &fake_ssh,
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\nexit 1\n",
                recorded.display()
            ),
        );
        let identity = r#"/keys/it's "the" key  ''"#;
        let ssh = Ssh {
            user: "backup".into(),
            identity_file: Some(PathBuf::from(identity)),
            port: 2222,
            known_hosts_file: Some(PathBuf::from("/etc/hc/known_hosts")),
        };
        let link = Link::new(ssh, None);
        let shell = rsync_shell(&link, "10.77.0.2");
        let shell = format!(
            "{}{}",
            fake_ssh.display(),
            shell.strip_prefix("ssh").unwrap()
        );
        let target = dir.path().join("copy");
        let _ = std::process::Command::new("rsync")
            .args([
                "-e",
                &shell,
                "10.77.0.2:/srv/",
                &target.display().to_string(),
            ])
            .output()
            .unwrap();
        let argv = std::fs::read_to_string(&recorded).unwrap();
        let expected = ssh_command(&link, "10.77.0.2");
        let passed: Vec<&str> = argv.lines().take(expected.len() - 1).collect();
        assert_eq!(passed, expected[1..], "{shell}");
        assert_eq!(argv.lines().nth(expected.len() - 1), Some("10.77.0.2"));
    }

    #[test]
    fn the_socket_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sockets = dir.path().join("ssh");
        prepare_control_dir(&sockets).unwrap();
        std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_control_dir(&sockets).unwrap();
        let mode = std::fs::metadata(&sockets).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    /// Runs the guard as the target would, with `true` as the receiving
    /// command; the copy's term afterwards and whether it refused.
    fn push(data: &Path, term: &str) -> (String, bool) {
        let term: Term = term.parse().unwrap();
        let received = Meta::of(data).dir().join("received");
        let line = guarded(
            data,
            &term,
            UNIX_EPOCH + Duration::from_millis(42),
            "",
            &format!("touch {}", shell_quote(&path_str(&received))),
        );
        let out = Command::new("sh").args(["-c", &line]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let refused = refusal(&stderr).is_some();
        assert_eq!(
            refused,
            out.status.code() == Some(REFUSED_STATUS),
            "{stderr}"
        );
        (Meta::of(data).term().unwrap().to_string(), refused)
    }

    #[test]
    fn the_guard_refuses_a_push_from_an_older_term() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("my data");
        let meta = Meta::of(&data);
        // A fresh target takes the pusher's term, then the data.
        assert_eq!(push(&data, "2 n1"), ("2 n1".into(), false));
        assert!(meta.dir().join("received").exists());
        let synced = meta.synced().unwrap().unwrap();
        assert_eq!(unix_millis(synced.as_of), 42);
        assert_eq!(synced.term.to_string(), "2 n1");
        // The same term pushes again; a newer master takes over.
        assert_eq!(push(&data, "2 n1"), ("2 n1".into(), false));
        assert_eq!(push(&data, "3 n2"), ("3 n2".into(), false));
        // The old primary comes back with its old term: refused, untouched.
        std::fs::remove_file(meta.dir().join("received")).unwrap();
        assert_eq!(push(&data, "2 n1"), ("3 n2".into(), true));
        assert_eq!(push(&data, "3 n1"), ("3 n2".into(), true));
        assert!(!meta.dir().join("received").exists());
        assert_eq!(meta.synced().unwrap().unwrap().term.to_string(), "3 n2");
    }

    #[test]
    fn the_guard_refuses_an_unreadable_term() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::of(dir.path());
        std::fs::create_dir_all(meta.dir()).unwrap();
        std::fs::write(meta.term_file(), "rubbish\n").unwrap();
        let line = guarded(dir.path(), &"9 n1".parse().unwrap(), UNIX_EPOCH, "", "true");
        let out = Command::new("sh").args(["-c", &line]).output().unwrap();
        assert_eq!(out.status.code(), Some(REFUSED_STATUS));
        assert!(refusal(&String::from_utf8_lossy(&out.stderr))
            .unwrap()
            .contains("unreadable term"));
    }

    #[test]
    fn reading_a_remote_copy_defaults_to_none() {
        let dir = tempfile::tempdir().unwrap();
        let read = || {
            let out = Command::new("sh")
                .args(["-c", &read_meta_line(dir.path())])
                .output()
                .unwrap();
            crate::term::parse_meta(&String::from_utf8(out.stdout).unwrap()).unwrap()
        };
        assert_eq!(read(), (Term::none(), None));
        let line = guarded(dir.path(), &"4 n2".parse().unwrap(), UNIX_EPOCH, "", "true");
        assert!(Command::new("sh")
            .args(["-c", &line])
            .status()
            .unwrap()
            .success());
        let (term, synced) = read();
        assert_eq!(term.to_string(), "4 n2");
        assert_eq!(synced.unwrap().term.to_string(), "4 n2");
    }
}
