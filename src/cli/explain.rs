//! `hareconcile explain KIND[.field.path]`: a field's documentation from
//! the published schema, as `kubectl explain` prints it.

use clap::Args;
use hareconcile_model::published::{explain, Explained, FieldDoc};
use hareconcile_model::{Kind, API_VERSION};
use serde_json::Value;

use super::{CliError, EXIT_OK};

/// Describe a kind or one of its fields: what it is for, its type, its
/// default (what hareconcile fills in when it is left out), the values
/// it accepts, and its fields. Lists are stepped into: the fields of
/// spec.track.scripts are those of each script.
///
/// Examples:
///   hareconcile explain vip
///   hareconcile explain virtualip.spec.garp
///   hareconcile explain vip.spec.track.scripts.fall
///   hareconcile explain service.spec --recursive
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ExplainArgs {
    /// A kind (Cluster, VirtualIP/vip, Service/svc, Replication/repl),
    /// then a field path with dots.
    #[arg(value_name = "KIND[.FIELD.PATH]")]
    field: String,
    /// List every field below, as a tree, instead of one level with
    /// descriptions.
    #[arg(long)]
    recursive: bool,
}

pub fn run(args: ExplainArgs) -> Result<u8, CliError> {
    let (kind, path) = args.field.split_once('.').unwrap_or((&args.field, ""));
    let kind: Kind = kind
        .parse()
        .map_err(|e: hareconcile_model::UnknownKind| CliError::input(e))?;
    let explained = explain(kind, path, args.recursive).map_err(CliError::input)?;
    out!("{}", render(&explained, args.recursive));
    Ok(EXIT_OK)
}

fn render(explained: &Explained, recursive: bool) -> String {
    let field = &explained.field;
    let mut out = format!(
        "KIND:       {}\nVERSION:    {API_VERSION}\n\n",
        explained.kind
    );
    if !field.path.is_empty() {
        let name = field.path.rsplit('.').next().unwrap_or_default();
        out.push_str(&format!("FIELD:      {name} <{}>", field.type_name));
        if field.required {
            out.push_str(" -required-");
        }
        out.push_str("\n\n");
    }
    if let Some(description) = &field.description {
        out.push_str(&format!("DESCRIPTION:\n    {description}\n\n"));
    }
    if let Some(default) = &field.default {
        out.push_str(&format!("DEFAULT:    {}\n", plain(default)));
    }
    if let Some(allowed) = &field.allowed {
        out.push_str(&format!("ALLOWED:    {allowed}\n"));
    }
    if field.default.is_some() || field.allowed.is_some() {
        out.push('\n');
    }
    if !field.fields.is_empty() {
        out.push_str("FIELDS:\n");
        for child in &field.fields {
            if recursive {
                tree(child, 1, &mut out);
            } else {
                summary(child, &mut out);
            }
        }
    }
    out
}

/// One field with its type, default and description.
fn summary(field: &FieldDoc, out: &mut String) {
    out.push_str(&format!("  {}", heading(field)));
    if let Some(default) = &field.default {
        out.push_str(&format!(" (default {})", plain(default)));
    }
    out.push('\n');
    if let Some(description) = &field.description {
        out.push_str(&format!("    {description}\n"));
    }
    out.push('\n');
}

/// `--recursive`: names and types, indented by depth.
fn tree(field: &FieldDoc, depth: usize, out: &mut String) {
    out.push_str(&format!("{}{}\n", "  ".repeat(depth), heading(field)));
    for child in &field.fields {
        tree(child, depth + 1, out);
    }
}

fn heading(field: &FieldDoc) -> String {
    let name = field.path.rsplit('.').next().unwrap_or_default();
    let required = if field.required { " -required-" } else { "" };
    format!("{name}\t<{}>{required}", field.type_name)
}

/// Strings as written in YAML, other values as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
