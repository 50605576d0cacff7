//! `hareconcile chart list|show|render|lint|install`: the charts built
//! into the binary, or any chart directory, rendered into manifests and
//! files, checked, and applied.

use std::path::{Path, PathBuf};

use clap::{Args, FromArgMatches, Subcommand};
use hareconcile_charts::{lint, render, Chart, ChartError, Values, ValuesFile};
use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::load_paths_checked;

use super::apply::{self, ApplyArgs};
use super::output::table;
use super::wait::WaitArgs;
use super::{AgentConnection, CliError, EXIT_INPUT, EXIT_OK};

/// Where `install` renders a chart when neither --dir nor --git-dir is
/// given: beside, not inside, the packaged agent's --manifests directory
/// (/etc/hareconcile/manifests), so the agent's watcher does not manage
/// the same objects as the CLI.
const INSTALL_ROOT: &str = "/etc/hareconcile/charts";

/// Charts: ready-made bundles of objects and files for the setups
/// hareconcile replaces.
///
/// A chart is a directory (chart.yaml, values.yaml and its JSON Schema,
/// templates/, files/); the charts listed by `chart list` are built into
/// this binary, and CHART may also be the path of a chart directory (any
/// argument with a `/`). You give the values only you know (addresses,
/// interfaces) in a values file; `chart show CHART --values` prints every
/// value with its comment. See docs/charts.md.
///
/// Examples:
///   hareconcile chart list
///   hareconcile chart show npmplus --values > site.yaml      # then edit site.yaml
///   hareconcile chart lint npmplus -f site.yaml
///   hareconcile chart render npmplus -f site.yaml -o manifests/npmplus
///   hareconcile chart install npmplus -f site.yaml
///   hareconcile chart install npmplus -f site.yaml --git-dir ~/ops/manifests
///
/// Exit codes: 0 success, 2 a value, template or rendered object is wrong
/// (every problem printed as file:line:col: message; nothing written or
/// applied), 3 the agent or a file could not be reached.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ChartArgs {
    #[command(subcommand)]
    command: ChartCommand,
}

#[derive(Subcommand)]
enum ChartCommand {
    List(ListArgs),
    Show(ShowArgs),
    Render(RenderArgs),
    Lint(LintArgs),
    Install(InstallArgs),
}

/// List the charts built into this binary.
///
/// Example:
///   hareconcile chart list
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ListArgs {}

/// Show a chart: what it is, its examples and its values with their
/// comments (the defaults).
///
/// Examples:
///   hareconcile chart show pihole
///   hareconcile chart show pihole --values > site.yaml   # every value, to edit
///   hareconcile chart show pihole --example seed         # a complete values file
///   hareconcile chart show pihole --readme               # what it replaces, line by line
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ShowArgs {
    /// A built-in chart's name, or a chart directory.
    chart: String,
    /// Print only values.yaml.
    #[arg(long, group = "part")]
    values: bool,
    /// Print only the README.
    #[arg(long, group = "part")]
    readme: bool,
    /// Print only the example values file examples/NAME.yaml.
    #[arg(long, group = "part", value_name = "NAME")]
    example: Option<String>,
}

/// The values files a chart is rendered with.
#[derive(Args)]
struct ValuesArgs {
    /// A values file; repeat it to layer files (later ones win, mappings
    /// merge key by key). Unset values keep the chart's defaults.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl ValuesArgs {
    fn read(&self) -> Result<Vec<ValuesFile>, CliError> {
        self.files
            .iter()
            .map(|path| ValuesFile::read(path).map_err(chart_error))
            .collect()
    }
}

/// Render a chart into a directory: its manifests, its files (compose
/// files, hooks, probes) and chart.lock (chart, version, values hash).
///
/// The render is fully validated first (as `chart lint`); if anything is
/// wrong nothing is written. Rendering again into the same directory
/// replaces exactly the files its chart.lock lists; a file it does not
/// list is never overwritten. Commit the directory: a chart upgrade or a
/// changed value then shows in `git diff` and in `hareconcile diff -f DIR`.
///
/// Examples:
///   hareconcile chart render npmplus -f site.yaml -o manifests/npmplus
///   hareconcile diff -f manifests/npmplus && hareconcile apply -f manifests/npmplus
///   hareconcile chart render ./charts/my-stack -f prod.yaml -f prod-secrets.yaml -o out/
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct RenderArgs {
    /// A built-in chart's name, or a chart directory.
    chart: String,
    #[command(flatten)]
    values: ValuesArgs,
    /// The directory to write (created if needed).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
}

/// Render a chart and run the full validation on the result: the values
/// against the chart's schema, the templates, the objects as `validate`
/// checks them, every Service's compose file through the loader the agent
/// runs it with, and every hook or probe present and executable.
///
/// Without -f, the chart is linted with each of its examples
/// (examples/*.yaml), or with its defaults alone if it has none.
///
/// Examples:
///   hareconcile chart lint ./charts/my-stack
///   hareconcile chart lint npmplus -f site.yaml
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct LintArgs {
    /// A chart directory, or a built-in chart's name.
    chart: String,
    #[command(flatten)]
    values: ValuesArgs,
}

/// Validate a chart's render, write it, then apply it.
///
/// The objects name the chart's files (compose files, hooks) by path, and
/// the agent reads them there, so the render is kept: in --dir (default
/// /etc/hareconcile/charts/NAME). It is then applied exactly as
/// `hareconcile apply -f DIR --prune` would: all or nothing, one line per
/// object, and objects an earlier install of the chart declared that this
/// one no longer does are deleted. Installing again with other values or
/// a newer chart upgrades it in place.
///
/// Like `apply`, it writes every node of the Cluster through the peer API
/// (--local: this node's only; a node that does not answer fails it
/// unless --allow-unreachable). The objects name the files by path, so
/// the directory must be at the same path on every node the chart's
/// Services may run on: copy it there, or render on each node into its
/// agent's --manifests directory, or use --git-dir, which every node's
/// agent pulls.
///
/// With --git-dir DIR (a directory inside a git checkout that agents
/// follow with --git-url/--git-path), the render is written into DIR/NAME
/// and the whole of DIR is validated, as an agent validates a commit;
/// nothing is applied and nothing is committed: review `git diff`, commit
/// and push, and every agent applies it on its next pull.
///
/// Examples:
///   hareconcile chart install npmplus -f site.yaml
///   hareconcile chart install npmplus -f site.yaml --wait=2m
///   hareconcile chart install pihole -f site.yaml --git-dir ~/ops/manifests
///   git -C ~/ops diff && git -C ~/ops commit -am "pihole: install" && git -C ~/ops push
#[derive(Args)]
#[command(verbatim_doc_comment)]
#[command(mut_arg("wait", |wait| wait.conflicts_with("git_dir")))]
struct InstallArgs {
    /// A built-in chart's name, or a chart directory.
    chart: String,
    #[command(flatten)]
    values: ValuesArgs,
    /// Where the render is kept [default: /etc/hareconcile/charts/NAME].
    #[arg(long, value_name = "DIR", conflicts_with = "git_dir")]
    dir: Option<PathBuf>,
    /// Write the render into DIR/NAME of a git checkout instead of applying it.
    #[arg(long, value_name = "DIR")]
    git_dir: Option<PathBuf>,
    /// Take over objects another manager (files, gitops) owns (as `apply --force`).
    #[arg(long, conflicts_with = "git_dir")]
    force: bool,
    /// Write this node's store only (as `apply --local`).
    #[arg(long, conflicts_with = "git_dir")]
    local: bool,
    /// Write the nodes that answer even if some do not (as `apply
    /// --allow-unreachable`).
    #[arg(long, conflicts_with_all = ["git_dir", "local"])]
    allow_unreachable: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    agent: AgentConnection,
}

pub async fn run(args: ChartArgs) -> Result<u8, CliError> {
    match args.command {
        ChartCommand::List(_) => list(),
        ChartCommand::Show(args) => show(args),
        ChartCommand::Render(args) => render_to(args),
        ChartCommand::Lint(args) => lint_chart(args),
        ChartCommand::Install(args) => install(args).await,
    }
}

fn list() -> Result<u8, CliError> {
    let rows: Vec<Vec<String>> = Chart::builtin_names()
        .into_iter()
        .map(|name| {
            let chart = Chart::builtin(name).map_err(chart_error)?;
            Ok(vec![
                chart.meta.name.clone(),
                chart.meta.version.clone(),
                summary(&chart.meta.description),
            ])
        })
        .collect::<Result<_, CliError>>()?;
    out!("{}", table(&["NAME", "VERSION", "DESCRIPTION"], &rows));
    Ok(EXIT_OK)
}

/// A chart's description up to its first `:` (what it is; what it
/// replaces follows) or `, `, on one line.
fn summary(description: &str) -> String {
    let what = description.split(':').next().unwrap_or(description);
    let what = what.split(", ").next().unwrap_or(what);
    what.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn show(args: ShowArgs) -> Result<u8, CliError> {
    let chart = Chart::find(&args.chart).map_err(chart_error)?;
    let text = |path: &str| chart.text(path).map(str::to_string).map_err(chart_error);
    if args.values {
        out!("{}", text("values.yaml")?);
        return Ok(EXIT_OK);
    }
    if args.readme {
        out!("{}", text("README.md")?);
        return Ok(EXIT_OK);
    }
    let examples = chart.examples();
    if let Some(name) = args.example {
        let Some(example) = examples.get(&name) else {
            return Err(CliError::input(format!(
                "chart {} has no example {name}: use one of {}",
                chart.meta.name,
                examples.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        out!("{example}");
        return Ok(EXIT_OK);
    }
    let meta = &chart.meta;
    outln!("{} {}", meta.name, meta.version);
    outln!(
        "{}",
        meta.description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    outln!(
        "Needs hareconcile {} or newer.",
        meta.min_hareconcile_version
    );
    if !examples.is_empty() {
        outln!(
            "Examples: {} (`hareconcile chart show {} --example NAME`).",
            examples.keys().cloned().collect::<Vec<_>>().join(", "),
            args.chart
        );
    }
    outln!(
        "\n# values.yaml (`hareconcile chart show {} --values`):",
        args.chart
    );
    out!("{}", text("values.yaml")?);
    Ok(EXIT_OK)
}

fn render_to(args: RenderArgs) -> Result<u8, CliError> {
    let chart = Chart::find(&args.chart).map_err(chart_error)?;
    let values = args.values.read()?;
    write_render(&chart, &values, &args.output)?;
    outln!(
        "chart {} {} rendered into {}: check it against the agent with `hareconcile diff -f {}`",
        chart.meta.name,
        chart.meta.version,
        args.output.display(),
        args.output.display()
    );
    Ok(EXIT_OK)
}

/// Lints `chart` with `values`, then writes the render into `dir`: nothing
/// is written unless the whole render is valid.
fn write_render(chart: &Chart, values: &[ValuesFile], dir: &Path) -> Result<(), CliError> {
    lint(chart, values).map_err(chart_error)?;
    let resolved = Values::resolve(chart, values).map_err(chart_error)?;
    let rendered = render(chart, &resolved).map_err(chart_error)?;
    rendered.write_to(dir).map_err(chart_error)
}

fn lint_chart(args: LintArgs) -> Result<u8, CliError> {
    let chart = Chart::find(&args.chart).map_err(chart_error)?;
    let runs: Vec<(String, Vec<ValuesFile>)> = if !args.values.files.is_empty() {
        let label = args
            .values
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        vec![(label, args.values.read()?)]
    } else if chart.examples().is_empty() {
        vec![("its defaults".to_string(), Vec::new())]
    } else {
        chart
            .examples()
            .into_iter()
            .map(|(name, text)| {
                let path = format!("examples/{name}.yaml");
                let file = ValuesFile {
                    path: chart.display_path(&path),
                    text: text.to_string(),
                };
                (path, vec![file])
            })
            .collect()
    };
    let mut failed = 0;
    for (label, values) in runs {
        let heading = format!(
            "chart {} {} with {label}",
            chart.meta.name, chart.meta.version
        );
        match lint(&chart, &values) {
            Ok(manifests) => {
                // Compose keys a single engine ignores, as `validate` shows them.
                for warning in manifests.iter().flat_map(|m| &m.warnings) {
                    eprintln!("{warning}");
                }
                outln!("{heading}: {} object(s) valid", manifests.len());
            }
            Err(error) => {
                failed += 1;
                eprintln!("{heading}:\n{error}");
            }
        }
    }
    if failed == 0 {
        Ok(EXIT_OK)
    } else {
        Err(CliError {
            code: EXIT_INPUT,
            message: format!("error: {failed} render(s) of the chart are not valid"),
        })
    }
}

async fn install(args: InstallArgs) -> Result<u8, CliError> {
    let chart = Chart::find(&args.chart).map_err(chart_error)?;
    let values = args.values.read()?;
    if let Some(git_dir) = &args.git_dir {
        return install_into_checkout(&chart, &values, git_dir);
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| Path::new(INSTALL_ROOT).join(&chart.meta.name));
    write_render(&chart, &values, &dir)?;
    outln!(
        "chart {} {} rendered into {}",
        chart.meta.name,
        chart.meta.version,
        dir.display()
    );
    apply::run(apply_args(&args, &dir)?).await
}

/// `hareconcile apply -f DIR --prune [--force] [--local |
/// --allow-unreachable] [--wait=T] --socket S`, as the apply command
/// itself reads it: an install applies exactly as `apply` does, whatever
/// `apply` learns to do.
fn apply_args(args: &InstallArgs, dir: &Path) -> Result<ApplyArgs, CliError> {
    let mut argv: Vec<String> = vec!["apply".into(), "-f".into(), dir.display().to_string()];
    argv.push("--prune".into());
    for (set, flag) in [
        (args.force, "--force"),
        (args.local, "--local"),
        (args.allow_unreachable, "--allow-unreachable"),
    ] {
        if set {
            argv.push(flag.into());
        }
    }
    if let Some(timeout) = args.wait.timeout()? {
        argv.push(format!("--wait={}", humantime::format_duration(timeout)));
    }
    argv.push("--socket".into());
    argv.push(args.agent.socket.display().to_string());
    let command = <ApplyArgs as clap::Args>::augment_args(clap::Command::new("apply"));
    let matches = command
        .try_get_matches_from(argv)
        .map_err(|e| CliError::runtime(format!("cannot hand the install to apply: {e}")))?;
    ApplyArgs::from_arg_matches(&matches)
        .map_err(|e| CliError::runtime(format!("cannot hand the install to apply: {e}")))
}

/// Writes the render into `git_dir/NAME` and validates all of `git_dir`,
/// as an agent following the checkout validates a commit.
fn install_into_checkout(
    chart: &Chart,
    values: &[ValuesFile],
    git_dir: &Path,
) -> Result<u8, CliError> {
    let Some(top) = work_tree(git_dir) else {
        return Err(CliError::input(format!(
            "{} is not inside a git checkout: clone the repository the agents follow (--git-url) and give the directory they read (--git-path)",
            git_dir.display()
        )));
    };
    let dir = git_dir.join(&chart.meta.name);
    write_render(chart, values, &dir)?;
    let manifests = load_paths_checked(&[git_dir], &[], &ComposeFiles).map_err(|d| {
        let count = d.0.len();
        CliError {
            code: EXIT_INPUT,
            message: format!(
                "{d}\n{count} error(s): {} was written, but {} as a whole does not validate, so agents would reject the commit: fix the files named above, or drop the render with `git -C {} checkout -- {}`",
                dir.display(),
                git_dir.display(),
                top.display(),
                dir.display()
            ),
        }
    })?;
    outln!(
        "chart {} {} rendered into {} ({} object(s) in {} valid); nothing is applied or committed:\n  git -C {} add {} && git -C {} commit    # then push; every agent applies it on its next pull",
        chart.meta.name,
        chart.meta.version,
        dir.display(),
        manifests.len(),
        git_dir.display(),
        top.display(),
        dir.display(),
        top.display()
    );
    Ok(EXIT_OK)
}

/// The git work tree holding `dir`: the nearest ancestor with `.git` (a
/// directory, or a file for worktrees and submodules).
fn work_tree(dir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Chart problems are the user's input (values, templates, the chart's
/// files) unless a file could not be read or written.
fn chart_error(error: ChartError) -> CliError {
    match error {
        ChartError::Invalid(diagnostics) => {
            let count = diagnostics.0.len();
            CliError {
                code: EXIT_INPUT,
                message: format!("{diagnostics}\n{count} error(s); nothing was written"),
            }
        }
        ChartError::Read { .. } | ChartError::Write { .. } => CliError::runtime(error),
        ChartError::NotFound { .. } | ChartError::TooOld { .. } | ChartError::Output { .. } => {
            CliError::input(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_charts::validate_dir;

    #[test]
    fn the_summary_is_what_the_chart_is() {
        assert_eq!(
            summary("A redundant router: one virtual\n  address per interface"),
            "A redundant router"
        );
    }

    #[test]
    fn a_rendered_builtin_chart_validates_as_lint_says() {
        let chart = Chart::builtin("vrrp-router").unwrap();
        let (name, text) = chart.examples().into_iter().next().unwrap();
        let values = vec![ValuesFile {
            path: format!("{name}.yaml").into(),
            text: text.to_string(),
        }];
        let dir = tempfile::tempdir().unwrap();
        write_render(&chart, &values, dir.path()).unwrap();
        assert!(validate_dir(dir.path()).is_ok());
    }
}
