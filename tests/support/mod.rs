//! Runs the real `hareconcile` binary: agents as child processes and CLI
//! commands against their sockets; [`LabAgent`] runs one as a lab node.
//! A crate of its own (`hareconcile-test-support`), so the test files and
//! the benchmarks share one compiled copy: `use hareconcile_test_support
//! as support;`.

mod lab_agent;
pub mod lab_data;
pub mod lab_manifests;
pub mod lab_quorum;
mod manifests_repo;
pub mod poll;
pub mod tls;

pub use lab_agent::{AgentCommand, LabAgent};
pub use manifests_repo::ManifestsRepo;
pub use poll::{eventually, retry, wait_until};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A runtime for a test that drives the async libraries (the compose
/// engine) from plain `#[test]`s, with their logs in the test's output.
pub fn runtime() -> tokio::runtime::Runtime {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The `hareconcile` binary cargo built for the test or benchmark running
/// this. Their executables live in `target/PROFILE/deps/`, the package's
/// binaries one directory up. (`CARGO_BIN_EXE_hareconcile` says the same,
/// but only while compiling the root package's own test files, and this
/// crate is compiled once for all of them.)
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the path of the running test");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/PROFILE/deps/");
        let bin = profile_dir.join("hareconcile");
        assert!(
            bin.is_file(),
            "{} is missing: run tests and benchmarks through cargo, which builds it",
            bin.display()
        );
        bin.into_os_string()
            .into_string()
            .expect("a UTF-8 target directory")
    })
}

pub struct Agent {
    child: Option<Child>,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    log: PathBuf,
}

impl Agent {
    /// Starts an agent on a `--manifests` directory under `dir` holding
    /// `manifest` (as web.yaml) and waits until it loaded VirtualIP `web`.
    /// Returns the agent and the manifest file.
    pub fn start_on_manifests(dir: &Path, manifest: &str) -> (Agent, PathBuf) {
        let manifests = manifests_dir(dir, &[("web.yaml", manifest)]);
        let file = manifests.join("web.yaml");
        let agent = Agent::start(dir, &["--manifests", manifests.to_str().unwrap()]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !agent.hc(&["get", "vip", "web"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the manifests were never applied"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (agent, file)
    }

    /// Starts an agent and applies [`web_manifest`] through the CLI
    /// (manager `cli`), as an operator would.
    pub fn start_with_web(dir: &Path) -> Agent {
        let agent = Agent::start(dir, &[]);
        let manifest = dir.join("web.yaml");
        std::fs::write(&manifest, web_manifest()).unwrap();
        expect_code(&agent.hc(&["apply", "-f", manifest.to_str().unwrap()]), 0);
        agent
    }

    /// Starts an agent following the `manifests` directory of the local
    /// git repository `repo`, fetching every `interval`, with `extra` flags.
    pub fn start_on_git(dir: &Path, repo: &Path, interval: &str, extra: &[&str]) -> Agent {
        let url = format!("file://{}", repo.display());
        let git = manifests_repo::pull_flags(&url, interval);
        Agent::start(dir, &[&git[..], extra].concat())
    }

    /// Starts an agent as node `n1` and waits until its API answers.
    pub fn start(dir: &Path, extra: &[&str]) -> Agent {
        let state_dir = dir.join("store");
        let socket = dir.join("agent.sock");
        let log = dir.join("agent.log");
        let child = Command::new(bin())
            .args(["agent", "--node", "n1", "--resync", "2s"])
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the agent");
        let mut agent = Agent {
            child: Some(child),
            socket,
            state_dir,
            log,
        };
        agent.wait_ready();
        agent
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("agent exited with {status}:\n{}", self.log());
            }
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "agent did not listen on {}:\n{}",
            self.socket.display(),
            self.log()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("agent running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `hareconcile ARGS` against this agent.
    pub fn hc(&self, args: &[&str]) -> Output {
        hc(&self.socket, args)
    }

    /// The agent's VirtualIPs as (name, VRID, manager), in name order.
    pub fn virtual_ips(&self) -> Vec<(String, u64, String)> {
        let out = self.hc(&["get", "vip", "-o", "json"]);
        let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
            panic!(
                "get vip -o json: {e} ({}):\n{}{}\n{}",
                out.status,
                stdout(&out),
                stderr(&out),
                self.log()
            )
        });
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                    o["spec"]["vrid"].as_u64().unwrap(),
                    o["metadata"]["manager"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Waits up to `timeout` until the agent has exactly the VirtualIPs
    /// `expected` (name, VRID), each managed by `manager`.
    pub fn await_virtual_ips(
        &self,
        what: &str,
        timeout: Duration,
        manager: &str,
        expected: &[(&str, u64)],
    ) {
        let expected: Vec<(String, u64, String)> = expected
            .iter()
            .map(|(name, vrid)| (name.to_string(), *vrid, manager.to_string()))
            .collect();
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.virtual_ips();
            if now == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: expected {expected:?}, have {now:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "agent ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `hareconcile` talking to the agent listening on `socket`.
pub fn cli(socket: &Path) -> Command {
    let mut command = Command::new(bin());
    command.env("HARECONCILE_SOCKET", socket);
    command
}

/// Runs `hareconcile ARGS` against the agent listening on `socket`.
pub fn hc(socket: &Path, args: &[&str]) -> Output {
    cli(socket).args(args).output().expect("run hareconcile")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code (`None`: killed by a signal) and everything printed,
/// stdout then stderr.
pub fn code_and_text(output: &Output) -> (Option<i32>, String) {
    (output.status.code(), stdout(output) + &stderr(output))
}

/// Asserts the exit code and returns stdout, showing everything on failure.
pub fn expect_code(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Writes `text` to `dir/name`; that path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A `--manifests` directory `manifests` under `dir` holding `files`
/// (name, text).
pub fn manifests_dir(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let manifests = dir.join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    for (name, text) in files {
        std::fs::write(manifests.join(name), text).unwrap();
    }
    manifests
}

/// The lines a test's hook or writer appended to `path` so far (none
/// while it does not exist yet).
pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs a tool a test relies on (git, ldd, cargo, a validator) that must
/// succeed; its output, or a failure naming `what` with all it printed.
pub fn run_ok(command: &mut Command, what: &str) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Runs `git ARGS` in `repo` as a test author; its stdout, trimmed.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let mut git = Command::new("git");
    git.args([
        "-c",
        "user.name=test",
        "-c",
        "user.email=test@example.invalid",
    ])
    .args(args)
    .current_dir(repo);
    stdout(&run_ok(&mut git, &format!("git {args:?}")))
        .trim()
        .to_string()
}

/// A Cluster whose node n1 is this host (127.0.0.1), so it becomes Ready.
pub const CLUSTER: &str = "\
apiVersion: hareconcile.io/v1alpha1
kind: Cluster
metadata:
  name: home
spec:
  nodes:
    - {name: n1, address: 127.0.0.1, priority: 110}
    - {name: n2, address: 10.77.0.2, priority: 100}
";

/// These agents run in the host's own network namespace: their
/// VirtualIPs name an interface that does not exist, so the VRRP
/// controller never sends adverts or adds addresses on the host. Tests
/// that exercise VRRP for real run in the lab.
pub const NO_SUCH_INTERFACE: &str = "hcnone0";

/// [`CLUSTER`] and VirtualIP `web` (VRID 51, 10.77.0.100/24) on its
/// missing interface: what the CLI tests act on.
/// Writes a secret file (a peer token, a VRRP password) as an operator
/// must: private to its owner (0600), or the agent refuses it.
pub fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn web_manifest() -> String {
    format!("{CLUSTER}---\n{}", virtual_ip("web", 51, "10.77.0.100/24"))
}

pub fn virtual_ip(name: &str, vrid: u32, address: &str) -> String {
    let interface = NO_SUCH_INTERFACE;
    format!(
        "apiVersion: hareconcile.io/v1alpha1
kind: VirtualIP
metadata:
  name: {name}
spec:
  cluster: home
  interface: {interface}
  vrid: {vrid}
  addresses: [{address}]
"
    )
}

/// Posts JSON straight to the agent's API, as a client that skips the
/// CLI's own checks would; returns the raw HTTP response ("" when the
/// agent is unreachable or died before answering).
pub fn post_raw(socket: &Path, path: &str, body: &str) -> String {
    raw_request(socket, "POST", path, body)
}

/// GETs a path of the agent's API; the raw HTTP response.
pub fn get_raw(socket: &Path, path: &str) -> String {
    raw_request(socket, "GET", path, "")
}

fn raw_request(socket: &Path, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return String::new();
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: hareconcile\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}
