//! Interrupts: SIGINT, SIGTERM, SIGHUP and SIGQUIT (Ctrl-\\) roll a change back at once, then
//! exit 130, 143, 129 or 131.
//!
//! A thread waits for the signals. Every change to the disk runs as a [`step`] under one
//! read-write lock, which also holds what is in flight ([`Active`]): the journaled repos of
//! `add` or `remove`, or the staging directory of `new`. Steps share the lock (the two writer
//! threads of `new` run theirs at once); on a signal the thread takes it alone, so every step
//! under way finishes first and no further step starts, undoes what is in flight from the
//! on-disk journal (the same code as the next command's recovery), and exits.
//!
//! For tests, `STRATA_FAULT=pause-at:N` stops the process just before step `N` (counting from
//! 0) and prints `strata: paused before step N` on stderr, so that a test can kill it there;
//! `STRATA_FAULT=count-steps` prints how many steps a run took.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::model::repo::Repo;
use crate::util::term::status;

/// What a signal must undo.
#[derive(Debug, Clone)]
pub enum Active {
    /// A journaled change to both repos of a workspace.
    Change(BTreeMap<Repo, PathBuf>),
    /// The staging directory of `strata new`, and the directories `new` created for `--out`
    /// (the deepest first), removed with it when they are empty.
    Staging(PathBuf, Vec<PathBuf>),
}

static ACTIVE: RwLock<Option<Active>> = RwLock::new(None);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static STEPS: AtomicUsize = AtomicUsize::new(0);

/// The lock alone: to change what is in flight, or to undo it.
fn active() -> RwLockWriteGuard<'static, Option<Active>> {
    ACTIVE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lock shared with other steps: what a step holds while it runs.
fn shared() -> RwLockReadGuard<'static, Option<Active>> {
    ACTIVE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pause_at() -> Option<usize> {
    static PAUSE: OnceLock<Option<usize>> = OnceLock::new();
    *PAUSE.get_or_init(|| {
        crate::util::fault::fault()
            .and_then(|f| f.strip_prefix("pause-at:").and_then(|n| n.parse().ok()))
    })
}

fn wait_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Runs one change to the disk, unless an interrupt is being handled (then it never returns:
/// the handler exits the process).
pub fn step<T>(f: impl FnOnce() -> T) -> T {
    let number = STEPS.fetch_add(1, Ordering::SeqCst);
    if pause_at() == Some(number) {
        status!("strata: paused before step {number} (STRATA_FAULT)");
        wait_forever();
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        wait_forever();
    }
    let guard = shared();
    if INTERRUPTED.load(Ordering::SeqCst) {
        drop(guard);
        wait_forever();
    }
    let result = f();
    drop(guard);
    result
}

/// The number of steps run so far.
pub fn steps() -> usize {
    STEPS.load(Ordering::SeqCst)
}

/// Records what is in flight (or that nothing is).
pub fn set_active(value: Option<Active>) {
    *active() = value;
}

/// Runs `f` while no interrupt can start undoing what is in flight, then records `after`.
pub fn exclusive<T>(after: Option<Active>, f: impl FnOnce() -> T) -> T {
    let mut guard = active();
    let result = f();
    *guard = after;
    result
}

/// Starts the thread that handles SIGINT, SIGTERM, SIGHUP and SIGQUIT. Call once, early in
/// `main`.
#[cfg(unix)]
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
    std::thread::Builder::new()
        .name("strata-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                handle(signal);
            }
        })?;
    Ok(())
}

#[cfg(not(unix))]
pub fn install() -> std::io::Result<()> {
    Ok(())
}

fn handle(signal: i32) -> ! {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let guard = active();
    let name = match signal {
        2 => "SIGINT",
        15 => "SIGTERM",
        1 => "SIGHUP",
        3 => "SIGQUIT",
        _ => "a signal",
    };
    match &*guard {
        Some(Active::Change(roots)) => match crate::write::journal::recover(roots) {
            Ok(Some(recovery)) if recovery.completed => {
                status!("strata: interrupted ({name}) after the change was made in both repos; it is kept");
            }
            Ok(_) => status!(
                "strata: interrupted ({name}); rolled back both repos to before this run"
            ),
            Err(err) => status!(
                "strata: interrupted ({name}); rolling back failed: {}\nhint: the next strata command in this workspace will finish the rollback",
                crate::util::error::cause_text(&err)
            ),
        },
        Some(Active::Staging(dir, created)) => {
            let _ = fs_err::remove_dir_all(dir);
            crate::util::fs::remove_empty(created);
            status!("strata: interrupted ({name}); nothing was written");
        }
        None => status!("strata: interrupted ({name})"),
    }
    std::process::exit(128 + signal)
}
