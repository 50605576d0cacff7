//! `hareconcile schema all`, checked with an independent validator
//! (Debian's python3-jsonschema, scripts/install-test-deps.sh): it accepts
//! every example manifest and every chart's rendered manifests, and
//! rejects wrong ones; the repository ships it, and the examples name it
//! in their modeline.
//!
//! After an intended schema change: `UPDATE_GOLDEN=1 cargo test --test schema_all`.

use std::path::{Path, PathBuf};
use std::process::Command;

use hareconcile_test_support as support;

use support::expect_code;

const SHIPPED: &str = "schemas/hareconcile.schema.json";
const MODELINE: &str = "# yaml-language-server: $schema=../schemas/hareconcile.schema.json";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn schema_all() -> String {
    expect_code(
        &Command::new(support::bin())
            .args(["schema", "all"])
            .output()
            .unwrap(),
        0,
    )
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// The example manifests: YAML files with an apiVersion (not the
/// compose files beside them).
fn example_manifests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    yaml_files(&repo("manifests"), &mut files);
    files.retain(|f| {
        std::fs::read_to_string(f)
            .unwrap()
            .contains("apiVersion: hareconcile.io/")
    });
    files.sort();
    files
}

/// Every chart example's rendered manifests, which
/// charts/tests/examples.rs keeps equal to what the charts render.
fn rendered_charts() -> Vec<PathBuf> {
    let mut files = Vec::new();
    yaml_files(&repo("charts/tests/golden"), &mut files);
    files.sort();
    files
}

/// Debian's python3 with python3-jsonschema and python3-yaml, and
/// `schema all` in a file for it.
struct Validator {
    python: &'static str,
    dir: tempfile::TempDir,
}

impl Validator {
    /// None (outside CI) when the packages are missing.
    fn new() -> Option<Validator> {
        let python = "/usr/bin/python3";
        let found = Command::new(python)
            .args(["-c", "import jsonschema, yaml"])
            .status()
            .is_ok_and(|s| s.success());
        if !found && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!(
                "python3-jsonschema or python3-yaml is missing: run scripts/install-test-deps.sh"
            );
        }
        if !found {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hareconcile.schema.json"), schema_all()).unwrap();
        Some(Validator { python, dir })
    }

    /// The verdict per YAML document: `ok FILE#N KIND` or
    /// `invalid FILE#N: field: message`.
    fn verdicts(&self, files: &[PathBuf]) -> Vec<String> {
        let output = support::run_ok(
            Command::new(self.python)
                .arg(repo("tests/schema_all/validate.py"))
                .arg(self.dir.path().join("hareconcile.schema.json"))
                .args(files),
            "validate.py failed",
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn the_shipped_schema_is_what_schema_all_prints() {
    let printed = schema_all();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(repo(SHIPPED), &printed).unwrap();
    }
    assert!(
        std::fs::read_to_string(repo(SHIPPED)).unwrap() == printed,
        "{SHIPPED} differs from `hareconcile schema all`: run again with UPDATE_GOLDEN=1"
    );
}

#[test]
fn every_example_manifest_names_the_schema_in_its_modeline() {
    let files = example_manifests();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(MODELINE),
            "{} starts without the modeline",
            file.display()
        );
    }
}

#[test]
fn an_independent_validator_accepts_every_example_and_chart_render() {
    let Some(validator) = Validator::new() else {
        eprintln!("skipped: no python3-jsonschema");
        return;
    };
    let mut files = example_manifests();
    files.extend(rendered_charts());
    let verdicts = validator.verdicts(&files);
    let invalid: Vec<&String> = verdicts.iter().filter(|v| !v.starts_with("ok ")).collect();
    assert!(invalid.is_empty(), "{invalid:#?}");
    for kind in ["Cluster", "VirtualIP", "Service", "Replication"] {
        assert!(
            verdicts.iter().any(|v| v.ends_with(&format!(" {kind}"))),
            "no {kind} checked: {verdicts:#?}"
        );
    }
    assert!(verdicts.len() >= 40, "{} documents", verdicts.len());
}

#[test]
fn an_independent_validator_rejects_wrong_manifests() {
    let Some(validator) = Validator::new() else {
        eprintln!("skipped: no python3-jsonschema");
        return;
    };
    let web = std::fs::read_to_string(repo("manifests/web.yaml")).unwrap();
    let wrong = [
        // Each kind is checked by its own schema: a VirtualIP's field is
        // unknown in a Service.
        (
            "kind.yaml",
            web.replacen("kind: VirtualIP", "kind: Service", 1),
        ),
        ("range.yaml", web.replacen("vrid: 51", "vrid: 300", 1)),
        ("typo.yaml", web.replacen("interface:", "interfce:", 1)),
        (
            "unknown.yaml",
            web.replacen("kind: VirtualIP", "kind: Pod", 1),
        ),
    ];
    let mut files = Vec::new();
    for (name, text) in wrong {
        assert_ne!(text, web, "{name} changed nothing");
        let path = validator.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let verdicts = validator.verdicts(&files);
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy();
        let first = verdicts
            .iter()
            .find(|v| v.contains(&format!("{file}#0")))
            .unwrap_or_else(|| panic!("no verdict on {file}: {verdicts:#?}"));
        assert!(first.starts_with("invalid "), "{first}");
    }
    let range = verdicts
        .iter()
        .find(|v| v.contains("range.yaml#0"))
        .unwrap();
    assert!(range.contains("spec.vrid"), "{range}");
}
