//! Service health through the real agent in a lab node: the `Healthy`
//! condition follows an HTTP probe of the stack's published port (fall
//! and rise counted), and `Ready` follows it on a node where the stack runs.

use hareconcile_test_support as support;

use std::path::Path;
use std::time::Duration;

use hareconcile_lab::{busybox_image, require_privileges, Lab};
use support::LabAgent;

const CONVERGE: Duration = Duration::from_secs(60);

/// web serves :8080 until /tmp/down exists, so the test can make the port
/// stop answering without the container stopping.
fn write_manifests(dir: &Path, image: &str) {
    let compose = format!(
        "services:\n  web:\n    image: {image}\n    init: true\n    command: [sh, -c, 'while true; do [ -e /tmp/down ] || httpd -f -p 8080 -h /www; sleep 0.2; done']\n    ports: [\"8080:8080\"]\n    depends_on: [worker]\n  worker:\n    image: {image}\n    init: true\n    command: sleep 3600\n  idle:\n    image: {image}\n    init: true\n    command: sleep 3600\n"
    );
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
    std::fs::write(
        dir.join("lab.yaml"),
        "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  nodes:\n    - {name: n1, address: 10.77.0.1, priority: 110}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {name: shop}\nspec:\n  cluster: lab\n  mode: active-active\n  compose: {file: compose.yaml}\n  health:\n    containers: all\n    http: [\"http://127.0.0.1:8080/\"]\n    interval: 200ms\n    timeout: 500ms\n    fall: 3\n    rise: 2\n",
    )
    .unwrap();
}

fn condition(agent: &LabAgent, type_: &str) -> Option<(String, String, String)> {
    let object = agent.object("service", "shop");
    let c = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((text("status"), text("reason"), text("message")))
}

fn wait_for(what: &str, done: impl FnMut() -> bool, explain: impl Fn() -> String) {
    support::eventually(
        CONVERGE,
        &format!("timed out waiting for {what}:"),
        &explain,
        done,
    );
}

#[test]
fn healthy_follows_the_probed_port_going_away_and_coming_back() {
    require_privileges!(docker);
    let lab = Lab::builder().nodes(1).build().unwrap();
    let node = lab.node(1);
    let dockerd = node.start_dockerd().unwrap();
    let image = busybox_image(dockerd.uri()).unwrap();
    let manifests = LabAgent::manifests_of(&lab, node);
    write_manifests(&manifests, &image);
    let agent = LabAgent::command(&lab, node)
        .manifests(&manifests)
        .args(["--docker-host", dockerd.uri()])
        .start();
    let explain = || {
        format!(
            "Healthy {:?}, Ready {:?}\nagent log:\n{}",
            condition(&agent, "Healthy"),
            condition(&agent, "Ready"),
            agent.log()
        )
    };
    let is =
        |type_: &str, status: &str| condition(&agent, type_).is_some_and(|(s, _, _)| s == status);

    wait_for("Healthy=True", || is("Healthy", "True"), explain);
    wait_for("Ready=True", || is("Ready", "True"), explain);

    // The port stops answering; the container keeps running.
    dockerd
        .docker(&[
            "exec",
            "shop_web_1",
            "sh",
            "-c",
            "touch /tmp/down; killall httpd",
        ])
        .unwrap()
        .ok()
        .unwrap();
    wait_for("Healthy=False", || is("Healthy", "False"), explain);
    let (_, reason, message) = condition(&agent, "Healthy").unwrap();
    assert_eq!(reason, "ProbeFailed");
    assert!(message.contains("http http://127.0.0.1:8080/"), "{message}");
    wait_for("Ready=False", || is("Ready", "False"), explain);
    assert_eq!(condition(&agent, "Ready").unwrap().1, "Unhealthy");

    // It answers again.
    dockerd
        .docker(&["exec", "shop_web_1", "rm", "/tmp/down"])
        .unwrap()
        .ok()
        .unwrap();
    wait_for("Healthy=True again", || is("Healthy", "True"), explain);
    wait_for("Ready=True again", || is("Ready", "True"), explain);
    drop(agent);
}

/// An `exec` probe runs its command in the stack's container, as a
/// `pihole status` or `dig` in Pi-hole's would: the stack is healthy while
/// it exits 0 and unhealthy after `fall` failures, though every container
/// keeps running.
#[test]
fn an_exec_probe_in_the_container_decides_health() {
    require_privileges!(docker);
    let lab = Lab::builder().nodes(1).build().unwrap();
    let node = lab.node(1);
    let dockerd = node.start_dockerd().unwrap();
    let image = busybox_image(dockerd.uri()).unwrap();
    let manifests = LabAgent::manifests_of(&lab, node);
    std::fs::write(
        manifests.join("compose.yaml"),
        format!("services:\n  dns:\n    image: {image}\n    init: true\n    command: sleep 3600\n"),
    )
    .unwrap();
    std::fs::write(
        manifests.join("lab.yaml"),
        "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  nodes:\n    - {name: n1, address: 10.77.0.1, priority: 110}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {name: shop}\nspec:\n  cluster: lab\n  mode: active-active\n  compose: {file: compose.yaml}\n  health:\n    exec: [{container: dns, command: [sh, -c, 'test ! -e /tmp/sick || { echo sick >&2; exit 4; }']}]\n    interval: 200ms\n    timeout: 5s\n    fall: 2\n    rise: 1\n",
    )
    .unwrap();
    let agent = LabAgent::command(&lab, node)
        .manifests(&manifests)
        .args(["--docker-host", dockerd.uri()])
        .start();
    let explain = || {
        format!(
            "Healthy {:?}\nagent log:\n{}",
            condition(&agent, "Healthy"),
            agent.log()
        )
    };
    let is =
        |type_: &str, status: &str| condition(&agent, type_).is_some_and(|(s, _, _)| s == status);
    let in_dns = |script: &str| {
        dockerd
            .docker(&["exec", "shop_dns_1", "sh", "-c", script])
            .unwrap()
            .ok()
            .unwrap();
    };

    wait_for("Healthy=True", || is("Healthy", "True"), explain);
    in_dns("touch /tmp/sick");
    wait_for("Healthy=False", || is("Healthy", "False"), explain);
    let (_, reason, message) = condition(&agent, "Healthy").unwrap();
    assert_eq!(reason, "ProbeFailed");
    assert!(
        message.contains("exec sh -c test ! -e /tmp/sick")
            && message.contains("exit status 4: sick"),
        "{message}"
    );
    in_dns("rm /tmp/sick");
    wait_for("Healthy=True again", || is("Healthy", "True"), explain);
}
