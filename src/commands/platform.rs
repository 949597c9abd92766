//! `strata add platform` and `strata remove platform`: turn a platform service on or off in the
//! answers, then run the whole workspace as one edit, so that both repos change together (the
//! foundation's stack key, the gitops repo's `platform/` tree and every service's
//! ServiceMonitor) with the guarantees of `add service`.

use anyhow::Result;

use super::change::run;
use crate::cli::PlatformArgs;
use crate::edit::{self, Edit};
use crate::jobs::platform;
use crate::render::Scope;
use crate::write::workspace::Workspace;

pub fn add(args: &PlatformArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let component = platform::add(&mut answers, &args.component)?;
    let message = format!("Add platform service `{}`", component.as_str());
    // Monitoring reaches every service (its ServiceMonitor), so the whole workspace renders.
    run(
        workspace,
        Edit::new(answers, Scope::All, message),
        gitops,
        &args.change,
    )
}

pub fn remove(args: &PlatformArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let component = platform::remove(&mut answers, &args.component)?;
    let message = format!("Remove platform service `{}`", component.as_str());
    run(
        workspace,
        Edit::new(answers, Scope::All, message),
        gitops,
        &args.change,
    )
}
