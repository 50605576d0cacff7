//! `hareconcile replication resolve NAME --keep NODE [PATH...]`: settles
//! the conflicts of a two-way Replication (`direction: both`). The agent
//! addressed does the work, over the Replication's own ssh settings and
//! under the same locks as its sync rounds (see
//! `hareconcile_sync::resolve`), so the CLI needs no ssh keys of its own.

use clap::{Args, Subcommand};

use super::{AgentConnection, CliError, EXIT_OK};
use crate::api::wire::{ResolveRequest, ResolvedWith};

/// Act on a Replication's copies.
#[derive(Args)]
pub struct ReplicationArgs {
    #[command(subcommand)]
    command: ReplicationCommand,
}

#[derive(Subcommand)]
enum ReplicationCommand {
    Resolve(ResolveArgs),
}

/// Settle two-way conflicts: one node's version wins.
///
/// A two-way Replication (direction: both) leaves a file changed on two
/// nodes since their last sync alone on both: a ReplicationConflict event,
/// a Conflict drift finding, Synced False with reason Conflict, and the
/// paths in `status.conflicts`. This command makes --keep's version of
/// each conflicting path everyone's: where --keep deleted the file, the
/// others delete it too. The other versions are overwritten; copy them
/// aside first if you want to merge by hand.
///
/// Run it against any node's agent: that agent first takes --keep's
/// version (unless it is --keep), then gives it to every other node. With
/// PATHs (relative to the Replication's path, as status.conflicts lists
/// them) only those are settled; the other conflicts stay.
///
/// Examples:
///   hareconcile get replication pihole-config -o yaml    # status.conflicts
///   hareconcile replication resolve pihole-config --keep n1
///   hareconcile replication resolve pihole-config --keep n2 custom.list
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ResolveArgs {
    /// The Replication (direction: both).
    #[arg(value_name = "NAME")]
    name: String,
    /// The node whose version wins.
    #[arg(long, value_name = "NODE")]
    keep: String,
    /// Only these conflicting paths (default: all of them).
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: ReplicationArgs) -> Result<u8, CliError> {
    match args.command {
        ReplicationCommand::Resolve(args) => resolve(args).await,
    }
}

async fn resolve(args: ResolveArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let request = ResolveRequest {
        keep: args.keep.clone(),
        paths: args.paths,
    };
    let resolved = client.resolve(&args.name, &request).await?;
    outln!("Replication/{}: kept {}'s version", args.name, args.keep);
    for with in &resolved.items {
        outln!("  {}", describe(with));
    }
    Ok(EXIT_OK)
}

/// `n2: 1 file copied to n2, 0 from it, 0 deleted`, and what is left.
fn describe(with: &ResolvedWith) -> String {
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    let mut line = format!(
        "{peer}: {pushed} {} copied to {peer}, {pulled} from it, {deleted} deleted",
        files(with.pushed),
        peer = with.peer,
        pushed = with.pushed,
        pulled = with.pulled,
        deleted = with.deleted,
    );
    if !with.conflicts.is_empty() {
        line.push_str(&format!(
            "; still in conflict: {}",
            with.conflicts.join(", ")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_moved_and_what_is_left() {
        let mut with = ResolvedWith {
            peer: "n2".into(),
            pushed: 1,
            pulled: 0,
            deleted: 2,
            conflicts: Vec::new(),
        };
        assert_eq!(
            describe(&with),
            "n2: 1 file copied to n2, 0 from it, 2 deleted"
        );
        with.pushed = 3;
        with.conflicts = vec!["a.list".into(), "b.list".into()];
        assert_eq!(
            describe(&with),
            "n2: 3 files copied to n2, 0 from it, 2 deleted; still in conflict: a.list, b.list"
        );
    }
}
