//! The Docker Engine side: creates, starts, stops and observes a project's
//! networks, volumes and containers through the Engine API, named and
//! labelled as Docker Compose 1.29 does.

mod labels;
mod matching;
mod spec;
mod waves;

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions, StopContainerOptions,
};
use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};
use bollard::network::{ConnectNetworkOptions, CreateNetworkOptions};
use bollard::volume::CreateVolumeOptions;
use bollard::{Docker, API_DEFAULT_VERSION};
use futures::future::try_join_all;
use tracing::info;

pub use labels::{container_name, CONFIG_HASH, PROJECT, SERVICE};
pub use waves::waves;

use crate::file::{Condition, Project, Service};

/// How long a dependent waits for `service_healthy` or
/// `service_completed_successfully` before the start fails.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(120);
const DEPENDENCY_POLL: Duration = Duration::from_millis(250);
/// Seconds the client waits for any one API call; a stop's grace period
/// is added on top.
const API_TIMEOUT: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the Docker Engine at {uri}: {source}")]
    Connect {
        uri: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("unsupported Docker host {0:?}: use unix:///path or tcp://host:port")]
    Uri(String),
    #[error("{action} {name}: {source}")]
    Api {
        action: &'static str,
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{service} did not become {wanted} within {waited:?} ({seen})")]
    Dependency {
        service: String,
        wanted: &'static str,
        waited: Duration,
        seen: String,
    },
}

fn api(action: &'static str, name: &str) -> impl FnOnce(bollard::errors::Error) -> EngineError {
    let name = name.to_string();
    move |source| EngineError::Api {
        action,
        name,
        source,
    }
}

/// What one of the project's containers is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub name: String,
    pub service: String,
    /// Docker's state: `running`, `exited`, `created`...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a healthcheck.
    pub health: Option<String>,
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects and settles on the highest API version both sides speak
    /// (bollard 0.18 defaults to 1.47; Docker 20.10 speaks 1.41).
    pub async fn connect(uri: &str) -> Result<Engine, EngineError> {
        let connect = |source| EngineError::Connect {
            uri: uri.to_string(),
            source,
        };
        let docker = if uri.starts_with("unix://") {
            Docker::connect_with_unix(uri, API_TIMEOUT, API_DEFAULT_VERSION)
        } else if uri.starts_with("tcp://") || uri.starts_with("http://") {
            Docker::connect_with_http(uri, API_TIMEOUT, API_DEFAULT_VERSION)
        } else {
            return Err(EngineError::Uri(uri.to_string()));
        }
        .map_err(connect)?;
        let docker = docker.negotiate_version().await.map_err(connect)?;
        Ok(Engine { docker })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Networks, volumes and one container per service, none started;
    /// containers whose configuration changed are replaced.
    pub async fn create(&self, project: &Project) -> Result<(), EngineError> {
        self.create_networks(project).await?;
        self.create_volumes(project).await?;
        for wave in waves(project) {
            try_join_all(wave.iter().map(|name| self.ensure_container(project, name))).await?;
        }
        Ok(())
    }

    /// [`Engine::create`], then starts services in dependency order, each
    /// wave of independent services in parallel, waiting for the
    /// conditions their dependents ask for.
    pub async fn up(&self, project: &Project) -> Result<(), EngineError> {
        self.create(project).await?;
        for wave in waves(project) {
            try_join_all(wave.iter().map(|name| self.start_service(project, name))).await?;
        }
        Ok(())
    }

    /// Stops running containers, dependents first, each with its grace period.
    pub async fn stop(&self, project: &Project) -> Result<(), EngineError> {
        let running: HashMap<String, ContainerStatus> = self
            .containers(&project.name)
            .await?
            .into_iter()
            .filter(|c| c.state == "running" || c.state == "restarting")
            .map(|c| (c.service.clone(), c))
            .collect();
        for wave in waves(project).iter().rev() {
            try_join_all(wave.iter().filter_map(|service| {
                let container = running.get(service)?;
                let grace = project.services[service]
                    .stop_grace_period
                    .unwrap_or(spec::DEFAULT_GRACE);
                Some(self.stop_container(&container.name, grace))
            }))
            .await?;
        }
        Ok(())
    }

    /// Stops, then removes the project's containers; networks and volumes
    /// stay so the next start is quick and keeps its data.
    pub async fn down(&self, project: &Project) -> Result<(), EngineError> {
        self.stop(project).await?;
        for container in self.containers(&project.name).await? {
            self.remove_container(&container.name).await?;
        }
        Ok(())
    }

    /// The project's containers (not one-off runs), by name.
    pub async fn containers(&self, project: &str) -> Result<Vec<ContainerStatus>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: HashMap::from([(
                "label".to_string(),
                vec![
                    format!("{}={project}", labels::PROJECT),
                    format!("{}=False", labels::ONEOFF),
                ],
            )]),
            ..Default::default()
        };
        let mut found: Vec<ContainerStatus> = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(api("list containers of", project))?
            .into_iter()
            .map(|summary| {
                let labels = summary.labels.unwrap_or_default();
                let status = summary.status.unwrap_or_default();
                ContainerStatus {
                    name: summary
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                    state: summary.state.unwrap_or_default(),
                    health: health_from_status(&status),
                }
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn create_networks(&self, project: &Project) -> Result<(), EngineError> {
        let used: std::collections::BTreeSet<&str> = project
            .services
            .values()
            .flat_map(|s| s.networks.keys().map(String::as_str))
            .collect();
        for key in used {
            let declared = project.networks.get(key).cloned().unwrap_or_default();
            let name = labels::network_name(project, key);
            if declared.external
                || self
                    .docker
                    .inspect_network::<String>(&name, None)
                    .await
                    .is_ok()
            {
                continue;
            }
            let options = CreateNetworkOptions {
                name: name.clone(),
                check_duplicate: true,
                driver: declared
                    .driver
                    .clone()
                    .unwrap_or_else(|| "bridge".to_string()),
                options: declared.driver_opts.clone().into_iter().collect(),
                labels: labels::resource_labels(
                    &project.name,
                    labels::NETWORK,
                    key,
                    &declared.labels,
                ),
                ..Default::default()
            };
            info!(network = %name, "creating network");
            self.docker
                .create_network(options)
                .await
                .map_err(api("create network", &name))?;
        }
        Ok(())
    }

    async fn create_volumes(&self, project: &Project) -> Result<(), EngineError> {
        for (key, declared) in &project.volumes {
            let name = labels::volume_name(project, key);
            if declared.external || self.docker.inspect_volume(&name).await.is_ok() {
                continue;
            }
            let options = CreateVolumeOptions {
                name: name.clone(),
                driver: declared
                    .driver
                    .clone()
                    .unwrap_or_else(|| "local".to_string()),
                driver_opts: declared.driver_opts.clone().into_iter().collect(),
                labels: labels::resource_labels(
                    &project.name,
                    labels::VOLUME,
                    key,
                    &declared.labels,
                ),
            };
            self.docker
                .create_volume(options)
                .await
                .map_err(api("create volume", &name))?;
        }
        Ok(())
    }

    /// Keeps a container that already matches (by config hash, or by its
    /// settings when `docker-compose` created it); replaces one that does not.
    async fn ensure_container(
        &self,
        project: &Project,
        service_name: &str,
    ) -> Result<(), EngineError> {
        let service = &project.services[service_name];
        let name = labels::container_name(&project.name, service_name);
        let desired = spec::container_config(project, service_name, service);
        if let Ok(existing) = self
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
        {
            let hash = labels::config_hash(project, service);
            let existing_hash = existing
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::CONFIG_HASH));
            if existing_hash == Some(&hash) {
                return Ok(());
            }
            let Some(reason) = matching::difference(&desired, &existing) else {
                return Ok(());
            };
            info!(container = %name, %reason, "configuration changed; recreating");
            let grace = service.stop_grace_period.unwrap_or(spec::DEFAULT_GRACE);
            self.stop_container(&name, grace).await?;
            self.remove_container(&name).await?;
        }
        info!(container = %name, "creating container");
        let options = CreateContainerOptions {
            name: name.clone(),
            platform: None,
        };
        self.docker
            .create_container(Some(options), desired)
            .await
            .map_err(api("create container", &name))?;
        let primary = spec::primary_network(service);
        for network in service
            .networks
            .keys()
            .filter(|n| Some(n.as_str()) != primary)
        {
            let options = ConnectNetworkOptions {
                container: name.clone(),
                endpoint_config: bollard::models::EndpointSettings {
                    aliases: Some(spec::aliases(service_name, service, network)),
                    ..Default::default()
                },
            };
            let network = labels::network_name(project, network);
            self.docker
                .connect_network(&network, options)
                .await
                .map_err(api("connect to network", &network))?;
        }
        Ok(())
    }

    async fn start_service(
        &self,
        project: &Project,
        service_name: &str,
    ) -> Result<(), EngineError> {
        let service: &Service = &project.services[service_name];
        for (dependency, condition) in &service.depends_on {
            self.wait_for(project, dependency, *condition).await?;
        }
        let name = labels::container_name(&project.name, service_name);
        let state = self.state(&name).await?;
        if state.0 == Some(ContainerStateStatusEnum::RUNNING) {
            return Ok(());
        }
        info!(container = %name, "starting container");
        self.docker
            .start_container(&name, None::<StartContainerOptions<String>>)
            .await
            .map_err(api("start container", &name))
    }

    async fn wait_for(
        &self,
        project: &Project,
        service: &str,
        condition: Condition,
    ) -> Result<(), EngineError> {
        let wanted = match condition {
            Condition::ServiceStarted => return Ok(()),
            Condition::ServiceHealthy => "healthy",
            Condition::ServiceCompletedSuccessfully => "completed successfully",
        };
        let name = labels::container_name(&project.name, service);
        let started = tokio::time::Instant::now();
        loop {
            let (status, health, exit_code) = self.state(&name).await?;
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
                return Err(EngineError::Dependency {
                    service: service.to_string(),
                    wanted,
                    waited: started.elapsed(),
                    seen: format!("state {status:?}, health {health:?}, exit code {exit_code:?}"),
                });
            }
            tokio::time::sleep(DEPENDENCY_POLL).await;
        }
    }

    async fn state(
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

    async fn stop_container(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        info!(container = %name, ?grace, "stopping container");
        let options = StopContainerOptions {
            t: grace.as_secs() as i64,
        };
        match self.docker.stop_container(name, Some(options)).await {
            // 304: already stopped.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(api("stop container", name)(e)),
        }
    }

    async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match self.docker.remove_container(name, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api("remove container", name)(e)),
        }
    }
}

/// The list API gives health only inside the human status, e.g.
/// `Up 3 seconds (healthy)`; it saves an inspect per container.
fn health_from_status(status: &str) -> Option<String> {
    ["healthy", "unhealthy", "health: starting"]
        .iter()
        .rev()
        .find(|h| status.contains(&format!("({h})")))
        .map(|h| h.trim_start_matches("health: ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_health_from_the_status_line() {
        assert_eq!(
            health_from_status("Up 3 seconds (healthy)").as_deref(),
            Some("healthy")
        );
        assert_eq!(
            health_from_status("Up 1 second (unhealthy)").as_deref(),
            Some("unhealthy")
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)").as_deref(),
            Some("starting")
        );
        assert_eq!(health_from_status("Exited (0) 2 minutes ago"), None);
    }
}
