//! What templates see: the answers as the values of the tera context (the globals, each stack,
//! environment and service), built once per render. Pure: answers in, values out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::answers::Answers;
use crate::model::settings::Topology;
use crate::model::stack::stacks;
use crate::model::values::{Cpu, HttpPath, ImageName, ImageTag, Memory, Port};

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
    /// `network.natGateways` of the stack files.
    nat_gateways: &'static str,
    /// The rules the foundation checks again (its `limits.py`).
    limits: super::limits::Limits,
    cluster_autoscaler_tag: &'a str,
    environments: &'a [EnvView<'a>],
    stacks: &'a [StackView<'a>],
    pulumi_project: String,
    /// Whether each environment lives in an AWS account of its own (`strata new --account`).
    multi_account: bool,
    /// The ARN partition of the region: `aws`, `aws-us-gov` or `aws-cn`.
    partition: &'static str,
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
    /// A managed node group of the foundation (`nodeGroups`).
    managed: bool,
    /// A Karpenter `NodePool` of the foundation (`nodePools`).
    karpenter: bool,
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
    /// The AWS account the stack deploys into, when environments have accounts of their own.
    account: Option<&'a str>,
    /// Whether this stack creates its account's GitHub OIDC provider: the first stack of the
    /// account (the first stack of all in a single account).
    creates_oidc_provider: bool,
    /// `s3://BUCKET-<account>[/PREFIX]`: the stack's state in its own account's bucket (an S3
    /// backend with accounts of their own), else empty.
    state_url: String,
    /// The stack's hosted zone: `<env>.<domain>` in its own account, or the project's domain.
    zone: String,
}

/// The IAM role of a service with `--irsa` in one environment.
#[derive(Serialize)]
struct ServiceRoleView<'a> {
    service: &'a str,
    namespace: &'a str,
    service_account: &'a str,
    role_name: String,
}

/// `service`: one service, with `in.<env>` its values per environment (`senv`). Its values
/// are the answers' types, as they are.
#[derive(Serialize)]
struct ServiceView<'a> {
    name: &'a str,
    image: &'a ImageName,
    tag: &'a ImageTag,
    port: Port,
    path: &'a HttpPath,
    health_path: &'a HttpPath,
    cpu_request: &'a Cpu,
    cpu_limit: &'a Cpu,
    memory_request: &'a Memory,
    memory_limit: &'a Memory,
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
pub(super) struct Model {
    pub(super) globals: tera::Context,
    pub(super) stacks: Vec<Value>,
    pub(super) envs: Vec<Value>,
}

impl Model {
    pub(super) fn new(answers: &Answers) -> anyhow::Result<Self> {
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
        let accounts = stack_accounts(answers, &stacks);
        let stack_views: Vec<StackView<'_>> = stacks
            .iter()
            .enumerate()
            .map(|(index, stack)| {
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
                let (account, creates_oidc_provider) = accounts[index];
                StackView {
                    name: &stack.name,
                    cluster_name: &stack.cluster,
                    vpc_cidr: &stack.vpc_cidr,
                    envs: stack.envs.iter().map(|i| &envs[*i]).collect(),
                    service_roles,
                    private_subnet_cidrs,
                    public_subnet_cidrs,
                    account,
                    creates_oidc_provider,
                    state_url: account
                        .and_then(|account| answers.account_state_url(account))
                        .unwrap_or_default(),
                    zone: match account {
                        Some(_) => format!("{}.{}", stack.name, answers.domain),
                        None => answers.domain.clone(),
                    },
                }
            })
            .collect();
        let (node_groups, addon_pool) = node_group_views(&answers.settings);
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
            nat_gateways: answers.settings.network.nat.wire(),
            limits: super::limits::limits(),
            cluster_autoscaler_tag: answers.settings.cluster_autoscaler_tag(),
            environments: &envs,
            stacks: &stack_views,
            pulumi_project: format!("{}-foundation", answers.project),
            multi_account: answers.multi_account(),
            partition: crate::model::region::partition(&answers.region),
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

/// Each stack's AWS account (with accounts of their own), and whether it creates its account's
/// GitHub OIDC provider: the first stack of the account, or of all in a single account.
fn stack_accounts<'a>(
    answers: &'a Answers,
    stacks: &[crate::model::stack::Stack],
) -> Vec<(Option<&'a str>, bool)> {
    let account_of = |stack: &crate::model::stack::Stack| {
        stack
            .envs
            .first()
            .and_then(|i| answers.environments[*i].account.as_deref())
    };
    stacks
        .iter()
        .enumerate()
        .map(|(index, stack)| {
            let account = account_of(stack);
            let first = match account {
                None => index == 0,
                Some(account) => {
                    stacks.iter().position(|s| account_of(s) == Some(account)) == Some(index)
                }
            };
            (account, first)
        })
        .collect()
}

/// The values one service's templates see as `service` (and `senv` = `service.in[<env>]`).
/// Each node group as the stack files see it (a managed node group, a Karpenter `NodePool`, or
/// both), and the add-on pool: the first tainted group.
fn node_group_views(
    settings: &crate::model::settings::Settings,
) -> (Vec<NodeGroupView<'_>>, Option<&str>) {
    let any_tainted = settings.node_groups.values().any(|g| !g.taints.is_empty());
    let views = settings
        .node_groups
        .iter()
        .map(|(name, group)| NodeGroupView {
            name,
            group,
            // Karpenter's controller runs on the tainted (add-on) groups, or on every group when
            // none is tainted; Karpenter provisions the untainted groups' nodes.
            // Under EKS Auto Mode no node group is created: its built-in pools run every pod.
            managed: !settings.auto_mode()
                && (!settings.karpenter() || !group.taints.is_empty() || !any_tainted),
            karpenter: settings.karpenter() && group.taints.is_empty(),
            taints: group
                .taints
                .iter()
                .filter_map(|t| crate::model::settings::parse_taint(t))
                .map(|(key, value, effect)| TaintView { key, value, effect })
                .collect(),
        })
        .collect();
    // Under EKS Auto Mode the add-ons run on its built-in `system` pool (the foundation knows it).
    let addon_pool = settings
        .node_groups
        .iter()
        .find(|(_, g)| !g.taints.is_empty() && !settings.auto_mode())
        .map(|(name, _)| name.as_str());
    (views, addon_pool)
}

pub(super) fn service_value(
    answers: &Answers,
    name: &str,
    service: &crate::model::answers::Service,
) -> Value {
    let per_env = service
        .envs
        .iter()
        .map(|(env, values)| {
            let role_arn = match (answers.account_of(env), service.irsa) {
                (Some(account), true) => format!(
                    "arn:aws:iam::{account}:role/{}",
                    crate::model::names::role_name(&answers.project, env, name)
                ),
                _ => String::new(),
            };
            let view = ServiceEnvView {
                min_replicas: values.replicas.min(),
                max_replicas: values.replicas.max(),
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
