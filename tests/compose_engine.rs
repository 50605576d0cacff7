//! The Compose engine driver against a real (per-node) dockerd: what it
//! creates is Docker Compose 1.29's own stack to `docker-compose`, the
//! published port answers on the node's address, and a stack
//! `docker-compose up -d` created is adopted rather than duplicated, and a
//! changed service whose new container cannot be created keeps its old one.
//! A started container's address is in the node's neighbour table at once,
//! the services clients reach start before the others, and one that joins
//! another's network namespace after it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hareconcile_compose::engine::{Change, Engine};
use hareconcile_compose::file::{load, LoadOptions, Project};
use hareconcile_lab::{require_privileges, DockerNode, Dockerd, Host};
use hareconcile_test_support::runtime;

/// The benchmark's stack: web depends on a worker (healthy first, so the
/// wait for a healthcheck is exercised); a third service idles.
fn write_stack(dir: &Path, image: &str) -> PathBuf {
    let path = dir.join("compose.yaml");
    let text = format!(
        "services:\n  web:\n    image: {image}\n    command: httpd -f -p 8080 -h /www\n    ports: [\"8080:8080\"]\n    depends_on: {{worker: {{condition: service_healthy}}}}\n    stop_grace_period: 1s\n  worker:\n    image: {image}\n    command: sleep 3600\n    healthcheck: {{test: [CMD, \"true\"], interval: 1s}}\n    stop_grace_period: 1s\n  idle:\n    image: {image}\n    command: sleep 3600\n    stop_grace_period: 1s\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn project(file: &Path, name: &str) -> Project {
    let options = LoadOptions {
        project_name: Some(name.to_string()),
        ..LoadOptions::default()
    };
    load(file, &options).unwrap()
}

/// docker-compose runs in the root namespace: it only needs the socket.
fn compose(dockerd: &Dockerd, file: &Path, project: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("docker-compose")
        .env("DOCKER_HOST", dockerd.uri())
        .arg("-f")
        .arg(file)
        .args(["-p", project])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "docker-compose {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn container_ids(dockerd: &Dockerd) -> Vec<String> {
    let out = dockerd.docker(&["ps", "-aq", "--no-trunc"]).unwrap();
    let mut ids: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

/// Polls `url` from `client` until the lab page answers; the error is
/// what the last attempt said.
fn fetch(client: &Host, url: &str, within: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let out = client.exec(&["curl", "-sS", "-m", "1", url]).unwrap();
        if out.success() && out.stdout.contains("hareconcile lab") {
            return Ok(());
        }
        if started.elapsed() > within {
            return Err(format!("{url}: {} {}", out.stdout, out.stderr));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Also shows the engine's log lines (what it created, why it recreated).
/// What an engine call reports it did, as text (`started shop_web_1`).
fn changes(done: Vec<Change>) -> Vec<String> {
    done.iter().map(Change::to_string).collect()
}

/// `dockerd`'s engine, and a runtime to call it from.
fn connect(dockerd: &Dockerd) -> (tokio::runtime::Runtime, Engine) {
    let rt = runtime();
    let engine = rt.block_on(Engine::connect(dockerd.uri())).unwrap();
    (rt, engine)
}

/// Brings `stack` up: the engine must report `first` before `later` (it
/// reports changes as they happen) and, in all, the changes `expected`.
fn assert_up_reports(
    (rt, engine): &(tokio::runtime::Runtime, Engine),
    stack: &Project,
    (first, later): (&str, &str),
    expected: &[&str],
) {
    let mut did = changes(rt.block_on(engine.up(stack)).unwrap());
    let at = |change: &str| did.iter().position(|c| c == change);
    assert!(
        at(first) < at(later),
        "{later} went ahead of {first}: {did:?}"
    );
    did.sort();
    assert_eq!(did, expected);
}

#[test]
fn compose_lists_what_the_engine_starts_and_web_answers() {
    require_privileges!(docker);
    let docker = DockerNode::start(true).unwrap();
    let (node, dockerd) = (docker.node(), &docker.dockerd);
    let file = write_stack(docker.lab.dir(), &docker.image);
    let stack = project(&file, "shop");

    let connected = connect(dockerd);
    // Idle, which no client reaches, is not even created before web,
    // which publishes a port, has started.
    assert_up_reports(
        &connected,
        &stack,
        ("started shop_web_1", "created shop_idle_1"),
        &[
            "created shop_idle_1",
            "created shop_web_1",
            "created shop_worker_1",
            "started shop_idle_1",
            "started shop_web_1",
            "started shop_worker_1",
        ],
    );
    let (rt, engine) = connected;

    let ps = compose(dockerd, &file, "shop", &["ps"]);
    for service in ["web", "worker", "idle"] {
        let line = ps
            .lines()
            .find(|l| l.starts_with(&format!("shop_{service}_1 ")))
            .unwrap_or_else(|| panic!("shop_{service}_1 missing from docker-compose ps:\n{ps}"));
        assert!(line.contains(" Up "), "{line}");
    }
    let states = rt.block_on(engine.containers("shop")).unwrap();
    let worker = states.iter().find(|c| c.service == "worker").unwrap();
    assert_eq!(
        worker.health.as_deref(),
        Some("healthy"),
        "web started before its dependency was healthy"
    );
    let url = format!("http://{}:8080/", node.ipv4(0));
    if let Err(e) = fetch(docker.lab.client(), &url, Duration::from_secs(10)) {
        let ps = dockerd.docker(&["ps", "-a"]).unwrap().stdout;
        let logs = dockerd.docker(&["logs", "shop_web_1"]).unwrap();
        panic!(
            "web does not answer: {e}\n{ps}\n{}{}",
            logs.stdout, logs.stderr
        );
    }

    // Running up again changes nothing, and says so: same containers,
    // all still running.
    let before = container_ids(dockerd);
    assert_eq!(changes(rt.block_on(engine.up(&stack)).unwrap()), [""; 0]);
    assert_eq!(container_ids(dockerd), before);

    // What was stopped behind its back is what the next up reports.
    dockerd.docker(&["stop", "-t", "1", "shop_idle_1"]).unwrap();
    assert_eq!(
        changes(rt.block_on(engine.up(&stack)).unwrap()),
        ["started shop_idle_1"]
    );

    let mut did = changes(rt.block_on(engine.down(&stack)).unwrap());
    did.sort();
    assert_eq!(did.len(), 6, "{did:?}");
    assert!(
        did[..3].iter().all(|c| c.starts_with("removed ")),
        "{did:?}"
    );
    assert!(
        did[3..].iter().all(|c| c.starts_with("stopped ")),
        "{did:?}"
    );
    assert!(container_ids(dockerd).is_empty());
}

#[test]
fn a_stack_docker_compose_created_is_adopted_and_changes_recreate_only_their_service() {
    require_privileges!(docker);
    let docker = DockerNode::start(false).unwrap();
    let (dockerd, image) = (&docker.dockerd, &docker.image);
    let file = write_stack(docker.lab.dir(), image);
    compose(dockerd, &file, "shop", &["up", "-d"]);
    let created = container_ids(dockerd);
    assert_eq!(created.len(), 3);

    let (rt, engine) = connect(dockerd);
    rt.block_on(engine.up(&project(&file, "shop"))).unwrap();
    assert_eq!(
        container_ids(dockerd),
        created,
        "adopting must not recreate or duplicate"
    );

    // A changed command recreates the idle service only.
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replacen(
        "  idle:\n    image",
        "  idle:\n    environment: [CHANGED=1]\n    image",
        1,
    );
    std::fs::write(&file, changed).unwrap();
    assert_eq!(
        changes(rt.block_on(engine.up(&project(&file, "shop"))).unwrap()),
        ["replaced shop_idle_1", "started shop_idle_1"]
    );
    let after = container_ids(dockerd);
    assert_eq!(after.len(), 3);
    let kept = after.iter().filter(|id| created.contains(id)).count();
    assert_eq!(kept, 2, "only idle is recreated");
    let states = rt.block_on(engine.containers("shop")).unwrap();
    assert!(states.iter().all(|c| c.state == "running"), "{states:?}");

    // An image that is not there: the replacement cannot be created, so
    // the old container is left running (make before break), and the
    // error names the container that was not replaced.
    let working = std::fs::read_to_string(&file).unwrap();
    let absent = working.replacen(
        &format!("  idle:\n    environment: [CHANGED=1]\n    image: {image}"),
        "  idle:\n    environment: [CHANGED=1]\n    image: hareconcile/absent:1",
        1,
    );
    assert_ne!(absent, working);
    std::fs::write(&file, absent).unwrap();
    let failed = rt
        .block_on(engine.up(&project(&file, "shop")))
        .expect_err("an image that is not there cannot be created");
    assert_eq!(failed.container(), Some("shop_idle_1"), "{failed}");
    assert!(failed.to_string().contains("No such image"), "{failed}");
    assert_eq!(
        container_ids(dockerd),
        after,
        "nothing removed or left over"
    );
    let states = rt.block_on(engine.containers("shop")).unwrap();
    assert!(states.iter().all(|c| c.state == "running"), "{states:?}");

    // Back to a configuration that can be created: nothing to replace.
    std::fs::write(&file, working).unwrap();
    rt.block_on(engine.up(&project(&file, "shop"))).unwrap();
    assert_eq!(container_ids(dockerd), after);
}

/// Runs `f` on a thread that joined `host`'s network namespace, where the
/// agent would run: what the engine does to the network it does to the
/// node's, as it would in production.
fn in_netns_of<T: Send>(host: &Host, f: impl FnOnce() -> T + Send) -> T {
    let netns = host.netns_path();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                hareconcile_lab::enter_netns(&netns).unwrap();
                f()
            })
            .join()
            .unwrap()
    })
}

/// Clients that connect while a container starts (every client, on a
/// failover) would leave the node's ARP entry for it unresolved for a
/// second; the engine writes the entry from the container's own addresses
/// as soon as it has started, so no client has to wait for that.
#[test]
fn a_started_container_is_in_the_nodes_neighbour_table_before_anything_talks_to_it() {
    require_privileges!(docker);
    let docker = DockerNode::start(false).unwrap();
    let (node, dockerd) = (docker.node(), &docker.dockerd);
    let stack = project(&write_stack(docker.lab.dir(), &docker.image), "shop");

    in_netns_of(node, || {
        let (rt, engine) = connect(dockerd);
        rt.block_on(engine.up(&stack)).unwrap();
    });

    for service in ["web", "worker", "idle"] {
        let container = format!("shop_{service}_1");
        let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.MacAddress}}{{end}}";
        let inspected = dockerd
            .docker(&["inspect", "-f", format, &container])
            .unwrap()
            .stdout;
        let (ip, mac) = inspected.trim().split_once(' ').unwrap();
        let entry = node.exec(&["ip", "neigh", "show", ip]).unwrap().stdout;
        assert!(
            entry.contains(&format!("lladdr {mac}"))
                && !entry.contains("INCOMPLETE")
                && !entry.contains("FAILED"),
            "{container} ({ip}, {mac}) has no resolved neighbour entry on the node: {entry:?}"
        );
    }
}

/// Docker starts a container that joins another's network namespace only
/// once that one runs; Compose counts `network_mode: service:NAME` as a
/// dependency, and so does the engine. Here `vpn` waits a second for `db`
/// to be healthy: without the dependency `app`, which names no other,
/// would be started at once and refused.
#[test]
fn a_service_in_anothers_network_namespace_starts_once_that_one_runs() {
    require_privileges!(docker);
    let docker = DockerNode::start(false).unwrap();
    let (dockerd, image) = (&docker.dockerd, &docker.image);
    let path = docker.lab.dir().join("compose.yaml");
    std::fs::write(
        &path,
        format!("services:\n  app:\n    image: {image}\n    command: sleep 3600\n    network_mode: \"service:vpn\"\n  vpn:\n    image: {image}\n    command: sleep 3600\n    depends_on: {{db: {{condition: service_healthy}}}}\n  db:\n    image: {image}\n    command: sleep 3600\n    healthcheck: {{test: [CMD, \"true\"], interval: 1s}}\n"),
    )
    .unwrap();
    let stack = project(&path, "tunnel");

    assert_up_reports(
        &connect(dockerd),
        &stack,
        ("started tunnel_vpn_1", "started tunnel_app_1"),
        &[
            "created tunnel_app_1",
            "created tunnel_db_1",
            "created tunnel_vpn_1",
            "started tunnel_app_1",
            "started tunnel_db_1",
            "started tunnel_vpn_1",
        ],
    );
    let running = dockerd.docker(&["ps", "--format", "{{.Names}}"]).unwrap();
    let mut names: Vec<&str> = running.stdout.lines().collect();
    names.sort();
    assert_eq!(names, ["tunnel_app_1", "tunnel_db_1", "tunnel_vpn_1"]);
}
