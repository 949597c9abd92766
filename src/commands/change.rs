//! `strata add`, `strata remove` and `strata upgrade`: change the answers, then run the edit
//! (`edit/`) through render, plan and apply in both repos, all or nothing.

use anyhow::Result;

use super::output::Printer;
use crate::cli::{AddEnvArgs, AddServiceArgs, ChangeArgs, RemoveArgs, UpgradeArgs};
use crate::edit::{self, Edit, Mode, Options};
use crate::jobs::grow;
use crate::model::repo::Repo;
use crate::render::Scope;
use crate::util::error::Refusal;
use crate::util::term::status;
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
    grow::add_env(
        &mut answers,
        &args.name,
        args.from.as_deref(),
        args.account.as_deref(),
    )?;
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

/// Removes an environment from both repos. Its own Pulumi stack must be destroyed first,
/// while `Pulumi.<stack>.yaml` is there to destroy it with: strata refuses while the file is
/// there (`pulumi stack rm` deletes it), unless `--force` (the stack is left running, and said
/// so) or `--dry-run` (the steps are printed with the diff).
pub fn remove_env(args: &RemoveArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let left = grow::left_running(&answers, &args.name);
    grow::remove_env(&mut answers, &args.name)?;
    let stack_file_there = match &left {
        grow::LeftRunning::Stack { file, .. } => workspace.read(Repo::Foundation, file).is_some(),
        grow::LeftRunning::Namespace { .. } => false,
    };
    if stack_file_there && !args.change.force && !args.change.dry_run {
        return Err(destroy_first(&args.name, &left));
    }
    let message = format!("Remove environment `{}`", args.name);
    let edit = Edit::new(answers, Scope::Env(args.name.clone()), message);
    run(workspace, edit, gitops, &args.change)?;
    say_what_runs_on(&args.name, &left, stack_file_there, args.change.dry_run);
    Ok(())
}

/// The steps that take an environment's stack down, in order, from the foundation.
fn destroy_steps(env: &str, stack: &str, file: &str) -> Vec<String> {
    vec![
        format!("1. `pulumi destroy --stack {stack}` in the foundation, with `{file}` in place: deletes the cluster, its VPC and every other resource of the stack"),
        format!("2. `pulumi stack rm {stack}`: deletes the stack's (now empty) state, and `{file}` with it"),
        format!("3. `strata remove env {env}`: takes the environment out of both repos"),
    ]
}

/// The refusal of a removal that would delete the stack file of a stack that may still run.
fn destroy_first(env: &str, left: &grow::LeftRunning) -> anyhow::Error {
    let grow::LeftRunning::Stack { stack, file } = left else {
        unreachable!("only an environment's own stack is destroyed first");
    };
    Refusal {
        message: format!(
            "environment `{env}` has its own Pulumi stack `{stack}`, and foundation: `{file}` is still there: strata only removes files, so the stack's cluster and VPC would keep running, and Pulumi needs that file to destroy them; nothing was written"
        ),
        details: destroy_steps(env, stack, file),
        hint: "take the stack down first, in that order; or pass `--force` to remove the environment now and leave the stack running (`--dry-run` shows the change)".to_string(),
    }
    .into()
}

/// After a removal (or its dry run): what still runs in the cloud, and how to take it down.
fn say_what_runs_on(env: &str, left: &grow::LeftRunning, stack_file_there: bool, dry_run: bool) {
    match left {
        grow::LeftRunning::Stack { stack, file } if stack_file_there => {
            if dry_run {
                status!("warning: the Pulumi stack `{stack}` of environment `{env}` keeps running after this removal; take it down first, in this order (without that, `strata remove env {env}` refuses unless `--force`):");
                for step in destroy_steps(env, stack, file) {
                    status!("  {step}");
                }
            } else {
                status!("warning: the Pulumi stack `{stack}` of environment `{env}` keeps running (its cluster, VPC and every other resource), and foundation: `{file}` is gone; to take it down, put the file back from git and destroy the stack, in this order:");
                status!("  1. `git checkout HEAD -- {file}` (or `git checkout HEAD~1 -- {file}` after `--commit`)");
                status!("  2. `pulumi destroy --stack {stack}`");
                status!("  3. `pulumi stack rm {stack}`: deletes the stack's state and `{file}` again");
            }
        }
        grow::LeftRunning::Stack { .. } => {}
        grow::LeftRunning::Namespace { stack } => status!(
            "note: environment `{env}`'s namespace, AppProject and root Application keep running in the shared cluster until `pulumi up --stack {stack}` removes them"
        ),
    }
}

pub fn upgrade(args: &UpgradeArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    workspace.not_newer()?;
    refuse_removed_by_hand(&workspace)?;
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

/// Refuses an upgrade after a service or an environment was taken out of `strata.toml` by
/// hand while strata's files of it remain: the upgrade would delete the files strata owns and
/// keep the overlays people own, which then point at a base that is gone.
fn refuse_removed_by_hand(workspace: &Workspace) -> Result<()> {
    let answers = &workspace.answers;
    let mut gone = std::collections::BTreeSet::new();
    for path in workspace.locks[&Repo::Gitops].files.keys() {
        let mut parts = path.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("services"), Some(name), Some(_)) if !answers.services.contains_key(name) => {
                gone.insert(("service", name.to_string()));
            }
            (Some("apps"), Some(env), Some(_))
                if !answers.environments.iter().any(|e| e.name.as_str() == env) =>
            {
                gone.insert(("environment", env.to_string()));
            }
            _ => {}
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    let details = gone
        .iter()
        .map(|(kind, name)| format!("{kind} `{name}`: `strata.toml` no longer has it, strata's files of it are still there"))
        .collect();
    let commands: Vec<String> = gone
        .iter()
        .map(|(kind, name)| match *kind {
            "service" => format!("`strata remove service {name}`"),
            _ => format!("`strata remove env {name}`"),
        })
        .collect();
    Err(crate::util::error::Refusal {
        message: format!(
            "{} removed from `strata.toml` by hand; nothing was written",
            if gone.len() == 1 { "a service or environment was" } else { "services or environments were" }
        ),
        details,
        hint: format!(
            "restore the entries in both repos' `strata.toml` (`git checkout -- strata.toml`), then run {}: it removes all of it, overlays included",
            commands.join(", ")
        ),
    }
    .into())
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
