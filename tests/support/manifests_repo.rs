//! A git repository of manifests, as GitOps agents pull it.

use std::path::{Path, PathBuf};

use crate::{expect_code, git, Agent};

/// A repository whose `manifests` directory an agent pulls.
pub struct ManifestsRepo {
    pub path: PathBuf,
    url: String,
}

impl ManifestsRepo {
    /// A new repository `repo` under `dir` on branch main, with an empty
    /// `manifests` directory to write into before [`ManifestsRepo::commit_all`].
    pub fn init(dir: &Path) -> ManifestsRepo {
        let path = dir.join("repo");
        std::fs::create_dir_all(path.join("manifests")).unwrap();
        git(&path, &["init", "-q", "-b", "main"]);
        let url = format!("file://{}", path.display());
        ManifestsRepo { path, url }
    }

    pub fn manifests(&self) -> PathBuf {
        self.path.join("manifests")
    }

    /// Commits every change of the working tree; the new commit's SHA.
    pub fn commit_all(&self, message: &str) -> String {
        self.commit_all_signed(message, None)
    }

    /// As [`ManifestsRepo::commit_all`], signed with the SSH private key
    /// `key` when given (`git commit -S`, `gpg.format=ssh`).
    pub fn commit_all_signed(&self, message: &str, key: Option<&Path>) -> String {
        git(&self.path, &["add", "-A"]);
        match key {
            Some(key) => {
                let key = format!("user.signingkey={}", key.display());
                let sign = ["-c", "gpg.format=ssh", "-c", &key, "commit", "-S"];
                git(&self.path, &[&sign[..], &["-q", "-m", message]].concat())
            }
            None => git(&self.path, &["commit", "-q", "-m", message]),
        };
        git(&self.path, &["rev-parse", "HEAD"])
    }

    /// The agent's flags to pull this repository's manifests every
    /// `interval`.
    pub fn pull_flags<'a>(&'a self, interval: &'a str) -> [&'a str; 6] {
        pull_flags(&self.url, interval)
    }
}

/// An agent's flags to pull the `manifests` directory of the repository
/// at `url` every `interval`.
pub(crate) fn pull_flags<'a>(url: &'a str, interval: &'a str) -> [&'a str; 6] {
    [
        "--git-url",
        url,
        "--git-path",
        "manifests",
        "--git-interval",
        interval,
    ]
}

impl Agent {
    /// Runs `gitops sync`, which must reject commit `sha` (exit 1) and
    /// say so; its report.
    pub fn sync_rejects(&self, sha: &str) -> String {
        let report = expect_code(&self.hc(&["gitops", "sync"]), 1);
        assert!(
            report.contains(&format!("{} REJECTED", &sha[..12])),
            "{report}"
        );
        report
    }
}
