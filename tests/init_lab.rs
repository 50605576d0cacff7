//! `hareconcile init` on two lab nodes, then only the steps docs/init.md
//! and docs/two-hosts.md list: copy the directory to n2, run the same init
//! there, add the replication key to root's `authorized_keys` on each
//! node, start both agents as the package does (`--manifests
//! DIR/manifests`). The agents then talk over mutual TLS with the
//! generated token and certificates, `apply` on n1 writes both nodes, and
//! an rsync Replication named with the `ssh:` line cluster.yaml shows
//! pushes the master's files to the standby, checking host keys strictly
//! against the `known_hosts` init collected.
//!
//! Each node is made to look like a host of its own: its own tmpfs at DIR
//! (its /etc/hareconcile), at /etc/ssh (its own sshd host key and
//! config), at /root/.ssh (root's authorized_keys, and no known_hosts but
//! init's) and at the replicated path.

use hareconcile_test_support as support;

use std::path::Path;
use std::time::Duration;

use hareconcile_lab::{require_privileges, Host, NodeCommand, Process};
use support::lab_data::private_mounts_lab;
use support::lab_manifests::web_vip_manifest;
use support::{bin, code_and_text, eventually, LabAgent};

/// Elections, TLS handshakes and the first rsync pass take seconds; a
/// 2-core CI box under load may take many more.
const DEADLINE: Duration = Duration::from_secs(60);

fn init(host: &Host, dir: &Path) -> String {
    let command = NodeCommand::new(bin())
        .args(["init", "--node", "n1=10.77.0.1", "--node", "n2=10.77.0.2"])
        .args(["--name", "lab", "--tls", "--replication-key", "-o"])
        .arg(dir);
    host.exec_ok(command).unwrap().stdout
}

fn copy(host: &Host, from: &Path, to: &Path) {
    host.exec_ok(
        NodeCommand::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(to),
    )
    .unwrap();
}

fn sh(host: &Host, script: &str) -> String {
    host.exec_ok(&["sh", "-c", script]).unwrap().stdout
}

/// sshd as a Debian host runs it: its own ed25519 host key in /etc/ssh,
/// root logging in with a key from /root/.ssh/authorized_keys (empty for
/// now). Returns once it answers on the host's address.
fn host_sshd(host: &Host) -> Process {
    for path in ["/etc/ssh", "/root/.ssh"] {
        host.mount_tmpfs(Path::new(path)).unwrap();
    }
    sh(
        host,
        "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && \
         chmod 700 /root/.ssh && : > /root/.ssh/authorized_keys && \
         mkdir -p /run/sshd && \
         printf '%s\\n' \
           'HostKey /etc/ssh/ssh_host_ed25519_key' \
           'PidFile none' \
           'PermitRootLogin prohibit-password' \
           'PasswordAuthentication no' \
           'KbdInteractiveAuthentication no' \
           'SetEnv SHLVL=1' \
           > /etc/ssh/sshd_config",
    );
    // SHLVL=1: the session's bash then skips the machine's /root/.bashrc,
    // which may block on a developer's box (see hareconcile_lab's sshd).
    let sshd = host
        .spawn(NodeCommand::new("/usr/sbin/sshd").args(["-D", "-e"]))
        .unwrap();
    let address = host.ipv4(0).to_string();
    eventually(
        DEADLINE,
        &format!("sshd on {} answers", host.name()),
        &|| sshd.log(),
        || {
            host.exec(&["ssh-keyscan", "-T", "2", "-t", "ed25519", &address])
                .is_ok_and(|out| out.success() && out.stdout.contains("ssh-ed25519"))
        },
    );
    sshd
}

/// The `ssh:` line init writes into cluster.yaml for Replications.
fn ssh_line(cluster_yaml: &str) -> &str {
    cluster_yaml
        .lines()
        .find_map(|l| l.trim_start_matches(['#', ' ']).strip_prefix("ssh: "))
        .unwrap_or_else(|| panic!("no ssh: line in cluster.yaml:\n{cluster_yaml}"))
}

#[test]
fn init_and_the_documented_steps_make_a_two_node_cluster_with_tls_and_replication() {
    require_privileges!();
    let lab = private_mounts_lab(2);
    let (n1, n2) = (lab.node(1), lab.node(2));
    let etc = lab.dir().join("etc-hareconcile");
    let data = lab.dir().join("srv/data");
    let carried = lab.dir().join("carried");
    std::fs::create_dir_all(&carried).unwrap();
    let mut sshds = Vec::new();
    for host in [n1, n2] {
        host.mount_tmpfs(&etc).unwrap();
        host.mount_tmpfs(&data).unwrap();
        sshds.push(host_sshd(host));
    }

    let out = init(n1, &etc);
    assert!(out.contains("this host is node n1 (10.77.0.1)"), "{out}");
    assert!(
        out.contains("on interface eth0") || out.contains("On n2: copy"),
        "{out}"
    );
    assert!(
        out.contains("wrote ") && out.contains("ssh/id_ed25519"),
        "{out}"
    );
    // Both nodes' host keys, as their sshd presents them.
    let known_hosts = sh(n1, &format!("cat {}/ssh/known_hosts", etc.display()));
    for host in [n1, n2] {
        let key = sh(host, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub");
        let line = format!("{} {}", host.ipv4(0), key.trim());
        assert!(known_hosts.contains(&line), "{line} in\n{known_hosts}");
    }

    // Copy the directory to n2 and run the same command there.
    copy(n1, &etc, &carried);
    copy(n2, &carried, &etc);
    let out = init(n2, &etc);
    assert!(out.contains("this host is node n2 (10.77.0.2)"), "{out}");
    assert!(
        out.contains("kept  ") && out.contains("peer.token"),
        "{out}"
    );
    assert!(
        out.contains("wrote ") && out.contains("tls/node.crt"),
        "{out}"
    );
    assert!(
        out.contains("kept  ") && out.contains("ssh/id_ed25519"),
        "{out}"
    );
    // The replication key may log in as root on every node.
    for host in [n1, n2] {
        sh(
            host,
            &format!(
                "cat {}/ssh/id_ed25519.pub >> /root/.ssh/authorized_keys",
                etc.display()
            ),
        );
    }

    let manifests = etc.join("manifests");
    let a1 = LabAgent::command(&lab, n1).manifests(&manifests).start();
    let a2 = LabAgent::command(&lab, n2).manifests(&manifests).start();

    // The VIP and a Replication following it, with the ssh: init suggests.
    let cluster_yaml =
        std::fs::read_to_string(lab.dir().join("carried/manifests/cluster.yaml")).unwrap();
    let objects = lab.dir().join("objects.yaml");
    std::fs::write(
        &objects,
        format!(
            "{vip}---\n\
             apiVersion: hareconcile.io/v1alpha1\n\
             kind: Replication\n\
             metadata: {{name: data}}\n\
             spec:\n  \
               cluster: lab\n  \
               followVirtualIP: web\n  \
               path: {data}\n  \
               method: rsync\n  \
               rsync:\n    \
                 continuous: true\n    \
                 ssh: {ssh}\n",
            vip = web_vip_manifest(""),
            data = data.display(),
            ssh = ssh_line(&cluster_yaml),
        ),
    )
    .unwrap();
    let out = support::retry(DEADLINE, "apply kept failing", || {
        match code_and_text(&a1.hc(&["apply", "-f", objects.to_str().unwrap()])) {
            (Some(0), out) => Ok(out),
            (_, out) => Err(format!("{out}\n{}", a1.log())),
        }
    });
    assert!(out.contains("n2: virtualips/web created"), "{out}");
    assert!(out.contains("n2: replications/data created"), "{out}");

    let logs = || format!("n1:\n{}\nn2:\n{}", a1.log(), a2.log());
    eventually(DEADLINE, "n2 in sync over TLS", &logs, || {
        let status = a1.hc_stdout(&["status"]);
        let n2_row = status.lines().find(|l| l.starts_with("n2 ")).unwrap_or("");
        n2_row.contains("yes") && n2_row.contains("in sync")
    });
    assert!(a1.log().contains("tls=true"), "{}", a1.log());

    // n1, the preferred master, is the Replication's source; its file
    // reaches n2 over ssh with init's key and known_hosts.
    eventually(DEADLINE, "n1 is the Replication's source", &logs, || {
        a1.object("replication", "data")["status"]["role"] == "source"
    });
    let file = data.join("hello.txt");
    sh(n1, &format!("echo from-n1 > {}", file.display()));
    eventually(DEADLINE, "n1's file reaches n2", &logs, || {
        n2.exec(NodeCommand::new("cat").arg(&file))
            .is_ok_and(|out| out.success() && out.stdout == "from-n1\n")
    });
    drop(sshds);
}
