//! An edit of a workspace: new answers and a [`Job`] (what to render, and how to treat what
//! strata wrote before), taken through render, plan and apply in one [`Mode`]. Every command
//! that writes is an [`Edit`] (`add`, `remove`, `upgrade`, `migrate`) or a [`Creation`] (`new`,
//! where every file is a create).
//!
//! The steps, in order: render both repos' templates (with the repo's own overrides), plan the
//! deletions (`plan::deletions`, and for an upgrade `plan::stale`), confine every path, plan each
//! file against the disk and the locks (three-way merges for an upgrade), refuse conflicts
//! (unless `--force`) and uncommitted files strata must change (unless `--allow-dirty`), update
//! the locks, then hand over the diff ([`Mode::DryRun`]), report what would change
//! ([`Mode::Check`]) or apply it atomically to both repos ([`Mode::Write`]).
//!
//! An edit never prints: it returns an [`Outcome`], and hands what it finds on the way (diffs,
//! an upgrade's suggestions, edited seeds a removal deletes) to the command's [`Reporter`] as it
//! finds them, so that a refusal still comes after what explains it.

mod create;
mod outcome;

use std::collections::BTreeMap;
use std::io;

use anyhow::Result;

use crate::git::base::Bases;
use crate::model::answers::{self, Answers};
use crate::model::lock;
use crate::model::pack;
use crate::model::repo::Repo;
use crate::plan::{self, Action, Change, Plan, Suggestion};
use crate::render::{CompiledLayer, RenderedFile, Renderer, Scope};
use crate::util::error::Refusal;
use crate::util::problem::Problems;
use crate::write::apply;
use crate::write::workspace::Workspace;

pub use create::{create, Creation};
use outcome::summarize;
pub use outcome::Outcome;

/// What a command does with its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print the unified diff of every change; write nothing.
    DryRun,
    /// Write nothing; fail (exit 1) when anything would change.
    Check,
    /// Apply the plan to both repos, all or nothing.
    Write,
}

/// How a change is applied: the mode and the flags every changing command shares.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub mode: Mode,
    /// One commit per repo that changed.
    pub commit: bool,
    /// Overwrite or delete files edited since strata wrote them.
    pub force: bool,
    /// Proceed when files strata must change have uncommitted changes.
    pub allow_dirty: bool,
}

/// What a command renders beyond one scope of the templates (`strata migrate`): more scopes,
/// and files that are no template's instance. Such a file replaces a rendered one of the same
/// path; strata writes it once and never records it in the lock: it is its owner's from then
/// on, and `strata upgrade` leaves it alone.
#[derive(Default)]
pub struct Extras {
    pub scopes: Vec<Scope>,
    pub files: Vec<RenderedFile>,
}

/// What an edit renders, and how it treats what strata wrote before.
pub enum Job {
    /// `add`, `remove`, `add platform`, `remove platform`, `migrate`: render `scope` (and the
    /// extras); a file someone edited since strata wrote it is a conflict. The workspace must
    /// have been written by this strata.
    Change { scope: Scope, extras: Extras },
    /// `strata set`, `strata edit service`: render `scope` with changed values of what exists.
    /// A file someone edited is merged three ways against strata's last render of it (the
    /// old answers' render, or `git::base`); a seed nobody touched is brought up to date; a
    /// seed its owner edited is kept, and the change is reported as a suggestion. The
    /// workspace must have been written by this strata.
    Revise { scope: Scope },
    /// `strata upgrade`: render everything; delete the files strata wrote that the templates
    /// no longer hold; merge edited files three ways against strata's last render of them
    /// (`git::base`); suggest the template's change of each seed its owner keeps. The
    /// workspace may have been written by an older strata: that is what an upgrade is for.
    Upgrade,
}

/// A change of a workspace, ready to plan.
pub struct Edit {
    /// The answers after the change.
    pub answers: Answers,
    /// The commit message, with `--commit`.
    pub message: String,
    pub job: Job,
}

impl Edit {
    /// A change that renders `scope`.
    pub fn new(answers: Answers, scope: Scope, message: impl Into<String>) -> Edit {
        Edit {
            answers,
            message: message.into(),
            job: Job::Change {
                scope,
                extras: Extras::default(),
            },
        }
    }

    /// An upgrade to the answers given (carried to this strata by `jobs::grow::upgrade`).
    pub fn upgrade(answers: Answers, message: impl Into<String>) -> Edit {
        Edit {
            answers,
            message: message.into(),
            job: Job::Upgrade,
        }
    }
}

/// What an edit finds on the way to its [`Outcome`], handed over as it is found: the command
/// decides how to show it (`commands/output.rs` prints it).
pub trait Reporter {
    /// An upgrade's suggestions for the seeds whose template changed (never rewritten).
    fn suggestions(&mut self, suggestions: &[Suggestion]) -> io::Result<()>;
    /// The changes of a dry run, or of a plan refused for its conflicts under `--dry-run`.
    fn diffs(&mut self, changes: &[Change]) -> io::Result<()>;
    /// The seeds a removal deletes although their owner edited them (`writing`: for real).
    fn edited_seed_deletions(&mut self, changes: &[&Change], writing: bool);
    /// The files an override of a template renders that this edit writes: (repo, path,
    /// where the override is kept), named before anything is written.
    fn overrides(&mut self, _rendered: &[(Repo, String, String)]) {}
}

/// The embedded layers' templates, compiled on background threads (one per layer) while the
/// workspace is read: the gitops layer, and the foundation layer of the default pack (the pack
/// of a workspace is known only once it is read; another pack is compiled then).
pub struct Compiling {
    gitops: std::thread::JoinHandle<Result<CompiledLayer>>,
    foundation: std::thread::JoinHandle<Result<CompiledLayer>>,
}

/// Starts compiling the embedded layers (commands call it before opening the workspace).
/// Compiling the templates (tera parses them) is most of the work of a small change; the
/// workspace's own reading and checks take as long, and the two cores share them.
pub fn compile_gitops() -> Compiling {
    Compiling {
        gitops: std::thread::spawn(|| CompiledLayer::new(pack::gitops_layer())),
        foundation: std::thread::spawn(|| {
            CompiledLayer::new(pack::foundation_layer(pack::DEFAULT_PACK).map_err(Problems::from)?)
        }),
    }
}

/// The renderer of a workspace: the pack's and the gitops layer's templates, each with the
/// repo's own overrides (`.strata/templates`).
fn renderer(workspace: &Workspace, pack_name: &str, compiling: Compiling) -> Result<Renderer> {
    let Compiling {
        gitops,
        foundation: default_foundation,
    } = compiling;
    let layer = crate::render::overrides::layer_of(
        &workspace.roots[&Repo::Foundation],
        pack::foundation_layer(pack_name).map_err(Problems::from)?,
    )?;
    // Without overrides, the default pack's layer is the one compiled in the background.
    let foundation = if pack_name == pack::DEFAULT_PACK && layer.overridden.is_empty() {
        default_foundation
            .join()
            .expect("template compilation does not panic")?
    } else {
        CompiledLayer::new(layer)?
    };
    let gitops_root = &workspace.roots[&Repo::Gitops];
    let foundation_root = &workspace.roots[&Repo::Foundation];
    let gitops = if crate::render::overrides::gitops_has_overrides(foundation_root, gitops_root) {
        CompiledLayer::new(crate::render::overrides::gitops_layer_of(
            foundation_root,
            gitops_root,
            pack::gitops_layer(),
        )?)?
    } else {
        gitops
            .join()
            .expect("template compilation does not panic")?
    };
    Renderer::from_compiled(vec![foundation, gitops])
}

/// The files of the plan that an override renders and the plan writes: (repo, path, where
/// the override is kept), named before writing (issue 20).
fn overridden(renderer: &Renderer, plan: &Plan) -> Vec<(Repo, String, String)> {
    plan.changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update))
        .filter_map(|c| {
            renderer
                .override_of(c.repo, &c.path)
                .map(|origin| (c.repo, c.path.clone(), origin.to_string()))
        })
        .collect()
}

/// Paths strata writes without recording them in the lock.
/// With each, the hash of the template's own render when the file replaces a seed's: the lock
/// records it as `strata upgrade` records a kept seed, so that an upgrade right after finds
/// nothing to change (issue 21: `upgrade --check` and `--dry-run` agree after `migrate`).
type Unlocked = Vec<(Repo, String, Option<String>)>;

/// Renders a scope, the extras' scopes and their files; returns the files and the extras'
/// paths (never recorded in the lock).
fn render(
    renderer: &Renderer,
    answers: &Answers,
    scope: &Scope,
    extras: Extras,
) -> Result<(Vec<RenderedFile>, Unlocked)> {
    let mut rendered = renderer.render(answers, scope)?;
    for more in &extras.scopes {
        for file in renderer.render(answers, more)? {
            if !rendered
                .iter()
                .any(|f| f.repo == file.repo && f.path == file.path)
            {
                rendered.push(file);
            }
        }
    }
    let files = extras.files;
    let mut unlocked = Vec::with_capacity(files.len());
    for file in files {
        let seed = rendered
            .iter()
            .find(|f| f.repo == file.repo && f.path == file.path && f.seed && f.shared.is_none())
            .map(|f| lock::hash(&f.bytes));
        unlocked.push((file.repo, file.path.clone(), seed));
        rendered.retain(|f| !(f.repo == file.repo && f.path == file.path));
        rendered.push(file);
    }
    Ok((rendered, unlocked))
}

/// What a job renders, and what an upgrade or a revision needs besides: strata's last render
/// of each file (`Bases`), and whether files the templates no longer hold go (`stale`).
fn steps(workspace: &Workspace, job: Job) -> Result<(Scope, Extras, Option<Bases>, bool)> {
    Ok(match job {
        Job::Change { scope, extras } => {
            workspace.same_strata()?;
            (scope, extras, None, false)
        }
        Job::Revise { scope } => {
            workspace.same_strata()?;
            (
                scope,
                Extras::default(),
                Some(Bases::open(&workspace.roots)),
                false,
            )
        }
        Job::Upgrade => (
            Scope::All,
            Extras::default(),
            Some(Bases::open(&workspace.roots)),
            true,
        ),
    })
}

/// Plans and runs an edit of a workspace in `options.mode`.
pub fn run(
    mut workspace: Workspace,
    edit: Edit,
    gitops: Compiling,
    options: &Options,
    report: &mut dyn Reporter,
) -> Result<Outcome> {
    let Edit {
        answers: new_answers,
        message,
        job,
    } = edit;
    let (scope, extras, upgrade, stale) = steps(&workspace, job)?;
    let renderer = renderer(&workspace, &new_answers.pack, gitops)?;
    let (rendered, unlocked) = render(&renderer, &new_answers, &scope, extras)?;
    renderer.check_overridden_yaml(&rendered)?;
    // A revision's base of a file is first the old answers' render of it, when that is what
    // the lock recorded: no git needed (`--no-git` workspaces get suggestions too).
    let previous: BTreeMap<(Repo, String), Vec<u8>> = if upgrade.is_some() && !stale {
        renderer
            .render(&workspace.answers, &scope)?
            .into_iter()
            .map(|f| ((f.repo, f.path), f.bytes))
            .collect()
    } else {
        BTreeMap::new()
    };
    apply::preflight(&workspace.roots, options.commit)?;
    workspace.confine(
        rendered.iter().map(|f| (f.repo, f.path.as_str())).chain(
            Repo::BOTH
                .into_iter()
                .flat_map(|r| [(r, answers::FILE_NAME), (r, lock::FILE_NAME)]),
        ),
    )?;
    let mut deletions = plan::deletions(
        &renderer,
        &workspace.answers,
        &new_answers,
        &scope,
        &rendered,
        &mut |repo, dir| workspace.files_under(repo, dir),
    )?;
    if stale {
        plan::stale(&renderer, &workspace.locks, &rendered, &mut deletions);
    }
    // Every path the plan reads or deletes is confined, the upgrade's too.
    workspace.confine(deletions.iter().map(|(r, p, _)| (*r, p.as_str())))?;
    apply::refuse_submodules(
        &workspace.roots,
        rendered
            .iter()
            .map(|f| (f.repo, f.path.as_str()))
            .chain(deletions.iter().map(|(r, p, _)| (*r, p.as_str()))),
    )?;
    let considered: Vec<(Repo, String)> =
        deletions.iter().map(|(r, p, _)| (*r, p.clone())).collect();

    let mut read = |repo: Repo, path: &str| workspace.read(repo, path);
    let mut plan = match &upgrade {
        None => plan::plan(rendered, deletions, &workspace.locks, &mut read),
        Some(bases) => {
            let mut find_base = |repo: Repo, path: &str, expected: &str| {
                previous
                    .get(&(repo, path.to_string()))
                    .filter(|bytes| lock::hash(bytes) == expected)
                    .cloned()
                    .or_else(|| bases.find(repo, path, expected))
            };
            let plan = plan::plan_with_bases(
                rendered,
                deletions,
                &workspace.locks,
                &mut read,
                Some(&mut find_base),
            );
            let suggestions = plan::seed_suggestions(&plan, &workspace.locks, &mut find_base);
            report.suggestions(&suggestions)?;
            plan
        }
    };

    still_listed(&mut plan, &workspace);
    refuse_conflicts(&plan, options, report, &workspace.roots)?;
    report.overrides(&overridden(&renderer, &plan));
    let edited_deletions = plan::edited_seed_deletions(&plan, &workspace.locks);
    if options.mode == Mode::Write && !options.force {
        workspace.refuse_deleting_uncommitted(&edited_deletions)?;
    }
    report.edited_seed_deletions(&edited_deletions, options.mode == Mode::Write);
    plan.force();
    // `--commit` commits whole files: with `--allow-dirty` it would commit the user's own
    // uncommitted edits of a file strata changes too, so it refuses them either way.
    if !options.allow_dirty || options.commit {
        workspace.refuse_uncommitted(&plan, options.commit)?;
    }
    // `--commit` commits this command's change and nothing else: an earlier change strata
    // left uncommitted would either ride along under this message or, left out, make the
    // committed `strata.toml` describe files that are not committed.
    if options.commit && options.mode == Mode::Write {
        workspace.refuse_earlier_uncommitted()?;
    }

    // The new locks are the old ones updated in place: the lock of a big workspace holds
    // thousands of entries, not worth copying.
    let answers_text = new_answers.to_toml();
    let bookkeeping = bookkeeping(&mut workspace, &plan, &unlocked, &considered, &answers_text);

    let up_to_date = plan.changes.iter().all(|c| !c.touches_disk()) && bookkeeping.is_empty();
    let gone: Vec<(Repo, String)> = considered
        .into_iter()
        .filter(|(repo, path)| workspace.read(*repo, path).is_none())
        .collect();
    if up_to_date {
        return Ok(Outcome::UpToDate);
    }
    match options.mode {
        Mode::DryRun => {
            report.diffs(&plan.changes)?;
            for repo in Repo::BOTH {
                report.diffs(&[Change::update(
                    repo,
                    answers::FILE_NAME,
                    workspace.read(repo, answers::FILE_NAME),
                    answers_text.clone().into_bytes(),
                )])?;
            }
            Ok(outcome::dry_run(&plan.changes, &bookkeeping))
        }
        Mode::Check => Err(would_change(&plan, &bookkeeping, &workspace)),
        Mode::Write => {
            let committed = apply::transact(
                &workspace,
                &plan,
                &bookkeeping,
                new_answers.history.last().map_or("", String::as_str),
                options.commit.then_some(apply::CommitRequest {
                    message: &message,
                    gone: &gone,
                }),
            )?;
            apply::record_bases(&workspace.roots, &plan.changes);
            Ok(summarize(&plan.changes, &bookkeeping, &committed))
        }
    }
}

/// The locks updated for a plan (in place: the lock of a big workspace holds thousands of
/// entries, not worth copying), and the bookkeeping files that change with it: `strata.toml`
/// and `strata.lock` of each repo whose copy on disk differs. An unchanged one is no part of
/// the change, neither written nor committed.
fn bookkeeping(
    workspace: &mut Workspace,
    plan: &Plan,
    unlocked: &Unlocked,
    considered: &[(Repo, String)],
    answers_text: &str,
) -> Vec<(Repo, String, Vec<u8>)> {
    let mut locks = std::mem::take(&mut workspace.locks);
    let mut bookkeeping = Vec::new();
    for repo in Repo::BOTH {
        let lock = locks.get_mut(&repo).expect("both repos have a lock");
        plan.update_lock(repo, lock);
        for (_, path, seed) in unlocked.iter().filter(|(r, _, _)| *r == repo) {
            match seed {
                Some(render) => lock.files.insert(path.clone(), render.clone()),
                None => lock.files.remove(path),
            };
        }
        // A file the lock names that is gone (deleted by hand before a removal) leaves the lock.
        lock.forget_missing(
            considered
                .iter()
                .filter(|(r, _)| *r == repo)
                .map(|(_, p)| p.as_str()),
            |path| workspace.read(repo, path).is_some(),
        );
        for (path, bytes) in [
            (answers::FILE_NAME, answers_text.as_bytes().to_vec()),
            (lock::FILE_NAME, lock.to_text().into_bytes()),
        ] {
            if workspace.read(repo, path).as_deref() != Some(bytes.as_slice()) {
                bookkeeping.push((repo, path.to_string(), bytes));
            }
        }
    }
    workspace.locks = locks;
    bookkeeping
}

/// `--check`: what would change, as a refusal (exit 1).
fn would_change(
    plan: &Plan,
    bookkeeping: &[(Repo, String, Vec<u8>)],
    workspace: &Workspace,
) -> anyhow::Error {
    let mut details: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.touches_disk())
        .map(|c| format!("{}: `{}` would be {}", c.repo, c.path, c.action.verb()))
        .collect();
    for (repo, path, bytes) in bookkeeping {
        if workspace.read(*repo, path).as_deref() != Some(bytes) {
            details.push(format!("{repo}: `{path}` would be updated"));
        }
    }
    Refusal {
        message: format!(
            "{} file(s) would change; nothing was written",
            details.len()
        ),
        details,
        hint: "run the command without `--check` to make the change (`--dry-run` shows the diff)"
            .to_string(),
    }
    .into()
}

/// Refuses a plan with conflicts (files edited since strata wrote them) unless `--force`; with
/// `--dry-run`, the diffs are reported first.
/// A file the plan deletes that a kustomization it keeps (a seed its owner edited) still lists:
/// deleting it would break the overlay's build, and Argo CD's sync with it. It becomes a conflict
/// (refused unless `--force`) that says where the reference is.
fn still_listed(plan: &mut Plan, workspace: &Workspace) {
    let kept: Vec<(Repo, String)> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::KeepSeed && c.path.ends_with("/kustomization.yaml"))
        .map(|c| (c.repo, c.path.clone()))
        .collect();
    for change in plan
        .changes
        .iter_mut()
        .filter(|c| c.action == Action::Delete)
    {
        let Some((dir, name)) = change.path.rsplit_once('/') else {
            continue;
        };
        let kustomization = format!("{dir}/kustomization.yaml");
        if !kept.contains(&(change.repo, kustomization.clone())) {
            continue;
        }
        let Some(text) = workspace.read(change.repo, &kustomization) else {
            continue;
        };
        // Read as kustomize reads it (any field may name the file: resources, patches,
        // generators); one that is not YAML cannot be told, so it counts as listing it.
        let listed = crate::util::yaml::parse_manifest(&String::from_utf8_lossy(&text))
            .map_or(true, |doc| names_file(&doc, name));
        if listed {
            change.forced = Some(Box::new(Action::Delete));
            change.action = Action::Conflict(format!(
                "is still listed by `{kustomization}`, which you edited (strata keeps it): drop `{name}` from it first, then run this again"
            ));
        }
    }
}

/// Whether a string anywhere in a document is `name` or `./name`.
fn names_file(doc: &serde_json::Value, name: &str) -> bool {
    match doc {
        serde_json::Value::String(text) => text == name || text.strip_prefix("./") == Some(name),
        serde_json::Value::Array(items) => items.iter().any(|item| names_file(item, name)),
        serde_json::Value::Object(map) => map.values().any(|value| names_file(value, name)),
        _ => false,
    }
}

fn refuse_conflicts(
    plan: &Plan,
    options: &Options,
    report: &mut dyn Reporter,
    roots: &std::collections::BTreeMap<Repo, std::path::PathBuf>,
) -> Result<()> {
    let conflicts = plan.conflicts();
    if conflicts.is_empty() || options.force {
        return Ok(());
    }
    let details = conflicts
        .iter()
        .filter_map(|c| match &c.action {
            Action::Conflict(why) => Some(format!("{}: `{}` {why}", c.repo, c.path)),
            _ => None,
        })
        .collect();
    if options.mode == Mode::DryRun {
        report.diffs(&plan.changes)?;
    }
    let mut hint = "keep your edits and make the change by hand, or pass `--force` to overwrite them (see the diffs with `--dry-run`)".to_string();
    // A shallow clone lacks the history that holds strata's last render of a file.
    let shallow: Vec<String> = roots
        .iter()
        .filter(|(repo, root)| {
            crate::git::is_shallow(root) && conflicts.iter().any(|c| c.repo == **repo)
        })
        .map(|(_, root)| format!("`git -C {} fetch --unshallow`", root.display()))
        .collect();
    if !shallow.is_empty() {
        hint = format!(
            "the repo is a shallow clone, whose history may not hold what strata wrote: fetch the rest of it ({}) and run the command again; or {hint}",
            shallow.join(", ")
        );
    }
    Err(Refusal {
        message: format!(
            "{} file(s) changed since strata wrote them; nothing was written",
            conflicts.len()
        ),
        details,
        hint,
    }
    .into())
}
