//! Where a Service's stack runs: a pure decision from its spec and what
//! this node's store says about the VirtualIP it follows.

use hareconcile_model::{ServiceMode, ServiceSpec};

/// What this node should do with the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Created and started.
    Run,
    /// Created but stopped (`warm` mode away from the master): a failover
    /// only has to start containers.
    Warm,
    /// Stopped and removed (`active-passive` away from the master), as the
    /// keepalived notify scripts' `docker-compose down` left it.
    Absent,
}

/// `vip_state` is the followed VirtualIP's `status.state` on this node
/// (`Master`, `Backup`, `Fault`...), `None` when it has none yet.
pub fn placement(spec: &ServiceSpec, vip_state: Option<&str>) -> Placement {
    let master = vip_state == Some("Master");
    match (spec.mode, &spec.follow_virtual_ip) {
        (ServiceMode::ActiveActive, _) | (_, None) => Placement::Run,
        _ if master => Placement::Run,
        (ServiceMode::Warm, _) => Placement::Warm,
        (ServiceMode::ActivePassive, _) => Placement::Absent,
    }
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Run => "running",
            Placement::Warm => "created",
            Placement::Absent => "absent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(mode: &str, follow: Option<&str>) -> ServiceSpec {
        let mut spec = json!({"cluster": "home", "mode": mode, "compose": {"file": "c.yaml"}});
        if let Some(vip) = follow {
            spec["followVirtualIP"] = json!(vip);
        }
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn follows_the_master_by_mode() {
        for (mode, state, expected) in [
            ("active-passive", Some("Master"), Placement::Run),
            ("active-passive", Some("Backup"), Placement::Absent),
            ("active-passive", None, Placement::Absent),
            ("warm", Some("Master"), Placement::Run),
            ("warm", Some("Fault"), Placement::Warm),
            ("active-active", Some("Backup"), Placement::Run),
        ] {
            assert_eq!(
                placement(&spec(mode, Some("web")), state),
                expected,
                "{mode} {state:?}"
            );
        }
    }

    #[test]
    fn without_a_virtual_ip_it_runs_everywhere() {
        assert_eq!(
            placement(&spec("active-passive", None), None),
            Placement::Run
        );
        assert_eq!(
            placement(&spec("warm", None), Some("Backup")),
            Placement::Run
        );
    }
}
