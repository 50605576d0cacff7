//! `HostConfig`: ports, mounts, namespaces, limits and the rest of what
//! the engine sets up around the container's process.

use std::collections::HashMap;

use bollard::models::{
    DeviceMapping, DeviceRequest, HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig,
    Mount, MountTmpfsOptions, MountTypeEnum, PortBinding, ResourcesBlkioWeightDevice,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum, ThrottleDevice,
};

use super::network::{links, network_mode, shared_with};
use super::non_empty;
use crate::engine::labels;
use crate::file::{MountKind, Project, Service, Source};

/// The host configuration, and the anonymous volumes, which the API
/// takes in the container's own configuration.
pub fn host_config(
    project: &Project,
    service: &Service,
) -> (HostConfig, HashMap<String, HashMap<(), ()>>) {
    let mut bindings: HashMap<String, Vec<PortBinding>> = HashMap::new();
    for port in &service.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        bindings.entry(key).or_default().push(PortBinding {
            // Docker records "all addresses" as "", so write it that way.
            host_ip: Some(port.host_ip.clone().unwrap_or_default()),
            host_port: port.published.map(|p| p.to_string()),
        });
    }
    let (binds, mounts, anonymous) = mounts(project, service);
    let isolation = &service.isolation;
    let limits = &service.limits;
    let links = links(project, service);
    let host = HostConfig {
        network_mode: network_mode(project, service),
        binds: non_empty(binds),
        mounts: non_empty(mounts),
        tmpfs: (!service.tmpfs.is_empty()).then(|| service.tmpfs.clone().into_iter().collect()),
        volumes_from: non_empty(
            service
                .volumes_from
                .iter()
                .map(|from| {
                    let container = match (&from.service, &from.container) {
                        (Some(service), _) => labels::container_name(project, service, 1),
                        (None, container) => container.clone().unwrap_or_default(),
                    };
                    let mode = if from.read_only { "ro" } else { "rw" };
                    format!("{container}:{mode}")
                })
                .collect(),
        ),
        // On a project network, links are the endpoint's (see `network`).
        links: (service.networks.is_empty() && !links.is_empty()).then_some(links),
        port_bindings: (!bindings.is_empty())
            .then(|| bindings.into_iter().map(|(k, v)| (k, Some(v))).collect()),
        restart_policy: service.restart.as_deref().map(restart_policy),
        cap_add: non_empty(service.cap_add.clone()),
        cap_drop: non_empty(service.cap_drop.clone()),
        extra_hosts: non_empty(service.extra_hosts.clone()),
        dns: non_empty(service.dns.clone()),
        dns_search: non_empty(service.dns_search.clone()),
        dns_options: non_empty(service.dns_opt.clone()),
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
        annotations: (!service.annotations.is_empty())
            .then(|| service.annotations.clone().into_iter().collect()),
        // Isolation.
        pid_mode: isolation.pid.as_deref().map(|m| shared_with(project, m)),
        ipc_mode: isolation.ipc.as_deref().map(|m| shared_with(project, m)),
        uts_mode: isolation.uts.clone(),
        cgroupns_mode: isolation.cgroup.as_deref().map(|mode| match mode {
            "host" => HostConfigCgroupnsModeEnum::HOST,
            _ => HostConfigCgroupnsModeEnum::PRIVATE,
        }),
        userns_mode: isolation.userns_mode.clone(),
        cgroup_parent: isolation.cgroup_parent.clone(),
        security_opt: non_empty(isolation.security_opt.clone()),
        masked_paths: isolation.unmasked_paths.then(Vec::new),
        readonly_paths: isolation.unmasked_paths.then(Vec::new),
        readonly_rootfs: isolation.read_only.then_some(true),
        group_add: non_empty(isolation.group_add.clone()),
        runtime: isolation.runtime.clone(),
        device_cgroup_rules: non_empty(isolation.device_cgroup_rules.clone()),
        storage_opt: (!isolation.storage_opt.is_empty())
            .then(|| isolation.storage_opt.clone().into_iter().collect()),
        // Limits.
        memory: limits.memory,
        memory_swap: limits.memory_swap,
        memory_reservation: limits.memory_reservation,
        memory_swappiness: limits.memory_swappiness,
        nano_cpus: limits.nano_cpus,
        cpu_shares: limits.cpu_shares,
        cpu_period: limits.cpu_period,
        cpu_quota: limits.cpu_quota,
        cpu_realtime_period: limits.cpu_rt_period,
        cpu_realtime_runtime: limits.cpu_rt_runtime,
        cpuset_cpus: limits.cpuset.clone(),
        pids_limit: limits.pids,
        shm_size: limits.shm_size,
        oom_score_adj: limits.oom_score_adj,
        oom_kill_disable: limits.oom_kill_disable.then_some(true),
        device_requests: non_empty(
            limits
                .device_requests
                .iter()
                .map(|r| DeviceRequest {
                    driver: r.driver.clone(),
                    count: r.count,
                    device_ids: non_empty(r.device_ids.clone()),
                    capabilities: Some(vec![r.capabilities.clone()]),
                    options: (!r.options.is_empty())
                        .then(|| r.options.clone().into_iter().collect()),
                })
                .collect(),
        ),
        blkio_weight: limits.blkio.weight,
        blkio_weight_device: non_empty(
            limits
                .blkio
                .weight_device
                .iter()
                .map(|(path, weight)| ResourcesBlkioWeightDevice {
                    path: Some(path.clone()),
                    weight: Some(usize::from(*weight)),
                })
                .collect(),
        ),
        blkio_device_read_bps: throttles(&limits.blkio.device_read_bps),
        blkio_device_write_bps: throttles(&limits.blkio.device_write_bps),
        blkio_device_read_iops: throttles(&limits.blkio.device_read_iops),
        blkio_device_write_iops: throttles(&limits.blkio.device_write_iops),
        ..Default::default()
    };
    (host, anonymous)
}

type Mounts = (Vec<String>, Vec<Mount>, HashMap<String, HashMap<(), ()>>);

/// Binds as 1.29 writes them (`SOURCE:TARGET:MODE`), anonymous volumes,
/// and as `Mounts` what a bind string cannot say: tmpfs sizes and modes,
/// and the read-only host files of secrets and configs (as Compose
/// mounts them).
fn mounts(project: &Project, service: &Service) -> Mounts {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    let mut anonymous = HashMap::new();
    for mount in &service.volumes {
        let mode = std::iter::once(if mount.read_only { "ro" } else { "rw" })
            .chain(mount.options.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(",");
        match (&mount.kind, &mount.source) {
            (MountKind::Tmpfs, _) => mounts.push(Mount {
                typ: Some(MountTypeEnum::TMPFS),
                target: Some(mount.target.clone()),
                read_only: mount.read_only.then_some(true),
                tmpfs_options: mount
                    .tmpfs
                    .as_ref()
                    .filter(|t| t.size.is_some() || t.mode.is_some())
                    .map(|t| MountTmpfsOptions {
                        size_bytes: t.size,
                        mode: t.mode.map(i64::from),
                        options: None,
                    }),
                ..Default::default()
            }),
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
    for file in service.secrets.iter().chain(&service.configs) {
        if let Source::File(path) = &file.source {
            mounts.push(Mount {
                typ: Some(MountTypeEnum::BIND),
                source: Some(path.display().to_string()),
                target: Some(file.target.clone()),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }
    (binds, mounts, anonymous)
}

fn throttles(devices: &[(String, i64)]) -> Option<Vec<ThrottleDevice>> {
    non_empty(
        devices
            .iter()
            .map(|(path, rate)| ThrottleDevice {
                path: Some(path.clone()),
                rate: Some(*rate),
            })
            .collect(),
    )
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
