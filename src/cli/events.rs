//! `hareconcile events [KIND NAME]`: recent transitions and actions.

use clap::Args;
use hareconcile_model::ObjectKey;
use hareconcile_runtime::Event;

use super::get::parse_kind;
use super::output::{age, table, table_rows, yaml, ReportFormat};
use super::{AgentConnection, CliError, EXIT_OK};

/// Show recent events on this node, newest last: state transitions,
/// repairs and failures, with how often each repeated. With --watch,
/// then each new event (or repeat) as it is recorded, until interrupted.
///
/// Examples:
///   hareconcile events
///   hareconcile events vip web
///   hareconcile events -o json | jq '.[] | select(.type == "Warning")'
///   hareconcile events --watch
///   hareconcile events --watch -o json    # one event a line
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct EventsArgs {
    kind: Option<String>,
    name: Option<String>,
    /// text, or json/yaml: a list of {object: {kind, name}, type, reason,
    /// message, count, firstTimestamp, lastTimestamp, node}; with --watch,
    /// each event on its own (JSON: one a line).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: ReportFormat,
    /// After listing, print each event as it is recorded.
    #[arg(short = 'w', long)]
    watch: bool,
    #[command(flatten)]
    agent: AgentConnection,
}

const HEADER: [&str; 7] = [
    "LAST", "TYPE", "REASON", "OBJECT", "COUNT", "NODE", "MESSAGE",
];

fn row(e: &Event) -> Vec<String> {
    vec![
        age(Some(e.last_timestamp)),
        format!("{:?}", e.type_),
        e.reason.clone(),
        e.object.to_string(),
        e.count.to_string(),
        e.node.clone(),
        e.message.clone(),
    ]
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
    let client = args.agent.client();
    // Subscribed before listing, so nothing recorded in between is lost.
    let Some(mut live) = (match args.watch {
        true => Some(client.watch_events(key.as_ref()).await?),
        false => None,
    }) else {
        let events = client.events(key.as_ref()).await?.items;
        if args.output.print(&events) {
            return Ok(EXIT_OK);
        }
        match events.is_empty() {
            true => eprintln!("no events"),
            false => out!(
                "{}",
                table(&HEADER, &events.iter().map(row).collect::<Vec<_>>())
            ),
        }
        return Ok(EXIT_OK);
    };
    let mut shown = Shown {
        output: args.output,
        headed: false,
    };
    for event in client.events(key.as_ref()).await?.items {
        shown.print(&event);
    }
    while let Some(event) = live.next().await? {
        shown.print(&event);
    }
    Err(CliError::runtime(
        "the agent ended the watch: it is stopping",
    ))
}

/// What `--watch` printed so far: events one at a time, as table rows
/// under one header, or one JSON document a line (or a YAML document
/// each) for scripts.
struct Shown {
    output: ReportFormat,
    headed: bool,
}

impl Shown {
    fn print(&mut self, event: &Event) {
        match self.output {
            ReportFormat::Text if self.headed => out!("{}", table_rows(&HEADER, &[row(event)])),
            ReportFormat::Text => out!("{}", table(&HEADER, &[row(event)])),
            ReportFormat::Json => outln!(
                "{}",
                serde_json::to_string(event).expect("events always serialize")
            ),
            ReportFormat::Yaml => out!(
                "{}",
                yaml(&serde_json::to_value(event).expect("events always serialize"))
            ),
        }
        self.headed = true;
    }
}
