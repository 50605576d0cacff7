//! Finding and removing everything a lab left on the machine.
//!
//! Everything is found by name (see [`crate::naming`]), never by memory, so
//! the same code cleans up after a dropped lab, a panicking test and a test
//! process that was SIGKILLed: processes carrying the lab's environment
//! marker or living in its namespaces, cgroups of its containers, mounts and
//! files under its directory, and its namespaces.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::naming::LabId;
use crate::netns;
use crate::process::LAB_ENV;

/// Where labs keep their files: logs, per-node dockerd state, image builds.
/// On disk rather than in /tmp, and short, because unix socket paths under
/// it must stay below 108 bytes.
pub const LAB_ROOT: &str = "/var/tmp/hareconcile-lab";

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

pub(crate) fn lab_dir(id: &LabId) -> PathBuf {
    Path::new(LAB_ROOT).join(id.as_str())
}

/// What of a lab is still on the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub namespaces: Vec<String>,
    /// Interfaces in the root namespace (a lab creates none there).
    pub links: Vec<String>,
    pub processes: Vec<u32>,
    pub mounts: Vec<PathBuf>,
    pub cgroups: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        *self == Leftovers::default()
    }
}

/// Everything of lab `id` that still exists.
pub fn leftovers(id: &LabId) -> Leftovers {
    let owned = |names: Vec<String>| names.into_iter().filter(|n| id.owns(n)).collect::<Vec<_>>();
    let dir = lab_dir(id);
    Leftovers {
        namespaces: owned(netns::list()),
        links: owned(dir_names(Path::new("/sys/class/net"))),
        processes: lab_processes(id),
        mounts: mounts_under(&dir),
        cgroups: cgroups(id),
        dirs: dir.exists().then_some(dir).into_iter().collect(),
    }
}

/// Removes everything of lab `id`, best effort: a failure is reported on
/// stderr and the remaining steps still run.
pub(crate) fn purge(id: &LabId) {
    kill_processes(id);
    let dir = lab_dir(id);
    unmount_under(&dir);
    for name in netns::list().into_iter().filter(|n| id.owns(n)) {
        if let Err(e) = netns::delete(&name) {
            eprintln!("hareconcile-lab: cleanup of {id}: {e}");
        }
    }
    for cgroup in cgroups(id) {
        remove_cgroup(&cgroup);
    }
    remove_dir(&dir);
}

/// Purges every lab whose creating process is gone (a test run that was
/// SIGKILLed never ran its destructors).
pub(crate) fn sweep_stale() {
    // Labs built concurrently in this process would otherwise purge the same
    // stale lab at once and trip over each other's deletions.
    static SWEEPING: Mutex<()> = Mutex::new(());
    let _sweeping = SWEEPING.lock().unwrap_or_else(|e| e.into_inner());
    let mut labs = BTreeSet::new();
    let mut names = netns::list();
    names.extend(dir_names(Path::new(LAB_ROOT)));
    names.extend(cgroup_candidates().iter().filter_map(|p| file_name(p)));
    labs.extend(names.iter().filter_map(|n| LabId::owner_of(n)));
    labs.extend(marked_processes().into_iter().map(|(_, id)| id));
    for id in labs.into_iter().filter(|id| !is_alive(id.creator_pid())) {
        purge(&id);
    }
}

fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// SIGKILLs the lab's processes until none is left.
fn kill_processes(id: &LabId) {
    kill_until_gone(|| lab_processes(id));
}

/// SIGKILLs what `find` returns until it returns nothing (or 5 s pass): new
/// processes may appear while a dying daemon's children are reparented.
fn kill_until_gone(find: impl Fn() -> Vec<u32>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = find();
        if pids.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in pids {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: plain syscall; ESRCH (already gone) is fine.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live (non-zombie) processes that carry the lab's marker, run in one of its
/// namespaces, or sit in one of its cgroups.
fn lab_processes(id: &LabId) -> Vec<u32> {
    let mut pids: BTreeSet<u32> = marked_processes()
        .into_iter()
        .filter(|(_, owner)| owner == id)
        .map(|(pid, _)| pid)
        .collect();
    for name in netns::list().into_iter().filter(|n| id.owns(n)) {
        pids.extend(netns::pids(&name));
    }
    for cgroup in cgroups(id) {
        pids.extend(cgroup_processes(&cgroup));
    }
    pids.retain(|&pid| !is_zombie(pid));
    pids.into_iter().collect()
}

/// Every process with `HARECONCILE_LAB=<id>` in its environment.
fn marked_processes() -> Vec<(u32, LabId)> {
    let prefix = format!("{LAB_ENV}=");
    dir_names(Path::new("/proc"))
        .into_iter()
        .filter_map(|name| name.parse::<u32>().ok())
        .filter_map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let value = environ
                .split(|&b| b == 0)
                .find_map(|var| var.strip_prefix(prefix.as_bytes()))?;
            LabId::owner_of(std::str::from_utf8(value).ok()?).map(|id| (pid, id))
        })
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        // The state follows the parenthesised command name, which may itself
        // contain spaces and parentheses.
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
    })
}

/// Mount points at or below `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect();
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    mounts.dedup();
    mounts
}

/// Lazily unmounts everything at or below `dir` (container filesystems,
/// bind-mounted container namespaces).
pub(crate) fn unmount_under(dir: &Path) {
    for point in mounts_under(dir) {
        let Ok(c_point) = CString::new(point.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: a valid NUL-terminated path; failure is reported below.
        if unsafe { libc::umount2(c_point.as_ptr(), libc::MNT_DETACH) } != 0 {
            eprintln!(
                "hareconcile-lab: cannot unmount {}: {}",
                point.display(),
                std::io::Error::last_os_error()
            );
        }
    }
}

pub(crate) fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            eprintln!("hareconcile-lab: cannot remove {}: {e}", dir.display());
        }
        _ => {}
    }
}

/// Top-level cgroups (cgroup v2) and per-controller ones (cgroup v1) that
/// could belong to a lab: the `--cgroup-parent` of its dockerds.
fn cgroup_candidates() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let mut dirs = Vec::new();
    for top in dir_names(root) {
        let top = root.join(top);
        if LabId::owner_of(&file_name(&top).unwrap_or_default()).is_some() {
            dirs.push(top);
        } else {
            dirs.extend(
                dir_names(&top)
                    .into_iter()
                    .filter(|n| LabId::owner_of(n).is_some())
                    .map(|n| top.join(n)),
            );
        }
    }
    dirs
}

fn cgroups(id: &LabId) -> Vec<PathBuf> {
    cgroup_candidates()
        .into_iter()
        .filter(|p| file_name(p).is_some_and(|n| id.owns(&n)))
        .collect()
}

/// Kills the processes of the cgroup `name` (in every hierarchy) and
/// removes it: what a stopped dockerd leaves of its containers.
pub(crate) fn remove_cgroups_named(name: &str) {
    let groups: Vec<PathBuf> = cgroup_candidates()
        .into_iter()
        .filter(|p| file_name(p).as_deref() == Some(name))
        .collect();
    kill_until_gone(|| {
        groups
            .iter()
            .flat_map(|g| cgroup_processes(g))
            .filter(|&pid| !is_zombie(pid))
            .collect()
    });
    for group in &groups {
        remove_cgroup(group);
    }
}

/// Pids in a cgroup and all its descendants.
fn cgroup_processes(cgroup: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    for child in dir_names(cgroup) {
        let child = cgroup.join(child);
        if child.is_dir() {
            pids.extend(cgroup_processes(&child));
        }
    }
    pids
}

/// Removes a cgroup tree bottom-up (cgroup directories go with `rmdir`).
fn remove_cgroup(cgroup: &Path) {
    for child in dir_names(cgroup) {
        let child = cgroup.join(child);
        if child.is_dir() {
            remove_cgroup(&child);
        }
    }
    if let Err(e) = std::fs::remove_dir(cgroup) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!(
                "hareconcile-lab: cannot remove cgroup {}: {e}",
                cgroup.display()
            );
        }
    }
}

/// The names in `dir` that are UTF-8; none when it cannot be read.
pub(crate) fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_dirs_are_short_enough_for_docker_sockets() {
        let id = LabId::new(4_194_304, 36 * 36 - 1);
        let socket = lab_dir(&id).join("n99/docker/exec/containerd/containerd.sock");
        assert!(socket.as_os_str().len() < 100, "{}", socket.display());
    }

    #[test]
    fn this_process_is_alive_and_zombies_are_not_counted() {
        assert!(is_alive(std::process::id()));
        assert!(!is_zombie(std::process::id()));
    }
}
