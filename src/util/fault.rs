//! Fault injection for tests: the environment variable `STRATA_FAULT` names one failure to
//! inject. This module only reads it; the code that fails or pauses asks here.
//!
//! `after-writes:N` fails after N file operations, `between-repos` after the first repo is
//! written, `before-move` before `new` moves its staging directory into place, `commit:<repo>`
//! fails the commit of that repo, and `pause-at:N` / `count-steps` stop before a step or count
//! the steps of a run (see `write/interrupt.rs`). `hold:between-repos:<file>` waits after the
//! first repo is written until `<file>` exists, so that a test can change the second repo
//! under a running change; nothing fails there but what really fails.

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

/// At `hold:<point>:<file>`, says so on stderr and waits until `file` exists (a minute at
/// most).
pub fn maybe_hold(point: &str) {
    let Some(fault) = fault() else {
        return;
    };
    let Some((held, release)) = fault
        .strip_prefix("hold:")
        .and_then(|rest| rest.split_once(':'))
    else {
        return;
    };
    if held != point {
        return;
    }
    crate::util::term::status!("strata: holding at `{point}` (STRATA_FAULT)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::path::Path::new(release).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `after-writes:N`: the number of file operations after which to fail.
pub fn fail_after() -> Option<usize> {
    fault().and_then(|f| f.strip_prefix("after-writes:").and_then(|n| n.parse().ok()))
}
