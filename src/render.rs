//! Rendering: answers + layers -> files in memory. Pure: no disk, no git.
//!
//! A template path may hold the placeholders `__stack__`, `__env__` and `__service__`; each
//! template is instantiated once per value (per service and environment the service runs in,
//! when both appear). Only `*.tera` files are rendered (suffix stripped); every other file is
//! copied byte for byte; a template that renders to whitespace only is not emitted (that is
//! how a file is optional). Each path component is checked on its own, so no value can make a
//! path outside its repo. Values reach YAML only through the `q` filter (see `yaml.rs`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tera::Tera;

use crate::model::answers::Answers;
use crate::model::pack::{Layer, TemplateFile};
use crate::model::repo::Repo;
use crate::model::settings::Topology;
use crate::model::stack::stacks;

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
        let model = Model::new(answers)?;
        let base = &model.globals;
        let results: Vec<anyhow::Result<Vec<RenderedFile>>> = std::thread::scope(|threads| {
            let handles: Vec<_> = self
                .layers
                .iter()
                .map(|(layer, tera)| {
                    let model = &model;
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
                        stack.map(|i| stacks[i].name.as_str()),
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

/// What every template sees at the top level.
#[derive(Serialize)]
struct Globals<'a> {
    backend: Option<BackendView>,
    secrets_provider: Option<&'a str>,
    node_groups: Vec<NodeGroupView<'a>>,
    /// The first tainted node group, when there is one (a system pool): add-ons run there.
    addon_pool: Option<&'a str>,
    project: &'a str,
    strata_version: &'static str,
    pack: &'a str,
    preset: &'a str,
    region: &'a str,
    domain: &'a str,
    topology: Topology,
    repos: &'a crate::model::answers::Repos,
    /// `owner/name` of the foundation repo on github.com (empty elsewhere): whom the CI roles
    /// trust.
    github_repository: String,
    settings: &'a crate::model::settings::Settings,
    cluster_autoscaler_tag: &'a str,
    environments: &'a [EnvView<'a>],
    stacks: &'a [StackView<'a>],
    pulumi_project: String,
}

#[derive(Serialize)]
struct BackendView {
    kind: &'static str,
    url: String,
    org: String,
}

#[derive(Serialize)]
struct NodeGroupView<'a> {
    name: &'a str,
    group: &'a crate::model::settings::NodeGroup,
    taints: Vec<TaintView>,
}

#[derive(Serialize)]
struct TaintView {
    key: String,
    value: String,
    effect: String,
}

/// `env`: one environment.
#[derive(Serialize)]
struct EnvView<'a> {
    name: &'a str,
    namespace: &'a str,
    stack: &'a str,
    cluster_name: &'a str,
    vpc_cidr: &'a str,
    public_subnet_cidrs: Vec<String>,
    private_subnet_cidrs: Vec<String>,
    certificate: CertificateView,
    /// Days CloudWatch Logs keeps the environment's container logs (platform logging).
    log_retention_days: u32,
}

#[derive(Serialize)]
struct CertificateView {
    domain_name: String,
    subject_alternative_names: Vec<String>,
}

/// `stack`: one Pulumi stack.
#[derive(Serialize)]
struct StackView<'a> {
    name: &'a str,
    cluster_name: &'a str,
    vpc_cidr: &'a str,
    envs: Vec<&'a EnvView<'a>>,
    service_roles: Vec<ServiceRoleView<'a>>,
    private_subnet_cidrs: Vec<String>,
    public_subnet_cidrs: Vec<String>,
}

/// The IAM role of a service with `--irsa` in one environment.
#[derive(Serialize)]
struct ServiceRoleView<'a> {
    service: &'a str,
    namespace: &'a str,
    service_account: &'a str,
    role_name: String,
}

/// `service`: one service, with `in.<env>` its values per environment (`senv`).
#[derive(Serialize)]
struct ServiceView<'a> {
    name: &'a str,
    image: &'a str,
    tag: &'a str,
    port: u16,
    path: &'a str,
    health_path: &'a str,
    cpu_request: &'a str,
    cpu_limit: &'a str,
    memory_request: &'a str,
    memory_limit: &'a str,
    irsa: bool,
    expose: &'static str,
    secrets: &'a [String],
    config: Vec<ConfigEntry<'a>>,
    envs: Vec<&'a str>,
    #[serde(rename = "in")]
    per_env: BTreeMap<&'a str, ServiceEnvView>,
}

#[derive(Serialize)]
struct ConfigEntry<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ServiceEnvView {
    min_replicas: u32,
    max_replicas: u32,
    host: String,
    role_arn: String,
    app_name: String,
    ingress_class: String,
}

/// The values templates see, built once per render: the globals as a tera context, and each
/// stack and environment ready to insert.
struct Model {
    globals: tera::Context,
    stacks: Vec<Value>,
    envs: Vec<Value>,
}

impl Model {
    fn new(answers: &Answers) -> anyhow::Result<Self> {
        let stacks = stacks(answers);
        let stack_of = |env: usize| {
            stacks
                .iter()
                .find(|s| s.envs.contains(&env))
                .expect("every environment has a stack")
        };
        let az_count = answers.settings.network.az_count;
        let envs: Vec<EnvView<'_>> = answers
            .environments
            .iter()
            .enumerate()
            .map(|(i, env)| {
                let stack = stack_of(i);
                let (private_subnet_cidrs, public_subnet_cidrs) =
                    crate::model::answers::subnet_layout(&stack.vpc_cidr, az_count)
                        .unwrap_or_default();
                let (domain_name, subject_alternative_names) = answers.certificate(&env.name);
                EnvView {
                    name: &env.name,
                    namespace: &env.name,
                    stack: &stack.name,
                    cluster_name: &stack.cluster,
                    vpc_cidr: &stack.vpc_cidr,
                    public_subnet_cidrs,
                    private_subnet_cidrs,
                    certificate: CertificateView {
                        domain_name,
                        subject_alternative_names,
                    },
                    log_retention_days: answers.settings.platform.logging.retention_for(&env.name),
                }
            })
            .collect();
        let stack_views: Vec<StackView<'_>> = stacks
            .iter()
            .map(|stack| {
                let service_roles = stack
                    .envs
                    .iter()
                    .flat_map(|i| {
                        let env = &answers.environments[*i].name;
                        answers
                            .services
                            .iter()
                            .filter(move |(_, s)| s.irsa && s.envs.contains_key(env.as_str()))
                            .map(move |(service, _)| ServiceRoleView {
                                service,
                                namespace: env,
                                service_account: service,
                                role_name: crate::model::names::role_name(
                                    &answers.project,
                                    env,
                                    service,
                                ),
                            })
                    })
                    .collect();
                let (private_subnet_cidrs, public_subnet_cidrs) =
                    crate::model::answers::subnet_layout(&stack.vpc_cidr, az_count)
                        .unwrap_or_default();
                StackView {
                    name: &stack.name,
                    cluster_name: &stack.cluster,
                    vpc_cidr: &stack.vpc_cidr,
                    envs: stack.envs.iter().map(|i| &envs[*i]).collect(),
                    service_roles,
                    private_subnet_cidrs,
                    public_subnet_cidrs,
                }
            })
            .collect();
        let node_groups = answers
            .settings
            .node_groups
            .iter()
            .map(|(name, group)| NodeGroupView {
                name,
                group,
                taints: group
                    .taints
                    .iter()
                    .filter_map(|t| crate::model::settings::parse_taint(t))
                    .map(|(key, value, effect)| TaintView { key, value, effect })
                    .collect(),
            })
            .collect();
        let addon_pool = answers
            .settings
            .node_groups
            .iter()
            .find(|(_, g)| !g.taints.is_empty())
            .map(|(name, _)| name.as_str());
        let backend = answers.state.as_ref().map(|state| {
            let backend = crate::model::answers::Backend::parse(&state.backend)
                .unwrap_or(crate::model::answers::Backend::PulumiCloud { org: None });
            let org = match &backend {
                crate::model::answers::Backend::PulumiCloud { org: Some(org) } => org.clone(),
                _ => String::new(),
            };
            BackendView {
                kind: backend.kind(),
                url: backend.url(),
                org,
            }
        });
        let globals = Globals {
            backend,
            secrets_provider: answers.state.as_ref().map(|s| s.secrets_provider.as_str()),
            node_groups,
            addon_pool,
            project: &answers.project,
            strata_version: env!("CARGO_PKG_VERSION"),
            pack: &answers.pack,
            preset: &answers.preset,
            region: &answers.region,
            domain: &answers.domain,
            topology: answers.settings.network.topology,
            repos: &answers.repos,
            github_repository: crate::model::names::github_repository(
                &answers.repos.foundation_url,
            ),
            settings: &answers.settings,
            cluster_autoscaler_tag: answers.settings.cluster_autoscaler_tag(),
            environments: &envs,
            stacks: &stack_views,
            pulumi_project: format!("{}-foundation", answers.project),
        };
        let globals = tera::Context::from_serialize(&globals)?;
        Ok(Self {
            globals,
            stacks: stack_views
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?,
            envs: envs
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The values one service's templates see as `service` (and `senv` = `service.in[<env>]`).
fn service_value(answers: &Answers, name: &str, service: &crate::model::answers::Service) -> Value {
    let per_env = service
        .envs
        .iter()
        .map(|(env, values)| {
            let role_arn = match (&answers.aws_account_id, service.irsa) {
                (Some(account), true) => format!(
                    "arn:aws:iam::{account}:role/{}",
                    crate::model::names::role_name(&answers.project, env, name)
                ),
                _ => String::new(),
            };
            let view = ServiceEnvView {
                min_replicas: values.min_replicas,
                max_replicas: values.max_replicas,
                host: service.host_in(name, env, &answers.domain),
                role_arn,
                app_name: crate::model::names::application_name(name, env),
                ingress_class: format!("{env}-{}", service.expose.as_str()),
            };
            (env.as_str(), view)
        })
        .collect();
    let view = ServiceView {
        name,
        image: &service.image,
        tag: &service.tag,
        port: service.port,
        path: &service.path,
        health_path: &service.health_path,
        cpu_request: &service.cpu_request,
        cpu_limit: &service.cpu_limit,
        memory_request: &service.memory_request,
        memory_limit: &service.memory_limit,
        irsa: service.irsa,
        expose: service.expose.as_str(),
        secrets: &service.secrets,
        config: service
            .config
            .iter()
            .map(|(key, value)| ConfigEntry { key, value })
            .collect(),
        envs: answers
            .env_names()
            .into_iter()
            .filter(|e| service.envs.contains_key(*e))
            .collect(),
        per_env,
    };
    serde_json::to_value(view).expect("a service's values serialize")
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
            assert_eq!(
                crate::model::names::github_repository(url),
                "acme/acme-foundation",
                "{url}"
            );
        }
        for url in [
            "https://gitlab.com/acme/acme-foundation.git",
            "https://github.example.com/acme/acme-foundation.git",
            "https://github.com/acme/group/acme-foundation.git",
            "https://github.com/acme",
        ] {
            assert_eq!(crate::model::names::github_repository(url), "", "{url}");
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
