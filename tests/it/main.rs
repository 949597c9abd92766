//! strata's integration tests, linked as one binary: each module is one command or concern,
//! run through the built `strata` binary (assert_cmd) or its library's public surface.

mod common;

mod check;
mod ci;
mod function_length;
mod grow;
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
