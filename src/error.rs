//! The errors that decide the exit code, and the one printer for every error.
//!
//! [`crate::problem::Problems`] (bad input) exits 2; [`Refusal`] (a conflict, a dirty repo, a
//! failure the user can act on) and every other error exit 1. Messages go to stderr as
//! `error: ...`, `  caused by: ...`, then `hint: ...`.

use std::fmt;

use crate::problem::Problems;

/// strata declined to act: nothing was written. Exit code 1.
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub details: Vec<String>,
    pub hint: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        for detail in &self.details {
            write!(f, "\n  - {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// The exit code of an error.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|cause| cause.is::<Problems>()) {
        2
    } else {
        1
    }
}

/// Renders an error for stderr.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err}");
    for cause in err.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    if let Some(refusal) = err.downcast_ref::<Refusal>() {
        out.push_str(&format!("\nhint: {}", refusal.hint));
    }
    if err.chain().any(|cause| cause.is::<Problems>()) {
        out.push_str("\nnothing was written");
    }
    out
}
