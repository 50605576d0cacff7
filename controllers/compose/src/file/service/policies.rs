//! When images are pulled and containers restarted: `pull_policy` and
//! `restart`.

use crate::file::decode::{none_of, string, Decoded, Problem};
use crate::file::node::Node;

/// Compose's `pull_policy`, the values that need no `build:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pulled when not on the node (Compose's default; `if_not_present`).
    #[default]
    Missing,
    /// Pulled again when the stack (re)starts and periodically; the local
    /// copy serves while the registry cannot.
    Always,
    /// Never pulled: the image must be on the node already.
    Never,
}

pub fn pull_policy(node: &Node) -> Decoded<PullPolicy> {
    match string(node, "pull_policy")?.as_str() {
        "missing" | "if_not_present" => Ok(PullPolicy::Missing),
        "always" => Ok(PullPolicy::Always),
        "never" => Ok(PullPolicy::Never),
        "build" => Err(Problem::new(
            node.at,
            "unsupported pull_policy `build`: hareconcile does not build images; push the image to a registry or build it on each node",
        )),
        scheduled
            if ["daily", "weekly"].contains(&scheduled) || scheduled.starts_with("every_") =>
        {
            Err(Problem::new(
                node.at,
                format!("unsupported pull_policy `{scheduled}`: hareconcile does not implement scheduled pulls; use always (pulled again at most hourly) or missing"),
            ))
        }
        other => Err(none_of(
            node,
            "pull_policy",
            other,
            &["missing", "always", "never"],
        )),
    }
}

pub fn restart(node: &Node) -> Decoded<String> {
    let policy = string(node, "restart")?;
    let known = matches!(
        policy.as_str(),
        "no" | "always" | "unless-stopped" | "on-failure"
    ) || policy
        .strip_prefix("on-failure:")
        .is_some_and(|n| n.parse::<u32>().is_ok());
    if known {
        Ok(policy)
    } else {
        Err(Problem::new(
            node.at,
            format!("restart must be no, always, unless-stopped or on-failure[:N], not {policy:?}"),
        ))
    }
}
