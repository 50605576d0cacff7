//! The compose side of validation. A Service's manifest is valid only when
//! its compose project loads as the agent will load it: `validate`,
//! `apply`, `diff` and the agent's own loads report every problem of those
//! files as `file:line:col: Service/NAME: compose: message`, before
//! anything is applied, and what the files hold that a single Docker
//! Engine ignores as `...: compose: warning: message`, as `docker compose`
//! warns of it.

use hareconcile_model::load::{Checked, Diagnostic, ReferencedFiles};
use hareconcile_model::{Kind, Object, ServiceSpec};

use crate::controller::load_project;
use crate::file::FileError;

/// Records the digest of the files a Service's project was read from
/// (`sha256:...`), so an edit of `compose.yaml`, an env file or an included
/// file changes the Service: `diff` shows it, `apply` stores it, and the
/// agent acts on it at once instead of at its next recheck.
pub const COMPOSE_FILES_ANNOTATION: &str = "hareconcile.io/compose-files";

/// Checks the compose project of every Service.
pub struct ComposeFiles;

impl ReferencedFiles for ComposeFiles {
    fn check(&self, object: &Object) -> Checked {
        if object.kind != Kind::Service {
            return Checked::default();
        }
        // A spec that does not decode has been reported by the schema.
        let Ok(spec) = object.spec_as::<ServiceSpec>() else {
            return Checked::default();
        };
        match load_project(object, &spec) {
            Ok(project) => Checked {
                warnings: project
                    .warnings
                    .into_iter()
                    .map(|w| Diagnostic {
                        file: w.file,
                        line: w.at.line,
                        column: w.at.column,
                        object: Some(object.key()),
                        message: format!("compose: warning: {}", w.message),
                    })
                    .collect(),
                annotations: [(COMPOSE_FILES_ANNOTATION.to_string(), project.files_digest)].into(),
                ..Checked::default()
            },
            Err(errors) => Checked {
                problems: errors
                    .0
                    .into_iter()
                    .map(|error| diagnostic(object, error))
                    .collect(),
                ..Checked::default()
            },
        }
    }
}

fn diagnostic(object: &Object, error: FileError) -> Diagnostic {
    let (file, line, column, message) = match error {
        FileError::Read { file, source } => (file, 0, 0, format!("cannot read: {source}")),
        FileError::Invalid { file, at, message } => (file, at.line, at.column, message),
    };
    Diagnostic {
        file,
        line,
        column,
        object: Some(object.key()),
        message: format!("compose: {message}"),
    }
}
