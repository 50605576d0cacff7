//! The README's first command, `scripts/example.sh`, runs
//! `examples/two_node.rs`; this test runs the same code so the example a
//! newcomer tries first cannot rot: two agents serving `manifests/` elect
//! n1, serve the stack on the VIP with the certificates replicated to n2,
//! fail over to n2 on node loss and preempt back.

#[path = "../examples/two_node.rs"]
#[allow(dead_code)] // its `main` belongs to the example binary
mod two_node;

use hareconcile_lab::require_privileges;

#[test]
fn the_built_in_example_serves_fails_over_and_fails_back() {
    require_privileges!(docker);
    // The only test in this process: nothing else reads the environment.
    std::env::set_var("HARECONCILE_BIN", env!("CARGO_BIN_EXE_hareconcile"));
    two_node::run_example(false).unwrap();
}
