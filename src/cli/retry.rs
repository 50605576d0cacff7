//! `hareconcile retry SET`: try again a set the crash-loop breaker
//! rejected.

use clap::Args;

use super::{AgentConnection, CliError, EXIT_OK};
use hareconcile_model::Manager;

/// Try again a git commit or --manifests content that was rejected
/// because the agent died twice while applying it.
///
/// Such a set is skipped until it is retried (or the source moves on:
/// a new commit, changed files). Retry it when the deaths had another
/// cause (a power cut, the OOM killer acting on another process); if it
/// kills the agent twice more, it is rejected again. `hareconcile status`
/// names the rejected sets; SET is one of them, or the start of one.
///
/// Examples:
///   hareconcile retry 3f2c9a1b7d40
///   hareconcile retry 3f2c9a1b7d40 && hareconcile gitops sync
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct RetryArgs {
    /// The rejected commit's SHA or directory content's digest (a unique
    /// start of it will do).
    #[arg(value_name = "SET")]
    set: String,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: RetryArgs) -> Result<u8, CliError> {
    if args.set.is_empty() || !args.set.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::input(format_args!(
            "{:?} is not a commit SHA or content digest (hexadecimal digits); \
             `hareconcile status` names the rejected sets",
            args.set
        )));
    }
    let rejection = args.agent.client().retry(&args.set).await?;
    let when = match rejection.source {
        Manager::Gitops => "at the next fetch (`hareconcile gitops sync` fetches now)",
        _ => "at the next resync of the manifests directory",
    };
    out!(
        "{} is no longer rejected; the agent tries it again {when}\n",
        rejection.name()
    );
    Ok(EXIT_OK)
}
