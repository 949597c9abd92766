//! The catalog of infrastructure Helm charts: what `strata check` judges a chart by when GitOps
//! delivers it (an Argo CD `Application` or `ApplicationSet`, a Flux `HelmRelease`, a
//! kustomization's `helmCharts`, a chart's dependencies), and the remote sources it allows.
//!
//! Each entry is a chart that installs infrastructure, with the row of the decision framework
//! that makes it so and the reason (`docs/check.md` lists them). A chart the catalog does not
//! name is an application's. A workspace extends the catalog in `strata.toml` (`[check]`):
//! more infrastructure charts with their reasons, catalog charts it deploys as applications,
//! remote sources it allows. Pure: reads nothing.

use std::collections::BTreeMap;

use crate::check::kinds::Row;
use crate::model::answers::CheckConfig;

/// One infrastructure chart of the built-in catalog.
#[derive(Debug, Clone, Copy)]
pub struct Chart {
    /// The chart's name; `*` at the end matches any suffix (`karpenter*`).
    pub name: &'static str,
    /// Only when the chart's repository URL contains this (`""`: any repository).
    pub repo: &'static str,
    pub row: Row,
    /// What it installs, and why that is the foundation's.
    pub why: &'static str,
}

const fn chart(name: &'static str, row: Row, why: &'static str) -> Chart {
    Chart {
        name,
        repo: "",
        row,
        why,
    }
}

/// The built-in catalog (`docs/check.md` explains each row). The platform services' charts
/// (monitoring, logging: `kube-prometheus-stack`, `fluent-bit`) are not in it: strata's own
/// design delivers them through GitOps, from the platform team's `platform/` directory.
pub const CHARTS: &[Chart] = &[
    chart("karpenter", Row::Foundational, "Karpenter provisions the cluster's nodes (NodePool, EC2NodeClass, its IAM and interruption queue)"),
    chart("karpenter-crd", Row::Foundational, "the CRDs of Karpenter's node provisioning"),
    chart("cluster-autoscaler", Row::Foundational, "scales the cluster's node groups through the cloud's API"),
    chart("aws-load-balancer-controller", Row::Foundational, "creates AWS load balancers and owns the `alb` IngressClass and its webhooks"),
    chart("aws-node-termination-handler", Row::Foundational, "drains nodes on EC2 interruptions: node infrastructure"),
    chart("aws-vpc-cni", Row::Foundational, "the pod network of every node"),
    chart("aws-ebs-csi-driver", Row::Foundational, "a CSI driver: storage classes and volumes of the cloud, cluster-wide"),
    chart("aws-efs-csi-driver", Row::Foundational, "a CSI driver: storage classes and volumes of the cloud, cluster-wide"),
    chart("aws-mountpoint-s3-csi-driver", Row::Foundational, "a CSI driver: storage classes and volumes of the cloud, cluster-wide"),
    chart("aws-fsx-csi-driver", Row::Foundational, "a CSI driver: storage classes and volumes of the cloud, cluster-wide"),
    chart("aws-ebs-csi-classes", Row::ClusterScoped, "StorageClasses: cluster-scoped, shared by every tenant"),
    chart("aws-gateway-controller-chart", Row::Foundational, "the AWS Gateway API controller: VPC Lattice networks of the cloud and a GatewayClass"),
    chart("aws-privateca-issuer", Row::ClusterScoped, "cert-manager issuers of AWS Private CA, cluster-wide"),
    chart("gpu-operator", Row::Foundational, "GPU drivers and device plugins on the nodes"),
    chart("cluster-proportional-autoscaler", Row::ClusterScoped, "scales a platform Deployment with the cluster's nodes, reading every node"),
    chart("prometheus-adapter", Row::ClusterScoped, "the cluster's custom metrics API (an APIService)"),
    chart("argo-rollouts", Row::ClusterScoped, "a cluster-wide controller with its CRDs"),
    chart("argo-workflows", Row::ClusterScoped, "a cluster-wide controller with its CRDs"),
    chart("argo-events", Row::ClusterScoped, "a cluster-wide controller with its CRDs"),
    chart("nvidia-device-plugin", Row::Foundational, "GPU device plugins on the nodes"),
    chart("smb-csi-driver", Row::Foundational, "a CSI driver: storage classes and volumes, cluster-wide"),
    chart("csi-driver-smb", Row::Foundational, "a CSI driver: storage classes and volumes, cluster-wide"),
    chart("cert-manager-csi-driver", Row::Foundational, "a CSI driver on every node"),
    chart("appmesh-controller", Row::Foundational, "creates AWS App Mesh resources through the cloud's API"),
    chart("traefik", Row::ClusterScoped, "an IngressClass and a load balancer shared by every tenant"),
    chart("yunikorn", Row::ClusterScoped, "a scheduler for every tenant's pods"),
    chart("chaos-mesh", Row::ClusterScoped, "cluster-wide CRDs and webhooks that inject faults into any namespace"),
    chart("kubernetes-dashboard", Row::ClusterScoped, "reads every namespace of the cluster"),
    chart("strimzi-kafka-operator", Row::ClusterScoped, "an operator with cluster-wide CRDs"),
    chart("spark-operator", Row::ClusterScoped, "an operator with cluster-wide CRDs and a webhook"),
    chart("agones", Row::ClusterScoped, "an operator with cluster-wide CRDs, webhooks and node ports"),
    chart("secrets-store-csi-driver", Row::Foundational, "a CSI driver, with its cluster-wide CRDs"),
    chart("secrets-store-csi-driver-provider-aws", Row::Foundational, "the AWS provider of the secrets store CSI driver, on every node"),
    chart("external-dns", Row::Foundational, "writes the cloud's DNS records for every tenant"),
    chart("cert-manager", Row::ClusterScoped, "CRDs, cluster issuers and cluster-wide webhooks for every tenant"),
    chart("external-secrets", Row::ClusterScoped, "CRDs, cluster secret stores and a cluster-wide webhook"),
    chart("ingress-nginx", Row::ClusterScoped, "an IngressClass and a cloud load balancer shared by every tenant"),
    chart("metrics-server", Row::ClusterScoped, "the cluster's resource metrics API (an APIService)"),
    chart("crossplane", Row::Foundational, "Crossplane creates cloud resources, with cluster-wide CRDs"),
    chart("crossplane-*", Row::Foundational, "Crossplane providers and their configuration: cloud resources"),
    chart("provider-*", Row::Foundational, "a Crossplane provider: cloud resources"),
    Chart {
        name: "*-chart",
        repo: "aws-controllers-k8s",
        row: Row::Foundational,
        why: "an AWS Controllers for Kubernetes controller: cloud resources",
    },
    chart("gatekeeper", Row::ClusterScoped, "admission policy for every tenant (cluster-wide webhooks and constraint CRDs)"),
    chart("kyverno", Row::ClusterScoped, "admission policy for every tenant (cluster-wide webhooks and policies)"),
    chart("kyverno-policies", Row::ClusterScoped, "cluster-wide policies of every tenant"),
    chart("velero", Row::Foundational, "backs up the cluster to the cloud (a bucket and its IAM), cluster-wide"),
    chart("argo-cd", Row::Foundational, "the delivery system itself: the foundation installs it, GitOps cannot bootstrap it"),
    chart("argocd-apps", Row::PlatformOwned, "the root Applications and AppProjects: the foundation's"),
    chart("prometheus-operator-crds", Row::Foundational, "the monitoring CRDs"),
    chart("calico", Row::Foundational, "the pod network and its policy engine"),
    chart("tigera-operator", Row::Foundational, "the pod network and its policy engine"),
    chart("cilium", Row::Foundational, "the pod network and its policy engine"),
    chart("istio-base", Row::ClusterScoped, "the service mesh's CRDs and cluster-wide webhooks"),
    chart("istiod", Row::ClusterScoped, "the service mesh's control plane, cluster-wide"),
    chart("gateway-helm", Row::ClusterScoped, "a Gateway API controller and its GatewayClass"),
    chart("vpa", Row::ClusterScoped, "the vertical pod autoscaler's CRDs and webhook, cluster-wide"),
    chart("keda", Row::ClusterScoped, "event-driven autoscaling: CRDs, an APIService and a webhook"),
    chart("cloudnative-pg", Row::ClusterScoped, "a database operator with cluster-wide CRDs and webhooks"),
];

/// What the catalog says of a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub row: Row,
    pub why: String,
}

/// The built-in catalog as a workspace extends it.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    extra: BTreeMap<String, String>,
    application: Vec<String>,
    allowed_remotes: Vec<String>,
}

/// A chart's own name from how it is referenced: `oci://.../karpenter` -> `karpenter`,
/// `./charts/podinfo` -> `podinfo`, `bitnami/nginx` -> `nginx`.
pub fn chart_name(reference: &str) -> &str {
    reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(reference)
}

fn matches(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix) && name.len() > prefix.len()
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        name.ends_with(suffix) && name.len() > suffix.len()
    } else {
        pattern == name
    }
}

impl Catalog {
    pub fn new(config: &CheckConfig) -> Self {
        Catalog {
            extra: config.infrastructure_charts.clone(),
            application: config.application_charts.clone(),
            allowed_remotes: config.allowed_remotes.clone(),
        }
    }

    /// The verdict on a chart (`reference` as written: a name, a path or an OCI URL), from
    /// the repository `repo` (its URL, or `""`); `None`: an application's chart.
    pub fn chart(&self, reference: &str, repo: &str) -> Option<Verdict> {
        let name = chart_name(reference);
        if let Some(why) = self.extra.get(name) {
            return Some(Verdict {
                row: Row::Foundational,
                why: format!("{why} (`strata.toml` `[check]`)"),
            });
        }
        if self.application.iter().any(|a| a == name) {
            return None;
        }
        let repo = if repo.is_empty() { reference } else { repo };
        CHARTS
            .iter()
            .find(|c| {
                matches(c.name, name)
                    && (c.repo.is_empty() || repo.contains(c.repo) || reference.contains(c.repo))
            })
            .map(|c| Verdict {
                row: c.row,
                why: c.why.to_string(),
            })
    }

    /// Whether a remote source is allowed (`[check] allowed_remotes`, by prefix).
    pub fn remote_allowed(&self, url: &str) -> bool {
        self.allowed_remotes
            .iter()
            .any(|prefix| url.starts_with(prefix.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_of_the_catalog_is_documented_with_its_row() {
        let doc =
            fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/check.md")).unwrap();
        for chart in CHARTS {
            let row = serde_json::to_value(chart.row).unwrap();
            let line = format!("| `{}` | {} |", chart.name, row.as_str().unwrap());
            assert!(
                doc.contains(&line) || chart.name == "*-chart",
                "docs/check.md lacks `{line}`"
            );
        }
    }

    #[test]
    fn charts_are_known_by_name_whatever_the_reference() {
        let catalog = Catalog::default();
        assert!(catalog
            .chart("oci://public.ecr.aws/karpenter/karpenter", "")
            .is_some());
        assert!(catalog
            .chart("cert-manager", "https://charts.jetstack.io")
            .is_some());
        assert!(catalog
            .chart("s3-chart", "oci://public.ecr.aws/aws-controllers-k8s")
            .is_some());
        assert!(catalog.chart("my-chart", "https://example.com").is_none());
        assert!(catalog
            .chart("wordpress", "https://charts.bitnami.com")
            .is_none());
        assert!(catalog.chart("provider-aws", "").is_some());
        let config = CheckConfig {
            infrastructure_charts: [("my-operator".to_string(), "a webhook".to_string())].into(),
            application_charts: vec!["cert-manager".to_string()],
            allowed_remotes: Vec::new(),
        };
        let catalog = Catalog::new(&config);
        assert!(catalog.chart("cert-manager", "").is_none());
        assert!(catalog.chart("my-operator", "").is_some());
    }
}
