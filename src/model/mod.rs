//! The model: what strata knows about a workspace, as types that parse and validate their own
//! input. Nothing here reads or writes a workspace, renders or plans.
//!
//! `names` (the newtypes every renderer trusts and every derived name), `values` (a service's
//! values, each parsed once into a type), `settings` (a preset with its `--set` overrides),
//! `region` (the AWS regions), `answers` (`strata.toml`), `stack` (the Pulumi stacks the
//! answers make), `lock` (`strata.lock` and its hashes), `repo` (which of the two repos),
//! `pack` (the embedded packs and presets, the only module that imports `include_dir`) and
//! `stack_export` (the format of `pulumi stack export`); `pod_security` (what a pod may do in
//! an environment's namespace).

pub(crate) mod answers;
pub(crate) mod lock;
pub(crate) mod names;
pub(crate) mod pack;
pub(crate) mod platform;
pub(crate) mod pod_security;
pub(crate) mod region;
pub(crate) mod repo;
pub(crate) mod settings;
pub(crate) mod stack;
pub(crate) mod stack_export;
pub(crate) mod values;
