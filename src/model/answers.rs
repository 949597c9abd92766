//! The answers file, `strata.toml`: every resolved value of a workspace.
//!
//! Both repos carry the same `strata.toml`, so that later commands (`add`, `remove`, `list`)
//! need not ask anything again and can find the other repo. This module owns its format
//! (documented in `docs/answers-file.md`), its parsing with file/line/column errors and its
//! semantic checks; it performs no I/O beyond what the caller hands it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::model::names::{self, EnvName, ProjectName, ServiceName};
use crate::model::settings::{self, Settings, Topology};
use crate::model::values::{
    Cpu, HostPattern, HttpPath, ImageName, ImageTag, Memory, Port, Replicas,
};
use crate::util::problem::{Problem, Problems};

/// The format version this strata reads and writes.
pub const FORMAT: u32 = 1;
/// The file name of the answers file at the root of both repos.
pub const FILE_NAME: &str = "strata.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Format version of this file.
    pub format: u32,
    /// The strata version that last wrote the file.
    pub strata_version: String,
    pub project: ProjectName,
    pub pack: String,
    pub preset: String,
    pub region: String,
    pub domain: String,
    /// AWS account id; needed only for the role ARNs of services with `--irsa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    /// Templates the workspace overrides (`<repo>/<path>`), kept in each repo's
    /// `.strata/templates/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
    /// The commands that shaped the workspace, oldest first.
    #[serde(default)]
    pub history: Vec<String>,
    pub repos: Repos,
    /// Where Pulumi keeps the foundation's state, and how it encrypts the stacks' secrets.
    /// Absent in workspaces made before `--backend`: then `Pulumi.yaml` names no backend and
    /// Pulumi uses the one the user is logged in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The environments, in order; the first is the default `--from` of `add env`.
    pub environments: Vec<Environment>,
    #[serde(default)]
    pub services: BTreeMap<ServiceName, Service>,
    pub settings: Settings,
    /// `strata check`'s catalog, as this workspace extends it (`[check]`).
    #[serde(default, skip_serializing_if = "CheckConfig::is_empty")]
    pub check: CheckConfig,
}

/// `[check]` of `strata.toml`: how `strata check` extends its built-in catalog of
/// infrastructure Helm charts, and which remote sources it allows (`docs/check.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// More infrastructure charts: chart name -> why it is infrastructure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub infrastructure_charts: BTreeMap<String, String>,
    /// Charts of the built-in catalog this workspace deploys as applications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_charts: Vec<String>,
    /// Remote sources (URL prefixes) that Applications and kustomizations may deliver from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_remotes: Vec<String>,
}

impl CheckConfig {
    pub fn is_empty(&self) -> bool {
        self.infrastructure_charts.is_empty()
            && self.application_charts.is_empty()
            && self.allowed_remotes.is_empty()
    }

    /// Reads only `[check]` of a `strata.toml` (a gitops repo checked with `--gitops`).
    pub fn from_answers_text(text: &str) -> Result<CheckConfig, String> {
        #[derive(Deserialize)]
        struct Only {
            #[serde(default)]
            check: CheckConfig,
        }
        #[derive(Deserialize)]
        struct Loose {
            #[serde(default)]
            check: Option<toml::Value>,
        }
        let loose: Loose = toml::from_str(text).map_err(|err| err.to_string())?;
        let Some(check) = loose.check else {
            return Ok(CheckConfig::default());
        };
        let mut table = toml::Table::new();
        table.insert("check".to_string(), check);
        let only: Only = table
            .try_into()
            .map_err(|err: toml::de::Error| err.to_string())?;
        Ok(only.check)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repos {
    /// Where Argo CD pulls the gitops repo from.
    pub gitops_url: String,
    /// The foundation repo's remote.
    pub foundation_url: String,
    /// The branch Argo CD follows.
    pub revision: String,
    /// The foundation repo's directory, relative to either repo's root.
    pub foundation_dir: String,
    /// The gitops repo's directory, relative to either repo's root.
    pub gitops_dir: String,
    /// How Argo CD authenticates to the gitops repo.
    #[serde(default)]
    pub credentials: RepoCredentials,
}

/// How Argo CD authenticates to the gitops repo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepoCredentials {
    /// A private repo: the foundation reads a read-only credential from AWS Secrets Manager
    /// (`<project>/argocd/gitops-repo`) through External Secrets.
    #[default]
    SecretsManager,
    /// A public repo: Argo CD needs no credential.
    None,
}

impl RepoCredentials {
    pub const ALL: [RepoCredentials; 2] = [RepoCredentials::SecretsManager, RepoCredentials::None];

    /// The value in `strata.toml` and in a stack file's `gitops.repoCredentials`.
    pub fn as_str(self) -> &'static str {
        match self {
            RepoCredentials::SecretsManager => "secrets-manager",
            RepoCredentials::None => "none",
        }
    }
}

/// The shortest and longest S3 bucket name.
pub const S3_BUCKET_MIN: usize = 3;
pub const S3_BUCKET_MAX: usize = 63;

/// Where Pulumi keeps the foundation's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// `s3://BUCKET[/PREFIX]`, `pulumi-cloud`, `pulumi-cloud:ORG` or `local`.
    pub backend: String,
    /// The secrets provider every stack is created with: `default` (the backend's own),
    /// `passphrase`, or a KMS URL such as `awskms://alias/acme-pulumi?region=eu-west-1`.
    pub secrets_provider: String,
}

/// A parsed `--backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    S3 { bucket: String, prefix: String },
    PulumiCloud { org: Option<String> },
    Local,
}

impl Backend {
    /// Parses `s3://BUCKET[/PREFIX]`, `pulumi-cloud[:ORG]` or `local`.
    pub fn parse(value: &str) -> Result<Backend, Problem> {
        let bad = |why: &str| {
            Problem::new(
                format!("`--backend {}`", value.escape_default()),
                why.to_string(),
            )
            .hint("use `s3://BUCKET[/PREFIX]`, `pulumi-cloud`, `pulumi-cloud:ORG` or `local`")
        };
        if value == "local" {
            return Ok(Backend::Local);
        }
        if let Some(rest) = value.strip_prefix("pulumi-cloud") {
            return match rest.strip_prefix(':') {
                None if rest.is_empty() => Ok(Backend::PulumiCloud { org: None }),
                Some(org)
                    if !org.is_empty()
                        && org.len() <= 40
                        && org
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    Ok(Backend::PulumiCloud {
                        org: Some(org.to_string()),
                    })
                }
                _ => Err(bad("has an organization name Pulumi Cloud does not accept")),
            };
        }
        let Some(rest) = value.strip_prefix("s3://") else {
            return Err(bad("is not a backend strata knows"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (S3_BUCKET_MIN..=S3_BUCKET_MAX).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !bucket.contains("..");
        if !bucket_ok {
            return Err(bad("does not name a valid S3 bucket (3 to 63 characters: lowercase letters, digits, `-` and `.`)"));
        }
        let prefix = prefix.trim_end_matches('/');
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
            || prefix.contains("//")
            || prefix.split('/').any(|part| part == "." || part == "..")
        {
            return Err(bad(
                "has a prefix with characters other than letters, digits, `-`, `_`, `.` and `/`",
            ));
        }
        Ok(Backend::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The `backend.url` of `Pulumi.yaml` (and of `pulumi login`).
    pub fn url(&self) -> String {
        match self {
            Backend::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Backend::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Backend::PulumiCloud { .. } => "https://api.pulumi.com".to_string(),
            Backend::Local => "file://~".to_string(),
        }
    }

    /// `s3`, `pulumi-cloud` or `local`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::S3 { .. } => "s3",
            Backend::PulumiCloud { .. } => "pulumi-cloud",
            Backend::Local => "local",
        }
    }

    /// The secrets provider that suits this backend when none is given: a KMS key next to an
    /// S3 bucket, Pulumi Cloud's own, a passphrase on a local disk.
    pub fn default_secrets_provider(&self, project: &str, region: &str) -> String {
        match self {
            Backend::S3 { .. } => format!("awskms://alias/{project}-pulumi?region={region}"),
            Backend::PulumiCloud { .. } => "default".to_string(),
            Backend::Local => "passphrase".to_string(),
        }
    }
}

/// Checks a `--secrets-provider` value.
pub fn parse_secrets_provider(value: &str) -> Result<String, Problem> {
    const SCHEMES: &[&str] = &[
        "awskms://",
        "azurekeyvault://",
        "gcpkms://",
        "hashivault://",
    ];
    let ok = matches!(value, "default" | "passphrase")
        || SCHEMES
            .iter()
            .any(|s| value.strip_prefix(s).is_some_and(|rest| !rest.is_empty()))
            && value
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '\'' | '`'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Problem::new(
            format!("`--secrets-provider {}`", value.escape_default()),
            "is not a Pulumi secrets provider",
        )
        .hint("use `default`, `passphrase`, or a KMS URL such as `awskms://alias/NAME?region=eu-west-1`"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub name: EnvName,
    /// The VPC of this environment's cluster (cluster-per-environment topology only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_cidr: Option<String>,
    /// The AWS account the environment's stack deploys into (`strata new --account`): every
    /// environment has one, or none does (then every stack deploys into the caller's account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// The refusal of one shared cluster for environments in accounts of their own.
pub fn shared_topology_across_accounts() -> Problem {
    Problem::new(
        "`--account`",
        "gives the environments accounts of their own, but `network.topology` is `shared`: one cluster in one account hosts every environment",
    )
    .hint("pass `--set network.topology=per-environment` (a cluster in each account), or leave out `--account`")
}

/// A service: every value parsed into its type (`values.rs`) when it was given or read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Image repository, without the tag.
    pub image: ImageName,
    /// The tag every new overlay starts from.
    pub tag: ImageTag,
    pub port: Port,
    /// Ingress path.
    pub path: HttpPath,
    /// HTTP path of the readiness and liveness probes.
    pub health_path: HttpPath,
    /// Host name pattern; `{service}`, `{env}` and `{domain}` are replaced.
    pub host: HostPattern,
    pub cpu_request: Cpu,
    pub cpu_limit: Cpu,
    pub memory_request: Memory,
    pub memory_limit: Memory,
    /// Whether the service has an IAM role (IRSA).
    #[serde(default)]
    pub irsa: bool,
    /// How the service is reached from outside its namespace.
    #[serde(default)]
    pub expose: Expose,
    /// Keys of the service's secrets, read from AWS Secrets Manager by an ExternalSecret.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// ConfigMap entries.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// The environments the service runs in, with their values.
    pub envs: BTreeMap<EnvName, ServiceEnv>,
}

/// A service's values in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ServiceEnvFields", into = "ServiceEnvFields")]
pub struct ServiceEnv {
    pub replicas: Replicas,
}

/// A [`ServiceEnv`] as `strata.toml` writes it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceEnvFields {
    min_replicas: u32,
    max_replicas: u32,
}

impl TryFrom<ServiceEnvFields> for ServiceEnv {
    type Error = String;
    fn try_from(fields: ServiceEnvFields) -> Result<Self, String> {
        Replicas::new(fields.min_replicas, fields.max_replicas)
            .map(|replicas| Self { replicas })
            .map_err(|problem| format!("{}: {}", problem.subject, problem.message))
    }
}

impl From<ServiceEnv> for ServiceEnvFields {
    fn from(env: ServiceEnv) -> Self {
        Self {
            min_replicas: env.replicas.min(),
            max_replicas: env.replicas.max(),
        }
    }
}

/// How a service is reached from outside its namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expose {
    /// Through the environment's internet-facing load balancer.
    #[default]
    Public,
    /// Through the environment's internal load balancer, reachable from the VPC only.
    Internal,
    /// No load balancer: a worker, or a service called only from its namespace.
    None,
}

impl Expose {
    pub fn as_str(self) -> &'static str {
        match self {
            Expose::Public => "public",
            Expose::Internal => "internal",
            Expose::None => "none",
        }
    }
}

impl std::str::FromStr for Expose {
    type Err = Problem;
    fn from_str(value: &str) -> Result<Self, Problem> {
        match value {
            "public" => Ok(Expose::Public),
            "internal" => Ok(Expose::Internal),
            "none" => Ok(Expose::None),
            _ => Err(Problem::new(
                format!("`--expose {}`", value.escape_default()),
                "is not a way to expose a service",
            )
            .hint("use `public` (the default), `internal` or `none`")),
        }
    }
}

impl Service {
    /// The host of this service in one environment.
    pub fn host_in(&self, service: &str, env: &str, domain: &str) -> String {
        self.host.expand(service, env, domain)
    }
}

impl Answers {
    /// Parses `strata.toml`, turning every failure into a problem naming the file, the line and
    /// the column, with a hint.
    pub fn parse(text: &str, path: &str) -> Result<Answers, Problems> {
        // The format version decides how to read the rest: a file of a newer format gets the
        // hint to upgrade strata rather than an error about a key this version does not know.
        let format_problem = |value: &toml::Value| -> Option<Problem> {
            match value.as_integer() {
                Some(v) if v == i64::from(FORMAT) => None,
                Some(v) if v > i64::from(FORMAT) => Some(
                    Problem::new(format!("`{path}`"), format!("has format {v}, this strata reads format {FORMAT}"))
                        .hint("upgrade strata to the version that wrote it (see `strata_version` in the file)"),
                ),
                _ => Some(Problem::new(format!("`{path}`"), format!("has an unknown format `{value}`")).hint(format!("set `format = {FORMAT}`"))),
            }
        };
        let answers: Answers = match toml::from_str(text) {
            Ok(answers) => answers,
            Err(err) => {
                #[derive(Deserialize)]
                struct Version {
                    format: Option<toml::Value>,
                }
                if let Ok(Version {
                    format: Some(value),
                }) = toml::from_str::<Version>(text)
                {
                    if let Some(problem) = format_problem(&value) {
                        return Err(problem.into());
                    }
                }
                return Err(Problems::from(toml_problem(path, text, &err)));
            }
        };
        if let Some(problem) = format_problem(&toml::Value::Integer(i64::from(answers.format))) {
            return Err(problem.into());
        }
        answers.validate(path).into_result()?;
        Ok(answers)
    }

    /// Every semantic check of a loaded or freshly built answers file.
    pub fn validate(&self, path: &str) -> Problems {
        let mut problems = Problems::default();
        let subject = |what: &str| format!("`{path}`: {what}");
        let mut push = |problem: Problem| {
            problems.push(Problem {
                subject: subject(&problem.subject),
                ..problem
            })
        };

        // The project's, the environments' and the services' names are newtypes: a bad one
        // never gets this far (`strata.toml` fails to parse, naming its line).
        if crate::model::pack::check_pack(&self.pack).is_err() {
            push(
                Problem::new(
                    "`pack`",
                    format!("`{}` is not a pack of this strata", self.pack),
                )
                .hint("`strata packs` lists them"),
            );
        }
        if let Err(p) = names::parse_region(&self.region) {
            push(p);
        }
        if let Err(p) = names::parse_domain(&self.domain) {
            push(p);
        }
        if let Err(p) = names::parse_branch(&self.repos.revision) {
            push(Problem {
                subject: "`repos.revision`".into(),
                ..p
            });
        }
        if let Some(account) = &self.aws_account_id {
            if let Err(p) = names::parse_account_id(account) {
                push(p);
            }
        }
        if let Some(state) = &self.state {
            if let Err(p) = Backend::parse(&state.backend) {
                push(p);
            }
            if let Err(p) = parse_secrets_provider(&state.secrets_provider) {
                push(p);
            }
        }
        if semver::Version::parse(&self.strata_version).is_err() {
            push(
                Problem::new(
                    "`strata_version`",
                    format!(
                        "`{}` is not a strata version",
                        self.strata_version.escape_default()
                    ),
                )
                .hint("restore `strata.toml` from git: strata writes this key"),
            );
        }
        for p in self.settings.validate().0 {
            push(p);
        }
        if self.environments.is_empty() {
            push(Problem::new("`environments`", "is empty").hint("keep at least one environment"));
        }
        let mut seen = Vec::new();
        for env in &self.environments {
            if seen.contains(&&env.name) {
                push(
                    Problem::new("`environments`", format!("lists `{}` twice", env.name))
                        .hint("list each environment once"),
                );
            }
            seen.push(&env.name);
            if self.settings.network.topology == Topology::PerEnvironment {
                match env.vpc_cidr.as_deref().map(str::parse::<Ipv4Net>) {
                    Some(Ok(_)) => {}
                    _ => push(
                        Problem::new(
                            format!("environment `{}`", env.name),
                            "has no valid `vpc_cidr`",
                        )
                        .hint("give each environment a CIDR such as `10.1.0.0/16`"),
                    ),
                }
            }
        }
        for p in check_cidrs_disjoint(self).0 {
            push(p);
        }
        for p in self.check_accounts().0 {
            push(p);
        }
        for p in self.host_clashes(None).0 {
            push(p);
        }
        for (name, service) in &self.services {
            for p in service.validate(name, self).0 {
                push(p);
            }
        }
        problems
    }

    /// Whether a service's IAM role ARN, which the ServiceAccount carries under IRSA, cannot be
    /// written: no account id, neither the workspace's nor the environments' own. Under Pod
    /// Identity the ServiceAccount names no role (the foundation's association does).
    pub fn lacks_account_for_role_arns(&self) -> bool {
        !self.settings.pod_identity() && self.aws_account_id.is_none() && !self.multi_account()
    }

    /// Whether the environments live in AWS accounts of their own (`--account`).
    pub fn multi_account(&self) -> bool {
        self.environments.iter().any(|e| e.account.is_some())
    }

    /// With an S3 backend and accounts of their own, the state of the stacks of `account`:
    /// `s3://<bucket>-<account>[/<prefix>]`, a bucket in that account (`docs/presets`).
    pub fn account_state_url(&self, account: &str) -> Option<String> {
        let state = self.state.as_ref()?;
        match Backend::parse(&state.backend).ok()? {
            Backend::S3 { bucket, prefix } => Some(
                Backend::S3 {
                    bucket: format!("{bucket}-{account}"),
                    prefix,
                }
                .url(),
            ),
            _ => None,
        }
    }

    /// The AWS account of an environment's roles: its own (`--account`), else the workspace's
    /// `aws_account_id`.
    pub fn account_of(&self, env: &str) -> Option<&str> {
        self.environments
            .iter()
            .find(|e| e.name == env)
            .and_then(|e| e.account.as_deref())
            .or(self.aws_account_id.as_deref())
    }

    /// The environments' accounts: twelve digits each, every environment with one or none, no
    /// shared cluster across accounts, and every host under its environment's own zone
    /// (`<env>.<domain>`, delegated to the environment's account).
    fn check_accounts(&self) -> Problems {
        let mut problems = Problems::default();
        if !self.multi_account() {
            return problems;
        }
        for env in &self.environments {
            match &env.account {
                Some(account) => {
                    if let Err(p) = names::parse_account_id(account) {
                        problems.push(Problem {
                            subject: format!("environment `{}`: {}", env.name, p.subject),
                            ..p
                        });
                    }
                }
                None => problems.push(
                    Problem::new(
                        format!("environment `{}`", env.name),
                        "has no AWS account, while other environments have their own",
                    )
                    .hint(format!(
                        "give every environment its account: `account = \"123456789012\"` under `name = \"{}\"` in `strata.toml`",
                        env.name
                    )),
                ),
            }
        }
        if self.settings.network.topology == Topology::Shared {
            problems.push(shared_topology_across_accounts());
        }
        if let Some(Ok(Backend::S3 { bucket, .. })) =
            self.state.as_ref().map(|s| Backend::parse(&s.backend))
        {
            // `<bucket>-<account>`: twelve digits and a dash more.
            if bucket.len() + 13 > S3_BUCKET_MAX {
                problems.push(
                    Problem::new(
                        format!("`--backend s3://{bucket}`"),
                        format!("names a bucket of {} characters: with accounts of their own each account keeps its stacks' state in `{bucket}-<account id>`, which S3 allows only up to {S3_BUCKET_MAX}", bucket.len()),
                    )
                    .hint(format!("use a bucket name of at most {} characters", S3_BUCKET_MAX - 13)),
                );
            }
        }
        problems
    }

    /// With accounts of their own, a service's hosts in each environment must be under the
    /// environment's hosted zone `<env>.<domain>`: ACM and External DNS write only there.
    pub fn check_hosts_in_zones(&self, name: &str, service: &Service) -> Problems {
        let mut problems = Problems::default();
        if !self.multi_account() || service.expose == Expose::None {
            return problems;
        }
        for env in service.envs.keys() {
            let host = service.host_in(name, env, &self.domain);
            let zone = format!("{env}.{}", self.domain);
            if !host.ends_with(&format!(".{zone}")) {
                problems.push(
                    Problem::new(
                        format!("service `{name}`"),
                        format!("has host `{host}` in `{env}`, outside `{zone}`, the environment's hosted zone in its own account"),
                    )
                    .hint("use a host pattern under `{env}.{domain}`, such as `{service}.{env}.{domain}` (`--host`)"),
                );
            }
        }
        problems
    }

    /// Services of one environment that claim the same host and path on the same load balancer
    /// (every Ingress of an environment joins one ALB group): the controller merges their rules
    /// and one service gets the other's traffic. With `only`, the clashes of that service.
    pub fn host_clashes(&self, only: Option<&str>) -> Problems {
        let mut problems = Problems::default();
        let mut claimed: std::collections::HashMap<(&str, Expose, String, &str), &str> =
            std::collections::HashMap::new();
        let ordered = self
            .services
            .iter()
            .filter(|(name, _)| Some(name.as_str()) != only)
            .chain(only.and_then(|name| self.services.get_key_value(name)));
        for (name, service) in ordered {
            if service.expose == Expose::None {
                continue;
            }
            for env in service.envs.keys() {
                let host = service.host_in(name, env, &self.domain);
                let key = (env.as_str(), service.expose, host, service.path.as_str());
                if let Some(other) = claimed.get(&key) {
                    if only.is_none_or(|only| only == name.as_str()) {
                        problems.push(
                            Problem::new(
                                format!("service `{name}`"),
                                format!(
                                    "claims `{}{}` in `{env}`, which service `{other}` serves on the same load balancer",
                                    key.2, key.3
                                ),
                            )
                            .hint("give it another `--host` or `--path`"),
                        );
                    }
                } else {
                    claimed.insert(key, name.as_str());
                }
            }
        }
        problems
    }

    /// Checks one service against the rest of the answers (which are valid already): what
    /// adding a service needs, without re-checking every other service.
    pub fn validate_service(&self, name: &str, path: &str) -> Problems {
        let mut problems = Problems::default();
        for p in self.host_clashes(Some(name)).0 {
            problems.push(Problem {
                subject: format!("`{path}`: {}", p.subject),
                ..p
            });
        }
        if let Some(service) = self.services.get(name) {
            for p in service.validate(name, self).0 {
                problems.push(Problem {
                    subject: format!("`{path}`: {}", p.subject),
                    ..p
                });
            }
        }
        problems
    }

    /// The ACM certificate of an environment: a wildcard for the hosts one level below
    /// `<env>.<domain>` (strata's default pattern), and a subject alternative name for every
    /// other host a service of the environment is reached at. Returns (domain name, SANs).
    pub fn certificate(&self, env: &str) -> (String, Vec<String>) {
        let zone = format!("{env}.{}", self.domain);
        let mut sans: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.expose != Expose::None && s.envs.contains_key(env))
            .map(|(name, s)| s.host_in(name, env, &self.domain))
            .filter(|host| {
                host.strip_suffix(&zone)
                    .and_then(|label| label.strip_suffix('.'))
                    .is_none_or(|label| label.is_empty() || label.contains('.'))
            })
            .collect();
        sans.sort_unstable();
        sans.dedup();
        (format!("*.{zone}"), sans)
    }

    /// The names of the environments, in order.
    pub fn env_names(&self) -> Vec<&str> {
        self.environments.iter().map(|e| e.name.as_str()).collect()
    }

    /// Serialises the file with a header comment.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# strata answers file: every resolved value of this workspace (format {FORMAT})."
        );
        let _ = writeln!(
            out,
            "# Both repos carry the same copy; `strata add` and `strata remove` keep them in step."
        );
        let _ = writeln!(
            out,
            "# Format: docs/answers-file.md in the strata repository."
        );
        out.push('\n');
        out.push_str(&toml::to_string(self).expect("answers serialise to TOML"));
        out
    }

    /// The VPC CIDR of the `index`-th /16 after the preset's base, for cluster-per-environment.
    pub fn nth_vpc_cidr(&self, index: u32) -> Option<String> {
        nth_cidr(&self.settings.network.vpc_cidr, index)
    }

    /// The first VPC CIDR no environment uses yet.
    pub fn next_free_cidr(&self) -> Option<String> {
        (0..256).filter_map(|i| self.nth_vpc_cidr(i)).find(|cidr| {
            !self
                .environments
                .iter()
                .any(|e| e.vpc_cidr.as_deref() == Some(cidr.as_str()))
        })
    }
}

/// The subnets of a VPC: each AZ gets an equal share (the VPC split into the next power of two
/// of the AZ count); a share's first half is its private subnet (nodes and pod IPs), its third
/// quarter its public subnet (load balancers and NAT gateways). Returns (private, public).
pub fn subnet_layout(vpc: &str, az_count: u8) -> Option<(Vec<String>, Vec<String>)> {
    let net: Ipv4Net = vpc.parse().ok()?;
    let bits = settings::share_bits(az_count.max(1));
    let shares: Vec<Ipv4Net> = net
        .subnets(net.prefix_len() + bits)
        .ok()?
        .take(usize::from(az_count))
        .collect();
    let mut private = Vec::new();
    let mut public = Vec::new();
    for share in shares {
        let quarters: Vec<Ipv4Net> = share
            .subnets(share.prefix_len() + settings::PUBLIC_SUBNET_BITS)
            .ok()?
            .collect();
        let halves: Vec<Ipv4Net> = share.subnets(share.prefix_len() + 1).ok()?.collect();
        private.push(halves[0].to_string());
        public.push(quarters[2].to_string());
    }
    Some((private, public))
}

/// The `index`-th network of the same size as `base`, counting up from it.
pub fn nth_cidr(base: &str, index: u32) -> Option<String> {
    let net: Ipv4Net = base.parse().ok()?;
    let size = 1u64 << (32 - u32::from(net.prefix_len()));
    let start = u64::from(u32::from(net.network())) + size * u64::from(index);
    let start = u32::try_from(start).ok()?;
    let nth = Ipv4Net::new(std::net::Ipv4Addr::from(start), net.prefix_len()).ok()?;
    // Within the private block the base lies in: the range after `172.31.0.0/16` is
    // `172.32.0.0/16`, which belongs to hosts on the internet.
    settings::private_block(net)
        .filter(|block| block.contains(&nth))
        .map(|_| nth.to_string())
}

fn check_cidrs_disjoint(answers: &Answers) -> Problems {
    let mut problems = Problems::default();
    if answers.settings.network.topology != Topology::PerEnvironment {
        return problems;
    }
    let nets: Vec<(&str, Ipv4Net)> = answers
        .environments
        .iter()
        .filter_map(|e| Some((e.name.as_str(), e.vpc_cidr.as_deref()?.parse().ok()?)))
        .collect();
    for (i, (a_name, a)) in nets.iter().enumerate() {
        let subject = format!("environment `{a_name}` VPC CIDR");
        if let Err(problem) = settings::check_vpc_cidr(&subject, &a.to_string()) {
            problems.push(problem);
        }
        for (b_name, b) in &nets[i + 1..] {
            if a.contains(b) || b.contains(a) {
                problems.push(
                    Problem::new(
                        format!("environments `{a_name}` and `{b_name}`"),
                        format!("have overlapping VPC CIDRs `{a}` and `{b}`"),
                    )
                    .hint("give each environment its own range, for example the next /16"),
                );
            }
        }
    }
    problems
}

impl Service {
    /// Whether the environment's namespace admits the service at all: each container within the
    /// LimitRange's maximum, and its minimum replicas within the quota. Otherwise admission
    /// refuses every pod, and nothing says so before the Deployment sits at 0 ready.
    pub fn fits_the_namespace(&self, name: &str, settings: &settings::Settings) -> Problems {
        let mut problems = Problems::default();
        let (limits, quota) = (&settings.namespace.limits, &settings.namespace.quota);
        let min = f64::from(
            self.envs
                .values()
                .map(|e| e.replicas.min())
                .max()
                .unwrap_or(1),
        );
        let mut over = |what: String, value: f64, key: &str, bound: &str, parsed: Option<f64>| {
            if parsed.is_some_and(|bound| value > bound) {
                problems.push(
                    Problem::new(
                        format!("service `{name}`"),
                        format!("{what} is above `{key} = {bound}`: the namespace admits none of its pods"),
                    )
                    .hint(format!("ask for less, or raise `{key}` (`strata.toml` of both repos)")),
                );
            }
        };
        let cpu = |v: &str| v.parse::<Cpu>().ok().map(|c| c.millis());
        let mem = |v: &str| v.parse::<Memory>().ok().map(|m| m.bytes());
        over(
            format!("its CPU limit `{}`", self.cpu_limit),
            self.cpu_limit.millis(),
            "namespace.limits.max_cpu",
            &limits.max_cpu,
            cpu(&limits.max_cpu),
        );
        over(
            format!("its memory limit `{}`", self.memory_limit),
            self.memory_limit.bytes(),
            "namespace.limits.max_memory",
            &limits.max_memory,
            mem(&limits.max_memory),
        );
        over(
            format!("{min} replicas of CPU request `{}`", self.cpu_request),
            min * self.cpu_request.millis(),
            "namespace.quota.requests_cpu",
            &quota.requests_cpu,
            cpu(&quota.requests_cpu),
        );
        over(
            format!("{min} replicas of memory request `{}`", self.memory_request),
            min * self.memory_request.bytes(),
            "namespace.quota.requests_memory",
            &quota.requests_memory,
            mem(&quota.requests_memory),
        );
        over(
            format!("{min} replicas of CPU limit `{}`", self.cpu_limit),
            min * self.cpu_limit.millis(),
            "namespace.quota.limits_cpu",
            &quota.limits_cpu,
            cpu(&quota.limits_cpu),
        );
        over(
            format!("{min} replicas of memory limit `{}`", self.memory_limit),
            min * self.memory_limit.bytes(),
            "namespace.quota.limits_memory",
            &quota.limits_memory,
            mem(&quota.limits_memory),
        );
        over(
            format!("its {min} minimum replicas"),
            min,
            "namespace.quota.pods",
            &quota.pods.to_string(),
            Some(f64::from(quota.pods)),
        );
        problems
    }

    /// The rules that span a service's values or the rest of the answers; each value on its
    /// own was parsed into its type when `strata.toml` was read.
    fn validate(&self, name: &str, answers: &Answers) -> Problems {
        let mut problems = answers.check_hosts_in_zones(name, self);
        let who = format!("service `{name}`");
        if self.cpu_request.millis() > self.cpu_limit.millis() {
            problems.push(
                Problem::new(
                    who.clone(),
                    format!(
                        "requests CPU `{}` above its limit `{}`",
                        self.cpu_request, self.cpu_limit
                    ),
                )
                .hint("keep the request at or below the limit"),
            );
        }
        if self.memory_request.bytes() > self.memory_limit.bytes() {
            problems.push(
                Problem::new(
                    who.clone(),
                    format!(
                        "requests memory `{}` above its limit `{}`",
                        self.memory_request, self.memory_limit
                    ),
                )
                .hint("keep the request at or below the limit"),
            );
        }
        for p in self.fits_the_namespace(name, &answers.settings).0 {
            problems.push(p);
        }
        for (key, value) in &self.config {
            if let Err(p) = names::parse_service_config_key(key) {
                problems.push(p);
            }
            if let Err(p) = names::parse_config_value(key, value) {
                problems.push(p);
            }
        }
        for key in &self.secrets {
            if let Err(p) = names::parse_config_key(key) {
                problems.push(p);
            }
        }
        if self.irsa && answers.lacks_account_for_role_arns() {
            problems.push(Problem::new(who.clone(), "uses IRSA but the workspace has no AWS account id").hint("run `strata set aws_account_id=123456789012` (or pass `--account-id` to `strata new`)"));
        }
        if self.envs.is_empty() {
            problems.push(
                Problem::new(who.clone(), "runs in no environment")
                    .hint("list at least one environment in `--envs`"),
            );
        }
        for env in self.envs.keys() {
            if !answers.environments.iter().any(|e| &e.name == env) {
                problems.push(
                    Problem::new(
                        who.clone(),
                        format!("names environment `{env}`, which the workspace does not have"),
                    )
                    .hint(format!("use one of: {}", answers.env_names().join(", "))),
                );
            }
        }
        let envs: Vec<&str> = self.envs.keys().map(EnvName::as_str).collect();
        for p in self.host.check(name, &envs, &answers.domain) {
            problems.push(Problem {
                subject: format!("{who} {}", p.subject),
                ..p
            });
        }
        problems
    }
}

/// A TOML parse error as a problem with file, line and column.
fn toml_problem(path: &str, text: &str, err: &toml::de::Error) -> Problem {
    let (line, column) = err
        .span()
        .map_or((1, 1), |span| line_column(text, span.start));
    let message = err.message().to_string();
    let hint = if message.contains("unknown field") {
        "remove the key or fix its spelling; docs/answers-file.md lists every key"
    } else if message.contains("missing field") {
        "add the missing key; docs/answers-file.md lists every key"
    } else if [
        " name `",
        "image `",
        "image tag `",
        "quantity `",
        "port `",
        "path `",
        "host `",
        "replica bounds",
    ]
    .iter()
    .any(|what| message.contains(what))
    {
        // A value the settings step refused (a `try_from` newtype), not a syntax error.
        "change the value at that place (docs/errors.md lists the rules), or restore the file from git"
    } else {
        "fix the TOML syntax at that place, or restore the file from git"
    };
    Problem::new(
        format!("`{path}`:{line}:{column}"),
        message.trim().replace('\n', " "),
    )
    .hint(hint)
}

/// The 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_count_up_by_their_size() {
        assert_eq!(nth_cidr("10.0.0.0/16", 0).unwrap(), "10.0.0.0/16");
        assert_eq!(nth_cidr("10.0.0.0/16", 3).unwrap(), "10.3.0.0/16");
        assert_eq!(nth_cidr("10.0.0.0/20", 1).unwrap(), "10.0.16.0/20");
        assert_eq!(nth_cidr("255.255.0.0/16", 1), None);
        assert_eq!(nth_cidr("172.31.0.0/16", 0).unwrap(), "172.31.0.0/16");
        assert_eq!(
            nth_cidr("172.31.0.0/16", 1),
            None,
            "172.32/16 is not private"
        );
        assert_eq!(nth_cidr("10.255.0.0/16", 1), None, "11/8 is not private");
        assert_eq!(nth_cidr("192.168.252.0/22", 1), None);
        assert_eq!(nth_cidr("192.168.248.0/22", 1).unwrap(), "192.168.252.0/22");
        assert!(settings::check_vpc_cidr("s", "8.8.0.0/16").is_err());
        assert!(settings::check_vpc_cidr("s", "100.64.0.0/16").is_ok());
    }

    #[test]
    fn the_smallest_vpc_at_the_most_azs_still_has_load_balancer_subnets_issue_18() {
        use settings::{AZ_COUNT_MAX, LOAD_BALANCER_SUBNET_PREFIX_MAX, VPC_PREFIX_MAX};
        let (private, public) =
            subnet_layout(&format!("10.0.0.0/{VPC_PREFIX_MAX}"), AZ_COUNT_MAX).unwrap();
        let prefix = |cidr: &String| cidr.parse::<Ipv4Net>().unwrap().prefix_len();
        assert_eq!(public.len(), usize::from(AZ_COUNT_MAX));
        assert!(public
            .iter()
            .all(|c| prefix(c) == LOAD_BALANCER_SUBNET_PREFIX_MAX));
        assert!(private
            .iter()
            .all(|c| prefix(c) < LOAD_BALANCER_SUBNET_PREFIX_MAX));
        // One bit smaller, and the public subnets would be too small for a load balancer.
        let (_, public) =
            subnet_layout(&format!("10.0.0.0/{}", VPC_PREFIX_MAX + 1), AZ_COUNT_MAX).unwrap();
        assert!(public
            .iter()
            .all(|c| prefix(c) > LOAD_BALANCER_SUBNET_PREFIX_MAX));
        assert!(settings::check_vpc_cidr("s", &format!("10.0.0.0/{VPC_PREFIX_MAX}")).is_ok());
        assert!(
            settings::check_vpc_cidr("s", &format!("10.0.0.0/{}", VPC_PREFIX_MAX + 1)).is_err()
        );
        assert!(settings::check_vpc_cidr("s", "10.0.0.0/15").is_err());
    }

    #[test]
    fn repo_credentials_are_written_as_serde_spells_them() {
        for credentials in RepoCredentials::ALL {
            assert_eq!(
                serde_json::to_value(credentials).unwrap(),
                credentials.as_str()
            );
        }
    }

    #[test]
    fn subnets_split_each_az_share_into_private_and_public() {
        let (private, public) = subnet_layout("10.0.0.0/16", 3).unwrap();
        assert_eq!(private, ["10.0.0.0/19", "10.0.64.0/19", "10.0.128.0/19"]);
        assert_eq!(public, ["10.0.32.0/20", "10.0.96.0/20", "10.0.160.0/20"]);
        let (private, public) = subnet_layout("10.1.0.0/20", 2).unwrap();
        assert_eq!(private, ["10.1.0.0/22", "10.1.8.0/22"]);
        assert_eq!(public, ["10.1.4.0/23", "10.1.12.0/23"]);
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("a\nbc\n", 3), (2, 2));
        assert_eq!(line_column("abc", 0), (1, 1));
    }
}
