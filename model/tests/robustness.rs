//! Bad input must never panic the loader: random text, YAML-flavoured
//! noise and single-edit mutations of a valid manifest all end in either
//! manifests or diagnostics.

use std::path::Path;

use hareconcile_model::load::{load_paths, load_str};
use proptest::prelude::*;

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
