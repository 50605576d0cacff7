//! `secrets:` and `configs:`, as Compose runs them without a swarm: a
//! file-based one is the host file bind-mounted read-only, one from an
//! environment variable (or, for configs, inline `content`) is written
//! into the container before it starts. Secrets go to
//! `/run/secrets/NAME` (a relative `target` is taken under it), configs
//! to `/NAME` (or `/TARGET`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::decode::{
    boolean, integer, items, named_entries, scalar_text, string, Decoded, Fields, Problem,
    Problems, Warnings,
};
use super::interpolate::Variables;
use super::node::{Node, Value};
use super::volumes::host_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Secret,
    Config,
}

impl Kind {
    /// The top-level key that defines them.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }

    /// Where a file goes when its `target` is missing or relative.
    fn directory(self) -> &'static str {
        match self {
            Kind::Secret => "/run/secrets/",
            Kind::Config => "/",
        }
    }
}

/// Where a secret's or config's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A host file, absolute.
    File(PathBuf),
    /// Bytes the agent writes into the container.
    Content(Content),
}

/// Secret bytes: never printed, and only their digest goes into the
/// config hash (a changed value still recreates the container).
#[derive(Clone, PartialEq, Eq)]
pub struct Content(pub String);

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Content({} bytes)", self.0.len())
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let digest: String = Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        serializer.serialize_str(&format!("sha256:{digest}"))
    }
}

/// A secret or config as one service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectedFile {
    pub name: String,
    /// Absolute path in the container.
    pub target: String,
    pub source: Source,
    /// Owner and mode of a written file (0444 unset); a bind-mounted host
    /// file keeps its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// The top-level definitions of one kind, by name.
pub type Definitions = BTreeMap<String, Source>;

/// Every definition of one kind; one that is wrong is recorded in
/// `problems` and kept under its name, so the services using it are not
/// told it is undeclared (the load fails anyway).
pub fn definitions(
    node: &Node,
    kind: Kind,
    project_dir: &Path,
    variables: &Variables,
    warnings: &Warnings,
    problems: &Problems,
) -> Definitions {
    let entries = problems
        .keep(named_entries(node, &format!("top-level {}s", kind.key())))
        .unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let what = format!("{} `{}`", kind.key(), e.key);
            let source = definition(&e.value, kind, &what, project_dir, variables, warnings);
            let placeholder = || Source::Content(Content(String::new()));
            (
                e.key.clone(),
                problems.keep(source).unwrap_or_else(placeholder),
            )
        })
        .collect()
}

fn definition(
    node: &Node,
    kind: Kind,
    what: &str,
    project_dir: &Path,
    variables: &Variables,
    warnings: &Warnings,
) -> Decoded<Source> {
    let mut f = Fields::of(node, what)?;
    if let Some(n) = f.take("external") {
        if boolean(n, "external")? {
            return Err(Problem::new(
                n.at,
                format!("{what} is external: external {}s live in a swarm, which hareconcile does not use (nor does docker compose without one); declare `file:` or `environment:`", kind.key()),
            ));
        }
    }
    let swarm = "it names or labels the object in a swarm; without one the file is used as is";
    f.ignore("name", swarm, warnings);
    f.ignore("labels", swarm, warnings);
    let plugin = "drivers are swarm plugins; without a swarm Compose refuses them too: use `file:` or `environment:`";
    f.refuse("driver", plugin)?;
    f.refuse("driver_opts", plugin)?;
    f.refuse("template_driver", plugin)?;
    let file = f.take("file");
    let environment = f.take("environment");
    let content = match kind {
        Kind::Config => f.take("content"),
        Kind::Secret => None,
    };
    f.finish()?;
    let source = match (file, environment, content) {
        (Some(n), None, None) => {
            let path = PathBuf::from(host_path(&string(n, "file")?, project_dir));
            if !path.is_file() {
                return Err(Problem::new(
                    n.at,
                    format!("{what}: file {} does not exist", path.display()),
                ));
            }
            Source::File(path)
        }
        (None, Some(n), None) => {
            let variable = string(n, "environment")?;
            let value = variables.get(&variable).ok_or_else(|| {
                Problem::new(
                    n.at,
                    format!("{what}: environment variable {variable} is not set"),
                )
            })?;
            Source::Content(Content(value.to_string()))
        }
        (None, None, Some(n)) => Source::Content(Content(scalar_text(n, "content")?)),
        (None, None, None) => {
            let from = match kind {
                Kind::Secret => "`file` or `environment`",
                Kind::Config => "`file`, `environment` or `content`",
            };
            return Err(Problem::new(node.at, format!("{what} must declare {from}")));
        }
        _ => {
            return Err(Problem::new(
                node.at,
                format!("{what} must declare only one of `file`, `environment` and `content`"),
            ))
        }
    };
    Ok(source)
}

/// A service's `secrets:` or `configs:` list: names, or `{source, target,
/// uid, gid, mode}`; each must be defined at the top level.
pub fn references(
    node: &Node,
    kind: Kind,
    defined: &Definitions,
    warnings: &Warnings,
) -> Decoded<Vec<ProjectedFile>> {
    let items = items(node, &format!("{}s", kind.key()))?;
    items
        .iter()
        .map(|item| reference(item, kind, defined, warnings))
        .collect()
}

fn reference(
    node: &Node,
    kind: Kind,
    defined: &Definitions,
    warnings: &Warnings,
) -> Decoded<ProjectedFile> {
    let (name, target, uid, gid, mode) = match &node.value {
        Value::Map(_) => {
            let mut f = Fields::of(node, format!("a {} of this service", kind.key()))?;
            let source = f
                .take("source")
                .ok_or_else(|| Problem::new(node.at, format!("a {} needs `source`", kind.key())))?;
            // Written into a tar header: a number, as Compose requires.
            let owner = |n: Option<&Node>, what: &str| {
                n.map(|n| {
                    let id = scalar_text(n, what)?;
                    match id.parse::<u32>() {
                        Ok(_) => Ok(id),
                        Err(_) => Err(Problem::new(
                            n.at,
                            format!("{what} must be a number, not {id:?}"),
                        )),
                    }
                })
                .transpose()
            };
            let parts = (
                string(source, "source")?,
                f.take_with("target", string)?,
                owner(f.take("uid"), "uid")?,
                owner(f.take("gid"), "gid")?,
                f.take("mode").map(file_mode).transpose()?,
            );
            f.finish()?;
            parts
        }
        _ => (string(node, kind.key())?, None, None, None, None),
    };
    let source = defined.get(&name).cloned().ok_or_else(|| {
        Problem::new(
            node.at,
            format!(
                "{} `{name}` is not declared under the top-level `{}s:`",
                kind.key(),
                kind.key()
            ),
        )
    })?;
    if matches!(source, Source::File(_)) && (uid.is_some() || gid.is_some() || mode.is_some()) {
        warnings.push(
            node.at,
            format!("uid, gid and mode of {} `{name}` are ignored: a file {} is the host file, bind-mounted read-only with its own owner and mode (as docker compose does)", kind.key(), kind.key()),
        );
    }
    let (uid, gid, mode) = match source {
        Source::File(_) => (None, None, None),
        Source::Content(_) => (uid, gid, mode),
    };
    let target = match target {
        Some(t) if t.starts_with('/') => t,
        Some(t) => format!("{}{t}", kind.directory()),
        None => format!("{}{name}", kind.directory()),
    };
    Ok(ProjectedFile {
        name,
        target,
        source,
        uid,
        gid,
        mode,
    })
}

/// A file mode: a number, or octal digits written as a string (`"0440"`).
pub fn file_mode(node: &Node) -> Decoded<u32> {
    let mode = match &node.value {
        Value::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
        _ => u32::try_from(integer(node, "mode")?).ok(),
    };
    mode.filter(|m| *m <= 0o7777)
        .ok_or_else(|| Problem::new(node.at, "mode must be a file mode such as 0440"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::node::parse;

    fn defined(dir: &Path, text: &str, kind: Kind) -> Decoded<Definitions> {
        let variables = Variables::new(
            BTreeMap::new(),
            BTreeMap::from([("DB_PASSWORD".to_string(), "s3cret".to_string())]),
        );
        let problems = Problems::default();
        let defined = definitions(
            &parse(text).unwrap(),
            kind,
            dir,
            &variables,
            &Warnings::default(),
            &problems,
        );
        problems.first_or(defined)
    }

    /// The `kind` references of a service written as `text`.
    fn referenced(
        text: &str,
        kind: Kind,
        defined: &Definitions,
        warnings: &Warnings,
    ) -> Decoded<Vec<ProjectedFile>> {
        references(&parse(text).unwrap(), kind, defined, warnings)
    }

    #[test]
    fn secrets_from_files_and_the_environment_land_where_compose_puts_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw.txt"), "x").unwrap();
        let secrets = defined(
            dir.path(),
            "pw: {file: ./pw.txt}\ndb: {environment: DB_PASSWORD}\n",
            Kind::Secret,
        )
        .unwrap();
        let warnings = Warnings::default();
        let used = referenced("[pw, {source: pw, target: other}, {source: db, target: /etc/db, mode: 0o400, uid: '70'}]", Kind::Secret, &secrets, &warnings)
        .unwrap();
        assert_eq!(used[0].target, "/run/secrets/pw");
        assert_eq!(used[0].source, Source::File(dir.path().join("pw.txt")));
        assert_eq!(used[1].target, "/run/secrets/other");
        assert_eq!(used[2].target, "/etc/db");
        assert_eq!(used[2].source, Source::Content(Content("s3cret".into())));
        assert_eq!(
            (used[2].mode, used[2].uid.as_deref()),
            (Some(0o400), Some("70"))
        );
        assert!(warnings.into_inner().is_empty());
        // The value itself never shows.
        assert!(!format!("{used:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&used).unwrap().contains("s3cret"));
    }

    #[test]
    fn configs_default_to_the_root_and_take_inline_content() {
        let dir = tempfile::tempdir().unwrap();
        let configs = defined(dir.path(), "app: {content: 'a=1'}\n", Kind::Config).unwrap();
        let used = referenced(
            "[app, {source: app, target: etc/app.conf}]",
            Kind::Config,
            &configs,
            &Warnings::default(),
        )
        .unwrap();
        assert_eq!(used[0].target, "/app");
        assert_eq!(used[1].target, "/etc/app.conf");
    }

    #[test]
    fn what_cannot_run_without_a_swarm_is_refused_where_written() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("pw: {file: missing.txt}\n", "does not exist"),
            ("pw: {environment: UNSET}\n", "UNSET is not set"),
            ("pw: {external: true}\n", "external"),
            ("pw: {driver: vault}\n", "`driver`"),
            ("pw: {}\n", "must declare `file` or `environment`"),
            ("pw: {content: x}\n", "unsupported key `content`"),
        ] {
            let err = defined(dir.path(), text, Kind::Secret).unwrap_err();
            assert!(err.message.contains(expected), "{text}: {}", err.message);
        }
        let secrets = Definitions::new();
        let err = referenced("[nope]", Kind::Secret, &secrets, &Warnings::default()).unwrap_err();
        err.assert_says("`nope` is not declared");
    }

    #[test]
    fn owner_and_mode_of_a_bind_mounted_file_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw.txt"), "x").unwrap();
        let secrets = defined(dir.path(), "pw: {file: pw.txt}\n", Kind::Secret).unwrap();
        let warnings = Warnings::default();
        let used = referenced(
            "[{source: pw, mode: 0o400}]",
            Kind::Secret,
            &secrets,
            &warnings,
        )
        .unwrap();
        assert_eq!(used[0].mode, None);
        assert_eq!(warnings.into_inner().len(), 1);
    }
}
