//! Lab nodes for the Replication tests: one path holding a filesystem of
//! each node's own, and an sshd on each node to copy over.

use std::path::Path;

use hareconcile_lab::{Lab, Process};

/// `nodes` nodes and no client, each node in a mount namespace of its own
/// (so [`tmpfs_and_sshd_on_each`] gives each its own files).
pub fn private_mounts_lab(nodes: usize) -> Lab {
    Lab::builder()
        .nodes(nodes)
        .client(false)
        .private_mounts(true)
        .build()
        .unwrap()
}

/// `path` on a tmpfs of each node's own, and an sshd on each node; the
/// sshds live as long as the returned handles.
pub fn tmpfs_and_sshd_on_each(lab: &Lab, path: &Path) -> Vec<Process> {
    lab.nodes()
        .iter()
        .map(|host| {
            host.mount_tmpfs(path).unwrap();
            host.start_sshd().unwrap()
        })
        .collect()
}
