//! `hareconcile`: declarative high availability for small Linux clusters.
//!
//! A thin binary: the CLI (one file per subcommand under `cli/`), the
//! agent that wires the store, API and controllers together (`agent/`),
//! and the local HTTP API both speak (`api/`). The object model, store and
//! controllers live in the workspace's library crates.
//!
//! Layers, without cycles (`tests/module_graph.rs` checks it): the leaf
//! `cluster_view` (what a node reports of itself and sees of the others),
//! the domain on top of it (`drift`, `switchover`, `batch`: a write into
//! this node's store; `trials`: the crash-loop breaker's ledger), the adapters that carry it (`peer`, `api`, and
//! `fanout` between them: a write carried to every node), then `agent`
//! and `cli`.

mod agent;
mod api;
mod batch;
mod build_info;
mod cli;
mod cluster_view;
mod drift;
mod fanout;
mod math;
mod peer;
mod switchover;
mod tcp_guard;
mod trials;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// glibc gives each thread that allocates an arena of its own (up to eight
/// per core), and each keeps what it once held: with the runtime's worker
/// and blocking threads an agent's heap grew by megabytes that no
/// allocation needed any more. One arena is plenty for a daemon that is
/// mostly asleep (a hundred VirtualIPs make about 12,000 allocations a
/// second), and a second one held 0.5-1.5 MiB more after three minutes.
fn limit_malloc_arenas() {
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
