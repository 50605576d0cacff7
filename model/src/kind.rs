//! The four kinds of object a user can declare.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The API group and version every object carries in `apiVersion`.
pub const API_VERSION: &str = "hareconcile.io/v1alpha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Cluster,
    VirtualIP,
    Service,
    Replication,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Cluster,
        Kind::VirtualIP,
        Kind::Service,
        Kind::Replication,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "Cluster",
            Kind::VirtualIP => "VirtualIP",
            Kind::Service => "Service",
            Kind::Replication => "Replication",
        }
    }

    /// Lower-case plural used in API paths and accepted on the command line.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Cluster => "clusters",
            Kind::VirtualIP => "virtualips",
            Kind::Service => "services",
            Kind::Replication => "replications",
        }
    }

    /// Kinds are applied in this order so that references resolve
    /// (a Service names a VirtualIP, which names a Cluster).
    pub fn apply_order(self) -> u8 {
        match self {
            Kind::Cluster => 0,
            Kind::VirtualIP => 1,
            Kind::Replication => 2,
            Kind::Service => 3,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    /// Names the kind a typo most likely meant (`VirtualIp2`, `services2`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown kind {:?}: ", self.0)?;
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let plurals: Vec<&str> = Kind::ALL.iter().map(|k| k.plural()).collect();
        let meant = [names, plurals, vec!["vip", "svc", "repl"]]
            .iter()
            .find_map(|spellings| crate::validate::closest(&self.0, spellings))
            .and_then(|spelling| spelling.parse::<Kind>().ok());
        if let Some(kind) = meant {
            write!(f, "did you mean {kind}? ")?;
        }
        f.write_str("use one of Cluster, VirtualIP (vip), Service (svc), Replication (repl)")
    }
}

impl FromStr for Kind {
    type Err = UnknownKind;

    /// Accepts the kind as written in manifests plus the kubectl-style
    /// singular, plural and short forms people type on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cluster" | "clusters" => Ok(Kind::Cluster),
            "virtualip" | "virtualips" | "vip" | "vips" => Ok(Kind::VirtualIP),
            "service" | "services" | "svc" => Ok(Kind::Service),
            "replication" | "replications" | "repl" => Ok(Kind::Replication),
            _ => Err(UnknownKind(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_people_type() {
        for (input, kind) in [
            ("VirtualIP", Kind::VirtualIP),
            ("vip", Kind::VirtualIP),
            ("virtualips", Kind::VirtualIP),
            ("svc", Kind::Service),
            ("Replication", Kind::Replication),
            ("clusters", Kind::Cluster),
        ] {
            assert_eq!(input.parse::<Kind>().unwrap(), kind);
        }
        assert!("pod".parse::<Kind>().is_err());
    }

    #[test]
    fn an_unknown_kind_names_the_closest() {
        let typo = "VirtualIp2".parse::<Kind>().unwrap_err().to_string();
        assert!(typo.contains("did you mean VirtualIP?"), "{typo}");
        let plural = "service2s".parse::<Kind>().unwrap_err().to_string();
        assert!(plural.contains("did you mean Service?"), "{plural}");
        let short = "vipp".parse::<Kind>().unwrap_err().to_string();
        assert!(short.contains("did you mean VirtualIP?"), "{short}");
        let far = "pod".parse::<Kind>().unwrap_err().to_string();
        assert!(!far.contains("did you mean"), "{far}");
    }
}
