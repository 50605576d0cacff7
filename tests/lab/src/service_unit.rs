//! Running a program the way systemd runs a service unit, without systemd:
//! the unit's `ExecStart=` with the variables of its `EnvironmentFile=` and
//! `Environment=` lines, a clean environment, its capability bounding set
//! and its runtime and state directories, inside a root filesystem.
//!
//! So that a test starts a packaged daemon exactly as its unit says, and
//! fails when the unit says something this runner does not understand
//! rather than running something else: specifiers (`%n`), ExecStart
//! prefixes (`-`, `+`...) and more than one ExecStart are refused.

use std::path::{Path, PathBuf};

use crate::error::{LabError, Result};
use crate::process::{NodeCommand, LAB_ENV};

/// What systemd gives every service before its own variables.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The `[Service]` settings of a unit that decide how its program starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceUnit {
    /// `Type=` (`simple` when absent).
    pub service_type: String,
    /// `ExecStart=`, split into words, variables not yet expanded.
    pub exec_start: Vec<Word>,
    /// `EnvironmentFile=` paths; `true` when the file may be missing (`-`).
    pub environment_files: Vec<(PathBuf, bool)>,
    /// `Environment=` assignments, in order.
    pub environment: Vec<(String, String)>,
    /// `CapabilityBoundingSet=` as capability names (`CAP_NET_ADMIN`), or
    /// `None` when the unit keeps every capability.
    pub capability_bounding_set: Option<Vec<String>>,
    /// `RuntimeDirectory=` (under /run) and `StateDirectory=` (under /var/lib).
    pub runtime_directories: Vec<String>,
    pub state_directories: Vec<String>,
}

/// One word of a command line: literal text, or a variable reference
/// that systemd expands at start (`$NAME` splits into words, `${NAME}`
/// stays one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    Literal(String),
    /// A word that is exactly `$NAME`: replaced by the value's words.
    Split(String),
    /// Text with `${NAME}` references inside: (literal, variable) pieces.
    Joined(Vec<(String, Option<String>)>),
}

impl ServiceUnit {
    pub fn parse(text: &str) -> Result<ServiceUnit> {
        let mut unit = ServiceUnit {
            service_type: "simple".into(),
            ..ServiceUnit::default()
        };
        let mut section = String::new();
        let mut exec_starts = 0;
        // In a unit file the backslash becomes a space.
        for (number, line) in logical_lines(text, " ") {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(invalid(
                    number,
                    "a line that is neither KEY=VALUE nor a section",
                ));
            };
            if section != "Service" {
                continue;
            }
            let value = value.trim();
            match key.trim() {
                "Type" => unit.service_type = value.to_owned(),
                "ExecStart" => {
                    exec_starts += 1;
                    if value.starts_with(['-', '@', ':', '+', '!']) {
                        return Err(invalid(number, "ExecStart prefixes are not supported"));
                    }
                    unit.exec_start = command_words(value).map_err(|e| invalid(number, &e))?;
                }
                "EnvironmentFile" => match value.strip_prefix('-') {
                    Some(path) => unit.environment_files.push((path.into(), true)),
                    None => unit.environment_files.push((value.into(), false)),
                },
                "Environment" => {
                    for word in command_words(value).map_err(|e| invalid(number, &e))? {
                        let Word::Literal(assignment) = word else {
                            return Err(invalid(number, "variables inside Environment="));
                        };
                        let (name, value) = assignment
                            .split_once('=')
                            .ok_or_else(|| invalid(number, "Environment= without NAME=value"))?;
                        unit.environment.push((name.to_owned(), value.to_owned()));
                    }
                }
                "CapabilityBoundingSet" => {
                    // Several lines add up; an empty one resets the set.
                    let set = unit.capability_bounding_set.get_or_insert_with(Vec::new);
                    if value.is_empty() {
                        set.clear();
                    } else if value.starts_with('~') {
                        return Err(invalid(
                            number,
                            "inverted bounding sets (~) are not supported",
                        ));
                    }
                    set.extend(value.split_whitespace().map(str::to_owned));
                }
                "RuntimeDirectory" => unit
                    .runtime_directories
                    .extend(value.split_whitespace().map(str::to_owned)),
                "StateDirectory" => unit
                    .state_directories
                    .extend(value.split_whitespace().map(str::to_owned)),
                _ => {}
            }
        }
        match exec_starts {
            1 => Ok(unit),
            0 => Err(LabError::Invalid("the unit has no ExecStart=".into())),
            _ => Err(LabError::Invalid(
                "the unit has several ExecStart= lines; only one is supported".into(),
            )),
        }
    }

    /// Reads the unit at `unit` (a path inside `root`) and parses it.
    pub fn load(root: &Path, unit: &str) -> Result<ServiceUnit> {
        let path = inside(root, unit);
        let text = std::fs::read_to_string(&path).map_err(|e| LabError::io("read", &path, e))?;
        ServiceUnit::parse(&text)
    }

    /// The variables the service starts with, as systemd computes them for
    /// a unit installed in `root`: its defaults, then the `Environment=`
    /// lines, then each environment file (read inside `root`), later ones
    /// overriding earlier ones. The files come last because systemd lets
    /// them override `Environment=` (systemd.exec(5)), wherever the lines
    /// stand in the unit.
    pub fn environment_in(&self, root: &Path) -> Result<Vec<(String, String)>> {
        let mut vars = vec![("PATH".to_owned(), DEFAULT_PATH.to_owned())];
        for dir in &self.runtime_directories {
            vars.push(("RUNTIME_DIRECTORY".into(), format!("/run/{dir}")));
        }
        for dir in &self.state_directories {
            vars.push(("STATE_DIRECTORY".into(), format!("/var/lib/{dir}")));
        }
        vars.extend(self.environment.iter().cloned());
        for (file, optional) in &self.environment_files {
            let path = inside(root, &file.to_string_lossy());
            match std::fs::read_to_string(&path) {
                Ok(text) => vars.extend(
                    parse_environment_file(&text)
                        .map_err(|e| LabError::Invalid(format!("{}: {e}", file.display())))?,
                ),
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LabError::io("read", path, e)),
            }
        }
        // Later assignments win, as in systemd.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (name, value) in vars {
            merged.retain(|(n, _)| *n != name);
            merged.push((name, value));
        }
        Ok(merged)
    }

    /// `ExecStart=` with its variables expanded from `environment`.
    pub fn argv(&self, environment: &[(String, String)]) -> Vec<String> {
        let lookup = |name: &str| {
            environment
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let mut argv = Vec::new();
        for word in &self.exec_start {
            match word {
                Word::Literal(text) => argv.push(text.clone()),
                Word::Split(name) => {
                    argv.extend(lookup(name).split_whitespace().map(str::to_owned))
                }
                Word::Joined(pieces) => argv.push(
                    pieces
                        .iter()
                        .map(|(text, var)| format!("{text}{}", var.as_deref().map_or("", lookup)))
                        .collect(),
                ),
            }
        }
        argv
    }

    /// Prepares `root` as systemd would before starting the service (its
    /// runtime and state directories) and returns the command that starts
    /// it there: `chroot ROOT setpriv --bounding-set=... env -i VARS...
    /// EXECSTART`, with `extra` variables added (what systemd itself would
    /// set, such as `NOTIFY_SOCKET`). The lab's marker variable is kept so
    /// cleanup finds the service.
    pub fn command_in(&self, root: &Path, extra: &[(&str, &str)]) -> Result<NodeCommand> {
        let runtime = self.runtime_directories.iter().map(|d| format!("/run/{d}"));
        let state = self
            .state_directories
            .iter()
            .map(|d| format!("/var/lib/{d}"));
        for dir in runtime.chain(state) {
            let path = inside(root, &dir);
            std::fs::create_dir_all(&path).map_err(|e| LabError::io("create", &path, e))?;
        }
        let mut environment = self.environment_in(root)?;
        environment.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if let Ok(lab) = std::env::var(LAB_ENV) {
            environment.push((LAB_ENV.to_owned(), lab));
        }
        let argv = self.argv(&environment);
        let mut command = NodeCommand::new("chroot").arg(root);
        if let Some(set) = &self.capability_bounding_set {
            command = command.args(["/usr/bin/setpriv", &bounding_set_option(set)?, "--"]);
        }
        Ok(command
            .args(["/usr/bin/env", "-i"])
            .args(environment.iter().map(|(k, v)| format!("{k}={v}")))
            .args(argv))
    }
}

/// `--bounding-set=-all,+net_admin,...` for setpriv(1).
fn bounding_set_option(set: &[String]) -> Result<String> {
    let mut option = "--bounding-set=-all".to_owned();
    for capability in set {
        let name = capability
            .strip_prefix("CAP_")
            .ok_or_else(|| LabError::Invalid(format!("{capability} is not a capability name")))?;
        option.push_str(&format!(",+{}", name.to_ascii_lowercase()));
    }
    Ok(option)
}

/// `path` (absolute, as the unit names it) inside `root`.
fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn invalid(line: usize, what: &str) -> LabError {
    LabError::Invalid(format!("unit line {line}: {what}"))
}

/// Lines joined where one ends in a backslash (replaced by `joiner`), with
/// the number of the first.
fn logical_lines(text: &str, joiner: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let (number, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(start) => {
                joined.push_str(start);
                joined.push_str(joiner);
                current = Some((number, joined));
            }
            None => {
                joined.push_str(line);
                lines.push((number, joined));
            }
        }
    }
    lines.extend(current);
    lines
}

/// Splits a command line as systemd does: whitespace separates words,
/// double and single quotes group, a backslash escapes the next
/// character; `$NAME` alone is a splitting reference, `${NAME}` one inside
/// a word, `$$` a dollar and `%%` a percent sign.
fn command_words(line: &str) -> std::result::Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut pieces: Vec<(String, Option<String>)> = vec![(String::new(), None)];
        let mut quote = None;
        let mut quoted = false;
        let mut bare_variable = None;
        while let Some(c) = chars.next() {
            let text = &mut pieces.last_mut().expect("never empty").0;
            match c {
                c if quote == Some(c) => quote = None,
                '"' | '\'' if quote.is_none() => {
                    quote = Some(c);
                    quoted = true;
                }
                c if c.is_whitespace() && quote.is_none() => break,
                '\\' => text.push(chars.next().ok_or("a trailing backslash")?),
                '%' => match chars.next() {
                    Some('%') => text.push('%'),
                    other => {
                        return Err(format!(
                            "specifier %{} is not supported",
                            other.map(String::from).unwrap_or_default()
                        ))
                    }
                },
                '$' if quote != Some('\'') => match chars.peek() {
                    Some('$') => {
                        chars.next();
                        text.push('$');
                    }
                    Some('{') => {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                        pieces.last_mut().expect("never empty").1 = Some(name);
                        pieces.push((String::new(), None));
                    }
                    _ => {
                        let name: String = std::iter::from_fn(|| {
                            chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                        })
                        .collect();
                        if name.is_empty() {
                            return Err("a lone $".into());
                        }
                        if !text.is_empty() || pieces.len() > 1 || quoted {
                            return Err(format!("${name} inside a word: write ${{{name}}}"));
                        }
                        bare_variable = Some(name);
                    }
                },
                c => {
                    if bare_variable.is_some() {
                        return Err("text after a $NAME reference: write ${NAME}".into());
                    }
                    text.push(c)
                }
            }
        }
        if quote.is_some() {
            return Err("an unterminated quote".into());
        }
        words.push(match bare_variable {
            Some(name) => Word::Split(name),
            None if pieces.len() == 1 => Word::Literal(pieces.remove(0).0),
            None => Word::Joined(pieces),
        });
    }
}

/// `KEY=value` lines of an environment file, as systemd reads them:
/// comments (`#`, `;`) and blank lines skipped, a value optionally in
/// double or single quotes, a backslash at the end joining the next line.
pub fn parse_environment_file(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (number, line) in logical_lines(text, "") {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {number}: not KEY=value"))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {number}: {name:?} is not a variable name"));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value
                .strip_prefix(q)
                .and_then(|v| v.strip_suffix(q))
                .ok_or_else(|| format!("line {number}: an unterminated quote"))?
                .to_owned(),
            _ => value.to_owned(),
        };
        vars.push((name.to_owned(), value));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "\
[Unit]
Description=x
After=network-online.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/demo
Environment=A=1 \"B=two words\"
ExecStart=/usr/bin/demo agent \\
    --flag ${FLAG} $EXTRA '100%%' \"${A}-x\"
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
CapabilityBoundingSet=CAP_SYS_ADMIN
RuntimeDirectory=demo
StateDirectory=demo
";

    fn environment() -> Vec<(String, String)> {
        vec![
            ("FLAG".into(), "one two".into()),
            ("EXTRA".into(), "--x  --y".into()),
            ("A".into(), "1".into()),
        ]
    }

    #[test]
    fn exec_start_expands_variables_as_systemd_does() {
        let unit = ServiceUnit::parse(UNIT).unwrap();
        assert_eq!(unit.service_type, "notify");
        assert_eq!(
            unit.argv(&environment()),
            [
                "/usr/bin/demo",
                "agent",
                "--flag",
                "one two",
                "--x",
                "--y",
                "100%",
                "1-x"
            ]
        );
        assert_eq!(
            unit.environment,
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(
            unit.capability_bounding_set.unwrap(),
            ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]
        );
        assert_eq!(
            unit.environment_files,
            [(PathBuf::from("/etc/default/demo"), true)]
        );
    }

    #[test]
    fn an_unset_variable_expands_to_nothing() {
        let unit = ServiceUnit::parse("[Service]\nExecStart=/bin/x $NONE ${NONE}\n").unwrap();
        assert_eq!(unit.argv(&[]), ["/bin/x", ""]);
    }

    #[test]
    fn what_the_runner_does_not_understand_is_refused() {
        for (unit, why) in [
            ("[Service]\nExecStart=-/bin/x\n", "prefixes"),
            ("[Service]\nExecStart=/bin/x %n\n", "specifier %n"),
            ("[Service]\nExecStart=/bin/x a$B\n", "inside a word"),
            (
                "[Service]\nExecStart=/bin/x\nExecStart=/bin/y\n",
                "several ExecStart",
            ),
            ("[Service]\nType=simple\n", "no ExecStart"),
            ("[Service]\nExecStart=/bin/x 'open\n", "unterminated"),
        ] {
            let error = ServiceUnit::parse(unit).unwrap_err().to_string();
            assert!(error.contains(why), "{unit}: {error}");
        }
    }

    #[test]
    fn an_environment_file_is_read_as_systemd_reads_it() {
        let vars = parse_environment_file(
            "# comment\n; also\n\nA=1\nB = \"two words\"\nC='x y'\nD=\nE=long \\\n line\n",
        )
        .unwrap();
        assert_eq!(
            vars,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x y".into()),
                ("D".into(), "".into()),
                ("E".into(), "long  line".into()),
            ]
        );
        assert!(parse_environment_file("export A=1\n").is_err());
        assert!(parse_environment_file("just words\n").is_err());
    }

    #[test]
    fn environment_files_override_environment_lines_as_in_systemd() {
        let root = std::env::temp_dir().join(format!("svc-unit-{}", std::process::id()));
        std::fs::create_dir_all(root.join("etc/default")).unwrap();
        std::fs::write(root.join("etc/default/demo"), "A=from-file\nFLAG=f\n").unwrap();
        let unit = ServiceUnit::parse(UNIT).unwrap();
        let environment = unit.environment_in(&root).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        let get = |name: &str| {
            environment
                .iter()
                .find(|(n, _)| n == name)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            get("A"),
            "from-file",
            "an environment file overrides Environment=, though the unit names it first"
        );
        assert_eq!(get("B"), "two words", "Environment= alone still counts");
        assert_eq!(get("FLAG"), "f");
        assert_eq!(get("RUNTIME_DIRECTORY"), "/run/demo");
        assert_eq!(get("STATE_DIRECTORY"), "/var/lib/demo");
        assert!(get("PATH").contains("/usr/bin"));
    }

    #[test]
    fn the_bounding_set_becomes_setpriv_options() {
        let set = ["CAP_NET_ADMIN".to_owned(), "CAP_SYS_ADMIN".to_owned()];
        assert_eq!(
            bounding_set_option(&set).unwrap(),
            "--bounding-set=-all,+net_admin,+sys_admin"
        );
        assert!(bounding_set_option(&["net_admin".to_owned()]).is_err());
    }
}
