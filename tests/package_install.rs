//! The Debian package on a fresh Debian: built by `packaging/deb/build.sh`,
//! installed with dpkg into a debootstrapped bookworm, its unit checked by
//! `systemd-analyze verify`, and its agent started exactly as the unit's
//! `ExecStart=` and environment file say (with its capability bounding
//! set) in two lab nodes, which elect, serve and fail over. The agents
//! report readiness and stopping to a notification socket, as the unit's
//! `Type=notify` has systemd expect.

mod hosts;
use hareconcile_test_support as support;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hareconcile_lab::{
    debian_rootfs, require_privileges, Host, Lab, NodeCommand, Process, ServiceUnit,
};

use hosts::{await_server, await_status_ok, serve_own_name};
use support::bin;

const UNIT: &str = "/usr/lib/systemd/system/hareconcile.service";
const SETTINGS: &str = "/etc/default/hareconcile";

#[test]
fn the_package_installs_on_a_fresh_debian_and_its_unit_runs_a_failing_over_pair() {
    require_privileges!(debian);
    let work = tempfile::tempdir().unwrap();
    let deb = package(work.path());
    // systemd for systemd-analyze and deb-systemd-helper, as on a real host.
    let base = debian_rootfs(&["systemd"]).unwrap();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();

    let mut nodes = Vec::new();
    for host in lab.nodes() {
        let root = lab.system_root(host.name(), &base).unwrap();
        install(&root, &deb);
        configure(&root, host);
        let unit = ServiceUnit::load(&root, UNIT).unwrap();
        let notify = NotifySocket::bind(&root);
        let command = unit
            .command_in(&root, &[("NOTIFY_SOCKET", NOTIFY_SOCKET)])
            .unwrap();
        let agent = host.spawn(command).unwrap();
        let web = serve_own_name(&lab, host);
        nodes.push(Node {
            host,
            root,
            agent: Some(agent),
            notify,
            _web: web,
        });
    }
    // Type=notify: systemd counts the unit started when the agent says so.
    assert_eq!(unit_setting(&nodes[0].root, "Type"), "notify");
    for node in &nodes {
        let message = node.notify.next(|| node.log());
        assert!(message.starts_with("READY=1\n"), "{message}");
    }
    let logs = |nodes: &[Node]| nodes.iter().map(Node::log).collect::<Vec<_>>().join("\n");

    // Elect and serve: n1 (priority 110) holds the VIP and answers on it.
    await_server(&lab, "n1", || logs(&nodes));
    // The operator's view on each node, through the installed CLI and the
    // unit's socket: `status` exits 0 once every object is Ready and the
    // other node answers on the peer API with the same configuration.
    for node in &nodes {
        await_status_ok(node.host.name(), || node.hc(&["status"]), || logs(&nodes));
    }
    // The settings file's metrics address, scraped in the node.
    for node in &nodes {
        let scrape = node
            .host
            .exec(NodeCommand::new("curl").args(["-sf", "http://127.0.0.1:9879/metrics"]))
            .unwrap();
        let build = format!("hareconcile_build_info{{node=\"{}\"", node.host.name());
        assert!(scrape.stdout.contains(&build), "{scrape:?}");
    }
    // Operators in the hareconcile group need no sudo; others are told how
    // to get in.
    let operator = nodes[0].hc_as(&["--groups=hareconcile"], &["status"]);
    assert!(operator.status.success(), "{operator:?}");
    let stranger = nodes[0].hc_as(&["--clear-groups"], &["get", "vip"]);
    assert_eq!(stranger.status.code(), Some(3), "{stranger:?}");
    let said = String::from_utf8_lossy(&stranger.stderr);
    assert!(said.contains("usermod -aG hareconcile"), "{said}");

    // Fail over: n1 leaves the LAN, n2 takes the VIP over and serves.
    lab.node_loss(nodes[0].host).unwrap();
    await_server(&lab, "n2", || logs(&nodes));
    // n1 comes back and preempts.
    lab.node_restore(nodes[0].host).unwrap();
    await_server(&lab, "n1", || logs(&nodes));

    // `systemctl stop` on the master: SIGTERM (KillMode=mixed: the agent
    // alone), the VIP handed over with priority 0, an exit within the
    // unit's TimeoutStopSec.
    let stop_timeout = stop_timeout(&nodes[0].root);
    let agent = nodes[0].agent.take().unwrap();
    agent.signal(libc::SIGTERM);
    let stopping = nodes[0].notify.next(|| agent.log());
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    let status = wait_exit(agent, stop_timeout);
    assert!(status.success(), "{status}: {}", logs(&nodes));
    await_server(&lab, "n2", || logs(&nodes));
}

/// A lab node running the packaged agent in its own Debian root.
struct Node<'a> {
    host: &'a Host,
    root: PathBuf,
    agent: Option<Process>,
    notify: NotifySocket,
    _web: Process,
}

/// Where the agents send their sd_notify messages: a path inside the
/// node's root, since an abstract socket would stay in the node's network
/// namespace.
const NOTIFY_SOCKET: &str = "/run/hareconcile-test-notify";

/// systemd's side of `Type=notify`: the socket `NOTIFY_SOCKET` names.
struct NotifySocket(UnixDatagram);

impl NotifySocket {
    fn bind(root: &Path) -> Self {
        let path = root.join(NOTIFY_SOCKET.trim_start_matches('/'));
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let socket = UnixDatagram::bind(&path).unwrap();
        // As systemd's TimeoutStartSec= would, bound the wait for a message.
        socket
            .set_read_timeout(Some(Duration::from_secs(90)))
            .unwrap();
        NotifySocket(socket)
    }

    /// The next message, or a panic with `log()` if none comes.
    fn next(&self, log: impl Fn() -> String) -> String {
        let mut buffer = [0u8; 4096];
        match self.0.recv(&mut buffer) {
            Ok(n) => String::from_utf8_lossy(&buffer[..n]).into_owned(),
            Err(e) => panic!("no sd_notify message ({e}):\n{}", log()),
        }
    }
}

impl Node<'_> {
    /// `hareconcile ARGS` as installed, run in the node's root (so against
    /// the unit's default socket), as an operator on that node would.
    fn hc(&self, args: &[&str]) -> Output {
        Command::new("chroot")
            .arg(&self.root)
            .arg("hareconcile")
            .args(args)
            .output()
            .unwrap()
    }

    /// `hareconcile ARGS` as the unprivileged user `nobody`, with the
    /// supplementary groups `groups` (setpriv's options) says.
    fn hc_as(&self, groups: &[&str], args: &[&str]) -> Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(["setpriv", "--reuid=nobody", "--regid=nogroup"])
            .args(groups)
            .args(["--", "hareconcile"])
            .args(args)
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        let log = self.agent.as_ref().map(Process::log).unwrap_or_default();
        format!("--- {} agent:\n{log}", self.host.name())
    }
}

/// The package under test: `HARECONCILE_DEB` when set (CI sets it to the
/// package `packaging/deb/build.sh` made from the release build), else one
/// the same script makes from the binary these tests were built with.
fn package(dir: &Path) -> PathBuf {
    if let Some(deb) = std::env::var_os("HARECONCILE_DEB") {
        return PathBuf::from(deb);
    }
    assert!(
        std::env::var_os("CI").is_none_or(|v| v.is_empty()),
        "CI tests the release package: build it with packaging/deb/build.sh and set \
         HARECONCILE_DEB to it (.ci/run does)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/build.sh");
    let out = Command::new(script)
        .arg("--binary")
        .arg(bin())
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "packaging/deb/build.sh: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().next().expect("the package's path"))
}

/// `dpkg -i` in `root`, as an administrator would, then what the package
/// must have set up: the socket's group, the settings as a conffile, the
/// unit enabled and accepted by `systemd-analyze verify`.
fn install(root: &Path, deb: &Path) {
    std::fs::copy(deb, root.join("tmp/hareconcile.deb")).unwrap();
    in_root(root, &["dpkg", "--install", "/tmp/hareconcile.deb"]);
    in_root(root, &["getent", "group", "hareconcile"]);
    // Completions and manual pages where each shell and man look.
    for file in [
        "usr/share/bash-completion/completions/hareconcile",
        "usr/share/zsh/vendor-completions/_hareconcile",
        "usr/share/fish/vendor_completions.d/hareconcile.fish",
        "usr/share/man/man1/hareconcile.1.gz",
        "usr/share/man/man1/hareconcile-agent.1.gz",
        "usr/share/man/man1/hareconcile-vip-maintenance.1.gz",
    ] {
        let meta = std::fs::metadata(root.join(file)).unwrap_or_else(|e| panic!("/{file}: {e}"));
        assert!(meta.len() > 100, "/{file} is nearly empty");
    }
    let listed = in_root(root, &["dpkg", "-L", "hareconcile"]);
    assert!(
        listed.contains("/usr/share/man/man1/hareconcile-status.1.gz"),
        "{listed}"
    );
    let conffiles = in_root(
        root,
        &["dpkg-query", "-W", "-f=${Conffiles}", "hareconcile"],
    );
    assert!(conffiles.contains(SETTINGS), "{conffiles}");
    // The link points into the root (/lib/systemd/...): read it, do not
    // follow it on this machine.
    let wants = root.join("etc/systemd/system/multi-user.target.wants/hareconcile.service");
    let link = std::fs::read_link(&wants).expect("the unit is enabled at installation");
    assert!(
        link.ends_with("systemd/system/hareconcile.service"),
        "{link:?}"
    );
    let verify = Command::new("chroot")
        .arg(root)
        .args(["systemd-analyze", "verify", "hareconcile.service"])
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stdout.is_empty() && verify.stderr.is_empty(),
        "systemd-analyze verify: {verify:?}"
    );
}

/// Runs `argv` in `root`; its stdout, or a panic with everything printed.
fn in_root(root: &Path, argv: &[&str]) -> String {
    let out = support::run_ok(
        Command::new("chroot").arg(root).args(argv),
        &format!("{argv:?} in {}", root.display()),
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What an administrator does after installing: names the node in the
/// settings file, puts the peer token and the manifests in place.
fn configure(root: &Path, host: &Host) {
    let settings = root.join(SETTINGS.trim_start_matches('/'));
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("\n#HARECONCILE_NODE=\n"), "{text}");
    let text = text.replace(
        "\n#HARECONCILE_NODE=\n",
        &format!("\nHARECONCILE_NODE={}\n", host.name()),
    );
    // Prometheus scrapes each node over TCP.
    let listen = "\n#HARECONCILE_METRICS_LISTEN=0.0.0.0:9879\n";
    assert!(text.contains(listen), "{text}");
    let text = text.replace(listen, "\nHARECONCILE_METRICS_LISTEN=127.0.0.1:9879\n");
    std::fs::write(&settings, text).unwrap();
    support::write_secret(
        &root.join("etc/hareconcile/peer.token"),
        "package-test-token\n",
    );
    std::fs::write(
        root.join("etc/hareconcile/manifests/cluster.yaml"),
        hosts::two_node_manifest("/etc/hareconcile/peer.token"),
    )
    .unwrap();
}

/// The unit's `TimeoutStopSec=`, installed in `root`.
fn stop_timeout(root: &Path) -> Duration {
    humantime::parse_duration(&unit_setting(root, "TimeoutStopSec")).unwrap()
}

/// The value of the installed unit's `NAME=` line.
fn unit_setting(root: &Path, name: &str) -> String {
    let unit = std::fs::read_to_string(root.join(UNIT.trim_start_matches('/'))).unwrap();
    let prefix = format!("{name}=");
    unit.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the unit has no {name}="))
        .trim()
        .to_owned()
}

fn wait_exit(mut agent: Process, timeout: Duration) -> std::process::ExitStatus {
    match agent.wait_timeout(timeout).unwrap() {
        Some(status) => status,
        None => panic!(
            "the agent was still running {timeout:?} after SIGTERM:\n{}",
            agent.log()
        ),
    }
}
