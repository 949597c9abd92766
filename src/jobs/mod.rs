//! The settings step and the jobs: what a command asks for, turned into new answers before
//! anything is rendered. Every problem of the input is collected and reported at once (exit 2).
//!
//! `resolve` turns each command's clap arguments into typed input (the answers of `strata new`,
//! a service's values, `--templates DIR`); `grow` applies the jobs that change the answers (add
//! or remove a service or an environment, carry them to this strata for `upgrade`); `platform`
//! turns a platform service on or off; `revise` changes what exists (`strata set`, `strata edit
//! service`). Nothing here renders, plans or writes a workspace.

pub(crate) mod grow;
pub(crate) mod platform;
mod questions;
pub(crate) mod resolve;
pub(crate) mod revise;
