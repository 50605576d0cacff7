//! Compose's rules for laying one definition over another: a service over
//! the one it `extends`, and a project's resource over an included one of
//! the same name (compose-spec `merge.md`, as compose-go applies them):
//!
//! - mappings merge key by key, and sequences are appended, except where
//!   a rule below says otherwise; a scalar of the upper definition wins;
//! - `command`, `entrypoint`, `healthcheck.test` and each `ulimits` entry
//!   are replaced whole;
//! - `environment`, `labels`, `annotations`, `sysctls`, `build.args`,
//!   `deploy.labels` merge by name, the upper value winning, in either of
//!   their forms (`KEY: value` or `KEY=value`);
//! - `depends_on` and `networks` merge by name in either form;
//! - appended lists keep one entry per mount target (`volumes`, `secrets`,
//!   `configs`, `devices`) or per value (`ports`, `dns`, `cap_add`, ...);
//! - `logging` is replaced when the two name different drivers.
//!
//! What is merged keeps the position it was written at, in its own file.

use super::decode::Problem;
use super::edit::field;
use super::node::{Entry, Node, Value};

/// `upper` laid over `base`, at `path` (e.g. `["services", "web"]`).
pub fn merge(base: Node, upper: Node, path: &[&str]) -> Result<Node, Problem> {
    if upper.value == Value::Null {
        return Ok(base);
    }
    match rule(path) {
        Rule::Replace => Ok(upper),
        Rule::ByName => Ok(by_name(base, upper)),
        Rule::Keyed(index) => Ok(appended(base, upper, index)),
        Rule::Named(default) => {
            merge_maps(as_mapping(base, default), as_mapping(upper, default), path)
        }
        Rule::Logging => {
            let driver = |n: &Node| field(n, "driver").map(|d| d.value.clone());
            match (driver(&base), driver(&upper)) {
                (Some(a), Some(b)) if a != b => Ok(upper),
                _ => merge_maps(base, upper, path),
            }
        }
        Rule::Build => merge_maps(build_mapping(base), build_mapping(upper), path),
        Rule::Structural => match (&base.value, &upper.value) {
            (Value::Map(_), Value::Map(_)) => merge_maps(base, upper, path),
            (Value::Seq(_), Value::Seq(_)) => Ok(appended(base, upper, Index::Value)),
            (Value::Map(_), _) | (Value::Seq(_), _) | (_, Value::Map(_)) | (_, Value::Seq(_)) => {
                Err(Problem::new(
                    upper.at,
                    format!(
                        "cannot override `{}`: the definition below is a {} and this is a {}",
                        path.join("."),
                        kind(&base.value),
                        kind(&upper.value)
                    ),
                ))
            }
            _ => Ok(upper),
        },
    }
}

enum Rule {
    Replace,
    /// `KEY: value` or `KEY=value`, merged by KEY.
    ByName,
    /// Appended, one entry per index.
    Keyed(Index),
    /// A mapping of names, or a list of them each standing for `default`.
    Named(Option<&'static str>),
    Logging,
    Build,
    Structural,
}

#[derive(Clone, Copy)]
enum Index {
    /// The entry as written.
    Value,
    /// The container path of a mount: `src:target[:mode]` or `target:`.
    MountTarget,
    /// Where a secret or config lands: `target`, or its name under `dir`.
    FileTarget(&'static str),
    /// `host=address` or `host:address` with the same host and address.
    Host,
}

fn rule(path: &[&str]) -> Rule {
    match path {
        ["services", _, "command" | "entrypoint"] => Rule::Replace,
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        ["services", _, "ulimits", _] => Rule::Replace,
        ["services", _, "environment" | "labels" | "annotations" | "sysctls"]
        | ["services", _, "build", "args" | "labels"]
        | ["services", _, "deploy", "labels"]
        | ["networks" | "volumes", _, "labels"] => Rule::ByName,
        ["services", _, "extra_hosts"] => Rule::Keyed(Index::Host),
        ["services", _, "volumes" | "devices"] => Rule::Keyed(Index::MountTarget),
        ["services", _, "secrets"] => Rule::Keyed(Index::FileTarget("/run/secrets/")),
        ["services", _, "configs"] => Rule::Keyed(Index::FileTarget("/")),
        ["services", _, "ports" | "expose" | "dns" | "dns_opt" | "dns_search" | "env_file" | "label_file"
        | "tmpfs" | "cap_add" | "cap_drop" | "profiles" | "links" | "security_opt"
        | "group_add"] => Rule::Keyed(Index::Value),
        ["services", _, "depends_on"] => Rule::Named(Some("service_started")),
        ["services", _, "networks"] => Rule::Named(None),
        ["services", _, "logging"] => Rule::Logging,
        ["services", _, "build"] => Rule::Build,
        _ => Rule::Structural,
    }
}

fn merge_maps(base: Node, upper: Node, path: &[&str]) -> Result<Node, Problem> {
    let (Value::Map(mut entries), Value::Map(upper_entries)) = (base.value, upper.value) else {
        return Err(Problem::new(
            upper.at,
            format!(
                "cannot override `{}`: both must be mappings",
                path.join(".")
            ),
        ));
    };
    for entry in upper_entries {
        match entries.iter().position(|e| e.key == entry.key) {
            Some(i) => {
                let below = entries[i].value.clone();
                let at: Vec<&str> = path.iter().copied().chain([entry.key.as_str()]).collect();
                entries[i] = Entry {
                    value: merge(below, entry.value, &at)?,
                    ..entry
                };
            }
            None => entries.push(entry),
        }
    }
    Ok(Node {
        at: upper.at,
        value: Value::Map(entries),
    })
}

/// `KEY: value` mappings merge by key (an upper `KEY:` without a value
/// passes KEY through from the environment instead); otherwise both become `KEY=value`
/// lists, the upper entry replacing a lower one of the same KEY.
fn by_name(base: Node, upper: Node) -> Node {
    if let (Value::Map(_), Value::Map(_)) = (&base.value, &upper.value) {
        let (Value::Map(mut entries), Value::Map(upper_entries)) = (base.value, upper.value) else {
            unreachable!("matched just above")
        };
        for entry in upper_entries {
            match entries.iter().position(|e| e.key == entry.key) {
                Some(i) => entries[i] = entry,
                None => entries.push(entry),
            }
        }
        return Node {
            at: upper.at,
            value: Value::Map(entries),
        };
    }
    let at = upper.at;
    let mut items = as_list(base);
    for item in as_list(upper) {
        let name = |n: &Node| match &n.value {
            Value::String(s) => s.split('=').next().map(str::to_string),
            _ => None,
        };
        match items
            .iter()
            .position(|i| name(i).is_some() && name(i) == name(&item))
        {
            Some(i) => items[i] = item,
            None => items.push(item),
        }
    }
    Node {
        at,
        value: Value::Seq(items),
    }
}

/// A mapping as `KEY=value` items (`KEY` alone for an empty value); a
/// single string as a list of it.
fn as_list(node: Node) -> Vec<Node> {
    match node.value {
        Value::Seq(items) => items,
        Value::Map(entries) => entries
            .into_iter()
            .map(|e| {
                let text = match scalar_text(&e.value.value) {
                    Some(value) => format!("{}={value}", e.key),
                    None => e.key,
                };
                Node {
                    at: e.key_at,
                    value: Value::String(text),
                }
            })
            .collect(),
        Value::Null => Vec::new(),
        _ => vec![node],
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Seq(_) | Value::Map(_) => None,
    }
}

fn appended(base: Node, upper: Node, index: Index) -> Node {
    let at = upper.at;
    let mut items = as_list(base);
    for item in as_list(upper) {
        let key = key_of(&item, index);
        match items
            .iter()
            .position(|i| key.is_some() && key_of(i, index) == key)
        {
            Some(i) => items[i] = item,
            None => items.push(item),
        }
    }
    Node {
        at,
        value: Value::Seq(items),
    }
}

fn key_of(item: &Node, index: Index) -> Option<String> {
    let text = |key: &str| field(item, key).and_then(|n| scalar_text(&n.value));
    match (&item.value, index) {
        (Value::Map(_), Index::MountTarget) => text("target"),
        (Value::Map(_), Index::FileTarget(dir)) => {
            text("target").or_else(|| Some(format!("{dir}{}", text("source")?)))
        }
        (Value::Map(_), Index::Value) => Some(format!("{:?}", strip_positions(&item.value))),
        (Value::String(s), Index::MountTarget) => {
            let mut parts = s.split(':');
            let first = parts.next()?;
            Some(parts.next().unwrap_or(first).to_string())
        }
        (Value::String(s), Index::FileTarget(dir)) => Some(format!("{dir}{s}")),
        (Value::String(s), Index::Host) => Some(s.replacen(':', "=", 1)),
        (value, _) => scalar_text(value),
    }
}

/// A value without where it was written, to compare what two say.
fn strip_positions(value: &Value) -> Vec<(String, String)> {
    match value {
        Value::Map(entries) => entries
            .iter()
            .map(|e| {
                (
                    e.key.clone(),
                    scalar_text(&e.value.value).unwrap_or_default(),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A list of names as a mapping, each name standing for `default`
/// (`condition: <default>` for depends_on, nothing for networks).
fn as_mapping(node: Node, default: Option<&'static str>) -> Node {
    let Value::Seq(items) = node.value else {
        return node;
    };
    let entries = items
        .into_iter()
        .filter_map(|item| {
            let Value::String(name) = &item.value else {
                return None;
            };
            let value = match default {
                Some(condition) => Value::Map(vec![Entry {
                    key: "condition".into(),
                    key_at: item.at,
                    value: Node {
                        at: item.at,
                        value: Value::String(condition.into()),
                    },
                }]),
                None => Value::Null,
            };
            Some(Entry {
                key: name.clone(),
                key_at: item.at,
                value: Node { at: item.at, value },
            })
        })
        .collect();
    Node {
        at: node.at,
        value: Value::Map(entries),
    }
}

/// `build: ./dir` is `build: {context: ./dir}`.
fn build_mapping(node: Node) -> Node {
    match node.value {
        Value::String(_) => Node {
            at: node.at,
            value: Value::Map(vec![Entry {
                key: "context".into(),
                key_at: node.at,
                value: node,
            }]),
        },
        _ => node,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Map(_) => "mapping",
        Value::Seq(_) => "list",
        Value::String(_) => "string",
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::Float(_) => "number",
    }
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    /// `upper` over `base`, both services, as compact YAML text.
    fn merged(base: &str, upper: &str) -> Node {
        merge(
            parse(base).unwrap(),
            parse(upper).unwrap(),
            &["services", "web"],
        )
        .unwrap()
    }

    fn show(node: &Node) -> String {
        match &node.value {
            Value::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|e| format!("{}: {}", e.key, show(&e.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Seq(items) => format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Value::Null => "null".into(),
            other => scalar_text(other).unwrap(),
        }
    }

    #[test]
    fn follows_composes_merge_rules() {
        let table = [
            // Scalars: the upper wins; new keys are added.
            ("{image: a, restart: always}", "{image: b, init: true}", "{image: b, restart: always, init: true}"),
            // Replaced whole.
            ("{command: [a, b]}", "{command: c}", "{command: c}"),
            ("{entrypoint: [a]}", "{entrypoint: [b]}", "{entrypoint: [b]}"),
            ("{healthcheck: {test: [CMD, a], retries: 3}}", "{healthcheck: {test: [CMD, b]}}", "{healthcheck: {test: [CMD, b], retries: 3}}"),
            ("{ulimits: {nofile: {soft: 1, hard: 2}, nproc: 5}}", "{ulimits: {nofile: 9}}", "{ulimits: {nofile: 9, nproc: 5}}"),
            // By name, in either form.
            ("{environment: {A: 1, B: 2}}", "{environment: {B: 3, C: }}", "{environment: {A: 1, B: 3, C: null}}"),
            ("{environment: [A=1, B=2]}", "{environment: {B: 3}}", "{environment: [A=1, B=3]}"),
            ("{labels: {a: 1}}", "{labels: [b=2, a=3]}", "{labels: [a=3, b=2]}"),
            ("{environment: [A=1]}", "{environment: [A]}", "{environment: [A]}"),
            // Appended, one per mount target or value.
            ("{volumes: [./a:/data, /b:/b]}", "{volumes: [./c:/data:ro, {type: bind, source: /d, target: /d}]}", "{volumes: [./c:/data:ro, /b:/b, {type: bind, source: /d, target: /d}]}"),
            ("{ports: ['80:80']}", "{ports: ['80:80', '443:443']}", "{ports: [80:80, 443:443]}"),
            ("{cap_add: [NET_ADMIN]}", "{cap_add: [SYS_TIME, NET_ADMIN]}", "{cap_add: [NET_ADMIN, SYS_TIME]}"),
            ("{dns: 1.1.1.1}", "{dns: [9.9.9.9]}", "{dns: [1.1.1.1, 9.9.9.9]}"),
            ("{secrets: [a, {source: b, target: /x}]}", "{secrets: [{source: a2, target: /run/secrets/a}, {source: c, target: /x}]}", "{secrets: [{source: a2, target: /run/secrets/a}, {source: c, target: /x}]}"),
            ("{extra_hosts: ['db:10.0.0.1']}", "{extra_hosts: ['db=10.0.0.1', 'x:10.0.0.2']}", "{extra_hosts: [db=10.0.0.1, x:10.0.0.2]}"),
            // Names in either form.
            ("{depends_on: [db]}", "{depends_on: {cache: {condition: service_healthy}}}", "{depends_on: {db: {condition: service_started}, cache: {condition: service_healthy}}}"),
            ("{networks: [front]}", "{networks: {back: {aliases: [x]}}}", "{networks: {front: null, back: {aliases: [x]}}}"),
            // Logging: another driver replaces, the same one merges options.
            ("{logging: {driver: syslog, options: {a: 1}}}", "{logging: {driver: json-file}}", "{logging: {driver: json-file}}"),
            ("{logging: {driver: json-file, options: {a: 1}}}", "{logging: {options: {b: 2}}}", "{logging: {driver: json-file, options: {a: 1, b: 2}}}"),
            // Build: a string is its context.
            ("{build: ./a}", "{build: {dockerfile: X}}", "{build: {context: ./a, dockerfile: X}}"),
            // Deeper mappings merge, other lists append.
            ("{deploy: {resources: {limits: {memory: 1G, cpus: '1'}}}}", "{deploy: {resources: {limits: {memory: 2G}}}}", "{deploy: {resources: {limits: {memory: 2G, cpus: 1}}}}"),
            // An empty upper value keeps what is below.
            ("{restart: always}", "{restart: }", "{restart: always}"),
        ];
        for (base, upper, expected) in table {
            assert_eq!(show(&merged(base, upper)), expected, "{base} + {upper}");
        }
    }

    #[test]
    fn merged_values_keep_their_positions() {
        let node = merged("{image: a,\n restart: always}", "\n\n{image: b}");
        assert_eq!(field(&node, "restart").unwrap().at.line, 2);
        assert_eq!(field(&node, "image").unwrap().at.line, 3);
    }

    #[test]
    fn a_mapping_cannot_replace_a_string() {
        let error = merge(
            parse("{healthcheck: {retries: 3}}").unwrap(),
            parse("{healthcheck: none}").unwrap(),
            &["services", "web"],
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains("cannot override `services.web.healthcheck`"),
            "{}",
            error.message
        );
    }
}
