//! A decoded service as the Engine API's container-create body, written
//! the way Docker Compose 1.29 writes it (`Binds` with an explicit mode,
//! the primary network as `NetworkMode`, the service name as an alias).

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::{Config, NetworkingConfig};
use bollard::models::{
    DeviceMapping, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, PortBinding,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};

use super::labels;
use crate::file::{MountKind, Project, Service};

/// Compose's default when `stop_grace_period` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The network a container is created on; any others are connected to
/// it before it starts (the API takes one network at creation).
pub fn primary_network(service: &Service) -> Option<&str> {
    service.networks.keys().next().map(String::as_str)
}

/// Aliases on one network: the service name, then the file's own.
pub fn aliases(name: &str, service: &Service, network: &str) -> Vec<String> {
    let mut all = vec![name.to_string()];
    all.extend(service.networks.get(network).into_iter().flatten().cloned());
    all
}

pub fn container_config(project: &Project, name: &str, service: &Service) -> Config<String> {
    let network_mode = match (&service.network_mode, primary_network(service)) {
        // `service:NAME` shares that service's container namespace.
        (Some(mode), _) => Some(match mode.strip_prefix("service:") {
            Some(other) => format!("container:{}", labels::container_name(&project.name, other)),
            None => mode.clone(),
        }),
        (None, Some(network)) => Some(labels::network_name(project, network)),
        (None, None) => None,
    };
    let networking_config = primary_network(service).map(|network| NetworkingConfig {
        endpoints_config: HashMap::from([(
            labels::network_name(project, network),
            EndpointSettings {
                aliases: Some(aliases(name, service, network)),
                ..Default::default()
            },
        )]),
    });
    let mut exposed = HashMap::new();
    let mut bindings: HashMap<String, Vec<PortBinding>> = HashMap::new();
    for port in &service.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        exposed.insert(key.clone(), HashMap::new());
        bindings.entry(key).or_default().push(PortBinding {
            // Docker records "all addresses" as "", so write it that way.
            host_ip: Some(port.host_ip.clone().unwrap_or_default()),
            host_port: port.published.map(|p| p.to_string()),
        });
    }
    let mut binds = Vec::new();
    let mut anonymous = HashMap::new();
    for mount in &service.volumes {
        let mode = if mount.read_only { "ro" } else { "rw" };
        match (&mount.kind, &mount.source) {
            (MountKind::Bind, Some(path)) => binds.push(format!("{path}:{}:{mode}", mount.target)),
            (MountKind::Volume, Some(volume)) => binds.push(format!(
                "{}:{}:{mode}",
                labels::volume_name(project, volume),
                mount.target
            )),
            (_, None) => {
                anonymous.insert(mount.target.clone(), HashMap::new());
            }
        }
    }
    let host_config = HostConfig {
        network_mode,
        binds: non_empty(binds),
        port_bindings: (!bindings.is_empty())
            .then(|| bindings.into_iter().map(|(k, v)| (k, Some(v))).collect()),
        restart_policy: service.restart.as_deref().map(restart_policy),
        cap_add: non_empty(service.cap_add.clone()),
        cap_drop: non_empty(service.cap_drop.clone()),
        extra_hosts: non_empty(service.extra_hosts.clone()),
        dns: non_empty(service.dns.clone()),
        sysctls: (!service.sysctls.is_empty())
            .then(|| service.sysctls.clone().into_iter().collect()),
        ulimits: non_empty(
            service
                .ulimits
                .iter()
                .map(|(name, limit)| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(limit.soft),
                    hard: Some(limit.hard),
                })
                .collect(),
        ),
        privileged: service.privileged.then_some(true),
        init: service.init.then_some(true),
        devices: non_empty(service.devices.iter().map(|d| device(d)).collect()),
        log_config: service.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: (!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()),
        }),
        ..Default::default()
    };
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
        labels: Some(labels::container_labels(project, name, service)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        volumes: (!anonymous.is_empty()).then_some(anonymous),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        hostname: service.hostname.clone(),
        healthcheck: service.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval.map(nanos),
            timeout: h.timeout.map(nanos),
            retries: h.retries,
            start_period: h.start_period.map(nanos),
            start_interval: None,
        }),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.as_secs() as i64),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn nanos(d: Duration) -> i64 {
    d.as_nanos().try_into().unwrap_or(i64::MAX)
}

fn restart_policy(policy: &str) -> RestartPolicy {
    let (name, retries) = match policy.split_once(':') {
        Some((_, n)) => (RestartPolicyNameEnum::ON_FAILURE, n.parse().ok()),
        None => (
            match policy {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            },
            None,
        ),
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    }
}

/// `HOST[:CONTAINER[:PERMISSIONS]]`, as the docker CLI reads `--device`.
fn device(spec: &str) -> DeviceMapping {
    let mut parts = spec.split(':');
    let host = parts.next().unwrap_or_default().to_string();
    let container = parts.next().map_or_else(|| host.clone(), str::to_string);
    DeviceMapping {
        path_on_host: Some(host),
        path_in_container: Some(container),
        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{load, LoadOptions};

    fn project(text: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, text).unwrap();
        let options = LoadOptions {
            project_name: Some("shop".into()),
            ..LoadOptions::default()
        };
        load(&path, &options).unwrap()
    }

    #[test]
    fn writes_compose_style_networks_binds_and_ports() {
        let p = project(concat!(
            "services:\n  web:\n    image: bb\n    command: httpd -f\n    ports: [\"8080:80\", \"127.0.0.1:53:53/udp\"]\n",
            "    volumes: [\"data:/data\", \"/etc:/host-etc:ro\", /cache]\n    networks: {front: {aliases: [www]}}\n",
            "    restart: on-failure:3\n    stop_grace_period: 3s\n    devices: [/dev/fuse]\n",
            "networks: {front: {name: edge}}\nvolumes: {data: {}}\n",
        ));
        let config = container_config(&p, "web", &p.services["web"]);
        let host = config.host_config.as_ref().unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("edge"));
        assert_eq!(
            config.networking_config.as_ref().unwrap().endpoints_config["edge"].aliases,
            Some(vec!["web".to_string(), "www".to_string()])
        );
        assert_eq!(
            host.binds.as_deref().unwrap(),
            ["shop_data:/data:rw", "/etc:/host-etc:ro"]
        );
        assert!(config.volumes.as_ref().unwrap().contains_key("/cache"));
        let bindings = host.port_bindings.as_ref().unwrap();
        assert_eq!(
            bindings["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("8080")
        );
        assert_eq!(
            bindings["53/udp"].as_ref().unwrap()[0].host_ip.as_deref(),
            Some("127.0.0.1")
        );
        let restart = host.restart_policy.as_ref().unwrap();
        assert_eq!(restart.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(restart.maximum_retry_count, Some(3));
        assert_eq!(config.stop_timeout, Some(3));
        assert_eq!(
            host.devices.as_ref().unwrap()[0]
                .path_in_container
                .as_deref(),
            Some("/dev/fuse")
        );
        let labels = config.labels.as_ref().unwrap();
        assert_eq!(labels["com.docker.compose.project"], "shop");
        assert_eq!(labels["com.docker.compose.service"], "web");
        assert_eq!(labels["com.docker.compose.oneoff"], "False");
        assert_eq!(
            labels["com.docker.compose.project.config_files"],
            "compose.yaml"
        );
    }

    #[test]
    fn the_config_hash_follows_the_service() {
        let a = project("services: {web: {image: bb, command: sleep 1}}\n");
        let b = project("services: {web: {image: bb, command: sleep 2}}\n");
        let hash = |p: &Project| labels::config_hash(p, &p.services["web"]);
        assert_eq!(hash(&a), hash(&a.clone()));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn network_mode_service_points_at_the_container() {
        let p = project(
            "services:\n  vpn: {image: bb}\n  app: {image: bb, network_mode: \"service:vpn\"}\n",
        );
        let config = container_config(&p, "app", &p.services["app"]);
        assert_eq!(
            config.host_config.unwrap().network_mode.as_deref(),
            Some("container:shop_vpn_1")
        );
        assert!(config.networking_config.is_none());
    }
}
