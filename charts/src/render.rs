//! Rendering: every template under `templates/` through minijinja with the
//! values (an undefined value is an error, never an empty string), every
//! file under `files/` copied byte for byte, and the lock that says which
//! chart and values made them.

use std::collections::BTreeMap;

use hareconcile_model::load::{Diagnostic, Diagnostics};
use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};

use crate::{Chart, ChartError, Lock, Values};

/// One file of a render, by path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// What a chart renders to.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub lock: Lock,
    pub files: BTreeMap<String, OutputFile>,
}

/// Renders `chart` with `values`. A template whose output is blank (an
/// optional object turned off) writes no file.
pub fn render(chart: &Chart, values: &Values) -> Result<Rendered, ChartError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // YAML is whitespace-sensitive: block tags leave no blank lines or
    // indentation behind, and a file keeps its final newline.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    // Values are written into YAML, not HTML: templates quote with `tojson`.
    env.set_auto_escape_callback(|_| AutoEscape::None);

    let mut problems = Vec::new();
    let mut templates = Vec::new();
    for path in chart.files().keys() {
        let Some(name) = path.strip_prefix("templates/") else {
            continue;
        };
        let source = chart.text(path)?.to_string();
        match env.add_template_owned(name.to_string(), source) {
            Ok(()) => {
                let partial = name.rsplit('/').next().is_some_and(|n| n.starts_with('_'));
                if !partial {
                    templates.push(name.to_string());
                }
            }
            Err(error) => problems.push(template_problem(chart, name, &error)),
        }
    }
    if !problems.is_empty() {
        return Err(ChartError::Invalid(Diagnostics(problems)));
    }

    let ctx = context! {
        values => values.merged,
        chart => context! { name => chart.meta.name, version => chart.meta.version },
    };
    let mut files = BTreeMap::new();
    for name in &templates {
        let template = env.get_template(name).expect("added above");
        match template.render(&ctx) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => {
                files.insert(
                    name.clone(),
                    OutputFile {
                        bytes: text.into_bytes(),
                        executable: false,
                    },
                );
            }
            Err(error) => problems.push(template_problem(chart, name, &error)),
        }
    }
    for (path, file) in chart.files() {
        if !path.starts_with("files/") {
            continue;
        }
        if files.contains_key(path) {
            problems.push(Diagnostic {
                file: chart.display_path(path),
                line: 0,
                column: 0,
                object: None,
                message: format!("templates/{path} renders to the same file: rename one"),
            });
            continue;
        }
        files.insert(
            path.clone(),
            OutputFile {
                bytes: file.bytes.to_vec(),
                executable: file.executable,
            },
        );
    }
    if !problems.is_empty() {
        return Err(ChartError::Invalid(Diagnostics(problems)));
    }
    let lock = Lock {
        chart: chart.meta.name.clone(),
        version: chart.meta.version.clone(),
        values: values.hash.clone(),
        files: files.keys().cloned().collect(),
    };
    Ok(Rendered { lock, files })
}

/// A template error at the template's `line:col` (the error's own
/// template: a problem inside an included partial points there).
fn template_problem(chart: &Chart, name: &str, error: &minijinja::Error) -> Diagnostic {
    let at = error.name().unwrap_or(name);
    let source = chart.text(&format!("templates/{at}")).unwrap_or_default();
    let line = error.line().unwrap_or(0);
    let column = error
        .range()
        .map(|range| {
            let before = &source[..range.start.min(source.len())];
            before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1
        })
        .unwrap_or(1);
    let message = match (error.kind(), error.detail()) {
        (minijinja::ErrorKind::UndefinedError, _) => {
            "undefined value: set it in values.yaml (with its default) or test it with `is defined`"
                .to_string()
        }
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    Diagnostic {
        file: chart.display_path(&format!("templates/{at}")),
        line,
        column: if line == 0 { 0 } else { column },
        object: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValuesFile;
    use std::path::Path;

    fn chart(dir: &Path, templates: &[(&str, &str)]) -> Chart {
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "chart.yaml",
            "name: web\nversion: 1.2.0\ndescription: x\nminHareconcileVersion: 0.1.0\n",
        );
        write("values.yaml", "vip: 10.0.0.100/24\nextra: false\n");
        write("values.schema.json", r#"{"type": "object"}"#);
        write("files/compose.yaml", "services: {web: {image: busybox}}\n");
        for (name, text) in templates {
            write(&format!("templates/{name}"), text);
        }
        Chart::from_dir(dir).unwrap()
    }

    fn render_with(chart: &Chart, values: &str) -> Result<Rendered, ChartError> {
        let values = Values::resolve(
            chart,
            &[ValuesFile {
                path: "v.yaml".into(),
                text: values.into(),
            }],
        )?;
        render(chart, &values)
    }

    #[test]
    fn renders_templates_copies_files_and_skips_blank_output() {
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(
            dir.path(),
            &[
                ("_names.yaml", "{% macro vip_name() %}web{% endmacro %}"),
                (
                    "vip.yaml",
                    "{% import '_names.yaml' as n %}\nname: {{ n.vip_name() }}\naddresses: [{{ values.vip | tojson }}]\nchart: {{ chart.name }}-{{ chart.version }}\n",
                ),
                ("extra.yaml", "{% if values.extra %}\nkind: Service\n{% endif %}\n"),
            ],
        );
        let rendered = render_with(&chart, "").unwrap();
        let names: Vec<&str> = rendered.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["files/compose.yaml", "vip.yaml"]);
        assert_eq!(
            String::from_utf8(rendered.files["vip.yaml"].bytes.clone()).unwrap(),
            "name: web\naddresses: [\"10.0.0.100/24\"]\nchart: web-1.2.0\n"
        );
        assert_eq!(rendered.lock.chart, "web");
        assert_eq!(rendered.lock.version, "1.2.0");
        assert_eq!(rendered.lock.files, ["files/compose.yaml", "vip.yaml"]);
        let with_extra = render_with(&chart, "extra: true\n").unwrap();
        assert!(with_extra.files.contains_key("extra.yaml"));
        assert_ne!(with_extra.lock.values, rendered.lock.values);
    }

    #[test]
    fn an_undefined_value_is_an_error_at_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path(), &[("vip.yaml", "a: 1\nb: {{ values.vipp }}\n")]);
        let message = render_with(&chart, "").unwrap_err().to_string();
        let file = dir.path().join("templates/vip.yaml").display().to_string();
        assert!(
            message.starts_with(&format!("{file}:2:")) && message.contains("undefined value"),
            "{message}"
        );
    }

    #[test]
    fn template_syntax_errors_are_positioned() {
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path(), &[("vip.yaml", "a: 1\nb: {{ values.vip }\n")]);
        let message = render_with(&chart, "").unwrap_err().to_string();
        let file = dir.path().join("templates/vip.yaml").display().to_string();
        assert!(message.starts_with(&format!("{file}:2:")), "{message}");
    }
}
