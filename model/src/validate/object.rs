//! Semantic checks of one object on its own, on its typed spec.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use super::{pointer, Finding};
use crate::spec::{
    unusable_node_address, unusable_virtual_address, AuthType, ClusterSpec, Direction, Duration,
    EtcdQuorum, Handover, Method, Pattern, Placement, ReplicationSpec, ServiceMode, ServiceSpec,
    Standby, VirtualIpSpec, VrrpVersion,
};
use crate::{Kind, Object};

pub(super) fn check(obj: &Object) -> Vec<Finding> {
    match obj.kind {
        Kind::Cluster => typed(obj, cluster),
        Kind::VirtualIP => typed(obj, virtual_ip),
        Kind::Service => typed(obj, service),
        Kind::Replication => typed(obj, replication),
    }
}

/// Decodes the spec and runs `check` on it. The schema admits only what the
/// types decode, so a failure here is a defect in one of them.
fn typed<T: DeserializeOwned>(obj: &Object, check: fn(&T) -> Vec<Finding>) -> Vec<Finding> {
    match obj.spec_as::<T>() {
        Ok(spec) => check(&spec),
        Err(e) => vec![Finding::value(
            "/spec",
            format!(
                "the schema accepted this {} but it cannot be decoded ({e}): please report this bug",
                obj.kind
            ),
        )],
    }
}

fn cluster(spec: &ClusterSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut names = HashMap::new();
    let mut addresses = HashMap::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        if let Some(why) = unusable_node_address(node.address) {
            out.push(Finding::value(
                &format!("/spec/nodes/{i}/address"),
                format!(
                    "{why}: give node {} its own unicast address on the cluster network",
                    node.name
                ),
            ));
        }
        if let Some(first) = names.insert(node.name.as_str(), i) {
            out.push(Finding::value(
                &format!("/spec/nodes/{i}/name"),
                format!(
                    "node name {} is already used by spec.nodes[{first}]: give each node its own name",
                    node.name
                ),
            ));
        }
        if let Some(first) = addresses.insert(node.address, i) {
            out.push(Finding::value(
                &format!("/spec/nodes/{i}/address"),
                format!(
                    "address {} is already used by spec.nodes[{first}]: give each node its own address",
                    node.address
                ),
            ));
        }
    }
    let vrrp = &spec.vrrp;
    if vrrp.version.advert_units(vrrp.advert_interval).is_none() {
        out.push(Finding::value(
            "/spec/vrrp/advertInterval",
            advert_interval_message(vrrp.version, vrrp.advert_interval),
        ));
    }
    if vrrp.version == VrrpVersion::V3 && vrrp.auth.type_ == AuthType::Pass {
        out.push(Finding::value(
            "/spec/vrrp/auth/type",
            "pass authentication exists only in VRRP version 2 (RFC 5798 removed it): set spec.vrrp.version: 2 or use type: none",
        ));
    }
    if let Some(quorum) = &spec.quorum {
        out.extend(etcd_quorum(&quorum.etcd));
    }
    out
}

/// Shortest lease: etcd raises anything below about 1.5 s (three
/// election ticks) on its own, and a node would fence on one slow renewal.
const MIN_LEASE_TTL: Duration = Duration::from_secs(2);
/// Longest lease: a partition's failover takes about this long.
const MAX_LEASE_TTL: Duration = Duration::from_secs(300);

fn etcd_quorum(etcd: &EtcdQuorum) -> Vec<Finding> {
    let mut out = Vec::new();
    let ttl = etcd.lease_ttl;
    if ttl.as_millis() % 1_000 != 0 || ttl < MIN_LEASE_TTL || ttl > MAX_LEASE_TTL {
        out.push(Finding::value(
            "/spec/quorum/etcd/leaseTTL",
            format!(
                "{ttl} cannot be a lease: etcd counts leases in whole seconds; use {MIN_LEASE_TTL} to {MAX_LEASE_TTL} (a partition's failover takes about this long)"
            ),
        ));
    }
    // TLS is all or nothing: a plain endpoint beside https ones would
    // carry the lease renewals in the clear.
    let scheme = if etcd.tls.is_some() { "https" } else { "http" };
    for (i, endpoint) in etcd.endpoints.iter().enumerate() {
        if !endpoint.starts_with(&format!("{scheme}://")) {
            let why = match etcd.tls {
                Some(_) => "with tls every endpoint is https: use https:// (or remove tls)",
                None => {
                    "an https endpoint needs tls.caFile: add spec.quorum.etcd.tls, or use http://"
                }
            };
            out.push(Finding::value(
                &format!("/spec/quorum/etcd/endpoints/{i}"),
                format!("{endpoint}: {why}"),
            ));
        }
    }
    out
}

/// Shared with the cross-object check of a VirtualIP's own interval.
pub(super) fn advert_interval_message(
    version: VrrpVersion,
    interval: crate::spec::Duration,
) -> String {
    let suggestion = match version {
        VrrpVersion::V2 => "use whole seconds such as 1s, or VRRP version 3 for sub-second adverts",
        VrrpVersion::V3 => "use a multiple of 10ms up to 40s950ms",
    };
    format!(
        "{interval} cannot be advertised: {}: {suggestion}",
        version.advert_interval_rule()
    )
}

fn virtual_ip(spec: &VirtualIpSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    for (i, net) in spec.addresses.iter().enumerate() {
        if let Some(why) = unusable_virtual_address(net) {
            out.push(Finding::value(&format!("/spec/addresses/{i}"), why));
        }
        if let Some(first) = seen.insert(net.addr(), i) {
            out.push(Finding::value(
                &format!("/spec/addresses/{i}"),
                format!(
                    "{} repeats spec.addresses[{first}]: list each address once",
                    net.addr()
                ),
            ));
        }
    }
    let mut scripts = HashMap::new();
    for (i, script) in spec.track.scripts.iter().enumerate() {
        if let Some(first) = scripts.insert(script.name.as_str(), i) {
            out.push(Finding::value(
                &format!("/spec/track/scripts/{i}/name"),
                format!(
                    "script name {} is already used by spec.track.scripts[{first}]: give each script its own name",
                    script.name
                ),
            ));
        }
    }
    if let Some(timeout) = spec.notify.timeout.filter(|t| *t < MIN_NOTIFY_TIMEOUT) {
        out.push(Finding::value(
            "/spec/notify/timeout",
            format!(
                "{timeout} is too short for a hook to start and finish (it would be killed first, every time): use at least {MIN_NOTIFY_TIMEOUT}, or leave it out for 60s"
            ),
        ));
    }
    out
}

/// Shortest `notify.timeout`: starting a shell and the command it runs
/// takes tens of milliseconds on a loaded host, and a hook killed before
/// it finishes has done nothing it can tell about.
const MIN_NOTIFY_TIMEOUT: Duration = Duration::from_secs(1);

/// Only active-active runs everywhere; the other modes need to know which
/// node is active, and that is where a VirtualIP is master. Only a warm
/// stack keeps containers on a standby, so only it has a standby state.
fn service(spec: &ServiceSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let mode = match spec.mode {
        ServiceMode::ActiveActive => "active-active",
        ServiceMode::ActivePassive => "active-passive",
        ServiceMode::Warm => "warm",
    };
    if !spec.standby.is_stopped() && spec.mode != ServiceMode::Warm {
        out.push(Finding::value(
            "/spec/standby",
            format!(
                "standby applies to mode warm only (mode {mode} keeps no containers on a standby): remove it or set mode: warm"
            ),
        ));
    }
    if spec.mode == ServiceMode::ActiveActive && spec.handover.is_some() {
        out.push(Finding::key(
            "/spec/handover",
            "an active-active stack runs on every node and never moves: remove handover, or choose mode active-passive or warm",
        ));
    }
    if spec.mode != ServiceMode::ActiveActive && spec.follow_virtual_ip.is_none() {
        out.push(Finding::value(
            "/spec",
            format!(
                "missing required field followVirtualIP: mode {mode} runs the stack where a VirtualIP is master, name it (or set mode: active-active)"
            ),
        ));
    }
    for (i, check) in spec.health.https.iter().enumerate() {
        if check.insecure && check.ca_file.is_some() {
            out.push(Finding::key(
                &format!("/spec/health/https/{i}/insecure"),
                "insecure accepts any certificate, so caFile would never be used: keep one of them",
            ));
        }
    }
    out
}

/// What is accepted but does not do what it says, for the person loading
/// it: never a reason to refuse the object.
pub(super) fn advise(obj: &Object) -> Vec<Finding> {
    match obj.kind {
        Kind::Service => obj
            .spec_as::<ServiceSpec>()
            .map(|spec| service_advice(&spec))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A paused standby has started its processes (and runs them again when
/// thawed), so an exclusive stack's standby is stopped instead. Known
/// here when the spec makes the stack exclusive; the agent also stops a
/// stack it finds exclusive from its bind mounts, and says so in `Ready`.
fn service_advice(spec: &ServiceSpec) -> Vec<Finding> {
    let exclusive =
        spec.mode == ServiceMode::Warm && spec.handover_in() == Handover::BreakBeforeMake;
    match (exclusive, spec.standby) {
        (true, Standby::Paused) => vec![Finding::value(
            "/spec/standby",
            "warning: not paused but stopped on the standby: this stack is exclusive (break-before-make), and a paused stack's processes would start (and run again when thawed) beside the master's: set standby: stopped, or handover: make-before-break if two copies may run at once",
        )],
        _ => Vec::new(),
    }
}

fn replication(spec: &ReplicationSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let method = spec.method;
    let needs = |section: &str, present: bool, out: &mut Vec<Finding>| {
        if !present {
            out.push(Finding::value(
                "/spec",
                format!(
                    "missing required field {section}: method {} needs it",
                    method.as_str()
                ),
            ));
        }
    };
    match method {
        Method::Nfs => needs("nfs", spec.nfs.is_some(), &mut out),
        Method::Mount => needs("mount", spec.mount.is_some(), &mut out),
        Method::Btrfs | Method::Zfs => needs("snapshot", spec.snapshot.is_some(), &mut out),
        Method::Rsync => {}
    }
    if let Some(snapshot) = &spec.snapshot {
        match (method, &snapshot.dataset) {
            (Method::Zfs, None) => out.push(Finding::value(
                "/spec/snapshot",
                "missing required field dataset: method zfs sends a dataset, name the one mounted at path (e.g. tank/web)",
            )),
            (Method::Btrfs, Some(_)) => out.push(Finding::key(
                "/spec/snapshot/dataset",
                "not used by method btrfs (path is the subvolume): remove it",
            )),
            _ => {}
        }
    }
    out.extend(lag_bound(spec));
    let sections = [
        ("nfs", spec.nfs.is_some(), method == Method::Nfs),
        ("mount", spec.mount.is_some(), method == Method::Mount),
        ("rsync", spec.rsync.is_some(), method == Method::Rsync),
        (
            "probe",
            spec.probe.is_some(),
            matches!(method, Method::Nfs | Method::Mount),
        ),
        (
            "snapshot",
            spec.snapshot.is_some(),
            matches!(method, Method::Btrfs | Method::Zfs),
        ),
    ];
    for (section, present, applies) in sections {
        if present && !applies {
            out.push(Finding::key(
                &pointer::join("/spec", section),
                format!(
                    "not used by method {}: remove it or change the method",
                    method.as_str()
                ),
            ));
        }
    }
    if let Some(mount) = spec
        .mount
        .as_ref()
        .filter(|m| m.credentials_file.is_some())
        .filter(|m| !crate::Mount::CREDENTIALS_FILE_TYPES.contains(&m.type_.as_str()))
    {
        out.push(Finding::key(
            "/spec/mount/credentialsFile",
            format!(
                "type {} does not read a credentials file (only {} do): remove it and give the helper its own secret option (sshfs: IdentityFile=)",
                mount.type_,
                crate::Mount::CREDENTIALS_FILE_TYPES.join(" and ")
            ),
        ));
    }
    if let Some(probe) = &spec.probe {
        // A zero interval would probe in a busy loop; a zero timeout would
        // call every mount hung.
        for (field, value) in [("interval", probe.interval), ("timeout", probe.timeout)] {
            if value == Duration::ZERO {
                out.push(Finding::value(
                    &format!("/spec/probe/{field}"),
                    format!(
                        "a probe {field} of 0 is not usable: give a positive duration such as 10s"
                    ),
                ));
            }
        }
    }
    if spec.on == Placement::Master && spec.follow_virtual_ip.is_none() {
        out.push(Finding::value(
            "/spec",
            "missing required field followVirtualIP: on: master mounts where a VirtualIP is master, name it",
        ));
    }
    let copies = matches!(method, Method::Rsync | Method::Btrfs | Method::Zfs);
    match (&spec.source, &spec.follow_virtual_ip) {
        (None, None) if copies => out.push(Finding::value(
            "/spec",
            format!(
                "missing required field followVirtualIP: method {} copies from the master of a VirtualIP, name it (or a fixed source: {{node: NAME}})",
                method.as_str()
            ),
        )),
        (Some(_), Some(_)) if copies => out.push(Finding::key(
            "/spec/source",
            "a fixed source and followVirtualIP both say where copies come from: keep one",
        )),
        _ => {}
    }
    if !copies {
        for (field, present) in [
            ("source", spec.source.is_some()),
            ("hooks", !spec.hooks.is_empty()),
        ] {
            if present {
                out.push(Finding::key(
                    &pointer::join("/spec", field),
                    format!(
                        "not used by method {} (nothing is copied): remove it or change the method",
                        method.as_str()
                    ),
                ));
            }
        }
    }
    if spec.direction == Direction::Both {
        if method != Method::Rsync {
            out.push(Finding::value(
                "/spec/direction",
                format!(
                    "two-way sync compares and copies files, which method {} does not: use method rsync",
                    method.as_str()
                ),
            ));
        } else if !spec.sqlite.is_empty() {
            out.push(Finding::key(
                "/spec/sqlite",
                "a database written on two nodes cannot be merged file by file: replicate it one way, in a Replication of its own",
            ));
        }
    }
    out.extend(rsync_only(spec));
    out.extend(patterns(spec));
    out.extend(hooks(spec));
    if spec.snapshot.as_ref().is_some_and(|s| s.recursive) && method != Method::Zfs {
        out.push(Finding::key(
            "/spec/snapshot/recursive",
            "only method zfs has child datasets to include: remove it",
        ));
    }
    out
}

/// Filters and databases are rsync's: a snapshot carries the whole path,
/// and carries it atomically.
fn rsync_only(spec: &ReplicationSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    if spec.method == Method::Rsync {
        return out;
    }
    let snapshot = matches!(spec.method, Method::Btrfs | Method::Zfs);
    for (field, present) in [
        ("sqlite", !spec.sqlite.is_empty()),
        ("include", !spec.include.is_empty()),
        ("exclude", !spec.exclude.is_empty()),
    ] {
        if !present {
            continue;
        }
        let why = match (field, snapshot) {
            ("sqlite", true) => format!(
                "not needed by method {}: a snapshot is taken atomically, so a database in it is crash-consistent and SQLite recovers it on open as after a power loss; remove it",
                spec.method.as_str()
            ),
            (_, true) => format!(
                "not used by method {}: a snapshot carries the whole path; remove it or use method rsync",
                spec.method.as_str()
            ),
            _ => format!(
                "not used by method {}: only rsync copies files; remove it",
                spec.method.as_str()
            ),
        };
        out.push(Finding::key(&pointer::join("/spec", field), why));
    }
    out
}

/// Every pattern must be one rsync reads as the user meant.
fn patterns(spec: &ReplicationSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    for (field, list) in [
        ("sqlite", &spec.sqlite),
        ("include", &spec.include),
        ("exclude", &spec.exclude),
    ] {
        for (i, text) in list.iter().enumerate() {
            if let Err(e) = Pattern::parse(text) {
                out.push(Finding::value(&format!("/spec/{field}/{i}"), e));
            } else if field == "sqlite" && (text.ends_with('/') || text.ends_with("/***")) {
                out.push(Finding::value(
                    &format!("/spec/{field}/{i}"),
                    "a database is a file: name it (e.g. gravity.db or data/*.sqlite), not a directory",
                ));
            } else if text.trim_start_matches('/').starts_with(".hareconcile") {
                out.push(Finding::value(
                    &format!("/spec/{field}/{i}"),
                    "the .hareconcile directory holds each copy's own replication state and is never copied: remove this pattern",
                ));
            }
        }
    }
    out
}

/// Each hook runs one thing, for a bounded time.
fn hooks(spec: &ReplicationSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    for (list, hooks) in [
        ("beforeSync", &spec.hooks.before_sync),
        ("afterSync", &spec.hooks.after_sync),
    ] {
        for (i, hook) in hooks.iter().enumerate() {
            let at = format!("/spec/hooks/{list}/{i}");
            match (&hook.command, &hook.exec) {
                (None, None) => out.push(Finding::value(
                    &at,
                    "missing required field command or exec: give a host command ([program, args...]) or exec: {service, container, command}",
                )),
                (Some(_), Some(_)) => out.push(Finding::key(
                    &format!("{at}/exec"),
                    "a hook runs either a host command or a command in a container: keep command or exec",
                )),
                (Some(command), None) if command.is_empty() => out.push(Finding::value(
                    &format!("{at}/command"),
                    "an empty command runs nothing: name the program, e.g. [systemctl, reload, unbound]",
                )),
                (None, Some(exec)) if exec.command.is_empty() => out.push(Finding::value(
                    &format!("{at}/exec/command"),
                    "an empty command runs nothing: name the program, e.g. [pihole, reloadlists]",
                )),
                _ => {}
            }
            if hook.timeout == Duration::ZERO {
                out.push(Finding::value(
                    &format!("{at}/timeout"),
                    "a timeout of 0 kills the hook at once: give a positive duration such as 30s",
                ));
            }
        }
    }
    out
}

/// A copy is only as fresh as its last pass: a `maxLag` at or below the
/// interval between passes would report every replica late.
fn lag_bound(spec: &ReplicationSpec) -> Option<Finding> {
    let max_lag = spec.max_lag?;
    let (section, interval) = match (spec.method, &spec.rsync, &spec.snapshot) {
        (Method::Rsync, Some(rsync), _) if !rsync.continuous => ("rsync", rsync.interval),
        (Method::Btrfs | Method::Zfs, _, Some(snapshot)) => ("snapshot", snapshot.interval),
        _ => return None,
    };
    (max_lag <= interval).then(|| {
        Finding::value(
            "/spec/maxLag",
            format!(
                "maxLag {max_lag} is not longer than {section}.interval {interval}: every copy would count as late between passes; raise maxLag or shorten the interval"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ObjectMeta, API_VERSION};
    use serde_json::json;

    fn object(kind: Kind, spec: serde_json::Value) -> Object {
        Object {
            api_version: API_VERSION.to_string(),
            kind,
            metadata: ObjectMeta::named("x"),
            spec,
            status: Default::default(),
        }
    }

    fn messages(kind: Kind, spec: serde_json::Value) -> Vec<String> {
        check(&object(kind, spec))
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn a_virtual_mac_is_accepted() {
        let spec = json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                          "addresses": ["10.77.0.100/24", "fd00::100/64"], "virtualMac": true});
        assert_eq!(messages(Kind::VirtualIP, spec), Vec::<String>::new());
    }

    #[test]
    fn cluster_nodes_are_unique_by_name_and_address() {
        let found = messages(
            Kind::Cluster,
            json!({"nodes": [{"name": "n1", "address": "10.77.0.1"},
                             {"name": "n1", "address": "10.77.0.1"}]}),
        );
        assert_eq!(
            found,
            vec![
                "spec.nodes[1].name: node name n1 is already used by spec.nodes[0]: give each node its own name",
                "spec.nodes[1].address: address 10.77.0.1 is already used by spec.nodes[0]: give each node its own address",
            ]
        );
    }

    #[test]
    fn cluster_default_interval_must_fit_its_version() {
        let found = messages(
            Kind::Cluster,
            json!({"nodes": [{"name": "n1", "address": "10.77.0.1"}],
                   "vrrp": {"version": 2, "advertInterval": "50ms"}}),
        );
        assert_eq!(
            found,
            vec!["spec.vrrp.advertInterval: 50ms cannot be advertised: VRRP version 2 advertises whole seconds from 1s to 255s: use whole seconds such as 1s, or VRRP version 3 for sub-second adverts"]
        );
    }

    #[test]
    fn a_quorum_lease_is_whole_seconds_and_tls_is_all_or_nothing() {
        let cluster = |etcd: serde_json::Value| {
            messages(
                Kind::Cluster,
                json!({"nodes": [{"name": "n1", "address": "10.77.0.1"}], "quorum": {"etcd": etcd}}),
            )
        };
        assert_eq!(
            cluster(json!({"endpoints": ["http://10.77.0.3:2379"]})),
            Vec::<String>::new()
        );
        assert_eq!(
            cluster(json!({"endpoints": ["http://10.77.0.3:2379"], "leaseTTL": "2500ms"})),
            ["spec.quorum.etcd.leaseTTL: 2s500ms cannot be a lease: etcd counts leases in whole seconds; use 2s to 5m (a partition's failover takes about this long)"]
        );
        assert_eq!(
            cluster(json!({"endpoints": ["http://10.77.0.3:2379"], "leaseTTL": "1s"})).len(),
            1
        );
        assert_eq!(
            cluster(json!({"endpoints": ["http://10.77.0.3:2379", "https://10.77.0.1:2379"]})),
            ["spec.quorum.etcd.endpoints[1]: https://10.77.0.1:2379: an https endpoint needs tls.caFile: add spec.quorum.etcd.tls, or use http://"]
        );
        assert_eq!(
            cluster(json!({"endpoints": ["http://10.77.0.3:2379"], "tls": {"caFile": "/etc/ca.crt"}})),
            ["spec.quorum.etcd.endpoints[0]: http://10.77.0.3:2379: with tls every endpoint is https: use https:// (or remove tls)"]
        );
    }

    #[test]
    fn an_active_active_stack_has_no_handover() {
        assert_eq!(
            messages(
                Kind::Service,
                json!({"cluster": "home", "mode": "active-active", "handover": "break-before-make",
                       "compose": {"file": "c.yaml"}})
            ),
            ["spec.handover: an active-active stack runs on every node and never moves: remove handover, or choose mode active-passive or warm"]
        );
    }

    #[test]
    fn pass_authentication_is_version_2_only() {
        let found = messages(
            Kind::Cluster,
            json!({"nodes": [{"name": "n1", "address": "10.77.0.1"}],
                   "vrrp": {"auth": {"type": "pass", "passwordFile": "/etc/p"}}}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("spec.vrrp.auth.type: pass authentication"));
    }

    #[test]
    fn a_notify_timeout_leaves_a_hook_time_to_run() {
        let vip = |timeout: &str| {
            messages(
                Kind::VirtualIP,
                json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                       "addresses": ["10.77.0.100/24"], "notify": {"timeout": timeout}}),
            )
        };
        assert_eq!(vip("1s"), Vec::<String>::new());
        assert_eq!(
            vip("0s"),
            ["spec.notify.timeout: 0s is too short for a hook to start and finish (it would be killed first, every time): use at least 1s, or leave it out for 60s"]
        );
        assert_eq!(vip("999ms").len(), 1);
    }

    #[test]
    fn virtual_ip_addresses_are_listed_once() {
        let found = messages(
            Kind::VirtualIP,
            json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                   "addresses": ["10.77.0.100/24", "10.77.0.100/32"]}),
        );
        assert_eq!(
            found,
            vec![
                "spec.addresses[1]: 10.77.0.100 repeats spec.addresses[0]: list each address once"
            ]
        );
    }

    #[test]
    fn a_vip_is_a_host_address_of_its_own_network() {
        let found = messages(
            Kind::VirtualIP,
            json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                   "addresses": ["192.168.8.255/24", "192.168.8.250/24", "224.0.0.18/24"]}),
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with(
            "spec.addresses[0]: 192.168.8.255 is the broadcast address of 192.168.8.0/24"
        ));
        assert!(found[1].starts_with("spec.addresses[2]: 224.0.0.18 is a multicast group"));
    }

    #[test]
    fn node_addresses_are_unicast() {
        let found = messages(
            Kind::Cluster,
            json!({"nodes": [{"name": "n1", "address": "127.0.0.1"},
                             {"name": "n2", "address": "224.0.0.18"}]}),
        );
        assert_eq!(
            found,
            ["spec.nodes[1].address: 224.0.0.18 is a multicast group, not a host's address: give node n2 its own unicast address on the cluster network"]
        );
    }

    #[test]
    fn only_active_active_services_may_run_without_a_virtual_ip() {
        let found = messages(
            Kind::Service,
            json!({"cluster": "home", "compose": {"file": "c.yaml"}}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0]
            .starts_with("spec: missing required field followVirtualIP: mode active-passive"));
        let found = messages(
            Kind::Service,
            json!({"cluster": "home", "mode": "active-active", "compose": {"file": "c.yaml"}}),
        );
        assert!(found.is_empty());
    }

    #[test]
    fn replication_sections_match_the_method() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "method": "nfs", "path": "/srv",
                   "rsync": {"continuous": true}}),
        );
        assert_eq!(
            found,
            vec![
                "spec: missing required field nfs: method nfs needs it",
                "spec.rsync: not used by method nfs: remove it or change the method",
            ]
        );
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "method": "rsync", "path": "/srv"}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("spec: missing required field followVirtualIP"));
    }

    #[test]
    fn only_cifs_and_smb3_mounts_take_a_credentials_file() {
        let with = |type_: &str| {
            messages(
                Kind::Replication,
                json!({"cluster": "home", "method": "mount", "path": "/srv",
                       "mount": {"type": type_, "source": "//nas/share",
                                 "credentialsFile": "/etc/hareconcile/nas.cred"}}),
            )
        };
        assert_eq!(with("cifs"), Vec::<String>::new());
        assert_eq!(with("smb3"), Vec::<String>::new());
        let found = with("fuse.sshfs");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("spec.mount.credentialsFile: type fuse.sshfs does not read"),
            "{found:?}"
        );
    }

    #[test]
    fn mounts_on_the_master_name_the_virtual_ip_and_only_mounts_are_probed() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "method": "mount", "path": "/srv", "on": "master",
                   "mount": {"type": "fuse.sshfs", "source": "nas:/export"}}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0]
            .starts_with("spec: missing required field followVirtualIP: on: master mounts where"));
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "method": "rsync", "path": "/srv",
                   "followVirtualIP": "web", "probe": {"interval": "1s"}}),
        );
        assert_eq!(
            found,
            vec!["spec.probe: not used by method rsync: remove it or change the method"]
        );
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "method": "mount", "path": "/srv",
                   "mount": {"type": "tmpfs", "source": "tmpfs"},
                   "probe": {"interval": "0s", "timeout": "0ms"}}),
        );
        assert_eq!(found.len(), 2);
        assert!(found[0].starts_with("spec.probe.interval: a probe interval of 0"));
    }

    #[test]
    fn snapshot_methods_need_their_section_and_zfs_a_dataset() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "btrfs", "path": "/srv"}),
        );
        assert_eq!(
            found,
            vec!["spec: missing required field snapshot: method btrfs needs it"]
        );
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "zfs", "path": "/srv",
                   "snapshot": {"retain": 3}}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("spec.snapshot: missing required field dataset"));
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "btrfs", "path": "/srv",
                   "snapshot": {"retain": 3, "dataset": "tank/web"}}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("spec.snapshot.dataset: not used by method btrfs"));
    }

    #[test]
    fn max_lag_must_exceed_the_pass_interval() {
        let rsync = |continuous: bool, max_lag: &str| {
            messages(
                Kind::Replication,
                json!({"cluster": "home", "followVirtualIP": "web", "method": "rsync",
                       "path": "/srv", "maxLag": max_lag,
                       "rsync": {"continuous": continuous, "interval": "5m"}}),
            )
        };
        let found = rsync(false, "5m");
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("spec.maxLag: maxLag 5m is not longer than rsync.interval 5m"));
        assert!(rsync(false, "15m").is_empty());
        // Continuous mode copies on every change; the interval only backs it up.
        assert!(rsync(true, "10s").is_empty());
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "btrfs", "path": "/srv",
                   "maxLag": "1m", "snapshot": {"retain": 3, "interval": "1m"}}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("snapshot.interval 1m"));
    }

    #[test]
    fn a_copy_comes_from_one_source() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "source": {"node": "n1"},
                   "method": "rsync", "path": "/srv"}),
        );
        assert_eq!(
            found,
            vec!["spec.source: a fixed source and followVirtualIP both say where copies come from: keep one"]
        );
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "source": {"node": "n1"}, "method": "rsync", "path": "/srv"}),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn filters_and_databases_are_checked_patterns_for_rsync() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "rsync", "path": "/srv",
                   "sqlite": ["gravity.db", "[bad", "db/"], "include": ["- *.tmp"],
                   "exclude": ["", "/.hareconcile/**"]}),
        );
        assert_eq!(
            found,
            vec![
                "spec.sqlite[1]: the character class opened by [ is never closed: add ] or write \\[ for a literal [",
                "spec.sqlite[2]: a database is a file: name it (e.g. gravity.db or data/*.sqlite), not a directory",
                "spec.include[0]: \"- *.tmp\" is rsync filter-rule syntax: write the bare pattern (\"*.tmp\"); the list it is in says whether it includes or excludes",
                "spec.exclude[0]: an empty pattern matches nothing: remove it",
                "spec.exclude[1]: the .hareconcile directory holds each copy's own replication state and is never copied: remove this pattern",
            ]
        );
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "btrfs", "path": "/srv",
                   "snapshot": {"retain": 2}, "sqlite": ["*.db"], "exclude": ["x"]}),
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with(
            "spec.sqlite: not needed by method btrfs: a snapshot is taken atomically"
        ));
        assert!(found[1].starts_with("spec.exclude: not used by method btrfs"));
    }

    #[test]
    fn hooks_run_one_bounded_thing_on_copying_methods() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "rsync", "path": "/srv",
                   "hooks": {"beforeSync": [{}, {"command": [], "timeout": "0s"}],
                             "afterSync": [{"command": ["true"],
                                            "exec": {"service": "s", "container": "c", "command": ["x"]}}]}}),
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0]
            .starts_with("spec.hooks.beforeSync[0]: missing required field command or exec"));
        assert!(found[1].starts_with("spec.hooks.beforeSync[1].command: an empty command"));
        assert!(found[2].starts_with("spec.hooks.beforeSync[1].timeout: a timeout of 0"));
        assert!(found[3].starts_with("spec.hooks.afterSync[0].exec: a hook runs either"));
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "method": "nfs", "path": "/srv", "nfs": {"source": "h:/x"},
                   "hooks": {"afterSync": [{"command": ["true"]}]}}),
        );
        assert_eq!(
            found,
            vec!["spec.hooks: not used by method nfs (nothing is copied): remove it or change the method"]
        );
    }

    #[test]
    fn two_way_sync_is_for_files_copied_by_rsync() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "rsync", "path": "/srv",
                   "direction": "both", "sqlite": ["gravity.db"]}),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("spec.sqlite: a database written on two nodes"));
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "btrfs", "path": "/srv",
                   "direction": "both", "snapshot": {"retain": 2}}),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("spec.direction: two-way sync compares and copies files"));
    }

    #[test]
    fn only_zfs_snapshots_recurse() {
        let found = messages(
            Kind::Replication,
            json!({"cluster": "home", "followVirtualIP": "web", "method": "btrfs", "path": "/srv",
                   "snapshot": {"retain": 2, "recursive": true}}),
        );
        assert_eq!(
            found,
            vec![
                "spec.snapshot.recursive: only method zfs has child datasets to include: remove it"
            ]
        );
    }

    #[test]
    fn an_https_probe_checks_against_a_ca_or_nothing() {
        let found = messages(
            Kind::Service,
            json!({"cluster": "home", "mode": "active-active", "compose": {"file": "c.yaml"},
                   "health": {"https": [{"url": "https://127.0.0.1/", "caFile": "/etc/ca.pem", "insecure": true},
                                        {"url": "https://127.0.0.1/", "insecure": true}],
                              "exec": [{"container": "pihole", "command": ["pihole", "status"]}]}}),
        );
        assert_eq!(
            found,
            vec!["spec.health.https[0].insecure: insecure accepts any certificate, so caFile would never be used: keep one of them"]
        );
    }

    #[test]
    fn a_paused_standby_needs_warm_mode() {
        let service = |mode: &str| {
            json!({"cluster": "home", "followVirtualIP": "web", "mode": mode,
                   "standby": "paused", "compose": {"file": "c.yaml"}})
        };
        assert_eq!(
            messages(Kind::Service, service("warm")),
            Vec::<String>::new()
        );
        for mode in ["active-passive", "active-active"] {
            let found = messages(Kind::Service, service(mode));
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(
                found[0].contains("standby applies to mode warm only"),
                "{found:?}"
            );
        }
    }
}
