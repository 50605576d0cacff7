//! Status written by controllers, with conditions per the Kubernetes API
//! conventions: `Ready` is the summary condition every kind carries.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// CamelCase machine-readable cause, e.g. `Master`, `NodeNotInCluster`.
    pub reason: String,
    /// Human-readable detail: what is wrong and what to do.
    #[serde(default)]
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_transition_time: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Kind-specific observations (VRRP state, containers, lag...), owned by
    /// the controller that writes them.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Status {
    pub fn is_empty(&self) -> bool {
        self.observed_generation.is_none() && self.conditions.is_empty() && self.details.is_empty()
    }

    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn is_ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Sets a condition, keeping `lastTransitionTime` unless the status
    /// actually changes, as the API conventions require.
    pub fn set_condition(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        observed_generation: u64,
    ) {
        let message = message.into();
        let now = OffsetDateTime::now_utc();
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now;
                }
                c.status = status;
                c.reason = reason.to_string();
                c.message = message;
                c.observed_generation = Some(observed_generation);
            }
            None => self.conditions.push(Condition {
                type_: type_.to_string(),
                status,
                reason: reason.to_string(),
                message,
                last_transition_time: now,
                observed_generation: Some(observed_generation),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut s = Status::default();
        s.set_condition("Ready", ConditionStatus::False, "Pending", "", 1);
        let first = s.condition("Ready").unwrap().last_transition_time;
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.set_condition("Ready", ConditionStatus::False, "StillPending", "", 2);
        assert_eq!(s.condition("Ready").unwrap().last_transition_time, first);
        s.set_condition("Ready", ConditionStatus::True, "Done", "", 2);
        assert!(s.condition("Ready").unwrap().last_transition_time > first);
        assert!(s.is_ready());
    }
}
