//! The images a Service's stack needs on this node, pulled as its
//! services' `pull_policy` says, on every node of its placement (a standby
//! too), so a failover never waits for a registry and works while the
//! registry is down.
//!
//! Each distinct image is pulled once at a time however many services or
//! Services use it, all of a stack's images in parallel, in tasks of their
//! own: a reconcile that needs no container (a standby) does not wait for
//! its pulls, so a takeover arriving meanwhile is not held up by one; one
//! that creates containers waits only for the images not on the node yet.
//!
//! `always` pulls again when the stack (re)starts here, when the agent
//! starts, and otherwise at most every [`ALWAYS_REFRESH`]; never at every
//! reconcile. With the image already on the node nothing waits for those
//! pulls, and a failed one only warns: the local copy serves. One that
//! brings a newer image wakes the Service, whose pass then recreates the
//! containers of the older one (the engine compares image ids, as Compose
//! v2's `up` does, whatever moved the tag).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{join_all, BoxFuture, FutureExt, Shared};
use hareconcile_model::ObjectKey;
use hareconcile_runtime::{EventType, Store};
use tokio::sync::mpsc;

use crate::engine::{Engine, EngineError};
use crate::file::{Project, PullPolicy};

/// How often `always` pulls an image again while the stack neither
/// restarts nor changes: once an hour keeps a registry's anonymous rate
/// limits (Docker Hub: a few pulls an hour per address) out of reach with
/// several images on several nodes.
pub const ALWAYS_REFRESH: Duration = Duration::from_secs(3600);

/// How long a failed pull of a missing image is reported before it is
/// tried again (a reconcile comes every few seconds).
const RETRY_FAILED: Duration = Duration::from_secs(30);

/// A pull in progress, awaited by whoever needs its image: its error as text.
type InFlight = Shared<BoxFuture<'static, Result<(), String>>>;

#[derive(Default)]
struct State {
    in_flight: HashMap<String, InFlight>,
    /// When each image's last pull here ended, and its error if it failed.
    last: HashMap<String, (Instant, Option<String>)>,
}

/// Who asked for pulls and how to tell them: events go on `service`, and
/// `wake` reconciles it when a pull it did not wait for ends.
pub struct Requester<'a> {
    pub service: &'a ObjectKey,
    pub store: &'a Store,
    pub wake: &'a mpsc::UnboundedSender<ObjectKey>,
}

/// What this pass needs of the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Containers are to be created: wait for the images not here yet.
    pub containers: bool,
    /// The stack (re)starts here in this pass: `always` pulls again.
    pub starting: bool,
}

#[derive(Clone, Default)]
pub struct Images {
    state: Arc<Mutex<State>>,
}

/// Each image of the project, with the policy that pulls the most among
/// the services using it and those services' names.
fn images_of(project: &Project) -> BTreeMap<&str, (PullPolicy, Vec<&str>)> {
    let mut images: BTreeMap<&str, (PullPolicy, Vec<&str>)> = BTreeMap::new();
    for (name, service) in &project.services {
        let entry = images
            .entry(service.image.as_str())
            .or_insert((PullPolicy::Never, Vec::new()));
        entry.0 = match (entry.0, service.pull_policy) {
            (PullPolicy::Always, _) | (_, PullPolicy::Always) => PullPolicy::Always,
            (PullPolicy::Missing, _) | (_, PullPolicy::Missing) => PullPolicy::Missing,
            _ => PullPolicy::Never,
        };
        entry.1.push(name);
    }
    images
}

impl Images {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pulls what the project's policies ask for on this node; waits as
    /// `need` says. The first image that is not here and cannot be (pulled,
    /// or allowed to be) is the error.
    pub async fn ensure(
        &self,
        engine: &Engine,
        project: &Project,
        need: Need,
        by: &Requester<'_>,
    ) -> Result<(), EngineError> {
        let checks = images_of(project)
            .into_iter()
            .map(|(image, (policy, services))| async move {
                let present = engine.image_id(image).await?.is_some();
                match policy {
                    _ if present && !self.refresh_due(image, policy, need.starting) => Ok(()),
                    PullPolicy::Never => Err(EngineError::NeverPulled {
                        image: image.to_string(),
                        services: services.join(", "),
                    }),
                    // An `always` refresh of an image that is here: nobody waits.
                    _ if present => {
                        drop(self.pull(engine, image, by));
                        Ok(())
                    }
                    _ => self.fetch_missing(engine, image, need, by).await,
                }
            });
        join_all(checks)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(drop)
    }

    fn refresh_due(&self, image: &str, policy: PullPolicy, starting: bool) -> bool {
        if policy != PullPolicy::Always {
            return false;
        }
        let state = self.state();
        if state.in_flight.contains_key(image) {
            return false;
        }
        match state.last.get(image) {
            // Not pulled since the agent started: the stack (re)starts.
            None => true,
            Some((at, _)) => starting || at.elapsed() >= ALWAYS_REFRESH,
        }
    }

    /// An image that is not here: pulled (unless it failed a moment ago)
    /// and waited for when containers need it; otherwise the last failure
    /// stands until a pull succeeds.
    async fn fetch_missing(
        &self,
        engine: &Engine,
        image: &str,
        need: Need,
        by: &Requester<'_>,
    ) -> Result<(), EngineError> {
        let failed = |message: String| EngineError::Pull {
            image: image.to_string(),
            message,
        };
        let recent_failure = {
            let state = self.state();
            match state.last.get(image) {
                Some((at, Some(error)))
                    if at.elapsed() < RETRY_FAILED && !state.in_flight.contains_key(image) =>
                {
                    Some(error.clone())
                }
                _ => None,
            }
        };
        if let Some(error) = recent_failure {
            return Err(failed(error));
        }
        let pull = self.pull(engine, image, by);
        if need.containers {
            return pull.await.map_err(failed);
        }
        let last_error = self
            .state()
            .last
            .get(image)
            .and_then(|(_, error)| error.clone());
        last_error.map_or(Ok(()), |error| Err(failed(error)))
    }

    /// The pull of `image` in progress, started if none is. It runs in a
    /// task of its own, so it ends (and is recorded) whoever waits for it.
    fn pull(&self, engine: &Engine, image: &str, by: &Requester<'_>) -> InFlight {
        let mut state = self.state();
        if let Some(pull) = state.in_flight.get(image) {
            return pull.clone();
        }
        by.store.record_event(
            by.service,
            EventType::Normal,
            "PullingImage",
            &format!("pulling image {image}"),
        );
        let task = {
            let (engine, image, images) = (engine.clone(), image.to_string(), self.clone());
            let (service, store, wake) = (by.service.clone(), by.store.clone(), by.wake.clone());
            tokio::spawn(async move {
                let outcome = engine.pull(&image).await;
                let (kind, reason, message) = match &outcome {
                    Ok(pulled) => (
                        EventType::Normal,
                        "PulledImage",
                        format!("pulled image {image}: {pulled}"),
                    ),
                    Err(e) => (EventType::Warning, "PullFailed", e.to_string()),
                };
                store.record_event(&service, kind, reason, &message);
                let error = outcome.err().map(|e| match e {
                    EngineError::Pull { message, .. } => message,
                    other => other.to_string(),
                });
                {
                    let mut state = images.state();
                    state.in_flight.remove(&image);
                    state.last.insert(image, (Instant::now(), error.clone()));
                }
                // Whoever did not wait learns the outcome at once.
                let _ = wake.send(service);
                error.map_or(Ok(()), Err)
            })
        };
        let pull = async move {
            task.await
                .unwrap_or_else(|e| Err(format!("the pull task ended: {e}")))
        }
        .boxed()
        .shared();
        state.in_flight.insert(image.to_string(), pull.clone());
        pull
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::load_text;

    #[test]
    fn each_image_once_with_the_policy_that_pulls_most() {
        let project = load_text(
            "services:\n  web: {image: bb, pull_policy: never}\n  worker: {image: bb, pull_policy: always}\n  idle: {image: bb}\n  db: {image: pg, pull_policy: never}\n  cache: {image: redis}\n",
        )
        .unwrap();
        let images = images_of(&project);
        assert_eq!(
            images,
            BTreeMap::from([
                ("bb", (PullPolicy::Always, vec!["idle", "web", "worker"])),
                ("pg", (PullPolicy::Never, vec!["db"])),
                ("redis", (PullPolicy::Missing, vec!["cache"])),
            ])
        );
    }

    #[test]
    fn always_refreshes_at_a_start_and_hourly_never_at_every_pass() {
        let images = Images::default();
        assert!(images.refresh_due("bb", PullPolicy::Always, false));
        assert!(!images.refresh_due("bb", PullPolicy::Missing, true));
        let just_now = Instant::now();
        images.state().last.insert("bb".into(), (just_now, None));
        assert!(!images.refresh_due("bb", PullPolicy::Always, false));
        assert!(images.refresh_due("bb", PullPolicy::Always, true));
        if let Some(long_ago) = just_now.checked_sub(ALWAYS_REFRESH) {
            images.state().last.insert("bb".into(), (long_ago, None));
            assert!(images.refresh_due("bb", PullPolicy::Always, false));
        }
    }
}
