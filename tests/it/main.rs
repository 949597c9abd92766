//! strata's integration tests, linked as one binary: each module is one command or concern,
//! run through the built `strata` binary (assert_cmd) or its library's public surface.

mod common;

mod accounts;
mod boundary;
mod check;
mod ci;
mod cli_docs;
mod commits;
mod exit_codes;
mod function_length;
mod git_setups;
mod grow;
mod json;
mod migrate;
mod new;
mod no_panics;
mod overrides;
mod platform;
mod prompt;
mod revise;
mod safety;
mod shared_files;
mod snapshots;
mod upgrade;
