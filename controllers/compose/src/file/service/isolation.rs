//! How a service's container is set apart from the host and from other
//! containers: namespaces it shares, security options, a read-only root,
//! extra groups, its runtime and cgroup.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::file::decode::{
    boolean, scalar_text, string, string_list, string_map, Decoded, Fields, Problem, Problems,
};
use crate::file::node::Node;

/// Left out of the config hash while unset, so a service that sets none
/// keeps the hash it had before these settings existed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Isolation {
    /// `host`, `service:NAME` or `container:NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// `none`, `private`, `shareable`, `host`, `service:NAME` or `container:NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// The cgroup namespace: `host` or `private`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// As Docker takes them; a seccomp profile file is read into its JSON.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// `systempaths=unconfined`: nothing of /proc and /sys masked or
    /// read-only, which the docker CLI (not the engine) translates.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unmasked_paths: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
}

impl Isolation {
    /// The services whose namespaces this one joins (`pid`/`ipc`:
    /// `service:NAME`), with the key that says so.
    pub fn namespace_owners(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("pid", &self.pid), ("ipc", &self.ipc)]
            .into_iter()
            .filter_map(|(key, mode)| Some((key, mode.as_deref()?.strip_prefix("service:")?)))
    }
}

pub fn isolation(f: &mut Fields<'_>, project_dir: &Path, p: &Problems) -> Isolation {
    let mut mode = |key: &str, plain: &[&str], sharing: bool| {
        p.keep(mode(f.take(key), key, plain, sharing)).flatten()
    };
    let (pid, ipc, uts, cgroup, userns_mode) = (
        mode("pid", &["host"], true),
        mode("ipc", &["none", "private", "shareable", "host"], true),
        mode("uts", &["host"], false),
        mode("cgroup", &["host", "private"], false),
        mode("userns_mode", &["host"], false),
    );
    let isolation = Isolation {
        pid,
        ipc,
        uts,
        cgroup,
        userns_mode,
        cgroup_parent: f.decode_key("cgroup_parent", p, string),
        unmasked_paths: false,
        security_opt: Vec::new(),
        read_only: f.decode_key("read_only", p, boolean).unwrap_or(false),
        group_add: f
            .decode_key("group_add", p, string_list)
            .unwrap_or_default(),
        runtime: f.decode_key("runtime", p, string),
        device_cgroup_rules: f
            .decode("device_cgroup_rules", p, |n| {
                string_list(n, "device_cgroup_rules")
            })
            .unwrap_or_default(),
        storage_opt: f
            .decode("storage_opt", p, |n| string_map(n, '=', "storage_opt"))
            .unwrap_or_default(),
    };
    let security_opt = f.take("security_opt");
    p.keep(
        isolation
            .clone()
            .with_security_opt(security_opt, project_dir),
    )
    .unwrap_or(isolation)
}

/// A namespace mode: one of `plain`, or (`sharing`) another service's
/// or container's namespace.
fn mode(node: Option<&Node>, key: &str, plain: &[&str], sharing: bool) -> Decoded<Option<String>> {
    let Some(node) = node else {
        return Ok(None);
    };
    let value = scalar_text(node, key)?;
    let shared = sharing
        && ["service:", "container:"]
            .iter()
            .any(|p| value.strip_prefix(p).is_some_and(|name| !name.is_empty()));
    if plain.contains(&value.as_str()) || shared {
        return Ok(Some(value));
    }
    let mut allowed: Vec<String> = plain.iter().map(|p| p.to_string()).collect();
    if sharing {
        allowed.extend(["service:NAME".into(), "container:NAME".into()]);
    }
    Err(Problem::new(
        node.at,
        format!("{key} must be {}, not {value:?}", allowed.join(", ")),
    ))
}

impl Isolation {
    /// `security_opt` as the docker CLI passes it on: a seccomp profile
    /// named by path is sent as its JSON (the engine cannot read the
    /// client's files), `systempaths=unconfined` becomes empty masked and
    /// read-only path lists; the rest goes as written.
    fn with_security_opt(mut self, node: Option<&Node>, project_dir: &Path) -> Decoded<Self> {
        let Some(node) = node else {
            return Ok(self);
        };
        for (option, at) in string_list(node, "security_opt")?
            .into_iter()
            .zip(items(node))
        {
            if option == "systempaths=unconfined" {
                self.unmasked_paths = true;
                continue;
            }
            let (key, value) = match option.split_once('=').or_else(|| option.split_once(':')) {
                Some(pair) => pair,
                None if option == "no-new-privileges" => (option.as_str(), ""),
                None => {
                    return Err(Problem::new(
                        at.at,
                        format!("invalid security_opt {option:?}: write KEY=VALUE, e.g. no-new-privileges:true or seccomp=profile.json"),
                    ))
                }
            };
            if key == "seccomp" && value != "unconfined" && value != "builtin" {
                self.security_opt.push(format!(
                    "seccomp={}",
                    seccomp_profile(at, value, project_dir)?
                ));
            } else {
                self.security_opt.push(option);
            }
        }
        Ok(self)
    }
}

fn items(node: &Node) -> Vec<&Node> {
    match &node.value {
        crate::file::node::Value::Seq(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// The profile's JSON, compacted, read relative to the project directory.
fn seccomp_profile(at: &Node, path: &str, project_dir: &Path) -> Decoded<String> {
    let file = project_dir.join(path);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Problem::new(
            at.at,
            format!("cannot read the seccomp profile {}: {e}", file.display()),
        )
    })?;
    let profile: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Problem::new(
            at.at,
            format!("the seccomp profile {} is not JSON: {e}", file.display()),
        )
    })?;
    Ok(profile.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::node::parse;

    /// The first problem stands for all here.
    fn decode(text: &str, dir: &Path) -> Decoded<Isolation> {
        let node = parse(text).unwrap();
        let mut f = Fields::of(&node, "service `x`").unwrap();
        let problems = Problems::default();
        let isolation = isolation(&mut f, dir, &problems);
        f.finish_into(&problems);
        problems.first_or(isolation)
    }

    #[test]
    fn namespaces_security_options_and_seccomp_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("seccomp.json"),
            "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n",
        )
        .unwrap();
        let isolation = decode(
            "pid: host\nipc: 'service:db'\nread_only: true\ngroup_add: [audio, 1000]\nsecurity_opt: ['no-new-privileges:true', 'apparmor=unconfined', 'seccomp=seccomp.json', systempaths=unconfined]\nstorage_opt: {size: 1G}\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(isolation.pid.as_deref(), Some("host"));
        assert_eq!(
            isolation.namespace_owners().collect::<Vec<_>>(),
            [("ipc", "db")]
        );
        assert!(isolation.read_only && isolation.unmasked_paths);
        assert_eq!(isolation.group_add, ["audio", "1000"]);
        assert_eq!(
            isolation.security_opt,
            [
                "no-new-privileges:true",
                "apparmor=unconfined",
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#
            ]
        );
        assert_eq!(isolation.storage_opt["size"], "1G");

        let err = decode("ipc: sharable\n", dir.path()).unwrap_err();
        assert!(
            err.message.starts_with("ipc must be none, private"),
            "{}",
            err.message
        );
        let err = decode("security_opt: [seccomp=missing.json]\n", dir.path()).unwrap_err();
        assert_eq!((err.at.line, err.at.column), (1, 16));
        err.assert_says("missing.json");
    }
}
