//! `hareconcile switchover` refusals against one running agent (no root:
//! the VirtualIP names an interface that does not exist). The move itself
//! is the lab test `switchover`.

mod support;

use support::{expect_code, stderr, virtual_ip, Agent, CLUSTER};

#[test]
fn refuses_what_it_cannot_move_safely() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let data = dir.path().join("data");
    let manifest = dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        format!(
            "{CLUSTER}---\n{}---\napiVersion: hareconcile.io/v1alpha1\nkind: Replication\n\
             metadata: {{name: files}}\nspec: {{cluster: home, followVirtualIP: web, path: {}, \
             method: rsync, rsync: {{interval: 1h}}}}\n",
            virtual_ip("web", 51, "10.77.0.100/24"),
            data.display()
        ),
    )
    .unwrap();
    expect_code(&agent.hc(&["apply", "-f", manifest.to_str().unwrap()]), 0);

    let missing = agent.hc(&["switchover", "nope", "--to", "n2"]);
    expect_code(&missing, 2);
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );

    // Safe by default: no final sync yet, so copied data refuses the move.
    let copied = agent.hc(&["switchover", "web", "--to", "n2"]);
    expect_code(&copied, 2);
    let why = stderr(&copied);
    assert!(
        why.contains("replication/files") && why.contains("--accept-data-loss"),
        "{why}"
    );

    // Without the peer API the other nodes cannot be reached.
    let alone = agent.hc(&["switchover", "web", "--to", "n2", "--accept-data-loss"]);
    expect_code(&alone, 3);
    assert!(stderr(&alone).contains("peer API"), "{}", stderr(&alone));

    expect_code(&agent.hc(&["switchover", "web", "--wait"]), 2);
}

#[test]
fn an_object_of_another_manager_is_left_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _file) = Agent::start_on_manifests(
        dir.path(),
        &format!("{CLUSTER}---\n{}", virtual_ip("web", 51, "10.77.0.100/24")),
    );
    let refused = agent.hc(&["switchover", "web", "--to", "n2"]);
    expect_code(&refused, 2);
    let message = stderr(&refused);
    assert!(message.contains("managed by files"), "{message}");
    assert!(
        message.contains(r#"{"switchoverTo":"n2"}"#),
        "says what to declare: {message}"
    );
}
