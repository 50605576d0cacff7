//! Charts: versioned, parameterised bundles of hareconcile objects and the
//! files they reference (compose files, hooks, probes), one per setup
//! hareconcile replaces.
//!
//! A chart is a directory:
//!
//! | path | what it is |
//! |---|---|
//! | `chart.yaml` | name, version, description, `minHareconcileVersion` |
//! | `values.yaml` | the defaults, commented: what a user may set |
//! | `values.schema.json` | JSON Schema of the values; errors name `file:line:col` |
//! | `templates/*.yaml` | minijinja templates (undefined values are errors) rendering `Cluster`, `VirtualIP`, `Service` and `Replication` objects; names starting with `_` are partials, not rendered |
//! | `files/` | copied byte for byte: compose files, hooks, probes |
//! | `examples/*.yaml` | values files the tests render (golden output) and lint |
//! | `README.md` | what each object replaces in the original setup |
//!
//! The charts beside this crate's `src/` are embedded at build time
//! ([`Chart::builtin`]); any other directory is a local chart
//! ([`Chart::from_dir`]). [`Values::resolve`] merges the user's values
//! over the defaults and checks them, [`render`] produces the manifests
//! and files with a [`Lock`] (chart, version, values hash) that
//! [`Rendered::write_to`] writes beside them, and [`validate_dir`] runs
//! the full validation on a rendered directory: the model's, and every
//! Service's compose file through the compose loader the agent uses.

mod chart;
mod document;
mod error;
mod lint;
mod lock;
mod render;
mod values;
mod version;

pub use chart::{Chart, ChartFile, ChartMeta};
pub use error::ChartError;
pub use lint::{lint, validate_dir};
pub use lock::{Lock, LOCK_FILE};
pub use render::{render, OutputFile, Rendered};
pub use values::{Values, ValuesFile};

/// The hareconcile version charts are checked against
/// (`minHareconcileVersion`): this workspace's.
pub const HARECONCILE_VERSION: &str = env!("CARGO_PKG_VERSION");
