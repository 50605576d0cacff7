//! `hareconcile diff -f PATH...`: declared (files) vs stored (agent).

use std::path::PathBuf;

use clap::Args;
use hareconcile_model::{Object, SOURCE_FILE_ANNOTATION};
use serde_json::{json, Value};
use similar::TextDiff;

use super::output::yaml_body;
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};

/// Show how the agent's objects differ from manifests, as a unified diff
/// of what `apply` would change (metadata labels and annotations, spec).
/// The manifests are checked as `validate` checks them. An edit of a
/// Service's compose file, or of a file it reads (env files, includes),
/// shows as a new digest in its `hareconcile.io/compose-files` annotation.
///
/// Exit code 0 when there is no difference, 1 when there are differences,
/// 2 or more on errors — usable in scripts and CI.
///
/// Example:
///   hareconcile diff -f manifests/ && echo "in sync"
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct DiffArgs {
    /// Manifest files or directories (searched for *.yaml and *.yml).
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    agent: AgentConnection,
}

/// The part of an object a manifest declares: no field the store writes,
/// and no `hareconcile.io/source-file`, which says where the manifest was
/// read, not what it declares (the same files applied from another
/// checkout are no change). The `hareconcile.io/compose-files` digest
/// stays: it is how a compose edit shows. Empty maps are left out, so
/// `labels: {}` equals no labels.
fn declared_view(object: &Object) -> Value {
    let mut annotations = object.metadata.annotations.clone();
    annotations.remove(SOURCE_FILE_ANNOTATION);
    let mut metadata = json!({"name": object.metadata.name});
    if !object.metadata.labels.is_empty() {
        metadata["labels"] = json!(object.metadata.labels);
    }
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    json!({"metadata": metadata, "spec": object.spec})
}

pub async fn run(args: DiffArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let existing = client.list(None).await?.items;
    let manifests = super::validate::load(&args.paths, &existing)?;
    let mut differences = 0;
    for manifest in &manifests {
        let key = manifest.object.key();
        let live = existing.iter().find(|o| o.key() == key);
        let live_text = live
            .map(|o| yaml_body(&declared_view(o)))
            .unwrap_or_default();
        let declared_text = yaml_body(&declared_view(&manifest.object));
        if live_text == declared_text {
            continue;
        }
        differences += 1;
        let live_name = if live.is_some() {
            format!("live/{key}")
        } else {
            "/dev/null".to_string()
        };
        out!(
            "{}",
            TextDiff::from_lines(&live_text, &declared_text)
                .unified_diff()
                .header(&live_name, &format!("declared/{key}"))
        );
    }
    if differences == 0 {
        Ok(EXIT_OK)
    } else {
        Ok(EXIT_DIFFERENCES)
    }
}
