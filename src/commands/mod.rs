//! Commands: thin glue from parsed arguments to settings, render, plan and apply, and the top
//! of the house: the only place that prints what an edit did (`output.rs`), decides the exit
//! code and prints errors. A command holds no logic of its own: it resolves its input
//! (`jobs/`), changes the answers, builds an `Edit` and runs it (`edit::run`).

mod change;
mod check;
mod edit_service;
mod list;
mod migrate;
mod new;
mod output;
mod platform;
mod prompt;
mod revision;
mod set;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{AddCommand, Cli, Command, EditCommand, RemoveCommand};
use crate::util::error;
use crate::util::term::is_broken_pipe;
use crate::util::term::status;
use crate::write::interrupt;

/// Runs one parsed command line and returns its exit code: 0 success, 1 failure or refusal,
/// 2 bad input. Every error is printed here, once, cause first (`util/error.rs`).
pub fn run(cli: Cli) -> ExitCode {
    // Ctrl-C, SIGTERM, SIGHUP and SIGQUIT roll back a change in flight, then exit 130, 143, 129
    // or 131.
    if let Err(err) = interrupt::install() {
        status!("warning: cannot handle interrupts: {err}");
    }
    crate::git::configure();
    let json = wants_json(&cli.command);
    let name = name(&cli.command);
    output::set_json(json);
    let result = dispatch(cli);
    let code = match &result {
        Ok(()) => 0,
        // A reader that went away (`strata list | head -1`) is not an error worth a word.
        Err(err) if is_broken_pipe(err) => return ExitCode::SUCCESS,
        Err(err) => {
            status!("{}", error::render(err));
            error::exit_code(err)
        }
    };
    if json {
        output::print_envelope(name, code, result.as_ref().err());
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Whether the command line asks for JSON (`--json`).
fn wants_json(command: &Command) -> bool {
    match command {
        Command::New(args) => args.json,
        Command::Add(AddCommand::Service(args)) => args.change.json,
        Command::Add(AddCommand::Env(args)) => args.change.json,
        Command::Add(AddCommand::Platform(args))
        | Command::Remove(RemoveCommand::Platform(args)) => args.change.json,
        Command::Remove(RemoveCommand::Service(args) | RemoveCommand::Env(args)) => {
            args.change.json
        }
        Command::Upgrade(args) => args.change.json,
        Command::List(args) => args.json,
        Command::Presets(args) => args.json,
        Command::Packs(args) => args.json,
        Command::Check(args) => args.json,
        Command::Migrate(args) => args.change.json,
        Command::Set(args) => args.change.json,
        Command::Edit(EditCommand::Service(args)) => args.change.json,
        Command::Completions(_) | Command::Man => false,
    }
}

/// The command's name, as the JSON envelope gives it (`add service`).
fn name(command: &Command) -> &'static str {
    match command {
        Command::New(_) => "new",
        Command::Add(AddCommand::Service(_)) => "add service",
        Command::Add(AddCommand::Env(_)) => "add env",
        Command::Add(AddCommand::Platform(_)) => "add platform",
        Command::Remove(RemoveCommand::Service(_)) => "remove service",
        Command::Remove(RemoveCommand::Env(_)) => "remove env",
        Command::Remove(RemoveCommand::Platform(_)) => "remove platform",
        Command::Upgrade(_) => "upgrade",
        Command::List(_) => "list",
        Command::Presets(_) => "presets",
        Command::Packs(_) => "packs",
        Command::Check(_) => "check",
        Command::Migrate(_) => "migrate",
        Command::Set(_) => "set",
        Command::Edit(EditCommand::Service(_)) => "edit service",
        Command::Completions(_) => "completions",
        Command::Man => "man",
    }
}

/// Prints the JSON document of a command line clap refused (`--json` among its arguments):
/// exit 2.
pub fn print_usage_error_json(message: &str) {
    let value = serde_json::json!({
        "strata": env!("CARGO_PKG_VERSION"),
        "command": serde_json::Value::Null,
        "ok": false,
        "exit_code": 2,
        "result": serde_json::Value::Null,
        "error": {
            "kind": "usage",
            "message": message
                .split("\n\n")
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            "problems": [],
            "details": [],
            "hint": serde_json::Value::Null,
            "outcome": "nothing-written",
            "text": message,
        },
    });
    let _ = crate::util::term::outln!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}

/// Runs the command of a command line.
fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::New(args) => new::run(&args),
        Command::Add(AddCommand::Service(args)) => change::add_service(&args),
        Command::Add(AddCommand::Env(args)) => change::add_env(&args),
        Command::Remove(RemoveCommand::Service(args)) => change::remove_service(&args),
        Command::Remove(RemoveCommand::Env(args)) => change::remove_env(&args),
        Command::Add(AddCommand::Platform(args)) => platform::add(&args),
        Command::Remove(RemoveCommand::Platform(args)) => platform::remove(&args),
        Command::Set(args) => set::run(&args),
        Command::Edit(EditCommand::Service(args)) => edit_service::run(&args),
        Command::Upgrade(args) => change::upgrade(&args),
        Command::List(args) => list::run(&args),
        Command::Presets(args) => list::presets(&args),
        Command::Packs(args) => list::packs(&args),
        Command::Check(args) => check::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Completions(args) => {
            let mut out = Vec::new();
            crate::cli::completions(args.shell, &mut out);
            crate::util::term::out!("{}", String::from_utf8_lossy(&out))?;
            Ok(())
        }
        Command::Man => {
            let mut out = Vec::new();
            crate::cli::man_page(&mut out)?;
            crate::util::term::out!("{}", String::from_utf8_lossy(&out))?;
            Ok(())
        }
    }
}
