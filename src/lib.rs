//! strata: scaffold and grow an AWS EKS platform as two git repositories.
//!
//! The pipeline is `cli -> jobs -> render -> plan -> write (+ git)`, run by `edit` for every
//! command that writes: clap structs are turned into validated answers (`jobs/`, `model/`),
//! rendered in memory (`render/`), compared with the disk and the lock (`plan/`) and written by
//! the one writer (`write/`). Each folder imports only folders below it; `ARCHITECTURE.md`
//! draws the floors.

mod check;
mod cli;
mod commands;
mod edit;
mod git;
mod jobs;
mod migrate;
mod model;
mod plan;
mod render;
mod util;
mod write;

pub use cli::Cli;
pub use commands::{print_usage_error_json, run};

// What the integration tests and the benches reach into, besides the binary: parsers that must
// never panic, the stack-export check, a workspace's bookkeeping. Everything else stays inside
// the crate, so that the compiler reports what nothing uses.
pub use check::manifests::objects_in as manifest_objects;
pub use check::state::check as check_stack_export;
pub use check::Source as CheckSource;
pub use model::answers::Answers;
pub use model::lock::Lock;
pub use model::names::{
    parse_domain, parse_git_base, parse_key_value, parse_region, EnvName, ServiceName,
};
pub use model::settings::apply_overrides;
pub use model::stack_export::StackExport;
pub use model::values::{Cpu, HostPattern, Image, Memory};
pub use render::quote::quote as quote_yaml;
pub use util::fs::write_atomic;
pub use util::yaml::parse as parse_yaml;
pub use write::workspace::Workspace;
