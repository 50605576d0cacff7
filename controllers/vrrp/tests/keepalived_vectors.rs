//! Advertisements captured from Debian's keepalived 2.2.7 (bookworm), pinned
//! byte for byte. `interop/keepalived.sh` (root) reproduces the capture: it
//! runs keepalived with `interop/keepalived.conf` in a network namespace and
//! records its adverts with tcpdump from a peer namespace; the VRRP message
//! is the payload after the 20-byte IPv4 or 40-byte IPv6 header. Every
//! vector must decode to the expected advert and re-encode to the identical
//! bytes, which proves checksum and layout interop. (The same script checks
//! the other direction live: keepalived yields to adverts from our encoder.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hareconcile_vrrp::core::packet::{
    Addresses, AdvertV2, AdvertV3, Advertisement, Auth, ChecksumMode, DecodeError,
};

const KEEPALIVED_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));
const GROUP_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

fn keepalived_v6() -> IpAddr {
    "fe80::e403:8ff:fed4:5d91".parse().unwrap()
}

fn group_v6() -> IpAddr {
    "ff02::12".parse().unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn v4(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

fn assert_roundtrip(bytes: &[u8], src: IpAddr, dst: IpAddr, expected: Advertisement) {
    let decoded = Advertisement::decode(bytes, src, dst, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(decoded, expected);
    let encoded = expected
        .encode(src, dst, ChecksumMode::PseudoHeader)
        .unwrap();
    assert_eq!(
        encoded, bytes,
        "re-encoding must reproduce keepalived's bytes"
    );
}

/// `version 3`, `advert_int 1`, vrid 51, priority 110, one IPv4 address.
#[test]
fn v3_ipv4_master_advert() {
    let bytes = hex("3133 6e01 0064 6ad9 0a4d 0064");
    let advert = Advertisement::V3(AdvertV3 {
        vrid: 51,
        priority: 110,
        max_advert_interval_centis: 100,
        addresses: Addresses::V4(vec![v4(100)]),
    });
    assert_roundtrip(&bytes, KEEPALIVED_V4, GROUP_V4, advert);
}

/// The same instance on SIGTERM: priority 0 ("sent 0 priority").
#[test]
fn v3_ipv4_shutdown_advert() {
    let bytes = hex("3133 0001 0064 d8d9 0a4d 0064");
    let advert = Advertisement::V3(AdvertV3 {
        vrid: 51,
        priority: 0,
        max_advert_interval_centis: 100,
        addresses: Addresses::V4(vec![v4(100)]),
    });
    assert_roundtrip(&bytes, KEEPALIVED_V4, GROUP_V4, advert);
}

/// vrid 63, priority 254, two IPv4 addresses.
#[test]
fn v3_ipv4_two_addresses() {
    let bytes = hex("313f fe02 0064 cfd9 0a4d 0082 0a4d 0083");
    let advert = Advertisement::V3(AdvertV3 {
        vrid: 63,
        priority: 254,
        max_advert_interval_centis: 100,
        addresses: Addresses::V4(vec![v4(130), v4(131)]),
    });
    assert_roundtrip(&bytes, KEEPALIVED_V4, GROUP_V4, advert);
}

/// `advert_int 0.05` over IPv6 from a link-local source: 5 centiseconds.
#[test]
fn v3_ipv6_fast_advert() {
    let bytes = hex("3134 6401 0005 24c6 fd00 0077 0000 0000 0000 0000 0000 0100");
    let advert = Advertisement::V3(AdvertV3 {
        vrid: 52,
        priority: 100,
        max_advert_interval_centis: 5,
        addresses: Addresses::V6(vec!["fd00:77::100".parse::<Ipv6Addr>().unwrap()]),
    });
    assert_roundtrip(&bytes, keepalived_v6(), group_v6(), advert);
}

#[test]
fn v3_ipv6_shutdown_advert() {
    let bytes = hex("3134 0001 0005 88c6 fd00 0077 0000 0000 0000 0000 0000 0100");
    let advert = Advertisement::V3(AdvertV3 {
        vrid: 52,
        priority: 0,
        max_advert_interval_centis: 5,
        addresses: Addresses::V6(vec!["fd00:77::100".parse::<Ipv6Addr>().unwrap()]),
    });
    assert_roundtrip(&bytes, keepalived_v6(), group_v6(), advert);
}

/// `version 2` with `auth_type PASS`, `auth_pass secret12`.
#[test]
fn v2_simple_password_advert() {
    let bytes = hex("213d 7801 0101 ed86 0a4d 006e 7365 6372 6574 3132");
    let advert = Advertisement::V2(AdvertV2 {
        vrid: 61,
        priority: 120,
        advert_interval_secs: 1,
        auth: Auth::password("secret12"),
        addresses: vec![v4(110)],
    });
    assert_roundtrip(&bytes, KEEPALIVED_V4, GROUP_V4, advert);
}

#[test]
fn v2_simple_password_shutdown_advert() {
    let bytes = hex("213d 0001 0101 6587 0a4d 006e 7365 6372 6574 3132");
    let advert = Advertisement::V2(AdvertV2 {
        vrid: 61,
        priority: 0,
        advert_interval_secs: 1,
        auth: Auth::password("secret12"),
        addresses: vec![v4(110)],
    });
    assert_roundtrip(&bytes, KEEPALIVED_V4, GROUP_V4, advert);
}

/// `version 2` without authentication: keepalived still sends the 8 zero
/// bytes of authentication data, as RFC 3768 requires.
#[test]
fn v2_no_auth_two_addresses() {
    let bytes = hex("213e 6402 0002 6532 0a4d 0078 0a4d 0079 0000 0000 0000 0000");
    let advert = Advertisement::V2(AdvertV2 {
        vrid: 62,
        priority: 100,
        advert_interval_secs: 2,
        auth: Auth::None,
        addresses: vec![v4(120), v4(121)],
    });
    assert_roundtrip(&bytes, KEEPALIVED_V4, GROUP_V4, advert);
}

#[test]
fn v2_no_auth_shutdown_advert() {
    let bytes = hex("213e 0002 0002 c932 0a4d 0078 0a4d 0079 0000 0000 0000 0000");
    let decoded =
        Advertisement::decode(&bytes, KEEPALIVED_V4, GROUP_V4, ChecksumMode::default()).unwrap();
    assert_eq!(decoded.priority(), 0);
    assert_eq!(decoded.interval(), std::time::Duration::from_secs(2));
}

/// The VRRPv3 IPv4 checksum depends on the pseudo-header: decoding
/// keepalived's bytes as if they came from another source must fail, and the
/// message-only form yields a different checksum.
#[test]
fn v3_ipv4_checksum_covers_pseudo_header() {
    let bytes = hex("3133 6e01 0064 6ad9 0a4d 0064");
    let other_src = IpAddr::V4(v4(2));
    assert!(matches!(
        Advertisement::decode(&bytes, other_src, GROUP_V4, ChecksumMode::PseudoHeader),
        Err(DecodeError::BadChecksum { .. })
    ));
    assert!(matches!(
        Advertisement::decode(&bytes, KEEPALIVED_V4, GROUP_V4, ChecksumMode::MessageOnly),
        Err(DecodeError::BadChecksum { .. })
    ));
    let advert =
        Advertisement::decode(&bytes, KEEPALIVED_V4, GROUP_V4, ChecksumMode::PseudoHeader).unwrap();
    let message_only = advert
        .encode(other_src, GROUP_V4, ChecksumMode::MessageOnly)
        .unwrap();
    // Message-only checksum is independent of the addresses.
    assert_eq!(
        Advertisement::decode(
            &message_only,
            KEEPALIVED_V4,
            GROUP_V4,
            ChecksumMode::MessageOnly
        )
        .unwrap(),
        advert
    );
}

/// VRRPv2 never uses a pseudo-header, so the source does not matter.
#[test]
fn v2_checksum_ignores_addresses() {
    let bytes = hex("213d 7801 0101 ed86 0a4d 006e 7365 6372 6574 3132");
    let other_src = IpAddr::V4(v4(9));
    assert!(Advertisement::decode(&bytes, other_src, GROUP_V4, ChecksumMode::PseudoHeader).is_ok());
}
