//! Real Debian systems for lab hosts: root filesystems made by
//! `debootstrap` from the apt mirror, cached by package list, and a
//! writable copy of one per host.
//!
//! For what a busybox rootfs cannot show: installing hareconcile's Debian
//! package (its maintainer scripts, its unit) or running a daemon the
//! machine itself does not have (dnsmasq). A host runs a program of such a
//! root with `chroot ROOT PROGRAM` (see [`Lab::system_root`]).
//!
//! A root takes about a minute to bootstrap, so each package list is made
//! once per machine and kept under [`CACHE_ROOT`] (a CI run builds it at
//! most once); delete its directory to get a fresh one. The cache is read
//! only: every lab writes to an overlay of its own.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::cleanup;
use crate::error::{LabError, Result};
use crate::process::{NodeCommand, Place};
use crate::topology::Lab;

/// Where the bootstrapped roots are kept between test runs.
pub const CACHE_ROOT: &str = "/var/cache/hareconcile-lab";

/// The release bootstrapped: the oldest Debian hareconcile supports.
pub const DEBIAN_SUITE: &str = "bookworm";

/// Overrides the mirror debootstrap fetches from (a local mirror or proxy).
pub const MIRROR_ENV: &str = "HARECONCILE_LAB_DEBIAN_MIRROR";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Written into a root once debootstrap succeeded: a directory without it
/// is a build that died halfway.
const COMPLETE_MARK: &str = ".hareconcile-lab-complete";

/// A minimal Debian (debootstrap's `minbase`: essential packages and apt)
/// with `packages` and their dependencies installed, made on first use and
/// cached by package list. Returns its directory, which callers must not
/// change: [`Lab::system_root`] gives a host a writable copy.
///
/// Tests that build or use one start with
/// [`require_privileges!(debian)`](crate::require_privileges).
pub fn debian_rootfs(packages: &[&str]) -> Result<PathBuf> {
    let packages = package_list(packages)?;
    let cache = Path::new(CACHE_ROOT);
    std::fs::create_dir_all(cache).map_err(|e| LabError::io("create", cache, e))?;
    let name = root_name(&packages);
    let root = cache.join(&name);
    if root.join(COMPLETE_MARK).exists() {
        return Ok(root);
    }
    // One builder per root, across test processes: the others wait here
    // and find it complete.
    let _lock = lock(&cache.join(format!("{name}.lock")))?;
    if root.join(COMPLETE_MARK).exists() {
        return Ok(root);
    }
    cleanup::remove_dir(&root);
    let partial = cache.join(format!("{name}.partial"));
    cleanup::remove_dir(&partial);
    let built = bootstrap(&partial, &packages).and_then(|()| {
        let mark = partial.join(COMPLETE_MARK);
        std::fs::write(&mark, packages.join("\n")).map_err(|e| LabError::io("write", &mark, e))?;
        std::fs::rename(&partial, &root).map_err(|e| LabError::io("rename", &partial, e))
    });
    if built.is_err() {
        cleanup::remove_dir(&partial);
    }
    built.map(|()| root)
}

/// Sorted, without duplicates, each a valid Debian package name (they
/// become part of a directory name).
fn package_list(packages: &[&str]) -> Result<Vec<String>> {
    let mut list: Vec<String> = packages.iter().map(|p| p.to_string()).collect();
    list.sort();
    list.dedup();
    let valid = |p: &str| {
        p.len() >= 2
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    };
    match list.iter().find(|p| !valid(p)) {
        Some(bad) => Err(LabError::Invalid(format!(
            "{bad:?} is not a Debian package name"
        ))),
        None => Ok(list),
    }
}

fn root_name(packages: &[String]) -> String {
    std::iter::once(format!("debian-{DEBIAN_SUITE}"))
        .chain(packages.iter().cloned())
        .collect::<Vec<_>>()
        .join("+")
}

fn bootstrap(target: &Path, packages: &[String]) -> Result<()> {
    let mirror = std::env::var(MIRROR_ENV).unwrap_or_else(|_| DEFAULT_MIRROR.to_owned());
    let mut command = NodeCommand::new("debootstrap").arg("--variant=minbase");
    if !packages.is_empty() {
        command = command.arg(format!("--include={}", packages.join(",")));
    }
    let command = command.arg(DEBIAN_SUITE).arg(target).arg(&mirror);
    Place::root().run_ok(&command).map_err(|e| match e {
        // debootstrap's own messages say little; its log says what failed.
        LabError::CommandFailed {
            command,
            status,
            stderr,
        } => {
            let log = std::fs::read_to_string(target.join("debootstrap/debootstrap.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            LabError::CommandFailed {
                command,
                status,
                stderr: format!("{stderr}\n{}", tail.join("\n")),
            }
        }
        other => other,
    })?;
    Ok(())
}

/// An exclusive lock on `path`, held until the file is dropped.
fn lock(path: &Path) -> Result<File> {
    let file = File::create(path).map_err(|e| LabError::io("create", path, e))?;
    // SAFETY: flock on a descriptor we own; it blocks until granted.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(LabError::io("lock", path, std::io::Error::last_os_error()));
    }
    Ok(file)
}

impl Lab {
    /// A writable copy of the root filesystem `base` (from
    /// [`debian_rootfs`]) named `name`, with a fresh `/proc` mounted in it:
    /// an overlay whose changes stay in the lab's directory and go with the
    /// lab. A host runs its programs with `chroot ROOT PROGRAM`, in the
    /// host's network namespace as any other program it spawns.
    pub fn system_root(&self, name: &str, base: &Path) -> Result<PathBuf> {
        if name.is_empty() || name.contains('/') {
            return Err(LabError::Invalid(format!("{name:?} is not a root's name")));
        }
        let dir = self.dir().join("roots").join(name);
        let (upper, work, root) = (dir.join("upper"), dir.join("work"), dir.join("root"));
        for path in [&upper, &work, &root] {
            std::fs::create_dir_all(path).map_err(|e| LabError::io("create", path, e))?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            base.display(),
            upper.display(),
            work.display()
        );
        let root_place = Place::root();
        root_place.run_ok(
            &NodeCommand::new("mount")
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(options)
                .arg(&root),
        )?;
        // A procfs of its own rather than a bind of the machine's: the
        // lab's cleanup unmounts it with the overlay, and a failed unmount
        // leaves nothing a recursive delete could harm.
        root_place.run_ok(
            &NodeCommand::new("mount")
                .args(["-t", "proc", "proc"])
                .arg(root.join("proc")),
        )?;
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_list_names_one_cached_root_whatever_its_order() {
        let a = package_list(&["systemd", "dnsmasq", "systemd"]).unwrap();
        let b = package_list(&["dnsmasq", "systemd"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(root_name(&a), "debian-bookworm+dnsmasq+systemd");
        assert_eq!(root_name(&[]), "debian-bookworm");
    }

    #[test]
    fn a_package_name_cannot_escape_the_cache() {
        for bad in ["../etc", "a/b", "Systemd", "x", "-o"] {
            let error = package_list(&[bad]).unwrap_err().to_string();
            assert!(
                error.contains("not a Debian package name"),
                "{bad}: {error}"
            );
        }
    }
}
