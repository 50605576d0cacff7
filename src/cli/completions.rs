//! `hareconcile completions SHELL`: the shell completion script, printed
//! for the package build (and for anyone installing by hand). Hidden from
//! `--help`: operators get the scripts from the package.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError, EXIT_OK};

/// Print the completion script for SHELL.
///
/// Example:
///   hareconcile completions bash > /usr/share/bash-completion/completions/hareconcile
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> Result<u8, CliError> {
    let mut command = Cli::command();
    // Into a buffer: clap_complete panics on a closed stdout; out! does not.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "hareconcile", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(EXIT_OK)
}
