//! The secret-leak audit (issue 17): a two-node lab run in which every
//! secret the agents handle is a canary value, then a grep of everything
//! the product shows or keeps for any of them. One hit fails the test.
//!
//! | canary | given as |
//! |---|---|
//! | peer token | Cluster `peer.tokenFile` |
//! | VRRP password | VirtualIP `auth.passwordFile` |
//! | mount password | Replication `mount.credentialsFile` (cifs) |
//! | mount option password | `password=` in the Replication's `mount.options` |
//! | git URL credentials | n1: `HARECONCILE_GIT_URL=http://audit:TOKEN@.../ops.git` |
//! | git credentials file | n2: `--git-credentials-file` |
//! | webhook URL path (a Slack or ntfy URL is its own secret) | `HARECONCILE_WEBHOOK` |
//!
//! Grepped: both agents' logs, `events` (text and JSON), the webhook's
//! payloads, `describe` of every object, `get all -o yaml`, `drift`,
//! `status`, `gitops status`, `/metrics`, each node's peer summary as its
//! peer API serves it, every file under both `--state-dir`s, the argv
//! mount(8) was given, and `/proc/*/cmdline`, sampled all along the run.
//! The option password is the declaration itself in the spec, so the
//! spec's own echoes (the store's database, `get -o yaml`'s `spec`) are
//! where it may be; everything rendered from it is grepped.
//!
//! So that the audit proves the secrets were used and not only hidden,
//! the run waits until each reached its consumer: git's requests carry
//! both git credentials (the lab's server answers 401), mount(8) got the
//! credentials file by path and the option password in `PASSWD`, the
//! backup accepted the master's password-authenticated adverts, and the
//! peer API answered the token.
//!
//! Registry auth: the compose controller reads registry credentials from
//! the Docker CLI's `config.json` at each pull and hands them to the
//! engine; it has no option of its own that holds one. The agents run
//! with a `DOCKER_CONFIG` whose `auths` hold a canary, and it must show
//! nowhere either (no Service pulls in this run: that needs a registry
//! and dockerd in the lab, see tests/compose_engine.rs for pulls).

use hareconcile_test_support as support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hareconcile_lab::{enter_netns, ipv4, require_privileges, Host, Lab};
use hareconcile_model::status::VrrpState;
use support::lab_manifests::web_vip_manifest;
use support::tls::{self, Received};
use support::LabAgent;

const PEER_TOKEN: &str = "peer-token-canary-a41f";
/// VRRP's simple password is at most 8 characters.
const VRRP_PASSWORD: &str = "qz7vk2wx";
const MOUNT_PASSWORD: &str = "mount-file-canary-9c2e";
const MOUNT_OPTION_PASSWORD: &str = "mount-option-canary-5d7b";
const GIT_URL_TOKEN: &str = "git-url-canary-3e8a";
const GIT_FILE_TOKEN: &str = "git-file-canary-77b1";
const REGISTRY_PASSWORD: &str = "registry-canary-0b6d";
const WEBHOOK_TOKEN: &str = "webhook-canary-4a9d";

/// In lower case: the lab's receiver shows request heads in lower case.
const CANARIES: &[(&str, &str)] = &[
    ("peer token", PEER_TOKEN),
    ("VRRP password", VRRP_PASSWORD),
    ("mount password", MOUNT_PASSWORD),
    ("mount option password", MOUNT_OPTION_PASSWORD),
    ("git URL token", GIT_URL_TOKEN),
    ("git credentials file token", GIT_FILE_TOKEN),
    ("registry password", REGISTRY_PASSWORD),
    ("webhook URL token", WEBHOOK_TOKEN),
];

const GIT_PORT: u16 = 8080;
const WEBHOOK_PORT: u16 = 8081;
const PEER_PORT: u16 = 7979;
const DEADLINE: Duration = Duration::from_secs(60);

/// Every git request is refused for want of credentials, so git asks its
/// credential helper and sends them.
const UNAUTHORIZED: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm=\"audit\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// A mount(8) that records its argv and the password its environment
/// offers mount.cifs, then fails as a cifs server refusing the login does.
fn fake_mount(dir: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("mount");
    hareconcile_runtime::testing::write_executable(
        &script,
        &format!(
            "#!/bin/sh\n\
             printf '%s\\n' \"$*\" >> {argv}\n\
             printf '%s\\n' \"${{PASSWD:-}}\" > {env}\n\
             echo 'mount error(13): Permission denied' >&2\n\
             sleep 0.2\n\
             exit 32\n",
            argv = dir.join("mount-argv.log").display(),
            env = dir.join("mount-passwd.env").display(),
        ),
    );
    bin
}

fn manifest(dir: &Path) -> String {
    let token = dir.join("peer.token");
    support::write_secret(&token, &format!("{PEER_TOKEN}\n"));
    let password = dir.join("vrrp.pass");
    support::write_secret(&password, &format!("{VRRP_PASSWORD}\n"));
    let credentials = dir.join("nas.cred");
    support::write_secret(
        &credentials,
        &format!("username=audit\npassword={MOUNT_PASSWORD}\n"),
    );
    // VRRP's password authentication is version 2's, in whole seconds.
    let cluster = format!(
        "apiVersion: hareconcile.io/v1alpha1\n\
         kind: Cluster\n\
         metadata: {{name: lab}}\n\
         spec:\n  \
           nodes: [{{name: n1, address: {n1}, priority: 110}}, {{name: n2, address: {n2}, priority: 100}}]\n  \
           vrrp: {{version: 2, advertInterval: 1s, auth: {{type: pass, passwordFile: {password}}}}}\n  \
           peer: {{port: {PEER_PORT}, tokenFile: {token}}}\n",
        n1 = ipv4(0, 1),
        n2 = ipv4(0, 2),
        password = password.display(),
        token = token.display(),
    );
    format!(
        "{cluster}{vip}\
         ---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: Replication\n\
         metadata: {{name: share}}\n\
         spec: {{cluster: lab, method: mount, path: {share}, on: all, probe: {{interval: 1s}}, \
                 mount: {{type: cifs, source: //10.77.0.250/share, \
                          options: [vers=3.0, password={MOUNT_OPTION_PASSWORD}], \
                          credentialsFile: {credentials}}}}}\n",
        vip = web_vip_manifest(""),
        share = dir.join("share").display(),
        credentials = credentials.display(),
    )
}

/// A Docker CLI config whose `auths` log in to a registry with the
/// registry canary.
fn docker_config(dir: &Path) -> PathBuf {
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("audit:{REGISTRY_PASSWORD}"));
    support::write_secret(
        &config.join("config.json"),
        &format!("{{\"auths\": {{\"10.77.0.250:5000\": {{\"auth\": \"{auth}\"}}}}}}"),
    );
    config
}

/// Samples `/proc/*/cmdline` until stopped; the canaries seen, with the
/// command line that held each.
struct CmdlineWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<BTreeSet<String>>,
}

impl CmdlineWatch {
    fn start(canaries: &'static [(&'static str, &'static str)]) -> CmdlineWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut hits = BTreeSet::new();
            while !stopped.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
                    for (name, value) in canaries {
                        if line.contains(value) {
                            hits.insert(format!("{name} in /proc cmdline: {line}"));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            hits
        });
        CmdlineWatch { stop, thread }
    }

    fn finish(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// A receiver on the client node; see [`tls::receiver`].
fn receiver(client: &Host, port: u16, answer: &'static [u8]) -> mpsc::Receiver<Received> {
    let (netns, address) = (client.netns_path(), client.ipv4(0));
    let bind = move || {
        enter_netns(&netns).unwrap();
        std::net::TcpListener::bind((address, port)).unwrap()
    };
    tls::receiver(bind, None, answer).1
}

/// GET `path` of a node's peer API, from inside `from`, with the token.
fn peer_get(from: &Host, node: &Host, path: &str) -> String {
    let (netns, address) = (from.netns_path(), node.ipv4(0));
    let path = path.to_string();
    std::thread::spawn(move || {
        enter_netns(&netns).unwrap();
        let Ok(mut stream) = TcpStream::connect((address, PEER_PORT)) else {
            return String::new();
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {PEER_TOKEN}\r\nconnection: close\r\n\r\n"
        );
        let mut response = String::new();
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_string(&mut response);
        }
        response
    })
    .join()
    .unwrap()
}

/// Every regular file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() => {
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    files.push((path, bytes));
                }
                _ => {}
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// What the audit collected, by where it was found.
#[derive(Default)]
struct Findings {
    hits: Vec<String>,
    /// Places grepped, for the report.
    places: usize,
}

impl Findings {
    /// Greps `text` from `place` for every canary but those in `except`.
    fn grep(&mut self, place: &str, text: &[u8], except: &[&str]) {
        self.places += 1;
        for (name, value) in CANARIES {
            if !except.contains(value) && contains(text, value) {
                self.hits.push(format!("{name} in {place}"));
            }
        }
    }
}

fn wait(what: &str, logs: &dyn Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn no_secret_shows_anywhere_the_product_renders_or_keeps_things() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());
    let dir = lab.dir().to_path_buf();
    let watch = CmdlineWatch::start(CANARIES);
    let git_requests = receiver(client, GIT_PORT, UNAUTHORIZED);
    let webhook_posts = receiver(client, WEBHOOK_PORT, tls::NO_CONTENT);

    let path = format!(
        "{}:{}",
        fake_mount(&dir).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let docker = docker_config(&dir);
    let git = format!("http://{}:{GIT_PORT}/git/ops.git", client.ipv4(0));
    let webhook = format!(
        "http://{}:{WEBHOOK_PORT}/hook/{WEBHOOK_TOKEN}",
        client.ipv4(0)
    );
    let text = manifest(&dir);
    let git_credentials = dir.join("git.cred");
    support::write_secret(
        &git_credentials,
        &format!("username=audit\npassword={GIT_FILE_TOKEN}\n"),
    );
    let start = |host| -> support::AgentCommand<'_> {
        LabAgent::command(&lab, host)
            .manifest(&text)
            .args(["--git-interval", "1s"])
            .env("HARECONCILE_WEBHOOK", &webhook)
            .args([
                "--git-timeout",
                "10s",
                "--docker-host",
                "unix:///nonexistent.sock",
            ])
            .env("PATH", &path)
            .env("DOCKER_CONFIG", docker.to_str().unwrap())
    };
    let agents = [
        start(n1)
            .env(
                "HARECONCILE_GIT_URL",
                &git.replace("http://", &format!("http://audit:{GIT_URL_TOKEN}@")),
            )
            .start(),
        start(n2)
            .args(["--git-url", &git, "--git-credentials-file"])
            .args([&git_credentials])
            .start(),
    ];
    let logs = || {
        agents
            .iter()
            .map(|a| format!("--- {} log\n{}", a.name, a.log()))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Each secret reached what uses it.
    wait("n1 is master and n2 backup", &logs, || {
        agents[0].vip_status("web").state() == Some(VrrpState::Master)
            && agents[1].vip_status("web").state() == Some(VrrpState::Backup)
    });
    let basic = |token: &str| {
        base64::engine::general_purpose::STANDARD
            .encode(format!("audit:{token}"))
            .to_ascii_lowercase()
    };
    let mut authorized = BTreeSet::new();
    let mut git_heads = Vec::new();
    wait("git sent both credentials", &logs, || {
        while let Ok(request) = git_requests.try_recv() {
            for token in [GIT_URL_TOKEN, GIT_FILE_TOKEN] {
                if request
                    .head
                    .contains(&format!("authorization: basic {}", basic(token)))
                {
                    authorized.insert(token);
                }
            }
            git_heads.push(request.head);
        }
        authorized.len() == 2
    });
    let mount_env = dir.join("mount-passwd.env");
    wait("mount(8) ran on both nodes and failed", &logs, || {
        agents.iter().all(|a| {
            a.condition("replication", "share", "Ready")
                == Some(("False".into(), "MountFailed".into()))
        })
    });
    assert_eq!(
        std::fs::read_to_string(&mount_env).unwrap().trim(),
        MOUNT_OPTION_PASSWORD,
        "mount.cifs gets the option password in PASSWD"
    );
    let argv = std::fs::read_to_string(dir.join("mount-argv.log")).unwrap();
    assert!(
        argv.contains(&format!("credentials={}", dir.join("nas.cred").display())),
        "{argv}"
    );
    let summaries: Vec<String> = [(n1, n2), (n2, n1)]
        .iter()
        .map(|(from, node)| peer_get(from, node, "/peer/v1/summary"))
        .collect();
    for summary in &summaries {
        assert!(summary.starts_with("HTTP/1.1 200"), "{summary}");
    }

    // Then every place is grepped.
    let mut findings = Findings::default();
    findings.grep("mount(8) argv", argv.as_bytes(), &[]);
    for (summary, node) in summaries.iter().zip(["n2", "n1"]) {
        findings.grep(&format!("{node}'s peer summary"), summary.as_bytes(), &[]);
    }
    for agent in &agents {
        let node = &agent.name;
        let mut shown = |what: &str, args: &[&str]| {
            let out = agent.hc(args);
            let text = [out.stdout, out.stderr].concat();
            findings.grep(&format!("{node}: {what}"), &text, &[]);
        };
        shown("events", &["events"]);
        shown("events -o json", &["events", "-o", "json"]);
        shown("describe cluster", &["describe", "cluster", "lab"]);
        shown("describe vip", &["describe", "vip", "web"]);
        shown(
            "describe replication",
            &["describe", "replication", "share"],
        );
        shown("drift", &["drift"]);
        shown("drift -o json", &["drift", "-o", "json"]);
        shown("status", &["status"]);
        shown("gitops status", &["gitops", "status"]);
        findings.grep(
            &format!("{node}: /metrics"),
            agent.metrics().as_bytes(),
            &[],
        );
        findings.grep(&format!("{node}: log"), agent.log().as_bytes(), &[]);

        // get -o yaml: the spec is the declaration (what a backup made
        // with it applies again); its status is rendered by the agent.
        let all = agent.hc_stdout(&["get", "all", "-o", "yaml"]);
        findings.grep(
            &format!("{node}: get all -o yaml"),
            all.as_bytes(),
            &[MOUNT_OPTION_PASSWORD],
        );
        let share = agent.object("replication", "share");
        assert!(!share["status"].is_null(), "{share}");
        findings.grep(
            &format!("{node}: get replication share -o json .status"),
            share["status"].to_string().as_bytes(),
            &[],
        );

        for (file, bytes) in files_under(&agent.dir.join("store")) {
            // The object store keeps the declared spec, and the
            // crash-loop breaker the last good one, to put it back.
            let except: &[&str] = match file.extension() {
                Some(e) if e == "redb" => &[MOUNT_OPTION_PASSWORD],
                _ if file.ends_with("trials.json") => &[MOUNT_OPTION_PASSWORD],
                _ => &[],
            };
            findings.grep(&format!("{}", file.display()), &bytes, except);
        }
    }
    let mut posts = 0;
    while let Ok(post) = webhook_posts.try_recv() {
        posts += 1;
        // Its request line is where the URL's path belongs.
        let head = post.head.lines().skip(1).collect::<Vec<_>>().join("\n");
        findings.grep(
            "a webhook payload",
            format!("{head}{}", post.body).as_bytes(),
            &[],
        );
    }
    assert!(posts > 0, "no event reached the webhook\n{}", logs());
    for head in &git_heads {
        // What git sends the server is where the credentials belong; its
        // request line (the URL) is not.
        let line = head.lines().next().unwrap_or_default();
        findings.grep("a git request's URL", line.as_bytes(), &[]);
    }
    drop(agents);
    let cmdline_hits = watch.finish();
    findings.hits.extend(cmdline_hits);
    eprintln!(
        "secret-leak audit: {} places grepped, {} webhook posts, {} git requests",
        findings.places,
        posts,
        git_heads.len()
    );
    assert!(
        findings.hits.is_empty(),
        "secrets leaked:\n{}",
        findings.hits.join("\n")
    );
}

/// The audit's watch would miss a leak only if it never looked: it sees a
/// canary on a command line. (A canary of its own: the audit runs beside
/// it and must not see this one.)
#[test]
fn the_cmdline_watch_sees_a_canary_on_a_command_line() {
    const SELF_TEST: &[(&str, &str)] = &[("self-test canary", "watch-canary-e5c0")];
    let watch = CmdlineWatch::start(SELF_TEST);
    let status = std::process::Command::new("sh")
        .args(["-c", "sleep 1; true", SELF_TEST[0].1])
        .status()
        .unwrap();
    assert!(status.success());
    let hits = watch.finish();
    assert!(
        hits.iter()
            .any(|h| h.starts_with("self-test canary in /proc cmdline")),
        "{hits:?}"
    );
}
