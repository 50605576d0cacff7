//! `hareconcile chart list|show|render|lint|install` through the binary:
//! the built-in charts, a local chart directory, the exit codes, and an
//! install applied to a running agent and into a git checkout.

use hareconcile_test_support as support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use support::{expect_code, git, stderr, stdout, Agent, NO_SUCH_INTERFACE};

const CHARTS: [&str; 5] = [
    "compose-on-nfs",
    "home-server",
    "npmplus",
    "pihole",
    "vrrp-router",
];

fn hc(args: &[&str]) -> Output {
    Command::new(support::bin()).args(args).output().unwrap()
}

/// Asserts exit code 2 (bad input) and that stderr says `text`.
fn fails_with(out: &Output, text: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(text), "{}", stderr(out));
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `chart VERB CHART -f SITE TARGET_FLAG TARGET`: a render (`-o`) or an
/// install (`--dir`, `--git-dir`) of `chart` with the values in `site`.
fn chart_args<'a>(
    verb: &'a str,
    chart: &'a str,
    site: &'a Path,
    target_flag: &'a str,
    target: &'a Path,
) -> [&'a str; 7] {
    [
        "chart",
        verb,
        chart,
        "-f",
        path(site),
        target_flag,
        path(target),
    ]
}

/// A local chart: a Cluster and a VirtualIP whose master hook is one of
/// the chart's files, and a second VirtualIP only while `extra` is set.
fn local_chart(dir: &Path) {
    write(
        &dir.join("chart.yaml"),
        "name: web\nversion: 1.2.0\ndescription: A test chart, a VIP with a hook.\nminHareconcileVersion: 0.1.0\n",
    );
    write(
        &dir.join("values.yaml"),
        &format!("# The VIP's address.\naddress: null\nvrid: 51\nextra: false\ninterface: {NO_SUCH_INTERFACE}\n"),
    );
    write(
        &dir.join("values.schema.json"),
        r#"{"type": "object", "additionalProperties": false, "required": ["address"],
            "properties": {"address": {"type": "string"},
                           "vrid": {"type": "integer", "minimum": 1, "maximum": 255},
                           "extra": {"type": "boolean"},
                           "interface": {"type": "string"}}}"#,
    );
    write(&dir.join("templates/cluster.yaml"), support::CLUSTER);
    write(
        &dir.join("templates/web.yaml"),
        "apiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata:\n  name: web\nspec:\n  cluster: home\n  \
         interface: {{ values.interface | tojson }}\n  vrid: {{ values.vrid }}\n  addresses: [{{ values.address | tojson }}]\n  \
         notify:\n    master: [files/hooks/up.sh]\n",
    );
    write(
        &dir.join("templates/extra.yaml"),
        "{% if values.extra %}apiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata:\n  name: extra\nspec:\n  cluster: home\n  \
         interface: {{ values.interface | tojson }}\n  vrid: 52\n  addresses: [10.77.0.52/24]\n{% endif %}",
    );
    let hook = dir.join("files/hooks/up.sh");
    write(&hook, "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn list_shows_every_built_in_chart() {
    let out = expect_code(&hc(&["chart", "list"]), 0);
    let mut lines = out.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("NAME             VERSION   DESCRIPTION"));
    let names: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, CHARTS);
}

#[test]
fn show_prints_the_values_an_example_and_the_readme() {
    let out = expect_code(&hc(&["chart", "show", "npmplus"]), 0);
    assert!(out.starts_with("npmplus 1.0.0\n"), "{out}");
    assert!(out.contains("Examples: seed"), "{out}");
    assert!(out.contains("# values.yaml"), "{out}");
    let values = expect_code(&hc(&["chart", "show", "npmplus", "--values"]), 0);
    assert_eq!(
        values,
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/npmplus/values.yaml")
        )
        .unwrap()
    );
    let example = expect_code(&hc(&["chart", "show", "npmplus", "--example", "seed"]), 0);
    assert!(example.contains("192.168.11.166/24"), "{example}");
    let readme = expect_code(&hc(&["chart", "show", "npmplus", "--readme"]), 0);
    assert!(readme.starts_with('#'), "{readme}");

    let out = hc(&["chart", "show", "npmplus", "--example", "nope"]);
    fails_with(&out, "chart npmplus has no example nope: use one of seed");
    let out = hc(&["chart", "show", "nginx"]);
    fails_with(&out, "no chart named nginx: use one of compose-on-nfs, home-server, npmplus, pihole, vrrp-router");
}

/// Every built-in chart, with each of its examples, passes the full
/// validation through the binary: compose files included.
#[test]
fn every_built_in_chart_lints_with_its_examples() {
    for chart in CHARTS {
        let out = expect_code(&hc(&["chart", "lint", chart]), 0);
        assert!(
            out.lines().count() >= 1
                && out.lines().all(|l| l
                    .starts_with(&format!("chart {chart} 1.0.0 with examples/"))
                    && l.ends_with("object(s) valid")),
            "{out}"
        );
    }
}

#[test]
fn lint_reports_a_broken_compose_file_at_its_line_in_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("stack");
    local_chart(&chart);
    write(
        &chart.join("files/compose.yaml"),
        "services:\n  web:\n    image: busybox\n    colour: red\n",
    );
    write(
        &chart.join("templates/service.yaml"),
        "apiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata:\n  name: web\nspec:\n  cluster: home\n  \
         followVirtualIP: web\n  compose: {file: files/compose.yaml}\n",
    );
    let site = dir.path().join("site.yaml");
    write(&site, "address: 10.77.0.100/24\n");
    let lint = || hc(&["chart", "lint", path(&chart), "-f", path(&site)]);
    let out = lint();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    let compose = chart.join("files/compose.yaml");
    assert!(
        message.contains(&format!("{}:4:5: Service/web: ", compose.display()))
            && message.contains("colour"),
        "{message}"
    );
    assert!(
        message.ends_with("error: 1 render(s) of the chart are not valid\n"),
        "{message}"
    );

    // A key a single engine ignores is a warning, in the chart's file too.
    write(
        &chart.join("files/compose.yaml"),
        "services:\n  web:\n    image: busybox\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n",
    );
    let out = lint();
    expect_code(&out, 0);
    assert!(
        stderr(&out).starts_with(&format!(
            "{}:5:7: Service/web: compose: warning: `placement` in deploy is ignored",
            compose.display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn render_writes_manifests_files_and_lock_that_validate() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.yaml");
    let out_dir = dir.path().join("out");
    for chart in CHARTS {
        let example = expect_code(&hc(&["chart", "show", chart, "--example", "seed"]), 0);
        write(&site, &example);
        let rendered = out_dir.join(chart);
        let out = expect_code(&hc(&chart_args("render", chart, &site, "-o", &rendered)), 0);
        assert!(out.starts_with(&format!("chart {chart} 1.0.0 rendered into ")));
        let lock = std::fs::read_to_string(rendered.join("chart.lock")).unwrap();
        assert!(
            lock.contains(&format!("chart: {chart}\nversion: 1.0.0\nvalues: sha256:")),
            "{lock}"
        );
        assert!(rendered.join("files").is_dir(), "{chart}: files/ copied");
        let out = expect_code(&hc(&["validate", "-f", path(&rendered)]), 0);
        assert!(out.ends_with("object(s) valid\n"), "{out}");
    }
}

#[test]
fn render_writes_nothing_when_a_value_is_wrong_and_keeps_the_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("web");
    local_chart(&chart);
    let site = dir.path().join("site.yaml");
    let out_dir = dir.path().join("out");
    // Renders the chart with `values` as site.yaml.
    let render = |values: &str| {
        write(&site, values);
        hc(&chart_args("render", path(&chart), &site, "-o", &out_dir))
    };
    let out = render("vrid: 300\nadress: 10.77.0.100/24\n");
    assert_eq!(out.status.code(), Some(2));
    let site_name = site.display();
    assert_eq!(
        stderr(&out),
        format!(
            "{}:2:10: address: expected a string, found an empty value\n\
             {site_name}:1:7: vrid: 300 is out of range: use 1-255\n\
             {site_name}:2:1: adress: unknown field: did you mean address?\n\
             3 error(s); nothing was written\n",
            chart.join("values.yaml").display()
        )
    );
    assert!(!out_dir.exists(), "nothing written");

    // A file the render would write, but did not write itself, stays.
    write(&out_dir.join("web.yaml"), "mine\n");
    fails_with(
        &render("address: 10.77.0.100/24\n"),
        "web.yaml: exists and is not from a render of this directory",
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("web.yaml")).unwrap(),
        "mine\n"
    );

    // Rendered again with another value: the lock's hash changes, the
    // hook stays executable.
    std::fs::remove_file(out_dir.join("web.yaml")).unwrap();
    let lock = |values: &str| {
        expect_code(&render(values), 0);
        std::fs::read_to_string(out_dir.join("chart.lock")).unwrap()
    };
    let first = lock("address: 10.77.0.100/24\n");
    let second = lock("address: 10.77.0.100/24\nvrid: 61\n");
    assert_ne!(first, second);
    let mode = std::fs::metadata(out_dir.join("files/hooks/up.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

/// `install` renders into --dir and applies it as `apply --prune` does:
/// created, then unchanged, then an object the values turned off is pruned.
#[test]
fn install_applies_to_the_agent_and_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let chart = dir.path().join("web");
    local_chart(&chart);
    let site = dir.path().join("site.yaml");
    let installed = dir.path().join("installed");
    let install = |values: &str| {
        write(&site, values);
        agent.hc(&chart_args(
            "install",
            path(&chart),
            &site,
            "--dir",
            &installed,
        ))
    };
    let out = expect_code(&install("address: 10.77.0.100/24\nextra: true\n"), 0);
    assert_eq!(
        out,
        format!(
            "chart web 1.2.0 rendered into {}\nclusters/home created\nvirtualips/extra created\nvirtualips/web created\n",
            installed.display()
        )
    );
    assert!(installed.join("files/hooks/up.sh").is_file());
    let out = expect_code(&install("address: 10.77.0.100/24\nextra: true\n"), 0);
    assert!(
        out.ends_with(
            "clusters/home unchanged\nvirtualips/extra unchanged\nvirtualips/web unchanged\n"
        ),
        "{out}"
    );
    let out = expect_code(&install("address: 10.77.0.100/24\n"), 0);
    assert!(
        out.ends_with("virtualips/web unchanged\nvirtualips/extra pruned\n"),
        "{out}"
    );
    assert!(!installed.join("extra.yaml").exists());
    let names: Vec<String> = agent.virtual_ips().into_iter().map(|v| v.0).collect();
    assert_eq!(names, ["web"]);

    // A wrong value: nothing is written or applied.
    let out = install("address: 10.77.0.100/24\nvrid: 0\n");
    fails_with(&out, "vrid: 0 is out of range");
    assert_eq!(agent.virtual_ips()[0].1, 51);
}

#[test]
fn install_into_a_git_checkout_writes_and_validates_without_committing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ops");
    std::fs::create_dir_all(repo.join("manifests")).unwrap();
    git(&repo, &["init", "-q"]);
    let site = dir.path().join("site.yaml");
    write(
        &site,
        &expect_code(&hc(&["chart", "show", "pihole", "--example", "seed"]), 0),
    );
    let manifests = repo.join("manifests");
    let out = expect_code(
        &hc(&chart_args(
            "install",
            "pihole",
            &site,
            "--git-dir",
            &manifests,
        )),
        0,
    );
    assert!(out.contains("nothing is applied or committed"), "{out}");
    assert!(manifests.join("pihole/chart.lock").is_file());
    assert_eq!(git(&repo, &["status", "--porcelain"]), "?? manifests/");
    let out = expect_code(&hc(&["validate", "-f", path(&manifests)]), 0);
    assert!(out.ends_with("object(s) valid\n"), "{out}");

    // Another object in the checkout that clashes with the chart's: the
    // checkout as a whole does not validate, as an agent would find.
    write(
        &manifests.join("other.yaml"),
        &std::fs::read_to_string(manifests.join("pihole/cluster.yaml")).unwrap(),
    );
    let out = hc(&chart_args(
        "install",
        "pihole",
        &site,
        "--git-dir",
        &manifests,
    ));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("is already declared at")
            && stderr(&out).contains("does not validate, so agents would reject the commit"),
        "{}",
        stderr(&out)
    );

    let out = hc(&chart_args(
        "install",
        "pihole",
        &site,
        "--git-dir",
        dir.path(),
    ));
    fails_with(&out, "is not inside a git checkout");
}

#[test]
fn every_chart_command_has_help_with_an_example() {
    for command in ["list", "show", "render", "lint", "install"] {
        let out = expect_code(&hc(&["chart", command, "--help"]), 0);
        assert!(out.contains("Example"), "chart {command} --help:\n{out}");
    }
    let out = expect_code(&hc(&["chart", "--help"]), 0);
    assert!(out.contains("Exit codes"), "{out}");
}
