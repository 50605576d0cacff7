//! A command run in the container of one service of a running stack,
//! through the Engine API's exec: the `exec` health probe, and the
//! Replication hooks that quiesce or reload an application (`pihole
//! reloadlists`) in its own container.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures::StreamExt;
use hareconcile_runtime::process_tree::kill_trees;

use crate::engine::Engine;

/// How a command in a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// Its stdout and stderr, interleaved as they came.
    pub output: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// The last lines of its output, for a message.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.output.lines().filter(|l| !l.is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join("; ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The service has no running container on this node.
    #[error("{service} of project {project} has no running container here")]
    NotRunning { project: String, service: String },
    #[error("{0}")]
    Engine(String),
    #[error("{command} did not finish within {timeout:?}: killed")]
    Timeout { command: String, timeout: Duration },
}

/// Runs `command` with `env` (`KEY=VALUE`) in the running container of
/// Compose service `service` of `project`, waiting up to `timeout`; at
/// the deadline the command's process group is killed.
pub async fn run_in_stack(
    engine: &Engine,
    (project, service): (&str, &str),
    command: &[String],
    env: &[String],
    timeout: Duration,
) -> Result<ExecOutput, ExecError> {
    let engine_error = |e: bollard::errors::Error| ExecError::Engine(e.to_string());
    let containers = engine
        .containers(project)
        .await
        .map_err(|e| ExecError::Engine(e.to_string()))?;
    let container = containers
        .iter()
        .find(|c| c.service == service && c.state == "running")
        .ok_or_else(|| ExecError::NotRunning {
            project: project.to_string(),
            service: service.to_string(),
        })?;
    let docker = engine.docker();
    let exec = docker
        .create_exec(
            &container.name,
            CreateExecOptions {
                cmd: Some(command.to_vec()),
                env: Some(env.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(engine_error)?;
    let collect = async {
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = docker
            .start_exec(&exec.id, None)
            .await
            .map_err(engine_error)?
        {
            while let Some(chunk) = stream.next().await {
                output.push_str(&chunk.map_err(engine_error)?.to_string());
            }
        }
        Ok::<_, ExecError>(output)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok(output) => {
            let output = output?;
            let inspect = docker.inspect_exec(&exec.id).await.map_err(engine_error)?;
            Ok(ExecOutput {
                exit_code: inspect.exit_code.unwrap_or(-1),
                output,
            })
        }
        Err(_) => {
            // The Engine API cannot stop an exec: kill its process with
            // everything it started on the host, where they run (it may
            // lead no process group of its own to kill whole).
            if let Ok(inspect) = docker.inspect_exec(&exec.id).await {
                if let Some(pid) = inspect.pid.and_then(|p| i32::try_from(p).ok()) {
                    kill_trees(vec![pid]);
                }
            }
            Err(ExecError::Timeout {
                command: command.join(" "),
                timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let out = ExecOutput {
            exit_code: 1,
            output: "a\nb\n\nc\nd\n".into(),
        };
        assert!(!out.success());
        assert_eq!(out.tail(), "b; c; d");
    }
}
