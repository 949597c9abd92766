//! Planning: rendered files + what is on disk + the lock -> the operations to perform. Pure.
//!
//! The plan decides, for each file, whether to create, update, leave, keep (a seed that exists),
//! delete, or report a conflict (a file someone edited since strata wrote it, or one strata
//! never wrote). `--dry-run` prints a plan, the real run applies it: the same code up to the
//! last step. This module never touches the disk: the caller passes readers.
//!
//! Files strata shares with Pulumi or people are merged key by key (`merge.rs`); an upgrade
//! merges an edited owned file three ways against strata's last render (`merge3.rs`); which
//! directories a removal takes whole comes from the templates (`ownership.rs`).

pub(crate) mod merge;
mod merge3;
mod ownership;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::answers::Answers;
use crate::model::lock::{hash, Lock};
use crate::model::repo::Repo;
use crate::render::{RenderedFile, Renderer, Scope};

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// A seed that exists: it belongs to its owner now and is never rewritten.
    KeepSeed,
    Delete,
    /// Someone changed the file since strata wrote it (or strata never wrote it).
    Conflict(String),
}

/// One planned file.
#[derive(Debug, Clone)]
pub struct Change {
    pub repo: Repo,
    pub path: String,
    pub action: Action,
    /// What is on disk now.
    pub old: Option<Vec<u8>>,
    /// What strata would write (None for deletions).
    pub new: Option<Vec<u8>>,
    pub seed: bool,
    /// For a conflict: what would have happened with `--force`.
    pub forced: Option<Box<Action>>,
    /// A shared file: the units strata owns in it afterwards (`merge.rs`).
    pub units: Option<BTreeMap<String, String>>,
    /// strata's pure render when `new` is something else (a three-way merge with a person's
    /// edits, or a seed left as it is): what the lock and the merge base record.
    pub render: Option<Vec<u8>>,
}

impl Change {
    /// The bytes the lock and the base record for this change: strata's own render.
    pub fn recorded(&self) -> Option<&[u8]> {
        self.render.as_deref().or(self.new.as_deref())
    }
}

impl Change {
    /// A file created whole (`strata new`, and the answers and locks of a new workspace).
    pub fn create(repo: Repo, path: &str, bytes: Vec<u8>) -> Change {
        Change {
            repo,
            path: path.to_string(),
            action: Action::Create,
            old: None,
            new: Some(bytes),
            seed: false,
            forced: None,
            units: None,
            render: None,
        }
    }

    /// A file rewritten whole (the answers file of a dry run).
    pub fn update(repo: Repo, path: &str, old: Option<Vec<u8>>, new: Vec<u8>) -> Change {
        Change {
            old,
            action: Action::Update,
            ..Change::create(repo, path, new)
        }
    }

    /// Whether applying this change writes or removes something.
    pub fn touches_disk(&self) -> bool {
        matches!(
            self.action,
            Action::Create | Action::Update | Action::Delete
        )
    }
}

impl Action {
    /// The past participle of the action, for reports: "would be created".
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Unchanged => "left unchanged",
            Action::KeepSeed => "kept (yours)",
            Action::Delete => "deleted",
            Action::Conflict(_) => "in conflict",
        }
    }
}

/// Every change of one command, in both repos.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn conflicts(&self) -> Vec<&Change> {
        self.changes
            .iter()
            .filter(|c| matches!(c.action, Action::Conflict(_)))
            .collect()
    }

    /// Turns every conflict into what it would have been: `--force`.
    pub fn force(&mut self) {
        for change in &mut self.changes {
            if let Some(forced) = change.forced.take() {
                change.action = *forced;
            }
        }
    }

    /// Updates a repo's lock in place to what it is after this plan is applied.
    pub fn update_lock(&self, repo: Repo, lock: &mut Lock) {
        for change in self.changes.iter().filter(|c| c.repo == repo) {
            if let Some(units) = &change.units {
                match change.action {
                    Action::Create | Action::Update | Action::Unchanged => {
                        lock.units.insert(change.path.clone(), units.clone());
                    }
                    Action::Delete => {
                        lock.units.remove(&change.path);
                    }
                    _ => {}
                }
                // A shared file strata did not rewrite may hold others' uncommitted work: its
                // recorded hash stays what strata last wrote.
                if change.action == Action::Unchanged {
                    continue;
                }
            }
            if change.action == Action::Delete {
                lock.units.remove(&change.path);
            }
            match (&change.action, change.recorded()) {
                (Action::Create | Action::Update | Action::Unchanged, Some(bytes)) => {
                    lock.files.insert(change.path.clone(), hash(bytes));
                }
                (Action::KeepSeed, Some(bytes)) if change.render.is_some() => {
                    lock.files.insert(change.path.clone(), hash(bytes));
                }
                (Action::Delete, _) => {
                    lock.files.remove(&change.path);
                }
                _ => {}
            }
        }
    }
}

/// Lists the files under a directory of a repo (the caller confines the walk).
pub type DirReader<'a> = &'a mut dyn FnMut(Repo, &str) -> anyhow::Result<Vec<String>>;

/// The files an edit deletes: `(repo, path, seed)`.
///
/// - Instances the old answers rendered in the scope and the new ones do not.
/// - What is removed goes whole: files someone added to a removed service's directory or to a
///   removed environment's directories would be orphans. They are planned too, and become
///   conflicts (strata did not write them), deleted only with `--force`. Which directories
///   those are comes from the templates (`ownership.rs`), never from a path's text.
///
/// `old` holds the answers before the edit, `new` after it. An upgrade adds [`stale`] files.
pub fn deletions(
    renderer: &Renderer,
    old: &Answers,
    new: &Answers,
    scope: &Scope,
    rendered: &[RenderedFile],
    list_dir: DirReader<'_>,
) -> anyhow::Result<Vec<(Repo, String, bool)>> {
    let new_paths: BTreeSet<(Repo, &str)> =
        rendered.iter().map(|f| (f.repo, f.path.as_str())).collect();
    let mut deletions: Vec<(Repo, String, bool)> = renderer
        .paths(old, scope)?
        .into_iter()
        .filter(|(repo, path, _)| !new_paths.contains(&(*repo, path.as_str())))
        .collect();
    let mut planned: BTreeSet<(Repo, String)> =
        deletions.iter().map(|(r, p, _)| (*r, p.clone())).collect();
    let templates = renderer.templates();
    for (repo, dir) in ownership::removed_dirs(&templates, old, new, scope) {
        for path in list_dir(repo, &dir)? {
            if planned.insert((repo, path.clone())) {
                deletions.push((repo, path, false));
            }
        }
    }
    Ok(deletions)
}

/// The files an upgrade deletes besides the [`deletions`] planned already: files strata wrote
/// (its locks name them) that the templates no longer render. An owned seed and the repo's
/// template overrides stay their owner's; a path already planned is not planned twice.
pub fn stale(
    renderer: &Renderer,
    locks: &BTreeMap<Repo, Lock>,
    rendered: &[RenderedFile],
    deletions: &mut Vec<(Repo, String, bool)>,
) {
    let new_paths: BTreeSet<(Repo, &str)> =
        rendered.iter().map(|f| (f.repo, f.path.as_str())).collect();
    let mut planned: BTreeSet<(Repo, String)> =
        deletions.iter().map(|(r, p, _)| (*r, p.clone())).collect();
    for repo in Repo::BOTH {
        for path in locks[&repo].files.keys() {
            if !new_paths.contains(&(repo, path.as_str()))
                && !renderer.is_seed_instance(repo, path)
                && !path.starts_with(crate::render::overrides::DIR)
                && planned.insert((repo, path.clone()))
            {
                deletions.push((repo, path.clone(), false));
            }
        }
    }
}

/// The seeds a plan deletes that their owner edited since strata wrote them: they go with what
/// they belong to (a removal never blocks on its owner's tuning), and the commands say so.
pub fn edited_seed_deletions<'a>(plan: &'a Plan, locks: &BTreeMap<Repo, Lock>) -> Vec<&'a Change> {
    plan.changes
        .iter()
        .filter(|c| c.seed && c.action == Action::Delete)
        .filter(|c| {
            let recorded = locks.get(&c.repo).and_then(|l| l.files.get(&c.path));
            c.old
                .as_deref()
                .is_some_and(|old| recorded.is_none_or(|r| *r != hash(old)))
        })
        .collect()
}

/// A seed whose template changed since strata wrote it: the template's change, as a diff the
/// owner may apply (seeds are never rewritten).
pub struct Suggestion {
    pub repo: Repo,
    pub path: String,
    pub diff: String,
}

/// The suggestions of an upgrade: for each seed kept as its owner has it whose render differs
/// from what strata wrote last (found by `find_base`), the template's change.
pub fn seed_suggestions(
    plan: &Plan,
    locks: &BTreeMap<Repo, Lock>,
    find_base: BaseReader<'_>,
) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for change in plan.changes.iter().filter(|c| c.action == Action::KeepSeed) {
        let (Some(render), Some(locked)) = (
            change.render.as_deref(),
            locks
                .get(&change.repo)
                .and_then(|l| l.files.get(&change.path)),
        ) else {
            continue;
        };
        if hash(render) == *locked {
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
        out.push(Suggestion {
            repo: change.repo,
            path: change.path.clone(),
            diff: diff(&suggestion),
        });
    }
    out
}

/// Plans rendered files and deletions against the disk (`read`) and each repo's lock.
pub fn plan(
    rendered: Vec<RenderedFile>,
    deletions: Vec<(Repo, String, bool)>,
    locks: &BTreeMap<Repo, Lock>,
    read: &mut dyn FnMut(Repo, &str) -> Option<Vec<u8>>,
) -> Plan {
    plan_with_bases(rendered, deletions, locks, read, None)
}

/// Finds strata's last render of a file: (repo, path, its hash in the lock).
pub type BaseReader<'a> = &'a mut dyn FnMut(Repo, &str, &str) -> Option<Vec<u8>>;

/// [`plan`], merging three ways where a person edited a file strata owns and `bases` finds
/// what strata wrote last (`strata upgrade`). Seeds then carry the new render, so that the
/// caller can suggest the template's changes.
pub fn plan_with_bases(
    rendered: Vec<RenderedFile>,
    deletions: Vec<(Repo, String, bool)>,
    locks: &BTreeMap<Repo, Lock>,
    read: &mut dyn FnMut(Repo, &str) -> Option<Vec<u8>>,
    mut bases: Option<BaseReader<'_>>,
) -> Plan {
    let mut changes = Vec::with_capacity(rendered.len() + deletions.len());
    for file in rendered {
        let old = read(file.repo, &file.path);
        if let Some(containers) = &file.shared {
            let lock = locks.get(&file.repo);
            // A lock written before shared files (format 1) has no units: what strata wrote is
            // the file itself when it is untouched, or its last render found in history.
            let base = match lock.and_then(|l| l.units.get(&file.path)) {
                Some(units) => units.clone(),
                None => {
                    let recorded = lock.and_then(|l| l.files.get(&file.path));
                    let wrote = match (recorded, &old) {
                        (Some(recorded), Some(disk)) if *recorded == hash(disk) => {
                            Some(disk.clone())
                        }
                        (Some(recorded), _) => bases
                            .as_mut()
                            .and_then(|find| find(file.repo, &file.path, recorded)),
                        _ => None,
                    };
                    wrote
                        .and_then(|bytes| merge::units_of(&bytes, containers).ok())
                        .unwrap_or_default()
                }
            };
            changes.push(plan_shared(
                file.repo, file.path, file.bytes, old, &base, containers,
            ));
            continue;
        }
        let locked = locks.get(&file.repo).and_then(|l| l.files.get(&file.path));
        let mut new = file.bytes;
        let mut render = None;
        let (action, forced) = match &old {
            None => (Action::Create, None),
            Some(disk) if file.seed => {
                if bases.is_some() && *disk != new && locked.is_some_and(|l| *l == hash(disk)) {
                    // An upgrade brings a seed nobody touched since strata wrote it up to date:
                    // no one's work is in it.
                    (Action::Update, None)
                } else {
                    if bases.is_some() {
                        render = Some(new.clone());
                    }
                    (Action::KeepSeed, None)
                }
            }
            Some(disk) if *disk == new => (Action::Unchanged, None),
            Some(disk) => match locked {
                Some(recorded) if *recorded == hash(disk) => (Action::Update, None),
                Some(recorded) if bases.is_some() => {
                    let base = bases
                        .as_mut()
                        .and_then(|find| find(file.repo, &file.path, recorded));
                    match base.map(|base| merge3::merge(&file.path, &base, disk, &new)) {
                        Some(merge3::Merged::Clean(merged)) => {
                            let action = if merged == *disk { Action::Unchanged } else { Action::Update };
                            render = Some(std::mem::replace(&mut new, merged));
                            (action, None)
                        }
                        Some(merge3::Merged::Conflicts { keys, forced }) => {
                            render = Some(std::mem::replace(&mut new, forced));
                            (
                                Action::Conflict(format!(
                                    "was changed here and in the template: {}",
                                    keys.join(", ")
                                )),
                                Some(Box::new(Action::Update)),
                            )
                        }
                        None => (
                            Action::Conflict(
                                "edited since strata wrote it, and what strata wrote is not in the repo's history"
                                    .to_string(),
                            ),
                            Some(Box::new(Action::Update)),
                        ),
                    }
                }
                Some(_) => (
                    Action::Conflict("edited since strata wrote it".to_string()),
                    Some(Box::new(Action::Update)),
                ),
                None => (
                    Action::Conflict("exists and was not written by strata".to_string()),
                    Some(Box::new(Action::Update)),
                ),
            },
        };
        changes.push(Change {
            repo: file.repo,
            path: file.path,
            action,
            old,
            new: Some(new),
            seed: file.seed,
            forced,
            units: None,
            render,
        });
    }
    for (repo, path, seed) in deletions {
        let Some(old) = read(repo, &path) else {
            continue;
        };
        let locked = locks.get(&repo).and_then(|l| l.files.get(&path));
        let edited = locked.is_none_or(|recorded| *recorded != hash(&old));
        let (action, forced) = if locked.is_none() {
            (
                Action::Conflict(
                    "was not written by strata, and would be deleted with what it belongs to"
                        .to_string(),
                ),
                Some(Box::new(Action::Delete)),
            )
        } else if edited && !seed {
            (
                Action::Conflict("edited since strata wrote it, and would be deleted".to_string()),
                Some(Box::new(Action::Delete)),
            )
        } else {
            (Action::Delete, None)
        };
        changes.push(Change {
            repo,
            path,
            action,
            old: Some(old),
            new: None,
            seed,
            forced,
            units: None,
            render: None,
        });
    }
    Plan { changes }
}

/// Plans a file strata shares with others: a merge of its own units into what is on disk.
fn plan_shared(
    repo: Repo,
    path: String,
    rendered: Vec<u8>,
    old: Option<Vec<u8>>,
    base: &BTreeMap<String, String>,
    containers: &[String],
) -> Change {
    let change = |action, new, forced, units| Change {
        repo,
        path: path.clone(),
        action,
        old: old.clone(),
        new: Some(new),
        seed: false,
        forced,
        units,
        render: None,
    };
    let Some(disk) = &old else {
        let units = merge::units_of(&rendered, containers).ok();
        return change(Action::Create, rendered, None, units);
    };
    match merge::merge(disk, &rendered, base, containers) {
        Err(why) => change(
            Action::Conflict(format!(
                "cannot be merged ({why}): strata rewrites only its own keys, and needs them in block-style YAML"
            )),
            rendered,
            None,
            None,
        ),
        Ok(merged) if merged.bytes == *disk => {
            change(Action::Unchanged, disk.clone(), None, Some(merged.units))
        }
        Ok(merged) if merged.conflicts.is_empty() => {
            change(Action::Update, merged.bytes, None, Some(merged.units))
        }
        Ok(merged) => change(
            Action::Conflict(format!(
                "{} (only strata's own keys; `--force` rewrites them and keeps the rest)",
                merged.conflicts.join("; ")
            )),
            merged.bytes,
            Some(Box::new(Action::Update)),
            Some(merged.units),
        ),
    }
}

/// A unified diff of one change, for `--dry-run` and conflict reports.
pub fn diff(change: &Change) -> String {
    let old = change
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = change
        .new
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let (old_name, new_name) = match change.action {
        Action::Create => ("/dev/null".to_string(), format!("b/{}", change.path)),
        Action::Delete => (format!("a/{}", change.path), "/dev/null".to_string()),
        _ => (format!("a/{}", change.path), format!("b/{}", change.path)),
    };
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, bytes: &str, seed: bool) -> RenderedFile {
        RenderedFile {
            repo: Repo::Gitops,
            path: path.to_string(),
            bytes: bytes.as_bytes().to_vec(),
            seed,
            shared: None,
        }
    }

    #[track_caller]
    fn case(disk: Option<&str>, locked: Option<&str>, new: &str, seed: bool, expected: Action) {
        let mut lock = Lock::new(Repo::Gitops);
        if let Some(locked) = locked {
            lock.files.insert("f".into(), hash(locked.as_bytes()));
        }
        let locks = BTreeMap::from([(Repo::Gitops, lock)]);
        let plan = plan(vec![file("f", new, seed)], vec![], &locks, &mut |_, _| {
            disk.map(|d| d.as_bytes().to_vec())
        });
        assert_eq!(plan.changes[0].action, expected);
    }

    #[test]
    fn each_file_gets_the_right_action() {
        case(None, None, "a", false, Action::Create);
        case(Some("a"), Some("a"), "a", false, Action::Unchanged);
        case(Some("a"), Some("a"), "b", false, Action::Update);
        case(
            Some("edited"),
            Some("a"),
            "b",
            false,
            Action::Conflict("edited since strata wrote it".into()),
        );
        case(
            Some("edited"),
            Some("a"),
            "edited",
            false,
            Action::Unchanged,
        );
        case(
            Some("x"),
            None,
            "b",
            false,
            Action::Conflict("exists and was not written by strata".into()),
        );
        case(Some("edited"), Some("a"), "b", true, Action::KeepSeed);
        case(None, Some("a"), "b", true, Action::Create);
    }

    #[test]
    fn deleting_an_edited_owned_file_is_a_conflict_but_seeds_go() {
        let mut lock = Lock::new(Repo::Gitops);
        lock.files.insert("owned".into(), hash(b"a"));
        lock.files.insert("seed".into(), hash(b"a"));
        let locks = BTreeMap::from([(Repo::Gitops, lock)]);
        let mut plan = plan(
            vec![],
            vec![
                (Repo::Gitops, "owned".into(), false),
                (Repo::Gitops, "seed".into(), true),
                (Repo::Gitops, "gone".into(), false),
            ],
            &locks,
            &mut |_, path| (path != "gone").then(|| b"edited".to_vec()),
        );
        assert_eq!(plan.changes.len(), 2, "a file already gone needs nothing");
        assert!(matches!(plan.changes[0].action, Action::Conflict(_)));
        assert_eq!(plan.changes[1].action, Action::Delete);
        plan.force();
        assert_eq!(plan.changes[0].action, Action::Delete);
        let mut lock = locks[&Repo::Gitops].clone();
        plan.update_lock(Repo::Gitops, &mut lock);
        assert!(lock.files.is_empty());
    }
}
