//! Serves the API on a Unix socket. Every write goes through the same
//! validation the CLI runs offline, so a client that skips it still
//! cannot store a bad object.

use std::path::Path;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hareconcile_model::{Kind, Object, ObjectKey};
use hareconcile_runtime::{ApplyOutcome, Context, DeleteOutcome, Store, StoreError};
use hareconcile_sync::ResolveError;
use serde::Deserialize;
use tokio::net::{TcpListener, UnixListener};

use super::wire::*;
use crate::batch::{self, Refusal};
use crate::cluster_view::{Finding, GitopsHandle, GitopsStatus, NodeView};
use crate::drift::{DeclaredSource, SyncSources};
use crate::fanout::{self, ClusterApplyRequest, ClusterDeleteRequest, ClusterWrite};
use crate::peer::{write_targets, PeerDirectory};
use crate::switchover::{NodeOutcome, SwitchoverRequest};
use crate::tcp_guard::{self, Admission, Limits};

/// Everything the API answers from.
#[derive(Clone)]
pub struct Api {
    pub store: Store,
    pub gitops: Option<GitopsHandle>,
    pub peers: PeerDirectory,
    /// Where this node's declared objects come from, for sync drift.
    pub declared: Vec<DeclaredSource>,
    /// Every event recorded since the agent started, for `/metrics`.
    pub event_totals: super::event_totals::EventTotals,
    /// Each controller's reconcile durations and failures, for `/metrics`.
    pub reconciles: super::reconcile_stats::ReconcileStats,
    /// The crash-loop breaker: the sets it rejected, and their retry.
    pub trials: crate::trials::Trials,
    /// What the VRRP thread runs at, for `/metrics`.
    pub vrrp_scheduling: hareconcile_vrrp::Scheduling,
    /// Becomes true when the agent stops: ends the streamed answers.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/v1/info", get(info))
        .route("/v1/objects", get(list))
        .route("/v1/objects/{kind}/{name}", get(get_one))
        .route("/v1/apply", post(apply))
        .route("/v1/delete", post(delete))
        .route("/v1/cluster/apply", post(cluster_apply))
        .route("/v1/cluster/delete", post(cluster_delete))
        .route("/v1/events", get(events))
        .route("/v1/events/watch", get(super::stream::events))
        .route("/v1/watch", get(super::stream::objects))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/v1/nodes", get(nodes))
        .route("/v1/gitops", get(gitops_status))
        .route("/v1/gitops/sync", post(gitops_sync))
        .route("/v1/drift", get(drift))
        .route("/v1/switchover", post(switchover))
        .route("/v1/replications/{name}/resolve", post(resolve))
        .route("/v1/rejected/{set}/retry", post(retry))
        .with_state(api)
}

/// Binds the socket, replacing a stale one left by a crash, for its owner
/// and `group` (mode 0660, the owner alone without a group: connecting
/// needs write permission). Apart from [`serve`], so the agent reports
/// ready only once clients can connect. Anything else at that path (a
/// regular file, a directory) is refused, never deleted.
pub fn bind(socket: &Path, group: Option<u32>) -> std::io::Result<UnixListener> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    refuse_non_socket(socket)?;
    // A socket is created with the umask's mode (0777 under umask 000, open
    // to every user, and the API runs containers as root). So it is bound
    // under a name no client uses, given its mode and group, and only then
    // renamed into place, which also replaces a stale socket atomically.
    let name = socket.file_name().unwrap_or_default().to_string_lossy();
    let temporary = socket.with_file_name(format!(".{name}.{}", std::process::id()));
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&temporary)?;
    let placed = restrict(&temporary, group).and_then(|()| std::fs::rename(&temporary, socket));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(listener)
}

/// Gives the socket at `path` its group and mode.
fn restrict(path: &Path, group: Option<u32>) -> std::io::Result<()> {
    let mode = match group {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid))?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

/// Fails when `socket` names something other than a socket.
fn refuse_non_socket(socket: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if !meta.file_type().is_socket() => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket: refusing to replace it; give --socket a path \
                 of its own (the default is /run/hareconcile/agent.sock)",
                socket.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// What `--metrics-listen` serves over TCP: `/metrics` and `/healthz`,
/// read-only and without the objects' specs. Never the rest of the API,
/// which applies objects and therefore runs containers as root.
pub fn metrics_router(api: Api) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(api)
}

/// What a scrape may take: Prometheus asks one at a time per target,
/// within its scrape timeout (10 s by default).
const METRICS_LIMITS: Limits = Limits {
    handshake: Duration::from_secs(5),
    header_read: Duration::from_secs(5),
    lifetime: Duration::from_secs(30),
    per_source: 8,
    strangers: 64,
};

/// Serves [`metrics_router`] on `listener` until `shutdown` resolves,
/// guarded as the peer API is (see [`tcp_guard`]): the port is reachable
/// from the network.
pub async fn serve_metrics(
    listener: TcpListener,
    api: Api,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let admission = Admission::new(METRICS_LIMITS, []);
    tokio::select! {
        served = tcp_guard::serve(listener, None, metrics_router(api), admission) => served,
        () = shutdown => Ok(()),
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    api: Api,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await
}

struct ApiError(Refusal);

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError(Refusal::new(status, error))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError(refusal)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0.status, Json(self.0.body)).into_response()
    }
}

async fn info(State(api): State<Api>) -> Json<AgentInfo> {
    Json(AgentInfo {
        node: api.store.node().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: crate::build_info::COMMIT.to_string(),
        build_date: crate::build_info::DATE.to_string(),
        resource_version: api.store.resource_version(),
        store_problem: api.store.write_problem().borrow().clone(),
        rejected: api.trials.rejected(),
    })
}

#[derive(Deserialize)]
struct KindFilter {
    kind: Option<String>,
    name: Option<String>,
}

fn parse_kind(kind: &str) -> Result<Kind, ApiError> {
    kind.parse().map_err(|e: hareconcile_model::UnknownKind| {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    })
}

async fn list(
    State(api): State<Api>,
    Query(filter): Query<KindFilter>,
) -> Result<Json<ObjectList>, ApiError> {
    let kind = filter.kind.as_deref().map(parse_kind).transpose()?;
    let (objects, resource_version) = api.store.list(kind);
    Ok(Json(ObjectList {
        resource_version,
        items: objects.iter().map(|o| (**o).clone()).collect(),
    }))
}

async fn get_one(
    State(api): State<Api>,
    UrlPath((kind, name)): UrlPath<(String, String)>,
) -> Result<Json<Object>, ApiError> {
    let key = ObjectKey {
        kind: parse_kind(&kind)?,
        name,
    };
    match api.store.get(&key) {
        Some(object) => Ok(Json((*object).clone())),
        None => Err(StoreError::NotFound(key).into()),
    }
}

async fn apply(
    State(api): State<Api>,
    Json(request): Json<ApplyRequest>,
) -> Result<Json<ApplyResponse>, ApiError> {
    Ok(Json(batch::apply_here(&api.store, request).await?))
}

async fn delete(
    State(api): State<Api>,
    Json(request): Json<DeleteRequest>,
) -> Result<Json<DeleteResponse>, ApiError> {
    Ok(Json(batch::delete_here(&api.store, request).await?))
}

/// Applies on every node of this node's Cluster (see [`crate::fanout`]).
async fn cluster_apply(
    State(api): State<Api>,
    Json(request): Json<ClusterApplyRequest>,
) -> Result<Json<ClusterWrite<ApplyOutcome>>, ApiError> {
    let targets = write_targets(&api.store, &request.apply.objects)
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))?;
    Ok(Json(fanout::apply(&api.store, &targets, request).await))
}

/// Deletes on every node of this node's Cluster (see [`crate::fanout`]).
async fn cluster_delete(
    State(api): State<Api>,
    Json(request): Json<ClusterDeleteRequest>,
) -> Result<Json<ClusterWrite<(ObjectKey, DeleteOutcome)>>, ApiError> {
    let targets = write_targets(&api.store, &[])
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))?;
    Ok(Json(fanout::delete(&api.store, &targets, request).await))
}

async fn events(
    State(api): State<Api>,
    Query(filter): Query<KindFilter>,
) -> Result<Json<EventList>, ApiError> {
    let key = match (filter.kind, filter.name) {
        (Some(kind), Some(name)) => Some(ObjectKey {
            kind: parse_kind(&kind)?,
            name,
        }),
        _ => None,
    };
    Ok(Json(EventList {
        items: api.store.events(key.as_ref()),
    }))
}

fn gitops_handle(api: &Api) -> Result<&GitopsHandle, ApiError> {
    api.gitops.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this agent does not follow git: start it with --git-url",
        )
    })
}

async fn gitops_status(State(api): State<Api>) -> Result<Json<GitopsStatus>, ApiError> {
    Ok(Json(gitops_handle(&api)?.status()))
}

async fn gitops_sync(State(api): State<Api>) -> Result<Json<GitopsStatus>, ApiError> {
    Ok(Json(gitops_handle(&api)?.sync_now().await))
}

async fn metrics(State(api): State<Api>) -> Response {
    // Only this node's own view: a scrape must not wait on peers.
    let mut findings = local_sync_findings(&api).await;
    findings.extend(crate::drift::cluster_findings(&api.store, &[]));
    let (objects, resource_version) = api.store.list(None);
    let objects: Vec<&Object> = objects.iter().map(|o| o.as_ref()).collect();
    // /proc unreadable (a hardened mount) costs the process families only.
    let process = super::process::ProcessStats::read().ok();
    let agent = super::metrics::AgentStats {
        events: api.event_totals.snapshot(),
        reconciles: api.reconciles.snapshot(),
        process,
        store_problem: api.store.write_problem().borrow().clone(),
        rejected: api.trials.rejected(),
        vrrp_rt_priority: api.vrrp_scheduling.rt_priority(),
    };
    let text = super::metrics::render(
        api.store.node(),
        resource_version,
        &objects,
        &findings,
        &agent,
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            super::metrics::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

/// The agent is up: its store is open (it is before anything listens)
/// and it answers. A liveness check for a supervisor or a blackbox probe,
/// not a statement about the objects (`hareconcile status` and `/metrics`
/// say that).
async fn healthz() -> &'static str {
    "ok\n"
}

/// Every node of this node's Cluster, peers asked over the network.
async fn nodes(State(api): State<Api>) -> Result<Json<Vec<NodeView>>, ApiError> {
    api.peers
        .nodes(&api.store)
        .await
        .map(Json)
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))
}

/// Sets a VirtualIP's switchover target on every node of the Cluster.
async fn switchover(
    State(api): State<Api>,
    Json(request): Json<SwitchoverRequest>,
) -> Result<Json<Vec<NodeOutcome>>, ApiError> {
    api.peers
        .switchover(&api.store, &request)
        .await
        .map(Json)
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))
}

/// Settles a two-way Replication's conflicts from this node, over its ssh
/// settings: the kept node's version goes to every node.
async fn resolve(
    State(api): State<Api>,
    UrlPath(name): UrlPath<String>,
    Json(request): Json<ResolveRequest>,
) -> Result<Json<ResolveResponse>, ApiError> {
    let ctx = Context {
        store: api.store.clone(),
        node: api.store.node().into(),
    };
    let resolved = hareconcile_sync::resolve(&ctx, &name, &request.keep, &request.paths)
        .await
        .map_err(|e| {
            let status = match &e {
                ResolveError::NotFound(_) => StatusCode::NOT_FOUND,
                ResolveError::OneWay(_) | ResolveError::Invalid(_) => StatusCode::BAD_REQUEST,
                ResolveError::Round { .. } => StatusCode::BAD_GATEWAY,
            };
            ApiError::new(status, e.to_string())
        })?;
    let items = resolved
        .into_iter()
        .map(|r| ResolvedWith {
            peer: r.peer,
            pushed: r.round.pushed,
            pulled: r.round.pulled,
            deleted: r.round.deleted,
            conflicts: r.round.conflicts,
        })
        .collect();
    Ok(Json(ResolveResponse { items }))
}

/// Declared vs stored vs real, on every node this one can reach.
async fn drift(State(api): State<Api>) -> Json<Vec<Finding>> {
    let nodes = api.peers.nodes(&api.store).await.unwrap_or_default();
    let mut findings = local_sync_findings(&api).await;
    findings.extend(crate::drift::cluster_findings(&api.store, &nodes));
    Json(findings)
}

/// Declared vs stored on this node.
async fn local_sync_findings(api: &Api) -> Vec<Finding> {
    let sources = SyncSources {
        declared: api.declared.clone(),
        gitops: api.gitops.clone(),
    };
    sources.findings(&api.store).await
}

/// `POST /v1/rejected/{set}/retry`: forget that a set killed the agent, so
/// its source tries it again; `set` may be a unique prefix.
async fn retry(
    State(api): State<Api>,
    UrlPath(set): UrlPath<String>,
) -> Result<Json<crate::trials::Rejection>, ApiError> {
    use crate::trials::RetryError;
    api.trials.retry(&set).map(Json).map_err(|e| {
        let status = match &e {
            RetryError::Unknown(_) => StatusCode::NOT_FOUND,
            RetryError::Ambiguous(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_anything_else_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        drop(bind(&socket, None).unwrap());
        // Left behind as by a crash: replaced, private whatever the umask.
        let _listener = bind(&socket, None).unwrap();
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());

        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "keep me").unwrap();
        let refused = bind(&file, None).unwrap_err().to_string();
        assert!(refused.contains("is not a socket"), "{refused}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
