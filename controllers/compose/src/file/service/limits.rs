//! What a service's processes may use: memory, CPUs, process numbers,
//! shared memory, devices (GPUs) and `ulimits`, from the service's own
//! keys and `deploy.resources`, which must agree where both set a value.

use std::collections::BTreeMap;

use serde::Serialize;

use super::blkio::{blkio, Blkio};
use super::deploy::{Deploy, Positioned};
use crate::file::decode::{
    boolean, byte_size, integer, items, nano_cpus, scalar_text, string, string_list, string_map,
    Decoded, Fields, Problem, Problems,
};
use crate::file::node::{Node, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

/// The Engine API's resource settings a service sets; unset ones are the
/// engine's defaults. Left out of the config hash while unset, so a
/// service that sets none keeps the hash it had before they existed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Memory plus swap; -1 is unlimited swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub oom_kill_disable: bool,
    /// GPUs and other devices a driver hands out (`gpus`,
    /// `deploy.resources.reservations.devices`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_requests: Vec<DeviceRequest>,
    #[serde(skip_serializing_if = "crate::file::decode::is_default")]
    pub blkio: Blkio,
}

/// One request for devices from a driver (`nvidia`...), as Docker's
/// `--gpus` makes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceRequest {
    pub driver: Option<String>,
    /// How many; -1 is all of them. Unset when `device_ids` name them.
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<String>,
    pub options: BTreeMap<String, String>,
}

/// The service's own resource keys, checked against what `deploy`
/// already set: Compose refuses two different values for one setting.
pub fn limits(f: &mut Fields<'_>, deploy: &Deploy, p: &Problems) -> Limits {
    let memory = agreeing(
        f,
        p,
        "mem_limit",
        "deploy.resources.limits.memory",
        deploy.memory,
        byte_size,
    );
    let memory_reservation = agreeing(
        f,
        p,
        "mem_reservation",
        "deploy.resources.reservations.memory",
        deploy.memory_reservation,
        byte_size,
    );
    let nano_cpus = agreeing(
        f,
        p,
        "cpus",
        "deploy.resources.limits.cpus",
        deploy.nano_cpus,
        nano_cpus,
    );
    let pids = agreeing(
        f,
        p,
        "pids_limit",
        "deploy.resources.limits.pids",
        deploy.pids,
        integer,
    );
    let mut device_requests = deploy.device_requests.clone();
    device_requests.extend(f.decode("gpus", p, gpus).unwrap_or_default());
    let int = |f: &mut Fields<'_>, key: &str| f.decode(key, p, |n| integer(n, key));
    Limits {
        memory,
        // `-1` is written for unlimited swap; a size otherwise.
        memory_swap: f.decode_key("memswap_limit", p, byte_size),
        memory_reservation,
        memory_swappiness: int(f, "mem_swappiness"),
        nano_cpus,
        cpu_shares: int(f, "cpu_shares"),
        cpu_period: int(f, "cpu_period"),
        cpu_quota: int(f, "cpu_quota"),
        cpu_rt_period: f.decode_key("cpu_rt_period", p, microseconds),
        cpu_rt_runtime: f.decode_key("cpu_rt_runtime", p, microseconds),
        cpuset: f.decode_key("cpuset", p, scalar_text),
        pids,
        shm_size: f.decode_key("shm_size", p, byte_size),
        oom_score_adj: int(f, "oom_score_adj"),
        oom_kill_disable: f
            .decode_key("oom_kill_disable", p, boolean)
            .unwrap_or(false),
        device_requests,
        blkio: f.decode("blkio_config", p, blkio).unwrap_or_default(),
    }
}

/// The value of a service key, or of the `deploy` key that sets the same
/// thing; both set, they must be equal (a problem is recorded otherwise).
fn agreeing<T: PartialEq + Copy>(
    f: &mut Fields<'_>,
    p: &Problems,
    key: &str,
    deploy_key: &str,
    deployed: Option<Positioned<T>>,
    decode: impl FnOnce(&Node, &str) -> Decoded<T>,
) -> Option<T> {
    let node = f.take(key);
    let own = node.and_then(|n| p.keep(decode(n, key)));
    match (own, deployed, node) {
        (Some(own), Some(deployed), Some(n)) if own != deployed.value => {
            p.push(Problem::new(
                n.at,
                format!(
                    "{key} and {deploy_key} (line {}) set different values: keep one",
                    deployed.at.line
                ),
            ));
            None
        }
        (own, deployed, _) => own.or(deployed.map(|d| d.value)),
    }
}

/// Real-time CPU periods: microseconds, or a duration (`1000ms`).
fn microseconds(node: &Node, what: &str) -> Decoded<i64> {
    match &node.value {
        Value::Int(us) => Ok(*us),
        _ => crate::file::decode::duration(node, what).map(|d| d.as_micros() as i64),
    }
}

/// `gpus: all`, or a list of requests; each asks for the `gpu` capability.
fn gpus(node: &Node) -> Decoded<Vec<DeviceRequest>> {
    let mut requests = match &node.value {
        Value::String(s) if s == "all" => vec![DeviceRequest {
            count: Some(-1),
            ..DeviceRequest::default()
        }],
        Value::Seq(_) => device_requests(node, "gpus")?,
        _ => {
            return Err(Problem::new(
                node.at,
                "gpus must be `all` or a list of device requests",
            ))
        }
    };
    for request in &mut requests {
        if !request.capabilities.iter().any(|c| c == "gpu") {
            request.capabilities.push("gpu".to_string());
        }
    }
    Ok(requests)
}

/// `[{capabilities, driver, count, device_ids, options}]`.
pub fn device_requests(node: &Node, what: &str) -> Decoded<Vec<DeviceRequest>> {
    let items = items(node, what)?;
    items
        .iter()
        .map(|item| {
            let mut f = Fields::of(item, format!("a device request of {what}"))?;
            let count = f
                .take("count")
                .map(|n| match &n.value {
                    Value::String(s) if s.eq_ignore_ascii_case("all") => Ok(-1),
                    _ => integer(n, "count"),
                })
                .transpose()?;
            let device_ids =
                match f.take("device_ids") {
                    Some(n) if count.is_some() => return Err(Problem::new(
                        n.at,
                        "count and device_ids cannot both be set: name the devices or count them",
                    )),
                    Some(n) => string_list(n, "device_ids")?,
                    None => Vec::new(),
                };
            let request = DeviceRequest {
                driver: f.take_with("driver", string)?,
                count,
                device_ids,
                capabilities: f
                    .take_with("capabilities", string_list)?
                    .unwrap_or_default(),
                options: f
                    .take("options")
                    .map(|n| string_map(n, '=', "options"))
                    .transpose()?
                    .unwrap_or_default(),
            };
            f.finish()?;
            Ok(request)
        })
        .collect()
}

pub fn ulimits(node: &Node) -> Decoded<BTreeMap<String, Ulimit>> {
    let Value::Map(entries) = &node.value else {
        return Err(Problem::new(node.at, "ulimits must be a mapping"));
    };
    entries
        .iter()
        .map(|e| {
            let limit = match &e.value.value {
                Value::Map(_) => {
                    let mut f = Fields::of(&e.value, format!("ulimit `{}`", e.key))?;
                    let soft = f.take_with("soft", integer)?;
                    let hard = f.take_with("hard", integer)?;
                    f.finish()?;
                    match (soft, hard) {
                        (Some(soft), Some(hard)) => Ulimit { soft, hard },
                        _ => {
                            return Err(Problem::new(
                                e.value.at,
                                format!("ulimit `{}` needs soft and hard", e.key),
                            ))
                        }
                    }
                }
                _ => {
                    let both = integer(&e.value, "ulimit")?;
                    Ulimit {
                        soft: both,
                        hard: both,
                    }
                }
            };
            Ok((e.key.clone(), limit))
        })
        .collect()
}
