//! A Replication's hooks: `beforeSync` on the source before each pass (a
//! failure skips the pass, so an unquiesced copy never ships), `afterSync`
//! on each target once a new copy is complete there (run by that node's
//! own agent, which sees its copy's `synced` record change). Each list
//! runs in order, one hook at a time, and stops at the first failure.
//!
//! A host command runs without a shell, in a process group of its own,
//! with its stdin closed; at its timeout the whole group is killed, so a
//! script's children do not outlive it. An `exec` hook runs in the
//! container of a Compose service of a Service's stack on this node; a
//! stack that does not run here has no process to quiesce or reload, so
//! the hook is skipped and says so.
//!
//! Every hook sees its context in the environment:
//!
//! | variable | value |
//! |---|---|
//! | `HARECONCILE_HOOK` | `beforeSync` or `afterSync` |
//! | `HARECONCILE_REPLICATION` | the Replication's name |
//! | `HARECONCILE_PATH` | the replicated path |
//! | `HARECONCILE_NODE` | the node running the hook |
//! | `HARECONCILE_SOURCE` | the source node |
//! | `HARECONCILE_TARGETS` | beforeSync: the targets, space-separated |
//! | `HARECONCILE_TERM` | the source's term, `EPOCH NODE` |

use std::time::Duration;

use hareconcile_compose::engine::Engine;
use hareconcile_compose::health::exec::{run_in_stack, ExecError};
use hareconcile_model::{Hook, HookExec, Kind, ObjectKey, ServiceSpec};
use hareconcile_runtime::process_group;
use hareconcile_runtime::Store;

/// Which list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    BeforeSync,
    AfterSync,
}

impl When {
    pub fn as_str(self) -> &'static str {
        match self {
            When::BeforeSync => "beforeSync",
            When::AfterSync => "afterSync",
        }
    }
}

/// What the hooks are told about the sync they surround.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub replication: String,
    pub path: String,
    pub node: String,
    pub source: String,
    pub targets: Vec<String>,
    pub term: String,
}

impl Context {
    fn env(&self, when: When) -> Vec<(String, String)> {
        [
            ("HARECONCILE_HOOK", when.as_str().to_string()),
            ("HARECONCILE_REPLICATION", self.replication.clone()),
            ("HARECONCILE_PATH", self.path.clone()),
            ("HARECONCILE_NODE", self.node.clone()),
            ("HARECONCILE_SOURCE", self.source.clone()),
            ("HARECONCILE_TARGETS", self.targets.join(" ")),
            ("HARECONCILE_TERM", self.term.clone()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }
}

/// Where `exec` hooks reach the containers.
#[derive(Clone)]
pub struct Containers {
    pub docker_host: String,
    pub store: Store,
}

/// How one list of hooks ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// Every hook succeeded (or was skipped: `skipped` says which and why).
    Done { skipped: Vec<String> },
    /// `hook` (e.g. `beforeSync[1] (pihole reloadlists)`) failed: `why`.
    Failed { hook: String, why: String },
}

/// Runs `hooks` in order, stopping at the first failure.
pub async fn run(when: When, hooks: &[Hook], context: &Context, containers: &Containers) -> Ran {
    let env = context.env(when);
    let mut skipped = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        let timeout = hook.timeout.as_std();
        let (what, result) = match (&hook.command, &hook.exec) {
            (Some(command), _) => (command.join(" "), host(command, &env, timeout).await),
            (None, Some(exec)) => {
                let what = format!(
                    "{} in {}/{}",
                    exec.command.join(" "),
                    exec.service,
                    exec.container
                );
                match in_container(exec, &env, timeout, containers).await {
                    Err(ExecError::NotRunning { .. }) => {
                        skipped.push(format!(
                            "{}[{i}] ({what}): the stack does not run on this node",
                            when.as_str()
                        ));
                        continue;
                    }
                    other => (what, other.map_err(|e| e.to_string())),
                }
            }
            // Validation admits no hook without either.
            (None, None) => continue,
        };
        if let Err(why) = result {
            return Ran::Failed {
                hook: format!("{}[{i}] ({what})", when.as_str()),
                why,
            };
        }
    }
    Ran::Done { skipped }
}

/// A host command in a process group of its own, killed whole at `timeout`.
async fn host(
    command: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(&command[0]);
    child
        .args(&command[1..])
        .envs(env.iter().map(|(k, v)| (k, v)));
    let output = match process_group::output(&mut child, timeout, std::future::pending()).await {
        Ok(output) if output.status.success() => return Ok(()),
        Ok(output) => output,
        Err(ended) => return Err(ended.to_string()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join("; ");
    Err(match tail.is_empty() {
        false => format!("{}: {tail}", output.status),
        true => output.status.to_string(),
    })
}

async fn in_container(
    exec: &HookExec,
    env: &[(String, String)],
    timeout: Duration,
    containers: &Containers,
) -> Result<(), ExecError> {
    let project = containers
        .store
        .get(&ObjectKey::new(Kind::Service, exec.service.as_str()))
        .and_then(|o| {
            let spec = o.spec_as::<ServiceSpec>().ok()?;
            Some(
                spec.compose
                    .project
                    .unwrap_or_else(|| o.metadata.name.clone()),
            )
        })
        .ok_or_else(|| {
            ExecError::Engine(format!("Service {:?} is not in the store", exec.service))
        })?;
    let engine = Engine::connect(&containers.docker_host)
        .await
        .map_err(|e| ExecError::Engine(e.to_string()))?;
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let out = run_in_stack(
        &engine,
        (project.as_str(), exec.container.as_str()),
        &exec.command,
        &env,
        timeout,
    )
    .await?;
    if out.success() {
        Ok(())
    } else {
        Err(ExecError::Engine(format!(
            "exit status {}: {}",
            out.exit_code,
            out.tail()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use hareconcile_runtime::testing::{assert_child_died, hung_command};

    fn hook(command: &[&str], timeout: Duration) -> Hook {
        Hook {
            command: Some(command.iter().map(|w| w.to_string()).collect()),
            exec: None,
            timeout: hareconcile_model::Duration::from_millis(timeout.as_millis() as u64),
        }
    }

    fn context() -> Context {
        Context {
            replication: "conf".into(),
            path: "/etc/pihole".into(),
            node: "n1".into(),
            source: "n1".into(),
            targets: vec!["n2".into(), "n3".into()],
            term: "4 n1".into(),
        }
    }

    fn containers() -> Containers {
        let dir = tempfile::tempdir().unwrap();
        Containers {
            docker_host: "unix:///nonexistent".into(),
            store: Store::open(dir.path(), "n1").unwrap(),
        }
    }

    #[tokio::test]
    async fn hooks_run_in_order_with_their_environment_and_stop_at_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let append = |tag: &str| {
            format!(
                "echo {tag} $HARECONCILE_HOOK $HARECONCILE_REPLICATION $HARECONCILE_PATH \
                 $HARECONCILE_NODE $HARECONCILE_SOURCE \"$HARECONCILE_TARGETS\" \"$HARECONCILE_TERM\" >> {}",
                log.display()
            )
        };
        let second = append("second");
        let hooks = [
            hook(&["sh", "-c", &append("first")], Duration::from_secs(30)),
            hook(&["sh", "-c", &second], Duration::from_secs(30)),
            hook(
                &["sh", "-c", "echo broken >&2; exit 3"],
                Duration::from_secs(30),
            ),
            hook(&["sh", "-c", &append("never")], Duration::from_secs(30)),
        ];
        let ran = run(When::BeforeSync, &hooks, &context(), &containers()).await;
        assert_eq!(
            ran,
            Ran::Failed {
                hook: "beforeSync[2] (sh -c echo broken >&2; exit 3)".into(),
                why: "exit status: 3: broken".into()
            }
        );
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "first beforeSync conf /etc/pihole n1 n1 n2 n3 4 n1\n\
             second beforeSync conf /etc/pihole n1 n1 n2 n3 4 n1\n"
        );
    }

    #[tokio::test]
    async fn a_hook_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child");
        let argv = hung_command(&pid_file);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let ran = run(
            When::AfterSync,
            &[hook(&argv, Duration::from_millis(500))],
            &context(),
            &containers(),
        )
        .await;
        assert!(
            matches!(&ran, Ran::Failed { why, .. } if why.contains("process group was killed")),
            "{ran:?}"
        );
        assert_child_died(&pid_file);
    }

    #[tokio::test]
    async fn an_exec_hook_names_the_service_it_cannot_find() {
        let hooks = [Hook {
            command: None,
            exec: Some(HookExec {
                service: "pihole".into(),
                container: "pihole".into(),
                command: vec!["pihole".into(), "reloadlists".into()],
            }),
            timeout: hareconcile_model::Duration::from_secs(5),
        }];
        let ran = run(When::AfterSync, &hooks, &context(), &containers()).await;
        assert_eq!(
            ran,
            Ran::Failed {
                hook: "afterSync[0] (pihole reloadlists in pihole/pihole)".into(),
                why: "Service \"pihole\" is not in the store".into()
            }
        );
    }
}
