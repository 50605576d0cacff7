//! Which build this is: the version, the commit and the build date that
//! `build.rs` stamps in. `--version`, `/v1/info` readers and the
//! `hareconcile_build_info` metric all say the same.

/// 12 hex digits, or `unknown` for a build outside a git checkout.
pub const COMMIT: &str = env!("HARECONCILE_GIT_COMMIT");
/// YYYY-MM-DD (UTC), `SOURCE_DATE_EPOCH`'s day in a reproducible build.
pub const DATE: &str = env!("HARECONCILE_BUILD_DATE");

/// What `hareconcile --version` prints after the program's name. The
/// version comes first: scripts read the second word of the line
/// (`packaging/deb/build.sh` does).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HARECONCILE_GIT_COMMIT"),
    ", built ",
    env!("HARECONCILE_BUILD_DATE"),
    ")"
);
