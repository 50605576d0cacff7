//! Whether a mount carries the options its Replication declares.
//!
//! The kernel shows only part of what mount(8) was given, so each declared
//! option is judged by what mountinfo can say about it:
//!
//! - **Exclusive flags** (`ro`/`rw`, `nosuid`/`suid`, `nodev`/`dev`,
//!   `noexec`/`exec`, `noatime`/`relatime`/`strictatime`,
//!   `nodiratime`/`diratime` in the per-mount options; `sync`/`async`,
//!   `hard`/`soft`/`softerr`, `ac`/`noac` in the superblock options):
//!   they differ when the kernel shows another member of the group, and
//!   match otherwise (the kernel does not print defaults such as `suid`).
//! - **`key=value`**: matches the same key with the same value in either
//!   list, differs with another value. `nfsvers` is `vers`, and `vers=4`
//!   matches the `vers=4.2` the kernel negotiated. `rsize` and `wsize` are
//!   negotiated down by the server and not compared.
//! - **Options the kernel never sees** (`defaults`, `auto`, `noauto`,
//!   `user`, `users`, `nouser`, `owner`, `group`, `nofail`, `_netdev`,
//!   `x-*`, `comment=*`), options that the mount helper consumes (sshfs's
//!   and ssh's, such as `IdentityFile=` or `reconnect`), and any other flag
//!   or key the kernel does not list: **not shown**, so not compared. They
//!   are reported as such, never as differences.
//!
//! What is reported shows secret options redacted (`password=<redacted>`).

use std::fmt;

use hareconcile_model::redact;

use crate::mountinfo::MountEntry;

/// Which of mountinfo's two option lists shows a group of flags.
#[derive(Clone, Copy)]
enum Shown {
    PerMount,
    Superblock,
}

const EXCLUSIVE_FLAGS: &[(Shown, &[&str])] = &[
    (Shown::PerMount, &["ro", "rw"]),
    (Shown::PerMount, &["nosuid", "suid"]),
    (Shown::PerMount, &["nodev", "dev"]),
    (Shown::PerMount, &["noexec", "exec"]),
    (Shown::PerMount, &["noatime", "relatime", "strictatime"]),
    (Shown::PerMount, &["nodiratime", "diratime"]),
    (Shown::Superblock, &["sync", "async"]),
    (Shown::Superblock, &["hard", "soft", "softerr"]),
    (Shown::Superblock, &["ac", "noac"]),
];

const USERSPACE_ONLY: &[&str] = &[
    "defaults", "auto", "noauto", "user", "users", "nouser", "owner", "group", "nofail", "_netdev",
];

const NEGOTIATED_KEYS: &[&str] = &["rsize", "wsize"];

/// A declared option the mount does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub declared: String,
    pub seen: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} declared, {} mounted", self.declared, self.seen)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub differences: Vec<Difference>,
    /// Declared options mountinfo cannot confirm either way.
    pub not_shown: Vec<String>,
}

impl Comparison {
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }
}

fn key_value(option: &str) -> Option<(&str, &str)> {
    let (key, value) = option.split_once('=')?;
    Some((if key == "nfsvers" { "vers" } else { key }, value))
}

fn same_value(key: &str, declared: &str, seen: &str) -> bool {
    declared == seen || (key == "vers" && seen.starts_with(&format!("{declared}.")))
}

fn userspace_only(option: &str) -> bool {
    USERSPACE_ONLY.contains(&option)
        || option.starts_with("x-")
        || option.starts_with("X-")
        || option.starts_with("comment=")
}

/// Judges every declared option against what the kernel shows.
pub fn compare(declared: &[String], mount: &MountEntry) -> Comparison {
    let shown = |list: Shown| match list {
        Shown::PerMount => &mount.mount_options,
        Shown::Superblock => &mount.super_options,
    };
    let everything = || mount.mount_options.iter().chain(&mount.super_options);
    let mut comparison = Comparison::default();
    for option in declared {
        let option = option.trim();
        if option.is_empty() {
            continue;
        }
        if let Some((list, group)) = EXCLUSIVE_FLAGS.iter().find(|(_, g)| g.contains(&option)) {
            let other = shown(*list)
                .iter()
                .find(|o| *o != option && group.contains(&o.as_str()));
            if let Some(other) = other {
                comparison.differences.push(Difference {
                    declared: option.to_string(),
                    seen: other.clone(),
                });
            }
            continue;
        }
        if userspace_only(option) {
            comparison
                .not_shown
                .push(redact::option(option).into_owned());
            continue;
        }
        match key_value(option) {
            Some((key, _)) if NEGOTIATED_KEYS.contains(&key) => {
                comparison
                    .not_shown
                    .push(redact::option(option).into_owned());
            }
            Some((key, value)) => {
                let seen = everything()
                    .filter_map(|o| key_value(o).map(|(k, v)| (k, v, o)))
                    .find(|(k, _, _)| *k == key);
                match seen {
                    Some((_, v, _)) if same_value(key, value, v) => {}
                    Some((_, _, o)) => comparison.differences.push(Difference {
                        declared: redact::option(option).into_owned(),
                        seen: redact::option(o).into_owned(),
                    }),
                    None => comparison
                        .not_shown
                        .push(redact::option(option).into_owned()),
                }
            }
            None if everything().any(|o| o == option) => {}
            None => comparison
                .not_shown
                .push(redact::option(option).into_owned()),
        }
    }
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(mount_options: &str, super_options: &str) -> MountEntry {
        let list = |s: &str| s.split(',').map(str::to_string).collect();
        MountEntry {
            mount_point: PathBuf::from("/srv/data"),
            fs_type: "nfs4".into(),
            source: "nas:/export".into(),
            mount_options: list(mount_options),
            super_options: list(super_options),
        }
    }

    fn declared(options: &[&str]) -> Vec<String> {
        options.iter().map(|o| o.to_string()).collect()
    }

    #[test]
    fn nfs_options_match_what_the_kernel_negotiated() {
        let nfs = entry(
            "rw,relatime",
            "rw,vers=4.2,rsize=524288,wsize=524288,hard,proto=tcp,timeo=600",
        );
        let result = compare(
            &declared(&[
                "vers=4",
                "hard",
                "rsize=1048576",
                "timeo=600",
                "_netdev",
                "rw",
            ]),
            &nfs,
        );
        assert!(result.matches(), "{result:?}");
        assert_eq!(result.not_shown, ["rsize=1048576", "_netdev"]);
        assert!(compare(&declared(&["nfsvers=4.2"]), &nfs).matches());
    }

    #[test]
    fn another_value_or_an_opposite_flag_differs() {
        let nfs = entry("ro,nosuid,relatime", "rw,vers=4.1,soft,timeo=100");
        let result = compare(
            &declared(&["vers=4.2", "hard", "rw", "noatime", "suid", "timeo=100"]),
            &nfs,
        );
        let differences: Vec<String> = result.differences.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            differences,
            [
                "vers=4.2 declared, vers=4.1 mounted",
                "hard declared, soft mounted",
                "rw declared, ro mounted",
                "noatime declared, relatime mounted",
                "suid declared, nosuid mounted",
            ]
        );
    }

    #[test]
    fn a_read_only_mount_of_a_writable_superblock_is_read_only() {
        // ro/rw is per mount: the superblock's "rw" does not contradict it.
        assert!(compare(&declared(&["ro"]), &entry("ro,relatime", "rw")).matches());
    }

    #[test]
    fn defaults_the_kernel_does_not_print_match() {
        let plain = entry("rw,relatime", "rw");
        assert!(compare(&declared(&["suid", "dev", "exec", "async"]), &plain).matches());
    }

    #[test]
    fn helper_options_are_not_shown_rather_than_different() {
        let sshfs = entry("rw,nosuid,nodev,relatime", "rw,user_id=0,group_id=0");
        let result = compare(
            &declared(&[
                "IdentityFile=/root/.ssh/id",
                "ServerAliveInterval=1",
                "reconnect",
                "nosuid",
                "user_id=0",
            ]),
            &sshfs,
        );
        assert!(result.matches());
        assert_eq!(
            result.not_shown,
            [
                "IdentityFile=/root/.ssh/id",
                "ServerAliveInterval=1",
                "reconnect"
            ]
        );
    }

    #[test]
    fn secret_options_are_reported_redacted() {
        let cifs = entry("rw", "rw,vers=3.0,username=web,password=other");
        let result = compare(
            &declared(&["password=s3cret", "pass=p2", "vers=3.0"]),
            &cifs,
        );
        assert_eq!(result.not_shown, ["pass=<redacted>"]);
        assert_eq!(
            result.differences,
            [Difference {
                declared: "password=<redacted>".into(),
                seen: "password=<redacted>".into(),
            }]
        );
    }
}
