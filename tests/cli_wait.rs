//! Issue 19: `apply --wait` takes its timeout as --wait=2m or --timeout
//! 2m, says which object became Ready as it happens, and stops at once
//! with exit 1 when one cannot become Ready until someone changes the
//! declaration or the host.

use hareconcile_test_support as support;

use support::{expect_code, stderr, virtual_ip, write_file, Agent, CLUSTER};

#[test]
fn wait_reports_each_ready_object_and_stops_at_a_terminal_reason() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let cluster = write_file(dir.path(), "cluster.yaml", CLUSTER);
    let cluster = cluster.to_str().unwrap();

    let out = expect_code(
        &agent.hc(&["apply", "-f", cluster, "--wait", "--timeout", "2m"]),
        0,
    );
    assert_eq!(
        out,
        "clusters/home created\nclusters/home ready\nall 1 object(s) ready\n"
    );

    // The interface does not exist: InterfaceNotFound, which only an
    // edit of the manifest (or a new interface) fixes. The wait ends
    // long before its 10 minutes.
    let web = write_file(
        dir.path(),
        "web.yaml",
        &virtual_ip("web", 51, "10.77.0.100/24"),
    );
    let out = agent.hc(&[
        "apply",
        "-f",
        cluster,
        "-f",
        web.to_str().unwrap(),
        "--wait=10m",
    ]);
    let printed = expect_code(&out, 1);
    assert_eq!(
        printed,
        "clusters/home unchanged\nvirtualips/web created\nclusters/home ready\n"
    );
    assert!(
        stderr(&out).contains(
            "stopped waiting: an object cannot become Ready until the declaration or the host changes:\n  virtualips/web: InterfaceNotFound: interface hcnone0 does not exist on this node"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_timeout_is_given_once_and_only_with_wait() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = write_file(dir.path(), "cluster.yaml", CLUSTER);
    let cluster = cluster.to_str().unwrap();
    let socket = dir.path().join("none.sock");
    // Every command that waits reads the two flags the same way, before
    // it asks the agent anything.
    let commands: [&[&str]; 3] = [
        &["apply", "-f", cluster],
        &["switchover", "web", "--to", "n2"],
        &["vip", "maintenance", "web"],
    ];
    for command in commands {
        for (args, says) in [
            (&["--wait=1m", "--timeout", "2m"][..], "give one"),
            (&["--timeout", "2m"], "--wait"),
            (&["--wait", "--timeout", "soon"], "soon"),
        ] {
            let all = [command, args].concat();
            let out = support::hc(&socket, &all);
            assert_eq!(out.status.code(), Some(2), "{all:?}: {}", stderr(&out));
            assert!(stderr(&out).contains(says), "{all:?}: {}", stderr(&out));
        }
    }
    let out = support::hc(&socket, &["switchover", "web", "--clear", "--wait"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--to"), "{}", stderr(&out));
}
