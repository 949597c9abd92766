//! The ground floor: helpers every stage uses and that know nothing of strata's model. Nothing
//! here imports a module of strata outside `util/`.
//!
//! `fs` holds the low-level file operations (atomic writes, directory flushes, removing the
//! directories a removal leaves empty), `fault` the fault injection of the tests
//! (`STRATA_FAULT`), `term` the one way to stdout and stderr that never panics, `problem` the
//! problems of bad input (exit 2, all reported at once) and `error` the refusals (exit 1),
//! the exit codes and the one text of every error.

pub mod error;
pub mod fault;
pub mod fs;
pub mod problem;
pub mod term;
pub mod yaml;
