//! The objects an import produces, whatever it read: the Cluster, its
//! nodes' addresses (invented where the input says nothing, and said so),
//! the VRRP password as a secret file, and VirtualIPs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hareconcile_model::{
    Auth, AuthType, ClusterSpec, Kind, Object, ObjectMeta, VirtualIpSpec, API_VERSION,
};
use serde_json::Value;

use crate::finding::{Findings, Level, Source};
use crate::{Options, Secret, IMPORTED_FROM_ANNOTATION};

/// A node's address and how the import knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Known(IpAddr),
    /// Not in the input: an address from the documentation ranges (RFC
    /// 5737 / RFC 3849) that must be replaced.
    Placeholder,
}

/// Addresses for the Cluster's nodes: `--address` first, then what the
/// input says; placeholders (with a finding each) for the rest, of the
/// family the known addresses have.
pub fn resolve_addresses(
    nodes: &[(String, Address)],
    options: &Options,
    findings: &mut Findings,
) -> Vec<(String, IpAddr)> {
    let resolved: Vec<(String, Option<IpAddr>)> = nodes
        .iter()
        .map(|(name, address)| {
            let known = match address {
                Address::Known(ip) => Some(*ip),
                Address::Placeholder => None,
            };
            (name.clone(), options.addresses.get(name).copied().or(known))
        })
        .collect();
    let v6 = resolved
        .iter()
        .filter_map(|(_, ip)| *ip)
        .all(|ip| ip.is_ipv6())
        && resolved.iter().any(|(_, ip)| ip.is_some());
    let taken: Vec<IpAddr> = resolved.iter().filter_map(|(_, ip)| *ip).collect();
    let mut next = 1u16;
    resolved
        .into_iter()
        .map(|(name, ip)| {
            let ip = ip.unwrap_or_else(|| {
                let placeholder = loop {
                    let candidate = placeholder(next, v6);
                    next += 1;
                    if !taken.contains(&candidate) {
                        break candidate;
                    }
                };
                findings.push(
                    Level::Placeholder,
                    None,
                    format!("node {name}"),
                    format!(
                        "the input does not say this node's address: {placeholder} (a documentation address) stands in for it; pass --address {name}=IP, or replace it in the Cluster (it is the node's VRRP source and the peer API's address)"
                    ),
                );
                placeholder
            });
            (name, ip)
        })
        .collect()
}

fn placeholder(n: u16, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))
    } else {
        // 192.0.2.0/24 (TEST-NET-1) holds 254 nodes, more than any cluster.
        IpAddr::V4(Ipv4Addr::new(
            192,
            0,
            2,
            u8::try_from(n).unwrap_or(254).min(254),
        ))
    }
}

/// The Cluster's auth for a VRRPv2 password: the password goes to a
/// secret file the manifest names, never into the manifest.
pub fn password_auth(
    password: &str,
    from: &Source,
    options: &Options,
    findings: &mut Findings,
) -> (Auth, Secret) {
    let path = options.password_file.clone();
    findings.note(
        Some(from),
        "password",
        format!(
            "the VRRP password is not written into the manifests: install it as {} on every node (mode 0600, the password on its first line); `import -o DIR` writes it as DIR/secrets/vrrp-password",
            path.display()
        ),
    );
    (
        Auth {
            type_: AuthType::Pass,
            password_file: Some(path.clone()),
        },
        Secret {
            path,
            content: format!("{password}\n"),
            from: from.clone(),
        },
    )
}

pub fn cluster_object(options: &Options, spec: &ClusterSpec, from: String) -> Object {
    object(Kind::Cluster, &options.cluster, spec, from)
}

pub fn virtual_ip_object(name: &str, spec: &VirtualIpSpec, from: String) -> Object {
    object(Kind::VirtualIP, name, spec, from)
}

fn object(kind: Kind, name: &str, spec: &impl serde::Serialize, from: String) -> Object {
    let mut spec = serde_json::to_value(spec).unwrap_or(Value::Null);
    drop_empty_maps(&mut spec);
    Object {
        api_version: API_VERSION.to_string(),
        kind,
        metadata: ObjectMeta {
            annotations: BTreeMap::from([(IMPORTED_FROM_ANNOTATION.to_string(), from)]),
            ..ObjectMeta::named(name)
        },
        spec,
        status: Default::default(),
    }
}

/// Empty sections (`control: {}`, `track: {}`) say nothing: leave them
/// out of what users read.
fn drop_empty_maps(value: &mut Value) {
    if let Value::Object(map) = value {
        for child in map.values_mut() {
            drop_empty_maps(child);
        }
        map.retain(|_, child| !matches!(child, Value::Object(m) if m.is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_addresses_get_documentation_placeholders_of_the_known_family() {
        let mut findings = Findings::default();
        let nodes = [
            ("n1".to_string(), Address::Known("fd00::1".parse().unwrap())),
            ("n2".to_string(), Address::Placeholder),
        ];
        let resolved = resolve_addresses(&nodes, &Options::default(), &mut findings);
        assert_eq!(resolved[1].1, "2001:db8::1".parse::<IpAddr>().unwrap());
        let findings = findings.into_vec();
        assert_eq!(findings[0].level, Level::Placeholder);
        assert!(findings[0].message.contains("--address n2=IP"));

        let mut options = Options::default();
        options
            .addresses
            .insert("n2".into(), "10.0.0.2".parse().unwrap());
        let mut findings = Findings::default();
        let nodes = [
            ("n1".to_string(), Address::Placeholder),
            ("n2".to_string(), Address::Placeholder),
        ];
        let resolved = resolve_addresses(&nodes, &options, &mut findings);
        assert_eq!(resolved[0].1.to_string(), "192.0.2.1");
        assert_eq!(resolved[1].1.to_string(), "10.0.0.2");
        assert_eq!(findings.into_vec().len(), 1);
    }
}
