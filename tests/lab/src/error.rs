//! The one error type of the lab: every failure names the command or path
//! involved and, for commands, what they printed on stderr.

use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },

    /// A command could not be started at all (missing binary, bad namespace).
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Something the lab waits for (a link-local address, a daemon) did not
    /// happen in time; `last` is the most recent observation.
    #[error("timed out waiting for {what}: {last}")]
    Timeout { what: String, last: String },

    /// The machine cannot host a lab: not root, no network namespaces, no docker.
    #[error("lab unavailable: {0}")]
    Unprivileged(String),

    #[error("invalid lab request: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, LabError>;

impl LabError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
