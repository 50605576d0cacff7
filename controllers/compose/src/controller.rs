//! The Service controller: keeps this node's part of each Service's
//! Compose stack as its placement says (running where the followed VIP is
//! master or about to be, warm or absent elsewhere), probes a running
//! stack's health and reports the containers it sees.
//!
//! Conditions: `Healthy` is the probes' fall/rise verdict where the stack
//! runs, `Unknown` where it does not (nothing to probe: a standby is not a
//! failure). `Ready` means this node's part is as it should be: a standby
//! stack is Ready, a running one only once it runs and is Healthy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::status::{ContainerSeen, ServiceReason};
use hareconcile_model::{
    ConditionStatus, Drift, Kind, Object, ObjectKey, ReplicationSpec, ServiceSpec, ServiceStatus,
    Standby, VirtualIpStatus, SOURCE_FILE_ANNOTATION,
};
use hareconcile_runtime::{
    Action, Context, EventType, PerObject, Readiness, ReconcileError, Reconciler,
};
use tokio::sync::{mpsc, OnceCell};

use crate::drift::{stack_drift, with_failure, StackDrift};
use crate::engine::{Change, ContainerStatus, Engine, EngineError};
use crate::exclusive::{clearance, is_exclusive, Claim, Claims, Clearance, OtherNodes};
use crate::file::{load, FileErrors, LoadOptions, Project};
use crate::health::{Prober, Report, Schedule, Verdict};
use crate::images::{Images, Need, Requester};
use crate::placement::{placement, FollowedVip, Placement};

/// Containers change without a store change; look again this often even
/// when no docker event arrives (events are the fast path).
const RECHECK: Duration = Duration::from_secs(10);

/// How soon a new master asks again whether the node that ran an
/// exclusive stack stopped it: the stack is down meanwhile.
const RECHECK_OTHER_NODES: Duration = Duration::from_millis(250);

pub struct ServiceReconciler {
    docker_host: String,
    engine: OnceCell<Engine>,
    /// The last project each Service loaded, so a deleted Service's stack
    /// can be taken down though its spec is gone.
    projects: PerObject<Project>,
    images: Images,
    /// One probing task per stack running here.
    probers: PerObject<Prober>,
    /// Services to reconcile at once: their health verdict changed, or an
    /// image pull they did not wait for ended.
    changed: mpsc::UnboundedSender<ObjectKey>,
    health_changes: Mutex<Option<mpsc::UnboundedReceiver<ObjectKey>>>,
    /// Asked before an exclusive stack starts here; without it nobody
    /// can be asked and the stack starts on the master alone.
    other_nodes: Option<Arc<dyn OtherNodes>>,
    /// This node's claims on its exclusive stacks, which the peer API
    /// reports to the other nodes.
    claims: Claims,
}

impl ServiceReconciler {
    /// `docker_host` as `--docker-host` gives it: `unix:///var/run/docker.sock`.
    pub fn new(docker_host: impl Into<String>) -> Self {
        let (changed, health_changes) = mpsc::unbounded_channel();
        ServiceReconciler {
            docker_host: docker_host.into(),
            engine: OnceCell::new(),
            projects: PerObject::default(),
            probers: PerObject::default(),
            changed,
            images: Images::default(),
            health_changes: Mutex::new(Some(health_changes)),
            other_nodes: None,
            claims: Claims::default(),
        }
    }

    /// Asks `other_nodes` before starting an exclusive stack here.
    pub fn with_other_nodes(mut self, other_nodes: Arc<dyn OtherNodes>) -> Self {
        self.other_nodes = Some(other_nodes);
        self
    }

    /// This node's claims on its exclusive stacks, for the peer API.
    pub fn claims(&self) -> Claims {
        self.claims.clone()
    }

    /// Whether an exclusive stack about to start here may: claims it,
    /// then asks the other nodes (see [`crate::exclusive`]). On `Ok` the
    /// claim holds the stack; on `Err` (which nodes hold it back, and
    /// how) the claim is kept or let go as the tie-break says. Records
    /// why it starts unconfirmed.
    async fn may_start_exclusive(
        &self,
        object: &Object,
        ctx: &Context,
        vip: &str,
    ) -> Result<(), Vec<String>> {
        let service = &object.metadata.name;
        // Before asking: a node asking at the same time then hears it.
        self.claims.set(service, Claim::Asking);
        let round = match &self.other_nodes {
            Some(nodes) => nodes.ask(service, vip).await,
            None => Err("this agent asks no other node".to_string()),
        };
        let clearance = clearance(round);
        match &clearance {
            Clearance::Start { .. } => self.claims.set(service, Claim::Holding),
            Clearance::Wait {
                keep_claim: false, ..
            } => self.claims.release(service),
            Clearance::Wait { .. } => {}
        }
        match clearance {
            Clearance::Wait { because, .. } => Err(because),
            Clearance::Start { unconfirmed: None } => Ok(()),
            Clearance::Start {
                unconfirmed: Some(why),
            } => {
                ctx.store.record_event(
                    &object.key(),
                    EventType::Warning,
                    "ExclusiveUnconfirmed",
                    &format!(
                        "starting the exclusive stack without knowing that no other node runs it: {why}"
                    ),
                );
                Ok(())
            }
        }
    }

    /// The Services whose health verdict just changed or whose image pull
    /// ended, for [`crate::health::forward`] to reconcile at once; without
    /// it they are seen at the next recheck. Yields the receiver once.
    pub fn health_changes(&self) -> Option<mpsc::UnboundedReceiver<ObjectKey>> {
        self.health_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Probes a running stack with `schedule` (restarting the probes when
    /// it changed); what they said so far.
    fn probe(&self, key: &ObjectKey, schedule: Schedule, engine: &Engine) -> Report {
        let mut probers = self.probers.lock();
        match probers.get(key) {
            Some(prober) if *prober.schedule() == schedule => prober.report(),
            _ => {
                let prober =
                    Prober::start(key.clone(), schedule, engine.clone(), self.changed.clone());
                let report = prober.report();
                probers.insert(key.clone(), prober);
                report
            }
        }
    }

    fn stop_probing(&self, key: &ObjectKey) {
        self.probers.remove(key);
    }

    /// Connects on first use, so an agent starts even while Docker is down.
    async fn engine(&self) -> Result<&Engine, EngineError> {
        self.engine
            .get_or_try_init(|| Engine::connect(&self.docker_host))
            .await
    }

    fn remember(&self, key: ObjectKey, project: Option<Project>) {
        match project {
            Some(p) => self.projects.insert(key, p),
            None => self.projects.remove(&key),
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

/// Loads a Service's compose project as the agent runs it: paths relative to
/// the manifest, the Service's project name, profiles and env file, the
/// process environment. `hareconcile chart lint` checks charts with it.
pub fn load_project(object: &Object, spec: &ServiceSpec) -> Result<Project, FileErrors> {
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

/// The followed VirtualIP as this node's VRRP controller reports it.
fn followed_vip(ctx: &Context, spec: &ServiceSpec) -> FollowedVip {
    let Some(name) = spec.follow_virtual_ip.as_deref() else {
        return FollowedVip::default();
    };
    ctx.status_of::<VirtualIpStatus>(name).unwrap_or_default()
}

/// The paths the Replications on this node keep.
fn replicated_paths(ctx: &Context) -> Vec<PathBuf> {
    ctx.store
        .list(Some(Kind::Replication))
        .0
        .iter()
        .filter_map(|r| r.spec_as::<ReplicationSpec>().ok())
        .map(|spec| spec.path)
        .collect()
}

/// Required Replications not Ready yet, by name.
fn unready_requirements(ctx: &Context, spec: &ServiceSpec) -> Vec<String> {
    spec.requires
        .iter()
        .filter(|name| {
            let key = ObjectKey::new(Kind::Replication, name.as_str());
            !ctx.store.get(&key).is_some_and(|r| r.status.is_ready())
        })
        .cloned()
        .collect()
}

/// The Healthy condition: the probes' verdict where the stack runs.
fn healthiness(wanted: Placement, report: Option<&Report>) -> Readiness<ServiceReason> {
    let Some(report) = report else {
        return if wanted == Placement::Run {
            (
                ConditionStatus::Unknown,
                ServiceReason::NotProbed,
                "the Docker Engine is unreachable: nothing probed".into(),
            )
        } else {
            (
                ConditionStatus::Unknown,
                ServiceReason::NotRunning,
                format!(
                    "the stack is {} on this node: nothing to probe",
                    wanted.as_str()
                ),
            )
        };
    };
    let latest = if report.failures.is_empty() {
        "passed".to_string()
    } else {
        format!("failed: {}", report.failures.join("; "))
    };
    let n = report.needed;
    match report.verdict {
        Verdict::Healthy if report.failures.is_empty() => (
            ConditionStatus::True,
            ServiceReason::ProbesPassing,
            format!("{} probe(s) passing", report.probes),
        ),
        Verdict::Healthy => (
            ConditionStatus::True,
            ServiceReason::ProbesPassing,
            format!("latest round {latest}; unhealthy after {n} more failing round(s)"),
        ),
        Verdict::Unhealthy => (
            ConditionStatus::False,
            ServiceReason::ProbeFailed,
            format!("latest round {latest}; healthy after {n} more passing round(s)"),
        ),
        Verdict::Unknown if report.rounds == 0 => (
            ConditionStatus::Unknown,
            ServiceReason::Probing,
            "waiting for the first probe round".into(),
        ),
        Verdict::Unknown => (
            ConditionStatus::Unknown,
            ServiceReason::Probing,
            format!("latest round {latest}; {n} more like it to decide"),
        ),
    }
}

/// Ready False for `reason` when any of `names` (containers or services)
/// is in that state, listing them after `what`.
fn not_ready<'a>(
    reason: ServiceReason,
    what: &str,
    names: impl Iterator<Item = &'a str>,
) -> Option<Readiness<ServiceReason>> {
    let names: Vec<&str> = names.collect();
    (!names.is_empty()).then(|| {
        (
            ConditionStatus::False,
            reason,
            format!("{what}: {}", names.join(", ")),
        )
    })
}

/// The Ready condition for what was seen. `standby`: what the spec asks
/// of a warm standby, which an exclusive stack does not pause.
fn readiness(
    wanted: Placement,
    standby: Standby,
    project: &Project,
    containers: &[ContainerStatus],
    vip: &FollowedVip,
    health: Option<&Report>,
) -> Readiness<ServiceReason> {
    if wanted != Placement::Run {
        let here = vip.state().map_or("not reported", |state| state.as_str());
        let what = match wanted {
            Placement::Warm if standby == Standby::Paused => {
                "containers created and stopped, not paused: an exclusive stack's processes never run away from the master (standby: paused does not apply)"
            }
            Placement::Warm => "containers created and stopped",
            Placement::Paused => "containers started and paused",
            _ => "containers removed",
        };
        return (
            ConditionStatus::True,
            ServiceReason::Standby,
            format!("the followed VirtualIP is {here} on this node: {what}"),
        );
    }
    let unhealthy = containers
        .iter()
        .filter(|c| c.health.as_deref() == Some("unhealthy"))
        .map(|c| c.name.as_str());
    if let Some(not_ready) = not_ready(ServiceReason::Unhealthy, "unhealthy", unhealthy) {
        return not_ready;
    }
    let not_running = project.services.keys().map(String::as_str).filter(|s| {
        !containers
            .iter()
            .any(|c| c.service == *s && c.state == "running")
    });
    if let Some(not_ready) = not_ready(ServiceReason::Stopped, "not running", not_running) {
        return not_ready;
    }
    match health.map(|h| h.verdict) {
        Some(Verdict::Healthy) => (
            ConditionStatus::True,
            ServiceReason::Running,
            format!(
                "{} container(s) of project {} running and healthy",
                containers.len(),
                project.name
            ),
        ),
        Some(Verdict::Unhealthy) => (
            ConditionStatus::False,
            ServiceReason::Unhealthy,
            "the health probes fail (see the Healthy condition)".into(),
        ),
        Some(Verdict::Unknown) | None => (
            ConditionStatus::False,
            ServiceReason::Probing,
            "running; waiting for the health probes' verdict".into(),
        ),
    }
}

/// The Ready reason of a failed pass (one [`ServiceReason::is_failed_pass`]);
/// image reasons as Kubernetes names them.
fn failure_reason(error: &EngineError) -> ServiceReason {
    match error {
        EngineError::Pull { .. } => ServiceReason::ErrImagePull,
        EngineError::NeverPulled { .. } => ServiceReason::ErrImageNeverPull,
        _ => ServiceReason::EngineError,
    }
}

fn containers_seen(containers: &[ContainerStatus]) -> Vec<ContainerSeen> {
    containers
        .iter()
        .map(|c| ContainerSeen {
            name: c.name.clone(),
            service: c.service.clone(),
            state: c.state.clone(),
            health: c.health.clone(),
        })
        .collect()
}

fn drift_seen(drift: &[StackDrift]) -> Vec<Drift> {
    drift
        .iter()
        .map(|d| Drift {
            reason: d.reason.to_string(),
            message: d.message.clone(),
            fix: Some(d.fix.clone()),
        })
        .collect()
}

impl ServiceReconciler {
    /// Pulls what the stack needs here (waiting only when containers are
    /// to be created), then puts the stack in the `wanted` placement; what
    /// it had to change. A stack that cannot have its images is not
    /// started; a standby's stack is still taken down.
    async fn enact(
        &self,
        object: &Object,
        ctx: &Context,
        wanted: Placement,
        project: &Project,
    ) -> Result<Vec<Change>, EngineError> {
        let engine = self.engine().await?;
        let was = last_pass(object).desired;
        let need = Need {
            containers: wanted != Placement::Absent,
            starting: wanted == Placement::Run && was != Some(Placement::Run),
        };
        let requester = Requester {
            service: &object.key(),
            store: &ctx.store,
            wake: &self.changed,
        };
        let images = self.images.ensure(engine, project, need, &requester).await;
        let mut changes = Vec::new();
        match wanted {
            // Thaw a frozen standby first: its takeover is the unpause.
            Placement::Run => {
                images?;
                changes.extend(engine.unpause(project).await?);
                changes.extend(engine.up(project).await?);
            }
            Placement::Warm => {
                images?;
                changes.extend(engine.create(project).await?);
                changes.extend(engine.stop(project).await?);
            }
            // Starts only what is not started yet (a paused container
            // counts as started), then freezes what runs.
            Placement::Paused => {
                images?;
                changes.extend(engine.up(project).await?);
                changes.extend(engine.pause(project).await?);
            }
            // Networks and volumes stay ready (as `down` leaves them), so
            // a failover here only creates and starts containers; the
            // images are pulled meanwhile.
            Placement::Absent => {
                engine.prepare(project).await?;
                changes.extend(engine.down(project).await?);
                images?;
            }
        }
        Ok(changes)
    }
}

/// Whether the last pass already enacted `wanted` for this generation and
/// these compose files and succeeded: then anything this pass has to
/// change was changed behind the agent's back (a container stopped,
/// removed or replaced by hand, or while the agent was down), not a new
/// placement, spec or compose file.
fn settled(object: &Object, wanted: Placement, project: &Project) -> bool {
    let status = &object.status;
    let failed =
        |reason: &str| ServiceReason::parse(reason).is_some_and(ServiceReason::is_failed_pass);
    let last = last_pass(object);
    status.observed_generation == Some(object.metadata.generation)
        && last.desired == Some(wanted)
        && last.files.as_deref() == Some(project.files_digest.as_str())
        && status
            .condition("Ready")
            .is_some_and(|c| !failed(&c.reason))
}

/// What the last pass reported.
fn last_pass(object: &Object) -> ServiceStatus {
    object.status.details_as().unwrap_or_default()
}

#[async_trait]
impl Reconciler for ServiceReconciler {
    const KIND: Kind = Kind::Service;
    const DEPENDS_ON: &'static [Kind] = &[Kind::VirtualIP, Kind::Replication];

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let spec: ServiceSpec = object.spec_as()?;
        let project = match load_project(&object, &spec) {
            Ok(project) => project,
            Err(e) => {
                // Nothing is started from a file that does not load; the
                // recheck picks up a fixed file.
                self.stop_probing(&object.key());
                let invalid = (
                    ConditionStatus::False,
                    ServiceReason::InvalidComposeFile,
                    e.to_string(),
                );
                ctx.report_conditions(
                    &object,
                    // What was found of the last loadable file no longer says anything.
                    |s: &mut ServiceStatus| s.drift.clear(),
                    vec![
                        ("Ready", invalid),
                        ("Healthy", healthiness(Placement::Absent, None)),
                    ],
                )?;
                return Ok(Action::Requeue(RECHECK));
            }
        };
        let vip = followed_vip(ctx, &spec);
        let exclusive = is_exclusive(&spec, &project, &replicated_paths(ctx));
        let mut wanted = placement(&spec, &vip, exclusive);
        let waiting = unready_requirements(ctx, &spec);
        // Only a node that should run the stack waits for its data: a
        // standby reporting WaitingForReplication would fault the VIP it
        // tracks everywhere, and no node would become the master that
        // makes the data Ready.
        let held_for_data = wanted == Placement::Run && !waiting.is_empty();
        if held_for_data {
            // Stop the service before releasing data; start it only on data.
            wanted = Placement::Absent;
        }
        // An exclusive stack that is to start here waits until no other
        // node may run it (one this agent holds was checked when it
        // started).
        let mut held_for_other = Vec::new();
        if let (true, Placement::Run, Some(followed)) =
            (exclusive, wanted, spec.follow_virtual_ip.as_deref())
        {
            if self.claims.get(&object.metadata.name) != Some(Claim::Holding) {
                if let Err(because) = self.may_start_exclusive(&object, ctx, followed).await {
                    held_for_other = because;
                    wanted = Placement::Absent;
                }
            }
        }
        self.remember(object.key(), Some(project.clone()));
        let enacted = match self.enact(&object, ctx, wanted, &project).await {
            Ok(changes) => {
                // A newer image is an update, not something put back; nor
                // is starting (or freezing) the container that runs it.
                let mut updated = Vec::new();
                for change in &changes {
                    if let Some(update) = &change.newer_image {
                        ctx.store.record_event(
                            &object.key(),
                            EventType::Normal,
                            "ImageUpdated",
                            &format!("{change} for its newer image: {update}"),
                        );
                        updated.push(change.container.as_str());
                    }
                }
                let repairs: Vec<String> = changes
                    .iter()
                    .filter(|c| !updated.contains(&c.container.as_str()))
                    .map(Change::to_string)
                    .collect();
                if settled(&object, wanted, &project) && !repairs.is_empty() {
                    ctx.store.record_event(
                        &object.key(),
                        EventType::Warning,
                        "StackRepaired",
                        &format!("found changed, put back: {}", repairs.join(", ")),
                    );
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        // A claim goes once the stack it held was taken down (one that may
        // still run keeps it), or when it started nothing and this pass
        // does not wait with it.
        let lets_go = match self.claims.get(&object.metadata.name) {
            Some(Claim::Holding) => wanted != Placement::Run && enacted.is_ok(),
            Some(Claim::Asking) => held_for_other.is_empty(),
            None => false,
        };
        if lets_go {
            self.claims.release(&object.metadata.name);
        }
        let engine = self.engine().await.ok();
        let containers = match engine {
            Some(engine) => engine.containers(&project.name).await?,
            None => Vec::new(),
        };
        let drift = match &enacted {
            Ok(()) => stack_drift(&project, wanted, &containers, false),
            Err(e) => with_failure(
                stack_drift(&project, wanted, &containers, false),
                &project,
                e,
            ),
        };
        // Probed whenever the stack should run, even if starting part of
        // it failed: the verdict says what actually answers.
        let health = match engine {
            Some(engine) if wanted == Placement::Run => {
                Some(self.probe(&object.key(), Schedule::new(&spec.health, &project), engine))
            }
            _ => {
                self.stop_probing(&object.key());
                None
            }
        };
        let condition = match (&enacted, held_for_data) {
            (Err(e), _) => (ConditionStatus::False, failure_reason(e), e.to_string()),
            (Ok(()), true) => (
                ConditionStatus::False,
                ServiceReason::WaitingForReplication,
                format!("required Replication not Ready: {}", waiting.join(", ")),
            ),
            (Ok(()), false) if !held_for_other.is_empty() => (
                ConditionStatus::False,
                ServiceReason::WaitingForOtherNode,
                format!(
                    "exclusive (break-before-make): starting once no other node may run it, claims it or is master: {}",
                    held_for_other.join(", ")
                ),
            ),
            (Ok(()), false) => readiness(
                wanted,
                spec.standby,
                &project,
                &containers,
                &vip,
                health.as_ref(),
            ),
        };
        let details = ServiceStatus {
            project: Some(project.name.clone()),
            desired: Some(wanted),
            files: Some(project.files_digest.clone()),
            containers: containers_seen(&containers),
            drift: drift_seen(&drift),
            exclusive,
            unready_data: waiting,
        };
        let conditions = vec![
            ("Ready", condition),
            ("Healthy", healthiness(wanted, health.as_ref())),
        ];
        ctx.report_conditions(&object, |s| *s = details, conditions)?;
        enacted?;
        Ok(Action::Requeue(match held_for_other.is_empty() {
            true => RECHECK,
            false => RECHECK_OTHER_NODES,
        }))
    }

    async fn cleanup(&self, key: &ObjectKey, _ctx: &Context) -> Result<(), ReconcileError> {
        self.stop_probing(key);
        let project = self.projects.get_cloned(key);
        // A Service deleted while the agent was down is not known here; its
        // containers stay until removed by hand.
        if let Some(project) = project {
            self.engine().await?.down(&project).await?;
            self.remember(key.clone(), None);
        }
        self.claims.release(&key.name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::load_text;
    use hareconcile_model::status::VrrpState;
    use hareconcile_model::{ObjectMeta, Status, API_VERSION};
    use serde_json::json;

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

    #[test]
    fn ready_says_running_stopped_unhealthy_or_standby() {
        let project = load_text("services: {web: {image: x}, worker: {image: x}}\n").unwrap();
        let mut backup = FollowedVip::default();
        backup.instance.state = Some(VrrpState::Backup);
        let healthy = report(Verdict::Healthy, &[]);
        let reason = |wanted, containers: &[ContainerStatus]| {
            readiness(
                wanted,
                Standby::Stopped,
                &project,
                containers,
                &backup,
                Some(&healthy),
            )
            .1
        };
        let all = [
            ContainerStatus::of_shop("web", "running", None),
            ContainerStatus::of_shop("worker", "running", Some("healthy")),
        ];
        assert_eq!(reason(Placement::Run, &all), ServiceReason::Running);
        assert_eq!(
            reason(
                Placement::Run,
                &[ContainerStatus::of_shop("web", "running", None)]
            ),
            ServiceReason::Stopped
        );
        let sick = [
            ContainerStatus::of_shop("web", "running", Some("unhealthy")),
            ContainerStatus::of_shop("worker", "running", None),
        ];
        assert_eq!(reason(Placement::Run, &sick), ServiceReason::Unhealthy);
        assert_eq!(reason(Placement::Warm, &[]), ServiceReason::Standby);
        assert_eq!(reason(Placement::Absent, &[]), ServiceReason::Standby);
        // An exclusive stack asked to pause its standby says it stopped it.
        let (status, reason, message) = readiness(
            Placement::Warm,
            Standby::Paused,
            &project,
            &[],
            &backup,
            None,
        );
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, ServiceReason::Standby)
        );
        assert!(
            message.ends_with("containers created and stopped, not paused: an exclusive stack's processes never run away from the master (standby: paused does not apply)"),
            "{message}"
        );
        // Running is not enough: the probes must have said healthy.
        for (verdict, expected) in [
            (Verdict::Unknown, ServiceReason::Probing),
            (Verdict::Unhealthy, ServiceReason::Unhealthy),
        ] {
            let probed = report(verdict, &[]);
            let (status, reason, _) = readiness(
                Placement::Run,
                Standby::Stopped,
                &project,
                &all,
                &backup,
                Some(&probed),
            );
            assert_eq!((status, reason), (ConditionStatus::False, expected));
        }
    }

    fn report(verdict: Verdict, failures: &[&str]) -> Report {
        Report {
            verdict,
            failures: failures.iter().map(|f| f.to_string()).collect(),
            needed: 2,
            probes: 2,
            rounds: 5,
        }
    }

    #[test]
    fn healthy_is_the_verdict_where_the_stack_runs_and_unknown_elsewhere() {
        let status = |wanted, report: Option<Report>| {
            let (status, reason, _) = healthiness(wanted, report.as_ref());
            (status, reason)
        };
        use ConditionStatus::{False, True, Unknown};
        assert_eq!(
            status(Placement::Absent, None),
            (Unknown, ServiceReason::NotRunning)
        );
        assert_eq!(
            status(Placement::Warm, None),
            (Unknown, ServiceReason::NotRunning)
        );
        assert_eq!(
            status(Placement::Run, Some(report(Verdict::Healthy, &[]))),
            (True, ServiceReason::ProbesPassing)
        );
        // One failed round does not make a healthy stack unhealthy.
        assert_eq!(
            status(
                Placement::Run,
                Some(report(Verdict::Healthy, &["tcp x: refused"]))
            ),
            (True, ServiceReason::ProbesPassing)
        );
        assert_eq!(
            status(Placement::Run, Some(report(Verdict::Unhealthy, &["x"]))),
            (False, ServiceReason::ProbeFailed)
        );
        let (_, _, message) = healthiness(
            Placement::Run,
            Some(&report(Verdict::Unhealthy, &["tcp 127.0.0.1:80: refused"])),
        );
        assert_eq!(
            message,
            "latest round failed: tcp 127.0.0.1:80: refused; healthy after 2 more passing round(s)"
        );
        assert_eq!(
            status(Placement::Run, Some(report(Verdict::Unknown, &[]))),
            (Unknown, ServiceReason::Probing)
        );
    }

    /// Containers a pass replaces because the compose file was edited are
    /// the edit taking effect, not a repair of what someone changed by hand.
    #[test]
    fn a_pass_with_other_compose_files_is_not_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, "services: {web: {image: x}}\n").unwrap();
        let enacted = load(&path, &LoadOptions::default()).unwrap();
        let mut object = object("compose.yaml", None);
        object.metadata.generation = 3;
        object.status.observed_generation = Some(3);
        object.status.set_condition(
            "Ready",
            ConditionStatus::True,
            ServiceReason::Running.as_str(),
            String::new(),
            3,
        );
        object.status.set_details(&ServiceStatus {
            desired: Some(Placement::Run),
            files: Some(enacted.files_digest.clone()),
            ..ServiceStatus::default()
        });
        assert!(settled(&object, Placement::Run, &enacted));
        assert!(!settled(&object, Placement::Absent, &enacted));

        std::fs::write(&path, "services: {web: {image: y}}\n").unwrap();
        let edited = load(&path, &LoadOptions::default()).unwrap();
        assert!(!settled(&object, Placement::Run, &edited));
    }
}
