//! Env files (`.env`, `env_file:`) on any text: variables and positioned
//! problems, never a panic.

#![no_main]

use hareconcile_compose::file::{parse_env_file, Variables};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let environment = Variables::new(
        Default::default(),
        [("HOME".to_string(), "/root".to_string())],
    );
    let parsed = parse_env_file(text, &environment, 0);
    let lines = text.lines().count().max(1);
    for (at, message) in &parsed.problems {
        assert!(!message.is_empty());
        assert!(
            at.line >= 1 && at.line <= lines + 1,
            "line {} of {lines}: {message}",
            at.line
        );
        assert!(at.column >= 1, "column {}: {message}", at.column);
    }
    for (name, _) in &parsed.variables {
        assert!(!name.is_empty(), "a variable without a name");
    }
});
