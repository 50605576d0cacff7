//! What a Replication asks of this node: which filesystem at which path,
//! and whether it should be mounted here at all.

use std::path::PathBuf;

use hareconcile_model::status::VrrpState;
use hareconcile_model::{Method, Mount, Placement, ReplicationSpec};

use crate::mountinfo::MountEntry;

/// A mount as mount(8) is asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredMount {
    pub path: PathBuf,
    pub fs_type: String,
    pub source: String,
    pub options: Vec<String>,
    /// cifs/smb3: the helper's `credentials=` file.
    pub credentials_file: Option<PathBuf>,
}

/// How mount(8) is run: its arguments, and what its environment carries
/// that must not be in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInvocation {
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
}

/// A cifs password in `options` travels in mount.cifs's `PASSWD`
/// variable, which only root can read in /proc, instead of its command
/// line, which every local user can.
fn moved_to_env(fs_type: &str, option: &str) -> Option<(&'static str, String)> {
    if !Mount::CREDENTIALS_FILE_TYPES.contains(&fs_type) {
        return None;
    }
    let (key, value) = option.split_once('=')?;
    matches!(key, "password" | "pass").then(|| ("PASSWD", value.to_string()))
}

impl DesiredMount {
    /// The mount a Replication declares; `None` for methods that copy data
    /// rather than mount it (the sync controller's).
    pub fn from_spec(spec: &ReplicationSpec) -> Option<DesiredMount> {
        let (fs_type, source, options, credentials_file) = match spec.method {
            Method::Nfs => {
                let nfs = spec.nfs.as_ref()?;
                ("nfs".to_string(), &nfs.source, &nfs.options, None)
            }
            Method::Mount => {
                let mount = spec.mount.as_ref()?;
                (
                    mount.type_.clone(),
                    &mount.source,
                    &mount.options,
                    mount.credentials_file.clone(),
                )
            }
            Method::Rsync | Method::Btrfs | Method::Zfs => return None,
        };
        Some(DesiredMount {
            path: spec.path.clone(),
            fs_type,
            source: source.clone(),
            options: options.clone(),
            credentials_file,
        })
    }

    /// How to run mount(8) for it.
    pub fn invocation(&self) -> MountInvocation {
        let mut env = Vec::new();
        let mut options = Vec::new();
        for option in &self.options {
            match moved_to_env(&self.fs_type, option) {
                Some(variable) => env.push(variable),
                None => options.push(option.clone()),
            }
        }
        if let Some(file) = &self.credentials_file {
            options.push(format!("credentials={}", file.display()));
        }
        let mut args = vec!["-t".to_string(), self.fs_type.clone()];
        if !options.is_empty() {
            args.push("-o".into());
            args.push(options.join(","));
        }
        args.push(self.source.clone());
        args.push(self.path.to_string_lossy().into_owned());
        MountInvocation { args, env }
    }

    /// Whether `entry` is this filesystem (options aside).
    pub fn is_mounted_as(&self, entry: &MountEntry) -> bool {
        same_type(&self.fs_type, &entry.fs_type)
            && trim_source(&self.source) == trim_source(&entry.source)
    }
}

/// The kernel names a type differently from mount(8)'s `-t` in two cases:
/// an NFS v4 mount is `nfs4`, and `-t sshfs` (a FUSE helper) is `fuse.sshfs`.
fn same_type(declared: &str, seen: &str) -> bool {
    declared == seen
        || (declared == "nfs" && seen == "nfs4")
        || seen.strip_prefix("fuse.") == Some(declared)
}

/// `server:/export/` and `server:/export` are the same export.
fn trim_source(source: &str) -> &str {
    let trimmed = source.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.ends_with(':') {
        source
    } else {
        trimmed
    }
}

/// Whether the mount belongs on this node.
/// Whether the mount is wanted here; the status reports it as `desired`.
pub use hareconcile_model::status::MountWanted as Wanted;

/// `on: all` mounts everywhere; `on: master` only where the followed
/// VirtualIP is master (`vip_state` as this node's VRRP controller reports
/// it; `None` before it does) or is preparing to take over: on a planned
/// preempt-back the Services start on the returning node before the VIP
/// moves (make-before-break), and they need their data there first.
pub fn placement(on: Placement, vip_state: Option<VrrpState>, preparing_takeover: bool) -> Wanted {
    match on {
        Placement::All => Wanted::Mounted,
        Placement::Master if vip_state == Some(VrrpState::Master) || preparing_takeover => {
            Wanted::Mounted
        }
        Placement::Master => Wanted::Unmounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> ReplicationSpec {
        serde_json::from_value(value).unwrap()
    }

    fn entry(fs_type: &str, source: &str) -> MountEntry {
        MountEntry {
            mount_point: PathBuf::from("/srv/data"),
            fs_type: fs_type.into(),
            source: source.into(),
            mount_options: vec![],
            super_options: vec![],
        }
    }

    #[test]
    fn nfs_and_mount_methods_become_mount_commands() {
        let nfs = DesiredMount::from_spec(&spec(json!({
            "cluster": "home", "method": "nfs", "path": "/srv/web",
            "nfs": {"source": "10.0.0.5:/export/web", "options": ["vers=4.2", "hard"]}
        })))
        .unwrap();
        assert_eq!(
            nfs.invocation().args,
            [
                "-t",
                "nfs",
                "-o",
                "vers=4.2,hard",
                "10.0.0.5:/export/web",
                "/srv/web"
            ]
        );
        let sshfs = DesiredMount::from_spec(&spec(json!({
            "cluster": "home", "method": "mount", "path": "/srv/data",
            "mount": {"type": "fuse.sshfs", "source": "root@nas:/export"}
        })))
        .unwrap();
        assert_eq!(
            sshfs.invocation().args,
            ["-t", "fuse.sshfs", "root@nas:/export", "/srv/data"]
        );
        let rsync = spec(json!({
            "cluster": "home", "method": "rsync", "path": "/srv", "followVirtualIP": "web"
        }));
        assert_eq!(DesiredMount::from_spec(&rsync), None);
    }

    #[test]
    fn cifs_secrets_stay_off_the_command_line() {
        let cifs = DesiredMount::from_spec(&spec(json!({
            "cluster": "home", "method": "mount", "path": "/srv/share",
            "mount": {"type": "cifs", "source": "//nas/share",
                      "options": ["vers=3.0", "password=s3cret"],
                      "credentialsFile": "/etc/hareconcile/nas.cred"}
        })))
        .unwrap();
        let invocation = cifs.invocation();
        assert_eq!(
            invocation.args,
            [
                "-t",
                "cifs",
                "-o",
                "vers=3.0,credentials=/etc/hareconcile/nas.cred",
                "//nas/share",
                "/srv/share"
            ]
        );
        assert_eq!(invocation.env, [("PASSWD", "s3cret".to_string())]);
    }

    #[test]
    fn recognises_its_filesystem_under_the_kernel_names() {
        let nfs = DesiredMount {
            path: "/srv/data".into(),
            fs_type: "nfs".into(),
            source: "nas:/export/".into(),
            options: vec![],
            credentials_file: None,
        };
        assert!(nfs.is_mounted_as(&entry("nfs4", "nas:/export")));
        assert!(nfs.is_mounted_as(&entry("nfs", "nas:/export/")));
        assert!(!nfs.is_mounted_as(&entry("nfs4", "nas:/other")));
        assert!(!nfs.is_mounted_as(&entry("tmpfs", "nas:/export")));
        let sshfs = DesiredMount {
            fs_type: "sshfs".into(),
            source: "root@nas:/".into(),
            ..nfs
        };
        assert!(sshfs.is_mounted_as(&entry("fuse.sshfs", "root@nas:/")));
    }

    #[test]
    fn master_mounts_follow_the_virtual_ip() {
        use Placement::{All, Master};
        use VrrpState::{Backup, Fault};
        use Wanted::{Mounted, Unmounted};
        for (on, vrrp, preparing, wanted) in [
            (All, None, false, Mounted),
            (All, Some(Backup), false, Mounted),
            (Master, Some(VrrpState::Master), false, Mounted),
            (Master, Some(Backup), true, Mounted),
            (Master, Some(Backup), false, Unmounted),
            (Master, Some(Fault), false, Unmounted),
            (Master, None, false, Unmounted),
        ] {
            assert_eq!(
                placement(on, vrrp, preparing),
                wanted,
                "{on:?} {vrrp:?} {preparing}"
            );
        }
    }
}
