//! Prints what `get` lists, then (with --watch) each object again when
//! what is shown of it changed: a status refresh that changes no column
//! prints nothing.

use std::collections::{BTreeSet, HashMap};

use hareconcile_model::{Kind, Object, ObjectKey};
use serde_json::Value;

use super::columns::{self, defaulted_spec};
use super::Output;
use crate::cli::output::{object_json, table, table_rows, yaml};

/// Rows under one header: one table per kind, or one for custom columns.
struct Table {
    of: Option<Kind>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

pub struct Printer {
    output: Output,
    /// Names as `virtualips/web`, when several kinds are listed.
    prefix: bool,
    no_headers: bool,
    /// Tables whose header was printed.
    headed: BTreeSet<Option<Kind>>,
    /// What was last printed of each object, to skip repeats.
    shown: HashMap<ObjectKey, Vec<String>>,
}

impl Printer {
    pub fn new(output: Output, prefix: bool, no_headers: bool) -> Self {
        Printer {
            output,
            prefix,
            no_headers,
            headed: BTreeSet::new(),
            shown: HashMap::new(),
        }
    }

    fn name(&self, object: &Object) -> String {
        match self.prefix {
            true => format!("{}/{}", object.kind.plural(), object.metadata.name),
            false => object.metadata.name.clone(),
        }
    }

    /// The table `object` belongs to, with it as its only row; `None`
    /// in formats without columns.
    fn table_row(&self, object: &Object) -> Option<Table> {
        let (of, header, row) = match &self.output {
            Output::Table | Output::Wide => {
                let wide = matches!(self.output, Output::Wide);
                let header = columns::header(object.kind, wide);
                let row = columns::row(object, self.name(object), wide);
                (Some(object.kind), owned(&header), row)
            }
            Output::CustomColumns(custom) => {
                let mut json = object_json(object);
                json["spec"] = defaulted_spec(object);
                (None, owned(&custom.header()), custom.row(&json))
            }
            Output::Yaml | Output::Json | Output::Name => return None,
        };
        Some(Table {
            of,
            header,
            rows: vec![row],
        })
    }

    /// The first listing. `bare`: `-o json` prints each object on its own
    /// (one asked for by name, or a watch's stream) rather than a list.
    pub fn list(&mut self, objects: &[Object], bare: bool) {
        match &self.output {
            Output::Json if !bare => {
                let items: Vec<Value> = objects.iter().map(object_json).collect();
                print_json(&serde_json::json!({ "items": items }));
                self.remember_all(objects);
            }
            Output::Table | Output::Wide | Output::CustomColumns(_) if objects.is_empty() => {
                eprintln!("no objects found");
            }
            Output::Table | Output::Wide | Output::CustomColumns(_) => {
                let mut tables: Vec<Table> = Vec::new();
                for object in objects {
                    let mut one = self.table_row(object).expect("a table format");
                    self.shown
                        .insert(object.key(), without_age(&one.header, &one.rows[0]));
                    match tables.iter_mut().find(|t| t.of == one.of) {
                        Some(table) => table.rows.append(&mut one.rows),
                        None => tables.push(one),
                    }
                }
                for (i, table) in tables.iter().enumerate() {
                    if i > 0 {
                        outln!();
                    }
                    self.headed.insert(table.of);
                    out!("{}", render(&table.header, &table.rows, !self.no_headers));
                }
            }
            Output::Yaml | Output::Json | Output::Name => {
                for object in objects {
                    self.change(object);
                }
            }
        }
    }

    fn remember_all(&mut self, objects: &[Object]) {
        for object in objects {
            let seen = self.seen(object);
            self.shown.insert(object.key(), seen);
        }
    }

    /// What is shown of `object` in a format without columns: the whole
    /// object but its resourceVersion, which every write bumps.
    fn seen(&self, object: &Object) -> Vec<String> {
        let mut json = object_json(object);
        if let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        vec![json.to_string()]
    }

    /// `object` changed (or was deleted: its last state): prints it if
    /// what is shown of it differs from what was printed last.
    pub fn change(&mut self, object: &Object) {
        if let Some(table) = self.table_row(object) {
            let seen = without_age(&table.header, &table.rows[0]);
            if self.shown.get(&object.key()) == Some(&seen) {
                return;
            }
            self.shown.insert(object.key(), seen);
            // Only the first row of a table carries its header.
            let header_due = !self.no_headers && self.headed.insert(table.of);
            out!("{}", render(&table.header, &table.rows, header_due));
            return;
        }
        let seen = self.seen(object);
        if self.shown.get(&object.key()) == Some(&seen) {
            return;
        }
        self.shown.insert(object.key(), seen);
        match &self.output {
            Output::Json => print_json(&object_json(object)),
            Output::Yaml => out!("{}", yaml(&object_json(object))),
            Output::Name => outln!("{}/{}", object.kind.plural(), object.metadata.name),
            _ => unreachable!("table formats returned above"),
        }
    }
}

/// Rows aligned under `header`, which is printed if `with_header`.
fn render(header: &[String], rows: &[Vec<String>], with_header: bool) -> String {
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    match with_header {
        true => table(&header, rows),
        false => table_rows(&header, rows),
    }
}

fn owned(header: &[&str]) -> Vec<String> {
    header.iter().map(|h| h.to_string()).collect()
}

/// A row without its AGE cell, which changes with the clock alone.
fn without_age(header: &[String], row: &[String]) -> Vec<String> {
    row.iter()
        .zip(header)
        .filter(|(_, h)| *h != "AGE")
        .map(|(cell, _)| cell.clone())
        .collect()
}

fn print_json(value: &Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}
