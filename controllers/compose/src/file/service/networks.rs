//! How a service is reached: the project networks it joins, its aliases
//! and fixed addresses on each, links, exposed ports and its
//! `/etc/hosts` entries.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::optional;
use crate::file::decode::{
    integer, items, key_values, string, string_list, Decoded, Fields, Problem,
};
use crate::file::node::{Node, Value};
use crate::file::resources::Resource;

/// What a service asks of its endpoint on one network beyond aliases.
/// Kept apart from the aliases so that services without any keep the
/// config hash they had before these settings existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<Ipv6Addr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<IpAddr>,
    /// The network with the highest priority is the one the container is
    /// created on (its default route); 0 when unset, as in Compose.
    #[serde(skip_serializing_if = "is_zero")]
    pub priority: i64,
    /// Options for the network driver about this endpoint.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The networks a service joins: aliases on each, and the endpoints that
/// ask for more than aliases.
pub type Joined = (BTreeMap<String, Vec<String>>, BTreeMap<String, Endpoint>);

/// Networks must be declared at the top level, except the implicit `default`.
pub fn service_networks(node: &Node, declared: &BTreeMap<String, Resource>) -> Decoded<Joined> {
    let mut aliases = BTreeMap::new();
    let mut endpoints = BTreeMap::new();
    match &node.value {
        Value::Seq(_) => {
            for network in string_list(node, "networks")? {
                aliases.insert(network, Vec::new());
            }
        }
        Value::Map(entries) => {
            for e in entries {
                let (names, endpoint) = match e.value.value {
                    Value::Null => (Vec::new(), Endpoint::default()),
                    _ => endpoint(&e.value, &e.key, declared.get(&e.key))?,
                };
                aliases.insert(e.key.clone(), names);
                if endpoint != Endpoint::default() {
                    endpoints.insert(e.key.clone(), endpoint);
                }
            }
        }
        _ => {
            return Err(Problem::new(
                node.at,
                "networks must be a list or a mapping",
            ))
        }
    }
    match aliases
        .keys()
        .find(|n| *n != "default" && !declared.contains_key(*n))
    {
        Some(unknown) => Err(Problem::new(
            node.at,
            format!("network `{unknown}` is not declared under the top-level `networks:`"),
        )),
        None => Ok((aliases, endpoints)),
    }
}

fn endpoint(
    node: &Node,
    network: &str,
    declared: Option<&Resource>,
) -> Decoded<(Vec<String>, Endpoint)> {
    let mut f = Fields::of(node, format!("network `{network}` of this service"))?;
    let aliases = optional(f.take("aliases"), |n| string_list(n, "aliases"))?;
    let fixed = |n: &Node, what: &str| {
        let address: IpAddr = address(n, what)?;
        in_a_subnet(n, what, address, network, declared)?;
        Ok(address)
    };
    let not_of = |n: &Node, what: &str, family: &str| {
        Problem::new(n.at, format!("{what} must be an {family} address"))
    };
    let endpoint = Endpoint {
        ipv4_address: f.take_with("ipv4_address", |n, what| match fixed(n, what)? {
            IpAddr::V4(a) => Ok(a),
            IpAddr::V6(_) => Err(not_of(n, what, "IPv4")),
        })?,
        ipv6_address: f.take_with("ipv6_address", |n, what| match fixed(n, what)? {
            IpAddr::V6(a) => Ok(a),
            IpAddr::V4(_) => Err(not_of(n, what, "IPv6")),
        })?,
        link_local_ips: optional(f.take("link_local_ips"), |n| match &n.value {
            Value::Seq(items) => items.iter().map(|i| address(i, "link_local_ips")).collect(),
            _ => Err(Problem::new(
                n.at,
                "link_local_ips must be a list of addresses",
            )),
        })?,
        priority: f.take_with("priority", integer)?.unwrap_or(0),
        driver_opts: optional(f.take("driver_opts"), |n| {
            crate::file::decode::string_map(n, '=', "driver_opts")
        })?,
    };
    let newer_engine = "hareconcile writes the settings of Engine API 1.41 (Docker 20.10), which has no such setting per network (Docker 25 and later have); remove it";
    f.refuse(
        "mac_address",
        "hareconcile writes the settings of Engine API 1.41 (Docker 20.10), which sets one MAC address per container: use the service's own `mac_address`",
    )?;
    f.refuse("gw_priority", newer_engine)?;
    f.refuse("interface_name", newer_engine)?;
    f.finish()?;
    Ok((aliases, endpoint))
}

/// Docker gives a container a fixed address only on a network whose
/// subnets the file configures (`ipam.config`); an external network's
/// are not known here, and the engine checks them.
fn in_a_subnet(
    node: &Node,
    what: &str,
    address: IpAddr,
    network: &str,
    declared: Option<&Resource>,
) -> Decoded<()> {
    if declared.is_some_and(|r| r.external) {
        return Ok(());
    }
    let subnets: Vec<_> = declared
        .and_then(|r| r.network.ipam.as_ref())
        .map(|ipam| ipam.config.iter().filter_map(|p| p.subnet).collect())
        .unwrap_or_default();
    if subnets.iter().any(|s| s.contains(address)) {
        return Ok(());
    }
    let configured = if subnets.is_empty() {
        "has no configured subnet".to_string()
    } else {
        let list: Vec<String> = subnets.iter().map(ToString::to_string).collect();
        format!("has the subnets {}", list.join(", "))
    };
    Err(Problem::new(
        node.at,
        format!("{what} {address}: network `{network}` {configured}; Docker gives a fixed address only within a subnet declared under the network's `ipam.config`"),
    ))
}

fn address<T: std::str::FromStr>(node: &Node, what: &str) -> Decoded<T> {
    let text = string(node, what)?;
    text.parse().map_err(|_| {
        Problem::new(
            node.at,
            format!("{what} must be an IP address, not {text:?}"),
        )
    })
}

/// `host:address` pairs, from either form.
pub fn extra_hosts(node: &Node) -> Decoded<Vec<String>> {
    Ok(key_values(node, ':', "extra_hosts")?
        .into_iter()
        .map(|(host, address)| format!("{host}:{}", address.unwrap_or_default()))
        .collect())
}

/// `links`: `SERVICE` or `SERVICE:ALIAS`, as (service, alias).
pub fn links(node: &Node) -> Decoded<Vec<(String, String)>> {
    let items = items(node, "links")?;
    items
        .iter()
        .map(|item| {
            let link = string(item, "link")?;
            Ok(match link.split_once(':') {
                Some((service, alias)) => (service.to_string(), alias.to_string()),
                None => (link.clone(), link),
            })
        })
        .collect()
}

/// `expose`: `PORT`, `PORT/PROTOCOL`, or a range `START-END[/PROTOCOL]`,
/// as the `port/protocol` keys Docker's `ExposedPorts` takes.
pub fn expose(node: &Node) -> Decoded<Vec<String>> {
    let items = items(node, "expose")?;
    let mut exposed = Vec::new();
    for item in items {
        let text = crate::file::decode::scalar_text(item, "expose")?;
        let invalid = || {
            Problem::new(
                item.at,
                format!("expose must be PORT, PORT/PROTOCOL or START-END[/PROTOCOL], not {text:?}"),
            )
        };
        let (ports, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
        if !["tcp", "udp", "sctp"].contains(&protocol) {
            return Err(invalid());
        }
        let (start, end) = ports.split_once('-').unwrap_or((ports, ports));
        let (start, end) = match (start.parse::<u16>(), end.parse::<u16>()) {
            (Ok(start), Ok(end)) if start <= end => (start, end),
            _ => return Err(invalid()),
        };
        exposed.extend((start..=end).map(|port| format!("{port}/{protocol}")));
    }
    Ok(exposed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::node::parse;

    #[test]
    fn endpoints_keep_fixed_addresses_and_refuse_what_api_1_41_lacks() {
        let lan = crate::file::resources::resources(
            &parse(
                "lan: {ipam: {config: [{subnet: 192.168.1.0/24}, {subnet: 'fd00::/64'}]}}\nback:\n",
            )
            .unwrap(),
            "network",
        )
        .unwrap();
        let declared = lan;
        let node = parse(
            "lan: {ipv4_address: 192.168.1.53, ipv6_address: 'fd00::53', aliases: [dns], priority: 10}\nback:\n",
        )
        .unwrap();
        let (aliases, endpoints) = service_networks(&node, &declared).unwrap();
        assert_eq!(aliases["lan"], ["dns"]);
        assert!(aliases["back"].is_empty());
        assert_eq!(
            endpoints["lan"].ipv4_address,
            Some(Ipv4Addr::new(192, 168, 1, 53))
        );
        assert_eq!(
            endpoints["lan"].ipv6_address,
            Some("fd00::53".parse().unwrap())
        );
        assert_eq!(endpoints["lan"].priority, 10);
        assert!(!endpoints.contains_key("back"));

        let bad = parse("lan: {ipv4_address: 300.1.1.1}\n").unwrap();
        let err = service_networks(&bad, &declared).unwrap_err();
        assert_eq!((err.at.line, err.at.column), (1, 21));
        let outside = parse("lan: {ipv4_address: 10.0.0.1}\n").unwrap();
        let err = service_networks(&outside, &declared).unwrap_err();
        assert!(
            err.message
                .contains("has the subnets 192.168.1.0/24, fd00::/64"),
            "{}",
            err.message
        );
        let unconfigured = parse("back: {ipv4_address: 10.0.0.1}\n").unwrap();
        let err = service_networks(&unconfigured, &declared).unwrap_err();
        err.assert_says("`back` has no configured subnet");
        let newer = parse("lan: {mac_address: '02:42:ac:11:00:02'}\n").unwrap();
        let err = service_networks(&newer, &declared).unwrap_err();
        err.assert_says("`mac_address`");
    }

    #[test]
    fn links_and_expose_take_compose_forms() {
        assert_eq!(
            links(&parse("[db, 'cache:redis']").unwrap()).unwrap(),
            [
                ("db".to_string(), "db".to_string()),
                ("cache".to_string(), "redis".to_string())
            ]
        );
        assert_eq!(
            expose(&parse("[80, '53/udp', '9000-9001']").unwrap()).unwrap(),
            ["80/tcp", "53/udp", "9000/tcp", "9001/tcp"]
        );
        assert!(expose(&parse("['80/icmp']").unwrap()).is_err());
        assert!(expose(&parse("['9-1']").unwrap()).is_err());
    }
}
