//! Fault injection for tests: the environment variable `STRATA_FAULT` names one failure to
//! inject. This module only reads it; the code that fails or pauses asks here.
//!
//! `after-writes:N` fails after N file operations, `between-repos` after the first repo is
//! written, `before-move` before `new` moves its staging directory into place, `commit:<repo>`
//! fails the commit of that repo, and `pause-at:N` / `count-steps` stop before a step or count
//! the steps of a run (see `write/interrupt.rs`).

use anyhow::{bail, Result};

/// The fault injected through `STRATA_FAULT`, if any.
pub fn fault() -> Option<String> {
    std::env::var("STRATA_FAULT").ok().filter(|v| !v.is_empty())
}

/// Fails with a clear message when the named fault is injected.
pub fn maybe_fail(point: &str) -> Result<()> {
    if fault().as_deref() == Some(point) {
        bail!("injected fault `{point}` (STRATA_FAULT)");
    }
    Ok(())
}

/// `after-writes:N`: the number of file operations after which to fail.
pub fn fail_after() -> Option<usize> {
    fault().and_then(|f| f.strip_prefix("after-writes:").and_then(|n| n.parse().ok()))
}
