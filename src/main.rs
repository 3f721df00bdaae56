//! The `kgen` binary: parse the command line, run, exit once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash kgen -- kgen render …`, from the script
    // `kgen completions` prints) is answered before anything else; otherwise this is one
    // environment lookup.
    kgen::cli::complete::answer_if_asked();
    // clap exits 2 on usage errors and 0 for --help/--version, as SPEC §6 wants.
    let cli = kgen::cli::Cli::parse();
    ExitCode::from(kgen::run(&cli))
}
