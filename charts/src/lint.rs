//! The full validation of a rendered chart: the manifests as `validate`
//! checks them, every Service's compose file through the loader the agent
//! runs it with, and every hook or probe a VirtualIP runs from the chart's
//! files present and executable.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::{load_paths_checked, Diagnostic, Diagnostics, Manifest};
use hareconcile_model::{Kind, VirtualIpSpec};

use crate::{render, Chart, ChartError, Values, ValuesFile};

/// Validates the rendered directory `dir`; the objects when all is well.
pub fn validate_dir(dir: &Path) -> Result<Vec<Manifest>, Diagnostics> {
    // Compose files are checked as `validate` and the agent check them.
    let manifests = load_paths_checked(&[dir], &[], &ComposeFiles)?;
    let mut problems = Vec::new();
    for manifest in &manifests {
        let object = &manifest.object;
        if object.kind != Kind::VirtualIP {
            continue;
        }
        let spec: VirtualIpSpec = object.spec_as().expect("validated by the load");
        let manifest_dir = manifest.file.parent().unwrap_or(Path::new("."));
        for argv in commands(&spec) {
            if let Some(message) = missing_program(manifest_dir, argv) {
                problems.push(Diagnostic {
                    file: manifest.file.clone(),
                    line: manifest.line,
                    column: manifest.column,
                    object: Some(object.key()),
                    message,
                });
            }
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
    let in_chart = |d: Diagnostic| in_chart(chart, dir.path(), d);
    match validate_dir(dir.path()) {
        Ok(mut manifests) => {
            for manifest in &mut manifests {
                let warnings = std::mem::take(&mut manifest.warnings);
                manifest.warnings = warnings.into_iter().map(in_chart).collect();
            }
            Ok(manifests)
        }
        Err(Diagnostics(found)) => Err(ChartError::Invalid(Diagnostics(
            found.into_iter().map(in_chart).collect(),
        ))),
    }
}

/// A problem found in the render in `dir`, named in the chart's own file
/// where it is in a copy of one (positions hold: it is unchanged), else
/// in the render's output.
fn in_chart(chart: &Chart, dir: &Path, mut d: Diagnostic) -> Diagnostic {
    if let Ok(relative) = d.file.strip_prefix(dir) {
        let relative = relative.to_string_lossy().into_owned();
        d.file = match chart.file(&relative) {
            Some(_) => chart.display_path(&relative),
            None => Path::new("rendered").join(relative),
        };
    }
    d
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_problems_and_missing_or_plain_hooks_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "files/compose.yaml",
            "services:\n  web:\n    image: busybox\n    colour: red\n",
        );
        write("files/hooks/plain.sh", "#!/bin/sh\n");
        write(
            "objects.yaml",
            "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: c}\nspec: {nodes: [{name: n1, address: 10.0.0.1}]}\n\
             ---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {name: v}\n\
             spec: {cluster: c, interface: eth0, vrid: 1, addresses: [10.0.0.100/24],\n       \
             notify: {master: [files/hooks/up.sh], backup: [files/hooks/plain.sh], fault: [logger, x]}}\n\
             ---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {name: web}\n\
             spec: {cluster: c, followVirtualIP: v, compose: {file: files/compose.yaml}}\n",
        );
        let message = validate_dir(dir.path()).unwrap_err().to_string();
        let compose = dir.path().join("files/compose.yaml").display().to_string();
        assert!(
            message.contains(&format!("{compose}:4:5: Service/web: "))
                && message.contains("colour"),
            "{message}"
        );
        // The compose problem stops the load; the hooks are checked once it passes.
        write(
            "files/compose.yaml",
            "services:\n  web:\n    image: busybox\n",
        );
        let message = validate_dir(dir.path()).unwrap_err().to_string();
        let objects = dir.path().join("objects.yaml").display().to_string();
        assert_eq!(
            message,
            format!(
                "{objects}:6:1: VirtualIP/v: files/hooks/up.sh does not exist beside the manifest: add it to the chart's files/ or fix the path\n\
                 {objects}:6:1: VirtualIP/v: files/hooks/plain.sh is not an executable file: chmod +x it in the chart's files/"
            )
        );
    }
}
