//! The seed charts end to end in the lab: a chart rendered with lab values
//! (n1 10.77.0.1 priority 110, n2 10.77.0.2 priority 100, the VIP
//! 10.77.0.100/24 on eth0, the token, keys and data under the lab's
//! directory), both agents following the render, stand-in images tagged
//! as the upstream ones and speaking the protocol the seed checks, and the
//! client probing the VIP every 10 ms while n1 is lost. The lab tests
//! (`tests/charts_e2e.rs`) and the benchmark (`benches/charts.rs`) share it.

#[path = "../../benches/common/mod.rs"]
pub mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use common::support::LabAgent;
use common::{fetch, vip, wait_until, Prober};
use hareconcile_charts::{render, validate_dir, Chart, Values, ValuesFile};
use hareconcile_compose::health::dns;
use hareconcile_lab::{busybox_image, Dockerd, Host, Lab, NodeCommand, Process};
use hareconcile_model::status::VrrpState;
use hareconcile_model::Kind;

/// What the client checks on the VIP, as the seed's own health check did.
#[derive(Clone, Copy, Debug)]
pub enum Probe {
    /// `GET /` on this port answers with HTTP.
    Http(u16),
    /// An A query for this name on port 53 (UDP) is answered NOERROR with
    /// a record, as the agent's own DNS probe checks it.
    Dns(&'static str),
}

impl Probe {
    fn check(self) -> impl Fn() -> bool + Send + 'static {
        move || match self {
            Probe::Http(port) => fetch(SocketAddr::from((vip(), port))),
            Probe::Dns(name) => resolve(SocketAddr::from((vip(), 53)), name),
        }
    }
}

fn resolve(server: SocketAddr, name: &str) -> bool {
    static NEXT_ID: AtomicU16 = AtomicU16::new(1);
    let Ok(socket) = UdpSocket::bind("0.0.0.0:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let query = dns::query(id, name).expect("a valid name");
    if socket.send_to(&query, server).is_err() {
        return false;
    }
    let mut answer = [0u8; 512];
    matches!(socket.recv(&mut answer), Ok(n) if dns::check_answer(id, &answer[..n]).is_ok())
}

/// The lab's busybox image tagged as an upstream image, whose entrypoint
/// runs `serve` (a shell command) whatever `command:` the compose file
/// gives: the upstream compose file runs unchanged.
pub struct StandIn {
    pub tag: &'static str,
    pub serve: &'static str,
    /// Programs of this machine copied in with their shared libraries
    /// (Debian's dnsmasq for a real DNS server).
    pub programs: &'static [&'static str],
}

/// The lab's paths a chart's values refer to.
pub struct LabPaths {
    pub dir: PathBuf,
    pub token: PathBuf,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
}

/// One chart's run.
pub struct Scenario {
    pub chart: &'static str,
    pub lans: usize,
    /// Each node gets its own mount namespace (replicated data).
    pub private_mounts: bool,
    /// Images the stack runs; none: no Docker at all.
    pub stand_ins: &'static [StandIn],
    pub probe: Probe,
    /// The VIPs n2 must hold once n1 is lost.
    pub vips: &'static [&'static str],
    /// What each node needs before its agent starts (mounts, an sshd, a
    /// daemon); the processes live as long as the run.
    pub prepare: fn(&Lab, &Host) -> Vec<Process>,
    pub values: fn(&LabPaths) -> String,
}

/// A chart serving from n1, n2 standing by. Fields drop in order: the
/// agents and daemons before the lab.
pub struct Running {
    agents: Vec<LabAgent>,
    dockerds: Vec<Dockerd>,
    _processes: Vec<Process>,
    vip_names: Vec<String>,
    service_names: Vec<String>,
    probe: Probe,
    vips: &'static [&'static str],
    chart: &'static str,
    pub lab: Lab,
}

/// Whether `host` has `address` on any interface (a virtual MAC puts it on
/// a macvlan, not eth0).
pub fn holds(host: &Host, address: &str) -> bool {
    host.exec(&["ip", "-o", "-4", "addr", "show"])
        .map(|o| o.stdout.contains(&format!(" {address}/")))
        .unwrap_or(false)
}

fn make_stand_in(dockerd: &Dockerd, base: &str, stand_in: &StandIn) {
    let created = dockerd.docker(&["create", base]).unwrap();
    let id = created.stdout.trim().to_string();
    assert!(created.success() && !id.is_empty(), "{}", created.stderr);
    if !stand_in.programs.is_empty() {
        copy_programs(dockerd, &id, stand_in.programs);
    }
    let entrypoint = format!(
        "ENTRYPOINT [\"sh\", \"-c\", {}, \"stand-in\"]",
        serde_json::Value::String(stand_in.serve.to_string())
    );
    let committed = dockerd
        .docker(&[
            "commit",
            "--change",
            &entrypoint,
            "--change",
            "CMD []",
            &id,
            stand_in.tag,
        ])
        .unwrap();
    assert!(committed.success(), "{}", committed.stderr);
    dockerd.docker(&["rm", &id]).unwrap();
}

/// Copies `programs` and every library `ldd` names for them into the
/// created container `id`, at the same paths.
fn copy_programs(dockerd: &Dockerd, id: &str, programs: &[&str]) {
    let mut files: Vec<String> = programs.iter().map(|p| p.to_string()).collect();
    for program in programs {
        let ldd = std::process::Command::new("ldd")
            .arg(program)
            .output()
            .unwrap();
        assert!(ldd.status.success(), "ldd {program}: is it installed?");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, target)) => target.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(path) = path.filter(|p| p.starts_with('/')) {
                files.push(path.to_string());
            }
        }
    }
    let relative: Vec<&str> = files.iter().map(|f| f.trim_start_matches('/')).collect();
    // A tar stream of the files themselves (-h: not the symlinks), unpacked
    // at the container's root.
    let copy = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; uri=$0 id=$1; shift; tar -C / -chf - "$@" | docker --host "$uri" cp - "$id":/"#)
        .arg(dockerd.uri())
        .arg(id)
        .args(&relative)
        .status()
        .unwrap();
    assert!(copy.success(), "copying {programs:?} into a stand-in image");
}

impl Scenario {
    /// Renders the chart, starts n1's agent and waits until it serves,
    /// then n2's until it stands by.
    pub fn start(&self) -> Running {
        let lab = Lab::builder()
            .nodes(2)
            .lans(self.lans)
            .client(true)
            .private_mounts(self.private_mounts)
            .build()
            .expect("lab (run as root)");
        let keys = lab.ssh_keys().unwrap();
        let paths = LabPaths {
            dir: lab.dir().to_path_buf(),
            token: lab.dir().join("etc/peer.token"),
            identity: keys.identity_file.clone(),
            known_hosts: keys.known_hosts.clone(),
        };
        std::fs::create_dir_all(paths.token.parent().unwrap()).unwrap();
        common::support::write_secret(&paths.token, &format!("charts-{}\n", lab.id()));
        let processes: Vec<Process> = lab
            .nodes()
            .iter()
            .flat_map(|host| (self.prepare)(&lab, host))
            .collect();
        let dockerds: Vec<Dockerd> = if self.stand_ins.is_empty() {
            Vec::new()
        } else {
            lab.nodes()
                .iter()
                .map(|host| {
                    let dockerd = host.start_dockerd().unwrap();
                    let base = busybox_image(dockerd.uri()).unwrap();
                    for stand_in in self.stand_ins {
                        make_stand_in(&dockerd, &base, stand_in);
                    }
                    dockerd
                })
                .collect()
        };

        let chart = Chart::builtin(self.chart).unwrap();
        let values = ValuesFile {
            path: lab.dir().join("values.yaml"),
            text: (self.values)(&paths),
        };
        let values = Values::resolve(&chart, &[values]).unwrap_or_else(|e| panic!("{e}"));
        let rendered = render(&chart, &values).unwrap_or_else(|e| panic!("{e}"));
        let mut manifests = Vec::new();
        for host in lab.nodes() {
            let dir = LabAgent::manifests_of(&lab, host);
            rendered.write_to(&dir).unwrap();
            manifests = validate_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        }
        let names = |kind: Kind| -> Vec<String> {
            manifests
                .iter()
                .filter(|m| m.object.kind == kind)
                .map(|m| m.object.metadata.name.clone())
                .collect()
        };
        let mut running = Running {
            agents: Vec::new(),
            dockerds,
            _processes: processes,
            vip_names: names(Kind::VirtualIP),
            service_names: names(Kind::Service),
            probe: self.probe,
            vips: self.vips,
            chart: self.chart,
            lab,
        };
        for i in 0..2 {
            running.start_agent(i);
            // n2 starts once n1 serves, so n1 is master whatever the chart's
            // failback.
            let state = if i == 0 {
                VrrpState::Master
            } else {
                VrrpState::Backup
            };
            let settled = wait_until(Duration::from_secs(180), || running.settled(i, state));
            assert!(
                settled,
                "{}: n{} never settled as {state} (Services: {:?}):\n{}",
                self.chart,
                i + 1,
                running.healthy(i),
                running.agents[i].log()
            );
        }
        running
    }
}

impl Running {
    fn start_agent(&mut self, i: usize) {
        let host = self.lab.node(i + 1);
        let mut command = LabAgent::command(&self.lab, host).own_manifests();
        if let Some(dockerd) = self.dockerds.get(i) {
            command = command.args(["--docker-host", dockerd.uri()]);
        }
        self.agents.push(command.start());
    }

    /// Node `i`'s Services' conditions, for failure messages: the agent's
    /// log does not show probe results.
    fn healthy(&self, i: usize) -> Vec<String> {
        self.service_names
            .iter()
            .map(|name| {
                let object = self.agents[i].object("service", name);
                format!("{name}: {}", object["status"]["conditions"])
            })
            .collect()
    }

    /// Node `i`'s VirtualIPs in `state` and its Services Ready.
    fn settled(&self, i: usize, state: VrrpState) -> bool {
        let agent = &self.agents[i];
        self.vip_names
            .iter()
            .all(|name| agent.vip_status(name).state() == Some(state))
            && self.service_names.iter().all(|name| {
                agent
                    .condition("service", name, "Ready")
                    .is_some_and(|(status, _)| status == "True")
            })
    }

    /// Loses n1 while the client probes the VIP: checks that n2 took
    /// every VIP over and serves, and returns the client's longest window
    /// without an answer.
    pub fn node_loss_outage(self) -> Duration {
        let check = self.probe.check();
        let prober = Prober::start_checking(&self.lab.client().netns_path(), check);
        let answered = wait_until(Duration::from_secs(60), || {
            prober.answered_after(Instant::now() - Duration::from_millis(100))
        });
        assert!(
            answered,
            "{}: the client is not served on the VIP",
            self.chart
        );
        let lost_at = Instant::now();
        self.lab.node_loss(self.lab.node(1)).unwrap();
        // Only an answer that started after n1 was unplugged comes from n2:
        // on a loaded machine unplugging can take longer than one probe.
        let unplugged = Instant::now();
        let served = wait_until(Duration::from_secs(120), || {
            prober.answered_after(unplugged + Duration::from_millis(50))
        });
        assert!(
            served,
            "{}: n2 never served after n1's loss:\n{}",
            self.chart,
            self.agents[1].log()
        );
        let n2 = self.lab.node(2);
        for address in self.vips {
            assert!(
                holds(n2, address),
                "{}: n2 does not hold {address}",
                self.chart
            );
        }
        let outage = prober.longest_gap(lost_at, self.chart);
        if std::env::var_os("SHOW_LOGS").is_some() {
            // Where the time went, for docs/PERFORMANCE.md.
            eprintln!("--- {} n2:\n{}", self.chart, self.agents[1].log());
        }
        outage
    }
}

/// The two lab nodes, as every chart's `cluster` values give them.
fn cluster_values(paths: &LabPaths) -> String {
    format!(
        "cluster:\n  peerTokenFile: {}\n  nodes:\n    - {{name: n1, address: 10.77.0.1, priority: 110}}\n    - {{name: n2, address: 10.77.0.2, priority: 100}}\n",
        paths.token.display()
    )
}

/// Advanced Vrrpd's basic configuration: eth0 and eth1 in one sync group,
/// virtual MAC, the chart's up/down hooks. The nodes serve HTTP on every
/// address themselves (a router has no stack): the client reaches the VIP
/// whichever node holds it.
pub fn vrrp_router() -> Scenario {
    Scenario {
        chart: "vrrp-router",
        lans: 2,
        private_mounts: false,
        stand_ins: &[],
        probe: Probe::Http(8080),
        vips: &["10.77.0.100", "10.78.0.100"],
        prepare: |lab, host| {
            let www = lab.dir().join("www");
            std::fs::create_dir_all(&www).unwrap();
            std::fs::write(www.join("index.html"), "router\n").unwrap();
            let httpd = NodeCommand::new("busybox")
                .args(["httpd", "-f", "-p", "8080", "-h"])
                .arg(&www);
            vec![host.spawn(httpd).unwrap()]
        },
        values: |paths| {
            cluster_values(paths)
                + "interfaces:\n  - {interface: eth0, vrid: 51, addresses: [10.77.0.100/24]}\n  - {interface: eth1, vrid: 52, addresses: [10.78.0.100/24]}\nupScript: files/hooks/up.sh\ndownScript: files/hooks/down.sh\n"
        },
    }
}

/// The hot-standby plan: Traefik (a stand-in serving HTTP on its :80
/// entrypoint) and the whoami app on the master, btrfs snapshots of the
/// data every 5 s to the standby.
pub fn home_server() -> Scenario {
    Scenario {
        chart: "home-server",
        lans: 1,
        private_mounts: true,
        stand_ins: &[
            StandIn {
                tag: "traefik:v3.2",
                serve: "exec httpd -f -p 80 -h /www",
                programs: &[],
            },
            StandIn {
                tag: "traefik/whoami",
                serve: "exec httpd -f -p 8000 -h /www",
                programs: &[],
            },
        ],
        probe: Probe::Http(80),
        vips: &["10.77.0.100"],
        prepare: |lab, host| {
            let pool = lab.dir().join("srv");
            host.mount_btrfs(&pool, 256).unwrap();
            let data = pool.join("data").display().to_string();
            host.exec_ok(&["btrfs", "subvolume", "create", &data])
                .unwrap();
            vec![host.start_sshd().unwrap()]
        },
        values: |paths| {
            format!(
                "{}vip: {{interface: eth0, address: 10.77.0.100/24}}\napps:\n  - {{name: whoami, composeFile: files/apps/whoami/compose.yaml}}\ndata:\n  method: btrfs\n  path: {}\n  interval: 5s\n  identityFile: {}\n  knownHostsFile: {}\n",
                cluster_values(paths),
                paths.dir.join("srv/data").display(),
                paths.identity.display(),
                paths.known_hosts.display(),
            )
        },
    }
}

/// The Netsocs architecture with the chart's stand-in stack (caddy on :80,
/// traefik, MediaMTX on the host network), the health script's containers
/// and port. The lab has no NFS server: the mounts list is empty, so the
/// stack's `requires:` on them is not exercised here.
pub fn compose_on_nfs() -> Scenario {
    Scenario {
        chart: "compose-on-nfs",
        lans: 1,
        private_mounts: false,
        stand_ins: &[
            StandIn {
                tag: "caddy:2",
                serve: "exec httpd -f -p 80 -h /www",
                programs: &[],
            },
            StandIn {
                tag: "traefik:v3.2",
                serve: "exec httpd -f -p 80 -h /www",
                programs: &[],
            },
            StandIn {
                tag: "bluenviron/mediamtx:latest",
                serve: "exec httpd -f -p 8554 -h /www",
                programs: &[],
            },
        ],
        probe: Probe::Http(80),
        vips: &["10.77.0.100"],
        prepare: |_, _| Vec::new(),
        values: |paths| {
            cluster_values(paths)
                + "vip: {address: 10.77.0.100/24}\nnfs: {server: 10.77.0.250, mounts: []}\nstack:\n  name: netsocs\n  composeFile: files/example-stack.yaml\n  containers: [netsocs-caddy, traefik]\n"
        },
    }
}

/// The lab's ssh keys as the rsync charts' `replication` values.
fn replication_ssh_values(paths: &LabPaths) -> String {
    format!(
        "replication:\n  identityFile: {}\n  knownHostsFile: {}\n",
        paths.identity.display(),
        paths.known_hosts.display()
    )
}

/// A node's own filesystem at `path` and an sshd, for rsync Replications.
fn tmpfs_and_sshd(path: &Path, host: &Host) -> Vec<Process> {
    host.mount_tmpfs(path).unwrap();
    vec![host.start_sshd().unwrap()]
}

/// The NPMplus guide: NPMplus's upstream compose file unchanged (host
/// network, /opt/npmplus as /data), its admin port :81 answering HTTPS
/// with a certificate of its own making (Debian's openssl s_server), as
/// the chart's health probe checks it, and the proxy's :80 answering the
/// client's HTTP; /opt/npmplus copied continuously to the standby. Each
/// node mounts its own tmpfs there in its mount namespace; the empty
/// /opt/npmplus mount point stays on the machine.
pub fn npmplus() -> Scenario {
    Scenario {
        chart: "npmplus",
        lans: 1,
        private_mounts: true,
        stand_ins: &[StandIn {
            tag: "docker.io/zoeyvid/npmplus:latest",
            // openssl req needs a configuration file (the stand-in has
            // none but this one), and an extension to make an X.509 v3
            // certificate: the agent's TLS refuses v1 ones.
            serve: "httpd -p 80 -h /www; \
                    printf '[req]\\ndistinguished_name=dn\\n[dn]\\n' > /tmp/req.cnf && \
                    openssl req -config /tmp/req.cnf -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                      -nodes -subj /CN=npmplus -addext subjectAltName=IP:127.0.0.1 -days 2 -keyout /tmp/key.pem -out /tmp/cert.pem && \
                    exec openssl s_server -quiet -www -accept 81 -cert /tmp/cert.pem -key /tmp/key.pem",
            programs: &["/usr/bin/openssl"],
        }],
        probe: Probe::Http(80),
        vips: &["10.77.0.100"],
        prepare: |_, host| tmpfs_and_sshd(Path::new("/opt/npmplus"), host),
        values: |paths| {
            format!(
                "{}vip: {{interface: eth0, address: 10.77.0.100/24}}\n{}",
                cluster_values(paths),
                replication_ssh_values(paths),
            )
        },
    }
}

/// The Pi-hole quickstart: both nodes serve DNS, answered by Debian's
/// dnsmasq in a stand-in tagged pihole/pihole (pi.hole resolves, as in
/// Pi-hole), the configuration directory copied to the standby.
pub fn pihole() -> Scenario {
    Scenario {
        chart: "pihole",
        lans: 1,
        private_mounts: true,
        stand_ins: &[StandIn {
            tag: "pihole/pihole:latest",
            serve: "exec /usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root --log-facility=- --pid-file= --address=/pi.hole/10.77.0.100",
            programs: &["/usr/sbin/dnsmasq"],
        }],
        probe: Probe::Dns("pi.hole"),
        vips: &["10.77.0.100"],
        prepare: |lab, host| tmpfs_and_sshd(&lab.dir().join("etc-pihole"), host),
        values: |paths| {
            format!(
                // The stand-in has no `pihole` command to reload lists with.
                "{}vip: {{address: 10.77.0.100/24}}\npihole: {{dataDir: {}}}\n{}  reloadAfterSync: false\n",
                cluster_values(paths),
                paths.dir.join("etc-pihole").display(),
                replication_ssh_values(paths),
            )
        },
    }
}
