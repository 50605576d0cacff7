//! The manifest loader on any bytes, as a file in a manifests directory or
//! a git commit would hold them: it ends in manifests or in diagnostics
//! that say something, never in a panic, a stack overflow or a hang.

#![no_main]

use std::path::Path;

use hareconcile_model::load::{load_str, Diagnostics};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Bytes that are not UTF-8 are refused before parsing, at the first
    // bad byte: tests/hostile_input.rs covers that through the file reader.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(Diagnostics(diagnostics)) = load_str(Path::new("fuzz.yaml"), text) {
        assert!(!diagnostics.is_empty(), "an error without a diagnostic");
        for d in &diagnostics {
            assert!(
                !d.message.is_empty(),
                "an empty diagnostic at {}:{}",
                d.line,
                d.column
            );
        }
    }
});
