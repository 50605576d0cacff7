//! One node's keepalived.conf as the VRRP keywords the importer maps, each
//! value with the line it came from. Everything else becomes a finding
//! here, with the reason from the keyword table.

use std::net::IpAddr;

use hareconcile_model::unusable_virtual_address;
use ipnet::IpNet;

use super::keywords::{self, Context};
use super::tree::Statement;
use super::words;
use crate::finding::{Findings, Source};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub at: Source,
}

impl<T> At<T> {
    fn new(value: T, at: &Source) -> Self {
        At {
            value,
            at: at.clone(),
        }
    }
}

/// keepalived's timers: decimal seconds with up to six decimals.
pub type Micros = u64;

#[derive(Debug, Default)]
pub struct NodeConfig {
    pub router_id: Option<At<String>>,
    pub version: Option<At<u8>>,
    pub strict: Option<Source>,
    pub checksum_as_v2: Option<Source>,
    pub garp_repeat: Option<At<u32>>,
    pub garp_refresh: Option<At<Micros>>,
    pub scripts: Vec<Script>,
    pub instances: Vec<Instance>,
    pub groups: Vec<SyncGroup>,
}

impl NodeConfig {
    pub fn script(&self, name: &str) -> Option<&Script> {
        self.scripts.iter().find(|s| s.name == name)
    }
}

/// A `vrrp_script` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub at: Source,
    pub command: Option<At<Vec<String>>>,
    pub interval: Option<At<Micros>>,
    pub timeout: Option<At<Micros>>,
    pub fall: Option<At<u32>>,
    pub rise: Option<At<u32>>,
    pub weight: Option<At<i32>>,
}

/// An entry of a `track_script` or `track_interface` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    /// The weight written on the entry (overriding the script's own).
    pub weight: Option<i32>,
    pub at: Source,
}

/// What `state` says an instance starts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Master,
    Backup,
}

/// The notify commands of an instance or sync group, as argv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyCommands {
    pub master: Option<At<Vec<String>>>,
    pub backup: Option<At<Vec<String>>>,
    pub fault: Option<At<Vec<String>>>,
    pub stop: Option<At<Vec<String>>>,
    /// `notify`: one command for every state, given the state as arguments.
    pub generic: Option<At<Vec<String>>>,
}

/// A `vrrp_instance` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    pub at: Source,
    pub state: Option<At<InitialState>>,
    pub interface: Option<At<String>>,
    pub vrid: Option<At<u8>>,
    pub priority: Option<At<u8>>,
    pub advert: Option<At<Micros>>,
    pub version: Option<At<u8>>,
    pub addresses: Vec<At<IpNet>>,
    pub unicast_src: Option<At<IpAddr>>,
    pub mcast_src: Option<At<IpAddr>>,
    pub peers: Vec<At<IpAddr>>,
    /// `auth_type PASS` with its `auth_pass`.
    pub password: Option<At<String>>,
    pub nopreempt: Option<Source>,
    pub preempt_delay: Option<At<Micros>>,
    pub garp_repeat: Option<At<u32>>,
    pub garp_refresh: Option<At<Micros>>,
    pub vmac: Option<Source>,
    pub accept: Option<At<bool>>,
    pub strict: Option<Source>,
    pub checksum_as_v2: Option<Source>,
    pub track_interfaces: Vec<Tracked>,
    pub track_scripts: Vec<Tracked>,
    pub notify: NotifyCommands,
}

impl Instance {
    fn new(name: String, at: &Source) -> Self {
        Instance {
            name,
            at: at.clone(),
            state: None,
            interface: None,
            vrid: None,
            priority: None,
            advert: None,
            version: None,
            addresses: Vec::new(),
            unicast_src: None,
            mcast_src: None,
            peers: Vec::new(),
            password: None,
            nopreempt: None,
            preempt_delay: None,
            garp_repeat: None,
            garp_refresh: None,
            vmac: None,
            accept: None,
            strict: None,
            checksum_as_v2: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            notify: NotifyCommands::default(),
        }
    }

    /// Whether the instance floats IPv6 addresses (keepalived's family is
    /// that of its first address).
    pub fn is_ipv6(&self) -> bool {
        self.addresses
            .first()
            .is_some_and(|a| a.value.addr().is_ipv6())
    }
}

/// A `vrrp_sync_group` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    pub at: Source,
    pub members: Vec<At<String>>,
    pub track_interfaces: Vec<Tracked>,
    pub track_scripts: Vec<Tracked>,
    /// `sync_group_tracking_weight`: script weights count instead of faulting.
    pub keep_weights: bool,
    pub notify: NotifyCommands,
}

/// Reads the top-level statements of one node's configuration.
pub fn node_config(statements: &[Statement], findings: &mut Findings) -> NodeConfig {
    let mut config = NodeConfig::default();
    for statement in statements {
        match statement.keyword() {
            "global_defs" => global_defs(statement, &mut config, findings),
            "vrrp_script" => {
                if let Some(name) = named(statement, findings) {
                    config.scripts.push(script(name, statement, findings));
                }
            }
            "vrrp_instance" => {
                if let Some(name) = named(statement, findings) {
                    config.instances.push(instance(name, statement, findings));
                }
            }
            "vrrp_sync_group" => {
                if let Some(name) = named(statement, findings) {
                    config.groups.push(sync_group(name, statement, findings));
                }
            }
            other => unsupported(Context::TopLevel, other, statement, findings),
        }
    }
    config
}

/// The name after a block keyword; keepalived skips a nameless block.
fn named(statement: &Statement, findings: &mut Findings) -> Option<String> {
    match statement.value() {
        Some(name) => Some(name.to_string()),
        None => {
            findings.invalid(
                &statement.at,
                statement.keyword(),
                "has no name: keepalived skips the block",
            );
            None
        }
    }
}

fn unsupported(context: Context, keyword: &str, statement: &Statement, findings: &mut Findings) {
    match keywords::unsupported(context, keyword) {
        Ok(reason) => findings.unmapped(&statement.at, keyword, reason),
        Err(misplaced) => findings.invalid(&statement.at, keyword, misplaced),
    }
}

fn global_defs(block: &Statement, config: &mut NodeConfig, findings: &mut Findings) {
    for s in block.children() {
        let at = &s.at;
        match s.keyword() {
            "router_id" => {
                config.router_id = s.value().map(|v| At::new(v.to_string(), at));
            }
            "vrrp_version" => config.version = version(s, findings),
            "vrrp_strict" => config.strict = Some(at.clone()),
            "v3_checksum_as_v2" => config.checksum_as_v2 = Some(at.clone()),
            "vrrp_garp_master_repeat" => config.garp_repeat = number(s, 1, u32::MAX, findings),
            "vrrp_garp_master_refresh" => config.garp_refresh = timer(s, findings),
            "vrrp_check_unicast_src" => {}
            other => unsupported(Context::GlobalDefs, other, s, findings),
        }
    }
}

fn script(name: String, block: &Statement, findings: &mut Findings) -> Script {
    let mut script = Script {
        name,
        at: block.at.clone(),
        command: None,
        interval: None,
        timeout: None,
        fall: None,
        rise: None,
        weight: None,
    };
    for s in block.children() {
        match s.keyword() {
            "script" => {
                if let Some((argv, extra)) = command(s, findings) {
                    if !extra.is_empty() {
                        findings.invalid(
                            &s.at,
                            "script",
                            format!(
                                "keepalived ignores the words after the script ({}): quote the whole command",
                                extra.join(" ")
                            ),
                        );
                    }
                    script.command = Some(At::new(argv, &s.at));
                }
            }
            "interval" => script.interval = positive_timer(s, findings),
            "timeout" => script.timeout = positive_timer(s, findings),
            "fall" => script.fall = number(s, 1, i32::MAX as u32, findings),
            "rise" => script.rise = number(s, 1, i32::MAX as u32, findings),
            "weight" => {
                script.weight = weight(s, 1, findings).map(|w| At::new(w, &s.at));
            }
            other => unsupported(Context::Script, other, s, findings),
        }
    }
    if script.command.is_none() {
        findings.invalid(
            &block.at,
            format!("vrrp_script {}", script.name),
            "has no script line: keepalived removes it, and so does the import",
        );
    }
    script
}

fn instance(name: String, block: &Statement, findings: &mut Findings) -> Instance {
    let mut instance = Instance::new(name, &block.at);
    for s in block.children() {
        let at = &s.at;
        match s.keyword() {
            "state" => {
                instance.state = match s.value() {
                    Some("MASTER") => Some(At::new(InitialState::Master, at)),
                    Some("BACKUP") => Some(At::new(InitialState::Backup, at)),
                    other => {
                        findings.invalid(
                            at,
                            "state",
                            format!(
                                "{} is not MASTER or BACKUP: keepalived uses BACKUP",
                                other.unwrap_or("nothing")
                            ),
                        );
                        Some(At::new(InitialState::Backup, at))
                    }
                }
            }
            "interface" => {
                instance.interface = s.value().map(|v| At::new(v.to_string(), at));
            }
            "virtual_router_id" => instance.vrid = number(s, 1, 255, findings),
            "priority" => instance.priority = number(s, 1, 255, findings),
            "advert_int" => instance.advert = positive_timer(s, findings),
            "version" => instance.version = version(s, findings),
            "virtual_ipaddress" => {
                for line in s.children() {
                    if let Some(address) = address(line, &instance, findings) {
                        instance.addresses.push(address);
                    }
                }
            }
            "unicast_src_ip" => instance.unicast_src = ip(s, findings),
            "mcast_src_ip" => instance.mcast_src = ip(s, findings),
            "unicast_peer" => {
                for line in s.children() {
                    if let Some(peer) = ip(&as_value_line(line), findings) {
                        if line.words.len() > 1 {
                            findings.unmapped(
                                &line.at,
                                format!("unicast_peer {}", line.keyword()),
                                format!(
                                    "peer options ({}) are not supported: hareconcile sends to the peer with TTL 255 and accepts only TTL 255",
                                    line.words[1..].join(" ")
                                ),
                            );
                        }
                        instance.peers.push(peer);
                    }
                }
            }
            "authentication" => instance.password = authentication(s, findings),
            "nopreempt" => instance.nopreempt = Some(at.clone()),
            "preempt" => instance.nopreempt = None,
            "preempt_delay" => instance.preempt_delay = timer(s, findings),
            "garp_master_repeat" => instance.garp_repeat = number(s, 1, u32::MAX, findings),
            "garp_master_refresh" => instance.garp_refresh = timer(s, findings),
            "use_vmac" => {
                instance.vmac = Some(at.clone());
                if s.words.len() > 1 {
                    findings.changed(
                        at,
                        "use_vmac",
                        format!(
                            "the interface name or MAC ({}) is not kept: hareconcile names it vrrp.VRID (vrrp6.VRID for IPv6) with MAC 00:00:5e:00:01:VRID (00:00:5e:00:02:VRID)",
                            s.words[1..].join(" ")
                        ),
                    );
                }
            }
            "accept" => instance.accept = Some(At::new(true, at)),
            "no_accept" => instance.accept = Some(At::new(false, at)),
            "strict_mode" => {
                let on = match s.value() {
                    None => true,
                    Some(word) => boolean(word).unwrap_or_else(|| {
                        findings.invalid(
                            at,
                            "strict_mode",
                            format!(
                                "{word} is not on/off, true/false or yes/no: keepalived ignores it"
                            ),
                        );
                        false
                    }),
                };
                instance.strict = on.then(|| at.clone());
            }
            "v3_checksum_as_v2" => instance.checksum_as_v2 = Some(at.clone()),
            "track_interface" => instance.track_interfaces.extend(tracked(s, findings)),
            "track_script" => instance.track_scripts.extend(tracked(s, findings)),
            "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                notify(s, &mut instance.notify, findings);
            }
            "native_ipv6" | "check_unicast_src" => {}
            other => unsupported(Context::Instance, other, s, findings),
        }
    }
    instance
}

fn sync_group(name: String, block: &Statement, findings: &mut Findings) -> SyncGroup {
    let mut group = SyncGroup {
        name,
        at: block.at.clone(),
        members: Vec::new(),
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        keep_weights: false,
        notify: NotifyCommands::default(),
    };
    for s in block.children() {
        match s.keyword() {
            "group" => group.members.extend(
                s.block_words()
                    .map(|(word, at)| At::new(word.to_string(), at)),
            ),
            "track_interface" => group.track_interfaces.extend(tracked(s, findings)),
            "track_script" => group.track_scripts.extend(tracked(s, findings)),
            "sync_group_tracking_weight" => group.keep_weights = true,
            "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                notify(s, &mut group.notify, findings);
            }
            other => unsupported(Context::SyncGroup, other, s, findings),
        }
    }
    group
}

/// A line of a value block (`unicast_peer { ADDRESS ... }`) read as if the
/// address were the keyword's value.
fn as_value_line(line: &Statement) -> Statement {
    Statement {
        words: vec![String::new(), line.keyword().to_string()],
        ..line.clone()
    }
}

/// A `virtual_ipaddress` line: the address (a missing prefix length is a
/// host route, as keepalived reads it) and its options.
fn address(line: &Statement, instance: &Instance, findings: &mut Findings) -> Option<At<IpNet>> {
    let text = line.keyword();
    let parsed = text
        .parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from));
    let Some(net) = parsed else {
        findings.invalid(
            &line.at,
            text,
            "is not an IP address (with an optional /prefix): not imported",
        );
        return None;
    };
    // The model refuses these; keepalived adds them, but they cannot serve.
    if let Some(why) = unusable_virtual_address(&net) {
        findings.invalid(&line.at, text, format!("cannot float: {why}; not imported"));
        return None;
    }
    let mut options = line.words[1..].iter();
    while let Some(option) = options.next() {
        if option == "dev" {
            let dev = options.next().map(String::as_str).unwrap_or_default();
            let own = instance.interface.as_ref().map(|i| i.value.as_str());
            if Some(dev) != own {
                findings.unmapped(
                    &line.at,
                    format!("{text} dev {dev}"),
                    "a VirtualIP holds its addresses on its own interface only: float this address in a VirtualIP on that interface (in the same sync group)",
                );
                return None;
            }
            continue;
        }
        findings.unmapped(
            &line.at,
            format!("{text} {option}"),
            "address options other than dev are not supported: the address is added with its prefix length only",
        );
        // The option's value, if it takes one, is part of the same finding.
        if matches!(
            option.as_str(),
            "brd" | "broadcast" | "label" | "scope" | "metric" | "preferred_lft" | "track_group"
        ) {
            options.next();
        }
    }
    Some(At::new(net, &line.at))
}

fn authentication(block: &Statement, findings: &mut Findings) -> Option<At<String>> {
    let mut kind: Option<At<String>> = None;
    let mut password: Option<At<String>> = None;
    for s in block.children() {
        match (s.keyword(), s.value()) {
            ("auth_type", Some(value)) => kind = Some(At::new(value.to_string(), &s.at)),
            ("auth_pass", Some(value)) => password = Some(At::new(value.to_string(), &s.at)),
            (other, _) => findings.invalid(
                &s.at,
                other,
                "authentication takes auth_type TYPE and auth_pass PASSWORD: keepalived ignores this line",
            ),
        }
    }
    match kind {
        Some(kind) if kind.value == "PASS" => {
            let password = password.or_else(|| {
                findings.invalid(
                    &kind.at,
                    "auth_pass",
                    "auth_type PASS without auth_pass: keepalived uses an empty password",
                );
                Some(At::new(String::new(), &kind.at))
            })?;
            if password.value.len() > 8 {
                findings.note(
                    Some(&password.at),
                    "auth_pass",
                    "longer than 8 characters: keepalived and hareconcile both use the first 8 only",
                );
            }
            Some(password)
        }
        Some(kind) if kind.value == "AH" => {
            findings.unmapped(
                &kind.at,
                "auth_type AH",
                "IPsec AH authentication is deprecated (RFC 3768) and not supported: hareconcile speaks no authentication or a simple password (PASS)",
            );
            None
        }
        Some(kind) => {
            findings.invalid(
                &kind.at,
                "auth_type",
                format!("{} is not PASS or AH: keepalived ignores it", kind.value),
            );
            None
        }
        None => None,
    }
}

/// The entries of a `track_script` or `track_interface` block.
fn tracked(block: &Statement, findings: &mut Findings) -> Vec<Tracked> {
    let mut out = Vec::new();
    for line in block.children() {
        let weight = match line.words.get(1).map(String::as_str) {
            None => None,
            Some("weight") => weight(line, 2, findings),
            Some(other) => {
                findings.invalid(
                    &line.at,
                    line.keyword(),
                    format!("unknown option {other} (only weight N): keepalived ignores the entry"),
                );
                continue;
            }
        };
        if let Some(option) = line.words.get(3) {
            match option.as_str() {
                "noreverse" => {}
                "reverse" => findings.unmapped(
                    &line.at,
                    format!("{} reverse", line.keyword()),
                    "reversed weights are not supported: the weight counts the usual way (negative while failing, positive while succeeding)",
                ),
                other => findings.invalid(&line.at, line.keyword(), format!("unknown weight option {other}: keepalived ignores it")),
            }
        }
        out.push(Tracked {
            name: line.keyword().to_string(),
            weight,
            at: line.at.clone(),
        });
    }
    out
}

/// `notify_*` / `notify`: the script as argv; a user and group after it
/// are not carried over.
fn notify(s: &Statement, commands: &mut NotifyCommands, findings: &mut Findings) {
    let Some((argv, extra)) = command(s, findings) else {
        return;
    };
    if !extra.is_empty() {
        findings.changed(
            &s.at,
            s.keyword(),
            format!(
                "runs as the agent's user (root), not as {}: hareconcile has no per-script user",
                extra.join(":")
            ),
        );
    }
    if s.keyword() == "notify" {
        findings.changed(
            &s.at,
            "notify",
            "runs for each state with the arguments keepalived gives it (INSTANCE or GROUP, the name, the state) but not the fourth, the priority: a script reading $4 gets nothing",
        );
    }
    let slot = match s.keyword() {
        "notify_master" => &mut commands.master,
        "notify_backup" => &mut commands.backup,
        "notify_fault" => &mut commands.fault,
        "notify_stop" => &mut commands.stop,
        _ => &mut commands.generic,
    };
    if slot.is_some() {
        findings.invalid(
            &s.at,
            s.keyword(),
            "given twice: keepalived keeps the first, and so does the import",
        );
        return;
    }
    *slot = Some(At::new(argv, &s.at));
}

/// A script keyword's command as argv, and the words after the quoted
/// script (a user and group for notify scripts).
fn command(s: &Statement, findings: &mut Findings) -> Option<(Vec<String>, Vec<String>)> {
    let cut = words::quoted(&s.text, false).and_then(|words| {
        let script = words.get(1).cloned().unwrap_or_default();
        Ok((
            words::argv(&script)?,
            words.get(2..).unwrap_or_default().to_vec(),
        ))
    });
    match cut {
        Ok((argv, extra)) if !argv.is_empty() => Some((argv, extra)),
        Ok(_) => {
            findings.invalid(&s.at, s.keyword(), "has no command: keepalived ignores it");
            None
        }
        Err(words::UnmatchedQuote(quote)) => {
            findings.invalid(
                &s.at,
                s.keyword(),
                format!("a {quote} is never closed: keepalived cannot read the script either"),
            );
            None
        }
    }
}

fn version(s: &Statement, findings: &mut Findings) -> Option<At<u8>> {
    number::<u8>(s, 2, 3, findings)
}

fn ip(s: &Statement, findings: &mut Findings) -> Option<At<IpAddr>> {
    let value = s.value().unwrap_or_default();
    match value.parse::<IpAddr>() {
        Ok(ip) => Some(At::new(ip, &s.at)),
        Err(_) => {
            findings.invalid(
                &s.at,
                s.keyword(),
                format!("{value:?} is not an IP address: keepalived ignores it"),
            );
            None
        }
    }
}

/// An integer value in `min..=max`; keepalived ignores anything else.
fn number<T>(s: &Statement, min: T, max: T, findings: &mut Findings) -> Option<At<T>>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let value = s.value().unwrap_or_default();
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Some(At::new(n, &s.at)),
        _ => {
            findings.invalid(
                &s.at,
                s.keyword(),
                format!("{value:?} is not a number from {min} to {max}: keepalived ignores it"),
            );
            None
        }
    }
}

/// A weight at word `index`: -253..=253 (keepalived turns ±254 into ±253).
fn weight(s: &Statement, index: usize, findings: &mut Findings) -> Option<i32> {
    let value = s.words.get(index).map(String::as_str).unwrap_or_default();
    match value.parse::<i32>() {
        Ok(w) if (-253..=253).contains(&w) => Some(w),
        Ok(w) if w.abs() == 254 => {
            findings.invalid(
                &s.at,
                s.keyword(),
                "a weight of ±254 is read as ±253 by keepalived, and here",
            );
            Some(w.signum() * 253)
        }
        _ => {
            findings.invalid(
                &s.at,
                s.keyword(),
                format!("weight {value:?} is not a number from -253 to 253: keepalived ignores it"),
            );
            None
        }
    }
}

fn boolean(word: &str) -> Option<bool> {
    match word {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// A timer in seconds with up to six decimals, as microseconds.
fn timer(s: &Statement, findings: &mut Findings) -> Option<At<Micros>> {
    let value = s.value().unwrap_or_default();
    match parse_seconds(value) {
        Some(micros) => Some(At::new(micros, &s.at)),
        None => {
            findings.invalid(
                &s.at,
                s.keyword(),
                format!(
                    "{value:?} is not a number of seconds (e.g. 1, 0.5): keepalived ignores it"
                ),
            );
            None
        }
    }
}

/// A timer that must be above zero (keepalived ignores 0 or reads it as 1s).
fn positive_timer(s: &Statement, findings: &mut Findings) -> Option<At<Micros>> {
    let parsed = timer(s, findings)?;
    if parsed.value == 0 {
        findings.invalid(
            &s.at,
            s.keyword(),
            "must be above 0: keepalived reads 1 second, and so does the import",
        );
        return Some(At::new(1_000_000, &s.at));
    }
    Some(parsed)
}

fn parse_seconds(text: &str) -> Option<Micros> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || fraction.len() > 6
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::super::{reader, tree};
    use super::*;

    fn parse(text: &str) -> (NodeConfig, Vec<crate::Finding>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.conf");
        std::fs::write(&path, text).unwrap();
        let mut findings = Findings::default();
        let lines = reader::read(&path, "n1", &mut findings).unwrap();
        let statements = tree::statements(lines, &mut findings);
        let config = node_config(&statements, &mut findings);
        (config, findings.into_vec())
    }

    #[test]
    fn seconds_take_up_to_six_decimals() {
        assert_eq!(parse_seconds("1"), Some(1_000_000));
        assert_eq!(parse_seconds("0.05"), Some(50_000));
        assert_eq!(parse_seconds(".5"), Some(500_000));
        assert_eq!(parse_seconds("2.718281"), Some(2_718_281));
        assert_eq!(parse_seconds("1.0000001"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("."), None);
    }

    #[test]
    fn an_instance_reads_every_mapped_keyword() {
        let (config, findings) = parse(
            r#"
vrrp_script chk_web {
    script "/usr/bin/curl -fs 'http://127.0.0.1/health check'"
    interval 2
    timeout 1.5
    fall 3
    rise 2
    weight -20
}
vrrp_instance VI_WEB {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    version 3
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    nopreempt
    preempt_delay 30
    garp_master_repeat 3
    garp_master_refresh 60
    use_vmac
    no_accept
    virtual_ipaddress {
        10.0.0.100/24 dev eth0
        10.0.0.101
    }
    track_interface {
        eth1
    }
    track_script {
        chk_web weight -30
    }
    notify_master "/etc/keepalived/master.sh web"
    notify "/etc/keepalived/all.sh"
}
"#,
        );
        let subjects: Vec<&str> = findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, ["notify"], "the priority argument only");
        let script = &config.scripts[0];
        assert_eq!(
            script.command.as_ref().unwrap().value,
            ["/usr/bin/curl", "-fs", "http://127.0.0.1/health check"]
        );
        assert_eq!(script.timeout.as_ref().unwrap().value, 1_500_000);
        let i = &config.instances[0];
        assert_eq!(i.state.as_ref().unwrap().value, InitialState::Master);
        assert_eq!(i.vrid.as_ref().unwrap().value, 51);
        assert_eq!(i.advert.as_ref().unwrap().value, 500_000);
        assert_eq!(
            i.addresses
                .iter()
                .map(|a| a.value.to_string())
                .collect::<Vec<_>>(),
            ["10.0.0.100/24", "10.0.0.101/32"]
        );
        assert_eq!(i.peers[0].value.to_string(), "10.0.0.2");
        assert!(i.nopreempt.is_some() && i.vmac.is_some());
        assert!(!i.accept.as_ref().unwrap().value);
        assert_eq!(i.track_scripts[0].weight, Some(-30));
        assert_eq!(
            i.notify.master.as_ref().unwrap().value,
            ["/etc/keepalived/master.sh", "web"]
        );
        assert_eq!(i.notify.generic.as_ref().unwrap().at.line, 38);
    }

    #[test]
    fn unsupported_keywords_say_why_with_their_line() {
        let (_, findings) = parse(
            "global_defs {\n  notification_email {\n    ops@example.com\n  }\n  router_id r1\n  enable_snmp_vrrp\n}\nvrrp_instance V {\n  smtp_alert\n  track_file {\n    f\n  }\n  frobnicate 3\n}\nvirtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n  }\n}\n",
        );
        let lines: Vec<(usize, &str)> = findings
            .iter()
            .map(|f| (f.at.as_ref().unwrap().line, f.subject.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (2, "notification_email"),
                (6, "enable_snmp_vrrp"),
                (9, "smtp_alert"),
                (10, "track_file"),
                (13, "frobnicate"),
                (15, "virtual_server")
            ]
        );
        assert!(findings[0].message.contains("--webhook"));
        assert_eq!(findings[4].message, keywords::UNKNOWN);
        assert_eq!(findings[4].level, crate::Level::Invalid);
    }

    #[test]
    fn bad_values_are_invalid_and_ignored_as_keepalived_does() {
        let (config, findings) = parse(
            "vrrp_instance V {\n  priority 300\n  virtual_router_id x\n  virtual_ipaddress {\n    10.0.0.300\n    10.0.0.5/24 label eth0:1\n  }\n  authentication {\n    auth_type AH\n  }\n}\n",
        );
        let i = &config.instances[0];
        assert!(i.priority.is_none() && i.vrid.is_none() && i.password.is_none());
        assert_eq!(i.addresses.len(), 1);
        let levels: Vec<_> = findings
            .iter()
            .map(|f| (f.level, f.subject.as_str()))
            .collect();
        use crate::Level::{Invalid, Unmapped};
        assert_eq!(
            levels,
            [
                (Invalid, "priority"),
                (Invalid, "virtual_router_id"),
                (Invalid, "10.0.0.300"),
                (Unmapped, "10.0.0.5/24 label"),
                (Unmapped, "auth_type AH")
            ]
        );
    }
}
