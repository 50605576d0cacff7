//! The git remote GitOps follows, and the credentials git uses for it,
//! kept apart: the URL git is given, logged, shown by `gitops status` and
//! saved under `--state-dir` never carries a password, and no command
//! line does (every local user can read `/proc/*/cmdline`).
//!
//! Credentials come from the URL (`https://user:token@host/...`, taken out
//! of it at start) or from a private file (`--git-credentials-file`, read
//! at every fetch so a rotated token counts at once). Git gets them from a
//! credential helper set up through `GIT_CONFIG_*` variables: the helper
//! prints two variables of git's environment, which only the agent's user
//! can read, so its command line names them and holds no value.

use std::path::{Path, PathBuf};

use hareconcile_model::redact::{self, UrlCredentials};
use tokio::process::Command;

/// The credential helper: answers git's `get` with the two variables;
/// ignores `store` and `erase`, so a failed fetch never touches the file.
const HELPER: &str = "!hareconcile_credentials() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"$HARECONCILE_GIT_USERNAME\" \"$HARECONCILE_GIT_PASSWORD\"; }; hareconcile_credentials";

#[derive(Debug, Clone)]
enum Credentials {
    /// Taken out of the URL.
    FromUrl(UrlCredentials),
    /// Read from this file at every fetch.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct GitRemote {
    /// Without credentials: what git fetches from and everything shows.
    url: String,
    credentials: Option<Credentials>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("--git-url {url} carries credentials and --git-credentials-file is given too: keep them in the file only")]
    TwoSources { url: String },
    #[error(transparent)]
    Secret(#[from] hareconcile_fs::SecretError),
    #[error("git credentials file {}: line {line}: {problem}", .path.display())]
    Format {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

impl GitRemote {
    pub fn new(url: &str, credentials_file: Option<PathBuf>) -> Result<GitRemote, RemoteError> {
        let (bare, from_url) = redact::split_credentials(url);
        let credentials = match (from_url, credentials_file) {
            (Some(_), Some(_)) => return Err(RemoteError::TwoSources { url: bare }),
            (Some(c), None) => Some(Credentials::FromUrl(c)),
            (None, Some(file)) => {
                // Refused at start rather than at the first fetch.
                read_credentials_file(&file)?;
                Some(Credentials::File(file))
            }
            (None, None) => None,
        };
        Ok(GitRemote {
            url: bare,
            credentials,
        })
    }

    /// The URL without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Gives `command` (a git command) the credentials through its
    /// environment; a credentials file that became unreadable or exposed
    /// fails the fetch with why.
    pub fn authenticate(&self, command: &mut Command) -> Result<(), RemoteError> {
        let credentials = match &self.credentials {
            None => return Ok(()),
            Some(Credentials::FromUrl(c)) => c.clone(),
            Some(Credentials::File(file)) => read_credentials_file(file)?,
        };
        command
            .env("GIT_CONFIG_COUNT", "2")
            // An empty helper first: the user's own helpers are not asked.
            .env("GIT_CONFIG_KEY_0", "credential.helper")
            .env("GIT_CONFIG_VALUE_0", "")
            .env("GIT_CONFIG_KEY_1", "credential.helper")
            .env("GIT_CONFIG_VALUE_1", HELPER)
            .env("HARECONCILE_GIT_USERNAME", credentials.username)
            .env("HARECONCILE_GIT_PASSWORD", credentials.password);
        Ok(())
    }
}

/// A credentials file: `username=` and `password=` lines (the format of a
/// cifs credentials file and of git's credential protocol); blank lines
/// and `#` comments are skipped. A token alone is `password=TOKEN`, sent
/// with the user `git`.
fn read_credentials_file(path: &Path) -> Result<UrlCredentials, RemoteError> {
    let bytes = hareconcile_fs::read_secret(path)?;
    let problem = |line: usize, problem: &str| RemoteError::Format {
        path: path.to_path_buf(),
        line,
        problem: problem.to_string(),
    };
    let text = String::from_utf8(bytes).map_err(|_| problem(1, "not UTF-8 text"))?;
    let (mut username, mut password) = (None, None);
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let slot = match line.split_once('=') {
            Some(("username", value)) => (&mut username, value),
            Some(("password", value)) => (&mut password, value),
            _ => {
                return Err(problem(
                    index + 1,
                    "expected username=NAME or password=SECRET (the value is not shown)",
                ))
            }
        };
        *slot.0 = Some(slot.1.to_string());
    }
    let password = password.ok_or_else(|| problem(1, "no password= line"))?;
    Ok(UrlCredentials {
        username: username.unwrap_or_else(|| "git".to_string()),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn secret_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("git.cred");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn env_of(command: &Command) -> Vec<(String, String)> {
        command
            .as_std()
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect()
    }

    #[test]
    fn url_credentials_go_to_the_environment_never_the_url() {
        let remote = GitRemote::new("https://ops:s3cret@git.example/ops.git", None).unwrap();
        assert_eq!(remote.url(), "https://git.example/ops.git");
        assert!(!format!("{remote:?}").contains("s3cret"));
        let mut git = Command::new("git");
        remote.authenticate(&mut git).unwrap();
        let env = env_of(&git);
        assert!(env.contains(&("HARECONCILE_GIT_PASSWORD".into(), "s3cret".into())));
        assert!(env.contains(&("HARECONCILE_GIT_USERNAME".into(), "ops".into())));
        assert!(!HELPER.contains("s3cret"));
    }

    #[test]
    fn a_credentials_file_must_be_private_and_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let file = secret_file(dir.path(), "# ops\npassword=tok\n", 0o600);
        let remote = GitRemote::new("https://git.example/ops.git", Some(file.clone())).unwrap();
        let mut git = Command::new("git");
        remote.authenticate(&mut git).unwrap();
        let env = env_of(&git);
        assert!(env.contains(&("HARECONCILE_GIT_USERNAME".into(), "git".into())));
        assert!(env.contains(&("HARECONCILE_GIT_PASSWORD".into(), "tok".into())));

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = GitRemote::new("https://git.example/ops.git", Some(file)).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");

        let file = secret_file(dir.path(), "username=ops\ntoken tok\n", 0o600);
        let error = GitRemote::new("https://git.example/ops.git", Some(file)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("line 2: expected"), "{message}");
        assert!(!message.contains("tok\n") && !message.contains("token tok"));

        let file = secret_file(dir.path(), "password=x\n", 0o600);
        let error = GitRemote::new("https://u:p@git.example/ops.git", Some(file)).unwrap_err();
        assert!(!error.to_string().contains(":p@"), "{error}");
    }

    /// The helper as git runs it: `sh -c 'HELPER get'` answers from the
    /// environment.
    #[test]
    fn the_helper_answers_git_from_the_environment() {
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$@\"", &HELPER[1..]))
            .arg("helper")
            .arg("get")
            .env("HARECONCILE_GIT_USERNAME", "ops")
            .env("HARECONCILE_GIT_PASSWORD", "s3cret")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "username=ops\npassword=s3cret\n"
        );
    }
}
