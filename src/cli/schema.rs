//! `hareconcile schema KIND|all`: the JSON Schema manifests are checked
//! against, as editors read it.

use clap::Args;
use hareconcile_model::published::{all_kinds, kind_schema};

use super::get::parse_kind;
use super::{CliError, EXIT_OK};

/// Print the JSON Schema (draft-07) of a kind, or of every kind with
/// `all`: one schema that picks the kind's by the document's `kind`, for
/// files that declare several. Every field has a description and, where
/// hareconcile fills one in, its default.
///
/// Point your editor at it for completion, hover help and checks while
/// you write manifests, e.g. with the YAML language server.
///
/// Example:
///   hareconcile schema all > hareconcile.schema.json
///   # first line of a manifest:
///   # yaml-language-server: $schema=./hareconcile.schema.json
///
/// The repository ships it as schemas/hareconcile.schema.json.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SchemaArgs {
    /// all, Cluster, VirtualIP (vip), Service (svc) or Replication (repl).
    kind: String,
}

pub fn run(args: SchemaArgs) -> Result<u8, CliError> {
    let schema = match parse_kind(&args.kind)? {
        None => all_kinds(),
        Some(kind) => kind_schema(kind),
    };
    outln!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schemas always print")
    );
    Ok(EXIT_OK)
}
