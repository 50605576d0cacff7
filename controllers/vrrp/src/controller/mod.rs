//! The VirtualIP controller: keeps one VRRP instance task per address family
//! running for every VirtualIP whose Cluster lists this node, restarts it
//! when the desired config changes, stops it (priority 0, VIPs removed) when
//! the VirtualIP goes or the agent stops, removes the VIPs a killed run
//! or a failed removal left that no instance claims any more
//! ([`crate::io::footprint`]), and
//! reports what each instance sees in the VirtualIP's status.
//!
//! - this file: the registry of running instances and the reconcile;
//! - `desired`: from a VirtualIP and its Cluster to this node's instances;
//! - `status`: what the instances observe as the typed status;
//! - `reporter`: the task writing it and recording events.

mod desired;
mod reporter;
mod status;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::status::VirtualIpReason;
use hareconcile_model::{
    AuthType, ClusterSpec, HostAddress, Kind, Object, ObjectKey, VirtualIpSpec,
    SOURCE_FILE_ANNOTATION,
};
use hareconcile_quorum::Sessions;
use hareconcile_runtime::{
    Action, Context, EventType, ReconcileError, Reconciler, Repeats, Store, StoreError,
};
use ipnet::IpNet;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::core::tracking::Tracked;
use crate::core::{State, Switchover};
use crate::io::accept_filter::{AcceptFilter, Restored, TABLE};
use crate::io::addresses::AddressError;
use crate::io::footprint::{Footprint, Holding};
use crate::io::hooks::NotifyCommands;
use crate::io::netlink_share::SharedNetlink;
use crate::io::realtime::{Scheduling, VrrpThread};
use crate::io::shell::{self, InstanceHandle, Observed, Operator, ShellConfig, ShellError};
use crate::io::sync_group::{SyncGroupHub, SyncGroups};
use crate::io::trackers::{TrackConfig, Trackers};
use desired::{shell_configs, track_config, DesiredError, Local};
use status::{write_not_running, write_status};

/// After a problem the operator or the host must fix, look again this often.
const RETRY: Duration = Duration::from_secs(5);

/// The reason of the event that says a VIP a killed run or a failed
/// removal left was removed.
const REMOVED_LEFTOVER_VIP: &str = "RemovedLeftoverVip";

/// Why this node runs no instance for a VirtualIP, as its Ready condition says.
pub(super) struct NotRunning {
    pub(super) reason: VirtualIpReason,
    pub(super) message: String,
}

/// The instances of one VirtualIP, their trackers and the task reporting
/// their status.
struct Running {
    desired: Vec<ShellConfig>,
    instances: Vec<InstanceHandle>,
    trackers: Trackers,
    generation: Arc<AtomicU64>,
    reporter: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.reporter.abort();
        for instance in self.instances {
            instance.stop().await;
        }
        drop(self.trackers);
    }
}

#[derive(Default)]
struct Registry {
    running: HashMap<ObjectKey, Running>,
    groups: SyncGroups,
    /// Drops traffic to the VIPs of instances without accept mode.
    filter: AcceptFilter,
    /// Set by shutdown: no instance starts after it.
    closed: bool,
}

/// Stops every instance this node runs; what the agent calls on its way out.
#[derive(Clone, Default)]
pub struct VrrpShutdown(Arc<Mutex<Registry>>);

impl VrrpShutdown {
    /// Masters send priority 0 (the backup takes over after Skew_Time) and
    /// every VIP is removed, then the accept-mode table. Later reconciles
    /// start nothing.
    pub async fn shutdown(&self) {
        let mut registry = self.0.lock().await;
        registry.closed = true;
        for (_, running) in registry.running.drain() {
            running.stop().await;
        }
        if let Err(error) = registry.filter.release_all().await {
            warn!(%error, "removing the accept-mode table failed");
        }
    }
}

/// What this node's instances of a VirtualIP say now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveVrrp {
    /// One of them is master.
    pub master: bool,
    /// The highest effective priority among them (0 without any).
    pub priority: u8,
}

/// Reads the running instances themselves, not the status their reporter
/// writes a moment later: what the peer API tells another node about to
/// start an exclusive stack.
#[derive(Clone)]
pub struct VrrpStates(Arc<Mutex<Registry>>);

impl VrrpStates {
    /// VirtualIP `vip` here now (neither master nor any priority when
    /// this node runs no instance of it).
    pub async fn now(&self, vip: &str) -> LiveVrrp {
        let registry = self.0.lock().await;
        let key = ObjectKey::new(Kind::VirtualIP, vip);
        let Some(running) = registry.running.get(&key) else {
            return LiveVrrp::default();
        };
        let observed: Vec<Observed> = running
            .instances
            .iter()
            .map(|i| i.observed().borrow().clone())
            .collect();
        LiveVrrp {
            master: observed.iter().any(|o| o.state == State::Master),
            priority: observed
                .iter()
                .map(|o| o.effective_priority)
                .max()
                .unwrap_or(0),
        }
    }
}

pub struct VirtualIpReconciler {
    registry: VrrpShutdown,
    /// Where the instances, their hooks and the netlink feed run.
    thread: VrrpThread,
    /// Every reconcile reads the host's addresses and every instance
    /// changes them and follows their changes: one request connection and
    /// one change feed for all of them instead of one each (a hundred
    /// VirtualIPs opened hundreds of sockets with 72 KiB of buffers each,
    /// and the agent's RSS grew with the heap they fragmented).
    netlink: Mutex<Option<SharedNetlink>>,
    /// The agent's quorum sessions: a fenced VirtualIP's master must hold
    /// its writer lock. Without them a fenced VirtualIP stays in Fault.
    sessions: Option<Sessions>,
    /// Per Cluster, the refusals of its VRRP password file logged so far:
    /// its VirtualIPs meet the same one at every retry.
    password_refusals: std::sync::Mutex<HashMap<String, Repeats>>,
    /// What the instances may have put on the host, kept under the
    /// agent's state directory.
    footprint: Footprint,
}

impl VirtualIpReconciler {
    /// Starts the VRRP thread with `scheduling` (see [`VrrpThread::start`]),
    /// the record of the VIPs put on the host under `state_dir`.
    pub fn start(scheduling: Scheduling, state_dir: &Path) -> std::io::Result<Self> {
        Ok(VirtualIpReconciler {
            registry: VrrpShutdown::default(),
            thread: VrrpThread::start(scheduling)?,
            netlink: Mutex::default(),
            sessions: None,
            password_refusals: std::sync::Mutex::default(),
            footprint: Footprint::open(state_dir),
        })
    }

    /// Removes the VIPs a killed run left for VirtualIPs no longer in the
    /// store: no reconcile or cleanup would ever come for them. Called at
    /// start, before the controller runs.
    pub async fn clear_unclaimed(&self, store: &Store) {
        let gone = |name: &str| store.get(&ObjectKey::new(Kind::VirtualIP, name)).is_none();
        self.clear_left_over(store, gone).await;
    }

    /// Takes off what a killed run or a stopped instance left for the
    /// VirtualIPs `which` names, as far as no instance of this run holds
    /// it, each VIP with an event.
    async fn clear_left_over(&self, store: &Store, which: impl Fn(&str) -> bool) {
        let which = |holding: &Holding| which(&holding.virtual_ip);
        if self.footprint.is_clear(which) {
            return;
        }
        // No instance starts meanwhile: it could add what is being removed.
        let _registry = self.registry.0.lock().await;
        let netlink = match self.shared_netlink().await {
            Ok(netlink) => netlink,
            Err(error) => {
                warn!(%error, "cannot remove the VIPs a killed run or a stopped instance left; trying again later");
                return;
            }
        };
        for cleared in self
            .footprint
            .clear_left_over(&netlink.requests, which)
            .await
        {
            let key = ObjectKey::new(Kind::VirtualIP, cleared.virtual_ip);
            store.record_event(
                &key,
                EventType::Warning,
                REMOVED_LEFTOVER_VIP,
                &cleared.message,
            );
        }
    }

    /// The scheduling the VRRP thread got: what was asked for, or
    /// [`Scheduling::Normal`] where the kernel refused real time.
    pub fn scheduling(&self) -> Scheduling {
        self.thread.scheduling()
    }

    pub fn with_quorum(self, sessions: Sessions) -> Self {
        Self {
            sessions: Some(sessions),
            ..self
        }
    }

    /// The handle the agent keeps to stop the instances when it exits.
    pub fn shutdown_handle(&self) -> VrrpShutdown {
        self.registry.clone()
    }

    /// The handle the peer API reads the instances' states with.
    pub fn states(&self) -> VrrpStates {
        VrrpStates(self.registry.0.clone())
    }

    /// The agent's netlink, connected again if its request connection
    /// failed (instances started before keep the one they were given).
    async fn shared_netlink(&self) -> Result<SharedNetlink, AddressError> {
        let mut cached = self.netlink.lock().await;
        if let Some(shared) = cached.as_ref().filter(|shared| shared.is_open()) {
            return Ok(shared.clone());
        }
        // Its connections on the VRRP thread, with the instances reading them.
        let shared = {
            let _vrrp_thread = self.thread.enter();
            SharedNetlink::connect()?
        };
        *cached = Some(shared.clone());
        Ok(shared)
    }

    /// The addresses on the whole host and those on `interface`, now.
    async fn local_addresses(
        &self,
        interface: &str,
    ) -> Result<(Vec<IpAddr>, Vec<IpAddr>), NotRunning> {
        let fault = |message: String| NotRunning {
            reason: VirtualIpReason::Fault,
            message,
        };
        let shared = self
            .shared_netlink()
            .await
            .map_err(|e| fault(e.to_string()))?;
        let index = match shared.requests.link_state(interface).await {
            Ok((index, _)) => index,
            Err(AddressError::NoInterface(_)) => {
                return Err(NotRunning {
                    reason: VirtualIpReason::InterfaceNotFound,
                    message: format!(
                        "interface {interface} does not exist on this node: fix spec.interface"
                    ),
                })
            }
            Err(other) => return Err(fault(other.to_string())),
        };
        let table = shared
            .address_table()
            .await
            .map_err(|e| fault(e.to_string()))?;
        let on_host = table.iter().map(|&(_, address)| address).collect();
        let on_interface = table
            .iter()
            .filter(|&&(on, _)| on == index)
            .map(|&(_, address)| address)
            .collect();
        Ok((on_host, on_interface))
    }

    /// What this node should run for `object` (its instances and what
    /// their trackers check), or why it runs nothing.
    async fn desired(
        &self,
        object: &Object,
        spec: &VirtualIpSpec,
        ctx: &Context,
    ) -> Result<(Vec<ShellConfig>, TrackConfig), NotRunning> {
        let cluster = ctx
            .get::<ClusterSpec>(&spec.cluster)
            .map_err(|e| NotRunning {
                reason: VirtualIpReason::ClusterInvalid,
                message: format!("Cluster {} does not decode: {e}", spec.cluster),
            })?;
        let Some(cluster) = cluster else {
            return Err(NotRunning {
                reason: VirtualIpReason::ClusterNotFound,
                message: format!(
                    "Cluster {} does not exist: apply it or fix spec.cluster",
                    spec.cluster
                ),
            });
        };
        let Some(node) = cluster.node(&ctx.node) else {
            return Err(NotRunning {
                reason: VirtualIpReason::NodeNotInCluster,
                message: format!(
                    "Cluster {} does not list node {}, so this node takes no part in the election",
                    spec.cluster, ctx.node
                ),
            });
        };
        let password = self.password(&spec.cluster, &cluster)?;
        // The rest of the controller sees the interface this node uses.
        let interface = spec
            .resolve_interface(node, &host_addresses())
            .map_err(|message| NotRunning {
                reason: VirtualIpReason::InterfaceNotFound,
                message,
            })?;
        let spec = &VirtualIpSpec {
            interface,
            ..spec.clone()
        };
        let (on_host, on_interface) = self.local_addresses(&spec.interface).await?;
        if !on_host.contains(&node.address) {
            // Never advertise, let alone take VIPs, from a host that is not
            // the node the Cluster describes.
            return Err(NotRunning {
                reason: VirtualIpReason::AddressNotLocal,
                message: format!(
                    "node {}'s address {} is not configured on this host: fix spec.nodes or the host's network",
                    node.name, node.address
                ),
            });
        }
        let manifest_dir = object
            .metadata
            .annotations
            .get(SOURCE_FILE_ANNOTATION)
            .and_then(|source| Path::new(source).parent());
        let local = Local {
            vip_name: &object.metadata.name,
            node,
            password: password.as_deref(),
            interface_addresses: on_interface,
            manifest_dir,
        };
        let configs =
            shell_configs(spec, &cluster, &local).map_err(|e: DesiredError| NotRunning {
                reason: VirtualIpReason::InvalidConfig,
                message: e.to_string(),
            })?;
        for config in &configs {
            config.instance.validate().map_err(|e| NotRunning {
                reason: VirtualIpReason::InvalidConfig,
                message: format!("{}: {e}", config.name),
            })?;
        }
        let stored = ctx.store.list(None).0;
        let fencing = spec
            .fenced_among(&object.metadata.name, &cluster, stored.iter().map(|o| &**o))
            .then(|| desired::fencing(spec, &ctx.node));
        Ok((configs, track_config(spec, &local, fencing)))
    }
}

/// Every address on the host with its prefix and interface, for
/// `interface: auto` (empty if the host cannot be asked: auto then finds
/// nothing and says so).
pub fn host_addresses() -> Vec<HostAddress> {
    let Ok(found) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    found
        .filter_map(|entry| {
            let (address, netmask) = (entry.address?, entry.netmask?);
            let (ip, mask) = match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
                (Some(v4), _) => (
                    IpAddr::V4(v4.ip()),
                    IpAddr::V4(netmask.as_sockaddr_in()?.ip()),
                ),
                (_, Some(v6)) => (
                    IpAddr::V6(v6.ip()),
                    IpAddr::V6(netmask.as_sockaddr_in6()?.ip()),
                ),
                _ => return None,
            };
            let prefix = ipnet::ip_mask_to_prefix(mask).ok()?;
            Some(HostAddress {
                interface: entry.interface_name,
                address: IpNet::new(ip, prefix).ok()?,
            })
        })
        .collect()
}

impl VirtualIpReconciler {
    /// Reads Cluster `name`'s VRRP password. A refused file also goes to
    /// the log: without it this node takes no part in any election, which
    /// must not show only as a condition of each VirtualIP.
    fn password(&self, name: &str, cluster: &ClusterSpec) -> Result<Option<String>, NotRunning> {
        let read = read_password(cluster);
        let mut refusals = self
            .password_refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &read {
            Err(refused) => {
                let repeats = refusals.entry(name.to_string()).or_default();
                if let Some(count) = repeats.note(&refused.message) {
                    warn!(
                        cluster = %name,
                        count,
                        error = %refused.message,
                        "VRRP password refused: this node's VirtualIPs of the Cluster stay out of the election"
                    );
                }
            }
            Ok(_) => {
                refusals.remove(name);
            }
        }
        read
    }
}

/// Reads `vrrp.auth.passwordFile` (the schema makes it absolute). The
/// password is the first line, as keepalived's `auth_pass` is one word.
fn read_password(cluster: &ClusterSpec) -> Result<Option<String>, NotRunning> {
    if cluster.vrrp.auth.type_ != AuthType::Pass {
        return Ok(None);
    }
    let Some(path) = &cluster.vrrp.auth.password_file else {
        return Ok(None);
    };
    // A password others can read is refused, with the chmod to run.
    let bytes = hareconcile_fs::read_secret(path).map_err(|e| NotRunning {
        reason: VirtualIpReason::PasswordUnreadable,
        message: format!(
            "reading the VRRP password: {e} (create it or fix vrrp.auth.passwordFile)"
        ),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(Some(text.lines().next().unwrap_or_default().to_string()))
}

#[async_trait]
impl Reconciler for VirtualIpReconciler {
    const KIND: Kind = Kind::VirtualIP;
    const DEPENDS_ON: &'static [Kind] = &[Kind::Cluster];
    /// `fencing: auto` fences a VirtualIP that an exclusive Service or a
    /// copied Replication follows: one applied, changed or deleted after
    /// the VirtualIP must fence it (or stop to) at once, not at the next
    /// resync, 30 s later by default, with the stack already running.
    const DEPENDS_ON_SPEC: &'static [Kind] = &[Kind::Service, Kind::Replication];

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let key = object.key();
        let action = self.run_instances(object, ctx).await;
        // After the instances started took over what they claim.
        self.clear_left_over(&ctx.store, |name| name == key.name)
            .await;
        action
    }

    async fn cleanup(&self, key: &ObjectKey, ctx: &Context) -> Result<(), ReconcileError> {
        let running = self.registry.0.lock().await.running.remove(key);
        if let Some(running) = running {
            running.stop().await;
        }
        self.clear_left_over(&ctx.store, |name| name == key.name)
            .await;
        Ok(())
    }
}

impl VirtualIpReconciler {
    /// Starts, restarts, reconfigures or stops the instances of `object`
    /// as its spec and this node ask, and writes its status.
    async fn run_instances(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let key = object.key();
        let generation = object.metadata.generation;
        let spec: VirtualIpSpec = object.spec_as()?;
        let desired = self.desired(&object, &spec, ctx).await;
        let operator = Operator {
            force_backup: spec.control.force_backup.iter().any(|n| **n == *ctx.node),
            priority_adjust: spec
                .control
                .priority_adjust
                .get(&*ctx.node)
                .copied()
                .unwrap_or(0),
            switchover: match &spec.control.switchover_to {
                None => Switchover::None,
                Some(to) if **to == *ctx.node => Switchover::ToHere,
                Some(_) => Switchover::Elsewhere,
            },
        };
        let mut registry = self.registry.0.lock().await;
        if registry.closed {
            return Ok(Action::AwaitChange);
        }
        match registry.filter.resync().await {
            Ok(None) => {}
            Ok(Some(restored)) => record_filter_restored(&ctx.store, &registry.running, restored),
            Err(error) => warn!(%error, "updating the accept-mode table failed"),
        }
        let (desired, track) = match desired {
            Ok(desired) => desired,
            Err(not_running) => {
                if let Some(old) = registry.running.remove(&key) {
                    old.stop().await;
                }
                write_not_running(&ctx.store, &key, generation, &not_running)?;
                return Ok(Action::Requeue(RETRY));
            }
        };
        let unchanged = registry
            .running
            .get(&key)
            .is_some_and(|running| same_instances(&running.desired, &desired));
        if !unchanged {
            if let Some(old) = registry.running.remove(&key) {
                old.stop().await;
            }
            let group = desired
                .first()
                .and_then(|config| config.sync_group.as_deref())
                .map(|name| registry.groups.hub(name));
            let trackers = Trackers::start(track.clone(), &ctx.store, self.sessions.clone());
            let filter = registry.filter.clone();
            let started = match self.shared_netlink().await {
                Ok(netlink) => {
                    let tracked = trackers.subscribe();
                    let start = start_instances(
                        desired.clone(),
                        operator,
                        tracked,
                        group,
                        filter,
                        netlink,
                        self.footprint.clone(),
                    );
                    self.thread.run(start).await
                }
                Err(error) => Err(NotRunning {
                    reason: VirtualIpReason::Fault,
                    message: error.to_string(),
                }),
            };
            match started {
                Ok(instances) => {
                    let generation = Arc::new(AtomicU64::new(generation));
                    let reporter = tokio::spawn(reporter::report(
                        ctx.store.clone(),
                        key.clone(),
                        Arc::clone(&generation),
                        instances.iter().map(InstanceHandle::observed).collect(),
                        filters_traffic(&desired).then(|| registry.filter.clone()),
                    ));
                    registry.running.insert(
                        key.clone(),
                        Running {
                            desired: desired.clone(),
                            instances,
                            trackers,
                            generation,
                            reporter,
                        },
                    );
                }
                Err(not_running) => {
                    write_not_running(&ctx.store, &key, generation, &not_running)?;
                    return Ok(Action::Requeue(RETRY));
                }
            }
        }
        let unenforced = filters_traffic(&desired)
            .then(|| registry.filter.unenforced())
            .flatten();
        let running = registry.running.get_mut(&key).expect("inserted above");
        running.generation.store(generation, Ordering::Relaxed);
        // Scripts and Services change without restarting an instance.
        running.trackers.reconfigure(track, &ctx.store);
        for (instance, config) in running.instances.iter().zip(&desired) {
            instance.set_operator(operator);
            instance.set_notify(config.notify.clone());
        }
        running.desired = desired;
        let observed: Vec<Observed> = running
            .instances
            .iter()
            .map(|i| i.observed().borrow().clone())
            .collect();
        match write_status(&ctx.store, &key, generation, &observed, unenforced) {
            Err(StoreError::NotFound(_)) => Ok(Action::AwaitChange),
            other => other.map(|()| Action::AwaitChange).map_err(Into::into),
        }
    }
}

/// Whether `running` and `desired` differ only in what a running instance
/// takes without a restart (notify commands): restarting a master would
/// hand its VIPs over.
fn same_instances(running: &[ShellConfig], desired: &[ShellConfig]) -> bool {
    let restart_key = |config: &ShellConfig| ShellConfig {
        notify: NotifyCommands::default(),
        ..config.clone()
    };
    running.len() == desired.len()
        && running
            .iter()
            .zip(desired)
            .all(|(a, b)| restart_key(a) == restart_key(b))
}

/// Starts every instance or none: a family that cannot start stops the
/// ones already started. Run on the VRRP thread, so that the instance
/// tasks and what they spawn live there.
async fn start_instances(
    desired: Vec<ShellConfig>,
    operator: Operator,
    tracked: watch::Receiver<Tracked>,
    group: Option<SyncGroupHub>,
    filter: AcceptFilter,
    netlink: SharedNetlink,
    footprint: Footprint,
) -> Result<Vec<InstanceHandle>, NotRunning> {
    let mut started = Vec::new();
    for config in &desired {
        let starting = shell::start(
            config.clone(),
            operator,
            tracked.clone(),
            group.clone(),
            filter.clone(),
            netlink.clone(),
            footprint.clone(),
        );
        match starting.await {
            Ok(handle) => started.push(handle),
            Err(error) => {
                for handle in started {
                    handle.stop().await;
                }
                return Err(NotRunning {
                    reason: match error {
                        // Taking the VIPs unfiltered would break the spec.
                        ShellError::AcceptFilter(_) => VirtualIpReason::AcceptModeUnenforceable,
                        _ => VirtualIpReason::Fault,
                    },
                    message: format!("{}: {error}", config.name),
                });
            }
        }
    }
    Ok(started)
}

/// Whether some of these instances turn accept mode off: their VIPs are
/// in the accept-mode table.
fn filters_traffic(desired: &[ShellConfig]) -> bool {
    desired
        .iter()
        .any(|config| !config.instance.accepts_traffic())
}

/// Tells every VirtualIP whose VIPs the accept-mode table filters that it
/// had been deleted or changed by someone else and is back.
fn record_filter_restored(store: &Store, running: &HashMap<ObjectKey, Running>, found: Restored) {
    let what = match found {
        Restored::Missing => "was deleted (`nft flush ruleset` or `nft delete table`)",
        Restored::Changed => "had been changed",
    };
    warn!(
        table = TABLE,
        "the accept-mode table {what} by someone else; writing it again"
    );
    for (key, running) in running {
        let filtered: Vec<String> = running
            .desired
            .iter()
            .filter(|config| !config.instance.accepts_traffic())
            .flat_map(|config| config.vips.iter().map(|vip| vip.addr().to_string()))
            .collect();
        if filtered.is_empty() {
            continue;
        }
        let message = format!(
            "the nftables table inet {TABLE}, which drops traffic to {} (accept: false), {what} by hand; put back",
            filtered.join(", ")
        );
        store.record_event(key, EventType::Warning, "RestoredAcceptFilter", &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_notify_changes_keep_the_instance_running() {
        let config = ShellConfig {
            name: "web/ipv4".into(),
            virtual_ip: "web".into(),
            interface: "eth0".into(),
            track_interfaces: Vec::new(),
            instance: crate::core::InstanceConfig::new(
                51,
                "10.77.0.1".parse().unwrap(),
                vec!["10.77.0.100".parse().unwrap()],
            ),
            vips: vec!["10.77.0.100/24".parse().unwrap()],
            transport: crate::io::network::Transport::Multicast,
            announcements: 5,
            announce_every: None,
            notify: NotifyCommands::default(),
            sync_group: None,
            virtual_mac: false,
        };
        let running = std::slice::from_ref(&config);
        let mut new_hooks = config.clone();
        new_hooks.notify.master = vec!["logger".into(), "master".into()];
        assert!(same_instances(running, &[new_hooks]));
        let mut new_priority = config.clone();
        new_priority.instance.priority = 120;
        assert!(!same_instances(running, &[new_priority]));
        assert!(!same_instances(running, &[config.clone(), config.clone()]));
    }
}
