//! Thin binary: parse the CLI, start tracing, hand over to the library.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pbal::cli::Cli::parse();
    pbal::cli::main(cli)
}
