//! `strata list`, `strata presets` and `strata packs`: read-only listings.

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::{ListArgs, PresetsArgs};
use crate::pack;
use crate::render::stacks;
use crate::repo::Repo;
use crate::settings::leaf_keys;
use crate::workspace::Workspace;

pub fn run(args: &ListArgs) -> Result<()> {
    let workspace = Workspace::open(&args.dir)?;
    let answers = &workspace.answers;
    let (envs, services, drift) = inventory(&workspace);
    let platform: Vec<&str> = crate::platform::enabled(answers)
        .into_iter()
        .map(crate::platform::Component::as_str)
        .collect();
    if args.json {
        let out = json!({
            "project": answers.project,
            "preset": answers.preset,
            "pack": answers.pack,
            "topology": answers.settings.network.topology,
            "environments": envs,
            "services": services,
            "platform": platform,
            "consistent": drift.is_empty(),
            "drift": drift,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        crate::outln!(
            "project {} (preset {}, pack {})",
            answers.project,
            answers.preset,
            answers.pack
        )?;
        crate::outln!("environments:")?;
        for env in &envs {
            crate::outln!(
                "  {:<14} stack {}",
                env["name"].as_str().unwrap_or_default(),
                env["stack"].as_str().unwrap_or_default()
            )?;
        }
        crate::outln!("services:")?;
        if services.is_empty() {
            crate::outln!("  (none)")?;
        }
        for service in &services {
            let envs: Vec<&str> = service["envs"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            crate::outln!(
                "  {:<30} {} in {}",
                service["name"].as_str().unwrap_or_default(),
                service["image"].as_str().unwrap_or_default(),
                envs.join(", ")
            )?;
        }
        crate::outln!(
            "platform services: {}",
            if platform.is_empty() {
                "(none)".to_string()
            } else {
                platform.join(", ")
            }
        )?;
        for line in &drift {
            crate::outln!("drift: {line}")?;
        }
    }
    if drift.is_empty() {
        Ok(())
    } else {
        Err(crate::error::Refusal {
            message: format!(
                "the workspace has drifted from `strata.toml` ({} finding(s))",
                drift.len()
            ),
            details: drift,
            hint: "restore the missing files from git, or remove what strata no longer knows"
                .to_string(),
        }
        .into())
    }
}

/// The environments and services of `strata.toml`, and every way the disk disagrees with it
/// (`strata list` prints them; `strata check` reports the drift).
pub(crate) fn inventory(workspace: &Workspace) -> (Vec<Value>, Vec<Value>, Vec<String>) {
    let answers = &workspace.answers;
    let exists = |repo: Repo, path: &str| workspace.roots[&repo].join(path).exists();
    let mut drift: Vec<String> = Vec::new();

    let stack_of = stacks(answers);
    let mut envs = Vec::new();
    for (index, env) in answers.environments.iter().enumerate() {
        let stack = stack_of
            .iter()
            .find(|s| s.3.contains(&index))
            .map(|s| s.0.clone())
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
        envs.push(json!({"name": env.name, "stack": stack, "namespace": env.name}));
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
        services.push(json!({"name": name, "image": format!("{}:{}", service.image, service.tag), "envs": service_envs, "irsa": service.irsa}));
    }
    // Directories on disk that the answers do not know.
    for (dir, kind) in [("services", "service"), ("apps", "environment")] {
        if let Ok(entries) = std::fs::read_dir(workspace.roots[&Repo::Gitops].join(dir)) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let known = if kind == "service" {
                    answers.services.contains_key(&name)
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
        std::fs::read_dir(workspace.roots[&Repo::Gitops].join("platform"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
    drift.extend(crate::platform::drift(
        answers,
        |path| exists(Repo::Gitops, path),
        &platform_dirs,
    ));
    (envs, services, drift)
}

pub fn presets(args: &PresetsArgs) -> Result<()> {
    for name in pack::preset_names() {
        let text = pack::preset_text(name).map_err(crate::problem::Problems::from)?;
        let table: toml::Table = toml::from_str(text)?;
        let description = table
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or_default();
        let marker = if name == pack::DEFAULT_PRESET {
            " (default)"
        } else {
            ""
        };
        crate::outln!("{name:<12} {description}{marker}")?;
        if args.keys {
            let mut settings = table.clone();
            settings.remove("description");
            settings.remove("defaults");
            for key in leaf_keys(&settings, "") {
                let mut current = toml::Value::Table(settings.clone());
                for part in key.split('.') {
                    current = current
                        .get(part)
                        .cloned()
                        .unwrap_or(toml::Value::String(String::new()));
                }
                crate::outln!("  {key} = {current}")?;
            }
        }
    }
    Ok(())
}

pub fn packs() -> Result<()> {
    for info in pack::packs() {
        let marker = if info.name == pack::DEFAULT_PACK {
            " (default)"
        } else {
            ""
        };
        crate::outln!("{:<16} {}{marker}", info.name, info.description)?;
    }
    Ok(())
}
