//! `${VAR}` interpolation on any text: a substituted text or an error
//! message, never a panic or unbounded recursion. Text without a `$` comes
//! back unchanged.

#![no_main]

use hareconcile_compose::file::{interpolate, Variables};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = Variables::new(
        [
            ("SET".to_string(), "value".to_string()),
            ("EMPTY".to_string(), String::new()),
            // Values are not interpolated again: this stays as written.
            ("DOLLAR".to_string(), "${SET}".to_string()),
        ]
        .into(),
        [],
    );
    match interpolate(text, &vars) {
        Ok(substituted) if !text.contains('$') => assert_eq!(substituted.text, text),
        Ok(_) => {}
        Err(message) => assert!(!message.is_empty()),
    }
});
