//! The VirtualIP controller: keeps one VRRP instance task per address family
//! running for every VirtualIP whose Cluster lists this node, restarts it
//! when the desired config changes, stops it (priority 0, VIPs removed) when
//! the VirtualIP goes or the agent stops, and reports what each instance
//! sees in the VirtualIP's status.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::status::{
    AdvertCounters, VirtualIpReason, VirtualMacSeen, VrrpInstanceStatus, VrrpState,
};
use hareconcile_model::{
    AuthType, ClusterSpec, ConditionStatus, Drift, Kind, Object, ObjectKey, Status, VirtualIpSpec,
    VirtualIpStatus, OWNER_NEVER_BACKUP, SOURCE_FILE_ANNOTATION,
};
use hareconcile_runtime::{Action, Context, EventType, Readiness, Reconciler, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::warn;

use crate::accept_filter::{AcceptFilter, Restored, TABLE};
use crate::addresses::AddressError;
use crate::desired::{shell_configs, track_config, DesiredError, Local};
use crate::events::{State, Switchover};
use crate::group::{SyncGroupHub, SyncGroups};
use crate::hooks::NotifyCommands;
use crate::netlink_share::SharedNetlink;
use crate::shell::{self, Counters, InstanceHandle, Observed, Operator, ShellConfig, ShellError};
use crate::trackers::{TrackConfig, Trackers};
use crate::tracking::{describe_awaited, Awaited, Tracked};
use crate::vmac;

/// Status is written on every state change; `lastAdvert` and the counters
/// move on every advert, so the reporter refreshes them this often instead
/// (not the reconcile, which reads the host's addresses each time).
const STATUS_REFRESH: Duration = Duration::from_secs(5);
/// After a problem the operator or the host must fix, look again this often.
const RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum VirtualIpError {
    #[error("spec does not decode: {0}")]
    Spec(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why this node runs no instance for a VirtualIP, as its Ready condition says.
struct NotRunning {
    reason: VirtualIpReason,
    message: String,
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

#[derive(Default)]
pub struct VirtualIpReconciler {
    registry: VrrpShutdown,
    /// Every reconcile reads the host's addresses and every instance
    /// changes them and follows their changes: one request connection and
    /// one change feed for all of them instead of one each (a hundred
    /// VirtualIPs opened hundreds of sockets with 72 KiB of buffers each,
    /// and the agent's RSS grew with the heap they fragmented).
    netlink: Mutex<Option<SharedNetlink>>,
}

impl VirtualIpReconciler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle the agent keeps to stop the instances when it exits.
    pub fn shutdown_handle(&self) -> VrrpShutdown {
        self.registry.clone()
    }

    /// The agent's netlink, connected again if its request connection
    /// failed (instances started before keep the one they were given).
    async fn shared_netlink(&self) -> Result<SharedNetlink, AddressError> {
        let mut cached = self.netlink.lock().await;
        if let Some(shared) = cached.as_ref().filter(|shared| shared.is_open()) {
            return Ok(shared.clone());
        }
        let shared = SharedNetlink::connect()?;
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
        let cluster_key = ObjectKey {
            kind: Kind::Cluster,
            name: spec.cluster.clone(),
        };
        let Some(cluster_object) = ctx.store.get(&cluster_key) else {
            return Err(NotRunning {
                reason: VirtualIpReason::ClusterNotFound,
                message: format!(
                    "Cluster {} does not exist: apply it or fix spec.cluster",
                    spec.cluster
                ),
            });
        };
        let cluster: ClusterSpec = cluster_object.spec_as().map_err(|e| NotRunning {
            reason: VirtualIpReason::ClusterInvalid,
            message: format!("Cluster {} does not decode: {e}", spec.cluster),
        })?;
        let Some(node) = cluster.node(&ctx.node) else {
            return Err(NotRunning {
                reason: VirtualIpReason::NodeNotInCluster,
                message: format!(
                    "Cluster {} does not list node {}, so this node takes no part in the election",
                    spec.cluster, ctx.node
                ),
            });
        };
        let password = read_password(&cluster)?;
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
        Ok((configs, track_config(spec, &local)))
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
    let text = std::fs::read_to_string(path).map_err(|e| NotRunning {
        reason: VirtualIpReason::PasswordUnreadable,
        message: format!(
            "reading the VRRP password from {}: {e}: create it or fix vrrp.auth.passwordFile",
            path.display()
        ),
    })?;
    Ok(Some(text.lines().next().unwrap_or_default().to_string()))
}

#[async_trait]
impl Reconciler for VirtualIpReconciler {
    type Error = VirtualIpError;

    fn kind(&self) -> Kind {
        Kind::VirtualIP
    }

    fn depends_on(&self) -> &[Kind] {
        &[Kind::Cluster]
    }

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, VirtualIpError> {
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
            let trackers = Trackers::start(track.clone(), &ctx.store);
            let filter = registry.filter.clone();
            let started = match self.shared_netlink().await {
                Ok(netlink) => {
                    let tracked = trackers.subscribe();
                    start_instances(&desired, operator, tracked, group, filter, netlink).await
                }
                Err(error) => Err(NotRunning {
                    reason: VirtualIpReason::Fault,
                    message: error.to_string(),
                }),
            };
            match started {
                Ok(instances) => {
                    let generation = Arc::new(AtomicU64::new(generation));
                    let reporter = tokio::spawn(report(
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

    async fn cleanup(&self, key: &ObjectKey, _ctx: &Context) -> Result<(), VirtualIpError> {
        let running = self.registry.0.lock().await.running.remove(key);
        if let Some(running) = running {
            running.stop().await;
        }
        Ok(())
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
/// ones already started.
async fn start_instances(
    desired: &[ShellConfig],
    operator: Operator,
    tracked: watch::Receiver<Tracked>,
    group: Option<SyncGroupHub>,
    filter: AcceptFilter,
    netlink: SharedNetlink,
) -> Result<Vec<InstanceHandle>, NotRunning> {
    let mut started = Vec::new();
    for config in desired {
        let starting = shell::start(
            config.clone(),
            operator,
            tracked.clone(),
            group.clone(),
            filter.clone(),
            netlink.clone(),
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

/// Writes status on every change an instance reports, and records an
/// event for each state it enters.
async fn report(
    store: Store,
    key: ObjectKey,
    generation: Arc<AtomicU64>,
    mut observed: Vec<watch::Receiver<Observed>>,
    filter: Option<AcceptFilter>,
) {
    let mut last_states: Vec<State> = observed.iter().map(|o| o.borrow().state).collect();
    let mut last_preparing = false;
    let mut last_refused = false;
    let mut last_repairs: Vec<u64> = observed.iter().map(|o| o.borrow().repairs).collect();
    let mut refresh = tokio::time::interval_at(Instant::now() + STATUS_REFRESH, STATUS_REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let changes = observed.iter_mut().map(|o| Box::pin(o.changed()));
        tokio::select! {
            changed = futures_util::future::select_all(changes) => {
                if changed.0.is_err() {
                    return;
                }
            }
            _ = refresh.tick() => {}
        }
        let snapshot: Vec<Observed> = observed
            .iter_mut()
            .map(|o| o.borrow_and_update().clone())
            .collect();
        for (last, now) in last_states.iter_mut().zip(&snapshot) {
            if *last != now.state {
                record_transition(&store, &key, now);
                *last = now.state;
            }
        }
        for (last, now) in last_repairs.iter_mut().zip(&snapshot) {
            if let (true, Some(repair)) = (now.repairs > *last, &now.last_repair) {
                store.record_event(&key, EventType::Warning, repair.reason, &repair.message);
            }
            *last = now.repairs;
        }
        let refused = force_backup_refused(&snapshot);
        if refused && !last_refused {
            let message = refused_message(&key.name);
            store.record_event(
                &key,
                EventType::Warning,
                VirtualIpReason::OwnerCannotBeBackup.as_str(),
                &message,
            );
        }
        last_refused = refused;
        let preparing = preparing_takeover(&snapshot);
        if preparing != last_preparing {
            record_takeover_hold(&store, &key, preparing, &snapshot);
            last_preparing = preparing;
        }
        let generation = generation.load(Ordering::Relaxed);
        let unenforced = filter.as_ref().and_then(AcceptFilter::unenforced);
        if let Err(error) = write_status(&store, &key, generation, &snapshot, unenforced) {
            warn!(object = %key, %error, "writing VirtualIP status failed");
        }
    }
}

fn record_transition(store: &Store, key: &ObjectKey, observed: &Observed) {
    let (type_, reason, message) = match observed.state {
        State::Master => (
            EventType::Normal,
            "BecameMaster",
            "this node holds the virtual addresses".to_string(),
        ),
        State::Backup => (
            EventType::Normal,
            "BecameBackup",
            match observed.master {
                Some(master) => format!("following master {master}"),
                None => "waiting for a master's advert".to_string(),
            },
        ),
        State::Fault => (
            EventType::Warning,
            "EnteredFault",
            observed.fault.clone().unwrap_or_default(),
        ),
        State::Initialize => (EventType::Normal, "Stopped", "instance stopped".to_string()),
    };
    store.record_event(key, type_, reason, &message);
}

/// Whether any instance holds its preemption for the followers.
fn preparing_takeover(observed: &[Observed]) -> bool {
    observed.iter().any(|o| o.preparing_takeover)
}

/// The Services a held preemption waits for, as the instances report them.
fn awaited(observed: &[Observed]) -> &[Awaited] {
    observed
        .iter()
        .find(|o| o.preparing_takeover)
        .map_or(&[], |o| o.awaited.as_slice())
}

/// `waiting for shop (its stack is not started here yet)`.
fn waiting_for(observed: &[Observed]) -> String {
    match awaited(observed) {
        [] => "waiting for the Services following this VirtualIP to be Ready here".to_string(),
        awaited => format!("waiting for {}", describe_awaited(awaited)),
    }
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

/// Whether the address owner was asked to be a backup, and refused.
fn force_backup_refused(observed: &[Observed]) -> bool {
    observed.iter().any(|o| o.force_backup_refused)
}

fn refused_message(vip: &str) -> String {
    format!(
        "spec.control.forceBackup of VirtualIP {vip} lists this node, the owner of its address (priority 255), and {OWNER_NEVER_BACKUP}: maintenance refused, this node stays a candidate and keeps the address"
    )
}

fn record_takeover_hold(store: &Store, key: &ObjectKey, holding: bool, observed: &[Observed]) {
    if holding {
        let master = observed
            .iter()
            .find_map(|o| o.master)
            .map_or_else(String::new, |m| format!(" ({m})"));
        let message = format!(
            "a lower-priority master{master} is live: the Services following this VirtualIP start here before it is taken over (preparingTakeover); {}",
            waiting_for(observed)
        );
        store.record_event(key, EventType::Normal, "HoldingPreemption", &message);
    } else if observed.iter().any(|o| o.state == State::Master) {
        store.record_event(
            key,
            EventType::Normal,
            "PreemptingAfterServicesReady",
            "the Services following this VirtualIP are ready here: taking the virtual addresses over",
        );
    } else {
        store.record_event(
            key,
            EventType::Normal,
            "PreemptionHoldEnded",
            "no longer preparing a takeover (the master changed, or preemption no longer applies)",
        );
    }
}

fn vrrp_state(state: State) -> VrrpState {
    match state {
        State::Initialize => VrrpState::Initialize,
        State::Backup => VrrpState::Backup,
        State::Master => VrrpState::Master,
        State::Fault => VrrpState::Fault,
    }
}

fn advert_counters(counters: &Counters) -> AdvertCounters {
    AdvertCounters {
        adverts_sent: counters.adverts_sent,
        adverts_received: counters.adverts_received,
        dropped: counters
            .dropped
            .iter()
            .map(|(reason, count)| (reason.as_str().to_string(), *count))
            .collect(),
    }
}

fn instance_status(observed: &Observed) -> VrrpInstanceStatus {
    VrrpInstanceStatus {
        instance: Some(observed.instance.clone()),
        state: Some(vrrp_state(observed.state)),
        effective_priority: Some(observed.effective_priority),
        master: observed.master,
        transitions: Some(observed.transitions),
        last_advert: observed.last_advert.map(OffsetDateTime::from),
        dropped_adverts: Some(observed.counters.dropped_total()),
        counters: Some(advert_counters(&observed.counters)),
        virtual_mac: observed.virtual_mac.as_ref().map(|vmac| VirtualMacSeen {
            interface: vmac.interface.clone(),
            mac: vmac::format_mac(vmac.mac),
        }),
    }
}

/// The Ready verdict over every family's instance.
fn readiness(observed: &[Observed]) -> Readiness<VirtualIpReason> {
    if let Some(fault) = observed.iter().find(|o| o.state == State::Fault) {
        let why = fault
            .fault
            .clone()
            .unwrap_or_else(|| "tracking failed".into());
        return (ConditionStatus::False, VirtualIpReason::Fault, why);
    }
    if observed.iter().any(|o| o.state == State::Initialize) {
        return (
            ConditionStatus::False,
            VirtualIpReason::Initialize,
            "the VRRP instance is starting".into(),
        );
    }
    if observed.iter().any(|o| o.state == State::Master) {
        return (
            ConditionStatus::True,
            VirtualIpReason::Master,
            "this node holds the virtual addresses".into(),
        );
    }
    let master = observed.iter().find_map(|o| o.master).map_or_else(
        || "no master heard yet".to_string(),
        |m| format!("master is {m}"),
    );
    if preparing_takeover(observed) {
        // Held for as long as a follower is not Ready here, however long:
        // the master keeps serving meanwhile (make-before-break).
        return (
            ConditionStatus::True,
            VirtualIpReason::PreparingTakeover,
            format!(
                "{master}, of lower priority: it keeps the virtual addresses until the Services following this VirtualIP run Ready here; {}",
                waiting_for(observed)
            ),
        );
    }
    (ConditionStatus::True, VirtualIpReason::Backup, master)
}

fn write_status(
    store: &Store,
    key: &ObjectKey,
    generation: u64,
    observed: &[Observed],
    unenforced: Option<String>,
) -> Result<(), StoreError> {
    store.update_status(key, |s: &mut Status| {
        fill_status(s, &key.name, generation, observed, unenforced.as_deref())
    })?;
    Ok(())
}

/// The status of VirtualIP `vip` from what its instances observe, and why
/// its accept-mode table may not be enforced.
fn fill_status(
    s: &mut Status,
    vip: &str,
    generation: u64,
    observed: &[Observed],
    unenforced: Option<&str>,
) {
    let (status, reason, message) = readiness(observed);
    s.observed_generation = Some(generation);
    let mut drift = Vec::new();
    if force_backup_refused(observed) {
        drift.push(Drift {
            reason: VirtualIpReason::OwnerCannotBeBackup.to_string(),
            message: refused_message(vip),
            fix: Some("won't fix: remove this node from spec.control.forceBackup (`hareconcile vip restore` where it was set by hand)".into()),
        });
    }
    if let Some(why) = unenforced {
        drift.push(Drift {
            reason: VirtualIpReason::AcceptFilterNotEnforced.to_string(),
            message: format!("traffic to the addresses may not be dropped as accept: false asks: {why}"),
            fix: Some(format!("the agent checks the nftables table inet {TABLE} and puts it back at every resync; if this stays, fix what nft says")),
        });
    }
    let details = VirtualIpStatus {
        instance: observed.first().map(instance_status).unwrap_or_default(),
        // What the Service controller reads to start the stack before
        // this node takes the VIP over (make-before-break).
        preparing_takeover: preparing_takeover(observed),
        waiting_for: awaited(observed)
            .iter()
            .map(|a| a.service.clone())
            .collect(),
        drift,
        instances: match observed {
            [_, _, ..] => observed.iter().map(instance_status).collect(),
            _ => Vec::new(),
        },
    };
    s.set_details(&details);
    s.set_condition("Ready", status, reason.as_str(), message, generation);
}

fn write_not_running(
    store: &Store,
    key: &ObjectKey,
    generation: u64,
    not_running: &NotRunning,
) -> Result<(), StoreError> {
    let updated = store.update_status(key, |s| {
        s.observed_generation = Some(generation);
        let state = match not_running.reason {
            VirtualIpReason::Fault => VrrpState::Fault,
            _ => VrrpState::Initialize,
        };
        let mut details = VirtualIpStatus::default();
        details.instance.state = Some(state);
        s.set_details(&details);
        s.set_condition(
            "Ready",
            ConditionStatus::False,
            not_running.reason.as_str(),
            not_running.message.clone(),
            generation,
        );
    });
    match updated {
        Err(StoreError::NotFound(_)) => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(state: State, master: Option<&str>) -> Observed {
        Observed {
            instance: "web/ipv4".into(),
            state,
            effective_priority: 100,
            master: master.map(|m| m.parse().unwrap()),
            transitions: 1,
            last_advert: None,
            fault: (state == State::Fault).then(|| "tracked interface eth0 down".to_string()),
            preparing_takeover: false,
            awaited: Vec::new(),
            force_backup_refused: false,
            counters: Counters::default(),
            repairs: 0,
            last_repair: None,
            virtual_mac: None,
        }
    }

    #[test]
    fn ready_says_master_backup_or_why_not() {
        let master = observed(State::Master, Some("10.77.0.1"));
        let backup = observed(State::Backup, Some("10.77.0.1"));
        let fault = observed(State::Fault, None);
        assert_eq!(
            readiness(std::slice::from_ref(&master)).1,
            VirtualIpReason::Master
        );
        let (status, reason, message) = readiness(&[backup]);
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, VirtualIpReason::Backup)
        );
        assert!(message.contains("10.77.0.1"), "{message}");
        let (status, reason, message) = readiness(&[master, fault]);
        assert_eq!(
            (status, reason),
            (ConditionStatus::False, VirtualIpReason::Fault)
        );
        assert!(message.contains("eth0 down"), "{message}");
    }

    #[test]
    fn only_notify_changes_keep_the_instance_running() {
        let config = ShellConfig {
            name: "web/ipv4".into(),
            interface: "eth0".into(),
            track_interfaces: Vec::new(),
            instance: crate::InstanceConfig::new(
                51,
                "10.77.0.1".parse().unwrap(),
                vec!["10.77.0.100".parse().unwrap()],
            ),
            vips: vec!["10.77.0.100/24".parse().unwrap()],
            transport: crate::network::Transport::Multicast,
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

    #[test]
    fn an_instance_reports_what_it_observes() {
        let details = instance_status(&observed(State::Backup, Some("10.77.0.1")));
        assert_eq!(details.state, Some(VrrpState::Backup));
        assert_eq!(details.effective_priority, Some(100));
        assert_eq!(details.master, Some("10.77.0.1".parse().unwrap()));
        assert_eq!(details.transitions, Some(1));
        assert_eq!(details.last_advert, None);
        assert_eq!(details.instance.as_deref(), Some("web/ipv4"));
        assert_eq!(details.virtual_mac, None);
        let mut with_vmac = observed(State::Master, Some("10.77.0.1"));
        with_vmac.virtual_mac = Some(crate::shell::VirtualMac {
            interface: "vrrp.51".into(),
            mac: vmac::virtual_mac(51, true),
        });
        assert_eq!(
            instance_status(&with_vmac).virtual_mac,
            Some(VirtualMacSeen {
                interface: "vrrp.51".into(),
                mac: "00:00:5e:00:01:33".into()
            })
        );
    }

    #[test]
    fn a_held_preemption_names_the_services_it_waits_for() {
        let mut held = observed(State::Backup, Some("10.77.0.2"));
        held.preparing_takeover = true;
        held.awaited = vec![Awaited {
            service: "shop".into(),
            why: "Ready is False (EngineError): cannot reach Docker".into(),
        }];
        let (status, reason, message) = readiness(std::slice::from_ref(&held));
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, VirtualIpReason::PreparingTakeover)
        );
        assert_eq!(
            message,
            "master is 10.77.0.2, of lower priority: it keeps the virtual addresses until the Services following this VirtualIP run Ready here; waiting for shop (Ready is False (EngineError): cannot reach Docker)"
        );
        let mut status = Status::default();
        fill_status(&mut status, "web", 2, std::slice::from_ref(&held), None);
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.preparing_takeover);
        assert_eq!(details.waiting_for, ["shop"]);
        assert_eq!(
            status.condition("Ready").unwrap().reason,
            VirtualIpReason::PreparingTakeover.as_str()
        );

        held.preparing_takeover = false;
        held.awaited.clear();
        fill_status(&mut status, "web", 2, &[held], None);
        assert_eq!(
            status.condition("Ready").unwrap().reason,
            VirtualIpReason::Backup.as_str()
        );
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.waiting_for.is_empty());
    }

    #[test]
    fn a_refused_maintenance_of_the_owner_is_drift_until_removed() {
        let mut status = Status::default();
        let mut owner = observed(State::Master, Some("10.77.0.1"));
        owner.force_backup_refused = true;
        fill_status(&mut status, "router", 3, std::slice::from_ref(&owner), None);
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.has_drift(VirtualIpReason::OwnerCannotBeBackup));
        let drift = &details.drift[0];
        let message = &drift.message;
        assert!(
            message.contains("VirtualIP router")
                && message.contains("the address owner cannot be a backup (RFC 5798)"),
            "{message}"
        );
        assert!(drift.fix.as_ref().unwrap().contains("forceBackup"));
        assert!(status.is_ready(), "the owner serves on");
        owner.force_backup_refused = false;
        fill_status(&mut status, "router", 4, &[owner], None);
        assert!(status
            .details_as::<VirtualIpStatus>()
            .unwrap()
            .drift
            .is_empty());
    }

    #[test]
    fn an_accept_mode_table_that_cannot_be_put_back_is_drift() {
        let mut status = Status::default();
        let master = observed(State::Master, Some("10.77.0.1"));
        let why = "nft refused the table hareconcile_vrrp for the VIPs that do not accept traffic: Error: Could not process rule";
        fill_status(
            &mut status,
            "web",
            1,
            std::slice::from_ref(&master),
            Some(why),
        );
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.has_drift(VirtualIpReason::AcceptFilterNotEnforced));
        assert!(details.drift[0].message.ends_with(why), "{details:?}");
        fill_status(&mut status, "web", 1, &[master], None);
        assert!(status
            .details_as::<VirtualIpStatus>()
            .unwrap()
            .drift
            .is_empty());
    }

    #[test]
    fn counters_are_reported_by_reason() {
        use crate::receive::DropReason;
        let mut backup = observed(State::Backup, Some("10.77.0.1"));
        backup.counters.adverts_received = 7;
        backup.counters.dropped.insert(DropReason::Auth, 3);
        backup.counters.dropped.insert(DropReason::Ttl, 1);
        let details = instance_status(&backup);
        assert_eq!(details.dropped_adverts, Some(4));
        let counters = details.counters.unwrap();
        assert_eq!((counters.adverts_sent, counters.adverts_received), (0, 7));
        assert_eq!(
            counters.dropped,
            [("auth".to_string(), 3), ("ttl".to_string(), 1)].into()
        );
    }
}
