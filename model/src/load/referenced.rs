//! Files an object names on the node, checked while its manifest loads.
//!
//! A Service names a compose project; whether it loads is known only to
//! the compose loader, which depends on this crate and not the other way
//! round. So the caller passes a [`ReferencedFiles`] check (the binary
//! passes the compose loader's), and every load — `validate`, `apply`,
//! `diff`, the manifests directory, GitOps — reports the problems of those
//! files with the manifests' own, all of them, before anything is applied,
//! and what those files hold that is accepted without effect as warnings.

use std::collections::BTreeMap;

use super::Diagnostic;
use crate::Object;

/// A check of the files one kind of object names.
pub trait ReferencedFiles: Sync {
    /// What is wrong with the files `object` names, each problem at its
    /// place in its own file, and annotations that record what was read,
    /// so that a change of those files is a change of the object (`diff`
    /// shows it, `apply` stores it, the agent acts on it at once).
    fn check(&self, object: &Object) -> Checked;
}

/// What a [`ReferencedFiles`] check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub problems: Vec<Diagnostic>,
    /// Accepted but worth saying (a key a single Docker Engine ignores):
    /// shown to the person loading, never a reason to refuse.
    pub warnings: Vec<Diagnostic>,
    pub annotations: BTreeMap<String, String>,
}

/// For loads that check the manifests alone.
pub struct NoReferencedFiles;

impl ReferencedFiles for NoReferencedFiles {
    fn check(&self, _: &Object) -> Checked {
        Checked::default()
    }
}
