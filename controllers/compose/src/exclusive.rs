//! Exclusive stacks (`handover: break-before-make`): a stack that writes
//! shared or replicated data must never run on two nodes at once, not
//! for a moment of a preempt-back, a switchover or both agents starting.
//!
//! Such a stack is placed only where the followed VIP is master (never
//! ahead of a takeover). Before it starts there, the Service controller
//! takes a *claim* on it in this node's memory ([`Claims`]), then asks
//! every other node of the Cluster over the peer API, which answers from
//! what it knows now, not from its store's last report: whether its VRRP
//! instance is master this moment, whether it claims the stack, whether
//! the stack may run there ([`StackReport`]). The stack starts only after
//! a round in which no other node said any of the three ([`clearance`]).
//!
//! Why two nodes never both start it. A claim is taken before the round
//! that asks, and kept without a gap from then through the start and for
//! as long as the stack may run (it goes only once the stack was taken
//! down). Say X and Y both started, X asking Y at instant `a_X` of X's
//! starting round and Y asking X at `a_Y` of its own, and X's claim was
//! taken at `c_X < a_X`, Y's at `c_Y < a_Y`. Y told X it did not claim,
//! so Y had not taken that claim yet: `a_X < c_Y`. Then
//! `c_X < a_X < c_Y < a_Y`: when Y asked, X's claim was held — unless X
//! had already taken its stack down, and then the two never ran together.
//! So Y heard "claiming" or "running" and did not start: a contradiction.
//! Of two nodes that claim together at least one hears the other, and
//! hearing a claim is enough to not start on that round.
//!
//! Who goes on. Hearing each other, both would wait for ever, or both let
//! go and try again in step. The node of lower VRRP priority (then of
//! lower name) therefore lets its claim go and waits, and the higher one
//! keeps it and asks again; it starts on the first round that finds the
//! other neither claiming nor master, as VRRP makes that node a backup.
//! Safety does not rest on the tie-break, only the progress does. A node
//! that answers "master" without claiming also holds the start back: two
//! nodes that both claim master for a moment (at start, before they heard
//! each other) do not start the stack only for VRRP to stop one of them.
//!
//! A node that does not answer is taken for down: without a quorum engine
//! a node cut off by the network cannot be told from a dead one, and
//! waiting for it would keep the stack down for as long as it is gone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hareconcile_model::{Handover, ServiceMode, ServiceSpec};
use serde::{Deserialize, Serialize};

use crate::file::{MountKind, Project};

/// Whether the Service's stack is exclusive: as its `handover` says, else
/// when it requires a Replication or bind-mounts a path a Replication
/// keeps (`replicated`: their paths), which it writes. An active-active
/// stack never is: it runs on every node by design and never moves
/// (validation refuses a `handover` on it); what it writes is kept in
/// step both ways, as Pi-hole's configuration is.
pub fn is_exclusive(spec: &ServiceSpec, project: &Project, replicated: &[PathBuf]) -> bool {
    if spec.mode == ServiceMode::ActiveActive {
        return false;
    }
    if spec.handover.is_some() || !spec.requires.is_empty() {
        return spec.handover_in() == Handover::BreakBeforeMake;
    }
    project
        .services
        .values()
        .flat_map(|service| &service.volumes)
        .filter(|mount| mount.kind == MountKind::Bind)
        .filter_map(|mount| mount.source.as_deref())
        .any(|source| overlaps(Path::new(source), replicated))
}

/// A bind source inside a replicated path, or holding one.
fn overlaps(source: &Path, replicated: &[PathBuf]) -> bool {
    replicated
        .iter()
        .any(|path| source.starts_with(path) || path.starts_with(source))
}

/// What a node says, from what it knows at the moment it answers, of an
/// exclusive stack: the answer to the peer API's `/peer/v1/exclusive`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackReport {
    /// Its VRRP instance of the followed VirtualIP is master now (its
    /// stack may start any moment).
    pub master: bool,
    /// It claims the stack: it is asking the other nodes before starting it.
    pub claiming: bool,
    /// The stack may run there: started by this agent and not taken down
    /// since, or placed running or seen running by its last pass.
    pub running: bool,
    /// Its VRRP priority for the followed VirtualIP now, which breaks a
    /// tie between two claims.
    pub priority: u8,
}

impl StackReport {
    /// What in it holds another node's start back, if anything.
    fn holds_back(&self) -> Option<&'static str> {
        match (self.running, self.claiming, self.master) {
            (true, _, _) => Some("may run it"),
            (_, true, _) => Some("claims it"),
            (_, _, true) => Some("is master"),
            _ => None,
        }
    }
}

/// One other node's answer: its report, or why it gave none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherNode {
    pub node: String,
    pub answer: Result<StackReport, String>,
}

/// A round of asking, made while this node claims the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// This node's name and VRRP priority for the followed VirtualIP now.
    pub node: String,
    pub priority: u8,
    pub others: Vec<OtherNode>,
}

/// Asks the other nodes of this node's Cluster (the agent does it over
/// the peer API).
#[async_trait]
pub trait OtherNodes: Send + Sync {
    /// A round about Service `service`, which follows VirtualIP `vip`;
    /// `Err` when the other nodes cannot be asked at all (the peer API is
    /// off), saying why.
    async fn ask(&self, service: &str, vip: &str) -> Result<Round, String>;
}

/// What a round means for starting the stack here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clearance {
    /// No answering node runs it, claims it or is master; `unconfirmed`
    /// says which did not answer, or why nobody could be asked.
    Start { unconfirmed: Option<String> },
    /// Wait: `because` says which nodes hold the start back and how.
    /// `keep_claim`: no node claiming it outranks this one, which keeps
    /// its claim; else this node lets it go.
    Wait {
        because: Vec<String>,
        keep_claim: bool,
    },
}

pub fn clearance(round: Result<Round, String>) -> Clearance {
    let round = match round {
        Ok(round) => round,
        Err(why) => {
            return Clearance::Start {
                unconfirmed: Some(why),
            }
        }
    };
    let said = || {
        round
            .others
            .iter()
            .filter_map(|other| Some((other.node.as_str(), other.answer.as_ref().ok()?)))
    };
    let because: Vec<String> = said()
        .filter_map(|(node, report)| Some(format!("{node} {}", report.holds_back()?)))
        .collect();
    if !because.is_empty() {
        let me = (round.priority, round.node.as_str());
        let outranked =
            said().any(|(node, report)| report.claiming && (report.priority, node) > me);
        return Clearance::Wait {
            because,
            keep_claim: !outranked,
        };
    }
    let silent: Vec<String> = round
        .others
        .iter()
        .filter_map(|other| {
            let why = other.answer.as_ref().err()?;
            Some(format!("{} ({why})", other.node))
        })
        .collect();
    Clearance::Start {
        unconfirmed: (!silent.is_empty()).then(|| format!("no answer from {}", silent.join(", "))),
    }
}

/// How this node holds an exclusive stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// It asks the other nodes before starting the stack here.
    Asking,
    /// The stack was started here (or is being started), and may run
    /// until a pass takes it down.
    Holding,
}

/// This node's claims on its exclusive stacks, by Service name: taken and
/// let go by the Service controller, read by the peer API at the moment
/// another node asks (not through the store, which lags: a stack being
/// started is reported only once its pass ends). Memory only: after a
/// restart, the store's last report of a stack still counts as running
/// until a pass takes it down.
#[derive(Debug, Clone, Default)]
pub struct Claims(Arc<Mutex<HashMap<String, Claim>>>);

impl Claims {
    pub fn get(&self, service: &str) -> Option<Claim> {
        self.lock().get(service).copied()
    }

    pub fn set(&self, service: &str, claim: Claim) {
        self.lock().insert(service.to_string(), claim);
    }

    pub fn release(&self, service: &str) {
        self.lock().remove(service);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claim>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{load, LoadOptions};
    use serde_json::json;

    fn spec(extra: serde_json::Value) -> ServiceSpec {
        let mut spec =
            json!({"cluster": "home", "followVirtualIP": "web", "compose": {"file": "c.yaml"}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn project(compose: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, compose).unwrap();
        load(&path, &LoadOptions::default()).unwrap()
    }

    #[test]
    fn exclusive_as_declared_else_when_it_writes_replicated_data() {
        let plain = project("services: {web: {image: x, volumes: [\"/srv/conf:/conf\"]}}\n");
        let data = project("services: {web: {image: x, volumes: [\"/srv/data/www:/www\"]}}\n");
        let replicated = [PathBuf::from("/srv/data")];
        assert!(!is_exclusive(&spec(json!({})), &plain, &replicated));
        // A bind mount inside a replicated path makes it exclusive...
        assert!(is_exclusive(&spec(json!({})), &data, &replicated));
        assert!(is_exclusive(
            &spec(json!({})),
            &project("services: {web: {image: x, volumes: [\"/srv:/srv\"]}}\n"),
            &replicated
        ));
        // ...as does requiring a Replication.
        assert!(is_exclusive(
            &spec(json!({"requires": ["data"]})),
            &plain,
            &[]
        ));
        // A declared handover wins both ways.
        assert!(!is_exclusive(
            &spec(json!({"requires": ["data"], "handover": "make-before-break"})),
            &data,
            &replicated
        ));
        assert!(is_exclusive(
            &spec(json!({"handover": "break-before-make"})),
            &plain,
            &[]
        ));
        // An active-active stack runs everywhere, whatever it writes.
        assert!(!is_exclusive(
            &spec(json!({"mode": "active-active", "requires": ["data"]})),
            &data,
            &replicated
        ));
        // Named volumes are the node's own, not replicated paths.
        let volume = project(
            "services: {web: {image: x, volumes: [\"www:/srv/data\"]}}\nvolumes: {www: {}}\n",
        );
        assert!(!is_exclusive(&spec(json!({})), &volume, &replicated));
    }

    fn report(master: bool, claiming: bool, running: bool, priority: u8) -> StackReport {
        StackReport {
            master,
            claiming,
            running,
            priority,
        }
    }

    /// A round of node `n2` at priority 100 with these answers.
    fn round(others: Vec<(&str, Result<StackReport, String>)>) -> Result<Round, String> {
        Ok(Round {
            node: "n2".into(),
            priority: 100,
            others: others
                .into_iter()
                .map(|(node, answer)| OtherNode {
                    node: node.into(),
                    answer,
                })
                .collect(),
        })
    }

    fn wait(because: &[&str], keep_claim: bool) -> Clearance {
        Clearance::Wait {
            because: because.iter().map(|b| b.to_string()).collect(),
            keep_claim,
        }
    }

    #[test]
    fn starts_only_when_no_node_runs_claims_or_is_master() {
        let quiet = report(false, false, false, 110);
        assert_eq!(
            clearance(round(vec![("n1", Ok(quiet))])),
            Clearance::Start { unconfirmed: None }
        );
        assert_eq!(
            clearance(round(vec![])),
            Clearance::Start { unconfirmed: None }
        );
        for (other, why) in [
            (report(false, false, true, 90), "n1 may run it"),
            (report(false, true, false, 90), "n1 claims it"),
            (report(true, false, false, 90), "n1 is master"),
        ] {
            assert_eq!(
                clearance(round(vec![("n1", Ok(other))])),
                wait(&[why], true),
                "{other:?}"
            );
        }
    }

    #[test]
    fn of_two_claims_the_higher_priority_then_name_keeps_its_own() {
        let claiming = |priority| Ok(report(true, true, false, priority));
        // n2 (100) lets its claim go to a higher priority and keeps it
        // against a lower one (still not starting); between equal
        // priorities the higher name keeps it.
        for (other, priority, keeps) in [
            ("n1", 110, false),
            ("n1", 90, true),
            ("n3", 100, false),
            ("n1", 100, true),
        ] {
            assert_eq!(
                clearance(round(vec![(other, claiming(priority))])),
                wait(&[&format!("{other} claims it")], keeps),
                "{other} at {priority}"
            );
        }
        // A running stack or a master outranks nothing: only claims do.
        assert_eq!(
            clearance(round(vec![
                ("n1", Ok(report(true, false, true, 200))),
                ("n3", claiming(90)),
            ])),
            wait(&["n1 may run it", "n3 claims it"], true)
        );
    }

    /// Two nodes claiming at once, every order of their steps: each takes
    /// its claim, asks the other (which answers from its claim at that
    /// moment) and decides. Never both start; one of them always keeps a
    /// claim, so it starts on a later round.
    #[test]
    fn two_claims_in_any_interleaving_never_both_start() {
        // Which node steps next: its first step takes its claim, its
        // second asks the other.
        let orders: [[usize; 4]; 6] = [
            [0, 0, 1, 1],
            [0, 1, 0, 1],
            [0, 1, 1, 0],
            [1, 0, 0, 1],
            [1, 0, 1, 0],
            [1, 1, 0, 0],
        ];
        let names = ["n1", "n2"];
        let priorities = [110, 100];
        for order in orders {
            let mut next = [0usize; 2];
            let mut claiming = [false; 2];
            let mut heard: [Option<StackReport>; 2] = [None; 2];
            for who in order {
                let other = 1 - who;
                match next[who] {
                    0 => claiming[who] = true,
                    _ => {
                        heard[who] = Some(report(false, claiming[other], false, priorities[other]))
                    }
                }
                next[who] += 1;
            }
            let decisions: Vec<Clearance> = (0..2)
                .map(|who| {
                    clearance(Ok(Round {
                        node: names[who].into(),
                        priority: priorities[who],
                        others: vec![OtherNode {
                            node: names[1 - who].into(),
                            answer: Ok(heard[who].unwrap()),
                        }],
                    }))
                })
                .collect();
            let starts = decisions
                .iter()
                .filter(|d| matches!(d, Clearance::Start { .. }))
                .count();
            assert!(starts <= 1, "{order:?}: {decisions:?}");
            let goes_on = decisions.iter().any(|d| {
                matches!(
                    d,
                    Clearance::Start { .. }
                        | Clearance::Wait {
                            keep_claim: true,
                            ..
                        }
                )
            });
            assert!(goes_on, "{order:?}: {decisions:?}");
        }
    }

    #[test]
    fn takes_silence_for_down() {
        assert_eq!(
            clearance(round(vec![
                ("n1", Ok(report(false, false, true, 110))),
                ("n3", Err("refused".into())),
            ])),
            wait(&["n1 may run it"], true)
        );
        assert_eq!(
            clearance(round(vec![
                ("n1", Ok(report(false, false, false, 110))),
                ("n3", Err("timed out".into())),
            ])),
            Clearance::Start {
                unconfirmed: Some("no answer from n3 (timed out)".into())
            }
        );
        assert_eq!(
            clearance(Err("the peer API is off".into())),
            Clearance::Start {
                unconfirmed: Some("the peer API is off".into())
            }
        );
    }

    #[test]
    fn a_claim_is_held_until_let_go() {
        let claims = Claims::default();
        let shared = claims.clone();
        assert_eq!(shared.get("shop"), None);
        claims.set("shop", Claim::Asking);
        assert_eq!(shared.get("shop"), Some(Claim::Asking));
        claims.set("shop", Claim::Holding);
        assert_eq!(shared.get("shop"), Some(Claim::Holding));
        claims.release("shop");
        assert_eq!(shared.get("shop"), None);
    }
}
