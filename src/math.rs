//! The C math functions the binary calls, defined here so that glibc's
//! libm is never loaded.
//!
//! The optimized agent takes one function from libm, `pow` (tokio's
//! multi-thread scheduler weighs its task-poll-time average with it), yet
//! loading libm resolves every one of its IFUNC relocations, which runs
//! code and reads tables across the library: about 600 KiB of libm stayed
//! resident in every agent. Defined here, the calls resolve inside the
//! binary and the linker (`--as-needed`) drops libm. `log2` is called only
//! by unoptimized builds (num-bigint, redb and tokio's timer wheel, where
//! the optimizer folds it away). `log` is the one libm function the bundled
//! SQLite calls (FTS5's bm25 ranking; the sync controller copies live
//! databases through SQLite's online backup). The `libm` crate is the Rust port of
//! musl's, accurate to within an ulp; `tests/binary.rs` checks that libm
//! stays out.

/// `x` raised to the power `y`.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// The base-2 logarithm of `x`.
#[no_mangle]
pub extern "C" fn log2(x: f64) -> f64 {
    libm::log2(x)
}

/// The natural logarithm of `x`.
#[no_mangle]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}

#[cfg(test)]
mod tests {
    use super::{log, log2, pow};

    #[test]
    fn agree_with_exact_results() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(0.9, 0.0), 1.0);
        assert_eq!(pow(81.0, 0.5), 9.0);
        assert_eq!(pow(2.0, -2.0), 0.25);
        // What tokio computes: 1 - (1 - alpha)^polls.
        let weight = 1.0 - pow(0.9, 3.0);
        assert!((weight - 0.271).abs() < 1e-12, "{weight}");
        assert_eq!(log2(1024.0), 10.0);
        assert_eq!(log2(0.125), -3.0);
        assert!((log2(10.0) - std::f64::consts::LOG2_10).abs() < 1e-15);
        assert_eq!(log(1.0), 0.0);
        assert!((log(std::f64::consts::E) - 1.0).abs() < 1e-15);
    }
}
