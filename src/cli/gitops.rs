//! `hareconcile gitops status|sync`: the agent's git source.

use clap::{Args, Subcommand};

use super::output::age;
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK, EXIT_RUNTIME};
use crate::cluster_view::{AttemptOutcome, GitopsStatus};

/// Show or trigger the agent's GitOps pull.
///
/// `status` shows the repository followed, the commit applied and the last
/// commit attempted with its outcome. `sync` fetches and applies now and
/// exits 0 when the newest commit is applied, 1 when it was rejected
/// (its errors are printed; the last good commit stays), 3 when fetching
/// or applying failed.
///
/// Examples:
///   hareconcile gitops status
///   git push && hareconcile gitops sync
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct GitopsArgs {
    #[command(subcommand)]
    action: GitopsAction,
    #[command(flatten)]
    agent: AgentConnection,
}

#[derive(Subcommand)]
enum GitopsAction {
    /// Show the source, the applied commit and the last attempt.
    Status,
    /// Fetch and apply now, then show the outcome.
    Sync,
}

pub async fn run(args: GitopsArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let status = match args.action {
        GitopsAction::Status => client.gitops_status().await?,
        GitopsAction::Sync => client.gitops_sync().await?,
    };
    out!("{}", render(&status));
    Ok(match status.last_attempted.map(|a| a.outcome) {
        None | Some(AttemptOutcome::Applied { .. }) => EXIT_OK,
        Some(AttemptOutcome::Rejected { .. }) => EXIT_DIFFERENCES,
        Some(AttemptOutcome::Failed { .. }) => EXIT_RUNTIME,
    })
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn render(status: &GitopsStatus) -> String {
    let mut out = format!(
        "Source:          {} (branch {}, path {})\n",
        status.url, status.branch, status.path
    );
    if let Some(signers) = &status.allowed_signers {
        out.push_str(&format!(
            "Signatures:      required (keys listed in {signers})\n"
        ));
    }
    match &status.last_applied {
        Some(applied) => out.push_str(&format!(
            "Applied commit:  {} ({} ago)\n",
            short(&applied.sha),
            age(Some(applied.at))
        )),
        None => out.push_str("Applied commit:  <none yet>\n"),
    }
    let Some(attempt) = &status.last_attempted else {
        out.push_str("Last attempt:    <none yet>\n");
        return out;
    };
    let sha = attempt
        .sha
        .as_deref()
        .map(short)
        .unwrap_or("<fetch failed>");
    let when = age(Some(attempt.at));
    match &attempt.outcome {
        AttemptOutcome::Applied {
            created,
            configured,
            pruned,
        } => out.push_str(&format!(
            "Last attempt:    {sha} applied {when} ago ({created} created, {configured} configured, {pruned} pruned)\n"
        )),
        AttemptOutcome::Rejected { errors } => {
            out.push_str(&format!(
                "Last attempt:    {sha} REJECTED {when} ago; the applied commit stays:\n"
            ));
            for error in errors {
                out.push_str(&format!("  {error}\n"));
            }
        }
        AttemptOutcome::Failed { error } => {
            out.push_str(&format!("Last attempt:    {sha} FAILED {when} ago: {error}\n"))
        }
    }
    out
}
