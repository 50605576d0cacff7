//! `hareconcile switchover` refusals against one running agent (no root:
//! the VirtualIP names an interface that does not exist). The move itself
//! is the lab test `switchover`.

use hareconcile_test_support as support;

use support::{expect_code, stderr, web_manifest, Agent};

#[test]
fn refuses_what_it_cannot_move_safely() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_with_web(dir.path());

    let missing = agent.hc(&["switchover", "nope", "--to", "n2"]);
    expect_code(&missing, 2);
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );

    // Without the peer API the other nodes cannot be reached.
    let alone = agent.hc(&["switchover", "web", "--to", "n2"]);
    expect_code(&alone, 3);
    assert!(stderr(&alone).contains("peer API"), "{}", stderr(&alone));

    expect_code(&agent.hc(&["switchover", "web", "--wait"]), 2);
}

#[test]
fn an_object_of_another_manager_is_left_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _file) = Agent::start_on_manifests(dir.path(), &web_manifest());
    let refused = agent.hc(&["switchover", "web", "--to", "n2"]);
    expect_code(&refused, 2);
    let message = stderr(&refused);
    assert!(message.contains("managed by files"), "{message}");
    assert!(
        message.contains(r#"{"switchoverTo":"n2"}"#),
        "says what to declare: {message}"
    );
}
