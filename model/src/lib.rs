//! The hareconcile object model.
//!
//! Users declare `Cluster`, `VirtualIP`, `Service` and `Replication`
//! objects; this crate defines their shape, validates them (JSON Schema plus
//! semantic checks) and loads them from YAML with exact file positions.
//! Both the binary and the controllers depend on it, and it depends on
//! neither.
//!
//! - [`spec`]: the typed specs controllers decode with [`Object::spec_as`].
//! - [`validate`]: checks needing no positions (the agent runs them on what
//!   the API receives); problems carry JSON pointers.
//! - [`status`]: the typed status each kind's controller writes and every
//!   other reader decodes with [`Status::details_as`], and the condition
//!   reasons.
//! - [`published`]: the schemas as editors and `explain` read them, with
//!   the defaults the model fills in.
//! - [`redact`]: how secrets in mount options and URLs are shown.
//! - [`load`]: files and directories to [`load::Manifest`]s, or every
//!   problem as `file:line:col: Kind/name: message`.
//!
//! ```
//! use std::path::Path;
//! use hareconcile_model::{load, VirtualIpSpec};
//!
//! let text = "\
//! apiVersion: hareconcile.io/v1alpha1
//! kind: Cluster
//! metadata: {name: home}
//! spec:
//!   nodes: [{name: n1, address: 10.77.0.1, priority: 110}]
//! ---
//! apiVersion: hareconcile.io/v1alpha1
//! kind: VirtualIP
//! metadata: {name: web}
//! spec: {cluster: home, interface: eth0, vrid: 300, addresses: [10.77.0.100/24]}
//! ";
//! let errors = load::load_str(Path::new("web.yaml"), text).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "web.yaml:10:46: VirtualIP/web: spec.vrid: 300 is out of range: use 1-255"
//! );
//!
//! let fixed = text.replace("vrid: 300", "vrid: 51");
//! let manifests = load::load_str(Path::new("web.yaml"), &fixed).unwrap();
//! let vip: VirtualIpSpec = manifests[1].object.spec_as().unwrap();
//! assert_eq!(vip.vrid, 51);
//! ```

mod kind;
pub mod load;
mod meta;
mod object;
pub mod published;
pub mod redact;
pub mod spec;
pub mod status;
pub mod validate;

pub use kind::{Kind, UnknownKind, API_VERSION};
pub use meta::{Manager, ObjectMeta, SOURCE_FILE_ANNOTATION};
pub use object::{Object, ObjectKey};
pub use spec::*;
pub use status::{
    ClusterStatus, Condition, ConditionStatus, Drift, KindStatus, Reason, ReplicationStatus,
    ServiceStatus, Status, VirtualIpStatus,
};
