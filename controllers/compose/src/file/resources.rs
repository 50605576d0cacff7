//! Top-level `networks:` and `volumes:`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::decode::{boolean, named_entries, string, string_map, Decoded, Fields};
use super::node::{Node, Value};

/// A project network or named volume; both take the same options.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resource {
    /// Created outside the project; used, never created or removed.
    pub external: bool,
    /// The engine-side name when it is not `PROJECT_KEY`.
    pub name: Option<String>,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `kind` is "network" or "volume", for messages.
pub fn resources(node: &Node, kind: &str) -> Decoded<BTreeMap<String, Resource>> {
    named_entries(node, &format!("top-level {kind}s"))?
        .iter()
        .map(|e| {
            Ok((
                e.key.clone(),
                resource(&e.value, &format!("{kind} `{}`", e.key))?,
            ))
        })
        .collect()
}

fn resource(node: &Node, what: &str) -> Decoded<Resource> {
    if node.value == Value::Null {
        return Ok(Resource::default());
    }
    let mut f = Fields::of(node, what)?;
    let resource = Resource {
        external: f
            .take("external")
            .map(|n| boolean(n, "external"))
            .transpose()?
            .unwrap_or(false),
        name: f.take("name").map(|n| string(n, "name")).transpose()?,
        driver: f.take("driver").map(|n| string(n, "driver")).transpose()?,
        driver_opts: f
            .take("driver_opts")
            .map(|n| string_map(n, '=', "driver_opts"))
            .transpose()?
            .unwrap_or_default(),
        labels: f
            .take("labels")
            .map(|n| string_map(n, '=', "labels"))
            .transpose()?
            .unwrap_or_default(),
    };
    f.finish()?;
    Ok(resource)
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    #[test]
    fn decodes_options_and_empty_entries() {
        let node = parse("front:\nback: {driver: bridge, labels: [a=b], external: false}\nshared: {external: true, name: proxy}\n").unwrap();
        let all = resources(&node, "network").unwrap();
        assert_eq!(all["front"], Resource::default());
        assert_eq!(all["back"].driver.as_deref(), Some("bridge"));
        assert_eq!(all["back"].labels["a"], "b");
        assert!(all["shared"].external);
        assert_eq!(all["shared"].name.as_deref(), Some("proxy"));
        let err = resources(&parse("front: {ipam: {}}\n").unwrap(), "network").unwrap_err();
        assert!(
            err.message.contains("`ipam` in network `front`"),
            "{}",
            err.message
        );
    }
}
