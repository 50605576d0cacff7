//! The three-node quorum lab of `docs/quorum.md`: nodes n1 and n2 and a
//! witness (the lab's n3), an etcd member on each of the three forming one
//! real cluster over the lab LAN, and on n1 and n2 an agent, a dockerd, an
//! sshd and a tmpfs of their own at the replicated path. The Cluster
//! declares the quorum (or not: [`QuorumLab::without_quorum`]), VirtualIP
//! `web` floats the VIP, Replication `data` copies the path from the
//! VIP's master, and Service `store` (`requires: [data]`, so exclusive, and
//! the VIP fenced) serves it: a busybox httpd whose CGI writes records.
//!
//! A [`Writer`] in the client's namespace writes records 1, 2, 3... through
//! the VIP. The server acknowledges record N once the record is in its
//! copy (fsynced) and a replication pass that started after the write has
//! ended: a `beforeSync` hook counts passes; the server waits for one
//! pass to start, writes a second change and waits for the next pass to
//! start. So while the standby answers, an acknowledged record is on both
//! copies; on the side of a partition that goes on serving it is durable
//! on the master, the copy every other node must catch up from.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hareconcile_lab::{busybox_image, Dockerd, Host, Lab, NodeCommand, Process};

use crate::lab_manifests::{cluster_manifest, document, ssh_manifest, vip, web_vip_manifest};
use crate::LabAgent;

/// Each node's lease. A node renews every sixth of it and fences at its
/// half, so an etcd election after the leader's loss (500 ms election
/// timeout, randomized up to twice that) must fit in the third left
/// between the last renewal and the fence time (1.3 s), or losing the
/// witness alone would fence the master.
pub const LEASE_TTL: Duration = Duration::from_secs(4);

/// The lab node that is the witness: it runs an etcd member only.
pub const WITNESS: usize = 3;

/// How long a move, a fencing or a catch-up may take on a loaded machine
/// before the test fails (it takes seconds).
pub const SETTLE: Duration = Duration::from_secs(90);

const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;
const SERVER_PORT: u16 = 8080;

/// The lab, running. Fields drop in order: agents before the engines and
/// daemons they use, everything before the lab.
pub struct QuorumLab {
    /// n1's and n2's agents.
    pub agents: Vec<LabAgent>,
    /// n1's and n2's Docker daemons.
    pub dockerds: Vec<Dockerd>,
    /// The etcd members of n1, n2 and the witness (none without quorum).
    pub etcd: Vec<Process>,
    pub sshd: Vec<Process>,
    pub lab: Lab,
    /// The replicated path, the same on n1 and n2.
    pub data: PathBuf,
}

impl QuorumLab {
    /// The lab with the quorum declared; returns once n1 is master with
    /// the store serving and n2 its standby holding a copy.
    pub fn start() -> QuorumLab {
        QuorumLab::build(true)
    }

    /// The same lab with no `spec.quorum` and no etcd: the two-node
    /// behaviour `docs/quorum.md` documents.
    pub fn without_quorum() -> QuorumLab {
        QuorumLab::build(false)
    }

    fn build(quorum: bool) -> QuorumLab {
        let lab = Lab::builder()
            .nodes(3)
            .client(true)
            .private_mounts(true)
            .build()
            .unwrap();
        let data = lab.dir().join("srv/data");
        let etcd = if quorum {
            lab.nodes()
                .iter()
                .map(|host| start_etcd(&lab, host))
                .collect()
        } else {
            Vec::new()
        };
        let mut started = QuorumLab {
            agents: Vec::new(),
            dockerds: Vec::new(),
            etcd,
            sshd: Vec::new(),
            lab,
            data,
        };
        started.start_node(1, quorum);
        // n2 starts once n1 serves, so n1 takes the writer lock first.
        started.await_serving(1, "n1 never became master with the store");
        started.start_node(2, quorum);
        let seed = started.data.join("seed");
        started
            .lab
            .node(1)
            .exec_ok(&["touch", path(&seed)])
            .unwrap();
        crate::eventually(
            SETTLE,
            "n1's copy never reached n2",
            &|| started.logs(),
            || started.has(2, "seed"),
        );
        started
    }

    /// Node `i`'s tmpfs, sshd, dockerd and agent.
    fn start_node(&mut self, i: usize, quorum: bool) {
        let (lab, data) = (&self.lab, &self.data);
        let host = lab.node(i);
        host.mount_tmpfs(data).unwrap();
        self.sshd.push(host.start_sshd().unwrap());
        let dockerd = host.start_dockerd().unwrap();
        let stack = write_stack(lab, host, &busybox_image(dockerd.uri()).unwrap(), data);
        self.agents.push(
            LabAgent::command(lab, host)
                .manifest(&manifest(lab, data, &stack, quorum, ""))
                .args(["--resync", "2s", "--docker-host", dockerd.uri()])
                .env("HARECONCILE_LOG", "info")
                .start(),
        );
        self.dockerds.push(dockerd);
    }

    /// Rewrites both agents' manifests with `vip_more` added to VirtualIP
    /// `web`'s spec (`, control: {switchoverTo: n1}`; "" for none), as an
    /// operator declaring it in both nodes' files would.
    pub fn declare_vip(&self, vip_more: &str) {
        let quorum = !self.etcd.is_empty();
        for i in [1, 2] {
            let host = self.node(i);
            let stack = self.lab.dir().join(format!("store-{}.yaml", host.name()));
            let text = manifest(&self.lab, &self.data, &stack, quorum, vip_more);
            LabAgent::write_manifest(&self.lab, host, &text);
        }
    }

    pub fn node(&self, i: usize) -> &Host {
        self.lab.node(i)
    }

    pub fn witness(&self) -> &Host {
        self.lab.node(WITNESS)
    }

    /// Node `i`'s agent (1 or 2).
    pub fn agent(&self, i: usize) -> &LabAgent {
        &self.agents[i - 1]
    }

    /// Whether node `i` has the VIP on eth0.
    pub fn holds_vip(&self, i: usize) -> bool {
        self.node(i)
            .exec(&["ip", "-o", "-4", "address", "show", "dev", "eth0"])
            .is_ok_and(|out| out.stdout.contains(&format!("inet {}/", vip())))
    }

    /// Whether the store's container runs on node `i`'s daemon.
    pub fn runs_store(&self, i: usize) -> bool {
        let ps = ["ps", "--filter", "status=running", "--format", "{{.Names}}"];
        self.docker(i, &ps)
            .lines()
            .any(|name| name.contains("store"))
    }

    /// What `docker ARGS` printed on node `i`'s daemon. A command that
    /// fails (the CLI timing out on a loaded machine) is tried again: a
    /// test sampling the node must not read a failure as "not running".
    fn docker(&self, i: usize, args: &[&str]) -> String {
        let mut last = String::new();
        for _ in 0..10 {
            match self.dockerds[i - 1].docker(args) {
                Ok(out) if out.success() => return out.stdout,
                Ok(out) => last = out.stderr,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("docker {args:?} on n{i} keeps failing: {last}");
    }

    /// The running store container's id and start time on node `i`
    /// (`None` when none runs): the same while it has not restarted.
    pub fn store_run(&self, i: usize) -> Option<String> {
        let ps = [
            "ps",
            "-q",
            "--filter",
            "status=running",
            "--filter",
            "name=store",
        ];
        let id = self.docker(i, &ps).trim().to_string();
        if id.is_empty() {
            return None;
        }
        let started = self.docker(i, &["inspect", "--format", "{{.State.StartedAt}}", &id]);
        Some(format!("{id} {}", started.trim()))
    }

    /// Whether node `i` is the master with the store running.
    pub fn serves(&self, i: usize) -> bool {
        self.holds_vip(i) && self.runs_store(i)
    }

    /// Whether node `i` neither holds the VIP nor runs the store.
    pub fn idle(&self, i: usize) -> bool {
        !self.holds_vip(i) && !self.runs_store(i)
    }

    /// Waits until node `i` serves and the other node is idle.
    pub fn await_serving(&self, i: usize, what: &str) {
        let other = 3 - i;
        crate::eventually(SETTLE, what, &|| self.logs(), || {
            self.serves(i) && (self.agents.len() < other || self.idle(other))
        });
    }

    /// Whether `name` is in node `i`'s copy.
    pub fn has(&self, i: usize, name: &str) -> bool {
        self.node(i)
            .exec(&["test", "-e", path(&self.data.join(name))])
            .is_ok_and(|out| out.success())
    }

    /// The records in node `i`'s copy.
    pub fn records(&self, i: usize) -> BTreeSet<u64> {
        let out = self.node(i).exec(&["ls", path(&self.data)]).unwrap();
        out.stdout
            .lines()
            .filter_map(|name| name.strip_prefix("rec-")?.parse().ok())
            .collect()
    }

    /// The acknowledged records missing from node `i`'s copy.
    pub fn missing(&self, i: usize, acknowledged: &[u64]) -> Vec<u64> {
        let present = self.records(i);
        acknowledged
            .iter()
            .filter(|n| !present.contains(n))
            .copied()
            .collect()
    }

    /// The Replication's term in node `i`'s copy (`EPOCH NODE`).
    pub fn term(&self, i: usize) -> String {
        let file = self.data.join(".hareconcile/term");
        let out = self.node(i).exec(&["cat", path(&file)]).unwrap();
        out.stdout.trim().to_string()
    }

    /// What the witness's etcd member answers on `/health` (its own
    /// view: healthy once it has a leader again).
    pub fn witness_health(&self) -> String {
        let url = format!("{}/health", client_url(self.witness()));
        match self
            .witness()
            .exec(&["curl", "--silent", "--show-error", "--max-time", "2", &url])
        {
            Ok(out) => format!("{}{}", out.stdout, out.stderr),
            Err(e) => e.to_string(),
        }
    }

    /// Whether the witness's etcd member is back in the cluster.
    pub fn witness_healthy(&self) -> bool {
        self.witness_health().contains("\"health\":\"true\"")
    }

    /// Both agents' logs and events, n2's and n1's status, for failures.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for agent in &self.agents {
            text += &format!(
                "--- {} status\n{}\n--- {} events\n{}\n--- {} log\n{}\n",
                agent.name,
                agent.hc_stdout(&["status"]),
                agent.name,
                agent.events(&[]),
                agent.name,
                agent.log()
            );
        }
        for member in &self.etcd {
            let log = member.log();
            let lines: Vec<&str> = log.lines().collect();
            text += &format!(
                "--- {} (last 15 lines)\n{}\n",
                member.command(),
                lines[lines.len().saturating_sub(15)..].join("\n")
            );
        }
        text
    }

    /// Stops the agents first, so none restarts a container behind the
    /// daemons' backs, then the daemons; the rest goes with the lab.
    pub fn stop(self) {
        let QuorumLab {
            agents, dockerds, ..
        } = self;
        drop(agents);
        for dockerd in dockerds {
            let _ = dockerd.stop();
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("lab paths are UTF-8")
}

fn client_url(host: &Host) -> String {
    format!("http://{}:{CLIENT_PORT}", host.ipv4(0))
}

/// `host`'s member of the lab's three-member etcd cluster, its data on a
/// tmpfs of the host's own (no disk waits on a loaded machine).
fn start_etcd(lab: &Lab, host: &Host) -> Process {
    let dir = lab.dir().join("etcd");
    host.mount_tmpfs(&dir).unwrap();
    let peer = |h: &Host| format!("http://{}:{PEER_PORT}", h.ipv4(0));
    let cluster: Vec<String> = lab
        .nodes()
        .iter()
        .map(|h| format!("{}={}", h.name(), peer(h)))
        .collect();
    host.spawn(
        NodeCommand::new("etcd")
            .arg(format!("--name={}", host.name()))
            .arg(format!("--data-dir={}", dir.join("member").display()))
            .arg(format!("--listen-client-urls={}", client_url(host)))
            .arg(format!("--advertise-client-urls={}", client_url(host)))
            .arg(format!("--listen-peer-urls={}", peer(host)))
            .arg(format!("--initial-advertise-peer-urls={}", peer(host)))
            .arg(format!("--initial-cluster={}", cluster.join(",")))
            .args(["--initial-cluster-state=new", "--initial-cluster-token=lab"])
            // Elections well within a third of the lease (see LEASE_TTL).
            .args(["--heartbeat-interval=50", "--election-timeout=500"])
            // A member coming back from isolation (the witness restored)
            // asks before it campaigns: without it, the terms it raised
            // alone depose the leader and the cluster stops answering for
            // an election.
            .arg("--pre-vote=true"),
    )
    .unwrap()
}

/// The Cluster (with or without the quorum), VirtualIP `web` (`vip_more`
/// added to its spec), Replication
/// `data` counting its passes, and Service `store` running `stack`.
fn manifest(lab: &Lab, data: &Path, stack: &Path, quorum: bool, vip_more: &str) -> String {
    let quorum = if quorum {
        let endpoints: Vec<String> = lab.nodes().iter().map(client_url).collect();
        format!(
            "  quorum: {{etcd: {{endpoints: [{}], leaseTTL: {}s}}}}\n",
            endpoints.join(", "),
            LEASE_TTL.as_secs()
        )
    } else {
        String::new()
    };
    let passes = passes_dir(lab);
    cluster_manifest((110, 100), &quorum)
        + &web_vip_manifest(vip_more)
        + &document(
            "Replication",
            "data",
            &format!(
                "cluster: lab, followVirtualIP: web, path: {data}, method: rsync, \
                 rsync: {{continuous: true, interval: 10s, delete: true, ssh: {ssh}}}, \
                 hooks: {{beforeSync: [{{command: [sh, -c, \"echo . >> {passes}/$HARECONCILE_NODE\"]}}]}}",
                data = data.display(),
                ssh = ssh_manifest(lab),
                passes = passes.display(),
            ),
        )
        + &document(
            "Service",
            "store",
            &format!(
                "cluster: lab, followVirtualIP: web, mode: active-passive, requires: [data], \
                 compose: {{file: {}, project: store}}",
                stack.display()
            ),
        )
}

/// Where the `beforeSync` hook counts each node's passes (a line each),
/// outside the replicated path.
fn passes_dir(lab: &Lab) -> PathBuf {
    let dir = lab.dir().join("passes");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The server's CGI: `/cgi-bin/w?N` writes record N, and answers `ok N`
/// once a pass that started after the write has ended (see the module's
/// documentation), 503 if that takes over 20 s.
const WRITE_CGI: &str = r#"#!/bin/sh
n=$QUERY_STRING
case $n in ''|*[!0-9]*) printf 'Status: 400\r\n\r\n'; exit 0 ;; esac
passes() { if [ -f /passes/$NODE ]; then wc -l < /passes/$NODE; else echo 0; fi; }
after() {
  i=0
  while [ "$(passes)" -le "$1" ]; do
    i=$((i+1)); [ $i -gt 400 ] && { printf 'Status: 503\r\n\r\n'; exit 0; }
    sleep 0.05
  done
}
echo "$n" > /data/rec-$n && sync || { printf 'Status: 500\r\n\r\n'; exit 0; }
seen=$(passes)
after "$seen"
echo "$n" > /data/tick && sync
after $((seen + 1))
printf 'Content-Type: text/plain\r\n\r\nok %s\n' "$n"
"#;

/// The server's document root, shared by both nodes' stacks.
fn write_server(lab: &Lab) -> PathBuf {
    let www = lab.dir().join("www");
    let cgi = www.join("cgi-bin/w");
    if !cgi.exists() {
        std::fs::create_dir_all(cgi.parent().unwrap()).unwrap();
        hareconcile_runtime::testing::write_executable(&cgi, WRITE_CGI);
    }
    www
}

/// Node `host`'s compose file for the store: httpd on the server's port,
/// the replicated path, the document root and its node's pass count.
fn write_stack(lab: &Lab, host: &Host, image: &str, data: &Path) -> PathBuf {
    let stack = lab.dir().join(format!("store-{}.yaml", host.name()));
    std::fs::write(
        &stack,
        format!(
            "services:\n  store:\n    image: {image}\n    \
             command: httpd -f -p {SERVER_PORT} -h /www\n    \
             ports: [\"{SERVER_PORT}:{SERVER_PORT}\"]\n    \
             environment: [NODE={node}]\n    \
             volumes: [\"{data}:/data\", \"{www}:/www:ro\", \"{passes}:/passes:ro\"]\n    \
             init: true\n    stop_grace_period: 1s\n",
            node = host.name(),
            data = data.display(),
            www = write_server(lab).display(),
            passes = passes_dir(lab).display(),
        ),
    )
    .unwrap();
    stack
}

/// A client writing records 1, 2, 3... through the VIP, one at a time,
/// from a thread in the lab client's network namespace. A record the
/// server does not acknowledge (no connection, an error, no answer) is
/// not retried: the next number follows.
pub struct Writer {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<(u64, Instant)>>>,
    thread: JoinHandle<()>,
}

impl Writer {
    pub fn start(lab: &Lab) -> Writer {
        let netns = std::fs::File::open(lab.client().netns_path()).expect("client namespace");
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, acknowledged) = (Arc::clone(&stop), Arc::clone(&acknowledged));
            move || {
                // setns moves this thread only.
                let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
                let server = SocketAddr::from((vip(), SERVER_PORT));
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if write_record(server, n) {
                        acknowledged.lock().unwrap().push((n, Instant::now()));
                    } else {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        });
        Writer {
            stop,
            acknowledged,
            thread,
        }
    }

    /// The records acknowledged so far.
    pub fn acknowledged(&self) -> Vec<u64> {
        self.acknowledged
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| *n)
            .collect()
    }

    /// How many records were acknowledged after `t`.
    pub fn acknowledged_after(&self, t: Instant) -> usize {
        self.acknowledged
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, at)| *at > t)
            .count()
    }

    /// Stops after the write in flight; every record acknowledged.
    pub fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let acknowledged = self.acknowledged.lock().unwrap();
        acknowledged.iter().map(|(n, _)| *n).collect()
    }
}

/// One write of record `n` to a lab writer CGI (`/cgi-bin/w?N`: appends N
/// to the replicated records, syncs, answers `ok N`); whether the server
/// acknowledged it. The quorum lab and the fault campaign both count a
/// write as acknowledged by this alone.
pub fn write_record(server: SocketAddr, n: u64) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&server, Duration::from_secs(1)) else {
        return false;
    };
    // Longer than the server's own 20 s bound.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let request = format!("GET /cgi-bin/w?{n} HTTP/1.0\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.")
        && answer.contains(" 200 ")
        && answer.ends_with(&format!("ok {n}\n"))
}
