//! A chart's values: its `values.yaml` defaults with the user's files
//! merged over them (mappings merge key by key, anything else is
//! replaced), checked against `values.schema.json`. A problem is reported
//! in the file that set the offending value, at its `line:col`.

use std::path::{Path, PathBuf};

use hareconcile_model::load::{Diagnostic, Diagnostics};
use hareconcile_model::validate::{Finding, Schema};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::document::{unpositioned, Positioned};
use crate::{Chart, ChartError};

/// A values file the user gives (`-f values.yaml`).
#[derive(Debug, Clone)]
pub struct ValuesFile {
    pub path: PathBuf,
    pub text: String,
}

impl ValuesFile {
    pub fn read(path: &Path) -> Result<ValuesFile, ChartError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChartError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ValuesFile {
            path: path.to_path_buf(),
            text,
        })
    }
}

/// The values a chart is rendered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub merged: Value,
    /// `sha256:` of the merged values in a canonical form (keys sorted):
    /// the same settings hash alike however they are written.
    pub hash: String,
}

impl Values {
    /// Merges `files` (later ones win) over the chart's defaults and checks
    /// the result against the chart's schema.
    pub fn resolve(chart: &Chart, files: &[ValuesFile]) -> Result<Values, ChartError> {
        let defaults_path = chart.display_path("values.yaml");
        let mut sources = vec![Positioned::parse(
            &defaults_path,
            chart.text("values.yaml")?,
        )?];
        let mut problems = Vec::new();
        for file in files {
            match Positioned::parse(&file.path, &file.text) {
                Ok(source) => sources.push(source),
                Err(Diagnostics(found)) => problems.extend(found),
            }
        }
        if !problems.is_empty() {
            return Err(ChartError::Invalid(Diagnostics(problems)));
        }
        let mut merged = Value::Object(Map::new());
        for source in &sources {
            merge(&mut merged, &source.document.value);
        }
        let schema_path = chart.display_path("values.schema.json");
        let document: Value = serde_json::from_str(chart.text("values.schema.json")?)
            .map_err(|e| unpositioned(&schema_path, format!("is not JSON: {e}")))?;
        let schema = Schema::new(document)
            .map_err(|e| unpositioned(&schema_path, format!("is not a valid JSON Schema: {e}")))?;
        let mut problems: Vec<(usize, Diagnostic)> = schema
            .check(&merged)
            .into_iter()
            .map(|finding| blame(&sources, finding))
            .collect();
        // In the order the files were given, top to bottom in each.
        problems.sort_by_key(|(source, d)| (*source, d.line, d.column));
        let problems: Vec<Diagnostic> = problems.into_iter().map(|(_, d)| d).collect();
        if !problems.is_empty() {
            return Err(ChartError::Invalid(Diagnostics(problems)));
        }
        let hash = format!("sha256:{:x}", Sha256::digest(canonical(&merged)));
        Ok(Values { merged, hash })
    }
}

/// Mappings merge key by key; anything else in `over` replaces what is there.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The file that set the value at the finding's pointer: the last source
/// holding it, else the last holding its nearest ancestor (a missing field
/// belongs to the mapping the user wrote without it).
/// The root is in every source, so a problem with the whole document is
/// the user's last file's. Returns the source's index with the diagnostic.
fn blame(sources: &[Positioned], finding: Finding) -> (usize, Diagnostic) {
    let mut pointer = finding.pointer.clone();
    loop {
        if let Some(index) = sources
            .iter()
            .rposition(|s| s.document.value.pointer(&pointer).is_some())
        {
            return (index, sources[index].diagnostic(finding));
        }
        // Ends at the root, "", which every source has.
        pointer.truncate(pointer.rfind('/').unwrap_or(0));
    }
}

/// JSON with every mapping's keys sorted, for hashing.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let entries: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(dir: &Path) -> Chart {
        let write = |path: &str, text: &str| std::fs::write(dir.join(path), text).unwrap();
        write(
            "chart.yaml",
            "name: web\nversion: 1.0.0\ndescription: x\nminHareconcileVersion: 0.1.0\n",
        );
        write(
            "values.yaml",
            "# the VIP\nvip: null\nvrid: 51\nnodes: {n1: 10.0.0.1}\n",
        );
        write(
            "values.schema.json",
            r#"{"type": "object", "additionalProperties": false, "required": ["vip"],
                "properties": {"vip": {"type": "string"},
                               "vrid": {"type": "integer", "minimum": 1, "maximum": 255},
                               "nodes": {"type": "object", "additionalProperties": {"type": "string"}}}}"#,
        );
        Chart::from_dir(dir).unwrap()
    }

    fn user(text: &str) -> ValuesFile {
        ValuesFile {
            path: "site.yaml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn user_values_merge_over_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let values = Values::resolve(
            &chart(dir.path()),
            &[user("vip: 10.0.0.100/24\nnodes: {n2: 10.0.0.2}\n")],
        )
        .unwrap();
        assert_eq!(
            values.merged,
            serde_json::json!({"vip": "10.0.0.100/24", "vrid": 51,
                               "nodes": {"n1": "10.0.0.1", "n2": "10.0.0.2"}})
        );
        assert!(values.hash.starts_with("sha256:"));
    }

    #[test]
    fn the_hash_ignores_how_the_values_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path());
        let one = Values::resolve(&chart, &[user("vip: a\nvrid: 52\n")]).unwrap();
        let two = Values::resolve(&chart, &[user("# same\nvrid: 52\nvip: \"a\"\n")]).unwrap();
        let three = Values::resolve(&chart, &[user("vip: a\nvrid: 53\n")]).unwrap();
        assert_eq!(one.hash, two.hash);
        assert_ne!(one.hash, three.hash);
    }

    #[test]
    fn problems_name_the_file_and_position_that_set_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path());
        let message = Values::resolve(&chart, &[user("vrid: 300\nvipp: x\nvip: 7\n")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            [
                "site.yaml:1:7: vrid: 300 is out of range: use 1-255",
                "site.yaml:2:1: vipp: unknown field: did you mean vip?",
                "site.yaml:3:6: vip: expected a string, found the number 7: quote it, e.g. \"7\"",
            ]
            .join("\n"),
            "{message}"
        );
        // A required value the user left unset is the defaults' null.
        let message = Values::resolve(&chart, &[]).unwrap_err().to_string();
        let defaults = dir.path().join("values.yaml").display().to_string();
        assert_eq!(
            message,
            format!("{defaults}:2:6: vip: expected a string, found an empty value")
        );
    }

    #[test]
    fn a_values_file_that_is_not_a_mapping_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let message = Values::resolve(&chart(dir.path()), &[user("- a\n")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "site.yaml:1:1: expected a mapping of settings (`key: value` lines)"
        );
    }
}
