//! `deploy:`, as `docker compose` reads it on a single engine: replicas,
//! resources and the restart policy apply; what only a swarm scheduler
//! acts on (placement, update and rollback policies, service labels...)
//! is accepted with a warning, as Compose does.

use crate::file::decode::{
    byte_size, integer, nano_cpus, none_of, one_of, string, Decoded, Fields, Problem, Warnings,
};
use crate::file::node::{Node, Position};

use super::limits::{device_requests, DeviceRequest};

/// What `deploy:` asks of this engine.
#[derive(Debug, Default)]
pub struct Deploy {
    pub replicas: Option<Positioned<u32>>,
    pub memory: Option<Positioned<i64>>,
    pub nano_cpus: Option<Positioned<i64>>,
    pub pids: Option<Positioned<i64>>,
    pub memory_reservation: Option<Positioned<i64>>,
    pub device_requests: Vec<DeviceRequest>,
    /// Docker's restart policy, `restart:`'s values.
    pub restart: Option<String>,
}

/// A value and where it was written, to point at a conflict with another
/// key that sets the same thing.
#[derive(Debug, Clone, Copy)]
pub struct Positioned<T> {
    pub value: T,
    pub at: Position,
}

const SWARM_ONLY: &str = "only a swarm scheduler acts on it; a single Docker Engine runs the service as declared otherwise";

pub fn deploy(node: &Node, warnings: &Warnings) -> Decoded<Deploy> {
    let mut f = Fields::of(node, "deploy")?;
    let mut deploy = Deploy::default();
    if let Some(n) = f.take("mode") {
        // On one engine a global service is one container, as Compose runs it.
        let mode = string(n, "deploy.mode")?;
        one_of(n, "deploy.mode", &mode, &["replicated", "global"])?;
    }
    if let Some(n) = f.take("replicas") {
        deploy.replicas = Some(Positioned {
            value: replica_count(n, "deploy.replicas")?,
            at: n.at,
        });
    }
    if let Some(n) = f.take("resources") {
        resources(n, &mut deploy, warnings)?;
    }
    if let Some(n) = f.take("restart_policy") {
        deploy.restart = Some(restart_policy(n, warnings)?);
    }
    for key in [
        "placement",
        "update_config",
        "rollback_config",
        "endpoint_mode",
        "labels",
    ] {
        f.ignore(key, SWARM_ONLY, warnings);
    }
    f.finish()?;
    Ok(deploy)
}

/// `scale` and `deploy.replicas`: how many containers run the service.
pub fn replica_count(node: &Node, what: &str) -> Decoded<u32> {
    let count = integer(node, what)?;
    u32::try_from(count)
        .map_err(|_| Problem::new(node.at, format!("{what} must be 0 or more, not {count}")))
}

fn resources(node: &Node, deploy: &mut Deploy, warnings: &Warnings) -> Decoded<()> {
    let mut f = Fields::of(node, "deploy.resources")?;
    if let Some(limits) = f.take("limits") {
        let mut l = Fields::of(limits, "deploy.resources.limits")?;
        deploy.memory = positioned(l.take("memory"), |n| byte_size(n, "limits.memory"))?;
        deploy.nano_cpus = positioned(l.take("cpus"), |n| nano_cpus(n, "limits.cpus"))?;
        deploy.pids = positioned(l.take("pids"), |n| integer(n, "limits.pids"))?;
        l.finish()?;
    }
    if let Some(reservations) = f.take("reservations") {
        let mut r = Fields::of(reservations, "deploy.resources.reservations")?;
        deploy.memory_reservation =
            positioned(r.take("memory"), |n| byte_size(n, "reservations.memory"))?;
        if let Some(n) = r.take("devices") {
            deploy.device_requests = device_requests(n, "reservations.devices")?;
        }
        r.ignore(
            "cpus",
            "a CPU reservation is a swarm scheduling hint; the engine only limits CPUs (limits.cpus)",
            warnings,
        );
        r.ignore("generic_resources", SWARM_ONLY, warnings);
        r.finish()?;
    }
    f.finish()
}

fn positioned<T>(
    node: Option<&Node>,
    decode: impl FnOnce(&Node) -> Decoded<T>,
) -> Decoded<Option<Positioned<T>>> {
    node.map(|n| {
        Ok(Positioned {
            value: decode(n)?,
            at: n.at,
        })
    })
    .transpose()
}

/// Swarm's restart policy in Docker's terms, as Compose maps it: the
/// condition and the attempts apply; the delay and window between
/// attempts are the swarm's, which the engine has no setting for.
fn restart_policy(node: &Node, warnings: &Warnings) -> Decoded<String> {
    let mut f = Fields::of(node, "deploy.restart_policy")?;
    let condition = match f.take("condition") {
        Some(n) => match string(n, "condition")?.as_str() {
            "none" => "no",
            "on-failure" => "on-failure",
            "any" => "always",
            other => {
                let choices = ["none", "on-failure", "any"];
                return Err(none_of(n, "restart_policy.condition", other, &choices));
            }
        },
        None => "always",
    };
    let attempts = f.take_with("max_attempts", replica_count)?;
    for key in ["delay", "window"] {
        f.ignore(
            key,
            "the engine restarts at once, backing off by itself; only a swarm waits between attempts",
            warnings,
        );
    }
    f.finish()?;
    Ok(match (condition, attempts) {
        ("on-failure", Some(n)) if n > 0 => format!("on-failure:{n}"),
        (condition, _) => condition.to_string(),
    })
}
