//! The resolved platform settings: a preset's values with every `--set` override applied.
//!
//! A preset (`presets/*.toml`, embedded) holds the platform's tunables; [`Settings`] is their
//! typed, validated form, which `strata.toml` records in full so that later commands never
//! re-read the preset. This module parses, overrides and checks settings; it renders nothing
//! and writes nothing.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::model::names;
use crate::model::values::{Cpu, HttpPath, Image, Memory, Port, Replicas};
use crate::util::problem::{did_you_mean, Problem, Problems};

/// How environments map onto clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// One cluster and one Pulumi stack (`shared`); a namespace per environment.
    Shared,
    /// One cluster, VPC and Pulumi stack per environment.
    PerEnvironment,
}

/// NAT gateway strategy of a VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nat {
    Single,
    OnePerAz,
}

impl Nat {
    pub const ALL: [Nat; 2] = [Nat::Single, Nat::OnePerAz];

    /// The value of `network.natGateways` in a stack file: awsx's `NatGatewayStrategy` wire value.
    pub fn wire(self) -> &'static str {
        match self {
            Nat::Single => "Single",
            Nat::OnePerAz => "OnePerAz",
        }
    }
}

// The rules below are strata's own, and the foundation checks the same ones again at
// `pulumi preview`: `render/limits.rs` writes each into the foundation's `limits.py`, which its
// `settings.py` imports. Change a rule here, and both follow.

/// The fewest availability zones of a VPC: a load balancer needs subnets in two.
pub const AZ_COUNT_MIN: u8 = 2;
/// The most availability zones of a VPC: no region has more than six regular zones.
pub const AZ_COUNT_MAX: u8 = 6;
/// The bits that split a VPC into one equal share per availability zone: the share is the
/// VPC divided by the next power of two of the AZ count (`answers::subnet_layout`).
pub const fn share_bits(az_count: u8) -> u8 {
    let mut bits = 0;
    while (1u32 << bits) < az_count as u32 {
        bits += 1;
    }
    bits
}
/// The bits from an AZ's share to its public subnet, the share's third quarter.
pub const PUBLIC_SUBNET_BITS: u8 = 2;
/// The longest prefix of a load balancer's subnet: an Application Load Balancer needs at least
/// a /27 (with eight free addresses) in each of its subnets.
pub const LOAD_BALANCER_SUBNET_PREFIX_MAX: u8 = 27;
/// The largest VPC AWS creates: a /16.
pub const VPC_PREFIX_MIN: u8 = 16;
/// The smallest VPC strata can lay out. AWS takes a /16 to a /28, but strata's subnet plan
/// gives each AZ a share of the VPC (an eighth for 5 or 6 AZs) and the load balancers a quarter
/// of each share: a /22 over 6 AZs makes /27 public subnets, the smallest an ALB takes (and
/// /26 private subnets for the nodes and their pods).
pub const VPC_PREFIX_MAX: u8 =
    LOAD_BALANCER_SUBNET_PREFIX_MAX - PUBLIC_SUBNET_BITS - share_bits(AZ_COUNT_MAX);
/// Replicas of an add-on (`addons.*.replicas`): at least one. Each add-on is a controller
/// with one leader (or Metrics Server), so a second replica stands by for a failover and more
/// only take room on the add-on nodes: more than 10 is a typo.
pub const ADDON_REPLICAS_MIN: u32 = 1;
pub const ADDON_REPLICAS_MAX: u32 = 10;
/// A node's root volume, in GiB: the EKS-optimized AL2023 AMI needs 20; a gp3 volume holds at
/// most 16 TiB.
pub const NODE_DISK_GIB_MIN: u32 = 20;
pub const NODE_DISK_GIB_MAX: u32 = 16_384;
/// The longest node group name: EKS node group names take 63 characters, and the provider adds
/// `-` and a 26-character unique suffix to the name strata gives as a prefix.
pub const NODE_GROUP_NAME_MAX: usize = 30;
/// The EKS control-plane log types.
pub const LOG_TYPES: &[&str] = &[
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];
/// The control-plane logs strata always enables: who called the API server, and as whom.
pub const REQUIRED_LOG_TYPES: &[&str] = &["api", "audit", "authenticator"];
/// EKS's version support policies; `EXTENDED` costs extra.
pub const SUPPORT_TYPES: &[&str] = &["STANDARD", "EXTENDED"];
/// The capacity types of a managed node group.
pub const CAPACITY_TYPES: &[&str] = &["ON_DEMAND", "SPOT"];
/// Taint effects, as the EKS API spells them (`parse_taint` also takes Kubernetes' spelling).
pub const TAINT_EFFECTS: &[&str] = &["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];
/// External DNS's policies: whether it may delete the records it made.
pub const EXTERNAL_DNS_POLICIES: &[&str] = &["upsert-only", "sync", "create-only"];
/// How the cluster gets its nodes (`cluster.compute`): managed node groups scaled by Cluster
/// Autoscaler, Karpenter (its controller on the managed node groups, the rest on its
/// `NodePool`s), or EKS Auto Mode (AWS runs Karpenter, the load balancer and storage
/// controllers, CoreDNS and the pod network; its built-in `system` and `general-purpose` node
/// pools replace the node groups).
pub const COMPUTE_CHOICES: &[&str] = &["node-groups", "karpenter", "auto-mode"];
/// How pods get AWS credentials (`identity`): IAM roles for service accounts (an OIDC trust per
/// role), or EKS Pod Identity (one trust to `pods.eks.amazonaws.com`, an association per role).
pub const IDENTITY_CHOICES: &[&str] = &["irsa", "pod-identity"];
/// The Karpenter chart strata pins (`addons.karpenter.version` of a workspace made before it).
pub const KARPENTER_VERSION: &str = "1.14.1";
/// The AWS partitions whose IAM role ARNs strata takes.
pub const AWS_PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov"];
/// The longest path and name of an IAM role in its ARN (`role/<path><name>`): IAM's limit on a
/// path.
pub const ROLE_PATH_NAME_MAX: usize = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `irsa` or `pod-identity` ([`IDENTITY_CHOICES`]). Absent in workspaces made before the
    /// choice existed, which use IRSA: `upgrade` never switches a workspace's identity.
    #[serde(default = "irsa")]
    pub identity: String,
    pub network: Network,
    pub cluster: Cluster,
    pub node_groups: BTreeMap<String, NodeGroup>,
    pub addons: Addons,
    pub namespace: NamespaceSettings,
    pub service: ServiceDefaults,
    /// Layer 3: the platform services (monitoring, logging). Absent in workspaces made before
    /// they existed, which then have none (`strata add platform` turns them on).
    #[serde(default)]
    pub platform: Platform,
    /// GitHub's numeric ids of the foundation repository and its owner: with them the CI roles
    /// trust only GitHub's immutable subject of that repository (`ciGithubOwnerId` and
    /// `ciGithubRepositoryId` of every stack file). Absent until given.
    #[serde(default, skip_serializing_if = "Github::is_empty")]
    pub github: Github,
}

/// GitHub's numeric ids (`gh api repos/OWNER/REPO --jq '.owner.id, .id'`); empty when unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Github {
    pub owner_id: String,
    pub repository_id: String,
}

impl Github {
    pub fn is_empty(&self) -> bool {
        self.owner_id.is_empty() && self.repository_id.is_empty()
    }

    fn validate(&self, problems: &mut Problems) {
        for (key, value) in [
            ("github.owner_id", &self.owner_id),
            ("github.repository_id", &self.repository_id),
        ] {
            if !value.is_empty() {
                problems.take(names::parse_github_id(&setting(key), value));
            }
        }
        if self.owner_id.is_empty() != self.repository_id.is_empty() {
            problems.push(
                Problem::new(setting("github"), "has one id of two")
                    .hint("give both `github.owner_id` and `github.repository_id` (`strata new --github-owner-id ID --github-repository-id ID`), or neither"),
            );
        }
    }
}

/// Monitoring and logging: Argo CD Applications of pinned Helm charts in the gitops repo's
/// `platform/` tree, with their AWS side (roles, log groups, secrets) in the foundation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub logging: Logging,
}

/// kube-prometheus-stack (Prometheus, Alertmanager, Grafana and the operator's CRDs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    pub enabled: bool,
    /// The kube-prometheus-stack chart version.
    pub version: String,
    /// How long Prometheus keeps samples, for example `15d`.
    pub retention: String,
    /// The size of Prometheus's volume (encrypted gp3), for example `50Gi`.
    pub storage: String,
    /// Replicas of Prometheus, Alertmanager and Grafana.
    pub replicas: u32,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            enabled: false,
            version: MONITORING_CHART_VERSION.to_string(),
            retention: "15d".to_string(),
            storage: "50Gi".to_string(),
            replicas: 1,
        }
    }
}

/// Fluent Bit shipping every container's log to CloudWatch Logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logging {
    pub enabled: bool,
    /// The fluent-bit chart version.
    pub version: String,
    /// Days CloudWatch keeps the logs of an environment.
    pub retention_days: u32,
    /// Days CloudWatch keeps the logs of an environment named `prod` or `production`.
    pub production_retention_days: u32,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            enabled: false,
            version: LOGGING_CHART_VERSION.to_string(),
            retention_days: 30,
            production_retention_days: 90,
        }
    }
}

/// The kube-prometheus-stack version strata pins by default.
pub const MONITORING_CHART_VERSION: &str = "88.5.3";
/// The fluent-bit version strata pins by default.
pub const LOGGING_CHART_VERSION: &str = "0.58.1";
/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

impl Logging {
    /// The retention of one environment's log group: production environments keep longer.
    pub fn retention_for(&self, env: &str) -> u32 {
        if matches!(env, "prod" | "production") {
            self.production_retention_days
        } else {
            self.retention_days
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub topology: Topology,
    pub az_count: u8,
    pub vpc_cidr: String,
    pub nat: Nat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub version: String,
    pub support_type: String,
    pub endpoint_private_access: bool,
    pub endpoint_public_access: bool,
    pub public_access_cidrs: Vec<String>,
    pub log_types: Vec<String>,
    pub admin_role_arns: Vec<String>,
    /// [`COMPUTE_CHOICES`]. Absent in workspaces made before the choice existed, which keep
    /// their managed node groups.
    #[serde(default = "node_groups")]
    pub compute: String,
}

fn irsa() -> String {
    "irsa".to_string()
}

fn node_groups() -> String {
    "node-groups".to_string()
}

fn karpenter() -> ChartAddon {
    ChartAddon {
        version: KARPENTER_VERSION.to_string(),
        replicas: 2,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    pub instance_types: Vec<String>,
    pub capacity_type: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub disk_size: u32,
    pub taints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Addons {
    pub aws_load_balancer_controller: ChartAddon,
    pub cluster_autoscaler: ChartAddon,
    pub metrics_server: ChartAddon,
    pub external_dns: ExternalDns,
    pub external_secrets: ChartAddon,
    pub argocd: ArgoCd,
    pub ebs_csi: EbsCsi,
    /// The Karpenter controller's chart, used with `cluster.compute = "karpenter"`.
    #[serde(default = "karpenter")]
    pub karpenter: ChartAddon,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartAddon {
    pub version: String,
    pub replicas: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalDns {
    pub version: String,
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    pub version: String,
    pub ha: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbsCsi {
    pub addon_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSettings {
    pub quota: Quota,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub pods: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub default_cpu: String,
    pub default_memory: String,
    pub default_request_cpu: String,
    pub default_request_memory: String,
    pub max_cpu: String,
    pub max_memory: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefaults {
    pub image: String,
    pub port: u32,
    pub path: String,
    pub health_path: String,
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub cpu_target: u32,
}

/// Cluster Autoscaler image tags, one per Kubernetes minor version: its minor must match the
/// cluster's (EKS Best Practices, "Ensure the Cluster Autoscaler's version matches").
pub const CLUSTER_AUTOSCALER_TAGS: &[(&str, &str)] = &[
    ("1.33", "v1.33.6"),
    ("1.34", "v1.34.5"),
    ("1.35", "v1.35.2"),
    ("1.36", "v1.36.1"),
];

/// The Kubernetes versions strata knows add-on versions for.
pub fn supported_versions() -> Vec<&'static str> {
    CLUSTER_AUTOSCALER_TAGS
        .iter()
        .map(|(version, _)| *version)
        .collect()
}

impl Settings {
    /// Whether Karpenter provisions the nodes of the untainted node groups.
    pub fn karpenter(&self) -> bool {
        self.cluster.compute == "karpenter"
    }

    /// Whether EKS Auto Mode runs the nodes (no node group of the settings is created).
    pub fn auto_mode(&self) -> bool {
        self.cluster.compute == "auto-mode"
    }

    /// Whether pods get AWS credentials through EKS Pod Identity.
    pub fn pod_identity(&self) -> bool {
        self.identity == "pod-identity"
    }

    /// The Cluster Autoscaler image tag that matches the cluster version.
    pub fn cluster_autoscaler_tag(&self) -> &'static str {
        CLUSTER_AUTOSCALER_TAGS
            .iter()
            .find(|(version, _)| *version == self.cluster.version)
            .map_or("", |(_, tag)| tag)
    }

    /// Checks every value that `serde` cannot: ranges, formats, consistency.
    pub fn validate(&self) -> Problems {
        let mut problems = Problems::default();
        self.validate_network(&mut problems);
        self.validate_cluster(&mut problems);
        self.validate_node_groups(&mut problems);
        self.validate_addons(&mut problems);
        problems.extend(self.platform.validate());
        self.validate_resources(&mut problems);
        self.validate_service(&mut problems);
        self.github.validate(&mut problems);
        problems
    }

    /// The VPC: its availability zones and its CIDR.
    fn validate_network(&self, problems: &mut Problems) {
        if !(AZ_COUNT_MIN..=AZ_COUNT_MAX).contains(&self.network.az_count) {
            problems.push(
                Problem::new(
                    setting("network.az_count"),
                    format!(
                        "is {}, EKS needs {AZ_COUNT_MIN} to {AZ_COUNT_MAX} availability zones here",
                        self.network.az_count
                    ),
                )
                .hint("use `--set network.az_count=2` or `3`"),
            );
        }
        if let Err(problem) = check_vpc_cidr(&setting("network.vpc_cidr"), &self.network.vpc_cidr) {
            problems.push(problem);
        }
    }

    /// The EKS cluster: version, support, API endpoint, control-plane logs, admin roles, how
    /// it gets its nodes and how pods get AWS credentials.
    fn validate_cluster(&self, problems: &mut Problems) {
        for (key, value, choices) in [
            ("cluster.compute", &self.cluster.compute, COMPUTE_CHOICES),
            ("identity", &self.identity, IDENTITY_CHOICES),
        ] {
            if !choices.contains(&value.as_str()) {
                let problem = Problem::new(
                    setting(key),
                    format!("`{value}` is not one of {}", choices.join(", ")),
                );
                problems.push(match did_you_mean(value, choices.iter().copied()) {
                    Some(close) => problem.hint(format!("did you mean `{close}`?")),
                    None => problem.hint(format!("use `--set {key}={}`", choices[0])),
                });
            }
        }
        if !supported_versions().contains(&self.cluster.version.as_str()) {
            problems.push(
                Problem::new(
                    setting("cluster.version"),
                    format!(
                        "`{}` is not a Kubernetes version strata has add-on versions for",
                        self.cluster.version
                    ),
                )
                .hint(format!("use one of {}", supported_versions().join(", "))),
            );
        }
        if !SUPPORT_TYPES.contains(&self.cluster.support_type.as_str()) {
            problems.push(
                Problem::new(
                    setting("cluster.support_type"),
                    format!(
                        "`{}` is neither `STANDARD` nor `EXTENDED`",
                        self.cluster.support_type
                    ),
                )
                .hint("use `STANDARD`"),
            );
        }
        if !self.cluster.endpoint_private_access && !self.cluster.endpoint_public_access {
            problems.push(Problem::new(setting("cluster.endpoint_public_access"), "and `cluster.endpoint_private_access` are both false, so nothing could reach the API server").hint("enable at least one"));
        }
        for cidr in &self.cluster.public_access_cidrs {
            match cidr.parse::<Ipv4Net>() {
                Ok(net) if net.network() == net.addr() => {}
                _ => problems.push(
                    Problem::new(
                        setting("cluster.public_access_cidrs"),
                        format!("`{cidr}` is not an IPv4 network CIDR"),
                    )
                    .hint("use CIDRs such as `203.0.113.0/24`"),
                ),
            }
        }
        for required in REQUIRED_LOG_TYPES {
            if !self.cluster.log_types.iter().any(|t| t == required) {
                problems.push(
                    Problem::new(
                        setting("cluster.log_types"),
                        format!("lacks `{required}`, which strata always enables"),
                    )
                    .hint("keep at least `api`, `audit` and `authenticator`"),
                );
            }
        }
        for log_type in &self.cluster.log_types {
            if !LOG_TYPES.contains(&log_type.as_str()) {
                problems.push(
                    Problem::new(
                        setting("cluster.log_types"),
                        format!("`{log_type}` is not a control-plane log type"),
                    )
                    .hint(format!("use any of {}", LOG_TYPES.join(", "))),
                );
            }
        }
        for (list, what) in [
            (&self.cluster.admin_role_arns, "cluster.admin_role_arns"),
            (
                &self.cluster.public_access_cidrs,
                "cluster.public_access_cidrs",
            ),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for value in list {
                if !seen.insert(value) {
                    problems.push(
                        Problem::new(setting(what), format!("lists `{value}` twice"))
                            .hint("list each value once"),
                    );
                }
            }
        }
        for arn in &self.cluster.admin_role_arns {
            if !is_role_arn(arn) {
                problems.push(
                    Problem::new(
                        setting("cluster.admin_role_arns"),
                        format!("`{arn}` is not an IAM role ARN"),
                    )
                    .hint("use `arn:aws:iam::123456789012:role/NAME`"),
                );
            }
        }
    }

    /// The node groups: at least one untainted, each with sizes, types and taints EKS takes.
    fn validate_node_groups(&self, problems: &mut Problems) {
        if self.node_groups.is_empty() {
            problems.push(
                Problem::new(setting("node_groups"), "is empty")
                    .hint("keep at least one node group"),
            );
        }
        if !self
            .node_groups
            .values()
            .any(|group| group.taints.is_empty())
        {
            problems.push(
                Problem::new(
                    setting("node_groups"),
                    "has no untainted group, so services could not be scheduled",
                )
                .hint("leave one node group without taints"),
            );
        }
        for (name, group) in &self.node_groups {
            let k = |field: &str| setting(&format!("node_groups.{name}.{field}"));
            if let Err(problem) = names::check_label("node group name", name, NODE_GROUP_NAME_MAX) {
                problems.push(problem);
            }
            if !(group.min <= group.desired && group.desired <= group.max && group.max >= 1) {
                problems.push(
                    Problem::new(
                        k("min"),
                        format!(
                            "min {} <= desired {} <= max {} does not hold",
                            group.min, group.desired, group.max
                        ),
                    )
                    .hint("keep 0 <= min <= desired <= max and max >= 1"),
                );
            }
            if group.instance_types.is_empty() {
                problems.push(
                    Problem::new(k("instance_types"), "is empty")
                        .hint("list at least one instance type, for example `t3.large`"),
                );
            }
            for instance_type in &group.instance_types {
                let valid = instance_type.split_once('.').is_some_and(|(family, size)| {
                    !family.is_empty()
                        && !size.is_empty()
                        && family
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && size
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                });
                if !valid {
                    problems.push(
                        Problem::new(
                            k("instance_types"),
                            format!("`{instance_type}` is not an EC2 instance type"),
                        )
                        .hint("use a type such as `t3.large`"),
                    );
                }
            }
            if !CAPACITY_TYPES.contains(&group.capacity_type.as_str()) {
                problems.push(
                    Problem::new(
                        k("capacity_type"),
                        format!(
                            "`{}` is neither `ON_DEMAND` nor `SPOT`",
                            group.capacity_type
                        ),
                    )
                    .hint("use `ON_DEMAND` or `SPOT`"),
                );
            }
            if !(NODE_DISK_GIB_MIN..=NODE_DISK_GIB_MAX).contains(&group.disk_size) {
                problems.push(
                    Problem::new(
                        k("disk_size"),
                        format!(
                            "{} GiB is outside {NODE_DISK_GIB_MIN} to {NODE_DISK_GIB_MAX}",
                            group.disk_size
                        ),
                    )
                    .hint(format!("use at least {NODE_DISK_GIB_MIN}")),
                );
            }
            for taint in &group.taints {
                if parse_taint(taint).is_none() {
                    problems.push(
                        Problem::new(k("taints"), format!("`{taint}` is not `KEY=VALUE:EFFECT`"))
                            .hint("use for example `CriticalAddonsOnly=true:NO_SCHEDULE`"),
                    );
                }
            }
        }
    }

    /// The add-ons: pinned chart versions, replicas, the External DNS policy, the EBS CSI version.
    fn validate_addons(&self, problems: &mut Problems) {
        let addons = &self.addons;
        for (name, version) in [
            (
                "aws_load_balancer_controller",
                &addons.aws_load_balancer_controller.version,
            ),
            ("cluster_autoscaler", &addons.cluster_autoscaler.version),
            ("metrics_server", &addons.metrics_server.version),
            ("external_dns", &addons.external_dns.version),
            ("external_secrets", &addons.external_secrets.version),
            ("argocd", &addons.argocd.version),
            ("karpenter", &addons.karpenter.version),
        ] {
            if !is_semver(version) {
                problems.push(
                    Problem::new(
                        setting(&format!("addons.{name}.version")),
                        format!("`{version}` is not a pinned chart version"),
                    )
                    .hint("use an exact version such as `1.2.3`"),
                );
            }
        }
        for (name, replicas) in [
            (
                "aws_load_balancer_controller",
                addons.aws_load_balancer_controller.replicas,
            ),
            ("cluster_autoscaler", addons.cluster_autoscaler.replicas),
            ("metrics_server", addons.metrics_server.replicas),
            ("external_secrets", addons.external_secrets.replicas),
            ("karpenter", addons.karpenter.replicas),
        ] {
            if !(ADDON_REPLICAS_MIN..=ADDON_REPLICAS_MAX).contains(&replicas) {
                problems.push(
                    Problem::new(
                        setting(&format!("addons.{name}.replicas")),
                        format!(
                            "{replicas} is outside {ADDON_REPLICAS_MIN} to {ADDON_REPLICAS_MAX}"
                        ),
                    )
                    .hint("use 1, or 2 for high availability"),
                );
            }
        }
        if !EXTERNAL_DNS_POLICIES.contains(&addons.external_dns.policy.as_str()) {
            problems.push(
                Problem::new(
                    setting("addons.external_dns.policy"),
                    format!(
                        "`{}` is not an External DNS policy",
                        addons.external_dns.policy
                    ),
                )
                .hint("use `upsert-only`, `sync` or `create-only`"),
            );
        }
        if !(addons.ebs_csi.addon_version.is_empty()
            || addons.ebs_csi.addon_version.starts_with('v'))
        {
            problems.push(
                Problem::new(
                    setting("addons.ebs_csi.addon_version"),
                    format!(
                        "`{}` is not an EKS add-on version",
                        addons.ebs_csi.addon_version
                    ),
                )
                .hint("leave it empty, or use a version such as `v1.50.0-eksbuild.1`"),
            );
        }
    }

    /// Every CPU and memory quantity (the namespaces' quota and limits, the service defaults)
    /// and the pod quota.
    fn validate_resources(&self, problems: &mut Problems) {
        let quota = &self.namespace.quota;
        let limits = &self.namespace.limits;
        for (field, value) in [
            ("namespace.quota.requests_cpu", &quota.requests_cpu),
            ("namespace.quota.limits_cpu", &quota.limits_cpu),
            ("namespace.limits.default_cpu", &limits.default_cpu),
            (
                "namespace.limits.default_request_cpu",
                &limits.default_request_cpu,
            ),
            ("namespace.limits.max_cpu", &limits.max_cpu),
            ("service.cpu_request", &self.service.cpu_request),
            ("service.cpu_limit", &self.service.cpu_limit),
        ] {
            if let Err(problem) = value.parse::<Cpu>() {
                problems.push(
                    Problem::new(setting(field), problem.message)
                        .hint(problem.hint.unwrap_or_default()),
                );
            }
        }
        for (field, value) in [
            ("namespace.quota.requests_memory", &quota.requests_memory),
            ("namespace.quota.limits_memory", &quota.limits_memory),
            ("namespace.limits.default_memory", &limits.default_memory),
            (
                "namespace.limits.default_request_memory",
                &limits.default_request_memory,
            ),
            ("namespace.limits.max_memory", &limits.max_memory),
            ("service.memory_request", &self.service.memory_request),
            ("service.memory_limit", &self.service.memory_limit),
        ] {
            if let Err(problem) = value.parse::<Memory>() {
                problems.push(
                    Problem::new(setting(field), problem.message)
                        .hint(problem.hint.unwrap_or_default()),
                );
            }
        }
        if quota.pods == 0 {
            problems.push(
                Problem::new(setting("namespace.quota.pods"), "is 0")
                    .hint("allow at least one pod"),
            );
        }
    }

    /// The service defaults: image, port, paths, replica bounds, CPU target.
    fn validate_service(&self, problems: &mut Problems) {
        let service = &self.service;
        if let Err(problem) = service.image.parse::<Image>() {
            problems.push(problem);
        }
        if let Err(problem) = Port::new(service.port) {
            problems.push(problem);
        }
        for (field, value) in [
            ("service.path", &service.path),
            ("service.health_path", &service.health_path),
        ] {
            if let Err(problem) = HttpPath::parse(field, value) {
                problems.push(problem);
            }
        }
        if let Err(problem) = Replicas::new(service.min_replicas, service.max_replicas) {
            problems.push(
                Problem::new(setting("service.min_replicas"), problem.message)
                    .hint("keep 1 <= min_replicas <= max_replicas"),
            );
        }
        if !(1..=100).contains(&service.cpu_target) {
            problems.push(
                Problem::new(
                    setting("service.cpu_target"),
                    format!("{}% is outside 1 to 100", service.cpu_target),
                )
                .hint("use a percentage such as 70"),
            );
        }
    }
}

impl Platform {
    /// Checks the platform services' values (also when they are off: they are kept for later).
    pub fn validate(&self) -> Problems {
        let mut problems = Problems::default();
        let key = |k: &str| format!("setting `platform.{k}`");
        for (name, version) in [
            ("monitoring.version", &self.monitoring.version),
            ("logging.version", &self.logging.version),
        ] {
            if !is_semver(version) {
                problems.push(
                    Problem::new(
                        key(name),
                        format!("`{version}` is not a pinned chart version"),
                    )
                    .hint("use an exact version such as `1.2.3`"),
                );
            }
        }
        let retention = &self.monitoring.retention;
        let retention_ok = retention
            .strip_suffix(['h', 'd', 'w', 'y'])
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n != "0");
        if !retention_ok {
            problems.push(
                Problem::new(
                    key("monitoring.retention"),
                    format!("`{retention}` is not a Prometheus retention"),
                )
                .hint("use a number of hours, days, weeks or years, such as `15d`"),
            );
        }
        if let Err(problem) = self.monitoring.storage.parse::<Memory>() {
            problems.push(
                Problem::new(key("monitoring.storage"), problem.message)
                    .hint("use a size such as `50Gi`"),
            );
        }
        if !(1..=3).contains(&self.monitoring.replicas) {
            problems.push(
                Problem::new(
                    key("monitoring.replicas"),
                    format!("{} is outside 1 to 3", self.monitoring.replicas),
                )
                .hint("use 1, or 2 for high availability"),
            );
        }
        for (name, days) in [
            ("logging.retention_days", self.logging.retention_days),
            (
                "logging.production_retention_days",
                self.logging.production_retention_days,
            ),
        ] {
            if !LOG_RETENTION_DAYS.contains(&days) {
                problems.push(
                    Problem::new(
                        key(name),
                        format!("{days} days is not a CloudWatch Logs retention"),
                    )
                    .hint(format!(
                        "use one of {}",
                        LOG_RETENTION_DAYS
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        problems
    }
}

/// Splits `KEY=VALUE:EFFECT` into its parts, with the effect in the EKS API's spelling.
pub fn parse_taint(taint: &str) -> Option<(String, String, String)> {
    let (kv, effect) = taint.rsplit_once(':')?;
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    // Kubernetes' spelling (`NoSchedule`) in the EKS API's (`NO_SCHEDULE`).
    let effect = match effect {
        "NoSchedule" => "NO_SCHEDULE",
        "NoExecute" => "NO_EXECUTE",
        "PreferNoSchedule" => "PREFER_NO_SCHEDULE",
        eks => *TAINT_EFFECTS.iter().find(|e| **e == eks)?,
    };
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    let value_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (key_ok && value_ok).then(|| (key.to_string(), value.to_string(), effect.to_string()))
}

/// Whether `arn` is an IAM role ARN (`arn:aws:iam::123456789012:role/NAME`).
fn is_role_arn(arn: &str) -> bool {
    let Some((partition, rest)) = arn
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":iam::"))
    else {
        return false;
    };
    let Some((account, name)) = rest.split_once(":role/") else {
        return false;
    };
    AWS_PARTITIONS.contains(&partition)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name.len() <= ROLE_PATH_NAME_MAX
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
}

/// A VPC CIDR strata can lay out: a network address, /[`VPC_PREFIX_MIN`] to
/// /[`VPC_PREFIX_MAX`]; `subject` names where it was given.
pub fn check_vpc_cidr(subject: &str, cidr: &str) -> Result<Ipv4Net, Problem> {
    let Ok(net) = cidr.parse::<Ipv4Net>() else {
        return Err(
            Problem::new(subject, format!("`{cidr}` is not an IPv4 CIDR"))
                .hint("use a CIDR such as `10.0.0.0/16`"),
        );
    };
    if net.network() != net.addr() {
        return Err(
            Problem::new(subject, format!("`{cidr}` is not a network address"))
                .hint(format!("use `{}`", net.trunc())),
        );
    }
    if private_block(net).is_none() {
        return Err(Problem::new(
            subject,
            format!("`{cidr}` is not a private range: a VPC's addresses come from RFC 1918 (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`) or `100.64.0.0/10`, or they shadow hosts on the internet"),
        )
        .hint("use a /16 such as `10.0.0.0/16`"));
    }
    if !(VPC_PREFIX_MIN..=VPC_PREFIX_MAX).contains(&net.prefix_len()) {
        return Err(Problem::new(
            subject,
            format!("`{cidr}` must be a /{VPC_PREFIX_MIN} to /{VPC_PREFIX_MAX}, so that every AZ's subnets fit (a load balancer's subnet needs a /{LOAD_BALANCER_SUBNET_PREFIX_MAX} at least)"),
        )
        .hint("use a /16 such as `10.0.0.0/16`"));
    }
    Ok(net)
}

/// The private block a VPC range lies in (RFC 1918, or RFC 6598's `100.64.0.0/10`, which AWS
/// accepts for VPCs too); the ranges strata gives further environments stay within it.
pub fn private_block(net: Ipv4Net) -> Option<Ipv4Net> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
    ]
    .into_iter()
    .map(|block| block.parse::<Ipv4Net>().expect("a CIDR"))
    .find(|block| block.contains(&net))
}

/// The subject of a problem with a setting.
fn setting(key: &str) -> String {
    format!("setting `{key}`")
}

/// Whether a chart version is pinned: a release (`1.2.3`), not a range or a pre-release.
fn is_semver(version: &str) -> bool {
    semver::Version::parse(version).is_ok_and(|v| v.pre.is_empty() && v.build.is_empty())
}

/// Applies `KEY=VALUE` overrides to a preset's settings table. The value takes the type of the
/// value it replaces; lists are comma-separated. Unknown keys get a "did you mean".
pub fn apply_overrides(table: &mut toml::Table, overrides: &[(String, String)]) -> Problems {
    apply_overrides_as(table, overrides, "--set")
}

/// [`apply_overrides`], each problem about `` `{flag} KEY` `` (`strata set` names no `--set`).
pub fn apply_overrides_as(
    table: &mut toml::Table,
    overrides: &[(String, String)],
    flag: &str,
) -> Problems {
    let mut problems = Problems::default();
    let known = leaf_keys(table, "");
    for (key, raw) in overrides {
        let subject = format!("`{flag} {key}`");
        let Some(slot) = lookup_mut(table, key) else {
            let mut problem = Problem::new(subject, "is not a setting of the preset");
            problem = match did_you_mean(key, known.iter().map(String::as_str)) {
                Some(close) => problem.hint(format!(
                    "did you mean `{close}`? `strata presets --keys` lists every key"
                )),
                None => problem.hint("`strata presets --keys` lists every key"),
            };
            problems.push(problem);
            continue;
        };
        let parsed = match slot {
            toml::Value::String(_) => Some(toml::Value::String(raw.clone())),
            toml::Value::Integer(_) => raw.trim().parse::<i64>().ok().map(toml::Value::Integer),
            toml::Value::Boolean(_) => match raw.trim() {
                "true" => Some(toml::Value::Boolean(true)),
                "false" => Some(toml::Value::Boolean(false)),
                _ => None,
            },
            // An empty value clears the list; an empty item (`a,,b`, `a,`) is a typo.
            toml::Value::Array(_) if raw.trim().is_empty() => Some(toml::Value::Array(Vec::new())),
            toml::Value::Array(_) => raw
                .split(',')
                .map(str::trim)
                .map(|s| (!s.is_empty()).then(|| toml::Value::String(s.to_string())))
                .collect::<Option<Vec<_>>>()
                .map(toml::Value::Array),
            _ => None,
        };
        match parsed {
            Some(value) => *slot = value,
            None => problems.push(
                Problem::new(
                    subject,
                    format!(
                        "`{}` is not a valid {}",
                        raw.escape_default(),
                        slot.type_str()
                    ),
                )
                .hint(match slot {
                    toml::Value::Integer(_) => "give a whole number",
                    toml::Value::Boolean(_) => "give `true` or `false`",
                    toml::Value::Table(_) => {
                        "set one of its keys instead, for example `KEY.FIELD=VALUE`"
                    }
                    toml::Value::Array(_) => {
                        "give a comma-separated list without empty items (an empty value clears the list)"
                    }
                    _ => "give a value of the same kind as the preset's",
                }),
            ),
        }
    }
    problems
}

/// Every dotted key of a table that holds a value (not a sub-table).
pub fn leaf_keys(table: &toml::Table, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => keys.extend(leaf_keys(inner, &full)),
            _ => keys.push(full),
        }
    }
    keys
}

fn lookup_mut<'a>(table: &'a mut toml::Table, key: &str) -> Option<&'a mut toml::Value> {
    let mut parts = key.split('.');
    let first = parts.next()?;
    let mut current = table.get_mut(first)?;
    for part in parts {
        current = current.as_table_mut()?.get_mut(part)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_are_parsed_into_the_eks_spelling() {
        assert_eq!(
            parse_taint("CriticalAddonsOnly=true:NoSchedule"),
            Some((
                "CriticalAddonsOnly".into(),
                "true".into(),
                "NO_SCHEDULE".into()
            ))
        );
        assert_eq!(
            parse_taint("dedicated:NO_EXECUTE"),
            Some(("dedicated".into(), String::new(), "NO_EXECUTE".into()))
        );
        assert_eq!(parse_taint("bad"), None);
        assert_eq!(parse_taint("a=b:Sometimes"), None);
    }

    #[test]
    fn overrides_keep_the_type_and_suggest_close_keys() {
        let mut table: toml::Table = toml::from_str("[cluster]\nversion = \"1.35\"\nlog_types = [\"api\"]\n[network]\naz_count = 2\nprivate = true").unwrap();
        let problems = apply_overrides(
            &mut table,
            &[
                ("cluster.version".into(), "1.34".into()),
                ("network.az_count".into(), "3".into()),
                ("cluster.log_types".into(), "api,audit".into()),
            ],
        );
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(table["cluster"]["version"].as_str(), Some("1.34"));
        assert_eq!(table["network"]["az_count"].as_integer(), Some(3));
        assert_eq!(table["cluster"]["log_types"].as_array().unwrap().len(), 2);

        let problems = apply_overrides(
            &mut table,
            &[
                ("cluster.verison".into(), "1".into()),
                ("network.az_count".into(), "three".into()),
            ],
        );
        let text = problems.to_string();
        assert!(text.contains("did you mean `cluster.version`"), "{text}");
        assert!(text.contains("not a valid integer"), "{text}");
    }

    /// The `production` preset's settings, as `strata new` reads them.
    fn preset_settings() -> Settings {
        let text = crate::model::pack::preset_text("production").unwrap();
        let mut table: toml::Table = toml::from_str(text).unwrap();
        table.remove("description");
        table.remove("defaults");
        toml::Value::Table(table).try_into().unwrap()
    }

    #[test]
    fn every_section_is_checked_in_order() {
        assert!(preset_settings().validate().is_empty());
        let mut settings = preset_settings();
        settings.network.az_count = 9;
        settings.cluster.version = "1.2".into();
        for group in settings.node_groups.values_mut() {
            group.disk_size = 1;
        }
        settings.addons.argocd.version = "latest".into();
        settings.platform.monitoring.replicas = 0;
        settings.namespace.quota.pods = 0;
        settings.service.cpu_target = 0;
        let subjects: Vec<String> = settings
            .validate()
            .0
            .into_iter()
            .map(|p| p.subject)
            .collect();
        let first = |key: &str| {
            subjects
                .iter()
                .position(|s| s.contains(key))
                .unwrap_or_else(|| panic!("no problem with `{key}` in {subjects:?}"))
        };
        let order = [
            "network.az_count",
            "cluster.version",
            "disk_size",
            "addons.argocd.version",
            "platform.monitoring.replicas",
            "namespace.quota.pods",
            "service.cpu_target",
        ]
        .map(first);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{subjects:?}");
    }

    #[test]
    fn semver_needs_three_numbers() {
        assert!(is_semver("1.2.3"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("^1.2.3"));
        assert!(!is_semver("1.2.3.4"));
        assert!(!is_semver("1.2.3-rc1"), "a pre-release is not pinned");
    }
}
