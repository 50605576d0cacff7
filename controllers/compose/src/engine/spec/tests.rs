//! The create body, field by field, against what Compose writes.

use bollard::models::RestartPolicyNameEnum;

use super::*;
use crate::file::{load, LoadOptions};

fn project(text: &str) -> Project {
    crate::file::shop(text)
}

/// The create body of `service`'s first container in project `text`.
fn first_container(text: &str, service: &str) -> Config<String> {
    let p = project(text);
    container_config(&p, service, &p.services[service], 1)
}

#[test]
fn writes_compose_style_networks_binds_and_ports() {
    let p = project(concat!(
        "services:\n  web:\n    image: bb\n    command: httpd -f\n    ports: [\"8080:80\", \"127.0.0.1:53:53/udp\"]\n",
        "    volumes: [\"data:/data\", \"/etc:/host-etc:ro\", /cache]\n    networks: {front: {aliases: [www]}}\n",
        "    restart: on-failure:3\n    stop_grace_period: 3s\n    devices: [/dev/fuse]\n",
        "networks: {front: {name: edge}}\nvolumes: {data: {}}\n",
    ));
    let config = container_config(&p, "web", &p.services["web"], 1);
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
    let config = first_container(
        "services:\n  vpn: {image: bb}\n  app: {image: bb, network_mode: \"service:vpn\"}\n",
        "app",
    );
    assert_eq!(
        config.host_config.unwrap().network_mode.as_deref(),
        Some("container:shop_vpn_1")
    );
    assert!(config.networking_config.is_none());
}

#[test]
fn compatibility_keys_reach_the_create_body() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw.txt"), "x").unwrap();
    let path = dir.path().join("compose.yaml");
    std::fs::write(
        &path,
        concat!(
            "services:\n",
            "  db: {image: bb, ipc: shareable}\n",
            "  web:\n    image: bb\n    container_name: web\n",
            "    secrets: [pw, {source: pw, target: /etc/pw}]\n    configs: [{source: app, target: /etc/app.conf}]\n",
            "    tmpfs: ['/run:size=1m']\n    volumes: [{type: tmpfs, target: /cache, tmpfs: {size: 2m, mode: 0o700}}]\n",
            "    deploy: {resources: {limits: {memory: 64m, cpus: 0.5, pids: 50}, reservations: {memory: 16m}}}\n",
            "    memswap_limit: 128m\n    shm_size: 32m\n    cpu_shares: 256\n    cpuset: '0'\n    oom_score_adj: -100\n",
            "    security_opt: ['no-new-privileges:true', systempaths=unconfined]\n    read_only: true\n    group_add: ['1000']\n",
            "    ipc: 'service:db'\n    pid: host\n    cgroup_parent: lab\n    runtime: runc\n    tty: true\n    stdin_open: true\n",
            "    expose: ['9000']\n    ports: ['80:8080']\n    dns_search: [lan]\n    dns_opt: [ndots:1]\n    domainname: example.org\n",
            "    mac_address: '02:42:ac:11:00:09'\n    links: ['db:database']\n    volumes_from: ['db:ro']\n    device_cgroup_rules: ['c 1:3 r']\n",
            "    gpus: all\n    healthcheck: {test: [CMD, 'true'], start_period: 5s, start_interval: 1s}\n",
            "    networks:\n      back: {ipv4_address: 10.5.0.9}\n      front: {priority: 10}\n",
            "secrets: {pw: {file: pw.txt}}\nconfigs: {app: {file: pw.txt}}\n",
            "networks: {back: {ipam: {config: [{subnet: 10.5.0.0/24}]}}, front: {}}\n",
        ),
    )
    .unwrap();
    let options = LoadOptions {
        project_name: Some("shop".into()),
        ..LoadOptions::default()
    };
    let p = load(&path, &options).unwrap();
    let config = container_config(&p, "web", &p.services["web"], 1);
    let host = config.host_config.as_ref().unwrap();
    // Secrets and configs from host files are read-only bind mounts;
    // tmpfs volumes carry their size and mode.
    let mounts: Vec<(String, Option<String>, Option<bool>)> = host
        .mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.target.clone().unwrap(), m.source.clone(), m.read_only))
        .collect();
    let pw = dir.path().join("pw.txt").display().to_string();
    assert_eq!(
        mounts,
        [
            ("/cache".to_string(), None, None),
            ("/run/secrets/pw".to_string(), Some(pw.clone()), Some(true)),
            ("/etc/pw".to_string(), Some(pw.clone()), Some(true)),
            ("/etc/app.conf".to_string(), Some(pw), Some(true)),
        ]
    );
    let tmpfs = host.mounts.as_ref().unwrap()[0]
        .tmpfs_options
        .as_ref()
        .unwrap();
    assert_eq!((tmpfs.size_bytes, tmpfs.mode), (Some(2 << 20), Some(0o700)));
    assert_eq!(host.tmpfs.as_ref().unwrap()["/run"], "size=1m");
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.memory_swap, Some(128 << 20));
    assert_eq!(host.memory_reservation, Some(16 << 20));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.pids_limit, Some(50));
    assert_eq!(host.shm_size, Some(32 << 20));
    assert_eq!(host.cpu_shares, Some(256));
    assert_eq!(host.cpuset_cpus.as_deref(), Some("0"));
    assert_eq!(host.oom_score_adj, Some(-100));
    assert_eq!(
        host.security_opt.as_deref().unwrap(),
        ["no-new-privileges:true"]
    );
    assert_eq!(host.masked_paths.as_deref(), Some(&[][..]));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.group_add.as_deref().unwrap(), ["1000"]);
    assert_eq!(host.ipc_mode.as_deref(), Some("container:shop_db_1"));
    assert_eq!(host.pid_mode.as_deref(), Some("host"));
    assert_eq!(host.volumes_from.as_deref().unwrap(), ["shop_db_1:ro"]);
    assert_eq!(host.cgroup_parent.as_deref(), Some("lab"));
    assert_eq!(host.runtime.as_deref(), Some("runc"));
    assert_eq!(host.dns_search.as_deref().unwrap(), ["lan"]);
    assert_eq!(host.dns_options.as_deref().unwrap(), ["ndots:1"]);
    assert_eq!(host.device_cgroup_rules.as_deref().unwrap(), ["c 1:3 r"]);
    let gpus = &host.device_requests.as_ref().unwrap()[0];
    assert_eq!(gpus.count, Some(-1));
    assert_eq!(gpus.capabilities, Some(vec![vec!["gpu".to_string()]]));
    assert_eq!(config.tty, Some(true));
    assert_eq!(config.open_stdin, Some(true));
    assert_eq!(config.domainname.as_deref(), Some("example.org"));
    assert_eq!(config.mac_address.as_deref(), Some("02:42:ac:11:00:09"));
    let exposed = config.exposed_ports.as_ref().unwrap();
    assert!(exposed.contains_key("9000/tcp") && exposed.contains_key("8080/tcp"));
    assert_eq!(
        config.healthcheck.as_ref().unwrap().start_interval,
        Some(1_000_000_000)
    );
    // The network of the highest priority is the one it is created on;
    // the others get the fixed address when connected.
    assert_eq!(host.network_mode.as_deref(), Some("shop_front"));
    let front = &config.networking_config.as_ref().unwrap().endpoints_config["shop_front"];
    assert_eq!(
        front.links.as_deref().unwrap(),
        [
            "shop_db_1:database",
            "shop_db_1:db_1",
            "shop_db_1:shop_db_1"
        ]
    );
    let back = endpoint(&p, "web", &p.services["web"], "back");
    assert_eq!(
        back.ipam_config.unwrap().ipv4_address.as_deref(),
        Some("10.5.0.9")
    );
    assert_eq!(
        config.labels.as_ref().unwrap()["com.docker.compose.container-number"],
        "1"
    );
}

#[test]
fn replicas_are_numbered_and_a_container_name_replaces_the_compose_name() {
    let p =
        project("services:\n  web: {image: bb, scale: 2}\n  db: {image: bb, container_name: pg}\n");
    assert_eq!(
        labels::container_names(&p, "web"),
        [(1, "shop_web_1".to_string()), (2, "shop_web_2".to_string())]
    );
    assert_eq!(labels::container_names(&p, "db"), [(1, "pg".to_string())]);
    let second = container_config(&p, "web", &p.services["web"], 2);
    assert_eq!(
        second.labels.as_ref().unwrap()["com.docker.compose.container-number"],
        "2"
    );
}

#[test]
fn bind_options_follow_the_mode() {
    let config = first_container("services:\n  exporter: {image: bb, volumes: ['/:/host:ro,rslave', 'data:/data:nocopy']}\nvolumes: {data: {}}\n", "exporter");
    assert_eq!(
        config.host_config.unwrap().binds.unwrap(),
        ["/:/host:ro,rslave", "shop_data:/data:rw,nocopy"]
    );
}

#[test]
fn block_io_weights_and_throttles() {
    let host = first_container("services:\n  db:\n    image: bb\n    blkio_config: {weight: 300, weight_device: [{path: /dev/sda, weight: 400}], device_read_bps: [{path: /dev/sda, rate: 1mb}], device_write_iops: [{path: /dev/sda, rate: 50}]}\n", "db")
        .host_config
        .unwrap();
    assert_eq!(host.blkio_weight, Some(300));
    assert_eq!(host.blkio_weight_device.unwrap()[0].weight, Some(400));
    assert_eq!(host.blkio_device_read_bps.unwrap()[0].rate, Some(1 << 20));
    assert_eq!(host.blkio_device_write_iops.unwrap()[0].rate, Some(50));
    assert!(host.blkio_device_write_bps.is_none());
}
