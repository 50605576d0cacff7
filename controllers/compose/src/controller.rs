//! The Service controller: keeps this node's part of each Service's
//! Compose stack as its placement says (running where the followed VIP is
//! master, warm or absent elsewhere) and reports the containers it sees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::{
    ConditionStatus, Kind, Object, ObjectKey, ServiceSpec, SOURCE_FILE_ANNOTATION,
};
use hareconcile_runtime::{Action, Context, Reconciler, StoreError};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::engine::{ContainerStatus, Engine, EngineError};
use crate::file::{load, FileError, LoadOptions, Project};
use crate::placement::{placement, Placement};

/// Containers change without a store change; look again this often even
/// when no docker event arrives (events are the fast path).
const RECHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("spec does not decode: {0}")]
    Spec(#[from] serde_json::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ServiceReconciler {
    docker_host: String,
    engine: OnceCell<Engine>,
    /// The last project each Service loaded, so a deleted Service's stack
    /// can be taken down though its spec is gone.
    projects: Mutex<HashMap<ObjectKey, Project>>,
}

impl ServiceReconciler {
    /// `docker_host` as `--docker-host` gives it: `unix:///var/run/docker.sock`.
    pub fn new(docker_host: impl Into<String>) -> Self {
        ServiceReconciler {
            docker_host: docker_host.into(),
            engine: OnceCell::new(),
            projects: Mutex::new(HashMap::new()),
        }
    }

    /// Connects on first use, so an agent starts even while Docker is down.
    async fn engine(&self) -> Result<&Engine, EngineError> {
        self.engine
            .get_or_try_init(|| Engine::connect(&self.docker_host))
            .await
    }

    fn remember(&self, key: ObjectKey, project: Option<Project>) {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        match project {
            Some(p) => projects.insert(key, p),
            None => projects.remove(&key),
        };
    }
}

/// The compose file's path: relative ones are relative to the manifest
/// that declared the Service.
fn compose_path(object: &Object, file: &Path) -> PathBuf {
    let manifest_dir = object
        .metadata
        .annotations
        .get(SOURCE_FILE_ANNOTATION)
        .and_then(|source| Path::new(source).parent());
    match manifest_dir {
        Some(dir) if file.is_relative() => dir.join(file),
        _ => file.to_path_buf(),
    }
}

fn load_project(object: &Object, spec: &ServiceSpec) -> Result<Project, FileError> {
    let mut options = LoadOptions::with_process_environment();
    options.project_name = Some(
        spec.compose
            .project
            .clone()
            .unwrap_or_else(|| object.metadata.name.clone()),
    );
    options.profiles = spec.compose.profiles.clone();
    options.env_file = spec
        .compose
        .env_file
        .as_deref()
        .map(|f| compose_path(object, f));
    load(&compose_path(object, &spec.compose.file), &options)
}

/// The followed VirtualIP's state as this node's VRRP controller reports it.
fn vip_state(ctx: &Context, spec: &ServiceSpec) -> Option<String> {
    let name = spec.follow_virtual_ip.as_ref()?;
    let vip = ctx.store.get(&ObjectKey {
        kind: Kind::VirtualIP,
        name: name.clone(),
    })?;
    vip.status
        .details
        .get("state")?
        .as_str()
        .map(str::to_string)
}

/// Required Replications not Ready yet, by name.
fn unready_requirements(ctx: &Context, spec: &ServiceSpec) -> Vec<String> {
    spec.requires
        .iter()
        .filter(|name| {
            let key = ObjectKey {
                kind: Kind::Replication,
                name: (*name).clone(),
            };
            !ctx.store.get(&key).is_some_and(|r| r.status.is_ready())
        })
        .cloned()
        .collect()
}

/// The Ready condition for what was seen.
fn readiness(
    wanted: Placement,
    project: &Project,
    containers: &[ContainerStatus],
    vip: Option<&str>,
) -> (ConditionStatus, &'static str, String) {
    if wanted != Placement::Run {
        let here = vip.unwrap_or("not reported");
        let what = match wanted {
            Placement::Warm => "containers created and stopped",
            _ => "containers removed",
        };
        return (
            ConditionStatus::True,
            "Standby",
            format!("the followed VirtualIP is {here} on this node: {what}"),
        );
    }
    let unhealthy: Vec<&str> = containers
        .iter()
        .filter(|c| c.health.as_deref() == Some("unhealthy"))
        .map(|c| c.name.as_str())
        .collect();
    if !unhealthy.is_empty() {
        return (
            ConditionStatus::False,
            "Unhealthy",
            format!("unhealthy: {}", unhealthy.join(", ")),
        );
    }
    let not_running: Vec<String> = project
        .services
        .keys()
        .filter(|s| {
            !containers
                .iter()
                .any(|c| &c.service == *s && c.state == "running")
        })
        .cloned()
        .collect();
    if !not_running.is_empty() {
        return (
            ConditionStatus::False,
            "Stopped",
            format!("not running: {}", not_running.join(", ")),
        );
    }
    (
        ConditionStatus::True,
        "Running",
        format!(
            "{} container(s) of project {} running",
            containers.len(),
            project.name
        ),
    )
}

fn containers_json(containers: &[ContainerStatus]) -> Value {
    containers
        .iter()
        .map(
            |c| json!({"name": c.name, "service": c.service, "state": c.state, "health": c.health}),
        )
        .collect()
}

impl ServiceReconciler {
    /// Writes the status; a Service deleted meanwhile is not an error.
    fn report(
        &self,
        ctx: &Context,
        object: &Object,
        details: Vec<(&str, Value)>,
        (status, reason, message): (ConditionStatus, &str, String),
    ) -> Result<(), ServiceError> {
        let generation = object.metadata.generation;
        let updated = ctx.store.update_status(&object.key(), |s| {
            s.observed_generation = Some(generation);
            for (key, value) in details {
                s.details.insert(key.to_string(), value);
            }
            s.set_condition("Ready", status, reason, message, generation);
        });
        match updated {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn enact(&self, wanted: Placement, project: &Project) -> Result<(), EngineError> {
        let engine = self.engine().await?;
        match wanted {
            Placement::Run => engine.up(project).await,
            Placement::Warm => {
                engine.create(project).await?;
                engine.stop(project).await
            }
            Placement::Absent => engine.down(project).await,
        }
    }
}

#[async_trait]
impl Reconciler for ServiceReconciler {
    type Error = ServiceError;

    fn kind(&self) -> Kind {
        Kind::Service
    }

    fn depends_on(&self) -> &[Kind] {
        &[Kind::VirtualIP, Kind::Replication]
    }

    async fn reconcile(&self, object: Arc<Object>, ctx: &Context) -> Result<Action, ServiceError> {
        let spec: ServiceSpec = object.spec_as()?;
        let project = match load_project(&object, &spec) {
            Ok(project) => project,
            Err(e) => {
                // Nothing is started from a file that does not load; the
                // recheck picks up a fixed file.
                self.report(
                    ctx,
                    &object,
                    vec![],
                    (ConditionStatus::False, "InvalidComposeFile", e.to_string()),
                )?;
                return Ok(Action::Requeue(RECHECK));
            }
        };
        let vip = vip_state(ctx, &spec);
        let mut wanted = placement(&spec, vip.as_deref());
        let waiting = unready_requirements(ctx, &spec);
        if wanted == Placement::Run && !waiting.is_empty() {
            // Stop the service before releasing data; start it only on data.
            wanted = Placement::Absent;
        }
        self.remember(object.key(), Some(project.clone()));
        let enacted = self.enact(wanted, &project).await;
        let containers = match self.engine().await {
            Ok(engine) => engine.containers(&project.name).await?,
            Err(_) => Vec::new(),
        };
        let condition = match (&enacted, waiting.is_empty()) {
            (Err(e), _) => (ConditionStatus::False, "EngineError", e.to_string()),
            (Ok(()), false) => (
                ConditionStatus::False,
                "WaitingForReplication",
                format!("required Replication not Ready: {}", waiting.join(", ")),
            ),
            (Ok(()), true) => readiness(wanted, &project, &containers, vip.as_deref()),
        };
        let details = vec![
            ("project", Value::from(project.name.as_str())),
            ("desired", Value::from(wanted.as_str())),
            ("containers", containers_json(&containers)),
        ];
        self.report(ctx, &object, details, condition)?;
        enacted?;
        Ok(Action::Requeue(RECHECK))
    }

    async fn cleanup(&self, key: &ObjectKey, _ctx: &Context) -> Result<(), ServiceError> {
        let project = self
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        // A Service deleted while the agent was down is not known here; its
        // containers stay until removed by hand.
        if let Some(project) = project {
            self.engine().await?.down(&project).await?;
            self.remember(key.clone(), None);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_model::{ObjectMeta, Status, API_VERSION};

    fn object(file: &str, source: Option<&str>) -> Object {
        let mut metadata = ObjectMeta::named("web");
        if let Some(source) = source {
            metadata
                .annotations
                .insert(SOURCE_FILE_ANNOTATION.into(), source.into());
        }
        Object {
            api_version: API_VERSION.into(),
            kind: Kind::Service,
            metadata,
            spec: json!({"cluster": "home", "compose": {"file": file}}),
            status: Status::default(),
        }
    }

    #[test]
    fn relative_compose_files_are_relative_to_the_manifest() {
        let o = object(
            "stacks/web/compose.yaml",
            Some("/etc/hc/manifests/web.yaml"),
        );
        assert_eq!(
            compose_path(&o, Path::new("stacks/web/compose.yaml")),
            Path::new("/etc/hc/manifests/stacks/web/compose.yaml")
        );
        assert_eq!(
            compose_path(&o, Path::new("/srv/compose.yaml")),
            Path::new("/srv/compose.yaml")
        );
        let applied = object("compose.yaml", None);
        assert_eq!(
            compose_path(&applied, Path::new("compose.yaml")),
            Path::new("compose.yaml")
        );
    }

    fn status(service: &str, state: &str, health: Option<&str>) -> ContainerStatus {
        ContainerStatus {
            name: format!("shop_{service}_1"),
            service: service.into(),
            state: state.into(),
            health: health.map(str::to_string),
        }
    }

    #[test]
    fn ready_says_running_stopped_unhealthy_or_standby() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, "services: {web: {image: x}, worker: {image: x}}\n").unwrap();
        let project = load(&path, &LoadOptions::default()).unwrap();
        let reason = |wanted, containers: &[ContainerStatus]| {
            readiness(wanted, &project, containers, Some("Backup")).1
        };
        let all = [
            status("web", "running", None),
            status("worker", "running", Some("healthy")),
        ];
        assert_eq!(reason(Placement::Run, &all), "Running");
        assert_eq!(
            reason(Placement::Run, &[status("web", "running", None)]),
            "Stopped"
        );
        let sick = [
            status("web", "running", Some("unhealthy")),
            status("worker", "running", None),
        ];
        assert_eq!(reason(Placement::Run, &sick), "Unhealthy");
        assert_eq!(reason(Placement::Warm, &[]), "Standby");
        assert_eq!(reason(Placement::Absent, &[]), "Standby");
    }
}
