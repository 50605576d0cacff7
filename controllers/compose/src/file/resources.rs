//! Top-level `networks:` and `volumes:`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::decode::{
    boolean, is_default, named_entries, string, string_map, Decoded, Fields, Problem,
};
use super::node::{Node, Value};

/// A project network or named volume; both take the same options.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resource {
    /// Created outside the project; used, never created or removed.
    pub external: bool,
    /// The engine-side name when it is not `PROJECT_KEY`.
    pub name: Option<String>,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// What only a network has.
    #[serde(skip_serializing_if = "is_default")]
    pub network: NetworkOptions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkOptions {
    /// Address pools; the engine picks one when there are none.
    pub ipam: Option<Ipam>,
    /// No route out of the network.
    pub internal: bool,
    /// Containers outside the project may join it.
    pub attachable: bool,
    pub enable_ipv6: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ipam {
    pub driver: Option<String>,
    pub config: Vec<Pool>,
    pub options: BTreeMap<String, String>,
}

/// One address pool of a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pool {
    pub subnet: Option<Subnet>,
    pub gateway: Option<IpAddr>,
    /// The part of the subnet the engine hands out addresses from.
    pub ip_range: Option<Subnet>,
    /// Addresses the engine must not hand out, by host name.
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// An address and prefix length, `192.168.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Subnet {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    fn parse(text: &str) -> Option<Subnet> {
        let (address, prefix) = text.split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Subnet { address, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let prefix = u32::from(self.prefix);
        match (self.address, address) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// `kind` is "network" or "volume", for messages.
pub fn resources(node: &Node, kind: &str) -> Decoded<BTreeMap<String, Resource>> {
    named_entries(node, &format!("top-level {kind}s"))?
        .iter()
        .map(|e| {
            Ok((
                e.key.clone(),
                resource(&e.value, kind, &format!("{kind} `{}`", e.key))?,
            ))
        })
        .collect()
}

fn resource(node: &Node, kind: &str, what: &str) -> Decoded<Resource> {
    if node.value == Value::Null {
        return Ok(Resource::default());
    }
    let mut f = Fields::of(node, what)?;
    let resource = Resource {
        external: f.take_with("external", boolean)?.unwrap_or(false),
        name: f.take_with("name", string)?,
        driver: f.take_with("driver", string)?,
        driver_opts: f
            .take("driver_opts")
            .map(|n| string_map(n, '=', "driver_opts"))
            .transpose()?
            .unwrap_or_default(),
        labels: f
            .take("labels")
            .map(|n| string_map(n, '=', "labels"))
            .transpose()?
            .unwrap_or_default(),
        network: NetworkOptions::default(),
    };
    let resource = if kind == "network" {
        Resource {
            network: network_options(&mut f)?,
            ..resource
        }
    } else {
        resource
    };
    f.finish()?;
    Ok(resource)
}

fn network_options(f: &mut Fields<'_>) -> Decoded<NetworkOptions> {
    let flag = |node: Option<&Node>, what: &str| {
        node.map(|n| boolean(n, what))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    f.refuse(
        "enable_ipv4",
        "hareconcile writes the settings of Engine API 1.41 (Docker 20.10), where a network always has IPv4 (Docker 28 and later can turn it off)",
    )?;
    Ok(NetworkOptions {
        ipam: f.take("ipam").map(ipam).transpose()?,
        internal: flag(f.take("internal"), "internal")?,
        attachable: flag(f.take("attachable"), "attachable")?,
        enable_ipv6: flag(f.take("enable_ipv6"), "enable_ipv6")?,
    })
}

fn ipam(node: &Node) -> Decoded<Ipam> {
    let mut f = Fields::of(node, "ipam")?;
    let pools = match f.take("config") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => items.iter().map(pool).collect::<Decoded<_>>()?,
        Some(n) => return Err(Problem::new(n.at, "ipam.config must be a list of pools")),
        None => Vec::new(),
    };
    let ipam = Ipam {
        driver: f.take_with("driver", string)?,
        config: pools,
        options: f
            .take("options")
            .map(|n| string_map(n, '=', "ipam options"))
            .transpose()?
            .unwrap_or_default(),
    };
    f.finish()?;
    Ok(ipam)
}

fn pool(node: &Node) -> Decoded<Pool> {
    let mut f = Fields::of(node, "an ipam pool")?;
    let subnet = |n: &Node, what: &str| {
        let text = string(n, what)?;
        Subnet::parse(&text).ok_or_else(|| {
            Problem::new(
                n.at,
                format!("{what} must be ADDRESS/PREFIX such as 192.168.1.0/24, not {text:?}"),
            )
        })
    };
    let address = |n: &Node, what: &str| {
        let text = string(n, what)?;
        text.parse::<IpAddr>()
            .map_err(|_| Problem::new(n.at, format!("{what} must be an IP address, not {text:?}")))
    };
    let pool = Pool {
        subnet: f.take_with("subnet", subnet)?,
        gateway: f.take_with("gateway", address)?,
        ip_range: f.take_with("ip_range", subnet)?,
        aux_addresses: match f.take("aux_addresses") {
            Some(Node {
                value: Value::Map(entries),
                ..
            }) => entries
                .iter()
                .map(|e| Ok((e.key.clone(), address(&e.value, "aux_addresses")?)))
                .collect::<Decoded<_>>()?,
            Some(n) => return Err(Problem::new(n.at, "aux_addresses must be a mapping")),
            None => BTreeMap::new(),
        },
    };
    f.finish()?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    #[test]
    fn decodes_options_and_empty_entries() {
        let node = parse("front:\nback: {driver: bridge, labels: [a=b], external: false}\nshared: {external: true, name: proxy}\n").unwrap();
        let all = resources(&node, "network").unwrap();
        assert_eq!(all["front"], Resource::default());
        assert_eq!(all["back"].driver.as_deref(), Some("bridge"));
        assert_eq!(all["back"].labels["a"], "b");
        assert!(all["shared"].external);
        assert_eq!(all["shared"].name.as_deref(), Some("proxy"));
        let err = resources(&parse("front: {ipam: {}}\n").unwrap(), "volume").unwrap_err();
        err.assert_says("`ipam` in volume `front`");
    }

    #[test]
    fn networks_take_address_pools() {
        let node = parse(concat!(
            "lan:\n  internal: true\n  enable_ipv6: true\n  ipam:\n    driver: default\n",
            "    config:\n      - {subnet: 192.168.50.0/24, gateway: 192.168.50.1, ip_range: 192.168.50.128/25, aux_addresses: {router: 192.168.50.2}}\n",
            "      - {subnet: 'fd00:50::/64'}\n",
        ))
        .unwrap();
        let lan = &resources(&node, "network").unwrap()["lan"].network;
        assert!(lan.internal && lan.enable_ipv6);
        let ipam = lan.ipam.as_ref().unwrap();
        let subnet = ipam.config[0].subnet.unwrap();
        assert_eq!(subnet.to_string(), "192.168.50.0/24");
        assert!(subnet.contains("192.168.50.10".parse().unwrap()));
        assert!(!subnet.contains("192.168.51.10".parse().unwrap()));
        assert!(!subnet.contains("fd00:50::1".parse().unwrap()));
        let v6 = ipam.config[1].subnet.unwrap();
        assert!(v6.contains("fd00:50::1".parse().unwrap()));
        assert!(!v6.contains("fd00:51::1".parse().unwrap()));
        assert_eq!(
            ipam.config[0].aux_addresses["router"].to_string(),
            "192.168.50.2"
        );
        let err = resources(
            &parse("lan: {ipam: {config: [{subnet: 10.0.0.0/33}]}}\n").unwrap(),
            "network",
        )
        .unwrap_err();
        assert!(
            err.message.starts_with("subnet must be ADDRESS/PREFIX"),
            "{}",
            err.message
        );
    }
}
