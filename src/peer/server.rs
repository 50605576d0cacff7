//! The peer side that answers, behind the shared token, over mutual TLS
//! when configured: its summary, a switchover, what it says now of an
//! exclusive stack, and writes that an `apply` or `delete` on another
//! node carries to this one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hareconcile_compose::exclusive::StackReport;
use hareconcile_model::Manager;
use hareconcile_runtime::{Repeats, Store};
use tokio_rustls::TlsAcceptor;
use tracing::warn;

use crate::batch::{self, ApplyRequest, DeleteRequest, Refusal};
use crate::cluster_view::{summarize, PeerSummary};
use crate::cluster_view::{LocalStacks, StackQuestion};
use crate::drift::SyncSources;
use crate::switchover::{set_here, NodeOutcome, SwitchoverRequest};
use crate::tcp_guard::{self, Admission, Limits};

/// What a connection to the peer API may take. The agents' own calls open
/// a connection each, finish within [`super::WRITE_TIMEOUT`] and make a
/// few at once; anything slower or more numerous is not a peer at work.
pub(super) const LIMITS: Limits = Limits {
    handshake: Duration::from_secs(5),
    header_read: Duration::from_secs(5),
    lifetime: Duration::from_secs(30),
    per_source: 32,
    strangers: 512,
};

#[derive(Clone)]
struct Peer {
    store: Store,
    token: String,
    sync: SyncSources,
    stacks: LocalStacks,
}

/// Serves until aborted. A port that cannot be bound is retried, since
/// the address may appear later (a VIP-less node still has its own).
/// `members`, the Cluster's node addresses, always find a connection slot.
pub async fn serve(
    listen: SocketAddr,
    tls: Option<TlsAcceptor>,
    token: String,
    store: Store,
    sync: SyncSources,
    stacks: LocalStacks,
    members: Vec<IpAddr>,
) {
    let state = Peer {
        store,
        token,
        sync,
        stacks,
    };
    let app = Router::new()
        .route("/peer/v1/summary", get(summary))
        .route("/peer/v1/switchover", post(switchover))
        .route("/peer/v1/exclusive", post(exclusive))
        .route("/peer/v1/apply", post(apply))
        .route("/peer/v1/delete", post(delete))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state);
    let admission = Admission::new(LIMITS, members);
    let mut failures = Repeats::default();
    loop {
        match tcp_guard::listen(listen).await {
            Ok(tcp) => {
                failures.clear();
                let served = tcp_guard::serve(tcp, tls.clone(), app.clone(), admission.clone());
                if let Err(e) = served.await {
                    warn!(%listen, error = %e, "peer API stopped");
                }
            }
            Err(e) => {
                if let Some(times) = failures.note(&e.to_string()) {
                    warn!(%listen, error = %e, times, "cannot listen for peers; retrying every 2s");
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn require_token(State(peer): State<Peer>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", peer.token);
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "peer API: missing or wrong bearer token (spec.peer.tokenFile must match on every node)\n",
        )
            .into_response()
    }
}

/// Compares without an early exit, so the time taken says nothing about
/// how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn summary(State(peer): State<Peer>) -> Json<PeerSummary> {
    let mut summary = summarize(&peer.store);
    summary.sync = peer.sync.findings(&peer.store).await;
    Json(summary)
}

/// What this node says now of an exclusive stack another node is about
/// to start: from its VRRP instances and its claims, not the store's
/// last report of them.
async fn exclusive(
    State(peer): State<Peer>,
    Json(question): Json<StackQuestion>,
) -> Json<StackReport> {
    Json(peer.stacks.report(&question).await)
}

/// Sets a VirtualIP's switchover target in this node's store, on behalf
/// of the agent where `hareconcile switchover` ran.
async fn switchover(
    State(peer): State<Peer>,
    Json(request): Json<SwitchoverRequest>,
) -> Json<NodeOutcome> {
    let store = peer.store.clone();
    let node = store.node().to_string();
    let result = tokio::task::spawn_blocking(move || set_here(&store, &request))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    Json(NodeOutcome::from_result(&node, result))
}

/// Writes a batch another node's `apply` sends, exactly as the local API
/// would. Only as manager `cli`: what files and GitOps manage, each node
/// loads itself.
async fn apply(State(peer): State<Peer>, Json(request): Json<ApplyRequest>) -> Response {
    if let Err(refused) = cli_only(request.manager) {
        return refusal(refused);
    }
    answer(batch::apply_here(&peer.store, request).await)
}

/// Deletes what another node's `delete` (or `apply --prune`) sends.
async fn delete(State(peer): State<Peer>, Json(request): Json<DeleteRequest>) -> Response {
    if let Err(refused) = cli_only(request.manager) {
        return refusal(refused);
    }
    answer(batch::delete_here(&peer.store, request).await)
}

fn cli_only(manager: Manager) -> Result<(), Refusal> {
    if manager == Manager::Cli {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::FORBIDDEN,
        format!("the peer API writes as manager cli only, not {manager}"),
    ))
}

fn answer<T: serde::Serialize>(result: Result<T, Refusal>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(refused) => refusal(refused),
    }
}

fn refusal(refused: Refusal) -> Response {
    (refused.status, Json(refused.body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abd", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer ab", b"Bearer abc"));
    }
}
