//! Which cluster a migration is about: the workspace's cluster of the environment, and what the
//! export says of the cluster its objects were applied to. Adopting in place needs the two to be
//! one cluster; `MIGRATION.md` says how to check it and `migration.sh check-cluster` checks it.
//!
//! The export names its cluster through the Kubernetes provider of each moved object: the
//! provider's kubeconfig gives the API server and, in its `aws eks get-token --cluster-name`
//! exec arguments, the EKS cluster's name; an `aws:eks/cluster:Cluster` of the export with that
//! endpoint names it too. The default provider (no kubeconfig) used whatever context was
//! current where Pulumi ran: the export cannot say. Only values the export holds in plain text
//! are read: a kubeconfig sealed as a secret stays unread. Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::answers::Answers;
use crate::model::stack_export::{reveal, Resource, Revealed, StackExport};

/// The workspace's cluster of the environment the services move into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceCluster {
    /// The EKS cluster's name: also the kubectl context every command of the plan names.
    pub name: String,
    pub region: String,
    /// The foundation's stack that makes it.
    pub stack: String,
}

/// What the export says of the cluster behind one Kubernetes provider of the moved objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportCluster {
    /// The provider's URN.
    pub provider: String,
    /// The API server its kubeconfig names.
    pub endpoint: Option<String>,
    /// The EKS cluster's name, when the kubeconfig or the export names it.
    pub name: Option<String>,
}

/// Both sides of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clusters {
    pub workspace: WorkspaceCluster,
    pub export: Vec<ExportCluster>,
}

impl Clusters {
    /// The clusters the export names that are not the workspace's: EKS names a cluster
    /// uniquely in an account and region, and strata names the workspace's.
    pub fn others(&self) -> Vec<&str> {
        self.export
            .iter()
            .filter_map(|c| c.name.as_deref())
            .filter(|name| *name != self.workspace.name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The API servers the export names, each once.
    pub fn endpoints(&self) -> Vec<&str> {
        self.export
            .iter()
            .filter_map(|c| c.endpoint.as_deref())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// The workspace's cluster of `env`.
pub fn workspace_cluster(answers: &Answers, env: &str) -> WorkspaceCluster {
    let stacks = crate::model::stack::stacks(answers);
    let stack = stacks
        .iter()
        .find(|s| s.envs.iter().any(|i| answers.environments[*i].name == env))
        .or_else(|| stacks.first());
    WorkspaceCluster {
        name: stack.map_or_else(|| answers.project.to_string(), |s| s.cluster.clone()),
        region: answers.region.clone(),
        stack: stack.map_or_else(String::new, |s| s.name.clone()),
    }
}

/// What the export says of the clusters of the resources `moved`, one entry per provider.
pub fn export_clusters<'a>(
    export: &StackExport,
    moved: impl IntoIterator<Item = &'a str>,
) -> Vec<ExportCluster> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for urn in moved {
        let Some(provider) = export.get(urn).and_then(|r| export.provider_of(r)) else {
            continue;
        };
        if !seen.insert(provider.urn.clone()) {
            continue;
        }
        let (endpoint, mut name) = match kubeconfig(provider) {
            Some(config) => (server(&config), cluster_name(&config)),
            None => (None, None),
        };
        if name.is_none() {
            name = endpoint.as_deref().and_then(|e| eks_cluster_at(export, e));
        }
        out.push(ExportCluster {
            provider: provider.urn.clone(),
            endpoint,
            name,
        });
    }
    out
}

/// The provider's kubeconfig, when the export holds it in plain text.
fn kubeconfig(provider: &Resource) -> Option<Value> {
    let raw = provider
        .outputs
        .get("kubeconfig")
        .or_else(|| provider.inputs.get("kubeconfig"))?;
    let Revealed::Plain(value) = reveal(raw) else {
        return None;
    };
    match value {
        Value::String(text) => crate::util::yaml::parse(text).ok(),
        Value::Object(_) => Some(value.clone()),
        _ => None,
    }
}

/// The context a kubeconfig uses: its current one, or its only one.
fn context(config: &Value) -> Option<&Value> {
    let contexts = config.get("contexts")?.as_array()?;
    let current = config.get("current-context").and_then(Value::as_str);
    contexts
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == current && current.is_some())
        .or_else(|| (contexts.len() == 1).then(|| &contexts[0]))
        .and_then(|c| c.get("context"))
}

/// The named entry of a kubeconfig list (`clusters`, `users`), or its only one.
fn entry<'a>(config: &'a Value, list: &str, name: Option<&str>) -> Option<&'a Value> {
    let items = config.get(list)?.as_array()?;
    items
        .iter()
        .find(|c| name.is_some() && c.get("name").and_then(Value::as_str) == name)
        .or_else(|| (items.len() == 1).then(|| &items[0]))
}

fn server(config: &Value) -> Option<String> {
    let wanted = context(config)
        .and_then(|c| c.get("cluster"))
        .and_then(Value::as_str);
    entry(config, "clusters", wanted)?
        .pointer("/cluster/server")?
        .as_str()
        .map(str::to_string)
}

/// The EKS cluster `aws eks get-token --cluster-name NAME` (or `aws-iam-authenticator token -i
/// NAME`) asks a token for.
fn cluster_name(config: &Value) -> Option<String> {
    let wanted = context(config)
        .and_then(|c| c.get("user"))
        .and_then(Value::as_str);
    let args: Vec<&str> = entry(config, "users", wanted)?
        .pointer("/user/exec/args")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    args.iter()
        .position(|a| matches!(*a, "--cluster-name" | "-i" | "--cluster-id"))
        .and_then(|i| args.get(i + 1))
        .map(|name| (*name).to_string())
}

/// The name of the export's own EKS cluster at `endpoint`.
fn eks_cluster_at(export: &StackExport, endpoint: &str) -> Option<String> {
    export
        .resources
        .iter()
        .filter(|r| r.type_ == "aws:eks/cluster:Cluster")
        .find(|r| {
            r.outputs
                .get("endpoint")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(endpoint))
        })
        .and_then(|r| r.outputs.get("name").and_then(Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(file: &str) -> StackExport {
        let path = format!(
            "{}/tests/data/stack-exports/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        StackExport::load(std::path::Path::new(&path)).unwrap()
    }

    fn deployments(export: &StackExport) -> Vec<&str> {
        export
            .resources
            .iter()
            .filter(|r| r.type_ == "kubernetes:apps/v1:Deployment")
            .map(|r| r.urn.as_str())
            .collect()
    }

    #[test]
    fn the_provider_s_kubeconfig_names_the_endpoint_and_the_cluster() {
        let export = export("pulumi-eks-encryption-provider-k8s-v4.json");
        let found = export_clusters(&export, deployments(&export));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].endpoint.as_deref(),
            Some("https://1DC1BF648E58C6B948BEAC62EA0D6649.gr7.us-west-2.eks.amazonaws.com")
        );
        assert_eq!(
            found[0].name.as_deref(),
            Some("encryption-provider-eksCluster-813f60c")
        );
        assert!(found[0]
            .provider
            .ends_with("::encryption-provider-provider"));
    }

    #[test]
    fn the_default_provider_says_nothing_of_its_cluster() {
        let export = export("constructed-shop-adopt-in-place-k8s-v3.json");
        let found = export_clusters(&export, deployments(&export));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].endpoint.as_ref(), found[0].name.as_ref()),
            (None, None)
        );
    }

    #[test]
    fn a_named_cluster_other_than_the_workspace_s_is_reported() {
        let export = export("pulumi-eks-encryption-provider-k8s-v4.json");
        let mut clusters = Clusters {
            workspace: WorkspaceCluster {
                name: "acme-dev".to_string(),
                region: "eu-west-1".to_string(),
                stack: "dev".to_string(),
            },
            export: export_clusters(&export, deployments(&export)),
        };
        assert_eq!(
            clusters.others(),
            ["encryption-provider-eksCluster-813f60c"]
        );
        clusters.workspace.name = "encryption-provider-eksCluster-813f60c".to_string();
        assert!(clusters.others().is_empty());
    }
}
