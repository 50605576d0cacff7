//! From a compose file's path to one tree ready to decode, as Docker
//! Compose gets there: the variables (the environment over `.env`), the
//! project name, each file read and interpolated with its own variables,
//! its `include`s joined, its services' `extends` applied, and the env
//! files its services name read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::edit::field;
use super::env_file::{self, EnvFiles};
use super::files::Files;
use super::include;
use super::interpolate::{interpolate, Variables};
use super::node::{Node, Value};
use super::paths::lexically_clean;
use super::{extends, normalize_project_name, LoadOptions};

/// A project's files read into one tree, and what decoding needs besides.
pub struct Read {
    pub root: Node,
    pub file: PathBuf,
    /// The compose file's directory: relative paths are found here.
    pub dir: PathBuf,
    pub name: String,
    pub profiles: Vec<String>,
    pub variables: Variables,
    pub env_files: EnvFiles,
    pub label_files: EnvFiles,
    /// Services whose `extends` failed: not decoded, their problem stands.
    pub unresolved: BTreeSet<String>,
}

/// Reads the project of the compose file at `path`; `None` when there is
/// no tree to decode (the problems are in `files`).
pub fn read(path: &Path, options: &LoadOptions, files: &mut Files) -> Option<Read> {
    // As written, for messages, but without `a/../` detours.
    let path = &lexically_clean(path);
    let file = match std::path::absolute(path) {
        Ok(file) => file,
        Err(error) => {
            files.unreadable(path, error);
            return None;
        }
    };
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut variables = project_variables(&dir, options, files);
    let root = files.parse(path, None)?;
    let name = project_name(&root, &dir, options, &variables, files);
    // Compose sets it for the files to use, whatever the environment says.
    variables.set("COMPOSE_PROJECT_NAME", &name);
    let root = files.interpolate(root, &variables);
    let mut unresolved = BTreeSet::new();
    let root = resolved(
        root,
        &file,
        &variables,
        files,
        &mut vec![file.clone()],
        &mut unresolved,
    );
    let profiles = if options.profiles.is_empty() {
        listed_profiles(variables.get("COMPOSE_PROFILES").unwrap_or_default())
    } else {
        options.profiles.clone()
    };
    let env_files = service_files(&root, "env_file", &dir, &variables, files);
    // Compose interpolates label files with nothing but their own labels.
    let label_files = service_files(&root, "label_file", &dir, &Variables::default(), files);
    Some(Read {
        root,
        file,
        dir,
        name,
        profiles,
        variables,
        env_files,
        label_files,
        unresolved,
    })
}

/// A file's tree with its includes joined and its services' `extends`
/// applied; `chain` holds the files including it, to catch a cycle, and
/// the services `extends` failed for are added to `unresolved`.
pub fn resolved(
    mut root: Node,
    file: &Path,
    variables: &Variables,
    files: &mut Files,
    chain: &mut Vec<PathBuf>,
    unresolved: &mut BTreeSet<String>,
) -> Node {
    include::apply(&mut root, file, variables, files, chain, unresolved);
    unresolved.extend(extends::apply(&mut root, file, files, variables));
    root
}

/// The process environment (the caller's) over `.env` beside the compose
/// file, or over the env file the options name instead.
fn project_variables(dir: &Path, options: &LoadOptions, files: &mut Files) -> Variables {
    let environment = Variables::new(BTreeMap::new(), options.environment.clone());
    let dot_env = match &options.env_file {
        Some(file) => files.env_file(file, None, &environment),
        None => {
            let file = dir.join(".env");
            file.exists()
                .then(|| files.env_file(&file, None, &environment))
                .flatten()
        }
    };
    Variables::new(dot_env.unwrap_or_default(), options.environment.clone())
}

/// As Compose decides it: the caller's name (`-p`, a Service's project),
/// then `COMPOSE_PROJECT_NAME`, then the file's `name:` (normalized), then
/// the directory's name (normalized).
fn project_name(
    root: &Node,
    dir: &Path,
    options: &LoadOptions,
    variables: &Variables,
    files: &mut Files,
) -> String {
    if let Some(name) = &options.project_name {
        return name.clone();
    }
    if let Some(name) = variables
        .get("COMPOSE_PROJECT_NAME")
        .filter(|n| !n.is_empty())
    {
        if normalize_project_name(name) != name {
            files.problem(
                root.at,
                format!("COMPOSE_PROJECT_NAME {name:?} is not a project name: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"),
            );
        }
        return name.to_string();
    }
    // An interpolation failure here is reported with every other value's.
    let written = match field(root, "name").map(|n| &n.value) {
        Some(Value::String(text)) => interpolate(text, variables).map(|done| done.text).ok(),
        _ => None,
    };
    written
        .map(|name| normalize_project_name(&name))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| {
            normalize_project_name(
                dir.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("default"),
            )
        })
}

/// `COMPOSE_PROFILES=a, b`: comma-separated, blanks trimmed.
fn listed_profiles(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads every file of `key` (`env_file`, `label_file`) that a service
/// names, once each; a missing file that is not required is skipped
/// silently, as Compose does. Each file is interpolated with `variables`.
fn service_files(
    root: &Node,
    key: &str,
    dir: &Path,
    variables: &Variables,
    files: &mut Files,
) -> EnvFiles {
    let mut read = EnvFiles::new();
    let Some(Node {
        value: Value::Map(services),
        ..
    }) = field(root, "services")
    else {
        return read;
    };
    for service in services {
        let Some(node) = field(&service.value, key) else {
            continue;
        };
        // A malformed entry is the decoder's to report.
        let Ok(references) = env_file::references(node, dir, key) else {
            continue;
        };
        for reference in references {
            if read.contains_key(&reference.path)
                || (!reference.required && !reference.path.exists())
            {
                continue;
            }
            if let Some(vars) =
                files.env_file(&reference.path, Some((reference.at, key)), variables)
            {
                read.insert(reference.path, vars);
            }
        }
    }
    read
}

#[cfg(test)]
mod tests;
