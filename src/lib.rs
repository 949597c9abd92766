//! strata: scaffold and grow an AWS EKS platform as two git repositories.
//!
//! The pipeline is `cli -> settings -> render -> plan -> apply (+ git)`: clap structs are turned
//! into validated [`answers::Answers`], rendered in memory ([`render`]), compared with the disk
//! and the lock ([`plan`]) and written by the one writer ([`apply`]).

pub mod answers;
pub mod apply;
pub mod base;
pub mod check;
pub mod cli;
pub mod commands;
pub mod confine;
pub mod edit;
pub mod error;
pub mod git;
pub mod grow;
pub mod interrupt;
pub mod inventory;
pub mod journal;
pub mod lock;
pub mod merge;
pub mod merge3;
pub mod migrate;
pub mod names;
pub mod overrides;
pub mod ownership;
pub mod pack;
pub mod plan;
pub mod platform;
pub mod problem;
pub mod render;
pub mod repo;
pub mod resolve;
pub mod settings;
pub mod stack_export;
pub mod util;
pub mod workspace;
pub mod wslock;
pub mod yaml;
