//! What the built binary loads besides itself.

mod support;

use std::process::Command;

use support::BIN;

/// `src/math.rs`: libm, loaded for `pow` alone, cost every agent about
/// 600 KiB of resident memory.
#[test]
fn libm_is_not_loaded() {
    let out = Command::new("ldd").arg(BIN).output().unwrap();
    assert!(out.status.success(), "ldd {BIN}: {out:?}");
    let libraries = String::from_utf8_lossy(&out.stdout);
    assert!(libraries.contains("libc.so"), "{libraries}");
    assert!(!libraries.contains("libm.so"), "{libraries}");
}
