//! The CLI's side of the API: one HTTP/1.1 request per connection over the
//! agent's Unix socket.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use hareconcile_model::{Kind, Object, ObjectKey};
use hareconcile_runtime::{Event, WatchEvent};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

use super::wire::*;
use crate::cluster_view::GitopsStatus;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the agent at {socket}: {source}. Is `hareconcile agent` running? Point to its socket with --socket or HARECONCILE_SOCKET")]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("not allowed to use the agent at {socket}: {source}. Members of the agent's socket group may (`sudo usermod -aG hareconcile $USER`, then log in again), or use sudo")]
    Forbidden {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("the agent answered {status}: {}", .body.error)]
    Api { status: StatusCode, body: ErrorBody },
    #[error("talking to the agent failed: {0}")]
    Protocol(String),
}

pub struct Client {
    socket: PathBuf,
}

fn protocol(error: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(error.to_string())
}

async fn whole_body(response: Response<Incoming>) -> Result<Bytes, ClientError> {
    let body = response.into_body().collect().await.map_err(protocol)?;
    Ok(body.to_bytes())
}

/// A streamed answer: one JSON document a line.
pub struct Lines<T> {
    body: Incoming,
    /// Bytes received after the last complete line.
    pending: Vec<u8>,
    item: PhantomData<T>,
}

impl<T: DeserializeOwned> Lines<T> {
    /// The next line; `None` when the agent ended the stream.
    pub async fn next(&mut self) -> Result<Option<T>, ClientError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return serde_json::from_slice(&line).map(Some).map_err(protocol);
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame.map_err(protocol)?.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

impl Client {
    pub fn new(socket: &Path) -> Self {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    /// Sends one request; the answer if it is a success, else the
    /// agent's refusal.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Response<Incoming>, ClientError> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|source| {
            let socket = self.socket.clone();
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                ClientError::Forbidden { socket, source }
            } else {
                ClientError::Unreachable { socket, source }
            }
        })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(protocol)?;
        tokio::spawn(connection);
        let payload = match body {
            Some(body) => serde_json::to_vec(body).map_err(protocol)?,
            None => Vec::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "hareconcile")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload)))
            .map_err(protocol)?;
        let response = sender.send_request(request).await.map_err(protocol)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = whole_body(response).await?;
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            error: String::from_utf8_lossy(&bytes).into_owned(),
            problems: Vec::new(),
            conflicts: Vec::new(),
        });
        Err(ClientError::Api { status, body })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let response = self.send(method, path, body).await?;
        let bytes = whole_body(response).await?;
        serde_json::from_slice(&bytes).map_err(protocol)
    }

    /// A streamed answer (`crate::api::stream`), read a line at a time.
    async fn stream<T: DeserializeOwned>(&self, path: &str) -> Result<Lines<T>, ClientError> {
        let response = self.send(Method::GET, path, None::<&()>).await?;
        Ok(Lines {
            body: response.into_body(),
            pending: Vec::new(),
            item: PhantomData,
        })
    }

    /// Every change to the objects (of `kind`) after `resource_version`
    /// (a list's). `Err(Api { status: 410 GONE, .. })` or a stream that
    /// ends: the changes since are no longer kept, list again.
    pub async fn watch(
        &self,
        kind: Option<Kind>,
        resource_version: u64,
    ) -> Result<Lines<WatchEvent>, ClientError> {
        let mut path = format!("/v1/watch?resourceVersion={resource_version}");
        if let Some(kind) = kind {
            path.push_str(&format!("&kind={}", kind.plural()));
        }
        self.stream(&path).await
    }

    /// Every event recorded from now on, optionally of one object.
    pub async fn watch_events(&self, key: Option<&ObjectKey>) -> Result<Lines<Event>, ClientError> {
        let path = match key {
            Some(key) => format!(
                "/v1/events/watch?kind={}&name={}",
                key.kind.plural(),
                key.name
            ),
            None => "/v1/events/watch".to_string(),
        };
        self.stream(&path).await
    }

    pub async fn info(&self) -> Result<AgentInfo, ClientError> {
        self.call(Method::GET, "/v1/info", None::<&()>).await
    }

    pub async fn list(&self, kind: Option<Kind>) -> Result<ObjectList, ClientError> {
        let path = match kind {
            Some(kind) => format!("/v1/objects?kind={}", kind.plural()),
            None => "/v1/objects".to_string(),
        };
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `Ok(None)` when the object does not exist.
    pub async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ClientError> {
        let path = format!("/v1/objects/{}/{}", key.kind.plural(), key.name);
        match self.call(Method::GET, &path, None::<&()>).await {
            Ok(object) => Ok(Some(object)),
            Err(ClientError::Api { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn apply(&self, request: &ApplyRequest) -> Result<ApplyResponse, ClientError> {
        self.call(Method::POST, "/v1/apply", Some(request)).await
    }

    pub async fn delete(&self, request: &DeleteRequest) -> Result<DeleteResponse, ClientError> {
        self.call(Method::POST, "/v1/delete", Some(request)).await
    }

    /// Applies on every node of the agent's Cluster (`crate::fanout`).
    pub async fn cluster_apply(
        &self,
        request: &crate::fanout::ClusterApplyRequest,
    ) -> Result<crate::fanout::ClusterWrite<hareconcile_runtime::ApplyOutcome>, ClientError> {
        self.call(Method::POST, "/v1/cluster/apply", Some(request))
            .await
    }

    /// Deletes on every node of the agent's Cluster (`crate::fanout`).
    pub async fn cluster_delete(
        &self,
        request: &crate::fanout::ClusterDeleteRequest,
    ) -> Result<
        crate::fanout::ClusterWrite<(ObjectKey, hareconcile_runtime::DeleteOutcome)>,
        ClientError,
    > {
        self.call(Method::POST, "/v1/cluster/delete", Some(request))
            .await
    }

    pub async fn events(&self, key: Option<&ObjectKey>) -> Result<EventList, ClientError> {
        let path = match key {
            Some(key) => format!("/v1/events?kind={}&name={}", key.kind.plural(), key.name),
            None => "/v1/events".to_string(),
        };
        self.call(Method::GET, &path, None::<&()>).await
    }

    pub async fn gitops_status(&self) -> Result<GitopsStatus, ClientError> {
        self.call(Method::GET, "/v1/gitops", None::<&()>).await
    }

    pub async fn gitops_sync(&self) -> Result<GitopsStatus, ClientError> {
        self.call(Method::POST, "/v1/gitops/sync", None::<&()>)
            .await
    }

    /// Withdraws the crash-loop rejection of the set `set` starts.
    pub async fn retry(&self, set: &str) -> Result<crate::trials::Rejection, ClientError> {
        let path = format!("/v1/rejected/{set}/retry");
        self.call(Method::POST, &path, None::<&()>).await
    }

    pub async fn nodes(&self) -> Result<Vec<crate::cluster_view::NodeView>, ClientError> {
        self.call(Method::GET, "/v1/nodes", None::<&()>).await
    }

    pub async fn switchover(
        &self,
        request: &crate::switchover::SwitchoverRequest,
    ) -> Result<Vec<crate::switchover::NodeOutcome>, ClientError> {
        self.call(Method::POST, "/v1/switchover", Some(request))
            .await
    }

    pub async fn drift(&self) -> Result<Vec<crate::cluster_view::Finding>, ClientError> {
        self.call(Method::GET, "/v1/drift", None::<&()>).await
    }

    pub async fn resolve(
        &self,
        replication: &str,
        request: &ResolveRequest,
    ) -> Result<ResolveResponse, ClientError> {
        let path = format!("/v1/replications/{replication}/resolve");
        self.call(Method::POST, &path, Some(request)).await
    }
}
