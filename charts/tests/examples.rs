//! Every built-in chart renders with each of its example values files to
//! exactly the golden output under `tests/golden/CHART/EXAMPLE/` (the
//! rendered templates and the lock; `files/` are byte-for-byte copies of
//! the chart's), and the result passes the full validation: the model's,
//! the compose files through the agent's loader, hooks present.
//!
//! After an intended change: `UPDATE_GOLDEN=1 cargo test -p hareconcile-charts --test examples`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hareconcile_charts::{lint, render, Chart, Values, ValuesFile, LOCK_FILE};

fn golden_dir(chart: &str, example: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(chart)
        .join(example)
}

fn example_values(chart: &Chart, name: &str, text: &str) -> Vec<ValuesFile> {
    vec![ValuesFile {
        path: chart.display_path(&format!("examples/{name}.yaml")),
        text: text.to_string(),
    }]
}

/// The render's own output (templates and lock), as golden files hold it.
fn rendered_text(chart: &Chart, values: &[ValuesFile]) -> BTreeMap<String, String> {
    let values = Values::resolve(chart, values).unwrap_or_else(|e| panic!("{e}"));
    let rendered = render(chart, &values).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    rendered.write_to(dir.path()).unwrap();
    let mut out = BTreeMap::new();
    for path in rendered.files.keys().chain([&LOCK_FILE.to_string()]) {
        if let Some(source) = chart.file(path) {
            assert_eq!(
                std::fs::read(dir.path().join(path)).unwrap(),
                source.bytes.as_ref(),
                "{path} is the chart's file, unchanged"
            );
            continue;
        }
        out.insert(
            path.clone(),
            std::fs::read_to_string(dir.path().join(path)).unwrap(),
        );
    }
    out
}

fn read_golden(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        out.insert(name, std::fs::read_to_string(entry.path()).unwrap());
    }
    out
}

#[test]
fn every_example_renders_to_its_golden_output() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut checked = 0;
    for name in Chart::builtin_names() {
        let chart = Chart::builtin(name).unwrap();
        let examples = chart.examples();
        assert!(!examples.is_empty(), "chart {name} has no examples/*.yaml");
        for (example, text) in examples {
            let actual = rendered_text(&chart, &example_values(&chart, &example, text));
            let dir = golden_dir(name, &example);
            if update {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                for (path, text) in &actual {
                    assert!(
                        !path.contains('/'),
                        "templates render at the top level: {path}"
                    );
                    std::fs::write(dir.join(path), text).unwrap();
                }
            }
            assert_eq!(
                read_golden(&dir),
                actual,
                "charts/{name} with examples/{example}.yaml renders differently from {}: if intended, run again with UPDATE_GOLDEN=1",
                dir.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} examples");
}

#[test]
fn every_example_passes_the_full_validation() {
    let mut failures = Vec::new();
    for name in Chart::builtin_names() {
        let chart = Chart::builtin(name).unwrap();
        for (example, text) in chart.examples() {
            match lint(&chart, &example_values(&chart, &example, text)) {
                Ok(manifests) => assert!(manifests.len() >= 3, "{name}: {manifests:?}"),
                Err(e) => {
                    failures.push(format!("charts/{name} with examples/{example}.yaml:\n{e}"))
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_defaults_alone_ask_for_what_only_the_user_knows() {
    // Addresses and interfaces have no sensible default: a chart rendered
    // without them must say which values to set, where.
    let chart = Chart::builtin("vrrp-router").unwrap();
    let message = Values::resolve(&chart, &[]).unwrap_err().to_string();
    assert!(
        message.contains("builtin:vrrp-router/values.yaml:")
            && message.contains("cluster.nodes: expected a list, found an empty value"),
        "{message}"
    );
}
