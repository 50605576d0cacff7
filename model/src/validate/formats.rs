//! Checks of formats that a JSON Schema cannot express well: durations
//! (overflow), CIDR addresses, plain IP addresses, and integers written
//! with a fraction (`51.0`, which JSON Schema accepts as an integer).
//!
//! Which fields carry which format is read from the schema (fields whose
//! schema is `$ref: #/$defs/duration`, `cidr` or `ipAddress`), so adding a
//! duration field to a schema is all it takes to have it checked here.
//! Anything that is not a string where a format is expected is left to the
//! schema's type errors.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::{pointer, Finding};
use crate::spec::Duration;
use crate::Kind;

pub(crate) fn check(kind: Kind, instance: &Value) -> Vec<Finding> {
    let schema = super::schema::document(kind);
    let mut findings = Vec::new();
    walk(schema, schema, instance, "", &mut findings);
    findings
}

fn walk(root: &Value, node: &Value, instance: &Value, at: &str, out: &mut Vec<Finding>) {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let definition = reference.strip_prefix("#/$defs/").unwrap_or_default();
        if let Some(text) = instance.as_str() {
            if let Some(message) = check_format(definition, text) {
                out.push(Finding::value(at, message));
            }
        }
        if let Some(target) = reference.strip_prefix('#').and_then(|p| root.pointer(p)) {
            walk(root, target, instance, at, out);
        }
        return;
    }
    if node.get("type").and_then(Value::as_str) == Some("integer") && instance.is_f64() {
        // JSON Schema counts 51.0 as an integer; the typed specs do not.
        out.push(Finding::value(
            at,
            format!("{instance} is not a whole number: write it without a fraction"),
        ));
    }
    match instance {
        Value::Object(fields) => {
            for (name, value) in fields {
                let field_schema = node
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(field_schema) = field_schema {
                    walk(root, field_schema, value, &pointer::join(at, name), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = node.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(root, item_schema, item, &pointer::join(at, i), out);
                }
            }
        }
        _ => {}
    }
}

fn check_format(definition: &str, text: &str) -> Option<String> {
    match definition {
        "duration" => text.parse::<Duration>().err().map(|e| e.to_string()),
        "cidr" => match text.parse::<IpNet>() {
            Ok(_) => None,
            Err(_) => match text.parse::<IpAddr>() {
                Ok(address) => Some(format!(
                    "{text:?} has no prefix length: add the network's, e.g. {text}/{}",
                    if address.is_ipv4() { 24 } else { 64 }
                )),
                Err(_) => Some(format!(
                    "{text:?} is not an address with prefix length: write it like 10.77.0.100/24 or fd00::100/64"
                )),
            },
        },
        "ipAddress" => match text.parse::<IpAddr>() {
            Ok(_) => None,
            Err(_) if text.parse::<IpNet>().is_ok() => Some(format!(
                "{text:?} has a prefix length: write the address alone, e.g. {}",
                text.split('/').next().unwrap_or(text)
            )),
            Err(_) => Some(format!(
                "{text:?} is not an IP address: write it like 10.77.0.1 or fd00::1"
            )),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_bad_cidrs_durations_and_addresses_wherever_the_schema_puts_them() {
        let vip = json!({"spec": {"addresses": ["10.77.0.100/24", "10.77.0.300/24", "10.77.0.5"],
                                  "advertInterval": "99999999999h",
                                  "track": {"scripts": [{"name": "gw", "command": ["true"], "interval": "1s"}]}}});
        let found: Vec<(String, String)> = check(Kind::VirtualIP, &vip)
            .into_iter()
            .map(|f| (f.pointer, f.message))
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, "/spec/addresses/1");
        assert_eq!(
            found[0].1,
            "spec.addresses[1]: \"10.77.0.300/24\" is not an address with prefix length: write it like 10.77.0.100/24 or fd00::100/64"
        );
        assert_eq!(
            found[1].1,
            "spec.addresses[2]: \"10.77.0.5\" has no prefix length: add the network's, e.g. 10.77.0.5/24"
        );
        assert_eq!(found[2].0, "/spec/advertInterval");
    }

    #[test]
    fn integers_with_a_fraction_are_refused() {
        let vip = json!({"spec": {"vrid": 51.0, "garp": {"count": 2.5}}});
        let found: Vec<String> = check(Kind::VirtualIP, &vip)
            .into_iter()
            .map(|f| f.message)
            .collect();
        assert_eq!(
            found,
            [
                "spec.vrid: 51.0 is not a whole number: write it without a fraction",
                "spec.garp.count: 2.5 is not a whole number: write it without a fraction",
            ]
        );
    }

    #[test]
    fn node_addresses_are_plain_addresses() {
        let cluster = json!({"spec": {"nodes": [{"name": "n1", "address": "10.77.0.1/24"}]}});
        let found = check(Kind::Cluster, &cluster);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "spec.nodes[0].address: \"10.77.0.1/24\" has a prefix length: write the address alone, e.g. 10.77.0.1"
        );
    }
}
