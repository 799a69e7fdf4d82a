//! `pbal-full`: every `pbal` command (the front `pbal` executable `exec`s it for all but `plan`).
//! Thin: parse the CLI, hand over to the library.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pbal::cli::Cli::parse();
    pbal::cli::main(cli)
}
