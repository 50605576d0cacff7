//! A hareconcile agent running as a lab node, in its host's network
//! namespace, and what tests ask of it through the CLI.
//!
//! Each node's agent has a directory of its own, `LAB/agent-NODE`, holding
//! its state, its socket and (when it follows one of its own) its
//! `--manifests` directory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hareconcile_lab::{Host, Lab, NodeCommand, Process};
use hareconcile_model::VirtualIpStatus;
use serde_json::Value;

use super::bin;

/// A running agent; dropping it kills it (and so does dropping the lab).
pub struct LabAgent {
    /// The node it runs as.
    pub name: String,
    pub process: Process,
    pub socket: PathBuf,
    /// Its directory: `state/`, `agent.sock`, `manifests/`.
    pub dir: PathBuf,
}

/// `hareconcile agent` for one node, to add options to before [`AgentCommand::start`].
pub struct AgentCommand<'a> {
    host: &'a Host,
    dir: PathBuf,
    command: NodeCommand,
}

impl LabAgent {
    /// The directory of `host`'s agent in `lab`.
    pub fn dir_of(lab: &Lab, host: &Host) -> PathBuf {
        lab.dir().join(format!("agent-{}", host.name()))
    }

    /// The `--manifests` directory of `host`'s own agent, created if missing.
    pub fn manifests_of(lab: &Lab, host: &Host) -> PathBuf {
        let manifests = LabAgent::dir_of(lab, host).join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        manifests
    }

    /// Writes `text` as `lab.yaml` into the manifests directory of `host`'s
    /// agent; returns that directory.
    pub fn write_manifest(lab: &Lab, host: &Host, text: &str) -> PathBuf {
        let manifests = LabAgent::manifests_of(lab, host);
        std::fs::write(manifests.join("lab.yaml"), text).unwrap();
        manifests
    }

    /// `hareconcile agent --node NODE` with its state and socket in its
    /// directory, and nothing else yet.
    pub fn command<'a>(lab: &Lab, host: &'a Host) -> AgentCommand<'a> {
        let dir = LabAgent::dir_of(lab, host);
        let command = NodeCommand::new(bin())
            .args(["agent", "--node", host.name()])
            .arg("--state-dir")
            .arg(dir.join("store"))
            .arg("--socket")
            .arg(dir.join("agent.sock"));
        AgentCommand { host, dir, command }
    }

    /// The `hareconcile` CLI aimed at this agent, to run as it needs.
    pub fn cli(&self) -> Command {
        super::cli(&self.socket)
    }

    /// Runs `hareconcile ARGS` against this agent.
    pub fn hc(&self, args: &[&str]) -> Output {
        super::hc(&self.socket, args)
    }

    /// What `hareconcile ARGS` printed to stdout.
    pub fn hc_stdout(&self, args: &[&str]) -> String {
        super::stdout(&self.hc(args))
    }

    /// Everything the agent logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The object as `get KIND NAME -o json` shows it (`Null` when the
    /// agent does not answer or has no such object).
    pub fn object(&self, kind: &str, name: &str) -> Value {
        serde_json::from_str(&self.hc_stdout(&["get", kind, name, "-o", "json"]))
            .unwrap_or_default()
    }

    /// What this node's VRRP controller reports of VirtualIP `name`.
    pub fn vip_status(&self, name: &str) -> VirtualIpStatus {
        serde_json::from_value(self.object("vip", name)["status"].take()).unwrap_or_default()
    }

    /// The status and reason of the object's condition `type_`.
    pub fn condition(&self, kind: &str, name: &str, type_: &str) -> Option<(String, String)> {
        let object = self.object(kind, name);
        let condition = object["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)?;
        Some((
            condition["status"].as_str()?.to_string(),
            condition["reason"].as_str()?.to_string(),
        ))
    }

    /// `drift -o json --exit-code`: the exit code and the findings.
    pub fn drift(&self) -> (Option<i32>, Vec<Value>) {
        let out = self.hc(&["drift", "-o", "json", "--exit-code"]);
        let findings = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        (out.status.code(), findings)
    }

    /// `events [KIND NAME]`: the events of one object, or all of them.
    pub fn events(&self, of: &[&str]) -> String {
        self.hc_stdout(&[&["events"], of].concat())
    }

    /// The agent's `/metrics` text ("" when it does not answer).
    pub fn metrics(&self) -> String {
        super::get_raw(&self.socket, "/metrics")
    }
}

impl AgentCommand<'_> {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command = self.command.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command = self.command.env(key, value);
        self
    }

    /// Follows `dir` (`--manifests`), which other agents may follow too.
    pub fn manifests(self, dir: &Path) -> Self {
        self.args([OsStr::new("--manifests"), dir.as_os_str()])
    }

    /// Follows its own manifests directory, as written so far.
    pub fn own_manifests(self) -> Self {
        let manifests = self.dir.join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        self.manifests(&manifests)
    }

    /// Follows its own manifests directory, holding `text` as `lab.yaml`.
    pub fn manifest(self, text: &str) -> Self {
        let agent = self.own_manifests();
        std::fs::write(agent.dir.join("manifests/lab.yaml"), text).unwrap();
        agent
    }

    pub fn start(self) -> LabAgent {
        let socket = self.dir.join("agent.sock");
        let process = self.host.spawn(self.command).unwrap();
        LabAgent {
            name: self.host.name().to_string(),
            process,
            socket,
            dir: self.dir,
        }
    }
}
