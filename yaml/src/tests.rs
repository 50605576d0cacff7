use crate::*;

fn pos(line: usize, column: usize) -> Position {
    Position::new(line, column)
}

fn only(text: &str) -> Node {
    let mut documents = parse_stream(text);
    assert_eq!(documents.len(), 1, "{documents:?}");
    documents.remove(0).unwrap()
}

fn errors(text: &str) -> Vec<YamlError> {
    let mut documents = parse_stream(text);
    assert_eq!(documents.len(), 1, "{documents:?}");
    documents.remove(0).unwrap_err()
}

fn entries(node: &Node) -> &[Entry] {
    match &node.value {
        Value::Map(entries) => entries,
        other => panic!("not a mapping: {other:?}"),
    }
}

fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
    &entries(node)
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no key {key}"))
        .value
}

fn keys(node: &Node) -> Vec<&str> {
    entries(node).iter().map(|e| e.key.as_str()).collect()
}

fn string(text: &str) -> Value {
    Value::String(text.to_string())
}

#[test]
fn keeps_positions_of_keys_and_values() {
    let root = only("services:\n  web:\n    image: busybox\n    ports: [80, '443']\n");
    let web = get(get(&root, "services"), "web");
    let image = &entries(web)[0];
    assert_eq!(image.key_at, pos(3, 5));
    assert_eq!(image.value.at, pos(3, 12));
    assert_eq!(image.value.value, string("busybox"));
    let Value::Seq(ports) = &get(web, "ports").value else {
        panic!()
    };
    assert_eq!(ports[1].at, pos(4, 17));
    assert_eq!(ports[0].value, Value::Int(80));
    assert_eq!(ports[1].value, string("443"));
}

#[test]
fn positions_name_the_source_they_were_read_as() {
    let root = parse_stream_as("a: [1]\n", 3).remove(0).unwrap();
    assert_eq!(root.at.source, 3);
    let Value::Seq(items) = &get(&root, "a").value else {
        panic!()
    };
    assert_eq!(
        items[0].at,
        Position {
            line: 1,
            column: 5,
            source: 3
        }
    );
    let errors = parse_stream_as("a: 1\na: 2\n", 2).remove(0).unwrap_err();
    assert_eq!(errors[0].at.source, 2);
}

#[test]
fn scalars_follow_the_yaml_1_2_core_schema() {
    let root = only("a: on\nb: yes\nc: true\nd: 0x10\ne: 1.5\nf: ~\ng: '51'\nh:\n1: one\n");
    let value = |key: &str| get(&root, key).value.clone();
    assert_eq!(value("a"), string("on"));
    assert_eq!(value("b"), string("yes"));
    assert_eq!(value("c"), Value::Bool(true));
    assert_eq!(value("d"), Value::Int(16));
    assert_eq!(value("e"), Value::Float(1.5));
    assert_eq!(value("f"), Value::Null);
    assert_eq!(value("g"), string("51"));
    assert_eq!(value("h"), Value::Null);
    assert_eq!(value("1"), string("one"));
}

#[test]
fn a_leading_zero_is_octal_as_compose_reads_it() {
    let root = only("a: 0440\nb: '0440'\nc: 0\nd: 089\ne: -010\nf: 0o17\n");
    let value = |key: &str| get(&root, key).value.clone();
    assert_eq!(value("a"), Value::Int(0o440));
    assert_eq!(value("b"), string("0440"));
    assert_eq!(value("c"), Value::Int(0));
    assert_eq!(value("d"), Value::Int(89));
    assert_eq!(value("e"), Value::Int(-8));
    assert_eq!(value("f"), Value::Int(15));
}

#[test]
fn core_tags_are_checked_and_others_dropped() {
    let root = only("a: !!str 51\nb: !custom 7\nc: !!int '8'\n");
    assert_eq!(get(&root, "a").value, string("51"));
    assert_eq!(get(&root, "b").value, Value::Int(7));
    assert_eq!(get(&root, "c").value, string("8"));
    let errors = errors("a: !!int abc\n");
    assert_eq!(errors[0].at, pos(1, 4));
    assert!(errors[0].message.contains("tag"), "{errors:?}");
}

#[test]
fn every_document_of_a_stream_is_read_with_absolute_lines() {
    let documents = parse_stream("a: 1\n---\nb: 2\n---\n");
    assert_eq!(documents.len(), 3);
    let second = documents[1].as_ref().unwrap();
    assert_eq!(entries(second)[0].key_at, pos(3, 1));
    assert_eq!(documents[2].as_ref().unwrap().value, Value::Null);
    assert!(parse_stream("").is_empty());
}

#[test]
fn syntax_errors_are_positioned_and_spoil_only_their_own_document() {
    let message = &errors("a: [1, 2\n")[0].message;
    assert!(message.starts_with("YAML syntax error"), "{message}");
    assert!(errors("a:\n\tb: 1\n")[0].message.contains("tabs"));

    let documents = parse_stream("a: 1\n---\nb: [\n---\nc: 3\n--- {d: 4}\n");
    assert_eq!(documents.len(), 4, "{documents:?}");
    assert_eq!(
        get(documents[0].as_ref().unwrap(), "a").value,
        Value::Int(1)
    );
    assert_eq!(documents[1].as_ref().unwrap_err()[0].at.line, 4);
    assert_eq!(entries(documents[2].as_ref().unwrap())[0].key_at, pos(5, 1));
    assert_eq!(get(documents[3].as_ref().unwrap(), "d").at, pos(6, 9));
}

#[test]
fn a_syntax_error_keeps_the_problems_found_before_it() {
    let errors = errors("a: 1\na: 2\nb: [\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].at, pos(2, 1));
    assert!(errors[1].message.starts_with("YAML syntax error"));
}

#[test]
fn duplicate_keys_are_errors_at_the_second_one() {
    let errors = errors("services:\n  web: {image: a}\n  db: {}\n  web: {image: b}\nx: 1\nx: 2\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].at, pos(4, 3));
    assert_eq!(
        errors[0].message,
        "key `web` appears twice in this mapping (first on line 2): keep one"
    );
    assert_eq!(errors[1].at, pos(6, 1));
}

#[test]
fn collections_as_keys_are_refused() {
    let errors = errors("? [a, b]\n: 1\nc: {? {x: 1} : 2}\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].at, pos(1, 3));
    assert!(errors[0].message.contains("plain strings"));
    assert_eq!(errors[1].at.line, 3);
}

#[test]
fn aliases_copy_the_anchor_and_sit_where_they_are_used() {
    let root = only("base: &b {image: x, env: [A=1]}\nweb: *b\nname: &n web\nalso: *n\n");
    let web = get(&root, "web");
    assert_eq!(web.at, pos(2, 6));
    assert_eq!(get(web, "image").value, string("x"));
    // What the copy contains points at the anchor's text.
    assert_eq!(get(web, "image").at, pos(1, 18));
    assert_eq!(get(&root, "also").value, string("web"));
}

#[test]
fn merge_keys_merge_one_mapping_or_a_list() {
    let root = only(
        "x-a: &a {restart: always, image: a, tty: true}\n\
         x-b: &b {image: b, user: root}\n\
         one:\n  image: mine\n  <<: *a\n  init: true\n\
         list:\n  <<: [*b, *a]\n\
         inline:\n  <<: {k: v}\n",
    );
    let one = get(&root, "one");
    // Local keys win wherever they stand; merged keys take the place of `<<`.
    assert_eq!(keys(one), ["image", "restart", "tty", "init"]);
    assert_eq!(get(one, "image").value, string("mine"));
    assert_eq!(get(one, "restart").at, pos(1, 19));
    // Among merged mappings the earlier wins.
    let list = get(&root, "list");
    assert_eq!(keys(list), ["image", "user", "restart", "tty"]);
    assert_eq!(get(list, "image").value, string("b"));
    assert_eq!(get(get(&root, "inline"), "k").value, string("v"));
}

#[test]
fn merge_keys_take_mappings_only_and_only_when_plain() {
    let errors = errors("a: {<<: 1}\nb: {<<: [{x: 1}, 2]}\nc: {<<: {x: 1}, <<: {y: 2}}\n");
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0].at, pos(1, 9));
    assert!(errors[0].message.contains("merges a mapping"));
    assert_eq!(errors[1].at, pos(2, 18));
    assert!(errors[2].message.contains("`<<` appears twice"));
    let root = only("'<<': {x: 1}\n");
    assert_eq!(keys(&root), ["<<"]);
}

fn nested_block_lists(levels: usize) -> String {
    let mut text = String::new();
    for level in 0..levels {
        text.push_str(&" ".repeat(level * 2));
        text.push_str("-\n");
    }
    text
}

#[test]
fn deep_block_nesting_is_a_positioned_error_not_a_stack_overflow() {
    // The shape of the hostile input: `- - - ...` on one line, 3,000 levels.
    let compact = "- ".repeat(3000) + "x\n";
    let errors = errors(&compact);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].at, pos(1, 2 * MAX_DEPTH + 1));
    assert!(errors[0].message.contains("nested more than 128 levels"));
    // 100,000 levels, and 300 over as many lines.
    assert_eq!(errors_of(&("- ".repeat(100_000) + "x\n")).len(), 1);
    let errors = errors_of(&nested_block_lists(300));
    assert_eq!(errors[0].at, pos(MAX_DEPTH + 1, 2 * MAX_DEPTH + 1));
    // At the limit itself, the tree is built.
    let root = only(&("- ".repeat(MAX_DEPTH) + "x\n"));
    let mut depth = 0;
    let mut node = &root;
    while let Value::Seq(items) = &node.value {
        depth += 1;
        node = &items[0];
    }
    assert_eq!(depth, MAX_DEPTH);
}

fn errors_of(text: &str) -> Vec<YamlError> {
    parse_stream(text).remove(0).unwrap_err()
}

#[test]
fn deep_flow_nesting_is_a_positioned_error() {
    let errors = errors(&format!(
        "a: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    ));
    assert!(!errors.is_empty());
    assert_eq!(errors[0].at.line, 1);
}

#[test]
fn a_deep_subtree_leaves_its_siblings_readable() {
    let text = format!(
        "deep:\n{}\nnext: 1\nnext: 2\n",
        nested_block_lists(200)
            .lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].message.contains("nested"));
    assert_eq!(errors[1].at, pos(203, 1));
}

#[test]
fn aliases_cannot_nest_past_the_limit() {
    let half = MAX_DEPTH / 2 + 1;
    let text = format!(
        "a: &a {}x{}\nb: {}*a{}\n",
        "[".repeat(half),
        "]".repeat(half),
        "[".repeat(half),
        "]".repeat(half)
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].at.line, 2);
    assert!(errors[0].message.contains("alias nests"));
}

#[test]
fn billion_laughs_is_refused_within_the_alias_budget() {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{previous}"); 10].join(", ");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let errors = errors(&text);
    assert!(
        errors.iter().any(|e| e.message.contains("billion laughs")),
        "{errors:?}"
    );
}

#[test]
fn the_number_of_problems_listed_is_bounded() {
    let text: String = (0..500).map(|_| "a: 1\n").collect();
    let errors = errors(&text);
    assert_eq!(errors.len(), MAX_ERRORS + 1);
    assert!(errors[MAX_ERRORS].message.contains("fix these first"));
}
