//! The task that follows a VirtualIP's instances: writes its status on
//! every change they report (and every few seconds for the counters), and
//! records an event for each state entered, repair made, refused
//! maintenance and held takeover.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hareconcile_model::status::VirtualIpReason;
use hareconcile_model::ObjectKey;
use hareconcile_runtime::{EventType, Store};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::warn;

use super::status::{
    force_backup_refused, preparing_takeover, refused_message, waiting_for, write_status,
};
use crate::core::State;
use crate::io::accept_filter::AcceptFilter;
use crate::io::shell::Observed;

/// Status is written on every state change; `lastAdvert` and the counters
/// move on every advert, so the reporter refreshes them this often instead
/// (not the reconcile, which reads the host's addresses each time).
const STATUS_REFRESH: Duration = Duration::from_secs(5);

/// Writes status on every change an instance reports, and records an
/// event for each state it enters.
pub(super) async fn report(
    store: Store,
    key: ObjectKey,
    generation: Arc<AtomicU64>,
    mut observed: Vec<watch::Receiver<Observed>>,
    filter: Option<AcceptFilter>,
) {
    let mut last_states: Vec<State> = observed.iter().map(|o| o.borrow().state).collect();
    let mut last_preparing = false;
    let mut last_refused = false;
    let mut last_repairs: Vec<u64> = observed.iter().map(|o| o.borrow().repairs).collect();
    let mut refresh = tokio::time::interval_at(Instant::now() + STATUS_REFRESH, STATUS_REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let changes = observed.iter_mut().map(|o| Box::pin(o.changed()));
        tokio::select! {
            changed = futures_util::future::select_all(changes) => {
                if changed.0.is_err() {
                    return;
                }
            }
            _ = refresh.tick() => {}
        }
        let snapshot: Vec<Observed> = observed
            .iter_mut()
            .map(|o| o.borrow_and_update().clone())
            .collect();
        for (last, now) in last_states.iter_mut().zip(&snapshot) {
            if *last != now.state {
                record_transition(&store, &key, now);
                *last = now.state;
            }
        }
        for (last, now) in last_repairs.iter_mut().zip(&snapshot) {
            if let (true, Some(repair)) = (now.repairs > *last, &now.last_repair) {
                store.record_event(&key, EventType::Warning, repair.reason, &repair.message);
            }
            *last = now.repairs;
        }
        let refused = force_backup_refused(&snapshot);
        if refused && !last_refused {
            let message = refused_message(&key.name);
            store.record_event(
                &key,
                EventType::Warning,
                VirtualIpReason::OwnerCannotBeBackup.as_str(),
                &message,
            );
        }
        last_refused = refused;
        let preparing = preparing_takeover(&snapshot);
        if preparing != last_preparing {
            record_takeover_hold(&store, &key, preparing, &snapshot);
            last_preparing = preparing;
        }
        let generation = generation.load(Ordering::Relaxed);
        let unenforced = filter.as_ref().and_then(AcceptFilter::unenforced);
        if let Err(error) = write_status(&store, &key, generation, &snapshot, unenforced) {
            warn!(object = %key, %error, "writing VirtualIP status failed");
        }
    }
}

fn record_transition(store: &Store, key: &ObjectKey, observed: &Observed) {
    let (type_, reason, message) = match observed.state {
        State::Master => (
            EventType::Normal,
            "BecameMaster",
            "this node holds the virtual addresses".to_string(),
        ),
        State::Backup => (
            EventType::Normal,
            "BecameBackup",
            match observed.master {
                Some(master) => format!("following master {master}"),
                None => "waiting for a master's advert".to_string(),
            },
        ),
        State::Fault => (
            EventType::Warning,
            "EnteredFault",
            observed.fault.clone().unwrap_or_default(),
        ),
        State::Initialize => (EventType::Normal, "Stopped", "instance stopped".to_string()),
    };
    store.record_event(key, type_, reason, &message);
}

fn record_takeover_hold(store: &Store, key: &ObjectKey, holding: bool, observed: &[Observed]) {
    if holding {
        let master = observed
            .iter()
            .find_map(|o| o.master)
            .map_or_else(String::new, |m| format!(" ({m})"));
        let message = format!(
            "a lower-priority master{master} is live: the Services following this VirtualIP start here before it is taken over (preparingTakeover); {}",
            waiting_for(observed)
        );
        store.record_event(key, EventType::Normal, "HoldingPreemption", &message);
    } else if observed.iter().any(|o| o.state == State::Master) {
        store.record_event(
            key,
            EventType::Normal,
            "PreemptingAfterServicesReady",
            "the Services following this VirtualIP are ready here: taking the virtual addresses over",
        );
    } else {
        store.record_event(
            key,
            EventType::Normal,
            "PreemptionHoldEnded",
            "no longer preparing a takeover (the master changed, or preemption no longer applies)",
        );
    }
}
