//! Running programs inside a namespace: one-shot commands with their output,
//! and long-running processes that die with their handle and with the lab.
//!
//! Programs enter the namespace with `setns(2)` between fork and exec, which
//! is what `nsenter --net=` does, and unlike `ip netns exec` leaves the mount
//! namespace alone (it remounts /sys, which breaks cgroups for dockerd).
//! Every program a lab starts carries `HARECONCILE_LAB=<lab id>` in its
//! environment, so cleanup can find it even after its creator was SIGKILLed.

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::naming::LabId;

/// The environment variable that marks a process as belonging to a lab.
pub const LAB_ENV: &str = "HARECONCILE_LAB";

/// A program with its arguments and extra environment. The environment of
/// the test process is passed through; `env` adds to or overrides it.
#[derive(Clone, Debug)]
pub struct NodeCommand {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
}

impl NodeCommand {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        NodeCommand {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            current_dir: None,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Bytes fed to the program's standard input (one-shot commands only;
    /// spawned processes get /dev/null).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The command line as a person would type it, for error messages.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn program_name(&self) -> String {
        Path::new(&self.program)
            .file_name()
            .unwrap_or(&self.program)
            .to_string_lossy()
            .into_owned()
    }
}

impl<S: AsRef<OsStr>> From<&[S]> for NodeCommand {
    fn from(argv: &[S]) -> Self {
        let (program, args) = argv.split_first().expect("a command needs a program");
        NodeCommand::new(program).args(args)
    }
}

impl<S: AsRef<OsStr>, const N: usize> From<&[S; N]> for NodeCommand {
    fn from(argv: &[S; N]) -> Self {
        NodeCommand::from(&argv[..])
    }
}

impl<S: AsRef<OsStr>> From<&Vec<S>> for NodeCommand {
    fn from(argv: &Vec<S>) -> Self {
        NodeCommand::from(&argv[..])
    }
}

/// What a finished command left behind.
#[derive(Clone, Debug)]
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// This output if the command succeeded, otherwise an error carrying
    /// the command and its stderr.
    pub fn ok(self) -> Result<Output> {
        if self.success() {
            Ok(self)
        } else {
            Err(LabError::CommandFailed {
                command: self.command,
                status: self.status,
                stderr: self.stderr.trim().to_owned(),
            })
        }
    }
}

/// Where a program runs: a network namespace (by its bind-mount path) or the
/// root namespace, optionally a mount namespace of its own, and which lab it
/// is marked with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Place {
    pub netns: Option<PathBuf>,
    pub mntns: Option<PathBuf>,
    pub lab: Option<LabId>,
}

impl Place {
    pub fn root() -> Place {
        Place::default()
    }

    pub fn netns(path: PathBuf, lab: &LabId) -> Place {
        Place {
            netns: Some(path),
            mntns: None,
            lab: Some(lab.clone()),
        }
    }

    /// This place, also inside the mount namespace bound at `path`.
    pub fn with_mntns(mut self, path: PathBuf) -> Place {
        self.mntns = Some(path);
        self
    }

    /// A `Command` that enters this place between fork and exec. The
    /// returned files keep the namespace descriptors open until spawn.
    fn command(&self, cmd: &NodeCommand, own_group: bool) -> Result<(Command, Vec<File>)> {
        let mut command = Command::new(&cmd.program);
        command.args(&cmd.args);
        if let Some(lab) = &self.lab {
            command.env(LAB_ENV, lab.as_str());
        }
        command.envs(cmd.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &cmd.current_dir {
            command.current_dir(dir);
        }
        if own_group {
            // Its own process group, so killing the group also kills whatever
            // the program forked (daemons, shells running pipelines).
            command.process_group(0);
        }
        let open =
            |path: &PathBuf| File::open(path).map_err(|e| LabError::io("open namespace", path, e));
        let netns = self.netns.as_ref().map(open).transpose()?;
        let mntns = self.mntns.as_ref().map(open).transpose()?;
        if netns.is_some() || mntns.is_some() {
            let net_fd = netns.as_ref().map(File::as_raw_fd);
            let mnt_fd = mntns.as_ref().map(File::as_raw_fd);
            // Entering a mount namespace moves the working directory to its
            // root, after std already changed into `current_dir`: go back.
            let cwd = match &cmd.current_dir {
                Some(dir) => Some(
                    CString::new(dir.as_os_str().as_bytes())
                        .map_err(|_| LabError::Invalid(format!("{} has a NUL", dir.display())))?,
                ),
                None => None,
            };
            // SAFETY: setns and chdir are async-signal-safe; the closure only
            // touches copied descriptor numbers and a path allocated before fork.
            unsafe {
                command.pre_exec(move || {
                    for (fd, kind) in [(net_fd, libc::CLONE_NEWNET), (mnt_fd, libc::CLONE_NEWNS)] {
                        if let Some(fd) = fd {
                            if libc::setns(fd, kind) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                        }
                    }
                    if let (Some(_), Some(dir)) = (mnt_fd, &cwd) {
                        if libc::chdir(dir.as_ptr()) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        Ok((command, netns.into_iter().chain(mntns).collect()))
    }

    /// Runs `cmd` to completion and collects its output, whatever its status.
    pub fn run(&self, cmd: &NodeCommand) -> Result<Output> {
        let (mut command, _namespaces) = self.command(cmd, false)?;
        command
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |source| LabError::Spawn {
            command: cmd.display(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        // Feed stdin from another thread: a child that writes a lot before
        // reading would otherwise deadlock against us.
        let feeder = match (child.stdin.take(), cmd.stdin.clone()) {
            (Some(mut pipe), Some(input)) => {
                Some(std::thread::spawn(move || pipe.write_all(&input)))
            }
            _ => None,
        };
        let output = child.wait_with_output().map_err(spawn_error)?;
        if let Some(feeder) = feeder {
            // A child may legitimately exit without reading all its input.
            let _ = feeder.join();
        }
        Ok(Output {
            command: cmd.display(),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Like [`Place::run`] but a non-zero exit is an error.
    pub fn run_ok(&self, cmd: &NodeCommand) -> Result<Output> {
        self.run(cmd)?.ok()
    }

    /// Starts `cmd` in its own process group with stdout and stderr appended
    /// to `log`, and registers the group with `registry`.
    pub fn spawn(
        &self,
        cmd: &NodeCommand,
        log: &Path,
        registry: &Arc<ProcessRegistry>,
    ) -> Result<Process> {
        let (mut command, _namespaces) = self.command(cmd, true)?;
        let open_log = || {
            File::options()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| LabError::io("open log", log, e))
        };
        command
            .stdin(Stdio::null())
            .stdout(open_log()?)
            .stderr(open_log()?);
        let child = command.spawn().map_err(|source| LabError::Spawn {
            command: cmd.display(),
            source,
        })?;
        registry.add(child.id());
        Ok(Process {
            child,
            command: cmd.display(),
            log: log.to_owned(),
            registry: Arc::clone(registry),
        })
    }
}

/// A file name for the log of a process, unique within its lab.
pub(crate) fn log_name(host: &str, cmd: &NodeCommand, serial: usize) -> String {
    format!("{host}-{serial}-{}.log", cmd.program_name())
}

/// The process groups a lab started and has not yet seen killed.
#[derive(Debug, Default)]
pub(crate) struct ProcessRegistry {
    groups: Mutex<BTreeSet<u32>>,
}

impl ProcessRegistry {
    fn add(&self, pgid: u32) {
        self.lock().insert(pgid);
    }

    fn remove(&self, pgid: u32) {
        self.lock().remove(&pgid);
    }

    /// SIGKILLs every registered group. Reaping is left to the handles.
    pub fn kill_all(&self) {
        for pgid in std::mem::take(&mut *self.lock()) {
            signal_group(pgid, libc::SIGKILL);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        // A panic while holding the lock leaves the set intact; keep using it
        // so cleanup still runs in a panicking test.
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn signal_group(pgid: u32, signal: libc::c_int) {
    let pgid = libc::pid_t::try_from(pgid).expect("pids fit in pid_t");
    // SAFETY: plain syscall; ESRCH (already gone) is fine.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// A running program in a lab host. Dropping it SIGKILLs its whole process
/// group and reaps it.
#[derive(Debug)]
pub struct Process {
    child: Child,
    command: String,
    log: PathBuf,
    registry: Arc<ProcessRegistry>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    /// The file collecting the program's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the program printed so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The exit status if the program has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| LabError::io("wait for", format!("pid {}", self.pid()), e))
    }

    /// Waits up to `timeout` for the program to end on its own.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the program's whole process group.
    pub fn signal(&self, signal: libc::c_int) {
        signal_group(self.pid(), signal);
    }

    /// Asks the group to stop with SIGTERM, then SIGKILLs it after `grace`.
    pub fn stop(mut self, grace: Duration) -> Result<ExitStatus> {
        self.signal(libc::SIGTERM);
        match self.wait_timeout(grace)? {
            Some(status) => Ok(status),
            None => {
                self.signal(libc::SIGKILL);
                self.child
                    .wait()
                    .map_err(|e| LabError::io("wait for", format!("pid {}", self.pid()), e))
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Kill the group even when the leader has exited: members it forked
        // may still run.
        self.signal(libc::SIGKILL);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.wait();
        }
        self.registry.remove(self.pid());
    }
}

/// `root` and every process descended from it, read from /proc: to stop
/// a daemon together with the sessions it forked (sshd gives each its own
/// session, so no process group covers them).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `PID (COMM) STATE PPID ...`; COMM may hold spaces and parens.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}
