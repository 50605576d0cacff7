//! `hareconcile switchover VIP --to NODE`: a planned, make-before-break
//! move of a VirtualIP, from any node. The command checks the cluster
//! (every node reachable, the target healthy and not master yet), asks its
//! agent to set `spec.control.switchoverTo` on every node (see
//! `crate::switchover` for why the move is a spec field and how it reaches
//! each store), and with `--wait` watches every node until the target is
//! the only master.

use std::time::{Duration, Instant};

use clap::Args;
use hareconcile_model::status::VrrpState;
use hareconcile_model::{Control, Kind, Manager, ObjectKey, VirtualIpSpec};

use super::vip::managed_elsewhere;
use super::wait::WaitArgs;
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::api::client::Client;
use crate::cluster_view::NodeView;
use crate::switchover::SwitchoverRequest;

/// Move a VirtualIP to another node, planned and without an outage.
///
/// The target node becomes the preferred master (priority 254, preempting)
/// and every other node stops preempting: spec.control.switchoverTo is set
/// in every node's store through the peer API. The target first starts the
/// Services that follow the VIP (it reports preparingTakeover), takes the
/// VIP over only once they are Ready, and the old master keeps the VIP
/// until the target announces itself, so clients see at most about one
/// advert interval without an answer. The old master stops its stacks
/// only after the VIP has left it.
///
/// The move sticks, also with preempt: true, until another switchover or
/// `switchover VIP --clear` (the configured priorities apply again, and a
/// higher-priority node preempts back the same make-before-break way).
///
/// Data: for a Replication copied from the master (rsync, btrfs, zfs) the
/// old master first stops the Services that `requires:` it, runs a final
/// sync to the target, and only then may the target start them and take
/// the VIP, so nothing written is lost (for those Services the move is
/// break-before-make). If the final sync fails, the old master keeps the
/// VIP and starts them again (Warning event FinalSyncFailed).
///
/// Works from any node; every node's agent must be reachable. A VirtualIP
/// managed by --manifests files or GitOps is refused: declare
/// spec.control.switchoverTo there instead.
///
/// Examples:
///   hareconcile switchover web --to n2            # move web to n2
///   hareconcile switchover web --to n2 --wait     # ... and wait until n2 is master (30s)
///   hareconcile switchover web --clear            # back to the configured priorities
/// How long --wait waits unless told.
const WAIT_DEFAULT: Duration = Duration::from_secs(30);

#[derive(Args)]
#[command(verbatim_doc_comment)]
#[command(mut_arg("wait", |wait| wait.help(
    "Wait until the target is the only master and say whether any moment without a master \
     was seen (30s unless --wait=TIMEOUT or --timeout TIMEOUT)")))]
#[command(mut_arg("timeout", |timeout| timeout.help("How long --wait waits (30s)")))]
pub struct SwitchoverArgs {
    /// The VirtualIP to move.
    #[arg(value_name = "VIP")]
    name: String,
    /// The node that becomes master.
    #[arg(long, value_name = "NODE", required_unless_present = "clear")]
    to: Option<String>,
    /// End the switchover: the configured priorities and preemption apply again.
    #[arg(long, conflicts_with = "to")]
    clear: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: SwitchoverArgs) -> Result<u8, CliError> {
    let wait = args.wait.timeout_or(WAIT_DEFAULT)?;
    if wait.is_some() && args.to.is_none() {
        return Err(CliError::input(
            "--wait watches the node given with --to become master; --clear takes effect at once",
        ));
    }
    let client = args.agent.client();
    let key = ObjectKey {
        kind: Kind::VirtualIP,
        name: args.name.clone(),
    };
    let Some(object) = client.get(&key).await? else {
        return Err(CliError::input(format!(
            "{key} does not exist: `hareconcile get vip` lists the VirtualIPs"
        )));
    };
    if let Some(owner) = object.metadata.manager.filter(|m| *m != Manager::Cli) {
        let mut control: Control = object
            .spec_as::<VirtualIpSpec>()
            .map(|spec| spec.control)
            .unwrap_or_default();
        control.switchover_to = args.to.clone();
        return Err(CliError::input(managed_elsewhere(&object, owner, &control)));
    }
    let nodes = client.nodes().await?;
    if nodes.is_empty() {
        return Err(CliError::runtime(
            "the agent knows no Cluster nodes: a switchover needs the peer API \
             (Cluster spec.peer.tokenFile) to reach every node",
        ));
    }
    let unreachable: Vec<String> = nodes
        .iter()
        .filter(|n| !n.reachable)
        .map(|n| format!("{} ({})", n.node, n.error.as_deref().unwrap_or("no answer")))
        .collect();
    if let Some(to) = &args.to {
        check_target(&key, to, &nodes)?;
    }
    if !unreachable.is_empty() {
        return Err(CliError::runtime(format!(
            "cannot reach the agent of {}: every node must take the switchover in, \
             or a node that missed it would still preempt. Bring it back, or declare \
             spec.control.switchoverTo in the manifests it loads",
            unreachable.join(", ")
        )));
    }
    let outcomes = client
        .switchover(&SwitchoverRequest {
            virtual_ip: args.name.clone(),
            to: args.to.clone(),
        })
        .await?;
    let mut failed = false;
    for outcome in &outcomes {
        match (&outcome.error, outcome.generation) {
            (Some(error), _) => {
                failed = true;
                eprintln!("{}: not set: {error}", outcome.node);
            }
            (None, generation) => outln!(
                "{}: virtualip/{} switchoverTo {} (generation {})",
                outcome.node,
                key.name,
                args.to.as_deref().unwrap_or("cleared"),
                generation.unwrap_or_default()
            ),
        }
    }
    if failed {
        return Err(CliError::runtime(
            "the switchover reached only some nodes (listed above); fix the cause and run the \
             same command again (nodes that have it already are left as they are)",
        ));
    }
    match (wait, &args.to) {
        (Some(timeout), Some(to)) => wait_master(&client, &key.name, to, timeout).await,
        _ => Ok(EXIT_OK),
    }
}

/// The VRRP state `node` reports for the VirtualIP, if it answered.
fn state_on(nodes: &[NodeView], node: &str, vip: &str) -> Option<VrrpState> {
    nodes
        .iter()
        .find(|n| n.node == node)?
        .summary
        .as_ref()?
        .objects
        .iter()
        .find(|o| o.kind == Kind::VirtualIP && o.name == vip)?
        .state
}

/// Refuses an unknown, unreachable or unhealthy target, or one that is
/// master already.
fn check_target(key: &ObjectKey, to: &str, nodes: &[NodeView]) -> Result<(), CliError> {
    let Some(target) = nodes.iter().find(|n| n.node == to) else {
        let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
        return Err(CliError::input(format!(
            "unknown node {to:?}: the Cluster has {}",
            names.join(", ")
        )));
    };
    if !target.reachable {
        return Err(CliError::runtime(format!(
            "{to} is not reachable ({}): its agent must run to take the VIP over",
            target.error.as_deref().unwrap_or("no answer")
        )));
    }
    match state_on(nodes, to, &key.name) {
        Some(VrrpState::Backup) => Ok(()),
        Some(VrrpState::Master) => Err(CliError::input(format!(
            "{to} is already master of {key}: nothing to move (to make it stick, \
             switch over to it from another master later, or set spec.control.switchoverTo)"
        ))),
        Some(state) => Err(CliError::runtime(format!(
            "{to} is not healthy for {key}: its VRRP state is {state}, a switchover needs Backup \
             (`hareconcile status` and `describe virtualip {}` say why)",
            key.name
        ))),
        None => Err(CliError::runtime(format!(
            "{to} does not run {key} (no VRRP state reported): is it listed in the VirtualIP's Cluster, \
             and its interface up?"
        ))),
    }
}

/// Polls every node until `to` is the only master of the VirtualIP, and
/// says whether any poll saw the VIP without a master.
async fn wait_master(
    client: &Client,
    vip: &str,
    to: &str,
    timeout: Duration,
) -> Result<u8, CliError> {
    let deadline = Instant::now() + timeout;
    let started = Instant::now();
    let mut masterless = Duration::ZERO;
    let mut last_poll = Instant::now();
    loop {
        let nodes = client.nodes().await?;
        let masters: Vec<&str> = nodes
            .iter()
            .filter(|n| state_on(&nodes, &n.node, vip) == Some(VrrpState::Master))
            .map(|n| n.node.as_str())
            .collect();
        if masters.is_empty() {
            masterless += last_poll.elapsed();
        }
        last_poll = Instant::now();
        if masters == [to] {
            outln!(
                "{to} is master of virtualip/{vip} after {}",
                humantime::format_duration(round_ms(started.elapsed()))
            );
            if masterless.is_zero() {
                outln!("every status poll (all nodes, ~200ms apart) found a master");
            } else {
                outln!(
                    "for about {} no node reported Master (status trails the protocol: the \
                     old master keeps answering until the new one announces itself)",
                    humantime::format_duration(round_ms(masterless))
                );
            }
            return Ok(EXIT_OK);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "timed out after {}: master now {}; `hareconcile status` shows why \
                 (preparing takeover: the Services following the VIP are not Ready on {to} yet)",
                humantime::format_duration(timeout),
                if masters.is_empty() {
                    "none".to_string()
                } else {
                    masters.join(", ")
                }
            );
            return Ok(EXIT_DIFFERENCES);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
