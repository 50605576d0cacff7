//! The built-in example: two nodes serving `manifests/` in a lab made of
//! network namespaces (no VMs, nothing touched outside the lab).
//!
//! Starts a Docker Engine and an agent in each node namespace (the agent
//! with `--manifests manifests/`),
//! waits until both report the Cluster Ready, shows what each node sees,
//! then takes n1 off the LAN and back to show who holds the web VIP.
//! Exits 0 when both nodes converged. Run it through the script, which
//! builds the binary and installs the lab's tools first:
//!
//!   sudo scripts/example.sh            # add --hold to keep it running

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hareconcile_lab::{busybox_image, Dockerd, Host, Lab, NodeCommand, Process};

const VIP: &str = "10.77.0.100";

fn main() {
    if let Err(message) = run() {
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

struct Node<'a> {
    host: &'a Host,
    socket: PathBuf,
    _agent: Process,
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

    fn cluster_ready(&self) -> bool {
        self.hc(&["get", "cluster", "home"])
            .lines()
            .nth(1)
            .is_some_and(|row| row.split_whitespace().nth(2) == Some("True"))
    }

    fn holds_vip(&self) -> bool {
        self.host
            .exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
            .map(|o| o.stdout.contains(&format!(" {VIP}/")))
            .unwrap_or(false)
    }
}

fn start_node<'a>(lab: &'a Lab, i: usize) -> Result<Node<'a>, String> {
    let host = lab.node(i);
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
                .arg(manifests())
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
        _docker: docker,
    })
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting until {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
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

fn run() -> Result<(), String> {
    let hold = std::env::args().any(|a| a == "--hold");
    let lab = Lab::builder()
        .nodes(2)
        .client(true)
        .build()
        .map_err(|e| format!("building the lab (run as root): {e}"))?;
    println!(
        "lab {} up: n1 10.77.0.1, n2 10.77.0.2, client 10.77.0.250 on one LAN",
        lab.id()
    );
    let nodes = vec![start_node(&lab, 1)?, start_node(&lab, 2)?];
    wait_until(
        "both nodes report Cluster home Ready",
        Duration::from_secs(30),
        || nodes.iter().all(Node::cluster_ready),
    )?;
    for node in &nodes {
        println!(
            "\n== {} sees ==\n{}",
            node.host.name(),
            node.hc(&["get", "all", "-o", "wide"])
        );
    }
    wait_until("one node holds the VIP", Duration::from_secs(30), || {
        nodes[0].holds_vip() != nodes[1].holds_vip()
    })?;
    println!("{VIP} is held by {}", vip_holders(&nodes));
    println!("\n== status on n1 ==\n{}", nodes[0].hc(&["status"]));

    println!("taking n1 off the LAN (node loss)...");
    let lost = Instant::now();
    lab.node_loss(lab.node(1)).map_err(|e| e.to_string())?;
    wait_until("n2 takes over", Duration::from_secs(30), || {
        nodes[1].holds_vip()
    })?;
    println!(
        "n2 took over after {:.1} s; {VIP} is held by {} (n1, cut off, cannot know it lost)",
        lost.elapsed().as_secs_f64(),
        vip_holders(&nodes)
    );
    println!("bringing n1 back...");
    lab.node_restore(lab.node(1)).map_err(|e| e.to_string())?;
    wait_until(
        "n1 preempts back and n2 lets go",
        Duration::from_secs(30),
        || nodes[0].holds_vip() && !nodes[1].holds_vip(),
    )?;
    println!(
        "{VIP} is held by {} again (failback: auto)",
        vip_holders(&nodes)
    );

    if hold {
        println!("\n--hold: the lab stays up until Ctrl-C. Try, in another shell:");
        for node in &nodes {
            println!(
                "  HARECONCILE_SOCKET={} {} describe cluster home",
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
