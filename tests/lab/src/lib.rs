//! The lab: several Linux hosts on one machine, built from network
//! namespaces, for hareconcile's integration tests (VRRP, Compose stacks,
//! replication).
//!
//! ```no_run
//! use hareconcile_lab::{require_privileges, Lab};
//!
//! fn a_partition_cuts_n1_off() {
//!     require_privileges!(); // skips without root, fails if CI is set
//!     let lab = Lab::builder().nodes(3).lans(1).client(true).build().unwrap();
//!     let (n1, n2) = (lab.node(1), lab.node(2));
//!     assert!(n1.can_reach(n2.ipv4(0)).unwrap());
//!     lab.partition(&[n1], &[n2, lab.node(3), lab.client()]).unwrap();
//!     assert!(!n1.can_reach(n2.ipv4(0)).unwrap());
//!     lab.heal_all().unwrap();
//! }
//! ```
//!
//! - Shape: a LAN namespace holds one bridge per LAN; each node (`n1`...) and
//!   the client is a namespace with `eth0` (`eth1`...) plugged into them.
//!   Node `i` is `10.77.0.i` and `fd77::i` on LAN 0 (`10.78.0.i` on LAN 1),
//!   the client is number 250; see [`ipv4`] and [`ipv6`] for other numbers
//!   such as a VIP.
//! - Programs: [`Host::exec`] for a command's output, [`Host::spawn`] for a
//!   daemon that dies with its [`Process`] handle and with the lab.
//! - Faults, each with its undo: [`Lab::node_loss`], [`Lab::link_down`],
//!   [`Lab::partition`], [`Lab::packet_loss`], [`Lab::heal_all`].
//! - Containers: [`Host::start_dockerd`] and [`busybox_image`].
//! - Real Debian systems: [`debian_rootfs`] (debootstrap, cached by package
//!   list) and a writable copy per host with [`Lab::system_root`], where
//!   [`ServiceUnit`] starts a packaged daemon as its systemd unit says.
//! - Data: with [`LabBuilder::private_mounts`] each host has its own mount
//!   namespace, so [`Host::mount_tmpfs`] and [`Host::mount_btrfs`] give one
//!   path a different filesystem per host; [`Host::start_sshd`] and
//!   [`Lab::ssh_keys`] serve rsync and sshfs.
//!
//! Requires root; see [`require_privileges!`] for how tests skip or fail
//! without it (`scripts/install-test-deps.sh` installs the tools). Everything
//! a lab creates is removed when it is dropped, even by a panic, and the
//! leftovers of labs whose process died are swept at the next build; tests
//! check that with [`leftovers`].

mod cleanup;
mod debian;
mod docker;
mod error;
mod faults;
mod keepalived;
mod mounts;
mod naming;
mod netns;
mod privileges;
mod process;
mod service_unit;
mod ssh;
mod topology;

pub use cleanup::{leftovers, Leftovers, LAB_ROOT};
pub use debian::{debian_rootfs, CACHE_ROOT, DEBIAN_SUITE, MIRROR_ENV};
pub use docker::{busybox_image, DockerNode, Dockerd, BUSYBOX_IMAGE};
pub use error::{LabError, Result};
pub use keepalived::{
    config as keepalived_config, start_keepalived, start_keepalived_with, VrrpInstance,
};
pub use naming::LabId;
pub use netns::enter as enter_netns;
pub use privileges::{check as check_privileges, privileged, Need};
pub use process::{process_tree, NodeCommand, Output, Process, LAB_ENV};
pub use service_unit::{parse_environment_file, ServiceUnit, Word};
pub use ssh::SshKeys;
pub use topology::{ipv4, ipv6, Host, Lab, LabBuilder, CLIENT_NUMBER};
