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
//! Requires root; see [`require_privileges!`] for how tests skip or fail
//! without it. Everything a lab creates is removed when it is dropped, and
//! leftovers of labs whose process died are swept at the next build.

mod cleanup;
mod docker;
mod error;
mod faults;
mod naming;
mod netns;
mod privileges;
mod process;
mod topology;

pub use cleanup::{leftovers, Leftovers, LAB_ROOT};
pub use docker::{busybox_image, Dockerd, BUSYBOX_IMAGE};
pub use error::{LabError, Result};
pub use naming::LabId;
pub use netns::NETNS_DIR;
pub use privileges::{check as check_privileges, privileged, Need};
pub use process::{NodeCommand, Output, Process, LAB_ENV};
pub use topology::{ipv4, ipv6, Host, Lab, LabBuilder, CLIENT_NUMBER};
