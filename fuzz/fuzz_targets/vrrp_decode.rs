//! The VRRP decoder on any packet, as anyone on the LAN can send one: an
//! advertisement or a reason to drop it, never a panic; what it accepts
//! encodes back to the same advertisement.
//!
//! The first byte picks the family the packet arrived with and the
//! VRRPv3 checksum mode; the rest is the VRRP message.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hareconcile_vrrp::core::packet::{Advertisement, ChecksumMode};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let (src, dst) = if selector & 1 == 0 {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        )
    } else {
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        )
    };
    let mode = if selector & 2 == 0 {
        ChecksumMode::PseudoHeader
    } else {
        ChecksumMode::MessageOnly
    };
    if let Ok(advert) = Advertisement::decode(message, src, dst, mode) {
        let encoded = advert
            .encode(src, dst, mode)
            .expect("a decoded advertisement encodes");
        let again = Advertisement::decode(&encoded, src, dst, mode).expect("and decodes again");
        assert_eq!(again, advert);
    }
});
