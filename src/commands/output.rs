//! What an edit found and did, printed: the diffs of a dry run, an upgrade's suggestions, the
//! note on edited seeds a removal deletes ([`Printer`], the commands' [`Reporter`]), and a
//! command's [`Outcome`]. The edit returns data; only the commands print it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::edit::{Outcome, Reporter};
use crate::plan::{Action, Change, Suggestion};
use crate::util::term::status;
use crate::util::term::{line, text};

/// Whether the command prints JSON (`--json`): then stdout holds one JSON document, printed
/// by `commands::run` at the end, and nothing else.
static JSON: AtomicBool = AtomicBool::new(false);

/// The result of a command under `--json`, kept for the envelope.
static RESULT: Mutex<Option<serde_json::Value>> = Mutex::new(None);

/// Sets whether the command prints JSON.
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::SeqCst);
}

fn json_mode() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// Keeps a command's result for the JSON envelope (`--json`).
pub fn set_result(value: &impl serde::Serialize) -> io::Result<()> {
    let value = serde_json::to_value(value).map_err(io::Error::other)?;
    *RESULT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
    Ok(())
}

/// The one JSON document of a command under `--json` (docs/json.md,
/// docs/strata-output.schema.json): the same top level for every command, its result, and
/// the error of a command that failed (exit 1 or 2).
pub fn envelope(command: &str, code: i32, error: Option<&anyhow::Error>) -> serde_json::Value {
    let result = RESULT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    serde_json::json!({
        "strata": env!("CARGO_PKG_VERSION"),
        "command": command,
        "ok": code == 0,
        "exit_code": code,
        "result": result,
        "error": error.map(crate::util::error::to_json),
    })
}

/// Prints a command's envelope on stdout; a stdout that fails is said on stderr, and does not
/// change the exit code (a change that is made stays made).
pub fn print_envelope(command: &str, code: i32, error: Option<&anyhow::Error>) {
    let value = envelope(command, code, error);
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    if let Err(err) = line(format_args!("{text}")) {
        if value["result"]["outcome"] == "written" {
            status!("warning: the change is made, but its outcome could not be printed: {err}");
        } else if err.kind() != io::ErrorKind::BrokenPipe {
            status!("warning: the JSON output could not be printed: {err}");
        }
    }
}

/// Prints what an edit reports, as it reports it. Under `--json`, stdout is the JSON
/// document's alone: diffs go nowhere (the result lists every file), suggestions are named on
/// stderr.
pub struct Printer;

impl Reporter for Printer {
    fn suggestions(&mut self, found: &[Suggestion]) -> io::Result<()> {
        if json_mode() {
            for s in found {
                status!("note: the template of {} `{}` (yours, not rewritten) changed; run without `--json` to see the suggested change", s.repo, s.path);
            }
            return Ok(());
        }
        suggestions(found)
    }

    fn diffs(&mut self, changes: &[Change]) -> io::Result<()> {
        if json_mode() {
            return Ok(());
        }
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

/// Prints a command's outcome on stderr (status, not a result), or keeps it for the JSON
/// envelope (`--json`), which `commands::run` prints last.
pub fn outcome(outcome: &Outcome, json: bool) -> io::Result<()> {
    if json || json_mode() {
        return set_result(outcome);
    }
    let shown = outcome.to_string();
    if !shown.is_empty() {
        status!("{shown}");
    }
    Ok(())
}
