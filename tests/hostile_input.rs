//! Hostile input at every door (issue 17): the corpus in tests/hostile/
//! (deep block and flow nesting, billion laughs, bytes that are not UTF-8,
//! a key written twice) and the cases that cannot be committed, made here
//! (a 50 MB file, a FIFO, a link to /dev/zero, links out of the directory
//! and round in a loop, an emptied directory, an empty commit), against
//! `validate`, the compose loader, an agent's `--manifests` directory,
//! GitOps, `/v1/apply` on the agent's socket and `/peer/v1/apply`.
//!
//! Each case must end as an error that names the file (and the line, where
//! there is one) or as a rejected commit, costing the process that read it
//! under 2 s of CPU and under 200 MB at its peak (VmHWM; ru_maxrss for the
//! CLI), and the agent must go on answering. CPU time rather than elapsed
//! time is the budget, so that a loaded machine does not fail the test; a
//! case that blocks instead of working (a FIFO opened for reading) is
//! caught by the generous [`HANG`] bound on every wait.

use hareconcile_test_support as support;

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{expect_code, git, Agent, CLUSTER};

/// What one case may cost the process that reads it.
const MAX_CPU: Duration = Duration::from_secs(2);
const MAX_PEAK_RSS_KIB: u64 = 200 * 1024;
/// Longer than any case takes on a loaded machine; only a hang gets here.
const HANG: Duration = Duration::from_secs(30);
/// The size of the file no manifest or compose file should be.
const HUGE_BYTES: u64 = 50 << 20;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(name)
}

/// How a case's entry is made.
#[derive(Debug, Clone, Copy)]
enum Make {
    /// Copied from tests/hostile/.
    Committed,
    /// A 50 MB file (sparse: only its size matters to a careful reader).
    Huge,
    Fifo,
    /// A link to /dev/zero, which a careless reader reads forever.
    DevZero,
    /// A link to a directory outside the one searched, holding a manifest.
    OutsideDirectory,
    /// A link to the directory that holds it.
    LoopToItself,
    /// A link to itself (ELOOP).
    SelfLink,
}

struct Case {
    /// The entry's name: every error must name it.
    name: &'static str,
    make: Make,
    /// What the error says (one of these).
    says: &'static [&'static str],
}

impl Case {
    /// Whether `line` is an error about this case: naming the entry, and
    /// for the committed files, which the parsers read, its line and
    /// column (`name:LINE:COL:`).
    fn is_reported_in(&self, line: &str) -> bool {
        self.is_named_in(line, matches!(self.make, Make::Committed))
    }

    /// Whether `line` is an error about this case, with its place in the
    /// entry if `positioned`.
    fn is_named_in(&self, line: &str, positioned: bool) -> bool {
        let at_place = |(at, _): (usize, &str)| {
            let after = &line[at + self.name.len()..];
            let mut parts = after.splitn(4, ':');
            parts.next() == Some("")
                && (0..2).all(|_| parts.next().is_some_and(|n| n.parse::<u32>().is_ok()))
        };
        let mut named = line.match_indices(self.name);
        self.says.iter().any(|s| line.contains(s))
            && if positioned {
                named.any(at_place)
            } else {
                named.next().is_some()
            }
    }
}

const DEEP: &str = "nested more than 128 levels deep";
const NOT_REGULAR: &str = "not a regular file: only regular files are read";

/// Cases a file can be: a manifest or a compose file.
const FILE_CASES: &[Case] = &[
    Case {
        name: "deep-block.yaml",
        make: Make::Committed,
        says: &[DEEP],
    },
    Case {
        name: "deep-flow.yaml",
        make: Make::Committed,
        // saphyr's own bound on flow collections, which it parses
        // recursively, stops it before the tree's.
        says: &["recursion limit exceeded"],
    },
    Case {
        name: "billion-laughs.yaml",
        make: Make::Committed,
        says: &["alias"],
    },
    Case {
        name: "non-utf8.yaml",
        make: Make::Committed,
        says: &["UTF-8"],
    },
    Case {
        name: "duplicate-keys.yaml",
        make: Make::Committed,
        says: &["metadata"],
    },
    Case {
        name: "huge.yaml",
        make: Make::Huge,
        says: &["larger than"],
    },
    Case {
        name: "fifo.yaml",
        make: Make::Fifo,
        says: &[NOT_REGULAR],
    },
    Case {
        name: "zero.yaml",
        make: Make::DevZero,
        // Searched for, the link is not followed; named, it is not read.
        says: &["is a link to /dev/zero", "it is a character device"],
    },
];

/// Cases only a directory can hold.
const DIRECTORY_CASES: &[Case] = &[
    Case {
        name: "host",
        make: Make::OutsideDirectory,
        says: &["links are followed only within the directory searched"],
    },
    Case {
        name: "again",
        make: Make::LoopToItself,
        says: &["searched already"],
    },
    Case {
        name: "self.yaml",
        make: Make::SelfLink,
        says: &["cannot be followed"],
    },
];

fn all_cases() -> impl Iterator<Item = &'static Case> {
    FILE_CASES.iter().chain(DIRECTORY_CASES)
}

/// Makes `case`'s entry in `dir`; `outside` is a directory elsewhere that
/// holds a valid manifest.
fn make(case: &Case, dir: &Path, outside: &Path) -> PathBuf {
    let path = dir.join(case.name);
    match case.make {
        Make::Committed => {
            std::fs::copy(corpus(case.name), &path).unwrap();
        }
        Make::Huge => std::fs::File::create(&path)
            .unwrap()
            .set_len(HUGE_BYTES)
            .unwrap(),
        Make::Fifo => {
            let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        }
        Make::DevZero => symlink("/dev/zero", &path).unwrap(),
        Make::OutsideDirectory => symlink(outside, &path).unwrap(),
        Make::LoopToItself => symlink(".", &path).unwrap(),
        Make::SelfLink => symlink(case.name, &path).unwrap(),
    }
    path
}

/// A directory outside every root searched, with a manifest the agent
/// would apply if it followed a link there.
fn outside_dir(dir: &Path) -> PathBuf {
    let outside = dir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(
        outside.join("host.yaml"),
        support::virtual_ip("host", 66, "10.77.0.66/24"),
    )
    .unwrap();
    outside
}

/// What running a process cost.
#[derive(Debug)]
struct Cost {
    cpu: Duration,
    peak_rss_kib: u64,
}

impl Cost {
    fn check(&self, what: &str) {
        // Shown with --nocapture: how far each case is from its budget.
        eprintln!(
            "{what}: {:?} of CPU, {} MiB at the peak",
            self.cpu,
            self.peak_rss_kib >> 10
        );
        assert!(self.cpu < MAX_CPU, "{what}: {:?} of CPU", self.cpu);
        assert!(
            self.peak_rss_kib < MAX_PEAK_RSS_KIB,
            "{what}: {} MiB at the peak",
            self.peak_rss_kib >> 10
        );
    }
}

/// Runs `hareconcile ARGS` to its end (killed at [`HANG`]): its exit
/// code, stdout then stderr, and what it cost (from wait4's rusage).
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which alone gives the child's own rusage"
)]
fn run_cli(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, Cost) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(support::bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break;
        }
        assert_eq!(reaped, 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > HANG {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("hareconcile {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let text = std::fs::read_to_string(out.path()).unwrap();
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cost = Cost {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss as u64,
    };
    (code, text, cost)
}

/// `hareconcile validate -f PATH`: exit code 2 and an error naming
/// `case`, within the budget.
fn validate_refuses(path: &Path, case: &Case) {
    let (code, text, cost) = run_cli(&["validate".as_ref(), "-f".as_ref(), path.as_os_str()]);
    assert_eq!(code, Some(2), "validate {}: {text}", path.display());
    assert!(
        text.lines().any(|l| case.is_reported_in(l)),
        "validate {}: no error about {} saying {:?}:\n{text}",
        path.display(),
        case.name,
        case.says
    );
    cost.check(&format!("validate {}", case.name));
}

#[test]
fn validate_refuses_every_case_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside_dir(dir.path());
    for case in all_cases() {
        let manifests = dir.path().join(format!("case-{}", case.name));
        std::fs::create_dir(&manifests).unwrap();
        make(case, &manifests, &outside);
        validate_refuses(&manifests, case);
    }
    // Named explicitly, a file is read whatever its name, through the same
    // limits.
    let named = dir.path().join("named");
    std::fs::create_dir(&named).unwrap();
    for case in FILE_CASES {
        let path = make(case, &named, &outside);
        validate_refuses(&path, case);
    }
    // An empty directory declares nothing: refused offline, as an agent
    // refuses it when it would prune what it applied (the tests below).
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, text, cost) = run_cli(&["validate".as_ref(), "-f".as_ref(), empty.as_os_str()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no manifests in"), "{text}");
    assert!(text.contains("--allow-prune-all"), "{text}");
    cost.check("validate an empty directory");
}

/// A Service whose compose file is `compose` (an absolute path).
fn service(compose: &Path) -> String {
    format!(
        "apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata:
  name: hostile
spec:
  cluster: home
  mode: active-active
  compose:
    file: {}
",
        compose.display()
    )
}

/// A compose file a Service names, the case it is or names, and whether
/// the error must give a place in the case's own file.
struct ComposeCase {
    compose: PathBuf,
    case: &'static Case,
    positioned: bool,
}

impl ComposeCase {
    fn is_reported_in(&self, line: &str) -> bool {
        self.case.is_named_in(line, self.positioned)
    }
}

/// Compose files a Service names: the file cases, and a compose file that
/// names each in turn as an env file. (The YAML cases are just a syntax
/// error in an env file; its place is at the `env_file:` reference.)
fn compose_files(dir: &Path, outside: &Path) -> Vec<ComposeCase> {
    let files = dir.join("compose");
    std::fs::create_dir(&files).unwrap();
    let mut all = Vec::new();
    for case in FILE_CASES {
        all.push(ComposeCase {
            compose: make(case, &files, outside),
            case,
            positioned: matches!(case.make, Make::Committed),
        });
    }
    let env_file_cases = FILE_CASES
        .iter()
        .filter(|c| !matches!(c.make, Make::Committed) || c.name == "non-utf8.yaml");
    for case in env_file_cases {
        let project = dir.join(format!("env-file-{}", case.name));
        std::fs::create_dir(&project).unwrap();
        let env_file = make(case, &project, outside);
        let compose = project.join("compose.yaml");
        std::fs::write(
            &compose,
            format!(
                "services:\n  app:\n    image: busybox\n    env_file: {}\n",
                env_file.display()
            ),
        )
        .unwrap();
        all.push(ComposeCase {
            compose,
            case,
            positioned: false,
        });
    }
    all
}

#[test]
fn the_compose_loader_refuses_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside_dir(dir.path());
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    for compose_case in compose_files(dir.path(), &outside) {
        let (compose, case) = (&compose_case.compose, compose_case.case);
        let manifest = dir.path().join("service.yaml");
        std::fs::write(&manifest, service(compose)).unwrap();
        let (code, text, cost) = run_cli(&[
            "validate".as_ref(),
            "-f".as_ref(),
            dir.path().join("cluster.yaml").as_os_str(),
            "-f".as_ref(),
            manifest.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{}: {text}", compose.display());
        assert!(
            text.lines()
                .any(|l| l.contains("Service/hostile: compose:") && compose_case.is_reported_in(l)),
            "{}: no compose error about {} saying {:?}:\n{text}",
            compose.display(),
            case.name,
            case.says
        );
        cost.check(&format!("the compose file {}", compose.display()));
    }
}

/// An agent's CPU time and peak resident memory so far, from /proc.
fn agent_cost(agent: &Agent) -> Cost {
    let pid = agent.pid();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    Cost {
        cpu: Duration::from_millis(ticks * 1000 / per_second),
        peak_rss_kib: hwm,
    }
}

/// Runs `act` against the agent, then checks what it cost the agent and
/// that the agent still answers.
fn within_budget<T>(agent: &Agent, what: &str, act: impl FnOnce() -> T) -> T {
    let before = agent_cost(agent);
    let result = act();
    let after = agent_cost(agent);
    Cost {
        cpu: after.cpu.saturating_sub(before.cpu),
        peak_rss_kib: after.peak_rss_kib,
    }
    .check(what);
    expect_code(&agent.hc(&["get", "vip", "web"]), 0);
    result
}

/// Waits until the agent's log, past `from`, holds a line `reported`
/// accepts (`what`), and from there on a line saying `then`.
fn await_log(agent: &Agent, from: usize, what: &str, reported: impl Fn(&str) -> bool, then: &str) {
    let deadline = Instant::now() + HANG;
    loop {
        let log = agent.log();
        let new = log.get(from..).unwrap_or_default();
        let mut lines = new.lines().skip_while(|l| !reported(l));
        if lines.any(|l| l.contains(then)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never logged {what}, then {then:?}:\n{new}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const WEB: &str = "web.yaml";

fn web_vip() -> String {
    support::virtual_ip("web", 51, "10.77.0.100/24")
}

#[test]
fn an_agent_refuses_every_case_in_its_manifests_directory_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside_dir(dir.path());
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(manifests.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(manifests.join(WEB), web_vip()).unwrap();
    let agent = Agent::start(dir.path(), &["--manifests", manifests.to_str().unwrap()]);
    agent.await_virtual_ips("the valid directory", HANG, "files", &[("web", 51)]);

    for case in all_cases() {
        let from = agent.log().len();
        let path = within_budget(&agent, case.name, || {
            let path = make(case, &manifests, &outside);
            let reported = |l: &str| case.is_reported_in(l);
            await_log(&agent, from, case.name, reported, "nothing applied");
            path
        });
        std::fs::remove_file(path).unwrap();
    }
    assert_eq!(agent.virtual_ips().len(), 1, "nothing from outside applied");

    // Emptied, the directory would prune everything: refused.
    let aside = dir.path().join("aside");
    std::fs::rename(&manifests, &aside).unwrap();
    std::fs::create_dir(&manifests).unwrap();
    let from = agent.log().len();
    within_budget(&agent, "an emptied directory", || {
        // The watch ended with the directory it watched: the periodic
        // resync (2 s) reads the new one.
        let refused = |l: &str| l.contains("deleting them all at once is refused");
        await_log(&agent, from, "the refusal", refused, "not applied");
    });
    assert_eq!(agent.virtual_ips().len(), 1, "everything stays");
}

/// Commits everything under the repository's `manifests` directory as it
/// is now (`--allow-empty`: also when nothing changed); the new SHA.
fn commit_all(repo: &Path, message: &str) -> String {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// `gitops sync` within the budget, exiting with `code`; its report.
fn sync_within_budget(agent: &Agent, what: &str, code: i32) -> String {
    within_budget(agent, what, || {
        expect_code(&agent.hc(&["gitops", "sync"]), code)
    })
}

#[test]
fn gitops_rejects_every_commit_of_a_case_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside_dir(dir.path());
    let repo = dir.path().join("repo");
    let manifests = repo.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    // Keeps the directory in git once the manifests are gone.
    std::fs::write(manifests.join("README.md"), "hostile\n").unwrap();
    std::fs::write(manifests.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(manifests.join(WEB), web_vip()).unwrap();
    commit_all(&repo, "good");
    let agent = Agent::start_on_git(dir.path(), &repo, "1h", &[]);
    agent.await_virtual_ips("the first commit", HANG, "gitops", &[("web", 51)]);

    // Git stores no FIFO: a commit cannot carry one.
    for case in all_cases().filter(|c| !matches!(c.make, Make::Fifo)) {
        let path = make(case, &manifests, &outside);
        let bad = commit_all(&repo, case.name);
        let report = sync_within_budget(&agent, case.name, 1);
        assert!(
            report.contains(&format!("{} REJECTED", &bad[..12])),
            "{report}"
        );
        assert!(
            report.lines().any(|l| case.is_reported_in(l)),
            "no error about {} saying {:?}:\n{report}",
            case.name,
            case.says
        );
        std::fs::remove_file(path).unwrap();
        let good = commit_all(&repo, "good again");
        let report = expect_code(&agent.hc(&["gitops", "sync"]), 0);
        assert!(
            report.contains(&format!("Applied commit:  {}", &good[..12])),
            "{report}"
        );
    }

    let empty = commit_all(&repo, "an empty commit");
    let report = sync_within_budget(&agent, "an empty commit", 0);
    assert!(
        report.contains(&format!("Applied commit:  {}", &empty[..12])),
        "{report}"
    );

    std::fs::remove_file(manifests.join("cluster.yaml")).unwrap();
    std::fs::remove_file(manifests.join(WEB)).unwrap();
    let emptied = commit_all(&repo, "everything gone");
    let report = sync_within_budget(&agent, "an emptied directory", 1);
    assert!(
        report.contains(&format!("{} REJECTED", &emptied[..12])),
        "{report}"
    );
    assert!(
        report.contains("deleting them all at once is refused"),
        "{report}"
    );
    assert_eq!(agent.virtual_ips().len(), 1, "everything stays");
}

/// The peer API's shared token.
const TOKEN: &str = "hostile-test-token";

/// One HTTP/1.1 POST of `body` over `stream`; the response's status code
/// (0: the connection ended without one) and the response. The server may
/// stop reading a body it refuses: the rest is not sent, the answer is
/// still read.
fn post(mut stream: impl Read + Write, path: &str, extra: &str, body: &[u8]) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: hareconcile\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).is_ok() {
        for chunk in body.chunks(64 << 10) {
            if stream.write_all(chunk).is_err() {
                break;
            }
        }
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let code = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (code, response)
}

/// Sends a body to one of the APIs: the status code and the response.
type Post<'a> = dyn Fn(&[u8]) -> (u16, String) + 'a;

/// The messages of the problems an API response lists.
fn problems(response: &str) -> Vec<String> {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let list = body["problems"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter_map(|p| p["message"].as_str().map(str::to_string))
        .collect()
}

/// An apply request of one object given as JSON text.
fn apply_request(object: &str) -> Vec<u8> {
    format!(r#"{{"manager": "cli", "objects": [{object}]}}"#).into_bytes()
}

/// A Service object whose compose file is `compose`, as JSON.
fn service_json(compose: &Path) -> String {
    serde_json::json!({
        "apiVersion": "hareconcile.io/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "hostile"},
        "spec": {"cluster": "home", "mode": "active-active", "compose": {"file": compose}},
    })
    .to_string()
}

/// Bodies that are hostile as JSON, and the status each must get.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>, u16)> {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    // Valid JSON, were it read to its end.
    let mut huge = apply_request("");
    huge.resize(HUGE_BYTES as usize, b' ');
    vec![
        ("deep JSON nesting", apply_request(&deep), 422),
        ("a 50 MB body", huge, 413),
        (
            "bytes that are not UTF-8",
            b"{\"manager\": \"cli\", \"objects\": [\"caf\xe9\"]}".to_vec(),
            400,
        ),
        (
            "a key written twice",
            br#"{"manager": "cli", "manager": "cli", "objects": []}"#.to_vec(),
            422,
        ),
    ]
}

#[test]
fn the_agent_api_and_the_peer_api_refuse_every_case_and_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside_dir(dir.path());
    let token_file = dir.path().join("peer.token");
    support::write_secret(&token_file, TOKEN);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(
        manifests.join("cluster.yaml"),
        format!(
            "{CLUSTER}  peer: {{port: {port}, tokenFile: {}}}\n",
            token_file.display()
        ),
    )
    .unwrap();
    std::fs::write(manifests.join(WEB), web_vip()).unwrap();
    let agent = Agent::start(dir.path(), &["--manifests", manifests.to_str().unwrap()]);
    agent.await_virtual_ips("the manifests", HANG, "files", &[("web", 51)]);

    let local = |body: &[u8]| {
        let stream = std::os::unix::net::UnixStream::connect(&agent.socket).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        post(stream, "/v1/apply", "", body)
    };
    let peer = |body: &[u8]| {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        let auth = format!("authorization: Bearer {TOKEN}\r\n");
        post(stream, "/peer/v1/apply", &auth, body)
    };
    support::eventually(HANG, "the peer API answers", &|| agent.log(), || {
        peer(&apply_request("")).0 != 0
    });

    let apis: [(&str, &Post); 2] = [("/v1/apply", &local), ("/peer/v1/apply", &peer)];
    for compose_case in compose_files(dir.path(), &outside) {
        let (compose, case) = (&compose_case.compose, compose_case.case);
        let body = apply_request(&service_json(compose));
        for (api, send) in apis {
            let what = format!("{api} of a Service with {}", compose.display());
            let (code, response) = within_budget(&agent, &what, || send(&body));
            assert_eq!(code, 422, "{what}: {response}");
            assert!(
                problems(&response)
                    .iter()
                    .any(|p| compose_case.is_reported_in(p)),
                "{what}: no problem about {} saying {:?}: {response}",
                case.name,
                case.says
            );
        }
    }
    for (what, body, expected) in hostile_bodies() {
        for (api, send) in apis {
            let what = format!("{api} of {what}");
            let (code, response) = within_budget(&agent, &what, || send(&body));
            assert_eq!(code, expected, "{what}: {response}");
        }
    }
    assert_eq!(agent.virtual_ips().len(), 1, "nothing applied");
}
