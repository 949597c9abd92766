//! `strata check`: resolve what to check (every bad input reported at once, exit 2), run the
//! checks of `crate::check`, print a CI log or JSON, and exit 1 when there are findings.

use std::path::PathBuf;

use anyhow::Result;

use crate::check::{self, Report, Source};
use crate::cli::CheckArgs;
use crate::error::Refusal;
use crate::problem::{Problem, Problems};
use crate::stack_export::StackExport;
use crate::workspace::Workspace;

pub fn run(args: &CheckArgs) -> Result<()> {
    let mut problems = Problems::default();
    let mut gitops: Vec<PathBuf> = Vec::new();
    for dir in &args.gitops {
        if dir.is_dir() {
            gitops.push(dir.clone());
        } else {
            problems.push(
                Problem::new(
                    format!("`--gitops {}`", dir.display()),
                    "is not a directory",
                )
                .hint("pass the directory of a gitops repo (a checkout)"),
            );
        }
    }
    let mut exports = Vec::new();
    for file in &args.stack_exports {
        match StackExport::load(file) {
            Ok(export) => exports.push(export),
            Err(more) => problems.extend(more),
        }
    }
    let workspace_dir = match &args.dir {
        Some(dir) => Some(dir.clone()),
        None if args.gitops.is_empty() && args.stack_exports.is_empty() => Some(PathBuf::from(".")),
        None => None,
    };
    let workspace = match workspace_dir.map(|dir| Workspace::open(&dir)) {
        None => None,
        Some(Ok(workspace)) => Some(workspace),
        Some(Err(err)) => match err.downcast::<Problems>() {
            Ok(more) => {
                problems.extend(more);
                None
            }
            Err(err) => return Err(err),
        },
    };
    problems.into_result()?;

    let mut report = Report::default();
    if let Some(workspace) = &workspace {
        let (_, _, drift) = super::list::inventory(workspace);
        report.checked.push(format!(
            "workspace `{}`: {} service(s) in {} environment(s)",
            workspace.answers.project,
            workspace.answers.services.len(),
            workspace.answers.environments.len()
        ));
        report
            .findings
            .extend(check::workspace::check(workspace, &drift));
    }
    for dir in &gitops {
        let source = Source::Gitops {
            root: dir.display().to_string(),
        };
        report
            .checked
            .push(format!("gitops repo `{}`", dir.display()));
        report.findings.extend(check::gitops::check(dir, &source));
    }
    for export in &exports {
        let source = Source::StackExport {
            file: export.path.clone(),
        };
        report.checked.push(format!(
            "stack export `{}`: {} resource(s) of stack `{}`",
            export.path,
            export.resources.len(),
            export.stack
        ));
        report.findings.extend(check::state::check(export, &source));
    }

    if args.json {
        crate::outln!("{}", report.to_json())?;
    } else {
        crate::out!("{}", report.to_text())?;
    }
    if report.holds() {
        Ok(())
    } else {
        Err(Refusal {
            message: format!(
                "the rule does not hold: {} finding(s)",
                report.findings.len()
            ),
            details: Vec::new(),
            hint: "each finding says what to do; `docs/check.md` explains every rule".to_string(),
        }
        .into())
    }
}
