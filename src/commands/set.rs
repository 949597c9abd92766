//! `strata set KEY=VALUE...`: change project settings in both repos' `strata.toml` at once,
//! validated as `strata new --set` validates them, and re-render both repos through the one
//! edit pipeline (`--dry-run`, `--commit`, `--json`, conflicts, rollback).

use anyhow::Result;

use super::revision::RevisionPrinter;
use crate::cli::SetArgs;
use crate::edit::{self, Edit, Job};
use crate::jobs::revise;
use crate::render::Scope;
use crate::write::workspace::Workspace;

pub fn run(args: &SetArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let changed = revise::set(&mut answers, &args.pairs)?;
    let message = if changed.is_empty() {
        "Set nothing new".to_string()
    } else {
        format!("Set {}", changed.join(", "))
    };
    let edit = Edit {
        answers,
        message,
        job: Job::Revise { scope: Scope::All },
    };
    let options = super::change::options(&args.change);
    let mut printer = RevisionPrinter {
        json: args.change.json,
    };
    let outcome = edit::run(workspace, edit, gitops, &options, &mut printer)?;
    super::output::outcome(&outcome, args.change.json)?;
    Ok(())
}
