//! Feeds arbitrary bytes to the advertisement decoder as IPv4 and IPv6, in
//! both checksum modes. It must never panic, and whatever it accepts must
//! re-encode to the very same bytes (decode is the inverse of encode).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hareconcile_vrrp::core::packet::{Advertisement, ChecksumMode, MULTICAST_V4, MULTICAST_V6};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|message: &[u8]| {
    let pairs = [
        (IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)), IpAddr::V4(MULTICAST_V4)),
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(MULTICAST_V6),
        ),
    ];
    for (src, dst) in pairs {
        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::MessageOnly] {
            if let Ok(advert) = Advertisement::decode(message, src, dst, mode) {
                let encoded = advert.encode(src, dst, mode).expect("decoded adverts encode");
                let again = Advertisement::decode(&encoded, src, dst, mode);
                assert_eq!(again.as_ref(), Ok(&advert));
                if is_canonical(message) {
                    assert_eq!(encoded, message, "lossless for canonical input");
                }
            }
        }
    }
});

/// Whether re-encoding must reproduce the bytes exactly: decoding drops the
/// VRRPv3 reserved bits and the VRRPv2 auth data of auth type 0.
fn is_canonical(message: &[u8]) -> bool {
    match message[0] >> 4 {
        3 => message[4] & 0xf0 == 0,
        _ => message[4] == 1 || message[message.len() - 8..].iter().all(|b| *b == 0),
    }
}
