//! What a service's processes may use: memory, CPUs, process numbers,
//! shared memory, devices (GPUs) and `ulimits`, from the service's own
//! keys and `deploy.resources`, which must agree where both set a value.

use std::collections::BTreeMap;

use serde::Serialize;

use super::deploy::{Deploy, Positioned};
use crate::file::decode::{
    boolean, byte_size, integer, nano_cpus, scalar_text, string, string_list, string_map, Decoded,
    Fields, Problem,
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
pub fn limits(f: &mut Fields<'_>, deploy: &Deploy) -> Decoded<Limits> {
    let memory = agreeing(
        f.take("mem_limit"),
        deploy.memory,
        |n| byte_size(n, "mem_limit"),
        "mem_limit",
        "deploy.resources.limits.memory",
    )?;
    let memory_reservation = agreeing(
        f.take("mem_reservation"),
        deploy.memory_reservation,
        |n| byte_size(n, "mem_reservation"),
        "mem_reservation",
        "deploy.resources.reservations.memory",
    )?;
    let nano_cpus = agreeing(
        f.take("cpus"),
        deploy.nano_cpus,
        |n| nano_cpus(n, "cpus"),
        "cpus",
        "deploy.resources.limits.cpus",
    )?;
    let pids = agreeing(
        f.take("pids_limit"),
        deploy.pids,
        |n| integer(n, "pids_limit"),
        "pids_limit",
        "deploy.resources.limits.pids",
    )?;
    let mut device_requests = deploy.device_requests.clone();
    if let Some(n) = f.take("gpus") {
        device_requests.extend(gpus(n)?);
    }
    let int = |node: Option<&Node>, what: &str| node.map(|n| integer(n, what)).transpose();
    Ok(Limits {
        memory,
        // `-1` is written for unlimited swap; a size otherwise.
        memory_swap: f
            .take("memswap_limit")
            .map(|n| byte_size(n, "memswap_limit"))
            .transpose()?,
        memory_reservation,
        memory_swappiness: int(f.take("mem_swappiness"), "mem_swappiness")?,
        nano_cpus,
        cpu_shares: int(f.take("cpu_shares"), "cpu_shares")?,
        cpu_period: int(f.take("cpu_period"), "cpu_period")?,
        cpu_quota: int(f.take("cpu_quota"), "cpu_quota")?,
        cpu_rt_period: f
            .take("cpu_rt_period")
            .map(|n| microseconds(n, "cpu_rt_period"))
            .transpose()?,
        cpu_rt_runtime: f
            .take("cpu_rt_runtime")
            .map(|n| microseconds(n, "cpu_rt_runtime"))
            .transpose()?,
        cpuset: f
            .take("cpuset")
            .map(|n| scalar_text(n, "cpuset"))
            .transpose()?,
        pids,
        shm_size: f
            .take("shm_size")
            .map(|n| byte_size(n, "shm_size"))
            .transpose()?,
        oom_score_adj: int(f.take("oom_score_adj"), "oom_score_adj")?,
        oom_kill_disable: f
            .take("oom_kill_disable")
            .map(|n| boolean(n, "oom_kill_disable"))
            .transpose()?
            .unwrap_or(false),
        device_requests,
    })
}

/// The value of a service key, or of the `deploy` key that sets the same
/// thing; both set, they must be equal.
fn agreeing<T: PartialEq + Copy>(
    node: Option<&Node>,
    deployed: Option<Positioned<T>>,
    decode: impl FnOnce(&Node) -> Decoded<T>,
    key: &str,
    deploy_key: &str,
) -> Decoded<Option<T>> {
    let own = node.map(decode).transpose()?;
    match (own, deployed, node) {
        (Some(own), Some(deployed), Some(n)) if own != deployed.value => Err(Problem::new(
            n.at,
            format!(
                "{key} and {deploy_key} (line {}) set different values: keep one",
                deployed.at.line
            ),
        )),
        (own, deployed, _) => Ok(own.or(deployed.map(|d| d.value))),
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
    let Value::Seq(items) = &node.value else {
        return Err(Problem::new(node.at, format!("{what} must be a list")));
    };
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
                driver: f.take("driver").map(|n| string(n, "driver")).transpose()?,
                count,
                device_ids,
                capabilities: f
                    .take("capabilities")
                    .map(|n| string_list(n, "capabilities"))
                    .transpose()?
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
                    let soft = f.take("soft").map(|n| integer(n, "soft")).transpose()?;
                    let hard = f.take("hard").map(|n| integer(n, "hard")).transpose()?;
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
