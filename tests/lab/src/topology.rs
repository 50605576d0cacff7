//! The lab's shape: LANs (bridges inside one LAN namespace), nodes and an
//! optional client, each host a namespace with one veth per LAN.
//!
//! Addresses are the same in every lab, since each lab lives in namespaces of
//! its own: on LAN `l`, host number `n` (node `i` is `i`, the client 250) has
//! `10.(77+l).0.n/24` and `fd(77+l)::n/64`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::error::{LabError, Result};
use crate::faults::FaultState;
use crate::mounts;
use crate::naming::{LabId, MAX_IFNAME};
use crate::netns;
use crate::privileges::{self, Need};
use crate::process::{log_name, NodeCommand, Output, Place, Process, ProcessRegistry};
use crate::ssh::SshKeys;

/// Host number of the client on every LAN.
pub const CLIENT_NUMBER: u8 = 250;

const MAX_NODES: usize = 99;
const MAX_LANS: usize = 9;

/// The IPv4 address of host number `n` on LAN `lan`.
pub fn ipv4(lan: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77 + lan_octet(lan), 0, n)
}

/// The ULA of host number `n` on LAN `lan`: `fd77::n`, where `n` is written
/// with the same digits as in IPv4 (`fd77::250` for the client).
pub fn ipv6(lan: usize, n: u8) -> Ipv6Addr {
    let prefix = 0xfd00 + 0x77 + u16::from(lan_octet(lan));
    let host = u16::from_str_radix(&n.to_string(), 16).expect("decimal digits are hex digits");
    Ipv6Addr::new(prefix, 0, 0, 0, 0, 0, 0, host)
}

fn lan_octet(lan: usize) -> u8 {
    u8::try_from(lan)
        .ok()
        .filter(|&l| l < MAX_LANS as u8)
        .expect("LAN index in range")
}

/// The interface name of a host's leg on LAN `lan`.
pub(crate) fn ifname(lan: usize) -> String {
    format!("eth{lan}")
}

/// Builder for a [`Lab`]: `Lab::builder().nodes(3).lans(1).client(true).build()`.
#[derive(Clone, Debug)]
pub struct LabBuilder {
    nodes: usize,
    lans: usize,
    client: bool,
    private_mounts: bool,
}

impl LabBuilder {
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    pub fn lans(mut self, lans: usize) -> Self {
        self.lans = lans;
        self
    }

    pub fn client(mut self, client: bool) -> Self {
        self.client = client;
        self
    }

    /// Gives each host a mount namespace of its own (private propagation),
    /// which every [`Host::exec`] and [`Host::spawn`] enters, so that one
    /// path can hold a different filesystem on each host as on real
    /// machines: see [`Host::mount_tmpfs`] and [`Host::mount_btrfs`].
    pub fn private_mounts(mut self, private: bool) -> Self {
        self.private_mounts = private;
        self
    }

    /// Creates the namespaces, bridges and veths, waits until every IPv6
    /// link-local address is usable, and returns the lab. First removes what
    /// earlier labs whose creating process is dead left behind.
    pub fn build(self) -> Result<Lab> {
        self.validate()?;
        privileges::check(Need::Netns)?;
        cleanup::sweep_stale();

        let id = LabId::next();
        let hosts = self.host_specs();
        if let Some(port) = hosts
            .iter()
            .map(|host| id.lan_port(&host.tag, self.lans - 1))
            .find(|port| port.len() > MAX_IFNAME)
        {
            return Err(LabError::Invalid(format!(
                "interface name {port} is longer than {MAX_IFNAME} bytes"
            )));
        }

        let dir = cleanup::lab_dir(&id);
        let shared = Arc::new(Shared {
            id: id.clone(),
            dir: dir.clone(),
            registry: Arc::default(),
            log_serial: AtomicUsize::new(0),
            ssh_keys: OnceLock::new(),
        });
        // From here on, dropping `lab` removes whatever was created, also
        // when a later step fails.
        let lab = Lab {
            lans: self.lans,
            nodes: self.nodes,
            hosts: hosts
                .into_iter()
                .map(|spec| Host {
                    netns: id.host_netns(&spec.name),
                    mntns: self
                        .private_mounts
                        .then(|| mounts::namespace_path(&dir, &spec.name)),
                    name: spec.name,
                    tag: spec.tag,
                    number: spec.number,
                    lans: self.lans,
                    shared: Arc::clone(&shared),
                })
                .collect(),
            faults: Mutex::default(),
            shared,
        };
        lab.create()?;
        Ok(lab)
    }

    /// Nodes `n1`..`nN` numbered 1..N, then the client numbered 250.
    fn host_specs(&self) -> Vec<HostSpec> {
        let nodes = (1..=self.nodes).map(|i| HostSpec {
            name: format!("n{i}"),
            tag: format!("n{i}"),
            number: u8::try_from(i).expect("node count is validated"),
        });
        let client = self.client.then(|| HostSpec {
            name: "client".into(),
            tag: "c".into(),
            number: CLIENT_NUMBER,
        });
        nodes.chain(client).collect()
    }

    fn validate(&self) -> Result<()> {
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(LabError::Invalid(format!(
                "{} nodes: a lab has 1 to {MAX_NODES}",
                self.nodes
            )));
        }
        if !(1..=MAX_LANS).contains(&self.lans) {
            return Err(LabError::Invalid(format!(
                "{} LANs: a lab has 1 to {MAX_LANS}",
                self.lans
            )));
        }
        Ok(())
    }
}

struct HostSpec {
    name: String,
    tag: String,
    number: u8,
}

/// What a lab and its hosts share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub id: LabId,
    pub dir: PathBuf,
    pub registry: Arc<ProcessRegistry>,
    pub(crate) log_serial: AtomicUsize,
    pub(crate) ssh_keys: OnceLock<SshKeys>,
}

impl Shared {
    /// Where spawned processes' output goes.
    fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// Several hosts on one machine. Dropping it kills every process it started
/// (per-node dockerds and their containers included) and deletes its
/// namespaces, cgroups and directories.
#[derive(Debug)]
pub struct Lab {
    lans: usize,
    nodes: usize,
    /// Nodes first (`n1` at index 0), then the client if any.
    hosts: Vec<Host>,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) shared: Arc<Shared>,
}

impl Lab {
    /// A builder for two nodes and a client on one LAN, unless told otherwise.
    pub fn builder() -> LabBuilder {
        LabBuilder {
            nodes: 2,
            lans: 1,
            client: true,
            private_mounts: false,
        }
    }

    pub fn id(&self) -> &LabId {
        &self.shared.id
    }

    /// The lab's own directory (logs, per-node dockerd state).
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn lans(&self) -> usize {
        self.lans
    }

    /// Node `i`, counting from 1 like the names (`n1`). Panics when out of range.
    pub fn node(&self, i: usize) -> &Host {
        assert!(
            (1..=self.nodes).contains(&i),
            "lab {} has nodes n1..n{}, not n{i}",
            self.id(),
            self.nodes
        );
        &self.hosts[i - 1]
    }

    pub fn nodes(&self) -> &[Host] {
        &self.hosts[..self.nodes]
    }

    /// The client host. Panics when the lab was built without one.
    pub fn client(&self) -> &Host {
        assert!(
            self.hosts.len() > self.nodes,
            "lab {} was built without a client",
            self.id()
        );
        &self.hosts[self.nodes]
    }

    /// All hosts: nodes, then the client.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The namespace holding the LAN bridges (and the fault rules).
    pub fn lan_netns(&self) -> String {
        self.id().lan_netns()
    }

    /// The bridge of LAN `lan` inside [`Lab::lan_netns`].
    pub fn bridge(&self, lan: usize) -> String {
        format!("br{lan}")
    }

    fn create(&self) -> Result<()> {
        let id = self.id();
        let logs = self.shared.logs_dir();
        std::fs::create_dir_all(&logs).map_err(|e| LabError::io("create", &logs, e))?;
        netns::create(&self.lan_netns())?;
        let private: Vec<&Path> = self
            .hosts
            .iter()
            .filter_map(|h| h.mntns.as_deref())
            .collect();
        if !private.is_empty() {
            mounts::create_namespaces(&self.shared.dir, &private)?;
        }
        for host in &self.hosts {
            netns::create(&host.netns)?;
            // DAD would keep fresh addresses tentative for a second or more
            // (and VRRPv3 over IPv6 needs the link-local one at once);
            // interfaces created later inherit `default`.
            netns::sysctl(
                &host.netns,
                id,
                &[
                    ("net.ipv6.conf.default.accept_dad", "0"),
                    ("net.ipv6.conf.all.accept_dad", "0"),
                ],
            )?;
        }
        netns::ip_batch(&self.lan_netns(), id, &self.lan_commands())?;
        for host in &self.hosts {
            netns::ip_batch(&host.netns, id, &host.setup_commands())?;
        }
        for host in &self.hosts {
            for lan in 0..self.lans {
                host.wait_link_local(lan)?;
            }
        }
        Ok(())
    }

    /// Bridges, and each host's veth with its LAN end enslaved to them.
    fn lan_commands(&self) -> Vec<String> {
        let mut commands = vec!["link set lo up".to_owned()];
        for lan in 0..self.lans {
            let bridge = self.bridge(lan);
            // Without snooping the bridge floods all multicast, so VRRP
            // adverts (224.0.0.18, ff02::12) reach everyone with no querier.
            commands.push(format!("link add {bridge} type bridge mcast_snooping 0"));
            commands.push(format!("link set {bridge} up"));
            for host in &self.hosts {
                let port = host.lan_port(lan);
                commands.push(format!(
                    "link add {port} type veth peer name {} netns {}",
                    ifname(lan),
                    host.netns
                ));
                commands.push(format!("link set {port} master {bridge} up"));
            }
        }
        commands
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shared.registry.kill_all();
        cleanup::purge(self.id());
    }
}

/// One machine of the lab: a node or the client.
#[derive(Debug)]
pub struct Host {
    name: String,
    /// Short form for interface names: `n1`, `c`.
    tag: String,
    number: u8,
    netns: String,
    /// The bind mount of the host's own mount namespace, with
    /// [`LabBuilder::private_mounts`].
    pub(crate) mntns: Option<PathBuf>,
    lans: usize,
    pub(crate) shared: Arc<Shared>,
}

impl Host {
    /// `n1`, `n2`, ... or `client`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the host's namespace under /var/run/netns.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    pub fn netns_path(&self) -> PathBuf {
        netns::path(&self.netns)
    }

    pub fn ipv4(&self, lan: usize) -> Ipv4Addr {
        self.check_lan(lan);
        ipv4(lan, self.number)
    }

    pub fn ipv6(&self, lan: usize) -> Ipv6Addr {
        self.check_lan(lan);
        ipv6(lan, self.number)
    }

    /// The host's interface on LAN `lan` (`eth0`, `eth1`).
    pub fn ifname(&self, lan: usize) -> String {
        self.check_lan(lan);
        ifname(lan)
    }

    /// The bridge-side end of the host's veth on LAN `lan`, in the LAN namespace.
    pub fn lan_port(&self, lan: usize) -> String {
        self.check_lan(lan);
        self.shared.id.lan_port(&self.tag, lan)
    }

    /// Runs a command in the host and returns its output whatever its exit
    /// status: `host.exec(&["ip", "addr"])`.
    pub fn exec(&self, cmd: impl Into<NodeCommand>) -> Result<Output> {
        self.place().run(&cmd.into())
    }

    /// Like [`Host::exec`], but a non-zero exit status is an error.
    pub fn exec_ok(&self, cmd: impl Into<NodeCommand>) -> Result<Output> {
        self.place().run_ok(&cmd.into())
    }

    /// Starts a long-running program in the host; its output goes to a log
    /// file in the lab directory. It is killed when the handle or the lab is
    /// dropped.
    pub fn spawn(&self, cmd: impl Into<NodeCommand>) -> Result<Process> {
        let cmd = cmd.into();
        let serial = self.shared.log_serial.fetch_add(1, Ordering::Relaxed);
        let log = self
            .shared
            .logs_dir()
            .join(log_name(&self.name, &cmd, serial));
        self.place().spawn(&cmd, &log, &self.shared.registry)
    }

    /// Whether one ping to `addr` is answered within half a second.
    pub fn can_reach(&self, addr: impl Into<IpAddr>) -> Result<bool> {
        let addr = addr.into().to_string();
        Ok(self
            .exec(&["ping", "-n", "-q", "-c", "1", "-W", "0.5", &addr])?
            .success())
    }

    /// Whether `addr` answers a ping within `timeout`, pinging again every
    /// moment (ARP, neighbour discovery and bridge learning take a
    /// moment after a fault is healed).
    pub fn reaches_within(&self, addr: impl Into<IpAddr>, timeout: Duration) -> Result<bool> {
        let addr = addr.into();
        let deadline = Instant::now() + timeout;
        loop {
            if self.can_reach(addr)? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            // Pings to an unreachable network fail at once; don't spin.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn place(&self) -> Place {
        let place = Place::netns(self.netns_path(), &self.shared.id);
        match &self.mntns {
            Some(mntns) => place.with_mntns(mntns.clone()),
            None => place,
        }
    }

    /// Addresses and links up. Addresses are `replace`d so this also restores
    /// a link after [`crate::Lab::link_down`], which drops IPv6 addresses.
    pub(crate) fn link_up_commands(&self, lan: usize) -> Vec<String> {
        let dev = ifname(lan);
        vec![
            format!("address replace {}/24 dev {dev}", self.ipv4(lan)),
            format!("address replace {}/64 dev {dev} nodad", self.ipv6(lan)),
            format!("link set {dev} up"),
        ]
    }

    fn setup_commands(&self) -> Vec<String> {
        let mut commands = vec!["link set lo up".to_owned()];
        for lan in 0..self.lans {
            commands.extend(self.link_up_commands(lan));
        }
        commands
    }

    /// Waits until the interface has a link-local IPv6 address that is not
    /// tentative.
    pub(crate) fn wait_link_local(&self, lan: usize) -> Result<()> {
        let dev = ifname(lan);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.exec_ok(&[
                "ip", "-6", "-o", "address", "show", "dev", &dev, "scope", "link",
            ])?;
            if out.stdout.contains("fe80::") && !out.stdout.contains("tentative") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout {
                    what: format!("a link-local address on {} {dev}", self.name),
                    last: out.stdout,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn check_lan(&self, lan: usize) {
        assert!(
            lan < self.lans,
            "host {} has {} LAN(s), not LAN {lan}",
            self.name,
            self.lans
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_plan() {
        assert_eq!(ipv4(0, 1), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(ipv4(1, 3), Ipv4Addr::new(10, 78, 0, 3));
        assert_eq!(ipv4(0, CLIENT_NUMBER), Ipv4Addr::new(10, 77, 0, 250));
        assert_eq!(ipv6(0, 2).to_string(), "fd77::2");
        assert_eq!(ipv6(1, 12).to_string(), "fd78::12");
        assert_eq!(ipv6(0, CLIENT_NUMBER).to_string(), "fd77::250");
    }

    #[test]
    fn builder_rejects_empty_or_huge_labs() {
        assert!(matches!(
            Lab::builder().nodes(0).build(),
            Err(LabError::Invalid(_))
        ));
        assert!(matches!(
            Lab::builder().nodes(100).build(),
            Err(LabError::Invalid(_))
        ));
        assert!(matches!(
            Lab::builder().lans(0).build(),
            Err(LabError::Invalid(_))
        ));
    }
}
