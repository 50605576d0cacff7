//! The VirtualIP's status from what its instances observe: the typed
//! [`VirtualIpStatus`] every other controller and the CLI read, and the
//! Ready condition.

use hareconcile_model::status::{
    AdvertCounters, VirtualIpReason, VirtualMacSeen, VrrpInstanceStatus, VrrpState,
};
use hareconcile_model::{
    ConditionStatus, Drift, ObjectKey, Status, VirtualIpStatus, OWNER_NEVER_BACKUP,
};
use hareconcile_runtime::{Readiness, Store, StoreError};
use time::OffsetDateTime;

use super::NotRunning;
use crate::core::tracking::{describe_awaited, Awaited};
use crate::core::State;
use crate::io::accept_filter::TABLE;
use crate::io::shell::{Counters, Observed};
use crate::io::vmac;

/// Whether any instance holds its preemption for the followers.
pub(super) fn preparing_takeover(observed: &[Observed]) -> bool {
    observed.iter().any(|o| o.preparing_takeover)
}

/// The Services a held preemption waits for, as the instances report them.
fn awaited(observed: &[Observed]) -> &[Awaited] {
    observed
        .iter()
        .find(|o| o.preparing_takeover)
        .map_or(&[], |o| o.awaited.as_slice())
}

/// `waiting for shop (its stack is not started here yet)`.
pub(super) fn waiting_for(observed: &[Observed]) -> String {
    match awaited(observed) {
        [] => "waiting for the Services following this VirtualIP to be Ready here".to_string(),
        awaited => format!("waiting for {}", describe_awaited(awaited)),
    }
}

/// Whether the address owner was asked to be a backup, and refused.
pub(super) fn force_backup_refused(observed: &[Observed]) -> bool {
    observed.iter().any(|o| o.force_backup_refused)
}

pub(super) fn refused_message(vip: &str) -> String {
    format!(
        "spec.control.forceBackup of VirtualIP {vip} lists this node, the owner of its address (priority 255), and {OWNER_NEVER_BACKUP}: maintenance refused, this node stays a candidate and keeps the address"
    )
}

fn vrrp_state(state: State) -> VrrpState {
    match state {
        State::Initialize => VrrpState::Initialize,
        State::Backup => VrrpState::Backup,
        State::Master => VrrpState::Master,
        State::Fault => VrrpState::Fault,
    }
}

fn advert_counters(counters: &Counters) -> AdvertCounters {
    AdvertCounters {
        adverts_sent: counters.adverts_sent,
        adverts_received: counters.adverts_received,
        dropped: counters
            .dropped
            .iter()
            .map(|(reason, count)| (reason.as_str().to_string(), *count))
            .collect(),
    }
}

fn instance_status(observed: &Observed) -> VrrpInstanceStatus {
    VrrpInstanceStatus {
        instance: Some(observed.instance.clone()),
        state: Some(vrrp_state(observed.state)),
        effective_priority: Some(observed.effective_priority),
        master: observed.master,
        transitions: Some(observed.transitions),
        last_advert: observed.last_advert.map(OffsetDateTime::from),
        dropped_adverts: Some(observed.counters.dropped_total()),
        counters: Some(advert_counters(&observed.counters)),
        virtual_mac: observed.virtual_mac.as_ref().map(|vmac| VirtualMacSeen {
            interface: vmac.interface.clone(),
            mac: vmac::format_mac(vmac.mac),
        }),
    }
}

/// The Ready verdict over every family's instance.
fn readiness(observed: &[Observed]) -> Readiness<VirtualIpReason> {
    let failing = |o: &&Observed| o.state == State::Fault && o.standby_for.is_none();
    if let Some(fault) = observed.iter().find(failing) {
        let why = fault
            .fault
            .clone()
            .unwrap_or_else(|| "tracking failed".into());
        return (ConditionStatus::False, VirtualIpReason::Fault, why);
    }
    if observed.iter().any(|o| o.state == State::Initialize) {
        return (
            ConditionStatus::False,
            VirtualIpReason::Initialize,
            "the VRRP instance is starting".into(),
        );
    }
    if observed.iter().any(|o| o.state == State::Master) {
        return (
            ConditionStatus::True,
            VirtualIpReason::Master,
            "this node holds the virtual addresses".into(),
        );
    }
    if let Some(holder) = observed.iter().find_map(|o| o.standby_for.as_ref()) {
        return (
            ConditionStatus::True,
            VirtualIpReason::Backup,
            format!(
                "standing by: fenced, and {holder} holds the writer lock (it is master, or will be)"
            ),
        );
    }
    let master = observed.iter().find_map(|o| o.master).map_or_else(
        || "no master heard yet".to_string(),
        |m| format!("master is {m}"),
    );
    if preparing_takeover(observed) {
        // Held for as long as a follower is not Ready here, however long:
        // the master keeps serving meanwhile (make-before-break).
        return (
            ConditionStatus::True,
            VirtualIpReason::PreparingTakeover,
            format!(
                "{master}, of lower priority: it keeps the virtual addresses until the Services following this VirtualIP run Ready here; {}",
                waiting_for(observed)
            ),
        );
    }
    (ConditionStatus::True, VirtualIpReason::Backup, master)
}

pub(super) fn write_status(
    store: &Store,
    key: &ObjectKey,
    generation: u64,
    observed: &[Observed],
    unenforced: Option<String>,
) -> Result<(), StoreError> {
    store.update_status(key, |s: &mut Status| {
        fill_status(s, &key.name, generation, observed, unenforced.as_deref())
    })?;
    Ok(())
}

/// The status of VirtualIP `vip` from what its instances observe, and why
/// its accept-mode table may not be enforced.
fn fill_status(
    s: &mut Status,
    vip: &str,
    generation: u64,
    observed: &[Observed],
    unenforced: Option<&str>,
) {
    let (status, reason, message) = readiness(observed);
    s.observed_generation = Some(generation);
    let mut drift = Vec::new();
    if force_backup_refused(observed) {
        drift.push(Drift {
            reason: VirtualIpReason::OwnerCannotBeBackup.to_string(),
            message: refused_message(vip),
            fix: Some("won't fix: remove this node from spec.control.forceBackup (`hareconcile vip restore` where it was set by hand)".into()),
        });
    }
    if let Some(why) = unenforced {
        drift.push(Drift {
            reason: VirtualIpReason::AcceptFilterNotEnforced.to_string(),
            message: format!("traffic to the addresses may not be dropped as accept: false asks: {why}"),
            fix: Some(format!("the agent checks the nftables table inet {TABLE} and puts it back at every resync; if this stays, fix what nft says")),
        });
    }
    let details = VirtualIpStatus {
        instance: observed.first().map(instance_status).unwrap_or_default(),
        // What the Service controller reads to start the stack before
        // this node takes the VIP over (make-before-break).
        preparing_takeover: preparing_takeover(observed),
        waiting_for: awaited(observed)
            .iter()
            .map(|a| a.service.clone())
            .collect(),
        drift,
        instances: match observed {
            [_, _, ..] => observed.iter().map(instance_status).collect(),
            _ => Vec::new(),
        },
    };
    s.set_details(&details);
    s.set_condition("Ready", status, reason.as_str(), message, generation);
}

pub(super) fn write_not_running(
    store: &Store,
    key: &ObjectKey,
    generation: u64,
    not_running: &NotRunning,
) -> Result<(), StoreError> {
    let updated = store.update_status(key, |s| {
        s.observed_generation = Some(generation);
        let state = match not_running.reason {
            VirtualIpReason::Fault => VrrpState::Fault,
            _ => VrrpState::Initialize,
        };
        let mut details = VirtualIpStatus::default();
        details.instance.state = Some(state);
        s.set_details(&details);
        s.set_condition(
            "Ready",
            ConditionStatus::False,
            not_running.reason.as_str(),
            not_running.message.clone(),
            generation,
        );
    });
    match updated {
        Err(StoreError::NotFound(_)) => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(state: State, master: Option<&str>) -> Observed {
        Observed {
            master: master.map(|m| m.parse().unwrap()),
            transitions: 1,
            fault: (state == State::Fault).then(|| "tracked interface eth0 down".to_string()),
            ..Observed::new("web/ipv4", state, 100)
        }
    }

    #[test]
    fn ready_says_master_backup_or_why_not() {
        let master = observed(State::Master, Some("10.77.0.1"));
        let backup = observed(State::Backup, Some("10.77.0.1"));
        let fault = observed(State::Fault, None);
        assert_eq!(
            readiness(std::slice::from_ref(&master)).1,
            VirtualIpReason::Master
        );
        let (status, reason, message) = readiness(&[backup]);
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, VirtualIpReason::Backup)
        );
        assert!(message.contains("10.77.0.1"), "{message}");
        let (status, reason, message) = readiness(&[master, fault]);
        assert_eq!(
            (status, reason),
            (ConditionStatus::False, VirtualIpReason::Fault)
        );
        assert!(message.contains("eth0 down"), "{message}");
        // Fenced, with the lock on the master: a standby, not a failure.
        let mut standby = observed(State::Fault, None);
        standby.fault = Some("quorum: writer lock failing: held by n1".into());
        standby.standby_for = Some("n1".into());
        let (status, reason, message) = readiness(&[standby.clone()]);
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, VirtualIpReason::Backup)
        );
        assert!(message.contains("n1 holds the writer lock"), "{message}");
        let down = observed(State::Fault, None);
        assert_eq!(readiness(&[standby, down]).1, VirtualIpReason::Fault);
    }

    #[test]
    fn an_instance_reports_what_it_observes() {
        let details = instance_status(&observed(State::Backup, Some("10.77.0.1")));
        assert_eq!(details.state, Some(VrrpState::Backup));
        assert_eq!(details.effective_priority, Some(100));
        assert_eq!(details.master, Some("10.77.0.1".parse().unwrap()));
        assert_eq!(details.transitions, Some(1));
        assert_eq!(details.last_advert, None);
        assert_eq!(details.instance.as_deref(), Some("web/ipv4"));
        assert_eq!(details.virtual_mac, None);
        let mut with_vmac = observed(State::Master, Some("10.77.0.1"));
        with_vmac.virtual_mac = Some(crate::io::shell::VirtualMac {
            interface: "vrrp.51".into(),
            mac: vmac::virtual_mac(51, true),
        });
        assert_eq!(
            instance_status(&with_vmac).virtual_mac,
            Some(VirtualMacSeen {
                interface: "vrrp.51".into(),
                mac: "00:00:5e:00:01:33".into()
            })
        );
    }

    #[test]
    fn a_held_preemption_names_the_services_it_waits_for() {
        let mut held = observed(State::Backup, Some("10.77.0.2"));
        held.preparing_takeover = true;
        held.awaited = vec![Awaited {
            service: "shop".into(),
            why: "Ready is False (EngineError): cannot reach Docker".into(),
        }];
        let (status, reason, message) = readiness(std::slice::from_ref(&held));
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, VirtualIpReason::PreparingTakeover)
        );
        assert_eq!(
            message,
            "master is 10.77.0.2, of lower priority: it keeps the virtual addresses until the Services following this VirtualIP run Ready here; waiting for shop (Ready is False (EngineError): cannot reach Docker)"
        );
        let mut status = Status::default();
        fill_status(&mut status, "web", 2, std::slice::from_ref(&held), None);
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.preparing_takeover);
        assert_eq!(details.waiting_for, ["shop"]);
        assert_eq!(
            status.condition("Ready").unwrap().reason,
            VirtualIpReason::PreparingTakeover.as_str()
        );

        held.preparing_takeover = false;
        held.awaited.clear();
        fill_status(&mut status, "web", 2, &[held], None);
        assert_eq!(
            status.condition("Ready").unwrap().reason,
            VirtualIpReason::Backup.as_str()
        );
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.waiting_for.is_empty());
    }

    #[test]
    fn a_refused_maintenance_of_the_owner_is_drift_until_removed() {
        let mut status = Status::default();
        let mut owner = observed(State::Master, Some("10.77.0.1"));
        owner.force_backup_refused = true;
        fill_status(&mut status, "router", 3, std::slice::from_ref(&owner), None);
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.has_drift(VirtualIpReason::OwnerCannotBeBackup));
        let drift = &details.drift[0];
        let message = &drift.message;
        assert!(
            message.contains("VirtualIP router")
                && message.contains("the address owner cannot be a backup (RFC 5798)"),
            "{message}"
        );
        assert!(drift.fix.as_ref().unwrap().contains("forceBackup"));
        assert!(status.is_ready(), "the owner serves on");
        owner.force_backup_refused = false;
        fill_status(&mut status, "router", 4, &[owner], None);
        assert!(no_drift(&status));
    }

    fn no_drift(status: &Status) -> bool {
        let details: VirtualIpStatus = status.details_as().unwrap();
        details.drift.is_empty()
    }

    #[test]
    fn an_accept_mode_table_that_cannot_be_put_back_is_drift() {
        let mut status = Status::default();
        let master = observed(State::Master, Some("10.77.0.1"));
        let why = "nft refused the table hareconcile_vrrp for the VIPs that do not accept traffic: Error: Could not process rule";
        fill_status(
            &mut status,
            "web",
            1,
            std::slice::from_ref(&master),
            Some(why),
        );
        let details: VirtualIpStatus = status.details_as().unwrap();
        assert!(details.has_drift(VirtualIpReason::AcceptFilterNotEnforced));
        assert!(details.drift[0].message.ends_with(why), "{details:?}");
        fill_status(&mut status, "web", 1, &[master], None);
        assert!(no_drift(&status));
    }

    #[test]
    fn counters_are_reported_by_reason() {
        use crate::core::DropReason;
        let mut backup = observed(State::Backup, Some("10.77.0.1"));
        backup.counters.adverts_received = 7;
        backup.counters.dropped.insert(DropReason::Auth, 3);
        backup.counters.dropped.insert(DropReason::Ttl, 1);
        let details = instance_status(&backup);
        assert_eq!(details.dropped_adverts, Some(4));
        let counters = details.counters.unwrap();
        assert_eq!((counters.adverts_sent, counters.adverts_received), (0, 7));
        assert_eq!(
            counters.dropped,
            [("auth".to_string(), 3), ("ttl".to_string(), 1)].into()
        );
    }
}
