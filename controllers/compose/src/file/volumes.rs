//! A service's `volumes:` in short (`./data:/data:ro`) and long syntax.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::decode::{boolean, byte_size, items, string, Decoded, Fields, Problem};
use super::node::{Node, Value};
use super::projected::file_mode;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path, made absolute against the project directory.
    Bind,
    /// A named volume of the project, or anonymous when it has no source.
    Volume,
    /// Memory, gone when the container stops.
    Tmpfs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// Size and mode of a tmpfs; left out of the config hash while unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    /// Further options of a bind or volume as Docker's bind syntax takes
    /// them after the mode: propagation (`rslave`...), SELinux relabelling
    /// (`z`, `Z`), `nocopy`. Left out of the config hash while empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Mount propagation modes a bind mount may take.
const PROPAGATION: [&str; 6] = [
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TmpfsOptions {
    /// Bytes; unlimited (half the host's memory, the kernel's default) unset.
    pub size: Option<i64>,
    pub mode: Option<u32>,
}

/// Decodes the list; named volumes must be declared at the top level.
pub fn mounts(node: &Node, project_dir: &Path, declared: &BTreeSet<String>) -> Decoded<Vec<Mount>> {
    let items = items(node, "volumes")?;
    items
        .iter()
        .map(|item| {
            let mount = match &item.value {
                Value::Map(_) => long(item, project_dir)?,
                _ => short(&string(item, "volume")?, project_dir)
                    .map_err(|m| Problem::new(item.at, m))?,
            };
            match (&mount.kind, &mount.source) {
                (MountKind::Volume, Some(name)) if !declared.contains(name) => Err(Problem::new(
                    item.at,
                    format!("named volume `{name}` is not declared under the top-level `volumes:`"),
                )),
                _ => Ok(mount),
            }
        })
        .collect()
}

fn is_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
}

/// A host path as Docker wants it: absolute, `~/` expanded, and `.` and
/// `..` resolved lexically, as Compose does.
pub fn host_path(source: &str, project_dir: &Path) -> String {
    let path = match source.strip_prefix("~/") {
        Some(rest) => Path::new(&std::env::var("HOME").unwrap_or_default()).join(rest),
        None => project_dir.join(source),
    };
    super::paths::lexically_clean(&path).display().to_string()
}

fn short(spec: &str, project_dir: &Path) -> Result<Mount, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, mode] => (Some(*source), *target, *mode),
        _ => {
            return Err(format!(
                "invalid volume {spec:?}: write SOURCE:TARGET[:MODE]"
            ))
        }
    };
    let mut read_only = false;
    let mut options = Vec::new();
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => {}
            "z" | "Z" | "nocopy" => options.push(option.to_string()),
            propagation if PROPAGATION.contains(&propagation) => {
                options.push(option.to_string())
            }
            _ => {
                return Err(format!(
                    "unsupported volume mode {option:?} in {spec:?}: use ro or rw, z or Z, nocopy, or a propagation ({})",
                    PROPAGATION.join(", ")
                ))
            }
        }
    }
    if !target.starts_with('/') {
        return Err(format!(
            "volume target in {spec:?} must be an absolute path"
        ));
    }
    Ok(match source {
        Some(s) if is_path(s) => Mount {
            kind: MountKind::Bind,
            source: Some(host_path(s, project_dir)),
            target: target.to_string(),
            read_only,
            tmpfs: None,
            options,
        },
        source => Mount {
            kind: MountKind::Volume,
            source: source.map(str::to_string),
            target: target.to_string(),
            read_only,
            tmpfs: None,
            options,
        },
    })
}

fn long(node: &Node, project_dir: &Path) -> Decoded<Mount> {
    let mut f = Fields::of(node, "volume")?;
    let type_node = f
        .take("type")
        .ok_or_else(|| Problem::new(node.at, "volume needs `type`"))?;
    let kind = match string(type_node, "type")?.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        other => {
            return Err(Problem::new(
                type_node.at,
                format!("volume type {other:?} is not supported: use bind, volume or tmpfs"),
            ))
        }
    };
    let source = f.take_with("source", string)?;
    let target_node = f
        .take("target")
        .ok_or_else(|| Problem::new(node.at, "volume needs `target`"))?;
    let read_only = f.take_with("read_only", boolean)?.unwrap_or(false);
    let mut options = Vec::new();
    if let Some(bind) = f.take("bind") {
        let mut b = Fields::of(bind, "bind")?;
        // What a bind of this engine does anyway: the host path is made
        // when missing.
        b.take("create_host_path");
        if let Some(n) = b.take("propagation") {
            let propagation = string(n, "propagation")?;
            if !PROPAGATION.contains(&propagation.as_str()) {
                return Err(Problem::new(
                    n.at,
                    format!(
                        "propagation must be one of {}, not {propagation:?}",
                        PROPAGATION.join(", ")
                    ),
                ));
            }
            options.push(propagation);
        }
        if let Some(n) = b.take("selinux") {
            match string(n, "selinux")?.as_str() {
                label @ ("z" | "Z") => options.push(label.to_string()),
                other => {
                    return Err(Problem::new(
                        n.at,
                        format!("selinux must be z (shared) or Z (private), not {other:?}"),
                    ))
                }
            }
        }
        b.refuse(
            "recursive",
            "hareconcile writes the settings of Engine API 1.41 (Docker 20.10), which has no recursive read-only binds (Docker 25 and later have)",
        )?;
        b.finish()?;
    }
    if let Some(volume) = f.take("volume") {
        let mut v = Fields::of(volume, "volume options")?;
        if let Some(n) = v.take("nocopy") {
            if boolean(n, "nocopy")? {
                options.push("nocopy".to_string());
            }
        }
        v.refuse(
            "subpath",
            "hareconcile writes the settings of Engine API 1.41 (Docker 20.10), which cannot mount part of a volume (Docker 26 and later can)",
        )?;
        v.finish()?;
    }
    let tmpfs = f.take("tmpfs").map(tmpfs_options).transpose()?;
    // Only Docker Desktop on macOS acts on it; Linux engines ignore it.
    f.take("consistency");
    f.finish()?;
    let source = match (&kind, source) {
        (MountKind::Bind, None) => {
            return Err(Problem::new(node.at, "a bind mount needs `source`"))
        }
        (MountKind::Bind, Some(s)) => Some(host_path(&s, project_dir)),
        (MountKind::Volume, s) => s,
        (MountKind::Tmpfs, Some(_)) => {
            return Err(Problem::new(
                node.at,
                "a tmpfs mount has no `source`: it is memory",
            ))
        }
        (MountKind::Tmpfs, None) => None,
    };
    let tmpfs = match (&kind, tmpfs) {
        (MountKind::Tmpfs, options) => Some(options.unwrap_or_default()),
        (_, None) => None,
        (_, Some(_)) => return Err(Problem::new(node.at, "`tmpfs` options need `type: tmpfs`")),
    };
    Ok(Mount {
        kind,
        source,
        target: string(target_node, "target")?,
        read_only,
        tmpfs,
        options,
    })
}

fn tmpfs_options(node: &Node) -> Decoded<TmpfsOptions> {
    let mut f = Fields::of(node, "tmpfs options")?;
    let options = TmpfsOptions {
        size: f.take_with("size", byte_size)?,
        mode: f.take("mode").map(file_mode).transpose()?,
    };
    f.finish()?;
    Ok(options)
}

/// The service's `tmpfs:` key: `TARGET` or `TARGET:OPTIONS` (the mount
/// options of `mount -t tmpfs`, e.g. `size=64m,mode=1777`), one or a list.
pub fn tmpfs(node: &Node) -> Decoded<BTreeMap<String, String>> {
    let mut mounts = BTreeMap::new();
    let items = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    for item in items {
        let spec = string(item, "tmpfs")?;
        let (target, options) = spec.split_once(':').unwrap_or((&spec, ""));
        if !target.starts_with('/') {
            return Err(Problem::new(
                item.at,
                format!("tmpfs target in {spec:?} must be an absolute path"),
            ));
        }
        if mounts
            .insert(target.to_string(), options.to_string())
            .is_some()
        {
            return Err(Problem::new(
                item.at,
                format!("tmpfs {target} is mounted twice"),
            ));
        }
    }
    Ok(mounts)
}

/// `volumes_from`: `SERVICE[:ro|rw]` or `container:NAME[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumesFrom {
    /// A service of the project, or (`container:`) any container.
    pub service: Option<String>,
    pub container: Option<String>,
    pub read_only: bool,
}

pub fn volumes_from(node: &Node) -> Decoded<Vec<VolumesFrom>> {
    let items = items(node, "volumes_from")?;
    items
        .iter()
        .map(|item| {
            let spec = string(item, "volumes_from")?;
            let (name, mode) = match spec.rsplit_once(':') {
                Some((name, mode @ ("ro" | "rw"))) => (name, mode),
                _ => (spec.as_str(), "rw"),
            };
            let (service, container) = match name.strip_prefix("container:") {
                Some(container) => (None, Some(container.to_string())),
                None if name.contains(':') || name.is_empty() => {
                    return Err(Problem::new(
                        item.at,
                        format!("volumes_from must be SERVICE[:ro|rw] or container:NAME[:ro|rw], not {spec:?}"),
                    ))
                }
                None => (Some(name.to_string()), None),
            };
            Ok(VolumesFrom {
                service,
                container,
                read_only: mode == "ro",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    /// `mounts` of the YAML `text`, relative to /p.
    fn mounts_in(text: &str, declared: &BTreeSet<String>) -> Decoded<Vec<Mount>> {
        mounts(&parse(text).unwrap(), Path::new("/p"), declared)
    }

    fn mount(kind: MountKind, source: Option<&str>, target: &str, read_only: bool) -> Mount {
        Mount {
            kind,
            source: source.map(str::to_string),
            target: target.to_string(),
            read_only,
            tmpfs: None,
            options: Vec::new(),
        }
    }

    #[test]
    fn short_and_long_forms() {
        let node = parse(concat!(
            "- ./www:/www:ro\n",
            "- /etc/hosts:/h\n",
            "- data:/data\n",
            "- /anon\n",
            "- {type: bind, source: ../conf, target: /conf, read_only: true, bind: {create_host_path: true}}\n",
            "- {type: volume, source: data, target: /d2, volume: {nocopy: true}}\n",
        ))
        .unwrap();
        let declared = BTreeSet::from(["data".to_string()]);
        assert_eq!(
            mounts(&node, Path::new("/srv/web"), &declared).unwrap(),
            [
                mount(MountKind::Bind, Some("/srv/web/www"), "/www", true),
                mount(MountKind::Bind, Some("/etc/hosts"), "/h", false),
                mount(MountKind::Volume, Some("data"), "/data", false),
                mount(MountKind::Volume, None, "/anon", false),
                mount(MountKind::Bind, Some("/srv/conf"), "/conf", true),
                Mount {
                    options: vec!["nocopy".to_string()],
                    ..mount(MountKind::Volume, Some("data"), "/d2", false)
                },
            ]
        );
    }

    #[test]
    fn undeclared_volumes_are_errors() {
        let none = BTreeSet::new();
        let err = mounts_in("- cache:/c\n", &none).unwrap_err();
        err.assert_says("`cache` is not declared");
        let err = mounts_in("- {type: npipe, target: /t}\n", &none).unwrap_err();
        assert_eq!(err.at.column, 10);
    }

    #[test]
    fn propagation_relabelling_and_nocopy_are_kept_for_the_engine() {
        let declared = BTreeSet::from(["data".to_string()]);
        let all = mounts(
            &parse(concat!(
                "- /:/host:ro,rslave\n",
                "- ./conf:/conf:z\n",
                "- data:/data:nocopy\n",
                "- {type: bind, source: /srv, target: /srv, bind: {propagation: rshared, selinux: Z}}\n",
                "- {type: volume, source: data, target: /d2, volume: {nocopy: true}}\n",
            ))
            .unwrap(),
            Path::new("/p"),
            &declared,
        )
        .unwrap();
        let options: Vec<&[String]> = all.iter().map(|m| m.options.as_slice()).collect();
        assert_eq!(
            options,
            [
                &["rslave".to_string()][..],
                &["z".to_string()],
                &["nocopy".to_string()],
                &["rshared".to_string(), "Z".to_string()],
                &["nocopy".to_string()],
            ]
        );
        assert!(all[0].read_only);
        let err = mounts_in("- /a:/b:rw,shiny\n", &declared).unwrap_err();
        err.assert_says("unsupported volume mode \"shiny\"");
    }

    #[test]
    fn tmpfs_in_both_places() {
        let none = BTreeSet::new();
        let long = mounts_in("- {type: tmpfs, target: /cache, tmpfs: {size: 64m, mode: '1777'}}\n- {type: tmpfs, target: /t}\n", &none)
        .unwrap();
        assert_eq!(long[0].kind, MountKind::Tmpfs);
        assert_eq!(
            long[0].tmpfs,
            Some(TmpfsOptions {
                size: Some(64 << 20),
                mode: Some(0o1777)
            })
        );
        assert_eq!(long[1].tmpfs, Some(TmpfsOptions::default()));
        let err = mounts_in("- {type: tmpfs, source: x, target: /t}\n", &none).unwrap_err();
        err.assert_says("no `source`");
        let short = tmpfs(&parse("[/run, '/tmp:size=1m,mode=1777']").unwrap()).unwrap();
        assert_eq!(short["/run"], "");
        assert_eq!(short["/tmp"], "size=1m,mode=1777");
        assert_eq!(tmpfs(&parse("/run").unwrap()).unwrap().len(), 1);
        assert!(tmpfs(&parse("[run]").unwrap()).is_err());
    }

    #[test]
    fn volumes_from_services_and_containers() {
        let from =
            volumes_from(&parse("[db, 'cache:ro', 'container:legacy:rw']").unwrap()).unwrap();
        assert_eq!(from[0].service.as_deref(), Some("db"));
        assert!(from[1].read_only);
        assert_eq!(from[2].container.as_deref(), Some("legacy"));
        assert!(!from[2].read_only);
        assert!(volumes_from(&parse("['a:b']").unwrap()).is_err());
    }
}
