//! The settings step: command-line arguments -> validated, typed input of a command.
//!
//! Each function here turns one command's clap arguments into what the rest of the pipeline
//! trusts (answers, a `ServiceInput`, template overrides), reporting every problem of the
//! input at once (exit 2) before anything is rendered. Cross-field rules of the answers live in
//! `model/answers.rs` (`Answers::validate`), of the settings in `model/settings.rs`, and of
//! values in `model/names.rs`: this module only gathers and parses, and never renders or writes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::{AddServiceArgs, NewArgs};
use crate::jobs::grow::{self, ServiceInput};
use crate::model::answers::{self, Answers, Repos, FORMAT};
use crate::model::names::{self, EnvName, ProjectName, ServiceName};
use crate::model::pack;
use crate::model::region;
use crate::model::repo::Repo;
use crate::model::settings::{apply_overrides, Settings, Topology};
use crate::util::problem::{did_you_mean, Problem, Problems};

/// The preset's `[defaults]`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Defaults {
    pub(super) environments: Vec<String>,
    pub(super) services: Vec<String>,
    pub(super) region: String,
}

/// Resolves a preset and overrides into settings and defaults.
pub(super) fn resolve_preset(
    name: &str,
    overrides: &[(String, String)],
) -> Result<(Settings, Defaults), Problems> {
    let text = pack::preset_text(name).map_err(Problems::from)?;
    let mut table: toml::Table = toml::from_str(text).map_err(|err| {
        Problems::from(
            Problem::new(format!("preset `{name}`"), err.message().to_string())
                .hint("this is a bug in strata's embedded preset"),
        )
    })?;
    table.remove("description");
    let defaults: Defaults = table
        .remove("defaults")
        .ok_or_else(|| {
            Problems::from(
                Problem::new(format!("preset `{name}`"), "has no `[defaults]`")
                    .hint("this is a bug in strata's embedded preset"),
            )
        })?
        .try_into()
        .map_err(|err: toml::de::Error| {
            Problems::from(
                Problem::new(
                    format!("preset `{name}` defaults"),
                    err.message().to_string(),
                )
                .hint("this is a bug in strata's embedded preset"),
            )
        })?;
    apply_overrides(&mut table, overrides).into_result()?;
    let settings: Settings =
        toml::Value::Table(table)
            .try_into()
            .map_err(|err: toml::de::Error| {
                Problems::from(
                    Problem::new(format!("preset `{name}`"), err.message().to_string())
                        .hint("check the `--set` values"),
                )
            })?;
    settings.validate().into_result()?;
    Ok((settings, defaults))
}

/// A value of `strata new` that the command line may leave out. What only its user knows
/// (the name, `--domain`, `--git-base`) strata never invents: a guess would deploy wrong (a
/// hosted zone for a domain nobody owns, Argo CD pulling a repository that is not theirs). The
/// others have the preset's defaults. On a terminal, [`fill_unknowns`] asks for each one left
/// out (`jobs/questions.rs`: the question, its default, its check); without one, or with
/// `--no-input`, a required value still missing is a problem (exit 2) naming its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// `<NAME>`: the project's name.
    Name,
    /// `--preset`: the platform's defaults.
    Preset,
    /// `--region`: the AWS region.
    Region,
    /// `--envs`: the environments.
    Envs,
    /// `--services`: the first services.
    Services,
    /// `--domain`: the DNS domain whose public hosted zone External DNS writes to.
    Domain,
    /// `--git-base`: where both repos are hosted, the URL Argo CD pulls from.
    GitBase,
    /// `--api-cidrs`: the networks that may reach the Kubernetes API.
    ApiCidrs,
    /// `--github-owner-id`: GitHub's id of the foundation repo's owner (asked only for a git
    /// base on github.com; the repo may not exist yet, so an empty answer is fine).
    GithubOwnerId,
    /// `--github-repository-id`: GitHub's id of the foundation repo (asked after the owner's).
    GithubRepositoryId,
}

impl Unknown {
    /// Every value, in the order a terminal asks for them (the preset first: the defaults of
    /// the region, environments and services are its).
    pub const ALL: [Unknown; 10] = [
        Unknown::Name,
        Unknown::Preset,
        Unknown::Region,
        Unknown::Envs,
        Unknown::Services,
        Unknown::Domain,
        Unknown::GitBase,
        Unknown::ApiCidrs,
        Unknown::GithubOwnerId,
        Unknown::GithubRepositoryId,
    ];

    /// The flag (or argument) that gives it.
    pub fn flag(self) -> &'static str {
        match self {
            Unknown::Name => "<NAME>",
            Unknown::Preset => "--preset",
            Unknown::Region => "--region",
            Unknown::Envs => "--envs",
            Unknown::Services => "--services",
            Unknown::Domain => "--domain",
            Unknown::GitBase => "--git-base",
            Unknown::ApiCidrs => "--api-cidrs",
            Unknown::GithubOwnerId => "--github-owner-id",
            Unknown::GithubRepositoryId => "--github-repository-id",
        }
    }

    pub(super) fn slot(self, args: &mut NewArgs) -> &mut Option<String> {
        match self {
            Unknown::Name => &mut args.name,
            Unknown::Preset => &mut args.preset,
            Unknown::Region => &mut args.region,
            Unknown::Envs => &mut args.envs,
            Unknown::Services => &mut args.services,
            Unknown::Domain => &mut args.domain,
            Unknown::GitBase => &mut args.git_base,
            Unknown::ApiCidrs => &mut args.api_cidrs,
            Unknown::GithubOwnerId => &mut args.github_owner_id,
            Unknown::GithubRepositoryId => &mut args.github_repository_id,
        }
    }

    /// Whether a terminal asks for it: GitHub's ids only for a git base on github.com that no
    /// `--set github.*` already answered, the repository's only after the owner's.
    fn asked(self, args: &NewArgs) -> bool {
        let set_github = args.set.iter().any(|raw| raw.starts_with("github."));
        match self {
            Unknown::GithubOwnerId => {
                !set_github && args.git_base.as_deref().is_some_and(names::is_github)
            }
            Unknown::GithubRepositoryId => args.github_owner_id.is_some(),
            _ => true,
        }
    }

    /// The value given, or (for what strata never invents) a problem that names the flag and
    /// how to give it.
    fn given<'a>(
        self,
        args: &'a NewArgs,
        project: Option<&ProjectName>,
        problems: &mut Problems,
    ) -> Option<&'a str> {
        let value = match self {
            Unknown::Name => args.name.as_deref(),
            Unknown::Domain => args.domain.as_deref(),
            Unknown::GitBase => args.git_base.as_deref(),
            _ => return None,
        };
        if value.is_none() {
            let project = project.map_or("<NAME>", ProjectName::as_str);
            let subject = format!("`{}`", self.flag());
            let on_a_terminal = "; on a terminal, `strata new` asks for it unless `--no-input`";
            problems.push(match self {
                Unknown::Name => Problem::new(subject, "is missing: the project's name")
                    .hint(format!("pass it, for example `strata new acme`{on_a_terminal}")),
                Unknown::Domain => Problem::new(
                    subject,
                    "is missing: strata does not guess the DNS domain whose public hosted zone External DNS writes to and the TLS certificates are validated in",
                )
                .hint(format!("pass a domain you own, for example `--domain acme.example.com` (the foundation README says how to create its hosted zone){on_a_terminal}")),
                _ => Problem::new(
                    subject,
                    format!("is missing: strata does not guess where the repos are hosted, and Argo CD pulls `<URL>/{project}-gitops.git`"),
                )
                .hint(format!("pass the URL that will hold both repos, for example `--git-base https://github.com/acme`{on_a_terminal}")),
            });
        }
        value
    }
}

/// Asks for a value of `strata new` that the command line left out; `None` when there is no
/// answer. [`NoPrompt`] is the command line alone; a terminal prompt (`commands/prompt.rs`)
/// is another `Ask`. `args` holds what is known so far (the preset's defaults follow it).
pub trait Ask {
    fn ask(&mut self, unknown: Unknown, args: &NewArgs) -> Option<String>;
}

/// No one to ask: what the command line leaves out stays missing.
pub struct NoPrompt;

impl Ask for NoPrompt {
    fn ask(&mut self, _: Unknown, _: &NewArgs) -> Option<String> {
        None
    }
}

/// Fills in the values the command line left out, asking `ask` for each, in order; runs
/// before [`new_answers`], which validates what was given and reports what is still missing.
pub fn fill_unknowns(args: &mut NewArgs, ask: &mut dyn Ask) {
    for unknown in Unknown::ALL {
        if unknown.slot(args).is_none() && unknown.asked(args) {
            let answer = ask.ask(unknown, args);
            *unknown.slot(args) = answer;
        }
    }
}

/// `--github-owner-id` and `--github-repository-id`, as the `github.*` settings they set.
fn github_id_overrides(
    args: &NewArgs,
    overrides: &mut Vec<(String, String)>,
    problems: &mut Problems,
) {
    for (unknown, key, value) in [
        (
            Unknown::GithubOwnerId,
            "github.owner_id",
            &args.github_owner_id,
        ),
        (
            Unknown::GithubRepositoryId,
            "github.repository_id",
            &args.github_repository_id,
        ),
    ] {
        let flag = format!("`{}`", unknown.flag());
        let Some(id) = value
            .as_deref()
            .and_then(|v| problems.take(names::parse_github_id(&flag, v)))
        else {
            continue;
        };
        if overrides.iter().any(|(k, v)| k == key && *v != id) {
            problems.push(
                Problem::new(flag, format!("differs from `--set {key}`"))
                    .hint("give the id once, with either"),
            );
            continue;
        }
        overrides.push((key.to_string(), id));
    }
}

/// The whole input of `strata new`, validated: every problem is reported at once.
pub fn new_answers(args: &NewArgs) -> Result<Answers, Problems> {
    let mut problems = Problems::default();
    let project = Unknown::Name
        .given(args, None, &mut problems)
        .and_then(|name| problems.take(name.parse::<ProjectName>()));
    let preset_name = args
        .preset
        .clone()
        .unwrap_or_else(|| pack::DEFAULT_PRESET.to_string());
    let pack_name = args
        .pack
        .clone()
        .unwrap_or_else(|| pack::DEFAULT_PACK.to_string());
    problems.take(pack::check_pack(&pack_name));
    let mut overrides = Vec::new();
    for raw in &args.set {
        if let Some(pair) = problems.take(names::parse_key_value("--set", raw)) {
            overrides.push(pair);
        }
    }
    github_id_overrides(args, &mut overrides, &mut problems);
    let resolved = match resolve_preset(&preset_name, &overrides) {
        Ok(resolved) => Some(resolved),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let region = args
        .region
        .clone()
        .or_else(|| resolved.as_ref().map(|(_, d)| d.region.clone()));
    let region = region.and_then(|r| problems.take(region::parse_known(&r)));
    let domain = Unknown::Domain
        .given(args, project.as_ref(), &mut problems)
        .and_then(|d| problems.take(names::parse_domain(d)));
    let account = args
        .account_id
        .as_deref()
        .and_then(|a| problems.take(names::parse_account_id(a)));
    let git_base = Unknown::GitBase
        .given(args, project.as_ref(), &mut problems)
        .and_then(|base| problems.take(names::parse_git_base(base)));
    check_revision(args, &mut problems);
    let (backend, secrets_provider) = parse_state(args, &mut problems);
    let api_cidrs = parse_api_cidrs(args, &mut problems);
    let defaults = resolved.as_ref().map(|(_, defaults)| defaults);
    let envs = parse_envs(args, defaults, &mut problems);
    let accounts = parse_accounts(args, &envs, &mut problems);
    let services = parse_services(args, defaults, &mut problems);
    check_out_dir(args, project.as_ref(), &mut problems);
    let (
        Some(project),
        Some((mut settings, _)),
        Some(region),
        Some(domain),
        Some(git_base),
        Some(backend),
    ) = (project, resolved, region, domain, git_base, backend)
    else {
        return Err(problems);
    };
    if args.api_cidrs.is_some() {
        settings.cluster.public_access_cidrs = api_cidrs;
    }
    if !args.admin_roles.is_empty() {
        settings.cluster.admin_role_arns = args.admin_roles.clone();
    }
    for p in settings.validate().0 {
        problems.push(p);
    }
    if !accounts.is_empty() && settings.network.topology == Topology::Shared {
        problems.push(answers::shared_topology_across_accounts());
    }
    problems.clone().into_result()?;
    let account_of = |env: &EnvName| accounts.get(env.as_str()).map(String::as_str);
    let mut answers = first_answers(
        args,
        First {
            project,
            preset_name,
            pack_name,
            region,
            domain,
            account,
            git_base,
            backend,
            secrets_provider,
            first_env: envs[0].clone(),
            settings,
        },
    );
    // The same steps as `add env` and `add service`, so that both paths render the same files.
    answers.environments[0].account = account_of(&envs[0]).map(str::to_string);
    for env in &envs[1..] {
        grow::add_env(&mut answers, env, None, account_of(env))?;
        answers.history.pop();
    }
    for service in &services {
        grow::add_service(&mut answers, service, &ServiceInput::default())?;
        answers.history.pop();
    }
    answers.validate("the answers").into_result()?;
    Ok(answers)
}

/// `--revision` must be a branch name.
fn check_revision(args: &NewArgs, problems: &mut Problems) {
    if let Err(problem) = crate::model::names::parse_branch(&args.revision) {
        problems.push(problem);
    }
}

/// The Pulumi backend (default: Pulumi Cloud) and the secrets provider, if one is given.
fn parse_state(
    args: &NewArgs,
    problems: &mut Problems,
) -> (Option<answers::Backend>, Option<String>) {
    let backend = match &args.backend {
        Some(raw) => problems.take(answers::Backend::parse(raw)),
        None => Some(answers::Backend::PulumiCloud { org: None }),
    };
    let secrets_provider = match &args.secrets_provider {
        Some(raw) => problems.take(answers::parse_secrets_provider(raw)),
        None => None,
    };
    (backend, secrets_provider)
}

/// `--api-cidrs`: the networks that may reach the cluster's public endpoint.
pub(super) fn parse_api_cidrs(args: &NewArgs, problems: &mut Problems) -> Vec<String> {
    let mut api_cidrs = Vec::new();
    if let Some(list) = &args.api_cidrs {
        for cidr in list.split(',').map(str::trim) {
            match cidr.parse::<ipnet::Ipv4Net>() {
                Ok(net) if net.network() == net.addr() => api_cidrs.push(net.to_string()),
                _ => problems.push(
                    Problem::new(
                        format!("`--api-cidrs`: `{}`", cidr.escape_default()),
                        "is not an IPv4 network CIDR",
                    )
                    .hint("list networks such as `203.0.113.0/24,198.51.100.7/32`"),
                ),
            }
        }
    }
    api_cidrs
}

/// `--envs`, or the preset's environments; at least one.
pub(super) fn parse_envs(
    args: &NewArgs,
    defaults: Option<&Defaults>,
    problems: &mut Problems,
) -> Vec<EnvName> {
    let envs: Vec<EnvName> = match &args.envs {
        Some(list) => match names::parse_list::<EnvName>("--envs", list) {
            Ok(envs) => envs,
            Err(more) => {
                problems.0.extend(more);
                Vec::new()
            }
        },
        None => match defaults {
            Some(defaults) => defaults
                .environments
                .iter()
                .filter_map(|env| problems.take(env.parse::<EnvName>()))
                .collect(),
            None => Vec::new(),
        },
    };
    if envs.is_empty() && problems.is_empty() {
        problems.push(
            Problem::new("`--envs`", "is empty")
                .hint("give at least one environment, for example `--envs dev,prod`"),
        );
    }
    envs
}

/// `--account ENV=ID,...`: each environment's AWS account, every environment named once, or
/// no environment at all (an empty map).
pub(super) fn parse_accounts(
    args: &NewArgs,
    envs: &[EnvName],
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut accounts = BTreeMap::new();
    let Some(list) = &args.account else {
        return accounts;
    };
    let known: Vec<&str> = envs.iter().map(EnvName::as_str).collect();
    let found_before = problems.0.len();
    for raw in list.split(',').map(str::trim) {
        let Some((env, id)) = problems.take(names::parse_key_value("--account", raw)) else {
            continue;
        };
        let subject = format!("`--account {}`", raw.escape_default());
        if !known.contains(&env.as_str()) {
            let hint = match did_you_mean(&env, known.iter().copied()) {
                Some(close) => format!(
                    "did you mean `{close}`? the environments are: {}",
                    known.join(", ")
                ),
                None => format!("name one of the environments: {}", known.join(", ")),
            };
            problems.push(
                Problem::new(
                    subject,
                    format!(
                        "names `{}`, which is not an environment of `--envs`",
                        env.escape_default()
                    ),
                )
                .hint(hint),
            );
            continue;
        }
        if accounts.contains_key(&env) {
            problems.push(
                Problem::new(subject, format!("names `{env}` a second time"))
                    .hint("give each environment one account"),
            );
            continue;
        }
        match names::parse_account_id(&id) {
            Ok(id) => {
                accounts.insert(env, id);
            }
            Err(p) => problems.push(Problem { subject, ..p }),
        }
    }
    let missing: Vec<&str> = known
        .iter()
        .copied()
        .filter(|env| !accounts.contains_key(*env))
        .collect();
    // An environment misspelt in `--account` would be named missing too: one problem is enough.
    if !missing.is_empty() && problems.0.len() == found_before {
        problems.push(
            Problem::new("`--account`", format!("gives no account to {}", missing.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")))
                .hint("give every environment its account (`--account dev=111111111111,prod=222222222222`), or leave out `--account` to deploy every stack into one account"),
        );
    }
    accounts
}

/// `--services`, or the preset's services.
pub(super) fn parse_services(
    args: &NewArgs,
    defaults: Option<&Defaults>,
    problems: &mut Problems,
) -> Vec<String> {
    match &args.services {
        Some(list) => match names::parse_list::<ServiceName>("--services", list) {
            Ok(services) => services.into_iter().map(|s| s.to_string()).collect(),
            Err(more) => {
                problems.0.extend(more);
                Vec::new()
            }
        },
        None => defaults.map(|d| d.services.clone()).unwrap_or_default(),
    }
}

/// `--out` must be a place for two new repos: empty or missing directories, not inside
/// another git repo when they get no git of their own.
fn check_out_dir(args: &NewArgs, project: Option<&ProjectName>, problems: &mut Problems) {
    // The nearest part of `--out` that exists must be a directory strata may write in.
    let existing = args.out.ancestors().find(|dir| dir.exists());
    if let Some(dir) = existing.filter(|_| !args.dry_run) {
        let what = if dir.is_dir() {
            tempfile::Builder::new()
                .prefix(".strata-out-check-")
                .tempdir_in(dir)
                .err()
                .map(|_| "cannot be written to".to_string())
        } else {
            Some("is a file, not a directory".to_string())
        };
        if let Some(what) = what {
            problems.push(
                Problem::new(
                    format!("`--out {}`", args.out.display()),
                    if dir == args.out {
                        what
                    } else {
                        format!("lies under `{}`, which {what}", dir.display())
                    },
                )
                .hint("choose a directory you may write in"),
            );
            return;
        }
    }
    // Without git of their own, repos inside another git repo could never be changed again:
    // every later command refuses a directory inside another repo (git::preflight).
    if args.no_git {
        if let Some(outer) = crate::git::enclosing_repo(&args.out) {
            problems.push(
                Problem::new(
                    format!("`{}`", args.out.display()),
                    format!("lies inside the git repo `{}`, and with `--no-git` the new repos would belong to it, which no later strata command accepts", outer.display()),
                )
                .hint("leave out `--no-git` (each repo then gets a git repo of its own), or choose an `--out` outside that repo"),
            );
        }
    }
    if let Some(project) = project {
        for repo in Repo::BOTH {
            let target = args.out.join(repo.dir_name(project.as_str()));
            if fs_err::read_dir(&target).is_ok_and(|mut entries| entries.next().is_some()) {
                problems.push(Problem::new(format!("`{}`", target.display()), "exists and is not empty").hint("choose another `--out` directory or project name, or move the directory away"));
            } else if target.exists() && !target.is_dir() {
                problems.push(
                    Problem::new(
                        format!("`{}`", target.display()),
                        "exists and is not a directory",
                    )
                    .hint("choose another `--out` directory or project name"),
                );
            }
        }
    }
}

/// The values of a new workspace's first answers, validated.
struct First {
    project: ProjectName,
    preset_name: String,
    pack_name: String,
    region: String,
    domain: String,
    account: Option<String>,
    git_base: String,
    backend: answers::Backend,
    secrets_provider: Option<String>,
    first_env: EnvName,
    settings: Settings,
}

/// The answers of a new workspace with its first environment and no service yet.
fn first_answers(args: &NewArgs, first: First) -> Answers {
    let First {
        project,
        preset_name,
        pack_name,
        region,
        domain,
        account,
        git_base,
        backend,
        secrets_provider,
        first_env,
        settings,
    } = first;
    let project_name = project;
    let project = project_name.to_string();
    let first_cidr = (settings.network.topology == Topology::PerEnvironment)
        .then(|| settings.network.vpc_cidr.clone());
    let state = answers::State {
        backend: args
            .backend
            .clone()
            .unwrap_or_else(|| "pulumi-cloud".to_string()),
        secrets_provider: secrets_provider
            .unwrap_or_else(|| backend.default_secrets_provider(&project, &region)),
    };
    Answers {
        format: FORMAT,
        strata_version: env!("CARGO_PKG_VERSION").to_string(),
        project: project_name,
        pack: pack_name.clone(),
        preset: preset_name.clone(),
        region,
        domain,
        aws_account_id: account,
        templates: Vec::new(),
        history: vec![format!(
            "new {project} --preset {preset_name} --pack {pack_name}"
        )],
        repos: Repos {
            gitops_url: format!("{git_base}/{}.git", Repo::Gitops.dir_name(&project)),
            foundation_url: format!("{git_base}/{}.git", Repo::Foundation.dir_name(&project)),
            revision: args.revision.clone(),
            foundation_dir: format!("../{}", Repo::Foundation.dir_name(&project)),
            gitops_dir: format!("../{}", Repo::Gitops.dir_name(&project)),
            credentials: if args.public_repo {
                answers::RepoCredentials::None
            } else {
                answers::RepoCredentials::SecretsManager
            },
        },
        state: Some(state),
        environments: vec![answers::Environment {
            name: first_env,
            vpc_cidr: first_cidr,
            account: None,
        }],
        services: BTreeMap::new(),
        settings,
        check: Default::default(),
    }
}

/// The input of `strata add service`, parsed, and the problems found in it; a bad value is
/// left at its default, so that the caller reports these with the answers' own problems, at
/// once.
pub fn service_input(args: &AddServiceArgs) -> (ServiceInput, Problems) {
    let mut problems = Problems::default();
    let mut config = Vec::new();
    for raw in &args.config {
        if let Some(pair) = problems.take(names::parse_key_value("--config", raw)) {
            config.push(pair);
        }
    }
    let envs = match &args.envs {
        Some(list) => match names::parse_list::<EnvName>("--envs", list) {
            Ok(envs) => Some(envs),
            Err(more) => {
                problems.0.extend(more);
                None
            }
        },
        None => None,
    };
    let expose = match args.expose.as_deref().map(str::parse::<answers::Expose>) {
        None => answers::Expose::default(),
        Some(Ok(expose)) => expose,
        Some(Err(problem)) => {
            problems.push(problem);
            answers::Expose::default()
        }
    };
    let input = ServiceInput {
        image: args.image.clone(),
        port: args.port,
        min: args.min.or(args.replicas),
        max: args.max.or(args.replicas),
        host: args.host.clone(),
        path: args.path.clone(),
        health_path: args.health_path.clone(),
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        envs,
        irsa: args.irsa,
        expose,
        config,
        secrets: args.secrets.clone(),
    };
    (input, problems)
}

/// Template overrides per repo (`foundation/`, `gitops/`) of `strata new --templates DIR`.
pub type Overrides = (Vec<(String, Vec<u8>)>, Vec<(String, Vec<u8>)>);

/// Reads `--templates DIR`: the organisation's overrides of the foundation's and the gitops
/// repo's templates.
pub fn template_overrides(dir: Option<&Path>) -> anyhow::Result<Overrides> {
    let Some(dir) = dir else {
        return Ok((Vec::new(), Vec::new()));
    };
    if !dir.is_dir() {
        return Err(Problems::from(
            Problem::new(
                format!("`--templates {}`", dir.display()),
                "is not a directory",
            )
            .hint("give a directory holding `foundation/` and/or `gitops/` template overrides"),
        )
        .into());
    }
    let foundation = crate::render::overrides::read(&dir.join("foundation"))?;
    let gitops = crate::render::overrides::read(&dir.join("gitops"))?;
    if foundation.is_empty() && gitops.is_empty() {
        return Err(Problems::from(
            Problem::new(
                format!("`--templates {}`", dir.display()),
                "holds no template under `foundation/` or `gitops/`",
            )
            .hint(
                "put overrides at `DIR/gitops/<template path>` or `DIR/foundation/<template path>`",
            ),
        )
        .into());
    }
    Ok((foundation, gitops))
}
