//! The hareconcile object model.
//!
//! Users declare `Cluster`, `VirtualIP`, `Service` and `Replication`
//! objects; this crate defines their shape, validates them (JSON Schema plus
//! semantic checks) and loads them from YAML with exact file positions.
//! Both the binary and the controllers depend on it, and it depends on
//! neither.

mod kind;
pub mod load;
mod meta;
mod object;
pub mod spec;
mod status;
pub mod validate;

pub use kind::{Kind, UnknownKind, API_VERSION};
pub use meta::{Manager, ObjectMeta, SOURCE_FILE_ANNOTATION};
pub use object::{Object, ObjectKey};
pub use spec::*;
pub use status::{Condition, ConditionStatus, Status};
