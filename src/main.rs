//! The `kgen` binary: parse the command line, run, exit once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help/--version, as SPEC §6 wants.
    let cli = kgen::cli::Cli::parse();
    ExitCode::from(kgen::run(&cli))
}
