//! Whole-file loads: every supported field in one stack, and the errors
//! users meet, each with its position.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The error message, with the temporary directory cut off.
fn error(text: &str) -> String {
    let message = load_text(text).unwrap_err().to_string();
    message[message.find("compose.yaml").unwrap()..].to_string()
}

const FULL: &str = r#"
version: "3.8"
name: shop
x-common: &ignored {}
services:
  web:
    image: "busybox:${TAG:-latest}"
    command: httpd -f -p ${PORT} -h /www
    entrypoint: ["/bin/sh", "-c"]
    environment:
      MODE: production
      REPLICAS: 3
      FROM_SHELL:
    env_file: web.env
    ports: ["${PORT}:8080", {target: 9090, published: 9090}]
    volumes: ["./www:/www:ro", "data:/data"]
    networks: {front: {aliases: [www]}, default: null}
    restart: unless-stopped
    healthcheck: {test: "wget -q -O- localhost:8080", interval: 5s, timeout: 2s, retries: 3, start_period: 10s}
    depends_on: {worker: {condition: service_healthy}, idle: {condition: service_started}}
    labels: [tier=front]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    user: "1000:1000"
    working_dir: /www
    hostname: web1
    extra_hosts: ["db:10.0.0.5"]
    dns: 1.1.1.1
    sysctls: {net.core.somaxconn: 1024}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    privileged: false
    init: true
    devices: ["/dev/null:/dev/null2"]
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    logging: {driver: json-file, options: {max-size: 10m}}
    x-note: extension fields are ignored
  worker:
    image: busybox
    command: [sleep, "3600"]
    environment: [A=1, FROM_SHELL]
    healthcheck: {disable: true}
    network_mode: host
  idle:
    image: busybox
    depends_on: [worker]
  debug:
    image: busybox
    profiles: [debug]
networks:
  front: {driver: bridge}
volumes:
  data:
"#;

fn full() -> Project {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "PORT=8080\nTAG=from-dot-env\n");
    write(dir.path(), "web.env", "MODE=dev\nFROM_FILE=1\n");
    let path = write(dir.path(), "compose.yaml", FULL);
    let options = LoadOptions {
        environment: BTreeMap::from([
            ("TAG".into(), "lab".into()),
            ("FROM_SHELL".into(), "s".into()),
        ]),
        ..LoadOptions::default()
    };
    let mut project = load(&path, &options).unwrap();
    // Paths are checked relative to the temporary directory.
    assert_eq!(project.dir, std::path::absolute(dir.path()).unwrap());
    project.dir = PathBuf::from("/p");
    project
}

#[test]
fn decodes_every_supported_field() {
    let project = full();
    assert_eq!(project.name, "shop");
    let web = &project.services["web"];
    assert_eq!(web.image, "busybox:lab");
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["httpd", "-f", "-p", "8080", "-h", "/www"]
    );
    assert_eq!(web.entrypoint.as_deref().unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(web.environment["MODE"], "production");
    assert_eq!(web.environment["REPLICAS"], "3");
    assert_eq!(web.environment["FROM_FILE"], "1");
    assert_eq!(web.environment["FROM_SHELL"], "s");
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.ports[0].published, Some(8080));
    assert_eq!(web.volumes[0].kind, MountKind::Bind);
    assert!(web.volumes[0].read_only);
    assert_eq!(web.volumes[1].source.as_deref(), Some("data"));
    assert_eq!(web.networks["front"], ["www"]);
    assert!(web.networks.contains_key("default"));
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    let check = web.healthcheck.as_ref().unwrap();
    assert_eq!(check.test, ["CMD-SHELL", "wget -q -O- localhost:8080"]);
    assert_eq!(check.interval, Some(Duration::from_secs(5)));
    assert_eq!(check.retries, Some(3));
    assert_eq!(
        web.depends_on["worker"].condition,
        Condition::ServiceHealthy
    );
    assert_eq!(web.depends_on["idle"].condition, Condition::ServiceStarted);
    assert_eq!(web.labels["tier"], "front");
    assert_eq!(web.cap_add, ["NET_ADMIN"]);
    assert_eq!(web.cap_drop, ["ALL"]);
    assert_eq!(web.user.as_deref(), Some("1000:1000"));
    assert_eq!(web.working_dir.as_deref(), Some("/www"));
    assert_eq!(web.hostname.as_deref(), Some("web1"));
    assert_eq!(web.extra_hosts, ["db:10.0.0.5"]);
    assert_eq!(web.dns, ["1.1.1.1"]);
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(
        web.ulimits["nofile"],
        Ulimit {
            soft: 1024,
            hard: 2048
        }
    );
    assert_eq!(
        web.ulimits["nproc"],
        Ulimit {
            soft: 512,
            hard: 512
        }
    );
    assert!(!web.privileged);
    assert!(web.init);
    assert_eq!(web.devices, ["/dev/null:/dev/null2"]);
    assert_eq!(web.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(90)));
    assert_eq!(web.logging.as_ref().unwrap().options["max-size"], "10m");

    let worker = &project.services["worker"];
    assert_eq!(worker.command.as_deref().unwrap(), ["sleep", "3600"]);
    assert_eq!(worker.environment["FROM_SHELL"], "s");
    assert_eq!(worker.healthcheck.as_ref().unwrap().test, ["NONE"]);
    assert!(worker.networks.is_empty());
    assert_eq!(worker.network_mode.as_deref(), Some("host"));
    assert_eq!(project.networks["front"].driver.as_deref(), Some("bridge"));
    assert!(project.volumes.contains_key("data"));
}

#[test]
fn starts_dependencies_first_and_honours_profiles() {
    let project = full();
    assert!(!project.services.contains_key("debug"));
    assert_eq!(project.start_order, ["worker", "idle", "web"]);

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "web.env", "");
    let path = write(dir.path(), "compose.yaml", FULL);
    let options = LoadOptions {
        profiles: vec!["debug".into()],
        environment: BTreeMap::from([("PORT".into(), "1".into())]),
        ..LoadOptions::default()
    };
    assert!(load(&path, &options)
        .unwrap()
        .services
        .contains_key("debug"));
}

#[test]
fn a_service_joining_anothers_network_namespace_starts_after_it() {
    // `app` sorts first by name and declares no depends_on: Docker would
    // refuse to start it before `vpn` runs.
    let project = load_text(
        "services:\n  app: {image: x, network_mode: \"service:vpn\"}\n  vpn: {image: x}\n",
    )
    .unwrap();
    assert_eq!(project.start_order, ["vpn", "app"]);
    assert_eq!(
        project.services["app"].dependencies().collect::<Vec<_>>(),
        ["vpn"]
    );
    // Named in depends_on too: counted once, with its condition.
    let project = load_text(
        "services:\n  app: {image: x, network_mode: \"service:vpn\", depends_on: {vpn: {condition: service_healthy}}}\n  vpn: {image: x}\n",
    )
    .unwrap();
    assert_eq!(
        project.services["app"].dependencies().collect::<Vec<_>>(),
        ["vpn"]
    );
    let message = error("services:\n  app:\n    image: x\n    network_mode: \"service:vpn\"\n");
    assert!(
        message.starts_with(
            "compose.yaml:4:19: service `app` joins the network namespace (network_mode) of `vpn`, which is not a service of this file"
        ),
        "{message}"
    );
    let message = error(
        "services:\n  a: {image: x, network_mode: \"service:b\"}\n  b: {image: x, network_mode: \"service:a\"}\n",
    );
    assert!(
        message.starts_with("compose.yaml:2:3: dependency cycle: a -> b -> a"),
        "{message}"
    );
}

#[test]
fn project_name_comes_from_option_file_or_directory() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("My Stack.v2");
    std::fs::create_dir(&stack).unwrap();
    let path = write(
        &stack,
        "docker-compose.yml",
        "services: {a: {image: busybox}}\n",
    );
    assert_eq!(
        load(&path, &LoadOptions::default()).unwrap().name,
        "mystackv2"
    );
    let options = LoadOptions {
        project_name: Some("web".into()),
        ..LoadOptions::default()
    };
    assert_eq!(load(&path, &options).unwrap().name, "web");
}

#[test]
fn unsupported_keys_are_errors_with_their_position() {
    assert_eq!(
        error("services:\n  web:\n    image: busybox\n    post_start: []\n")
            .split_once(": ")
            .unwrap()
            .0,
        "compose.yaml:4:5"
    );
    let message = error("services:\n  web:\n    image: busybox\n    use_api_socket: true\n");
    assert!(
        message.contains("unsupported key `use_api_socket` in service `web`"),
        "{message}"
    );
    let message = error("services: {web: {image: busybox}}\nmodels: {}\n");
    assert!(
        message.starts_with("compose.yaml:2:1: unsupported key `models`"),
        "{message}"
    );
    let message = error("services:\n  web:\n    image: busybox\n    healthcheck: {test: [CMD, true], intervall: 1s}\n");
    assert!(
        message.starts_with("compose.yaml:4:38: unsupported key `intervall`"),
        "{message}"
    );
}

#[test]
fn dependency_errors_point_at_the_dependency() {
    let message = error("services:\n  web:\n    image: busybox\n    depends_on: [db]\n");
    assert!(
        message.starts_with(
            "compose.yaml:4:18: service `web` depends on `db`, which is not a service"
        ),
        "{message}"
    );
    let message = error(
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: {c: {condition: service_healthy}}}\n  c: {image: x, depends_on: [a]}\n",
    );
    assert!(
        message.starts_with("compose.yaml:2:3: dependency cycle: a -> b -> c -> a"),
        "{message}"
    );
    let message = error("services:\n  a: {image: x, depends_on: {b: {condition: service_ready}}}\n  b: {image: x}\n");
    assert!(message.contains("condition must be"), "{message}");
}

/// Every case of `refusals.yaml` fails to load, and says so where it is
/// written. Loaded with `DB_PASSWORD` set, so a case fails only for what
/// it shows.
#[test]
fn every_refusal_says_why_where_it_is_written() {
    let cases = node::parse(include_str!("refusals.yaml")).unwrap();
    let cases = decode::items(&cases, "refusals").unwrap();
    assert!(cases.len() >= 26, "cases went missing");
    let options = LoadOptions {
        environment: BTreeMap::from([("DB_PASSWORD".into(), "s3cret".into())]),
        ..LoadOptions::default()
    };
    for case in cases {
        let mut f = decode::Fields::of(case, "a case").unwrap();
        let text = f.take_with("compose", decode::string).unwrap().unwrap();
        let expected = f.take_with("error", decode::string).unwrap().unwrap();
        f.finish().unwrap();
        let message = load_text_with(&text, &options).unwrap_err().to_string();
        let message = &message[message.find("compose.yaml").unwrap()..];
        assert!(message.starts_with(&expected), "{text}\n{message}");
    }
}

#[test]
fn syntax_errors_and_missing_files_are_reported() {
    assert!(error("services: [\n").contains("YAML syntax error"));
    let err = load(
        Path::new("/nonexistent/compose.yaml"),
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/compose.yaml: cannot read"),
        "{err}"
    );
}

#[test]
fn an_env_file_option_replaces_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "TAG=dot-env\n");
    let other = write(dir.path(), "prod.env", "TAG=prod\n");
    let path = write(
        dir.path(),
        "compose.yaml",
        "services: {web: {image: \"bb:${TAG}\"}}\n",
    );
    let options = LoadOptions {
        env_file: Some(other),
        ..LoadOptions::default()
    };
    assert_eq!(
        load(&path, &options).unwrap().services["web"].image,
        "bb:prod"
    );
    assert_eq!(
        load(&path, &LoadOptions::default()).unwrap().services["web"].image,
        "bb:dot-env"
    );
}

/// The repository's example stack (manifests/stacks/web) is one the
/// controller can run, `init: true` included.
#[test]
fn the_example_stack_loads() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/stacks/web/compose.yaml");
    let project = load(&example, &LoadOptions::default()).expect("the example compose file loads");
    let names: Vec<&str> = project.services.keys().map(String::as_str).collect();
    assert!(
        names.contains(&"web") && names.contains(&"worker"),
        "{names:?}"
    );
    assert!(project.services.values().all(|s| s.init));
}

/// What it refuses (builds, schedules) is in `refusals.yaml`.
#[test]
fn pull_policy_decodes_compose_values() {
    let policy = |value: &str| {
        load_text(&format!(
            "services:\n  web:\n    image: busybox\n    pull_policy: {value}\n"
        ))
        .map(|p| p.services["web"].pull_policy)
    };
    assert_eq!(
        load_text("services: {web: {image: busybox}}\n")
            .unwrap()
            .services["web"]
            .pull_policy,
        PullPolicy::Missing
    );
    assert_eq!(policy("missing").unwrap(), PullPolicy::Missing);
    assert_eq!(policy("if_not_present").unwrap(), PullPolicy::Missing);
    assert_eq!(policy("always").unwrap(), PullPolicy::Always);
    assert_eq!(policy("never").unwrap(), PullPolicy::Never);
}

#[test]
fn a_malformed_image_reference_is_refused_where_written() {
    let message = error("services:\n  web:\n    image: Busybox:1\n");
    assert!(
        message.starts_with("compose.yaml:3:12: invalid image reference \"Busybox:1\""),
        "{message}"
    );
}
