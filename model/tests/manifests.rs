//! The shipped example (`manifests/`) must always load: it is what users
//! copy and what the lab runs.

use std::collections::BTreeMap;

use hareconcile_model::load::load_paths;
use hareconcile_model::{
    ClusterSpec, Kind, Method, ReplicationSpec, ServiceMode, ServiceSpec, VirtualIpSpec,
    VrrpVersion, SOURCE_FILE_ANNOTATION,
};

#[test]
fn the_example_loads_with_the_expected_objects() {
    let manifests = load_paths(&["../manifests"]).unwrap_or_else(|e| panic!("{e}"));
    let by_kind: BTreeMap<(Kind, String), _> = manifests
        .iter()
        .map(|m| ((m.object.kind, m.object.metadata.name.clone()), m))
        .collect();
    let keys: Vec<(Kind, &str)> = by_kind.keys().map(|(k, n)| (*k, n.as_str())).collect();
    assert_eq!(
        keys,
        [
            (Kind::Cluster, "home"),
            (Kind::VirtualIP, "web"),
            (Kind::Service, "web"),
            (Kind::Replication, "certs"),
        ]
    );

    let cluster: ClusterSpec = by_kind[&(Kind::Cluster, "home".into())]
        .object
        .spec_as()
        .unwrap();
    let nodes: Vec<(&str, String, u8)> = cluster
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.address.to_string(), n.priority))
        .collect();
    assert_eq!(
        nodes,
        [
            ("n1", "10.77.0.1".to_string(), 110),
            ("n2", "10.77.0.2".to_string(), 100)
        ]
    );
    assert_eq!(cluster.vrrp.version, VrrpVersion::V3);

    let vip: VirtualIpSpec = by_kind[&(Kind::VirtualIP, "web".into())]
        .object
        .spec_as()
        .unwrap();
    assert_eq!((vip.interface.as_str(), vip.vrid), ("eth0", 51));
    assert_eq!(vip.addresses, ["10.77.0.100/24".parse().unwrap()]);
    assert_eq!(vip.track.services[0].name(), "web");

    let service = by_kind[&(Kind::Service, "web".into())];
    let spec: ServiceSpec = service.object.spec_as().unwrap();
    assert_eq!(spec.follow_virtual_ip.as_deref(), Some("web"));
    assert_eq!(spec.mode, ServiceMode::ActivePassive);
    assert_eq!(spec.requires, ["certs"]);
    // The compose file is relative to the manifest that names it.
    let source = &service.object.metadata.annotations[SOURCE_FILE_ANNOTATION];
    let manifest_dir = std::path::Path::new(source).parent().unwrap();
    assert!(std::path::Path::new(source).is_absolute());
    let compose = std::fs::read_to_string(manifest_dir.join(&spec.compose.file)).unwrap();
    assert!(compose.contains("hareconcile/busybox:lab"));

    let certs: ReplicationSpec = by_kind[&(Kind::Replication, "certs".into())]
        .object
        .spec_as()
        .unwrap();
    assert_eq!(certs.method, Method::Rsync);
    assert!(certs.rsync.unwrap().continuous);
}

#[test]
fn every_example_object_passes_server_side_validation_too() {
    let manifests = load_paths(&["../manifests"]).unwrap();
    for m in &manifests {
        assert_eq!(hareconcile_model::validate::validate_object(&m.object), []);
    }
    let objects: Vec<_> = manifests.iter().map(|m| &m.object).collect();
    assert_eq!(hareconcile_model::validate::check_set(&objects), []);
}
