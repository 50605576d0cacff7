//! `logging:`: the container's log driver and its options.

use std::collections::BTreeMap;

use serde::Serialize;

use super::optional;
use crate::file::decode::{string, string_map, Decoded, Fields};
use crate::file::node::Node;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

pub fn logging(node: &Node) -> Decoded<Logging> {
    let mut f = Fields::of(node, "logging")?;
    let logging = Logging {
        driver: f.take_with("driver", string)?,
        options: optional(f.take("options"), |n| string_map(n, '=', "logging options"))?,
    };
    f.finish()?;
    Ok(logging)
}
