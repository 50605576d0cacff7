//! Which networks a container joins, under which aliases and addresses,
//! and the links it makes to other containers.

use std::collections::HashMap;

use bollard::container::NetworkingConfig;
use bollard::models::{EndpointIpamConfig, EndpointSettings};

use crate::engine::labels;
use crate::file::{Project, Service};

/// The network a container is created on (the Engine API takes one at
/// creation; the others are connected before it starts): the one with
/// the highest `priority`, by name among equals, as Compose picks it.
pub fn primary_network(service: &Service) -> Option<&str> {
    service
        .networks
        .keys()
        .map(String::as_str)
        .min_by_key(|network| {
            let priority = service.endpoints.get(*network).map_or(0, |e| e.priority);
            (std::cmp::Reverse(priority), *network)
        })
}

/// Aliases on one network: the service name, then the file's own.
pub fn aliases(name: &str, service: &Service, network: &str) -> Vec<String> {
    let mut all = vec![name.to_string()];
    all.extend(service.networks.get(network).into_iter().flatten().cloned());
    all
}

/// The endpoint on project network `network`: aliases, fixed addresses,
/// driver options and links.
pub fn endpoint(
    project: &Project,
    name: &str,
    service: &Service,
    network: &str,
) -> EndpointSettings {
    let settings = service.endpoints.get(network);
    let ipam_config = settings
        .filter(|e| {
            e.ipv4_address.is_some() || e.ipv6_address.is_some() || !e.link_local_ips.is_empty()
        })
        .map(|e| EndpointIpamConfig {
            ipv4_address: e.ipv4_address.map(|a| a.to_string()),
            ipv6_address: e.ipv6_address.map(|a| a.to_string()),
            link_local_ips: (!e.link_local_ips.is_empty())
                .then(|| e.link_local_ips.iter().map(|a| a.to_string()).collect()),
        });
    let links = links(project, service);
    EndpointSettings {
        aliases: Some(aliases(name, service, network)),
        ipam_config,
        driver_opts: settings
            .filter(|e| !e.driver_opts.is_empty())
            .map(|e| e.driver_opts.clone().into_iter().collect()),
        links: (!links.is_empty()).then_some(links),
        ..Default::default()
    }
}

pub fn networking_config(
    project: &Project,
    name: &str,
    service: &Service,
) -> Option<NetworkingConfig<String>> {
    primary_network(service).map(|network| NetworkingConfig {
        endpoints_config: HashMap::from([(
            labels::network_name(project, network),
            endpoint(project, name, service, network),
        )]),
    })
}

/// `NetworkMode`: a project network by its engine name, or what
/// `network_mode` says, `service:NAME` pointing at that service's
/// (first) container.
pub fn network_mode(project: &Project, service: &Service) -> Option<String> {
    match (&service.network_mode, primary_network(service)) {
        (Some(mode), _) => Some(shared_with(project, mode)),
        (None, Some(network)) => Some(labels::network_name(project, network)),
        (None, None) => None,
    }
}

/// A namespace mode with `service:NAME` as the `container:` of that
/// service's first container; any other mode as written.
pub fn shared_with(project: &Project, mode: &str) -> String {
    match mode.strip_prefix("service:") {
        Some(other) => format!("container:{}", labels::container_name(project, other, 1)),
        None => mode.to_string(),
    }
}

/// `CONTAINER:ALIAS` pairs as Compose 1.29 writes them: each linked
/// service's first container under the link's alias, its own name, and
/// that name without the project (`SERVICE_1`, or a `container_name` as
/// is); external links as written.
pub fn links(project: &Project, service: &Service) -> Vec<String> {
    let mut links = Vec::new();
    for (linked, alias) in &service.links {
        let container = labels::container_name(project, linked, 1);
        let without_project = match container.strip_prefix(&format!("{}_", project.name)) {
            Some(rest) if rest == format!("{linked}_1") => rest.to_string(),
            _ => container.clone(),
        };
        for alias in [alias, &container, &without_project] {
            links.push(format!("{container}:{alias}"));
        }
    }
    for external in &service.external_links {
        links.push(match external.split_once(':') {
            Some(_) => external.clone(),
            None => format!("{external}:{external}"),
        });
    }
    links.sort();
    links.dedup();
    links
}
