//! `hareconcile get KIND[,KIND...] [NAME]`: list objects as a table, YAML,
//! JSON, names or columns of your choice, and follow their changes.

mod columns;
mod custom_columns;
mod print;
mod selector;

use std::collections::BTreeSet;

use clap::Args;
use hareconcile_model::{Kind, Object};
use hyper::StatusCode;

use self::custom_columns::CustomColumns;
use self::print::Printer;
use self::selector::Selector;
use super::{AgentConnection, CliError, EXIT_OK};
use crate::api::client::{Client, ClientError};

/// List objects of one or more kinds, or show one, and with --watch
/// follow their changes.
///
/// KIND is Cluster, VirtualIP (vip), Service (svc), Replication (repl),
/// several of them comma-separated (vip,svc), or all. The table shows
/// what this node's controllers observed (a VirtualIP's STATE and
/// MASTER, a Service's PLACEMENT) and why an object is not Ready
/// (REASON); fields you left out show their default.
///
/// Output formats (-o):
///   table (default), wide (more status columns), yaml (objects you can
///   edit and apply again), json, name (KIND/NAME, one a line, for
///   scripts), custom-columns=HEADER:.field.path,... (your own columns;
///   paths into the object as -o json prints it, with defaults filled in)
///
/// Examples:
///   hareconcile get vip
///   hareconcile get vip,svc -l tier=web
///   hareconcile get vip web -o yaml
///   hareconcile get all -o wide
///   hareconcile get vip -o custom-columns=NAME:.metadata.name,STATE:.status.state
///   hareconcile get svc -o name --no-headers | xargs -n1 hareconcile describe
///   hareconcile get vip --watch
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct GetArgs {
    /// The kind, several comma-separated, or all.
    #[arg(value_name = "KIND")]
    kinds: String,
    name: Option<String>,
    /// table, wide, yaml, json, name or custom-columns=HEADER:.path,...
    #[arg(short = 'o', long = "output", default_value = "table", value_name = "FORMAT",
          value_parser = parse_output)]
    output: Output,
    /// Only objects whose labels match: key=value, key!=value, key
    /// (has the label), !key (has not); comma-separated, all must hold.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Option<Selector>,
    /// Leave out the header line of tables.
    #[arg(long)]
    no_headers: bool,
    /// After listing, print each object again whenever what is shown of
    /// it changes, until interrupted.
    #[arg(short = 'w', long)]
    watch: bool,
    #[command(flatten)]
    agent: AgentConnection,
}

#[derive(Clone, Debug)]
pub enum Output {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
    CustomColumns(CustomColumns),
}

fn parse_output(text: &str) -> Result<Output, String> {
    Ok(match text {
        "table" => Output::Table,
        "wide" => Output::Wide,
        "yaml" => Output::Yaml,
        "json" => Output::Json,
        "name" => Output::Name,
        other => match other.strip_prefix("custom-columns=") {
            Some(spec) => Output::CustomColumns(spec.parse().map_err(|e| format!("{e}"))?),
            None => {
                return Err(format!(
                    "unknown output format {other:?}: use table, wide, yaml, json, name \
                     or custom-columns=HEADER:.field.path,..."
                ))
            }
        },
    })
}

pub fn parse_kind(kind: &str) -> Result<Option<Kind>, CliError> {
    if kind.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    kind.parse()
        .map(Some)
        .map_err(|e: hareconcile_model::UnknownKind| CliError::input(e))
}

/// The kinds `get` lists: `None` for all of them.
fn parse_kinds(text: &str) -> Result<Option<BTreeSet<Kind>>, CliError> {
    let mut kinds = BTreeSet::new();
    for word in text.split(',') {
        match parse_kind(word.trim())? {
            Some(kind) => kinds.insert(kind),
            None => return Ok(None),
        };
    }
    Ok(Some(kinds))
}

/// Which objects the command is about.
struct Filter {
    kinds: Option<BTreeSet<Kind>>,
    name: Option<String>,
    selector: Option<Selector>,
}

impl Filter {
    fn matches(&self, object: &Object) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&object.kind))
            && self
                .name
                .as_ref()
                .is_none_or(|n| *n == object.metadata.name)
            && self
                .selector
                .as_ref()
                .is_none_or(|s| s.matches(&object.metadata.labels))
    }

    /// The one kind asked for, which the agent can filter on.
    fn single_kind(&self) -> Option<Kind> {
        match &self.kinds {
            Some(kinds) if kinds.len() == 1 => kinds.first().copied(),
            _ => None,
        }
    }
}

pub async fn run(args: GetArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let kinds = parse_kinds(&args.kinds)?;
    if args.name.is_some() && kinds.is_none() {
        return Err(CliError::input("name a kind to get one object by name"));
    }
    // kubectl prefixes names with their kind as soon as it lists several.
    let prefix = kinds.as_ref().is_none_or(|k| k.len() > 1);
    let filter = Filter {
        kinds,
        name: args.name.clone(),
        selector: args.selector,
    };
    let list = client.list(filter.single_kind()).await?;
    let objects: Vec<Object> = list
        .items
        .into_iter()
        .filter(|o| filter.matches(o))
        .collect();
    if let (Some(name), false) = (&args.name, args.watch) {
        if objects.is_empty() {
            let kinds: Vec<String> = filter.kinds.iter().flatten().map(Kind::to_string).collect();
            return Err(CliError::input(format!(
                "{}/{name} not found",
                kinds.join(",")
            )));
        }
    }
    let mut printer = Printer::new(args.output, prefix, args.no_headers);
    printer.list(&objects, args.name.is_some() || args.watch);
    if args.watch {
        watch(&client, &filter, &mut printer, list.resource_version).await?;
    }
    Ok(EXIT_OK)
}

/// Prints every change to the objects the filter selects after
/// `resource_version`, until interrupted or the agent stops. A watch the
/// agent can no longer serve (changes since are no longer kept) lists
/// again and goes on from there, as kubectl's informers do.
async fn watch(
    client: &Client,
    filter: &Filter,
    printer: &mut Printer,
    mut resource_version: u64,
) -> Result<(), CliError> {
    loop {
        match client.watch(filter.single_kind(), resource_version).await {
            Ok(mut changes) => {
                while let Some(change) = changes.next().await? {
                    if filter.matches(&change.object) {
                        printer.change(&change.object);
                    }
                }
            }
            Err(ClientError::Api { status, .. }) if status == StatusCode::GONE => {}
            Err(other) => return Err(other.into()),
        }
        let list = client.list(filter.single_kind()).await?;
        resource_version = list.resource_version;
        for object in list.items.iter().filter(|o| filter.matches(o)) {
            printer.change(object);
        }
    }
}
