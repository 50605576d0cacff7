//! `hareconcile validate -f PATH...`: the offline check.

use std::path::PathBuf;

use clap::Args;
use hareconcile_model::load::load_paths;

use super::{CliError, EXIT_OK};

/// Check manifests without an agent: YAML syntax, schema, and the checks
/// across objects (references, duplicate VRIDs and addresses, priorities,
/// advert intervals). Every error is printed as
/// `file:line:col: Kind/name: message`, not only the first.
///
/// Example:
///   hareconcile validate -f manifests/
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ValidateArgs {
    /// Manifest files or directories (searched for *.yaml and *.yml).
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> Result<u8, CliError> {
    let manifests = load_paths(&args.paths)?;
    println!("{} object(s) valid", manifests.len());
    Ok(EXIT_OK)
}
