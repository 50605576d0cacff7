//! Commands that need no agent: validate, schema, and --help everywhere.

use hareconcile_test_support as support;

use std::process::Command;

use support::{bin, expect_code, stderr};

fn hc(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn the_example_manifests_validate() {
    let out = expect_code(&hc(&["validate", "-f", "manifests"]), 0);
    assert_eq!(out, "4 object(s) valid\n");
}

#[test]
fn every_broken_fixture_fails_with_a_positioned_error_and_exit_2() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("model/tests/fixtures/invalid");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 20);
    for fixture in fixtures {
        let out = hc(&["validate", "-f", fixture.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", fixture.display());
        let message = stderr(&out);
        let first = message.lines().next().unwrap();
        // file:line:col: ...
        let rest = first
            .strip_prefix(&format!("{}:", fixture.display()))
            .unwrap_or_else(|| panic!("{}: {first}", fixture.display()));
        let mut parts = rest.splitn(3, ':');
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{first}");
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{first}");
        assert!(message.contains("nothing was applied"), "{message}");
    }
}

#[test]
fn validate_of_a_missing_path_is_an_input_error() {
    let out = hc(&["validate", "-f", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no/such/dir"), "{}", stderr(&out));
}

#[test]
fn schema_prints_the_embedded_json_schema() {
    for kind in ["Cluster", "vip", "svc", "replication", "all"] {
        let out = expect_code(&hc(&["schema", kind]), 0);
        let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    }
    let out = hc(&["schema", "pod"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown kind"));
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [
        "agent", "validate", "apply", "get", "describe", "delete", "diff", "drift", "events",
        "gitops", "schema", "explain",
    ] {
        let out = expect_code(&hc(&[command, "--help"]), 0);
        assert!(
            out.contains("Example"),
            "{command} --help has no example:\n{out}"
        );
    }
    let out = expect_code(&hc(&["--help"]), 0);
    assert!(out.contains("Exit codes"), "{out}");
}

#[test]
fn usage_errors_exit_2() {
    let out = hc(&["apply"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = expect_code(&hc(&["--version"]), 0);
    // hareconcile 0.1.0 (commit 0123456789ab, built 2026-12-07)
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words[..2],
        ["hareconcile", env!("CARGO_PKG_VERSION")],
        "{out}"
    );
    assert_eq!(words[2], "(commit", "{out}");
    let commit = words[3].trim_end_matches(',');
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{out}"
    );
    assert_eq!(words[4], "built", "{out}");
    let date = words[5].trim_end_matches(')');
    assert!(
        time::Date::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]")
        )
        .is_ok(),
        "{out}"
    );
}

/// The unit configures the agent through /etc/default/hareconcile only, so
/// each flag must have a variable, and `--help` must say which.
#[test]
fn every_agent_flag_has_an_environment_variable() {
    let help = expect_code(&hc(&["agent", "--help"]), 0);
    let mut blocks: Vec<String> = Vec::new();
    let (_, options) = help.split_once("\nOptions:\n").expect("an options section");
    for line in options.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("--") || (trimmed.starts_with('-') && trimmed.contains(", --")) {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(trimmed);
            block.push(' ');
        }
    }
    let flags: Vec<&String> = blocks.iter().filter(|b| !b.contains("--help")).collect();
    assert!(flags.len() >= 10, "{help}");
    for block in flags {
        assert!(
            block.contains("[env: "),
            "a flag without a variable: {block}"
        );
    }
}

#[test]
fn a_setting_from_the_environment_is_checked_like_its_flag() {
    let out = Command::new(bin())
        .args(["agent"])
        .env("HARECONCILE_RESYNC", "often")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("--resync"), "{}", stderr(&out));
}

/// What the package build ships: a completion script per shell that the
/// shell accepts, and a manual page per command that names the variables.
#[test]
fn completions_and_manual_pages_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let script = expect_code(&hc(&["completions", shell]), 0);
        assert!(script.contains("switchover"), "{shell}: {script}");
    }
    let script = expect_code(&hc(&["completions", "bash"]), 0);
    let loaded = Command::new("bash")
        .args(["-c", "eval \"$1\" && complete -p hareconcile", "-", &script])
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{loaded:?}");

    let dir = tempfile::tempdir().unwrap();
    expect_code(&hc(&["man", dir.path().to_str().unwrap()]), 0);
    for page in [
        "hareconcile.1",
        "hareconcile-status.1",
        "hareconcile-vip-maintenance.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
    let agent = std::fs::read_to_string(dir.path().join("hareconcile-agent.1")).unwrap();
    assert!(agent.contains("HARECONCILE_NODE"), "{agent}");
    assert!(
        !dir.path().join("hareconcile-man.1").exists(),
        "hidden commands get no page"
    );
}
