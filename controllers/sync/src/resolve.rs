//! Settling two-way conflicts (`hareconcile replication resolve NAME
//! --keep NODE [PATH...]`): the kept node's version of each conflicting
//! path (or its deletion) replaces the others', and becomes what the pair
//! agreed on. Runs from any node of the Cluster, over the same ssh
//! settings and under the same locks as the controller's rounds.

use std::collections::BTreeSet;

use hareconcile_model::{ClusterSpec, Kind, ObjectKey, ReplicationSpec};
use hareconcile_runtime::{Context, EventType};

use crate::plan::plan;
use crate::twoway::{Pair, Resolution, Round};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("Replication {0:?} is not in the store")]
    NotFound(String),
    #[error("Replication {0:?} is not two-way (direction: both): it has no conflicts to resolve")]
    OneWay(String),
    #[error("{0}")]
    Invalid(String),
    #[error("resolving with {peer} failed: {why}")]
    Round { peer: String, why: String },
}

/// What was settled with one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub peer: String,
    pub round: Round,
}

/// Makes `keep`'s version of the conflicting `paths` (all conflicts when
/// empty) everyone's: this node first takes `keep`'s version (unless it
/// is `keep`), then gives it to every other node.
pub async fn resolve(
    ctx: &Context,
    name: &str,
    keep: &str,
    paths: &[String],
) -> Result<Vec<Resolved>, ResolveError> {
    let spec: ReplicationSpec = ctx
        .get(name)
        .map_err(|e| ResolveError::Invalid(e.to_string()))?
        .ok_or_else(|| ResolveError::NotFound(name.into()))?;
    let control_dir = Some(ctx.store.state_dir().join("ssh"));
    let plan = plan(&spec, ctx, control_dir).ok_or_else(|| ResolveError::OneWay(name.into()))?;
    let filter = plan
        .two_way
        .clone()
        .ok_or_else(|| ResolveError::OneWay(name.into()))?;
    let cluster = ctx
        .get::<ClusterSpec>(&spec.cluster)
        .ok()
        .flatten()
        .ok_or_else(|| {
            ResolveError::Invalid(format!("Cluster {:?} is not in the store", spec.cluster))
        })?;
    if cluster.node(keep).is_none() {
        let names: Vec<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(ResolveError::Invalid(format!(
            "{keep:?} is not a node of Cluster {:?}: keep one of {}",
            spec.cluster,
            names.join(", ")
        )));
    }
    let mut peers: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|n| n.name != *ctx.node)
        .collect();
    // The kept node's version comes here first, then goes everywhere.
    peers.sort_by_key(|n| n.name != keep);
    let paths: BTreeSet<String> = paths.iter().cloned().collect();
    let mut resolved = Vec::new();
    for peer in peers {
        let address = peer.address.to_string();
        let pair = Pair {
            data: &plan.path,
            node: &ctx.node,
            peer: &peer.name,
            host: &address,
            link: &plan.link,
            filter: &filter,
        };
        let resolution = Resolution {
            keep_local: peer.name != keep,
            paths: paths.clone(),
        };
        let round = pair
            .round(Some(&resolution))
            .await
            .map_err(|why| ResolveError::Round {
                peer: peer.name.clone(),
                why,
            })?;
        ctx.store.record_event(
            &ObjectKey::new(Kind::Replication, name),
            EventType::Normal,
            "ConflictResolved",
            &format!(
                "kept {keep}'s version: {} copied to {}, {} from it, {} deleted",
                round.pushed, peer.name, round.pulled, round.deleted
            ),
        );
        resolved.push(Resolved {
            peer: peer.name.clone(),
            round,
        });
    }
    Ok(resolved)
}
