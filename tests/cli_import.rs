//! `hareconcile import keepalived|vrrpd` through the binary: the seeds'
//! keepalived.conf files and realistic ones become manifests that
//! `hareconcile validate` accepts, every option left out is reported on
//! stderr at its file:line, and the exit codes say whether to review.

use hareconcile_test_support as support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{expect_code, stderr, stdout};

fn hc(args: &[&str]) -> Output {
    Command::new(support::bin()).args(args).output().unwrap()
}

/// Asserts exit code 2 (bad input) and that stderr says `text`.
fn fails_with(out: &Output, text: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(text), "{}", stderr(out));
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("import/tests/fixtures")
        .join(path)
}

/// `--node NAME=FILE` for each (name, fixture).
fn node_args(nodes: &[(&str, &str)]) -> Vec<String> {
    nodes
        .iter()
        .flat_map(|(name, file)| {
            [
                "--node".to_string(),
                format!("{name}={}", fixture(file).display()),
            ]
        })
        .collect()
}

/// Imports into a new directory, checks the exit code says whether a
/// finding needs review, and validates the directory with the binary.
fn import_and_validate(label: &str, args: &[String]) -> (PathBuf, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("manifests");
    // -o before the rest: a vrrpd command line ends the arguments.
    let mut all: Vec<&str> = vec!["import", &args[0], "-o", out_dir.to_str().unwrap()];
    all.extend(args[1..].iter().map(String::as_str));
    let out = hc(&all);
    let findings = stderr(&out);
    let review = findings.lines().any(|l| {
        ["invalid", "unmapped", "changed", "placeholder"]
            .iter()
            .any(|level| l.contains(&format!("{level}: ")) && !l.starts_with("imported "))
    });
    assert_eq!(
        out.status.code(),
        Some(if review { 1 } else { 0 }),
        "{label}:\n{}{findings}",
        stdout(&out)
    );
    let last = findings.lines().last().unwrap_or_default();
    assert!(last.starts_with("imported "), "{label}: {findings}");
    let validated = expect_code(&hc(&["validate", "-f", out_dir.to_str().unwrap()]), 0);
    assert!(
        validated.ends_with("object(s) valid\n"),
        "{label}: {validated}"
    );
    (out_dir, findings, dir)
}

/// The seeds' keepalived configurations (000 NPMplus, 002 home server,
/// 004 Netsocs as its brochure lists it; 001 Pi-hole's is refused, see
/// `what_cannot_be_imported_is_an_input_error`) and seven realistic ones,
/// each node's file given.
#[test]
fn seed_and_realistic_configurations_import_to_manifests_that_validate() {
    let sets: &[(&str, &[(&str, &str)])] = &[
        (
            "000 npmplus",
            &[
                ("r630-01", "seeds/npmplus-r630-01.conf"),
                ("r630-02", "seeds/npmplus-r630-02.conf"),
            ],
        ),
        (
            "002 home server",
            &[
                ("primary", "seeds/home-server-primary.conf"),
                ("secondary", "seeds/home-server-secondary.conf"),
            ],
        ),
        (
            "004 netsocs",
            &[
                ("node-a", "netsocs-node-a.conf"),
                ("node-b", "netsocs-node-b.conf"),
            ],
        ),
        (
            "router with a sync group",
            &[
                ("edge-a", "router/edge-a.conf"),
                ("edge-b", "router/edge-b.conf"),
            ],
        ),
        (
            "unicast with authentication",
            &[
                ("vm1", "unicast-auth/vm1.conf"),
                ("vm2", "unicast-auth/vm2.conf"),
            ],
        ),
        (
            "dual stack VRRPv3",
            &[("a", "dual-stack/a.conf"), ("b", "dual-stack/b.conf")],
        ),
        (
            "track scripts and notify",
            &[
                ("lb1", "track-notify/lb1.conf"),
                ("lb2", "track-notify/lb2.conf"),
            ],
        ),
        ("includes", &[("n1", "includes/keepalived.conf")]),
        ("virtual MAC", &[("gw1", "vmac/gw1.conf")]),
        ("the lab's", &[("n1", "lab/n1.conf"), ("n2", "lab/n2.conf")]),
    ];
    for (label, nodes) in sets {
        let mut args = vec!["keepalived".to_string()];
        args.extend(node_args(nodes));
        let (dir, _, _keep) = import_and_validate(label, &args);
        assert!(dir.join("cluster-imported.yaml").is_file(), "{label}");
    }
}

/// Every option the import leaves out is on stderr with its file and line.
#[test]
fn findings_name_the_file_and_line_of_every_option_left_out() {
    let mut args = vec!["keepalived".to_string()];
    args.extend(node_args(&[
        ("edge-a", "router/edge-a.conf"),
        ("edge-b", "router/edge-b.conf"),
    ]));
    let (_, findings, _keep) = import_and_validate("router", &args);
    let edge_a = fixture("router/edge-a.conf").display().to_string();
    for (line, subject) in [
        (3, "notification_email"),
        (7, "smtp_server"),
        (35, "smtp_alert"),
        (48, "virtual_routes"),
    ] {
        let expected = format!("{edge_a}:{line}: unmapped: {subject}: ");
        assert!(
            findings.lines().any(|l| l.starts_with(&expected)),
            "no `{expected}` in:\n{findings}"
        );
    }
    assert!(
        findings
            .lines()
            .last()
            .unwrap()
            .ends_with("need review before you apply them"),
        "{findings}"
    );
}

#[test]
fn the_manifests_go_to_stdout_and_the_password_only_into_secrets() {
    let mut args = vec!["import".to_string(), "keepalived".to_string()];
    args.push(
        fixture("seeds/home-server-primary.conf")
            .display()
            .to_string(),
    );
    args.push(
        fixture("seeds/home-server-secondary.conf")
            .display()
            .to_string(),
    );
    args.extend(["--address".into(), "n1=192.168.86.10".into()]);
    args.extend(["--address".into(), "n2=192.168.86.11".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = hc(&args);
    let manifests = expect_code(&out, 0);
    assert!(manifests.contains("kind: Cluster"), "{manifests}");
    assert!(manifests.contains("address: 192.168.86.10"), "{manifests}");
    assert!(
        manifests.contains("      - name: check_traefik"),
        "a script name with _ is kept: {manifests}"
    );
    assert!(!manifests.contains("secretpass"), "{manifests}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, &manifests).unwrap();
    expect_code(&hc(&["validate", "-f", file.to_str().unwrap()]), 0);
    assert!(
        stderr(&out).ends_with("imported 2 object(s); nothing to review\n"),
        "{}",
        stderr(&out)
    );

    // With -o, the password is a private file, and nothing is replaced.
    let out_dir = dir.path().join("m");
    let mut with_output = args.clone();
    with_output.extend(["-o", out_dir.to_str().unwrap()]);
    expect_code(&hc(&with_output), 0);
    let secret = out_dir.join("secrets/vrrp-password");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secretpass\n");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("secrets/.gitignore")).unwrap(),
        "*\n"
    );
    let out = hc(&with_output);
    fails_with(&out, "cluster-imported.yaml exists: move it away");
}

#[test]
fn what_cannot_be_imported_is_an_input_error() {
    // The Netsocs brochure's fragment has no vrrp_instance.
    let fragment = fixture("seeds/netsocs-unicast.conf");
    let out = hc(&["import", "keepalived", fragment.to_str().unwrap()]);
    fails_with(&out, "error: nothing to import: no usable vrrp_instance");
    assert!(stdout(&out).is_empty());
    // Seed 001 as its guide describes it floats the broadcast address of
    // its network, and nothing else.
    let mut args = vec!["import".to_string(), "keepalived".to_string()];
    args.extend(node_args(&[
        ("pi1", "pihole-primary.conf"),
        ("pi2", "pihole-secondary.conf"),
    ]));
    let out = hc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    fails_with(&out, "error: nothing to import: no usable vrrp_instance");
    fails_with(
        &out,
        "pihole-primary.conf:36: invalid: 192.168.8.255/24: cannot float: 192.168.8.255 is the broadcast address of 192.168.8.0/24",
    );

    let out = hc(&["import", "keepalived", "/no/such/keepalived.conf"]);
    fails_with(&out, "/no/such/keepalived.conf");
    let out = hc(&["import", "keepalived", "--node", "n1"]);
    fails_with(&out, "expected NAME=FILE");
    let out = hc(&["import", "keepalived"]);
    assert_eq!(out.status.code(), Some(2));
    let out = hc(&["import", "vrrpd", "--", "vrrpd", "-i", "eth0", "10.0.0.1"]);
    fails_with(&out, "no virtual router id: give -v VRID");
}

/// The Vrrpd README's examples: its basic two-process server (one sync
/// group), and its usage line's options.
#[test]
fn the_vrrpd_readme_examples_import_to_a_sync_group_that_validates() {
    let readme = "vrrpd -i eth0 10.16.1.200 -v 51 -M 2 -U /etc/scripts/MASTER.sh -D /etc/scripts/DOWN.sh \
                  vrrpd -i eth1 10.17.1.200 -v 52 -M 2 -U /etc/scripts/MASTER.sh -D /etc/scripts/DOWN.sh";
    let mut args: Vec<String> = [
        "vrrpd",
        "--address",
        "server1=10.16.1.1",
        "--address",
        "server2=10.16.1.2",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(readme.split_whitespace().map(str::to_string));
    let (dir, findings, _keep) = import_and_validate("vrrpd README", &args);
    for vip in ["virtualip-eth0-51.yaml", "virtualip-eth1-52.yaml"] {
        let text = std::fs::read_to_string(dir.join(vip)).unwrap();
        assert!(text.contains("syncGroup: vrrpd"), "{text}");
        assert!(text.contains("virtualMac: true"), "{text}");
    }
    assert!(
        findings.contains("vrrpd command 1:0: changed: virtual MAC: "),
        "{findings}"
    );

    let usage = "vrrpd -i eth0 -v 11 -n -s -p 150 -d 3 -a pw/secret -z 80 -I 10.1.1.1 -O 10.1.1.254 10.1.1.1/24";
    let mut args = vec!["vrrpd".to_string(), "--".to_string()];
    args.extend(usage.split_whitespace().map(str::to_string));
    let (dir, findings, _keep) = import_and_validate("vrrpd usage", &args);
    assert!(
        findings.contains("vrrpd command 1:13: unmapped: -z 80: "),
        "{findings}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("secrets/vrrp-password")).unwrap(),
        "secret\n"
    );
}

#[test]
fn every_import_command_has_help_with_an_example() {
    for command in [
        &["import"][..],
        &["import", "keepalived"],
        &["import", "vrrpd"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = expect_code(&hc(&args), 0);
        assert!(out.contains("Example"), "{command:?} --help:\n{out}");
    }
    let out = expect_code(&hc(&["import", "--help"]), 0);
    assert!(out.contains("Exit codes: 0 manifests written"), "{out}");
}
