//! A Replication's hooks on a real (namespace) LAN: n1 pushes to n2 over
//! ssh, each node with its own filesystem at the path and its own dockerd
//! running the Service `app` (active-active, so a container runs on both).
//!
//! - `beforeSync` runs on n1 before each pass with the pass's environment;
//!   while it fails, nothing is shipped (n2 keeps its copy), the failure is
//!   a `HookFailed` event and the `Hooks` condition, and the next pass
//!   after it succeeds ships the change.
//! - `afterSync` runs on n2 once a copy is complete there, in order: a
//!   host command, then an `exec` hook in the `app` container (Docker),
//!   both appending to one log (the container sees it through a bind
//!   mount), each with the environment the hooks document; and only for a
//!   pass that changed n2's copy, never for the passes in between that
//!   found it in step.
//!
//! No timing is asserted: every wait has a generous deadline that only
//! bounds how long a broken build takes to fail.

use hareconcile_test_support as support;

use std::path::PathBuf;
use std::time::Duration;

use hareconcile_lab::{busybox_image, require_privileges, Dockerd, Host};
use support::lab_data::{DataLab, Filesystem};
use support::lab_manifests::{cluster_manifest, ssh_manifest};
use support::LabAgent as Agent;

/// Docker, ssh and passes take seconds; a loaded 2-core CI box more.
const DEADLINE: Duration = Duration::from_secs(90);

/// Appends one line saying which hook ran, where, and for what.
const LOG_LINE: &str = r#"echo "$0 $HARECONCILE_HOOK node=$HARECONCILE_NODE source=$HARECONCILE_SOURCE targets=$HARECONCILE_TARGETS term=$HARECONCILE_TERM replication=$HARECONCILE_REPLICATION path=$HARECONCILE_PATH data=$(cat $HARECONCILE_PATH/list 2>/dev/null)" >> $1"#;

struct Rig {
    dockerd: Vec<Dockerd>,
    /// The nodes, their own files at `srv/conf` and their sshds.
    lab: DataLab,
    /// Bind-mounted into the containers at /hooks: the hooks' logs.
    hooks: PathBuf,
    /// While this file exists on n1, its beforeSync hook fails.
    gate: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let lab = DataLab::two_nodes("srv/conf", Filesystem::Tmpfs);
        let hooks = lab.dir().join("hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        Rig {
            dockerd: lab.start_dockerds().unwrap(),
            gate: lab.dir().join("quiesce-fails"),
            hooks,
            lab,
        }
    }

    fn manifest(&self, image: &str) -> String {
        let stack = self.lab.dir().join("stack");
        std::fs::create_dir_all(&stack).unwrap();
        let compose = stack.join("compose.yaml");
        std::fs::write(
            &compose,
            format!(
                "services:\n  app:\n    image: {image}\n    init: true\n    command: sleep 3600\n    \
                 stop_grace_period: 1s\n    volumes: [\"{}:/hooks\"]\n",
                self.hooks.display()
            ),
        )
        .unwrap();
        let log = |node_log: &str| format!("{}/{node_log}", self.hooks.display());
        let quiesce = format!("{LOG_LINE}; test ! -e {gate}", gate = self.gate.display());
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        format!(
            "{cluster}---\n\
             apiVersion: hareconcile.io/v1alpha1\n\
             kind: Service\n\
             metadata: {{name: app}}\n\
             spec: {{cluster: lab, mode: active-active, compose: {{file: {compose}, project: app}}}}\n\
             ---\n\
             apiVersion: hareconcile.io/v1alpha1\n\
             kind: Replication\n\
             metadata: {{name: conf}}\n\
             spec:\n  \
               cluster: lab\n  \
               source: {{node: n1}}\n  \
               method: rsync\n  \
               path: {data}\n  \
               rsync: {{continuous: true, interval: 1s, ssh: {ssh}}}\n  \
               hooks:\n    \
                 beforeSync:\n      \
                   - command: [sh, -c, {quiesce}, quiesce, {before_log}]\n    \
                 afterSync:\n      \
                   - command: [sh, -c, {line}, reload-host, {after_log}]\n      \
                   - exec: {{service: app, container: app, command: [sh, -c, {line}, reload-in-app, /hooks/after.log]}}\n        \
                     timeout: 20s\n",
            cluster = cluster_manifest((110, 100), ""),
            compose = compose.display(),
            data = self.lab.data.display(),
            ssh = ssh_manifest(&self.lab),
            quiesce = quote(&quiesce),
            line = quote(LOG_LINE),
            before_log = log("before.log"),
            after_log = log("after.log"),
        )
    }

    fn start(&self, host: &Host, dockerd: &Dockerd, manifest: &str) -> Agent {
        Agent::command(&self.lab, host)
            .manifest(manifest)
            .args(["--docker-host", dockerd.uri()])
            .env("HARECONCILE_LOG", "info,hareconcile_sync=debug")
            .start()
    }

    fn write_list(&self, content: &str) {
        self.lab.write(self.lab.node(1), "list", content);
    }

    fn list_on(&self, host: &Host) -> Option<String> {
        self.lab.read(host, "list")
    }

    fn log(&self, name: &str) -> Vec<String> {
        support::read_lines(&self.hooks.join(name))
    }

    /// The record of the last complete push n2's copy received.
    fn synced_on_n2(&self) -> Option<String> {
        self.lab.read(self.lab.node(2), ".hareconcile/synced")
    }
}

fn wait_until(what: &str, logs: &dyn Fn() -> String, done: impl FnMut() -> bool) {
    let what = format!("timed out waiting until {what}");
    support::eventually(DEADLINE, &what, logs, done);
}

#[test]
fn hooks_run_in_order_with_their_environment_and_a_failing_before_sync_ships_nothing() {
    require_privileges!(docker);
    let rig = Rig::new();
    let (n1, n2) = (rig.lab.node(1), rig.lab.node(2));
    let image = busybox_image(rig.dockerd[0].uri()).unwrap();
    busybox_image(rig.dockerd[1].uri()).unwrap();
    let manifest = rig.manifest(&image);
    rig.write_list("v0");
    let a1 = rig.start(n1, &rig.dockerd[0], &manifest);
    let a2 = rig.start(n2, &rig.dockerd[1], &manifest);
    let logs = || {
        format!(
            "--- before.log\n{}\n--- after.log\n{}\n--- n1 events\n{}--- n2 events\n{}--- n1 log\n{}\n--- n2 log\n{}",
            rig.log("before.log").join("\n"),
            rig.log("after.log").join("\n"),
            a1.events(&[]),
            a2.events(&[]),
            a1.log(),
            a2.log()
        )
    };

    // Until app runs on n2 its exec hook is skipped (nothing there to
    // reload); from then on each copy runs both afterSync hooks there.
    wait_until("app runs on n2", &logs, || {
        a2.condition("service", "app", "Ready") == Some(("True".into(), "Running".into()))
    });
    rig.write_list("v1");
    let path = rig.lab.data.display();
    let host_line = |term: &str, data: &str| {
        format!("reload-host afterSync node=n2 source=n1 targets=n2 term={term} replication=conf path={path} data={data}")
    };
    // A copy with v1: beforeSync on n1, then on n2 the host hook and the
    // one in the container, in that order, once the copy is in place.
    let pair_after = |data: &str| {
        let after = rig.log("after.log");
        after
            .iter()
            .position(|l| l.starts_with("reload-host ") && l.ends_with(&format!("data={data}")))
            .filter(|i| i + 1 < after.len())
            .map(|i| (after[i].clone(), after[i + 1].clone()))
    };
    wait_until("both afterSync hooks ran on n2 for v1", &logs, || {
        pair_after("v1").is_some()
    });
    assert_eq!(rig.list_on(n2).as_deref(), Some("v1"));
    let term = n1
        .exec_ok(&[
            "cat",
            &format!("{}/.hareconcile/term", rig.lab.data.display()),
        ])
        .unwrap()
        .stdout;
    let term = term.trim();
    assert!(term.ends_with(" n1"), "n1's term: {term:?}");
    let before = format!(
        "quiesce beforeSync node=n1 source=n1 targets=n2 term={term} replication=conf path={path} data=v1"
    );
    assert!(rig.log("before.log").contains(&before), "{}", logs());
    assert_eq!(
        pair_after("v1").unwrap(),
        (
            host_line(term, "v1"),
            // In the container the replicated path is not mounted: the
            // environment is the same, the data is the node's business.
            format!("reload-in-app afterSync node=n2 source=n1 targets=n2 term={term} replication=conf path={path} data="),
        ),
        "{}",
        logs()
    );
    assert!(
        !a2.events(&["replication", "conf"]).contains("HookFailed"),
        "{}",
        logs()
    );
    // Passes go on every second with nothing new: two of them complete on
    // n2 (its `synced` record moves) before anything changes again.
    for _ in 0..2 {
        let last = rig.synced_on_n2();
        wait_until("a pass with nothing new completes on n2", &logs, || {
            rig.synced_on_n2() != last
        });
    }

    // beforeSync fails: the change stays on n1, n2 keeps its copy and runs
    // no hook, until the hook passes again.
    std::fs::write(&rig.gate, "").unwrap();
    let attempts = rig.log("before.log").len();
    rig.write_list("v2");
    wait_until("the failure is reported on n1", &logs, || {
        a1.condition("replication", "conf", "Hooks")
            .is_some_and(|(s, r)| s == "False" && r == "HookFailed")
    });
    let events = a1.events(&["replication", "conf"]);
    assert!(
        events.contains("beforeSync[0] (sh -c") && events.contains("sync skipped, nothing shipped"),
        "{events}"
    );
    // Two failed attempts after the change: the pass was skipped for good,
    // not just late.
    wait_until("n1 tried twice with the change", &logs, || {
        rig.log("before.log")[attempts..]
            .iter()
            .filter(|l| l.ends_with("data=v2"))
            .count()
            >= 2
    });
    assert_eq!(rig.list_on(n2).as_deref(), Some("v1"), "{}", logs());
    std::fs::remove_file(&rig.gate).unwrap();
    wait_until("v2 reaches n2 once beforeSync passes", &logs, || {
        rig.list_on(n2).as_deref() == Some("v2")
    });
    wait_until("the Hooks condition clears on n1", &logs, || {
        a1.condition("replication", "conf", "Hooks")
            .is_some_and(|(s, _)| s == "True")
    });
    wait_until("n2's hooks ran for the new copy", &logs, || {
        pair_after("v2").is_some()
    });
    let (host, in_app) = pair_after("v2").unwrap();
    assert_eq!(host, host_line(term, "v2"));
    // The passes between v1 and v2 changed nothing on n2: no hook ran.
    let after = rig.log("after.log");
    let first = |data: &str| {
        after
            .iter()
            .position(|l| l.starts_with("reload-host ") && l.ends_with(&format!("data={data}")))
            .unwrap()
    };
    assert_eq!(
        first("v2"),
        first("v1") + 2,
        "afterSync ran for passes that changed nothing:\n{}",
        after.join("\n")
    );
    assert!(
        in_app.starts_with("reload-in-app afterSync node=n2"),
        "{}",
        logs()
    );
}
