//! Service health through the real agent in a lab node: the `Healthy`
//! condition follows an HTTP probe of the stack's published port (fall
//! and rise counted), and `Ready` follows it on a node where the stack runs.

use hareconcile_test_support as support;

use std::time::Duration;

use hareconcile_lab::{require_privileges, DockerNode};
use support::LabAgent;

const CONVERGE: Duration = Duration::from_secs(60);

/// One node's agent running Service `shop` (active-active on a one-node
/// Cluster) on the node's dockerd. Fields drop in order: the agent
/// before the daemon.
struct Shop {
    agent: LabAgent,
    docker: DockerNode,
}

impl Shop {
    /// `compose` makes the stack's compose file from the busybox image's
    /// tag; `health` is the Service's `health` block (indented lines).
    fn start(compose: impl FnOnce(&str) -> String, health: &str) -> Shop {
        let docker = DockerNode::start(false).unwrap();
        let manifests = LabAgent::manifests_of(&docker.lab, docker.node());
        std::fs::write(manifests.join("compose.yaml"), compose(&docker.image)).unwrap();
        std::fs::write(
            manifests.join("lab.yaml"),
            format!("apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {{name: lab}}\nspec:\n  nodes:\n    - {{name: n1, address: 10.77.0.1, priority: 110}}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: shop}}\nspec:\n  cluster: lab\n  mode: active-active\n  compose: {{file: compose.yaml}}\n  health:\n{health}"),
        )
        .unwrap();
        let agent = LabAgent::command(&docker.lab, docker.node())
            .manifests(&manifests)
            .args(["--docker-host", docker.dockerd.uri()])
            .start();
        Shop { agent, docker }
    }

    /// The Service's condition `type_`: status, reason, message.
    fn condition(&self, type_: &str) -> Option<(String, String, String)> {
        let object = self.agent.object("service", "shop");
        let c = object["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)?
            .clone();
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        Some((text("status"), text("reason"), text("message")))
    }

    /// Waits until condition `type_` has `status`.
    fn wait_for(&self, type_: &str, status: &str) {
        let explain = || {
            format!(
                "Healthy {:?}, Ready {:?}\nagent log:\n{}",
                self.condition("Healthy"),
                self.condition("Ready"),
                self.agent.log()
            )
        };
        support::eventually(
            CONVERGE,
            &format!("timed out waiting for {type_}={status}:"),
            &explain,
            || self.condition(type_).is_some_and(|(s, _, _)| s == status),
        );
    }

    /// Runs `script` in `container` of the stack, which must succeed.
    fn exec(&self, container: &str, script: &str) {
        self.docker
            .dockerd
            .docker(&["exec", container, "sh", "-c", script])
            .unwrap()
            .ok()
            .unwrap();
    }
}

#[test]
fn healthy_follows_the_probed_port_going_away_and_coming_back() {
    require_privileges!(docker);
    // web serves :8080 until /tmp/down exists, so the test can make the
    // port stop answering without the container stopping.
    let shop = Shop::start(
        |image| format!(
            "services:\n  web:\n    image: {image}\n    init: true\n    command: [sh, -c, 'while true; do [ -e /tmp/down ] || httpd -f -p 8080 -h /www; sleep 0.2; done']\n    ports: [\"8080:8080\"]\n    depends_on: [worker]\n  worker:\n    image: {image}\n    init: true\n    command: sleep 3600\n  idle:\n    image: {image}\n    init: true\n    command: sleep 3600\n"
        ),
        "    containers: all\n    http: [\"http://127.0.0.1:8080/\"]\n    interval: 200ms\n    timeout: 500ms\n    fall: 3\n    rise: 2\n",
    );
    shop.wait_for("Healthy", "True");
    shop.wait_for("Ready", "True");

    // The port stops answering; the container keeps running.
    shop.exec("shop_web_1", "touch /tmp/down; killall httpd");
    shop.wait_for("Healthy", "False");
    let (_, reason, message) = shop.condition("Healthy").unwrap();
    assert_eq!(reason, "ProbeFailed");
    assert!(message.contains("http http://127.0.0.1:8080/"), "{message}");
    shop.wait_for("Ready", "False");
    assert_eq!(shop.condition("Ready").unwrap().1, "Unhealthy");

    // It answers again.
    shop.exec("shop_web_1", "rm /tmp/down");
    shop.wait_for("Healthy", "True");
    shop.wait_for("Ready", "True");
}

/// An `exec` probe runs its command in the stack's container, as a
/// `pihole status` or `dig` in Pi-hole's would: the stack is healthy while
/// it exits 0 and unhealthy after `fall` failures, though every container
/// keeps running.
#[test]
fn an_exec_probe_in_the_container_decides_health() {
    require_privileges!(docker);
    let shop = Shop::start(
        |image| format!("services:\n  dns:\n    image: {image}\n    init: true\n    command: sleep 3600\n"),
        "    exec: [{container: dns, command: [sh, -c, 'test ! -e /tmp/sick || { echo sick >&2; exit 4; }']}]\n    interval: 200ms\n    timeout: 5s\n    fall: 2\n    rise: 1\n",
    );
    shop.wait_for("Healthy", "True");
    shop.exec("shop_dns_1", "touch /tmp/sick");
    shop.wait_for("Healthy", "False");
    let (_, reason, message) = shop.condition("Healthy").unwrap();
    assert_eq!(reason, "ProbeFailed");
    assert!(
        message.contains("exec sh -c test ! -e /tmp/sick")
            && message.contains("exit status 4: sick"),
        "{message}"
    );
    shop.exec("shop_dns_1", "rm /tmp/sick");
    shop.wait_for("Healthy", "True");
}
