//! VRRP advertisement wire format: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798).
//!
//! Only the VRRP message is handled here, not the IP header around it: the
//! shell reads the source and destination addresses and the TTL / hop limit
//! from its socket and passes them in. The addresses are needed because the
//! VRRPv3 checksum covers an IP pseudo-header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

/// IP protocol number of VRRP (both versions), used in the pseudo-header.
pub const IP_PROTOCOL: u8 = 112;
/// IPv4 multicast group adverts are sent to (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group adverts are sent to (RFC 5798 §5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The only TTL / hop limit a valid advert may arrive with: routers never
/// forward VRRP, so anything lower came from off-link (RFC 5798 §7.1).
pub const REQUIRED_TTL: u8 = 255;

/// Largest VRRPv3 Max Advertise Interval: the field is 12 bits of centiseconds.
pub const MAX_V3_INTERVAL_CENTIS: u16 = 0x0fff;

const HEADER_LEN: usize = 8;
const V2_AUTH_LEN: usize = 8;
const TYPE_ADVERTISEMENT: u8 = 1;

/// The IP-layer receive rule the shell must apply before decoding: the
/// packet's TTL (IPv4) or hop limit (IPv6) must be exactly 255.
pub fn ttl_is_valid(ttl_or_hop_limit: u8) -> bool {
    ttl_or_hop_limit == REQUIRED_TTL
}

/// Which VRRP protocol version an instance speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in whole seconds, optional plain-text password.
    V2,
    /// RFC 5798: IPv4 and IPv6, interval in centiseconds, no authentication.
    V3,
}

/// VRRPv2 authentication (RFC 3768 §5.3.6). Type 2 (IP AH) is not supported:
/// it wraps the message in an AH header, which is the shell's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Auth type 0: the 8-byte data field is sent as zeros and ignored on receipt.
    None,
    /// Auth type 1 ("PASS" in keepalived): the password, NUL padded to 8 bytes.
    SimplePassword([u8; 8]),
}

impl Auth {
    /// Builds a simple-password auth from a string as keepalived does:
    /// at most 8 bytes are significant, shorter passwords are NUL padded.
    pub fn password(text: &str) -> Auth {
        let mut data = [0u8; 8];
        let len = text.len().min(8);
        data[..len].copy_from_slice(&text.as_bytes()[..len]);
        Auth::SimplePassword(data)
    }

    fn type_code(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::SimplePassword(_) => 1,
        }
    }
}

/// How the VRRPv3 checksum is computed for IPv4. IPv6 always includes the
/// pseudo-header, and VRRPv2 never does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumMode {
    /// RFC 5798 as implemented by keepalived (since 1.3.6) and FRR: the IPv4
    /// pseudo-header (source, destination, zero, protocol, length) is summed
    /// before the message.
    #[default]
    PseudoHeader,
    /// VRRPv3 over IPv4 sums the VRRP message only, like VRRPv2, as some
    /// implementations do. Select it per instance when a peer sends it.
    MessageOnly,
}

/// A VRRPv2 advertisement (RFC 3768 §5.1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            .                                  |
/// |                            .                                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (n)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The checksum covers the VRRP message only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdvertV2 {
    pub vrid: u8,
    pub priority: u8,
    /// Adver Int, in whole seconds.
    pub advert_interval_secs: u8,
    pub auth: Auth,
    pub addresses: Vec<Ipv4Addr>,
}

/// A VRRPv3 advertisement (RFC 5798 §5.1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    IPv4 Fields or IPv6 Fields                 |
/// ...                                                             ...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                       IPvX Address(es)                        |
/// +                                                               +
/// +                                                               +
/// +                                                               +
/// +                                                               +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The checksum covers an IP pseudo-header plus the message (see
/// [`ChecksumMode`] for the IPv4 exception).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdvertV3 {
    pub vrid: u8,
    pub priority: u8,
    /// Max Adver Int, in centiseconds (12 bits).
    pub max_advert_interval_centis: u16,
    pub addresses: Addresses,
}

/// The address list of a VRRPv3 advert: one family per message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addresses {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

impl Addresses {
    fn len(&self) -> usize {
        match self {
            Addresses::V4(list) => list.len(),
            Addresses::V6(list) => list.len(),
        }
    }

    fn to_ip_addrs(&self) -> Vec<IpAddr> {
        match self {
            Addresses::V4(list) => list.iter().copied().map(IpAddr::V4).collect(),
            Addresses::V6(list) => list.iter().copied().map(IpAddr::V6).collect(),
        }
    }
}

/// A decoded VRRP advertisement of either version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Advertisement {
    V2(AdvertV2),
    V3(AdvertV3),
}

/// Why a received message is not a valid advertisement.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("message is {len} bytes, shorter than the {needed}-byte minimum")]
    TooShort { len: usize, needed: usize },
    #[error("unsupported VRRP version {0} (only 2 and 3 are spoken)")]
    BadVersion(u8),
    #[error("unknown VRRP message type {0} (only 1, ADVERTISEMENT, exists)")]
    BadType(u8),
    #[error("address count {count} needs a {expected}-byte message, got {len} bytes")]
    AddressCountMismatch {
        count: u8,
        expected: usize,
        len: usize,
    },
    #[error("bad checksum: message carries {found:#06x}, computed {expected:#06x}")]
    BadChecksum { found: u16, expected: u16 },
    #[error("unsupported VRRPv2 authentication type {0}")]
    BadAuthType(u8),
    #[error("VRRPv2 is defined for IPv4 only")]
    V2OverIpv6,
    #[error("source and destination addresses are of different families")]
    MixedFamilies,
}

/// Why an advertisement cannot be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("{0} addresses do not fit the 8-bit count field")]
    TooManyAddresses(usize),
    #[error("max advert interval {0} cs does not fit the 12-bit field")]
    IntervalTooLarge(u16),
    #[error("the advert's addresses and the IP source/destination differ in family")]
    FamilyMismatch,
}

impl Advertisement {
    pub fn version(&self) -> Version {
        match self {
            Advertisement::V2(_) => Version::V2,
            Advertisement::V3(_) => Version::V3,
        }
    }

    pub fn vrid(&self) -> u8 {
        match self {
            Advertisement::V2(a) => a.vrid,
            Advertisement::V3(a) => a.vrid,
        }
    }

    pub fn priority(&self) -> u8 {
        match self {
            Advertisement::V2(a) => a.priority,
            Advertisement::V3(a) => a.priority,
        }
    }

    /// The advertisement interval the sender announces, whatever its unit on the wire.
    pub fn interval(&self) -> Duration {
        match self {
            Advertisement::V2(a) => Duration::from_secs(a.advert_interval_secs.into()),
            Advertisement::V3(a) => {
                Duration::from_millis(u64::from(a.max_advert_interval_centis) * 10)
            }
        }
    }

    pub fn addresses(&self) -> Vec<IpAddr> {
        match self {
            Advertisement::V2(a) => a.addresses.iter().copied().map(IpAddr::V4).collect(),
            Advertisement::V3(a) => a.addresses.to_ip_addrs(),
        }
    }

    /// Encodes the VRRP message. `src` and `dst` are the IP addresses the
    /// packet will carry; VRRPv3 needs them for the checksum pseudo-header.
    pub fn encode(
        &self,
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + 16 * 4 + V2_AUTH_LEN);
        match self {
            Advertisement::V2(a) => {
                let count = address_count(a.addresses.len())?;
                out.extend_from_slice(&[
                    0x20 | TYPE_ADVERTISEMENT,
                    a.vrid,
                    a.priority,
                    count,
                    a.auth.type_code(),
                    a.advert_interval_secs,
                    0,
                    0,
                ]);
                for addr in &a.addresses {
                    out.extend_from_slice(&addr.octets());
                }
                match a.auth {
                    Auth::None => out.extend_from_slice(&[0; V2_AUTH_LEN]),
                    Auth::SimplePassword(data) => out.extend_from_slice(&data),
                }
                let sum = checksum(&[&out]);
                out[6..8].copy_from_slice(&sum.to_be_bytes());
            }
            Advertisement::V3(a) => {
                let count = address_count(a.addresses.len())?;
                if a.max_advert_interval_centis > MAX_V3_INTERVAL_CENTIS {
                    return Err(EncodeError::IntervalTooLarge(a.max_advert_interval_centis));
                }
                let same_family = match a.addresses {
                    Addresses::V4(_) => src.is_ipv4() && dst.is_ipv4(),
                    Addresses::V6(_) => src.is_ipv6() && dst.is_ipv6(),
                };
                if !same_family {
                    return Err(EncodeError::FamilyMismatch);
                }
                let [interval_hi, interval_lo] = a.max_advert_interval_centis.to_be_bytes();
                out.extend_from_slice(&[
                    0x30 | TYPE_ADVERTISEMENT,
                    a.vrid,
                    a.priority,
                    count,
                    interval_hi,
                    interval_lo,
                    0,
                    0,
                ]);
                match &a.addresses {
                    Addresses::V4(list) => list.iter().for_each(|x| out.extend(x.octets())),
                    Addresses::V6(list) => list.iter().for_each(|x| out.extend(x.octets())),
                }
                let sum = v3_checksum(&out, src, dst, mode);
                out[6..8].copy_from_slice(&sum.to_be_bytes());
            }
        }
        Ok(out)
    }

    /// Decodes and validates a VRRP message. `src` and `dst` are the IP
    /// addresses it arrived with (they select the address family and feed the
    /// VRRPv3 pseudo-header). The TTL rule is checked separately with
    /// [`ttl_is_valid`].
    pub fn decode(
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<Advertisement, DecodeError> {
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(DecodeError::MixedFamilies);
        }
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort {
                len: bytes.len(),
                needed: HEADER_LEN,
            });
        }
        let version = bytes[0] >> 4;
        let kind = bytes[0] & 0x0f;
        let vrid = bytes[1];
        let priority = bytes[2];
        let count = bytes[3];
        let found_checksum = u16::from_be_bytes([bytes[6], bytes[7]]);
        let addr_len = if src.is_ipv4() { 4 } else { 16 };
        let trailer = match version {
            2 if src.is_ipv6() => return Err(DecodeError::V2OverIpv6),
            2 => V2_AUTH_LEN,
            3 => 0,
            other => return Err(DecodeError::BadVersion(other)),
        };
        if kind != TYPE_ADVERTISEMENT {
            return Err(DecodeError::BadType(kind));
        }
        let expected = HEADER_LEN + usize::from(count) * addr_len + trailer;
        if bytes.len() != expected {
            return Err(DecodeError::AddressCountMismatch {
                count,
                expected,
                len: bytes.len(),
            });
        }
        let computed = if version == 2 {
            checksum(&[&bytes[..6], &bytes[8..]])
        } else {
            let mut zeroed = bytes.to_vec();
            zeroed[6..8].fill(0);
            v3_checksum(&zeroed, src, dst, mode)
        };
        if computed != found_checksum {
            return Err(DecodeError::BadChecksum {
                found: found_checksum,
                expected: computed,
            });
        }
        let body = &bytes[HEADER_LEN..HEADER_LEN + usize::from(count) * addr_len];
        if version == 2 {
            let auth = match bytes[4] {
                0 => Auth::None,
                1 => {
                    let mut data = [0u8; V2_AUTH_LEN];
                    data.copy_from_slice(&bytes[expected - V2_AUTH_LEN..]);
                    Auth::SimplePassword(data)
                }
                other => return Err(DecodeError::BadAuthType(other)),
            };
            Ok(Advertisement::V2(AdvertV2 {
                vrid,
                priority,
                advert_interval_secs: bytes[5],
                auth,
                addresses: body.chunks_exact(4).map(ipv4_from).collect(),
            }))
        } else {
            // The 4 reserved bits above the interval are ignored on receipt.
            let max_advert_interval_centis = u16::from_be_bytes([bytes[4], bytes[5]]) & 0x0fff;
            let addresses = if src.is_ipv4() {
                Addresses::V4(body.chunks_exact(4).map(ipv4_from).collect())
            } else {
                Addresses::V6(body.chunks_exact(16).map(ipv6_from).collect())
            };
            Ok(Advertisement::V3(AdvertV3 {
                vrid,
                priority,
                max_advert_interval_centis,
                addresses,
            }))
        }
    }
}

fn address_count(len: usize) -> Result<u8, EncodeError> {
    u8::try_from(len).map_err(|_| EncodeError::TooManyAddresses(len))
}

fn ipv4_from(chunk: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])
}

fn ipv6_from(chunk: &[u8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(chunk);
    Ipv6Addr::from(octets)
}

/// VRRPv3 checksum of `message` (whose checksum field is zero) with the
/// pseudo-header RFC 5798 §5.2.8 asks for: RFC 8200 §8.1 for IPv6, the
/// RFC 768 layout for IPv4.
fn v3_checksum(message: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> u16 {
    // Message lengths are bounded by 8 + 255 * 16 bytes, far below u16::MAX.
    let len = message.len() as u16;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) if mode == ChecksumMode::PseudoHeader => {
            let [len_hi, len_lo] = len.to_be_bytes();
            let tail = [0, IP_PROTOCOL, len_hi, len_lo];
            checksum(&[&s.octets(), &d.octets(), &tail, message])
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let [len_hi, len_lo] = len.to_be_bytes();
            let tail = [0, 0, len_hi, len_lo, 0, 0, 0, IP_PROTOCOL];
            checksum(&[&s.octets(), &d.octets(), &tail, message])
        }
        _ => checksum(&[message]),
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`. Every
/// part but the last has an even length, so byte pairs never straddle parts.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rule_accepts_only_255() {
        assert!(ttl_is_valid(255));
        assert!(!ttl_is_valid(254));
        assert!(!ttl_is_valid(1));
        assert!(!ttl_is_valid(0));
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (complement 220d).
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));
    const DST: IpAddr = IpAddr::V4(MULTICAST_V4);

    fn v3_sample() -> Vec<u8> {
        Advertisement::V3(AdvertV3 {
            vrid: 7,
            priority: 100,
            max_advert_interval_centis: 100,
            addresses: Addresses::V4(vec![Ipv4Addr::new(10, 77, 0, 100)]),
        })
        .encode(SRC, DST, ChecksumMode::PseudoHeader)
        .unwrap()
    }

    fn decode(bytes: &[u8]) -> Result<Advertisement, DecodeError> {
        Advertisement::decode(bytes, SRC, DST, ChecksumMode::PseudoHeader)
    }

    #[test]
    fn decode_errors_are_distinguished() {
        let good = v3_sample();
        assert!(decode(&good).is_ok());
        assert_eq!(
            decode(&good[..5]),
            Err(DecodeError::TooShort { len: 5, needed: 8 })
        );
        let mut bad_version = good.clone();
        bad_version[0] = 0x41;
        assert_eq!(decode(&bad_version), Err(DecodeError::BadVersion(4)));
        let mut bad_type = good.clone();
        bad_type[0] = 0x32;
        assert_eq!(decode(&bad_type), Err(DecodeError::BadType(2)));
        let mut bad_count = good.clone();
        bad_count[3] = 2;
        assert_eq!(
            decode(&bad_count),
            Err(DecodeError::AddressCountMismatch {
                count: 2,
                expected: 16,
                len: 12
            })
        );
        let mut bad_sum = good.clone();
        bad_sum[2] = 101;
        assert!(matches!(
            decode(&bad_sum),
            Err(DecodeError::BadChecksum { .. })
        ));
        let v6 = IpAddr::V6(MULTICAST_V6);
        assert_eq!(
            Advertisement::decode(&good, SRC, v6, ChecksumMode::PseudoHeader),
            Err(DecodeError::MixedFamilies)
        );
    }

    #[test]
    fn v3_reserved_bits_are_ignored() {
        let mut bytes = v3_sample();
        bytes[4] |= 0xf0;
        // Fix up the checksum for the changed word: the reserved bits are
        // still covered by it, only their meaning is ignored.
        bytes[6..8].fill(0);
        let sum = v3_checksum(&bytes, SRC, DST, ChecksumMode::PseudoHeader);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(decode(&bytes).unwrap().interval(), Duration::from_secs(1));
    }

    #[test]
    fn v2_rejects_ah_auth_and_ipv6() {
        let advert = Advertisement::V2(AdvertV2 {
            vrid: 1,
            priority: 100,
            advert_interval_secs: 1,
            auth: Auth::None,
            addresses: vec![Ipv4Addr::new(10, 0, 0, 1)],
        });
        let mut bytes = advert.encode(SRC, DST, ChecksumMode::default()).unwrap();
        bytes[4] = 2;
        bytes[6..8].fill(0);
        let sum = checksum(&[&bytes]);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(decode(&bytes), Err(DecodeError::BadAuthType(2)));
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            Advertisement::decode(
                &bytes,
                v6,
                IpAddr::V6(MULTICAST_V6),
                ChecksumMode::default()
            ),
            Err(DecodeError::V2OverIpv6)
        );
    }

    #[test]
    fn encode_rejects_what_the_wire_cannot_carry() {
        let too_slow = Advertisement::V3(AdvertV3 {
            vrid: 1,
            priority: 100,
            max_advert_interval_centis: 4096,
            addresses: Addresses::V4(vec![]),
        });
        assert_eq!(
            too_slow.encode(SRC, DST, ChecksumMode::default()),
            Err(EncodeError::IntervalTooLarge(4096))
        );
        let v6_addresses = Advertisement::V3(AdvertV3 {
            vrid: 1,
            priority: 100,
            max_advert_interval_centis: 100,
            addresses: Addresses::V6(vec![Ipv6Addr::LOCALHOST]),
        });
        assert_eq!(
            v6_addresses.encode(SRC, DST, ChecksumMode::default()),
            Err(EncodeError::FamilyMismatch)
        );
        let many = Advertisement::V2(AdvertV2 {
            vrid: 1,
            priority: 100,
            advert_interval_secs: 1,
            auth: Auth::None,
            addresses: vec![Ipv4Addr::LOCALHOST; 256],
        });
        assert_eq!(
            many.encode(SRC, DST, ChecksumMode::default()),
            Err(EncodeError::TooManyAddresses(256))
        );
    }

    #[test]
    fn odd_length_is_padded_with_zero() {
        assert_eq!(checksum(&[&[0x12]]), !0x1200);
    }
}
