//! Debian's keepalived as a lab node's VRRP speaker: the reference peer
//! hareconcile must interoperate with and be measured against.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use crate::{Host, Lab, LabError, Process, Result};

/// One `vrrp_instance` block.
#[derive(Debug, Clone)]
pub struct VrrpInstance {
    pub vrid: u8,
    pub priority: u8,
    pub advert: Duration,
    pub interface: String,
    /// Addresses with prefix length, e.g. `10.77.0.100/24`.
    pub addresses: Vec<String>,
    /// VRRPv2 simple password (`auth_type PASS`).
    pub password: Option<String>,
    /// Unicast peers (adverts then come from the node's LAN 0 address).
    pub unicast_peers: Vec<IpAddr>,
    /// Scripts keepalived runs on becoming master / backup (an executable
    /// path, with arguments), as the seeds' stacks start and stop theirs.
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    /// `use_vmac`: the addresses live on a macvlan with the virtual router MAC.
    pub use_vmac: bool,
    /// `lower_prio_no_advert`: as master, answer no lower-priority advert
    /// with one of its own. It also keeps keepalived's advert timer running
    /// through the packets it reads: without it, keepalived (2.2.7, and
    /// upstream still) restarts that timer after every packet it reads as
    /// master, even one it refused, so a peer it refuses whose adverts come
    /// at least as often as its own keeps it silent.
    pub lower_prio_no_advert: bool,
}

impl VrrpInstance {
    /// A multicast instance on `eth0` with one address.
    pub fn new(vrid: u8, priority: u8, advert: Duration, address: impl Into<String>) -> Self {
        VrrpInstance {
            vrid,
            priority,
            advert,
            interface: "eth0".into(),
            addresses: vec![address.into()],
            password: None,
            unicast_peers: Vec::new(),
            notify_master: None,
            notify_backup: None,
            use_vmac: false,
            lower_prio_no_advert: false,
        }
    }
}

/// keepalived.conf for `host` speaking VRRP `version` (2 or 3). Every
/// instance starts as BACKUP, so priorities alone decide the election.
pub fn config(host: &Host, version: u8, instances: &[VrrpInstance]) -> String {
    let mut conf = format!(
        "global_defs {{\n  router_id {}\n  vrrp_version {version}\n}}\n",
        host.name()
    );
    for i in instances {
        let _ = write!(
            conf,
            "vrrp_instance VI_{vrid} {{\n  state BACKUP\n  interface {interface}\n  virtual_router_id {vrid}\n  priority {priority}\n  advert_int {advert}\n",
            vrid = i.vrid,
            interface = i.interface,
            priority = i.priority,
            advert = i.advert.as_secs_f64(),
        );
        if let Some(password) = &i.password {
            let _ = write!(
                conf,
                "  authentication {{\n    auth_type PASS\n    auth_pass {password}\n  }}\n"
            );
        }
        if !i.unicast_peers.is_empty() {
            let _ = write!(
                conf,
                "  unicast_src_ip {}\n  unicast_peer {{\n",
                host.ipv4(0)
            );
            for peer in &i.unicast_peers {
                let _ = writeln!(conf, "    {peer}");
            }
            conf.push_str("  }\n");
        }
        for (keyword, script) in [
            ("notify_master", &i.notify_master),
            ("notify_backup", &i.notify_backup),
        ] {
            if let Some(script) = script {
                let _ = writeln!(conf, "  {keyword} \"{script}\"");
            }
        }
        if i.use_vmac {
            conf.push_str("  use_vmac\n");
        }
        if i.lower_prio_no_advert {
            conf.push_str("  lower_prio_no_advert\n");
        }
        // keepalived reads one address per line.
        conf.push_str("  virtual_ipaddress {\n");
        for address in &i.addresses {
            let _ = writeln!(conf, "    {address}");
        }
        conf.push_str("  }\n}\n");
    }
    conf
}

/// Runs keepalived in `host`'s namespace with its files under the lab dir;
/// it dies with the returned process handle and with the lab.
pub fn start_keepalived(
    lab: &Lab,
    host: &Host,
    version: u8,
    instances: &[VrrpInstance],
) -> Result<Process> {
    start_keepalived_with(lab, host, &config(host, version, instances))
}

/// As [`start_keepalived`], on a keepalived.conf written elsewhere (e.g.
/// a user's file, as an import test takes it).
pub fn start_keepalived_with(lab: &Lab, host: &Host, keepalived_conf: &str) -> Result<Process> {
    let dir = lab.dir().join(format!("keepalived-{}", host.name()));
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("creating", &dir, e))?;
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, keepalived_conf).map_err(|e| LabError::io("writing", &conf, e))?;
    let path = |name: &str| dir.join(name).display().to_string();
    host.spawn(&[
        "keepalived",
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--use-file",
        &path("keepalived.conf"),
        "--pid",
        &path("keepalived.pid"),
        "--vrrp_pid",
        &path("vrrp.pid"),
        "--checkers_pid",
        &path("checkers.pid"),
    ])
}
