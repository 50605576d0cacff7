//! Per-host filesystems and sshd: what replication tests stand on. One path
//! holds a different filesystem on each host, ssh between hosts lands in the
//! remote host's filesystem, and nothing is left behind.

use std::path::Path;

use hareconcile_lab::{leftovers, require_privileges, Lab, NodeCommand};

#[test]
fn each_host_sees_its_own_tmpfs_and_ssh_reaches_the_other_hosts_files() {
    require_privileges!();
    let lab = Lab::builder()
        .nodes(2)
        .client(false)
        .private_mounts(true)
        .build()
        .unwrap();
    let id = lab.id().clone();
    let data = lab.dir().join("srv-data");
    let (n1, n2) = (lab.node(1), lab.node(2));
    n1.mount_tmpfs(&data).unwrap();
    n2.mount_tmpfs(&data).unwrap();
    let file = data.join("who");
    for host in [n1, n2] {
        host.exec_ok(&[
            "sh",
            "-c",
            &format!("echo {} > {}", host.name(), file.display()),
        ])
        .unwrap();
    }
    assert_eq!(
        n1.exec_ok(&["cat", &file.display().to_string()])
            .unwrap()
            .stdout,
        "n1\n"
    );
    assert!(
        !file.exists(),
        "the root namespace must not see a host's tmpfs"
    );

    let _sshd = n2.start_sshd().unwrap();
    let keys = lab.ssh_keys().unwrap();
    let remote = n1
        .exec_ok(
            NodeCommand::new("ssh")
                .args(keys.client_args())
                .arg(format!("root@{}", n2.ipv4(0)))
                .arg(format!("cat {}", file.display())),
        )
        .unwrap();
    assert_eq!(remote.stdout, "n2\n");

    drop(lab);
    let left = leftovers(&id);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_host_gets_a_btrfs_filesystem_that_takes_snapshots() {
    require_privileges!();
    let lab = Lab::builder()
        .nodes(1)
        .client(false)
        .private_mounts(true)
        .build()
        .unwrap();
    let n1 = lab.node(1);
    let pool = lab.dir().join("pool");
    n1.mount_btrfs(&pool, 128).unwrap();
    let volume = pool.join("data");
    let snapshot = pool.join("snap");
    let path = |p: &Path| p.display().to_string();
    n1.exec_ok(&["btrfs", "subvolume", "create", &path(&volume)])
        .unwrap();
    n1.exec_ok(&[
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        &path(&volume),
        &path(&snapshot),
    ])
    .unwrap();
    let list = n1
        .exec_ok(&["btrfs", "subvolume", "list", &path(&pool)])
        .unwrap()
        .stdout;
    assert!(
        list.contains("path data") && list.contains("path snap"),
        "{list}"
    );
}

#[test]
fn mounting_for_one_host_needs_private_mounts() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let err = lab.node(1).mount_tmpfs(&lab.dir().join("x")).unwrap_err();
    assert!(err.to_string().contains("private_mounts"), "{err}");
}
