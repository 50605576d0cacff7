//! The other services a service needs, as Compose counts them: those of
//! `depends_on`, and those whose container it uses — the network, PID or
//! IPC namespace it joins (`service:NAME`), the volumes it mounts
//! (`volumes_from`) and the links it makes. Docker refuses each of those
//! unless that container exists (or runs), so each is a dependency too.

use super::{Dependency, Service};

/// How a service needs another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    DependsOn,
    NetworkNamespace,
    PidNamespace,
    IpcNamespace,
    VolumesFrom,
    Link,
}

impl Relation {
    /// The key of the service that declares it.
    pub fn key(self) -> &'static str {
        match self {
            Relation::DependsOn => "depends_on",
            Relation::NetworkNamespace => "network_mode",
            Relation::PidNamespace => "pid",
            Relation::IpcNamespace => "ipc",
            Relation::VolumesFrom => "volumes_from",
            Relation::Link => "links",
        }
    }

    /// `service `a` {phrase} `b``.
    pub fn phrase(self) -> &'static str {
        match self {
            Relation::DependsOn => "depends on",
            Relation::NetworkNamespace => "joins the network namespace (network_mode) of",
            Relation::PidNamespace => "joins the PID namespace (pid) of",
            Relation::IpcNamespace => "joins the IPC namespace (ipc) of",
            Relation::VolumesFrom => "mounts the volumes (volumes_from) of",
            Relation::Link => "links to",
        }
    }

    /// What Compose makes of a relation `depends_on` does not state: the
    /// dependent is restarted with a new container of a namespace owner or
    /// linked service (its namespace or address went with the old one),
    /// not with a new container of one it took volumes from.
    fn implied(self) -> Dependency {
        Dependency {
            restart: !matches!(self, Relation::VolumesFrom | Relation::DependsOn),
            ..Dependency::started()
        }
    }
}

impl Service {
    /// Every service this one needs, with how; one may appear more than once.
    pub fn relations(&self) -> Vec<(&str, Relation)> {
        let mut all: Vec<(&str, Relation)> = self
            .depends_on
            .keys()
            .map(|name| (name.as_str(), Relation::DependsOn))
            .collect();
        all.extend(
            self.namespace_owner()
                .map(|o| (o, Relation::NetworkNamespace)),
        );
        for (key, owner) in self.isolation.namespace_owners() {
            let relation = match key {
                "pid" => Relation::PidNamespace,
                _ => Relation::IpcNamespace,
            };
            all.push((owner, relation));
        }
        all.extend(
            self.volumes_from
                .iter()
                .filter_map(|v| Some((v.service.as_deref()?, Relation::VolumesFrom))),
        );
        all.extend(self.links.iter().map(|(s, _)| (s.as_str(), Relation::Link)));
        all
    }

    /// The services that must have started before this one starts (and
    /// stop after it), each once, `depends_on` first.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        let mut seen = std::collections::BTreeSet::new();
        self.relations()
            .into_iter()
            .map(|(name, _)| name)
            .filter(move |name| seen.insert(*name))
    }

    /// How this service depends on `service`: as `depends_on` says, or
    /// as its other relation to it implies.
    pub fn dependency(&self, service: &str) -> Dependency {
        if let Some(stated) = self.depends_on.get(service) {
            return *stated;
        }
        self.relations()
            .into_iter()
            .filter(|(name, _)| *name == service)
            .map(|(_, relation)| relation.implied())
            .reduce(|a, b| Dependency {
                restart: a.restart || b.restart,
                ..a
            })
            .unwrap_or_else(Dependency::started)
    }

    /// NAME of `network_mode: service:NAME`.
    pub fn namespace_owner(&self) -> Option<&str> {
        self.network_mode.as_deref()?.strip_prefix("service:")
    }
}
