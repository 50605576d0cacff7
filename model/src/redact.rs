//! Secrets as they may be written in a manifest or on a command line, and
//! how they are shown: everything that renders a mount's options, a git
//! remote or a command it runs into a log line, an event, a status or an
//! error message goes through here, so a password declared in `options`
//! (`password=...`) or in a URL (`https://user:token@host/...`) reaches
//! none of them.
//!
//! Redaction hides the value and keeps its place (`password=<redacted>`,
//! `https://user:<redacted>@host/`): the reader still sees that a
//! password is given, and where.

use std::borrow::Cow;

/// What stands for a hidden value.
pub const REDACTED: &str = "<redacted>";

/// Whether an option key names a secret: cifs's `password`, `password2`
/// and `pass`, and any other `*pass*`, `*secret*` or `*token*` key. A key
/// naming a file that holds secrets (`credentials=`) is not one.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    ["pass", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
}

/// One mount option as shown: `password=s3cret` becomes
/// `password=<redacted>`; other options are shown as written.
pub fn option(option: &str) -> Cow<'_, str> {
    match option.split_once('=') {
        Some((key, _)) if is_secret_key(key) => Cow::Owned(format!("{key}={REDACTED}")),
        _ => Cow::Borrowed(option),
    }
}

/// A list of mount options as shown.
pub fn options(options: &[String]) -> Vec<String> {
    options.iter().map(|o| option(o).into_owned()).collect()
}

/// A comma-separated option string (`mount -o`'s argument) as shown.
fn option_list(list: &str) -> Cow<'_, str> {
    if !list.split(',').any(|o| matches!(option(o), Cow::Owned(_))) {
        return Cow::Borrowed(list);
    }
    Cow::Owned(list.split(',').map(option).collect::<Vec<_>>().join(","))
}

/// A spec as shown by `describe`: the secret values of every `options`
/// list in it (a Replication's `mount.options`, `nfs.options`) redacted.
pub fn spec(spec: &serde_json::Value) -> serde_json::Value {
    let mut shown = spec.clone();
    redact_spec_options(&mut shown);
    shown
}

fn redact_spec_options(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match field {
                    Value::Array(items) if key == "options" => {
                        for item in items.iter_mut() {
                            if let Value::String(text) = item {
                                *text = option(text).into_owned();
                            }
                        }
                    }
                    _ => redact_spec_options(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_spec_options),
        _ => {}
    }
}

/// The parts of a URL with credentials: `scheme://USERINFO@rest`.
struct Userinfo<'a> {
    scheme: &'a str,
    userinfo: &'a str,
    /// Host and everything after it.
    rest: &'a str,
}

fn userinfo(url: &str) -> Option<Userinfo<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let at = after[..authority_end].rfind('@')?;
    Some(Userinfo {
        scheme,
        userinfo: &after[..at],
        rest: &after[at + 1..],
    })
}

/// Whether the user part alone is a secret: on http(s), a lone name is
/// how tokens are given (`https://TOKEN@host/`); on ssh it is the login.
fn user_is_secret(scheme: &str) -> bool {
    matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
}

/// A URL as shown: `https://user:token@host/x` becomes
/// `https://user:<redacted>@host/x`, `https://token@host/x` becomes
/// `https://<redacted>@host/x`; `ssh://git@host/x` and URLs without
/// credentials are shown as written.
pub fn url(url: &str) -> Cow<'_, str> {
    let Some(parts) = userinfo(url) else {
        return Cow::Borrowed(url);
    };
    let shown = match parts.userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED}"),
        None if user_is_secret(parts.scheme) => REDACTED.to_string(),
        None => return Cow::Borrowed(url),
    };
    Cow::Owned(format!("{}://{shown}@{}", parts.scheme, parts.rest))
}

/// A URL path as shown where the path itself may be the secret, as in a
/// webhook's (a Slack or Discord webhook, an ntfy topic, Gotify's
/// `?token=`): `/` is shown, anything longer is not.
pub fn secret_path(path: &str) -> &str {
    if path == "/" {
        path
    } else {
        "/<redacted>"
    }
}

/// A username and password taken out of a URL.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for UrlCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlCredentials")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .finish()
    }
}

/// Splits the credentials out of a URL: the URL without them, and them
/// (percent-decoded, as git decodes them), when there were any. A lone
/// user on http(s) is a token: it becomes the password, as git sends it.
pub fn split_credentials(url: &str) -> (String, Option<UrlCredentials>) {
    let Some(parts) = userinfo(url) else {
        return (url.to_string(), None);
    };
    let bare = format!("{}://{}", parts.scheme, parts.rest);
    let credentials = match parts.userinfo.split_once(':') {
        Some((user, password)) => UrlCredentials {
            username: percent_decode(user),
            password: percent_decode(password),
        },
        None if user_is_secret(parts.scheme) => UrlCredentials {
            username: percent_decode(parts.userinfo),
            password: String::new(),
        },
        None => return (url.to_string(), None),
    };
    (bare, Some(credentials))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// One argument of a command as shown: a URL's credentials and the secret
/// values of an option list (`-o vers=3,password=x`) are hidden.
pub fn argument(argument: &str) -> Cow<'_, str> {
    match url(argument) {
        Cow::Owned(shown) => Cow::Owned(shown),
        Cow::Borrowed(_) => option_list(argument),
    }
}

/// A command line as shown in messages: `program arg...` with every
/// argument through [`argument`].
pub fn command_line<'a>(program: &str, arguments: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = program.to_string();
    for arg in arguments {
        line.push(' ');
        line.push_str(&argument(arg));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_option_values_are_hidden_and_their_keys_kept() {
        assert_eq!(option("password=s3cret"), "password=<redacted>");
        assert_eq!(option("Password2=x=y"), "Password2=<redacted>");
        assert_eq!(option("pass=x"), "pass=<redacted>");
        assert_eq!(option("api_token=x"), "api_token=<redacted>");
        assert_eq!(
            option("credentials=/etc/nas.cred"),
            "credentials=/etc/nas.cred"
        );
        assert_eq!(option("username=web"), "username=web");
        assert_eq!(option("password_stdin"), "password_stdin");
        assert_eq!(
            options(&["vers=3.0".into(), "password=s3cret".into()]),
            ["vers=3.0", "password=<redacted>"]
        );
    }

    #[test]
    fn specs_show_their_options_redacted() {
        let declared = serde_json::json!({
            "method": "mount",
            "mount": {"type": "cifs", "options": ["vers=3.0", "password=s3cret"]}
        });
        let shown = spec(&declared);
        assert_eq!(
            shown["mount"]["options"],
            serde_json::json!(["vers=3.0", "password=<redacted>"])
        );
        assert_eq!(shown["method"], "mount");
    }

    #[test]
    fn url_credentials_are_hidden_but_the_user_of_ssh_is_not() {
        assert_eq!(
            url("https://ops:tok@git.example/a.git"),
            "https://ops:<redacted>@git.example/a.git"
        );
        assert_eq!(
            url("https://tok@git.example/a.git"),
            "https://<redacted>@git.example/a.git"
        );
        assert_eq!(url("ssh://git@host/a.git"), "ssh://git@host/a.git");
        assert_eq!(url("git@host:a.git"), "git@host:a.git");
        // An @ after the host is part of the path, not credentials.
        assert_eq!(url("https://host/a@b"), "https://host/a@b");
    }

    #[test]
    fn secret_paths_show_only_the_root() {
        assert_eq!(secret_path("/"), "/");
        assert_eq!(secret_path("/services/T0/B0/x"), "/<redacted>");
        assert_eq!(secret_path("/?token=x"), "/<redacted>");
    }

    #[test]
    fn credentials_split_out_of_a_url_are_decoded() {
        let (bare, credentials) = split_credentials("https://ops:p%40ss:w@git.example/a.git");
        assert_eq!(bare, "https://git.example/a.git");
        let credentials = credentials.unwrap();
        assert_eq!(credentials.username, "ops");
        assert_eq!(credentials.password, "p@ss:w");
        assert!(!format!("{credentials:?}").contains("p@ss"));
        let (bare, token) = split_credentials("https://tok@h/x");
        assert_eq!(
            (bare.as_str(), token.unwrap().username.as_str()),
            ("https://h/x", "tok")
        );
        assert_eq!(
            split_credentials("ssh://git@h/x"),
            ("ssh://git@h/x".into(), None)
        );
    }

    #[test]
    fn command_lines_hide_option_values_and_url_credentials() {
        let args = [
            "-t",
            "cifs",
            "-o",
            "vers=3.0,password=s3cret",
            "//nas/x",
            "/srv",
        ];
        assert_eq!(
            command_line("mount", args),
            "mount -t cifs -o vers=3.0,password=<redacted> //nas/x /srv"
        );
        assert_eq!(
            command_line("git", ["fetch", "https://u:t@h/r.git"]),
            "git fetch https://u:<redacted>@h/r.git"
        );
    }
}
