//! Kubernetes-style events: what happened to an object, deduplicated so a
//! flapping condition shows one line with a count rather than a flood.

use std::collections::VecDeque;
use std::sync::Mutex;

use hareconcile_model::ObjectKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::broadcast;

/// Events kept in memory per agent; they are observations, not state.
const EVENTS_KEPT: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub object: ObjectKey,
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: String,
    pub message: String,
    pub count: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub first_timestamp: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_timestamp: OffsetDateTime,
    /// The node whose agent observed it.
    pub node: String,
}

pub(crate) struct EventLog {
    node: String,
    events: Mutex<VecDeque<Event>>,
    /// Every recorded event (repeats included) for live subscribers such
    /// as a webhook; a subscriber that lags loses events, never blocks.
    live: broadcast::Sender<Event>,
}

/// Events a slow subscriber may fall behind before it loses some.
const LIVE_BUFFER: usize = 256;

impl EventLog {
    pub(crate) fn new(node: String) -> Self {
        EventLog {
            node,
            events: Mutex::new(VecDeque::new()),
            live: broadcast::Sender::new(LIVE_BUFFER),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    pub(crate) fn record(&self, object: &ObjectKey, type_: EventType, reason: &str, message: &str) {
        let now = OffsetDateTime::now_utc();
        let mut events = self.events.lock().expect("event log lock");
        let repeat = events.iter().position(|e| {
            e.object == *object && e.type_ == type_ && e.reason == reason && e.message == message
        });
        if let Some(i) = repeat {
            let mut event = events.remove(i).expect("position is in range");
            event.count += 1;
            event.last_timestamp = now;
            let _ = self.live.send(event.clone());
            events.push_back(event);
            return;
        }
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        let event = Event {
            object: object.clone(),
            type_,
            reason: reason.to_string(),
            message: message.to_string(),
            count: 1,
            first_timestamp: now,
            last_timestamp: now,
            node: self.node.clone(),
        };
        let _ = self.live.send(event.clone());
        events.push_back(event);
    }

    /// Oldest first, optionally for one object only.
    pub(crate) fn list(&self, object: Option<&ObjectKey>) -> Vec<Event> {
        let events = self.events.lock().expect("event log lock");
        events
            .iter()
            .filter(|e| object.is_none_or(|o| e.object == *o))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_model::Kind;

    #[test]
    fn repeated_events_are_counted_not_duplicated() {
        let log = EventLog::new("n1".into());
        let key = ObjectKey::new(Kind::VirtualIP, "web");
        log.record(&key, EventType::Normal, "BecameMaster", "won election");
        log.record(&key, EventType::Warning, "VipRemoved", "restored");
        log.record(&key, EventType::Normal, "BecameMaster", "won election");
        let events = log.list(Some(&key));
        assert_eq!(events.len(), 2);
        let mut live = log.subscribe();
        log.record(&key, EventType::Normal, "BecameBackup", "lower priority");
        assert_eq!(live.try_recv().unwrap().reason, "BecameBackup");
        assert_eq!(events[1].reason, "BecameMaster");
        assert_eq!(events[1].count, 2);
    }
}
