//! The edit of `strata new`: every rendered file a create, planned like any other edit and
//! written through a staging directory (`write/create.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{summarize, Mode, Outcome, Reporter};
use crate::model::answers::{self, Answers};
use crate::model::lock::{self, Lock};
use crate::model::repo::Repo;
use crate::plan::{self, Change};
use crate::render::RenderedFile;

/// A new workspace (`strata new`): every rendered file is a create, written into a staging
/// directory beside `out` and moved into place only when both repos, commits included, are
/// complete.
pub struct Creation<'a> {
    pub out: &'a Path,
    pub answers: &'a Answers,
    /// Every file of both repos, template overrides included.
    pub files: Vec<RenderedFile>,
    /// Commit each repo (`--no-git` turns it off).
    pub git: bool,
}

/// Plans and runs the creation of a workspace in `mode` (`Mode::Check` is not meaningful for a
/// workspace that does not exist yet, and acts as `DryRun`).
pub fn create(creation: Creation<'_>, mode: Mode, report: &mut dyn Reporter) -> Result<Outcome> {
    let Creation {
        out,
        answers,
        files,
        git,
    } = creation;
    // The organisation's templates: theirs, never strata's, so never in the lock.
    let unlocked: BTreeSet<(Repo, String)> = files
        .iter()
        .filter(|f| f.path.starts_with(crate::render::overrides::DIR))
        .map(|f| (f.repo, f.path.clone()))
        .collect();
    let plan = plan::plan(files, Vec::new(), &BTreeMap::new(), &mut |_, _| None);
    let answers_text = answers.to_toml();
    let mut bookkeeping = Vec::new();
    for repo in Repo::BOTH {
        let mut lock = Lock::new(repo);
        plan.update_lock(repo, &mut lock);
        lock.files
            .retain(|path, _| !unlocked.contains(&(repo, path.clone())));
        bookkeeping.push(Change::create(
            repo,
            answers::FILE_NAME,
            answers_text.clone().into_bytes(),
        ));
        bookkeeping.push(Change::create(
            repo,
            lock::FILE_NAME,
            lock.to_text().into_bytes(),
        ));
    }
    let mut plan = plan;
    plan.changes.extend(bookkeeping);
    if mode != Mode::Write {
        report.diffs(&plan.changes)?;
        return Ok(super::outcome::dry_run(&plan.changes, &[]));
    }
    let targets: BTreeMap<Repo, PathBuf> = Repo::BOTH
        .into_iter()
        .map(|repo| (repo, out.join(repo.dir_name(&answers.project))))
        .collect();
    let message = |repo: Repo| {
        format!(
            "Bootstrap the {repo} repo of `{}` with strata {}",
            answers.project,
            env!("CARGO_PKG_VERSION")
        )
    };
    crate::write::create::create(
        out,
        &answers.project,
        &targets,
        &plan,
        &answers.repos.revision,
        git.then_some(&message),
    )?;
    let committed = if git { Repo::BOTH.to_vec() } else { Vec::new() };
    Ok(summarize(&plan.changes, &[], &committed))
}
