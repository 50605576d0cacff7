//! The API's streaming answers, for `get --watch` and `events --watch`:
//! newline-delimited JSON, one change or event a line, for as long as the
//! client listens. Every stream ends when the agent shuts down, so a
//! watching client never holds up a stop.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{stream, Stream, StreamExt};
use hareconcile_model::{Kind, ObjectKey};
use hareconcile_runtime::{Event, Watcher};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use super::server::Api;
use crate::batch::Refusal;

/// What a streamed body is: a JSON document a line.
pub const NDJSON: &str = "application/x-ndjson";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchQuery {
    kind: Option<String>,
    /// Changes after this resourceVersion (a list's); by default, from now.
    resource_version: Option<u64>,
}

#[derive(Deserialize)]
pub struct EventQuery {
    kind: Option<String>,
    name: Option<String>,
}

fn refuse(refusal: Refusal) -> Response {
    (refusal.status, Json(refusal.body)).into_response()
}

fn kind(kind: Option<&str>) -> Result<Option<Kind>, Refusal> {
    kind.map(str::parse)
        .transpose()
        .map_err(|e: hareconcile_model::UnknownKind| {
            Refusal::new(StatusCode::BAD_REQUEST, e.to_string())
        })
}

/// `lines` as a streamed body, ended when the agent stops.
fn ndjson<T: Serialize>(
    lines: impl Stream<Item = T> + Send + 'static,
    mut stopping: watch::Receiver<bool>,
) -> Response {
    let stopped = async move {
        let _ = stopping.wait_for(|&stop| stop).await;
    };
    let body = lines
        .map(|item| {
            let mut line = serde_json::to_vec(&item).expect("API bodies serialize");
            line.push(b'\n');
            Ok::<_, Infallible>(Bytes::from(line))
        })
        .take_until(stopped);
    ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(body)).into_response()
}

/// `GET /v1/watch`: every change to the objects (of one kind) after a
/// resourceVersion. The stream ends when the watcher falls out of the
/// store's history (a client far behind); the client lists again and
/// watches from there, as it does on `410 Gone` for too old a version.
pub async fn objects(State(api): State<Api>, Query(query): Query<WatchQuery>) -> Response {
    let kind = match kind(query.kind.as_deref()) {
        Ok(kind) => kind,
        Err(refused) => return refuse(refused),
    };
    let since = query
        .resource_version
        .unwrap_or_else(|| api.store.resource_version());
    let watcher = match api.store.watch(kind, since) {
        Ok(watcher) => watcher,
        Err(e) => return refuse(e.into()),
    };
    let changes = stream::unfold(watcher, |mut watcher: Watcher| async move {
        let batch = watcher.next().await.ok()?;
        Some((stream::iter(batch), watcher))
    })
    .flatten();
    ndjson(changes, api.stopping.clone())
}

/// `GET /v1/events/watch`: every event recorded from now on (repeats
/// too, with their count), optionally of one object.
pub async fn events(State(api): State<Api>, Query(query): Query<EventQuery>) -> Response {
    let object = match (kind(query.kind.as_deref()), query.name) {
        (Err(refused), _) => return refuse(refused),
        (Ok(Some(kind)), Some(name)) => Some(ObjectKey { kind, name }),
        _ => None,
    };
    let live = stream::unfold(api.store.subscribe_events(), |mut live| async move {
        loop {
            match live.recv().await {
                Ok(event) => return Some((event, live)),
                // A watcher too slow for the event rate misses some;
                // `events` without --watch still lists them.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .filter(move |event: &Event| {
        std::future::ready(object.as_ref().is_none_or(|o| event.object == *o))
    });
    ndjson(live, api.stopping.clone())
}
