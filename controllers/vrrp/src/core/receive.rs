//! Receive-side validation (RFC 3768 §7.1, RFC 5798 §7.1) that turns a raw
//! message from the shell's socket into an [`Input::AdvertReceived`].

use std::net::IpAddr;

use thiserror::Error;

use crate::core::config::InstanceConfig;
use crate::core::events::{Input, Warning};
use crate::core::packet::{ttl_is_valid, Advertisement, DecodeError, Version};

/// Why a received message was dropped before reaching the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RxError {
    #[error("TTL / hop limit {0}: adverts must arrive with 255 (sent off-link?)")]
    BadTtl(u8),
    #[error("our own advert looped back")]
    OwnAdvert,
    #[error("sent over the other address family than this instance")]
    WrongFamily,
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("VRRP version {theirs:?} advert, this instance speaks {ours:?}")]
    VersionMismatch { ours: Version, theirs: Version },
    #[error("advert for VRID {0}, not this instance's")]
    OtherVrid(u8),
    #[error("VRRPv2 authentication does not match")]
    AuthMismatch,
    #[error("advert interval is zero")]
    ZeroInterval,
}

/// Why a message was dropped, as counted per instance (status
/// `counters.dropped` and the `reason` label of
/// `hareconcile_vrrp_dropped_adverts_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// TTL / hop limit other than 255.
    Ttl,
    /// The checksum does not match.
    Checksum,
    /// VRRPv2 authentication differs (password or type).
    Auth,
    /// Another virtual router's advert. The socket's kernel filter keeps
    /// most of them away, so few are ever counted.
    Vrid,
    /// The other VRRP version.
    Version,
    /// Truncated, inconsistent or otherwise undecodable.
    Malformed,
    /// Our own advert, or one over the other address family.
    NotForUs,
    /// From a host that is not a peer: unicast transport's peers, or the
    /// members of `acceptFrom: members`.
    NotPeer,
    /// A valid advert the state machine ignored: another address list
    /// or (VRRPv2) another advert interval.
    Mismatch,
}

impl DropReason {
    pub const ALL: [DropReason; 9] = [
        DropReason::Ttl,
        DropReason::Checksum,
        DropReason::Auth,
        DropReason::Vrid,
        DropReason::Version,
        DropReason::Malformed,
        DropReason::NotForUs,
        DropReason::NotPeer,
        DropReason::Mismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Ttl => "ttl",
            DropReason::Checksum => "checksum",
            DropReason::Auth => "auth",
            DropReason::Vrid => "vrid",
            DropReason::Version => "version",
            DropReason::Malformed => "malformed",
            DropReason::NotForUs => "notForUs",
            DropReason::NotPeer => "notPeer",
            DropReason::Mismatch => "mismatch",
        }
    }
}

impl Warning {
    /// Why an advert the core warned about was dropped; `None` for
    /// warnings about other inputs.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Warning::NotMember { .. } => Some(DropReason::NotPeer),
            Warning::AddressListMismatch { .. } | Warning::AdvertIntervalMismatch { .. } => {
                Some(DropReason::Mismatch)
            }
            Warning::OwnerCannotBeBackup => None,
        }
    }
}

impl RxError {
    pub fn reason(&self) -> DropReason {
        match self {
            RxError::BadTtl(_) => DropReason::Ttl,
            RxError::OwnAdvert | RxError::WrongFamily => DropReason::NotForUs,
            RxError::Decode(DecodeError::BadChecksum { .. }) => DropReason::Checksum,
            RxError::Decode(DecodeError::BadAuthType(_)) | RxError::AuthMismatch => {
                DropReason::Auth
            }
            RxError::Decode(DecodeError::BadVersion(_)) | RxError::VersionMismatch { .. } => {
                DropReason::Version
            }
            RxError::Decode(_) | RxError::ZeroInterval => DropReason::Malformed,
            RxError::OtherVrid(_) => DropReason::Vrid,
        }
    }
}

/// Validates a VRRP message that arrived with `ttl` from `src` to `dst` and
/// returns the input to feed to the instance configured by `config`.
pub fn receive(
    config: &InstanceConfig,
    ttl: u8,
    src: IpAddr,
    dst: IpAddr,
    message: &[u8],
) -> Result<Input, RxError> {
    if !ttl_is_valid(ttl) {
        return Err(RxError::BadTtl(ttl));
    }
    if src == config.primary_address {
        return Err(RxError::OwnAdvert);
    }
    if src.is_ipv4() != config.primary_address.is_ipv4() {
        return Err(RxError::WrongFamily);
    }
    let advert = Advertisement::decode(message, src, dst, config.checksum_mode)?;
    if advert.version() != config.version {
        return Err(RxError::VersionMismatch {
            ours: config.version,
            theirs: advert.version(),
        });
    }
    if advert.vrid() != config.vrid {
        return Err(RxError::OtherVrid(advert.vrid()));
    }
    if let Advertisement::V2(v2) = &advert {
        if v2.auth != config.auth {
            return Err(RxError::AuthMismatch);
        }
    }
    if advert.interval().is_zero() {
        // Learning a zero interval would make Master_Down almost instant.
        return Err(RxError::ZeroInterval);
    }
    Ok(Input::AdvertReceived {
        src,
        priority: advert.priority(),
        max_advert_interval: advert.interval(),
        addresses: advert.addresses(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::config::ip;
    use crate::core::packet::{Auth, ChecksumMode, MULTICAST_V4};

    fn config() -> InstanceConfig {
        InstanceConfig::lab("10.77.0.2")
    }

    fn from_peer(peer: &InstanceConfig) -> Vec<u8> {
        peer.advertisement(110)
            .encode(
                peer.primary_address,
                MULTICAST_V4.into(),
                ChecksumMode::default(),
            )
            .unwrap()
    }

    fn peer() -> InstanceConfig {
        InstanceConfig::lab("10.77.0.1")
    }

    #[test]
    fn valid_advert_becomes_input() {
        let input = receive(
            &config(),
            255,
            ip("10.77.0.1"),
            ip("224.0.0.18"),
            &from_peer(&peer()),
        );
        assert_eq!(
            input,
            Ok(Input::AdvertReceived {
                src: ip("10.77.0.1"),
                priority: 110,
                max_advert_interval: Duration::from_secs(1),
                addresses: vec![ip("10.77.0.100")],
            })
        );
    }

    #[test]
    fn drops_are_explained() {
        let bytes = from_peer(&peer());
        let (src, dst) = (ip("10.77.0.1"), ip("224.0.0.18"));
        assert_eq!(
            receive(&config(), 64, src, dst, &bytes),
            Err(RxError::BadTtl(64))
        );
        assert_eq!(
            receive(&config(), 255, ip("10.77.0.2"), dst, &bytes),
            Err(RxError::OwnAdvert)
        );
        let mut other = peer();
        other.vrid = 52;
        assert_eq!(
            receive(&config(), 255, src, dst, &from_peer(&other)),
            Err(RxError::OtherVrid(52))
        );
        let mut v2 = config();
        v2.version = Version::V2;
        assert_eq!(
            receive(&v2, 255, src, dst, &bytes),
            Err(RxError::VersionMismatch {
                ours: Version::V2,
                theirs: Version::V3
            })
        );
        assert!(matches!(
            receive(&config(), 255, src, dst, &bytes[..7]),
            Err(RxError::Decode(DecodeError::TooShort { .. }))
        ));
    }

    #[test]
    fn v2_password_must_match() {
        let mut ours = config();
        ours.version = Version::V2;
        ours.auth = Auth::password("secret12");
        let mut theirs = peer();
        theirs.version = Version::V2;
        theirs.auth = Auth::password("secret12");
        let (src, dst) = (ip("10.77.0.1"), ip("224.0.0.18"));
        assert!(receive(&ours, 255, src, dst, &from_peer(&theirs)).is_ok());
        theirs.auth = Auth::password("wrong");
        let dropped = receive(&ours, 255, src, dst, &from_peer(&theirs));
        assert_eq!(dropped, Err(RxError::AuthMismatch));
        assert_eq!(dropped.unwrap_err().reason(), DropReason::Auth);
    }

    #[test]
    fn every_drop_has_a_counted_reason() {
        let bytes = from_peer(&peer());
        let (src, dst) = (ip("10.77.0.1"), ip("224.0.0.18"));
        let reason = |config: &InstanceConfig, ttl, message: &[u8]| {
            receive(config, ttl, src, dst, message)
                .unwrap_err()
                .reason()
        };
        assert_eq!(reason(&config(), 64, &bytes), DropReason::Ttl);
        let mut corrupt = bytes.clone();
        corrupt[6] ^= 0xff;
        assert_eq!(reason(&config(), 255, &corrupt), DropReason::Checksum);
        let mut other = peer();
        other.vrid = 52;
        assert_eq!(reason(&config(), 255, &from_peer(&other)), DropReason::Vrid);
        let mut v2 = config();
        v2.version = Version::V2;
        assert_eq!(reason(&v2, 255, &bytes), DropReason::Version);
        assert_eq!(reason(&config(), 255, &bytes[..7]), DropReason::Malformed);
        let names: std::collections::BTreeSet<&str> =
            DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), DropReason::ALL.len(), "labels are distinct");
    }
}
