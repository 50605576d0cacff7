//! Advertisements captured from Debian's keepalived 2.2.7 (bookworm), pinned
//! byte for byte in `vectors/keepalived.json`. `interop/keepalived.sh`
//! (root) reproduces the capture: it runs keepalived with
//! `interop/keepalived.conf` in a network namespace and records its adverts
//! with tcpdump from a peer namespace; the VRRP message is the payload after
//! the 20-byte IPv4 or 40-byte IPv6 header. Every vector must decode to the
//! expected advert and re-encode to the identical bytes, which proves
//! checksum and layout interop. (The same script checks the other direction
//! live: keepalived yields to adverts from our encoder.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hareconcile_vrrp::core::packet::{
    Addresses, AdvertV2, AdvertV3, Advertisement, Auth, ChecksumMode, DecodeError,
};
use serde::Deserialize;

const KEEPALIVED_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));
const GROUP_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

/// One captured advert: its bytes as sent from `src` to `dst`, and the
/// advert they must decode to. (`about` in the file says what keepalived
/// was configured with.)
#[derive(Deserialize)]
struct Vector {
    name: String,
    src: IpAddr,
    dst: IpAddr,
    bytes: String,
    advert: Expected,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expected {
    V3 {
        vrid: u8,
        priority: u8,
        max_advert_interval_centis: u16,
        addresses: Family,
    },
    V2 {
        vrid: u8,
        priority: u8,
        advert_interval_secs: u8,
        /// `auth_type PASS`; none without authentication.
        password: Option<String>,
        addresses: Vec<Ipv4Addr>,
    },
}

/// A VRRPv3 address list is of one family.
#[derive(Deserialize)]
#[serde(untagged)]
enum Family {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

impl Expected {
    fn advert(self) -> Advertisement {
        match self {
            Expected::V3 {
                vrid,
                priority,
                max_advert_interval_centis,
                addresses,
            } => Advertisement::V3(AdvertV3 {
                vrid,
                priority,
                max_advert_interval_centis,
                addresses: match addresses {
                    Family::V4(list) => Addresses::V4(list),
                    Family::V6(list) => Addresses::V6(list),
                },
            }),
            Expected::V2 {
                vrid,
                priority,
                advert_interval_secs,
                password,
                addresses,
            } => Advertisement::V2(AdvertV2 {
                vrid,
                priority,
                advert_interval_secs,
                auth: password.as_deref().map_or(Auth::None, Auth::password),
                addresses,
            }),
        }
    }
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("vectors/keepalived.json")).unwrap()
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

#[test]
fn every_captured_advert_decodes_and_reencodes_to_its_bytes() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 9, "a vector went missing from the file");
    for vector in vectors {
        let (bytes, expected) = (hex(&vector.bytes), vector.advert.advert());
        let mode = ChecksumMode::PseudoHeader;
        let decoded = Advertisement::decode(&bytes, vector.src, vector.dst, mode)
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert_eq!(decoded, expected, "{}", vector.name);
        let encoded = expected.encode(vector.src, vector.dst, mode).unwrap();
        assert_eq!(
            encoded, bytes,
            "{}: re-encoding must reproduce keepalived's bytes",
            vector.name
        );
    }
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
