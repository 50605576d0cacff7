//! Docker's event stream as reconcile triggers: a container of a Compose
//! project stopped, removed or turned unhealthy by someone else, or an
//! image arriving under a tag (a pull, `docker tag`, `docker load`) that a
//! running container's reference may name, makes the controller look
//! again at once instead of at the next resync.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::system::EventsOptions;
use futures::StreamExt;
use hareconcile_runtime::{ControllerHandle, Repeats};
use tracing::{debug, warn};

use crate::engine::{Engine, PROJECT};

/// Wait before reconnecting to a daemon that went away.
const RECONNECT: Duration = Duration::from_secs(2);

/// Follows the daemon's events until the task is aborted, triggering every
/// Service on each container event of a Compose project and each image
/// arriving under a tag. Stacks per node are few and reconciles
/// idempotent, so no mapping back to one object. A daemon that stays
/// away (a dead socket) is retried every 2 s but warned about ever more
/// rarely, with a count.
pub async fn forward(docker_host: String, controller: ControllerHandle) {
    let mut failures = Repeats::default();
    loop {
        let failure = match Engine::connect(&docker_host).await {
            Ok(engine) => {
                // The daemon answered (connecting negotiates the API
                // version): its next failure is news.
                failures.clear();
                follow(&engine, &controller)
                    .await
                    .map(|e| format!("docker event stream failed: {e}"))
            }
            Err(e) => Some(format!("cannot follow docker events: {e}")),
        };
        if let Some(failure) = failure {
            if let Some(times) = failures.note(&failure) {
                warn!(times, "{failure}; retrying every 2s");
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Triggers the controller on each relevant event until the stream ends
/// (`None`: the daemon closed it, as on a restart) or fails.
async fn follow(engine: &Engine, controller: &ControllerHandle) -> Option<bollard::errors::Error> {
    // The daemon ANDs filters of different keys: a label filter would
    // drop image events, so projects are told apart here.
    let options = EventsOptions::<String> {
        filters: HashMap::from([(
            "type".to_string(),
            vec!["container".to_string(), "image".to_string()],
        )]),
        ..Default::default()
    };
    let mut events = engine.docker().events(Some(options));
    // A reconnect may have missed events: look at everything.
    controller.trigger_all();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => return Some(e),
        };
        if is_relevant(&event) {
            debug!(action = ?event.action, "docker event");
            controller.trigger_all();
        }
    }
    None
}

/// Image actions that put an image under a tag, which may be one a
/// project's container runs an older image of.
const TAGGING: [&str; 4] = ["pull", "tag", "load", "import"];

/// A Compose project's container changing (`exec_create`/`exec_start`/
/// `exec_die` come with every healthcheck run and `docker exec`; they
/// never change what a container is), or an image tagged.
fn is_relevant(event: &EventMessage) -> bool {
    let action = event.action.as_deref().unwrap_or_default();
    match event.typ {
        Some(EventMessageTypeEnum::CONTAINER) => {
            let of_a_project = event
                .actor
                .as_ref()
                .and_then(|a| a.attributes.as_ref())
                .is_some_and(|labels| labels.contains_key(PROJECT));
            of_a_project && !action.starts_with("exec_")
        }
        Some(EventMessageTypeEnum::IMAGE) => TAGGING.contains(&action),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(typ: EventMessageTypeEnum, action: &str, labels: &[&str]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("0123".into()),
                attributes: Some(
                    labels
                        .iter()
                        .map(|l| (l.to_string(), "shop".to_string()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn project_containers_and_tagged_images_count_healthcheck_noise_does_not() {
        use EventMessageTypeEnum::{CONTAINER, IMAGE, NETWORK};
        let ours = |action| event(CONTAINER, action, &[PROJECT]);
        assert!(is_relevant(&ours("die")));
        assert!(is_relevant(&ours("health_status: unhealthy")));
        assert!(!is_relevant(&ours("exec_start: sh -c true")));
        assert!(!is_relevant(&event(CONTAINER, "die", &[])));
        assert!(!is_relevant(&event(NETWORK, "connect", &[])));
        assert!(is_relevant(&event(IMAGE, "pull", &[])));
        assert!(is_relevant(&event(IMAGE, "tag", &[])));
        assert!(!is_relevant(&event(IMAGE, "push", &[])));
        assert!(!is_relevant(&event(IMAGE, "untag", &[])));
    }
}
