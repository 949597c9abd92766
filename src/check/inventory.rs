//! A workspace's inventory: the environments and services of `strata.toml`, and every way
//! the disk disagrees with it (`strata list` prints it; `strata check` reports the drift).
//! It reads; it never writes or prints.

use std::fmt;

use serde::Serialize;

use crate::model::answers::Answers;
use crate::model::platform;
use crate::model::repo::Repo;
use crate::model::settings::Topology;
use crate::model::stack::stacks;
use crate::write::workspace::Workspace;

/// What `strata list` shows (fields in the order of its JSON keys).
#[derive(Debug, Serialize)]
pub struct Inventory {
    pub consistent: bool,
    pub drift: Vec<String>,
    pub environments: Vec<EnvEntry>,
    pub pack: String,
    pub preset: String,
    pub project: String,
    pub platform: Vec<&'static str>,
    pub services: Vec<ServiceEntry>,
    pub topology: Topology,
}

#[derive(Debug, Serialize)]
pub struct EnvEntry {
    pub name: String,
    pub namespace: String,
    pub stack: String,
}

#[derive(Debug, Serialize)]
pub struct ServiceEntry {
    pub envs: Vec<String>,
    pub image: String,
    pub irsa: bool,
    pub name: String,
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "project {} (preset {}, pack {})",
            self.project, self.preset, self.pack
        )?;
        writeln!(f, "environments:")?;
        for env in &self.environments {
            writeln!(f, "  {:<14} stack {}", env.name, env.stack)?;
        }
        writeln!(f, "services:")?;
        if self.services.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for service in &self.services {
            writeln!(
                f,
                "  {:<30} {} in {}",
                service.name,
                service.image,
                service.envs.join(", ")
            )?;
        }
        writeln!(
            f,
            "platform services: {}",
            if self.platform.is_empty() {
                "(none)".to_string()
            } else {
                self.platform.join(", ")
            }
        )?;
        for line in &self.drift {
            writeln!(f, "drift: {line}")?;
        }
        Ok(())
    }
}

/// The environments and services of `strata.toml`, and every way the disk disagrees with it
/// (`strata list` prints them; `strata check` reports the drift).
pub fn inventory(workspace: &Workspace) -> Inventory {
    let answers = &workspace.answers;
    let exists = |repo: Repo, path: &str| workspace.roots[&repo].join(path).exists();
    let mut drift: Vec<String> = Vec::new();

    let stack_of = stacks(answers);
    let mut envs = Vec::new();
    for (index, env) in answers.environments.iter().enumerate() {
        let stack = stack_of
            .iter()
            .find(|s| s.envs.contains(&index))
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let stack_file = format!("Pulumi.{stack}.yaml");
        if !exists(Repo::Foundation, &stack_file) {
            drift.push(format!(
                "environment `{}`: the foundation has no `{stack_file}`",
                env.name
            ));
        }
        if !exists(
            Repo::Gitops,
            &format!("apps/{}/kustomization.yaml", env.name),
        ) {
            drift.push(format!(
                "environment `{}`: the gitops repo has no `apps/{}/`",
                env.name, env.name
            ));
        }
        envs.push(EnvEntry {
            name: env.name.to_string(),
            namespace: env.name.to_string(),
            stack,
        });
    }
    let mut services = Vec::new();
    for (name, service) in &answers.services {
        if !exists(
            Repo::Gitops,
            &format!("services/{name}/base/kustomization.yaml"),
        ) {
            drift.push(format!(
                "service `{name}`: the gitops repo has no `services/{name}/base/`"
            ));
        }
        let service_envs: Vec<&str> = answers
            .env_names()
            .into_iter()
            .filter(|e| service.envs.contains_key(*e))
            .collect();
        for env in &service_envs {
            if !exists(
                Repo::Gitops,
                &format!("services/{name}/overlays/{env}/kustomization.yaml"),
            ) {
                drift.push(format!("service `{name}`: no overlay for `{env}`"));
            }
            if !exists(Repo::Gitops, &format!("apps/{env}/{name}.yaml")) {
                drift.push(format!("service `{name}`: no Application in `apps/{env}/`"));
            }
        }
        services.push(ServiceEntry {
            envs: service_envs.iter().map(|e| e.to_string()).collect(),
            image: format!("{}:{}", service.image, service.tag),
            irsa: service.irsa,
            name: name.to_string(),
        });
    }
    // Directories on disk that the answers do not know.
    for (dir, kind) in [("services", "service"), ("apps", "environment")] {
        if let Ok(entries) = fs_err::read_dir(workspace.roots[&Repo::Gitops].join(dir)) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let known = if kind == "service" {
                    answers.services.contains_key(name.as_str())
                } else {
                    answers.environments.iter().any(|e| e.name == name)
                };
                if !known && entry.path().is_dir() {
                    drift.push(format!(
                        "`{dir}/{name}/` is on disk but `strata.toml` has no {kind} `{name}`"
                    ));
                }
            }
        }
    }
    let platform_dirs: Vec<String> =
        fs_err::read_dir(workspace.roots[&Repo::Gitops].join("platform"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
    drift.extend(platform_drift(
        answers,
        |path| exists(Repo::Gitops, path),
        &platform_dirs,
    ));
    Inventory {
        consistent: drift.is_empty(),
        drift,
        environments: envs,
        pack: answers.pack.clone(),
        preset: answers.preset.clone(),
        platform: platform::enabled(answers)
            .into_iter()
            .map(platform::Component::as_str)
            .collect(),
        project: answers.project.to_string(),
        services,
        topology: answers.settings.network.topology,
    }
}

/// Where the gitops repo disagrees with the answers about the platform services: an
/// Application missing for a service that is on (per stack), or a `platform/<dir>/` that no
/// stack with platform services owns. `exists` tells whether a gitops path exists; `on_disk`
/// lists the directories under `platform/`.
fn platform_drift(
    answers: &Answers,
    exists: impl Fn(&str) -> bool,
    on_disk: &[String],
) -> Vec<String> {
    let on = platform::enabled(answers);
    let stacks: Vec<String> = if on.is_empty() {
        Vec::new()
    } else {
        stacks(answers).into_iter().map(|s| s.name).collect()
    };
    let mut drift = Vec::new();
    for stack in &stacks {
        for component in &on {
            let path = format!("platform/{stack}/apps/{}.yaml", component.as_str());
            if !exists(&path) {
                drift.push(format!(
                    "platform service `{}`: the gitops repo has no `{path}`",
                    component.as_str()
                ));
            }
        }
    }
    for dir in on_disk {
        if !stacks.contains(dir) {
            drift.push(format!(
                "`platform/{dir}/` is on disk but `strata.toml` runs no platform service on a stack `{dir}`"
            ));
        }
    }
    drift
}
