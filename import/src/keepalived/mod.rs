//! keepalived.conf to manifests: one file per node, read as keepalived
//! reads it ([`reader`], [`tree`], [`config`]), then merged into one
//! Cluster and one VirtualIP per virtual router ([`mapping`]).
//!
//! A node's name is its keepalived config id, so `@NAME` lines apply to it.

mod config;
pub mod keywords;
mod mapping;
mod reader;
mod tree;
mod words;

use std::path::PathBuf;

pub use reader::ReadError;

use crate::finding::Findings;
use crate::names::is_dns_label;
use crate::{Import, ImportError, Options};

/// One node's keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    /// The node's name in the Cluster, and its keepalived config id.
    pub name: String,
    pub path: PathBuf,
}

impl NodeFile {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        NodeFile {
            name: name.into(),
            path: path.into(),
        }
    }
}

/// Reads every node's file and maps them together. With one file, the
/// other node is derived from it (and the findings say how).
pub fn import(files: &[NodeFile], options: &Options) -> Result<Import, ImportError> {
    for (i, file) in files.iter().enumerate() {
        if !is_dns_label(&file.name) {
            return Err(ImportError::NodeName(file.name.clone()));
        }
        if files[..i].iter().any(|other| other.name == file.name) {
            return Err(ImportError::DuplicateNode(file.name.clone()));
        }
    }
    let mut findings = Findings::default();
    let mut nodes = Vec::new();
    for file in files {
        let lines = reader::read(&file.path, &file.name, &mut findings)?;
        let statements = tree::statements(lines, &mut findings);
        nodes.push(mapping::Given {
            name: file.name.clone(),
            path: file.path.clone(),
            config: config::node_config(&statements, &mut findings),
        });
    }
    mapping::map(&nodes, options, findings)
}
