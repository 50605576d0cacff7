//! One service's container: created (or kept, or replaced), started,
//! stopped and removed.

use std::time::Duration;

use bollard::container::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use bollard::models::ContainerStateStatusEnum;
use bollard::network::ConnectNetworkOptions;
use tracing::info;

use super::{api, labels, matching, spec, Engine, EngineError, API_TIMEOUT};
use crate::file::{Project, Service};

impl Engine {
    /// Keeps a container that already matches (by config hash, or by its
    /// settings when `docker-compose` created it); replaces one that does not.
    pub(super) async fn ensure_container(
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

    pub(super) async fn start_service(
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
