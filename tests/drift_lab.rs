//! `hareconcile drift` in the lab: two nodes with their own dockerd, sshd
//! and filesystem at the replicated path, agents talking over the peer
//! API. Each category of drift is produced for real, in sequence, and
//! `drift --exit-code` from either node reports it with exit 1; once it is
//! repaired (by hand, or by the agent) both report none and exit 0.
//!
//! | category | produced by | proven by |
//! |---|---|---|
//! | stack: unexpected container | `docker run` with the project's labels on the master | drift from n1 and n2 (won't fix), then clean after `docker rm` |
//! | stack: container stopped | app stopped (`docker stop`) while db, which it needs healthy, is unhealthy (its ready file removed) | drift from n1 and n2: ContainerStopped with the failed start and "the agent retries"; clean once db is healthy again |
//! | stack: image missing | app removed (`docker rm -f`) after its image was untagged (`docker rmi -f`), with no registry to pull it from | drift from n1 and n2: ImageMissing with the failed pull and "the agent retries"; clean once the image is tagged again |
//! | stack: image missing, old container kept | the compose file edited to an image that does not exist | drift from n1 and n2: ImageMissing, the old container still running; clean once the file is put back |
//! | stack: outdated config | the compose file edited to a capability Docker does not know | drift from n1 and n2: OutdatedConfig, the old container still running (make before break); clean once the file is put back |
//! | replication lag over maxLag | n2's sshd and its sessions frozen (SIGSTOP) while n1 writes | drift from n1 and n2 (Synced False), then clean after SIGCONT |
//! | sync (by hand over files) and config skew | `apply --force` of a changed Service on n2 | drift from n1 and n2: ManagedElsewhere (n2's, through its peer API) and ConfigSkew; clean once deleted and the files re-apply it |
//! | split brain (VIP on two masters) | VRRP (IP protocol 112) dropped between n1 and n2 on the LAN bridge; the peer API's TCP still flows | drift from n1 and n2: SplitBrain naming n1,n2, both holding the VIP; clean once healed, n1 alone master |
//! | stack: container stopped by hand | `docker stop` on the master, nothing in the way | repaired at once: the container started again |
//! | VIP present on a backup (by hand) | `ip addr add` on n2 | repaired at once: RemovedStrayVip event and the address gone |
//! | VIP missing on the master | `ip addr del` on n1 | repaired at once: RestoredVip event and the address back |
//!
//! The last three are put back within milliseconds of the kernel's or
//! Docker's notification, before any drift report could see them: the
//! agent's event and the repaired state are the proof, and drift is clean
//! right after. Mount drift (stale, missing, other options) is proven
//! from both nodes in `replication_mount.rs`.
//!
//! No timing is asserted: every wait has a generous deadline that only
//! bounds how long a broken build takes to fail.

use hareconcile_test_support as support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hareconcile_lab::{busybox_image, process_tree, require_privileges, Dockerd, Host, Lab};
use serde_json::Value;
use support::lab_data::{DataLab, Filesystem};
use support::lab_manifests::{
    cluster_manifest, document, peer_line, peer_token_file, ssh_manifest, vip, web_vip_manifest,
};
use support::{code_and_text, LabAgent};
/// Elections, docker and ssh take seconds; a loaded 2-core CI box more.
const DEADLINE: Duration = Duration::from_secs(60);
const MAX_LAG: &str = "3s";

struct Rig {
    agents: Vec<LabAgent>,
    dockerd: Vec<Dockerd>,
    vip: String,
    /// The stack's image, as its compose file names it.
    image: String,
    /// The nodes, their own files at `srv/data` and their sshds.
    lab: DataLab,
}

impl Rig {
    fn host(&self, i: usize) -> &Host {
        self.lab.node(i)
    }

    fn logs(&self) -> String {
        self.agents
            .iter()
            .map(|a| {
                format!(
                    "--- {} events\n{}--- {} drift\n{}--- {} log\n{}",
                    a.name,
                    a.events(&[]),
                    a.name,
                    code_and_text(&a.hc(&["drift"])).1,
                    a.name,
                    a.log()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn wait(&self, what: &str, done: impl FnMut() -> bool) {
        let what = format!("timed out waiting until {what}");
        support::eventually(DEADLINE, &what, &|| self.logs(), done);
    }

    /// Both nodes report a finding `matches` accepts, with exit code 1;
    /// returns n1's copy of it.
    fn wait_drift(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Value::Null;
        for agent in &self.agents {
            self.wait(&format!("drift from {} reports {what}", agent.name), || {
                let (code, findings) = agent.drift();
                match findings.iter().find(|f| matches(f)) {
                    Some(found) if code == Some(1) => {
                        seen = found.clone();
                        true
                    }
                    _ => false,
                }
            });
        }
        seen
    }

    /// Both nodes report stack drift `reason` on n1 that the agent
    /// could not repair and retries; returns its message.
    fn wait_retrying(&self, what: &str, reason: &str) -> String {
        let found = self.wait_drift(what, |f| is(f, "n1", "Service/shop", &[reason]));
        eprintln!("stack drift seen: {found}");
        let fix = found["fix"].as_str().unwrap_or_default();
        assert!(fix.starts_with("the agent retries"), "{found}");
        found["message"].as_str().unwrap_or_default().to_string()
    }

    /// Both nodes report no drift, with exit code 0.
    fn wait_clean(&self, after: &str) {
        for agent in &self.agents {
            self.wait(
                &format!("drift from {} is clean {after}", agent.name),
                || agent.drift() == (Some(0), Vec::new()),
            );
        }
    }

    fn has_vip(&self, i: usize) -> bool {
        let out = self
            .host(i)
            .exec_ok(&["ip", "-o", "addr", "show", "dev", "eth0"])
            .unwrap();
        out.stdout.contains(&format!("{}/", self.vip))
    }

    fn docker(&self, i: usize, args: &[&str]) -> String {
        let out = self.dockerd[i - 1].docker(args).unwrap();
        assert!(
            out.success(),
            "docker {args:?}: {}\n{}",
            out.stderr,
            self.logs()
        );
        out.stdout
    }

    /// `docker inspect --format FORMAT CONTAINER` on node `i`, trimmed.
    fn inspect(&self, i: usize, format: &str, container: &str) -> String {
        self.docker(i, &["inspect", "--format", format, container])
            .trim()
            .to_string()
    }

    fn compose_file(&self) -> PathBuf {
        self.lab.dir().join("stack/compose.yaml")
    }

    /// Freezes node `i`'s sshd: the listener and every session it forked.
    /// The agents share one ssh connection per target (ControlMaster), so
    /// a push runs in a session that already exists: stopping only the
    /// listener would freeze nothing a push goes through. Returns what to
    /// thaw.
    fn freeze_sshd(&self, i: usize) -> Vec<u32> {
        let tree = process_tree(self.lab.sshd[i - 1].pid());
        signal_all(&tree, "-STOP");
        tree
    }
}

fn signal_all(pids: &[u32], signal: &str) {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    // A session may end between listing and signalling: not an error.
    let status = Command::new("kill")
        .arg(signal)
        .args(&pids)
        .status()
        .unwrap();
    if !status.success() {
        eprintln!("kill {signal} {pids:?}: some had ended");
    }
}

/// A stack whose app starts only once db is healthy (db is healthy while
/// its /tmp/ready exists), app running `app_image`.
fn compose_file(image: &str, app_image: &str) -> String {
    format!(
        "services:
  db:
    image: {image}
    command: sh -c 'touch /tmp/ready && exec sleep 3600'
    init: true
    stop_grace_period: 1s
    healthcheck: {{test: [CMD, test, -f, /tmp/ready], interval: 1s, retries: 1}}
  app:
    image: {app_image}
    command: sleep 3600
    init: true
    stop_grace_period: 1s
    depends_on: {{db: {{condition: service_healthy}}}}
"
    )
}

fn manifest(lab: &DataLab, image: &str) -> String {
    let token = peer_token_file(lab, "drift-lab-token\n");
    let stack = lab.dir().join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    let compose = support::write_file(&stack, "compose.yaml", &compose_file(image, image));
    let service = format!(
        "cluster: lab, followVirtualIP: web, mode: active-passive, \
         compose: {{file: {}, project: shop}}",
        compose.display()
    );
    let replication = format!(
        "cluster: lab, followVirtualIP: web, path: {data}, maxLag: {MAX_LAG}, method: rsync, \
         rsync: {{continuous: true, interval: 1s, delete: true, ssh: {ssh}}}",
        data = lab.data.display(),
        ssh = ssh_manifest(lab),
    );
    cluster_manifest((110, 100), &peer_line(&token))
        + &web_vip_manifest(", preempt: false")
        + &document("Service", "shop", &service)
        + &document("Replication", "data", &replication)
}

fn start_agent(lab: &Lab, host: &Host, dockerd: &Dockerd, manifest: &str) -> LabAgent {
    LabAgent::command(lab, host)
        .manifest(manifest)
        .args(["--resync", "2s", "--docker-host", dockerd.uri()])
        .start()
}

/// n1 master with its stack running and serving the data, n2 backup.
fn setup() -> Rig {
    let lab = DataLab::two_nodes("srv/data", Filesystem::Tmpfs);
    let dockerd = lab.start_dockerds().unwrap();
    // An empty source is never propagated: n1, the master-to-be, has data.
    lab.write(lab.node(1), "hello", "hello\n");
    // Only the master runs the stack: n2 stays backup (no preemption),
    // but has the image for when it is master too (split brain).
    let image = busybox_image(dockerd[0].uri()).unwrap();
    busybox_image(dockerd[1].uri()).unwrap();
    let manifest = manifest(&lab, &image);
    let mut rig = Rig {
        agents: Vec::new(),
        dockerd,
        vip: vip().to_string(),
        image,
        lab,
    };
    let a1 = start_agent(&rig.lab, rig.host(1), &rig.dockerd[0], &manifest);
    rig.agents.push(a1);
    rig.wait("n1 serves the data and runs the stack", || {
        let a1 = &rig.agents[0];
        // Running, not just Ready: a Service is Ready as a standby too,
        // before the VIP is master here and its stack started.
        a1.condition("replication", "data", "Ready") == Some(("True".into(), "Source".into()))
            && a1.condition("service", "shop", "Ready") == Some(("True".into(), "Running".into()))
    });
    let a2 = start_agent(&rig.lab, rig.host(2), &rig.dockerd[1], &manifest);
    rig.agents.push(a2);
    rig
}

fn is(finding: &Value, node: &str, object: &str, reasons: &[&str]) -> bool {
    finding["node"] == node
        && finding["object"] == object
        && reasons.iter().any(|r| finding["reason"] == *r)
}

#[test]
fn every_drift_category_is_reported_from_either_node_and_clears_after_repair() {
    require_privileges!(docker);
    let rig = setup();
    rig.wait_clean("once both agents run");
    let (n1, n2) = (&rig.agents[0], &rig.agents[1]);

    // Stack: a container with the project's labels that the compose file
    // does not declare. The agent never removes what it does not manage.
    let image = rig.docker(
        1,
        &["inspect", "--format", "{{.Config.Image}}", "shop_app_1"],
    );
    rig.docker(
        1,
        &[
            "run",
            "-d",
            "--name",
            "shop_stray_1",
            "--label",
            "com.docker.compose.project=shop",
            "--label",
            "com.docker.compose.service=stray",
            "--label",
            "com.docker.compose.oneoff=False",
            image.trim(),
            "sleep",
            "3600",
        ],
    );
    let extra = rig.wait_drift("the unexpected container", |f| {
        is(f, "n1", "Service/shop", &["UnexpectedContainer"])
    });
    assert_eq!(extra["category"], "health", "{extra}");
    assert!(
        extra["message"].as_str().unwrap().contains("shop_stray_1"),
        "{extra}"
    );
    assert!(
        extra["fix"].as_str().unwrap().starts_with("won't fix"),
        "{extra}"
    );
    let (code, markdown) = code_and_text(&n2.hc(&["drift", "-o", "markdown", "--exit-code"]));
    assert_eq!(code, Some(1), "{markdown}");
    assert!(
        markdown.contains("| n1 | Service/shop | health | UnexpectedContainer |"),
        "{markdown}"
    );
    rig.docker(1, &["rm", "-f", "shop_stray_1"]);
    rig.wait_clean("after the stray container is removed");

    // Stack: a container stopped by hand is started again at once (no
    // restart policy: only the agent starts it), and the pass that did it
    // records what it put back.
    let started = || {
        rig.docker(
            1,
            &[
                "inspect",
                "--format",
                "{{.State.Running}} {{.State.StartedAt}}",
                "shop_app_1",
            ],
        )
    };
    let before = started();
    rig.docker(1, &["stop", "-t", "1", "shop_app_1"]);
    rig.wait("shop_app_1 to run again", || {
        let now = started();
        now.starts_with("true ") && now != before
    });
    rig.wait("the StackRepaired event on n1", || {
        n1.events(&[]).contains("started shop_app_1")
    });
    assert!(
        n1.events(&[]).contains("StackRepaired"),
        "{}",
        n1.events(&[])
    );
    rig.wait_clean("after the agent restarted the container");

    // Stack, stopped for good: app cannot start while db, which it needs
    // healthy, is not. The agent says why and retries.
    rig.docker(1, &["exec", "shop_db_1", "rm", "/tmp/ready"]);
    rig.wait("db to turn unhealthy", || {
        rig.inspect(1, "{{.State.Health.Status}}", "shop_db_1") == "unhealthy"
    });
    rig.docker(1, &["stop", "-t", "1", "shop_app_1"]);
    let stopped = rig.wait_retrying("app stopped, unable to start", "ContainerStopped");
    assert!(
        stopped.contains("the last attempt failed: shop_app_1 waits for db to be healthy"),
        "{stopped}"
    );
    rig.docker(1, &["exec", "shop_db_1", "touch", "/tmp/ready"]);
    rig.wait_clean("after db is healthy again and app started");
    assert_eq!(rig.inspect(1, "{{.State.Running}}", "shop_app_1"), "true");

    // Stack, image missing: app removed while its image is gone
    // (untagged: the running db keeps the layers) and the lab has no
    // registry to pull it from, so it cannot be created again.
    let image_id = rig.inspect(1, "{{.Id}}", &rig.image);
    rig.docker(1, &["rmi", "-f", &rig.image]);
    rig.docker(1, &["rm", "-f", "shop_app_1"]);
    let missing = rig.wait_retrying("app's image missing, unable to be pulled", "ImageMissing");
    assert!(
        missing.starts_with(&format!(
            "image {} is not on this node and pulling it failed",
            rig.image
        )),
        "{missing}"
    );
    rig.docker(1, &["tag", &image_id, &rig.image]);
    rig.wait_clean("after the image is back and app created again");
    assert_eq!(rig.inspect(1, "{{.State.Running}}", "shop_app_1"), "true");

    // Stack, image missing with the old container kept: the compose file
    // names an image that does not exist. Nothing is replaced before the
    // image is there, so the old container keeps running.
    let running_app = rig.inspect(1, "{{.Id}}", "shop_app_1");
    let keeps_running = |after: &str| {
        assert_eq!(
            rig.inspect(1, "{{.Id}} {{.State.Running}}", "shop_app_1"),
            format!("{running_app} true"),
            "the old container must keep running {after}"
        );
    };
    std::fs::write(
        rig.compose_file(),
        compose_file(&rig.image, "hareconcile/absent:1"),
    )
    .unwrap();
    let absent = rig.wait_retrying("app's new image missing", "ImageMissing");
    assert!(absent.contains("hareconcile/absent:1"), "{absent}");
    keeps_running("while its new image is missing");
    std::fs::write(rig.compose_file(), compose_file(&rig.image, &rig.image)).unwrap();
    rig.wait_clean("after the compose file is put back");

    // Stack, outdated: the compose file asks for a capability Docker
    // does not know. The replacement cannot be created, so the old
    // container keeps running (make before break) and the drift says so.
    let unknown_cap = compose_file(&rig.image, &rig.image).replace(
        "    command: sleep 3600\n",
        "    command: sleep 3600\n    cap_add: [NOT_A_CAPABILITY]\n",
    );
    std::fs::write(rig.compose_file(), unknown_cap).unwrap();
    let outdated = rig.wait_retrying("app outdated, unable to be replaced", "OutdatedConfig");
    assert!(
        outdated.contains("unknown capability")
            && outdated.ends_with("the old container is left as it was"),
        "{outdated}"
    );
    keeps_running("when its replacement cannot be created");
    std::fs::write(rig.compose_file(), compose_file(&rig.image, &rig.image)).unwrap();
    rig.wait_clean("after the compose file is put back");
    assert_eq!(rig.inspect(1, "{{.Id}}", "shop_app_1"), running_app);

    // VRRP: the VIP added by hand on the backup goes; removed by hand on
    // the master it comes back.
    assert!(rig.has_vip(1) && !rig.has_vip(2));
    let vip = format!("{}/24", rig.vip);
    rig.host(2)
        .exec_ok(&["ip", "addr", "add", &vip, "dev", "eth0"])
        .unwrap();
    rig.wait("the RemovedStrayVip event on n2", || {
        n2.events(&[]).contains("RemovedStrayVip")
    });
    rig.wait("the VIP gone from n2", || !rig.has_vip(2));
    rig.host(1)
        .exec_ok(&["ip", "addr", "del", &vip, "dev", "eth0"])
        .unwrap();
    rig.wait("the RestoredVip event on n1", || {
        n1.events(&[]).contains("RestoredVip")
    });
    rig.wait("the VIP back on n1", || rig.has_vip(1));
    rig.wait_clean("after the VIP repairs");

    // Replication: n2's sshd frozen, sessions included, so the push of a
    // new file hangs (until ssh gives up) and the target falls behind
    // past maxLag.
    let frozen = rig.freeze_sshd(2);
    rig.lab.write(rig.host(1), "late", "late\n");
    let lag = rig.wait_drift("the lagging replication", |f| {
        is(f, "n1", "Replication/data", &["Lagging", "SyncFailed"])
    });
    eprintln!(
        "replication drift seen: {} — {}",
        lag["reason"], lag["message"]
    );
    assert_eq!(lag["category"], "health", "{lag}");
    assert!(
        lag["message"].as_str().unwrap().starts_with("Synced: "),
        "{lag}"
    );
    signal_all(&frozen, "-CONT");
    rig.wait("the file to reach n2", || {
        rig.lab
            .read(rig.host(2), "late")
            .is_some_and(|text| text.trim() == "late")
    });
    rig.wait_clean("after the target caught up");

    // Sync and skew: on n2, a Service applied by hand over the files.
    let changed = rig.lab.dir().join("changed-service.yaml");
    let compose = rig.compose_file();
    std::fs::write(
        &changed,
        format!(
            "apiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: shop}}\nspec: {{cluster: lab, followVirtualIP: web, mode: active-passive, health: {{interval: 7s}}, compose: {{file: {}, project: shop}}}}\n",
            compose.display()
        ),
    )
    .unwrap();
    let (code, out) = code_and_text(&n2.hc(&[
        "apply",
        "--local",
        "--force",
        "-f",
        &changed.display().to_string(),
    ]));
    assert_eq!(code, Some(0), "{out}");
    let skew = rig.wait_drift("the config skew", |f| {
        f["object"] == "Service/shop" && f["reason"] == "ConfigSkew"
    });
    assert_eq!(skew["category"], "skew", "{skew}");
    let by_hand = rig.wait_drift("the Service applied by hand over the files", |f| {
        is(f, "n2", "Service/shop", &["ManagedElsewhere"])
    });
    assert_eq!(by_hand["category"], "sync", "{by_hand}");
    let (code, out) = code_and_text(&n2.hc(&["delete", "--local", "service", "shop"]));
    assert_eq!(code, Some(0), "{out}");
    rig.wait_clean("after the files re-applied the Service on n2");

    // Split brain: VRRP cut between the nodes while the peer API still
    // answers, so both are master and hold the VIP.
    rig.lab
        .partition_protocol(&[rig.host(1)], &[rig.host(2)], "vrrp")
        .unwrap();
    let split = rig.wait_drift("the split brain", |f| {
        f["object"] == "VirtualIP/web" && f["reason"] == "SplitBrain"
    });
    eprintln!("split brain seen: {split}");
    assert_eq!(split["node"], "n1,n2", "{split}");
    assert_eq!(split["category"], "health", "{split}");
    assert!(rig.has_vip(1) && rig.has_vip(2), "both hold the VIP");
    rig.lab.heal_partitions().unwrap();
    rig.wait("one master again, n1 (the higher priority)", || {
        rig.has_vip(1) && !rig.has_vip(2)
    });
    rig.wait_clean("after the split brain healed");
}
