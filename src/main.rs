//! `hareconcile`: declarative high availability for small Linux clusters.
//!
//! A thin binary: the CLI (one file per subcommand under `cli/`), the
//! agent that wires the store, API and controllers together (`agent/`),
//! and the local HTTP API both speak (`api/`). The object model, store and
//! controllers live in the workspace's library crates.

mod agent;
mod api;
mod cli;
mod drift;
mod peer;
mod switchover;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_RUNTIME);
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(error.code)
        }
    }
}
