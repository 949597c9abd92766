//! The `strata` binary: parse, run, print errors, exit with 0, 1 or 2.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match strata::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    // Ctrl-C, SIGTERM and SIGHUP roll back a change in flight, then exit 130, 143 or 129.
    if let Err(err) = strata::write::interrupt::install() {
        strata::status!("warning: cannot handle interrupts: {err}");
    }
    match strata::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`strata list | head -1`) is not an error worth a word.
        Err(err) if strata::util::term::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            strata::status!("{}", strata::util::error::render(&err));
            ExitCode::from(u8::try_from(strata::util::error::exit_code(&err)).unwrap_or(1))
        }
    }
}
