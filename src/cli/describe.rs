//! `hareconcile describe KIND NAME`: everything about one object.

use std::fmt::Write;

use clap::Args;
use hareconcile_model::redact;
use hareconcile_model::status::is_terminal;
use hareconcile_model::{Condition, ConditionStatus, Object, ObjectKey};
use hareconcile_runtime::Event;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::get::parse_kind;
use super::output::{age, table, yaml_body};
use super::{AgentConnection, CliError, EXIT_OK};

/// Show one object: metadata, spec, status conditions, what the
/// controllers observed on this node, and its recent events.
///
/// Example:
///   hareconcile describe vip web
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct DescribeArgs {
    kind: String,
    name: String,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: DescribeArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let kind = parse_kind(&args.kind)?
        .ok_or_else(|| CliError::input("describe needs one kind, not all"))?;
    let key = ObjectKey {
        kind,
        name: args.name,
    };
    let object = client
        .get(&key)
        .await?
        .ok_or_else(|| CliError::input(format!("{key} not found")))?;
    let events = client.events(Some(&key)).await?.items;
    out!("{}", render(&object, &events));
    Ok(EXIT_OK)
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

fn render(object: &Object, events: &[Event]) -> String {
    let meta = &object.metadata;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{:<20}{}", format!("{label}:"), value);
    };
    line("Name", meta.name.clone());
    line("Kind", object.kind.to_string());
    let pairs = |m: &std::collections::BTreeMap<String, String>| {
        if m.is_empty() {
            "<none>".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    line("Labels", pairs(&meta.labels));
    line("Annotations", pairs(&meta.annotations));
    line(
        "Manager",
        meta.manager
            .map(|m| m.to_string())
            .unwrap_or_else(|| "<none>".into()),
    );
    line("UID", meta.uid.clone().unwrap_or_default());
    line("Generation", meta.generation.to_string());
    line(
        "Resource version",
        meta.resource_version.clone().unwrap_or_default(),
    );
    line(
        "Created",
        meta.creation_timestamp.map(stamp).unwrap_or_default(),
    );
    out.push_str("Spec:\n");
    // Shown, not applied again: secret option values are redacted.
    out.push_str(&indent(&yaml_body(&redact::spec(&object.spec)), 2));

    out.push_str("Status:\n");
    let observed = object
        .status
        .observed_generation
        .map(|g| g.to_string())
        .unwrap_or_else(|| "<none>".into());
    let _ = writeln!(out, "  Observed generation: {observed}");
    if !object.status.details.is_empty() {
        let details = Value::Object(object.status.details.clone());
        out.push_str(&indent(&yaml_body(&details), 2));
    }
    out.push_str("Conditions:\n");
    if object.status.conditions.is_empty() {
        out.push_str("  <none>: no controller has reported on this object yet\n");
    } else {
        let rows: Vec<Vec<String>> = object
            .status
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    status_word(c.status).into(),
                    c.reason.clone(),
                    age(Some(c.last_transition_time)),
                    c.message.clone(),
                ]
            })
            .collect();
        out.push_str(&indent(
            &table(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], &rows),
            2,
        ));
    }
    let ready = object.status.condition("Ready");
    if let Some(condition) = ready.filter(|c| c.status != ConditionStatus::True) {
        out.push_str(&why_not_ready(object, condition));
    }
    out.push_str("Events:\n");
    if events.is_empty() {
        let note = match ready {
            Some(c) if c.status != ConditionStatus::True => format!(
                "no reconcile of it failed on this node; Ready={} ({}) is what the controller found, above",
                status_word(c.status),
                c.reason
            ),
            _ => "nothing happened to it on this node since the agent started".into(),
        };
        let _ = writeln!(out, "  <none>: {note}");
    } else {
        let rows: Vec<Vec<String>> = events
            .iter()
            .rev()
            .take(20)
            .map(|e| {
                vec![
                    format!("{:?}", e.type_),
                    e.reason.clone(),
                    age(Some(e.last_timestamp)),
                    e.count.to_string(),
                    e.node.clone(),
                    e.message.clone(),
                ]
            })
            .collect();
        out.push_str(&indent(
            &table(
                &["TYPE", "REASON", "LAST", "COUNT", "NODE", "MESSAGE"],
                &rows,
            ),
            2,
        ));
    }
    out
}

fn status_word(status: ConditionStatus) -> &'static str {
    match status {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

fn stamp(time: OffsetDateTime) -> String {
    let stamp = time.format(&Rfc3339).unwrap_or_else(|_| time.to_string());
    format!("{stamp} ({} ago)", age(Some(time)))
}

/// Why `object` is not Ready, whether the controller keeps trying, and
/// whether what it reports belongs to the object's current spec.
fn why_not_ready(object: &Object, ready: &Condition) -> String {
    let mut out = String::from("Not Ready:\n");
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "  {:<18}{value}", format!("{label}:"));
    };
    line("Reason", &ready.reason);
    line("Since", &stamp(ready.last_transition_time));
    line("Message", &ready.message);
    let retried = if is_terminal(object.kind, &ready.reason) {
        "only a change to the declaration or the host helps: the controller checks again at \
         every change and resync, with the same result until then"
    } else {
        "the controller keeps trying, at every change and resync (failed reconciles are \
         retried sooner, with backoff, and listed under Events)"
    };
    line("Retried", retried);
    let observed = ready.observed_generation.unwrap_or(0);
    if observed < object.metadata.generation {
        line(
            "Observed",
            &format!(
                "generation {observed}; the current spec (generation {}) is not reconciled yet",
                object.metadata.generation
            ),
        );
    }
    out
}
