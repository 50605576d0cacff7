//! `hareconcile validate -f PATH...`: the offline check, and the load that
//! `apply` and `diff` share with it.

use std::path::PathBuf;

use clap::Args;
use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::{load_paths_checked, Manifest};
use hareconcile_model::Object;

use super::{CliError, EXIT_OK};

/// Check manifests without an agent: YAML syntax, schema, the checks
/// across objects (references, duplicate VRIDs and addresses, priorities,
/// advert intervals), and each Service's compose project as the agent
/// loads it (the compose file, the files it includes or extends, env,
/// label, secret and config files; variables from this shell's
/// environment). Every error is printed as
/// `file:line:col: Kind/name: message`, not only the first, and exit
/// code 2; compose keys a single Docker Engine ignores are warnings
/// (`...: compose: warning: ...`, exit code 0).
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
    let manifests = load(&args.paths, &[])?;
    outln!("{} object(s) valid", manifests.len());
    Ok(EXIT_OK)
}

/// Loads and checks the manifests under `paths` with the files their
/// objects name, against `existing` objects; prints the warnings on
/// stderr. Every problem is in the error.
pub(super) fn load(paths: &[PathBuf], existing: &[Object]) -> Result<Vec<Manifest>, CliError> {
    let manifests = load_paths_checked(paths, existing, &ComposeFiles)?;
    for warning in manifests.iter().flat_map(|m| &m.warnings) {
        eprintln!("{warning}");
    }
    Ok(manifests)
}
