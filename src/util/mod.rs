//! The ground floor: helpers every stage uses and that know nothing of strata's model. Nothing
//! here imports a module of strata outside `util/`.
//!
//! `fs` holds the low-level file operations (atomic writes, directory flushes, removing the
//! directories a removal leaves empty), `fault` the fault injection of the tests
//! (`STRATA_FAULT`), `term` the one way to stdout and stderr that never panics, `problem` the
//! problems of bad input (exit 2, all reported at once) and `error` the refusals (exit 1),
//! the exit codes and the one text of every error.

pub(crate) mod error;
pub(crate) mod fault;
pub(crate) mod fs;
pub(crate) mod problem;
pub(crate) mod term;
pub(crate) mod yaml;
