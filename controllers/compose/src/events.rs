//! Docker's event stream as reconcile triggers: a container of a Compose
//! project stopped, removed or turned unhealthy by someone else makes the
//! controller look again at once instead of at the next resync.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::EventMessageTypeEnum;
use bollard::system::EventsOptions;
use futures::StreamExt;
use hareconcile_runtime::ControllerHandle;
use tracing::{debug, warn};

use crate::engine::{Engine, PROJECT};

/// Wait before reconnecting to a daemon that went away.
const RECONNECT: Duration = Duration::from_secs(2);

/// Follows the daemon's events until the task is aborted, triggering every
/// Service on each container event of a Compose project. Stacks per node
/// are few and reconciles idempotent, so no mapping back to one object.
pub async fn forward(docker_host: String, controller: ControllerHandle) {
    loop {
        match Engine::connect(&docker_host).await {
            Ok(engine) => {
                let options = EventsOptions::<String> {
                    filters: HashMap::from([
                        ("type".to_string(), vec!["container".to_string()]),
                        ("label".to_string(), vec![PROJECT.to_string()]),
                    ]),
                    ..Default::default()
                };
                let mut events = engine.docker().events(Some(options));
                // A reconnect may have missed events: look at everything.
                controller.trigger_all();
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) if is_relevant(event.typ, event.action.as_deref()) => {
                            debug!(action = ?event.action, "docker event");
                            controller.trigger_all();
                        }
                        Ok(_) => {}
                        Err(e) => {
                            warn!(error = %e, "docker event stream failed");
                            break;
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot follow docker events"),
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// `exec_create`/`exec_start`/`exec_die` come with every healthcheck run
/// and `docker exec`; they never change what a container is.
fn is_relevant(typ: Option<EventMessageTypeEnum>, action: Option<&str>) -> bool {
    typ == Some(EventMessageTypeEnum::CONTAINER) && !action.unwrap_or_default().starts_with("exec_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_exec_noise_is_dropped() {
        let container = Some(EventMessageTypeEnum::CONTAINER);
        assert!(is_relevant(container, Some("die")));
        assert!(is_relevant(container, Some("health_status: unhealthy")));
        assert!(!is_relevant(container, Some("exec_start: sh -c true")));
        assert!(!is_relevant(
            Some(EventMessageTypeEnum::NETWORK),
            Some("connect")
        ));
    }
}
