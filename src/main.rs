//! The `strata` binary: parse the command line (a usage error exits 2), then run it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match strata::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = err.print();
            // Under `--json`, stdout holds the error too (docs/json.md).
            if code == 2 && std::env::args_os().any(|arg| arg == "--json") {
                strata::print_usage_error_json(&err.to_string());
            }
            return ExitCode::from(code);
        }
    };
    strata::run(cli)
}
