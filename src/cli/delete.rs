//! `hareconcile delete KIND NAME... | -f PATH...`

use std::path::PathBuf;

use clap::Args;
use hareconcile_model::load::load_paths_with;
use hareconcile_model::{Manager, ObjectKey};
use hareconcile_runtime::{ApplyOptions, DeleteOutcome};

use super::fanout::{self, Reach};
use super::get::parse_kind;
use super::{AgentConnection, CliError, EXIT_OK};
use crate::api::wire::DeleteRequest;

/// Delete objects by name, or those declared in manifests, on every node.
///
/// Objects another manager owns (the agent's --manifests directory, GitOps)
/// are refused without --force: that manager would create them again.
/// As with apply, every node of the Cluster must take the delete, or none
/// does (see `hareconcile apply --help`).
///
/// Examples:
///   hareconcile delete vip web
///   hareconcile delete -f manifests/web.yaml
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
    };
    fanout::delete(&client, args.reach, request, |(key, outcome)| {
        let verb = match outcome {
            DeleteOutcome::Deleted => "deleted",
            DeleteOutcome::NotFound => "not found",
        };
        format!("{}/{} {verb}", key.kind.plural(), key.name)
    })
    .await?;
    Ok(EXIT_OK)
}
