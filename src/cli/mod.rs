//! The command line. Each subcommand lives in its own file with its
//! arguments and its `run`; this module holds what they share: the
//! connection to the agent and the exit-code policy.
//!
//! Exit codes (DESIGN.md): 0 success, 1 differences found / not ready,
//! 2 usage or input errors, 3 runtime failures.

/// `print!` and `println!` for command output: `print!` panics when stdout
/// is a closed pipe (`| head`); these end the command quietly instead
/// (output::write_stdout). Defined before the subcommand modules so that
/// every one of them can use them.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

macro_rules! outln {
    () => {
        $crate::cli::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod agent;
mod apply;
mod chart;
mod completions;
mod delete;
mod describe;
mod diff;
mod drift;
mod events;
mod explain;
mod fanout;
mod get;
mod gitops;
mod import;
mod init;
mod man;
mod output;
mod replication;
mod retry;
mod schema;
mod status;
mod switchover;
mod validate;
mod vip;
mod wait;

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hareconcile_model::load::Diagnostics;

use crate::api::client::{Client, ClientError};
use crate::api::wire::ErrorBody;
use crate::api::DEFAULT_SOCKET;

pub const EXIT_OK: u8 = 0;
pub const EXIT_DIFFERENCES: u8 = 1;
pub const EXIT_INPUT: u8 = 2;
pub const EXIT_RUNTIME: u8 = 3;

#[derive(Parser)]
#[command(
    name = "hareconcile",
    version = crate::build_info::LONG_VERSION,
    about = "Declarative high availability for small Linux clusters",
    long_about = "hareconcile keeps services available across two or three Linux hosts. \
Declare Cluster, VirtualIP, Service and Replication objects in YAML; the agent on each \
node reconciles VRRP, Docker Compose stacks, mounts and sync jobs toward them and reports drift.",
    after_help = "Examples:\n  hareconcile validate -f manifests/\n  hareconcile agent --node n1 --state-dir /var/lib/hareconcile --manifests /etc/hareconcile\n  hareconcile apply -f manifests/ --wait\n  hareconcile get vip -o wide\n  hareconcile explain vip.spec.track\n  hareconcile vip maintenance web\n  hareconcile switchover web --to n2 --wait\n\nExit codes: 0 success, 1 differences or not ready, 2 bad usage or input, 3 runtime failure."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Boxed: the agent's flags outweigh every other command's.
    Agent(Box<agent::AgentArgs>),
    Validate(validate::ValidateArgs),
    Apply(apply::ApplyArgs),
    Get(get::GetArgs),
    Describe(describe::DescribeArgs),
    Delete(delete::DeleteArgs),
    Diff(diff::DiffArgs),
    Drift(drift::DriftArgs),
    Events(events::EventsArgs),
    Explain(explain::ExplainArgs),
    Gitops(gitops::GitopsArgs),
    Init(init::InitArgs),
    Schema(schema::SchemaArgs),
    Status(status::StatusArgs),
    Vip(vip::VipArgs),
    Switchover(switchover::SwitchoverArgs),
    Replication(replication::ReplicationArgs),
    Retry(retry::RetryArgs),
    Chart(chart::ChartArgs),
    Import(import::ImportArgs),
    #[command(hide = true)]
    Completions(completions::CompletionsArgs),
    #[command(hide = true)]
    Man(man::ManArgs),
}

impl Cli {
    pub async fn run(self) -> Result<u8, CliError> {
        match self.command {
            Command::Agent(args) => agent::run(*args).await,
            Command::Validate(args) => validate::run(args),
            Command::Apply(args) => apply::run(args).await,
            Command::Get(args) => get::run(args).await,
            Command::Describe(args) => describe::run(args).await,
            Command::Delete(args) => delete::run(args).await,
            Command::Diff(args) => diff::run(args).await,
            Command::Drift(args) => drift::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::Explain(args) => explain::run(args),
            Command::Gitops(args) => gitops::run(args).await,
            Command::Init(args) => init::run(args),
            Command::Schema(args) => schema::run(args),
            Command::Status(args) => status::run(args).await,
            Command::Vip(args) => vip::run(args).await,
            Command::Switchover(args) => switchover::run(args).await,
            Command::Replication(args) => replication::run(args).await,
            Command::Retry(args) => retry::run(args).await,
            Command::Chart(args) => chart::run(args).await,
            Command::Import(args) => import::run(args),
            Command::Completions(args) => completions::run(args),
            Command::Man(args) => man::run(args),
        }
    }
}

/// How a command reaches the agent.
#[derive(Args, Clone)]
pub struct AgentConnection {
    /// The agent's API socket.
    #[arg(long, env = "HARECONCILE_SOCKET", default_value = DEFAULT_SOCKET, value_name = "PATH")]
    socket: PathBuf,
}

impl AgentConnection {
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }
}

/// A failure to show a person, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn input(message: impl fmt::Display) -> Self {
        CliError {
            code: EXIT_INPUT,
            message: format!("error: {message}"),
        }
    }

    pub fn runtime(message: impl fmt::Display) -> Self {
        CliError {
            code: EXIT_RUNTIME,
            message: format!("error: {message}"),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Diagnostics> for CliError {
    /// Diagnostics already say where and what, one per line.
    fn from(diagnostics: Diagnostics) -> Self {
        let count = diagnostics.0.len();
        CliError {
            code: EXIT_INPUT,
            message: format!("{diagnostics}\n{count} error(s); nothing was applied"),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Api { status, body } if status.is_client_error() => CliError {
                code: EXIT_INPUT,
                message: describe_api_error(&body),
            },
            other => CliError::runtime(other.to_string()),
        }
    }
}

/// The agent's refusal with every problem it listed, one per line.
fn describe_api_error(body: &ErrorBody) -> String {
    let mut lines = Vec::new();
    for p in &body.problems {
        let field = p.pointer.trim_start_matches('/').replace('/', ".");
        // Validation messages start with their field already.
        if field.is_empty() || p.message.starts_with(&format!("{field}:")) {
            lines.push(format!("{}: {}", p.object, p.message));
        } else {
            lines.push(format!("{}: {field}: {}", p.object, p.message));
        }
    }
    lines.push(format!("error: {}", body.error));
    lines.join("\n")
}
