//! The project's networks and named volumes, created when missing and
//! labelled as Compose labels them; external ones are only used.

use bollard::models::{Ipam, IpamConfig, Network};
use bollard::network::CreateNetworkOptions;
use bollard::volume::CreateVolumeOptions;
use tracing::info;

use super::{api, labels, Engine, EngineError};
use crate::file::{Project, Resource};

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
            if declared.external {
                continue;
            }
            if let Ok(existing) = self.docker.inspect_network::<String>(&name, None).await {
                same_subnets(&name, &declared, &existing)?;
                continue;
            }
            let network = &declared.network;
            let options = CreateNetworkOptions {
                name: name.clone(),
                check_duplicate: true,
                driver: declared
                    .driver
                    .clone()
                    .unwrap_or_else(|| "bridge".to_string()),
                internal: network.internal,
                attachable: network.attachable,
                enable_ipv6: network.enable_ipv6,
                ipam: ipam(&declared),
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

/// The address pools of a declared network as the API takes them.
fn ipam(declared: &Resource) -> Ipam {
    let Some(ipam) = &declared.network.ipam else {
        return Ipam::default();
    };
    Ipam {
        driver: ipam.driver.clone(),
        config: Some(
            ipam.config
                .iter()
                .map(|pool| IpamConfig {
                    subnet: pool.subnet.map(|s| s.to_string()),
                    ip_range: pool.ip_range.map(|s| s.to_string()),
                    gateway: pool.gateway.map(|g| g.to_string()),
                    auxiliary_addresses: (!pool.aux_addresses.is_empty()).then(|| {
                        pool.aux_addresses
                            .iter()
                            .map(|(host, address)| (host.clone(), address.to_string()))
                            .collect()
                    }),
                })
                .collect(),
        ),
        options: (!ipam.options.is_empty()).then(|| ipam.options.clone().into_iter().collect()),
    }
}

/// An existing network keeps the subnets it was created with: one that
/// lacks a declared subnet cannot give the services their fixed
/// addresses, and the agent does not remove a network containers may use.
fn same_subnets(name: &str, declared: &Resource, existing: &Network) -> Result<(), EngineError> {
    let wanted: Vec<String> = declared
        .network
        .ipam
        .iter()
        .flat_map(|ipam| &ipam.config)
        .filter_map(|pool| pool.subnet.map(|s| s.to_string()))
        .collect();
    let have: Vec<String> = existing
        .ipam
        .iter()
        .flat_map(|ipam| ipam.config.iter().flatten())
        .filter_map(|pool| pool.subnet.clone())
        .collect();
    match wanted.iter().find(|s| !have.contains(s)) {
        Some(missing) => Err(EngineError::NetworkDiffers {
            name: name.to_string(),
            wanted: missing.clone(),
            have: have.join(", "),
        }),
        None => Ok(()),
    }
}
