//! Every keyword keepalived reads where the importer looks (the top level,
//! `global_defs`, `vrrp_instance`, `vrrp_sync_group`, `vrrp_script`), with
//! the hareconcile field it becomes or why it has none. The importer takes
//! its reasons from here, and `docs/migrating-from-keepalived.md` must list
//! every keyword of this table (a test checks it).
//!
//! The keyword lists follow keepalived 2.3's parsers (`vrrp_parser.c`,
//! `global_parser.c`).

/// Where a keyword is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    TopLevel,
    GlobalDefs,
    Instance,
    SyncGroup,
    Script,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::TopLevel => "top level",
            Context::GlobalDefs => "global_defs",
            Context::Instance => "vrrp_instance",
            Context::SyncGroup => "vrrp_sync_group",
            Context::Script => "vrrp_script",
        }
    }
}

/// What becomes of a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Carried over into this hareconcile field (details in the guide).
    Mapped(&'static str),
    /// Not carried over, because...
    Unsupported(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    pub context: Context,
    pub name: &'static str,
    pub support: Support,
}

/// The reason for a keyword the table does not know.
pub const UNKNOWN: &str =
    "keepalived 2.3 does not know this keyword either (misspelt, or from another version?): not imported";

/// Why a keyword written in `context` is not imported: the table's reason,
/// or that it belongs elsewhere (`Err`: keepalived rejects it there too).
pub fn unsupported(context: Context, name: &str) -> Result<&'static str, String> {
    if let Some(Support::Unsupported(reason)) = lookup(context, name).map(|k| k.support) {
        return Ok(reason);
    }
    let elsewhere: Vec<&str> = KEYWORDS
        .iter()
        .filter(|k| k.name == name && k.context != context)
        .map(|k| k.context.as_str())
        .collect();
    if elsewhere.is_empty() {
        return Err(UNKNOWN.to_string());
    }
    Err(format!(
        "is a keyword of {}, not of {}: keepalived rejects it here (unknown keyword), and it is not imported",
        elsewhere.join(" and "),
        context.as_str()
    ))
}

pub fn lookup(context: Context, name: &str) -> Option<&'static Keyword> {
    KEYWORDS
        .iter()
        .find(|k| k.context == context && k.name == name)
}

const LVS: &str = "belongs to keepalived's load balancer (LVS/IPVS) or its checkers, which hareconcile does not replace: keep keepalived (without VRRP) for it, or use a Service with a health probe";
const BFD: &str = "BFD is not implemented by hareconcile: track the peer with a script (vrrp_script) or a Service health probe instead";
const EMAIL: &str = "hareconcile sends no e-mail: use the agent's --webhook URL (every event, e.g. BecameMaster) to reach a mail or chat gateway";
const SNMP: &str = "hareconcile has no SNMP or D-Bus interface: it exposes Prometheus metrics on /metrics and events through --webhook";
const PROCESS: &str = "tunes keepalived's own processes; the hareconcile agent has no such setting (run it under systemd to set priorities, limits and namespaces)";
const FILES: &str = "about keepalived's own files and reloads; hareconcile reads manifests (--manifests, GitOps) and keeps its state in --state-dir";
const FIFO: &str = "hareconcile has no notify FIFO: use notify commands (they get HARECONCILE_INSTANCE and HARECONCILE_STATE) or --webhook";
const ROUTES: &str = "hareconcile adds only the VirtualIP's addresses, no routes, rules or static addresses: configure those with the system's network configuration, or in notify commands";
const TRACK_OTHER: &str = "hareconcile tracks interfaces, scripts and Services only: write a vrrp_script-like track script (e.g. test -f FILE, pidof PROCESS) instead";
const SCRIPT_SECURITY: &str = "hareconcile runs scripts as the agent's user (root), without keepalived's script security checks: make sure only root can change the scripts";
const FIREWALL: &str = "hareconcile manages no iptables/nftables rules except the accept-mode filter (accept: false): drop traffic to the VIPs with your own firewall if needed";
const GARP_TIMING: &str = "hareconcile sends its garp.count announcements at once on becoming master (and again every garp.refresh): no delayed second burst, interval between announcements, or lower-priority repeat";
const TIMERS: &str = "hareconcile follows RFC 5798's timers and has no setting for this";
const NETLINK: &str =
    "netlink and receive buffer sizes of keepalived; the hareconcile agent sizes its own";
const STRICT_CHECKS: &str = "hareconcile always checks adverts as RFC 5798 says (TTL 255, version, VRID, auth, interval) and counts what it drops in status counters; it has no switch for these checks";
const VMAC_NAMING: &str = "hareconcile names its virtual MAC interfaces vrrp.VRID / vrrp6.VRID and uses the RFC's MAC: the name and address cannot be chosen";
const NAMESPACE: &str = "run the hareconcile agent inside the namespace (ip netns exec) instead";
const EXCLUDED: &str = "hareconcile advertises every address of a VirtualIP and ignores adverts whose address list differs from its own, so addresses keepalived keeps out of its adverts cannot join the VirtualIP while a keepalived node runs it: add them to spec.addresses once every node runs hareconcile";
const UNICAST_SOURCE_CHECKED: &str = "nothing to set: hareconcile's unicast instances always drop adverts from hosts that are not the Cluster's other nodes (counted as notPeer)";
const GROUP_NOTIFY: &str = "hareconcile runs notify commands per VirtualIP; a sync group's members change state together, so the group's command is put on its first member's matching notify field when that is free (see the finding), and dropped otherwise";

use Context::{GlobalDefs, Instance, Script, SyncGroup, TopLevel};
use Support::{Mapped, Unsupported};

const fn k(context: Context, name: &'static str, support: Support) -> Keyword {
    Keyword {
        context,
        name,
        support,
    }
}

pub const KEYWORDS: &[Keyword] = &[
    // Top level.
    k(TopLevel, "global_defs", Mapped("Cluster (see its keywords)")),
    k(TopLevel, "vrrp_instance", Mapped("one VirtualIP per instance (per VRID and address family across the nodes' files)")),
    k(TopLevel, "vrrp_sync_group", Mapped("spec.syncGroup of its member VirtualIPs")),
    k(TopLevel, "vrrp_script", Mapped("spec.track.scripts[] of every VirtualIP that tracks it")),
    k(TopLevel, "include", Mapped("read in place (includer, includem, includew, includeb and includea too)")),
    k(TopLevel, "vrrp_track_process", Unsupported(TRACK_OTHER)),
    k(TopLevel, "vrrp_track_file", Unsupported(TRACK_OTHER)),
    k(TopLevel, "track_file", Unsupported(TRACK_OTHER)),
    k(TopLevel, "track_group", Unsupported(TRACK_OTHER)),
    k(TopLevel, "garp_group", Unsupported(GARP_TIMING)),
    k(TopLevel, "linkbeat_interfaces", Unsupported("hareconcile follows link state from netlink (carrier) for every tracked interface: there is no polling mode to choose")),
    k(TopLevel, "linkbeat_use_polling", Unsupported("hareconcile follows link state from netlink (carrier) for every tracked interface: there is no polling mode to choose")),
    k(TopLevel, "interface_up_down_delays", Unsupported("hareconcile faults an instance as soon as a tracked interface goes down and recovers as soon as it is up: no debounce delays")),
    k(TopLevel, "static_ipaddress", Unsupported(ROUTES)),
    k(TopLevel, "static_routes", Unsupported(ROUTES)),
    k(TopLevel, "static_rules", Unsupported(ROUTES)),
    k(TopLevel, "bfd_instance", Unsupported(BFD)),
    k(TopLevel, "virtual_server", Unsupported(LVS)),
    k(TopLevel, "virtual_server_group", Unsupported(LVS)),
    k(TopLevel, "net_namespace", Unsupported(NAMESPACE)),
    k(TopLevel, "net_namespace_ipvs", Unsupported(NAMESPACE)),
    k(TopLevel, "namespace_with_ipsets", Unsupported(NAMESPACE)),
    k(TopLevel, "instance", Unsupported(FILES)),
    k(TopLevel, "use_pid_dir", Unsupported(FILES)),
    k(TopLevel, "child_wait_time", Unsupported(PROCESS)),
    // global_defs: what matters for VRRP first.
    k(GlobalDefs, "router_id", Mapped("the node's name in the Cluster comes from --node NAME=FILE (or n1, n2... in file order); router_id is only reported")),
    k(GlobalDefs, "vrrp_version", Mapped("Cluster spec.vrrp.version (keepalived's default, 2, is written explicitly)")),
    k(GlobalDefs, "vrrp_strict", Mapped("spec.accept: false on every VirtualIP that does not say accept; its other checks are not enforced")),
    k(GlobalDefs, "v3_checksum_as_v2", Mapped("Cluster spec.vrrp.v3Checksum: rfc9568")),
    k(GlobalDefs, "vrrp_garp_master_repeat", Mapped("spec.garp.count of every VirtualIP that does not set garp_master_repeat")),
    k(GlobalDefs, "vrrp_garp_master_refresh", Mapped("spec.garp.refresh of every VirtualIP that does not set garp_master_refresh")),
    k(GlobalDefs, "vrrp_garp_master_delay", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_garp_master_refresh_repeat", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_garp_lower_prio_delay", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_garp_lower_prio_repeat", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_garp_interval", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_gna_interval", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_min_garp", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_garp_extra_if", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_vmac_garp_intvl", Unsupported(GARP_TIMING)),
    k(GlobalDefs, "vrrp_mcast_group4", Unsupported("hareconcile sends multicast adverts to the RFC's groups only (224.0.0.18, ff02::12): use transport unicast for anything else")),
    k(GlobalDefs, "vrrp_mcast_group6", Unsupported("hareconcile sends multicast adverts to the RFC's groups only (224.0.0.18, ff02::12): use transport unicast for anything else")),
    k(GlobalDefs, "vrrp_skip_check_adv_addr", Unsupported(STRICT_CHECKS)),
    k(GlobalDefs, "vrrp_check_unicast_src", Mapped(UNICAST_SOURCE_CHECKED)),
    k(GlobalDefs, "vrrp_iptables", Unsupported(FIREWALL)),
    k(GlobalDefs, "vrrp_ipsets", Unsupported(FIREWALL)),
    k(GlobalDefs, "nftables", Unsupported(FIREWALL)),
    k(GlobalDefs, "nftables_priority", Unsupported(FIREWALL)),
    k(GlobalDefs, "nftables_ifindex", Unsupported(FIREWALL)),
    k(GlobalDefs, "nftables_counters", Unsupported(FIREWALL)),
    k(GlobalDefs, "vrrp_down_timer_adverts", Unsupported(TIMERS)),
    k(GlobalDefs, "vrrp_lower_prio_no_advert", Unsupported(TIMERS)),
    k(GlobalDefs, "vrrp_higher_prio_send_advert", Unsupported(TIMERS)),
    k(GlobalDefs, "vrrp_owner_ignore_adverts", Unsupported(TIMERS)),
    k(GlobalDefs, "vrrp_startup_delay", Unsupported(TIMERS)),
    k(GlobalDefs, "vrrp_delay_after_boot", Unsupported(TIMERS)),
    k(GlobalDefs, "log_unknown_vrids", Unsupported("hareconcile does not log adverts of VRIDs it does not run; what its instances drop is counted by reason in status counters and /metrics")),
    k(GlobalDefs, "vmac_prefix", Unsupported(VMAC_NAMING)),
    k(GlobalDefs, "vmac_addr_prefix", Unsupported(VMAC_NAMING)),
    k(GlobalDefs, "dynamic_interfaces", Unsupported("a VirtualIP whose interface does not exist is not started (InterfaceNotFound in its status) and is tried again at the next resync: there is nothing to switch on")),
    k(GlobalDefs, "default_interface", Unsupported("every VirtualIP names its interface (spec.interface)")),
    k(GlobalDefs, "disable_local_igmp", Unsupported(TIMERS)),
    k(GlobalDefs, "max_auto_priority", Unsupported(PROCESS)),
    k(GlobalDefs, "min_auto_priority_delay", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_priority", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_no_swap", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_rt_priority", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_cpu_affinity", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_rlimit_rttime", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_rlimit_rtime", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_process_name", Unsupported(PROCESS)),
    k(GlobalDefs, "vrrp_netlink_cmd_rcv_bufs", Unsupported(NETLINK)),
    k(GlobalDefs, "vrrp_netlink_cmd_rcv_bufs_force", Unsupported(NETLINK)),
    k(GlobalDefs, "vrrp_netlink_monitor_rcv_bufs", Unsupported(NETLINK)),
    k(GlobalDefs, "vrrp_netlink_monitor_rcv_bufs_force", Unsupported(NETLINK)),
    k(GlobalDefs, "vrrp_rx_bufs_policy", Unsupported(NETLINK)),
    k(GlobalDefs, "vrrp_rx_bufs_multiplier", Unsupported(NETLINK)),
    k(GlobalDefs, "process_monitor_rcv_bufs", Unsupported(NETLINK)),
    k(GlobalDefs, "process_monitor_rcv_bufs_force", Unsupported(NETLINK)),
    k(GlobalDefs, "vrrp_notify_fifo", Unsupported(FIFO)),
    k(GlobalDefs, "vrrp_notify_fifo_script", Unsupported(FIFO)),
    k(GlobalDefs, "notify_fifo", Unsupported(FIFO)),
    k(GlobalDefs, "notify_fifo_script", Unsupported(FIFO)),
    k(GlobalDefs, "fifo_write_vrrp_states_on_reload", Unsupported(FIFO)),
    k(GlobalDefs, "vrrp_notify_priority_changes", Unsupported("hareconcile runs notify commands on state changes only; priority changes show in status (effectivePriority) and /metrics")),
    k(GlobalDefs, "script_user", Unsupported(SCRIPT_SECURITY)),
    k(GlobalDefs, "enable_script_security", Unsupported(SCRIPT_SECURITY)),
    k(GlobalDefs, "set_supplementary_groups", Unsupported(SCRIPT_SECURITY)),
    k(GlobalDefs, "notification_email", Unsupported(EMAIL)),
    k(GlobalDefs, "notification_email_from", Unsupported(EMAIL)),
    k(GlobalDefs, "smtp_server", Unsupported(EMAIL)),
    k(GlobalDefs, "smtp_helo_name", Unsupported(EMAIL)),
    k(GlobalDefs, "smtp_connect_timeout", Unsupported(EMAIL)),
    k(GlobalDefs, "smtp_alert", Unsupported(EMAIL)),
    k(GlobalDefs, "smtp_alert_vrrp", Unsupported(EMAIL)),
    k(GlobalDefs, "smtp_alert_checker", Unsupported(EMAIL)),
    k(GlobalDefs, "no_email_faults", Unsupported(EMAIL)),
    k(GlobalDefs, "no_checker_emails", Unsupported(EMAIL)),
    k(GlobalDefs, "snmp_socket", Unsupported(SNMP)),
    k(GlobalDefs, "enable_traps", Unsupported(SNMP)),
    k(GlobalDefs, "enable_snmp_vrrp", Unsupported(SNMP)),
    k(GlobalDefs, "enable_snmp_keepalived", Unsupported(SNMP)),
    k(GlobalDefs, "enable_snmp_rfc", Unsupported(SNMP)),
    k(GlobalDefs, "enable_snmp_rfcv2", Unsupported(SNMP)),
    k(GlobalDefs, "enable_snmp_rfcv3", Unsupported(SNMP)),
    k(GlobalDefs, "enable_snmp_checker", Unsupported(SNMP)),
    k(GlobalDefs, "snmp_vs_stats_update_interval", Unsupported(SNMP)),
    k(GlobalDefs, "snmp_rs_stats_update_interval", Unsupported(SNMP)),
    k(GlobalDefs, "enable_dbus", Unsupported(SNMP)),
    k(GlobalDefs, "dbus_service_name", Unsupported(SNMP)),
    k(GlobalDefs, "dbus_no_interface_name", Unsupported(SNMP)),
    k(GlobalDefs, "startup_script", Unsupported("hareconcile has no start-up or shut-down script: use systemd's ExecStartPre/ExecStopPost on the agent's unit")),
    k(GlobalDefs, "startup_script_timeout", Unsupported("hareconcile has no start-up or shut-down script: use systemd's ExecStartPre/ExecStopPost on the agent's unit")),
    k(GlobalDefs, "shutdown_script", Unsupported("hareconcile has no start-up or shut-down script: use systemd's ExecStartPre/ExecStopPost on the agent's unit")),
    k(GlobalDefs, "shutdown_script_timeout", Unsupported("hareconcile has no start-up or shut-down script: use systemd's ExecStartPre/ExecStopPost on the agent's unit")),
    k(GlobalDefs, "linkbeat_use_polling", Unsupported("hareconcile follows link state from netlink (carrier) for every tracked interface: there is no polling mode to choose")),
    k(GlobalDefs, "net_namespace", Unsupported(NAMESPACE)),
    k(GlobalDefs, "net_namespace_ipvs", Unsupported(NAMESPACE)),
    k(GlobalDefs, "namespace_with_ipsets", Unsupported(NAMESPACE)),
    k(GlobalDefs, "instance", Unsupported(FILES)),
    k(GlobalDefs, "use_pid_dir", Unsupported(FILES)),
    k(GlobalDefs, "child_wait_time", Unsupported(PROCESS)),
    k(GlobalDefs, "process_names", Unsupported(PROCESS)),
    k(GlobalDefs, "process_name", Unsupported(PROCESS)),
    k(GlobalDefs, "use_symlink_paths", Unsupported(FILES)),
    k(GlobalDefs, "umask", Unsupported(PROCESS)),
    k(GlobalDefs, "random_seed", Unsupported(PROCESS)),
    k(GlobalDefs, "reload_check_config", Unsupported(FILES)),
    k(GlobalDefs, "reload_time_file", Unsupported(FILES)),
    k(GlobalDefs, "reload_repeat", Unsupported(FILES)),
    k(GlobalDefs, "reload_file", Unsupported(FILES)),
    k(GlobalDefs, "include_check", Unsupported(FILES)),
    k(GlobalDefs, "config_save_dir", Unsupported(FILES)),
    k(GlobalDefs, "tmp_config_directory", Unsupported(FILES)),
    k(GlobalDefs, "data_use_instance", Unsupported(FILES)),
    k(GlobalDefs, "json_version", Unsupported(FILES)),
    k(GlobalDefs, "iproute_usr_dir", Unsupported(FILES)),
    k(GlobalDefs, "iproute_etc_dir", Unsupported(FILES)),
    k(GlobalDefs, "state_dump_file", Unsupported("hareconcile shows its state with `hareconcile status` and `get vip NAME -o yaml` instead of dump files")),
    k(GlobalDefs, "stats_dump_file", Unsupported("hareconcile shows its state with `hareconcile status` and `get vip NAME -o yaml` instead of dump files")),
    k(GlobalDefs, "json_dump_file", Unsupported("hareconcile shows its state with `hareconcile status` and `get vip NAME -o yaml` instead of dump files")),
    k(GlobalDefs, "checker_process_name", Unsupported(LVS)),
    k(GlobalDefs, "lvs_process_name", Unsupported(LVS)),
    k(GlobalDefs, "checker_log_all_failures", Unsupported(LVS)),
    k(GlobalDefs, "lvs_timeouts", Unsupported(LVS)),
    k(GlobalDefs, "lvs_flush", Unsupported(LVS)),
    k(GlobalDefs, "lvs_flush_on_stop", Unsupported(LVS)),
    k(GlobalDefs, "lvs_flush_onstop", Unsupported(LVS)),
    k(GlobalDefs, "lvs_sync_daemon", Unsupported(LVS)),
    k(GlobalDefs, "lvs_notify_fifo", Unsupported(LVS)),
    k(GlobalDefs, "lvs_notify_fifo_script", Unsupported(LVS)),
    k(GlobalDefs, "lvs_netlink_cmd_rcv_bufs", Unsupported(LVS)),
    k(GlobalDefs, "lvs_netlink_cmd_rcv_bufs_force", Unsupported(LVS)),
    k(GlobalDefs, "lvs_netlink_monitor_rcv_bufs", Unsupported(LVS)),
    k(GlobalDefs, "lvs_netlink_monitor_rcv_bufs_force", Unsupported(LVS)),
    k(GlobalDefs, "nftables_ipvs", Unsupported(LVS)),
    k(GlobalDefs, "nftables_ipvs_priority", Unsupported(LVS)),
    k(GlobalDefs, "nftables_ipvs_start_fwmark", Unsupported(LVS)),
    k(GlobalDefs, "rs_init_notifies", Unsupported(LVS)),
    k(GlobalDefs, "checker_priority", Unsupported(LVS)),
    k(GlobalDefs, "checker_no_swap", Unsupported(LVS)),
    k(GlobalDefs, "checker_rt_priority", Unsupported(LVS)),
    k(GlobalDefs, "checker_cpu_affinity", Unsupported(LVS)),
    k(GlobalDefs, "checker_rlimit_rttime", Unsupported(LVS)),
    k(GlobalDefs, "checker_rlimit_rtime", Unsupported(LVS)),
    k(GlobalDefs, "bfd_process_name", Unsupported(BFD)),
    k(GlobalDefs, "bfd_priority", Unsupported(BFD)),
    k(GlobalDefs, "bfd_no_swap", Unsupported(BFD)),
    k(GlobalDefs, "bfd_rt_priority", Unsupported(BFD)),
    k(GlobalDefs, "bfd_cpu_affinity", Unsupported(BFD)),
    k(GlobalDefs, "bfd_rlimit_rttime", Unsupported(BFD)),
    k(GlobalDefs, "bfd_rlimit_rtime", Unsupported(BFD)),
    // vrrp_instance.
    k(Instance, "state", Mapped("nothing: hareconcile elects by priority alone (every node starts as backup); with one file, it decides the derived node's priority")),
    k(Instance, "interface", Mapped("spec.interface")),
    k(Instance, "virtual_router_id", Mapped("spec.vrid")),
    k(Instance, "priority", Mapped("spec.priorities.NODE")),
    k(Instance, "advert_int", Mapped("spec.advertInterval (Cluster spec.vrrp.advertInterval is keepalived's default, 1s)")),
    k(Instance, "version", Mapped("Cluster spec.vrrp.version (one version per Cluster)")),
    k(Instance, "virtual_ipaddress", Mapped("spec.addresses (dev must be the instance's interface; other address options are not supported)")),
    k(Instance, "virtual_ipaddress_excluded", Unsupported(EXCLUDED)),
    k(Instance, "native_ipv6", Mapped("nothing needed: a VirtualIP's IPv6 addresses always run as their own IPv6 instance")),
    k(Instance, "unicast_src_ip", Mapped("Cluster spec.nodes[].address of the node, and spec.vrrp.transport: unicast")),
    k(Instance, "unicast_peer", Mapped("Cluster spec.vrrp.transport: unicast and the other nodes' spec.nodes[].address (peer options min_ttl/max_ttl are not supported)")),
    k(Instance, "mcast_src_ip", Mapped("Cluster spec.nodes[].address of the node (the advert source when it is on the interface)")),
    k(Instance, "authentication", Mapped("Cluster spec.vrrp.auth: its auth_type PASS becomes type: pass, and its auth_pass goes into the file passwordFile names (never into the manifests); auth_type AH is not supported: IPsec AH is deprecated (RFC 3768) and no other VRRP speaker implements it")),
    k(Instance, "preempt", Mapped("spec.preempt: true (keepalived's default)")),
    k(Instance, "nopreempt", Mapped("spec.preempt: false")),
    k(Instance, "preempt_delay", Mapped("spec.preemptDelay")),
    k(Instance, "garp_master_repeat", Mapped("spec.garp.count")),
    k(Instance, "garp_master_refresh", Mapped("spec.garp.refresh (0: none)")),
    k(Instance, "garp_master_delay", Unsupported(GARP_TIMING)),
    k(Instance, "garp_master_refresh_repeat", Unsupported(GARP_TIMING)),
    k(Instance, "garp_lower_prio_delay", Unsupported(GARP_TIMING)),
    k(Instance, "garp_lower_prio_repeat", Unsupported(GARP_TIMING)),
    k(Instance, "garp_extra_if", Unsupported(GARP_TIMING)),
    k(Instance, "vmac_garp_intvl", Unsupported(GARP_TIMING)),
    k(Instance, "use_vmac", Mapped("spec.virtualMac: true (the interface is named vrrp.VRID: a name or MAC given here is not supported)")),
    k(Instance, "use_vmac_addr", Unsupported(VMAC_NAMING)),
    k(Instance, "vmac_xmit_base", Unsupported("hareconcile sends adverts from the virtual MAC interface itself: there is no choice of the base interface")),
    k(Instance, "use_ipvlan", Unsupported("hareconcile's virtual MAC interface is a macvlan: ipvlan is not supported")),
    k(Instance, "accept", Mapped("spec.accept: true (hareconcile's default)")),
    k(Instance, "no_accept", Mapped("spec.accept: false")),
    k(Instance, "strict_mode", Mapped("spec.accept: false unless accept is given; its other checks are not enforced")),
    k(Instance, "track_interface", Mapped("spec.track.interfaces (a down interface faults the instance: weights are not supported)")),
    k(Instance, "track_script", Mapped("spec.track.scripts[] (a copy of the vrrp_script, with the weight given here)")),
    k(Instance, "notify_master", Mapped("spec.notify.master (argv)")),
    k(Instance, "notify_backup", Mapped("spec.notify.backup (argv)")),
    k(Instance, "notify_fault", Mapped("spec.notify.fault (argv)")),
    k(Instance, "notify_stop", Mapped("spec.notify.stop (argv)")),
    k(Instance, "notify", Mapped("spec.notify.master/backup/fault/stop, each with the arguments INSTANCE NAME STATE (keepalived's 4th, the priority, is not passed)")),
    k(Instance, "v3_checksum_as_v2", Mapped("Cluster spec.vrrp.v3Checksum: rfc9568 (one setting per Cluster)")),
    k(Instance, "track_file", Unsupported(TRACK_OTHER)),
    k(Instance, "track_process", Unsupported(TRACK_OTHER)),
    k(Instance, "track_bfd", Unsupported(BFD)),
    k(Instance, "track_src_ip", Unsupported("hareconcile has no tracking of the advert source address: track the interface instead")),
    k(Instance, "dont_track_primary", Unsupported("hareconcile always faults an instance whose interface is down")),
    k(Instance, "unicast_fault_no_peer", Unsupported("hareconcile needs the Cluster's other nodes as unicast peers; an instance without one is not started (an error in its status)")),
    k(Instance, "check_unicast_src", Mapped(UNICAST_SOURCE_CHECKED)),
    k(Instance, "unicast_ttl", Unsupported("hareconcile sends adverts with TTL 255 and accepts only those, as RFC 5798 requires: unicast peers must be on the same link")),
    k(Instance, "old_unicast_checksum", Unsupported("a workaround for keepalived releases before 1.3.6; hareconcile computes the RFC checksum only")),
    k(Instance, "mcast_dst_ip", Unsupported("hareconcile sends multicast adverts to the RFC's groups only (224.0.0.18, ff02::12): use transport unicast for anything else")),
    k(Instance, "vrf", Unsupported(NAMESPACE)),
    k(Instance, "no_virtual_ipaddress", Unsupported("a VirtualIP has at least one address")),
    k(Instance, "promote_secondaries", Unsupported("hareconcile leaves the interface's promote_secondaries setting as it is: set net.ipv4.conf.IFACE.promote_secondaries with sysctl")),
    k(Instance, "linkbeat_use_polling", Unsupported("hareconcile follows link state from netlink (carrier) for every tracked interface: there is no polling mode to choose")),
    k(Instance, "virtual_routes", Unsupported(ROUTES)),
    k(Instance, "virtual_rules", Unsupported(ROUTES)),
    k(Instance, "skip_check_adv_addr", Unsupported(STRICT_CHECKS)),
    k(Instance, "debug", Unsupported("hareconcile's log level is the agent's HARECONCILE_LOG (e.g. info,hareconcile_vrrp=debug)")),
    k(Instance, "notify_deleted", Unsupported("hareconcile has no command for a deleted VirtualIP apart from notify.stop, run when the instance stops")),
    k(Instance, "notify_master_rx_lower_pri", Unsupported("hareconcile runs notify commands on state changes only")),
    k(Instance, "smtp_alert", Unsupported(EMAIL)),
    k(Instance, "notify_priority_changes", Unsupported("hareconcile runs notify commands on state changes only; priority changes show in status (effectivePriority) and /metrics")),
    k(Instance, "lvs_sync_daemon_interface", Unsupported(LVS)),
    k(Instance, "down_timer_adverts", Unsupported(TIMERS)),
    k(Instance, "timer_expired_backup", Unsupported(TIMERS)),
    k(Instance, "thread_timer_expired", Unsupported(TIMERS)),
    k(Instance, "lower_prio_no_advert", Unsupported(TIMERS)),
    k(Instance, "higher_prio_send_advert", Unsupported(TIMERS)),
    k(Instance, "owner_ignore_adverts", Unsupported(TIMERS)),
    k(Instance, "kernel_rx_buf_size", Unsupported(NETLINK)),
    k(Instance, "auth_hmac", Unsupported("HMAC authentication (the block's key, active_key, time_window, anti_replay and mode) is a keepalived extension other VRRP speakers do not know; hareconcile supports VRRPv2 simple passwords only")),
    // vrrp_sync_group.
    k(SyncGroup, "group", Mapped("spec.syncGroup of each member VirtualIP")),
    k(SyncGroup, "track_interface", Mapped("spec.track.interfaces of every member (a down interface faults the whole group)")),
    k(SyncGroup, "track_script", Mapped("spec.track.scripts[] of every member, with weight 0 (a failing script faults the whole group) unless sync_group_tracking_weight is set")),
    k(SyncGroup, "sync_group_tracking_weight", Mapped("keeps the weights of the group's track_script entries")),
    k(SyncGroup, "notify_master", Unsupported(GROUP_NOTIFY)),
    k(SyncGroup, "notify_backup", Unsupported(GROUP_NOTIFY)),
    k(SyncGroup, "notify_fault", Unsupported(GROUP_NOTIFY)),
    k(SyncGroup, "notify_stop", Unsupported(GROUP_NOTIFY)),
    k(SyncGroup, "notify", Unsupported(GROUP_NOTIFY)),
    k(SyncGroup, "track_file", Unsupported(TRACK_OTHER)),
    k(SyncGroup, "track_process", Unsupported(TRACK_OTHER)),
    k(SyncGroup, "track_bfd", Unsupported(BFD)),
    k(SyncGroup, "smtp_alert", Unsupported(EMAIL)),
    k(SyncGroup, "global_tracking", Unsupported("deprecated in keepalived; hareconcile members keep their own tracking")),
    k(SyncGroup, "notify_priority_changes", Unsupported("hareconcile runs notify commands on state changes only; priority changes show in status (effectivePriority) and /metrics")),
    // vrrp_script.
    k(Script, "script", Mapped("spec.track.scripts[].command (argv, cut as keepalived cuts it; run without a shell, like keepalived)")),
    k(Script, "interval", Mapped("spec.track.scripts[].interval")),
    k(Script, "timeout", Mapped("spec.track.scripts[].timeout")),
    k(Script, "fall", Mapped("spec.track.scripts[].fall")),
    k(Script, "rise", Mapped("spec.track.scripts[].rise")),
    k(Script, "weight", Mapped("spec.track.scripts[].weight (the reverse option is not supported)")),
    k(Script, "user", Unsupported(SCRIPT_SECURITY)),
    k(Script, "init_fail", Unsupported("hareconcile counts a script as succeeding until it has failed `fall` times, like keepalived without init_fail")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_listed_once_per_context() {
        let mut seen = std::collections::HashSet::new();
        for keyword in KEYWORDS {
            assert!(
                seen.insert((keyword.context, keyword.name)),
                "{} listed twice in {}",
                keyword.name,
                keyword.context.as_str()
            );
        }
    }

    /// The migration guide's keyword table is this table, rendered: a
    /// keyword the importer learns shows up there, with the same words.
    /// `UPDATE_GUIDE=1 cargo test -p hareconcile-import` rewrites it.
    #[test]
    fn the_migration_guide_holds_this_table() {
        const BEGIN: &str =
            "<!-- keyword table: generated from import/src/keepalived/keywords.rs -->\n";
        const END: &str = "<!-- end of keyword table -->";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/migrating-from-keepalived.md"
        );
        let guide = std::fs::read_to_string(path).unwrap();
        let (start, end) = match (guide.find(BEGIN), guide.find(END)) {
            (Some(start), Some(end)) => (start + BEGIN.len(), end),
            _ => panic!("{path} has no keyword table between {BEGIN:?} and {END:?}"),
        };
        let table = rendered();
        if guide[start..end] != table {
            if std::env::var_os("UPDATE_GUIDE").is_some() {
                std::fs::write(path, format!("{}{table}{}", &guide[..start], &guide[end..]))
                    .unwrap();
            } else {
                panic!("the keyword table in {path} is not the importer's: run UPDATE_GUIDE=1 cargo test -p hareconcile-import, then read the diff");
            }
        }
    }

    /// One table per context; keywords that share their fate share a row.
    fn rendered() -> String {
        let mut out = String::new();
        for context in [TopLevel, GlobalDefs, Instance, SyncGroup, Script] {
            let title = match context {
                TopLevel => "At the top level".to_string(),
                other => format!("In `{}`", other.as_str()),
            };
            out.push_str(&format!(
                "\n### {title}\n\n| keyword | in hareconcile |\n|---|---|\n"
            ));
            let mut rows: Vec<(Vec<&str>, Support)> = Vec::new();
            for keyword in KEYWORDS.iter().filter(|k| k.context == context) {
                match rows
                    .iter_mut()
                    .find(|(_, support)| *support == keyword.support)
                {
                    Some((names, _)) if matches!(keyword.support, Unsupported(_)) => {
                        names.push(keyword.name)
                    }
                    _ => rows.push((vec![keyword.name], keyword.support)),
                }
            }
            for (names, support) in rows {
                let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                let fate = match support {
                    Mapped(field) => field.to_string(),
                    Unsupported(reason) => format!("not supported: {reason}"),
                };
                out.push_str(&format!(
                    "| {} | {} |\n",
                    names.join(", "),
                    fate.replace('|', "\\|")
                ));
            }
        }
        out.push('\n');
        out
    }
}
