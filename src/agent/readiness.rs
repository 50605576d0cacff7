//! systemd's readiness protocol (sd_notify(3)), for a unit of
//! `Type=notify`: the agent tells systemd when it is ready (the store is
//! open and the API listens) and when it stops, so `systemctl start`
//! returns once `hareconcile status` works and units ordered after this
//! one start only then.
//!
//! The protocol is one datagram of `KEY=value` lines to the Unix socket
//! that `NOTIFY_SOCKET` names: a path, or an abstract name written with
//! a leading `@`. Without the variable (not started by systemd, or not
//! as `Type=notify`) nothing is sent.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use tracing::warn;

pub struct Readiness {
    socket: Option<String>,
}

impl Readiness {
    /// Where systemd listens for this service, if it does.
    pub fn from_env() -> Self {
        Readiness {
            socket: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    /// Startup is complete: systemd marks the unit active.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// The agent is shutting down (the VIPs are being handed over).
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}"));
    }

    /// Best effort, as sd_notify is: a lost notification is systemd's
    /// start timeout to report, never a reason for the agent to stop.
    fn send(&self, state: &str) {
        if let Some(socket) = &self.socket {
            if let Err(e) = notify(socket, state) {
                warn!(%socket, error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
            }
        }
    }
}

/// Sends `state` to the notification socket `socket` names.
fn notify(socket: &str, state: &str) -> io::Result<()> {
    let address = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None if socket.starts_with('/') => SocketAddr::from_pathname(socket)?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only a path or an @abstract name is supported",
            ))
        }
    };
    let sender = UnixDatagram::unbound()?;
    let sent = sender.send_to_addr(state.as_bytes(), &address)?;
    if sent != state.len() {
        return Err(io::Error::other("the notification was truncated"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(listener: &UnixDatagram) -> String {
        let mut buffer = [0u8; 512];
        let n = listener.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..n].to_vec()).unwrap()
    }

    #[test]
    fn readiness_reaches_a_socket_at_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let readiness = Readiness {
            socket: Some(path.to_str().unwrap().to_owned()),
        };
        readiness.ready("serving");
        assert_eq!(received(&listener), "READY=1\nSTATUS=serving");
        readiness.stopping("handing over");
        assert_eq!(received(&listener), "STOPPING=1\nSTATUS=handing over");
    }

    #[test]
    fn an_at_sign_names_an_abstract_socket() {
        let name = format!("hareconcile-test-notify-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        notify(&format!("@{name}"), "READY=1").unwrap();
        assert_eq!(received(&listener), "READY=1");
    }

    #[test]
    fn other_addresses_are_refused_and_no_socket_sends_nothing() {
        assert!(notify("vsock:2:1234", "READY=1").is_err());
        Readiness { socket: None }.ready("nothing to tell");
    }
}
