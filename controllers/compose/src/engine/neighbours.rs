//! The host's neighbour entry for a container that has just started.
//!
//! Docker writes the DNAT rule of a published port before the container's
//! interface is up. A client that connects in between (during a failover,
//! every client does) makes the host ask for the container's MAC, gets no
//! answer, and the entry then waits for the next solicitation: a second by
//! default (`retrans_time_ms`), in which every connection to the port is
//! dropped. On the project's machine a busybox httpd answered on its
//! published port 1.1 s after `docker start` was called, and 0.23 s when
//! its entry was written as soon as the start returned. The container's
//! addresses and MAC are in its inspect data, so the entry is written from
//! there instead of learnt.
//!
//! Only where the container's network gateway is an address of this host
//! (the daemon is local, in this network namespace): a remote daemon's
//! bridge is not ours to touch.

use std::net::IpAddr;

use bollard::models::{ContainerInspectResponse, EndpointSettings};
use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_route::neighbour::NeighbourState;
use rtnetlink::Handle;

#[derive(Debug, thiserror::Error)]
pub(super) enum NeighbourError {
    #[error("open a netlink socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error(transparent)]
    Netlink(#[from] rtnetlink::Error),
}

/// One address of a container on a network whose gateway is `gateway`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub address: IpAddr,
    pub mac: [u8; 6],
    pub gateway: IpAddr,
}

/// The container's addresses (IPv4 and IPv6) on every network it joined;
/// networks without an address, a MAC or a gateway (host, none, a macvlan
/// without gateway) give none.
pub(super) fn endpoints(inspected: &ContainerInspectResponse) -> Vec<Endpoint> {
    let networks = inspected
        .network_settings
        .as_ref()
        .and_then(|s| s.networks.as_ref());
    networks
        .into_iter()
        .flat_map(|n| n.values())
        .flat_map(endpoints_on)
        .collect()
}

fn endpoints_on(settings: &EndpointSettings) -> Vec<Endpoint> {
    let Some(mac) = settings.mac_address.as_deref().and_then(parse_mac) else {
        return Vec::new();
    };
    let families = [
        (&settings.ip_address, &settings.gateway),
        (&settings.global_ipv6_address, &settings.ipv6_gateway),
    ];
    families
        .into_iter()
        .filter_map(|(address, gateway)| {
            Some(Endpoint {
                address: address.as_deref()?.parse().ok()?,
                mac,
                gateway: gateway.as_deref()?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut octets = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(octets.next()?, 16).ok()?;
    }
    octets.next().is_none().then_some(mac)
}

/// Writes a reachable neighbour entry for each endpoint whose gateway is
/// an address of this host, on the interface that holds it; what it
/// wrote, as `address lladdr mac`.
pub(super) async fn announce(endpoints: &[Endpoint]) -> Result<Vec<String>, NeighbourError> {
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let (connection, handle, _) = rtnetlink::new_connection()?;
    let connection = tokio::spawn(connection);
    let result = write_entries(&handle, endpoints).await;
    connection.abort();
    result
}

async fn write_entries(
    handle: &Handle,
    endpoints: &[Endpoint],
) -> Result<Vec<String>, NeighbourError> {
    let mut written = Vec::new();
    for endpoint in endpoints {
        let bridge = handle
            .address()
            .get()
            .set_address_filter(endpoint.gateway)
            .execute()
            .map_ok(|a| a.header.index)
            .boxed()
            .try_next()
            .await?;
        let Some(index) = bridge else { continue };
        handle
            .neighbours()
            .add(index, endpoint.address)
            .link_layer_address(&endpoint.mac)
            .state(NeighbourState::Reachable)
            .replace()
            .execute()
            .await?;
        let mac: Vec<String> = endpoint.mac.iter().map(|b| format!("{b:02x}")).collect();
        written.push(format!("{} lladdr {}", endpoint.address, mac.join(":")));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::NetworkSettings;
    use std::collections::HashMap;

    fn inspected(networks: Vec<(&str, EndpointSettings)>) -> ContainerInspectResponse {
        ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                networks: Some(
                    networks
                        .into_iter()
                        .map(|(n, s)| (n.to_string(), s))
                        .collect::<HashMap<_, _>>(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn a_bridge_endpoint_gives_its_ipv4_and_ipv6_addresses() {
        let found = endpoints(&inspected(vec![(
            "shop_default",
            EndpointSettings {
                mac_address: some("02:42:ac:12:00:03"),
                ip_address: some("172.18.0.3"),
                gateway: some("172.18.0.1"),
                global_ipv6_address: some("fd00::3"),
                ipv6_gateway: some("fd00::1"),
                ..Default::default()
            },
        )]));
        let mac = [0x02, 0x42, 0xac, 0x12, 0x00, 0x03];
        assert_eq!(
            found,
            [
                Endpoint {
                    address: "172.18.0.3".parse().unwrap(),
                    mac,
                    gateway: "172.18.0.1".parse().unwrap(),
                },
                Endpoint {
                    address: "fd00::3".parse().unwrap(),
                    mac,
                    gateway: "fd00::1".parse().unwrap(),
                },
            ]
        );
    }

    #[test]
    fn host_and_none_networks_and_missing_fields_give_nothing() {
        // What Docker reports for network_mode host or none: empty strings.
        let host = EndpointSettings {
            mac_address: some(""),
            ip_address: some(""),
            gateway: some(""),
            ..Default::default()
        };
        let no_gateway = EndpointSettings {
            mac_address: some("02:42:ac:12:00:03"),
            ip_address: some("172.18.0.3"),
            ..Default::default()
        };
        assert_eq!(
            endpoints(&inspected(vec![("host", host), ("lan", no_gateway)])),
            []
        );
        assert_eq!(endpoints(&ContainerInspectResponse::default()), []);
    }

    #[test]
    fn a_mac_must_have_six_hex_octets() {
        assert_eq!(
            parse_mac("02:42:AC:12:00:0f"),
            Some([2, 0x42, 0xac, 0x12, 0, 0x0f])
        );
        for bad in [
            "02:42:ac:12:00",
            "02:42:ac:12:00:03:04",
            "zz:42:ac:12:00:03",
            "",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
