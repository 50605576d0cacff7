//! The compose loader on any file: a project or errors naming a file,
//! never a panic or a hang. A NUL byte splits the input into the compose
//! file and the `.env` beside it, so variables reach interpolation too.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hareconcile_compose::file::{load, FileError, LoadOptions};

/// The loader reads files from a directory: one per fuzzing process.
fn project_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("hareconcile-fuzz-compose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the project");
        dir
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = project_dir();
    let (compose, dot_env) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let file = dir.join("compose.yaml");
    std::fs::write(&file, compose).unwrap();
    let env = dir.join(".env");
    match dot_env {
        Some(text) => std::fs::write(&env, text).unwrap(),
        None => {
            let _ = std::fs::remove_file(&env);
        }
    }
    if let Err(errors) = load(&file, &LoadOptions::default()) {
        assert!(!errors.0.is_empty(), "an error without a problem");
        for error in &errors.0 {
            if let FileError::Invalid { at, message, .. } = error {
                assert!(at.line >= 1 && at.column >= 1, "unpositioned: {message}");
            }
        }
    }
});
