//! Commands: thin glue from parsed arguments to settings, render, plan and apply.

mod change;
mod check;
mod list;
mod migrate;
mod new;
mod output;
mod platform;

use anyhow::Result;

use crate::cli::{AddCommand, Cli, Command, RemoveCommand};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::New(args) => new::run(&args),
        Command::Add(AddCommand::Service(args)) => change::add_service(&args),
        Command::Add(AddCommand::Env(args)) => change::add_env(&args),
        Command::Remove(RemoveCommand::Service(args)) => change::remove_service(&args),
        Command::Remove(RemoveCommand::Env(args)) => change::remove_env(&args),
        Command::Add(AddCommand::Platform(args)) => platform::add(&args),
        Command::Remove(RemoveCommand::Platform(args)) => platform::remove(&args),
        Command::Upgrade(args) => change::upgrade(&args),
        Command::List(args) => list::run(&args),
        Command::Presets(args) => list::presets(&args),
        Command::Packs => list::packs(),
        Command::Check(args) => check::run(&args),
        Command::Migrate(args) => migrate::run(&args),
    }
}
