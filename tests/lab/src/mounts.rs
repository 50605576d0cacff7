//! Per-host mount namespaces, and filesystems that only one host sees: a
//! tmpfs for replicated data, btrfs on a loop device for snapshots.
//!
//! Each namespace is kept alive by a bind mount of its `nsfs` file under the
//! lab directory (as `ip netns` does for network namespaces), made by
//! `unshare --mount=FILE --propagation private`. Such a bind mount must not
//! sit on a shared mount, so the directory is first bind-mounted onto itself
//! and made private. Cleanup needs nothing new: the lab directory's mounts
//! are unmounted with it, which frees the namespaces and whatever was
//! mounted inside them (a loop device mounted with `-o loop` detaches itself
//! when its filesystem goes).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::error::{LabError, Result};
use crate::process::{NodeCommand, Place};
use crate::topology::Host;

/// btrfs refuses smaller devices with its default profiles.
const MIN_BTRFS_MIB: u32 = 128;

fn namespaces_dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join("mntns")
}

/// Where host `host`'s mount namespace is bound.
pub(crate) fn namespace_path(lab_dir: &Path, host: &str) -> PathBuf {
    namespaces_dir(lab_dir).join(host)
}

/// Creates a mount namespace, private from the root one, at each path.
pub(crate) fn create_namespaces(lab_dir: &Path, paths: &[&Path]) -> Result<()> {
    let dir = namespaces_dir(lab_dir);
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("create", &dir, e))?;
    let root = Place::root();
    root.run_ok(&NodeCommand::new("mount").arg("--bind").arg(&dir).arg(&dir))?;
    root.run_ok(&NodeCommand::new("mount").arg("--make-private").arg(&dir))?;
    for path in paths {
        File::create(path).map_err(|e| LabError::io("create", path, e))?;
        root.run_ok(
            &NodeCommand::new("unshare")
                .arg(format!("--mount={}", path.display()))
                .args(["--propagation", "private", "true"]),
        )?;
    }
    Ok(())
}

impl Host {
    /// Mounts an empty tmpfs at `path` (created if missing) that only this
    /// host sees. Needs [`crate::LabBuilder::private_mounts`].
    pub fn mount_tmpfs(&self, path: &Path) -> Result<()> {
        self.require_private_mounts(path)?;
        self.exec_ok(NodeCommand::new("mkdir").arg("-p").arg(path))?;
        self.exec_ok(
            NodeCommand::new("mount")
                .args(["-t", "tmpfs", "-o", "mode=0755,size=512m", "tmpfs"])
                .arg(path),
        )?;
        Ok(())
    }

    /// Makes a fresh btrfs filesystem of `size_mib` (at least 128) on a
    /// loop device and mounts it at `path` (created if missing), seen only
    /// by this host. Needs [`crate::LabBuilder::private_mounts`].
    pub fn mount_btrfs(&self, path: &Path, size_mib: u32) -> Result<()> {
        self.require_private_mounts(path)?;
        if size_mib < MIN_BTRFS_MIB {
            return Err(LabError::Invalid(format!(
                "a btrfs filesystem of {size_mib} MiB: it needs at least {MIN_BTRFS_MIB}"
            )));
        }
        let serial = self.shared.log_serial.fetch_add(1, Ordering::Relaxed);
        let image = self
            .shared
            .dir
            .join(format!("btrfs-{}-{serial}.img", self.name()));
        let file = File::create(&image).map_err(|e| LabError::io("create", &image, e))?;
        file.set_len(u64::from(size_mib) << 20)
            .map_err(|e| LabError::io("size", &image, e))?;
        drop(file);
        Place::root().run_ok(
            &NodeCommand::new("mkfs.btrfs")
                .args(["-q", "-f"])
                .arg(&image),
        )?;
        self.exec_ok(NodeCommand::new("mkdir").arg("-p").arg(path))?;
        self.exec_ok(
            NodeCommand::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(path),
        )?;
        Ok(())
    }

    fn require_private_mounts(&self, path: &Path) -> Result<()> {
        if self.mntns.is_none() {
            return Err(LabError::Invalid(format!(
                "mounting {} on {} alone needs a lab built with private_mounts(true)",
                path.display(),
                self.name()
            )));
        }
        Ok(())
    }
}
