//! The built-in example: two nodes serving `manifests/` in a lab made of
//! network namespaces (no VMs, nothing touched outside the lab).
//!
//! Each node gets a Docker Engine, an sshd (for the `certs` Replication)
//! and its own tmpfs at the replicated path, as separate hosts would have.
//! The agents serve a copy of `manifests/` whose host paths (the peer
//! token and ssh keys under /etc/hareconcile, the certificates under
//! /srv/web) point into the lab directory instead: the files are otherwise
//! the ones in the repository. The example waits until n1 serves the stack
//! on the VIP with the certificates replicated to n2, shows what each node
//! sees, then takes n1 off the LAN (n2 takes the VIP and starts the stack)
//! and brings it back (n1 preempts). Exits 0 when both nodes converged.
//! Run it through the script, which builds the binary and installs the
//! lab's tools first:
//!
//!   sudo scripts/example.sh            # add --hold to keep it running
//!
//! `tests/example.rs` runs the same code, so it cannot rot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hareconcile_lab::{busybox_image, Dockerd, Host, Lab, NodeCommand, Process};

const VIP: &str = "10.77.0.100";
/// Docker and ssh take seconds each; a loaded machine several times more.
const DEADLINE: Duration = Duration::from_secs(90);

fn main() {
    let hold = std::env::args().any(|a| a == "--hold");
    if let Err(message) = run_example(hold) {
        eprintln!("example failed: {message}");
        std::process::exit(1);
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HARECONCILE_BIN") {
        return path.into();
    }
    // target/<profile>/examples/two_node → target/<profile>/hareconcile
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("hareconcile"))
        .expect("examples live under target/<profile>/examples")
}

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")
}

/// The host paths in `manifests/` and where the example puts them.
struct LabPaths {
    token: PathBuf,
    certs: PathBuf,
    identity_file: PathBuf,
    known_hosts: PathBuf,
}

impl LabPaths {
    fn replacements(&self) -> [(&'static str, &Path); 4] {
        [
            ("/etc/hareconcile/ssh/id_ed25519", &self.identity_file),
            ("/etc/hareconcile/ssh/known_hosts", &self.known_hosts),
            ("/etc/hareconcile/peer.token", &self.token),
            ("/srv/web/certs", &self.certs),
        ]
    }
}

/// Copies `from` (the repository's `manifests/`) to `to` with the host
/// paths replaced. A host path left over means the manifests gained one
/// the example does not provide: better to say so than to start agents
/// that wait for it forever.
fn copy_manifests(from: &Path, to: &Path, paths: &LabPaths) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("create {}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_manifests(&source, &target, paths)?;
            continue;
        }
        let mut text = std::fs::read_to_string(&source)
            .map_err(|e| format!("read {}: {e}", source.display()))?;
        let replacements = paths.replacements();
        if let Some(line) = text.lines().find(|l| {
            !l.trim_start().starts_with('#')
                && (l.contains("/etc/") || l.contains("/srv/"))
                && !replacements
                    .iter()
                    .any(|(host_path, _)| l.contains(host_path))
        }) {
            return Err(format!(
                "{} uses a host path the example does not provide: {}",
                source.display(),
                line.trim()
            ));
        }
        for (host_path, lab_path) in replacements {
            text = text.replace(host_path, &lab_path.display().to_string());
        }
        std::fs::write(&target, text).map_err(|e| format!("write {}: {e}", target.display()))?;
    }
    Ok(())
}

struct Node<'a> {
    host: &'a Host,
    socket: PathBuf,
    _agent: Process,
    _sshd: Process,
    /// Each node has its own Docker Engine, as separate hosts would.
    _docker: Dockerd,
}

impl Node<'_> {
    fn hc(&self, args: &[&str]) -> String {
        let output = std::process::Command::new(binary())
            .args(args)
            .env("HARECONCILE_SOCKET", &self.socket)
            .output()
            .expect("run hareconcile");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    }

    /// Whether the object's `Ready` condition is True on this node.
    fn ready(&self, kind: &str, name: &str) -> bool {
        let json = self.hc(&["get", kind, name, "-o", "json"]);
        serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|object| {
                object["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")
                    .map(|c| c["status"] == "True")
            })
            .unwrap_or(false)
    }

    fn holds_vip(&self) -> bool {
        self.host
            .exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
            .map(|o| o.stdout.contains(&format!(" {VIP}/")))
            .unwrap_or(false)
    }

    fn has_certificate(&self, paths: &LabPaths) -> bool {
        self.host
            .exec(&["cat", &paths.certs.join("web.pem").display().to_string()])
            .map(|o| o.stdout.contains("example certificate"))
            .unwrap_or(false)
    }
}

fn start_node<'a>(lab: &'a Lab, i: usize, paths: &LabPaths) -> Result<Node<'a>, String> {
    let host = lab.node(i);
    host.mount_tmpfs(&paths.certs).map_err(|e| e.to_string())?;
    let sshd = host.start_sshd().map_err(|e| e.to_string())?;
    let docker = host.start_dockerd().map_err(|e| e.to_string())?;
    busybox_image(docker.uri()).map_err(|e| e.to_string())?;
    let state = lab.dir().join(format!("{}-state", host.name()));
    let socket = lab.dir().join(format!("{}.sock", host.name()));
    let agent = host
        .spawn(
            NodeCommand::new(binary())
                .args(["agent", "--node", host.name(), "--resync", "5s"])
                .arg("--state-dir")
                .arg(&state)
                .arg("--socket")
                .arg(&socket)
                .arg("--manifests")
                .arg(lab.dir().join("manifests"))
                .arg("--docker-host")
                .arg(docker.uri()),
        )
        .map_err(|e| e.to_string())?;
    println!(
        "started the agent of {} (log: {})",
        host.name(),
        agent.log_path().display()
    );
    Ok(Node {
        host,
        socket,
        _agent: agent,
        _sshd: sshd,
        _docker: docker,
    })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<Duration, String> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > DEADLINE {
            return Err(format!("timed out waiting until {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(start.elapsed())
}

fn vip_holders(nodes: &[Node]) -> String {
    let holders: Vec<&str> = nodes
        .iter()
        .filter(|n| n.holds_vip())
        .map(|n| n.host.name())
        .collect();
    if holders.is_empty() {
        "nobody".into()
    } else {
        holders.join(" and ")
    }
}

/// What the client gets from the web stack on the VIP, if it answers.
fn fetch(lab: &Lab) -> Option<String> {
    let url = format!("http://{VIP}:8080/worker.txt");
    let out = lab.client().exec(&["curl", "-sSf", "-m", "1", &url]).ok()?;
    out.success().then(|| out.stdout.trim().to_string())
}

/// Runs the example; `hold` keeps the lab up until the process is killed.
pub fn run_example(hold: bool) -> Result<(), String> {
    let lab = Lab::builder()
        .nodes(2)
        .client(true)
        .private_mounts(true)
        .build()
        .map_err(|e| format!("building the lab (run as root): {e}"))?;
    println!(
        "lab {} up: n1 10.77.0.1, n2 10.77.0.2, client 10.77.0.250 on one LAN",
        lab.id()
    );
    let keys = lab.ssh_keys().map_err(|e| e.to_string())?;
    let paths = LabPaths {
        token: lab.dir().join("etc/peer.token"),
        certs: lab.dir().join("srv/web/certs"),
        identity_file: keys.identity_file.clone(),
        known_hosts: keys.known_hosts.clone(),
    };
    std::fs::create_dir_all(lab.dir().join("etc")).map_err(|e| e.to_string())?;
    // Private, as the agent requires of a secret.
    std::fs::write(&paths.token, format!("example-{}\n", lab.id())).map_err(|e| e.to_string())?;
    std::fs::set_permissions(
        &paths.token,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| e.to_string())?;
    copy_manifests(&manifests(), &lab.dir().join("manifests"), &paths)?;

    // n1 is started (and so elected) first, with the certificates the
    // Service requires already in its copy: a Replication refuses to push
    // an empty source over a target.
    let n1 = start_node(&lab, 1, &paths)?;
    n1.host
        .exec_ok(&[
            "sh",
            "-c",
            &format!(
                "echo 'example certificate' > {}",
                paths.certs.join("web.pem").display()
            ),
        ])
        .map_err(|e| e.to_string())?;
    let nodes = vec![n1, start_node(&lab, 2, &paths)?];
    wait_until("both nodes report Cluster home Ready", || {
        nodes.iter().all(|n| n.ready("cluster", "home"))
    })?;
    wait_until("one node holds the VIP", || {
        nodes[0].holds_vip() != nodes[1].holds_vip()
    })?;
    let serving = wait_until("the client gets the page from the VIP", || {
        fetch(&lab).is_some()
    })?;
    println!(
        "{VIP} is held by {}; the web stack answers the client ({:.1} s after the VIP)",
        vip_holders(&nodes),
        serving.as_secs_f64()
    );
    wait_until("the certificates reach n2", || {
        nodes[1].has_certificate(&paths)
    })?;
    println!("the certificates were replicated from n1 to n2");
    for node in &nodes {
        println!(
            "\n== {} sees ==\n{}",
            node.host.name(),
            node.hc(&["get", "all", "-o", "wide"])
        );
    }
    println!("\n== status on n1 ==\n{}", nodes[0].hc(&["status"]));

    println!("taking n1 off the LAN (node loss)...");
    let lost = Instant::now();
    lab.node_loss(lab.node(1)).map_err(|e| e.to_string())?;
    wait_until("n2 takes over", || nodes[1].holds_vip())?;
    println!(
        "n2 took the VIP after {:.1} s; {VIP} is held by {} (n1, cut off, cannot know it lost)",
        lost.elapsed().as_secs_f64(),
        vip_holders(&nodes)
    );
    wait_until("n2 serves the stack", || fetch(&lab).is_some())?;
    println!(
        "the client gets the page from n2's stack {:.1} s after the loss",
        lost.elapsed().as_secs_f64()
    );
    println!("bringing n1 back...");
    lab.node_restore(lab.node(1)).map_err(|e| e.to_string())?;
    wait_until("n1 preempts back and n2 lets go", || {
        nodes[0].holds_vip() && !nodes[1].holds_vip()
    })?;
    wait_until("n1 serves the stack again", || fetch(&lab).is_some())?;
    println!(
        "{VIP} is held by {} again and serves (failback: auto)",
        vip_holders(&nodes)
    );

    if hold {
        println!("\n--hold: the lab stays up until Ctrl-C. Try, in another shell:");
        for node in &nodes {
            println!(
                "  HARECONCILE_SOCKET={} {} describe service web",
                node.socket.display(),
                binary().display()
            );
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    println!("\nexample done: both nodes converged on the declared state");
    Ok(())
}
