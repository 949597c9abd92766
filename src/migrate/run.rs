//! `strata migrate` as an edit: the command's inputs, read and checked at once (exit 2), and the
//! edit that adds a migration's services (through the same path as `strata add service`), their
//! overlay files and the plan (`MIGRATION.md`), after proving that no secret value of the export
//! is in anything about to be written or printed.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{document, service, Migration, Mode};
use crate::cli::MigrateArgs;
use crate::edit::{Edit, Extras, Job};
use crate::jobs::grow;
use crate::model::names::{self, EnvName};
use crate::model::pack;
use crate::model::repo::Repo;
use crate::model::stack_export::StackExport;
use crate::model::values::Image;
use crate::render::{CompiledLayer, RenderedFile, Renderer, Scope};
use crate::util::error::Refusal;
use crate::util::problem::{did_you_mean, Problem, Problems};
use crate::write::workspace::Workspace;

/// What `strata migrate` reads, checked.
pub struct Inputs {
    pub export: StackExport,
    pub workspace: Workspace,
    /// `--image SERVICE=IMAGE:TAG`.
    pub images: BTreeMap<String, String>,
}

/// Reads the export and the workspace and checks every argument: every problem at once.
pub fn inputs(args: &MigrateArgs) -> Result<Inputs> {
    let mut problems = Problems::default();
    let export = match StackExport::load(&args.stack_export) {
        Ok(export) => Some(export),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let workspace = match Workspace::open(&args.change.dir) {
        Ok(workspace) => Some(workspace),
        Err(err) => match err.downcast::<Problems>() {
            Ok(more) => {
                problems.extend(more);
                None
            }
            Err(err) => return Err(err),
        },
    };
    if let Err(problem) = args.env.parse::<EnvName>() {
        problems.push(problem);
    } else if let Some(workspace) = &workspace {
        if !workspace
            .answers
            .environments
            .iter()
            .any(|e| e.name == args.env)
        {
            let known = workspace.answers.env_names();
            let mut problem = Problem::new(
                format!("`--env {}`", args.env),
                "names an environment the workspace does not have",
            );
            problem = match did_you_mean(&args.env, known.iter().copied()) {
                Some(close) => problem.hint(format!(
                    "did you mean `{close}`? the environments are: {}",
                    known.join(", ")
                )),
                None => problem.hint(format!(
                    "use one of: {} (or `strata add env {}` first)",
                    known.join(", "),
                    args.env
                )),
            };
            problems.push(problem);
        }
    }
    let mut images: BTreeMap<String, String> = BTreeMap::new();
    for raw in &args.images {
        let Some((service, image)) = problems.take(names::parse_key_value("--image", raw)) else {
            continue;
        };
        if problems.take(image.parse::<Image>()).is_none() {
            continue;
        }
        let known = export.as_ref().is_some_and(|e| {
            e.resources.iter().any(|r| {
                // The service's name (the Deployment's logical name in the program) or the
                // object's, as the cluster knows it.
                r.kube_object().is_some_and(|o| {
                    o.kind == "Deployment"
                        && (o.name == service
                            || r.urn.rsplit_once("::").is_some_and(|(_, n)| n == service))
                })
            })
        });
        if export.is_some() && !known {
            problems.push(
                Problem::new(format!("`--image {raw}`"), format!("names `{service}`, which is no Deployment of the export"))
                    .hint("give `--image DEPLOYMENT=IMAGE:TAG` with a Deployment's name (`strata check --stack-export FILE` lists them)"),
            );
        }
        images.insert(service, image);
    }
    problems.into_result()?;
    let (Some(export), Some(workspace)) = (export, workspace) else {
        unreachable!("problems were reported");
    };
    Ok(Inputs {
        export,
        workspace,
        images,
    })
}

/// The edit that moves a migration's services into the workspace.
pub fn edit(
    workspace: &Workspace,
    export: &StackExport,
    env: &str,
    migration: &Migration,
) -> Result<Edit> {
    // The services, through the same path as `strata add service`.
    let mut answers = workspace.answers.clone();
    let mut names = Vec::new();
    for plan in &migration.services {
        let name = grow::add_service(&mut answers, &plan.name, &plan.input)?;
        let service = answers.services.get_mut(&name).expect("just added");
        let (cpu, memory) = &plan.limits;
        if let Some(cpu) = cpu
            .as_ref()
            .filter(|l| l.millis() >= service.cpu_request.millis())
        {
            service.cpu_limit.clone_from(cpu);
        }
        if let Some(memory) = memory
            .as_ref()
            .filter(|l| l.bytes() >= service.memory_request.bytes())
        {
            service.memory_limit.clone_from(memory);
        }
        answers
            .validate_service(&name, "the migrated answers")
            .into_result()?;
        names.push(name);
    }
    answers
        .history
        .push(format!("migrate stack {} into {}", export.stack, env));

    // strata's render of each service, with migrate's overlay files.
    let gitops_root = &workspace.roots[&Repo::Gitops];
    let foundation = CompiledLayer::new(crate::render::overrides::layer_of(
        &workspace.roots[&Repo::Foundation],
        pack::foundation_layer(&answers.pack).map_err(Problems::from)?,
    )?)?;
    let gitops_layer = CompiledLayer::new(crate::render::overrides::gitops_layer_of(
        &workspace.roots[&Repo::Foundation],
        gitops_root,
        pack::gitops_layer(),
    )?)?;
    let renderer = Renderer::from_compiled(vec![foundation, gitops_layer])?;
    let mut files: Vec<RenderedFile> = Vec::new();
    let mut written: Vec<RenderedFile> = Vec::new();
    for (plan, name) in migration.services.iter().zip(&names) {
        let rendered = renderer.render(&answers, &Scope::Service(name.clone()))?;
        let dir = format!("services/{}/overlays/{}", plan.name, env);
        let kustomization = format!("{dir}/kustomization.yaml");
        let Some(overlay) = rendered
            .iter()
            .find(|f| f.repo == Repo::Gitops && f.path == kustomization)
        else {
            anyhow::bail!("strata's templates render no `{kustomization}`");
        };
        let text =
            service::overlay_kustomization(&String::from_utf8_lossy(&overlay.bytes), &plan.files);
        files.push(file(Repo::Gitops, kustomization.clone(), text, true));
        for extra in &plan.files {
            files.push(file(
                Repo::Gitops,
                format!("{dir}/{}", extra.name),
                extra.text.clone(),
                true,
            ));
        }
        written.extend(rendered);
    }
    files.push(file(
        Repo::Foundation,
        document::PLAN_FILE.to_string(),
        document::plan_markdown(migration, export, &answers.project),
        false,
    ));
    files.push(file(
        Repo::Foundation,
        document::SCRIPT_FILE.to_string(),
        document::script(migration, export),
        false,
    ));

    // Not one secret value of the export may reach either repo.
    let answers_text = answers.to_toml();
    if export.secrets.leaks_into(&answers_text) {
        return Err(leak("`strata.toml`"));
    }
    for f in written.iter().chain(&files) {
        if export
            .secrets
            .leaks_into(&String::from_utf8_lossy(&f.bytes))
        {
            return Err(leak(&format!("{}: `{}`", f.repo, f.path)));
        }
    }

    let message = format!(
        "Migrate {} service(s) from Pulumi stack `{}` into `{}`\n\n{}",
        migration.services.len(),
        export.stack,
        env,
        migration
            .services
            .iter()
            .map(|s| format!("- {}", s.name))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut scopes: Vec<Scope> = names.into_iter().map(Scope::Service).collect();
    let first = scopes.remove(0);
    Ok(Edit {
        answers,
        message,
        job: Job::Change {
            scope: first,
            extras: Extras { scopes, files },
        },
    })
}

/// Refuses (exit 1) text about to be written or printed that holds a secret value of the
/// export.
pub fn refuse_leak(export: &StackExport, what: &str, text: &str) -> Result<()> {
    if export.secrets.leaks_into(text) {
        return Err(leak(what));
    }
    Ok(())
}

fn file(repo: Repo, path: String, text: String, seed: bool) -> RenderedFile {
    RenderedFile {
        repo,
        path,
        bytes: text.into_bytes(),
        seed,
        shared: None,
    }
}

fn leak(what: &str) -> anyhow::Error {
    Refusal {
        message: format!("{what} would hold a secret value of the export; nothing was written"),
        details: Vec::new(),
        hint: "this is a bug of strata: report it, with the export's shape but not its values"
            .to_string(),
    }
    .into()
}

/// What moves and what stays, for the terminal (stdout).
pub fn summary(migration: &Migration, export: &StackExport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "stack `{}` of project `{}` ({}): {} service(s) move into `{}`, {} resource(s) stay\n",
        export.stack,
        export.project,
        export.path,
        migration.services.len(),
        migration.env,
        migration.left.len()
    ));
    for plan in &migration.services {
        let how = match &plan.mode {
            Mode::Adopt => format!("adopted in place in `{}`", plan.namespace),
            Mode::Relocate { from } => format!("relocated from `{from}`"),
        };
        out.push_str(&format!("service `{}` ({how}):\n", plan.name));
        for moved in &plan.moved {
            out.push_str(&format!("  moves  {} -> {}\n", moved.urn, moved.becomes));
        }
        for secret in &plan.secrets {
            out.push_str(&format!(
                "  keys   {} (from Secret `{}`), to create in AWS Secrets Manager\n",
                secret.keys.join(", "),
                secret.name
            ));
        }
    }
    for left in &migration.left {
        let application = export
            .get(&left.urn)
            .and_then(|r| r.kube_object())
            .is_some_and(|o| crate::check::kinds::is_application_workload(&o.kind));
        if application {
            out.push_str(&format!("  stays  {}: {}\n", left.urn, left.reason));
        }
    }
    out
}
