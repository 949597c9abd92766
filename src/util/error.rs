//! The errors that decide the exit code, and the one printer for every error.
//!
//! [`crate::util::problem::Problems`] (bad input) exits 2; [`Refusal`] (a conflict, a dirty repo, a
//! failure the user can act on) and every other error exit 1. Messages go to stderr cause
//! first: `error: <the cause>`, then what strata did about it (`  <outcome>`, innermost
//! first), then `hint: ...`, and `nothing was written` once, last.

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

/// Whether a message of an error chain says what strata did about the error (an outcome)
/// rather than what it was doing (an operation, part of the cause).
fn is_outcome(message: &str) -> bool {
    message == NOTHING_WRITTEN
        || message.starts_with("the change was rolled back")
        || message.starts_with("rolling back")
}

/// Renders an error for stderr: the cause first (`operation: ...: root cause`), then the
/// outcomes, innermost first, then the hint, and `nothing was written` once, last.
pub fn render(err: &anyhow::Error) -> String {
    let messages: Vec<String> = err.chain().map(ToString::to_string).collect();
    let (outcomes, cause): (Vec<&String>, Vec<&String>) =
        messages.iter().partition(|m| is_outcome(m));
    let mut nothing_written = err.chain().any(|cause| cause.is::<Problems>());
    let cause: Vec<&str> = cause.iter().map(|m| m.as_str()).collect();
    let mut out = format!("error: {}", cause.join(": "));
    for outcome in outcomes.iter().rev() {
        if *outcome == NOTHING_WRITTEN {
            nothing_written = true;
        } else {
            out.push_str(&format!("\n  {outcome}"));
        }
    }
    if let Some(refusal) = err.downcast_ref::<Refusal>() {
        out.push_str(&format!("\nhint: {}", refusal.hint));
    }
    if nothing_written {
        out.push_str(&format!("\n{NOTHING_WRITTEN}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_comes_first_and_nothing_was_written_last_once() {
        let err = anyhow::anyhow!("permission denied")
            .context("creating `x`")
            .context("the change was rolled back in both repos")
            .context(NOTHING_WRITTEN);
        assert_eq!(
            render(&err),
            "error: creating `x`: permission denied\n  the change was rolled back in both repos\nnothing was written"
        );
    }
}
