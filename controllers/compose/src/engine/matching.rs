//! Whether an existing container already is what a service asks for.
//!
//! A container hareconcile created carries its config hash. One that
//! `docker-compose up` created carries Compose's own hash, which digests
//! Compose's internal option objects and cannot be reproduced; it is
//! adopted when every setting hareconcile would create it with is already
//! in effect, so taking over a running stack restarts nothing.

use bollard::container::Config;
use bollard::models::ContainerInspectResponse;
use serde_json::Value;

use super::labels;

/// `None` when `actual` has every setting of `desired`, else the first
/// setting that differs, for the log line that explains a recreate.
pub fn difference(desired: &Config<String>, actual: &ContainerInspectResponse) -> Option<String> {
    let mut want = serde_json::to_value(desired).unwrap_or(Value::Null);
    let Value::Object(want_fields) = &mut want else {
        return Some("the desired configuration does not serialise".to_string());
    };
    let want_host = want_fields.remove("HostConfig").unwrap_or(Value::Null);
    // Networks are compared through NetworkMode; aliases Compose adds (the
    // short container id) are not settings.
    want_fields.remove("NetworkingConfig");
    if let Some(Value::Object(want_labels)) = want_fields.get_mut("Labels") {
        want_labels.retain(|key, _| !labels::is_invocation_label(key));
    }
    let have = serde_json::to_value(&actual.config).unwrap_or(Value::Null);
    let have_host = serde_json::to_value(&actual.host_config).unwrap_or(Value::Null);
    missing(&have, &want, "Config").or_else(|| missing(&have_host, &want_host, "HostConfig"))
}

/// Lists whose order is meaning: a command's words, a healthcheck
/// test, name servers in the order they are asked. Other lists (mounts,
/// capabilities, security options...) are sets whose order Compose
/// versions write differently.
const ORDERED: [&str; 6] = [
    ".Cmd",
    ".Entrypoint",
    ".Test",
    ".Dns",
    ".DnsSearch",
    ".DnsOptions",
];

/// The first value set in `want` that `have` lacks, by path. Lists must
/// be equal (as sets, unless [`ORDERED`]; each element contained in one
/// of the other list's), except `Env`, where the image adds variables
/// (`PATH`).
fn missing(have: &Value, want: &Value, path: &str) -> Option<String> {
    match (have, want) {
        (_, Value::Null) => None,
        (Value::Object(have), Value::Object(want)) => want.iter().find_map(|(k, w)| {
            missing(
                have.get(k).unwrap_or(&Value::Null),
                w,
                &format!("{path}.{k}"),
            )
        }),
        (Value::Array(have), Value::Array(want)) if path.ends_with(".Env") => want
            .iter()
            .find(|w| !have.contains(w))
            .map(|w| format!("{path} lacks {w}")),
        (Value::Array(have_items), Value::Array(want_items))
            if !ORDERED.iter().any(|o| path.ends_with(o)) =>
        {
            let lacking = want_items
                .iter()
                .find(|w| !have_items.iter().any(|h| missing(h, w, path).is_none()));
            match lacking {
                Some(w) => Some(format!("{path} lacks {w}")),
                None if have_items.len() != want_items.len() => {
                    Some(format!("{path} is {have}, wants {want}"))
                }
                None => None,
            }
        }
        (have, want) if have == want => None,
        (have, want) => Some(format!("{path} is {have}, wants {want}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_ignores_unset_fields_and_extra_environment() {
        let have = json!({"Image": "bb", "Env": ["PATH=/bin", "A=1"], "Cmd": ["sleep", "1"], "Tty": false});
        let differs = |want| missing(&have, &want, "Config");
        assert_eq!(
            differs(json!({"Image": "bb", "Env": ["A=1"], "User": null})),
            None
        );
        assert_eq!(
            differs(json!({"Env": ["A=2"]})).unwrap(),
            r#"Config.Env lacks "A=2""#
        );
        assert_eq!(
            differs(json!({"Cmd": ["sleep"]})).unwrap(),
            r#"Config.Cmd is ["sleep","1"], wants ["sleep"]"#
        );
        assert_eq!(
            differs(json!({"Hostname": "web"})).unwrap(),
            r#"Config.Hostname is null, wants "web""#
        );
    }

    #[test]
    fn unordered_lists_match_in_any_order_and_their_objects_by_containment() {
        let have = json!({
            "Mounts": [
                {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1}},
                {"Type": "bind", "Source": "/s", "Target": "/run/secrets/s", "ReadOnly": true, "Consistency": ""}
            ],
            "CapAdd": ["NET_ADMIN", "SYS_TIME"]
        });
        let differs = |want| missing(&have, &want, "HostConfig");
        assert_eq!(
            differs(json!({
                "Mounts": [
                    {"Type": "bind", "Source": "/s", "Target": "/run/secrets/s", "ReadOnly": true},
                    {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1}}
                ],
                "CapAdd": ["SYS_TIME", "NET_ADMIN"]
            })),
            None
        );
        assert!(differs(json!({"CapAdd": ["SYS_TIME"]})).is_some());
        assert!(differs(
            json!({"Mounts": [{"Type": "tmpfs", "Target": "/other"}, {"Type": "bind"}]})
        )
        .is_some());
        // Order is meaning in a command.
        let have = json!({"Cmd": ["a", "b"]});
        assert!(missing(&have, &json!({"Cmd": ["b", "a"]}), "Config").is_some());
    }
}
