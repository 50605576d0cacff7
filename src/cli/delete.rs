//! `hareconcile delete KIND NAME... | -f PATH...`

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use hareconcile_model::load::load_paths_with;
use hareconcile_model::{Manager, ObjectKey};
use hareconcile_runtime::{ApplyOptions, DeleteOutcome};

use super::fanout::{self, Reach};
use super::get::parse_kind;
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::api::wire::DeleteRequest;

/// Delete objects by name, or those declared in manifests, on every node.
///
/// Objects another manager owns (the agent's --manifests directory, GitOps)
/// are refused without --force: that manager would create them again.
/// Objects that others refer to (a VirtualIP a Service follows) are
/// refused with those dependents named, unless --cascade deletes them too.
/// An object that is on no node is an error (exit 1) unless
/// --ignore-not-found, as with kubectl.
/// As with apply, every node of the Cluster must take the delete, or none
/// does (see `hareconcile apply --help`).
///
/// Examples:
///   hareconcile delete vip web
///   hareconcile delete -f manifests/web.yaml
///   hareconcile delete vip web --cascade          # and the Service following it
///   hareconcile delete vip web --ignore-not-found # exit 0 if it is already gone
///   hareconcile delete vip web --local            # this node's store only
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct DeleteArgs {
    /// Kind, then one or more names.
    #[arg(conflicts_with = "paths", required_unless_present = "paths", num_args = 2.., value_names = ["KIND", "NAME"])]
    target: Vec<String>,
    /// Manifest files or directories whose objects to delete.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Delete even objects another manager owns.
    #[arg(long)]
    force: bool,
    /// Delete the objects that refer to these too (a Service following a
    /// deleted VirtualIP), instead of refusing.
    #[arg(long)]
    cascade: bool,
    /// Exit 0 when an object is already gone.
    #[arg(long)]
    ignore_not_found: bool,
    #[command(flatten)]
    reach: Reach,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: DeleteArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let keys: Vec<ObjectKey> = if args.paths.is_empty() {
        let (kind, names) = args
            .target
            .split_first()
            .expect("clap requires a kind and a name");
        let kind = parse_kind(kind)?.ok_or_else(|| CliError::input("name one kind, not all"))?;
        names
            .iter()
            .map(|name| ObjectKey {
                kind,
                name: name.clone(),
            })
            .collect()
    } else {
        // The agent's objects resolve references the files make to others.
        let existing = client.list(None).await?.items;
        load_paths_with(&args.paths, &existing)?
            .into_iter()
            .map(|m| m.object.key())
            .collect()
    };
    let request = DeleteRequest {
        manager: Manager::Cli,
        options: ApplyOptions {
            force: args.force,
            dry_run: false,
        },
        keys,
        cascade: args.cascade,
    };
    // Per node: an object is missing only if no node had it.
    let deleted = RefCell::new(BTreeSet::new());
    let missing = RefCell::new(BTreeSet::new());
    fanout::delete(&client, args.reach, request, |(key, outcome)| {
        let name = format!("{}/{}", key.kind.plural(), key.name);
        let verb = match outcome {
            DeleteOutcome::Deleted => {
                deleted.borrow_mut().insert(name.clone());
                "deleted"
            }
            DeleteOutcome::NotFound => {
                missing.borrow_mut().insert(name.clone());
                "not found"
            }
        };
        format!("{name} {verb}")
    })
    .await?;
    let missing: Vec<String> = missing
        .into_inner()
        .difference(&deleted.into_inner())
        .cloned()
        .collect();
    if missing.is_empty() || args.ignore_not_found {
        return Ok(EXIT_OK);
    }
    Err(CliError {
        code: EXIT_DIFFERENCES,
        message: format!(
            "error: not found: {} (--ignore-not-found to accept that)",
            missing.join(", ")
        ),
    })
}
