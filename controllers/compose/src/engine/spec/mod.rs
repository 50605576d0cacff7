//! A decoded service as the Engine API's container-create body, written
//! the way Docker Compose 1.29 writes it (`Binds` with an explicit mode,
//! the primary network as `NetworkMode`, the service name as an alias),
//! and what 1.29 lacks as Compose v2 writes it.

mod host;
mod network;

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::Config;
use bollard::models::HealthConfig;

pub use network::{endpoint, primary_network};

use super::labels;
use crate::file::{Project, Service};

/// Compose's default when `stop_grace_period` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The create body of container `number` of service `name`.
pub fn container_config(
    project: &Project,
    name: &str,
    service: &Service,
    number: u32,
) -> Config<String> {
    let mut exposed: HashMap<String, HashMap<(), ()>> = service
        .expose
        .iter()
        .map(|port| (port.clone(), HashMap::new()))
        .collect();
    for port in &service.ports {
        exposed.insert(format!("{}/{}", port.target, port.protocol), HashMap::new());
    }
    let (host_config, anonymous_volumes) = host::host_config(project, service);
    Config {
        image: Some(service.image.clone()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: non_empty(
            service
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(labels::container_labels(project, name, service, number)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        volumes: (!anonymous_volumes.is_empty()).then_some(anonymous_volumes),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        mac_address: service.mac_address.clone(),
        tty: service.tty.then_some(true),
        open_stdin: service.stdin_open.then_some(true),
        healthcheck: service.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval.map(nanos),
            timeout: h.timeout.map(nanos),
            retries: h.retries,
            start_period: h.start_period.map(nanos),
            start_interval: h.start_interval.map(nanos),
        }),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.as_secs() as i64),
        host_config: Some(host_config),
        networking_config: network::networking_config(project, name, service),
        ..Default::default()
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn nanos(d: Duration) -> i64 {
    d.as_nanos().try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
