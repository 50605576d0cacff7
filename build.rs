//! Link settings of the `hareconcile` binary.

fn main() {
    // A position-independent binary carries one relocation per pointer in
    // its read-only data (vtables, panic locations: about 20,000 here),
    // which the loader reads at start-up and which then stay resident:
    // 460 KiB of RELA entries. Packed as RELR (bitmaps of relative
    // relocations, glibc 2.36+, Debian 12) they take a few KiB.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
