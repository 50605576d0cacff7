//! Bringing an existing VRRP setup over: `keepalived.conf` files (one per
//! node) and Vrrpd command lines become a `Cluster` and `VirtualIP`
//! manifests, and everything that could not be carried over exactly is a
//! [`Finding`] with the file and line it came from and why.
//!
//! ```no_run
//! use std::path::PathBuf;
//! use hareconcile_import::{keepalived, Options};
//!
//! let nodes = [
//!     keepalived::NodeFile::new("n1", "/etc/keepalived/n1.conf"),
//!     keepalived::NodeFile::new("n2", "/etc/keepalived/n2.conf"),
//! ];
//! let import = keepalived::import(&nodes, &Options::default()).unwrap();
//! for finding in &import.findings {
//!     eprintln!("{finding}");
//! }
//! assert!(!import.objects.is_empty());
//! ```
//!
//! - [`keepalived`]: a reader faithful to keepalived's own parser
//!   (comments, quoting, `include` globs, `@id` conditional lines, `$VAR`
//!   parameters) and the mapping of its VRRP keywords.
//! - [`vrrpd`]: Vrrpd's command line (getopt, as Vrrpd reads it); its
//!   processes become one sync group.
//!
//! The mapping never produces a manifest the model would refuse without
//! saying so: objects that validate, and findings for what they leave out.

mod finding;
pub mod keepalived;
mod manifests;
mod names;
pub mod vrrpd;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

pub use finding::{Finding, Level, Source};
use hareconcile_model::Object;

/// Annotation on imported objects: what they were made from.
pub const IMPORTED_FROM_ANNOTATION: &str = "hareconcile.io/imported-from";

/// Choices the input does not make.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Cluster every object belongs to.
    pub cluster: String,
    /// Node addresses the input does not give (multicast setups say
    /// nothing about them).
    pub addresses: BTreeMap<String, IpAddr>,
    /// Where the manifests expect the VRRP password (the password itself
    /// is returned as a [`Secret`], never put into a manifest).
    pub password_file: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cluster: "imported".to_string(),
            addresses: BTreeMap::new(),
            password_file: PathBuf::from("/etc/hareconcile/vrrp-password"),
        }
    }
}

/// A file the manifests refer to, with content from the input (the VRRP
/// password): to be installed at `path` on every node, readable by root
/// only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub path: PathBuf,
    pub content: String,
    pub from: Source,
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Import {
    /// The Cluster first, then the VirtualIPs in input order; they validate
    /// together.
    pub objects: Vec<Object>,
    pub secrets: Vec<Secret>,
    /// In input order.
    pub findings: Vec<Finding>,
}

impl Import {
    /// Whether a finding asks for a person's review (anything but notes).
    pub fn needs_review(&self) -> bool {
        self.findings.iter().any(|f| f.level.needs_review())
    }
}

/// Why nothing could be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Read(#[from] keepalived::ReadError),
    #[error("node name {0:?} is not a valid object name: use lower-case letters, digits and '-' (e.g. n1)")]
    NodeName(String),
    #[error("node {0} is given twice: give each node one file")]
    DuplicateNode(String),
    #[error("--address names node {name}, which the Cluster does not have: use one of {known}")]
    UnknownNode { name: String, known: String },
    #[error("nothing to import: {reason}")]
    Nothing {
        reason: String,
        /// What was found on the way, to show with the error.
        findings: Vec<Finding>,
    },
    #[error("{0}")]
    CommandLine(String),
}
