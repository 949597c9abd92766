//! The jobs as changes to the answers: add or remove a service or an environment, and carry
//! the answers to the running strata (`upgrade`).
//!
//! `strata new` is built from the same functions (one environment at a time, then one service
//! at a time), so that `new --services a,b` and `new` followed by `add service a` and
//! `add service b` render the same files. Pure: answers in, answers out.

use std::collections::BTreeMap;

use crate::model::answers::{Answers, Environment, Expose, Service, ServiceEnv};
use crate::model::names::{self, EnvName, ServiceName};
use crate::model::settings::{ServiceDefaults, Topology};
use crate::model::values::{Cpu, HostPattern, HttpPath, Image, Memory, Port, Replicas};
use crate::util::problem::{Problem, Problems};

/// The values of a new service as given (flags, or what `migrate` read); `None` takes the
/// preset's default. [`add_service`] parses each into its type, once.
#[derive(Debug, Default, Clone)]
pub struct ServiceInput {
    pub image: Option<String>,
    pub port: Option<u32>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub health_path: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub envs: Option<Vec<EnvName>>,
    pub irsa: bool,
    pub expose: Expose,
    pub config: Vec<(String, String)>,
    pub secrets: Vec<String>,
}

/// Adds a service to the answers, parsing every input into its type and reporting every
/// problem; returns the service's name.
pub fn add_service(
    answers: &mut Answers,
    name: &str,
    input: &ServiceInput,
) -> Result<ServiceName, Problems> {
    let mut problems = Problems::default();
    let name = new_service_name(answers, name, &mut problems);
    let shape = parse_shape(input, &answers.settings.service, &mut problems);
    let envs = service_envs(answers, input, &mut problems);
    let config = parse_config(input, &mut problems);
    let secrets = parse_secrets(input, &config, &mut problems);
    check_flags(answers, input, &mut problems);
    let host = parse_host(answers, input, name.as_ref(), &envs, &mut problems);
    problems.clone().into_result()?;
    let (Some(name), Some(shape), Some(host)) = (name, shape, host) else {
        return Err(problems);
    };
    let service = Service {
        image: shape.image.name,
        tag: shape.image.tag,
        port: shape.port,
        path: shape.path,
        health_path: shape.health_path,
        host,
        cpu_limit: shape.cpu_limit,
        cpu_request: shape.cpu,
        memory_limit: shape.memory_limit,
        memory_request: shape.memory,
        irsa: input.irsa,
        expose: input.expose,
        secrets,
        config,
        envs: envs
            .into_iter()
            .map(|env| {
                (
                    env,
                    ServiceEnv {
                        replicas: shape.replicas,
                    },
                )
            })
            .collect(),
    };
    service
        .fits_the_namespace(name.as_str(), &answers.settings)
        .into_result()?;
    answers
        .check_hosts_in_zones(name.as_str(), &service)
        .into_result()?;
    answers.services.insert(name.clone(), service);
    answers.host_clashes(Some(name.as_str())).into_result()?;
    answers.history.push(format!("add service {name}"));
    Ok(name)
}

/// The name of a new service: a valid name no service of the workspace has.
fn new_service_name(answers: &Answers, name: &str, problems: &mut Problems) -> Option<ServiceName> {
    let name = problems.take(name.parse::<ServiceName>());
    if let Some(name) = &name {
        if answers.services.contains_key(name.as_str()) {
            problems.push(
                Problem::new(format!("service `{name}`"), "already exists").hint(format!(
                    "pick another name, or `strata remove service {name}` first"
                )),
            );
        }
    }
    name
}

/// What runs, and how big: the input's values, or the preset's defaults, parsed.
struct Shape {
    image: Image,
    port: Port,
    path: HttpPath,
    health_path: HttpPath,
    cpu: Cpu,
    cpu_limit: Cpu,
    memory: Memory,
    memory_limit: Memory,
    replicas: Replicas,
}

/// The image, port, paths, requests, limits and replica bounds of a new service, each parsed
/// into its type; `None` when one of them is not valid (each problem is pushed). The limits
/// are the preset's, raised to the requests when these are larger.
fn parse_shape(
    input: &ServiceInput,
    defaults: &ServiceDefaults,
    problems: &mut Problems,
) -> Option<Shape> {
    let image = problems.take(
        input
            .image
            .as_deref()
            .unwrap_or(&defaults.image)
            .parse::<Image>(),
    );
    let port = problems.take(Port::new(input.port.unwrap_or(defaults.port)));
    let path = problems.take(HttpPath::parse(
        "`--path`",
        input.path.as_deref().unwrap_or(&defaults.path),
    ));
    let health_path = problems.take(HttpPath::parse(
        "`--health-path`",
        input
            .health_path
            .as_deref()
            .unwrap_or(&defaults.health_path),
    ));
    let cpu = problems.take(
        input
            .cpu
            .as_deref()
            .unwrap_or(&defaults.cpu_request)
            .parse::<Cpu>(),
    );
    let memory = problems.take(
        input
            .memory
            .as_deref()
            .unwrap_or(&defaults.memory_request)
            .parse::<Memory>(),
    );
    let cpu_limit = problems.take(defaults.cpu_limit.parse::<Cpu>());
    let memory_limit = problems.take(defaults.memory_limit.parse::<Memory>());
    let min = input.min.unwrap_or(defaults.min_replicas);
    let max = input.max.unwrap_or(defaults.max_replicas.max(min));
    let replicas = problems.take(Replicas::new(min, max));
    let (cpu, memory) = (cpu?, memory?);
    Some(Shape {
        image: image?,
        port: port?,
        path: path?,
        health_path: health_path?,
        cpu_limit: cpu.max(&cpu_limit?).clone(),
        cpu,
        memory_limit: memory.max(&memory_limit?).clone(),
        memory,
        replicas: replicas?,
    })
}

/// The environments a new service runs in: `--envs`, or every environment.
fn service_envs(answers: &Answers, input: &ServiceInput, problems: &mut Problems) -> Vec<EnvName> {
    match &input.envs {
        Some(list) => {
            for env in list {
                if !answers.environments.iter().any(|e| &e.name == env) {
                    problems.push(
                        Problem::new(
                            format!("`--envs {env}`"),
                            "does not exist in this workspace",
                        )
                        .hint(format!("use one of: {}", answers.env_names().join(", "))),
                    );
                }
            }
            if list.is_empty() {
                problems.push(
                    Problem::new("`--envs`", "is empty").hint("list at least one environment"),
                );
            }
            list.clone()
        }
        None => answers
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
    }
}

/// The config values of `--config KEY=VALUE`, each key once.
fn parse_config(input: &ServiceInput, problems: &mut Problems) -> BTreeMap<String, String> {
    let mut config = BTreeMap::new();
    for (key, value) in &input.config {
        let value = problems.take(names::parse_config_value(key, value));
        if let (Some(key), Some(value)) =
            (problems.take(names::parse_service_config_key(key)), value)
        {
            if config.insert(key.clone(), value).is_some() {
                problems.push(
                    Problem::new(format!("config key `{key}`"), "is given twice")
                        .hint("give each key once"),
                );
            }
        }
    }
    config
}

/// The secret keys of `--secret KEY`, each once and none a config key.
fn parse_secrets(
    input: &ServiceInput,
    config: &BTreeMap<String, String>,
    problems: &mut Problems,
) -> Vec<String> {
    let mut secrets = Vec::new();
    for key in &input.secrets {
        if let Some(key) = problems.take(names::parse_service_config_key(key)) {
            if secrets.contains(&key) {
                problems.push(
                    Problem::new(format!("secret `{key}`"), "is given twice")
                        .hint("give each key once"),
                );
            } else if config.contains_key(&key) {
                problems.push(
                    Problem::new(format!("secret `{key}`"), "is also a config key")
                        .hint("a key is either config or a secret"),
                );
            } else {
                secrets.push(key);
            }
        }
    }
    secrets
}

/// Flags that do not go together: an Ingress's host or path on a service without one, IRSA
/// without an AWS account.
fn check_flags(answers: &Answers, input: &ServiceInput, problems: &mut Problems) {
    if input.expose == Expose::None {
        for (flag, given) in [
            ("`--host`", input.host.is_some()),
            ("`--path`", input.path.is_some()),
        ] {
            if given {
                problems.push(
                    Problem::new(flag, "has no effect with `--expose none`: the service gets no Ingress")
                        .hint("drop it, or expose the service with `--expose public` or `--expose internal`"),
                );
            }
        }
    }
    // With Pod Identity the ServiceAccount names no role: no ARN, no account id.
    if input.irsa && answers.lacks_account_for_role_arns() {
        problems.push(Problem::new("`--aws-role`", "needs the AWS account id, for the role ARN on the ServiceAccount").hint("run `strata set aws_account_id=123456789012` first (or pass `--account-id` to `strata new`)"));
    }
}

/// `--host`, or strata's default pattern, parsed; then the rules that need the workspace
/// (`HostPattern::check`). Each problem is reported once, about the flag as typed.
fn parse_host(
    answers: &Answers,
    input: &ServiceInput,
    name: Option<&ServiceName>,
    envs: &[EnvName],
    problems: &mut Problems,
) -> Option<HostPattern> {
    let Some(raw) = &input.host else {
        return Some(HostPattern::default_pattern());
    };
    let subject = format!("`--host {}`", raw.escape_default());
    let about_the_flag = |problem: Problem| Problem {
        subject: subject.clone(),
        ..problem
    };
    let pattern = match raw.parse::<HostPattern>() {
        Ok(pattern) => pattern,
        Err(problem) => {
            problems.push(about_the_flag(problem));
            return None;
        }
    };
    let service = name.map_or("service", ServiceName::as_str);
    let envs: Vec<&str> = envs.iter().map(EnvName::as_str).collect();
    let found = pattern.check(service, &envs, &answers.domain);
    let valid = found.is_empty();
    for problem in found {
        problems.push(about_the_flag(problem));
    }
    valid.then_some(pattern)
}

/// Whether an environment is production by its name (`prod`, `production`): it deploys last,
/// and its logs are kept longer.
fn is_production(env: &str) -> bool {
    matches!(env, "prod" | "production")
}

/// The account of a new environment: given exactly when the workspace's environments live in
/// accounts of their own.
fn check_env_account(
    answers: &Answers,
    name: Option<&EnvName>,
    account: Option<&str>,
    problems: &mut Problems,
) -> Option<String> {
    let env = name.map_or_else(|| "NAME".to_string(), ToString::to_string);
    match account {
        None if answers.multi_account() => {
            problems.push(
                Problem::new(
                    "`--account`",
                    format!("is required: every environment of this workspace lives in an AWS account of its own, and `{env}` has none"),
                )
                .hint(format!("pass the new environment's account: `strata add env {env} --account 123456789012`")),
            );
            None
        }
        None => None,
        Some(id) if !answers.multi_account() => {
            problems.push(
                Problem::new(
                    format!("`--account {}`", id.escape_default()),
                    "gives one environment an account of its own, but every stack of this workspace deploys into one account",
                )
                .hint("leave out `--account`: only a workspace made with `strata new --account` gives each environment its account"),
            );
            None
        }
        Some(id) => match names::parse_account_id(id) {
            Ok(id) => Some(id),
            Err(p) => {
                problems.push(Problem {
                    subject: format!("`--account {}`", id.escape_default()),
                    ..p
                });
                None
            }
        },
    }
}

/// Adds an environment; every service of `from` (default: the first environment) runs in it
/// with the same values. It goes before a production environment that ends the list. `account`
/// is its AWS account, required when the environments live in accounts of their own and
/// refused otherwise.
pub fn add_env(
    answers: &mut Answers,
    name: &str,
    from: Option<&str>,
    account: Option<&str>,
) -> Result<(), Problems> {
    let mut problems = Problems::default();
    let name = problems.take(name.parse::<EnvName>());
    let account = check_env_account(answers, name.as_ref(), account, &mut problems);
    if let Some(name) = &name {
        if answers.environments.iter().any(|e| e.name == name.as_str()) {
            problems.push(
                Problem::new(format!("environment `{name}`"), "already exists").hint(format!(
                    "pick another name, or `strata remove env {name}` first"
                )),
            );
        }
    }
    let from = match from {
        Some(from) if !answers.environments.iter().any(|e| e.name == from) => {
            problems.push(
                Problem::new(
                    format!("`--from {from}`"),
                    "names an environment the workspace does not have",
                )
                .hint(format!("use one of: {}", answers.env_names().join(", "))),
            );
            None
        }
        Some(from) => answers
            .environments
            .iter()
            .find(|e| e.name == from)
            .map(|e| e.name.clone()),
        None => answers.environments.first().map(|e| e.name.clone()),
    };
    problems.clone().into_result()?;
    let Some(name) = name else {
        return Err(problems);
    };
    let vpc_cidr = match answers.settings.network.topology {
        Topology::Shared => None,
        Topology::PerEnvironment => match answers.next_free_cidr() {
            Some(cidr) => Some(cidr),
            None => {
                return Err(Problem::new(
                    format!("environment `{name}`"),
                    format!(
                        "has no free VPC range left after `network.vpc_cidr = {}` within its private block",
                        answers.settings.network.vpc_cidr
                    ),
                )
                .hint("start `network.vpc_cidr` lower in its block (such as `10.0.0.0/16`), or set `vpc_cidr` of the environments in `strata.toml` by hand")
                .into())
            }
        },
    };
    // Environments deploy in their order, the last (production, behind required reviewers)
    // last: a new environment goes before a production one that ends the list, never first
    // (the first stack creates the account's GitHub OIDC provider).
    let at = match answers.environments.last() {
        Some(last)
            if answers.environments.len() > 1
                && is_production(last.name.as_str())
                && !is_production(name.as_str()) =>
        {
            answers.environments.len() - 1
        }
        _ => answers.environments.len(),
    };
    answers.environments.insert(
        at,
        Environment {
            name: name.clone(),
            vpc_cidr,
            account,
        },
    );
    if let Some(from) = from {
        for service in answers.services.values_mut() {
            if let Some(values) = service.envs.get(&from).cloned() {
                service.envs.insert(name.clone(), values);
            }
        }
    }
    let problems = answers.validate("the new answers");
    if !problems.is_empty() {
        return Err(problems);
    }
    answers.history.push(format!("add env {name}"));
    Ok(())
}

/// Removes a service from every environment; returns its name.
pub fn remove_service(answers: &mut Answers, name: &str) -> Result<ServiceName, Problems> {
    let Some((name, _)) = answers.services.remove_entry(name) else {
        let known: Vec<&str> = answers.services.keys().map(|k| k.as_str()).collect();
        let mut problem = Problem::new(
            format!("service `{}`", name.escape_default()),
            "does not exist in this workspace",
        );
        problem = match crate::util::problem::did_you_mean(name, known.iter().copied()) {
            Some(close) => problem.hint(format!(
                "did you mean `{close}`? `strata list` shows the services"
            )),
            None => problem.hint("`strata list` shows the services"),
        };
        return Err(problem.into());
    };
    answers.history.push(format!("remove service {name}"));
    Ok(name)
}

/// Carries the answers to the running strata (`strata upgrade`); returns the commit message.
pub fn upgrade(answers: &mut Answers, running: &str) -> String {
    // Said as it is: an upgrade from a version to itself re-renders the files (a template
    // override, a lock format, files someone deleted), and says so.
    let message = if answers.strata_version == running {
        format!("Re-render strata's files with strata {running}")
    } else {
        format!(
            "Upgrade to strata {running} (from {})",
            answers.strata_version
        )
    };
    if answers.strata_version != running {
        answers.strata_version = running.to_string();
        answers.history.push(format!("upgrade to {running}"));
    }
    message
}

/// What the cloud keeps of an environment that `remove env` takes out of both repos: strata
/// only writes files, and a Pulumi stack's resources go only with `pulumi destroy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftRunning {
    /// The environment's own stack (one cluster per environment): its cluster, VPC and every
    /// other resource run until the stack is destroyed, which needs `file` (its config and,
    /// with most secrets providers, the key to its secrets): destroy first, then remove.
    Stack {
        /// The stack as the Pulumi CLI names it (`org/stack` in a Pulumi Cloud organisation).
        stack: String,
        /// `Pulumi.<stack>.yaml`, in the foundation.
        file: String,
    },
    /// An environment of a shared cluster: its namespace, AppProject and root Application run
    /// until the next `pulumi up` of the stack.
    Namespace { stack: String },
}

/// What removing `env` leaves running; the answers are those before the removal.
pub fn left_running(answers: &Answers, env: &str) -> LeftRunning {
    let stacks = crate::model::stack::stacks(answers);
    let own = stacks.iter().find(|s| {
        s.envs.len() == 1 && answers.environments[s.envs[0]].name == env && s.name == env
    });
    let org = answers
        .state
        .as_ref()
        .and_then(|state| crate::model::answers::Backend::parse(&state.backend).ok())
        .and_then(|backend| match backend {
            crate::model::answers::Backend::PulumiCloud { org } => org,
            _ => None,
        });
    let qualified = |stack: &str| match &org {
        Some(org) => format!("{org}/{stack}"),
        None => stack.to_string(),
    };
    match own {
        Some(stack) if answers.settings.network.topology == Topology::PerEnvironment => {
            LeftRunning::Stack {
                stack: qualified(&stack.name),
                file: format!("Pulumi.{}.yaml", stack.name),
            }
        }
        _ => LeftRunning::Namespace {
            stack: qualified(stacks.first().map_or("shared", |s| s.name.as_str())),
        },
    }
}

/// Removes an environment and every service's overlay in it. A service left with no
/// environment is refused: remove the service instead.
pub fn remove_env(answers: &mut Answers, name: &str) -> Result<(), Problems> {
    let Some(index) = answers.environments.iter().position(|e| e.name == name) else {
        let mut problem = Problem::new(
            format!("environment `{}`", name.escape_default()),
            "does not exist in this workspace",
        );
        problem = match crate::util::problem::did_you_mean(name, answers.env_names()) {
            Some(close) => problem.hint(format!(
                "did you mean `{close}`? `strata list` shows the environments"
            )),
            None => problem.hint("`strata list` shows the environments"),
        };
        return Err(problem.into());
    };
    if answers.environments.len() == 1 {
        return Err(
            Problem::new(format!("environment `{name}`"), "is the only environment")
                .hint("a workspace keeps at least one environment; add another first")
                .into(),
        );
    }
    let mut problems = Problems::default();
    for (service, values) in &answers.services {
        if values.envs.len() == 1 && values.envs.contains_key(name) {
            problems.push(
                Problem::new(
                    format!("service `{service}`"),
                    format!("runs only in `{name}`"),
                )
                .hint(format!(
                    "`strata remove service {service}` first, or add it to another environment"
                )),
            );
        }
    }
    problems.into_result()?;
    answers.environments.remove(index);
    for service in answers.services.values_mut() {
        service.envs.remove(name);
    }
    answers.history.push(format!("remove env {name}"));
    Ok(())
}
