//! The envelope every stored object shares. The store and the API handle
//! objects generically; controllers decode the spec into their typed form.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Kind, ObjectMeta, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub api_version: String,
    pub kind: Kind,
    pub metadata: ObjectMeta,
    pub spec: serde_json::Value,
    #[serde(default, skip_serializing_if = "Status::is_empty")]
    pub status: Status,
}

/// Identifies one object: kinds have separate name spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    pub kind: Kind,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        ObjectKey {
            kind,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl Object {
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.kind, self.metadata.name.clone())
    }

    /// Decodes the spec into its typed form. Specs in the store passed
    /// validation, so an error here means a schema and its type disagree.
    pub fn spec_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.spec.clone())
    }
}
