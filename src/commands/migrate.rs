//! `strata migrate`: read the export and the workspace (every bad input at once, exit 2), plan
//! the migration (`crate::migrate`), print what moves and what stays, and run the edit that
//! moves the services through the same pipeline as `add`, all or nothing.

use anyhow::Result;

use super::change::options;
use super::output::Printer;
use crate::cli::MigrateArgs;
use crate::edit;
use crate::migrate::{self, document, run as migration};
use crate::util::error::Refusal;
use crate::util::term::{out, status};

pub fn run(args: &MigrateArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let migration::Inputs {
        export,
        workspace,
        images,
    } = migration::inputs(args)?;
    let plan = migrate::plan(&migrate::Request {
        export: &export,
        answers: &workspace.answers,
        env: &args.env,
        images: &images,
    });
    let summary = migration::summary(&plan, &export);
    migration::refuse_leak(&export, "the summary", &summary)?;
    // Under `--json`, stdout is the JSON document's: the summary goes to stderr.
    if args.change.json {
        status!("{}", summary.trim_end());
    } else {
        out!("{summary}")?;
    }
    let others = plan.clusters.others();
    if !others.is_empty() {
        status!(
            "warning: the export's objects run in cluster `{}`, not in this workspace's `{}`: Argo CD cannot adopt them in place (`MIGRATION.md`, \"Before you start\")",
            others.join("`, `"),
            plan.clusters.workspace.name
        );
    }
    if plan.services.is_empty() {
        return Err(Refusal {
            message: "nothing to move: no application of the export can become a service"
                .to_string(),
            details: Vec::new(),
            hint: "each application above says why it stays".to_string(),
        }
        .into());
    }
    let edit = migration::edit(&workspace, &export, &args.env, &plan)?;
    let outcome = edit::run(
        workspace,
        edit,
        gitops,
        &options(&args.change),
        &mut Printer,
    )?;
    super::output::outcome(&outcome, args.change.json)?;
    if !args.change.dry_run {
        status!(
            "wrote the plan to the foundation's `{}` (and `{}`): follow its four phases",
            document::PLAN_FILE,
            document::SCRIPT_FILE
        );
    }
    Ok(())
}
