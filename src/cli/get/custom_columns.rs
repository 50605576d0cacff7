//! `-o custom-columns=NAME:.metadata.name,VRID:.spec.vrid`: columns the
//! user picks, each a header and a field path into the object as
//! `-o json` prints it (with the spec's defaults filled in).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
    /// `[*]`: every item, joined with commas in the cell.
    Every,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    header: String,
    path: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomColumns(Vec<Column>);

#[derive(Debug, PartialEq, Eq)]
pub struct BadColumns(String);

impl fmt::Display for BadColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "custom-columns: {}; write HEADER:.field.path pairs separated by commas, \
             e.g. custom-columns=NAME:.metadata.name,VRID:.spec.vrid,STATE:.status.state",
            self.0
        )
    }
}

impl std::error::Error for BadColumns {}

fn parse_path(text: &str) -> Result<Vec<Step>, BadColumns> {
    // kubectl also takes the path in braces: {.metadata.name}.
    let text = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let Some(rest) = text.strip_prefix('.') else {
        return Err(BadColumns(format!(
            "the path {text:?} must start with a dot, as in .metadata.name"
        )));
    };
    let mut steps = Vec::new();
    if rest.is_empty() {
        return Ok(steps);
    }
    for segment in rest.split('.') {
        let (field, mut indexes) = match segment.find('[') {
            Some(at) => (&segment[..at], &segment[at..]),
            None => (segment, ""),
        };
        if field.is_empty() && indexes.is_empty() {
            return Err(BadColumns(format!("the path {text:?} has an empty field")));
        }
        if !field.is_empty() {
            steps.push(Step::Field(field.to_string()));
        }
        while let Some(inner) = indexes.strip_prefix('[') {
            let Some((index, after)) = inner.split_once(']') else {
                return Err(BadColumns(format!("the path {text:?} misses a ]")));
            };
            steps.push(match index {
                "*" => Step::Every,
                n => Step::Index(n.parse().map_err(|_| {
                    BadColumns(format!(
                        "the path {text:?}: [{n}] is neither an index nor [*]"
                    ))
                })?),
            });
            indexes = after;
        }
        if !indexes.is_empty() {
            return Err(BadColumns(format!(
                "the path {text:?} has {indexes:?} after an index"
            )));
        }
    }
    Ok(steps)
}

impl FromStr for CustomColumns {
    type Err = BadColumns;

    fn from_str(text: &str) -> Result<Self, BadColumns> {
        let mut columns = Vec::new();
        for pair in text.split(',') {
            let Some((header, path)) = pair.split_once(':') else {
                return Err(BadColumns(format!(
                    "{pair:?} has no HEADER: before its path"
                )));
            };
            if header.is_empty() {
                return Err(BadColumns(format!("{pair:?} has an empty header")));
            }
            columns.push(Column {
                header: header.to_string(),
                path: parse_path(path)?,
            });
        }
        Ok(CustomColumns(columns))
    }
}

/// The values `path` reaches from `value` (several after `[*]`).
fn walk<'a>(value: &'a Value, path: &[Step]) -> Vec<&'a Value> {
    let Some((step, rest)) = path.split_first() else {
        return vec![value];
    };
    match step {
        Step::Field(name) => value.get(name).map(|v| walk(v, rest)).unwrap_or_default(),
        Step::Index(i) => value.get(*i).map(|v| walk(v, rest)).unwrap_or_default(),
        Step::Every => value
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| walk(item, rest))
            .collect(),
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

impl CustomColumns {
    pub fn header(&self) -> Vec<&str> {
        self.0.iter().map(|c| c.header.as_str()).collect()
    }

    /// One cell per column; `<none>` where the path reaches nothing, as
    /// kubectl prints it.
    pub fn row(&self, object: &Value) -> Vec<String> {
        self.0
            .iter()
            .map(|column| {
                let found: Vec<String> = walk(object, &column.path)
                    .into_iter()
                    .filter(|v| !v.is_null())
                    .map(cell)
                    .collect();
                if found.is_empty() {
                    "<none>".into()
                } else {
                    found.join(",")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_fields_items_and_every_item() {
        let columns: CustomColumns =
            "NAME:.metadata.name,FIRST:.spec.addresses[0],NODES:.spec.nodes[*].name,X:{.spec.missing}"
                .parse()
                .unwrap();
        assert_eq!(columns.header(), ["NAME", "FIRST", "NODES", "X"]);
        let object = json!({"metadata": {"name": "web"},
            "spec": {"addresses": ["10.0.0.1/24", "10.0.0.2/24"],
                     "nodes": [{"name": "n1"}, {"name": "n2"}]}});
        assert_eq!(
            columns.row(&object),
            ["web", "10.0.0.1/24", "n1,n2", "<none>"]
        );
    }

    #[test]
    fn malformed_columns_show_the_form() {
        for bad in [
            "NAME",
            ":.metadata.name",
            "NAME:metadata.name",
            "A:.spec.x[a]",
            "A:.spec..x",
        ] {
            let error = bad.parse::<CustomColumns>().unwrap_err().to_string();
            assert!(error.contains("HEADER:.field.path"), "{bad}: {error}");
        }
    }
}
