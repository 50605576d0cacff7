//! The mount controller: Replications whose data is shared rather than
//! copied (`method: nfs`, or `method: mount` for any type mount(8)
//! handles, such as sshfs or cifs) are mounted with mount(8) on every node
//! or only where the followed VirtualIP is master, watched through
//! `/proc/self/mountinfo`, and probed off the async runtime so that a hung
//! server makes the Replication not Ready (and is detached and mounted
//! again) without ever blocking the agent.

pub mod command;
pub mod controller;
pub mod desired;
pub mod mountinfo;
pub mod options;
pub mod probe;

pub use controller::MountReconciler;
