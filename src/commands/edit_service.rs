//! `strata edit service NAME`: change an existing service with the flags of `add service`.
//! Owned files are rewritten (merged three ways where a person edited them); the overlays
//! that are yours (seeds) are kept, and the change is printed as a suggestion.

use anyhow::Result;

use super::revision::RevisionPrinter;
use crate::cli::EditServiceArgs;
use crate::edit::{self, Edit, Job};
use crate::jobs::revise::{self, ServiceEdit};
use crate::model::answers::Expose;
use crate::model::names::{self, EnvName};
use crate::render::Scope;
use crate::util::problem::Problems;
use crate::write::workspace::Workspace;

pub fn run(args: &EditServiceArgs) -> Result<()> {
    let gitops = edit::compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let (input, problems) = service_edit(args);
    let mut answers = workspace.answers.clone();
    let name = match revise::edit_service(&mut answers, &args.name, &input) {
        Ok(name) => name,
        Err(mut more) => {
            more.0.splice(0..0, problems.0);
            return Err(more.into());
        }
    };
    problems.into_result()?;
    let edit = Edit {
        answers,
        message: format!("Edit service `{name}`"),
        job: Job::Revise {
            scope: Scope::Service(name),
        },
    };
    let options = super::change::options(&args.change);
    let mut printer = RevisionPrinter {
        json: args.change.json,
    };
    let outcome = edit::run(workspace, edit, gitops, &options, &mut printer)?;
    super::output::outcome(&outcome, args.change.json)?;
    Ok(())
}

/// The flags, parsed as `add service` parses them; a bad one is left out and reported.
fn service_edit(args: &EditServiceArgs) -> (ServiceEdit, Problems) {
    let mut problems = Problems::default();
    let mut config = Vec::new();
    for raw in &args.config {
        if let Some(pair) = problems.take(names::parse_key_value("--config", raw)) {
            config.push(pair);
        }
    }
    let envs =
        args.envs
            .as_deref()
            .and_then(|list| match names::parse_list::<EnvName>("--envs", list) {
                Ok(envs) => Some(envs),
                Err(more) => {
                    problems.0.extend(more);
                    None
                }
            });
    let expose = args
        .expose
        .as_deref()
        .and_then(|raw| problems.take(raw.parse::<Expose>()));
    let irsa = match (args.irsa, args.no_irsa) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let input = ServiceEdit {
        image: args.image.clone(),
        port: args.port,
        min: args.min.or(args.replicas),
        max: args.max.or(args.replicas),
        host: args.host.clone(),
        path: args.path.clone(),
        health_path: args.health_path.clone(),
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        envs,
        expose,
        irsa,
        config,
        unset_config: args.unset_config.clone(),
        add_secrets: args.add_secrets.clone(),
        remove_secrets: args.remove_secrets.clone(),
    };
    (input, problems)
}
