//! `--webhook`: a VRRP transition reaches an HTTP receiver as JSON.

use hareconcile_test_support as support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use hareconcile_lab::{require_privileges, Lab};
use support::LabAgent;

/// Receives HTTP posts on 127.0.0.1:port inside the node's namespace and
/// forwards their bodies.
fn receiver(netns: std::path::PathBuf, port: u16) -> mpsc::Receiver<String> {
    let (bodies, received) = mpsc::channel();
    let (ready, listening) = mpsc::channel();
    std::thread::spawn(move || {
        let netns = std::fs::File::open(netns).unwrap();
        // Only this thread enters the node's namespace.
        assert_eq!(
            unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        ready.send(()).unwrap();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
            if bodies
                .send(String::from_utf8_lossy(&body).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    listening.recv().unwrap();
    received
}

#[test]
fn a_vrrp_transition_is_posted_to_the_webhook() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let n1 = lab.node(1);
    let bodies = receiver(n1.netns_path(), 18080);
    let _agent = LabAgent::command(&lab, n1)
        .manifest("apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  nodes: [{name: n1, address: 10.77.0.1}]\n  vrrp: {advertInterval: 100ms}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {name: web}\nspec: {cluster: lab, interface: eth0, vrid: 51, addresses: [10.77.0.100/24]}\n")
        .args(["--webhook", "http://127.0.0.1:18080/events"])
        .start();
    let mut seen = Vec::new();
    let became_master = loop {
        let body = bodies
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no BecameMaster event posted; got {seen:?}"));
        let event: serde_json::Value = serde_json::from_str(&body).unwrap();
        if event["reason"] == "BecameMaster" {
            break event;
        }
        seen.push(body);
    };
    assert_eq!(became_master["object"]["kind"], "VirtualIP");
    assert_eq!(became_master["object"]["name"], "web");
    assert_eq!(became_master["node"], "n1");
}
