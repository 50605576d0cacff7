//! `healthcheck:`, in Docker's terms.

use std::time::Duration;

use serde::Serialize;

use crate::file::decode::{boolean, duration, integer, string_list, Decoded, Fields, Problem};
use crate::file::node::{Node, Value};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<i64>,
    pub start_period: Option<Duration>,
    /// How often to check during `start_period` (Engine API 1.44 and
    /// later); left out of the config hash while unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
}

/// `disable: true` becomes Docker's `["NONE"]`, which also turns off a
/// check the image defines.
pub fn healthcheck(node: &Node) -> Decoded<Healthcheck> {
    let mut f = Fields::of(node, "healthcheck")?;
    let disable = f.take_with("disable", boolean)?.unwrap_or(false);
    let test = match f.take("test") {
        Some(Node {
            value: Value::String(s),
            ..
        }) => vec!["CMD-SHELL".to_string(), s.clone()],
        Some(n) => {
            let test = string_list(n, "test")?;
            match test.first().map(String::as_str) {
                Some("CMD" | "CMD-SHELL" | "NONE") => test,
                _ => {
                    return Err(Problem::new(
                        n.at,
                        "a healthcheck test list must start with CMD, CMD-SHELL or NONE",
                    ))
                }
            }
        }
        None => Vec::new(),
    };
    let mut check = Healthcheck {
        test: if disable {
            vec!["NONE".to_string()]
        } else {
            test
        },
        interval: f.take_with("interval", duration)?,
        timeout: f.take_with("timeout", duration)?,
        retries: f.take_with("retries", integer)?,
        start_period: f.take_with("start_period", duration)?,
        start_interval: None,
    };
    if let Some(n) = f.take("start_interval") {
        if check.start_period.is_none() {
            // The engine ignores it without one (moby#48874); Compose refuses it.
            return Err(Problem::new(
                n.at,
                "start_interval needs start_period: it is how often to check during the start period",
            ));
        }
        check.start_interval = Some(duration(n, "start_interval")?);
    }
    f.finish()?;
    Ok(check)
}
