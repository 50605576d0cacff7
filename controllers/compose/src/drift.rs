//! How a stack differs from its compose file and its placement on this
//! node: containers missing, stopped, running where they should not,
//! built from an older configuration or image, or not part of the file at all.
//! Each difference says what the controller does about it.

use serde::Serialize;

use crate::engine::{config_hash, container_name, container_names, ContainerStatus, EngineError};
use crate::file::Project;
use crate::Placement;

/// One difference, as `status.details.drift` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackDrift {
    /// The container it is about.
    #[serde(skip)]
    pub container: String,
    pub reason: &'static str,
    pub message: String,
    pub fix: String,
}

fn drift(
    container: &str,
    reason: &'static str,
    message: String,
    fix: impl Into<String>,
) -> StackDrift {
    StackDrift {
        container: container.to_string(),
        reason,
        message,
        fix: fix.into(),
    }
}

/// What the agent does about a step that failed: the scheduler retries a
/// failed pass with backoff capped at a minute, and a docker event about
/// the project triggers one at once.
const RETRYING: &str = "the agent retries with backoff (at least once a minute) and on every docker event of the project; if the error stays, fix its cause";

/// The differences between `containers` and what `wanted` asks of the
/// project here. Outdated configurations count only when asked: a
/// container `docker-compose` created carries another hash for the same
/// settings, and the controller keeps it.
pub fn stack_drift(
    project: &Project,
    wanted: Placement,
    containers: &[ContainerStatus],
    with_outdated: bool,
) -> Vec<StackDrift> {
    let mut found = Vec::new();
    for container in containers {
        let name = &container.name;
        let service = &container.service;
        let number = container.number;
        let Some(declared) = project.services.get(service) else {
            found.push(drift(
                name,
                "UnexpectedContainer",
                format!("{name} (service {service:?}) carries the project's label but the compose file has no such service"),
                format!("won't fix: the agent never removes containers it does not manage; remove it (docker rm -f {name}) or declare the service"),
            ));
            continue;
        };
        if number > declared.replicas {
            found.push(drift(
                name,
                "ExtraReplica",
                format!(
                    "{name} is container {number} of service {service}, which runs {}",
                    declared.replicas
                ),
                "the agent stops and removes it",
            ));
        } else if *name != container_name(project, service, number) {
            found.push(drift(
                name,
                "ContainerRenamed",
                format!(
                    "{name} is container {number} of service {service}, which is now named {}",
                    container_name(project, service, number)
                ),
                "the agent replaces it with a container of the new name",
            ));
        }
    }
    let replicas = project.services.iter().flat_map(|(service_name, service)| {
        container_names(project, service_name)
            .into_iter()
            .map(move |(number, name)| (service_name, service, number, name))
    });
    for (service_name, service, number, name) in replicas {
        let container = containers.iter().find(|c| c.name == name);
        let renamed = containers
            .iter()
            .any(|c| &c.service == service_name && c.number == number && c.name != name);
        let running = container.is_some_and(|c| c.state == "running" || c.state == "restarting");
        let paused = container.is_some_and(|c| c.state == "paused");
        match (wanted, container) {
            // Reported as renamed, above.
            (_, None) if renamed => {}
            (Placement::Run | Placement::Warm | Placement::Paused, None) => found.push(drift(
                &name,
                "ContainerMissing",
                format!("{name} of service {service_name} does not exist"),
                "the agent creates it (and starts it where the stack runs)",
            )),
            (Placement::Run, Some(c)) if !running => found.push(drift(
                &name,
                "ContainerStopped",
                format!("{name} is {} where the stack runs", c.state),
                if paused {
                    "the agent unpauses it"
                } else {
                    "the agent starts it"
                },
            )),
            (Placement::Paused, Some(c)) if !paused => found.push(drift(
                &name,
                "NotPaused",
                format!("{name} is {} where the stack should be paused", c.state),
                if running {
                    "the agent pauses it"
                } else {
                    "the agent starts and pauses it"
                },
            )),
            (Placement::Warm | Placement::Absent, Some(c)) if running || paused => {
                found.push(drift(
                    &name,
                    "RunningOnStandby",
                    format!(
                        "{name} is {} where the stack should be {}",
                        c.state,
                        wanted.as_str()
                    ),
                    match wanted {
                        Placement::Warm => "the agent stops it",
                        _ => "the agent stops and removes it",
                    },
                ))
            }
            (_, Some(c))
                if with_outdated
                    && wanted != Placement::Absent
                    && c.config_hash.as_deref() != Some(&config_hash(project, service)) =>
            {
                found.push(drift(
                    &name,
                    "OutdatedConfig",
                    format!("{name} was created from another configuration of service {service_name} (config-hash label differs)"),
                    "the agent recreates it with the declared configuration",
                ))
            }
            _ => {}
        }
    }
    found
}

/// `found` with what the last pass failed to do: an image it could not
/// get is one finding (instead of the containers missing for want of it);
/// the container it could not create or start says why and that the agent
/// retries; one it could not replace is outdated, by its configuration or
/// its image (a finding of its own, since the config hash of a container
/// `docker-compose` created is not evidence enough, and a container is
/// only compared with its image's id when a pass tries to keep it).
pub fn with_failure(
    mut found: Vec<StackDrift>,
    project: &Project,
    failure: &EngineError,
) -> Vec<StackDrift> {
    if let Some(image) = failure.image() {
        // Their containers are missing because the image is: one finding.
        let blocked: Vec<String> = project
            .services
            .iter()
            .filter(|(_, s)| s.image == image)
            .flat_map(|(name, _)| container_names(project, name))
            .map(|(_, container)| container)
            .collect();
        found.retain(|d| !(d.reason == "ContainerMissing" && blocked.contains(&d.container)));
        found.push(drift(
            "",
            "ImageMissing",
            match failure {
                EngineError::Pull { message, .. } => {
                    format!("image {image} is not on this node and pulling it failed: {message}")
                }
                other => other.to_string(),
            },
            match failure {
                EngineError::NeverPulled { .. } => "won't fix: pull_policy never forbids pulling it; load the image on this node or change the policy".to_string(),
                _ => RETRYING.to_string(),
            },
        ));
        return found;
    }
    let Some(container) = failure.container() else {
        return found;
    };
    if let EngineError::NameTaken { .. } = failure {
        // Not missing: the name is someone else's, which no retry changes.
        found.retain(|d| d.container != container);
        found.push(drift(
            container,
            "NameTaken",
            failure.to_string(),
            format!("won't fix: the agent leaves {container} as it is; rename or remove it (docker rename {container} OTHER), or change the service's container_name"),
        ));
        return found;
    }
    if let EngineError::Replace { newer_image, .. } = failure {
        let (reason, outdated) = match newer_image {
            Some(_) => (
                "OutdatedImage",
                format!("{container} runs an older image than its reference names on this node"),
            ),
            None => {
                let service = project
                    .services
                    .keys()
                    .find(|s| {
                        container_names(project, s)
                            .iter()
                            .any(|(_, name)| name == container)
                    })
                    .map_or("?", String::as_str);
                (
                    "OutdatedConfig",
                    format!("{container} has an older configuration of service {service}"),
                )
            }
        };
        found.push(drift(
            container,
            reason,
            format!("{outdated}; {failure}; the old container is left as it was"),
            RETRYING,
        ));
        return found;
    }
    for difference in found.iter_mut().filter(|d| d.container == container) {
        difference.message = format!("{}; the last attempt failed: {failure}", difference.message);
        difference.fix = RETRYING.into();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        crate::file::shop("services: {web: {image: x}, worker: {image: x}}\n")
    }

    fn container(service: &str, state: &str, project: &Project) -> ContainerStatus {
        let mut c = ContainerStatus::of_shop(service, state, None);
        c.config_hash = project
            .services
            .get(service)
            .map(|s| config_hash(project, s));
        c
    }

    /// Both services' containers, in `state`, as declared.
    fn both(state: &str, project: &Project) -> [ContainerStatus; 2] {
        [
            container("web", state, project),
            container("worker", state, project),
        ]
    }

    /// web's container running, and none of worker.
    fn web_alone(project: &Project) -> [ContainerStatus; 1] {
        [container("web", "running", project)]
    }

    fn reasons(found: &[StackDrift]) -> Vec<&str> {
        found.iter().map(|d| d.reason).collect()
    }

    #[test]
    fn a_running_stack_as_declared_has_no_drift() {
        let p = project();
        let all = both("running", &p);
        assert!(stack_drift(&p, Placement::Run, &all, true).is_empty());
        assert!(stack_drift(&p, Placement::Absent, &[], true).is_empty());
    }

    #[test]
    fn missing_stopped_outdated_and_extra_containers_are_each_found() {
        let p = project();
        let mut outdated = container("worker", "exited", &p);
        outdated.config_hash = Some("older".into());
        let mut web = container("web", "running", &p);
        web.config_hash = Some("older".into());
        let extra = container("old", "running", &p);
        let mut second = container("web", "running", &p);
        second.name = "shop_web_2".into();
        second.number = 2;
        let mut renamed = container("worker", "exited", &p);
        renamed.name = "legacy-worker".into();
        let found = stack_drift(
            &p,
            Placement::Run,
            &[web, outdated, extra, second, renamed],
            true,
        );
        assert_eq!(
            reasons(&found),
            [
                "UnexpectedContainer",
                "ExtraReplica",
                "ContainerRenamed",
                "OutdatedConfig",
                "ContainerStopped"
            ],
            "{found:?}"
        );
        assert!(found[0].fix.starts_with("won't fix"), "{found:?}");
        assert_eq!(found[1].fix, "the agent stops and removes it");
        let p_missing = stack_drift(&p, Placement::Run, &web_alone(&p), false);
        assert_eq!(reasons(&p_missing), ["ContainerMissing"]);
    }

    #[test]
    fn a_name_held_by_a_foreign_container_is_one_finding_the_agent_leaves_alone() {
        let p = project();
        let taken = EngineError::NameTaken {
            name: "shop_web_1".into(),
            project: "shop".into(),
            service: "web".into(),
            holder: "it is not a compose service's container".into(),
        };
        let found = failed_run(&p, &[container("worker", "running", &p)], &taken);
        assert_eq!(reasons(&found), ["NameTaken"], "{found:?}");
        assert!(
            found[0].message.contains("is not shop's service web"),
            "{found:?}"
        );
        assert!(found[0].fix.starts_with("won't fix"), "{found:?}");
    }

    /// What a pass that should run the stack found, where it failed with
    /// `error` and `running` are the containers it left.
    fn failed_run(
        p: &Project,
        running: &[ContainerStatus],
        error: &EngineError,
    ) -> Vec<StackDrift> {
        with_failure(stack_drift(p, Placement::Run, running, false), p, error)
    }

    /// The message of the one finding, for `reason`, that the agent
    /// retries.
    fn retried<'a>(found: &'a [StackDrift], reason: &str) -> &'a str {
        assert_eq!(reasons(found), [reason], "{found:?}");
        assert_eq!(found[0].fix, RETRYING, "{found:?}");
        &found[0].message
    }

    fn no_such_image(action: &'static str, name: &str) -> EngineError {
        EngineError::Api {
            action,
            name: name.into(),
            cause: bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message: "No such image: shop/web:2".into(),
            },
        }
    }

    #[test]
    fn what_the_pass_failed_to_do_says_why_and_that_the_agent_retries() {
        let p = project();
        let running = web_alone(&p);
        let missing = failed_run(
            &p,
            &running,
            &no_such_image("create container", "shop_worker_1"),
        );
        let message = retried(&missing, "ContainerMissing");
        assert!(
            message.ends_with(
                "the last attempt failed: create container shop_worker_1: Docker responded with status code 404: No such image: shop/web:2"
            ),
            "{message}"
        );

        let stopped = [
            container("web", "running", &p),
            container("worker", "exited", &p),
        ];
        let dependency = EngineError::Dependency {
            dependent: "shop_worker_1".into(),
            service: "db".into(),
            wanted: "healthy",
            seen: "running, unhealthy".into(),
        };
        let found = failed_run(&p, &stopped, &dependency);
        assert_eq!(reasons(&found), ["ContainerStopped"]);
        assert!(
            found[0]
                .message
                .contains("waits for db to be healthy, but it is running, unhealthy"),
            "{found:?}"
        );

        // Not replaced: the old container runs, outdated, and is kept.
        let running = both("running", &p);
        let not_replaced = |newer_image| {
            let replace = EngineError::Replace {
                name: "shop_web_1".into(),
                newer_image,
                cause: Box::new(no_such_image("create container", "0123456789ab_shop_web_1")),
            };
            failed_run(&p, &running, &replace)
        };
        let outdated = not_replaced(None);
        assert_eq!(reasons(&outdated), ["OutdatedConfig"]);
        assert!(
            outdated[0].message.starts_with(
                "shop_web_1 has an older configuration of service web; cannot replace shop_web_1"
            ),
            "{outdated:?}"
        );
        assert!(outdated[0]
            .message
            .ends_with("the old container is left as it was"));

        // Not replaced by its newer image: outdated too, and says which.
        let update = crate::engine::ImageUpdate {
            service: "web".into(),
            image: "shop/web:2".into(),
            old: "sha256:0123456789abcdef".into(),
            new: "sha256:fedcba9876543210".into(),
        };
        let outdated = not_replaced(Some(Box::new(update)));
        let message = retried(&outdated, "OutdatedImage");
        assert!(
            message.starts_with(
                "shop_web_1 runs an older image than its reference names on this node; cannot replace shop_web_1 with the newer image of service web: image shop/web:2 is now fedcba987654 (was 0123456789ab): create container"
            ),
            "{message}"
        );

        // A failure about no container of the project changes nothing.
        let network = EngineError::Api {
            action: "create network",
            name: "shop_default".into(),
            cause: bollard::errors::Error::DockerResponseServerError {
                status_code: 500,
                message: "no".into(),
            },
        };
        assert_eq!(failed_run(&p, &running, &network), []);
    }

    #[test]
    fn a_standby_running_the_stack_is_drift_that_the_agent_stops() {
        let p = project();
        let found = stack_drift(&p, Placement::Absent, &web_alone(&p), true);
        assert_eq!(reasons(&found), ["RunningOnStandby"]);
        assert_eq!(found[0].fix, "the agent stops and removes it");
    }

    #[test]
    fn a_paused_standby_must_be_paused_and_a_paused_master_is_thawed() {
        let p = project();
        let frozen = both("paused", &p);
        assert!(stack_drift(&p, Placement::Paused, &frozen, true).is_empty());
        let found = stack_drift(
            &p,
            Placement::Paused,
            &[
                container("web", "running", &p),
                container("worker", "exited", &p),
            ],
            true,
        );
        assert_eq!(reasons(&found), ["NotPaused", "NotPaused"], "{found:?}");
        assert_eq!(found[0].fix, "the agent pauses it");
        assert_eq!(found[1].fix, "the agent starts and pauses it");
        let found = stack_drift(&p, Placement::Run, &frozen, true);
        assert_eq!(reasons(&found), ["ContainerStopped", "ContainerStopped"]);
        assert_eq!(found[0].fix, "the agent unpauses it");
        // A stopped standby must not keep frozen processes either.
        let found = stack_drift(&p, Placement::Warm, &frozen, true);
        assert_eq!(
            reasons(&found),
            ["RunningOnStandby", "RunningOnStandby"],
            "{found:?}"
        );
    }

    #[test]
    fn an_image_the_pass_could_not_get_is_a_finding_of_its_own() {
        let p = project();
        let none = [container("worker", "running", &p)];
        let pulled = failed_run(
            &p,
            &none,
            &EngineError::Pull {
                image: p.services["web"].image.clone(),
                message: "connection refused".into(),
            },
        );
        let image = &p.services["web"].image;
        assert_eq!(
            retried(&pulled, "ImageMissing"),
            format!("image {image} is not on this node and pulling it failed: connection refused")
        );
        let never = with_failure(
            Vec::new(),
            &p,
            &EngineError::NeverPulled {
                image: "shop/web:2".into(),
                services: "web".into(),
            },
        );
        assert!(never[0].fix.starts_with("won't fix"), "{never:?}");
    }
}
