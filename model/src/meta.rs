//! Object metadata, following the Kubernetes conventions without Kubernetes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Who last applied an object. A manager may not silently overwrite an
/// object another manager owns; `--force` takes it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    /// `hareconcile apply` by a person.
    Cli,
    /// The agent's `--manifests` directory.
    Files,
    /// The GitOps pull loop.
    Gitops,
}

impl Manager {
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Cli => "cli",
            Manager::Files => "files",
            Manager::Gitops => "gitops",
        }
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Manager {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cli" => Ok(Manager::Cli),
            "files" => Ok(Manager::Files),
            "gitops" => Ok(Manager::Gitops),
            other => Err(format!(
                "unknown manager {other:?}: expected cli, files or gitops"
            )),
        }
    }
}

/// Annotation recording the manifest file an object came from, so that
/// removing the file prunes exactly the objects it declared.
pub const SOURCE_FILE_ANNOTATION: &str = "hareconcile.io/source-file";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Set by the store on creation; never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Bumped by the store on every spec change (0 = never stored).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Store-wide monotonic counter at the object's last write, as a string
    /// like Kubernetes so clients treat it as opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub creation_timestamp: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ObjectMeta {
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn resource_version_number(&self) -> u64 {
        self.resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}
