//! sshd in lab hosts, for rsync over ssh and sshfs mounts.
//!
//! One host key and one client key per lab: every lab sshd presents the same
//! host key, so a single `known_hosts` line with the pattern `*` lets clients
//! check host keys strictly, as production configurations should, without
//! collecting each host's key.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::process::{NodeCommand, Place, Process};
use crate::topology::{Host, Lab, Shared};

const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The lab's ssh client key and a `known_hosts` that trusts every lab sshd.
/// Clients use them as
/// `-i IDENTITY -o UserKnownHostsFile=KNOWN_HOSTS -o StrictHostKeyChecking=yes -o BatchMode=yes`.
#[derive(Clone, Debug)]
pub struct SshKeys {
    pub identity_file: PathBuf,
    pub known_hosts: PathBuf,
    host_key: PathBuf,
    authorized_keys: PathBuf,
}

impl SshKeys {
    /// The options above, as `ssh` arguments.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "-i".into(),
            self.identity_file.display().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
        ]
    }
}

impl Lab {
    /// The lab's ssh keys, generated on first use.
    pub fn ssh_keys(&self) -> Result<&SshKeys> {
        keys(&self.shared)
    }
}

fn keys(shared: &Shared) -> Result<&SshKeys> {
    if let Some(keys) = shared.ssh_keys.get() {
        return Ok(keys);
    }
    let dir = shared.dir.join("ssh");
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("create", &dir, e))?;
    let keys = SshKeys {
        identity_file: dir.join("id_ed25519"),
        known_hosts: dir.join("known_hosts"),
        host_key: dir.join("host_ed25519"),
        authorized_keys: dir.join("authorized_keys"),
    };
    for key in [&keys.identity_file, &keys.host_key] {
        if !key.exists() {
            Place::root().run_ok(
                &NodeCommand::new("ssh-keygen")
                    .args([
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "hareconcile-lab",
                        "-f",
                    ])
                    .arg(key),
            )?;
        }
    }
    let public = |key: &Path| {
        let path = key.with_extension("pub");
        std::fs::read_to_string(&path).map_err(|e| LabError::io("read", &path, e))
    };
    let authorized = public(&keys.identity_file)?;
    std::fs::write(&keys.authorized_keys, &authorized)
        .map_err(|e| LabError::io("write", &keys.authorized_keys, e))?;
    let known = format!("* {}", public(&keys.host_key)?);
    std::fs::write(&keys.known_hosts, known)
        .map_err(|e| LabError::io("write", &keys.known_hosts, e))?;
    // Another thread may have won the race; its keys are the same files.
    Ok(shared.ssh_keys.get_or_init(|| keys))
}

impl Host {
    /// Starts sshd on port 22 of this host (inside its namespaces, so a
    /// session sees the host's own mounts) and waits until it accepts the
    /// lab key. Only root logs in, only with the lab key; sftp is served for
    /// sshfs.
    ///
    /// Sessions run as nested shells (`SHLVL=1`), so Debian's bash does not
    /// source the machine's `/root/.bashrc` for them as it does for a
    /// top-level shell started by sshd: a developer's rc file may block
    /// (pyenv's `rehash` waits 60 s on a lock left by a killed session) or
    /// print, which stalls or breaks every copy the tests make.
    pub fn start_sshd(&self) -> Result<Process> {
        let keys = keys(&self.shared)?;
        // sshd's privilege separation directory, normally made by its unit.
        let privsep = Path::new("/run/sshd");
        std::fs::create_dir_all(privsep).map_err(|e| LabError::io("create", privsep, e))?;
        let config = self
            .shared
            .dir
            .join("ssh")
            .join(format!("sshd-{}.conf", self.name()));
        let text = format!(
            "Port 22\n\
             ListenAddress 0.0.0.0\n\
             ListenAddress ::\n\
             HostKey {host_key}\n\
             PidFile none\n\
             AuthorizedKeysFile {authorized}\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             Subsystem sftp internal-sftp\n\
             SetEnv SHLVL=1\n",
            host_key = keys.host_key.display(),
            authorized = keys.authorized_keys.display(),
        );
        std::fs::write(&config, text).map_err(|e| LabError::io("write", &config, e))?;
        let sshd = self.spawn(
            NodeCommand::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config),
        )?;
        self.wait_for_sshd(keys, &sshd)?;
        Ok(sshd)
    }

    fn wait_for_sshd(&self, keys: &SshKeys, sshd: &Process) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let login = NodeCommand::new("ssh")
            .args(keys.client_args())
            .args(["-o", "ConnectTimeout=2"])
            .arg(format!("root@{}", self.ipv4(0)))
            .arg("true");
        loop {
            let out = self.exec(login.clone())?;
            if out.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout {
                    what: format!("sshd on {} to accept the lab key", self.name()),
                    last: format!("{}\nsshd log:\n{}", out.stderr, sshd.log()),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
