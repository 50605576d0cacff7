//! This node's side of exclusive stacks (`handover: break-before-make`):
//! what it says of one when its Service controller or another node asks,
//! from its VRRP instances, its claims and the store, at that moment (see
//! [`hareconcile_compose::exclusive`] for why that is enough). Here, in the
//! leaf, because the agent wires it up and the peer API answers with it.

use hareconcile_compose::exclusive::{Claim, Claims, StackReport};
use hareconcile_model::{Kind, ObjectKey, ServiceStatus};
use hareconcile_runtime::Store;
use hareconcile_vrrp::VrrpStates;
use serde::{Deserialize, Serialize};

/// Which exclusive stack another node asks about: Service `service`,
/// following VirtualIP `vip`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackQuestion {
    pub service: String,
    pub vip: String,
}

/// This node's side of exclusive stacks, shared by its Service controller
/// (its own rounds) and its peer API (its answers).
#[derive(Clone)]
pub struct LocalStacks {
    pub claims: Claims,
    pub vrrp: VrrpStates,
    pub store: Store,
}

impl LocalStacks {
    /// What this node says of the stack now. Its claim is read from
    /// memory; a stack it holds no claim on still counts as running while
    /// the store says its last pass placed or saw it running (one left by
    /// an agent that restarted, one whose pass is taking it down).
    pub async fn report(&self, question: &StackQuestion) -> StackReport {
        let vrrp = self.vrrp.now(&question.vip).await;
        let claim = self.claims.get(&question.service);
        let recorded = self
            .store
            .get(&ObjectKey::new(Kind::Service, question.service.as_str()))
            .and_then(|o| o.status.details_as::<ServiceStatus>().ok())
            .is_some_and(|s| s.may_run_here());
        StackReport {
            master: vrrp.master,
            claiming: claim == Some(Claim::Asking),
            running: claim == Some(Claim::Holding) || recorded,
            priority: vrrp.priority,
        }
    }
}
