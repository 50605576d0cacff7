//! `blkio_config`: the block I/O weight and per-device throttles of the
//! container's cgroup.

use serde::Serialize;

use crate::file::decode::{byte_size, integer, items, string, Decoded, Fields, Problem};
use crate::file::node::Node;

/// Left out of the config hash while unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Blkio {
    /// 10 to 1000: the container's share of block I/O.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<(String, u16)>,
    /// Bytes per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<(String, i64)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<(String, i64)>,
    /// Operations per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<(String, i64)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<(String, i64)>,
}

pub fn blkio(node: &Node) -> Decoded<Blkio> {
    let mut f = Fields::of(node, "blkio_config")?;
    let blkio = Blkio {
        weight: f.take("weight").map(weight).transpose()?,
        weight_device: devices(f.take("weight_device"), "weight", weight)?,
        device_read_bps: devices(f.take("device_read_bps"), "rate", |n| byte_size(n, "rate"))?,
        device_write_bps: devices(f.take("device_write_bps"), "rate", |n| byte_size(n, "rate"))?,
        device_read_iops: devices(f.take("device_read_iops"), "rate", |n| integer(n, "rate"))?,
        device_write_iops: devices(f.take("device_write_iops"), "rate", |n| integer(n, "rate"))?,
    };
    f.finish()?;
    Ok(blkio)
}

fn weight(node: &Node) -> Decoded<u16> {
    let weight = integer(node, "weight")?;
    match u16::try_from(weight) {
        Ok(w) if (10..=1000).contains(&w) => Ok(w),
        _ => Err(Problem::new(
            node.at,
            format!("a block I/O weight is 10 to 1000, not {weight}"),
        )),
    }
}

/// `[{path: /dev/sda, KEY: value}]`.
fn devices<T>(
    node: Option<&Node>,
    key: &str,
    value: impl Fn(&Node) -> Decoded<T>,
) -> Decoded<Vec<(String, T)>> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    let items = items(node, "a device list")?;
    items
        .iter()
        .map(|item| {
            let mut f = Fields::of(item, "a device of blkio_config")?;
            let path = f
                .take("path")
                .ok_or_else(|| Problem::new(item.at, "a device needs `path`"))?;
            let amount = f
                .take(key)
                .ok_or_else(|| Problem::new(item.at, format!("a device needs `{key}`")))?;
            let device = (string(path, "path")?, value(amount)?);
            f.finish()?;
            Ok(device)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::node::parse;

    #[test]
    fn weights_and_throttles() {
        let decoded = blkio(
            &parse("weight: 300\nweight_device: [{path: /dev/sda, weight: 400}]\ndevice_read_bps: [{path: /dev/sdb, rate: 12mb}]\ndevice_write_iops: [{path: /dev/sdb, rate: 120}]\n")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded.weight, Some(300));
        assert_eq!(decoded.weight_device, [("/dev/sda".to_string(), 400)]);
        assert_eq!(
            decoded.device_read_bps,
            [("/dev/sdb".to_string(), 12 << 20)]
        );
        assert_eq!(decoded.device_write_iops, [("/dev/sdb".to_string(), 120)]);
        let err = blkio(&parse("weight: 5\n").unwrap()).unwrap_err();
        err.assert_says("10 to 1000");
        assert!(blkio(&parse("device_read_bps: [{rate: 1}]\n").unwrap()).is_err());
    }
}
