//! `hareconcile agent`: run this node's store, API and controllers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hareconcile_vrrp::Scheduling;
use tracing_subscriber::EnvFilter;

use super::{CliError, EXIT_OK};
use crate::agent::gitops::{GitRemote, GitSource};
use crate::agent::webhook::{Webhook, WebhookFormat, WebhookHeader, WebhookUrl};
use crate::agent::{self, AgentConfig};
use crate::api::DEFAULT_SOCKET;

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Run the agent of one node: the object store, the local API and every
/// controller, until SIGTERM or SIGINT.
///
/// Objects come from `hareconcile apply` through the API and, with
/// --manifests, from a directory the agent watches: files added or changed
/// there are applied (all or nothing), and removing a file deletes the
/// objects it declared.
///
/// Every flag can also be set by the environment variable named in its
/// help (the packaged unit reads them from /etc/default/hareconcile); a
/// flag given on the command line wins.
///
/// Examples:
///   hareconcile agent --node n1 --state-dir /var/lib/hareconcile \
///       --manifests /etc/hareconcile/manifests
///   hareconcile agent --node n1 --git-url https://git.example/ops.git \
///       --git-branch main --git-path manifests --git-interval 30s
///   HARECONCILE_MANIFESTS=/etc/hareconcile/manifests hareconcile agent
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct AgentArgs {
    /// This node's name, as listed in the Cluster's spec.nodes. Default:
    /// this host's name up to the first dot, in lower case (`hostname -s`).
    #[arg(long, env = "HARECONCILE_NODE", value_name = "NAME")]
    node: Option<String>,
    /// Where the agent keeps its state (created if missing).
    #[arg(
        long,
        env = "HARECONCILE_STATE_DIR",
        value_name = "DIR",
        default_value = "/var/lib/hareconcile"
    )]
    state_dir: PathBuf,
    /// A directory of manifests to apply and keep applied.
    #[arg(long, env = "HARECONCILE_MANIFESTS", value_name = "DIR")]
    manifests: Option<PathBuf>,
    /// Where to serve the API.
    #[arg(long, env = "HARECONCILE_SOCKET", default_value = DEFAULT_SOCKET, value_name = "PATH")]
    socket: PathBuf,
    /// The group whose members may use the API socket (mode 0660), so
    /// operators run `hareconcile get` and `status` without sudo: a group
    /// name or number. Default: `hareconcile` if that group exists (the
    /// package creates it), else only the agent's user may (0600).
    #[arg(long, env = "HARECONCILE_SOCKET_GROUP", value_name = "GROUP")]
    socket_group: Option<String>,
    /// How often every controller reconciles everything even without a change.
    #[arg(long, env = "HARECONCILE_RESYNC", value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    resync: Duration,
    /// Follow this git repository (GitOps pull): every new commit of
    /// --git-branch is validated whole and applied as manager `gitops`.
    /// Credentials in it (https://user:token@host/...) are taken out and
    /// handed to git through its environment, never shown; but a command
    /// line is readable by every local user, so give them in
    /// --git-credentials-file (or this variable) rather than this flag.
    #[arg(long, env = "HARECONCILE_GIT_URL", value_name = "URL")]
    git_url: Option<String>,
    /// The username and password (or token) for --git-url over https: a
    /// file of `username=NAME` and `password=SECRET` lines that only its
    /// owner may read (chmod 600), read at every fetch.
    #[arg(
        long,
        env = "HARECONCILE_GIT_CREDENTIALS_FILE",
        value_name = "FILE",
        requires = "git_url"
    )]
    git_credentials_file: Option<PathBuf>,
    /// The branch to follow.
    #[arg(
        long,
        env = "HARECONCILE_GIT_BRANCH",
        value_name = "BRANCH",
        default_value = "main",
        requires = "git_url"
    )]
    git_branch: String,
    /// The directory within the repository that holds the manifests.
    #[arg(
        long,
        env = "HARECONCILE_GIT_PATH",
        value_name = "DIR",
        default_value = ".",
        requires = "git_url"
    )]
    git_path: PathBuf,
    /// How often to fetch (`hareconcile gitops sync` fetches at once).
    #[arg(long, env = "HARECONCILE_GIT_INTERVAL", value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration, requires = "git_url")]
    git_interval: Duration,
    /// How long one git command may run (a fetch from a server that
    /// stopped answering); it is then killed with its children (ssh) and
    /// the attempt fails, to be retried at the next interval.
    #[arg(long, env = "HARECONCILE_GIT_TIMEOUT", value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration, requires = "git_url")]
    git_timeout: Duration,
    /// Apply only commits signed with an SSH key this file lists (the
    /// allowed signers format of ssh-keygen(1): `PRINCIPAL KEY` a line),
    /// as `git verify-commit` judges them; an unsigned or otherwise signed
    /// commit is rejected and the last good one stays. Needs ssh-keygen.
    /// Example line: `ops@example.org ssh-ed25519 AAAAC3Nz...`
    #[arg(long, env = "HARECONCILE_GIT_ALLOWED_SIGNERS", value_name = "FILE", value_parser = allowed_signers_file, requires = "git_url")]
    git_allowed_signers: Option<PathBuf>,
    /// Let a manifests directory (--manifests) or a git commit that
    /// declares none of the objects applied from it delete them all. Off,
    /// such a set is refused (a PruneRefused event on each object, a
    /// rejected commit): an emptied directory is more often a mistake.
    #[arg(long, env = "HARECONCILE_ALLOW_PRUNE_ALL")]
    allow_prune_all: bool,
    /// How long the agent must run with a new git commit or manifests
    /// directory content before it counts as good. A set being applied
    /// or on trial when the agent died twice (a crash, an abort, the OOM
    /// killer; a SIGTERM never counts) is rejected: its objects are
    /// replaced by the last good set's, a CrashLoopStopped event and
    /// `hareconcile status` say so, and `hareconcile retry SET` tries it
    /// again. Keep it longer than the resync period, so that every
    /// controller has reconciled the set's objects.
    #[arg(long, env = "HARECONCILE_TRIAL_PERIOD", value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    trial_period: Duration,
    /// The Docker Engine that runs this node's Compose stacks.
    #[arg(
        long,
        env = "DOCKER_HOST",
        value_name = "URI",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// Post every event (state transitions, repairs, failures) to this
    /// https:// or http:// URL; best effort, never slows the agent.
    #[arg(long, env = "HARECONCILE_WEBHOOK", value_name = "URL", value_parser = WebhookUrl::parse)]
    webhook: Option<WebhookUrl>,
    /// The body the receiver expects: the event's JSON (raw), or a
    /// message for ntfy, a Slack or Discord webhook, or Gotify.
    #[arg(
        long,
        env = "HARECONCILE_WEBHOOK_FORMAT",
        value_enum,
        default_value = "raw",
        requires = "webhook"
    )]
    webhook_format: WebhookFormat,
    /// A header to send with each post, `Name: value` (repeat the flag for
    /// more; the variable holds one). A token belongs in
    /// --webhook-header-file instead, which only root can read.
    #[arg(long, env = "HARECONCILE_WEBHOOK_HEADER", value_name = "HEADER", value_parser = WebhookHeader::parse, requires = "webhook")]
    webhook_header: Vec<WebhookHeader>,
    /// Headers to send with each post, one `Name: value` a line, from a
    /// file of mode 0600 (e.g. `Authorization: Bearer ...`, `X-Gotify-Key:
    /// ...`).
    #[arg(
        long,
        env = "HARECONCILE_WEBHOOK_HEADER_FILE",
        value_name = "FILE",
        requires = "webhook"
    )]
    webhook_header_file: Option<PathBuf>,
    /// The CA certificates (PEM) an https receiver's certificate must chain
    /// to, for a receiver with a private CA. Default: the system's bundle.
    #[arg(
        long,
        env = "HARECONCILE_WEBHOOK_CA",
        value_name = "FILE",
        requires = "webhook"
    )]
    webhook_ca: Option<PathBuf>,
    /// Serve Prometheus `/metrics` and a `/healthz` check over TCP on this
    /// address (e.g. `0.0.0.0:9879`, `[::]:9879`); off by default. Only
    /// those two paths: the API itself stays on the socket. `/metrics` is
    /// also on the socket (`curl --unix-socket`).
    #[arg(long, env = "HARECONCILE_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// The real-time priority (SCHED_RR, 1-99, as keepalived's
    /// `vrrp_rt_priority`) of the thread every VRRP instance runs on, so
    /// that adverts keep their cadence while the host is busy; `off` for
    /// normal scheduling. Hooks and scripts never inherit it. Without
    /// CAP_SYS_NICE the kernel refuses it: the agent warns and runs the
    /// instances at normal priority (`hareconcile_vrrp_rt_priority` 0).
    #[arg(
        long,
        env = "HARECONCILE_VRRP_RT_PRIORITY",
        value_name = "PRIORITY",
        default_value_t = Scheduling::DEFAULT
    )]
    vrrp_rt_priority: Scheduling,
    /// Log lines as human text or one JSON object per line.
    #[arg(
        long,
        env = "HARECONCILE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

/// Colour on a terminal unless NO_COLOR is set to anything (no-color.org).
fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub async fn run(args: AgentArgs) -> Result<u8, CliError> {
    let filter =
        EnvFilter::try_from_env("HARECONCILE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
    let node = match args.node.filter(|n| !n.is_empty()) {
        Some(node) => node,
        None => host_name().map_err(|e| {
            CliError::input(format_args!(
                "--node not given and this host's name is unusable ({e}): \
                 set --node or HARECONCILE_NODE to the name the Cluster's spec.nodes lists"
            ))
        })?,
    };
    let socket_group = match args.socket_group.filter(|g| !g.is_empty()) {
        Some(group) => Some(group_id(&group)?.ok_or_else(|| {
            CliError::input(format_args!(
                "--socket-group {group}: no such group; create it (groupadd --system {group}) \
                 or name another"
            ))
        })?),
        None => group_id(DEFAULT_SOCKET_GROUP)?,
    };
    let webhook = match args.webhook {
        Some(url) => {
            let mut headers = args.webhook_header;
            if let Some(file) = &args.webhook_header_file {
                headers
                    .extend(WebhookHeader::read_file(file).map_err(|e| {
                        CliError::input(format_args!("--webhook-header-file: {e}"))
                    })?);
            }
            Some(
                Webhook::new(
                    url,
                    args.webhook_format,
                    headers,
                    args.webhook_ca.as_deref(),
                )
                .map_err(CliError::input)?,
            )
        }
        None => None,
    };
    let git = match args.git_url {
        Some(url) => Some(GitSource {
            remote: GitRemote::new(&url, args.git_credentials_file).map_err(CliError::input)?,
            branch: args.git_branch,
            path: args.git_path,
            interval: args.git_interval,
            timeout: args.git_timeout,
            allowed_signers: args.git_allowed_signers,
        }),
        None => None,
    };
    agent::run(AgentConfig {
        node,
        socket_group,
        state_dir: args.state_dir,
        manifests: args.manifests,
        socket: args.socket,
        resync: args.resync,
        git,
        allow_prune_all: args.allow_prune_all,
        webhook,
        metrics_listen: args.metrics_listen,
        vrrp_scheduling: args.vrrp_rt_priority,
        docker_host: args.docker_host,
        trial_period: args.trial_period,
    })
    .await
    .map_err(|e| CliError::runtime(format_args!("{e:#}")))?;
    Ok(EXIT_OK)
}

/// The group that may use the socket when --socket-group is not given.
const DEFAULT_SOCKET_GROUP: &str = "hareconcile";

/// A group's id: `group` is a number, or a name looked up as `getent
/// group` would (files, LDAP, ...). None when there is no such group.
fn group_id(group: &str) -> Result<Option<u32>, CliError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(Some(gid));
    }
    let name = std::ffi::CString::new(group)
        .map_err(|_| CliError::input(format_args!("{group:?} is not a group name")))?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    loop {
        // SAFETY: getgrnam_r writes into `entry` and `buffer`, both ours and
        // of the sizes given; `result` then points at `entry` or is null.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let error = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut result,
            )
        };
        match error {
            0 if result.is_null() => return Ok(None),
            0 => return Ok(Some(entry.gr_gid)),
            libc::ERANGE if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 4, 0),
            _ => {
                return Err(CliError::runtime(format_args!(
                    "looking up group {group}: {}",
                    std::io::Error::from_raw_os_error(error)
                )))
            }
        }
    }
}

/// The node name a host has by default: its name up to the first dot, in
/// lower case, as kubelet and `hostname -s` do, since node names are
/// DNS labels and /etc/hostname sometimes holds a full domain name.
fn host_name() -> std::io::Result<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the length passed is the buffer's; gethostname writes at most that.
    if unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let name = std::str::from_utf8(&buffer[..end])
        .map_err(|_| std::io::Error::other("the host name is not UTF-8"))?;
    node_name_of(name).ok_or_else(|| std::io::Error::other(format!("{name:?} is empty")))
}

fn node_name_of(host_name: &str) -> Option<String> {
    let label = host_name.split('.').next()?.to_ascii_lowercase();
    (!label.is_empty()).then_some(label)
}

/// An allowed signers file that can be read, made absolute: git runs in
/// the agent's repository, not where the agent was started.
fn allowed_signers_file(value: &str) -> Result<PathBuf, String> {
    let path = std::path::absolute(value).map_err(|e| format!("{value}: {e}"))?;
    std::fs::File::open(&path)
        .map(|_| path)
        .map_err(|e| format!("{value}: {e} (the allowed signers file, one `PRINCIPAL KEY` a line)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_becomes_its_first_label_in_lower_case() {
        assert_eq!(node_name_of("NAS1.home.arpa").as_deref(), Some("nas1"));
        assert_eq!(node_name_of("n2").as_deref(), Some("n2"));
        assert_eq!(node_name_of(""), None);
        assert_eq!(node_name_of(".local"), None);
    }

    #[test]
    fn groups_are_found_by_name_or_number() {
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(group_id("4242").unwrap(), Some(4242));
        assert_eq!(group_id("no-such-group-hareconcile-test").unwrap(), None);
    }
}
