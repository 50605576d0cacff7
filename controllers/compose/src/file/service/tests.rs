//! Whole-file loads of the keys a service took on for Compose
//! compatibility: what each decodes to, what is only warned about, and
//! what is refused where it is written.

use std::collections::BTreeMap;
use std::path::Path;

use crate::file::{load, Condition, FileErrors, LoadOptions, MountKind, Project, Source};

fn load_in(dir: &Path, text: &str) -> Result<Project, FileErrors> {
    let path = dir.join("compose.yaml");
    std::fs::write(&path, text).unwrap();
    let options = LoadOptions {
        environment: BTreeMap::from([("DB_PASSWORD".into(), "s3cret".into())]),
        ..LoadOptions::default()
    };
    load(&path, &options)
}

fn load_text(text: &str) -> Result<Project, FileErrors> {
    load_in(tempfile::tempdir().unwrap().path(), text)
}

const KEYS: &str = r#"
services:
  app:
    image: busybox
    build: .
    container_name: shop-app
    secrets: [pw, {source: db, target: /etc/db.pass, mode: 0o400, uid: "70"}]
    configs: [{source: conf, target: /etc/app.conf}]
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5", pids: 100}
        reservations: {memory: 16m, devices: [{capabilities: [gpu], count: all}]}
      placement: {constraints: ["node.role == manager"]}
      update_config: {parallelism: 1}
      restart_policy: {condition: on-failure, max_attempts: 3, delay: 5s}
    mem_limit: 64m
    memswap_limit: -1
    cpu_shares: 512
    cpuset: "0-1"
    shm_size: 128m
    tmpfs: [/run, "/tmp:size=8m"]
    volumes: [{type: tmpfs, target: /cache, tmpfs: {size: 1m}}]
    security_opt: ["no-new-privileges:true"]
    devices: ["/dev/null:/dev/nothing"]
    device_cgroup_rules: ["c 1:3 mr"]
    sysctls: [net.core.somaxconn=1024]
    read_only: false
    tty: true
    stdin_open: true
    group_add: ["1000"]
    ipc: shareable
    userns_mode: host
    cgroup_parent: shop
    expose: ["8080", "53/udp"]
    dns_search: example.org
    dns_opt: [ndots:2]
    domainname: example.org
    mac_address: "02:42:ac:11:00:02"
    oom_score_adj: 100
    oom_kill_disable: true
    platform: linux/amd64
    runtime: runc
    stop_signal: SIGINT
    annotations: {com.example.note: "x"}
    storage_opt: {size: 1G}
    healthcheck: {test: [CMD, "true"], start_period: 10s, start_interval: 1s}
    networks:
      lan: {ipv4_address: 192.168.50.10, aliases: [shop]}
  worker:
    image: busybox
    scale: 3
    links: ["app:api"]
    volumes_from: ["app:ro"]
    pid: "service:app"
    depends_on:
      app: {condition: service_healthy, restart: true}
      debug: {condition: service_started, required: false}
    gpus: all
  debug:
    image: busybox
    profiles: [debug]
secrets:
  pw: {file: ./pw.txt}
  db: {environment: DB_PASSWORD}
configs:
  conf: {content: "level=info"}
networks:
  lan:
    ipam:
      config: [{subnet: 192.168.50.0/24, gateway: 192.168.50.1}]
"#;

fn keys() -> Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw.txt"), "hunter2").unwrap();
    load_in(dir.path(), KEYS).unwrap()
}

#[test]
fn every_compatibility_key_decodes() {
    let project = keys();
    let app = &project.services["app"];
    assert_eq!(app.container_name.as_deref(), Some("shop-app"));
    assert_eq!(app.secrets[0].target, "/run/secrets/pw");
    assert!(matches!(app.secrets[0].source, Source::File(_)));
    assert_eq!(app.secrets[1].target, "/etc/db.pass");
    assert_eq!(app.secrets[1].mode, Some(0o400));
    assert_eq!(app.configs[0].target, "/etc/app.conf");
    assert_eq!(app.limits.memory, Some(64 << 20));
    assert_eq!(app.limits.memory_swap, Some(-1));
    assert_eq!(app.limits.nano_cpus, Some(500_000_000));
    assert_eq!(app.limits.pids, Some(100));
    assert_eq!(app.limits.memory_reservation, Some(16 << 20));
    assert_eq!(app.limits.device_requests[0].count, Some(-1));
    assert_eq!(app.limits.cpu_shares, Some(512));
    assert_eq!(app.limits.cpuset.as_deref(), Some("0-1"));
    assert_eq!(app.limits.shm_size, Some(128 << 20));
    assert_eq!(app.limits.oom_score_adj, Some(100));
    assert!(app.limits.oom_kill_disable);
    assert_eq!(app.restart.as_deref(), Some("on-failure:3"));
    assert_eq!(app.tmpfs["/tmp"], "size=8m");
    assert_eq!(app.volumes[0].kind, MountKind::Tmpfs);
    assert_eq!(app.isolation.security_opt, ["no-new-privileges:true"]);
    assert_eq!(app.isolation.ipc.as_deref(), Some("shareable"));
    assert_eq!(app.isolation.group_add, ["1000"]);
    assert!(app.tty && app.stdin_open);
    assert_eq!(app.expose, ["8080/tcp", "53/udp"]);
    assert_eq!(app.dns_search, ["example.org"]);
    assert_eq!(app.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(app.annotations["com.example.note"], "x");
    let check = app.healthcheck.as_ref().unwrap();
    assert_eq!(
        check.start_interval,
        Some(std::time::Duration::from_secs(1))
    );
    assert_eq!(
        app.endpoints["lan"].ipv4_address,
        Some("192.168.50.10".parse().unwrap())
    );
    assert_eq!(app.networks["lan"], ["shop"]);

    let worker = &project.services["worker"];
    assert_eq!(worker.replicas, 3);
    assert_eq!(worker.links, [("app".to_string(), "api".to_string())]);
    assert_eq!(worker.limits.device_requests[0].capabilities, ["gpu"]);
    // The dependency on a service the profiles leave out, not required, is dropped.
    assert_eq!(worker.dependencies().collect::<Vec<_>>(), ["app"]);
    let on_app = worker.dependency("app");
    assert!(on_app.restart);
    assert_eq!(on_app.condition, Condition::ServiceHealthy);
    assert_eq!(project.start_order, ["app", "worker"]);
}

#[test]
fn what_a_single_engine_ignores_is_accepted_with_a_positioned_warning() {
    let project = keys();
    let warnings: Vec<String> = project
        .warnings
        .iter()
        .map(|w| {
            let text = w.to_string();
            text[text.find("compose.yaml").unwrap()..].to_string()
        })
        .collect();
    for expected in [
        "compose.yaml:5:12: `build` of service `app` is ignored",
        "compose.yaml:13:7: `placement` in deploy is ignored",
        "compose.yaml:14:7: `update_config` in deploy is ignored",
        "compose.yaml:15:64: `delay` in deploy.restart_policy is ignored",
        "compose.yaml:57:7: service `worker` does not wait for `debug`",
    ] {
        assert!(
            warnings.iter().any(|w| w.starts_with(expected)),
            "{expected} not in {warnings:#?}"
        );
    }
}

#[test]
fn container_config_keys_stay_out_of_the_hash_while_unset() {
    // A service using none of the new keys serialises as before them:
    // its containers are not recreated by an upgrade.
    let project =
        load_text("services:\n  web: {image: busybox, depends_on: [db]}\n  db: {image: busybox}\n")
            .unwrap();
    assert_eq!(
        serde_json::to_string(&project.services["web"]).unwrap(),
        r#"{"image":"busybox","command":null,"entrypoint":null,"environment":{},"ports":[],"volumes":[],"networks":{"default":[]},"network_mode":null,"restart":null,"healthcheck":null,"depends_on":{"db":"service_started"},"labels":{},"cap_add":[],"cap_drop":[],"user":null,"working_dir":null,"hostname":null,"extra_hosts":[],"dns":[],"sysctls":{},"ulimits":{},"privileged":false,"init":false,"devices":[],"stop_signal":null,"stop_grace_period":null,"logging":null,"profiles":[]}"#
    );
}

#[test]
fn a_service_using_anothers_namespace_volumes_or_links_starts_after_it() {
    let project = load_text(concat!(
        "services:\n",
        "  a: {image: x, volumes_from: [e]}\n",
        "  b: {image: x, ipc: \"service:a\"}\n",
        "  c: {image: x, pid: \"service:b\"}\n",
        "  d: {image: x, links: [\"c:see\"]}\n",
        "  e: {image: x}\n",
    ))
    .unwrap();
    assert_eq!(project.start_order, ["e", "a", "b", "c", "d"]);
    // Restarted with a new container of a namespace owner or a linked
    // service, as Compose implies; not with one it took volumes from.
    assert!(project.services["b"].dependency("a").restart);
    assert!(project.services["d"].dependency("c").restart);
    assert!(!project.services["a"].dependency("e").restart);
}
