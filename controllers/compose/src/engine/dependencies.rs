//! Waiting for what `depends_on` conditions ask of a dependency.

use std::time::Duration;

use bollard::container::InspectContainerOptions;
use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};

use tracing::warn;

use super::{api, labels, Engine, EngineError};
use crate::file::{Condition, Dependency, Project};

/// How long a dependent waits for `service_healthy` or
/// `service_completed_successfully` before the start fails.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(120);
const DEPENDENCY_POLL: Duration = Duration::from_millis(250);

impl Engine {
    /// Waits until every container of `service` meets the condition
    /// `dependency` asks, for container `dependent`. One that fails a
    /// dependency that is not `required` is logged, and not waited for.
    pub(super) async fn wait_for(
        &self,
        project: &Project,
        dependent: &str,
        service: &str,
        dependency: Dependency,
    ) -> Result<(), EngineError> {
        for (_, name) in labels::container_names(project, service) {
            match self
                .wait_for_container(dependent, service, &name, dependency.condition)
                .await
            {
                Err(e) if !dependency.required => {
                    warn!(container = %dependent, error = %e, "starting anyway: the dependency is not required");
                    return Ok(());
                }
                result => result?,
            }
        }
        Ok(())
    }

    async fn wait_for_container(
        &self,
        dependent: &str,
        service: &str,
        name: &str,
        condition: Condition,
    ) -> Result<(), EngineError> {
        let wanted = match condition {
            Condition::ServiceStarted => return Ok(()),
            Condition::ServiceHealthy => "healthy",
            Condition::ServiceCompletedSuccessfully => "completed successfully",
        };
        let started = tokio::time::Instant::now();
        loop {
            let (status, health, exit_code) = self.state(name).await?;
            let done = match condition {
                Condition::ServiceHealthy => health == Some(HealthStatusEnum::HEALTHY),
                _ => status == Some(ContainerStateStatusEnum::EXITED) && exit_code == Some(0),
            };
            // A failed dependency will not recover by waiting.
            let failed = match condition {
                Condition::ServiceHealthy => health == Some(HealthStatusEnum::UNHEALTHY),
                _ => status == Some(ContainerStateStatusEnum::EXITED) && exit_code != Some(0),
            };
            if done {
                return Ok(());
            }
            if failed || started.elapsed() > DEPENDENCY_TIMEOUT {
                // What the condition looks at, and how long it was
                // waited for when it timed out rather than failed.
                let seen = [
                    status.map(|s| s.to_string()),
                    match condition {
                        Condition::ServiceHealthy => health.map(|h| h.to_string()),
                        _ => exit_code.map(|c| format!("exit code {c}")),
                    },
                    (!failed).then(|| format!("still after {:?}", started.elapsed())),
                ];
                return Err(EngineError::Dependency {
                    dependent: dependent.to_string(),
                    service: service.to_string(),
                    wanted,
                    seen: seen.into_iter().flatten().collect::<Vec<_>>().join(", "),
                });
            }
            tokio::time::sleep(DEPENDENCY_POLL).await;
        }
    }

    /// Docker's state, health and exit code of one container.
    pub(super) async fn state(
        &self,
        name: &str,
    ) -> Result<
        (
            Option<ContainerStateStatusEnum>,
            Option<HealthStatusEnum>,
            Option<i64>,
        ),
        EngineError,
    > {
        let inspected = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(api("inspect container", name))?;
        let state = inspected.state.unwrap_or_default();
        Ok((
            state.status,
            state.health.and_then(|h| h.status),
            state.exit_code,
        ))
    }
}
