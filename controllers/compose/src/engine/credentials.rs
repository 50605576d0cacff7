//! Registry credentials from the Docker CLI's `config.json`
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the plain
//! `auths` entries `docker login` writes without a credential store.
//! Credential helpers (`credsStore`, `credHelpers`) are not run.

use std::path::PathBuf;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tracing::warn;

use crate::file::DEFAULT_REGISTRY;

/// Docker Hub's key in `auths`, as `docker login` writes it.
const HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: std::collections::HashMap<String, Auth>,
}

#[derive(Deserialize)]
struct Auth {
    /// base64 of `user:password`.
    auth: Option<String>,
}

fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => Some(PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json")),
    }
}

/// The credentials for `registry` (`docker.io`, `ghcr.io`,
/// `127.0.0.1:5000`), if the config file has them. Read at every pull:
/// a `docker login` while the agent runs counts at once.
pub fn for_registry(registry: &str) -> Option<DockerCredentials> {
    let path = config_path()?;
    let text = std::fs::read_to_string(&path).ok()?;
    match from_config(&text, registry) {
        Ok(found) => found,
        Err(e) => {
            warn!(file = %path.display(), error = %e, "cannot read registry credentials");
            None
        }
    }
}

/// Looks `registry` up in the text of a `config.json`.
fn from_config(text: &str, registry: &str) -> Result<Option<DockerCredentials>, String> {
    let config: ConfigFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let wanted = if registry == DEFAULT_REGISTRY {
        host_of(HUB_KEY)
    } else {
        registry
    };
    let Some((key, auth)) = config.auths.iter().find(|(key, _)| host_of(key) == wanted) else {
        return Ok(None);
    };
    let Some(encoded) = auth.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("auths entry {key:?}: {e}"))?;
    let decoded = String::from_utf8(decoded).map_err(|e| format!("auths entry {key:?}: {e}"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| format!("auths entry {key:?}: auth is not user:password"))?;
    Ok(Some(DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(key.clone()),
        ..Default::default()
    }))
}

/// `https://registry.example:5000/v1/` → `registry.example:5000`: keys are
/// written with and without a scheme and path.
fn host_of(key: &str) -> &str {
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    without_scheme.split('/').next().unwrap_or(without_scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    // "user:secret" and "bot:tok:en" (a colon in the password is kept).
    const CONFIG: &str = r#"{
        "auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpzZWNyZXQ="},
            "ghcr.io": {"auth": "Ym90OnRvazplbg=="},
            "https://registry.example:5000": {"auth": "dXNlcjpzZWNyZXQ="},
            "quay.io": {}
        },
        "credsStore": "desktop"
    }"#;

    fn user_and_password(registry: &str) -> Option<(String, String)> {
        from_config(CONFIG, registry)
            .unwrap()
            .map(|c| (c.username.unwrap(), c.password.unwrap()))
    }

    #[test]
    fn plain_auths_entries_are_found_by_registry_host() {
        let user = Some(("user".to_string(), "secret".to_string()));
        assert_eq!(user_and_password("docker.io"), user);
        assert_eq!(user_and_password("registry.example:5000"), user);
        assert_eq!(
            user_and_password("ghcr.io"),
            Some(("bot".to_string(), "tok:en".to_string()))
        );
        // No auth field (a credential store holds it) or no entry at all.
        assert_eq!(user_and_password("quay.io"), None);
        assert_eq!(user_and_password("127.0.0.1:5000"), None);
    }

    #[test]
    fn a_broken_entry_is_an_error_not_a_guess() {
        let broken = r#"{"auths": {"ghcr.io": {"auth": "not base64!"}}}"#;
        assert!(from_config(broken, "ghcr.io").is_err());
        assert!(from_config("{", "ghcr.io").is_err());
    }
}
