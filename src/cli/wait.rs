//! `--wait`: watch objects until every one is Ready for its current
//! generation, saying so for each as it happens, and stop early when a
//! controller reports a reason only a person can fix
//! (`hareconcile_model::status::is_terminal`), as kstatus stops at
//! Stalled.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clap::Args;
use hareconcile_model::status::is_terminal;
use hareconcile_model::{Condition, ConditionStatus, Object, ObjectKey};

use super::{CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::api::client::Client;

/// `--wait[=TIMEOUT]` and `--timeout`, for commands whose objects become
/// Ready.
#[derive(Args, Clone, Copy)]
pub struct WaitArgs {
    /// Wait until every object is Ready (60s unless --wait=TIMEOUT or
    /// --timeout TIMEOUT); stops early, with exit code 1, when an object
    /// cannot become Ready until someone changes the declaration or the host.
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, require_equals = true,
          value_parser = humantime::parse_duration)]
    wait: Option<Option<Duration>>,
    /// How long --wait waits (60s).
    #[arg(long, value_name = "TIMEOUT", requires = "wait",
          value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl WaitArgs {
    /// How long to wait until Ready, if at all.
    pub fn timeout(&self) -> Result<Option<Duration>, CliError> {
        self.timeout_or(DEFAULT_TIMEOUT)
    }

    /// How long to wait, if at all, for a command whose wait has another
    /// default (it then says so in its own help for --wait, with
    /// `#[command(mut_arg("wait", ...))]`).
    pub fn timeout_or(&self, default: Duration) -> Result<Option<Duration>, CliError> {
        match (self.wait, self.timeout) {
            (Some(Some(_)), Some(_)) => Err(CliError::input(
                "--wait=TIMEOUT and --timeout both say how long: give one",
            )),
            (Some(given), timeout) => Ok(Some(given.or(timeout).unwrap_or(default))),
            (None, _) => Ok(None),
        }
    }
}

/// Where an object stands for `--wait`.
enum Verdict<'a> {
    Ready,
    /// Only a person can make it Ready: the condition says why.
    Stalled(&'a Condition),
    /// Not yet, and why.
    Waiting(String),
}

fn verdict(object: Option<&Object>) -> Verdict<'_> {
    let Some(object) = object else {
        return Verdict::Waiting("deleted meanwhile".into());
    };
    let Some(ready) = object.status.condition("Ready") else {
        return Verdict::Waiting("no controller has reported on it yet".into());
    };
    // A condition from before the last change says nothing about it.
    if ready.observed_generation.unwrap_or(0) < object.metadata.generation {
        return Verdict::Waiting(format!(
            "generation {} not observed yet",
            object.metadata.generation
        ));
    }
    match ready.status {
        ConditionStatus::True => Verdict::Ready,
        _ if is_terminal(object.kind, &ready.reason) => Verdict::Stalled(ready),
        status => Verdict::Waiting(format!("{} ({status:?}): {}", ready.reason, ready.message)),
    }
}

fn name(key: &ObjectKey) -> String {
    format!("{}/{}", key.kind.plural(), key.name)
}

/// Polls until every object in `keys` is Ready, printing a line for each
/// as it becomes so. Exit code 1 when one is stalled (at once) or the
/// timeout passes, each time with what is not Ready and why.
pub async fn until_ready(
    client: &Client,
    keys: &[ObjectKey],
    timeout: Duration,
) -> Result<u8, CliError> {
    let deadline = Instant::now() + timeout;
    let mut ready: BTreeSet<&ObjectKey> = BTreeSet::new();
    loop {
        let objects = client.list(None).await?.items;
        let mut waiting = Vec::new();
        let mut stalled = Vec::new();
        for key in keys {
            let object = objects.iter().find(|o| o.key() == *key);
            match verdict(object) {
                Verdict::Ready => {
                    if ready.insert(key) {
                        outln!("{} ready", name(key));
                    }
                }
                Verdict::Stalled(condition) => stalled.push(format!(
                    "{}: {}: {}",
                    name(key),
                    condition.reason,
                    condition.message
                )),
                Verdict::Waiting(why) => waiting.push(format!("{}: {why}", name(key))),
            }
        }
        if !stalled.is_empty() {
            eprintln!(
                "stopped waiting: {} cannot become Ready until the declaration or the host changes:\n  {}",
                if stalled.len() == 1 { "an object" } else { "objects" },
                stalled.join("\n  ")
            );
            if !waiting.is_empty() {
                eprintln!("not Ready yet either:\n  {}", waiting.join("\n  "));
            }
            return Ok(EXIT_DIFFERENCES);
        }
        if waiting.is_empty() {
            outln!("all {} object(s) ready", keys.len());
            return Ok(EXIT_OK);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "timed out after {} waiting for Ready:\n  {}",
                humantime::format_duration(timeout),
                waiting.join("\n  ")
            );
            return Ok(EXIT_DIFFERENCES);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
