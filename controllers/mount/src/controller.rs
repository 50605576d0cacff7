//! The mount controller: keeps each mount-type Replication (`nfs`,
//! `mount`) mounted where its placement says, unmounted elsewhere, and
//! replaces a mount whose server went away.
//!
//! Each reconcile looks at mountinfo and probes the mount (see
//! [`crate::probe`]), reports what it saw, then acts: mount what is
//! missing, replace another filesystem at the path, remount once per
//! generation when the options differ, and detach-then-remount a stale or
//! hung mount. A failed mount returns an error, so the runtime retries it
//! with exponential backoff. Replications of other methods belong to the
//! sync controller and are left alone, status included.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::redact;
use hareconcile_model::status::{MountSeen, ProbeSeen, ReplicationReason, VrrpState};
use hareconcile_model::{
    ConditionStatus, Kind, Object, ObjectKey, ReplicationSpec, ReplicationStatus, VirtualIpStatus,
};
use hareconcile_runtime::{
    Action, Context, EventType, PerObject, Readiness, ReconcileError, Reconciler,
};
use time::OffsetDateTime;
use tracing::warn;

use crate::command::{self, Unmount};
use crate::desired::{placement, DesiredMount, Wanted};
use crate::mountinfo::{self, MountEntry};
use crate::options::{self, Comparison};
use crate::probe::{ProbeResult, Prober};

/// The longest a mount(8), umount(8) or mkdir may take before it is
/// killed; a reconcile (and the agent's shutdown) waits at most this.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// What this controller remembers of a Replication between reconciles.
struct Tracked {
    desired: DesiredMount,
    prober: Arc<Prober>,
    /// The generation whose differing options were already remounted
    /// for once: the kernel may show them differently for good, and a
    /// remount loop would only disturb the users of the mount.
    remounted_for: Option<u64>,
}

#[derive(Default)]
pub struct MountReconciler {
    tracked: PerObject<Tracked>,
}

impl MountReconciler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the declared mount and returns its prober, and the path it
    /// was declared at before if that changed.
    fn track(
        &self,
        key: &ObjectKey,
        desired: &DesiredMount,
    ) -> (Arc<Prober>, Option<DesiredMount>) {
        let mut tracked = self.tracked.lock();
        let moved = match tracked.get(key) {
            Some(t) if t.desired.path == desired.path => None,
            Some(t) => Some(t.desired.clone()),
            None => None,
        };
        let entry = tracked.entry(key.clone()).or_insert_with(|| Tracked {
            desired: desired.clone(),
            prober: Arc::new(Prober::default()),
            remounted_for: None,
        });
        if moved.is_some() {
            entry.prober = Arc::new(Prober::default());
        }
        entry.desired = desired.clone();
        (Arc::clone(&entry.prober), moved)
    }

    /// True the first time the options of `generation` are remounted for.
    fn first_remount_for(&self, key: &ObjectKey, generation: u64) -> bool {
        let mut tracked = self.tracked.lock();
        match tracked.get_mut(key) {
            Some(t) if t.remounted_for != Some(generation) => {
                t.remounted_for = Some(generation);
                true
            }
            _ => false,
        }
    }
}

/// What one look at the mount point found.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub entry: Option<MountEntry>,
    pub comparison: Option<Comparison>,
    pub probe: Option<ProbeResult>,
}

/// The verdict on an observation, and what it calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Missing,
    /// Another filesystem is mounted at the path.
    Other,
    /// The server is gone or hangs.
    Stale,
    OptionsDiffer,
}

impl Verdict {
    fn reason(&self) -> ReplicationReason {
        match self {
            Verdict::Healthy => ReplicationReason::Mounted,
            Verdict::Missing => ReplicationReason::NotMounted,
            Verdict::Other => ReplicationReason::OtherMount,
            Verdict::Stale => ReplicationReason::MountStale,
            Verdict::OptionsDiffer => ReplicationReason::OptionsDiffer,
        }
    }
}

/// Judges what was seen against what is declared.
pub fn judge(desired: &DesiredMount, seen: &Observation) -> Verdict {
    let Some(entry) = &seen.entry else {
        return Verdict::Missing;
    };
    if !desired.is_mounted_as(entry) {
        return Verdict::Other;
    }
    if seen.probe.as_ref().is_some_and(|p| !p.is_healthy()) {
        return Verdict::Stale;
    }
    if seen.comparison.as_ref().is_some_and(|c| !c.matches()) {
        return Verdict::OptionsDiffer;
    }
    Verdict::Healthy
}

fn condition(
    desired: &DesiredMount,
    seen: &Observation,
    verdict: &Verdict,
) -> Readiness<ReplicationReason> {
    let path = desired.path.display();
    let message = match (verdict, &seen.entry) {
        (Verdict::Healthy, _) => format!(
            "{} ({}) mounted at {path}, probe ok",
            desired.source, desired.fs_type
        ),
        (Verdict::Missing, _) => format!("nothing is mounted at {path}"),
        (Verdict::Other, entry) => format!(
            "{path} holds {}, not the declared {} ({})",
            entry
                .as_ref()
                .map_or("another filesystem".to_string(), |e| format!(
                    "{} ({})",
                    e.source, e.fs_type
                )),
            desired.source,
            desired.fs_type
        ),
        (Verdict::Stale, _) => format!(
            "probe of {path}: {}",
            seen.probe
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        (Verdict::OptionsDiffer, _) => format!(
            "{path}: {}",
            seen.comparison
                .iter()
                .flat_map(|c| &c.differences)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let status = if *verdict == Verdict::Healthy {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    (status, verdict.reason(), message)
}

/// The status details for an observation; the last probe stays reported
/// when this look probed nothing.
fn details(seen: &Observation, wanted: Wanted) -> impl FnOnce(&mut ReplicationStatus) {
    let mount = seen.entry.as_ref().map(|e| MountSeen {
        source: e.source.clone(),
        fs_type: e.fs_type.clone(),
        options: redact::options(&e.mount_options),
        super_options: redact::options(&e.super_options),
        options_not_shown: seen
            .comparison
            .as_ref()
            .map(|c| c.not_shown.clone())
            .unwrap_or_default(),
    });
    let probe = seen.probe.as_ref().map(|probe| ProbeSeen {
        time: OffsetDateTime::now_utc(),
        result: probe.to_string(),
    });
    move |status| {
        status.desired = Some(wanted);
        status.mount = mount;
        if probe.is_some() {
            status.last_probe = probe;
        }
    }
}

async fn observe(
    desired: &DesiredMount,
    prober: &Prober,
    probe_timeout: Duration,
) -> Result<Observation, ReconcileError> {
    let entries = mountinfo::read()?;
    let entry = mountinfo::find(&entries, &desired.path).cloned();
    let ours = entry.as_ref().filter(|e| desired.is_mounted_as(e));
    let comparison = ours.map(|e| options::compare(&desired.options, e));
    let probe = match ours {
        Some(_) => Some(prober.probe(&desired.path, probe_timeout).await),
        None => None,
    };
    Ok(Observation {
        entry,
        comparison,
        probe,
    })
}

/// Observes, judges and reports a mount that is wanted here.
async fn look(
    ctx: &Context,
    object: &Object,
    desired: &DesiredMount,
    prober: &Prober,
    probe_timeout: Duration,
) -> Result<(Observation, Verdict), ReconcileError> {
    let seen = observe(desired, prober, probe_timeout).await?;
    let verdict = judge(desired, &seen);
    ctx.report(
        object,
        details(&seen, Wanted::Mounted),
        condition(desired, &seen, &verdict),
    )?;
    Ok((seen, verdict))
}

/// Unmounts `desired` if it is what is mounted at its path.
async fn unmount_if_mounted(desired: &DesiredMount, how: Unmount) -> Result<bool, ReconcileError> {
    let entries = mountinfo::read()?;
    match mountinfo::find(&entries, &desired.path) {
        Some(entry) if desired.is_mounted_as(entry) => {
            command::unmount(&desired.path, how, COMMAND_TIMEOUT).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

impl MountReconciler {
    /// Takes the mount away where it is not wanted.
    async fn stand_by(
        &self,
        ctx: &Context,
        object: &Object,
        desired: &DesiredMount,
        vip: Option<VrrpState>,
    ) -> Result<(), ReconcileError> {
        let entries = mountinfo::read()?;
        let entry = mountinfo::find(&entries, &desired.path)
            .filter(|e| desired.is_mounted_as(e))
            .cloned();
        let why = format!(
            "on: master, and the followed VirtualIP is {} on this node",
            vip.map_or("not reported", VrrpState::as_str)
        );
        // Not Ready where it is not wanted, before it goes: a Service that
        // requires it must not start here.
        let not_ready = |mounted: bool| {
            let what = if mounted {
                "unmounting"
            } else {
                "not mounted here"
            };
            (
                ConditionStatus::False,
                ReplicationReason::NotMaster,
                format!("{why}: {what}"),
            )
        };
        let mut seen = Observation {
            entry,
            comparison: None,
            probe: None,
        };
        let mounted = seen.entry.is_some();
        ctx.report(
            object,
            details(&seen, Wanted::Unmounted),
            not_ready(mounted),
        )?;
        if mounted {
            // Clean only: a service still using the data is stopped by its
            // own controller first; until then this fails and is retried.
            command::unmount(&desired.path, Unmount::Clean, COMMAND_TIMEOUT).await?;
            ctx.store.record_event(
                &object.key(),
                EventType::Normal,
                "Unmounted",
                &format!(
                    "unmounted {} from {}",
                    desired.source,
                    desired.path.display()
                ),
            );
            seen.entry = None;
            ctx.report(object, details(&seen, Wanted::Unmounted), not_ready(false))?;
        }
        Ok(())
    }

    /// Does what the verdict calls for; true when something was done.
    async fn act(
        &self,
        ctx: &Context,
        object: &Object,
        desired: &DesiredMount,
        verdict: &Verdict,
        seen: &Observation,
    ) -> Result<bool, ReconcileError> {
        let key = object.key();
        let path = &desired.path;
        match verdict {
            Verdict::Healthy => return Ok(false),
            Verdict::Missing => {}
            Verdict::Other => command::unmount(path, Unmount::Clean, COMMAND_TIMEOUT).await?,
            Verdict::OptionsDiffer => {
                if !self.first_remount_for(&key, object.metadata.generation) {
                    return Ok(false);
                }
                command::unmount(path, Unmount::Clean, COMMAND_TIMEOUT).await?;
            }
            Verdict::Stale => {
                let what = match &seen.probe {
                    Some(ProbeResult::Hung(_)) => "hangs".to_string(),
                    Some(ProbeResult::Failed(why)) => format!("fails ({why})"),
                    _ => "is stale".to_string(),
                };
                ctx.store.record_event(
                    &key,
                    EventType::Warning,
                    ReplicationReason::MountStale.as_str(),
                    &format!(
                        "{} at {}: probe {what}; detaching it and mounting again",
                        desired.source,
                        path.display()
                    ),
                );
                command::unmount(path, Unmount::Detach, COMMAND_TIMEOUT).await?;
            }
        }
        command::mount(desired, COMMAND_TIMEOUT).await?;
        ctx.store.record_event(
            &key,
            EventType::Normal,
            "Mounted",
            &format!("mounted {} at {}", desired.source, path.display()),
        );
        Ok(true)
    }
}

#[async_trait]
impl Reconciler for MountReconciler {
    const KIND: Kind = Kind::Replication;
    const DEPENDS_ON: &'static [Kind] = &[Kind::VirtualIP];

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let spec: ReplicationSpec = object.spec_as()?;
        let Some(desired) = DesiredMount::from_spec(&spec) else {
            return Ok(Action::AwaitChange);
        };
        let probe = spec.probe.unwrap_or_default();
        let every = Action::Requeue(probe.interval.as_std());
        let (prober, moved) = self.track(&object.key(), &desired);
        if let Some(old) = moved {
            if let Err(e) = unmount_if_mounted(&old, Unmount::Clean).await {
                warn!(path = %old.path.display(), error = %e, "the mount's old path stays mounted");
            }
        }
        let followed = spec.follow_virtual_ip.as_deref();
        let vip = followed.and_then(|name| ctx.status_of::<VirtualIpStatus>(name));
        let state = vip.as_ref().and_then(VirtualIpStatus::state);
        let wanted = placement(
            spec.on,
            state,
            vip.is_some_and(|vip| vip.preparing_takeover),
        );
        if wanted == Wanted::Unmounted {
            self.stand_by(ctx, &object, &desired, state).await?;
            return Ok(every);
        }
        let timeout = probe.timeout.as_std();
        let look = || look(ctx, &object, &desired, &prober, timeout);
        let (seen, verdict) = look().await?;
        match self.act(ctx, &object, &desired, &verdict, &seen).await {
            Ok(false) => {}
            Ok(true) => {
                look().await?;
            }
            Err(e) => {
                // Retried with backoff by the runtime.
                let seen = observe(&desired, &prober, timeout).await?;
                let message = format!("{}: {e}", verdict.reason());
                ctx.report(
                    &object,
                    details(&seen, Wanted::Mounted),
                    (
                        ConditionStatus::False,
                        ReplicationReason::MountFailed,
                        message,
                    ),
                )?;
                return Err(e);
            }
        }
        Ok(every)
    }

    async fn cleanup(&self, key: &ObjectKey, _ctx: &Context) -> Result<(), ReconcileError> {
        // A Replication deleted while the agent was down is not known
        // here; its mount stays until unmounted by hand.
        let Some(tracked) = self.tracked.remove(key) else {
            return Ok(());
        };
        let desired = tracked.desired;
        if let Err(e) = unmount_if_mounted(&desired, Unmount::Clean).await {
            warn!(path = %desired.path.display(), error = %e, "busy: detaching it lazily");
            unmount_if_mounted(&desired, Unmount::Detach).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn desired() -> DesiredMount {
        DesiredMount {
            path: PathBuf::from("/srv/data"),
            fs_type: "fuse.sshfs".into(),
            source: "root@10.77.0.3:/export".into(),
            options: vec!["ro".into(), "ServerAliveInterval=1".into()],
            credentials_file: None,
        }
    }

    fn seen(fs_type: &str, mount_options: &str, probe: Option<ProbeResult>) -> Observation {
        let entry = MountEntry {
            mount_point: PathBuf::from("/srv/data"),
            fs_type: fs_type.into(),
            source: "root@10.77.0.3:/export".into(),
            mount_options: mount_options.split(',').map(str::to_string).collect(),
            super_options: vec!["rw".into(), "user_id=0".into()],
        };
        let comparison = Some(options::compare(&desired().options, &entry));
        Observation {
            entry: Some(entry),
            comparison,
            probe,
        }
    }

    #[test]
    fn ready_only_with_the_declared_source_type_options_and_a_live_server() {
        let d = desired();
        let ok = seen("fuse.sshfs", "ro,nosuid,nodev", Some(ProbeResult::Healthy));
        assert_eq!(judge(&d, &ok), Verdict::Healthy);
        assert_eq!(
            condition(&d, &ok, &Verdict::Healthy).0,
            ConditionStatus::True
        );

        let missing = Observation {
            entry: None,
            comparison: None,
            probe: None,
        };
        assert_eq!(judge(&d, &missing), Verdict::Missing);
        assert_eq!(judge(&d, &seen("tmpfs", "ro", None)), Verdict::Other);
        let hung = seen(
            "fuse.sshfs",
            "ro",
            Some(ProbeResult::Hung(Duration::from_secs(2))),
        );
        assert_eq!(judge(&d, &hung), Verdict::Stale);
        let (status, reason, message) = condition(&d, &hung, &Verdict::Stale);
        assert_eq!(
            (status, reason),
            (ConditionStatus::False, ReplicationReason::MountStale)
        );
        assert_eq!(message, "probe of /srv/data: hung: no answer for 2.0s");
        let writable = seen("fuse.sshfs", "rw,nosuid", Some(ProbeResult::Healthy));
        assert_eq!(judge(&d, &writable), Verdict::OptionsDiffer);
        assert_eq!(
            condition(&d, &writable, &Verdict::OptionsDiffer).2,
            "/srv/data: ro declared, rw mounted"
        );
    }

    #[test]
    fn details_show_what_the_kernel_shows_and_what_it_cannot() {
        let ok = seen("fuse.sshfs", "ro,nosuid", Some(ProbeResult::Healthy));
        let mut status = ReplicationStatus::default();
        details(&ok, Wanted::Mounted)(&mut status);
        assert_eq!(status.desired, Some(Wanted::Mounted));
        let mount = status.mount.as_ref().unwrap();
        assert_eq!(mount.source, "root@10.77.0.3:/export");
        assert_eq!(mount.fs_type, "fuse.sshfs");
        assert_eq!(mount.options, ["ro", "nosuid"]);
        assert_eq!(mount.options_not_shown, ["ServerAliveInterval=1"]);
        assert_eq!(status.last_probe.as_ref().unwrap().result, "ok");
        // A look that probed nothing keeps the last probe.
        let unprobed = Observation { probe: None, ..ok };
        details(&unprobed, Wanted::Unmounted)(&mut status);
        assert_eq!(status.desired, Some(Wanted::Unmounted));
        assert_eq!(status.last_probe.unwrap().result, "ok");
    }

    #[test]
    fn a_moved_path_gets_a_fresh_prober_and_names_the_old_path() {
        let reconciler = MountReconciler::new();
        let key = ObjectKey::new(Kind::Replication, "nas");
        let (first, moved) = reconciler.track(&key, &desired());
        assert!(moved.is_none());
        let (same, moved) = reconciler.track(&key, &desired());
        assert!(Arc::ptr_eq(&first, &same) && moved.is_none());
        let elsewhere = DesiredMount {
            path: "/srv/other".into(),
            ..desired()
        };
        let (fresh, moved) = reconciler.track(&key, &elsewhere);
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert_eq!(moved.unwrap().path, Path::new("/srv/data"));
        assert!(reconciler.first_remount_for(&key, 3));
        assert!(!reconciler.first_remount_for(&key, 3));
        assert!(reconciler.first_remount_for(&key, 4));
    }
}
