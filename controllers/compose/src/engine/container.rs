//! One container of a service: found (by its labels, whatever its name),
//! created, kept or replaced, started, stopped and removed. A container
//! that holds the name but not the service's labels is never touched.

use std::time::Duration;

use bollard::container::{
    Config, CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions,
    RenameContainerOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::network::ConnectNetworkOptions;
use tracing::{info, warn};

use super::{
    api, labels, matching, neighbours, spec, version, Change, ContainerStatus, Engine, EngineError,
    API_TIMEOUT,
};
use crate::file::Project;

/// (project, service, number) of a container by its Compose labels.
fn identity(container: &ContainerInspectResponse) -> Option<(&str, &str, u32)> {
    labels::identity(container.config.as_ref()?.labels.as_ref()?)
}

/// The error for container `name` of the service, held by `holder`.
fn name_taken(
    project: &Project,
    service: &str,
    name: &str,
    holder: &ContainerInspectResponse,
) -> EngineError {
    EngineError::NameTaken {
        name: name.to_string(),
        project: project.name.clone(),
        service: service.to_string(),
        holder: labels::describe_identity(identity(holder)),
    }
}

impl Engine {
    /// Keeps container `number` of the service when it already matches (by
    /// config hash, or by its settings when `docker-compose` created it)
    /// and runs the image its reference names now; replaces one that does
    /// not. `observed` is that container as the pass's list of the
    /// project's containers found it (by its labels, under any name).
    pub(super) async fn ensure_container(
        &self,
        project: &Project,
        service_name: &str,
        number: u32,
        observed: Option<&ContainerStatus>,
    ) -> Result<Option<Change>, EngineError> {
        let service = &project.services[service_name];
        let name = labels::container_name(project, service_name, number);
        version::check(&self.docker, &name, service)?;
        let desired = spec::container_config(project, service_name, service, number);
        let Some(observed) = observed else {
            info!(container = %name, "creating container");
            return match self
                .create_container(project, service_name, &name, desired)
                .await
            {
                Ok(()) => Ok(Some(Change::new("created", &name))),
                // The name is taken by a container without the service's labels.
                Err(EngineError::Api {
                    cause:
                        bollard::errors::Error::DockerResponseServerError {
                            status_code: 409, ..
                        },
                    ..
                }) => Err(self.name_taken(project, service_name, &name).await),
                Err(e) => Err(e),
            };
        };
        // Its name, or the one of the container that holds its name, when
        // its `container_name` changed.
        let existing = match self
            .inspect_ours(project, service_name, number, &name)
            .await?
        {
            Some(holding_the_name) => holding_the_name,
            None => self.inspect(&observed.name).await?,
        };
        let hash = labels::config_hash(project, service);
        let existing_hash = existing
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(labels::CONFIG_HASH));
        let existing_name = existing
            .name
            .as_deref()
            .map(|n| n.trim_start_matches('/'))
            .unwrap_or_default();
        let changed = match existing_hash {
            _ if existing_name != name => Some(format!("it is named {existing_name}")),
            Some(label) if *label == hash => None,
            _ => matching::difference(&desired, &existing),
        };
        // A new configuration brings the newer image too: one reason is enough.
        let newer_image = match changed {
            Some(reason) => {
                info!(container = %name, %reason, "configuration changed; replacing");
                None
            }
            None => match self.newer_image(service_name, service, &existing).await? {
                Some(update) => {
                    info!(container = %name, %update, "image changed; replacing");
                    Some(update)
                }
                None => return Ok(None),
            },
        };
        let paused = existing
            .state
            .as_ref()
            .and_then(|s| s.status)
            .is_some_and(|s| s == ContainerStateStatusEnum::PAUSED);
        let id = existing.id.unwrap_or_default();
        match self
            .replace_container(project, service_name, &name, &id, paused, desired)
            .await
        {
            Ok(()) => Ok(Some(Change {
                newer_image,
                ..Change::new("replaced", &name)
            })),
            Err(source) => Err(EngineError::Replace {
                name,
                newer_image: newer_image.map(Box::new),
                cause: Box::new(source),
            }),
        }
    }

    /// The container named `name`, when its labels say it is container
    /// `number` of the service; `None` when no container has the name. A
    /// container of that name with other labels is someone else's: an
    /// error, and it is left as it is.
    async fn inspect_ours(
        &self,
        project: &Project,
        service: &str,
        number: u32,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, EngineError> {
        let found = match self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(found) => found,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(api("inspect container", name)(e)),
        };
        if identity(&found) == Some((project.name.as_str(), service, number)) {
            return Ok(Some(found));
        }
        Err(name_taken(project, service, name, &found))
    }

    /// Why container `name` of the service could not be created under its
    /// name: who holds it.
    async fn name_taken(&self, project: &Project, service: &str, name: &str) -> EngineError {
        match self.inspect(name).await {
            Ok(holder) => name_taken(project, service, name, &holder),
            Err(e) => e,
        }
    }

    async fn inspect(&self, name: &str) -> Result<ContainerInspectResponse, EngineError> {
        self.docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(api("inspect container", name))
    }

    /// Make before break, as Compose v2 does (1.29 stops the old one
    /// first): the replacement is created under a temporary name before
    /// the old container is stopped, so a configuration that cannot be
    /// created (an image that is not there, a network that is gone) leaves
    /// the old container as it was instead of no container at all.
    async fn replace_container(
        &self,
        project: &Project,
        service_name: &str,
        name: &str,
        old_id: &str,
        paused: bool,
        desired: Config<String>,
    ) -> Result<(), EngineError> {
        let temporary = format!("{}_{name}", &old_id[..old_id.len().min(12)]);
        // Left by an attempt that failed halfway.
        self.remove_container(&temporary).await?;
        if let Err(e) = self
            .create_container(project, service_name, &temporary, desired)
            .await
        {
            if let Err(left) = self.remove_container(&temporary).await {
                warn!(container = %temporary, error = %left, "a failed replacement stays; the next attempt removes it");
            }
            return Err(e);
        }
        let grace = project.services[service_name]
            .stop_grace_period
            .unwrap_or(spec::DEFAULT_GRACE);
        // A frozen standby's process cannot act on SIGTERM: thawed, it
        // gets its grace period as a stop would give it.
        if paused {
            self.set_frozen(old_id, false).await?;
        }
        self.stop_container(old_id, grace).await?;
        self.remove_container(old_id).await?;
        self.docker
            .rename_container(&temporary, RenameContainerOptions { name })
            .await
            .map_err(api("rename container", &temporary))
    }

    /// Creates container `name` of the service, joins it to the service's
    /// other networks and writes its secrets and configs.
    async fn create_container(
        &self,
        project: &Project,
        service_name: &str,
        name: &str,
        desired: Config<String>,
    ) -> Result<(), EngineError> {
        let service = &project.services[service_name];
        let options = CreateContainerOptions {
            name: name.to_string(),
            platform: service.platform.clone(),
        };
        self.docker
            .create_container(Some(options), desired)
            .await
            .map_err(api("create container", name))?;
        let primary = spec::primary_network(service);
        for network in service
            .networks
            .keys()
            .filter(|n| Some(n.as_str()) != primary)
        {
            let options = ConnectNetworkOptions {
                container: name.to_string(),
                endpoint_config: spec::endpoint(project, service_name, service, network),
            };
            let network = labels::network_name(project, network);
            self.docker
                .connect_network(&network, options)
                .await
                .map_err(api("connect to network", &network))?;
        }
        self.write_projected_files(name, service).await
    }

    /// Starts the service's containers that are not running; with
    /// `restart_running`, restarts those that are (a dependency they are
    /// restarted with got a new container).
    pub(super) async fn start_service(
        &self,
        project: &Project,
        service_name: &str,
        restart_running: bool,
    ) -> Result<Vec<Change>, EngineError> {
        let service = &project.services[service_name];
        let mut changes = Vec::new();
        for (_, name) in labels::container_names(project, service_name) {
            // What runs already waits for nothing: a dependency turning
            // unhealthy later is its own finding, not a failure to start
            // this. A paused container has started too; thawing it is
            // [`Engine::unpause`]'s.
            let state = self.state(&name).await?;
            match state.0 {
                Some(ContainerStateStatusEnum::RUNNING) if restart_running => {
                    let grace = service.stop_grace_period.unwrap_or(spec::DEFAULT_GRACE);
                    self.restart_container(&name, grace).await?;
                    changes.push(Change::new("restarted", &name));
                    continue;
                }
                Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::PAUSED) => {
                    continue
                }
                _ => {}
            }
            for dependency in service.dependencies() {
                self.wait_for(project, &name, dependency, service.dependency(dependency))
                    .await?;
            }
            info!(container = %name, "starting container");
            self.docker
                .start_container(&name, None::<StartContainerOptions<String>>)
                .await
                .map_err(api("start container", &name))?;
            self.announce(&name).await;
            changes.push(Change::new("started", &name));
        }
        Ok(changes)
    }

    async fn restart_container(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        info!(container = %name, "restarting container: a dependency it restarts with was renewed");
        let docker = self
            .docker
            .clone()
            .with_timeout(grace + Duration::from_secs(API_TIMEOUT));
        let options = RestartContainerOptions {
            t: grace.as_secs() as isize,
        };
        docker
            .restart_container(name, Some(options))
            .await
            .map_err(api("restart container", name))?;
        self.announce(name).await;
        Ok(())
    }

    /// Writes this host's neighbour entries for a container that has just
    /// started (see [`neighbours`]). Best effort: what fails only costs the
    /// wait it would have saved, so it is logged, not returned.
    async fn announce(&self, name: &str) {
        let endpoints = match self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspected) => neighbours::endpoints(&inspected),
            Err(e) => {
                warn!(container = %name, error = %e, "cannot inspect a started container for its addresses");
                return;
            }
        };
        match neighbours::announce(&endpoints).await {
            Ok(written) => info!(container = %name, neighbours = ?written, "container started"),
            Err(e) => {
                warn!(container = %name, error = %e, "cannot write this host's neighbour entry for a started container: clients of its published ports may wait up to a second for ARP")
            }
        }
    }

    pub(super) async fn stop_container(
        &self,
        name: &str,
        grace: Duration,
    ) -> Result<(), EngineError> {
        info!(container = %name, ?grace, "stopping container");
        let options = StopContainerOptions {
            t: grace.as_secs() as i64,
        };
        // The daemon answers once the container has stopped, which may take
        // the whole grace period: wait that long and a little more.
        let docker = self
            .docker
            .clone()
            .with_timeout(grace + Duration::from_secs(API_TIMEOUT));
        match docker.stop_container(name, Some(options)).await {
            // 304: already stopped.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(api("stop container", name)(e)),
        }
    }

    /// `docker pause` (`frozen`) or `docker unpause`; 409 (already in
    /// that state, or not running) changes nothing.
    pub(super) async fn set_frozen(&self, name: &str, frozen: bool) -> Result<(), EngineError> {
        let (action, result) = if frozen {
            info!(container = %name, "pausing container");
            ("pause container", self.docker.pause_container(name).await)
        } else {
            info!(container = %name, "unpausing container");
            (
                "unpause container",
                self.docker.unpause_container(name).await,
            )
        };
        match result {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(api(action, name)(e)),
        }
    }

    pub(super) async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
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
