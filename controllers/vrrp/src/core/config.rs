//! Configuration of one VRRP instance (one virtual router on one interface,
//! one address family).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

use crate::core::packet::{
    Addresses, AdvertV2, AdvertV3, Advertisement, Auth, ChecksumMode, Version,
    MAX_V3_INTERVAL_CENTIS,
};

/// The priority of the router that owns the virtual addresses (RFC 5798 §5.2.4).
pub const OWNER_PRIORITY: u8 = 255;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Virtual Router Identifier, 1-255.
    pub vrid: u8,
    pub version: Version,
    /// Configured priority: 1-254, or 255 for the address owner.
    pub priority: u8,
    /// Advertisement_Interval: whole seconds (1-255 s) for VRRPv2,
    /// centiseconds (10 ms-40.95 s) for VRRPv3.
    pub advert_interval: Duration,
    /// Whether a higher-priority backup takes over from a lower-priority
    /// master (`failback: auto`).
    pub preempt: bool,
    /// How long a higher-priority backup keeps following a lower-priority
    /// master before it takes over. Zero: take over as RFC 5798 does, by
    /// ignoring the lower adverts until Master_Down_Interval runs out.
    pub preempt_delay: Duration,
    /// RFC 5798 Accept_Mode: whether a non-owner master accepts packets sent
    /// to the virtual addresses. See [`InstanceConfig::accepts_traffic`].
    pub accept_mode: bool,
    /// This router's own address on the interface: the source of its adverts
    /// and the tie-breaker between equal priorities.
    pub primary_address: IpAddr,
    /// The virtual addresses, all of the primary address's family.
    pub virtual_addresses: Vec<IpAddr>,
    /// VRRPv2 only; VRRPv3 has no authentication.
    pub auth: Auth,
    pub checksum_mode: ChecksumMode,
    /// The only sources whose adverts count (`acceptFrom: members`: the
    /// Cluster's node addresses); `None`: any router on the link, as RFC
    /// 5798 has it.
    pub accept_from: Option<Vec<IpAddr>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("VRID must be 1-255, not 0")]
    ZeroVrid,
    #[error("priority must be 1-255 (0 is reserved for a master that is leaving)")]
    ZeroPriority,
    #[error("VRRPv2 advert interval must be whole seconds from 1s to 255s, got {0:?}")]
    V2Interval(Duration),
    #[error("VRRPv3 advert interval must be a multiple of 10ms from 10ms to 40.95s, got {0:?}")]
    V3Interval(Duration),
    #[error("at least one virtual address is needed")]
    NoVirtualAddresses,
    #[error("virtual address {0} is not of the primary address's family")]
    MixedFamilies(IpAddr),
    #[error("VRRPv2 is IPv4 only; use version 3 for IPv6")]
    V2OverIpv6,
    #[error("VRRPv3 has no authentication; remove it or use version 2")]
    AuthOnV3,
}

impl InstanceConfig {
    /// A VRRPv3 instance with keepalived's defaults: priority 100, 1 s
    /// adverts, preemption without delay, accept mode (as keepalived
    /// without `vrrp_strict`, and a VirtualIP by default).
    pub fn new(vrid: u8, primary_address: IpAddr, virtual_addresses: Vec<IpAddr>) -> Self {
        InstanceConfig {
            vrid,
            version: Version::V3,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: true,
            primary_address,
            virtual_addresses,
            auth: Auth::None,
            checksum_mode: ChecksumMode::default(),
            accept_from: None,
        }
    }

    /// Whether an advert from `src` counts: see [`InstanceConfig::accept_from`].
    pub fn accepts_adverts_from(&self, src: IpAddr) -> bool {
        self.accept_from
            .as_ref()
            .is_none_or(|members| members.contains(&src))
    }

    pub fn is_owner(&self) -> bool {
        self.priority == OWNER_PRIORITY
    }

    /// Whether this router, as master, accepts packets addressed to the
    /// virtual addresses: with Accept_Mode, or as their owner, which always
    /// does (RFC 5798 §6.4.3).
    pub fn accepts_traffic(&self) -> bool {
        self.accept_mode || self.is_owner()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::ZeroVrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::ZeroPriority);
        }
        let interval = self.advert_interval;
        match self.version {
            Version::V2 => {
                let whole = interval.subsec_nanos() == 0;
                if !whole || !(1..=255).contains(&interval.as_secs()) {
                    return Err(ConfigError::V2Interval(interval));
                }
                if self.primary_address.is_ipv6() {
                    return Err(ConfigError::V2OverIpv6);
                }
            }
            Version::V3 => {
                let centis = interval.as_nanos() / 10_000_000;
                let exact = interval.as_nanos() % 10_000_000 == 0;
                if !exact || !(1..=u128::from(MAX_V3_INTERVAL_CENTIS)).contains(&centis) {
                    return Err(ConfigError::V3Interval(interval));
                }
                if self.auth != Auth::None {
                    return Err(ConfigError::AuthOnV3);
                }
            }
        }
        if self.virtual_addresses.is_empty() {
            return Err(ConfigError::NoVirtualAddresses);
        }
        if let Some(odd) = self
            .virtual_addresses
            .iter()
            .find(|vip| vip.is_ipv4() != self.primary_address.is_ipv4())
        {
            return Err(ConfigError::MixedFamilies(*odd));
        }
        Ok(())
    }

    /// The advertisement this instance sends with `priority` (its effective
    /// priority, or 0 when leaving). Assumes a validated config, whose
    /// addresses are of one family.
    pub fn advertisement(&self, priority: u8) -> Advertisement {
        match self.version {
            Version::V2 => Advertisement::V2(AdvertV2 {
                vrid: self.vrid,
                priority,
                advert_interval_secs: self.advert_interval.as_secs().min(255) as u8,
                auth: self.auth,
                addresses: by_family(&self.virtual_addresses).0,
            }),
            Version::V3 => {
                let centis = (self.advert_interval.as_millis() / 10)
                    .min(u128::from(MAX_V3_INTERVAL_CENTIS)) as u16;
                let addresses = if self.primary_address.is_ipv4() {
                    Addresses::V4(by_family(&self.virtual_addresses).0)
                } else {
                    Addresses::V6(by_family(&self.virtual_addresses).1)
                };
                Advertisement::V3(AdvertV3 {
                    vrid: self.vrid,
                    priority,
                    max_advert_interval_centis: centis,
                    addresses,
                })
            }
        }
    }
}

/// `addresses` split by family, each in the order given.
pub(crate) fn by_family(addresses: &[IpAddr]) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for address in addresses {
        match address {
            IpAddr::V4(a) => v4.push(*a),
            IpAddr::V6(a) => v6.push(*a),
        }
    }
    (v4, v6)
}

/// An address written as text, for tests of the core.
#[cfg(test)]
pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[cfg(test)]
impl InstanceConfig {
    /// The router of the core's tests: vrid 51 at `own` for 10.77.0.100.
    pub(crate) fn lab(own: &str) -> InstanceConfig {
        InstanceConfig::new(51, ip(own), vec![ip("10.77.0.100")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> InstanceConfig {
        InstanceConfig::lab("10.77.0.1")
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(base().validate(), Ok(()));
    }

    #[test]
    fn interval_units_follow_the_version() {
        let mut config = base();
        config.advert_interval = Duration::from_millis(50);
        assert_eq!(config.validate(), Ok(()));
        config.advert_interval = Duration::from_millis(55);
        assert!(matches!(config.validate(), Err(ConfigError::V3Interval(_))));
        config.advert_interval = Duration::from_millis(40_960);
        assert!(matches!(config.validate(), Err(ConfigError::V3Interval(_))));
        config.version = Version::V2;
        config.advert_interval = Duration::from_millis(1500);
        assert!(matches!(config.validate(), Err(ConfigError::V2Interval(_))));
        config.advert_interval = Duration::from_secs(2);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn families_and_auth_are_checked() {
        let mut config = base();
        config.virtual_addresses.push(ip("fd00::1"));
        assert_eq!(
            config.validate(),
            Err(ConfigError::MixedFamilies(ip("fd00::1")))
        );
        let mut config = base();
        config.auth = Auth::password("x");
        assert_eq!(config.validate(), Err(ConfigError::AuthOnV3));
        config.version = Version::V2;
        assert_eq!(config.validate(), Ok(()));
        let mut config = InstanceConfig::new(1, ip("fe80::1"), vec![ip("fd00::1")]);
        config.version = Version::V2;
        assert_eq!(config.validate(), Err(ConfigError::V2OverIpv6));
    }

    #[test]
    fn advertisement_matches_keepalived_layout() {
        let advert = base().advertisement(110);
        assert_eq!(advert.priority(), 110);
        assert_eq!(advert.interval(), Duration::from_secs(1));
        assert_eq!(advert.addresses(), vec![ip("10.77.0.100")]);
    }
}
