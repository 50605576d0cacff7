//! Issue 19: `get` shows what people need without -o wide (defaults
//! included), lists several kinds, selects by label, prints names or the
//! columns asked for; `get` and `events` follow changes with --watch;
//! `describe` says why an object is not Ready.

use hareconcile_test_support as support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use support::{cli, eventually, expect_code, stderr, virtual_ip, Agent, CLUSTER};

const LONG: Duration = Duration::from_secs(30);

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// VirtualIP `name` with labels, on the missing interface.
fn labelled_vip(name: &str, vrid: u32, labels: &str) -> String {
    virtual_ip(name, vrid, &format!("10.77.0.{vrid}/24")).replace(
        &format!("  name: {name}\n"),
        &format!("  name: {name}\n  labels: {{{labels}}}\n"),
    )
}

/// A Service that leaves `mode` and `compose.project` to their defaults.
const SHOP: &str = "apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata: {name: shop, labels: {tier: web}}
spec:
  cluster: home
  followVirtualIP: web
  compose: {file: stacks/shop.yaml}
";

/// An agent without a Docker Engine (these tests are about what the CLI
/// shows) holding Cluster home, VirtualIPs web (tier=web) and dns
/// (tier=infra, env=prod) on the missing interface, and Service shop.
fn agent_with_objects(dir: &Path) -> Agent {
    let no_docker = format!("unix://{}/no-docker.sock", dir.display());
    let agent = Agent::start(dir, &["--docker-host", &no_docker]);
    let m = dir.join("m");
    write(
        &m,
        "stacks/shop.yaml",
        "services:\n  web:\n    image: nginx:1.27\n",
    );
    write(&m, "cluster.yaml", CLUSTER);
    write(&m, "web.yaml", &labelled_vip("web", 51, "tier: web"));
    write(
        &m,
        "dns.yaml",
        &labelled_vip("dns", 53, "tier: infra, env: prod"),
    );
    write(&m, "shop.yaml", SHOP);
    expect_code(&agent.hc(&["apply", "-f", m.to_str().unwrap()]), 0);
    agent
}

/// Waits until the VRRP controller reported on VirtualIP web.
fn await_interface_not_found(agent: &Agent) {
    let reported = || get(agent, &["vip", "web"]).contains("InterfaceNotFound");
    eventually(
        LONG,
        "the VRRP controller reports",
        &|| agent.log(),
        reported,
    );
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn get(agent: &Agent, args: &[&str]) -> String {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    expect_code(&agent.hc(&all), 0)
}

#[test]
fn get_shows_state_and_reason_by_default_and_defaults_for_omitted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_objects(dir.path());
    await_interface_not_found(&agent);

    let table = get(&agent, &["vip", "web"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        words(lines[0]),
        [
            "NAME",
            "VRID",
            "ADDRESSES",
            "STATE",
            "MASTER",
            "READY",
            "REASON",
            "AGE"
        ]
    );
    let row = words(lines[1]);
    assert_eq!(row[..3], ["web", "51", "10.77.0.51/24"], "{table}");
    assert_eq!(row[4..7], ["-", "False", "InterfaceNotFound"], "{table}");

    // mode and compose.project are left out of the manifest.
    let services = get(&agent, &["svc"]);
    let lines: Vec<&str> = services.lines().collect();
    assert_eq!(
        words(lines[0])[..6],
        [
            "NAME",
            "MODE",
            "FOLLOWS",
            "PROJECT",
            "PLACEMENT",
            "CONTAINERS"
        ]
    );
    assert_eq!(
        words(lines[1])[..4],
        ["shop", "active-passive", "web", "shop"]
    );

    // The rest of the status is for -o wide (cli_roundtrip.rs).
    let wide = get(&agent, &["vip", "web", "-o", "wide"]);
    assert!(wide.contains("hcnone0"), "{wide}");
}

#[test]
fn several_kinds_selectors_names_and_custom_columns() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_objects(dir.path());

    let both = get(&agent, &["vip,svc", "--no-headers"]);
    let names: Vec<&str> = both
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["virtualips/dns", "virtualips/web", "services/shop"],
        "{both}"
    );
    assert!(!both.contains("NAME"), "--no-headers: {both}");

    let selected = |selector: &str| get(&agent, &["all", "-l", selector, "-o", "name"]);
    assert_eq!(selected("tier=web"), "virtualips/web\nservices/shop\n");
    assert_eq!(selected("tier!=web"), "clusters/home\nvirtualips/dns\n");
    assert_eq!(selected("env"), "virtualips/dns\n");
    assert_eq!(selected("tier,!env"), "virtualips/web\nservices/shop\n");
    assert_eq!(
        get(&agent, &["vip", "dns", "-o", "name"]),
        "virtualips/dns\n"
    );

    let columns = get(
        &agent,
        &["vip", "-o", "custom-columns=NAME:.metadata.name,VRID:.spec.vrid,ACCEPT:.spec.accept,TIER:.metadata.labels.tier,SYNC:.spec.syncGroup"],
    );
    assert_eq!(
        columns.lines().map(words).collect::<Vec<_>>(),
        [
            vec!["NAME", "VRID", "ACCEPT", "TIER", "SYNC"],
            // accept is left out: its default shows.
            vec!["dns", "53", "true", "infra", "<none>"],
            vec!["web", "51", "true", "web", "<none>"],
        ]
    );

    for (args, says) in [
        (&["get", "vip", "-l", "tier in (web)"][..], "label selector"),
        (
            &["get", "vip", "-o", "custom-columns=NAME"],
            "HEADER:.field.path",
        ),
        (
            &["get", "vip", "-o", "names"],
            "custom-columns=HEADER:.field.path",
        ),
    ] {
        let out = agent.hc(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

/// A command that runs until killed, its stdout read a line at a time.
struct Following {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Following {
    fn start(agent: &Agent, args: &[&str]) -> Following {
        let mut child = cli(&agent.socket)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if send.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Following {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a printed line that `wanted` accepts.
    fn line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let found = |seen: &[String]| seen.iter().find(|l| wanted(l)).cloned();
        let mut lines = std::mem::take(&mut self.seen);
        while found(&lines).is_none() {
            match self.lines.recv_timeout(LONG) {
                Ok(line) => lines.push(line),
                Err(_) => panic!("{what} never printed; printed:\n{}", lines.join("\n")),
            }
        }
        let line = found(&lines).unwrap();
        self.seen = lines;
        line
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_watch_prints_a_changed_object_again_and_events_watch_prints_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_objects(dir.path());
    let mut vips = Following::start(&agent, &["get", "vip", "--watch"]);
    vips.line("the listing", |l| words(l).starts_with(&["web", "51"]));
    let mut events = Following::start(&agent, &["events", "--watch"]);
    let mut json_events = Following::start(&agent, &["events", "--watch", "-o", "json"]);

    let m = dir.path().join("m");
    write(&m, "web.yaml", &labelled_vip("web", 52, "tier: web"));
    expect_code(&agent.hc(&["apply", "-f", m.to_str().unwrap()]), 0);
    let changed = vips.line("the changed VirtualIP", |l| {
        words(l).starts_with(&["web", "52"])
    });
    assert!(changed.contains("10.77.0.52/24"), "{changed}");
    let headers = vips.seen.iter().filter(|l| l.starts_with("NAME")).count();
    assert_eq!(headers, 1, "{:?}", vips.seen);

    // Service shop cannot reach the (missing) Docker Engine: each failed
    // reconcile is an event as it happens.
    let failed = events.line("a ReconcileFailed event", |l| l.contains("ReconcileFailed"));
    assert!(failed.contains("Service/shop"), "{failed}");
    let line = json_events.line("a JSON event", |l| l.contains("ReconcileFailed"));
    let event: serde_json::Value = serde_json::from_str(&line).expect("one event a line");
    assert_eq!(event["object"]["name"], "shop", "{line}");
}

#[test]
fn describe_says_why_an_object_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_objects(dir.path());
    await_interface_not_found(&agent);

    let described = expect_code(&agent.hc(&["describe", "vip", "web"]), 0);
    let section = described
        .split("Not Ready:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no Not Ready section:\n{described}"));
    assert!(
        section.contains("Reason:           InterfaceNotFound"),
        "{described}"
    );
    assert!(section.contains("Since:            20"), "{described}");
    assert!(
        section.contains(
            "Message:          interface hcnone0 does not exist on this node: fix spec.interface"
        ),
        "{described}"
    );
    assert!(
        section.contains("only a change to the declaration or the host helps"),
        "{described}"
    );
    assert!(
        described.contains("Events:\n  <none>: no reconcile of it failed on this node; Ready=False (InterfaceNotFound)"),
        "{described}"
    );

    // A failure the controller retries lists its attempts.
    let attempts =
        || expect_code(&agent.hc(&["describe", "svc", "shop"]), 0).contains("ReconcileFailed");
    eventually(
        LONG,
        "failed attempts under Events",
        &|| agent.log(),
        attempts,
    );
    let shop = expect_code(&agent.hc(&["describe", "svc", "shop"]), 0);
    assert!(shop.contains("Reason:           EngineError"), "{shop}");
    assert!(shop.contains("the controller keeps trying"), "{shop}");
}
