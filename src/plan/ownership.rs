//! Ownership: which directories belong to a service or an environment, derived from the
//! template paths and the answers, never from a path's text.
//!
//! A template directory whose own name is exactly a placeholder belongs to that placeholder's
//! value: `services/__service__/` to a service, `apps/__env__/` to an environment, and
//! `services/__service__/overlays/__env__/` to one environment of one service. Removing a
//! service or an environment takes the instances of the shortest such directory for its kind,
//! expanded with the other placeholders' values under the answers before the removal. A
//! service named `dev` therefore keeps `services/dev/` when the environment `dev` goes, and a
//! service named `apps` never reaches `apps/`. Pure: templates and answers in, paths out.

use std::collections::BTreeSet;

use crate::model::answers::Answers;
use crate::model::repo::Repo;
use crate::model::settings::Topology;
use crate::model::stack::stacks;
use crate::render::Scope;

const SERVICE: &str = "__service__";
const ENV: &str = "__env__";
const STACK: &str = "__stack__";

/// The directories, per repo, that a removal deletes whole: `old` holds the removed service or
/// environment, `new` no longer does. Nothing for an addition.
pub fn removed_dirs(
    templates: &[(Repo, &str)],
    old: &Answers,
    new: &Answers,
    scope: &Scope,
) -> BTreeSet<(Repo, String)> {
    let mut out = BTreeSet::new();
    // The last platform service turned off: each cluster's `platform/<stack>/` goes whole.
    let platform_tree = templates
        .iter()
        .any(|(repo, t)| *repo == Repo::Gitops && t.starts_with("platform/__stack__/"));
    if platform_tree
        && !crate::model::platform::enabled(old).is_empty()
        && crate::model::platform::enabled(new).is_empty()
    {
        for stack in crate::model::stack::stacks(old) {
            out.insert((Repo::Gitops, format!("platform/{}", stack.name)));
        }
    }
    let (kind, name) = match scope {
        Scope::Service(name)
            if old.services.contains_key(name.as_str())
                && !new.services.contains_key(name.as_str()) =>
        {
            (SERVICE, name.as_str())
        }
        Scope::Env(name)
            if old.environments.iter().any(|e| &e.name == name)
                && !new.environments.iter().any(|e| &e.name == name) =>
        {
            (ENV, name.as_str())
        }
        _ => return out,
    };
    // The stack named after a removed environment is its own only with a cluster per
    // environment; a shared stack stays.
    let own_stack = kind == ENV && old.settings.network.topology == Topology::PerEnvironment;
    for (repo, template) in templates {
        let parts: Vec<&str> = template.split('/').collect();
        // The last component is a file: only directories are owned whole.
        let Some(index) = parts[..parts.len().saturating_sub(1)]
            .iter()
            .position(|part| *part == kind || (own_stack && *part == STACK))
        else {
            continue;
        };
        for dir in expand(&parts[..=index], old, kind, name) {
            out.insert((*repo, dir));
        }
    }
    out
}

/// Every instance of a directory template whose last component is the removed kind's
/// placeholder, with that placeholder bound to `name` and the others to the values that go
/// with it under `answers`.
fn expand(parts: &[&str], answers: &Answers, kind: &str, name: &str) -> Vec<String> {
    let has = |placeholder: &str| parts.iter().any(|p| p.contains(placeholder));
    let services: Vec<&str> = if kind == SERVICE {
        vec![name]
    } else if has(SERVICE) {
        answers
            .services
            .iter()
            .filter(|(_, s)| s.envs.contains_key(name))
            .map(|(n, _)| n.as_str())
            .collect()
    } else {
        vec![""]
    };
    let envs: Vec<&str> = if kind == ENV {
        vec![name]
    } else if has(ENV) {
        answers.services[name]
            .envs
            .keys()
            .map(|e| e.as_str())
            .collect()
    } else {
        vec![""]
    };
    let stack_names: Vec<String> = if has(STACK) {
        match kind {
            // The stack of the removed environment (cluster-per-environment) is named after it.
            ENV => vec![name.to_string()],
            _ => stacks(answers).into_iter().map(|s| s.name).collect(),
        }
    } else {
        vec![String::new()]
    };
    let mut out = Vec::new();
    for service in &services {
        for env in &envs {
            for stack in &stack_names {
                let path: Vec<String> = parts
                    .iter()
                    .map(|part| {
                        part.replace(SERVICE, service)
                            .replace(ENV, env)
                            .replace(STACK, stack)
                    })
                    .collect();
                out.push(path.join("/"));
            }
        }
    }
    out
}
