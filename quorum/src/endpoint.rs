//! Where an etcd member answers: `http://HOST:PORT` or `https://HOST:PORT`,
//! as etcd's own `--advertise-client-urls` are written.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// One member's client URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// A DNS name or an IP address (IPv6 without its brackets).
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not an etcd endpoint: {why} (write it as http://HOST:PORT or https://HOST:PORT, e.g. https://10.0.0.3:2379)")]
pub struct BadEndpoint {
    pub url: String,
    pub why: &'static str,
}

impl Endpoint {
    /// `HOST:PORT` as a connect(2) target and an HTTP Host header take it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = BadEndpoint;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let bad = |why| BadEndpoint {
            url: url.to_string(),
            why,
        };
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(bad("the scheme must be http or https"));
        };
        // The gateway's paths are fixed (/v3/...): a path here is a mistake.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(bad("a path is not allowed"));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| bad("an IPv6 address lacks its closing bracket"))?;
                let port = after
                    .strip_prefix(':')
                    .ok_or_else(|| bad("the port is missing"))?;
                (host, port)
            }
            None => rest
                .rsplit_once(':')
                .ok_or_else(|| bad("the port is missing"))?,
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad("the host is missing"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        Ok(Endpoint {
            scheme,
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_etcd_advertises_them_parse_and_print_back() {
        for url in [
            "http://10.0.0.3:2379",
            "https://etcd-witness.lan:2379",
            "https://[fd77::3]:2379",
        ] {
            let endpoint: Endpoint = url.parse().unwrap();
            assert_eq!(endpoint.to_string(), url);
        }
        let v6: Endpoint = "https://[fd77::3]:2379/".parse().unwrap();
        assert_eq!(
            (v6.scheme, v6.host.as_str(), v6.port),
            (Scheme::Https, "fd77::3", 2379)
        );
        assert_eq!(v6.authority(), "[fd77::3]:2379");
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        for (url, why) in [
            ("10.0.0.3:2379", "the scheme must be http or https"),
            ("grpc://10.0.0.3:2379", "the scheme must be http or https"),
            ("http://10.0.0.3", "the port is missing"),
            (
                "http://10.0.0.3:0",
                "the port must be a number from 1 to 65535",
            ),
            (
                "http://10.0.0.3:x",
                "the port must be a number from 1 to 65535",
            ),
            ("http://:2379", "the host is missing"),
            ("http://10.0.0.3:2379/v3", "a path is not allowed"),
            (
                "https://[fd77::3:2379",
                "an IPv6 address lacks its closing bracket",
            ),
        ] {
            assert_eq!(url.parse::<Endpoint>().unwrap_err().why, why, "{url}");
        }
        let message = "x".parse::<Endpoint>().unwrap_err().to_string();
        assert!(message.contains("https://10.0.0.3:2379"), "{message}");
    }
}
