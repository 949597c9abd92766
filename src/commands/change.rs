//! `strata add` and `strata remove`: change the answers, then render, plan and apply the
//! difference in both repos, all or nothing.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use crate::answers::{self, Answers};
use crate::apply;
use crate::cli::{AddEnvArgs, AddServiceArgs, ChangeArgs, RemoveArgs, UpgradeArgs};
use crate::error::Refusal;
use crate::git;
use crate::grow::{self, ServiceInput};
use crate::lock;
use crate::names::{self, EnvName};
use crate::ownership;
use crate::pack;
use crate::plan::{self, Action, Change};
use crate::problem::Problems;
use crate::render::{CompiledLayer, Renderer, Scope};
use crate::repo::Repo;
use crate::workspace::Workspace;

pub fn add_service(args: &AddServiceArgs) -> Result<()> {
    let gitops = compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut problems = Problems::default();
    let mut config = Vec::new();
    for raw in &args.config {
        if let Some(pair) = problems.take(names::parse_key_value("--config", raw)) {
            config.push(pair);
        }
    }
    let envs = match &args.envs {
        Some(list) => match names::parse_list::<EnvName>("--envs", list) {
            Ok(envs) => Some(envs.into_iter().map(|e| e.to_string()).collect()),
            Err(more) => {
                problems.0.extend(more);
                None
            }
        },
        None => None,
    };
    let expose = match args
        .expose
        .as_deref()
        .map(str::parse::<crate::answers::Expose>)
    {
        None => crate::answers::Expose::default(),
        Some(Ok(expose)) => expose,
        Some(Err(problem)) => {
            problems.push(problem);
            crate::answers::Expose::default()
        }
    };
    let input = ServiceInput {
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
        irsa: args.irsa,
        expose,
        config,
        secrets: args.secrets.clone(),
    };
    let mut answers = workspace.answers.clone();
    if let Err(more) = grow::add_service(&mut answers, &args.name, &input) {
        problems.extend(more);
    }
    problems.into_result()?;
    let message = format!(
        "Add service `{}` to {}",
        args.name,
        answers.services[&args.name]
            .envs
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    execute(
        gitops,
        workspace,
        answers,
        &Scope::Service(args.name.clone()),
        &args.change,
        &message,
    )
}

pub fn add_env(args: &AddEnvArgs) -> Result<()> {
    let gitops = compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    grow::add_env(&mut answers, &args.name, args.from.as_deref())?;
    let message = format!("Add environment `{}`", args.name);
    execute(
        gitops,
        workspace,
        answers,
        &Scope::Env(args.name.clone()),
        &args.change,
        &message,
    )
}

pub fn remove_service(args: &RemoveArgs) -> Result<()> {
    let gitops = compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    grow::remove_service(&mut answers, &args.name)?;
    let message = format!("Remove service `{}`", args.name);
    execute(
        gitops,
        workspace,
        answers,
        &Scope::Service(args.name.clone()),
        &args.change,
        &message,
    )
}

pub fn remove_env(args: &RemoveArgs) -> Result<()> {
    let gitops = compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    grow::remove_env(&mut answers, &args.name)?;
    let message = format!("Remove environment `{}`", args.name);
    execute(
        gitops,
        workspace,
        answers,
        &Scope::Env(args.name.clone()),
        &args.change,
        &message,
    )
}

pub fn upgrade(args: &UpgradeArgs) -> Result<()> {
    let gitops = compile_gitops();
    let workspace = Workspace::open(&args.change.dir)?;
    let mut answers = workspace.answers.clone();
    let running = env!("CARGO_PKG_VERSION");
    if version_newer(&answers.strata_version, running) {
        return Err(Problems::from(
            crate::problem::Problem::new(
                "the workspace",
                format!(
                    "was last written by strata {}, newer than this strata {running}",
                    answers.strata_version
                ),
            )
            .hint(format!(
                "upgrade strata to {} or later, then run `strata upgrade` again",
                answers.strata_version
            )),
        )
        .into());
    }
    for repo in Repo::BOTH {
        let lock = &workspace.locks[&repo];
        if lock.format < lock::FORMAT {
            eprintln!(
                "note: {repo}: `strata.lock` moves from format {} to {}",
                lock.format,
                lock::FORMAT
            );
        }
    }
    let message = format!(
        "Upgrade to strata {running} (from {})",
        answers.strata_version
    );
    if answers.strata_version != running {
        answers.strata_version = running.to_string();
        answers.history.push(format!("upgrade to {running}"));
    }
    execute_with(
        gitops,
        workspace,
        answers,
        &Scope::All,
        &args.change,
        &message,
        true,
        Extras::default(),
    )
}

/// `add` and `remove` render with this strata's templates: on a workspace another strata wrote,
/// they would carry part of an upgrade (or a downgrade) along with the change. Refused, exit 2.
fn same_strata(workspace: &Workspace) -> Result<()> {
    let running = env!("CARGO_PKG_VERSION");
    let written = &workspace.answers.strata_version;
    let old_lock = Repo::BOTH
        .iter()
        .any(|repo| workspace.locks[repo].format < lock::FORMAT);
    let problem = if version_newer(written, running) {
        crate::problem::Problem::new(
            "the workspace",
            format!("was last written by strata {written}, newer than this strata {running}"),
        )
        .hint(format!("upgrade strata to {written} or later"))
    } else if version_newer(running, written) || old_lock {
        crate::problem::Problem::new(
            "the workspace",
            format!("was last written by strata {written}, older than this strata {running}"),
        )
        .hint("run `strata upgrade` first (see its changes with `strata upgrade --dry-run`), then this command")
    } else {
        return Ok(());
    };
    Err(Problems::from(problem).into())
}

/// Whether version `a` is newer than `b` (dotted numbers; anything after `-` is ignored).
fn version_newer(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split('-')
            .next()
            .unwrap_or("")
            .split('.')
            .map(|part| part.parse().unwrap_or(0))
            .collect()
    };
    parse(a) > parse(b)
}

/// The gitops layer's templates, compiled on a background thread while the workspace is read.
pub(crate) type Compiling = std::thread::JoinHandle<anyhow::Result<CompiledLayer>>;

pub(crate) fn compile_gitops() -> Compiling {
    std::thread::spawn(|| CompiledLayer::new(pack::gitops_layer()))
}

/// Renders the scope under the old and the new answers, plans the difference against the disk
/// and the locks, and applies it to both repos (or prints it with `--dry-run`).
fn execute(
    gitops: Compiling,
    workspace: Workspace,
    answers: Answers,
    scope: &Scope,
    args: &ChangeArgs,
    message: &str,
) -> Result<()> {
    execute_with(
        gitops,
        workspace,
        answers,
        scope,
        args,
        message,
        false,
        Extras::default(),
    )
}

/// [`execute`]; with `upgrade`, every file is rendered, files strata wrote that the templates
/// no longer hold are deleted, edited files are merged three ways, and seeds whose template
/// changed get a suggestion.
/// What a command renders beyond one scope of the templates (`strata migrate`): more scopes,
/// and files that are no template's instance. Such a file replaces a rendered one of the same
/// path; strata writes it once and never records it in the lock: it is its owner's from then
/// on, and `strata upgrade` leaves it alone.
#[derive(Default)]
pub(crate) struct Extras {
    pub scopes: Vec<Scope>,
    pub files: Vec<crate::render::RenderedFile>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn execute_with(
    gitops: Compiling,
    mut workspace: Workspace,
    answers: Answers,
    scope: &Scope,
    args: &ChangeArgs,
    message: &str,
    upgrade: bool,
    extras: Extras,
) -> Result<()> {
    if !upgrade {
        same_strata(&workspace)?;
    }
    let foundation = CompiledLayer::new(crate::overrides::layer_of(
        &workspace.roots[&Repo::Foundation],
        pack::foundation_layer(&answers.pack).map_err(Problems::from)?,
    )?)?;
    let gitops_root = &workspace.roots[&Repo::Gitops];
    let gitops = if gitops_root.join(crate::overrides::DIR).exists() {
        CompiledLayer::new(crate::overrides::layer_of(
            gitops_root,
            pack::gitops_layer(),
        )?)?
    } else {
        gitops
            .join()
            .expect("template compilation does not panic")?
    };
    let renderer = Renderer::from_compiled(vec![foundation, gitops])?;
    let mut rendered = renderer.render(&answers, scope)?;
    for more in &extras.scopes {
        for file in renderer.render(&answers, more)? {
            if !rendered
                .iter()
                .any(|f| f.repo == file.repo && f.path == file.path)
            {
                rendered.push(file);
            }
        }
    }
    let unlocked: Vec<(Repo, String)> = extras
        .files
        .iter()
        .map(|f| (f.repo, f.path.clone()))
        .collect();
    for file in extras.files {
        rendered.retain(|f| !(f.repo == file.repo && f.path == file.path));
        rendered.push(file);
    }
    let new_paths: BTreeSet<(Repo, &str)> =
        rendered.iter().map(|f| (f.repo, f.path.as_str())).collect();
    let mut deletions: Vec<(Repo, String, bool)> = renderer
        .paths(&workspace.answers, scope)?
        .into_iter()
        .filter(|(repo, path, _)| !new_paths.contains(&(*repo, path.as_str())))
        .collect();
    // What is removed goes whole: files someone added to a removed service's directory or to a
    // removed environment's directories would be orphans. They are conflicts (strata did not
    // write them), deleted only with `--force`. Which directories those are comes from the
    // templates (ownership.rs), never from a path's text.
    apply::preflight(&workspace.roots, args.commit)?;
    workspace.confine(
        rendered
            .iter()
            .map(|f| (f.repo, f.path.as_str()))
            .chain(deletions.iter().map(|(r, p, _)| (*r, p.as_str())))
            .chain(
                Repo::BOTH
                    .into_iter()
                    .flat_map(|r| [(r, answers::FILE_NAME), (r, lock::FILE_NAME)]),
            ),
    )?;
    let templates = renderer.templates();
    for (repo, dir) in ownership::removed_dirs(&templates, &workspace.answers, &answers, scope) {
        for path in workspace.files_under(repo, &dir)? {
            if !deletions.iter().any(|(r, p, _)| *r == repo && *p == path) {
                deletions.push((repo, path, false));
            }
        }
    }
    if upgrade {
        // Files strata wrote that the templates no longer hold (an owned seed stays its owner's).
        for repo in Repo::BOTH {
            for path in workspace.locks[&repo].files.keys() {
                if !new_paths.contains(&(repo, path.as_str()))
                    && !renderer.is_seed_instance(repo, path)
                    && !path.starts_with(crate::overrides::DIR)
                    && !deletions.iter().any(|(r, p, _)| *r == repo && p == path)
                {
                    deletions.push((repo, path.clone(), false));
                }
            }
        }
    }
    // Every path the plan reads or deletes is confined, the upgrade's too.
    workspace.confine(deletions.iter().map(|(r, p, _)| (*r, p.as_str())))?;
    let considered: Vec<(Repo, String)> = deletions
        .iter()
        .map(|(repo, path, _)| (*repo, path.clone()))
        .collect();
    let repos: BTreeMap<Repo, Option<git2::Repository>> = Repo::BOTH
        .iter()
        .map(|repo| (*repo, git2::Repository::open(&workspace.roots[repo]).ok()))
        .collect();
    let mut find_base = |repo: Repo, path: &str, expected: &str| {
        repos[&repo]
            .as_ref()
            .and_then(|git| crate::base::find(git, path, expected))
    };
    let mut plan = plan::plan_with_bases(
        rendered,
        deletions,
        &workspace.locks,
        &mut |repo, path| workspace.read(repo, path),
        upgrade.then_some(&mut find_base as plan::BaseReader<'_>),
    );
    if upgrade {
        suggest_seed_changes(&workspace, &plan.changes, &mut find_base)?;
    }

    let conflicts = plan.conflicts();
    if !conflicts.is_empty() && !args.force {
        let details = conflicts
            .iter()
            .map(|c| match &c.action {
                Action::Conflict(why) => format!("{}: `{}` {why}", c.repo, c.path),
                _ => unreachable!("only conflicts are listed"),
            })
            .collect();
        if args.dry_run {
            print_diffs(&plan.changes)?;
        }
        return Err(Refusal {
            message: format!("{} file(s) changed since strata wrote them; nothing was written", conflicts.len()),
            details,
            hint: "keep your edits and make the change by hand, or pass `--force` to overwrite them (see the diffs with `--dry-run`)".to_string(),
        }
        .into());
    }
    plan.force();

    if !args.allow_dirty {
        let mut dirty = Vec::new();
        let current_answers = std::cell::OnceCell::new();
        for repo in Repo::BOTH {
            let mut paths: Vec<String> = plan
                .changes
                .iter()
                .filter(|c| c.repo == repo && c.touches_disk())
                .map(|c| c.path.clone())
                .collect();
            // `strata.lock` is strata's own bookkeeping and never anyone's work. `strata.toml` is
            // strata's when it reads exactly as strata writes the answers it holds.
            paths.push(answers::FILE_NAME.to_string());
            for path in git::dirty_paths(&workspace.roots[&repo], &paths)? {
                // Uncommitted files that hold exactly what strata last wrote risk nobody's work.
                let disk = workspace.read(repo, &path);
                let strata_wrote = if path == answers::FILE_NAME {
                    disk.as_deref()
                        == Some(
                            current_answers
                                .get_or_init(|| workspace.answers.to_toml())
                                .as_bytes(),
                        )
                } else {
                    disk.is_some_and(|bytes| {
                        workspace.locks[&repo].files.get(&path) == Some(&lock::hash(&bytes))
                    })
                };
                if !strata_wrote {
                    dirty.push(format!("{repo}: `{path}`"));
                }
            }
        }
        if !dirty.is_empty() {
            return Err(Refusal {
                message: format!("{} file(s) that strata must change have uncommitted changes; nothing was written", dirty.len()),
                details: dirty,
                hint: "commit or stash them first, or pass `--allow-dirty`".to_string(),
            }
            .into());
        }
    }

    // The new locks are the old ones updated in place: the lock of a big workspace holds
    // thousands of entries, not worth copying.
    let answers_text = answers.to_toml();
    let mut extra: Vec<(Repo, String, Vec<u8>)> = Vec::new();
    let mut next_locks = std::mem::take(&mut workspace.locks);
    for repo in Repo::BOTH {
        let next = next_locks.get_mut(&repo).expect("both repos have a lock");
        plan.update_lock(repo, next);
        for (_, path) in unlocked.iter().filter(|(r, _)| *r == repo) {
            next.files.remove(path);
        }
        // A file the lock names that is gone (deleted by hand before a removal) leaves the lock.
        next.forget_missing(
            considered
                .iter()
                .filter(|(r, _)| *r == repo)
                .map(|(_, p)| p.as_str()),
            |path| workspace.read(repo, path).is_some(),
        );
        extra.push((
            repo,
            answers::FILE_NAME.to_string(),
            answers_text.clone().into_bytes(),
        ));
        extra.push((
            repo,
            lock::FILE_NAME.to_string(),
            next.to_text().into_bytes(),
        ));
    }

    let nothing_to_do = plan.changes.iter().all(|c| !c.touches_disk())
        && extra
            .iter()
            .all(|(repo, path, bytes)| workspace.read(*repo, path).as_deref() == Some(bytes));
    if nothing_to_do {
        eprintln!("nothing to change: both repos are up to date");
        return Ok(());
    }

    if args.dry_run {
        print_diffs(&plan.changes)?;
        for repo in Repo::BOTH {
            let old = workspace.read(repo, answers::FILE_NAME);
            print_diffs(&[Change {
                repo,
                path: answers::FILE_NAME.to_string(),
                action: Action::Update,
                old,
                new: Some(answers_text.clone().into_bytes()),
                seed: false,
                forced: None,
                units: None,
                render: None,
            }])?;
        }
        eprintln!("dry run: nothing was written");
        return Ok(());
    }

    apply::transact(
        &workspace,
        &plan,
        &extra,
        answers.history.last().map_or("", String::as_str),
        args.commit.then_some(apply::CommitRequest {
            message,
            locks: &next_locks,
        }),
    )?;
    record_bases(&workspace, &plan.changes);
    summarize(&plan.changes, args.commit);
    Ok(())
}

/// Records strata's renders as the bases of later merges (`base.rs`). A failure loses only
/// merge bases, never work: it is reported and the command still succeeds.
fn record_bases(workspace: &Workspace, changes: &[Change]) {
    for repo in Repo::BOTH {
        let updates: Vec<(&str, Option<&[u8]>)> = changes
            .iter()
            .filter(|c| c.repo == repo)
            .filter_map(|c| match c.action {
                Action::Create | Action::Update | Action::Unchanged => {
                    Some((c.path.as_str(), c.recorded()))
                }
                Action::KeepSeed if c.render.is_some() => Some((c.path.as_str(), c.recorded())),
                Action::Delete => Some((c.path.as_str(), None)),
                _ => None,
            })
            .collect();
        if let Err(err) = crate::base::record(&workspace.roots[&repo], &updates) {
            eprintln!(
                "warning: {repo}: could not record the merge bases of `strata upgrade`: {err:#}"
            );
        }
    }
}

/// Prints, for each seed whose template changed since strata wrote it, the template's change
/// as a suggestion: seeds are never rewritten.
fn suggest_seed_changes(
    workspace: &Workspace,
    changes: &[Change],
    find_base: plan::BaseReader<'_>,
) -> Result<()> {
    let mut suggested = Vec::new();
    for change in changes.iter().filter(|c| c.action == Action::KeepSeed) {
        let (Some(render), Some(locked)) = (
            change.render.as_deref(),
            workspace.locks[&change.repo].files.get(&change.path),
        ) else {
            continue;
        };
        if crate::lock::hash(render) == *locked {
            continue;
        }
        let Some(base) = find_base(change.repo, &change.path, locked) else {
            continue;
        };
        let suggestion = Change {
            old: Some(base),
            new: Some(render.to_vec()),
            action: Action::Update,
            ..change.clone()
        };
        crate::outln!(
            "# suggestion: the template of {} `{}` (yours, not rewritten) changed:",
            change.repo,
            change.path
        )?;
        crate::out!("{}", plan::diff(&suggestion))?;
        suggested.push(format!("{} `{}`", change.repo, change.path));
    }
    if !suggested.is_empty() {
        eprintln!(
            "warning: {} file(s) you edited were not rewritten, but their template changed; apply the suggestions printed above, or they may not work with the rest of the upgrade:",
            suggested.len()
        );
        for file in suggested {
            eprintln!("  - {file}");
        }
    }
    Ok(())
}

fn print_diffs(changes: &[Change]) -> Result<()> {
    for change in changes
        .iter()
        .filter(|c| c.touches_disk() || matches!(c.action, Action::Conflict(_)))
    {
        let diff = plan::diff(change);
        if !diff.is_empty() {
            crate::outln!("# {} repo", change.repo)?;
            crate::out!("{diff}")?;
        }
    }
    Ok(())
}

fn summarize(changes: &[Change], committed: bool) {
    let mut counts: BTreeMap<(Repo, &str), usize> = BTreeMap::new();
    for change in changes {
        let verb = match change.action {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Delete => "deleted",
            Action::KeepSeed => "kept (yours)",
            _ => continue,
        };
        *counts.entry((change.repo, verb)).or_default() += 1;
    }
    for repo in Repo::BOTH {
        let parts: Vec<String> = counts
            .iter()
            .filter(|((r, _), _)| *r == repo)
            .map(|((_, verb), n)| format!("{n} {verb}"))
            .collect();
        if !parts.is_empty() {
            eprintln!(
                "{repo}: {}{}",
                parts.join(", "),
                if committed { ", committed" } else { "" }
            );
        }
    }
}
