//! A directory search that stays inside the directory.
//!
//! A manifests directory or a git checkout is written by whoever may
//! commit, and read by an agent running as root: a link in it must not
//! make the agent read the host's files (`etc -> /etc`), an endless stream
//! (`zero.yaml -> /dev/zero`), or the same directories forever
//! (`again -> .`). So a link is followed only when its target lies inside
//! the root; each directory is searched once, whatever leads to it again
//! is a loop; only regular files are returned; and the search is iterative
//! and bounded in entries, so no tree can exhaust the stack or the clock.
//!
//! Hidden entries (`.git`, editor swap files) are never searched.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::read::FileKind;

/// How many directory entries one search looks at before it gives up: a
/// manifests directory holds dozens; a checkout with a hundred thousand
/// entries is not one.
pub const MAX_WALK_ENTRIES: usize = 100_000;

/// A file the search selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// As reached from the root given: what messages name.
    pub path: PathBuf,
    /// Without links: what to read.
    pub real: PathBuf,
}

/// An entry the search refused, or could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkProblem {
    pub path: PathBuf,
    pub message: String,
}

/// What a search found, each list sorted by path.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<Found>,
    pub problems: Vec<WalkProblem>,
}

impl Walk {
    fn problem(&mut self, path: &Path, message: impl Into<String>) {
        self.problems.push(WalkProblem {
            path: path.to_path_buf(),
            message: message.into(),
        });
    }
}

fn identity(metadata: &Metadata) -> (u64, u64) {
    (metadata.dev(), metadata.ino())
}

/// The regular files under the directory `root` whose path `wanted`
/// selects. Entries that are not selected are never reported: a dangling
/// `README` link is nobody's problem. A directory is always searched, so a
/// link to one outside the root, or back to one searched already, is.
pub fn walk(root: &Path, wanted: impl Fn(&Path) -> bool) -> Walk {
    let mut walk = Walk::default();
    let (real_root, root_metadata) = match root
        .canonicalize()
        .and_then(|real| std::fs::metadata(&real).map(|m| (real, m)))
    {
        Ok(found) => found,
        Err(e) => {
            walk.problem(root, format!("cannot read: {e}"));
            return walk;
        }
    };
    let mut searched = HashSet::from([identity(&root_metadata)]);
    let mut pending = vec![(root.to_path_buf(), real_root.clone())];
    let mut entries = 0usize;
    'search: while let Some((dir, real_dir)) = pending.pop() {
        let mut names = match std::fs::read_dir(&real_dir).and_then(|list| {
            list.map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<Vec<_>>>()
        }) {
            Ok(names) => names,
            Err(e) => {
                walk.problem(&dir, format!("cannot read: {e}"));
                continue;
            }
        };
        names.sort();
        // Directories are pushed in reverse so the search runs in order.
        let mut subdirectories = Vec::new();
        for name in names {
            entries += 1;
            if entries > MAX_WALK_ENTRIES {
                walk.problem(
                    root,
                    format!(
                        "more than {MAX_WALK_ENTRIES} entries: not searched further; point at the directory that holds the manifests"
                    ),
                );
                break 'search;
            }
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = dir.join(&name);
            let entry = real_dir.join(&name);
            let Some((real, metadata)) = walk.resolve(&path, entry, &real_root, &wanted) else {
                continue;
            };
            match FileKind::of(&metadata) {
                FileKind::Directory => {
                    if searched.insert(identity(&metadata)) {
                        subdirectories.push((path, real));
                    } else {
                        walk.problem(
                            &path,
                            format!(
                                "leads to {}, which is searched already (a link loop, or a second link to it): not followed",
                                real.display()
                            ),
                        );
                    }
                }
                _ if !wanted(&path) => {}
                FileKind::Regular => walk.files.push(Found { path, real }),
                other => walk.problem(
                    &path,
                    format!("it is {other}, not a regular file: only regular files are read"),
                ),
            }
        }
        pending.extend(subdirectories.into_iter().rev());
    }
    walk.files.sort_by(|a, b| a.path.cmp(&b.path));
    walk.problems.sort_by(|a, b| a.path.cmp(&b.path));
    walk
}

impl Walk {
    /// What `entry` (`path` as messages name it) is, following a link only
    /// to a target inside `real_root`.
    fn resolve(
        &mut self,
        path: &Path,
        entry: PathBuf,
        real_root: &Path,
        wanted: &impl Fn(&Path) -> bool,
    ) -> Option<(PathBuf, Metadata)> {
        let metadata = match std::fs::symlink_metadata(&entry) {
            Ok(metadata) => metadata,
            // Gone since the directory was listed.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.problem(path, format!("cannot read: {e}"));
                return None;
            }
        };
        if !metadata.file_type().is_symlink() {
            return Some((entry, metadata));
        }
        let target = match entry.canonicalize() {
            Ok(target) => target,
            // A dangling link matters only where a file was wanted; a link
            // loop (ELOOP) always does.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !wanted(path) => return None,
            Err(e) => {
                self.problem(path, format!("is a link that cannot be followed: {e}"));
                return None;
            }
        };
        let metadata = match std::fs::metadata(&target) {
            Ok(metadata) => metadata,
            Err(e) => {
                self.problem(path, format!("cannot read: {e}"));
                return None;
            }
        };
        if !target.starts_with(real_root) {
            if metadata.is_dir() || wanted(path) {
                self.problem(
                    path,
                    format!(
                        "is a link to {}, outside {}: links are followed only within the directory searched",
                        target.display(),
                        real_root.display()
                    ),
                );
            }
            return None;
        }
        Some((target, metadata))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn yaml(path: &Path) -> bool {
        matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
    }

    fn relative(root: &Path, walk: &Walk) -> (Vec<String>, Vec<String>) {
        let name = |p: &Path| p.strip_prefix(root).unwrap().display().to_string();
        (
            walk.files.iter().map(|f| name(&f.path)).collect(),
            walk.problems
                .iter()
                .map(|p| format!("{}: {}", name(&p.path), p.message))
                .collect(),
        )
    }

    #[test]
    fn finds_wanted_regular_files_in_order_skipping_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in ["b.yaml", "a.yml", "notes.txt", "sub/c.yaml", ".git/x.yaml"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let found = walk(root, yaml);
        assert_eq!(relative(root, &found).0, ["a.yml", "b.yaml", "sub/c.yaml"]);
        assert!(found.problems.is_empty());
    }

    #[test]
    fn links_are_followed_only_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("host.yaml"), "").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("manifests");
        std::fs::create_dir_all(root.join("v2")).unwrap();
        std::fs::write(root.join("v2/web.yaml"), "").unwrap();
        std::fs::write(root.join("README"), "").unwrap();
        symlink("v2/web.yaml", root.join("current.yaml")).unwrap();
        symlink(outside.path(), root.join("etc")).unwrap();
        symlink(outside.path().join("host.yaml"), root.join("host.yaml")).unwrap();
        symlink("/dev/zero", root.join("zero.yaml")).unwrap();
        symlink("/dev/zero", root.join("zero.txt")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        symlink("missing.yaml", root.join("dangling.yaml")).unwrap();
        let found = walk(&root, yaml);
        let (files, problems) = relative(&root, &found);
        assert_eq!(files, ["current.yaml", "v2/web.yaml"]);
        let real = outside.path().canonicalize().unwrap();
        let root_real = root.canonicalize().unwrap();
        assert_eq!(
            problems,
            [
                "dangling.yaml: is a link that cannot be followed: No such file or directory (os error 2)".to_string(),
                format!("etc: is a link to {}, outside {}: links are followed only within the directory searched", real.display(), root_real.display()),
                format!("host.yaml: is a link to {}, outside {}: links are followed only within the directory searched", real.join("host.yaml").display(), root_real.display()),
                format!("zero.yaml: is a link to /dev/zero, outside {}: links are followed only within the directory searched", root_real.display()),
            ]
        );
        assert_eq!(found.files[0].real, root_real.join("v2/web.yaml"));
    }

    #[test]
    fn link_loops_are_refused_not_searched_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/web.yaml"), "").unwrap();
        for (link, target) in [("a", "."), ("b", "."), ("sub/up", ".."), ("self", "self")] {
            symlink(target, root.join(link)).unwrap();
        }
        let found = walk(root, yaml);
        let (files, problems) = relative(root, &found);
        assert_eq!(files, ["sub/web.yaml"]);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("a: leads to "), "{problems:?}");
        assert!(problems[1].starts_with("b: leads to "), "{problems:?}");
        assert!(
            problems[2].starts_with("self: is a link that cannot be followed"),
            "{problems:?}"
        );
        assert!(problems[3].starts_with("sub/up: leads to "), "{problems:?}");
        assert!(problems[3].ends_with(
            "which is searched already (a link loop, or a second link to it): not followed"
        ));
    }

    #[test]
    fn fifos_and_devices_with_wanted_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        crate::read::tests::mkfifo(&root.join("pipe.yaml"));
        crate::read::tests::mkfifo(&root.join("pipe.txt"));
        let found = walk(root, yaml);
        let (files, problems) = relative(root, &found);
        assert!(files.is_empty());
        assert_eq!(
            problems,
            ["pipe.yaml: it is a FIFO (named pipe), not a regular file: only regular files are read"]
        );
    }

    #[test]
    fn a_missing_root_is_a_problem() {
        let found = walk(Path::new("/nonexistent/hareconcile"), yaml);
        assert!(found.files.is_empty());
        assert_eq!(found.problems.len(), 1);
    }
}
