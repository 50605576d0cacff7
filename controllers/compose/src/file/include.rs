//! Top-level `include`: other compose files whose services, networks,
//! volumes, secrets and configs join the project, as Compose does it.
//!
//! ```yaml
//! include:
//!   - db/compose.yaml                  # short form
//!   - path: [proxy/compose.yaml, proxy/override.yaml]
//!     project_directory: proxy         # default: the first file's directory
//!     env_file: proxy/.env             # default: PROJECT_DIRECTORY/.env if any
//! ```
//!
//! Each included file is read with its own variables (the including
//! file's, then its env files for names they leave unset), its own
//! `include`s and `extends`, and its relative paths resolved against its
//! project directory. Further paths of one entry are laid over the first
//! by the merge rules, and a resource the including file declares too is
//! laid over the included one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::decode::{one_or_many, string, Fields, Problem};
use super::edit::{field_mut, set_field, take_field};
use super::files::Files;
use super::interpolate::Variables;
use super::load::resolved;
use super::merge::merge;
use super::node::{Entry, Node, Position, Value};
use super::paths::absolutize_project;

/// What an included project brings in.
const SECTIONS: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Joins what `root`'s `include` names into `root` and removes the key.
/// `chain` holds `file` and the files including it.
pub fn apply(
    root: &mut Node,
    file: &Path,
    variables: &Variables,
    files: &mut Files,
    chain: &mut Vec<PathBuf>,
    unresolved: &mut BTreeSet<String>,
) {
    let Some(include) = take_field(root, "include") else {
        return;
    };
    let Value::Seq(entries) = &include.value else {
        files.problem(
            include.at,
            "include must be a list of paths or of {path, project_directory, env_file}",
        );
        return;
    };
    let dir = file.parent().unwrap_or(Path::new("/"));
    for entry in entries {
        let included = match Included::read(entry, dir) {
            Ok(included) => included,
            Err(problem) => {
                files.problem(problem.at, problem.message);
                continue;
            }
        };
        if let Some(project) = included.load(variables, files, chain, unresolved) {
            import(root, project, files);
        }
    }
}

/// One entry of `include`, its paths made absolute.
struct Included {
    /// The file, then files laid over it, each with where it is named.
    paths: Vec<(PathBuf, Position)>,
    project_directory: PathBuf,
    /// Named ones must exist; without any, `.env` of the project directory
    /// is read if it is there.
    env_files: Vec<(PathBuf, Position)>,
}

impl Included {
    fn read(node: &Node, dir: &Path) -> Result<Included, Problem> {
        let absolute = |node: &Node, text: String| (dir.join(text), node.at);
        if let Value::String(path) = &node.value {
            let path = dir.join(path);
            return Ok(Included {
                project_directory: path.parent().unwrap_or(dir).to_path_buf(),
                paths: vec![(path, node.at)],
                env_files: Vec::new(),
            });
        }
        let mut f = Fields::of(node, "include entry")?;
        let paths = match f.take("path") {
            Some(
                n @ Node {
                    value: Value::String(path),
                    ..
                },
            ) => vec![absolute(n, path.clone())],
            Some(Node {
                value: Value::Seq(items),
                ..
            }) if !items.is_empty() => items
                .iter()
                .map(|item| Ok(absolute(item, string(item, "include path")?)))
                .collect::<Result<_, Problem>>()?,
            Some(n) => {
                return Err(Problem::new(
                    n.at,
                    "include `path` must be a path or a list of paths",
                ))
            }
            None => return Err(Problem::new(node.at, "include entry needs `path`")),
        };
        let project_directory = match f.take("project_directory") {
            Some(n) => dir.join(string(n, "project_directory")?),
            None => paths[0].0.parent().unwrap_or(dir).to_path_buf(),
        };
        let env_files = match f.take("env_file") {
            Some(n) => one_or_many(n, "env_file")?
                .into_iter()
                .map(|file| absolute(n, file))
                .collect(),
            None => Vec::new(),
        };
        f.finish()?;
        Ok(Included {
            paths,
            project_directory,
            env_files,
        })
    }

    /// The included project, resolved and with absolute paths.
    fn load(
        self,
        parent: &Variables,
        files: &mut Files,
        chain: &mut Vec<PathBuf>,
        unresolved: &mut BTreeSet<String>,
    ) -> Option<Node> {
        let variables = self.variables(parent, files);
        let mut project: Option<Node> = None;
        for (path, at) in &self.paths {
            if let Some(start) = chain.iter().position(|f| f == path) {
                let cycle: Vec<String> = chain[start..]
                    .iter()
                    .chain([path])
                    .map(|f| f.display().to_string())
                    .collect();
                files.problem(*at, format!("include cycle: {}", cycle.join(" -> ")));
                return None;
            }
            let root = files.compose_file(path, Some((*at, "included file")), &variables)?;
            chain.push(path.clone());
            let root = resolved(root, path, &variables, files, chain, unresolved);
            chain.pop();
            project = Some(match project {
                None => root,
                Some(below) => lay_over(below, root, files),
            });
        }
        let mut project = project?;
        absolutize_project(&mut project, &self.project_directory);
        Some(project)
    }

    /// The including file's variables, then the env files' for names
    /// those leave unset.
    fn variables(&self, parent: &Variables, files: &mut Files) -> Variables {
        let mut variables = parent.clone();
        let default = self.project_directory.join(".env");
        let env_files: Vec<(PathBuf, Option<Position>)> = if self.env_files.is_empty() {
            if default.is_file() {
                vec![(default, None)]
            } else {
                Vec::new()
            }
        } else {
            self.env_files
                .iter()
                .filter(|(path, _)| path != Path::new("/dev/null"))
                .map(|(path, at)| (path.clone(), Some(*at)))
                .collect()
        };
        for (path, at) in env_files {
            let read = files.env_file(&path, at.map(|at| (at, "include env_file")), parent);
            for (name, value) in read.unwrap_or_default() {
                variables.set_default(&name, &value);
            }
        }
        variables
    }
}

/// An override file of the same include entry over the first.
fn lay_over(mut below: Node, upper: Node, files: &mut Files) -> Node {
    let Value::Map(entries) = upper.value else {
        return below;
    };
    for entry in entries {
        if SECTIONS.contains(&entry.key.as_str()) {
            let section = entry.key.clone();
            import_section(&mut below, &section, entry, files, true);
        } else {
            set_field(&mut below, entry);
        }
    }
    below
}

/// Joins an included project's resources into `root`; `root`'s own
/// definition of a name is laid over the included one.
fn import(root: &mut Node, project: Node, files: &mut Files) {
    let Value::Map(entries) = project.value else {
        return;
    };
    for entry in entries {
        if SECTIONS.contains(&entry.key.as_str()) {
            let section = entry.key.clone();
            import_section(root, &section, entry, files, false);
        }
    }
}

/// Adds the resources of `incoming` (a section such as `services`) to
/// `root`'s; where both define a name, `incoming_wins` decides which is
/// laid over the other.
fn import_section(
    root: &mut Node,
    section: &str,
    incoming: Entry,
    files: &mut Files,
    incoming_wins: bool,
) {
    let Value::Map(resources) = incoming.value.value else {
        return;
    };
    if field_mut(root, section).is_none() {
        set_field(
            root,
            Entry {
                key: section.to_string(),
                key_at: incoming.key_at,
                value: Node {
                    at: incoming.value.at,
                    value: Value::Map(Vec::new()),
                },
            },
        );
    }
    let Some(Node {
        value: Value::Map(existing),
        ..
    }) = field_mut(root, section)
    else {
        files.problem(root.at, format!("`{section}` must be a mapping"));
        return;
    };
    for resource in resources {
        let Some(i) = existing.iter().position(|e| e.key == resource.key) else {
            existing.push(resource);
            continue;
        };
        let (below, upper) = if incoming_wins {
            (existing[i].value.clone(), resource.value)
        } else {
            (resource.value, existing[i].value.clone())
        };
        match merge(below, upper, &[section, &resource.key]) {
            Ok(merged) => existing[i].value = merged,
            Err(problem) => files.problem(problem.at, problem.message),
        }
    }
}
