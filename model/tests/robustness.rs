//! Bad input must never panic the loader: random text, YAML-flavoured
//! noise and single-edit mutations of a valid manifest all end in either
//! manifests or diagnostics. Values swapped for random JSON show that the
//! schema admits nothing the typed specs cannot decode.

use std::path::Path;

use hareconcile_model::load::{load_paths, load_str, Manifest};
use hareconcile_model::{ClusterSpec, Kind, ReplicationSpec, ServiceSpec, VirtualIpSpec};
use proptest::prelude::*;
use serde_json::Value;

const VALID: &str = "\
apiVersion: hareconcile.io/v1alpha1
kind: Cluster
metadata: {name: home, labels: {a: b}}
spec:
  nodes:
    - {name: n1, address: 10.77.0.1, priority: 110}
    - {name: n2, address: 10.77.0.2, priority: 100}
  vrrp: {version: 3, advertInterval: 50ms}
---
apiVersion: hareconcile.io/v1alpha1
kind: VirtualIP
metadata:
  name: web
spec:
  cluster: home
  interface: eth0
  vrid: 51
  addresses: [10.77.0.100/24, 'fd00::100/64']
  priorities: {n1: 110}
  track:
    scripts:
      - name: gw
        command: [ping, -c1, 10.77.0.254]
        interval: 2s
";

fn loads_without_panicking(text: &str) {
    match load_str(Path::new("fuzz.yaml"), text) {
        Ok(_) => {}
        Err(diagnostics) => {
            assert!(!diagnostics.0.is_empty());
            for d in &diagnostics.0 {
                assert!(!d.message.is_empty());
            }
        }
    }
}

#[test]
fn the_unmutated_manifest_is_valid() {
    let manifests = load_str(Path::new("fuzz.yaml"), VALID).unwrap();
    assert_eq!(manifests.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        loads_without_panicking(&text);
    }

    #[test]
    fn yaml_flavoured_noise(text in "[-:{}\\[\\] \n\t'\"a-z0-9#&*!|>?,.%@`~]{0,200}") {
        loads_without_panicking(&text);
    }

    #[test]
    fn single_edits_of_a_valid_manifest(
        at in 0..VALID.len(),
        cut in 0usize..8,
        insert in "[-:{}\\[\\] \n\t'\"a-z0-9#&*!|>?,]{0,4}",
    ) {
        let at = (0..=at).rev().find(|i| VALID.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(VALID.len());
        let end = (end..=VALID.len()).find(|i| VALID.is_char_boundary(*i)).unwrap_or(VALID.len());
        let text = format!("{}{}{}", &VALID[..at], insert, &VALID[end..]);
        loads_without_panicking(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_from_a_file(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fuzz.yaml");
        std::fs::write(&file, &bytes).unwrap();
        if let Err(diagnostics) = load_paths(&[&file]) {
            assert!(!diagnostics.0.is_empty());
        }
    }
}

const ALL_KINDS: &str = "\
apiVersion: hareconcile.io/v1alpha1
kind: Cluster
metadata: {name: home}
spec:
  nodes: [{name: n1, address: 10.77.0.1, priority: 110}, {name: n2, address: 10.77.0.2}]
  vrrp: {version: 3, advertInterval: 1s, transport: unicast, auth: {type: none}, v3Checksum: rfc9568}
  failback: manual
  peer: {port: 7979, tokenFile: /etc/t}
---
apiVersion: hareconcile.io/v1alpha1
kind: VirtualIP
metadata: {name: web}
spec:
  cluster: home
  interface: eth0
  vrid: 51
  addresses: [10.77.0.100/24]
  advertInterval: 50ms
  priorities: {n1: 110}
  preempt: true
  preemptDelay: 1s
  garp: {count: 3, refresh: 1m}
  track: {interfaces: [eth0], services: [web], scripts: [{name: gw, command: ['true'], interval: 1s, timeout: 1s, fall: 2, rise: 2, weight: -20}]}
  syncGroup: edge
  notify: {master: [logger, m], backup: [logger, b], fault: [logger, f], stop: [logger, s]}
  control: {forceBackup: [n2], priorityAdjust: {n1: -5}}
---
apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  cluster: home
  followVirtualIP: web
  mode: warm
  compose: {file: c.yaml, project: web, envFile: .env, profiles: [a]}
  requires: [certs]
  health: {containers: [web], tcp: ['127.0.0.1:80'], http: ['http://x/'], dns: [{server: '127.0.0.1:53', name: x}], interval: 1s, timeout: 1s, fall: 1, rise: 1}
---
apiVersion: hareconcile.io/v1alpha1
kind: Replication
metadata: {name: certs}
spec:
  cluster: home
  followVirtualIP: web
  method: zfs
  path: /srv
  on: master
  snapshot: {retain: 3, interval: 5m, dataset: tank/web, ssh: {user: root, port: 22, identityFile: /root/.ssh/id, knownHostsFile: /etc/hareconcile/known_hosts}}
  maxLag: 15m
";

fn decodes(m: &Manifest) -> bool {
    let o = &m.object;
    match o.kind {
        Kind::Cluster => o.spec_as::<ClusterSpec>().is_ok(),
        Kind::VirtualIP => o.spec_as::<VirtualIpSpec>().is_ok(),
        Kind::Service => o.spec_as::<ServiceSpec>().is_ok(),
        Kind::Replication => o.spec_as::<ReplicationSpec>().is_ok(),
    }
}

/// Every node of `value` with its pointer.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| pointers(v, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

fn remove(document: &mut Value, at: &str) {
    let Some((parent, last)) = at.rsplit_once('/') else {
        return;
    };
    match document.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>() {
                items.remove(i);
            }
        }
        _ => {}
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-300i64..300).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9:/. -]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("1s"),
            Just("50ms"),
            Just("10.77.0.9/24"),
            Just("fd00::1/64"),
            Just("all"),
            Just("n1")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn the_all_fields_manifest_is_valid() {
    let manifests = load_str(Path::new("all.yaml"), ALL_KINDS).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifests.len(), 4);
    assert!(manifests.iter().all(decodes));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn whatever_the_schema_admits_the_types_decode(
        document in 0usize..4,
        choice in any::<prop::sample::Index>(),
        replacement in proptest::option::weighted(0.8, any_json()),
    ) {
        let manifests = load_str(Path::new("all.yaml"), ALL_KINDS).unwrap();
        let mut values: Vec<Value> = manifests
            .iter()
            .map(|m| serde_json::to_value(&m.object).unwrap())
            .collect();
        let mut all = Vec::new();
        pointers(&values[document], String::new(), &mut all);
        let at = choice.get(&all).clone();
        match replacement {
            Some(replacement) if at.is_empty() => values[document] = replacement,
            Some(replacement) => {
                if let Some(slot) = values[document].pointer_mut(&at) {
                    *slot = replacement;
                }
            }
            // Removing a field checks that the schema requires what the types do.
            None => remove(&mut values[document], &at),
        }
        let text = values
            .iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect::<Vec<_>>()
            .join("\n---\n");
        match load_str(Path::new("all.yaml"), &text) {
            Ok(manifests) => prop_assert!(manifests.iter().all(decodes), "{text}"),
            Err(diagnostics) => {
                for d in &diagnostics.0 {
                    prop_assert!(!d.message.contains("report this bug"), "{d}\n{text}");
                }
            }
        }
    }
}

/// Issue 17: nested block lists overflowed the converter's stack (3,000
/// levels in 6 KB killed a debug build, 20,000 a release one).
#[test]
fn deep_nesting_is_a_positioned_diagnostic() {
    for levels in [3_000, 20_000, 200_000] {
        let text = format!("kind: Service\nspec: {}x\n", "- ".repeat(levels))
            .replace("spec: -", "spec:\n  -");
        let diagnostics = load_str(Path::new("deep.yaml"), &text).unwrap_err();
        let first = &diagnostics.0[0];
        assert_eq!((first.line, first.column), (3, 257), "{diagnostics}");
        assert!(
            first.message.contains("nested more than 128 levels"),
            "{diagnostics}"
        );
    }
}

/// YAML merge keys, as Compose users write them, work in manifests too.
#[test]
fn merge_keys_apply_in_manifests() {
    let text = VALID.replace(
        "track:\n    scripts:\n      - name: gw\n        command: [ping, -c1, 10.77.0.254]\n        interval: 2s\n",
        "track:\n    scripts:\n      - &gw {name: gw, command: [ping, -c1, 10.77.0.254], interval: 2s}\n      - {<<: *gw, name: gw2}\n",
    );
    let manifests = load_str(Path::new("merge.yaml"), &text).unwrap();
    let spec = &manifests[1].object.spec;
    assert_eq!(spec["track"]["scripts"][1]["name"], "gw2");
    assert_eq!(spec["track"]["scripts"][1]["interval"], "2s");
}
