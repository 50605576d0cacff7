//! Planned switchover of a VirtualIP to a chosen node, as every agent
//! carries it out in its own store.
//!
//! Each agent's controllers read only their own node's store, so a
//! switchover is a spec change that must reach every node:
//! `spec.control.switchoverTo: NODE`. It is declarative on purpose. On the
//! target, the VRRP instance runs at priority 254 and preempts; on every
//! other node it never preempts. From there the existing make-before-break
//! path does the move: the target holds its takeover (`preparingTakeover`)
//! until the Services following the VIP run there, then takes over with
//! its higher advert, and the old master keeps the VIP until that advert
//! arrives, so the VIP is never without a master. Because the field stays
//! in the spec, the move sticks across restarts and against `preempt: true`
//! until it is cleared or set to another node.
//!
//! How the field reaches every store depends on who manages the object:
//! - `cli` (or nobody): `hareconcile switchover` asks its local agent,
//!   which sets the field here and asks every peer over the peer API
//!   (bearer token, mutual TLS when configured) to set it in theirs. A
//!   peer that cannot be reached fails the request, and the command says
//!   which nodes have it; running it again is harmless.
//! - `files` or `gitops`: the next sync would undo a CLI edit, so the
//!   agents refuse and the operator declares `spec.control.switchoverTo`
//!   in the manifest or the commit, which every node loads alike.
//!
//! A VIP with an address owner (priority 255) cannot be switched away
//! from it: 254 is the most a target gets.
//!
//! Ordering between nodes does not matter: a target that learns first
//! outranks the master, which steps down only on the target's advert; an
//! old master that learns first just stops preempting.

use hareconcile_model::validate::check_batch;
use hareconcile_model::{
    Control, Kind, Manager, Object, ObjectKey, ObjectMeta, Status, VirtualIpSpec,
};
use hareconcile_runtime::{ApplyOptions, Store};
use serde::{Deserialize, Serialize};

/// Set (or, with `to: None`, clear) a VirtualIP's switchover target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchoverRequest {
    pub virtual_ip: String,
    pub to: Option<String>,
}

/// What one node did with a [`SwitchoverRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeOutcome {
    pub node: String,
    /// The VirtualIP's generation there once the request is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl NodeOutcome {
    pub fn from_result(node: &str, result: Result<u64, String>) -> NodeOutcome {
        let (generation, error) = match result {
            Ok(generation) => (Some(generation), None),
            Err(error) => (None, Some(error)),
        };
        NodeOutcome {
            node: node.to_string(),
            generation,
            error,
        }
    }
}

/// Sets the request's switchover target in this node's store, as manager
/// `cli`; returns the VirtualIP's generation. Unchanged when already set.
pub fn set_here(store: &Store, request: &SwitchoverRequest) -> Result<u64, String> {
    let key = ObjectKey {
        kind: Kind::VirtualIP,
        name: request.virtual_ip.clone(),
    };
    let Some(object) = store.get(&key) else {
        return Err(format!("{key} does not exist on node {}", store.node()));
    };
    let spec: VirtualIpSpec = object
        .spec_as()
        .map_err(|e| format!("{key}: the stored spec does not decode: {e}"))?;
    if spec.control.switchover_to == request.to {
        return Ok(object.metadata.generation);
    }
    if let Some(owner) = object.metadata.manager.filter(|m| *m != Manager::Cli) {
        let declare = match &request.to {
            Some(node) => format!("set spec.control.switchoverTo: {node}"),
            None => "remove spec.control.switchoverTo".to_string(),
        };
        return Err(format!(
            "{key} is managed by {owner} on node {}: its next sync would undo a switchover \
             made here; {declare} where {owner} gets it from (the manifest file, or a commit)",
            store.node()
        ));
    }
    let mut control = spec.control.clone();
    control.switchover_to = request.to.clone();
    let edited = with_control(&object, &control)?;
    let (stored, _) = store.list(None);
    let problems = check_batch(
        stored.iter().map(AsRef::as_ref),
        std::slice::from_ref(&edited),
    );
    if let Some(problem) = problems.first() {
        return Err(format!(
            "{}: {}: {}",
            problem.key, problem.pointer, problem.message
        ));
    }
    let outcomes = store
        .apply(vec![edited], Manager::Cli, ApplyOptions::default())
        .map_err(|e| e.to_string())?;
    Ok(outcomes
        .first()
        .map_or(object.metadata.generation, |o| o.generation))
}

/// The object as the CLI applies it: its declared parts with the new
/// control, nothing the store sets.
pub fn with_control(object: &Object, control: &Control) -> Result<Object, String> {
    let mut spec = object.spec.clone();
    let Some(fields) = spec.as_object_mut() else {
        return Err("the stored spec is not an object".to_string());
    };
    if *control == Control::default() {
        fields.remove("control");
    } else {
        let value = serde_json::to_value(control).map_err(|e| e.to_string())?;
        fields.insert("control".into(), value);
    }
    Ok(Object {
        api_version: object.api_version.clone(),
        kind: object.kind,
        metadata: ObjectMeta {
            labels: object.metadata.labels.clone(),
            annotations: object.metadata.annotations.clone(),
            ..ObjectMeta::named(object.metadata.name.clone())
        },
        spec,
        status: Status::default(),
    })
}
