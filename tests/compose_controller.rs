//! The Service controller against a real (per-node) dockerd: it runs the
//! stack where the followed VirtualIP is master and takes it down where it
//! is backup (or keeps it warm), restores a stack `docker-compose down`
//! removed by hand, takes a deleted Service's stack down, and starts
//! nothing from a compose file with an unsupported key.
//!
//! Images from a registry: it pulls what a stack needs (each image once),
//! on a standby before any failover (which then works with the registry
//! down), and starts nothing when `pull_policy: never` finds the image
//! absent. A newer image under a tag recreates the containers of the
//! older one, as Compose v2 does: pulled by `always` (running and paused
//! standby alike), or by hand for `missing`, which never pulls it itself.
//! A registry behind basic auth is pulled from with the login `docker
//! login` left in `$DOCKER_CONFIG`. The registry is Debian's `docker-registry` (the CNCF
//! distribution registry) on the lab node's 127.0.0.1:5000, which dockerd
//! trusts without TLS as it trusts every loopback registry.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hareconcile_compose::{events, health, ComposeFiles, ServiceReconciler};
use hareconcile_lab::{
    busybox_image, require_privileges, Dockerd, Lab, NodeCommand, Process, BUSYBOX_IMAGE,
};
use hareconcile_model::load::ReferencedFiles;
use hareconcile_model::status::VrrpState;
use hareconcile_model::{
    Condition, ConditionStatus, Kind, Manager, Object, ObjectKey, ObjectMeta, ServiceStatus,
    Status, VirtualIpStatus, API_VERSION,
};
use hareconcile_runtime::{
    ApplyOptions, ApplyResult, Context, Controller, ControllerHandle, Event, Store,
};
use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinHandle;

const CONVERGE: Duration = Duration::from_secs(30);
/// Where the lab node's registry listens.
const REGISTRY: &str = "127.0.0.1:5000";

fn write_stack(dir: &Path, image: &str, extra: &str) -> PathBuf {
    let path = dir.join("compose.yaml");
    let text = format!(
        "services:\n  web:\n    image: {image}\n    command: httpd -f -p 8080 -h /www\n    ports: [\"8080:8080\"]\n    depends_on: [worker]\n    stop_grace_period: 1s\n{extra}  worker:\n    image: {image}\n    command: sleep 3600\n    stop_grace_period: 1s\n  idle:\n    image: {image}\n    command: sleep 3600\n    stop_grace_period: 1s\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn object(kind: Kind, name: &str, spec: serde_json::Value) -> Object {
    Object {
        api_version: API_VERSION.into(),
        kind,
        metadata: ObjectMeta::named(name),
        spec,
        status: Status::default(),
    }
}

fn key(kind: Kind, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        name: name.into(),
    }
}

/// Names of running containers on the daemon, sorted.
fn running(dockerd: &Dockerd) -> Vec<String> {
    let out = dockerd.docker(&["ps", "--format", "{{.Names}}"]).unwrap();
    let mut names: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    names.sort();
    names
}

/// When each of the stack's containers last started, or why not.
fn started_at(dockerd: &Dockerd) -> Vec<String> {
    SHOP.iter()
        .map(|name| {
            let out = dockerd
                .docker(&["inspect", "--format", "{{.State.StartedAt}}", name])
                .unwrap();
            format!("{}{}", out.stdout, out.stderr)
        })
        .collect()
}

/// Docker's state of each of the stack's containers (`running`, `paused`...).
fn states(dockerd: &Dockerd) -> Vec<String> {
    SHOP.iter()
        .map(|name| {
            let out = dockerd
                .docker(&["inspect", "--format", "{{.State.Status}}", name])
                .unwrap();
            format!("{}{}", out.stdout.trim(), out.stderr.trim())
        })
        .collect()
}

fn all_containers(dockerd: &Dockerd) -> Vec<String> {
    let out = dockerd
        .docker(&["ps", "-a", "--format", "{{.Names}}"])
        .unwrap();
    out.stdout.lines().map(str::to_string).collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    wait_explained(what, &mut done, String::new).await
}

/// As [`wait_for`], saying `explain()` when it times out.
async fn wait_explained(
    what: &str,
    mut done: impl FnMut() -> bool,
    explain: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < CONVERGE,
            "timed out waiting for {what}: {}",
            explain()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

fn ready(store: &Store, name: &str) -> Option<Condition> {
    store
        .get(&key(Kind::Service, name))?
        .status
        .condition("Ready")
        .cloned()
}

const SHOP: [&str; 3] = ["shop_idle_1", "shop_web_1", "shop_worker_1"];

/// One lab node with its dockerd, the stack's compose file, a store and a
/// Service controller, docker events and health changes wired as the
/// agent wires them.
struct Rig {
    store: Store,
    controller: ControllerHandle,
    triggers: Vec<JoinHandle<()>>,
    file: PathBuf,
    // Dropped in this order: the daemon, the files, the lab.
    dockerd: Dockerd,
    _dirs: [TempDir; 2],
    lab: Lab,
}

impl Rig {
    /// `extra` is added to the web service of the stack.
    async fn start(extra: &str) -> Rig {
        let lab = Lab::builder().nodes(1).build().unwrap();
        let dockerd = lab.node(1).start_dockerd().unwrap();
        let image = busybox_image(dockerd.uri()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = write_stack(dir.path(), &image, extra);
        let state = tempfile::tempdir().unwrap();
        let store = Store::open(state.path(), "n1").unwrap();
        let (controller, triggers) = start_controller(&store, &dockerd);
        Rig {
            store,
            controller,
            triggers,
            file,
            dockerd,
            _dirs: [dir, state],
            lab,
        }
    }

    /// Starts the registry on the node's 127.0.0.1:5000, pushes the lab
    /// image to it under each of `tags` and removes every copy from the
    /// node, so only a pull brings it back.
    fn registry_with(&self, tags: &[&str]) -> Process {
        self.registry(tags, None)
    }

    /// [`Rig::registry_with`] behind basic auth for `user`: the registry
    /// and the docker config directory whose `config.json` `docker login`
    /// filled (a plain `auths` entry, there being no credential helper).
    fn registry_behind_login(
        &self,
        tags: &[&str],
        user: &str,
        password: &str,
    ) -> (Process, PathBuf) {
        let dir = self.file.parent().unwrap();
        // The registry takes bcrypt lines only.
        let htpasswd = std::process::Command::new("htpasswd")
            .args(["-nbB", user, password])
            .output()
            .unwrap();
        assert!(htpasswd.status.success(), "htpasswd: {htpasswd:?}");
        let users = dir.join("htpasswd");
        std::fs::write(&users, &htpasswd.stdout).unwrap();
        let login = Login {
            user,
            password,
            users,
            docker_config: dir.join("docker-config"),
        };
        (self.registry(tags, Some(&login)), login.docker_config)
    }

    fn registry(&self, tags: &[&str], login: Option<&Login>) -> Process {
        let dir = self.file.parent().unwrap();
        let config = dir.join("registry.yml");
        let auth = login.map_or(String::new(), |l| {
            format!(
                "auth: {{htpasswd: {{realm: lab, path: {}}}}}\n",
                l.users.display()
            )
        });
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: \"{REGISTRY}\", secret: lab}}\n{auth}",
                dir.join("registry").display()
            ),
        )
        .unwrap();
        let node = self.lab.node(1);
        // The registry and dockerd's pushes to it use the node's loopback.
        node.exec_ok(NodeCommand::new("ip").args(["link", "set", "lo", "up"]))
            .unwrap();
        let registry = node
            .spawn(
                NodeCommand::new("docker-registry")
                    .arg("serve")
                    .arg(&config),
            )
            .unwrap();
        let started = Instant::now();
        // Any HTTP answer will do: behind auth it is a 401.
        let probe = NodeCommand::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://{REGISTRY}/v2/"),
        ]);
        while !node.exec(probe.clone()).unwrap().success() {
            assert!(
                started.elapsed() < CONVERGE,
                "the registry does not answer: {}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The pushes log in with the CLI's config, as an operator would.
        let docker = |args: &[&str]| {
            let mut all = Vec::new();
            if let Some(l) = login {
                all.extend(["--config", l.docker_config.to_str().unwrap()]);
            }
            all.extend(args);
            self.dockerd.docker(&all).unwrap().ok().unwrap();
        };
        if let Some(l) = login {
            docker(&[
                "login",
                "--username",
                l.user,
                "--password",
                l.password,
                REGISTRY,
            ]);
        }
        let mut local = vec![BUSYBOX_IMAGE.to_string()];
        for tag in tags {
            let pushed = format!("{REGISTRY}/busybox:{tag}");
            docker(&["tag", BUSYBOX_IMAGE, &pushed]);
            docker(&["push", &pushed]);
            local.push(pushed);
        }
        let mut rmi = vec!["rmi"];
        rmi.extend(local.iter().map(String::as_str));
        docker(&rmi);
        let left = self.dockerd.docker(&["image", "ls", "-q"]).unwrap().stdout;
        assert_eq!(left.trim(), "", "images left on the node");
        registry
    }

    /// The controller stopped and started afresh on the same store, as
    /// an agent restart does; `meanwhile` runs while none is running.
    async fn restart_controller(&mut self, meanwhile: impl FnOnce(&Rig)) {
        self.stop_controller().await;
        meanwhile(self);
        (self.controller, self.triggers) = start_controller(&self.store, &self.dockerd);
    }

    async fn stop_controller(&self) {
        for trigger in &self.triggers {
            trigger.abort();
        }
        self.controller.shutdown().await;
    }

    async fn stop(self) {
        self.stop_controller().await;
    }
}

/// A user of the registry's basic auth.
struct Login<'a> {
    user: &'a str,
    password: &'a str,
    /// The registry's htpasswd file.
    users: PathBuf,
    /// Where `docker login` writes `config.json` (`docker --config`).
    docker_config: PathBuf,
}

/// A Service controller on `store` and `dockerd`, with docker events and
/// health changes wired as the agent wires them.
fn start_controller(store: &Store, dockerd: &Dockerd) -> (ControllerHandle, Vec<JoinHandle<()>>) {
    let ctx = Context {
        store: store.clone(),
        node: "n1".into(),
    };
    let reconciler = ServiceReconciler::new(dockerd.uri());
    let health_changes = reconciler.health_changes().unwrap();
    let controller = Controller::new(reconciler, ctx)
        .resync_every(Duration::from_secs(30))
        .start();
    let triggers = vec![
        tokio::spawn(events::forward(
            dockerd.uri().to_string(),
            controller.clone(),
        )),
        tokio::spawn(health::forward(health_changes, controller.clone())),
    ];
    (controller, triggers)
}

/// The VirtualIP the Services follow.
fn followed_vip() -> Object {
    object(
        Kind::VirtualIP,
        "web",
        json!({"cluster": "home", "interface": "eth0", "vrid": 51, "addresses": ["10.77.0.100/24"]}),
    )
}

/// What this node's VRRP controller reports; here the test plays its part.
fn report_vip(store: &Store, state: VrrpState, preparing_takeover: bool) {
    store
        .update_status(&key(Kind::VirtualIP, "web"), |s| {
            let mut status = VirtualIpStatus {
                preparing_takeover,
                ..VirtualIpStatus::default()
            };
            status.instance.state = Some(state);
            s.set_details(&status);
        })
        .unwrap();
}

/// What this node's Service controller reports of `name`.
fn service_status(store: &Store, name: &str) -> ServiceStatus {
    let object = store.get(&key(Kind::Service, name)).unwrap();
    object.status.details_as().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_follows_the_master_and_restores_a_stack_removed_by_hand() {
    require_privileges!(docker);
    let rig = Rig::start("").await;
    let (store, dockerd, file) = (&rig.store, &rig.dockerd, &rig.file);

    let vip = followed_vip();
    let service_with = |mode: &str, standby: &str| {
        object(
            Kind::Service,
            "shop",
            json!({"cluster": "home", "followVirtualIP": "web", "mode": mode,
                   "standby": standby, "compose": {"file": file.display().to_string()}}),
        )
    };
    let service = |mode: &str| service_with(mode, "stopped");
    store
        .apply(
            vec![vip, service("active-passive")],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    let set_vip = |state| report_vip(store, state, false);

    set_vip(VrrpState::Backup);
    wait_for("Standby", || {
        ready(store, "shop").is_some_and(|c| c.reason == "Standby")
    })
    .await;
    assert!(all_containers(dockerd).is_empty());

    set_vip(VrrpState::Master);
    let took = wait_for("the stack to run", || running(dockerd) == SHOP).await;
    eprintln!("Backup -> Master: stack running after {took:?}");
    wait_for("Ready=Running", || {
        ready(store, "shop").is_some_and(|c| c.reason == "Running")
    })
    .await;
    assert_eq!(service_status(store, "shop").containers.len(), 3);

    let before = started_at(dockerd);
    // Its exit status is not checked: the controller starts the stopped
    // containers again (or recreates removed ones) while `down` is still
    // at work, which then fails to remove them or the network.
    std::process::Command::new("docker-compose")
        .env("DOCKER_HOST", dockerd.uri())
        .arg("-f")
        .arg(file)
        .args(["-p", "shop", "down"])
        .output()
        .unwrap();
    let took = wait_explained(
        "the stack to be restored",
        || running(dockerd) == SHOP && started_at(dockerd) != before,
        || {
            let ps = dockerd.docker(&["ps", "-a"]).unwrap().stdout;
            format!("{:?}\n{ps}", ready(store, "shop"))
        },
    )
    .await;
    eprintln!("docker-compose down: restored after {took:?}");

    set_vip(VrrpState::Backup);
    wait_for("the stack to go", || all_containers(dockerd).is_empty()).await;

    // Warm: created but stopped on the backup, only started on the master.
    store
        .apply(vec![service("warm")], Manager::Cli, ApplyOptions::default())
        .unwrap();
    wait_for("warm standby", || {
        all_containers(dockerd).len() == 3 && running(dockerd).is_empty()
    })
    .await;
    set_vip(VrrpState::Master);
    let took = wait_for("the warm stack to run", || running(dockerd) == SHOP).await;
    eprintln!("warm Backup -> Master: stack running after {took:?}");

    // Warm with a paused standby: started and frozen on the backup; on
    // the master thawed, not started again.
    set_vip(VrrpState::Backup);
    store
        .apply(
            vec![service_with("warm", "paused")],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    let frozen = vec!["paused".to_string(); SHOP.len()];
    wait_for("paused standby", || states(dockerd) == frozen).await;
    let before = started_at(dockerd);
    set_vip(VrrpState::Master);
    let took = wait_for("the paused stack to run", || {
        states(dockerd) == vec!["running".to_string(); SHOP.len()]
    })
    .await;
    eprintln!("paused Backup -> Master: stack running after {took:?}");
    assert_eq!(started_at(dockerd), before, "thawed, not started again");
    set_vip(VrrpState::Backup);
    wait_for("paused standby again", || states(dockerd) == frozen).await;

    // Deleting the Service takes its stack down, frozen or not.
    store
        .delete(
            &[key(Kind::Service, "shop")],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    wait_for("the deleted Service's stack to go", || {
        all_containers(dockerd).is_empty()
    })
    .await;

    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_runs_again_after_a_docker_daemon_restart() {
    require_privileges!(docker);
    let mut rig = Rig::start("").await;
    let service = object(
        Kind::Service,
        "shop",
        json!({"cluster": "home", "followVirtualIP": "web", "mode": "active-passive",
               "compose": {"file": rig.file.display().to_string()}}),
    );
    rig.store
        .apply(
            vec![followed_vip(), service],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    report_vip(&rig.store, VrrpState::Master, false);
    wait_for("the stack to run", || running(&rig.dockerd) == SHOP).await;
    let before = started_at(&rig.dockerd);

    // Docker stops the containers on SIGTERM and comes back with them
    // stopped (no restart policy): the agent's event stream reconnects and
    // the pass it triggers starts them.
    rig.lab.node(1).restart_dockerd(&mut rig.dockerd).unwrap();
    let took = wait_explained(
        "the stack to run again after the daemon restart",
        || running(&rig.dockerd) == SHOP && started_at(&rig.dockerd) != before,
        || {
            let ps = rig.dockerd.docker(&["ps", "-a"]).unwrap().stdout;
            format!("{:?}\n{ps}", ready(&rig.store, "shop"))
        },
    )
    .await;
    eprintln!("daemon restart: stack running again after {took:?}");
    wait_for("Ready=Running", || {
        ready(&rig.store, "shop").is_some_and(|c| c.reason == "Running")
    })
    .await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_key_is_reported_with_its_position_and_nothing_starts() {
    require_privileges!(docker);
    let rig = Rig::start("    post_start: [{command: [\"true\"]}]\n").await;
    let (store, dockerd, file) = (&rig.store, &rig.dockerd, &rig.file);
    let service = object(
        Kind::Service,
        "shop",
        json!({"cluster": "home", "compose": {"file": file.display().to_string()}}),
    );
    store
        .apply(vec![service], Manager::Cli, ApplyOptions::default())
        .unwrap();
    wait_for("the Ready condition", || ready(store, "shop").is_some()).await;
    let condition = ready(store, "shop").unwrap();
    assert_eq!(condition.reason, "InvalidComposeFile");
    let expected = format!(
        "{}:8:5: unsupported key `post_start` in service `web`",
        file.display()
    );
    assert!(
        condition.message.starts_with(&expected),
        "{}",
        condition.message
    );
    assert!(all_containers(dockerd).is_empty());
    rig.stop().await;
}

/// An edit of the compose file, applied with its new digest as `apply`
/// records it, is the edit taking effect at once: the edited service is
/// recreated, and no StackRepaired event says it was found changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_compose_edit_takes_effect_and_is_not_a_repair() {
    require_privileges!(docker);
    let rig = Rig::start("").await;
    let (store, dockerd, file) = (&rig.store, &rig.dockerd, &rig.file);
    // The Service as `apply` sends it: with the digest of its files.
    let shop = || {
        let mut shop = object(
            Kind::Service,
            "shop",
            json!({"cluster": "home", "mode": "active-active",
                   "compose": {"file": file.display().to_string()}}),
        );
        let checked = ComposeFiles.check(&shop);
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        shop.metadata.annotations.extend(checked.annotations);
        shop
    };
    store
        .apply(vec![shop()], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let running_ready = || ready(store, "shop").is_some_and(|c| c.reason == "Running");
    wait_for("Ready=Running", running_ready).await;

    let text = std::fs::read_to_string(file).unwrap();
    let edited = text.replacen(
        "    stop_grace_period: 1s\n  worker:",
        "    stop_grace_period: 1s\n    environment: {EDITED: \"yes\"}\n  worker:",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(file, edited).unwrap();
    let applied = store
        .apply(vec![shop()], Manager::Cli, ApplyOptions::default())
        .unwrap();
    assert_eq!(applied[0].result, ApplyResult::Configured);
    let env = || {
        dockerd
            .docker(&["inspect", "--format", "{{.Config.Env}}", "shop_web_1"])
            .unwrap()
            .stdout
    };
    wait_explained(
        "web recreated with the edit",
        || env().contains("EDITED=yes"),
        || format!("{:?}", store.events(None)),
    )
    .await;
    wait_for("Ready=Running after the edit", running_ready).await;
    assert!(
        events_of(store, "shop", "StackRepaired").is_empty(),
        "{:?}",
        store.events(None)
    );
    rig.stop().await;
}

fn healthy(store: &Store, name: &str) -> Option<Condition> {
    store
        .get(&key(Kind::Service, name))?
        .status
        .condition("Healthy")
        .cloned()
}

/// Make-before-break: a node whose VRRP controller holds a planned
/// preempt-back (`preparingTakeover`) starts the stack while still backup,
/// and reports Ready only once it runs and is healthy; it keeps running
/// through the takeover; demotion stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_preparing_a_takeover_brings_the_stack_up_before_it_is_master() {
    require_privileges!(docker);
    let rig = Rig::start("").await;
    let (store, dockerd, file) = (&rig.store, &rig.dockerd, &rig.file);
    let vip = followed_vip();
    let service = object(
        Kind::Service,
        "shop",
        json!({"cluster": "home", "followVirtualIP": "web", "mode": "active-passive",
               "compose": {"file": file.display().to_string()},
               "health": {"containers": "all", "interval": "200ms", "rise": 2}}),
    );
    store
        .apply(vec![vip, service], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let set_vip = |state, preparing: bool| report_vip(store, state, preparing);
    let explain = || {
        format!(
            "Ready {:?}\nHealthy {:?}",
            ready(store, "shop"),
            healthy(store, "shop")
        )
    };

    set_vip(VrrpState::Backup, false);
    wait_for("Standby", || {
        ready(store, "shop").is_some_and(|c| c.reason == "Standby")
    })
    .await;
    let standby = healthy(store, "shop").unwrap();
    assert_eq!(
        (standby.status, standby.reason.as_str()),
        (ConditionStatus::Unknown, "NotRunning")
    );
    assert!(all_containers(dockerd).is_empty());

    // Still backup, but preparing the takeover: the stack comes up first.
    set_vip(VrrpState::Backup, true);
    wait_explained(
        "Ready=Running while preparing the takeover",
        || {
            ready(store, "shop").is_some_and(|c| c.reason == "Running")
                && healthy(store, "shop").is_some_and(|c| c.status == ConditionStatus::True)
        },
        explain,
    )
    .await;
    assert_eq!(running(dockerd), SHOP);
    let before = started_at(dockerd);

    // The VRRP controller takes the VIP and clears the flag: nothing
    // restarts (a settle for the reconcile the change triggers, then look).
    set_vip(VrrpState::Master, false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(started_at(dockerd), before);
    assert_eq!(ready(store, "shop").unwrap().reason, "Running");

    // Demoted (the VRRP controller reports Backup once the VIP is gone).
    set_vip(VrrpState::Backup, false);
    wait_explained(
        "the stack to go",
        || all_containers(dockerd).is_empty(),
        explain,
    )
    .await;
    wait_for("Healthy=Unknown once stopped", || {
        healthy(store, "shop").is_some_and(|c| c.reason == "NotRunning")
    })
    .await;

    rig.stop().await;
}

/// A compose file of `services` sleeping on `image`, with `extra` keys
/// for each; returns the path.
fn write_sleepers(dir: &Path, name: &str, image: &str, services: &[&str], extra: &str) -> String {
    let mut text = "services:\n".to_string();
    for service in services {
        text += &format!(
            "  {service}:\n    image: {image}\n    command: sleep 3600\n    stop_grace_period: 1s\n{extra}"
        );
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A Service of the stack in `file`, following VirtualIP `web` if given.
fn service(name: &str, file: &str, follows: Option<&str>) -> Object {
    let mut spec = json!({"cluster": "home", "compose": {"file": file, "project": name}});
    if let Some(vip) = follows {
        spec["followVirtualIP"] = json!(vip);
        spec["mode"] = json!("active-passive");
    }
    object(Kind::Service, name, spec)
}

fn has_image(dockerd: &Dockerd, image: &str) -> bool {
    dockerd
        .docker(&["image", "inspect", "--format", "{{.Id}}", image])
        .unwrap()
        .success()
}

fn events_of(store: &Store, name: &str, reason: &str) -> Vec<Event> {
    store
        .events(Some(&key(Kind::Service, name)))
        .into_iter()
        .filter(|e| e.reason == reason)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_pulled_where_the_stack_may_run_before_it_runs_there() {
    require_privileges!(docker);
    let rig = Rig::start("").await;
    let registry = rig.registry_with(&["lab", "standby"]);
    let (store, dockerd) = (&rig.store, &rig.dockerd);
    let explain = || {
        format!(
            "direct: {:?}\nstandby: {:?}\nevents: {:?}\ncontainers: {:?}",
            ready(store, "direct"),
            ready(store, "standby"),
            store.events(None),
            all_containers(dockerd)
        )
    };

    // Two services on one image: one pull. A second Service follows a VIP
    // this node is backup of: its image is pulled, nothing is created.
    let direct_image = format!("{REGISTRY}/busybox:lab");
    let standby_image = format!("{REGISTRY}/busybox:standby");
    let direct = write_sleepers(
        rig.file.parent().unwrap(),
        "direct",
        &direct_image,
        &["web", "worker"],
        "",
    );
    let standby = write_sleepers(
        rig.file.parent().unwrap(),
        "standby",
        &standby_image,
        &["web"],
        "",
    );
    store
        .apply(vec![followed_vip()], Manager::Cli, ApplyOptions::default())
        .unwrap();
    report_vip(store, VrrpState::Backup, false);
    store
        .apply(
            vec![
                service("direct", &direct, None),
                service("standby", &standby, Some("web")),
            ],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();

    wait_explained(
        "the pulled stack to run",
        || running(dockerd) == ["direct_web_1", "direct_worker_1"],
        explain,
    )
    .await;
    let pulls = events_of(store, "direct", "PullingImage");
    assert_eq!(
        pulls.iter().map(|e| e.count).sum::<u32>(),
        1,
        "one pull for two services: {pulls:?}"
    );
    assert_eq!(pulls[0].message, format!("pulling image {direct_image}"));
    let pulled = events_of(store, "direct", "PulledImage");
    assert!(
        pulled.len() == 1 && pulled[0].message.contains("bytes downloaded"),
        "{pulled:?}"
    );

    wait_explained(
        "the standby's image",
        || has_image(dockerd, &standby_image),
        explain,
    )
    .await;
    wait_explained(
        "the standby's PulledImage event",
        || !events_of(store, "standby", "PulledImage").is_empty(),
        explain,
    )
    .await;
    assert!(
        !all_containers(dockerd)
            .iter()
            .any(|c| c.starts_with("standby")),
        "{}",
        explain()
    );
    assert_eq!(ready(store, "standby").unwrap().reason, "Standby");

    // The registry goes away; the failover does not need it.
    registry.stop(Duration::from_secs(5)).unwrap();
    report_vip(store, VrrpState::Master, false);
    wait_explained(
        "the standby's stack to run after a failover with the registry down",
        || running(dockerd).contains(&"standby_web_1".to_string()),
        explain,
    )
    .await;
    assert!(events_of(store, "standby", "PullFailed").is_empty());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_policy_never_with_the_image_absent_starts_nothing_and_says_why() {
    require_privileges!(docker);
    let rig = Rig::start("").await;
    let (store, dockerd) = (&rig.store, &rig.dockerd);
    let absent = "hareconcile/absent:1";
    let file = write_sleepers(
        rig.file.parent().unwrap(),
        "sealed",
        absent,
        &["web"],
        "    pull_policy: never\n",
    );
    store
        .apply(
            vec![service("sealed", &file, None)],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    wait_explained(
        "Ready=False ErrImageNeverPull",
        || ready(store, "sealed").is_some_and(|c| c.reason == "ErrImageNeverPull"),
        || format!("{:?}", ready(store, "sealed")),
    )
    .await;
    let message = ready(store, "sealed").unwrap().message;
    assert!(
        message.contains(absent) && message.contains("pull_policy never forbids pulling it"),
        "{message}"
    );
    let drift = service_status(store, "sealed").drift;
    assert_eq!(drift[0].reason, "ImageMissing", "{drift:?}");
    assert!(all_containers(dockerd).is_empty());
    assert!(events_of(store, "sealed", "PullingImage").is_empty());
    rig.stop().await;
}

/// The id of the image `reference` names on the node.
fn image_id(dockerd: &Dockerd, reference: &str) -> String {
    let out = dockerd
        .docker(&["image", "inspect", "--format", "{{.Id}}", reference])
        .unwrap()
        .ok()
        .unwrap();
    out.stdout.trim().to_string()
}

/// The id of the image container `name` was created from, and its state.
fn container_image(dockerd: &Dockerd, name: &str) -> (String, String) {
    let out = dockerd
        .docker(&["inspect", "--format", "{{.Image}} {{.State.Status}}", name])
        .unwrap();
    let text = format!("{}{}", out.stdout.trim(), out.stderr.trim());
    let (image, state) = text.split_once(' ').unwrap_or((&text, ""));
    (image.to_string(), state.to_string())
}

/// Pushes a newer image to the registry under each of `tags`, leaving the
/// node's copies of those tags on their older image: only a pull brings
/// the newer one. Its id.
fn push_newer(dockerd: &Dockerd, tags: &[&str]) -> String {
    let docker = |args: &[&str]| dockerd.docker(args).unwrap().ok().unwrap().stdout;
    let newer = format!("{REGISTRY}/busybox:newer");
    let older = format!("{REGISTRY}/busybox:{}", tags[0]);
    docker(&["create", "--name", "newer", &older, "true"]);
    // A label of its own makes another image of the same files.
    docker(&["commit", "--change", "LABEL lab.version=2", "newer", &newer]);
    docker(&["rm", "newer"]);
    let id = image_id(dockerd, &newer);
    for tag in tags {
        let reference = format!("{REGISTRY}/busybox:{tag}");
        let before = image_id(dockerd, &reference);
        docker(&["tag", &newer, &reference]);
        docker(&["push", &reference]);
        docker(&["tag", &before, &reference]);
    }
    docker(&["rmi", &newer]);
    assert!(
        !has_image(dockerd, &id),
        "the newer image is left on the node"
    );
    id
}

/// How many times the agent began pulling `image` for Service `name`.
fn pulls_of(store: &Store, name: &str, image: &str) -> u32 {
    events_of(store, name, "PullingImage")
        .iter()
        .filter(|e| e.message == format!("pulling image {image}"))
        .map(|e| e.count)
        .sum()
}

/// Compose v2's `up` recreates a container whose tag names a newer image
/// than the one it runs: after an `always` pull (here the one an agent
/// start makes) where the stack runs and on a paused standby, and after a
/// `docker pull` by hand for `missing`, which the agent never re-pulls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_image_under_the_tag_recreates_the_containers_that_run_the_older() {
    require_privileges!(docker);
    let mut rig = Rig::start("").await;
    let _registry = rig.registry_with(&["lab", "pinned"]);
    let always = format!("{REGISTRY}/busybox:lab");
    let pinned = format!("{REGISTRY}/busybox:pinned");
    let dir = rig.file.parent().unwrap().to_path_buf();
    let fresh = dir.join("fresh.yaml");
    std::fs::write(
        &fresh,
        format!(
            "services:\n  web:\n    image: {always}\n    pull_policy: always\n    command: sleep 3600\n    stop_grace_period: 1s\n  worker:\n    image: {pinned}\n    command: sleep 3600\n    stop_grace_period: 1s\n"
        ),
    )
    .unwrap();
    let standby_file = write_sleepers(
        &dir,
        "standby",
        &always,
        &["web"],
        "    pull_policy: always\n",
    );
    let mut standby = service("standby", &standby_file, Some("web"));
    standby.spec["mode"] = json!("warm");
    standby.spec["standby"] = json!("paused");
    rig.store
        .apply(vec![followed_vip()], Manager::Cli, ApplyOptions::default())
        .unwrap();
    report_vip(&rig.store, VrrpState::Backup, false);
    rig.store
        .apply(
            vec![
                service("fresh", &fresh.display().to_string(), None),
                standby,
            ],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    let explain = |rig: &Rig| {
        format!(
            "fresh: {:?}\nstandby: {:?}\nevents: {:#?}\n{}",
            ready(&rig.store, "fresh"),
            ready(&rig.store, "standby"),
            rig.store.events(None),
            rig.dockerd.docker(&["ps", "-a"]).unwrap().stdout
        )
    };
    let on = |rig: &Rig, name: &str| container_image(&rig.dockerd, name);
    wait_explained(
        "the stack running and its standby paused",
        || {
            on(&rig, "fresh_web_1").1 == "running"
                && on(&rig, "fresh_worker_1").1 == "running"
                && on(&rig, "standby_web_1").1 == "paused"
        },
        || explain(&rig),
    )
    .await;
    let older = image_id(&rig.dockerd, &always);
    assert_eq!(image_id(&rig.dockerd, &pinned), older);

    // While the agent is down, a newer image reaches the registry under
    // both tags; the agent's start is an `always` pull.
    let mut newer = String::new();
    rig.restart_controller(|rig| newer = push_newer(&rig.dockerd, &["lab", "pinned"]))
        .await;
    wait_explained(
        "the containers of the always image recreated on it",
        || {
            on(&rig, "fresh_web_1") == (newer.clone(), "running".into())
                && on(&rig, "standby_web_1") == (newer.clone(), "paused".into())
        },
        || explain(&rig),
    )
    .await;
    // The pass that recreated web kept worker: `missing` does not pull
    // an image that is here, so its tag still names the older one.
    assert_eq!(
        on(&rig, "fresh_worker_1"),
        (older.clone(), "running".into())
    );
    assert_eq!(
        pulls_of(&rig.store, "fresh", &pinned),
        1,
        "{}",
        explain(&rig)
    );
    assert_eq!(image_id(&rig.dockerd, &pinned), older);
    let short = |id: &str| id.trim_start_matches("sha256:")[..12].to_string();
    for (service, container) in [("fresh", "fresh_web_1"), ("standby", "standby_web_1")] {
        let updated = events_of(&rig.store, service, "ImageUpdated");
        assert_eq!(
            updated.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            [format!(
                "replaced {container} for its newer image: service web: image {always} is now {} (was {})",
                short(&newer),
                short(&older)
            )],
            "{}",
            explain(&rig)
        );
        // An update, not a repair.
        assert!(
            events_of(&rig.store, service, "StackRepaired").is_empty(),
            "{}",
            explain(&rig)
        );
    }

    // The tag moved by hand: the older container is outdated, as Compose sees it.
    rig.dockerd
        .docker(&["pull", &pinned])
        .unwrap()
        .ok()
        .unwrap();
    wait_explained(
        "worker recreated on the image pulled by hand",
        || on(&rig, "fresh_worker_1") == (newer.clone(), "running".into()),
        || explain(&rig),
    )
    .await;
    assert_eq!(pulls_of(&rig.store, "fresh", &pinned), 1);
    wait_explained(
        "the worker's ImageUpdated event",
        || {
            events_of(&rig.store, "fresh", "ImageUpdated")
                .iter()
                .any(|e| {
                    e.message
                        .starts_with("replaced fresh_worker_1 for its newer image: service worker")
                })
        },
        || explain(&rig),
    )
    .await;
    rig.stop().await;
}

/// A registry behind basic auth: the agent pulls with the plain `auths`
/// entry `docker login` wrote to `$DOCKER_CONFIG/config.json`, which the
/// registry demands (an anonymous pull is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_behind_basic_auth_is_pulled_from_with_the_login_docker_wrote() {
    require_privileges!(docker);
    let rig = Rig::start("").await;
    let (_registry, docker_config) = rig.registry_behind_login(&["private"], "lab", "s3cret");
    let image = format!("{REGISTRY}/busybox:private");
    let dir = rig.file.parent().unwrap();
    let anonymous_config = dir.join("no-login");
    std::fs::create_dir(&anonymous_config).unwrap();
    let anonymous = rig
        .dockerd
        .docker(&[
            "--config",
            anonymous_config.to_str().unwrap(),
            "pull",
            &image,
        ])
        .unwrap();
    assert!(
        !anonymous.success() && anonymous.stderr.contains("no basic auth credentials"),
        "{anonymous:?}"
    );

    // The real agent, as a node runs it, with the login in its environment.
    let manifests = dir.join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    write_sleepers(&manifests, "compose", &image, &["web"], "");
    std::fs::write(
        manifests.join("private.yaml"),
        "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  nodes:\n    - {name: n1, address: 10.77.0.1, priority: 110}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {name: private}\nspec:\n  cluster: lab\n  mode: active-active\n  compose: {file: compose.yaml}\n",
    )
    .unwrap();
    let agent = rig
        .lab
        .node(1)
        .spawn(
            NodeCommand::new(env!("CARGO_BIN_EXE_hareconcile"))
                .args(["agent", "--node", "n1", "--docker-host", rig.dockerd.uri()])
                .arg("--state-dir")
                .arg(dir.join("agent-state"))
                .arg("--manifests")
                .arg(&manifests)
                .arg("--socket")
                .arg(dir.join("agent.sock"))
                .env("DOCKER_CONFIG", &docker_config),
        )
        .unwrap();
    wait_explained(
        "the private image pulled and its stack running",
        || running(&rig.dockerd) == ["private_web_1"],
        || agent.log(),
    )
    .await;
    assert!(
        agent.log().contains("authenticated=true"),
        "{}",
        agent.log()
    );
    rig.stop().await;
}
