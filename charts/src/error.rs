//! What can go wrong with a chart, in words that say what to do.

use std::path::PathBuf;

use hareconcile_model::load::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("no chart named {name}: use one of {available} (`hareconcile chart list`), or the path of a chart directory")]
    NotFound { name: String, available: String },
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Problems in chart.yaml, the values, a template or the rendered
    /// objects, each at `file:line:col`.
    #[error(transparent)]
    Invalid(#[from] Diagnostics),
    #[error("chart {chart} {version} needs hareconcile {needs} or newer, this is {have}: upgrade hareconcile or use an older version of the chart")]
    TooOld {
        chart: String,
        version: String,
        needs: String,
        have: String,
    },
    #[error("{}: {message}", path.display())]
    Output { path: PathBuf, message: String },
}
