use serde_json::{json, Value};

use super::*;

/// Every field's schema in `node` and below, with its dotted path.
fn fields<'a>(schema: &'a Value, node: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    let mut parts = vec![node];
    for member in node
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        parts.push(member);
    }
    for part in parts {
        let target = part
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| schema.pointer(&r[1..]));
        if let Some(target) = target {
            fields(schema, target, path, out);
        }
        for (name, child) in part
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let at = format!("{path}.{name}");
            out.push((at.clone(), child));
            fields(schema, child, &at, out);
        }
        for key in ["items", "additionalProperties", "then"] {
            if let Some(child @ Value::Object(_)) = part.get(key) {
                fields(schema, child, &format!("{path}[]"), out);
            }
        }
    }
}

#[test]
fn every_field_of_every_kind_has_a_description() {
    for kind in Kind::ALL {
        let schema = kind_schema(kind);
        let mut all = Vec::new();
        fields(&schema, &schema, "", &mut all);
        let missing: Vec<&str> = all
            .iter()
            .filter(|(_, node)| node.get("description").is_none())
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(missing.is_empty(), "{kind}: no description on {missing:?}");
    }
}

#[test]
fn defaults_come_from_the_model() {
    let vip = kind_schema(Kind::VirtualIP);
    let spec = &vip["properties"]["spec"]["properties"];
    assert_eq!(spec["accept"]["default"], json!(true));
    assert_eq!(spec["garp"]["properties"]["count"]["default"], json!(5));
    assert_eq!(spec["fencing"]["default"], json!("auto"));
    let script = &spec["track"]["properties"]["scripts"]["items"]["properties"];
    assert_eq!(script["interval"]["default"], json!("1s"));
    assert!(
        spec["vrid"].get("default").is_none(),
        "required: no default"
    );
    let replication = kind_schema(Kind::Replication);
    let ssh = &replication["properties"]["spec"]["properties"]["rsync"]["properties"]["ssh"];
    assert_eq!(ssh["default"]["port"], json!(22));
}

#[test]
fn published_schemas_are_draft_07() {
    let all = all_kinds();
    assert_eq!(all["$schema"], json!(DRAFT_07));
    let text = all.to_string();
    assert!(!text.contains("dependentRequired"), "a 2020-12 keyword");
    assert!(
        !text.contains("\"#/$defs/"),
        "refs rebased under definitions"
    );
    // draft-07 ignores keywords beside $ref: none is left.
    let mut stack = vec![&all];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(o) => {
                assert!(!o.contains_key("$ref") || o.len() == 1, "{node}");
                stack.extend(o.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
}

#[test]
fn all_kinds_dispatch_on_kind() {
    let all = all_kinds();
    let validator = jsonschema::draft7::new(&all).expect("a valid draft-07 schema");
    let vip = json!({
        "apiVersion": "hareconcile.io/v1alpha1", "kind": "VirtualIP",
        "metadata": {"name": "web"},
        "spec": {"cluster": "home", "interface": "eth0", "vrid": 51, "addresses": ["10.0.0.1/24"]}
    });
    assert!(validator.is_valid(&vip));
    let mut as_cluster = vip.clone();
    as_cluster["kind"] = json!("Cluster");
    assert!(!validator.is_valid(&as_cluster), "checked as a Cluster");
    let mut unknown = vip;
    unknown["kind"] = json!("Pod");
    assert!(!validator.is_valid(&unknown));
}

#[test]
fn explain_documents_a_nested_field() {
    let explained = explain(Kind::VirtualIP, "spec.track.scripts.fall", false).unwrap();
    let field = explained.field;
    assert_eq!(field.path, "spec.track.scripts.fall");
    assert_eq!(field.type_name, "integer");
    assert_eq!(field.default, Some(json!(1)));
    assert!(field.description.is_some());
    let scripts = explain(Kind::VirtualIP, "spec.track.scripts", false).unwrap();
    assert_eq!(scripts.field.type_name, "[]object");
    assert!(scripts
        .field
        .fields
        .iter()
        .any(|f| f.path == "spec.track.scripts.command" && f.required));
    let vrid = explain(Kind::VirtualIP, "spec.vrid", false).unwrap().field;
    assert_eq!(vrid.allowed.as_deref(), Some("1-255"));
}

#[test]
fn explain_recursive_lists_the_subtree() {
    let shallow = explain(Kind::VirtualIP, "spec", false).unwrap().field;
    assert!(shallow.fields.iter().all(|f| f.fields.is_empty()));
    let deep = explain(Kind::VirtualIP, "spec", true).unwrap().field;
    let garp = deep.fields.iter().find(|f| f.path == "spec.garp").unwrap();
    assert!(garp.fields.iter().any(|f| f.path == "spec.garp.count"));
}

#[test]
fn explain_suggests_the_closest_field() {
    let error = explain(Kind::VirtualIP, "spec.garp.cuont", false).unwrap_err();
    assert_eq!(
        error.to_string(),
        "VirtualIP has no field spec.garp.cuont: did you mean spec.garp.count?"
    );
    let error = explain(Kind::VirtualIP, "spec.vrid.x", false).unwrap_err();
    assert!(matches!(error, FieldError::NoFields { .. }), "{error}");
}
