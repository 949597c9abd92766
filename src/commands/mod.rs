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
    // Ctrl-C, SIGTERM and SIGHUP roll back a change in flight, then exit 130, 143 or 129.
    if let Err(err) = interrupt::install() {
        status!("warning: cannot handle interrupts: {err}");
    }
    crate::git::configure();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`strata list | head -1`) is not an error worth a word.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            status!("{}", error::render(&err));
            ExitCode::from(u8::try_from(error::exit_code(&err)).unwrap_or(1))
        }
    }
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
        Command::Packs => list::packs(),
        Command::Check(args) => check::run(&args),
        Command::Migrate(args) => migrate::run(&args),
    }
}
