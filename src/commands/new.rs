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
    // Each repo carries its overrides, for every later command.
    for (repo, overrides) in [(Repo::Foundation, foundation), (Repo::Gitops, gitops)] {
        files.extend(overrides.into_iter().map(|(path, bytes)| RenderedFile {
            repo,
            path: format!("{}/{path}", crate::render::overrides::DIR),
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
    match edit::create(creation, mode, &mut Printer)? {
        edit::Outcome::Written { repos } => {
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
            status!(
                "next: read {}/README.md, then `pulumi preview`",
                foundation.display()
            );
        }
        outcome => super::output::outcome(&outcome, false)?,
    }
    Ok(())
}
