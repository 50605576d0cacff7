//! The campaign's cluster, one of two:
//!
//! - [`Topology::Pair`]: two nodes and a client on one LAN, each node
//!   with its own dockerd, sshd, a replicated data path of its own and
//!   the agent's state directory on a small tmpfs (so a fault can fill
//!   it). The agents run Cluster `lab` (peer API on, no quorum),
//!   VirtualIP `web`, the Replication `data` (rsync, continuous,
//!   following `web`, with hooks that hang while a node's gate file
//!   exists) and the exclusive Service `shop` that `requires:` it:
//!   busybox httpd whose CGI appends each numbered record the client
//!   sends to `/data/records` before it answers.
//! - [`Topology::Quorum`]: the three-node quorum lab of the test support
//!   (`lab_quorum`: n1, n2 and a witness each running an etcd member,
//!   Service `store`), whose server acknowledges a record only once a
//!   replication pass that started after it has ended.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hareconcile_lab::{busybox_image, Dockerd, Host, Lab, Process};
use hareconcile_test_support as support;
use support::lab_data::tmpfs_and_sshd_on_each;
use support::lab_manifests::{
    cluster_manifest, document, peer_line, peer_token_file, ssh_manifest, web_vip_manifest,
};
use support::lab_quorum::QuorumLab;
use support::LabAgent;

/// Which cluster the campaign runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Two nodes, plain VRRP: a partition makes two masters.
    Pair,
    /// n1, n2 and a witness with etcd: the cut-off side fences itself.
    Quorum,
}

/// The agents' state directory fills up quickly at this size.
const STATE_TMPFS: &str = "size=32m";

/// Debian's libfaketime (package `faketime`), the thread-safe build: the
/// agent is multi-threaded.
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// What the Service appends to, under the replicated path.
pub const RECORDS: &str = "records";

/// The record-writing CGI: the record is on the master's disk (synced)
/// before the client sees `ok N`.
const WRITER_CGI: &str = "#!/bin/sh\n\
n=\"$QUERY_STRING\"\n\
echo \"$n\" >> /data/records && sync && printf 'Content-Type: text/plain\\r\\n\\r\\nok %s\\n' \"$n\"\n";

/// Fields drop in order: agents before the daemons they drive, daemons
/// and sshds before the lab.
pub struct Rig {
    /// n1's and n2's agents; `None` while a fault keeps one down.
    pub agents: Vec<Option<LabAgent>>,
    pub dockerds: Vec<Dockerd>,
    /// The etcd members of n1, n2 and the witness (quorum only), kept
    /// running as long as the rig.
    _etcd: Vec<Process>,
    pub sshd: Vec<Option<Process>>,
    pub lab: Lab,
    /// The replicated path, the same on both nodes.
    pub data: PathBuf,
    pub topology: Topology,
}

impl Rig {
    pub fn start(topology: Topology) -> Rig {
        match topology {
            Topology::Pair => Rig::pair(),
            Topology::Quorum => Rig::quorum(),
        }
    }

    fn quorum() -> Rig {
        let QuorumLab {
            agents,
            dockerds,
            etcd,
            sshd,
            lab,
            data,
        } = QuorumLab::start();
        Rig {
            agents: agents.into_iter().map(Some).collect(),
            dockerds,
            _etcd: etcd,
            sshd: sshd.into_iter().map(Some).collect(),
            lab,
            data,
            topology: Topology::Quorum,
        }
    }

    /// The witness (quorum only).
    pub fn witness(&self) -> Option<&Host> {
        (self.topology == Topology::Quorum).then(|| self.lab.node(3))
    }

    /// The prefix of the Service's container names.
    pub fn service(&self) -> &'static str {
        match self.topology {
            Topology::Pair => "shop",
            Topology::Quorum => "store",
        }
    }

    fn pair() -> Rig {
        let lab = Lab::builder()
            .nodes(2)
            .client(true)
            .private_mounts(true)
            .build()
            .expect("build the lab");
        let data = lab.dir().join("srv/data");
        let sshd = tmpfs_and_sshd_on_each(&lab, &data)
            .into_iter()
            .map(Some)
            .collect();
        for host in lab.nodes() {
            // A replicated path with nothing in it is never pushed.
            let records = data.join(RECORDS).display().to_string();
            host.exec_ok(&["touch", &records]).unwrap();
            let state = LabAgent::dir_of(&lab, host).join("store");
            host.exec_ok(&["mkdir", "-p", &state.display().to_string()])
                .unwrap();
            host.exec_ok(&[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                STATE_TMPFS,
                "tmpfs",
                &state.display().to_string(),
            ])
            .unwrap();
        }
        let dockerds = lab.start_dockerds().expect("a dockerd per node");
        let mut rig = Rig {
            agents: Vec::new(),
            dockerds,
            _etcd: Vec::new(),
            sshd,
            lab,
            data,
            topology: Topology::Pair,
        };
        let manifest = rig.manifest();
        for i in 0..2 {
            LabAgent::write_manifest(&rig.lab, rig.node(i), &manifest);
            rig.set_clock(i, 0);
        }
        rig.agents = (0..2).map(|i| Some(rig.start_agent(i))).collect();
        rig
    }

    /// Node `i` counting from 0 (n1 is 0).
    pub fn node(&self, i: usize) -> &Host {
        self.lab.node(i + 1)
    }

    /// Where node `i`'s agent reads its wall clock's offset from the
    /// host's, in seconds: libfaketime, preloaded into the two-node lab's
    /// agents (and what they start), reads it at most once a second and
    /// leaves the monotonic clocks alone, as an NTP step does.
    pub fn clock_file(&self, i: usize) -> PathBuf {
        self.lab
            .dir()
            .join(format!("clock-{}", self.node(i).name()))
    }

    /// Steps node `i`'s wall clock to `seconds` from the host's.
    pub fn set_clock(&self, i: usize, seconds: i64) {
        std::fs::write(self.clock_file(i), format!("{seconds:+}\n")).unwrap();
    }

    pub fn start_agent(&self, i: usize) -> LabAgent {
        let command = LabAgent::command(&self.lab, self.node(i));
        let command = match self.topology {
            Topology::Pair => {
                assert!(
                    Path::new(FAKETIME).is_file(),
                    "{FAKETIME} is missing: run scripts/install-test-deps.sh (Debian's faketime)"
                );
                command
                    .env("LD_PRELOAD", FAKETIME)
                    .env(
                        "FAKETIME_TIMESTAMP_FILE",
                        &self.clock_file(i).display().to_string(),
                    )
                    .env("FAKETIME_CACHE_DURATION", "1")
                    .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            }
            Topology::Quorum => command,
        };
        command
            .own_manifests()
            .args(["--resync", "2s", "--docker-host", self.dockerds[i].uri()])
            // The campaign's SIGKILLs are not the manifests' doing: with the
            // default minute, two kills of one agent within it get the
            // crash-loop breaker to reject the manifests and remove the
            // objects they declare, and the audits would find the VirtualIP
            // and its stack gone from that node (docs/RELIABILITY.md).
            .args(["--trial-period", "3s"])
            .env("HARECONCILE_LOG", "info")
            .start()
    }

    pub fn start_sshd(&mut self, i: usize) {
        self.sshd[i] = Some(self.node(i).start_sshd().expect("restart sshd"));
    }

    /// While this file exists, node `i`'s replication hooks hang.
    pub fn hook_gate(&self, i: usize) -> PathBuf {
        self.lab.dir().join(format!("hang-{}", self.node(i).name()))
    }

    /// The agent's state directory on node `i` (a tmpfs of [`STATE_TMPFS`]).
    pub fn state_dir(&self, i: usize) -> PathBuf {
        LabAgent::dir_of(&self.lab, self.node(i)).join("store")
    }

    /// The numbers in node `i`'s copy of the records: lines of one file
    /// (pair), or files `rec-N` (quorum).
    pub fn records(&self, i: usize) -> std::collections::BTreeSet<u64> {
        let (list, prefix) = match self.topology {
            Topology::Pair => ("cat", ""),
            Topology::Quorum => ("ls", "rec-"),
        };
        let target = match self.topology {
            Topology::Pair => self.data.join(RECORDS),
            Topology::Quorum => self.data.clone(),
        };
        let out = self
            .node(i)
            .exec(&[list, &target.display().to_string()])
            .unwrap();
        out.stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix(prefix)?.parse().ok())
            .collect()
    }

    /// The first line of node `i`'s term file (`EPOCH NODE`), if any.
    pub fn term(&self, i: usize) -> Option<(u64, String)> {
        let file = self.data.join(".hareconcile/term").display().to_string();
        let out = self.node(i).exec(&["cat", &file]).unwrap();
        let line = out.stdout.lines().next()?.to_string();
        let (epoch, node) = line.split_once(' ')?;
        Some((epoch.parse().ok()?, node.to_string()))
    }

    /// The last `lines` of every agent's log, for a failure report.
    pub fn logs(&self, lines: usize) -> String {
        self.agents
            .iter()
            .enumerate()
            .map(|(i, agent)| {
                let log = agent.as_ref().map(LabAgent::log).unwrap_or_default();
                let all: Vec<&str> = log.lines().collect();
                format!(
                    "--- {} agent log (last {lines} lines)\n{}",
                    self.node(i).name(),
                    all[all.len().saturating_sub(lines)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn manifest(&self) -> String {
        let token = peer_token_file(&self.lab, "campaign-token\n");
        let stack = self.write_stack();
        let hang = format!(
            "'test ! -e {}/hang-$HARECONCILE_NODE || sleep 3600'",
            self.lab.dir().display()
        );
        let hook = format!("{{command: [sh, -c, {hang}], timeout: 10s}}");
        let replication = format!(
            "cluster: lab, followVirtualIP: web, path: {data}, maxLag: 1m, method: rsync, \
             rsync: {{continuous: true, interval: 5s, delete: true, ssh: {ssh}}}, \
             hooks: {{beforeSync: [{hook}], afterSync: [{hook}]}}",
            data = self.data.display(),
            ssh = ssh_manifest(&self.lab),
        );
        let service = format!(
            "cluster: lab, followVirtualIP: web, mode: active-passive, requires: [data], \
             compose: {{file: {stack}, project: shop}}, \
             health: {{tcp: [\"127.0.0.1:8080\"], interval: 500ms, rise: 2}}",
            stack = stack.display(),
        );
        cluster_manifest((110, 100), &peer_line(&token))
            + &web_vip_manifest("")
            + &document("Replication", "data", &replication)
            + &document("Service", "shop", &service)
    }

    /// The stack's compose file and its web root with the writer CGI.
    fn write_stack(&self) -> PathBuf {
        let images: Vec<String> = self
            .dockerds
            .iter()
            .map(|d| busybox_image(d.uri()).expect("the busybox image"))
            .collect();
        let image = &images[0];
        let www = self.lab.dir().join("www");
        write_executable(&www.join("cgi-bin/w"), WRITER_CGI);
        let stack = self.lab.dir().join("stack/compose.yaml");
        std::fs::create_dir_all(stack.parent().unwrap()).unwrap();
        std::fs::write(
            &stack,
            format!(
                "services:\n  web:\n    image: {image}\n    command: httpd -f -p 8080 -h /www\n    \
                 ports: [\"8080:8080\"]\n    init: true\n    stop_grace_period: 1s\n    \
                 volumes: [\"{www}:/www:ro\", \"{data}:/data\"]\n",
                www = www.display(),
                data = self.data.display(),
            ),
        )
        .unwrap();
        stack
    }
}

fn write_executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    hareconcile_runtime::testing::write_executable(path, text);
}

/// How long a healed cluster may take to settle before the campaign
/// calls it a failure: elections, a catch-up over ssh and a stack start
/// on a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(120);
