//! The lock a render writes beside its output (`chart.lock`): which chart,
//! version and values made the directory, and which files are the chart's.
//! Kept in git with the manifests, it makes a chart upgrade or a values
//! change show in `git diff` and `hareconcile diff`; the next render into
//! the same directory replaces exactly the files the lock lists.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::document::{unpositioned, Positioned};
use crate::{ChartError, Rendered};

/// The lock's file name: not `*.yaml`, so directory loads and the agent's
/// manifests watcher never take it for a manifest.
pub const LOCK_FILE: &str = "chart.lock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub chart: String,
    pub version: String,
    /// `sha256:` of the merged values.
    pub values: String,
    /// Every file the render wrote, relative to the directory.
    pub files: Vec<String>,
}

impl Lock {
    fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# Written by `hareconcile chart render`: the chart, its version and\n\
             # the values (hash) that made this directory, and the files it wrote.\n",
        );
        out.push_str(&format!("chart: {}\n", self.chart));
        out.push_str(&format!("version: {}\n", self.version));
        out.push_str(&format!("values: {}\n", self.values));
        out.push_str("files:\n");
        for file in &self.files {
            out.push_str(&format!(
                "  - {}\n",
                serde_json::Value::String(file.clone())
            ));
        }
        out
    }

    /// The lock in `dir`, if a render wrote one there.
    pub fn read(dir: &Path) -> Result<Option<Lock>, ChartError> {
        let path = dir.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ChartError::Read { path, source }),
        };
        let document = Positioned::parse(&path, &text)?;
        serde_json::from_value(document.document.value)
            .map(Some)
            .map_err(|e| {
                ChartError::Invalid(unpositioned(
                    &path,
                    format!("{e}: render again into an empty directory"),
                ))
            })
    }
}

impl Rendered {
    /// Writes the render into `dir` (created if needed). Files a previous
    /// render listed in its lock and this one no longer writes are removed;
    /// a file the lock does not list is never overwritten (it is the user's).
    pub fn write_to(&self, dir: &Path) -> Result<(), ChartError> {
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ChartError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_error(dir))?;
        let previous = Lock::read(dir)?;
        if let Some(other) = previous.as_ref().filter(|l| l.chart != self.lock.chart) {
            return Err(ChartError::Output {
                path: dir.join(LOCK_FILE),
                message: format!(
                    "this directory holds a render of chart {}, not {}: render each chart into a directory of its own",
                    other.chart, self.lock.chart
                ),
            });
        }
        let previous: BTreeSet<String> = previous
            .map(|lock| lock.files.into_iter().collect())
            .unwrap_or_default();
        for path in self.files.keys() {
            let target = dir.join(path);
            if target.exists() && !previous.contains(path) {
                return Err(ChartError::Output {
                    path: target,
                    message: format!(
                        "exists and is not from a render of this directory ({LOCK_FILE} does not list it): move it away or render into another directory"
                    ),
                });
            }
        }
        for stale in previous.iter().filter(|p| !self.files.contains_key(*p)) {
            let target = dir.join(stale);
            match std::fs::remove_file(&target) {
                Ok(()) => remove_empty_parents(dir, &target),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ChartError::Write {
                        path: target,
                        source,
                    })
                }
            }
        }
        for (path, file) in &self.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
            std::fs::write(&target, &file.bytes).map_err(write_error(&target))?;
            let mode = if file.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(write_error(&target))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        std::fs::write(&lock_path, self.lock.to_yaml()).map_err(write_error(&lock_path))
    }
}

/// Removes directories a stale file leaves empty, up to `root`.
fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(current) = dir {
        if current == root || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OutputFile;
    use std::collections::BTreeMap;

    fn rendered(files: &[(&str, &str, bool)]) -> Rendered {
        let files: BTreeMap<String, OutputFile> = files
            .iter()
            .map(|(path, text, executable)| {
                (
                    path.to_string(),
                    OutputFile {
                        bytes: text.as_bytes().to_vec(),
                        executable: *executable,
                    },
                )
            })
            .collect();
        Rendered {
            lock: Lock {
                chart: "web".into(),
                version: "1.0.0".into(),
                values: "sha256:00".into(),
                files: files.keys().cloned().collect(),
            },
            files,
        }
    }

    #[test]
    fn writes_files_modes_and_a_lock_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = rendered(&[
            ("vip.yaml", "a: 1\n", false),
            ("files/up.sh", "#!/bin/sh\n", true),
        ]);
        first.write_to(dir.path()).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("vip.yaml"), 0o644);
        assert_eq!(mode("files/up.sh"), 0o755);
        assert_eq!(Lock::read(dir.path()).unwrap(), Some(first.lock.clone()));
    }

    #[test]
    fn a_new_render_replaces_the_old_one_and_keeps_the_users_files() {
        let dir = tempfile::tempdir().unwrap();
        rendered(&[
            ("vip.yaml", "a: 1\n", false),
            ("files/hooks/up.sh", "x", true),
        ])
        .write_to(dir.path())
        .unwrap();
        std::fs::write(dir.path().join("mine.yaml"), "kept").unwrap();
        rendered(&[("vip.yaml", "a: 2\n", false)])
            .write_to(dir.path())
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("vip.yaml")).unwrap(),
            "a: 2\n"
        );
        assert!(
            !dir.path().join("files").exists(),
            "the stale file and its empty directories go"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("mine.yaml")).unwrap(),
            "kept"
        );
    }

    #[test]
    fn never_replaces_another_charts_render() {
        let dir = tempfile::tempdir().unwrap();
        rendered(&[("cluster.yaml", "a: 1\n", false)])
            .write_to(dir.path())
            .unwrap();
        let mut other = rendered(&[("cluster.yaml", "b: 1\n", false)]);
        other.lock.chart = "dns".into();
        let message = other.write_to(dir.path()).unwrap_err().to_string();
        assert!(
            message.ends_with("chart.lock: this directory holds a render of chart web, not dns: render each chart into a directory of its own"),
            "{message}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("cluster.yaml")).unwrap(),
            "a: 1\n"
        );
    }

    #[test]
    fn never_overwrites_a_file_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vip.yaml"), "mine").unwrap();
        let message = rendered(&[("vip.yaml", "a: 1\n", false)])
            .write_to(dir.path())
            .unwrap_err()
            .to_string();
        assert!(message.ends_with("vip.yaml: exists and is not from a render of this directory (chart.lock does not list it): move it away or render into another directory"), "{message}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("vip.yaml")).unwrap(),
            "mine"
        );
    }
}
