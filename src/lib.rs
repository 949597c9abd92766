//! strata: scaffold and grow an AWS EKS platform as two git repositories.
//!
//! The pipeline is `cli -> settings -> render -> plan -> apply (+ git)`: clap structs are turned
//! into validated [`answers::Answers`], rendered in memory ([`render`]), compared with the disk
//! and the lock ([`plan`]) and written by the one writer ([`apply`]).

pub mod check;
pub mod cli;
pub mod commands;
pub mod edit;
pub mod git;
pub mod jobs;
pub mod migrate;
pub mod model;
pub mod plan;
pub mod render;
pub mod util;
pub mod write;
