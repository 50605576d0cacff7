//! A chart in memory: its files (embedded in the binary or read from a
//! directory) and its checked `chart.yaml`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hareconcile_model::validate::Schema;
use serde::{Deserialize, Serialize};

use crate::document::{unpositioned, Positioned};
use crate::{version, ChartError, HARECONCILE_VERSION};

/// One file of a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    pub bytes: Cow<'static, [u8]>,
    /// Hooks and probes are programs: they stay executable when rendered.
    pub executable: bool,
}

/// What `chart.yaml` declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMeta {
    pub name: String,
    /// `MAJOR.MINOR.PATCH`; a render's lock records it, so `diff` shows upgrades.
    pub version: String,
    pub description: String,
    /// The oldest hareconcile whose model the rendered objects use.
    pub min_hareconcile_version: String,
}

#[derive(Debug, Clone)]
enum Source {
    Builtin,
    Dir(PathBuf),
}

/// A chart: its metadata and files, by path relative to the chart (`/`-separated).
#[derive(Debug, Clone)]
pub struct Chart {
    pub meta: ChartMeta,
    source: Source,
    files: BTreeMap<String, ChartFile>,
}

pub(crate) struct EmbeddedFile {
    chart: &'static str,
    path: &'static str,
    executable: bool,
    bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

impl Chart {
    /// The names of the charts built into this binary, sorted.
    pub fn builtin_names() -> Vec<&'static str> {
        let mut names: Vec<&str> = EMBEDDED.iter().map(|f| f.chart).collect();
        names.dedup();
        names
    }

    /// The chart `name` built into this binary.
    pub fn builtin(name: &str) -> Result<Chart, ChartError> {
        let files: BTreeMap<String, ChartFile> = EMBEDDED
            .iter()
            .filter(|f| f.chart == name)
            .map(|f| {
                (
                    f.path.to_string(),
                    ChartFile {
                        bytes: Cow::Borrowed(f.bytes),
                        executable: f.executable,
                    },
                )
            })
            .collect();
        if files.is_empty() {
            return Err(ChartError::NotFound {
                name: name.to_string(),
                available: Chart::builtin_names().join(", "),
            });
        }
        Chart::new(Source::Builtin, name, files)
    }

    /// A chart kept in a local directory.
    pub fn from_dir(dir: &Path) -> Result<Chart, ChartError> {
        let mut files = BTreeMap::new();
        read_tree(dir, dir, &mut files)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Chart::new(Source::Dir(dir.to_path_buf()), &name, files)
    }

    /// A path (anything with a `/`, or an existing directory) is a local
    /// chart; a bare name is a built-in one.
    pub fn find(name_or_path: &str) -> Result<Chart, ChartError> {
        let path = Path::new(name_or_path);
        if name_or_path.contains('/') || path.is_dir() {
            Chart::from_dir(path)
        } else {
            Chart::builtin(name_or_path)
        }
    }

    fn new(
        source: Source,
        label: &str,
        files: BTreeMap<String, ChartFile>,
    ) -> Result<Chart, ChartError> {
        let mut chart = Chart {
            meta: ChartMeta {
                name: label.to_string(),
                version: String::new(),
                description: String::new(),
                min_hareconcile_version: String::new(),
            },
            source,
            files,
        };
        chart.meta = chart.read_meta()?;
        if !version::at_least(HARECONCILE_VERSION, &chart.meta.min_hareconcile_version) {
            return Err(ChartError::TooOld {
                chart: chart.meta.name.clone(),
                version: chart.meta.version.clone(),
                needs: chart.meta.min_hareconcile_version.clone(),
                have: HARECONCILE_VERSION.to_string(),
            });
        }
        Ok(chart)
    }

    fn read_meta(&self) -> Result<ChartMeta, ChartError> {
        let file = self.display_path("chart.yaml");
        let text = self.text("chart.yaml")?;
        let document = Positioned::parse(&file, text)?;
        document.check(meta_schema())?;
        serde_json::from_value(document.document.value.clone())
            .map_err(|e| ChartError::Invalid(unpositioned(&file, e.to_string())))
    }

    /// How a chart file is named in messages: its real path for a local
    /// chart, `builtin:NAME/PATH` for one built into the binary.
    pub fn display_path(&self, path: &str) -> PathBuf {
        match &self.source {
            Source::Builtin => PathBuf::from(format!("builtin:{}/{path}", self.meta.name)),
            Source::Dir(dir) => dir.join(path),
        }
    }

    /// Every file, by path relative to the chart.
    pub fn files(&self) -> &BTreeMap<String, ChartFile> {
        &self.files
    }

    pub fn file(&self, path: &str) -> Option<&ChartFile> {
        self.files.get(path)
    }

    /// A file's text; a missing or non-UTF-8 file is an error naming it.
    pub fn text(&self, path: &str) -> Result<&str, ChartError> {
        let file = self.file(path).ok_or_else(|| {
            ChartError::Invalid(unpositioned(
                &self.display_path(path),
                "missing: every chart has chart.yaml, values.yaml and values.schema.json",
            ))
        })?;
        std::str::from_utf8(&file.bytes).map_err(|_| {
            ChartError::Invalid(unpositioned(
                &self.display_path(path),
                "is not UTF-8 text: save it as UTF-8",
            ))
        })
    }

    /// The example values files (`examples/NAME.yaml`), by NAME.
    pub fn examples(&self) -> BTreeMap<String, &str> {
        self.files
            .iter()
            .filter_map(|(path, file)| {
                let name = path.strip_prefix("examples/")?.strip_suffix(".yaml")?;
                let text = std::str::from_utf8(&file.bytes).ok()?;
                (!name.contains('/')).then(|| (name.to_string(), text))
            })
            .collect()
    }
}

fn meta_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let document = serde_json::from_str(include_str!("chart.schema.json"))
            .expect("chart.schema.json is JSON (a unit test checks it)");
        Schema::new(document).expect("chart.schema.json is a valid schema")
    })
}

fn read_tree(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, ChartFile>,
) -> Result<(), ChartError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ChartError::Read { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(read_error(&path))?;
        if meta.is_dir() {
            read_tree(root, &path, files)?;
            continue;
        }
        let bytes = std::fs::read(&path).map_err(read_error(&path))?;
        let relative = path
            .strip_prefix(root)
            .expect("below the chart directory")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.insert(
            relative,
            ChartFile {
                bytes: Cow::Owned(bytes),
                executable: meta.permissions().mode() & 0o111 != 0,
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn chart_yaml_problems_are_positioned() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "chart.yaml",
            "name: Web\nversion: 1.0\ndescription: x\nminHareconcileVersion: 0.1.0\nicon: x\n",
        );
        let message = Chart::from_dir(dir.path()).unwrap_err().to_string();
        let file = dir.path().join("chart.yaml").display().to_string();
        assert!(
            message.contains(&format!("{file}:1:7: name: \"Web\" is not valid")),
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "{file}:2:10: version: expected a string, found the number 1.0"
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!("{file}:5:1: icon: unknown field")),
            "{message}"
        );
    }

    #[test]
    fn a_chart_for_a_newer_hareconcile_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "chart.yaml",
            "name: web\nversion: 1.0.0\ndescription: x\nminHareconcileVersion: 99.0.0\n",
        );
        let message = Chart::from_dir(dir.path()).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("chart web 1.0.0 needs hareconcile 99.0.0 or newer, this is {HARECONCILE_VERSION}: upgrade hareconcile or use an older version of the chart")
        );
    }

    #[test]
    fn an_unknown_builtin_lists_the_ones_there_are() {
        let message = Chart::builtin("nope").unwrap_err().to_string();
        assert!(
            message.starts_with("no chart named nope: use one of "),
            "{message}"
        );
        assert!(message.contains("vrrp-router"), "{message}");
    }

    #[test]
    fn builtin_charts_keep_executable_bits_and_their_directory_name() {
        for name in Chart::builtin_names() {
            let chart = Chart::builtin(name).unwrap();
            assert_eq!(
                chart.meta.name, name,
                "charts/{name}/chart.yaml names another chart"
            );
            for (path, file) in chart.files() {
                if path.ends_with(".sh") {
                    assert!(file.executable, "charts/{name}/{path} must be executable");
                }
            }
        }
    }
}
