//! A network mount kept by the agents of two lab nodes: an sshfs share of
//! a third host (the "NAS") is mounted on both with the declared source,
//! its files are seen through it, and when the NAS dies the mount turns
//! not Ready while the agent keeps answering, the Service that requires
//! it stops and another one never starts; when the NAS is back, both run.
//! A master-only mount follows the VirtualIP, and a mount whose FUSE
//! daemon freezes (requests block for good) is detached and mounted anew.
//!
//! Mount drift, reported by `drift --exit-code` from either node (through
//! the peer API) with exit 1, and none with exit 0 once repaired:
//!
//! | drift | produced by | reported as |
//! |---|---|---|
//! | stale | the NAS dies (its veth off the LAN): the probe fails | MountStale on n1 and n2, until the agent detaches it |
//! | missing | the same: the detached mount cannot be mounted again | MountFailed (NotMounted: the mount error) on n1 and n2, until the NAS is back |
//! | other options | `mount -o remount,bind,rw` by hand over the declared `ro`, twice: the agent remounts once per generation, then leaves it | OptionsDiffer on n1 ("ro declared, rw mounted"), until remounted `ro` by hand |

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hareconcile_lab::{busybox_image, require_privileges, Dockerd, Host, Lab, Process};
use hareconcile_model::status::VrrpState;
use serde_json::Value;
use support::lab_data::private_mounts_lab;
use support::lab_manifests::{cluster_manifest, peer_line, peer_token_file, web_vip_manifest};
use support::LabAgent as Agent;

const CONVERGE: Duration = Duration::from_secs(60);
/// The declared probe interval.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

fn start_agent(lab: &Lab, host: &Host, docker: Option<&Dockerd>) -> Agent {
    let mut command = Agent::command(lab, host);
    if let Some(docker) = docker {
        command = command.args(["--docker-host", docker.uri()]);
    }
    let agent = command.start();
    until("the agent to listen", || {
        std::os::unix::net::UnixStream::connect(&agent.socket).is_ok()
    });
    agent
}

/// `hareconcile ARGS` against `agent`, killed if it takes longer than
/// `limit`: `None` then, the exit code and stdout otherwise.
fn hc_within(agent: &Agent, args: &[&str], limit: Duration) -> Option<(i32, String)> {
    let mut child = agent
        .cli()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

fn hc(agent: &Agent, args: &[&str]) -> (i32, String) {
    hc_within(agent, args, CONVERGE).expect("the agent answers")
}

/// Applies on `agent`'s node only: the tests start agents one at a time,
/// some only one.
fn apply(agent: &Agent, manifest: &Path) {
    let (code, out) = hc(
        agent,
        &["apply", "--local", "-f", &manifest.display().to_string()],
    );
    assert_eq!(code, 0, "{out}");
}

fn object(agent: &Agent, kind: &str, name: &str) -> Value {
    let (code, out) = hc(agent, &["get", kind, name, "-o", "json"]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap()
}

fn ready(object: &Value) -> Option<(bool, String)> {
    let conditions = object["status"]["conditions"].as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    Some((
        ready["status"] == "True",
        ready["reason"].as_str().unwrap_or_default().to_string(),
    ))
}

/// `drift -o json --exit-code` from `agent`: the exit code and findings.
fn drift(agent: &Agent) -> (i32, Vec<Value>) {
    let (code, out) = hc(agent, &["drift", "-o", "json", "--exit-code"]);
    let findings = serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    (code, findings)
}

/// Until drift from every one of `agents` exits 1 with, for each of
/// `nodes`, a finding on `object` with one of `reasons`; what was seen.
fn until_drift(agents: &[&Agent], nodes: &[&str], object: &str, reasons: &[&str]) -> Vec<String> {
    let mut seen = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        let start = Instant::now();
        loop {
            let (code, findings) = drift(agent);
            let found: Vec<&Value> = nodes
                .iter()
                .filter_map(|node| {
                    findings.iter().find(|f| {
                        f["node"] == *node
                            && f["object"] == object
                            && reasons.iter().any(|r| f["reason"] == *r)
                    })
                })
                .collect();
            if code == 1 && found.len() == nodes.len() {
                seen.extend(found.iter().map(|f| {
                    format!(
                        "from agent {i}: {} {} {}",
                        f["node"], f["reason"], f["message"]
                    )
                }));
                break;
            }
            assert!(
                start.elapsed() < CONVERGE,
                "drift from agent {i} never reported {object} {reasons:?} on {nodes:?}: exit {code}, {findings:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    seen
}

/// Until drift from every one of `agents` is empty, with exit 0.
fn until_clean(agents: &[&Agent], after: &str) {
    for (i, agent) in agents.iter().enumerate() {
        let start = Instant::now();
        loop {
            let (code, findings) = drift(agent);
            if code == 0 && findings.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < CONVERGE,
                "drift from agent {i} is not clean {after}: exit {code}, {findings:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < CONVERGE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// How many of the compose project's containers `docker ps PS_FLAG` lists
/// (`-q`: running ones, `-aq`: all).
fn containers(docker: &Dockerd, project: &str, ps_flag: &str) -> usize {
    let filter = format!("label=com.docker.compose.project={project}");
    let out = docker
        .docker(&["ps", ps_flag, "--filter", &filter])
        .unwrap();
    out.stdout.lines().count()
}

/// A Cluster of n1 and n2, and Replication `nas` mounting the NAS's
/// `export` at `mount_point`; `placement` is extra spec lines.
fn manifests(lab: &Lab, export: &Path, mount_point: &Path, placement: &str) -> PathBuf {
    let keys = lab.ssh_keys().unwrap();
    let token = peer_token_file(lab, "mount-lab-token\n");
    let path = lab.dir().join("replication.yaml");
    let text = cluster_manifest((110, 100), &peer_line(&token))
        + &web_vip_manifest("")
        + &format!(
            "---
apiVersion: hareconcile.io/v1alpha1
kind: Replication
metadata: {{name: nas}}
spec:
  cluster: lab
  method: mount
{placement}  path: {mount_point}
  probe: {{interval: {interval}ms, timeout: 500ms}}
  mount:
    type: fuse.sshfs
    source: root@10.77.0.3:{export}
    options:
      - ro
      - IdentityFile={identity}
      - UserKnownHostsFile={known_hosts}
      - StrictHostKeyChecking=yes
      - BatchMode=yes
      # A dead server fails fast: the connection attempt, the keepalive
      # (1 s, 2 misses) and no reconnect, so requests error out instead
      # of waiting for a server that is gone.
      - ConnectTimeout=2
      - ServerAliveInterval=1
      - ServerAliveCountMax=2
",
            mount_point = mount_point.display(),
            export = export.display(),
            interval = PROBE_INTERVAL.as_millis(),
            identity = keys.identity_file.display(),
            known_hosts = keys.known_hosts.display(),
        );
    std::fs::write(&path, text).unwrap();
    path
}

/// A Service that runs a busybox container wherever `nas` is Ready.
fn service(lab: &Lab, name: &str, image: &str) -> PathBuf {
    let dir = lab.dir().join(format!("stack-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: {image}\n    command: sleep 3600\n    init: true\n    stop_grace_period: 1s\n"
        ),
    )
    .unwrap();
    let path = dir.join("service.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  cluster: lab\n  mode: active-active\n  compose: {{file: compose.yaml, project: {name}}}\n  requires: [nas]\n"
        ),
    )
    .unwrap();
    path
}

/// A tmpfs with one file, `hello`, served over sftp by `nas`.
fn serve_export(lab: &Lab, nas: &Host) -> (PathBuf, Process) {
    let export = lab.dir().join("export");
    nas.mount_tmpfs(&export).unwrap();
    nas.exec_ok(&[
        "sh",
        "-c",
        &format!("echo from-the-nas > {}/hello", export.display()),
    ])
    .unwrap();
    (export, nas.start_sshd().unwrap())
}

fn lab() -> Lab {
    private_mounts_lab(3)
}

/// The lines of `host`'s mountinfo about `path`, the topmost last.
fn mounts_at(host: &Host, path: &Path) -> Vec<String> {
    let mounts = host
        .exec_ok(&["cat", "/proc/self/mountinfo"])
        .unwrap()
        .stdout;
    let path = format!(" {} ", path.display());
    mounts
        .lines()
        .filter(|l| l.contains(&path))
        .map(str::to_string)
        .collect()
}

/// The per-mount options `host`'s kernel shows for `path`.
fn mount_options(host: &Host, path: &Path) -> String {
    mounts_at(host, path)
        .last()
        .and_then(|l| l.split(' ').nth(5).map(str::to_string))
        .unwrap_or_default()
}

/// Whether `host` has anything mounted at `path`.
fn mounted_on(host: &Host, path: &Path) -> bool {
    !mounts_at(host, path).is_empty()
}

#[test]
fn an_sshfs_share_is_mounted_on_both_nodes_and_a_dead_nas_stops_what_requires_it() {
    require_privileges!();
    let lab = lab();
    let (n1, n2, nas) = (lab.node(1), lab.node(2), lab.node(3));
    let (export, _sshd) = serve_export(&lab, nas);
    // Both nodes run the same objects, so that drift has no skew to report.
    let docker = n1.start_dockerd().unwrap();
    let docker2 = n2.start_dockerd().unwrap();
    let image = busybox_image(docker.uri()).unwrap();
    busybox_image(docker2.uri()).unwrap();

    let mount_point = lab.dir().join("srv-nas");
    let manifest = manifests(&lab, &export, &mount_point, "");
    let a1 = start_agent(&lab, n1, Some(&docker));
    let a2 = start_agent(&lab, n2, Some(&docker2));
    let both = [&a1, &a2];
    for agent in both {
        apply(agent, &manifest);
    }

    // Mounted on both nodes with the declared source, the files visible.
    let source = format!("root@10.77.0.3:{}", export.display());
    for (agent, host) in [(&a1, n1), (&a2, n2)] {
        until(&format!("nas Ready on {}", host.name()), || {
            ready(&object(agent, "replication", "nas")).is_some_and(|(ok, _)| ok)
        });
        let seen = object(agent, "replication", "nas");
        let mount = &seen["status"]["mount"];
        assert_eq!(mount["source"], source.as_str(), "{seen}");
        assert_eq!(mount["type"], "fuse.sshfs", "{seen}");
        assert!(
            mount["options"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == "ro"),
            "{seen}"
        );
        assert_eq!(seen["status"]["lastProbe"]["result"], "ok", "{seen}");
        let hello = host
            .exec_ok(&["cat", &mount_point.join("hello").display().to_string()])
            .unwrap();
        assert_eq!(hello.stdout, "from-the-nas\n");
    }
    assert!(
        !mount_point.join("hello").exists(),
        "the mount belongs to the nodes' namespaces, not the root one"
    );
    let (_, described) = hc(&a1, &["describe", "replication", "nas"]);
    assert!(
        described.contains(&format!("source: \"{source}\"")),
        "{described}"
    );
    let (_, status) = hc(&a1, &["status"]);
    assert!(
        status.contains("MOUNT") && status.contains(&source),
        "{status}"
    );

    // A Service that requires the mount runs while it is Ready.
    let app = service(&lab, "app", &image);
    for agent in both {
        apply(agent, &app);
    }
    until("the app container to run on n1 and n2", || {
        containers(&docker, "app", "-q") == 1 && containers(&docker2, "app", "-q") == 1
    });
    until_clean(&both, "with the mount Ready and app running on both nodes");

    // The NAS dies: its link is cut, so requests to it hang.
    lab.node_loss(nas).unwrap();
    let mut slowest_answer = Duration::ZERO;
    let mut stale_reason = String::new();
    let noticed = until("nas not Ready on n1 after the NAS died", || {
        let asked = Instant::now();
        let answer = hc_within(
            &a1,
            &["get", "replication", "nas", "-o", "json"],
            Duration::from_secs(10),
        );
        slowest_answer = slowest_answer.max(asked.elapsed());
        let (code, out) = answer.expect("the agent answers while the mount hangs");
        assert_eq!(code, 0, "{out}");
        let seen: Value = serde_json::from_str(&out).unwrap();
        match ready(&seen) {
            Some((false, reason)) => {
                stale_reason = reason;
                true
            }
            _ => false,
        }
    });
    eprintln!(
        "not Ready ({stale_reason}) {:.1}s after the NAS died (probe interval {PROBE_INTERVAL:?}); slowest get: {:.2}s",
        noticed.as_secs_f64(),
        slowest_answer.as_secs_f64()
    );
    assert!(
        ["MountStale", "MountFailed", "NotMounted"].contains(&stale_reason.as_str()),
        "{stale_reason}"
    );
    let (_, events) = hc(&a1, &["events"]);
    until("a MountStale event", || {
        hc(&a1, &["events"]).1.contains("MountStale")
    });
    // Stale until detached, then missing (it cannot be mounted again):
    // each node's, from either node.
    let stale = until_drift(
        &both,
        &["n1", "n2"],
        "Replication/nas",
        &["MountStale", "MountFailed", "NotMounted"],
    );
    eprintln!("stale mount drift seen: {stale:#?}");
    let missing = until_drift(
        &both,
        &["n1", "n2"],
        "Replication/nas",
        &["MountFailed", "NotMounted"],
    );
    eprintln!("missing mount drift seen: {missing:#?}");

    // What requires it stops, and a Service added now never starts.
    until("the app container to stop", || {
        containers(&docker, "app", "-q") == 0
    });
    let late = service(&lab, "late", &image);
    for agent in both {
        apply(agent, &late);
    }
    until("late to wait for the mount", || {
        ready(&object(&a1, "service", "late"))
            .is_some_and(|(ok, reason)| !ok && reason == "WaitingForReplication")
    });
    assert_eq!(
        containers(&docker, "late", "-aq"),
        0,
        "late started without its mount"
    );
    // Still waiting after several more probes and remount attempts.
    std::thread::sleep(PROBE_INTERVAL * 3);
    assert_eq!(
        containers(&docker, "late", "-aq"),
        0,
        "late started without its mount"
    );
    assert!(
        !ready(&object(&a1, "replication", "nas")).unwrap().0,
        "Ready while the NAS is gone ({events})"
    );

    // The NAS is back: the mount comes back, and both Services run.
    lab.node_restore(nas).unwrap();
    until("nas Ready again on n1", || {
        ready(&object(&a1, "replication", "nas")).is_some_and(|(ok, _)| ok)
    });
    until("both containers to run", || {
        containers(&docker, "app", "-q") == 1 && containers(&docker, "late", "-q") == 1
    });
    let hello = n1
        .exec_ok(&["cat", &mount_point.join("hello").display().to_string()])
        .unwrap();
    assert_eq!(hello.stdout, "from-the-nas\n");
    until_clean(&both, "after the NAS is back");

    // Other options: remounted read-write by hand over the declared `ro`.
    // The agent puts it back once per generation; done again, it leaves
    // the person's choice and reports it.
    let remount = |option: &str| {
        n1.exec_ok(&[
            "mount",
            "-o",
            &format!("remount,bind,{option}"),
            &mount_point.display().to_string(),
        ])
        .unwrap();
    };
    let shows_ro = || {
        mount_options(n1, &mount_point)
            .split(',')
            .any(|o| o == "ro")
    };
    remount("rw");
    assert!(!shows_ro());
    until("the agent to remount the share ro", || {
        shows_ro() && ready(&object(&a1, "replication", "nas")).is_some_and(|(ok, _)| ok)
    });
    remount("rw");
    let seen = until_drift(&both, &["n1"], "Replication/nas", &["OptionsDiffer"]);
    eprintln!("options drift seen: {seen:#?}");
    assert!(
        seen.iter().all(|s| s.contains("ro declared, rw mounted")),
        "{seen:?}"
    );
    remount("ro");
    until_clean(&both, "after the share is remounted ro by hand");

    // sshfs daemons outlive the agents: unmount so they exit with the lab.
    drop(a1);
    drop(a2);
    for host in [n1, n2] {
        let _ = host.exec(&["umount", "-l", &mount_point.display().to_string()]);
    }
}

#[test]
fn a_master_only_mount_follows_the_virtual_ip() {
    require_privileges!();
    let lab = lab();
    let (n1, n2, nas) = (lab.node(1), lab.node(2), lab.node(3));
    let (export, _sshd) = serve_export(&lab, nas);
    let mount_point = lab.dir().join("srv-nas");
    let manifest = manifests(
        &lab,
        &export,
        &mount_point,
        "  followVirtualIP: web\n  on: master\n",
    );
    let a1 = start_agent(&lab, n1, None);
    let a2 = start_agent(&lab, n2, None);
    for agent in [&a1, &a2] {
        apply(agent, &manifest);
    }
    until("n1 master and nas Ready there", || {
        a1.vip_status("web").state() == Some(VrrpState::Master)
            && ready(&object(&a1, "replication", "nas")).is_some_and(|(ok, _)| ok)
    });
    until("n2 backup and nas not mounted there", || {
        a2.vip_status("web").state() == Some(VrrpState::Backup)
            && ready(&object(&a2, "replication", "nas"))
                .is_some_and(|(ok, reason)| !ok && reason == "NotMaster")
    });
    assert!(mounted_on(n1, &mount_point));
    assert!(!mounted_on(n2, &mount_point));
    // Expected on a backup: neither status nor drift call it a fault.
    let (code, status) = hc(&a2, &["status"]);
    assert!(status.contains("standby (NotMaster)"), "{status}");
    assert_eq!(code, 0, "{status}");
    let (_, drift) = hc(&a2, &["drift", "-o", "json"]);
    assert!(!drift.contains("Replication/nas"), "{drift}");

    // n1's agent stops (its VIP goes with it, its mount stays): n2 becomes
    // master and mounts.
    a1.process.stop(Duration::from_secs(10)).unwrap();
    until("nas Ready on n2 once it is master", || {
        ready(&object(&a2, "replication", "nas")).is_some_and(|(ok, _)| ok)
    });
    let hello = n2
        .exec_ok(&["cat", &mount_point.join("hello").display().to_string()])
        .unwrap();
    assert_eq!(hello.stdout, "from-the-nas\n");

    // n1's agent is back and preempts: n2 unmounts, n1 has the data again.
    let a1 = start_agent(&lab, n1, None);
    until("n2 backup again and nas unmounted there", || {
        ready(&object(&a2, "replication", "nas"))
            .is_some_and(|(ok, reason)| !ok && reason == "NotMaster")
            && !mounted_on(n2, &mount_point)
    });
    until("nas Ready on n1 again", || {
        ready(&object(&a1, "replication", "nas")).is_some_and(|(ok, _)| ok)
    });
    let (_, events) = hc(&a2, &["events"]);
    assert!(events.contains("Unmounted"), "{events}");

    drop(a1);
    drop(a2);
    for host in [n1, n2] {
        let _ = host.exec(&["umount", "-l", &mount_point.display().to_string()]);
    }
}

/// The sshfs daemons serving `mount_point` in `host`'s mount namespace.
fn sshfs_daemons(host: &Host, mount_point: &Path) -> Vec<i32> {
    let namespace = host
        .exec_ok(&["readlink", "/proc/self/ns/mnt"])
        .unwrap()
        .stdout;
    let mount_point = mount_point.display().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let ns = std::fs::read_link(entry.path().join("ns/mnt")).unwrap_or_default();
        if args.first().is_some_and(|a| a.contains("sshfs"))
            && args.contains(&mount_point)
            && ns.to_string_lossy() == namespace.trim()
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_hung_mount_is_detached_and_mounted_again() {
    require_privileges!();
    let lab = lab();
    let (n1, nas) = (lab.node(1), lab.node(3));
    let (export, _sshd) = serve_export(&lab, nas);
    let mount_point = lab.dir().join("srv-nas");
    let manifest = manifests(&lab, &export, &mount_point, "");
    let a1 = start_agent(&lab, n1, None);
    apply(&a1, &manifest);
    until("nas Ready on n1", || {
        ready(&object(&a1, "replication", "nas")).is_some_and(|(ok, _)| ok)
    });

    // The FUSE daemon freezes: every request to the mount now blocks for
    // good, the probe's statfs included, while the NAS itself is fine.
    let frozen = sshfs_daemons(n1, &mount_point);
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    // SAFETY: plain syscalls on the pid this test found.
    unsafe { libc::kill(frozen[0], libc::SIGSTOP) };
    until("a MountStale event saying the probe hangs", || {
        let (code, events) = hc_within(&a1, &["events"], Duration::from_secs(10))
            .expect("the agent answers while the mount hangs");
        code == 0 && events.contains("MountStale") && events.contains("probe hangs")
    });
    // Forced and lazy, the hung mount is replaced by a working one.
    until("nas Ready on n1 on a fresh sshfs", || {
        ready(&object(&a1, "replication", "nas")).is_some_and(|(ok, _)| ok)
            && sshfs_daemons(n1, &mount_point)
                .iter()
                .any(|pid| *pid != frozen[0])
    });
    let hello = n1
        .exec_ok(&["cat", &mount_point.join("hello").display().to_string()])
        .unwrap();
    assert_eq!(hello.stdout, "from-the-nas\n");

    // SAFETY: as above; the frozen daemon's mount is long detached.
    unsafe { libc::kill(frozen[0], libc::SIGKILL) };
    drop(a1);
    let _ = n1.exec(&["umount", "-l", &mount_point.display().to_string()]);
}
