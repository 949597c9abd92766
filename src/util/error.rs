//! The errors that decide the exit code, and the one printer for every error.
//!
//! [`crate::util::problem::Problems`] (bad input) exits 2; [`Refusal`] (a conflict, a dirty repo, a
//! failure the user can act on) and every other error exit 1. Messages go to stderr cause
//! first: `error: <the cause>`, then what strata did about it (the [`Outcome`] of a
//! [`Stopped`] change), then `hint: ...`, and `nothing was written` once, last. What strata
//! did is a type, not a phrase: the printer never reads an error's text to tell a cause from
//! an outcome.

use crate::util::problem::Problems;

/// strata declined to act: nothing was written. Exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", details.iter().map(|d| format!("\n  - {d}")).collect::<String>())]
pub struct Refusal {
    pub message: String,
    pub details: Vec<String>,
    pub hint: String,
}

/// The exit code of an error.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|cause| cause.is::<Problems>()) {
        2
    } else {
        1
    }
}

/// What strata says when it wrote nothing; printed once, last.
pub const NOTHING_WRITTEN: &str = "nothing was written";

/// What strata did about an error that stopped a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It stopped before writing anything (`strata new`: nothing is left behind).
    NothingWritten,
    /// It stopped before changing either repo of the workspace.
    NothingChanged,
    /// It had begun writing, and undid every write in both repos.
    RolledBack,
    /// It undid every write but these, which someone changed since (each names its repo).
    RolledBackExcept(Vec<String>),
    /// Undoing failed too, for this reason (cause first): the journal is kept.
    RollbackFailed(String),
    /// Undoing an interrupted run failed: its journal is kept for the next run.
    JournalKept,
}

/// What the next strata run does with a journal a rollback could not finish.
const JOURNAL_KEPT: &str =
    "its journal is kept: fix the cause and run strata again to finish the rollback";

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::NothingWritten => write!(f, "{NOTHING_WRITTEN}"),
            Outcome::NothingChanged => write!(f, "nothing was changed"),
            Outcome::RolledBack => write!(f, "every write was rolled back, in both repos"),
            Outcome::RolledBackExcept(kept) => write!(
                f,
                "rolled back in both repos, except what changed since: {}",
                kept.join("; ")
            ),
            Outcome::RollbackFailed(why) => write!(f, "rolling back failed too: {why}"),
            Outcome::JournalKept => write!(f, "{JOURNAL_KEPT}"),
        }
    }
}

/// An error that stopped a change, and what strata did about it. Its own text is the outcome;
/// its cause is its source, so [`render`] says the cause first.
#[derive(Debug, thiserror::Error)]
#[error("{outcome}")]
pub struct Stopped {
    pub outcome: Outcome,
    #[source]
    pub cause: anyhow::Error,
}

impl Stopped {
    /// `cause`, stopped with `outcome`.
    pub fn error(outcome: Outcome, cause: impl Into<anyhow::Error>) -> anyhow::Error {
        Stopped {
            outcome,
            cause: cause.into(),
        }
        .into()
    }
}

/// The cause of an error, outermost operation first: `operation: ...: root cause`, without
/// what strata did about it.
pub fn cause_text(err: &anyhow::Error) -> String {
    err.chain()
        .filter(|e| !e.is::<Stopped>())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Renders an error for stderr: the cause first (`operation: ...: root cause`), then what
/// strata did about it, then the hint, and `nothing was written` once, last.
pub fn render(err: &anyhow::Error) -> String {
    let outcome = err
        .chain()
        .find_map(|e| e.downcast_ref::<Stopped>())
        .map(|stopped| &stopped.outcome);
    let mut nothing_written = err.chain().any(|cause| cause.is::<Problems>());
    let mut out = format!("error: {}", cause_text(err));
    match outcome {
        None => {}
        Some(Outcome::NothingWritten) => nothing_written = true,
        Some(Outcome::NothingChanged) => out.push_str(": nothing was changed"),
        Some(Outcome::RolledBack) => {
            out.push_str(&format!(": nothing was changed\n  {}", Outcome::RolledBack));
        }
        Some(Outcome::RolledBackExcept(kept)) => {
            out.push_str("\n  rolled back in both repos, except what changed since:");
            for line in kept {
                out.push_str(&format!("\n  - {line}"));
            }
        }
        Some(Outcome::RollbackFailed(why)) => {
            out.push_str(&format!(
                "\n  rolling back failed too: {why}\n  {JOURNAL_KEPT}"
            ));
        }
        Some(Outcome::JournalKept) => out.push_str(&format!("\n  {JOURNAL_KEPT}")),
    }
    if let Some(refusal) = err.chain().find_map(|e| e.downcast_ref::<Refusal>()) {
        out.push_str(&format!("\nhint: {}", refusal.hint));
    }
    if nothing_written {
        out.push_str(&format!("\n{NOTHING_WRITTEN}"));
    }
    out
}

/// An error as the JSON of `--json` (docs/json.md): its kind (`bad-input`, exit 2; `refused`
/// or `failed`, exit 1), the cause, every problem of bad input, a refusal's details and hint,
/// and what strata did about it.
pub fn to_json(err: &anyhow::Error) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = err
        .chain()
        .find_map(|e| e.downcast_ref::<Problems>())
        .map(|problems| {
            problems
                .0
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "subject": p.subject,
                        "message": p.message,
                        "hint": p.hint,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let refusal = err.chain().find_map(|e| e.downcast_ref::<Refusal>());
    let outcome =
        err.chain()
            .find_map(|e| e.downcast_ref::<Stopped>())
            .map(|stopped| match &stopped.outcome {
                Outcome::NothingWritten => "nothing-written",
                Outcome::NothingChanged => "nothing-changed",
                Outcome::RolledBack => "rolled-back",
                Outcome::RolledBackExcept(_) => "rolled-back-except",
                Outcome::RollbackFailed(_) => "rollback-failed",
                Outcome::JournalKept => "journal-kept",
            });
    // Bad input and a refusal write nothing; a stopped change says what it did.
    let outcome =
        outcome.or((!problems.is_empty() || refusal.is_some()).then_some("nothing-written"));
    let kind = if !problems.is_empty() {
        "bad-input"
    } else if refusal.is_some() {
        "refused"
    } else {
        "failed"
    };
    let message = match refusal {
        Some(refusal) if err.chain().count() == 1 => refusal.message.clone(),
        _ => cause_text(err)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    serde_json::json!({
        "kind": kind,
        "message": message,
        "problems": problems,
        "details": refusal.map(|r| r.details.clone()).unwrap_or_default(),
        "hint": refusal.map(|r| r.hint.clone()),
        "outcome": outcome,
        "text": render(err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_comes_first_then_what_strata_did() {
        let cause =
            anyhow::anyhow!("permission denied").context("writing `apps/dev/web.yaml` (gitops)");
        assert_eq!(
            render(&Stopped::error(Outcome::RolledBack, cause)),
            "error: writing `apps/dev/web.yaml` (gitops): permission denied: nothing was changed\n  every write was rolled back, in both repos"
        );
        let cause = anyhow::anyhow!("`apps/dev/web.yaml` is not a regular file (gitops)");
        assert_eq!(
            render(&Stopped::error(Outcome::NothingChanged, cause)),
            "error: `apps/dev/web.yaml` is not a regular file (gitops): nothing was changed"
        );
    }

    #[test]
    fn nothing_was_written_comes_last_once() {
        let err = Stopped::error(
            Outcome::NothingWritten,
            anyhow::anyhow!("permission denied").context("creating `x`"),
        )
        .context("making the workspace");
        assert_eq!(
            render(&err),
            "error: making the workspace: creating `x`: permission denied\nnothing was written"
        );
    }

    #[test]
    fn a_failed_rollback_says_why_and_that_the_journal_is_kept() {
        let err = Stopped::error(
            Outcome::RollbackFailed("rolling back the gitops repo: busy".into()),
            anyhow::anyhow!("injected fault `between-repos` (STRATA_FAULT)"),
        );
        assert_eq!(
            render(&err),
            "error: injected fault `between-repos` (STRATA_FAULT)\n  rolling back failed too: rolling back the gitops repo: busy\n  its journal is kept: fix the cause and run strata again to finish the rollback"
        );
    }
}
