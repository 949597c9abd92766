//! `strata add platform` and `strata remove platform`: turn a platform service on or off in the
//! answers, then render, plan and apply the whole workspace through `change::execute_with`, so
//! that both repos change together (the foundation's stack key, the gitops repo's `platform/`
//! tree and every service's ServiceMonitor) with the guarantees of `add service`.

use anyhow::Result;

use super::change::{self, Extras};
use crate::cli::PlatformArgs;
use crate::platform;
use crate::render::Scope;
use crate::workspace::Workspace;

pub fn add(args: &PlatformArgs) -> Result<()> {
    let gitops = change::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let component = platform::add(&mut answers, &args.component)?;
    let message = format!("Add platform service `{}`", component.as_str());
    // Monitoring reaches every service (its ServiceMonitor), so the whole workspace renders.
    change::execute_with(
        gitops,
        workspace,
        answers,
        &Scope::All,
        &args.change,
        &message,
        false,
        Extras::default(),
    )
}

pub fn remove(args: &PlatformArgs) -> Result<()> {
    let gitops = change::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let component = platform::remove(&mut answers, &args.component)?;
    let message = format!("Remove platform service `{}`", component.as_str());
    change::execute_with(
        gitops,
        workspace,
        answers,
        &Scope::All,
        &args.change,
        &message,
        false,
        Extras::default(),
    )
}
