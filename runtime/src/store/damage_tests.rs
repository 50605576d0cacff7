//! A damaged state file (zero bytes, truncated, a page overwritten,
//! nothing but noise) is refused as corrupt, naming the file and what to
//! do: never a panic, never an empty store that would tear down what the
//! objects declared. A page redb no longer uses may be damaged harmlessly;
//! then every object is still there.

use std::path::Path;

use super::*;

/// The objects a damaged file had.
const OBJECTS: usize = 40;

/// A state file of [`OBJECTS`] objects, some rewritten, closed cleanly.
fn written(dir: &Path) -> Vec<u8> {
    let store = Store::open(dir, "n1").unwrap();
    let batch = (0..OBJECTS as u64)
        .map(|i| super::tests::vip(&format!("vip-{i}"), i + 1))
        .collect();
    store
        .apply(batch, Manager::Cli, ApplyOptions::default())
        .unwrap();
    store
        .apply(
            vec![super::tests::vip("vip-0", 200)],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    drop(store);
    std::fs::read(dir.join(STATE_FILE)).unwrap()
}

/// Opens `bytes` as the state file: the objects, or the error's message.
fn open_damaged(bytes: &[u8]) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STATE_FILE), bytes).unwrap();
    let opened = std::panic::catch_unwind(|| Store::open(dir.path(), "n1"));
    match opened.map_err(|_| "panicked".to_string())? {
        Ok(store) => Ok(store.list(None).0.len()),
        Err(e) => Err(e.to_string()),
    }
}

fn refused_as_corrupt(case: &str, bytes: &[u8]) {
    match open_damaged(bytes) {
        Err(message) => assert!(
            message.contains("store.redb is corrupt") && message.contains("Move it aside"),
            "{case}: {message}"
        ),
        Ok(count) => panic!("{case}: opened with {count} objects"),
    }
}

/// Pseudo-random bytes, the same in every run.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_zero_length_state_file_is_refused() {
    refused_as_corrupt("zero bytes", &[]);
}

#[test]
fn a_truncated_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let whole = written(dir.path());
    for len in [
        1,
        64,
        512,
        4096,
        whole.len() / 2,
        whole.len() - 4096,
        whole.len() - 1,
    ] {
        refused_as_corrupt(
            &format!("truncated to {len} of {}", whole.len()),
            &whole[..len],
        );
    }
}

#[test]
fn noise_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let whole = written(dir.path());
    for seed in 1..=4 {
        refused_as_corrupt(&format!("noise {seed}"), &noise(seed, whole.len()));
    }
}

#[test]
fn a_page_of_noise_is_refused_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let whole = written(dir.path());
    let page = 4096;
    for (i, at) in (0..whole.len()).step_by(page).enumerate() {
        let mut damaged = whole.clone();
        let end = (at + page).min(whole.len());
        damaged[at..end].copy_from_slice(&noise(i as u64 + 7, end - at));
        match open_damaged(&damaged) {
            Ok(count) => assert_eq!(count, OBJECTS, "page at {at}: objects lost"),
            Err(message) => assert!(
                message.contains("store.redb is corrupt") && message.contains("Move it aside"),
                "page at {at}: {message}"
            ),
        }
    }
}
