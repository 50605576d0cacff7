//! `hareconcile apply -f PATH...`: send declared objects to the agent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;
use hareconcile_model::load::Manifest;
use hareconcile_model::{Manager, Object, ObjectKey, SOURCE_FILE_ANNOTATION};
use hareconcile_runtime::{ApplyOptions, ApplyResult};

use super::fanout::{self, Reach};
use super::wait::{self, WaitArgs};
use super::{AgentConnection, CliError, EXIT_OK};
use crate::api::wire::{ApplyRequest, DeleteRequest};

/// Create or update objects from manifests, all or nothing, on every node.
///
/// The manifests are validated first, as `validate` does (with the objects
/// the agent already has, so references to them resolve, and each
/// Service's compose files); if anything is wrong nothing is applied, and
/// each node's agent checks the compose files again as it will load them.
/// Prints one line per object: created, configured or unchanged, prefixed
/// with the node when the Cluster has several. A Service whose compose
/// file (or a file it reads) changed is configured: the digest of those
/// files is its `hareconcile.io/compose-files` annotation.
///
/// Paths that declare no object at all (an empty directory, a wrong path)
/// are refused with exit code 2, as `validate` refuses them.
///
/// Every node of the Cluster gets the objects: this node's agent sends
/// them to the others over the peer API (spec.peer.tokenFile). Every node
/// checks them first; only if all accept does any write them. A node that
/// does not answer fails the command and nothing is written anywhere:
/// start its agent and run the command again, or pass --allow-unreachable
/// to write the others now and run the command again once it is back
/// (`hareconcile status` shows the skew until then). Files a manifest
/// names (a compose file) must be at the same path on every node.
/// To keep every node converged without anyone re-running a command,
/// prefer each agent's --manifests directory or GitOps.
///
/// Examples:
///   hareconcile apply -f manifests/
///   hareconcile apply -f web.yaml --dry-run
///   hareconcile apply -f manifests/ --wait --timeout 2m   # until every object is Ready here
///   hareconcile apply -f manifests/ --prune       # also delete objects removed from these files
///   hareconcile apply -f manifests/ --local       # this node's store only
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// Manifest files or directories (searched for *.yaml and *.yml).
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Show what would change without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Take over objects another manager (files, gitops) owns.
    #[arg(long)]
    force: bool,
    /// Delete objects this command applied earlier from these paths that
    /// the manifests no longer declare.
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    reach: Reach,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: ApplyArgs) -> Result<u8, CliError> {
    let wait = args.wait.timeout()?;
    let client = args.agent.client();
    let existing: Vec<Object> = client.list(None).await?.items;
    let manifests = super::validate::load(&args.paths, &existing)?;
    if manifests.is_empty() {
        // As `validate` (and kubectl): an empty directory is a mistake, and
        // with --prune it would delete everything applied from it.
        let nothing = super::validate::nothing_declared(&args.paths, "applied");
        return Err(CliError::input(nothing));
    }
    let options = ApplyOptions {
        force: args.force,
        dry_run: args.dry_run,
    };
    let suffix = if args.dry_run { " (dry run)" } else { "" };
    let objects: Vec<Object> = manifests.iter().map(|m| m.object.clone()).collect();
    let request = ApplyRequest {
        manager: Manager::Cli,
        options,
        objects,
    };
    fanout::apply(&client, args.reach, request, |outcome| {
        let verb = match outcome.result {
            ApplyResult::Created => "created",
            ApplyResult::Configured => "configured",
            ApplyResult::Unchanged => "unchanged",
        };
        format!(
            "{}/{} {verb}{suffix}",
            outcome.key.kind.plural(),
            outcome.key.name
        )
    })
    .await?;
    if args.prune {
        let stale = stale(&args.paths, &manifests, &existing);
        if !stale.is_empty() {
            let request = DeleteRequest {
                manager: Manager::Cli,
                options,
                keys: stale,
                cascade: false,
            };
            fanout::delete(&client, args.reach, request, |(key, _)| {
                format!("{}/{} pruned{suffix}", key.kind.plural(), key.name)
            })
            .await?;
        }
    }
    match wait {
        Some(timeout) if !args.dry_run => {
            let keys: Vec<ObjectKey> = manifests.iter().map(|m| m.object.key()).collect();
            wait::until_ready(&client, &keys, timeout).await
        }
        _ => Ok(EXIT_OK),
    }
}

/// Objects the CLI applied from these paths earlier (as this node's store
/// says) that the manifests no longer declare. Objects of other managers
/// are never among them.
fn stale(paths: &[PathBuf], manifests: &[Manifest], existing: &[Object]) -> Vec<ObjectKey> {
    let declared: BTreeSet<ObjectKey> = manifests.iter().map(|m| m.object.key()).collect();
    let roots: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    existing
        .iter()
        .filter(|o| o.metadata.manager == Some(Manager::Cli))
        .filter(|o| !declared.contains(&o.key()))
        .filter(|o| {
            o.metadata
                .annotations
                .get(SOURCE_FILE_ANNOTATION)
                .is_some_and(|source| roots.iter().any(|root| Path::new(source).starts_with(root)))
        })
        .map(|o| o.key())
        .collect()
}
