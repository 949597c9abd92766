//! The jobs that change what exists: `strata set` (project settings and the AWS account id)
//! and `strata edit service` (a service's values). Pure: answers in, answers out; every problem
//! of the input is reported at once, and the answers stay as they were on any problem.
//!
//! Both parse their values with the same types as `strata new --set` and `strata add service`,
//! so that a value `set` or `edit` accepts is one `new` or `add` would have accepted.

use std::collections::BTreeMap;

use crate::model::answers::{Answers, Expose, ServiceEnv};
use crate::model::names::{self, EnvName, ServiceName};
use crate::model::pack;
use crate::model::settings::{self, Settings, Topology};
use crate::model::values::{Cpu, HostPattern, HttpPath, Image, Memory, Port, Replicas};
use crate::util::problem::{did_you_mean, Problem, Problems};

/// The key of the AWS account id: a value of `strata.toml` outside `[settings]` that `set`
/// changes too (the role ARNs of services with `--irsa` need it).
pub const ACCOUNT_ID_KEY: &str = "aws_account_id";

/// Sets `KEY=VALUE` pairs: every key of `strata presets --keys` (`[settings]` of
/// `strata.toml`), validated as `strata new --set` validates them, and `aws_account_id`.
/// Returns the keys whose value changed (empty: nothing to change).
pub fn set(answers: &mut Answers, pairs: &[String]) -> Result<Vec<String>, Problems> {
    let mut problems = Problems::default();
    if pairs.is_empty() {
        problems.push(
            Problem::new("`strata set`", "was given no `KEY=VALUE`")
                .hint("for example `strata set cluster.version=1.36`; `strata presets --keys` lists every key"),
        );
        return Err(problems);
    }
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut account = None;
    for raw in pairs {
        let Some((key, value)) = problems.take(names::parse_key_value("strata set", raw)) else {
            continue;
        };
        if overrides.iter().any(|(k, _)| *k == key) || (key == ACCOUNT_ID_KEY && account.is_some())
        {
            problems.push(
                Problem::new(format!("`strata set {key}`"), "is given twice")
                    .hint("give each key once"),
            );
        } else if key == ACCOUNT_ID_KEY {
            account = Some(problems.take(names::parse_account_id(&value)));
        } else {
            overrides.push((key, value));
        }
    }
    let settings = changed_settings(answers, &overrides, &mut problems);
    problems.clone().into_result()?;
    let mut changed: Vec<String> = Vec::new();
    let mut next = answers.clone();
    if let Some(settings) = settings {
        let before = settings_table(&answers.settings);
        let after = settings_table(&settings);
        for (key, _) in &overrides {
            if lookup(&before, key) != lookup(&after, key) {
                changed.push(key.clone());
            }
        }
        for problem in replaced_stacks(answers, &changed) {
            problems.push(problem);
        }
        problems.clone().into_result()?;
        next.settings = settings;
        follow_topology(&mut next);
    }
    if let Some(Some(id)) = account {
        if next.aws_account_id.as_deref() != Some(id.as_str()) {
            changed.push(ACCOUNT_ID_KEY.to_string());
        }
        next.aws_account_id = Some(id);
    }
    next.validate("the new answers").into_result()?;
    if !changed.is_empty() {
        let pairs: Vec<&str> = pairs.iter().map(String::as_str).collect();
        next.history.push(format!("set {}", pairs.join(" ")));
    }
    *answers = next;
    Ok(changed)
}

/// The changes `strata set` refuses on a workspace whose stacks may be deployed: they would
/// delete a stack file while its stack still runs (a topology switch), or make Pulumi replace a
/// shared VPC and with it the cluster of every environment.
fn replaced_stacks(answers: &Answers, changed: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if changed.iter().any(|k| k == "network.topology") {
        problems.push(
            Problem::new(
                "`strata set network.topology`",
                "would replace every Pulumi stack of the workspace: the old stack files go while their stacks still run",
            )
            .hint("bootstrap a new workspace with `strata new --set network.topology=...` and move the services to it, then `pulumi destroy` the old stacks"),
        );
    }
    if answers.settings.network.topology == Topology::Shared
        && changed.iter().any(|k| k == "network.vpc_cidr")
    {
        problems.push(
            Problem::new(
                "`strata set network.vpc_cidr`",
                "would make Pulumi replace the shared VPC, and with it the cluster of every environment",
            )
            .hint("keep the VPC range of a deployed workspace; a new range needs a new workspace"),
        );
    }
    problems
}

/// The environments' VPCs after `network.topology` changed: a VPC each, from the next free
/// ranges (as `add env` gives one), or none (one shared VPC, from `network.vpc_cidr`).
fn follow_topology(answers: &mut Answers) {
    match answers.settings.network.topology {
        Topology::Shared => {
            for env in &mut answers.environments {
                env.vpc_cidr = None;
            }
        }
        Topology::PerEnvironment => {
            for i in 0..answers.environments.len() {
                if answers.environments[i].vpc_cidr.is_none() {
                    answers.environments[i].vpc_cidr = answers.next_free_cidr();
                }
            }
        }
    }
}

/// The settings as a TOML table, every key of `strata presets --keys` in it.
fn settings_table(settings: &Settings) -> toml::Table {
    toml::Table::try_from(settings).unwrap_or_default()
}

/// The value at a dotted key of a table.
fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut current = table.get(parts.next()?)?;
    for part in parts {
        current = current.as_table()?.get(part)?;
    }
    Some(current)
}

/// The workspace's settings with `overrides` applied and validated; `None` with no overrides
/// or when one is not valid (each problem is pushed). A key the workspace's settings leave
/// out (an optional one) takes its place from the workspace's preset first, so that every key
/// `strata presets --keys` lists can be set.
fn changed_settings(
    answers: &Answers,
    overrides: &[(String, String)],
    problems: &mut Problems,
) -> Option<Settings> {
    if overrides.is_empty() {
        return None;
    }
    let mut table = settings_table(&answers.settings);
    let preset: Option<toml::Table> = pack::preset_text(&answers.preset)
        .ok()
        .and_then(|text| toml::from_str(text).ok());
    for (key, _) in overrides {
        if lookup(&table, key).is_none() {
            if let Some(value) = preset.as_ref().and_then(|p| lookup(p, key)) {
                insert(&mut table, key, value.clone());
            }
        }
    }
    let found = settings::apply_overrides_as(&mut table, overrides, "strata set");
    let valid = found.is_empty();
    problems.extend(found);
    if !valid {
        return None;
    }
    let settings: Settings = match toml::Value::Table(table).try_into() {
        Ok(settings) => settings,
        Err(err) => {
            let err: toml::de::Error = err;
            problems.push(
                Problem::new("`strata set`", err.message().to_string())
                    .hint("give each value of the same kind as `strata presets --keys` shows"),
            );
            return None;
        }
    };
    let found = settings.validate();
    let valid = found.is_empty();
    problems.extend(found);
    valid.then_some(settings)
}

/// Puts a value at a dotted key, creating the tables on the way.
fn insert(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else {
        return;
    };
    let mut current = table;
    for part in parts {
        let next = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(next) = next.as_table_mut() else {
            return;
        };
        current = next;
    }
    current.insert(last.to_string(), value);
}

/// The changes to one service, as given (`strata edit service`); `None` and empty lists leave
/// a value as it is. Each value means what the `add service` flag of the same name means.
#[derive(Debug, Default, Clone)]
pub struct ServiceEdit {
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
    pub expose: Option<Expose>,
    pub irsa: Option<bool>,
    pub config: Vec<(String, String)>,
    pub unset_config: Vec<String>,
    pub add_secrets: Vec<String>,
    pub remove_secrets: Vec<String>,
}

impl ServiceEdit {
    /// Whether the edit changes nothing at all (no flag given).
    fn is_empty(&self) -> bool {
        self.image.is_none()
            && self.port.is_none()
            && self.min.is_none()
            && self.max.is_none()
            && self.host.is_none()
            && self.path.is_none()
            && self.health_path.is_none()
            && self.cpu.is_none()
            && self.memory.is_none()
            && self.envs.is_none()
            && self.expose.is_none()
            && self.irsa.is_none()
            && self.config.is_empty()
            && self.unset_config.is_empty()
            && self.add_secrets.is_empty()
            && self.remove_secrets.is_empty()
    }
}

/// The name of an existing service, or a problem with a "did you mean".
pub fn existing_service(answers: &Answers, name: &str) -> Result<ServiceName, Problem> {
    if let Some((name, _)) = answers.services.get_key_value(name) {
        return Ok(name.clone());
    }
    let known: Vec<&str> = answers.services.keys().map(|k| k.as_str()).collect();
    let problem = Problem::new(
        format!("service `{}`", name.escape_default()),
        "does not exist in this workspace",
    );
    Err(match did_you_mean(name, known.iter().copied()) {
        Some(close) => problem.hint(format!(
            "did you mean `{close}`? `strata list` shows the services (`strata add service` adds one)"
        )),
        None => problem.hint("`strata list` shows the services (`strata add service` adds one)"),
    })
}

/// Changes an existing service's values; every problem is reported at once.
pub fn edit_service(
    answers: &mut Answers,
    name: &str,
    edit: &ServiceEdit,
) -> Result<ServiceName, Problems> {
    let name = existing_service(answers, name).map_err(Problems::from)?;
    if edit.is_empty() {
        return Err(Problem::new(format!("`strata edit service {name}`"), "was given nothing to change")
            .hint("pass the values to change, with the flags of `strata add service` (`--replicas 3`, `--add-secret KEY`, `--config KEY=VALUE`, ...); `strata edit service --help` lists them")
            .into());
    }
    let mut problems = Problems::default();
    let mut service = answers.services[&name].clone();
    let defaults = &answers.settings.service;
    if let Some(image) = edit
        .image
        .as_deref()
        .and_then(|i| problems.take(i.parse::<Image>()))
    {
        service.image = image.name;
        service.tag = image.tag;
    }
    if let Some(port) = edit.port.and_then(|p| problems.take(Port::new(p))) {
        service.port = port;
    }
    if let Some(path) = edit
        .path
        .as_deref()
        .and_then(|p| problems.take(HttpPath::parse("`--path`", p)))
    {
        service.path = path;
    }
    if let Some(path) = edit
        .health_path
        .as_deref()
        .and_then(|p| problems.take(HttpPath::parse("`--health-path`", p)))
    {
        service.health_path = path;
    }
    // A request above the preset's limit raises the limit, as `add service` does.
    if let Some(cpu) = edit
        .cpu
        .as_deref()
        .and_then(|c| problems.take(c.parse::<Cpu>()))
    {
        if let Some(limit) = problems.take(defaults.cpu_limit.parse::<Cpu>()) {
            service.cpu_limit = cpu.max(&limit).clone();
        }
        service.cpu_request = cpu;
    }
    if let Some(memory) = edit
        .memory
        .as_deref()
        .and_then(|m| problems.take(m.parse::<Memory>()))
    {
        if let Some(limit) = problems.take(defaults.memory_limit.parse::<Memory>()) {
            service.memory_limit = memory.max(&limit).clone();
        }
        service.memory_request = memory;
    }
    if let Some(expose) = edit.expose {
        service.expose = expose;
    }
    if let Some(irsa) = edit.irsa {
        if irsa && answers.lacks_account_for_role_arns() {
            problems.push(
                Problem::new(
                    "`--aws-role`",
                    "needs the AWS account id, for the role ARN on the ServiceAccount",
                )
                .hint("run `strata set aws_account_id=123456789012` first"),
            );
        }
        service.irsa = irsa;
    }
    edit_envs(answers, &mut service.envs, edit, &mut problems);
    edit_keys(&mut service, edit, &mut problems);
    if service.expose == Expose::None {
        for (flag, given) in [
            ("`--host`", edit.host.is_some()),
            ("`--path`", edit.path.is_some()),
        ] {
            if given {
                problems.push(
                    Problem::new(flag, "has no effect with `--expose none`: the service gets no Ingress")
                        .hint("drop it, or expose the service with `--expose public` or `--expose internal`"),
                );
            }
        }
    }
    if let Some(raw) = &edit.host {
        match raw.parse::<HostPattern>() {
            Ok(pattern) => service.host = pattern,
            Err(problem) => problems.push(Problem {
                subject: format!("`--host {}`", raw.escape_default()),
                ..problem
            }),
        }
    }
    problems.clone().into_result()?;
    let mut next = answers.clone();
    next.services.insert(name.clone(), service);
    next.validate_service(name.as_str(), "the new answers")
        .into_result()?;
    // An edit to the values the service has already changes nothing, history included.
    if next.services[&name] != answers.services[&name] {
        next.history.push(format!("edit service {name}"));
    }
    *answers = next;
    Ok(name)
}

/// `--envs` (the environments the service runs in: a new one takes the values of the first it
/// ran in) and the replica bounds (`--replicas`, `--min`, `--max`, in every environment).
fn edit_envs(
    answers: &Answers,
    envs: &mut BTreeMap<EnvName, ServiceEnv>,
    edit: &ServiceEdit,
    problems: &mut Problems,
) {
    if let Some(list) = &edit.envs {
        if list.is_empty() {
            problems
                .push(Problem::new("`--envs`", "is empty").hint("list at least one environment"));
        }
        let first = envs.values().next().cloned();
        let mut next = BTreeMap::new();
        for env in list {
            if !answers.environments.iter().any(|e| &e.name == env) {
                problems.push(
                    Problem::new(
                        format!("`--envs {env}`"),
                        "does not exist in this workspace",
                    )
                    .hint(format!("use one of: {}", answers.env_names().join(", "))),
                );
                continue;
            }
            let values = envs.get(env).cloned().or_else(|| first.clone());
            if let Some(values) = values {
                next.insert(env.clone(), values);
            }
        }
        *envs = next;
    }
    if edit.min.is_none() && edit.max.is_none() {
        return;
    }
    for values in envs.values_mut() {
        let min = edit.min.unwrap_or(values.replicas.min());
        let max = edit.max.unwrap_or(values.replicas.max().max(min));
        match Replicas::new(min, max) {
            Ok(replicas) => values.replicas = replicas,
            Err(problem) => {
                problems.push(problem);
                return;
            }
        }
    }
}

/// The config entries (`--config KEY=VALUE`, `--unset-config KEY`) and secret keys
/// (`--add-secret KEY`, `--remove-secret KEY`): a key is either config or a secret.
fn edit_keys(
    service: &mut crate::model::answers::Service,
    edit: &ServiceEdit,
    problems: &mut Problems,
) {
    for (flag, key, other) in edit
        .unset_config
        .iter()
        .filter(|k| edit.config.iter().any(|(c, _)| c == *k))
        .map(|k| ("--unset-config", k, "--config"))
        .chain(
            edit.remove_secrets
                .iter()
                .filter(|k| edit.add_secrets.contains(k))
                .map(|k| ("--remove-secret", k, "--add-secret")),
        )
    {
        problems.push(
            Problem::new(
                format!("`{flag} {}`", key.escape_default()),
                format!("contradicts `{other}` of the same key"),
            )
            .hint("give one of the two"),
        );
    }
    for key in &edit.unset_config {
        if service.config.remove(key).is_none() {
            problems.push(
                Problem::new(
                    format!("`--unset-config {}`", key.escape_default()),
                    "is not a config key of the service",
                )
                .hint(known_keys("config keys", service.config.keys())),
            );
        }
    }
    for key in &edit.remove_secrets {
        let before = service.secrets.len();
        service.secrets.retain(|k| k != key);
        if service.secrets.len() == before {
            problems.push(
                Problem::new(
                    format!("`--remove-secret {}`", key.escape_default()),
                    "is not a secret of the service",
                )
                .hint(known_keys("secrets", service.secrets.iter())),
            );
        }
    }
    let mut given = Vec::new();
    for (key, value) in &edit.config {
        let value = problems.take(names::parse_config_value(key, value));
        if let (Some(key), Some(value)) =
            (problems.take(names::parse_service_config_key(key)), value)
        {
            if given.contains(&key) {
                problems.push(
                    Problem::new(format!("config key `{key}`"), "is given twice")
                        .hint("give each key once"),
                );
            } else if service.secrets.contains(&key) {
                problems.push(
                    Problem::new(format!("config key `{key}`"), "is a secret of the service").hint(
                        format!(
                            "a key is either config or a secret: `--remove-secret {key}` first"
                        ),
                    ),
                );
            } else {
                given.push(key.clone());
                service.config.insert(key, value);
            }
        }
    }
    for key in &edit.add_secrets {
        let Some(key) = problems.take(names::parse_service_config_key(key)) else {
            continue;
        };
        if service.secrets.contains(&key) {
            problems.push(
                Problem::new(
                    format!("secret `{key}`"),
                    "is already a secret of the service",
                )
                .hint("drop `--add-secret`, or give another key"),
            );
        } else if service.config.contains_key(&key) {
            problems.push(
                Problem::new(format!("secret `{key}`"), "is a config key of the service").hint(
                    format!("a key is either config or a secret: `--unset-config {key}` first"),
                ),
            );
        } else {
            service.secrets.push(key);
        }
    }
}

/// A hint listing the keys there are.
fn known_keys<'a>(what: &str, keys: impl Iterator<Item = &'a String>) -> String {
    let keys: Vec<&str> = keys.map(String::as_str).collect();
    if keys.is_empty() {
        format!("the service has no {what}")
    } else {
        format!("its {what}: {}", keys.join(", "))
    }
}
