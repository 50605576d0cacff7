//! `hareconcile validate -f PATH...`: the offline check, and the load that
//! `apply` and `diff` share with it.

use std::path::PathBuf;

use clap::Args;
use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::{load_paths_checked, Diagnostic, Manifest};
use hareconcile_model::Object;
use serde::Serialize;

use super::output::ReportFormat;
use super::{CliError, EXIT_INPUT, EXIT_OK};

/// Check manifests without an agent: YAML syntax, schema, the checks
/// across objects (references, duplicate VRIDs and addresses, priorities,
/// advert intervals), and each Service's compose project as the agent
/// loads it (the compose file, the files it includes or extends, env,
/// label, secret and config files; variables from this shell's
/// environment). Every error is printed as
/// `file:line:col: Kind/name: message`, not only the first, and exit
/// code 2; compose keys a single Docker Engine ignores are warnings
/// (`...: compose: warning: ...`, exit code 0). Paths that declare no
/// object at all (an empty directory, a wrong path) are an error too.
///
/// With -o json or yaml, the same on stdout for scripts and editors:
/// {valid, objects, errors: [{file, line, column, object, field,
/// message}], warnings: [...]}, with the same exit code.
///
/// Examples:
///   hareconcile validate -f manifests/
///   hareconcile validate -f manifests/ -o json | jq -r '.errors[].message'
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ValidateArgs {
    /// Manifest files or directories (searched for *.yaml and *.yml).
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// text (one `file:line:col: Kind/name: message` per problem), json or yaml.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: ReportFormat,
}

pub fn run(args: ValidateArgs) -> Result<u8, CliError> {
    let nothing = nothing_declared(&args.paths, "validated");
    if args.output == ReportFormat::Text {
        let manifests = load(&args.paths, &[])?;
        if manifests.is_empty() {
            return Err(CliError::input(nothing));
        }
        outln!("{} object(s) valid", manifests.len());
        return Ok(EXIT_OK);
    }
    let loaded = load_paths_checked(&args.paths, &[], &ComposeFiles);
    let report = match &loaded {
        Ok(manifests) if manifests.is_empty() => Report {
            valid: false,
            objects: 0,
            errors: vec![Problem {
                file: args.paths[0].display().to_string(),
                line: None,
                column: None,
                object: None,
                field: None,
                message: &nothing,
            }],
            warnings: Vec::new(),
        },
        Ok(manifests) => Report {
            valid: true,
            objects: manifests.len(),
            errors: Vec::new(),
            warnings: manifests
                .iter()
                .flat_map(|m| &m.warnings)
                .map(Problem::from)
                .collect(),
        },
        Err(diagnostics) => Report {
            valid: false,
            objects: 0,
            errors: diagnostics.0.iter().map(Problem::from).collect(),
            warnings: Vec::new(),
        },
    };
    args.output.print(&report);
    Ok(if report.valid { EXIT_OK } else { EXIT_INPUT })
}

/// Why paths that declare no object are refused (by `validate`, and by
/// `apply` with nothing `done`): they are far more often a wrong path or an
/// emptied directory than an intent, and an agent refuses them too once it
/// applied anything from them.
pub(super) fn nothing_declared(paths: &[PathBuf], done: &str) -> String {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!(
        "no manifests in {} (no *.yaml or *.yml file declares an object): nothing was {done}. \
         Check the path; as an agent's --manifests directory or a git commit, it would delete \
         every object applied from it, which the agent refuses without --allow-prune-all",
        paths.join(", ")
    )
}

/// What `validate -o json` prints: field names are part of the CLI's
/// interface (docs/cli.md).
#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    /// How many objects were declared (0 when there are errors).
    objects: usize,
    errors: Vec<Problem<'a>>,
    warnings: Vec<Problem<'a>>,
}

/// One problem; `line` and `column` are 1-based and null for a problem
/// with no position (an unreadable file), `object` (`Kind/name`) and
/// `field` (`spec.vrid`) null when the problem has none.
#[derive(Serialize)]
struct Problem<'a> {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    object: Option<String>,
    field: Option<&'a str>,
    message: &'a str,
}

impl<'a> From<&'a Diagnostic> for Problem<'a> {
    fn from(d: &'a Diagnostic) -> Self {
        let (field, message) = d.field_and_message();
        let positioned = d.line > 0;
        Problem {
            file: d.file.display().to_string(),
            line: positioned.then_some(d.line),
            column: positioned.then_some(d.column),
            object: d.object.as_ref().map(ToString::to_string),
            field,
            message,
        }
    }
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
