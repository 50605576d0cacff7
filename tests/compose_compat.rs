//! Compose compatibility on a real engine (issue 13): the same compose
//! file run once by `docker-compose` (1.29, the reference operators have)
//! and once by hareconcile gives containers that `docker inspect` shows
//! alike; what 1.29 cannot read runs as the compose-spec documents it; the
//! seed systems' upstream-shaped stacks run with their declared names,
//! secrets, tmpfs mounts and limits; and a container that holds a declared
//! `container_name` without being that service's is reported and left
//! running. Upstream images are stood in for by one local image that idles
//! (there is no registry in the lab).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hareconcile_compose::engine::Engine;
use hareconcile_compose::file::{load, LoadOptions, Project};
use hareconcile_lab::{busybox_image, require_privileges, Dockerd, Lab};
use hareconcile_test_support::runtime;
use serde_json::{json, Map, Value};

/// Every stand-in's tag: one image under each upstream name a stack uses.
const STANDIN: &str = "hareconcile/standin:lab";
const UPSTREAM_IMAGES: [&str; 4] = [
    "pihole/pihole:latest",
    "mvance/unbound:latest",
    "traefik:v3.2",
    "zoeyvid/npmplus:latest",
];

/// The project both runs use, so names and labels compare as they are.
const PROJECT: &str = "parity";

/// An image that stands in for any upstream one: its entrypoint idles
/// whatever arguments a stack passes and exits at once on SIGTERM (stops
/// take no grace period), and `drill` succeeds, as Unbound's healthcheck
/// expects of its image.
fn standin_images(dockerd: &Dockerd) {
    let base = busybox_image(dockerd.uri()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drill = dir.path().join("drill");
    std::fs::write(&drill, "#!/bin/sh\nexit 0\n").unwrap();
    let mut permissions = std::fs::metadata(&drill).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&drill, permissions).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {base}\nCOPY drill /bin/drill\nENTRYPOINT [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM INT; sleep 86400 & wait\", \"standin\"]\nCMD []\n"
        ),
    )
    .unwrap();
    let built = dockerd
        .docker(&[
            "build",
            "-q",
            "-t",
            STANDIN,
            &dir.path().display().to_string(),
        ])
        .unwrap();
    assert!(built.success(), "docker build: {}", built.stderr);
    for tag in UPSTREAM_IMAGES {
        assert!(dockerd.docker(&["tag", STANDIN, tag]).unwrap().success());
    }
}

/// A stack in its own directory: the compose file and what sits beside it.
struct Stack {
    dir: tempfile::TempDir,
    /// Variables both runs get from the process environment.
    environment: BTreeMap<String, String>,
}

impl Stack {
    fn new(files: &[(&str, &str)], environment: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Stack {
            dir,
            environment: environment
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A copy of one of the corpus' stacks, as its files are.
    fn fixture(name: &str, environment: &[(&str, &str)]) -> Stack {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/compose")
            .join(name);
        let stack = Stack::new(&[], environment);
        copy_dir(&from, stack.dir.path());
        stack
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("compose.yaml")
    }

    fn project(&self) -> Project {
        let options = LoadOptions {
            project_name: Some(PROJECT.into()),
            environment: self.environment.clone(),
            ..LoadOptions::default()
        };
        load(&self.file(), &options).unwrap()
    }

    /// `docker-compose` in the stack's directory, on the file without the
    /// lines marked `# not in 1.29` (keys 1.29's schema refuses), under
    /// the same name, so the labels it writes are the ones hareconcile
    /// writes.
    fn compose(&self, dockerd: &Dockerd, args: &[&str]) -> String {
        let text = std::fs::read_to_string(self.file()).unwrap();
        let reference: String = text
            .lines()
            .filter(|l| !l.contains("# not in 1.29"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(self.file(), reference).unwrap();
        let out = std::process::Command::new("docker-compose")
            .current_dir(self.dir.path())
            .env("DOCKER_HOST", dockerd.uri())
            .envs(&self.environment)
            .args(["-f", "compose.yaml", "-p", PROJECT])
            .args(args)
            .output()
            .unwrap();
        std::fs::write(self.file(), text).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "docker-compose {args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A one-node lab's engine with the stand-in images, and a runtime to
/// call it from. Fields drop in order: the daemon before its lab.
struct Rig {
    dockerd: Dockerd,
    rt: tokio::runtime::Runtime,
    engine: Engine,
    _lab: Lab,
}

fn rig() -> Rig {
    let lab = Lab::builder().nodes(1).build().unwrap();
    let dockerd = lab.node(1).start_dockerd().unwrap();
    standin_images(&dockerd);
    let rt = runtime();
    let engine = rt.block_on(Engine::connect(dockerd.uri())).unwrap();
    Rig {
        dockerd,
        rt,
        engine,
        _lab: lab,
    }
}

/// `docker inspect` of every container of the project, by name.
fn inspect_all(dockerd: &Dockerd) -> Vec<Value> {
    let ids = dockerd.docker(&["ps", "-aq", "--no-trunc"]).unwrap().stdout;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["inspect"];
    args.extend(&ids);
    serde_json::from_str(&dockerd.docker(&args).unwrap().stdout).unwrap()
}

fn inspect(dockerd: &Dockerd, name: &str) -> Value {
    let out = dockerd.docker(&["inspect", name]).unwrap();
    assert!(out.success(), "docker inspect {name}: {}", out.stderr);
    let mut all: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    all.remove(0)
}

/// What `command` prints in container `name`.
fn exec(dockerd: &Dockerd, name: &str, command: &str) -> String {
    let out = dockerd
        .docker(&["exec", name, "sh", "-c", command])
        .unwrap();
    assert!(out.success(), "{name}: {command}: {}", out.stderr);
    out.stdout.trim_end().to_string()
}

fn name_of(container: &Value) -> String {
    container["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string()
}

/// What matters of each container of the project, by name: names, image,
/// environment, mounts (secrets and tmpfs included), resources, security
/// options, networks and fixed addresses, healthcheck, restart policy and
/// the labels `docker-compose ps` reads. Container ids become names and
/// the alias Compose derives from the id goes, so two runs compare.
fn project_view(dockerd: &Dockerd) -> BTreeMap<String, Value> {
    let all = inspect_all(dockerd);
    let names: HashMap<String, String> = all
        .iter()
        .map(|c| (c["Id"].as_str().unwrap().to_string(), name_of(c)))
        .collect();
    all.iter()
        .filter(|c| c["Config"]["Labels"]["com.docker.compose.project"] == PROJECT)
        .map(|c| (name_of(c), view(c, &names)))
        .collect()
}

fn view(c: &Value, names: &HashMap<String, String>) -> Value {
    let id = c["Id"].as_str().unwrap();
    let resolve = |text: &str| -> String {
        let (prefix, rest) = match text.strip_prefix("container:") {
            Some(rest) => ("container:", rest),
            None => ("", text),
        };
        let (container, mode) = rest.split_once(':').unwrap_or((rest, ""));
        let container = names.get(container).map_or(container, String::as_str);
        match mode {
            "" => format!("{prefix}{container}"),
            mode => format!("{prefix}{container}:{mode}"),
        }
    };
    let config = &c["Config"];
    let host = &c["HostConfig"];
    let mut labels = config["Labels"].as_object().cloned().unwrap_or_default();
    labels.remove("com.docker.compose.config-hash");
    let hostname = match config["Hostname"].as_str() {
        Some(h) if id.starts_with(h) => json!("<container id>"),
        _ => config["Hostname"].clone(),
    };
    let mut host_view = Map::new();
    for key in [
        "Binds",
        "Tmpfs",
        "Memory",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "NanoCpus",
        "CpuShares",
        "CpusetCpus",
        "CpuPeriod",
        "CpuQuota",
        "PidsLimit",
        "ShmSize",
        "OomScoreAdj",
        "OomKillDisable",
        "SecurityOpt",
        "CapAdd",
        "CapDrop",
        "ReadonlyRootfs",
        "Privileged",
        "GroupAdd",
        "UTSMode",
        "UsernsMode",
        "CgroupnsMode",
        "RestartPolicy",
        "Dns",
        "DnsSearch",
        "DnsOptions",
        "ExtraHosts",
        "Sysctls",
        "Devices",
        "DeviceCgroupRules",
        "Runtime",
        "Init",
        "LogConfig",
        "PortBindings",
        "StorageOpt",
    ] {
        host_view.insert(key.into(), unordered(&host[key]));
    }
    for key in ["NetworkMode", "PidMode", "IpcMode"] {
        let mode = host[key].as_str().unwrap_or_default();
        host_view.insert(key.into(), json!(resolve(mode)));
    }
    let volumes_from: Vec<String> = host["VolumesFrom"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(resolve)
        .collect();
    host_view.insert("VolumesFrom".into(), json!(volumes_from));
    host_view.insert("Ulimits".into(), sorted_by(&host["Ulimits"], "Name"));
    host_view.insert("Mounts".into(), sorted_by(&host["Mounts"], "Target"));
    let mounts: Vec<Value> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let source = match m["Type"].as_str() {
                // Anonymous volumes get random names.
                Some("volume") if m["Name"].as_str().is_some_and(|n| n.len() == 64) => {
                    json!("<anonymous>")
                }
                Some("volume") => m["Name"].clone(),
                _ => m["Source"].clone(),
            };
            json!({"Type": m["Type"], "Source": source, "Destination": m["Destination"], "RW": m["RW"]})
        })
        .collect();
    let networks: Map<String, Value> = c["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(network, endpoint)| {
            let aliases: Vec<&Value> = endpoint["Aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| !a.as_str().is_some_and(|a| id.starts_with(a)))
                .collect();
            let fixed = !endpoint["IPAMConfig"].is_null();
            (
                network.clone(),
                json!({
                    "IPAMConfig": endpoint["IPAMConfig"],
                    "IPAddress": if fixed { endpoint["IPAddress"].clone() } else { Value::Null },
                    "Aliases": unordered(&json!(aliases)),
                    "Links": unordered(&endpoint["Links"]),
                }),
            )
        })
        .collect();
    let exposed: Vec<&String> = config["ExposedPorts"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    json!({
        "Image": config["Image"],
        "Cmd": config["Cmd"],
        "Entrypoint": config["Entrypoint"],
        "Env": unordered(&config["Env"]),
        "User": config["User"],
        "WorkingDir": config["WorkingDir"],
        "Hostname": hostname,
        "Domainname": config["Domainname"],
        "Tty": config["Tty"],
        "OpenStdin": config["OpenStdin"],
        "ExposedPorts": exposed,
        "StopSignal": config["StopSignal"],
        "StopTimeout": config["StopTimeout"],
        "Healthcheck": config["Healthcheck"],
        "MacAddress": config["MacAddress"],
        "Labels": labels,
        "HostConfig": host_view,
        "Mounts": sorted_by(&json!(mounts), "Destination"),
        "Networks": networks,
    })
}

/// A list whose order carries no meaning, sorted; an empty list or
/// mapping as unset (the engine shows both for nothing set); anything
/// else as is.
fn unordered(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Object(fields) if fields.is_empty() => Value::Null,
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

fn sorted_by(value: &Value, key: &str) -> Value {
    match value {
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(|v| v[key].to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// Every path where `a` and `b` differ, with both values.
fn differences(a: &Value, b: &Value, path: &str, found: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                differences(
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    &format!("{path}.{key}"),
                    found,
                );
            }
        }
        (a, b) if a == b => {}
        (a, b) => found.push(format!("{path}: docker-compose {a} / hareconcile {b}")),
    }
}

/// Takes `path` (`HostConfig.PidsLimit`) out of a view, returning it: a
/// setting 1.29 does not have, compared with the spec instead.
fn take(view: &mut Value, path: &str) -> Value {
    let mut at = view;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        at = &mut at[*part];
    }
    at.as_object_mut()
        .and_then(|o| o.remove(parts[parts.len() - 1]))
        .unwrap_or(Value::Null)
}

/// Runs `stack` with docker-compose, then with hareconcile, on one engine,
/// and compares the two. `spec_only` are paths of settings the file sets
/// on lines 1.29 cannot read, with the value the spec gives them; the
/// reference has the engine's default there.
fn parity(dockerd: &Dockerd, stack: &Stack, spec_only: &[(&str, &str, Value)]) {
    stack.compose(dockerd, &["up", "-d"]);
    let mut reference = project_view(dockerd);
    stack.compose(dockerd, &["down", "-v"]);

    let project = stack.project();
    let rt = runtime();
    let engine = rt.block_on(Engine::connect(dockerd.uri())).unwrap();
    rt.block_on(engine.up(&project)).unwrap();
    let mut ours = project_view(dockerd);
    // What docker-compose ps makes of hareconcile's containers.
    let ps = stack.compose(dockerd, &["ps"]);
    for name in ours.keys() {
        let line = ps
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from docker-compose ps:\n{ps}"));
        assert!(line.contains(" Up "), "{line}");
    }
    rt.block_on(engine.down(&project)).unwrap();
    for network in project.networks.keys() {
        let name = match &project.networks[network].name {
            Some(name) => name.clone(),
            None => format!("{PROJECT}_{network}"),
        };
        dockerd.docker(&["network", "rm", &name]).unwrap();
    }
    dockerd
        .docker(&["network", "rm", &format!("{PROJECT}_default")])
        .unwrap();
    dockerd.docker(&["volume", "prune", "-f"]).unwrap();

    assert_eq!(
        reference.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "the same containers"
    );
    for (container, path, spec) in spec_only {
        let default = take(reference.get_mut(*container).unwrap(), path);
        let value = take(ours.get_mut(*container).unwrap(), path);
        assert_eq!(
            &value, spec,
            "{container} {path}: the spec's value (1.29 gives {default})"
        );
    }
    let mut found = Vec::new();
    for (name, theirs) in &reference {
        differences(theirs, &ours[name], name, &mut found);
    }
    assert!(found.is_empty(), "differences:\n{}", found.join("\n"));
}

/// Process settings, limits, mounts, secrets and security options.
const PROCESS_AND_LIMITS: &str = r#"
services:
  app:
    image: hareconcile/standin:lab
    command: ["serve", "--port", "80"]
    container_name: parity-app
    hostname: app
    domainname: example.org
    user: "65534:65534"
    working_dir: /tmp
    environment: {MODE: production, EMPTY: ""}
    labels: {tier: front}
    secrets: [pw, {source: pw, target: pw2}, {source: pw, target: /etc/pw}]
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5"}
        reservations: {memory: 16M}
    memswap_limit: 128m
    cpu_shares: 512
    cpuset: "0"
    shm_size: 32m
    pids_limit: 100
    oom_score_adj: 200
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    tmpfs: [/run/a, "/run/b:size=1m,mode=1777"]
    volumes:
      - {type: tmpfs, target: /cache, tmpfs: {size: 2000000}}
      - ./data:/data:ro
      - vol:/vol
      - /anonymous
    security_opt: ["no-new-privileges:true"]
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE, CHOWN]
    read_only: true
    group_add: ["1000"]
    tty: true
    stdin_open: true
    expose: ["9000", "53/udp"]
    ports: ["8080:80"]
    dns: [9.9.9.9]
    dns_search: [example.org]
    dns_opt: ["ndots:2"]
    extra_hosts: ["db.local:10.0.0.5"]
    sysctls: {net.ipv4.ip_unprivileged_port_start: 80}
    stop_signal: SIGINT
    stop_grace_period: 3s
    init: true
    restart: on-failure:3
    healthcheck: {test: ["CMD", "true"], interval: 5s, timeout: 2s, retries: 2, start_period: 3s}
    logging: {driver: json-file, options: {max-size: 1m}}
    platform: linux/${ARCH}
    runtime: runc
    devices: ["/dev/null:/dev/nothing:r"]
    device_cgroup_rules: ["c 1:3 r"]
    oom_kill_disable: true
secrets:
  pw: {file: ./pw.txt}
volumes:
  vol:
"#;

/// Fixed addresses, aliases, links, shared namespaces and volumes,
/// network priority and replicas.
const NETWORKS_AND_NAMESPACES: &str = r#"
services:
  db:
    image: hareconcile/standin:lab
    container_name: parity-db
    ipc: shareable
    volumes: [/var/lib/db]
    healthcheck: {test: [CMD, "true"], interval: 1s}
    networks:
      back: {ipv4_address: 172.31.7.10, aliases: [database]}
  app:
    image: hareconcile/standin:lab
    mac_address: "02:42:ac:1f:07:0b"
    depends_on: {db: {condition: service_healthy}}
    links: ["db:sql"]
    volumes_from: ["db:ro"]
    ipc: "service:db"
    pid: "service:db"
    networks:
      back: {ipv4_address: 172.31.7.11}
      front: {priority: 100}
  worker:
    image: hareconcile/standin:lab
    scale: 2
    networks: [back]
  cron:
    image: hareconcile/standin:lab
    deploy: {replicas: 2, placement: {constraints: [node.role==manager]}}
networks:
  back:
    ipam:
      config: [{subnet: 172.31.7.0/24, gateway: 172.31.7.1, ip_range: 172.31.7.128/25}]
  front:
"#;

#[test]
fn docker_compose_and_hareconcile_create_the_same_containers() {
    require_privileges!(docker);
    let lab = Lab::builder().nodes(1).build().unwrap();
    let dockerd = lab.node(1).start_dockerd().unwrap();
    standin_images(&dockerd);

    // The stand-in's platform is the machine's.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let stack = Stack::new(
        &[
            ("compose.yaml", PROCESS_AND_LIMITS),
            ("pw.txt", "hunter2"),
            ("data/x", ""),
        ],
        &[("ARCH", arch)],
    );
    parity(&dockerd, &stack, &[]);

    let stack = Stack::new(&[("compose.yaml", NETWORKS_AND_NAMESPACES)], &[]);
    parity(&dockerd, &stack, &[]);

    // The seed systems' stacks, as the corpus has them. Variables come
    // from the environment, which wins over `.env` in both: 1.29 reads
    // `export` lines of `.env` otherwise than Compose does.
    parity(&dockerd, &Stack::fixture("pihole", &PIHOLE), &[]);
    // 1.29's schema has no `limits.pids`: the spec's 200 it is.
    let traefik = Stack::fixture("traefik", &TRAEFIK);
    mark_not_in_1_29(&traefik, "pids: 200");
    parity(
        &dockerd,
        &traefik,
        &[("traefik", "HostConfig.PidsLimit", json!(200))],
    );
}

/// The Pi-hole stacks' variables; the environment wins over `.env` in
/// both Compose implementations, which read `export` lines differently.
const PIHOLE: [(&str, &str); 5] = [
    ("TZ", "Europe/Berlin"),
    ("WEBPASSWORD", "correct horse battery staple"),
    ("WEB_PORT", "8080"),
    ("PIHOLE_HOSTNAME", "pihole-ha"),
    ("NODE_ROLE", "primary"),
];

const TRAEFIK: [(&str, &str); 2] = [
    ("DOMAIN", "example.org"),
    ("ACME_EMAIL", "admin@example.org"),
];

/// Marks the line of the stack's compose file containing `text` as one
/// 1.29 cannot read.
fn mark_not_in_1_29(stack: &Stack, text: &str) {
    let file = stack.file();
    let marked = std::fs::read_to_string(&file)
        .unwrap()
        .replace(text, &format!("{text} # not in 1.29"));
    std::fs::write(file, marked).unwrap();
}

#[test]
fn the_seed_stacks_run_with_their_declared_names_secrets_tmpfs_and_limits() {
    require_privileges!(docker);
    let rig = rig();
    let (dockerd, rt, engine) = (&rig.dockerd, &rig.rt, &rig.engine);
    let running = |name: &str| inspect(dockerd, name)["State"]["Running"] == true;

    // Traefik, hardened: read-only root, no new privileges, /tmp in
    // memory, its DNS token a secret, limits from deploy.resources.
    let traefik = Stack::fixture("traefik", &TRAEFIK);
    let project = traefik.project();
    rt.block_on(engine.up(&project)).unwrap();
    assert!(running("traefik"));
    let c = inspect(dockerd, "traefik");
    let host = &c["HostConfig"];
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges:true"]));
    assert_eq!(host["Tmpfs"], json!({"/tmp": ""}));
    assert_eq!(host["Memory"], 256 << 20);
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(host["PidsLimit"], 200);
    let token = traefik.dir.path().join("secrets/cf_dns_api_token.txt");
    assert!(
        c["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Destination"] == "/run/secrets/cf_dns_api_token"
                && m["Source"] == token.display().to_string()
                && m["RW"] == false),
        "{}",
        c["Mounts"]
    );
    assert_eq!(
        exec(dockerd, "traefik", "cat /run/secrets/cf_dns_api_token"),
        std::fs::read_to_string(&token).unwrap().trim_end()
    );
    assert!(exec(dockerd, "traefik", "grep ' /tmp ' /proc/mounts").starts_with("tmpfs /tmp tmpfs"));
    assert!(c["NetworkSettings"]["Networks"]["proxy"].is_object());
    rt.block_on(engine.down(&project)).unwrap();

    // Pi-hole with the HA guide's limits.
    let pihole = Stack::fixture("pihole", &PIHOLE);
    let project = pihole.project();
    rt.block_on(engine.up(&project)).unwrap();
    assert!(running("pihole"));
    let c = inspect(dockerd, "pihole");
    assert_eq!(c["HostConfig"]["Memory"], 768 << 20);
    assert_eq!(c["HostConfig"]["MemoryReservation"], 256 << 20);
    assert_eq!(c["Config"]["Hostname"], "pihole-ha");
    assert!(c["HostConfig"]["PortBindings"]["53/udp"].is_array());
    rt.block_on(engine.down(&project)).unwrap();

    // Pi-hole behind its own Unbound: fixed addresses on a private
    // network, started once Unbound is healthy, the logging of a YAML
    // merge key.
    let unbound = Stack::fixture("pihole-unbound", &PIHOLE);
    let project = unbound.project();
    rt.block_on(engine.up(&project)).unwrap();
    let c = inspect(dockerd, "unbound");
    assert_eq!(c["State"]["Health"]["Status"], "healthy");
    assert_eq!(
        c["NetworkSettings"]["Networks"]["parity_dns"]["IPAddress"],
        "172.28.53.2"
    );
    let c = inspect(dockerd, "pihole");
    assert!(running("pihole"));
    assert_eq!(
        c["NetworkSettings"]["Networks"]["parity_dns"]["IPAddress"],
        "172.28.53.3"
    );
    assert_eq!(c["HostConfig"]["Dns"], json!(["127.0.0.1", "172.28.53.2"]));
    assert_eq!(c["HostConfig"]["LogConfig"]["Config"]["max-size"], "10m");
    rt.block_on(engine.down(&project)).unwrap();

    // NPMplus on the host's network; its data directory is an absolute
    // host path, which the engine creates: removed again if it did.
    let data = Path::new("/opt/npmplus");
    let existed = data.exists();
    let npmplus = Stack::fixture("npmplus", &[]);
    let project = npmplus.project();
    let up = rt.block_on(engine.up(&project));
    let c = inspect(dockerd, "npmplus");
    rt.block_on(engine.down(&project)).unwrap();
    if !existed {
        let _ = std::fs::remove_dir(data);
    }
    up.unwrap();
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["HostConfig"]["NetworkMode"], "host");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "always");
}

/// Where 1.29 has no such key (secrets and configs from the environment
/// or inline, `limits.pids`, tmpfs modes, the cgroup namespace,
/// `depends_on` `restart` and `required`) or no such engine (start
/// intervals and annotations need newer APIs than the lab's 1.41), the
/// result is the compose-spec's.
#[test]
fn what_1_29_lacks_runs_as_the_compose_spec_documents_it() {
    require_privileges!(docker);
    let rig = rig();
    let (dockerd, rt, engine) = (&rig.dockerd, &rig.rt, &rig.engine);
    let text = r#"
services:
  db:
    image: hareconcile/standin:lab
    environment: [GENERATION=1]
    healthcheck: {test: [CMD, "true"], interval: 1s}
  flaky:
    image: hareconcile/standin:lab
    healthcheck: {test: [CMD, "false"], interval: 1s, retries: 1}
  app:
    image: hareconcile/standin:lab
    secrets:
      - token
      - {source: token, target: /etc/token, mode: 0400, uid: "65534"}
    configs:
      - {source: inline, target: /etc/app.conf}
      - file_conf
    deploy: {resources: {limits: {pids: 50}}}
    volumes: [{type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: 01770}}]
    cgroup: private
    depends_on:
      db: {condition: service_healthy, restart: true}
      flaky: {condition: service_healthy, required: false}
secrets:
  token: {environment: TOKEN}
configs:
  inline: {content: "level=debug"}
  file_conf: {file: ./app.conf}
"#;
    let stack = Stack::new(
        &[("compose.yaml", text), ("app.conf", "from a file")],
        &[("TOKEN", "t0ken")],
    );
    let project = stack.project();
    // flaky turns unhealthy; app does not require it and starts.
    rt.block_on(engine.up(&project)).unwrap();
    let app = "parity_app_1";
    assert_eq!(exec(dockerd, app, "cat /run/secrets/token"), "t0ken");
    assert_eq!(
        exec(dockerd, app, "stat -c '%a %u' /run/secrets/token"),
        "444 0"
    );
    assert_eq!(
        exec(dockerd, app, "stat -c '%a %u' /etc/token"),
        "400 65534"
    );
    assert_eq!(exec(dockerd, app, "cat /etc/app.conf"), "level=debug");
    assert_eq!(exec(dockerd, app, "cat /file_conf"), "from a file");
    assert_eq!(exec(dockerd, app, "stat -c %a /scratch"), "1770");
    let c = inspect(dockerd, app);
    assert_eq!(c["HostConfig"]["PidsLimit"], 50);
    assert_eq!(c["HostConfig"]["CgroupnsMode"], "private");
    assert!(
        c["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Destination"] == "/file_conf" && m["RW"] == false),
        "{}",
        c["Mounts"]
    );
    assert_eq!(
        inspect(dockerd, "parity_flaky_1")["State"]["Health"]["Status"],
        "unhealthy"
    );

    // db gets a new container: app, which asked to be restarted with it,
    // is restarted (same container, started again).
    let started = c["State"]["StartedAt"].clone();
    std::fs::write(stack.file(), text.replace("GENERATION=1", "GENERATION=2")).unwrap();
    let changes: Vec<String> = rt
        .block_on(engine.up(&stack.project()))
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        changes.contains(&"replaced parity_db_1".to_string()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"restarted parity_app_1".to_string()),
        "{changes:?}"
    );
    let after = inspect(dockerd, app);
    assert_eq!(after["Id"], c["Id"]);
    assert_ne!(after["State"]["StartedAt"], started);
    rt.block_on(engine.down(&project)).unwrap();

    // This engine speaks API 1.41: settings it would drop are refused,
    // and nothing is created.
    for (key, setting) in [
        (
            "healthcheck: {test: [CMD, \"true\"], start_period: 5s, start_interval: 1s}",
            "healthcheck.start_interval needs Docker Engine API 1.44",
        ),
        (
            "annotations: {a: b}",
            "annotations needs Docker Engine API 1.43",
        ),
    ] {
        let text = format!("services:\n  new:\n    image: hareconcile/standin:lab\n    {key}\n");
        let stack = Stack::new(&[("compose.yaml", &text)], &[]);
        let refused = rt.block_on(engine.up(&stack.project())).unwrap_err();
        assert!(refused.to_string().contains(setting), "{refused}");
        assert!(!dockerd
            .docker(&["inspect", "parity_new_1"])
            .unwrap()
            .success());
    }
}

/// A container that holds a name a stack declares but is not that
/// service's (no compose labels, or another project's) stops that
/// service from being created: reported, never stopped, renamed or
/// removed, by `up` or `down`.
#[test]
fn a_foreign_container_holding_a_declared_name_is_reported_and_left_running() {
    require_privileges!(docker);
    let rig = rig();
    let (dockerd, rt, engine) = (&rig.dockerd, &rig.rt, &rig.engine);
    let run = |args: &[&str]| {
        let mut all = vec!["run", "-d"];
        all.extend(args);
        all.push(STANDIN);
        let out = dockerd.docker(&all).unwrap();
        assert!(out.success(), "{}", out.stderr);
        out.stdout.trim().to_string()
    };
    let plain = run(&["--name", "pihole"]);
    let other_project = run(&[
        "--name",
        "traefik",
        "--label",
        "com.docker.compose.project=edge",
        "--label",
        "com.docker.compose.service=proxy",
        "--label",
        "com.docker.compose.container-number=1",
    ]);
    let started = |name: &str| inspect(dockerd, name)["State"]["StartedAt"].clone();
    let before = [started("pihole"), started("traefik")];

    for (stack, name, holder, id) in [
        (
            Stack::fixture("pihole", &PIHOLE),
            "pihole",
            "it is not a compose service's container",
            &plain,
        ),
        (
            Stack::fixture("traefik", &TRAEFIK),
            "traefik",
            "it is container 1 of service proxy of project edge",
            &other_project,
        ),
    ] {
        let project = stack.project();
        let failure = rt.block_on(engine.up(&project)).unwrap_err();
        assert!(
            matches!(&failure, hareconcile_compose::engine::EngineError::NameTaken { name: n, .. } if n == name),
            "{failure}"
        );
        let message = failure.to_string();
        assert!(message.contains(holder), "{message}");
        // What the Service's status shows.
        let containers = rt.block_on(engine.containers(PROJECT)).unwrap();
        let drift = hareconcile_compose::drift::with_failure(
            hareconcile_compose::drift::stack_drift(
                &project,
                hareconcile_compose::Placement::Run,
                &containers,
                false,
            ),
            &project,
            &failure,
        );
        let taken = drift.iter().find(|d| d.reason == "NameTaken").unwrap();
        assert_eq!(taken.container, name);
        assert!(taken.fix.starts_with("won't fix"), "{}", taken.fix);
        rt.block_on(engine.down(&project)).unwrap();
        let c = inspect(dockerd, name);
        assert_eq!(c["Id"].as_str().unwrap(), id.as_str());
        assert_eq!(c["State"]["Running"], true);
    }
    assert_eq!(before, [started("pihole"), started("traefik")]);
}

/// Identity is by labels: a service whose `container_name` changed gets
/// its container replaced under the new name, and scaling down removes
/// the containers numbered beyond the new count, as `docker compose up`
/// does; the drift names both before the pass that applies them.
#[test]
fn a_new_container_name_and_a_smaller_scale_apply_to_a_running_stack() {
    require_privileges!(docker);
    let rig = rig();
    let (dockerd, rt, engine) = (&rig.dockerd, &rig.rt, &rig.engine);
    let text = "services:\n  web: {image: hareconcile/standin:lab, scale: 3}\n  db: {image: hareconcile/standin:lab, container_name: old-db}\n";
    let stack = Stack::new(&[("compose.yaml", text)], &[]);
    rt.block_on(engine.up(&stack.project())).unwrap();
    let names = || {
        let mut names: Vec<String> = project_view(dockerd).into_keys().collect();
        names.sort();
        names
    };
    assert_eq!(
        names(),
        ["old-db", "parity_web_1", "parity_web_2", "parity_web_3"]
    );
    let first_web = inspect(dockerd, "parity_web_1")["Id"].clone();

    let changed = text
        .replace("scale: 3", "scale: 1")
        .replace("old-db", "new-db");
    std::fs::write(stack.file(), changed).unwrap();
    let project = stack.project();
    let containers = rt.block_on(engine.containers(PROJECT)).unwrap();
    let drift = hareconcile_compose::drift::stack_drift(
        &project,
        hareconcile_compose::Placement::Run,
        &containers,
        false,
    );
    let mut reasons: Vec<(&str, &str)> = drift
        .iter()
        .map(|d| (d.reason, d.container.as_str()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("ContainerRenamed", "old-db"),
            ("ExtraReplica", "parity_web_2"),
            ("ExtraReplica", "parity_web_3")
        ]
    );
    let mut changes: Vec<String> = rt
        .block_on(engine.up(&project))
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            "removed parity_web_2",
            "removed parity_web_3",
            "replaced new-db",
            "started new-db"
        ]
    );
    assert_eq!(names(), ["new-db", "parity_web_1"]);
    assert_eq!(inspect(dockerd, "parity_web_1")["Id"], first_web);
    let db = inspect(dockerd, "new-db");
    assert_eq!(db["Config"]["Labels"]["com.docker.compose.service"], "db");
    assert_eq!(db["State"]["Running"], true);
}
