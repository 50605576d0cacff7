//! What the built binary loads besides itself.

use hareconcile_test_support as support;

use std::process::Command;

use support::{bin, run_ok};

/// `src/math.rs`: libm, loaded for `pow` alone, cost every agent about
/// 600 KiB of resident memory.
#[test]
fn libm_is_not_loaded() {
    let out = run_ok(Command::new("ldd").arg(bin()), "ldd");
    let libraries = String::from_utf8_lossy(&out.stdout);
    assert!(libraries.contains("libc.so"), "{libraries}");
    assert!(!libraries.contains("libm.so"), "{libraries}");
}

/// The oldest glibc the project supports (packaging/check-glibc.sh): a
/// symbol version or link flag that needs a newer one fails here, in the
/// test build, before the release build of CI checks the same. Link flags
/// are the same for both builds, and the test build references at least
/// the symbols the optimized one keeps.
#[test]
fn the_binary_starts_on_glibc_2_35() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/check-glibc.sh");
    run_ok(
        Command::new(script).arg(bin()).arg("2.35"),
        "check-glibc.sh",
    );
}
