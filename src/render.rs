//! Rendering: answers + layers -> files in memory. Pure: no disk, no git.
//!
//! A template path may hold the placeholders `__stack__`, `__env__` and `__service__`; each
//! template is instantiated once per value (per service and environment the service runs in,
//! when both appear). Only `*.tera` files are rendered (suffix stripped); every other file is
//! copied byte for byte; a template that renders to whitespace only is not emitted (that is
//! how a file is optional). Each path component is checked on its own, so no value can make a
//! path outside its repo. Values reach YAML only through the `q` filter (see `yaml.rs`).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tera::Tera;

use crate::answers::Answers;
use crate::pack::{Layer, TemplateFile};
use crate::repo::Repo;
use crate::settings::Topology;

/// A file ready to be planned: which repo, where, what, and who owns it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub repo: Repo,
    /// Path relative to the repo root, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Written once and then left to its owner.
    pub seed: bool,
    /// Shared with others: strata owns only its units of these containers and the other
    /// top-level keys it renders (`merge.rs`). Empty when strata owns the whole file.
    pub shared: Option<Vec<String>>,
}

/// Which instances of the templates a command renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything: `strata new`.
    All,
    /// One service's files, plus every file that lists services or environments.
    Service(String),
    /// One environment's files, plus every file that lists services or environments.
    Env(String),
}

/// One template bound to its placeholder values.
#[derive(Debug, Clone)]
struct Instance<'a> {
    file: &'a TemplateFile,
    path: String,
    stack: Option<usize>,
    env: Option<usize>,
    service: Option<&'a str>,
}

/// A pair of layers with their compiled templates.
pub struct Renderer {
    /// Each layer with its own compiled templates: the two repos compile and render in
    /// parallel.
    layers: Vec<(Layer, Tera)>,
}

/// A layer with its templates compiled.
pub struct CompiledLayer {
    layer: Layer,
    tera: Tera,
}

impl CompiledLayer {
    /// Compiles every `.tera` file of a layer.
    pub fn new(layer: Layer) -> anyhow::Result<Self> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        crate::yaml::register_filters(&mut tera);
        let mut sources = Vec::new();
        for file in &layer.files {
            if let Some(name) = file.path.strip_suffix(".tera") {
                let text = std::str::from_utf8(file.contents)
                    .map_err(|_| anyhow::anyhow!("template `{}` is not UTF-8", file.path))?;
                sources.push((name, text));
            }
        }
        tera.add_raw_templates(sources)?;
        Ok(Self { layer, tera })
    }
}

/// A path component that is unsafe to write.
#[derive(Debug, thiserror::Error)]
#[error("template path `{0}` renders to an unsafe path component `{1}`")]
pub struct UnsafePath(pub String, pub String);

impl Renderer {
    /// Compiles every `.tera` file of the layers, one thread per layer.
    pub fn new(layers: Vec<Layer>) -> anyhow::Result<Self> {
        let compiled: Vec<anyhow::Result<CompiledLayer>> = std::thread::scope(|scope| {
            let handles: Vec<_> = layers
                .into_iter()
                .map(|layer| scope.spawn(move || CompiledLayer::new(layer)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("template compilation does not panic"))
                .collect()
        });
        Self::from_compiled(compiled.into_iter().collect::<anyhow::Result<Vec<_>>>()?)
    }

    /// A renderer from layers compiled elsewhere (for example on a background thread while the
    /// workspace is read).
    pub fn from_compiled(layers: Vec<CompiledLayer>) -> anyhow::Result<Self> {
        Ok(Self {
            layers: layers.into_iter().map(|c| (c.layer, c.tera)).collect(),
        })
    }

    /// Renders the instances a scope selects, one thread per layer.
    pub fn render(&self, answers: &Answers, scope: &Scope) -> anyhow::Result<Vec<RenderedFile>> {
        let model = Model::new(answers);
        let mut base = tera::Context::new();
        for (key, value) in model.globals.as_object().expect("globals are an object") {
            base.insert(key.as_str(), value);
        }
        let results: Vec<anyhow::Result<Vec<RenderedFile>>> = std::thread::scope(|threads| {
            let handles: Vec<_> = self
                .layers
                .iter()
                .map(|(layer, tera)| {
                    let (model, base) = (&model, &base);
                    threads.spawn(move || render_layer(layer, tera, answers, model, base, scope))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("rendering does not panic"))
                .collect()
        });
        let mut out = Vec::new();
        for result in results {
            out.extend(result?);
        }
        Ok(out)
    }

    /// Every template path of each layer, placeholders kept and `.tera` stripped.
    pub fn templates(&self) -> Vec<(Repo, &str)> {
        self.layers
            .iter()
            .flat_map(|(layer, _)| {
                layer.files.iter().map(|file| {
                    (
                        layer.repo,
                        file.path.strip_suffix(".tera").unwrap_or(file.path),
                    )
                })
            })
            .collect()
    }

    /// Whether a rendered path of a repo is an instance of one of its layer's seed files.
    pub fn is_seed_instance(&self, repo: Repo, path: &str) -> bool {
        self.layers
            .iter()
            .any(|(layer, _)| layer.repo == repo && layer.is_seed_instance(path))
    }

    /// The paths a scope renders, without rendering them (for deletions).
    pub fn paths(
        &self,
        answers: &Answers,
        scope: &Scope,
    ) -> anyhow::Result<Vec<(Repo, String, bool)>> {
        let mut out = Vec::new();
        for (layer, _) in &self.layers {
            for instance in instances(layer, answers, scope)? {
                let template_path = instance
                    .file
                    .path
                    .strip_suffix(".tera")
                    .unwrap_or(instance.file.path);
                out.push((layer.repo, instance.path, layer.is_seed(template_path)));
            }
        }
        Ok(out)
    }
}

/// Renders one layer's instances of a scope.
fn render_layer(
    layer: &Layer,
    tera: &Tera,
    answers: &Answers,
    model: &Model,
    base: &tera::Context,
    scope: &Scope,
) -> anyhow::Result<Vec<RenderedFile>> {
    // One service's templates see that service only; its values are built when first
    // needed, so a command that renders one service does not build all of them.
    let mut service_values: BTreeMap<&str, Value> = BTreeMap::new();
    let mut out = Vec::new();
    for instance in instances(layer, answers, scope)? {
        let bytes = match instance.file.path.strip_suffix(".tera") {
            Some(name) => {
                let mut context = base.clone();
                if let Some(i) = instance.stack {
                    context.insert("stack", &model.stacks[i]);
                }
                if let Some(i) = instance.env {
                    context.insert("env", &model.envs[i]);
                    if instance.service.is_none() {
                        // An environment's own files list the services it runs.
                        let env_name = &answers.environments[i].name;
                        let env_services: Vec<&str> = answers
                            .services
                            .iter()
                            .filter(|(_, service)| service.envs.contains_key(env_name))
                            .map(|(service, _)| service.as_str())
                            .collect();
                        context.insert("env_services", &env_services);
                    }
                }
                if let Some(service) = instance.service {
                    let value = service_values.entry(service).or_insert_with(|| {
                        service_value(answers, service, &answers.services[service])
                    });
                    context.insert("service", value);
                    if let Some(i) = instance.env {
                        let env_name = answers.environments[i].name.as_str();
                        context.insert("senv", &value["in"][env_name]);
                    }
                }
                tera.render(name, &context)
                    .map_err(|err| {
                        anyhow::anyhow!("rendering `{}`: {}", instance.path, tera_chain(&err))
                    })?
                    .into_bytes()
            }
            None => instance.file.contents.to_vec(),
        };
        // A template that renders to nothing but whitespace is a file this instance does not
        // have (for example the ExternalSecret of a service without secrets).
        if instance.file.path.ends_with(".tera") && bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let template_path = instance
            .file
            .path
            .strip_suffix(".tera")
            .unwrap_or(instance.file.path);
        out.push(RenderedFile {
            repo: layer.repo,
            path: instance.path,
            bytes,
            seed: layer.is_seed(template_path),
            shared: layer.shared(template_path).map(<[String]>::to_vec),
        });
    }
    Ok(out)
}

fn tera_chain(err: &tera::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Expands every template of a layer into the instances the scope selects.
fn instances<'a>(
    layer: &'a Layer,
    answers: &'a Answers,
    scope: &Scope,
) -> Result<Vec<Instance<'a>>, UnsafePath> {
    let stacks = stacks(answers);
    let mut out = Vec::new();
    for file in &layer.files {
        let path = file.path.strip_suffix(".tera").unwrap_or(file.path);
        let has_stack = path.contains("__stack__");
        let has_env = path.contains("__env__");
        let has_service = path.contains("__service__");
        let stack_values: Vec<Option<usize>> = if has_stack {
            (0..stacks.len()).map(Some).collect()
        } else {
            vec![None]
        };
        for stack in stack_values {
            let env_values: Vec<Option<usize>> = if has_env {
                (0..answers.environments.len()).map(Some).collect()
            } else {
                vec![None]
            };
            for env in env_values {
                let env_name = env.map(|i| answers.environments[i].name.as_str());
                let service_values: Vec<Option<&str>> = if has_service {
                    answers
                        .services
                        .iter()
                        .filter(|(_, service)| {
                            env_name.is_none_or(|e| service.envs.contains_key(e))
                        })
                        .map(|(name, _)| Some(name.as_str()))
                        .collect()
                } else {
                    vec![None]
                };
                for service in service_values {
                    let selected = match (scope, service, env_name) {
                        (Scope::All, _, _) | (_, None, _) => true,
                        (Scope::Service(s), Some(svc), _) => s == svc,
                        (Scope::Env(e), Some(_), Some(env)) => e == env,
                        (Scope::Env(_), Some(_), None) => false,
                    };
                    if !selected {
                        continue;
                    }
                    let rendered_path = instance_path(
                        path,
                        stack.map(|i| stacks[i].0.as_str()),
                        env_name,
                        service,
                    )?;
                    out.push(Instance {
                        file,
                        path: rendered_path,
                        stack,
                        env,
                        service,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Replaces the placeholders of a template path, one component at a time, refusing any
/// component that is empty, `.`, `..` or holds a separator.
fn instance_path(
    template: &str,
    stack: Option<&str>,
    env: Option<&str>,
    service: Option<&str>,
) -> Result<String, UnsafePath> {
    let mut parts = Vec::new();
    for component in template.split('/') {
        let mut value = component.to_string();
        for (placeholder, replacement) in [
            ("__stack__", stack),
            ("__env__", env),
            ("__service__", service),
        ] {
            if let Some(replacement) = replacement {
                value = value.replace(placeholder, replacement);
            }
        }
        let unsafe_component = value.is_empty()
            || value == "."
            || value == ".."
            || value.contains(['/', '\\', '\0'])
            || value.contains("__stack__")
            || value.contains("__env__")
            || value.contains("__service__");
        if unsafe_component {
            return Err(UnsafePath(template.to_string(), value));
        }
        parts.push(value);
    }
    Ok(parts.join("/"))
}

/// The Pulumi stacks of a workspace: (stack name, cluster name, VPC CIDR, environment indexes).
pub fn stacks(answers: &Answers) -> Vec<(String, String, String, Vec<usize>)> {
    match answers.settings.network.topology {
        Topology::Shared => vec![(
            "shared".to_string(),
            answers.project.clone(),
            answers.settings.network.vpc_cidr.clone(),
            (0..answers.environments.len()).collect(),
        )],
        Topology::PerEnvironment => answers
            .environments
            .iter()
            .enumerate()
            .map(|(i, env)| {
                (
                    env.name.clone(),
                    format!("{}-{}", answers.project, env.name),
                    env.vpc_cidr.clone().unwrap_or_default(),
                    vec![i],
                )
            })
            .collect(),
    }
}

/// The values templates see, built once per render.
struct Model {
    globals: Value,
    stacks: Vec<Value>,
    envs: Vec<Value>,
}

impl Model {
    fn new(answers: &Answers) -> Self {
        let stacks_raw = stacks(answers);
        let env_stack: BTreeMap<usize, usize> = stacks_raw
            .iter()
            .enumerate()
            .flat_map(|(s, (_, _, _, envs))| envs.iter().map(move |e| (*e, s)))
            .collect();
        let envs: Vec<Value> = answers
            .environments
            .iter()
            .enumerate()
            .map(|(i, env)| {
                let (stack, cluster, cidr, _) = &stacks_raw[env_stack[&i]];
                let (private_subnets, public_subnets) =
                    crate::answers::subnet_layout(cidr, answers.settings.network.az_count)
                        .unwrap_or_default();
                let (certificate, sans) = answers.certificate(&env.name);
                json!({
                    "public_subnet_cidrs": public_subnets,
                    "private_subnet_cidrs": private_subnets,
                    "certificate": {"domain_name": certificate, "subject_alternative_names": sans},
                    "name": env.name,
                    "namespace": env.name,
                    "stack": stack,
                    "cluster_name": cluster,
                    "vpc_cidr": cidr,
                    "project_name": format!("{}-{}", answers.project, env.name),
                })
            })
            .collect();
        let stacks: Vec<Value> = stacks_raw
            .iter()
            .map(|(name, cluster, cidr, env_indexes)| {
                let stack_envs: Vec<&Value> = env_indexes.iter().map(|i| &envs[*i]).collect();
                let service_roles: Vec<Value> = env_indexes
                    .iter()
                    .flat_map(|i| {
                        let env = &answers.environments[*i].name;
                        answers.services.iter().filter(move |(_, s)| s.irsa && s.envs.contains_key(env)).map(move |(svc, _)| {
                            json!({"service": svc, "namespace": env, "service_account": svc, "role_name": role_name(&answers.project, env, svc)})
                        })
                    })
                    .collect();
                let (private_subnets, public_subnets) = crate::answers::subnet_layout(cidr, answers.settings.network.az_count).unwrap_or_default();
                json!({"name": name, "cluster_name": cluster, "vpc_cidr": cidr, "envs": stack_envs, "service_roles": service_roles,
                       "private_subnet_cidrs": private_subnets, "public_subnet_cidrs": public_subnets})
            })
            .collect();

        let node_groups: Vec<Value> = answers
            .settings
            .node_groups
            .iter()
            .map(|(name, group)| {
                let taints: Vec<Value> = group
                    .taints
                    .iter()
                    .filter_map(|t| crate::settings::parse_taint(t))
                    .map(|(key, value, effect)| json!({"key": key, "value": value, "effect": effect}))
                    .collect();
                json!({"name": name, "group": group, "taints": taints})
            })
            .collect();
        // Add-ons run on the first tainted node group, when there is one (a system pool).
        let addon_pool = answers
            .settings
            .node_groups
            .iter()
            .find(|(_, g)| !g.taints.is_empty())
            .map(|(name, _)| name.clone());
        let (backend, secrets_provider) = match &answers.state {
            Some(state) => {
                let backend = crate::answers::Backend::parse(&state.backend)
                    .unwrap_or(crate::answers::Backend::PulumiCloud { org: None });
                let org = match &backend {
                    crate::answers::Backend::PulumiCloud { org: Some(org) } => org.clone(),
                    _ => String::new(),
                };
                (
                    json!({"kind": backend.kind(), "url": backend.url(), "org": org}),
                    Value::from(state.secrets_provider.clone()),
                )
            }
            None => (Value::Null, Value::Null),
        };
        let globals = json!({
            "backend": backend,
            "secrets_provider": secrets_provider,
            "node_groups": node_groups,
            "addon_pool": addon_pool,
            "project": answers.project,
            "strata_version": env!("CARGO_PKG_VERSION"),
            "pack": answers.pack,
            "preset": answers.preset,
            "region": answers.region,
            "domain": answers.domain,
            "topology": answers.settings.network.topology,
            "repos": answers.repos,
            "github_repository": github_repository(&answers.repos.foundation_url),
            "settings": answers.settings,
            "cluster_autoscaler_tag": answers.settings.cluster_autoscaler_tag(),
            "environments": envs,
            "stacks": stacks,
            "pulumi_project": format!("{}-foundation", answers.project),
        });
        Self {
            globals,
            stacks,
            envs,
        }
    }
}

/// The values one service's templates see as `service` (and `senv` = `service.in[<env>]`).
fn service_value(answers: &Answers, name: &str, service: &crate::answers::Service) -> Value {
    let mut per_env = serde_json::Map::new();
    for (env, values) in &service.envs {
        let role_arn = match (&answers.aws_account_id, service.irsa) {
            (Some(account), true) => format!(
                "arn:aws:iam::{account}:role/{}",
                role_name(&answers.project, env, name)
            ),
            _ => String::new(),
        };
        per_env.insert(
            env.clone(),
            json!({
                "min_replicas": values.min_replicas,
                "max_replicas": values.max_replicas,
                "host": service.host_in(name, env, &answers.domain),
                "role_arn": role_arn,
                "app_name": format!("{name}-{env}"),
                "ingress_class": format!("{env}-{}", service.expose.as_str()),
            }),
        );
    }
    let ordered_envs: Vec<&str> = answers
        .env_names()
        .into_iter()
        .filter(|e| service.envs.contains_key(*e))
        .collect();
    let config: Vec<Value> = service
        .config
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    json!({
        "name": name,
        "image": service.image,
        "tag": service.tag,
        "port": service.port,
        "path": service.path,
        "health_path": service.health_path,
        "cpu_request": service.cpu_request,
        "cpu_limit": service.cpu_limit,
        "memory_request": service.memory_request,
        "memory_limit": service.memory_limit,
        "irsa": service.irsa,
        "expose": service.expose.as_str(),
        "secrets": service.secrets,
        "config": config,
        "envs": ordered_envs,
        "in": per_env,
    })
}

/// `owner/name` of a repository on github.com, from its remote URL (`https://github.com/o/n.git`,
/// `git@github.com:o/n.git` or `ssh://git@github.com/o/n`); empty for any other host, where
/// GitHub Actions' OIDC tokens cannot come from (the foundation then creates no CI roles).
pub fn github_repository(url: &str) -> String {
    let rest = [
        "https://github.com/",
        "ssh://git@github.com/",
        "git@github.com:",
    ]
    .iter()
    .find_map(|prefix| url.strip_prefix(prefix));
    let Some(rest) = rest else {
        return String::new();
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let valid = |part: &str, max: usize, extra: &[char]| {
        !part.is_empty()
            && part.len() <= max
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(&c))
    };
    match rest.split_once('/') {
        Some((owner, name)) if valid(owner, 39, &[]) && valid(name, 100, &['.', '_']) => {
            format!("{owner}/{name}")
        }
        _ => String::new(),
    }
}

/// The IAM role name of a service in an environment: `<project>-<env>-<service>` (at most 64).
pub fn role_name(project: &str, env: &str, service: &str) -> String {
    format!("{project}-{env}-{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_per_component() {
        assert_eq!(
            instance_path(
                "services/__service__/overlays/__env__/k.yaml",
                None,
                Some("dev"),
                Some("api")
            )
            .unwrap(),
            "services/api/overlays/dev/k.yaml"
        );
        assert_eq!(
            instance_path("Pulumi.__stack__.yaml", Some("shared"), None, None).unwrap(),
            "Pulumi.shared.yaml"
        );
    }

    #[test]
    fn github_repositories_are_read_from_their_remote_urls_only_on_github_com() {
        for url in [
            "https://github.com/acme/acme-foundation.git",
            "https://github.com/acme/acme-foundation",
            "git@github.com:acme/acme-foundation.git",
            "ssh://git@github.com/acme/acme-foundation.git",
        ] {
            assert_eq!(github_repository(url), "acme/acme-foundation", "{url}");
        }
        for url in [
            "https://gitlab.com/acme/acme-foundation.git",
            "https://github.example.com/acme/acme-foundation.git",
            "https://github.com/acme/group/acme-foundation.git",
            "https://github.com/acme",
        ] {
            assert_eq!(github_repository(url), "", "{url}");
        }
    }

    #[test]
    fn no_value_can_escape_the_repo() {
        for bad in ["..", ".", "", "a/b", "a\\b"] {
            assert!(
                instance_path("services/__service__/x", None, None, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            instance_path("apps/__env__/x", None, None, None).is_err(),
            "an unfilled placeholder is refused"
        );
    }
}
