//! `hareconcile drift`: declared vs stored vs real, on every node.

use clap::{Args, ValueEnum};

use super::output::{table, yaml};
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::cluster_view::{Category, Finding};

#[derive(Clone, Copy, ValueEnum)]
enum DriftFormat {
    Table,
    Json,
    Yaml,
    Markdown,
}

/// Report drift, per object and node, each finding with its reason and
/// the fix the agent will make or that a person must make:
///   sync    declared (--manifests, git) vs the store: not applied yet,
///           applied by hand over another manager, commit rejected (each
///           node's own, through the peer API);
///   health  the store vs the real system, as controllers see it: not
///           Ready (VIP, stack, mount, ...), a stack's unexpected
///           containers or extra replicas, a container the agent could
///           not create, start or replace (with the last error; it
///           retries), replication lag past maxLag, split brain (two
///           nodes master of one VIP), unreachable node;
///   skew    one node's objects differ from this node's.
///
/// What the agent repairs the moment it sees it (a VIP removed from the
/// master or added on a backup, a stack container stopped by hand) is
/// an event instead (`hareconcile events`: RestoredVip, RemovedStrayVip,
/// and StackRepaired naming what the pass started, created or replaced).
///
/// -o json and yaml print the findings as a list of {node, object,
/// category, reason, message, fix} (docs/cli.md).
///
/// With --exit-code: 0 when there is no drift, 1 when there is.
///
/// Examples:
///   hareconcile drift
///   hareconcile drift -o markdown --exit-code >> report.md
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct DriftArgs {
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: DriftFormat,
    /// Exit 1 when anything drifted.
    #[arg(long)]
    exit_code: bool,
    #[command(flatten)]
    agent: AgentConnection,
}

fn category(c: Category) -> &'static str {
    match c {
        Category::Sync => "sync",
        Category::Health => "health",
        Category::Skew => "skew",
    }
}

fn rows(findings: &[Finding]) -> Vec<Vec<String>> {
    findings
        .iter()
        .map(|f| {
            vec![
                f.node.clone(),
                f.object.clone().unwrap_or_else(|| "-".into()),
                category(f.category).into(),
                f.reason.clone(),
                f.message.clone(),
                f.fix.clone(),
            ]
        })
        .collect()
}

const HEADER: [&str; 6] = ["NODE", "OBJECT", "CATEGORY", "REASON", "MESSAGE", "FIX"];

fn markdown(findings: &[Finding]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        HEADER.join(" | "),
        "---|".repeat(HEADER.len())
    );
    for row in rows(findings) {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

pub async fn run(args: DriftArgs) -> Result<u8, CliError> {
    let findings = args.agent.client().drift().await?;
    match args.output {
        DriftFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&findings).expect("findings serialize")
        ),
        DriftFormat::Yaml => out!(
            "{}",
            yaml(&serde_json::to_value(&findings).expect("findings serialize"))
        ),
        DriftFormat::Markdown if findings.is_empty() => outln!("No drift."),
        DriftFormat::Markdown => out!("{}", markdown(&findings)),
        DriftFormat::Table if findings.is_empty() => outln!("no drift"),
        DriftFormat::Table => out!("{}", table(&HEADER, &rows(&findings))),
    }
    Ok(if args.exit_code && !findings.is_empty() {
        EXIT_DIFFERENCES
    } else {
        EXIT_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_has_one_escaped_row_per_finding() {
        let finding = Finding {
            node: "n2".into(),
            object: Some("Service/shop".into()),
            category: Category::Health,
            reason: "UnexpectedContainer".into(),
            message: "shop_old_1 | not in the compose file".into(),
            fix: "won't fix: remove it by hand".into(),
        };
        let text = markdown(&[finding]);
        assert!(
            text.lines().any(|l| l
                == "| n2 | Service/shop | health | UnexpectedContainer | shop_old_1 \\| not in the compose file | won't fix: remove it by hand |"),
            "{text}"
        );
    }
}
