//! Whether this machine can host a lab, and the one-line guard lab tests
//! start with.
//!
//! Privileged tests must never pass by skipping in CI: when the `CI`
//! environment variable is set, a missing capability fails the test; on a
//! developer's machine without it the test prints why and returns.

use crate::error::{LabError, Result};
use crate::process::{NodeCommand, Place};

/// What a test needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Root, network namespaces, `ip`, `nft`, `ping`.
    Netns,
    /// All of [`Need::Netns`], plus `dockerd`, `docker`, `tar`, `chroot` and `/bin/busybox`
    /// for a per-node daemon and its image.
    Docker,
    /// All of [`Need::Netns`], plus `debootstrap` and `chroot` for Debian
    /// roots ([`crate::debian_rootfs`]).
    Debian,
}

/// `Ok` when the machine provides `need`, otherwise why not.
pub fn check(need: Need) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::Unprivileged("not running as root".into()));
    }
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        return Err(LabError::Unprivileged(
            "the kernel has no network namespaces".into(),
        ));
    }
    let mut tools = vec![
        ("ip", "-V"),
        ("nft", "--version"),
        ("ping", "-V"),
        ("sysctl", "--version"),
    ];
    if need == Need::Docker {
        tools.extend([
            ("dockerd", "--version"),
            ("docker", "--version"),
            ("tar", "--version"),
            ("chroot", "--version"),
        ]);
    }
    if need == Need::Debian {
        tools.extend([("debootstrap", "--version"), ("chroot", "--version")]);
    }
    for (tool, flag) in tools {
        Place::root()
            .run_ok(&NodeCommand::new(tool).arg(flag))
            .map_err(|e| {
                LabError::Unprivileged(format!(
                    "{tool} is unusable ({e}); run scripts/install-test-deps.sh"
                ))
            })?;
    }
    if need == Need::Docker && !std::path::Path::new("/bin/busybox").exists() {
        return Err(LabError::Unprivileged(
            "/bin/busybox is missing; run scripts/install-test-deps.sh".into(),
        ));
    }
    Ok(())
}

/// Whether a lab test may go on. When the machine lacks `need`, panics if
/// `CI` is set and otherwise prints why and returns `false`. Most tests use
/// [`require_privileges!`](crate::require_privileges) instead.
pub fn privileged(need: Need) -> bool {
    may_go_on(check(need), in_ci())
}

fn may_go_on(check: Result<()>, in_ci: bool) -> bool {
    match check {
        Ok(()) => true,
        Err(e) if in_ci => panic!("{e} (CI is set, so this test cannot be skipped)"),
        Err(e) => {
            eprintln!("skipping lab test: {e}");
            false
        }
    }
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// First line of every lab test: returns from the test (skip) when the
/// machine cannot host a lab, or fails it when `CI` is set.
///
/// `require_privileges!();` for namespaces, `require_privileges!(docker);`
/// when the test also starts a per-node dockerd, `require_privileges!(debian);`
/// when it bootstraps or uses a Debian root ([`crate::debian_rootfs`]).
#[macro_export]
macro_rules! require_privileges {
    () => {
        if !$crate::privileged($crate::Need::Netns) {
            return;
        }
    };
    (docker) => {
        if !$crate::privileged($crate::Need::Docker) {
            return;
        }
    };
    (debian) => {
        if !$crate::privileged($crate::Need::Debian) {
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing() -> Result<()> {
        Err(LabError::Unprivileged("not running as root".into()))
    }

    #[test]
    fn a_capable_machine_runs_the_test() {
        assert!(may_go_on(Ok(()), true));
        assert!(may_go_on(Ok(()), false));
    }

    #[test]
    fn outside_ci_a_missing_capability_skips() {
        assert!(!may_go_on(missing(), false));
    }

    #[test]
    #[should_panic(expected = "not running as root (CI is set")]
    fn in_ci_a_missing_capability_fails() {
        may_go_on(missing(), true);
    }
}
