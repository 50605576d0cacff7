//! `Replication`: data kept consistent between nodes, either shared (a
//! network mount on whichever node needs it) or copied from the master.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSpec {
    pub cluster: String,
    /// Source = where this VirtualIP is master; targets = the other nodes.
    #[serde(
        rename = "followVirtualIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub follow_virtual_ip: Option<String>,
    pub method: Method,
    /// Local path (mount point, sync root, dataset mount point) on every node.
    pub path: PathBuf,
    /// For mounts: mount on every node or only on the master.
    #[serde(default)]
    pub on: Placement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfs: Option<Nfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsync: Option<Rsync>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    /// Targets older than this make the Replication not Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag: Option<Duration>,
    /// For mounts: how often the mount is checked for a stale or hung
    /// server, and how long a check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// Copying methods: a fixed source node instead of `followVirtualIP`'s
    /// master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// rsync: SQLite databases (rsync patterns relative to `path`) copied
    /// through SQLite's online backup, never as live files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sqlite: Vec<String>,
    /// rsync: patterns of what to copy, tried before `exclude` (the first
    /// match decides, as in rsync).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// rsync: patterns of what not to copy (nor delete on the targets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Copying methods: commands around each sync.
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
    /// rsync: from the source to the others (default), or `both`: edits
    /// on any node flow to the others, conflicts are reported.
    #[serde(default, skip_serializing_if = "Direction::is_one_way")]
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The source's copy is the truth; the targets follow it.
    #[default]
    OneWay,
    /// Active-active configuration: a file changed on one node since the
    /// last sync flows to the others; changed on two, it is a conflict.
    Both,
}

impl Direction {
    pub fn is_one_way(&self) -> bool {
        *self == Direction::OneWay
    }
}

/// The node copies come from, whatever the VirtualIPs do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub node: String,
}

/// Commands run around a sync: `beforeSync` on the source before it
/// copies (e.g. quiesce a writer; a failure skips that sync), `afterSync`
/// on each target once a copy is in place (e.g. reload). Each list runs in
/// order, one command at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_sync: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_sync: Vec<Hook>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.before_sync.is_empty() && self.after_sync.is_empty()
    }
}

/// One hook: a host command (`command`, run without a shell) or a command
/// in a container of a Service's stack (`exec`), exactly one of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<HookExec>,
    /// The command's process group is killed at this deadline.
    #[serde(default = "default_hook_timeout")]
    pub timeout: Duration,
}

/// A command run in the container of Compose service `container` of the
/// stack of Service `service`, on the node running the hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookExec {
    pub service: String,
    pub container: String,
    pub command: Vec<String>,
}

fn default_hook_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Nfs,
    Rsync,
    Btrfs,
    Zfs,
    /// Any mount(8) type (sshfs, cifs, glusterfs...), configured in `mount`.
    Mount,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Nfs => "nfs",
            Method::Rsync => "rsync",
            Method::Btrfs => "btrfs",
            Method::Zfs => "zfs",
            Method::Mount => "mount",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    #[default]
    All,
    Master,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nfs {
    /// `server:/export`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// The mount(8) `-t` type, e.g. `fuse.sshfs`, `cifs`.
    #[serde(rename = "type")]
    pub type_: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// cifs/smb3: a private file of `username=`, `password=` and `domain=`
    /// lines, handed to the mount helper as `credentials=`, so the
    /// password is in no manifest, command line or status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

impl Mount {
    /// The types whose mount helper reads a `credentials=` file.
    pub const CREDENTIALS_FILE_TYPES: &'static [&'static str] = &["cifs", "smb3"];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rsync {
    /// Sync on every change (inotify) rather than only on the interval.
    #[serde(default)]
    pub continuous: bool,
    /// Full pass period; with `continuous` it backs up the change events.
    #[serde(default = "default_rsync_interval")]
    pub interval: Duration,
    /// Delete files on targets that vanished at the source.
    #[serde(default)]
    pub delete: bool,
    #[serde(default)]
    pub ssh: Ssh,
}

fn default_rsync_interval() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ssh {
    #[serde(default = "default_ssh_user")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// Host keys the targets must present; without it, ssh's own
    /// known_hosts files. Host keys are always checked strictly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            user: default_ssh_user(),
            identity_file: None,
            port: default_ssh_port(),
            known_hosts_file: None,
        }
    }
}

fn default_ssh_user() -> String {
    "root".to_string()
}

fn default_ssh_port() -> u16 {
    22
}

/// A probe is a statfs(2) of the mount point: it reaches the server, so
/// it fails or hangs when the server is gone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default = "default_probe_interval")]
    pub interval: Duration,
    /// A probe still unanswered after this long makes the mount hung.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            interval: default_probe_interval(),
            timeout: default_probe_timeout(),
        }
    }
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Snapshot-based methods (btrfs, zfs): a read-only snapshot of the path
/// every `interval`, sent incrementally to every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Snapshots kept per side (the newest is the next incremental parent).
    pub retain: u32,
    #[serde(default = "default_rsync_interval")]
    pub interval: Duration,
    /// zfs: the dataset mounted at `path`, e.g. `tank/web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// zfs: the dataset and every dataset below it, snapshotted together
    /// (`zfs snapshot -r`) and sent as one replication stream (`send -R`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recursive: bool,
    #[serde(default)]
    pub ssh: Ssh,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_design_sketch() {
        let spec: ReplicationSpec = serde_json::from_value(serde_json::json!({
            "cluster": "home", "followVirtualIP": "web", "method": "rsync",
            "path": "/srv/web/data",
            "rsync": {"continuous": true, "interval": "5m", "delete": true,
                      "ssh": {"user": "root", "identityFile": "/root/.ssh/id_ed25519"}},
            "maxLag": "15m"
        }))
        .unwrap();
        assert_eq!(spec.follow_virtual_ip.as_deref(), Some("web"));
        assert_eq!(spec.rsync.unwrap().ssh.port, 22);
        assert_eq!(spec.on, Placement::All);
    }

    #[test]
    fn decodes_hooks_filters_databases_and_a_fixed_source() {
        let spec: ReplicationSpec = serde_json::from_value(serde_json::json!({
            "cluster": "home", "source": {"node": "n1"}, "method": "rsync",
            "path": "/etc/pihole", "sqlite": ["gravity.db"], "exclude": ["*.log"],
            "hooks": {
                "beforeSync": [{"command": ["sync"]}],
                "afterSync": [{"exec": {"service": "pihole", "container": "pihole",
                                        "command": ["pihole", "reloadlists"]},
                               "timeout": "1m"}]
            }
        }))
        .unwrap();
        assert_eq!(spec.source.unwrap().node, "n1");
        assert_eq!(spec.hooks.before_sync[0].timeout, Duration::from_secs(30));
        let exec = spec.hooks.after_sync[0].exec.as_ref().unwrap();
        assert_eq!(exec.command, ["pihole", "reloadlists"]);
        assert_eq!(spec.sqlite, ["gravity.db"]);
    }

    #[test]
    fn decodes_snapshot_and_known_hosts() {
        let spec: ReplicationSpec = serde_json::from_value(serde_json::json!({
            "cluster": "home", "followVirtualIP": "web", "method": "zfs",
            "path": "/srv/web",
            "snapshot": {"retain": 4, "dataset": "tank/web",
                         "ssh": {"knownHostsFile": "/etc/hareconcile/known_hosts"}}
        }))
        .unwrap();
        let snapshot = spec.snapshot.unwrap();
        assert_eq!(snapshot.interval, Duration::from_secs(300));
        assert_eq!(snapshot.dataset.as_deref(), Some("tank/web"));
        assert_eq!(
            snapshot.ssh.known_hosts_file.as_deref(),
            Some(std::path::Path::new("/etc/hareconcile/known_hosts"))
        );
        assert_eq!(snapshot.ssh.user, "root");
    }
}
