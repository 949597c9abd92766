//! What an edit found and did, printed: the diffs of a dry run, an upgrade's suggestions, the
//! note on edited seeds a removal deletes ([`Printer`], the commands' [`Reporter`]), and a
//! command's [`Outcome`]. The edit returns data; only the commands print it.

use std::io;

use crate::edit::{Outcome, Reporter};
use crate::plan::{Action, Change, Suggestion};
use crate::util::term::status;
use crate::util::term::{line, text};

/// Prints what an edit reports, as it reports it.
pub struct Printer;

impl Reporter for Printer {
    fn suggestions(&mut self, found: &[Suggestion]) -> io::Result<()> {
        suggestions(found)
    }

    fn diffs(&mut self, changes: &[Change]) -> io::Result<()> {
        diffs(changes)
    }

    fn edited_seed_deletions(&mut self, changes: &[&Change], writing: bool) {
        edited_seed_deletions(changes, writing);
    }

    fn overrides(&mut self, rendered: &[(crate::model::repo::Repo, String, String)]) {
        if rendered.is_empty() {
            return;
        }
        status!(
            "note: {} file(s) are rendered from a template override, not strata's own template:",
            rendered.len()
        );
        for (repo, path, origin) in rendered {
            status!("  - {repo} `{path}`: from `{origin}`");
        }
    }
}

/// Prints the unified diff of every change that writes, removes or conflicts, each under the
/// name of its repo: the one dry-run format of every command.
fn diffs(changes: &[Change]) -> io::Result<()> {
    for change in changes
        .iter()
        .filter(|c| c.touches_disk() || matches!(c.action, Action::Conflict(_)))
    {
        let diff = crate::plan::diff(change);
        if !diff.is_empty() {
            line(format_args!("# {} repo", change.repo))?;
            text(format_args!("{diff}"))?;
        }
    }
    Ok(())
}

/// Prints an upgrade's suggestions for seeds (stdout) and a warning naming them (stderr).
fn suggestions(suggestions: &[Suggestion]) -> io::Result<()> {
    if suggestions.is_empty() {
        return Ok(());
    }
    for s in suggestions {
        line(format_args!(
            "# suggestion: the template of {} `{}` (yours, not rewritten) changed:",
            s.repo, s.path
        ))?;
        text(format_args!("{}", s.diff))?;
    }
    status!(
        "warning: {} file(s) you edited were not rewritten, but their template changed; apply the suggestions printed above, or they may not work with the rest of the upgrade:",
        suggestions.len()
    );
    for s in suggestions {
        status!("  - {} `{}`", s.repo, s.path);
    }
    Ok(())
}

/// Names, on stderr, the seeds a removal deletes although their owner edited them: never
/// silently, though git's history keeps them.
fn edited_seed_deletions(changes: &[&Change], writing: bool) {
    if changes.is_empty() {
        return;
    }
    let verb = if writing { "deletes" } else { "would delete" };
    status!(
        "note: this removal {verb} {} file(s) you edited (seeds, yours to tune, that belong to what is removed); git's history keeps what of them was committed:",
        changes.len()
    );
    for change in changes {
        status!("  - {} `{}`", change.repo, change.path);
    }
}

/// Prints a command's outcome on stderr (status, not a result), or as JSON on stdout. Once a
/// change is written, a stdout that fails does not make the command fail: the change is made,
/// and an exit code of 1 would say nothing was.
pub fn outcome(outcome: &Outcome, json: bool) -> io::Result<()> {
    if json {
        let text = serde_json::to_string_pretty(outcome).map_err(io::Error::other)?;
        let printed = line(format_args!("{text}"));
        if let (Err(err), Outcome::Written { .. }) = (&printed, outcome) {
            status!("warning: the change is made, but its outcome could not be printed: {err}");
            return Ok(());
        }
        return printed;
    }
    let shown = outcome.to_string();
    if !shown.is_empty() {
        status!("{shown}");
    }
    Ok(())
}
