//! The disk of a workspace: the only folder that writes to a repo, and the reading that must be
//! safe from it.
//!
//! `apply` is the one writer (atomic, journaled, both repos or neither; `strata new` through a
//! staging directory); `journal` is its write-ahead log and the recovery of an interrupted run;
//! `interrupt` rolls a change back on a signal; `wslock` keeps one strata at a time on a
//! workspace; `confine` refuses symbolic links and special files on every path; `workspace`
//! opens both repos (under the lock, after recovery) and reads them as git stores them; `error`
//! types what can fail, by path and repo. Plans come in from `plan/`; nothing here decides
//! what a file should hold.

pub(crate) mod apply;
mod confine;
pub(crate) mod create;
pub(crate) mod error;
pub(crate) mod interrupt;
mod journal;
pub(crate) mod workspace;
mod wslock;
