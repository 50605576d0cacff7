//! `hareconcile explain KIND[.field.path]`, as people read it.

use hareconcile_test_support as support;

use support::{expect_code, stderr};

fn hc(args: &[&str]) -> std::process::Output {
    std::process::Command::new(support::bin())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn explain_prints_a_nested_fields_type_default_and_allowed_values() {
    let out = expect_code(&hc(&["explain", "vip.spec.track.scripts.fall"]), 0);
    assert!(out.starts_with("KIND:       VirtualIP\n"), "{out}");
    assert!(out.contains("FIELD:      fall <integer>\n"), "{out}");
    assert!(
        out.contains("DESCRIPTION:\n    consecutive failures before the script counts as failed\n"),
        "{out}"
    );
    assert!(out.contains("DEFAULT:    1\n"), "{out}");
    assert!(out.contains("ALLOWED:    1-1000\n"), "{out}");

    let garp = expect_code(&hc(&["explain", "virtualip.spec.garp"]), 0);
    assert!(
        garp.contains("FIELDS:\n  count\t<integer> (default 5)\n"),
        "{garp}"
    );
}

#[test]
fn explain_recursive_lists_the_subtree() {
    let out = expect_code(&hc(&["explain", "repl.spec.rsync", "--recursive"]), 0);
    assert!(
        out.contains("\n  ssh\t<object>\n    user\t<string>\n"),
        "{out}"
    );
}

#[test]
fn explain_names_the_closest_kind_or_field() {
    let out = hc(&["explain", "vip.spec.garp.cuont"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("VirtualIP has no field spec.garp.cuont: did you mean spec.garp.count?"),
        "{}",
        stderr(&out)
    );
    let out = hc(&["explain", "virtualips2.spec"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean VirtualIP?"),
        "{}",
        stderr(&out)
    );
}
