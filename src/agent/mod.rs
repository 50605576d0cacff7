//! The agent: wires one node's store, API server, manifest watcher and
//! controllers together, and takes them down cleanly on SIGTERM.

mod commit_signature;
mod declared;
mod git_remote;
pub mod gitops;
mod manifests;
mod measured;
mod node_event;
mod open_files;
pub(crate) mod other_nodes;
pub mod quorum;
mod readiness;
mod store_health;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use hareconcile_cluster::ClusterReconciler;
use hareconcile_compose::ServiceReconciler;
use hareconcile_model::Manager;
use hareconcile_mount::MountReconciler;
use hareconcile_runtime::{Context, Controller, EventType, Store};
use hareconcile_sync::SyncReconciler;
use hareconcile_vrrp::{Scheduling, VirtualIpReconciler};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info};

use crate::api::server;

/// The reason of the event that says a set was rejected for killing the agent.
const CRASH_LOOP_STOPPED: &str = "CrashLoopStopped";

pub struct AgentConfig {
    pub node: String,
    pub state_dir: PathBuf,
    pub manifests: Option<PathBuf>,
    pub socket: PathBuf,
    /// The group whose members may use the socket (mode 0660), if any.
    pub socket_group: Option<u32>,
    pub resync: Duration,
    pub git: Option<gitops::GitSource>,
    /// Let a manifests directory or commit that declares none of the
    /// objects applied from it delete them all.
    pub allow_prune_all: bool,
    /// The Docker Engine the compose controller drives.
    pub docker_host: String,
    pub webhook: Option<webhook::Webhook>,
    /// Where to serve `/metrics` and `/healthz` over TCP, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// How long the agent must run with a new commit or directory content
    /// before it counts as good (see [`crate::trials`]).
    pub trial_period: Duration,
    /// The scheduling asked for the thread the VRRP instances run on.
    pub vrrp_scheduling: Scheduling,
}

pub async fn run(config: AgentConfig) -> anyhow::Result<()> {
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    open_files::raise_limit();

    let store = Store::open(&config.state_dir, &config.node)?;
    info!(
        node = %config.node,
        state_dir = %config.state_dir.display(),
        objects = store.list(None).0.len(),
        "store opened"
    );
    let (stop, stopped) = watch::channel(false);
    // Before any controller runs, so every event they record is counted.
    let (event_totals, event_totals_task) =
        crate::api::event_totals::EventTotals::start(&store, stopped.clone());
    // Before any controller runs (a stored object may be what killed the
    // last runs), after the event totals (its event counts).
    let trials = crate::trials::Trials::open(&config.state_dir, config.trial_period);
    for rejection in trials.recover(&store) {
        if let (Manager::Gitops, Some(source)) = (rejection.source, &config.git) {
            gitops::roll_back(
                source,
                &config.state_dir,
                rejection.clone(),
                stopped.clone(),
            )
            .await;
        }
        let message = rejection.message();
        error!(source = %rejection.source, set = %rejection.set, "{message}");
        node_event::record(&store, EventType::Warning, CRASH_LOOP_STOPPED, &message);
    }
    let trials_task = trials.start(stopped.clone());
    let store_health_task = store_health::start(store.clone(), stopped.clone());
    forget_vrrp_states(&store)?;
    let ctx = Context {
        store: store.clone(),
        node: config.node.as_str().into(),
    };
    let reconciles = crate::api::reconcile_stats::ReconcileStats::default();
    // Before the controllers, so a fenced VirtualIP finds its session.
    let quorum = quorum::Keeper::start(store.clone(), config.node.clone());
    let vrrp = VirtualIpReconciler::start(config.vrrp_scheduling, &config.state_dir)
        .context("starting the VRRP thread")?
        .with_quorum(quorum.sessions());
    // After the crash-loop breaker, which may have removed VirtualIPs.
    vrrp.clear_unclaimed(&store).await;
    let vrrp_scheduling = vrrp.scheduling();
    let vrrp_instances = vrrp.shutdown_handle();
    // Filled by the peer API task below; the Service controller asks the
    // other nodes through it before starting an exclusive stack.
    let peers = crate::peer::PeerDirectory::default();
    let mut service_reconciler = ServiceReconciler::new(&config.docker_host);
    // What this node says of its exclusive stacks, in its own rounds and
    // to the other nodes: its claims and its VRRP instances, now.
    let stacks = crate::cluster_view::LocalStacks {
        claims: service_reconciler.claims(),
        vrrp: vrrp.states(),
        store: store.clone(),
    };
    service_reconciler =
        service_reconciler.with_other_nodes(std::sync::Arc::new(other_nodes::PeerStacks {
            directory: peers.clone(),
            local: stacks.clone(),
        }));
    let health_changes = service_reconciler.health_changes();
    let services = Controller::new(
        measured::Measured::new("compose", service_reconciler, &reconciles),
        ctx.clone(),
    )
    .resync_every(config.resync)
    .start();
    // A health verdict that changes is written at once, not at the next recheck.
    let health_task = health_changes.map(|changes| {
        tokio::spawn(hareconcile_compose::health::forward(
            changes,
            services.clone(),
        ))
    });
    // Restores a container stopped or removed by hand without waiting for the resync.
    let docker_events = tokio::spawn(hareconcile_compose::events::forward(
        config.docker_host.clone(),
        services.clone(),
    ));
    let controllers = vec![
        Controller::new(
            measured::Measured::new("cluster", ClusterReconciler::new(), &reconciles),
            ctx.clone(),
        )
        .resync_every(config.resync)
        .start(),
        Controller::new(
            measured::Measured::new("vrrp", vrrp, &reconciles),
            ctx.clone(),
        )
        .resync_every(config.resync)
        .start(),
        services.clone(),
        Controller::new(
            measured::Measured::new("mount", MountReconciler::new(), &reconciles),
            ctx.clone(),
        )
        .resync_every(config.resync)
        .start(),
        Controller::new(
            measured::Measured::new(
                "sync",
                SyncReconciler::new(&config.docker_host).with_quorum(quorum.sessions()),
                &reconciles,
            ),
            ctx.clone(),
        )
        .resync_every(config.resync)
        .start(),
    ];

    let (gitops, gitops_task) = match &config.git {
        Some(source) => {
            let (handle, task) = gitops::start(
                source.clone(),
                store.clone(),
                &config.state_dir,
                config.allow_prune_all,
                trials.clone(),
                stopped.clone(),
            );
            (Some(handle), Some(task))
        }
        None => (None, None),
    };
    let sync_sources = crate::drift::SyncSources {
        declared: declared_sources(&config),
        gitops: gitops.clone(),
    };
    let peers_task =
        crate::peer::start(store.clone(), &peers, sync_sources, stacks, stopped.clone());
    let webhook_task = config
        .webhook
        .clone()
        .map(|hook| webhook::start(hook, &store, stopped.clone()));
    let listener = server::bind(&config.socket, config.socket_group)
        .with_context(|| format!("listening on {}", config.socket.display()))?;
    let api = server::Api {
        store: store.clone(),
        gitops,
        peers,
        declared: declared_sources(&config),
        event_totals,
        reconciles,
        trials: trials.clone(),
        vrrp_scheduling,
        stopping: stopped.clone(),
    };
    let metrics_task = match config.metrics_listen {
        Some(address) => {
            let listener = crate::tcp_guard::listen(address)
                .await
                .with_context(|| format!("--metrics-listen {address}"))?;
            info!(address = %listener.local_addr()?, "serving /metrics and /healthz");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(server::serve_metrics(
                listener,
                api.clone(),
                async move {
                    let _ = stopped.wait_for(|&s| s).await;
                },
            )))
        }
        None => None,
    };
    let mut server_stopped = stopped.clone();
    let mut server = tokio::spawn({
        let socket = config.socket.clone();
        async move {
            server::serve(listener, api, async move {
                let _ = server_stopped.wait_for(|&s| s).await;
            })
            .await
            .with_context(|| format!("serving the API on {}", socket.display()))
        }
    });
    info!(socket = %config.socket.display(), "API listening");

    let watcher = match &config.manifests {
        Some(dir) => Some(manifests::start(
            dir.clone(),
            store.clone(),
            config.resync,
            config.allow_prune_all,
            trials.clone(),
            stopped.clone(),
        )?),
        None => None,
    };

    let readiness = readiness::Readiness::from_env();
    readiness.ready(&format!(
        "node {}, API on {}",
        config.node,
        config.socket.display()
    ));
    let server_died = tokio::select! {
        _ = terminate.recv() => { info!("SIGTERM: shutting down"); None }
        _ = interrupt.recv() => { info!("SIGINT: shutting down"); None }
        finished = &mut server => Some(flatten(finished)),
    };
    // A planned stop, even one systemd ends with SIGKILL at its timeout,
    // is no verdict on the sets on trial.
    trials.stopping_cleanly();
    readiness.stopping("handing the VIPs over");
    let _ = stop.send(true);
    // An exclusive stack stops before the VIP leaves (break-before-make):
    // once it left, the other node starts its own. The Service controller
    // stops first, so that it does not start the stack again meanwhile.
    let exclusive = hareconcile_compose::shutdown::exclusive_stacks(&store);
    if !exclusive.is_empty() {
        services.shutdown().await;
        docker_events.abort();
        hareconcile_compose::shutdown::stop(&config.docker_host, &store, exclusive).await;
    }
    // Then at once, so the backups take over within Skew_Time: masters
    // advertise priority 0 and every node drops its VIPs.
    vrrp_instances.shutdown().await;
    let result = match server_died {
        Some(result) => result,
        // Let requests in flight finish, but never hang the shutdown.
        None => match tokio::time::timeout(Duration::from_secs(5), server).await {
            Ok(finished) => flatten(finished),
            Err(_) => Ok(()),
        },
    };
    if let Some(watcher) = watcher {
        let _ = watcher.await;
    }
    if let Some(task) = gitops_task {
        let _ = task.await;
    }
    let _ = peers_task.await;
    if let Some(task) = webhook_task {
        let _ = task.await;
    }
    if let Some(task) = metrics_task {
        if let Ok(Err(e)) = task.await {
            error!(error = %e, "serving /metrics failed");
        }
    }
    let _ = event_totals_task.await;
    let _ = trials_task.await;
    let _ = store_health_task.await;
    docker_events.abort();
    if let Some(task) = health_task {
        task.abort();
    }
    for controller in &controllers {
        controller.shutdown().await;
    }
    // The writer locks went back with the VIPs; revoking the lease ends
    // this node's presence at once rather than a TTL from now.
    quorum.close().await;
    let _ = std::fs::remove_file(&config.socket);
    if let Err(e) = &result {
        error!(error = %format!("{e:#}"), "agent stopped");
    }
    result
}

/// A VirtualIP's state in the store is what the VRRP controller of a
/// previous run saw: a restarted backup would read its old `Master` and act
/// on it (the sync controller claiming a term, a Service starting) before
/// its VRRP instance reports again. Until then the state is unknown.
fn forget_vrrp_states(store: &Store) -> anyhow::Result<()> {
    use hareconcile_model::VirtualIpStatus;
    for vip in store.list(Some(hareconcile_model::Kind::VirtualIP)).0 {
        store
            .update_status(&vip.key(), |s| {
                let mut details: VirtualIpStatus = s.details_as().unwrap_or_default();
                details.instance.state = None;
                s.set_details(&details);
            })
            .with_context(|| format!("forgetting the last run's state of {}", vip.key()))?;
    }
    Ok(())
}

/// The directories whose manifests a manager keeps applied here.
fn declared_sources(config: &AgentConfig) -> Vec<crate::drift::DeclaredSource> {
    let mut sources = Vec::new();
    if let Some(dir) = &config.manifests {
        sources.push(crate::drift::DeclaredSource {
            manager: hareconcile_model::Manager::Files,
            dir: dir.clone(),
        });
    }
    if let Some(git) = &config.git {
        sources.push(crate::drift::DeclaredSource {
            manager: hareconcile_model::Manager::Gitops,
            dir: gitops::manifests_dir(&config.state_dir, git),
        });
    }
    sources
}

fn flatten(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined.unwrap_or_else(|e| Err(anyhow::anyhow!("API server task failed: {e}")))
}
