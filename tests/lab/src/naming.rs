//! Names of everything a lab creates outside its own memory: namespaces,
//! LAN-side veths, directories, cgroups.
//!
//! Each lab gets a [`LabId`] such as `hl2lpn-3` (`hl`, the creating pid in
//! base 36, `-`, a process-wide serial in base 36). The pid makes labs of
//! different processes distinct and lets a later run tell whether the creator
//! is still alive; the serial separates labs of one process. Every derived
//! name is the id followed by `.` and a suffix, so one id is never a prefix of
//! another id's names (`hl2lpn-3` vs `hl2lpn-31`).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

const MARK: &str = "hl";

static SERIAL: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabId(String);

impl LabId {
    /// A fresh id for a lab of this process.
    pub fn next() -> LabId {
        LabId::new(std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn new(pid: u32, serial: u32) -> LabId {
        LabId(format!("{MARK}{}-{}", base36(pid), base36(serial)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pid of the process that created this lab.
    pub fn creator_pid(&self) -> u32 {
        let digits = &self.0[MARK.len()..self.0.find('-').expect("lab ids contain '-'")];
        u32::from_str_radix(digits, 36).expect("lab ids hold a base-36 pid")
    }

    /// The lab that owns `name` (a namespace, directory, cgroup or link name),
    /// if `name` is one of ours.
    pub fn owner_of(name: &str) -> Option<LabId> {
        let id = name.split_once('.').map_or(name, |(id, _)| id);
        let (pid, serial) = id.strip_prefix(MARK)?.split_once('-')?;
        let is_base36 = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        };
        if !is_base36(pid) || !is_base36(serial) {
            return None;
        }
        u32::from_str_radix(pid, 36).ok()?;
        u32::from_str_radix(serial, 36).ok()?;
        Some(LabId(id.to_owned()))
    }

    /// Whether `name` was derived from this id.
    pub fn owns(&self, name: &str) -> bool {
        name == self.0
            || name
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    }

    /// A name derived from this id: `ID.suffix`.
    pub fn derive(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.0)
    }

    /// The namespace holding the LAN bridges.
    pub fn lan_netns(&self) -> String {
        self.derive("lan")
    }

    /// The namespace of a host (`n1`, `client`).
    pub fn host_netns(&self, host: &str) -> String {
        self.derive(host)
    }

    /// The LAN-side end of a host's veth on LAN `lan` (0 = `a`, 1 = `b`, ...),
    /// from the host's short tag (`n1`, `c`). Faults act on it, and it must fit
    /// in an interface name.
    pub fn lan_port(&self, host_tag: &str, lan: usize) -> String {
        let lan_letter = char::from(b'a' + u8::try_from(lan).expect("fewer than 26 LANs"));
        self.derive(&format!("{host_tag}{lan_letter}"))
    }
}

impl fmt::Display for LabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("base-36 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_encode_pid_and_serial() {
        let id = LabId::new(4_194_304, 35);
        assert_eq!(id.as_str(), "hl2hwcg-z");
        assert_eq!(id.creator_pid(), 4_194_304);
    }

    #[test]
    fn ids_of_one_process_differ() {
        let a = LabId::next();
        let b = LabId::next();
        assert_ne!(a, b);
        assert_eq!(a.creator_pid(), std::process::id());
        assert_eq!(b.creator_pid(), std::process::id());
    }

    #[test]
    fn derived_names_belong_only_to_their_lab() {
        let short = LabId::new(1234, 3);
        let long = LabId::new(1234, 3 * 36 + 1);
        assert!(short.owns(&short.host_netns("n1")));
        assert!(short.owns(short.as_str()));
        assert!(!short.owns(&long.host_netns("n1")), "{short} vs {long}");
        assert!(!long.owns(&short.lan_netns()));
    }

    #[test]
    fn owner_is_recovered_from_any_derived_name() {
        let id = LabId::new(987_654, 12);
        for name in [
            id.lan_netns(),
            id.host_netns("client"),
            id.lan_port("n2", 1),
        ] {
            let owner = LabId::owner_of(&name).expect(&name);
            assert_eq!(owner, id);
            assert_eq!(owner.creator_pid(), 987_654);
        }
        for foreign in ["docker0", "hl", "hl-1", "hlx-", "hlAB-1.n1", "eth0"] {
            assert_eq!(LabId::owner_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn lan_ports_fit_in_interface_names_for_the_largest_pid() {
        let id = LabId::new(4_194_304, 36 * 36 - 1);
        for tag in ["n1", "n99", "c"] {
            let port = id.lan_port(tag, 1);
            assert!(port.len() <= MAX_IFNAME, "{port}");
        }
        assert_eq!(id.lan_port("n1", 0), "hl2hwcg-zz.n1a");
    }
}
