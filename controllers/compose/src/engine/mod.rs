//! The Docker Engine side: creates, starts, stops and observes a project's
//! networks, volumes and containers through the Engine API, named and
//! labelled as Docker Compose 1.29 does.

mod container;
mod credentials;
mod dependencies;
mod labels;
mod matching;
mod neighbours;
mod newer_image;
mod observe;
mod projected;
mod pull;
mod resources;
mod serving;
mod spec;
mod version;
mod waves;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use bollard::{Docker, API_DEFAULT_VERSION};
use futures::future::{join, join_all, try_join_all, BoxFuture, FutureExt, Shared};
use tracing::info;

pub use labels::{config_hash, container_name, container_names, CONFIG_HASH, PROJECT, SERVICE};
pub use newer_image::ImageUpdate;
pub use observe::ContainerStatus;
pub use pull::Pulled;
use serving::serving;
pub use waves::waves;

use crate::file::Project;

/// Seconds the client waits for the answer to an API call (a stop waits
/// its grace period on top).
const API_TIMEOUT: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    // The cause is in the message and not also `source()`: the controller
    // runner appends every source to the message, which said it twice
    // ("...: Socket not found: /x: Socket not found: /x").
    #[error("cannot reach the Docker Engine at {uri}: {cause}")]
    Connect {
        uri: String,
        cause: bollard::errors::Error,
    },
    #[error("unsupported Docker host {0:?}: use unix:///path or tcp://host:port")]
    Uri(String),
    #[error("{action} {name}: {cause}")]
    Api {
        action: &'static str,
        name: String,
        cause: bollard::errors::Error,
    },
    #[error("cannot replace {name} {}: {cause}", replacing_for(.newer_image.as_deref()))]
    Replace {
        name: String,
        /// Why it was replaced, when it was a newer image and not a new
        /// configuration (boxed: it would double every result's size).
        newer_image: Option<Box<ImageUpdate>>,
        cause: Box<EngineError>,
    },
    #[error("pull image {image}: {message}")]
    Pull { image: String, message: String },
    #[error("image {image} of service {services} is not on this node, and its pull_policy never forbids pulling it: load it here (docker pull or docker load) or use pull_policy missing")]
    NeverPulled {
        image: String,
        /// The services that use it, comma-separated.
        services: String,
    },
    #[error("container {name} is not {project}'s service {service}: {holder}. hareconcile never touches a container it does not manage: rename or remove that container, or choose another container_name")]
    NameTaken {
        /// The name the service's container should have.
        name: String,
        project: String,
        service: String,
        /// Whose the container holding the name is.
        holder: String,
    },
    #[error("{container}: {setting} needs Docker Engine API {needed}; this engine speaks {speaks}: remove it or upgrade Docker")]
    TooOld {
        container: String,
        setting: &'static str,
        needed: String,
        speaks: String,
    },
    #[error("network {name} exists without the declared subnet {wanted} (it has {have}): remove it (docker network rm {name}) once no container uses it, and it is created anew")]
    NetworkDiffers {
        name: String,
        wanted: String,
        have: String,
    },
    #[error("write secrets and configs into {container}: {message}")]
    Projected { container: String, message: String },
    #[error("{dependent} waits for {service} to be {wanted}, but it is {seen}")]
    Dependency {
        /// The container that does not start.
        dependent: String,
        service: String,
        wanted: &'static str,
        /// Its state, and how long it was waited for if that ran out.
        seen: String,
    },
}

impl From<EngineError> for hareconcile_runtime::ReconcileError {
    fn from(error: EngineError) -> Self {
        hareconcile_runtime::ReconcileError::system(error)
    }
}

/// What a replacement was to bring, for the error that says it failed.
fn replacing_for(newer_image: Option<&ImageUpdate>) -> String {
    match newer_image {
        Some(update) => format!("with the newer image of {update}"),
        None => "with its new configuration".to_string(),
    }
}

impl EngineError {
    /// The image a failed step was about, if it was about getting one.
    pub fn image(&self) -> Option<&str> {
        match self {
            EngineError::Pull { image, .. } | EngineError::NeverPulled { image, .. } => Some(image),
            _ => None,
        }
    }

    /// The project's container a failed step was about, if one.
    pub fn container(&self) -> Option<&str> {
        match self {
            EngineError::Api { action, name, .. } if action.ends_with(" container") => Some(name),
            EngineError::Replace { name, .. }
            | EngineError::NameTaken { name, .. }
            | EngineError::TooOld {
                container: name, ..
            }
            | EngineError::Projected {
                container: name, ..
            }
            | EngineError::Dependency {
                dependent: name, ..
            } => Some(name),
            _ => None,
        }
    }
}

/// One thing a call did to the daemon: `started shop_web_1`. What a pass
/// did where nothing should have needed doing is what it put back, unless
/// it brought a newer image: that is an update, not a repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: &'static str,
    pub container: String,
    /// Set when the container was replaced because its image is newer.
    pub newer_image: Option<ImageUpdate>,
}

impl Change {
    fn new(action: &'static str, container: &str) -> Self {
        Change {
            action,
            container: container.to_string(),
            newer_image: None,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.action, self.container)
    }
}

/// One service's creation or start, awaited by its dependents: true once
/// done, false when it (or something it waited for) failed.
type Step<'a> = Shared<BoxFuture<'a, bool>>;

fn steps_of<'a, 'n>(
    steps: &HashMap<&str, Step<'a>>,
    names: impl Iterator<Item = &'n str>,
) -> Vec<Step<'a>> {
    names.filter_map(|n| steps.get(n).cloned()).collect()
}

async fn all(steps: Vec<Step<'_>>) -> bool {
    join_all(steps).await.into_iter().all(|done| done)
}

/// A step that panicked holding the lock left nothing half-written that
/// matters here: keep going with what is there.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the error for the caller and the changes for the report;
/// whether the step succeeded.
fn succeeded(
    failures: &Mutex<Vec<EngineError>>,
    changes: &Mutex<Vec<Change>>,
    result: Result<Vec<Change>, EngineError>,
) -> bool {
    match result {
        Ok(made) => {
            lock(changes).extend(made);
            true
        }
        Err(e) => {
            lock(failures).push(e);
            false
        }
    }
}

fn api(action: &'static str, name: &str) -> impl FnOnce(bollard::errors::Error) -> EngineError {
    let name = name.to_string();
    move |cause| EngineError::Api {
        action,
        name,
        cause,
    }
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects and settles on the highest API version both sides speak
    /// (bollard 0.18 defaults to 1.47; Docker 20.10 speaks 1.41).
    pub async fn connect(uri: &str) -> Result<Engine, EngineError> {
        let connect = |cause| EngineError::Connect {
            uri: uri.to_string(),
            cause,
        };
        let docker = if uri.starts_with("unix://") {
            Docker::connect_with_unix(uri, API_TIMEOUT, API_DEFAULT_VERSION)
        } else if uri.starts_with("tcp://") || uri.starts_with("http://") {
            Docker::connect_with_http(uri, API_TIMEOUT, API_DEFAULT_VERSION)
        } else {
            return Err(EngineError::Uri(uri.to_string()));
        }
        .map_err(connect)?;
        let docker = docker.negotiate_version().await.map_err(connect)?;
        Ok(Engine { docker })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The project's networks and named volumes, so that creating its
    /// containers later (a failover) has less to do.
    pub async fn prepare(&self, project: &Project) -> Result<(), EngineError> {
        self.create_networks(project).await?;
        self.create_volumes(project).await
    }

    /// Networks, volumes and the containers of every service, none
    /// started; containers whose configuration changed are replaced, and
    /// those beyond a service's replicas removed.
    pub async fn create(&self, project: &Project) -> Result<Vec<Change>, EngineError> {
        self.prepare(project).await?;
        let observed = self.containers(&project.name).await?;
        let mut changes = Vec::new();
        for wave in waves(project) {
            let made = try_join_all(
                wave.iter()
                    .map(|name| self.ensure_service(project, name, &observed)),
            )
            .await?;
            changes.extend(made.into_iter().flatten());
        }
        Ok(changes)
    }

    /// Every container the service should have, each kept or (re)created,
    /// and its containers beyond its replicas stopped and removed (`up`
    /// after a scale down, as Compose does it).
    async fn ensure_service(
        &self,
        project: &Project,
        service: &str,
        observed: &[ContainerStatus],
    ) -> Result<Vec<Change>, EngineError> {
        let mut changes = Vec::new();
        for (number, _) in labels::container_names(project, service) {
            let existing = observed
                .iter()
                .find(|c| c.service == service && c.number == number);
            changes.extend(
                self.ensure_container(project, service, number, existing)
                    .await?,
            );
        }
        let replicas = project.services[service].replicas;
        let grace = project.services[service]
            .stop_grace_period
            .unwrap_or(spec::DEFAULT_GRACE);
        for extra in observed
            .iter()
            .filter(|c| c.service == service && c.number > replicas)
        {
            info!(container = %extra.name, replicas, "removing a container beyond the service's replicas");
            self.stop_container(&extra.name, grace).await?;
            self.remove_container(&extra.name).await?;
            changes.push(Change::new("removed", &extra.name));
        }
        Ok(changes)
    }

    /// [`Engine::create`] and start, each service as soon as its own
    /// dependencies allow: it is created once they are created and started
    /// once they have started (or met the condition it asks of them), so
    /// only dependency chains run in sequence. The services clients reach
    /// ([`serving`]) go first: the others are created and started once
    /// those have started (or failed to). On a failover this is the time
    /// the stack is down.
    ///
    /// A service whose `depends_on` asks to be restarted with a dependency
    /// (`restart: true`, and a namespace it joins or a service it links
    /// to) is restarted when that dependency got a new container in the
    /// same call, as Compose does.
    pub async fn up(&self, project: &Project) -> Result<Vec<Change>, EngineError> {
        self.prepare(project).await?;
        let observed = self.containers(&project.name).await?;
        let failures = Mutex::new(Vec::new());
        let changes = Mutex::new(Vec::new());
        // Services that got a new container in this call.
        let renewed: Mutex<BTreeSet<&str>> = Mutex::new(BTreeSet::new());
        let mut created: HashMap<&str, Step<'_>> = HashMap::new();
        let mut started: HashMap<&str, Step<'_>> = HashMap::new();
        let serving = serving(project);
        let mut serving_started = Vec::new();
        // Dependencies come first, so their steps exist when needed; the
        // serving services depend only on each other, so they can all
        // come before the rest.
        let (first, then): (Vec<&String>, Vec<&String>) = project
            .start_order
            .iter()
            .partition(|name| serving.contains(name.as_str()));
        for name in first.into_iter().chain(then) {
            let service = &project.services[name];
            let after_created = steps_of(&created, service.dependencies());
            let after_started = steps_of(&started, service.dependencies());
            let held_back_by = if serving.contains(name.as_str()) {
                Vec::new()
            } else {
                serving_started.clone()
            };
            let (failures, changes, renewed, observed) = (&failures, &changes, &renewed, &observed);
            let create = async move {
                // Whatever came of them: a failed front is reported, and
                // holds back nothing else.
                join_all(held_back_by).await;
                if !all(after_created).await {
                    return false;
                }
                let made = self.ensure_service(project, name, observed).await;
                if made.as_ref().is_ok_and(|made| {
                    made.iter()
                        .any(|c| c.action == "created" || c.action == "replaced")
                }) {
                    lock(renewed).insert(name.as_str());
                }
                succeeded(failures, changes, made)
            }
            .boxed()
            .shared();
            let start = {
                let create = create.clone();
                async move {
                    // Shared futures only run when polled: awaiting the
                    // dependencies' starts first would put off this
                    // service's own create until they had started.
                    let (dependencies_started, created) = join(all(after_started), create).await;
                    if !(dependencies_started && created) {
                        return false;
                    }
                    let restart = {
                        let renewed = lock(renewed);
                        service
                            .dependencies()
                            .any(|d| service.dependency(d).restart && renewed.contains(d))
                            && !renewed.contains(name.as_str())
                    };
                    succeeded(
                        failures,
                        changes,
                        self.start_service(project, name, restart).await,
                    )
                }
                .boxed()
                .shared()
            };
            if serving.contains(name.as_str()) {
                serving_started.push(start.clone());
            }
            created.insert(name, create);
            started.insert(name, start);
        }
        join_all(started.into_values()).await;
        let first_failure = lock(&failures).drain(..).next();
        match first_failure {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut *lock(&changes))),
        }
    }

    /// Freezes the project's running containers, all at once: the
    /// standby of a `warm` stack with `standby: paused`.
    pub async fn pause(&self, project: &Project) -> Result<Vec<Change>, EngineError> {
        let running = self.declared_in_state(project, "running").await?;
        try_join_all(running.iter().map(|name| self.set_frozen(name, true))).await?;
        Ok(running.iter().map(|n| Change::new("paused", n)).collect())
    }

    /// Thaws the project's paused containers, all at once: a frozen
    /// standby's takeover, with no start order to follow (every process
    /// already started in order before it was frozen).
    pub async fn unpause(&self, project: &Project) -> Result<Vec<Change>, EngineError> {
        let paused = self.declared_in_state(project, "paused").await?;
        try_join_all(paused.iter().map(|name| self.set_frozen(name, false))).await?;
        Ok(paused.iter().map(|n| Change::new("unpaused", n)).collect())
    }

    /// Names of the containers of the project's declared services in
    /// Docker state `state`; what the file does not declare is left alone.
    async fn declared_in_state(
        &self,
        project: &Project,
        state: &str,
    ) -> Result<Vec<String>, EngineError> {
        Ok(self
            .containers(&project.name)
            .await?
            .into_iter()
            .filter(|c| c.state == state && project.services.contains_key(&c.service))
            .map(|c| c.name)
            .collect())
    }

    /// Stops running containers, dependents first, each with its grace period.
    pub async fn stop(&self, project: &Project) -> Result<Vec<Change>, EngineError> {
        let running: Vec<ContainerStatus> = self
            .containers(&project.name)
            .await?
            .into_iter()
            .filter(|c| ["running", "restarting", "paused"].contains(&c.state.as_str()))
            .collect();
        // A frozen process cannot act on SIGTERM: thaw first, so each
        // service gets its grace period to shut down cleanly.
        try_join_all(
            running
                .iter()
                .filter(|c| c.state == "paused")
                .map(|c| self.set_frozen(&c.name, false)),
        )
        .await?;
        for wave in waves(project).iter().rev() {
            try_join_all(
                running
                    .iter()
                    .filter(|c| wave.contains(&c.service))
                    .map(|container| {
                        let grace = project.services[&container.service]
                            .stop_grace_period
                            .unwrap_or(spec::DEFAULT_GRACE);
                        self.stop_container(&container.name, grace)
                    }),
            )
            .await?;
        }
        Ok(running
            .iter()
            .map(|c| Change::new("stopped", &c.name))
            .collect())
    }

    /// Stops, then removes the project's containers; networks and volumes
    /// stay so the next start is quick and keeps its data.
    pub async fn down(&self, project: &Project) -> Result<Vec<Change>, EngineError> {
        let mut changes = self.stop(project).await?;
        for container in self.containers(&project.name).await? {
            self.remove_container(&container.name).await?;
            changes.push(Change::new("removed", &container.name));
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // How the controller runner writes a failure into events and conditions.
    use hareconcile_runtime::error_chain as chain;

    #[test]
    fn a_cause_is_said_once_along_the_chain() {
        let unreachable = || EngineError::Connect {
            uri: "unix:///x".into(),
            cause: bollard::errors::Error::SocketNotFoundError("/x".into()),
        };
        assert_eq!(
            chain(&unreachable()),
            "cannot reach the Docker Engine at unix:///x: Socket not found: /x"
        );
        let replace = EngineError::Replace {
            name: "web".into(),
            newer_image: None,
            cause: Box::new(unreachable()),
        };
        assert_eq!(chain(&replace).matches("Socket not found").count(), 1);
    }
}
