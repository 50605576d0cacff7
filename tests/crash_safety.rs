//! SIGKILL the agent while it applies 1,000 objects: after a restart each
//! object is wholly present or absent, none is corrupt, and a batch is
//! never half applied.

use hareconcile_test_support as support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{bin, expect_code, post_raw, stderr, Agent};

const OBJECTS: usize = 1_000;

/// The apply request the CLI would send for 1,000 VirtualIPs (10
/// interfaces that do not exist, so no VRRP runs on the host, × 100 VRIDs, distinct addresses) plus their Cluster, every
/// object labelled with `round` so a mixed store is detectable. Posted
/// straight to the socket so the kill lands while the agent works, not
/// while a client parses YAML.
fn apply_request(round: usize) -> String {
    let mut objects = vec![json!({
        "apiVersion": "hareconcile.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "home", "labels": {"round": format!("r{round}")}},
        "spec": {"nodes": [{"name": "n1", "address": "127.0.0.1"}, {"name": "n2", "address": "10.77.0.2"}]}
    })];
    for i in 0..OBJECTS {
        let (interface, vrid) = (i / 100, i % 100 + 1);
        objects.push(json!({
            "apiVersion": "hareconcile.io/v1alpha1", "kind": "VirtualIP",
            "metadata": {"name": format!("vip-{i}"), "labels": {"round": format!("r{round}")}},
            "spec": {"cluster": "home", "interface": format!("hcnone{interface}"), "vrid": vrid,
                     "addresses": [format!("10.{}.{vrid}.{}/16", 100 + interface, round + 1)]}
        }));
    }
    json!({"manager": "cli", "options": {"force": true}, "objects": objects}).to_string()
}

/// The delay that means "kill after the client's acknowledgement".
const AFTER_ACKNOWLEDGEMENT: u64 = u64::MAX;

#[test]
fn sigkill_during_apply_leaves_every_object_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged_rounds = 0;
    let mut interrupted_rounds = 0;
    for (round, kill_after_ms) in [
        1u64,
        15,
        40,
        80,
        120,
        200,
        300,
        500,
        1_000,
        2_500,
        AFTER_ACKNOWLEDGEMENT,
    ]
    .into_iter()
    .enumerate()
    {
        let body = apply_request(round);
        let mut agent = Agent::start(dir.path(), &[]);
        let socket = agent.socket.clone();
        let client = std::thread::spawn(move || {
            post_raw(&socket, "/v1/apply", &body).starts_with("HTTP/1.1 200")
        });
        let acknowledged = if kill_after_ms == AFTER_ACKNOWLEDGEMENT {
            // However slow the machine, one round kills only once the
            // apply was acknowledged, so the test always checks that an
            // acknowledged batch survives.
            let acknowledged = client.join().unwrap();
            agent.kill();
            acknowledged
        } else {
            std::thread::sleep(Duration::from_millis(kill_after_ms));
            agent.kill();
            client.join().unwrap()
        };

        let agent = Agent::start(dir.path(), &[]);
        let json = expect_code(&agent.hc(&["get", "all", "-o", "json"]), 0);
        let list: serde_json::Value =
            serde_json::from_str(&json).expect("every stored object decodes");
        let items = list["items"].as_array().unwrap();
        assert!(
            items.is_empty() || items.len() == OBJECTS + 1,
            "round {round}: {} objects: a batch must land whole or not at all",
            items.len()
        );
        let rounds: BTreeSet<&str> = items
            .iter()
            .map(|o| o["metadata"]["labels"]["round"].as_str().unwrap())
            .collect();
        assert!(rounds.len() <= 1, "round {round}: mixed batches {rounds:?}");
        if acknowledged {
            acknowledged_rounds += 1;
            assert_eq!(
                rounds.into_iter().next(),
                Some(format!("r{round}").as_str()),
                "round {round}: an acknowledged apply must survive SIGKILL"
            );
        } else {
            interrupted_rounds += 1;
        }
        for item in items {
            assert!(item["metadata"]["uid"].is_string());
            assert!(item["spec"].is_object());
        }
    }
    // The delays must straddle the apply for the test to mean anything.
    assert!(
        interrupted_rounds > 0,
        "no kill landed before the apply finished"
    );
    assert!(acknowledged_rounds > 0, "no apply finished before its kill");
}

#[test]
fn a_corrupt_state_file_stops_the_agent_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("store");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("store.redb"), vec![0xA5u8; 16 * 1024]).unwrap();
    let out = Command::new(bin())
        .args(["agent", "--node", "n1"])
        .arg("--state-dir")
        .arg(&state)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let message = stderr(&out);
    assert!(
        message.contains(&state.join("store.redb").display().to_string()),
        "{message}"
    );
    assert!(message.contains("corrupt"), "{message}");
}
