//! `ports:` in short (`"127.0.0.1:8080:80/tcp"`) and long syntax.

use serde::Serialize;

use super::decode::{integer, items, one_of, scalar_text, string, Decoded, Fields, Problem};
use super::node::{Node, Value};

/// One published container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    pub target: u16,
    /// `None` lets Docker choose a host port.
    pub published: Option<u16>,
    pub host_ip: Option<String>,
    pub protocol: String,
}

pub fn ports(node: &Node) -> Decoded<Vec<PortMapping>> {
    let items = items(node, "ports")?;
    let mut all = Vec::new();
    for item in items {
        match &item.value {
            Value::Map(_) => all.push(long(item)?),
            _ => all
                .extend(short(&scalar_text(item, "port")?).map_err(|m| Problem::new(item.at, m))?),
        }
    }
    Ok(all)
}

fn long(node: &Node) -> Decoded<PortMapping> {
    let mut f = Fields::of(node, "port")?;
    let target = f
        .take("target")
        .ok_or_else(|| Problem::new(node.at, "port needs `target`"))?;
    let mapping = PortMapping {
        target: port_number(target)?,
        published: f.take("published").map(port_number).transpose()?,
        host_ip: f.take_with("host_ip", string)?,
        protocol: f
            .take("protocol")
            .map(protocol)
            .transpose()?
            .unwrap_or_else(|| "tcp".to_string()),
    };
    if let Some(n) = f.take("mode") {
        // `ingress` (the default) balances over a swarm's nodes; on one
        // engine Compose publishes it on this host as `host` does.
        one_of(n, "port mode", &string(n, "mode")?, &["host", "ingress"])?;
    }
    // Descriptions of the port for tools; Compose gives them to no engine.
    f.take("name");
    f.take("app_protocol");
    f.finish()?;
    Ok(mapping)
}

fn port_number(node: &Node) -> Decoded<u16> {
    let n = integer(node, "port")?;
    u16::try_from(n).map_err(|_| Problem::new(node.at, format!("port {n} is out of range")))
}

fn protocol(node: &Node) -> Decoded<String> {
    let p = string(node, "protocol")?;
    one_of(node, "protocol", &p, &["tcp", "udp", "sctp"])?;
    Ok(p)
}

/// `[[HOST_IP:][HOST_PORT[-END]]:]CONTAINER_PORT[-END][/PROTOCOL]`; ranges
/// expand to one mapping per port.
fn short(spec: &str) -> Result<Vec<PortMapping>, String> {
    let bad =
        || format!("invalid port {spec:?}: write [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]");
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((rest, p @ ("tcp" | "udp" | "sctp"))) => (rest, p),
        Some(_) => return Err(bad()),
        None => (spec, "tcp"),
    };
    // An IPv6 host address is written in brackets and holds colons itself.
    let (host_ip, rest) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (ip, after) = v6.split_once("]:").ok_or_else(bad)?;
            (Some(ip.to_string()), after)
        }
        None => match rest.matches(':').count() {
            2 => {
                let (ip, after) = rest.split_once(':').ok_or_else(bad)?;
                (Some(ip.to_string()), after)
            }
            _ => (None, rest),
        },
    };
    let (published, target) = match rest.rsplit_once(':') {
        Some((published, target)) => (Some(published), target),
        None => (None, rest),
    };
    let targets = range(target).ok_or_else(bad)?;
    let published = match published.filter(|p| !p.is_empty()) {
        None => vec![None; targets.len()],
        Some(p) => {
            let hosts = range(p).ok_or_else(bad)?;
            if hosts.len() != targets.len() {
                return Err(format!(
                    "invalid port {spec:?}: host and container ranges differ in size"
                ));
            }
            hosts.into_iter().map(Some).collect()
        }
    };
    Ok(targets
        .into_iter()
        .zip(published)
        .map(|(target, published)| PortMapping {
            target,
            published,
            host_ip: host_ip.clone(),
            protocol: protocol.to_string(),
        })
        .collect())
}

fn range(text: &str) -> Option<Vec<u16>> {
    let (start, end) = match text.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = text.parse().ok()?;
            (p, p)
        }
    };
    (start <= end).then(|| (start..=end).collect())
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    /// `ports` of the YAML `text`.
    fn ports_in(text: &str) -> Decoded<Vec<PortMapping>> {
        ports(&parse(text).unwrap())
    }

    #[test]
    fn the_long_form_takes_ingress_and_descriptions() {
        let long = ports_in(
            "- {target: 80, published: 8080, mode: ingress, name: web, app_protocol: http}\n",
        );
        assert_eq!(long.unwrap()[0].published, Some(8080));
        assert!(ports_in("- {target: 80, mode: vip}\n").is_err());
    }

    fn map(
        target: u16,
        published: Option<u16>,
        host_ip: Option<&str>,
        protocol: &str,
    ) -> PortMapping {
        PortMapping {
            target,
            published,
            host_ip: host_ip.map(str::to_string),
            protocol: protocol.to_string(),
        }
    }

    #[test]
    fn short_syntax_forms() {
        let short = ports_in(
            "- 80\n- \"8080:80\"\n- 127.0.0.1:8081:81/udp\n- \"[::1]:8082:82\"\n- 127.0.0.1::83\n- 9000-9001:90-91\n",
        );
        assert_eq!(
            short.unwrap(),
            [
                map(80, None, None, "tcp"),
                map(80, Some(8080), None, "tcp"),
                map(81, Some(8081), Some("127.0.0.1"), "udp"),
                map(82, Some(8082), Some("::1"), "tcp"),
                map(83, None, Some("127.0.0.1"), "tcp"),
                map(90, Some(9000), None, "tcp"),
                map(91, Some(9001), None, "tcp"),
            ]
        );
    }

    #[test]
    fn long_syntax() {
        let long = ports_in(
            "- {target: 80, published: 8080, protocol: udp, host_ip: 10.0.0.1, mode: host}\n",
        );
        assert_eq!(
            long.unwrap(),
            [map(80, Some(8080), Some("10.0.0.1"), "udp")]
        );
    }

    #[test]
    fn errors_point_at_the_entry() {
        let err = ports_in("- 80\n- \"80:x\"\n").unwrap_err();
        assert_eq!(err.at.line, 2);
        ports_in("- {target: 80, published: 8080, bogus: 1}\n")
            .unwrap_err()
            .assert_says("`bogus`");
        assert!(ports_in("- \"1-3:1-2\"\n").is_err());
    }
}
