//! `depends_on:`, short (a list) and long (conditions) forms.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::file::decode::{boolean, string, string_list, Decoded, Fields, Problem};
use crate::file::node::{Node, Value};

/// What a dependent waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    pub condition: Condition,
    /// Restart the dependent when the dependency gets a new container.
    pub restart: bool,
    /// When false, a dependency the active profiles leave out is dropped,
    /// and one that fails to start or meet its condition is only logged.
    pub required: bool,
}

impl Dependency {
    pub fn started() -> Self {
        Dependency {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        }
    }
}

/// The condition alone when the rest is Compose's default: written so,
/// services that use neither `restart` nor `required` keep the config hash
/// they had before those existed, and their containers are not recreated.
impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Full {
            condition: Condition,
            restart: bool,
            required: bool,
        }
        if !self.restart && self.required {
            self.condition.serialize(serializer)
        } else {
            Full {
                condition: self.condition,
                restart: self.restart,
                required: self.required,
            }
            .serialize(serializer)
        }
    }
}

pub fn depends_on(node: &Node) -> Decoded<BTreeMap<String, Dependency>> {
    match &node.value {
        Value::Seq(_) => Ok(string_list(node, "depends_on")?
            .into_iter()
            .map(|s| (s, Dependency::started()))
            .collect()),
        Value::Map(entries) => entries
            .iter()
            .map(|e| Ok((e.key.clone(), dependency(&e.value, &e.key)?)))
            .collect(),
        _ => Err(Problem::new(
            node.at,
            "depends_on must be a list or a mapping",
        )),
    }
}

fn dependency(node: &Node, name: &str) -> Decoded<Dependency> {
    let mut f = Fields::of(node, format!("depends_on `{name}`"))?;
    let condition = match f.take("condition") {
        None => Condition::ServiceStarted,
        Some(n) => match string(n, "condition")?.as_str() {
            "service_started" => Condition::ServiceStarted,
            "service_healthy" => Condition::ServiceHealthy,
            "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
            other => {
                return Err(Problem::new(
                    n.at,
                    format!("condition must be service_started, service_healthy or service_completed_successfully, not {other:?}"),
                ))
            }
        },
    };
    let flag = |node: Option<&Node>, what: &str, default: bool| {
        node.map(|n| boolean(n, what))
            .transpose()
            .map(|b| b.unwrap_or(default))
    };
    let dependency = Dependency {
        condition,
        restart: flag(f.take("restart"), "restart", false)?,
        required: flag(f.take("required"), "required", true)?,
    };
    f.finish()?;
    Ok(dependency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::node::parse;

    #[test]
    fn long_form_flags_and_a_hash_stable_shape() {
        let all = depends_on(
            &parse("db: {condition: service_healthy, restart: true}\ncache: {required: false}\nold: {}\n")
                .unwrap(),
        )
        .unwrap();
        assert!(all["db"].restart && all["db"].required);
        assert!(!all["cache"].required);
        assert_eq!(all["old"], Dependency::started());
        assert_eq!(
            serde_json::to_string(&all["old"]).unwrap(),
            r#""service_started""#
        );
        assert_eq!(
            serde_json::to_string(&all["db"]).unwrap(),
            r#"{"condition":"service_healthy","restart":true,"required":true}"#
        );
    }
}
