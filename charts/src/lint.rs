//! The full validation of a rendered chart: the manifests as `validate`
//! checks them, every Service's compose file through the loader the agent
//! runs it with, and every hook or probe a VirtualIP runs from the chart's
//! files present and executable.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hareconcile_compose::file::FileError;
use hareconcile_model::load::{load_paths, Diagnostic, Diagnostics, Manifest};
use hareconcile_model::{Kind, ServiceSpec, VirtualIpSpec};

use crate::{render, Chart, ChartError, Values, ValuesFile};

/// Validates the rendered directory `dir`; the objects when all is well.
pub fn validate_dir(dir: &Path) -> Result<Vec<Manifest>, Diagnostics> {
    let manifests = load_paths(&[dir])?;
    let mut problems = Vec::new();
    for manifest in &manifests {
        let object = &manifest.object;
        let at = |message: String| Diagnostic {
            file: manifest.file.clone(),
            line: manifest.line,
            column: manifest.column,
            object: Some(object.key()),
            message,
        };
        match object.kind {
            Kind::Service => {
                let spec: ServiceSpec = object.spec_as().expect("validated by load_paths");
                if let Err(errors) = hareconcile_compose::load_project(object, &spec) {
                    problems.extend(
                        errors
                            .0
                            .into_iter()
                            .map(|error| compose_problem(object.key(), error)),
                    );
                }
            }
            Kind::VirtualIP => {
                let spec: VirtualIpSpec = object.spec_as().expect("validated by load_paths");
                let manifest_dir = manifest.file.parent().unwrap_or(Path::new("."));
                for argv in commands(&spec) {
                    if let Some(message) = missing_program(manifest_dir, argv) {
                        problems.push(at(message));
                    }
                }
            }
            Kind::Cluster | Kind::Replication => {}
        }
    }
    if problems.is_empty() {
        Ok(manifests)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Renders `chart` with `values` into a temporary directory and validates it.
pub fn lint(chart: &Chart, values: &[ValuesFile]) -> Result<Vec<Manifest>, ChartError> {
    let values = Values::resolve(chart, values)?;
    let rendered = render(chart, &values)?;
    let dir = tempfile::tempdir().map_err(|source| ChartError::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    rendered.write_to(dir.path())?;
    validate_dir(dir.path()).map_err(|Diagnostics(found)| {
        // Name the chart's own file where the problem is in a copy of one
        // (positions hold: it is unchanged), else the render's output.
        let found = found
            .into_iter()
            .map(|mut d| {
                if let Ok(relative) = d.file.strip_prefix(dir.path()) {
                    let relative = relative.to_string_lossy().into_owned();
                    d.file = match chart.file(&relative) {
                        Some(_) => chart.display_path(&relative),
                        None => Path::new("rendered").join(relative),
                    };
                }
                d
            })
            .collect();
        ChartError::Invalid(Diagnostics(found))
    })
}

fn compose_problem(object: hareconcile_model::ObjectKey, error: FileError) -> Diagnostic {
    match error {
        FileError::Read { file, source } => Diagnostic {
            file,
            line: 0,
            column: 0,
            object: Some(object),
            message: format!("cannot read the compose file: {source}"),
        },
        FileError::Invalid { file, at, message } => Diagnostic {
            file,
            line: at.line,
            column: at.column,
            object: Some(object),
            message,
        },
    }
}

/// Every command the VirtualIP runs: notify hooks and track scripts.
fn commands(spec: &VirtualIpSpec) -> impl Iterator<Item = &Vec<String>> {
    let notify = &spec.notify;
    [&notify.master, &notify.backup, &notify.fault, &notify.stop]
        .into_iter()
        .filter(|argv| !argv.is_empty())
        .chain(spec.track.scripts.iter().map(|s| &s.command))
}

/// A program named by a relative path (`files/hooks/up.sh`) runs from the
/// manifest's directory, so it must be there, and executable; a bare name
/// is looked up in the node's PATH and an absolute path is the node's.
fn missing_program(manifest_dir: &Path, argv: &[String]) -> Option<String> {
    let program = Path::new(argv.first()?);
    if program.is_absolute() || program.components().count() < 2 {
        return None;
    }
    let path = manifest_dir.join(program);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => None,
        Ok(_) => Some(format!(
            "{} is not an executable file: chmod +x it in the chart's files/",
            program.display()
        )),
        Err(_) => Some(format!(
            "{} does not exist beside the manifest: add it to the chart's files/ or fix the path",
            program.display()
        )),
    }
}
