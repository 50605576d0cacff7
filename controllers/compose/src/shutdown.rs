//! The agent's way out: an exclusive stack (break-before-make) stops with
//! the agent. Other stacks keep running through an agent restart, but once
//! the agent is gone the VIP moves and the other node starts the exclusive
//! stack there; with this node's copy still running that is two writers.

use hareconcile_model::status::StackPlacement;
use std::sync::Arc;

use hareconcile_model::{Kind, Object, ServiceSpec, ServiceStatus};
use hareconcile_runtime::{EventType, Store};
use tracing::{info, warn};

use crate::controller::load_project;
use crate::engine::Engine;

/// The exclusive stacks placed to run here, as the Service controller
/// last reported them.
pub fn exclusive_stacks(store: &Store) -> Vec<Arc<Object>> {
    store
        .list(Some(Kind::Service))
        .0
        .into_iter()
        .filter(|object| {
            let status: ServiceStatus = object.status.details_as().unwrap_or_default();
            status.exclusive && status.desired == Some(StackPlacement::Run)
        })
        .collect()
}

/// Stops (keeps, stopped) these stacks; the Service controller must be
/// stopped first so that it does not start them again.
pub async fn stop(docker_host: &str, store: &Store, running: Vec<Arc<Object>>) {
    let engine = match Engine::connect(docker_host).await {
        Ok(engine) => engine,
        Err(error) => {
            warn!(%error, "exclusive stacks left running: the Docker Engine does not answer");
            return;
        }
    };
    for object in running {
        let name = &object.metadata.name;
        let project = match object.spec_as::<ServiceSpec>() {
            Ok(spec) => load_project(&object, &spec).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let stopped = match project {
            Ok(project) => engine.stop(&project).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match stopped {
            Ok(_) => {
                info!(service = %name, "exclusive stack stopped with the agent");
                store.record_event(
                    &object.key(),
                    EventType::Normal,
                    "StoppedWithAgent",
                    "exclusive (break-before-make): stopped as the agent stops, so that it never runs beside the other node's",
                );
            }
            Err(error) => {
                warn!(service = %name, %error, "exclusive stack left running");
                store.record_event(
                    &object.key(),
                    EventType::Warning,
                    "LeftRunning",
                    &format!("exclusive (break-before-make) and still running as the agent stops: {error}"),
                );
            }
        }
    }
}
