//! `hareconcile vip maintenance|restore|priority NAME`: runtime control of
//! a VirtualIP on one node, as Vrrpd's atropos gives it, kept in the
//! VirtualIP's `spec.control` so it survives restarts and shows in diffs.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use hareconcile_model::status::VrrpState;
use hareconcile_model::{
    ClusterSpec, Control, Kind, Manager, Object, ObjectKey, VirtualIpSpec, VirtualIpStatus,
    OWNER_NEVER_BACKUP,
};
use hareconcile_runtime::ApplyOptions;

use super::wait::WaitArgs;
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::api::client::Client;
use crate::api::wire::ApplyRequest;
use crate::switchover::with_control;

/// Runtime control of a VirtualIP on one node: maintenance, restore, priority.
///
/// Each command edits the VirtualIP's spec.control in the store of the
/// agent it talks to, as manager `cli`; that node's VRRP instance follows
/// without restarting (a master hands over with a priority-0 advert). Run
/// it against the agent of the node you act on: each agent reads only its
/// own store. A VirtualIP that the agent's --manifests directory or GitOps
/// manages is refused: set spec.control where it is declared instead, so
/// the next sync does not undo it.
///
/// Examples:
///   hareconcile vip maintenance web               # this node never master; hand the VIP over
///   hareconcile vip restore web --wait            # a candidate again (preempts if higher)
///   hareconcile vip priority web --adjust -20     # drain: priority 20 lower here
///   hareconcile vip priority web --adjust 0       # back to the configured priority
/// How long --wait waits unless told.
const WAIT_DEFAULT: Duration = Duration::from_secs(30);

#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct VipArgs {
    #[command(subcommand)]
    command: VipCommand,
}

#[derive(Subcommand)]
enum VipCommand {
    /// Never be master on this node (spec.control.forceBackup); a master
    /// steps down at once with a priority-0 advert so a backup takes over.
    /// Refused (exit 2) on the address owner (priority 255): the owner
    /// cannot be a backup (RFC 5798), it keeps its own address, which
    /// would then be on two nodes at once.
    Maintenance(Target),
    /// End maintenance and any priority adjustment on this node: it is a
    /// normal candidate again and preempts if it has the highest priority.
    Restore(Target),
    /// Add ADJUST to this node's configured priority
    /// (spec.control.priorityAdjust; 0 removes it). The effective priority
    /// stays within 1-254; an address owner (255) is not adjusted.
    Priority(PriorityArgs),
}

#[derive(Args)]
#[command(mut_arg("wait", |wait| wait.help(
    "Wait until the node's VRRP instance has taken the change in (and, for maintenance, \
     is no longer master): 30s unless --wait=TIMEOUT or --timeout TIMEOUT")))]
#[command(mut_arg("timeout", |timeout| timeout.help("How long --wait waits (30s)")))]
struct Target {
    /// The VirtualIP.
    #[arg(value_name = "VIP")]
    name: String,
    /// The node to act on; it must be the node of the agent addressed
    /// (the default), as a guard against the wrong --socket.
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    agent: AgentConnection,
}

#[derive(Args)]
struct PriorityArgs {
    #[command(flatten)]
    target: Target,
    /// Added to the configured priority, e.g. -20 (-254 to 254).
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-254..=254))]
    adjust: i32,
}

pub async fn run(args: VipArgs) -> Result<u8, CliError> {
    match args.command {
        VipCommand::Maintenance(target) => {
            control(target, "in maintenance", |c, node| {
                c.set_maintenance(node, true)
            })
            .await
        }
        VipCommand::Restore(target) => {
            control(target, "restored", |c, node| {
                c.set_maintenance(node, false);
                c.set_priority_adjust(node, 0);
            })
            .await
        }
        VipCommand::Priority(args) => {
            let done = format!("priority adjusted by {}", args.adjust);
            let adjust = args.adjust;
            control(args.target, &done, |c, node| {
                c.set_priority_adjust(node, adjust)
            })
            .await
        }
    }
}

/// Applies `edit` to the node's entry of spec.control and, if asked, waits
/// for the instance to follow.
async fn control(
    target: Target,
    done: &str,
    edit: impl FnOnce(&mut Control, &str),
) -> Result<u8, CliError> {
    let wait = target.wait.timeout_or(WAIT_DEFAULT)?;
    let client = target.agent.client();
    let agent_node = client.info().await?.node;
    let node = target.node.clone().unwrap_or_else(|| agent_node.clone());
    if node != agent_node {
        return Err(CliError::input(format!(
            "this agent runs node {agent_node}, and node {node}'s VRRP instance reads spec.control \
             from its own agent's store: run this against {node}'s agent (--socket or HARECONCILE_SOCKET)"
        )));
    }
    let key = ObjectKey {
        kind: Kind::VirtualIP,
        name: target.name.clone(),
    };
    let Some(object) = client.get(&key).await? else {
        return Err(CliError::input(format!(
            "{key} does not exist on node {node}: `hareconcile get vip` lists the VirtualIPs"
        )));
    };
    let spec: VirtualIpSpec = object
        .spec_as()
        .map_err(|e| CliError::runtime(format!("{key}: the stored spec does not decode: {e}")))?;
    let mut control = spec.control.clone();
    edit(&mut control, &node);
    if control.force_backup.contains(&node) {
        refuse_owner_maintenance(&client, &key, &spec, &node).await?;
    }
    let generation = if control == spec.control {
        outln!("virtualip/{} on {node}: already {done}", key.name);
        object.metadata.generation
    } else if let Some(owner) = object.metadata.manager.filter(|m| *m != Manager::Cli) {
        return Err(CliError::input(managed_elsewhere(&object, owner, &control)));
    } else {
        let outcome = client
            .apply(&ApplyRequest {
                manager: Manager::Cli,
                options: ApplyOptions::default(),
                objects: vec![with_control(&object, &control).map_err(CliError::runtime)?],
            })
            .await?;
        outln!("virtualip/{} on {node}: {done}", key.name);
        outcome
            .outcomes
            .first()
            .map_or(object.metadata.generation, |o| o.generation)
    };
    match wait {
        Some(timeout) => {
            let maintenance = control.force_backup.contains(&node);
            wait_followed(&client, &key, generation, maintenance, timeout).await
        }
        None => Ok(EXIT_OK),
    }
}

/// Maintenance of the address owner would put its address on two nodes:
/// refused before anything is written.
async fn refuse_owner_maintenance(
    client: &Client,
    key: &ObjectKey,
    spec: &VirtualIpSpec,
    node: &str,
) -> Result<(), CliError> {
    let cluster_key = ObjectKey {
        kind: Kind::Cluster,
        name: spec.cluster.clone(),
    };
    // A missing or broken Cluster is the agent's validation to report.
    let cluster = client.get(&cluster_key).await?;
    let cluster = cluster.and_then(|c| c.spec_as::<ClusterSpec>().ok());
    let Some(owner) = cluster
        .as_ref()
        .and_then(|c| c.node(node))
        .filter(|n| spec.owned_by(n))
    else {
        return Ok(());
    };
    Err(CliError::input(format!(
        "node {node} owns {address}, the address of {key} (priority 255), and {OWNER_NEVER_BACKUP}: \
         maintenance refused, nothing changed. To serve the address from another node, take it off \
         {node}'s interface (or shut {node} down): the next node then takes it over",
        address = owner.address
    )))
}

/// Why the CLI leaves another manager's object alone, and the spec.control
/// to declare there instead.
pub(super) fn managed_elsewhere(object: &Object, owner: Manager, control: &Control) -> String {
    let source = object
        .metadata
        .annotations
        .get(hareconcile_model::SOURCE_FILE_ANNOTATION)
        .map(|file| format!(" ({file})"))
        .unwrap_or_default();
    let snippet = serde_json::to_value(control)
        .ok()
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .map_or_else(
            || "remove spec.control".to_string(),
            |v| format!("set spec.control to {v}"),
        );
    format!(
        "virtualip/{name} is managed by {owner}{source}: its next sync would undo a change made here. \
         Runtime control is part of the spec, so {snippet} where {owner} gets it from \
         (the manifest file, or a commit to the repository)",
        name = object.metadata.name
    )
}

/// Polls the VirtualIP until its status covers `generation` (and, in
/// maintenance, the state is not Master); 1 on timeout.
async fn wait_followed(
    client: &Client,
    key: &ObjectKey,
    generation: u64,
    maintenance: bool,
    timeout: Duration,
) -> Result<u8, CliError> {
    let deadline = Instant::now() + timeout;
    loop {
        let object = client.get(key).await?;
        let status = object.as_ref().map(|o| &o.status);
        let seen_status: VirtualIpStatus =
            status.and_then(|s| s.details_as().ok()).unwrap_or_default();
        let state = seen_status
            .state()
            .map_or("not reported", VrrpState::as_str);
        let seen = status
            .and_then(|s| s.observed_generation)
            .is_some_and(|g| g >= generation);
        if seen && !(maintenance && seen_status.state() == Some(VrrpState::Master)) {
            let priority = seen_status
                .instance
                .effective_priority
                .map_or_else(|| "unknown".to_string(), |p| p.to_string());
            outln!("state {state}, effective priority {priority}");
            return Ok(EXIT_OK);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "timed out after {}: state {state}{}",
                humantime::format_duration(timeout),
                if seen {
                    ""
                } else {
                    ", the change not yet seen by the VRRP controller"
                }
            );
            return Ok(EXIT_DIFFERENCES);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
