//! `strata new`: resolve the answers, render both repos, and create them through the same plan
//! as every other command (`edit::create`: every file a create, staged, committed, moved into
//! place).

use anyhow::Result;

use super::output::Printer;
use crate::cli::NewArgs;
use crate::edit::{self, Creation, Mode};
use crate::model::repo::Repo;
use crate::render::{RenderedFile, Scope};
use crate::util::term::status;

pub fn run(args: &NewArgs) -> Result<()> {
    // On a terminal, what the command line leaves out is asked for (`prompt.rs`); elsewhere
    // it stays missing, and `new_answers` names each missing flag.
    let mut args = args.clone();
    let mut asker = super::prompt::asker(&args);
    crate::jobs::resolve::fill_unknowns(&mut args, asker.as_mut());
    let args = &args;
    let mut answers = crate::jobs::resolve::new_answers(args)?;
    let (foundation, gitops) = crate::jobs::resolve::template_overrides(args.templates.as_deref())?;
    answers.templates = crate::render::overrides::names(&foundation, &gitops);
    let renderer = crate::render::overrides::renderer(&answers.pack, &foundation, &gitops)?;
    let mut files = renderer.render(&answers, &Scope::All)?;
    renderer.check_overridden_yaml(&files)?;
    // Each repo carries its overrides, for every later command; a gitops override of a
    // platform path is kept in the foundation, the platform team's repo (issue 20).
    use crate::render::overrides::{is_app_team_path, DIR, GITOPS_IN_FOUNDATION};
    let (app_team, platform): (Vec<_>, Vec<_>) = gitops
        .into_iter()
        .partition(|(path, _)| is_app_team_path(path));
    let platform = platform
        .into_iter()
        .map(|(path, bytes)| (format!("{GITOPS_IN_FOUNDATION}{path}"), bytes));
    for (repo, overrides) in [
        (
            Repo::Foundation,
            foundation.into_iter().chain(platform).collect::<Vec<_>>(),
        ),
        (Repo::Gitops, app_team),
    ] {
        files.extend(overrides.into_iter().map(|(path, bytes)| RenderedFile {
            repo,
            path: format!("{DIR}/{path}"),
            bytes,
            seed: true,
            shared: None,
        }));
    }
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let creation = Creation {
        out: &args.out,
        answers: &answers,
        files,
        git: !args.no_git,
    };
    let outcome = edit::create(creation, mode, &mut Printer)?;
    if args.json {
        super::output::outcome(&outcome, true)?;
    }
    match outcome {
        edit::Outcome::Written { repos, .. } => {
            for summary in repos {
                status!(
                    "created {} ({} files{})",
                    args.out
                        .join(summary.repo.dir_name(&answers.project))
                        .display(),
                    summary.created,
                    if args.no_git {
                        ""
                    } else {
                        ", one commit on `main`"
                    }
                );
            }
            let foundation = args.out.join(Repo::Foundation.dir_name(&answers.project));
            for step in next_steps(&answers, &foundation) {
                status!("{step}");
            }
        }
        outcome => super::output::outcome(&outcome, args.json)?,
    }
    Ok(())
}

/// The first steps after `new`, in the foundation: log in to the state backend, create the
/// stacks with their secrets provider, preview. The foundation's README has every step.
fn next_steps(
    answers: &crate::model::answers::Answers,
    foundation: &std::path::Path,
) -> Vec<String> {
    use crate::model::answers::Backend;
    let state = answers.state.as_ref();
    let backend = state.and_then(|s| Backend::parse(&s.backend).ok());
    let login = backend.as_ref().map_or_else(
        || "pulumi login".to_string(),
        |b| format!("pulumi login {}", b.url()),
    );
    let org = match &backend {
        Some(Backend::PulumiCloud { org: Some(org) }) => format!("{org}/"),
        _ => String::new(),
    };
    let provider = state
        .map(|s| s.secrets_provider.as_str())
        .filter(|p| *p != "default")
        .map(|p| format!(" --secrets-provider '{}'", p.replace('\'', "'\\''")))
        .unwrap_or_default();
    let mut steps = vec![format!(
        "next: in {} (its README.md explains every step):",
        foundation.display()
    )];
    let mut logged_in = None;
    for stack in crate::model::stack::stacks(answers) {
        // With accounts of their own, each account's stacks keep their state in its own bucket.
        let account = stack
            .envs
            .first()
            .and_then(|i| answers.environments[*i].account.as_deref());
        // Each account's stacks run with the profile that assumes its deployer role (README).
        if account.is_some() {
            steps.push(format!(
                "  export AWS_PROFILE={}-{}",
                answers.project, stack.name
            ));
            logged_in = None;
        }
        let login = account
            .and_then(|a| answers.account_state_url(a))
            .map_or_else(|| login.clone(), |url| format!("pulumi login {url}"));
        if logged_in.as_ref() != Some(&login) {
            steps.push(format!("  {login}"));
            logged_in = Some(login);
        }
        steps.push(format!("  pulumi stack init {org}{}{provider}", stack.name));
    }
    steps.push("  pulumi preview".to_string());
    steps
}
