//! The project's networks and named volumes, created when missing and
//! labelled as Compose labels them; external ones are only used.

use bollard::network::CreateNetworkOptions;
use bollard::volume::CreateVolumeOptions;
use tracing::info;

use super::{api, labels, Engine, EngineError};
use crate::file::Project;

impl Engine {
    /// The networks the services join, `default` included.
    pub(super) async fn create_networks(&self, project: &Project) -> Result<(), EngineError> {
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

    pub(super) async fn create_volumes(&self, project: &Project) -> Result<(), EngineError> {
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
}
