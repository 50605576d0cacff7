//! Vrrpd ("Advanced Vrrpd", fredbcode/Vrrpd) command lines to manifests.
//!
//! Each `vrrpd ...` process runs one virtual router; the processes started
//! with `-M N` watch each other (one going backup or losing its link sends
//! all to backup), which is a sync group. Several command lines are given
//! one after the other, each starting with the program name (`vrrpd` or a
//! path ending in `/vrrpd`); as in Vrrpd's README, the same lines run on
//! every server.
//!
//! Options are read as Vrrpd's `getopt(argc, argv,
//! "f:M:Vhnsi:v:a:p:z:x:d:D:U:I:O:")` reads them (GNU getopt: options and
//! addresses in any order, `-v51` or `-v 51`, `--` ends the options), with
//! Vrrpd's meaning: `-n` turns the virtual MAC *off* (the source has
//! `no_vmac = 1`, whatever the usage text says), `-s` toggles preemption
//! (on by default), `-a pw/KEY` is a password of up to 8 characters taken
//! as written, an address without `/LEN` is a `/32`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hareconcile_model::{
    AcceptFrom, Auth, ClusterSpec, Duration, Failback, Garp, Node, Notify, PeerApi, Track,
    Transport, V3Checksum, VirtualIpSpec, VrrpDefaults, VrrpVersion,
};
use ipnet::IpNet;

use crate::finding::{Findings, Level, Source};
use crate::manifests::{self, Address};
use crate::names::{dns_label, is_dns_label, Names};
use crate::{Import, ImportError, Options, Secret};

/// The options that take an argument, as in Vrrpd's optstring.
const WITH_ARGUMENT: &str = "fMivapzxdDUIO";
const FLAGS: &str = "Vhns";
/// The sync group of the processes started with `-M`.
const GROUP: &str = "vrrpd";

/// One vrrpd process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    /// Where the command line is, for findings: `vrrpd command N`.
    line: usize,
    interface: String,
    vrid: u8,
    addresses: Vec<IpNet>,
    priority: u8,
    advert: u8,
    preempt: bool,
    virtual_mac: bool,
    password: Option<(String, Source)>,
    up: Option<String>,
    down: Option<String>,
    monitor: Option<(u8, Source)>,
}

/// The command lines in `args` (each starting with the program name, or
/// one line without it) as a Cluster and one VirtualIP per process. The
/// Cluster's nodes are the names of `options.addresses` (at least two;
/// `n1`, `n2` with placeholder addresses otherwise).
pub fn import(args: &[String], options: &Options) -> Result<Import, ImportError> {
    let lines = split_command_lines(args);
    if lines.is_empty() {
        return Err(ImportError::CommandLine(
            "no vrrpd command line: give its arguments after --, e.g. -- vrrpd -i eth0 -v 51 10.0.0.100".to_string(),
        ));
    }
    if let Some(name) = options.addresses.keys().find(|n| !is_dns_label(n)) {
        return Err(ImportError::NodeName(name.clone()));
    }
    let mut findings = Findings::default();
    let processes = lines
        .iter()
        .enumerate()
        .map(|(i, line)| process(i + 1, line, &mut findings))
        .collect::<Result<Vec<_>, _>>()?;
    let node_names = node_names(options);
    let nodes: Vec<(String, Address)> = node_names
        .iter()
        .map(|name| (name.clone(), Address::Placeholder))
        .collect();
    let addresses = manifests::resolve_addresses(&nodes, options, &mut findings);
    let (auth, secrets) = auth(&processes, options, &mut findings);
    let cluster = ClusterSpec {
        nodes: addresses
            .iter()
            .map(|(name, address)| Node {
                name: name.clone(),
                address: *address,
                priority: 100,
            })
            .collect(),
        vrrp: VrrpDefaults {
            version: VrrpVersion::V2,
            advert_interval: Duration::from_secs(1),
            transport: Transport::Multicast,
            auth,
            v3_checksum: V3Checksum::default(),
            // Vrrpd takes adverts from any host on the link.
            accept_from: AcceptFrom::Any,
        },
        failback: Failback::Auto,
        peer: PeerApi::default(),
        // keepalived has no quorum: a partition makes two masters.
        quorum: None,
    };
    let monitored = processes.iter().filter(|p| p.monitor.is_some()).count();
    for process in &processes {
        if let Some((expected, at)) = &process.monitor {
            if usize::from(*expected) != monitored {
                findings.changed(
                    at,
                    format!("-M {expected}"),
                    format!("Vrrpd expects {expected} processes to watch each other, the command lines start {monitored} with -M: the sync group holds those {monitored}"),
                );
            }
        }
    }
    let mut objects = vec![manifests::cluster_object(
        options,
        &cluster,
        format!("{} vrrpd command line(s)", processes.len()),
    )];
    let mut names = Names::default();
    for process in &processes {
        let name = names.take(&dns_label(
            &format!("{}-{}", process.interface, process.vrid),
            &format!("vrrp-{}", process.vrid),
        ));
        let at = command_source(process.line, 0);
        if process.virtual_mac {
            findings.changed(
                &at,
                "virtual MAC",
                format!(
                    "Vrrpd gives {} itself the virtual MAC; hareconcile puts the VIPs on a macvlan (vrrp.{}) with that MAC instead, so the interface's other addresses (aliases a -U script adds) keep its own MAC: list them in the VirtualIP's addresses to move them with the VIP",
                    process.interface, process.vrid
                ),
            );
        }
        findings.note(
            Some(&at),
            format!("VirtualIP {name}"),
            format!(
                "every node gets priority {}: Vrrpd runs the same command line on each server (ties go to the higher address, as in VRRP); set spec.priorities to prefer one",
                process.priority
            ),
        );
        let spec = VirtualIpSpec {
            cluster: options.cluster.clone(),
            interface: process.interface.clone(),
            interfaces: Default::default(),
            vrid: process.vrid,
            addresses: process.addresses.clone(),
            advert_interval: (process.advert != 1)
                .then(|| Duration::from_secs(u64::from(process.advert))),
            priorities: node_names
                .iter()
                .map(|n| (n.clone(), process.priority))
                .collect::<BTreeMap<_, _>>(),
            preempt: (!process.preempt).then_some(false),
            preempt_delay: None,
            accept: true,
            virtual_mac: process.virtual_mac,
            garp: Garp::default(),
            track: Track::default(),
            sync_group: process.monitor.as_ref().map(|_| GROUP.to_string()),
            notify: Notify {
                master: process.up.iter().cloned().collect(),
                backup: process.down.iter().cloned().collect(),
                ..Notify::default()
            },
            control: Default::default(),
            fencing: Default::default(),
            accept_from: None,
        };
        objects.push(manifests::virtual_ip_object(
            &name,
            &spec,
            format!("vrrpd command line {}", process.line),
        ));
    }
    Ok(Import {
        objects,
        secrets,
        findings: findings.into_vec(),
    })
}

/// The nodes of the Cluster: the ones given addresses, else two.
fn node_names(options: &Options) -> Vec<String> {
    let mut names: Vec<String> = options.addresses.keys().cloned().collect();
    for fallback in ["n1", "n2"] {
        if names.len() >= 2 {
            break;
        }
        if !names.iter().any(|n| n == fallback) {
            names.push(fallback.to_string());
        }
    }
    names
}

/// The Cluster's password: the first `-a pw/KEY`; every process must use it.
fn auth(processes: &[Process], options: &Options, findings: &mut Findings) -> (Auth, Vec<Secret>) {
    let Some((password, at)) = processes.iter().find_map(|p| p.password.clone()) else {
        return (Auth::default(), Vec::new());
    };
    for process in processes {
        let differs = process.password.as_ref().map(|(p, _)| p) != Some(&password);
        if differs {
            findings.changed(
                &command_source(process.line, 0),
                "-a",
                "the Cluster has one password for every VirtualIP (the first -a pw/ given): use it on every vrrpd still running",
            );
        }
    }
    let (auth, secret) = manifests::password_auth(&password, &at, options, findings);
    (auth, vec![secret])
}

/// The command lines in `args`, without their program names.
fn split_command_lines(args: &[String]) -> Vec<Vec<String>> {
    let is_program = |arg: &String| arg == "vrrpd" || arg.ends_with("/vrrpd");
    let mut lines: Vec<Vec<String>> = Vec::new();
    for arg in args {
        if is_program(arg) || lines.is_empty() {
            lines.push(Vec::new());
            if is_program(arg) {
                continue;
            }
        }
        if let Some(line) = lines.last_mut() {
            line.push(arg.clone());
        }
    }
    lines
}

/// Argument `position` (1-based, 0 for the whole line) of command line `line`.
fn command_source(line: usize, position: usize) -> Source {
    Source::new(format!("vrrpd command {line}"), position)
}

/// One command line as Vrrpd reads it; an error for what Vrrpd refuses.
fn process(line: usize, args: &[String], findings: &mut Findings) -> Result<Process, ImportError> {
    let refuse = |position: usize, why: String| {
        ImportError::CommandLine(format!(
            "{}: {why} (vrrpd refuses this command line too)",
            command_source(line, position)
        ))
    };
    let mut options: Vec<(char, Option<String>, usize)> = Vec::new();
    let mut operands: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let position = i + 1;
        i += 1;
        if arg == "--" {
            operands.extend(args[i..].iter().cloned().zip(i + 1..));
            break;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            operands.push((arg.clone(), position));
            continue;
        };
        for (offset, option) in cluster.char_indices() {
            if FLAGS.contains(option) {
                options.push((option, None, position));
            } else if WITH_ARGUMENT.contains(option) {
                let attached = &cluster[offset + option.len_utf8()..];
                let value = if attached.is_empty() {
                    let value = args
                        .get(i)
                        .ok_or_else(|| refuse(position, format!("-{option} needs a value")))?;
                    i += 1;
                    value.clone()
                } else {
                    attached.to_string()
                };
                options.push((option, Some(value), position));
                break;
            } else {
                return Err(refuse(position, format!("-{option} is not a vrrpd option")));
            }
        }
    }
    let mut process = Process {
        line,
        interface: String::new(),
        vrid: 0,
        addresses: Vec::new(),
        priority: 100,
        advert: 1,
        preempt: true,
        virtual_mac: true,
        password: None,
        up: None,
        down: None,
        monitor: None,
    };
    for (option, value, position) in options {
        let at = command_source(line, position);
        let value = value.unwrap_or_default();
        let number = |min: u32, max: u32| -> Result<u32, ImportError> {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| refuse(position, format!("-{option} {value}: use {min}-{max}")))
        };
        match option {
            'i' => process.interface = value.clone(),
            'v' => process.vrid = u8::try_from(number(1, 255)?).unwrap_or(1),
            'p' => process.priority = u8::try_from(number(1, 255)?).unwrap_or(100),
            'd' => process.advert = u8::try_from(number(1, 255)?).unwrap_or(1),
            's' => process.preempt = !process.preempt,
            'n' => process.virtual_mac = false,
            'U' => process.up = Some(value.clone()),
            'D' => process.down = Some(value.clone()),
            'M' => {
                let count = u8::try_from(number(0, 9)?).unwrap_or(0);
                process.monitor = (count > 0).then(|| (count, at.clone()));
            }
            'a' => process.password = password(&value, &at, findings).map_err(|why| refuse(position, why))?,
            'z' | 'x' => findings.unmapped(
                &at,
                format!("-{option} {value}"),
                "the priority atropos --reduce/--increase sets has no equivalent: hareconcile changes priorities with `hareconcile vip priority VIP --adjust N` (spec.control.priorityAdjust)",
            ),
            'I' | 'O' => findings.unmapped(
                &at,
                format!("-{option} {value}"),
                "Vrrpd's magic packet to the gateway is not supported: hareconcile announces the VIPs with gratuitous ARP (garp.count, garp.refresh), or keeps one MAC with virtualMac",
            ),
            'f' => findings.note(
                Some(&at),
                format!("-f {value}"),
                "Vrrpd's pid directory; hareconcile keeps its state in the agent's --state-dir",
            ),
            'V' | 'h' => findings.push(
                Level::Invalid,
                Some(&at),
                format!("-{option}"),
                "makes vrrpd print and exit without running: ignored here",
            ),
            _ => {}
        }
    }
    for (operand, position) in operands {
        let address = operand
            .parse::<IpNet>()
            .ok()
            .or_else(|| operand.parse::<IpAddr>().ok().map(IpNet::from))
            .filter(|a| a.addr().is_ipv4())
            .ok_or_else(|| {
                refuse(
                    position,
                    format!("{operand} is not an IPv4 address (with an optional /LEN)"),
                )
            })?;
        process.addresses.push(address);
    }
    if process.interface.is_empty() {
        return Err(refuse(0, "no interface: give -i IFNAME".to_string()));
    }
    if process.vrid == 0 {
        return Err(refuse(0, "no virtual router id: give -v VRID".to_string()));
    }
    if process.addresses.is_empty() {
        return Err(refuse(
            0,
            "no virtual address: end the line with the VIP, e.g. 10.0.0.100/24".to_string(),
        ));
    }
    Ok(process)
}

/// `-a none|pw/KEY|ah/0xKEY`: the password, as Vrrpd keeps it.
fn password(
    value: &str,
    at: &Source,
    findings: &mut Findings,
) -> Result<Option<(String, Source)>, String> {
    if value == "none" {
        return Ok(None);
    }
    if value.starts_with("ah/0x") {
        return Err("-a ah/... is not implemented by vrrpd".to_string());
    }
    let Some(key) = value.strip_prefix("pw/").filter(|_| value.len() >= 5) else {
        return Err(format!("-a {value}: use none or pw/PASSWORD"));
    };
    // Vrrpd copies at most 8 characters; hareconcile does the same.
    if key.len() > 8 {
        findings.note(
            Some(at),
            "-a",
            "longer than 8 characters: Vrrpd and hareconcile both use the first 8 only",
        );
    }
    Ok(Some((key.to_string(), at.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_are_read_as_gnu_getopt_reads_them() {
        let mut findings = Findings::default();
        let p = process(
            1,
            &args(
                "-i eth0 10.16.1.200 -v51 -M 2 -sn -p 150 -U /up.sh -a pw/secret -- 10.16.1.201/24",
            ),
            &mut findings,
        )
        .unwrap();
        assert_eq!(p.interface, "eth0");
        assert_eq!(p.vrid, 51);
        assert_eq!(p.monitor.as_ref().unwrap().0, 2);
        assert!(!p.preempt && !p.virtual_mac);
        assert_eq!(p.priority, 150);
        assert_eq!(p.password.as_ref().unwrap().0, "secret");
        assert_eq!(
            p.addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["10.16.1.200/32", "10.16.1.201/24"]
        );
    }

    #[test]
    fn what_vrrpd_refuses_is_an_error_naming_the_argument() {
        let mut findings = Findings::default();
        let error = process(2, &args("-i eth0 -v 300 10.0.0.1"), &mut findings).unwrap_err();
        assert_eq!(
            error.to_string(),
            "vrrpd command 2:3: -v 300: use 1-255 (vrrpd refuses this command line too)"
        );
        assert!(process(1, &args("-i eth0 -q 10.0.0.1 -v 1"), &mut findings).is_err());
        assert!(process(1, &args("-i eth0 -v 1"), &mut findings).is_err());
        assert!(process(1, &args("-i eth0 -v 1 -a ah/0x12 10.0.0.1"), &mut findings).is_err());
    }

    #[test]
    fn command_lines_start_at_each_program_name() {
        let lines = split_command_lines(&args(
            "vrrpd -i eth0 10.0.0.1 -v 1 /usr/sbin/vrrpd -i eth1 10.0.1.1 -v 2",
        ));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], args("-i eth1 10.0.1.1 -v 2"));
        assert_eq!(split_command_lines(&args("-i eth0 -v 1 10.0.0.1")).len(), 1);
    }
}
