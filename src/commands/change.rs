//! `strata add`, `strata remove` and `strata upgrade`: change the answers, then run the edit
//! (`edit/`) through render, plan and apply in both repos, all or nothing.

use anyhow::Result;

use super::output::Printer;
use crate::cli::{AddEnvArgs, AddServiceArgs, ChangeArgs, RemoveArgs, UpgradeArgs};
use crate::edit::{self, Edit, Mode, Options};
use crate::jobs::grow;
use crate::render::Scope;
use crate::write::workspace::Workspace;

pub fn add_service(args: &AddServiceArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let (input, mut problems) = crate::jobs::resolve::service_input(args);
    let mut answers = workspace.answers.clone();
    let name = match grow::add_service(&mut answers, &args.name, &input) {
        Ok(name) => name,
        Err(more) => {
            problems.extend(more);
            return Err(problems.into());
        }
    };
    problems.into_result()?;
    let envs: Vec<&str> = answers.services[&name]
        .envs
        .keys()
        .map(|e| e.as_str())
        .collect();
    let message = format!("Add service `{name}` to {}", envs.join(", "));
    let edit = Edit::new(answers, Scope::Service(name), message);
    run(workspace, edit, gitops, &args.change)
}

pub fn add_env(args: &AddEnvArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    grow::add_env(&mut answers, &args.name, args.from.as_deref())?;
    let message = format!("Add environment `{}`", args.name);
    let edit = Edit::new(answers, Scope::Env(args.name.clone()), message);
    run(workspace, edit, gitops, &args.change)
}

pub fn remove_service(args: &RemoveArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let name = grow::remove_service(&mut answers, &args.name)?;
    let message = format!("Remove service `{name}`");
    let edit = Edit::new(answers, Scope::Service(name), message);
    run(workspace, edit, gitops, &args.change)
}

pub fn remove_env(args: &RemoveArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    grow::remove_env(&mut answers, &args.name)?;
    let message = format!("Remove environment `{}`", args.name);
    let edit = Edit::new(answers, Scope::Env(args.name.clone()), message);
    run(workspace, edit, gitops, &args.change)
}

pub fn upgrade(args: &UpgradeArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    workspace.not_newer()?;
    workspace.note_lock_upgrades();
    let mut answers = workspace.answers.clone();
    let message = grow::upgrade(&mut answers, env!("CARGO_PKG_VERSION"));
    let edit = Edit::upgrade(answers, message);
    let mut options = options(&args.change);
    if args.check {
        options.mode = Mode::Check;
    }
    let outcome = edit::run(workspace, edit, gitops, &options, &mut Printer)?;
    super::output::outcome(&outcome, args.change.json)?;
    Ok(())
}

/// Runs an edit with the shared flags and prints its outcome.
pub(crate) fn run(
    workspace: Workspace,
    edit: Edit,
    gitops: edit::Compiling,
    args: &ChangeArgs,
) -> Result<()> {
    let outcome = edit::run(workspace, edit, gitops, &options(args), &mut Printer)?;
    super::output::outcome(&outcome, args.json)?;
    Ok(())
}

/// The edit's options from the flags every changing command shares.
pub(super) fn options(args: &ChangeArgs) -> Options {
    Options {
        mode: if args.dry_run {
            Mode::DryRun
        } else {
            Mode::Write
        },
        commit: args.commit,
        force: args.force,
        allow_dirty: args.allow_dirty,
    }
}
