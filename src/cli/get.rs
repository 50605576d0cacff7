//! `hareconcile get KIND [NAME]`: list objects as a table, YAML or JSON.

use clap::Args;
use hareconcile_model::status::AdvertCounters;
use hareconcile_model::{ConditionStatus, Kind, Object, ObjectKey, VirtualIpStatus};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use super::output::{age, object_json, table, yaml, Format};
use super::{AgentConnection, CliError, EXIT_OK};

/// List objects of a kind, or show one.
///
/// KIND is Cluster, VirtualIP (vip), Service (svc), Replication (repl) or
/// all. `-o wide` adds what the controllers observed on this node;
/// `-o yaml` prints objects you can edit and apply again.
///
/// Examples:
///   hareconcile get vip
///   hareconcile get vip web -o yaml
///   hareconcile get all -o wide
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct GetArgs {
    kind: String,
    name: Option<String>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    agent: AgentConnection,
}

pub fn parse_kind(kind: &str) -> Result<Option<Kind>, CliError> {
    if kind.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    kind.parse()
        .map(Some)
        .map_err(|e: hareconcile_model::UnknownKind| CliError::input(e))
}

pub async fn run(args: GetArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let kind = parse_kind(&args.kind)?;
    let objects: Vec<Object> = match (&args.name, kind) {
        (Some(name), Some(kind)) => {
            let key = ObjectKey {
                kind,
                name: name.clone(),
            };
            match client.get(&key).await? {
                Some(object) => vec![object],
                None => return Err(CliError::input(format!("{key} not found"))),
            }
        }
        (Some(_), None) => return Err(CliError::input("name a kind to get one object by name")),
        (None, kind) => client.list(kind).await?.items,
    };
    match args.output {
        Format::Json => {
            let value = if args.name.is_some() {
                object_json(&objects[0])
            } else {
                serde_json::json!({"items": objects.iter().map(object_json).collect::<Vec<_>>()})
            };
            outln!(
                "{}",
                serde_json::to_string_pretty(&value).expect("JSON values serialize")
            );
        }
        Format::Yaml => {
            for object in &objects {
                out!("{}", yaml(&object_json(object)));
            }
        }
        Format::Table | Format::Wide => {
            if objects.is_empty() {
                eprintln!("no objects found");
                return Ok(EXIT_OK);
            }
            let wide = args.output == Format::Wide;
            let mut kinds: Vec<Kind> = objects.iter().map(|o| o.kind).collect();
            kinds.dedup();
            let mut first = true;
            for kind in kinds {
                let of_kind: Vec<&Object> = objects.iter().filter(|o| o.kind == kind).collect();
                if !first {
                    outln!();
                }
                first = false;
                out!(
                    "{}",
                    kind_table(kind, &of_kind, wide, kind_prefix(&args.kind))
                );
            }
        }
    }
    Ok(EXIT_OK)
}

/// `get all` prefixes names with the kind, as kubectl does.
fn kind_prefix(requested: &str) -> bool {
    requested.eq_ignore_ascii_case("all")
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn field(object: &Object, pointer: &str) -> String {
    object
        .spec
        .pointer(pointer)
        .map(text)
        .unwrap_or_else(|| "-".into())
}

/// What the VRRP controller observed here: role, traffic and whether a
/// planned takeover waits for the following Services (`preparing`).
fn vrrp_columns(object: &Object) -> Vec<String> {
    let status: VirtualIpStatus = object.status.details_as().unwrap_or_default();
    let seen = &status.instance;
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    let counter = |count: fn(&AdvertCounters) -> u64| {
        or_dash(seen.counters.as_ref().map(|c| count(c).to_string()))
    };
    let takeover = match status.preparing_takeover {
        true => "preparing",
        false => "-",
    };
    vec![
        or_dash(seen.state.map(|s| s.to_string())),
        or_dash(seen.effective_priority.map(|p| p.to_string())),
        or_dash(seen.master.map(|m| m.to_string())),
        or_dash(seen.transitions.map(|t| t.to_string())),
        format!(
            "{}/{}",
            counter(|c| c.adverts_sent),
            counter(|c| c.adverts_received)
        ),
        or_dash(seen.dropped_adverts.map(|d| d.to_string())),
        or_dash(seen.last_advert.and_then(|t| t.format(&Rfc3339).ok())),
        takeover.into(),
    ]
}

fn ready(object: &Object) -> String {
    match object.status.condition("Ready").map(|c| c.status) {
        Some(ConditionStatus::True) => "True".into(),
        Some(ConditionStatus::False) => "False".into(),
        Some(ConditionStatus::Unknown) | None => "Unknown".into(),
    }
}

/// Columns per kind: the spec fields an operator scans for, then the
/// node-local observations in wide mode.
fn kind_table(kind: Kind, objects: &[&Object], wide: bool, prefix: bool) -> String {
    let (mut header, spec_columns): (Vec<&str>, Vec<(&str, &str)>) = match kind {
        Kind::Cluster => (vec!["NAME"], vec![]),
        Kind::VirtualIP => (
            vec!["NAME"],
            vec![
                ("INTERFACE", "/interface"),
                ("VRID", "/vrid"),
                ("ADDRESSES", "/addresses"),
            ],
        ),
        Kind::Service => (
            vec!["NAME"],
            vec![
                ("MODE", "/mode"),
                ("FOLLOWS", "/followVirtualIP"),
                ("PROJECT", "/compose/project"),
            ],
        ),
        Kind::Replication => (
            vec!["NAME"],
            vec![
                ("METHOD", "/method"),
                ("PATH", "/path"),
                ("FOLLOWS", "/followVirtualIP"),
            ],
        ),
    };
    header.extend(spec_columns.iter().map(|(h, _)| *h));
    if kind == Kind::Cluster {
        header.push("NODES");
    }
    header.extend(["READY", "AGE"]);
    if wide {
        header.extend(["REASON", "GENERATION", "MANAGER"]);
        if kind == Kind::VirtualIP {
            header.extend([
                "STATE",
                "PRIORITY",
                "MASTER",
                "TRANSITIONS",
                "SENT/RECEIVED",
                "DROPPED",
                "LAST-ADVERT",
                "TAKEOVER",
            ]);
        }
    }
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            let name = if prefix {
                format!("{}/{}", o.kind.plural(), o.metadata.name)
            } else {
                o.metadata.name.clone()
            };
            let mut row = vec![name];
            row.extend(spec_columns.iter().map(|(_, p)| field(o, p)));
            if kind == Kind::Cluster {
                let nodes = o.spec.pointer("/nodes").and_then(Value::as_array);
                let names: Vec<String> = nodes
                    .map(|n| n.iter().map(|n| field_of(n, "/name")).collect())
                    .unwrap_or_default();
                row.push(names.join(","));
            }
            row.push(ready(o));
            row.push(age(o.metadata.creation_timestamp));
            if wide {
                row.push(
                    o.status
                        .condition("Ready")
                        .map(|c| c.reason.clone())
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(o.metadata.generation.to_string());
                row.push(
                    o.metadata
                        .manager
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                if kind == Kind::VirtualIP {
                    row.extend(vrrp_columns(o));
                }
            }
            row
        })
        .collect();
    table(&header, &rows)
}

fn field_of(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .map(text)
        .unwrap_or_else(|| "-".into())
}
