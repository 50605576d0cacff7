//! `hareconcile schema KIND`: the JSON Schema the agent validates with.

use clap::Args;
use hareconcile_model::validate::schema_json;
use hareconcile_model::Kind;

use super::{CliError, EXIT_OK};

/// Print the JSON Schema (draft 2020-12) of a kind.
///
/// Point your editor at it for completion and checks while you write
/// manifests, e.g. with the YAML language server.
///
/// Example:
///   hareconcile schema VirtualIP > virtualip.schema.json
///   # then first line of a manifest: # yaml-language-server: $schema=./virtualip.schema.json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SchemaArgs {
    /// Cluster, VirtualIP (vip), Service (svc) or Replication (repl).
    kind: String,
}

pub fn run(args: SchemaArgs) -> Result<u8, CliError> {
    let kind: Kind = args
        .kind
        .parse()
        .map_err(|e: hareconcile_model::UnknownKind| CliError::input(e))?;
    outln!("{}", schema_json(kind).trim_end());
    Ok(EXIT_OK)
}
