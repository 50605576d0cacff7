//! One round of a Service's probes: its containers, TCP connects, HTTP
//! GETs and DNS lookups, all at once, each bounded by the timeout.

use std::time::Duration;

use futures::future::join_all;
use hareconcile_model::{DnsCheck, ExecCheck, HttpsCheck};
use tokio::net::{TcpStream, UdpSocket};

use super::dns;
use super::exec::run_in_stack;
use super::https::{self, get, split_url};
use crate::engine::{ContainerStatus, Engine};

/// What one round probes.
#[derive(Debug, Clone, PartialEq)]
pub struct Probes {
    pub project: String,
    /// Compose services whose container must run and not be unhealthy.
    pub services: Vec<String>,
    pub tcp: Vec<String>,
    pub http: Vec<String>,
    pub dns: Vec<DnsCheck>,
    pub https: Vec<HttpsCheck>,
    /// Commands that must exit 0 in containers of the stack.
    pub exec: Vec<ExecCheck>,
}

impl Probes {
    /// How many checks a round makes, for messages.
    pub fn count(&self) -> usize {
        usize::from(!self.services.is_empty())
            + self.tcp.len()
            + self.http.len()
            + self.dns.len()
            + self.https.len()
            + self.exec.len()
    }
}

/// Runs every probe once; the failures, each saying which probe and why.
pub async fn round(engine: &Engine, probes: &Probes, timeout: Duration) -> Vec<String> {
    let bounded = |what: String, check: futures::future::BoxFuture<'static, Result<(), String>>| async move {
        match tokio::time::timeout(timeout, check).await {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(format!("{what}: {why}")),
            Err(_) => Some(format!("{what}: no answer within {timeout:?}")),
        }
    };
    let mut checks = Vec::new();
    if !probes.services.is_empty() {
        let (engine, project, services) = (
            engine.clone(),
            probes.project.clone(),
            probes.services.clone(),
        );
        checks.push(bounded(
            "containers".into(),
            Box::pin(async move { containers(&engine, &project, &services).await }),
        ));
    }
    for target in &probes.tcp {
        let target = target.clone();
        checks.push(bounded(
            format!("tcp {target}"),
            Box::pin(async move { tcp(&target).await }),
        ));
    }
    for url in &probes.http {
        let url = url.clone();
        checks.push(bounded(
            format!("http {url}"),
            Box::pin(async move { http(&url).await }),
        ));
    }
    for check in &probes.dns {
        let check = check.clone();
        checks.push(bounded(
            format!("dns {} at {}", check.name, check.server),
            Box::pin(async move { lookup(&check).await }),
        ));
    }
    for check in &probes.https {
        let check = check.clone();
        checks.push(bounded(
            format!("https {}", check.url),
            Box::pin(async move { https::probe(&check).await }),
        ));
    }
    for check in &probes.exec {
        let (engine, project, check) = (engine.clone(), probes.project.clone(), check.clone());
        checks.push(bounded(
            format!("exec {} in {}", check.command.join(" "), check.container),
            // The round's timeout bounds it; the exec's own kills it there.
            Box::pin(async move { exec(&engine, &project, &check, timeout).await }),
        ));
    }
    join_all(checks).await.into_iter().flatten().collect()
}

async fn containers(engine: &Engine, project: &str, services: &[String]) -> Result<(), String> {
    let seen = engine
        .containers(project)
        .await
        .map_err(|e| e.to_string())?;
    let problems = container_problems(services, &seen);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", "))
    }
}

/// What keeps each required service's container from counting as up.
fn container_problems(services: &[String], seen: &[ContainerStatus]) -> Vec<String> {
    services
        .iter()
        .filter_map(|service| {
            let Some(c) = seen.iter().find(|c| &c.service == service) else {
                return Some(format!("{service} has no container"));
            };
            match (c.state.as_str(), c.health.as_deref()) {
                ("running", None | Some("healthy")) => None,
                ("running", Some(health)) => Some(format!("{} is {health}", c.name)),
                (state, _) => Some(format!("{} is {state}", c.name)),
            }
        })
        .collect()
}

async fn tcp(target: &str) -> Result<(), String> {
    TcpStream::connect(target)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

async fn http(url: &str) -> Result<(), String> {
    let target = split_url(url, "http://", 80)?;
    let stream = TcpStream::connect(&target.address)
        .await
        .map_err(|e| e.to_string())?;
    get(stream, &target).await
}

/// The command exits 0 in the container of `check.container`.
async fn exec(
    engine: &Engine,
    project: &str,
    check: &ExecCheck,
    timeout: Duration,
) -> Result<(), String> {
    let out = run_in_stack(
        engine,
        (project, check.container.as_str()),
        &check.command,
        &[],
        timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    if out.success() {
        Ok(())
    } else {
        Err(format!("exit status {}: {}", out.exit_code, out.tail()))
    }
}

async fn lookup(check: &DnsCheck) -> Result<(), String> {
    let id = query_id();
    let query = dns::query(id, &check.name).map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind(if check.server.starts_with('[') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    })
    .await
    .map_err(|e| e.to_string())?;
    socket
        .connect(&check.server)
        .await
        .map_err(|e| e.to_string())?;
    socket.send(&query).await.map_err(|e| e.to_string())?;
    let mut answer = [0u8; 1500];
    // A stray datagram for another id is skipped; the round's timeout
    // bounds the wait.
    loop {
        let n = socket.recv(&mut answer).await.map_err(|e| e.to_string())?;
        match dns::check_answer(id, &answer[..n]) {
            Err(dns::DnsError::WrongId) => continue,
            other => return other.map_err(|e| e.to_string()),
        }
    }
}

/// Varies between queries so a late answer to an earlier round is not
/// taken for this one's.
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    (nanos ^ (nanos >> 16)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_split_into_address_host_and_path() {
        let parse = |u| {
            let t = split_url(u, "http://", 80).unwrap();
            (t.address, t.authority, t.path)
        };
        assert_eq!(
            parse("http://127.0.0.1:8080/health?x=1"),
            (
                "127.0.0.1:8080".into(),
                "127.0.0.1:8080".into(),
                "/health?x=1".into()
            )
        );
        assert_eq!(
            parse("http://localhost"),
            ("localhost:80".into(), "localhost".into(), "/".into())
        );
        assert_eq!(
            parse("http://[::1]/"),
            ("[::1]:80".into(), "[::1]".into(), "/".into())
        );
        assert_eq!(parse("http://[::1]:81").0, "[::1]:81");
        assert_eq!(parse("http://h?q").2, "/?q");
        assert!(split_url("https://example.org/", "http://", 80).is_err());
        assert!(split_url("http:///x", "http://", 80).is_err());
    }

    #[test]
    fn two_and_three_hundreds_pass() {
        use super::https::status_passes;
        assert!(status_passes(b"HTTP/1.1 200 OK\r\n").is_ok());
        assert!(status_passes(b"HTTP/1.0 302 Found\r\n").is_ok());
        assert_eq!(
            status_passes(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Err("status 503".into())
        );
        assert!(status_passes(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status_passes(b"").is_err());
    }

    #[test]
    fn containers_must_run_and_not_be_unhealthy() {
        let seen = [
            ContainerStatus::of_shop("web", "running", Some("healthy")),
            ContainerStatus::of_shop("worker", "running", Some("starting")),
            ContainerStatus::of_shop("idle", "exited", None),
            ContainerStatus::of_shop("db", "running", None),
        ];
        let services: Vec<String> = ["web", "worker", "idle", "db", "cache"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            container_problems(&services, &seen),
            [
                "shop_worker_1 is starting",
                "shop_idle_1 is exited",
                "cache has no container"
            ]
        );
    }

    /// A port nothing listens on (bound, then released).
    fn dead_port() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[tokio::test]
    async fn tcp_and_http_probes_talk_to_real_sockets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 512];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let answer: &[u8] = if request[..n].starts_with(b"GET /broken ") {
                    b"HTTP/1.0 500 Oops\r\n\r\n"
                } else {
                    b"HTTP/1.0 204 No Content\r\n\r\n"
                };
                let _ = stream.write_all(answer).await;
            }
        });
        assert_eq!(tcp(&address.to_string()).await, Ok(()));
        assert_eq!(http(&format!("http://{address}/health")).await, Ok(()));
        assert_eq!(
            http(&format!("http://{address}/broken")).await,
            Err("status 500".into())
        );
        let dead = dead_port();
        assert!(tcp(&dead).await.is_err());
        assert!(http(&format!("http://{dead}/")).await.is_err());
    }

    #[tokio::test]
    async fn the_dns_probe_asks_a_real_resolver() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = server.local_addr().unwrap().to_string();
        // Answers pi.hole with one record, anything else with NXDOMAIN.
        tokio::spawn(async move {
            let mut query = [0u8; 512];
            while let Ok((n, from)) = server.recv_from(&mut query).await {
                let known = query[12..n].starts_with(b"\x02pi\x04hole\x00");
                let mut answer = query[..n].to_vec();
                answer[2] = 0x81;
                answer[3] = if known { 0x80 } else { 0x83 };
                answer[7] = u8::from(known);
                let _ = server.send_to(&answer, from).await;
            }
        });
        let check = |name: &str| DnsCheck {
            server: address.clone(),
            name: name.into(),
        };
        assert_eq!(lookup(&check("pi.hole")).await, Ok(()));
        assert_eq!(
            lookup(&check("nope.example")).await,
            Err("server answered NXDOMAIN".into())
        );
    }
}
