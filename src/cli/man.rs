//! `hareconcile man DIR`: a manual page per command (`hareconcile.1`,
//! `hareconcile-agent.1`, `hareconcile-vip-maintenance.1`, ...) written
//! into DIR for the package build, from the same definitions as `--help`.
//! Hidden from `--help`, as `completions` is.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_mangen::Man;

use super::{Cli, CliError, EXIT_OK};

/// Write the manual pages into DIR (created if missing).
///
/// Example:
///   hareconcile man target/man && man -l target/man/hareconcile-agent.1
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// Where the pages go.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: ManArgs) -> Result<u8, CliError> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::runtime(format_args!("{}: {e}", args.dir.display())))?;
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    write_pages(command, &args.dir)
        .map_err(|e| CliError::runtime(format_args!("{}: {e}", args.dir.display())))?;
    Ok(EXIT_OK)
}

/// The page of `command` and of each of its visible subcommands.
fn write_pages(command: clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir)?;
    }
    Man::new(command)
        .date(crate::build_info::DATE)
        .source(format!("hareconcile {}", env!("CARGO_PKG_VERSION")))
        .manual("hareconcile manual")
        .generate_to(dir)?;
    Ok(())
}
