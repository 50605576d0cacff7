//! Named network namespaces (`ip netns`), and `ip` / `sysctl` run inside them.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{LabError, Result};
use crate::naming::LabId;
use crate::process::{NodeCommand, Place};

/// Where `ip netns` bind-mounts named namespaces.
pub(crate) const NETNS_DIR: &str = "/var/run/netns";

pub(crate) fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

pub(crate) fn create(name: &str) -> Result<()> {
    Place::root().run_ok(&NodeCommand::new("ip").args(["netns", "add", name]))?;
    Ok(())
}

/// Deletes a namespace; one that is already gone is not an error.
pub(crate) fn delete(name: &str) -> Result<()> {
    if !path(name).exists() {
        return Ok(());
    }
    let output = Place::root().run(&NodeCommand::new("ip").args(["netns", "delete", name]))?;
    if output.success() || !path(name).exists() {
        Ok(())
    } else {
        output.ok().map(drop)
    }
}

/// Names of all named namespaces on the machine.
pub(crate) fn list() -> Vec<String> {
    crate::cleanup::dir_names(Path::new(NETNS_DIR))
}

/// Moves the calling thread (only it) into the network namespace at
/// `path` (see [`Host::netns_path`](crate::Host::netns_path)), so that what
/// it binds or connects lives on that host: a test's own server or client
/// on a lab node, without a process of its own.
pub fn enter(path: &Path) -> Result<()> {
    let netns = std::fs::File::open(path).map_err(|e| LabError::io("open", path, e))?;
    // SAFETY: setns on an open namespace file only moves this thread.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::io("setns", path, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Pids of the processes whose network namespace is `name`.
pub(crate) fn pids(name: &str) -> Vec<u32> {
    Place::root()
        .run(&NodeCommand::new("ip").args(["netns", "pids", name]))
        .map(|out| {
            out.stdout
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `ip` commands (one per line, without the leading `ip`) inside the
/// namespace in a single `ip -batch`, stopping at the first failure.
pub(crate) fn ip_batch(netns: &str, lab: &LabId, commands: &[String]) -> Result<()> {
    let mut script = commands.join("\n");
    script.push('\n');
    Place::netns(path(netns), lab)
        .run_ok(&NodeCommand::new("ip").args(["-batch", "-"]).stdin(script))?;
    Ok(())
}

/// Sets `key=value` sysctls as seen from inside the namespace (the
/// `net.*` tree is per namespace).
pub(crate) fn sysctl(netns: &str, lab: &LabId, settings: &[(&str, &str)]) -> Result<()> {
    let args = settings.iter().map(|(key, value)| format!("{key}={value}"));
    Place::netns(path(netns), lab)
        .run_ok(&NodeCommand::new("sysctl").args(["-q", "-w"]).args(args))?;
    Ok(())
}
