//! `hareconcile events [KIND NAME]`: recent transitions and actions.

use clap::Args;
use hareconcile_model::ObjectKey;

use super::get::parse_kind;
use super::output::{age, table, ReportFormat};
use super::{AgentConnection, CliError, EXIT_OK};

/// Show recent events on this node, newest last: state transitions,
/// repairs and failures, with how often each repeated.
///
/// Examples:
///   hareconcile events
///   hareconcile events vip web
///   hareconcile events -o json | jq '.[] | select(.type == "Warning")'
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct EventsArgs {
    kind: Option<String>,
    name: Option<String>,
    /// text, or json/yaml: a list of {object: {kind, name}, type, reason,
    /// message, count, firstTimestamp, lastTimestamp, node}.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: ReportFormat,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: EventsArgs) -> Result<u8, CliError> {
    let key = match (&args.kind, args.name) {
        (Some(kind), Some(name)) => Some(ObjectKey {
            kind: parse_kind(kind)?.ok_or_else(|| CliError::input("name one kind"))?,
            name,
        }),
        (Some(_), None) => return Err(CliError::input("give both KIND and NAME, or neither")),
        _ => None,
    };
    let events = args.agent.client().events(key.as_ref()).await?.items;
    if args.output.print(&events) {
        return Ok(EXIT_OK);
    }
    if events.is_empty() {
        eprintln!("no events");
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                age(Some(e.last_timestamp)),
                format!("{:?}", e.type_),
                e.reason.clone(),
                e.object.to_string(),
                e.count.to_string(),
                e.node.clone(),
                e.message.clone(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &["LAST", "TYPE", "REASON", "OBJECT", "COUNT", "NODE", "MESSAGE"],
            &rows
        )
    );
    Ok(EXIT_OK)
}
