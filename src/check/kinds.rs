//! Which layer a Kubernetes kind belongs to, by the rows of the decision framework.
//!
//! Foundational, changes monthly, platform-owned or cluster-scoped: Pulumi (the foundation).
//! Application-specific, changes daily, app-team-owned, part of CI/CD: GitOps (the gitops
//! repo). This module only classifies `apiVersion` + `kind`; it reads nothing.

use serde::Serialize;

/// A row of the decision framework: why something belongs to one side of the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Row {
    /// Node infrastructure, cloud resources and API extensions: they change monthly.
    Foundational,
    /// Cluster-scoped: one object for every tenant of the cluster.
    ClusterScoped,
    /// Namespaced, but the platform's: quotas, limits, roles, the environments' fences.
    PlatformOwned,
    /// The application's own workload and configuration: they change daily.
    ApplicationSpecific,
    /// Deployed by CI/CD through git: what strata writes and Argo CD syncs.
    ContinuousDelivery,
}

impl Row {
    /// The row as a CI log line says it.
    pub fn text(self) -> &'static str {
        match self {
            Row::Foundational => "foundational, changes monthly -> Pulumi (the foundation)",
            Row::ClusterScoped => "cluster-scoped -> Pulumi (the foundation)",
            Row::PlatformOwned => "platform-owned -> Pulumi (the foundation)",
            Row::ApplicationSpecific => {
                "application-specific, changes daily, app-team-owned -> GitOps (the gitops repo)"
            }
            Row::ContinuousDelivery => "part of CI/CD -> GitOps (what git holds is what runs)",
        }
    }
}

/// What a kind is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A workload or its configuration: the gitops repo's.
    Application,
    /// The platform's, with the row that says so and a few words on what it is.
    Platform(Row, &'static str),
    /// A kind this table does not know (most custom resources): neither side is claimed.
    Unknown,
}

/// Kinds of workloads and their configuration (the list, plus bare Pods and
/// ReplicaSets, which are workloads too).
const APPLICATION: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Pod",
    "Service",
    "Ingress",
    "HorizontalPodAutoscaler",
    "ConfigMap",
    "Secret",
    "Job",
    "CronJob",
    "PersistentVolumeClaim",
];

/// Namespaced kinds, outside strata's application shape, that stay application-side.
const APPLICATION_EXTRA: &[&str] = &[
    "ServiceAccount",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ExternalSecret",
    "Endpoints",
    "EndpointSlice",
];

/// Cluster-scoped kinds of Kubernetes itself and of common add-ons.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("apiregistration.k8s.io", "APIService"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("policy", "PodSecurityPolicy"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
    ("elbv2.k8s.aws", "IngressClassParams"),
    ("kyverno.io", "ClusterPolicy"),
    ("kyverno.io", "ClusterCleanupPolicy"),
    ("wgpolicyk8s.io", "ClusterPolicyReport"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("gateway.networking.x-k8s.io", "XGatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("templates.gatekeeper.sh", "ConstraintTemplate"),
    ("config.gatekeeper.sh", "Config"),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"),
    ("crd.projectcalico.org", "GlobalNetworkPolicy"),
    ("projectcalico.org", "GlobalNetworkPolicy"),
    ("networking.istio.io", "MeshConfig"),
    ("argoproj.io", "ClusterWorkflowTemplate"),
    ("metallb.io", "IPAddressPool"),
    ("monitoring.coreos.com", "ClusterPrometheus"),
    ("aquasecurity.github.io", "ClusterComplianceReport"),
];

/// Namespaced kinds that fence a tenant: the platform sets them, not the tenant.
const PLATFORM_NAMESPACED: &[(&str, &str)] = &[
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("external-secrets.io", "SecretStore"),
    ("argoproj.io", "AppProject"),
];

/// Node infrastructure and cluster definitions, by API group (any kind of the group).
const NODE_GROUPS: &[(&str, &str)] = &[
    ("eksctl.io", "an eksctl cluster definition"),
    ("karpenter.sh", "Karpenter node provisioning"),
    ("karpenter.k8s.aws", "a Karpenter node class"),
    (
        "eks.amazonaws.com",
        "an EKS Auto Mode node class or load balancer setting",
    ),
    ("cluster.x-k8s.io", "a Cluster API object"),
    (
        "infrastructure.cluster.x-k8s.io",
        "Cluster API infrastructure",
    ),
    ("crd.k8s.amazonaws.com", "VPC CNI node networking"),
    ("eks.amazonaws.com", "an EKS Auto Mode node class"),
    ("kops.k8s.io", "a kops cluster or instance group"),
    (
        "constraints.gatekeeper.sh",
        "a Gatekeeper constraint (cluster-wide policy)",
    ),
    (
        "pkg.crossplane.io",
        "a Crossplane package (provider, configuration, function)",
    ),
];

/// The API group of an `apiVersion` (`apps/v1` -> `apps`, `v1` -> ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Classifies a kind by its `apiVersion` and `kind`.
pub fn classify(api_version: &str, kind: &str) -> Class {
    let group = group_of(api_version);
    if kind == "CustomResourceDefinition" {
        return Class::Platform(Row::Foundational, "an API extension");
    }
    if let Some((_, what)) = NODE_GROUPS.iter().find(|(g, _)| *g == group) {
        return Class::Platform(Row::Foundational, what);
    }
    if group.ends_with(".crossplane.io") || group.ends_with(".upbound.io") {
        return Class::Platform(Row::Foundational, "a Crossplane cloud resource");
    }
    if group.ends_with(".services.k8s.aws") {
        return Class::Platform(
            Row::Foundational,
            "an AWS Controllers for Kubernetes resource",
        );
    }
    if CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| *g == group && *k == kind)
    {
        return Class::Platform(Row::ClusterScoped, "a cluster-scoped object");
    }
    if PLATFORM_NAMESPACED
        .iter()
        .any(|(g, k)| *g == group && *k == kind)
    {
        return Class::Platform(Row::PlatformOwned, "a tenant's fence");
    }
    if APPLICATION.contains(&kind) || APPLICATION_EXTRA.contains(&kind) {
        return Class::Application;
    }
    Class::Unknown
}

/// Classifies a kind, judging a kind the table does not know by its scope: a custom resource
/// whose CRD (in the repo checked) says `scope: Cluster` is cluster-scoped.
pub fn classify_scoped(
    api_version: &str,
    kind: &str,
    cluster_scoped: &std::collections::BTreeSet<(String, String)>,
) -> Class {
    match classify(api_version, kind) {
        Class::Unknown
            if cluster_scoped.contains(&(group_of(api_version).to_string(), kind.to_string())) =>
        {
            Class::Platform(
                Row::ClusterScoped,
                "a cluster-scoped custom resource (its CRD says `scope: Cluster`)",
            )
        }
        class => class,
    }
}

/// The cluster-scoped kinds the CRDs among `docs` define: (group, kind).
pub fn cluster_scoped_kinds<'a>(
    docs: impl Iterator<Item = &'a serde_json::Value>,
) -> std::collections::BTreeSet<(String, String)> {
    docs.filter(|doc| doc.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition"))
        .filter_map(|doc| {
            let spec = doc.get("spec")?;
            if spec.get("scope")?.as_str()? != "Cluster" {
                return None;
            }
            Some((
                spec.get("group")?.as_str()?.to_string(),
                spec.get("names")?.get("kind")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Whether a kind is an application workload or its configuration: what Pulumi should not
/// hold (the kinds `check --stack-export` flags).
pub fn is_application_workload(kind: &str) -> bool {
    APPLICATION.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn case(api_version: &str, kind: &str, expected: Option<Row>) {
        let got = match classify(api_version, kind) {
            Class::Platform(row, _) => Some(row),
            Class::Application | Class::Unknown => None,
        };
        assert_eq!(got, expected, "{api_version} {kind}");
    }

    #[test]
    fn every_kind_lands_on_its_side() {
        case("v1", "Namespace", Some(Row::ClusterScoped));
        case(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            Some(Row::ClusterScoped),
        );
        case(
            "storage.k8s.io/v1",
            "StorageClass",
            Some(Row::ClusterScoped),
        );
        case("v1", "ResourceQuota", Some(Row::PlatformOwned));
        case(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some(Row::PlatformOwned),
        );
        case(
            "argoproj.io/v1alpha1",
            "AppProject",
            Some(Row::PlatformOwned),
        );
        case(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            Some(Row::Foundational),
        );
        case(
            "eksctl.io/v1alpha5",
            "ClusterConfig",
            Some(Row::Foundational),
        );
        case("karpenter.sh/v1", "NodePool", Some(Row::Foundational));
        case(
            "karpenter.sh/v1alpha5",
            "Provisioner",
            Some(Row::Foundational),
        );
        case(
            "karpenter.k8s.aws/v1",
            "EC2NodeClass",
            Some(Row::Foundational),
        );
        case(
            "karpenter.k8s.aws/v1alpha1",
            "AWSNodeTemplate",
            Some(Row::Foundational),
        );
        // EKS Auto Mode (issue 22): its node classes and load balancer parameters.
        case("eks.amazonaws.com/v1", "NodeClass", Some(Row::Foundational));
        case(
            "eks.amazonaws.com/v1",
            "IngressClassParams",
            Some(Row::Foundational),
        );
        case("ec2.aws.upbound.io/v1beta1", "VPC", Some(Row::Foundational));
        case(
            "s3.aws.crossplane.io/v1beta1",
            "Bucket",
            Some(Row::Foundational),
        );
        case(
            "gateway.networking.k8s.io/v1",
            "GatewayClass",
            Some(Row::ClusterScoped),
        );
        case("kops.k8s.io/v1alpha2", "Cluster", Some(Row::Foundational));
        case(
            "kops.k8s.io/v1alpha2",
            "InstanceGroup",
            Some(Row::Foundational),
        );
        case("karpenter.sh/v1", "NodeClaim", Some(Row::Foundational));
        case("eks.amazonaws.com/v1", "NodeClass", Some(Row::Foundational));
        case("apps/v1", "Deployment", None);
        case("v1", "ConfigMap", None);
        case("argoproj.io/v1alpha1", "Application", None);
        case("monitoring.coreos.com/v1", "ServiceMonitor", None);
    }
}
