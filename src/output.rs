//! Results on stdout, written so that a closed pipe (`strata list | head -1`) is an error the
//! caller can see, not a panic.
//!
//! `println!` panics when stdout is gone. Commands print results with [`outln!`] and [`out!`]
//! instead, which return the `io::Error`; `main` ends quietly on a broken pipe (exit 0, as
//! ripgrep does). Status lines and errors go to stderr with [`status!`], which drops a write
//! that fails: `eprintln!` would panic on a closed stderr, possibly in the middle of a change.

use std::fmt;
use std::io::{self, Write as _};

/// Writes formatted text and a line feed to stdout.
pub fn line(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.write_all(b"\n")
}

/// Writes formatted text to stdout.
pub fn text(args: fmt::Arguments<'_>) -> io::Result<()> {
    io::stdout().lock().write_fmt(args)
}

/// Whether an error comes from writing to a reader that went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|err| err.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that returns an `io::Result` instead of panicking on a closed stdout.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Writes formatted text and a line feed to stderr, ignoring a stderr that is gone.
pub fn status_line(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// `eprintln!` that never panics: a status line is not worth a crash when stderr is closed.
#[macro_export]
macro_rules! status {
    ($($arg:tt)*) => {
        $crate::output::status_line(format_args!($($arg)*))
    };
}

/// `print!` that returns an `io::Result` instead of panicking on a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::text(format_args!($($arg)*))
    };
}

/// Prints the unified diff of every change that writes, removes or conflicts, each under the
/// name of its repo: the one dry-run format of every command.
pub fn diffs(changes: &[crate::plan::Change]) -> io::Result<()> {
    use crate::plan::Action;
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
pub fn suggestions(suggestions: &[crate::plan::Suggestion]) -> io::Result<()> {
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
    crate::status!(
        "warning: {} file(s) you edited were not rewritten, but their template changed; apply the suggestions printed above, or they may not work with the rest of the upgrade:",
        suggestions.len()
    );
    for s in suggestions {
        crate::status!("  - {} `{}`", s.repo, s.path);
    }
    Ok(())
}

/// Names, on stderr, the seeds a removal deletes although their owner edited them: never
/// silently, though git's history keeps them.
pub fn edited_seed_deletions(changes: &[&crate::plan::Change], writing: bool) {
    if changes.is_empty() {
        return;
    }
    let verb = if writing { "deletes" } else { "would delete" };
    crate::status!(
        "note: this removal {verb} {} file(s) you edited (seeds, yours to tune, that belong to what is removed); git's history keeps what of them was committed:",
        changes.len()
    );
    for change in changes {
        crate::status!("  - {} `{}`", change.repo, change.path);
    }
}

/// Prints a command's outcome on stderr (status, not a result), or as JSON on stdout. Once a
/// change is written, a stdout that fails does not make the command fail: the change is made,
/// and an exit code of 1 would say nothing was.
pub fn outcome(outcome: &crate::edit::Outcome, json: bool) -> io::Result<()> {
    if json {
        let text = serde_json::to_string_pretty(outcome).map_err(io::Error::other)?;
        let printed = line(format_args!("{text}"));
        if let (Err(err), crate::edit::Outcome::Written { .. }) = (&printed, outcome) {
            crate::status!(
                "warning: the change is made, but its outcome could not be printed: {err}"
            );
            return Ok(());
        }
        return printed;
    }
    let shown = outcome.to_string();
    if !shown.is_empty() {
        crate::status!("{shown}");
    }
    Ok(())
}
