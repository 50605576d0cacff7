//! Lab nodes for the Replication tests: one path holding a filesystem of
//! each node's own, and an sshd on each node to copy over.

use std::path::{Path, PathBuf};

use hareconcile_lab::{Host, Lab, Process};

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

/// What the replicated path is on each node.
#[derive(Clone, Copy)]
pub enum Filesystem {
    Tmpfs,
    /// A btrfs subvolume, on a btrfs of the node's own mounted at its
    /// parent directory (snapshots need both).
    BtrfsSubvolume,
}

/// The opening of every Replication scenario: two nodes, each with files
/// of its own at [`DataLab::data`] and an sshd to copy over. It is the
/// [`Lab`] otherwise.
pub struct DataLab {
    /// The nodes' sshds: stopped before the lab goes.
    pub sshd: Vec<Process>,
    pub lab: Lab,
    /// The replicated path, the same on both nodes.
    pub data: PathBuf,
}

impl DataLab {
    /// Two nodes with `filesystem` at `path` below the lab's directory
    /// (`srv/data`).
    pub fn two_nodes(path: &str, filesystem: Filesystem) -> DataLab {
        let lab = private_mounts_lab(2);
        let data = lab.dir().join(path);
        let sshd = match filesystem {
            Filesystem::Tmpfs => tmpfs_and_sshd_on_each(&lab, &data),
            Filesystem::BtrfsSubvolume => lab
                .nodes()
                .iter()
                .map(|host| {
                    host.mount_btrfs(data.parent().unwrap(), 256).unwrap();
                    host.exec_ok(&["btrfs", "subvolume", "create", &data.display().to_string()])
                        .unwrap();
                    host.start_sshd().unwrap()
                })
                .collect(),
        };
        DataLab { sshd, lab, data }
    }

    /// The path of `name` in the replicated directory.
    pub fn file(&self, name: &str) -> String {
        self.data.join(name).display().to_string()
    }

    /// Writes `content` to `name` on `host` as editors do (a new file
    /// renamed over the old), so a pass never copies half of it.
    ///
    /// The new file is written in the copy's metadata directory: no pass
    /// copies, deletes or watches it, and it is on the same filesystem
    /// and btrfs subvolume (rename(2) leaves neither). Beside `name` it
    /// would be part of the replicated tree: on a backup the master's
    /// pass (`delete`) could remove it before the rename, and a two-way
    /// round could copy it to the other node.
    pub fn write(&self, host: &Host, name: &str, content: &str) {
        let staged = self.data.join(".hareconcile/test-writes").join(name);
        host.exec_ok(&[
            "sh",
            "-c",
            &format!(
                "mkdir -p {dir} && printf %s '{content}' > {staged} && mv {staged} {file}",
                dir = staged.parent().unwrap().display(),
                staged = staged.display(),
                file = self.file(name),
            ),
        ])
        .unwrap();
    }

    /// The content of `name` on `host`, `None` if it has none.
    pub fn read(&self, host: &Host, name: &str) -> Option<String> {
        let out = host.exec(&["cat", &self.file(name)]).unwrap();
        out.success().then_some(out.stdout)
    }
}

impl std::ops::Deref for DataLab {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        &self.lab
    }
}
