//! `memo`: inspect, explain, invalidate and collect a memo store from the shell.
//!
//! Exit codes: 0 for success, 1 for a failure (one line on standard error that says what
//! to do), 2 for a usage error.

mod cli;
mod commands;
mod lineage;
mod locate;
mod output;
mod progress;
mod render;
mod svg;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("memo: error: {message}");
            ExitCode::FAILURE
        }
    }
}
