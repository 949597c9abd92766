//! Pulumi's state against the rule: which resources of a stack export are applications that
//! belong in GitOps, and why every other one stays.
//!
//! A Kubernetes workload or its configuration (Deployment, StatefulSet, DaemonSet, Service,
//! Ingress, HPA, ConfigMap, Secret, Job, CronJob, PVC, bare Pods) is the application's, unless
//! the platform made it: it lives in a platform namespace (`kube-system`, the add-ons'; so the
//! cluster's `aws-auth` and `cluster-shared-config` stay), a Helm release or chart of an add-on
//! created it, or it is part of a cluster component (pulumi-eks). Namespaces, quotas, limit
//! ranges, priority classes and every other cluster-scoped or fencing kind are the platform's.
//! `strata migrate` moves exactly the resources this module calls applications (or says why
//! it cannot); pure, no I/O.

use crate::check::catalog::Catalog;
use crate::check::kinds::{self, Class, Row};
use crate::check::{Finding, Source};
use crate::model::stack_export::{KubeObject, Resource, StackExport};

/// Where one resource of an export belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An application object: the gitops repo's.
    Application(KubeObject),
    /// A Helm release (or chart component) of an application's chart, which the catalog of
    /// infrastructure charts does not name: the gitops repo's, as a chart it delivers.
    ApplicationChart { chart: String },
    /// Stays in Pulumi, and why.
    Stays(String),
}

/// The chart a Helm component of the export installs (`inputs.chart`), with its repository.
fn chart_of(resource: &Resource) -> Option<(String, String)> {
    let chart = resource.inputs.get("chart")?.as_str()?.to_string();
    let repo = ["/repositoryOpts/repo", "/fetchOpts/repo", "/repo"]
        .iter()
        .find_map(|p| resource.inputs.pointer(p).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_string();
    Some((chart, repo))
}

/// Whether a Helm component installs an infrastructure chart of the catalog (an add-on);
/// a component whose chart the export does not name is taken for one, as before.
fn is_add_on(resource: &Resource, catalog: &Catalog) -> Result<String, String> {
    match chart_of(resource) {
        None => Ok(String::new()),
        Some((chart, repo)) => match catalog.chart(&chart, &repo) {
            Some(verdict) => Ok(verdict.why),
            None => Err(chart),
        },
    }
}

/// Types of components whose children the platform's add-ons made.
const HELM_PARENTS: &[&str] = &[
    "kubernetes:helm.sh/v3:Chart",
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:helm.sh/v2:Chart",
];

/// Whether a namespace is the platform's: Kubernetes' own and the add-ons'.
pub fn is_platform_namespace(namespace: &str) -> bool {
    namespace.starts_with("kube-")
        || crate::model::names::RESERVED_NAMESPACES
            .iter()
            .any(|reserved| *reserved == namespace && namespace != "default")
}

/// Where `resource` belongs, by the built-in catalog of infrastructure charts.
pub fn verdict(export: &StackExport, resource: &Resource) -> Verdict {
    verdict_by(export, resource, &Catalog::default())
}

/// Where `resource` belongs, by `catalog`.
pub fn verdict_by(export: &StackExport, resource: &Resource, catalog: &Catalog) -> Verdict {
    if resource.type_ == "pulumi:pulumi:Stack" {
        return Verdict::Stays("the stack itself".to_string());
    }
    if resource.type_.starts_with("pulumi:providers:") {
        return Verdict::Stays("a provider: it goes when nothing uses it".to_string());
    }
    if !resource.type_.starts_with("kubernetes:") {
        return Verdict::Stays(if resource.custom {
            "not a Kubernetes object (cloud infrastructure, or a helper such as a generated password): Pulumi's".to_string()
        } else {
            "a component resource: it holds no Kubernetes object itself".to_string()
        });
    }
    if HELM_PARENTS.contains(&resource.type_.as_str()) {
        return match is_add_on(resource, catalog) {
            Ok(why) if why.is_empty() => Verdict::Stays(
                "a Helm component whose chart the export does not name: taken for an add-on of the platform"
                    .to_string(),
            ),
            Ok(why) => Verdict::Stays(format!("a Helm release of an add-on of the platform: {why}")),
            Err(chart) => Verdict::ApplicationChart { chart },
        };
    }
    let Some(object) = resource.kube_object() else {
        return Verdict::Stays(
            "a Kubernetes component (a chart, a release or a set of files): its objects are judged one by one"
                .to_string(),
        );
    };
    if let Class::Platform(row, what) = kinds::classify(&object.api_version, &object.kind) {
        return Verdict::Stays(format!("{what}: {}", row.text()));
    }
    if !kinds::is_application_workload(&object.kind) {
        return Verdict::Stays(format!(
            "a `{}` is not an application workload or its configuration",
            object.kind
        ));
    }
    for ancestor in export.ancestors(resource) {
        if HELM_PARENTS.contains(&ancestor.type_.as_str()) {
            let what = if ancestor.type_.ends_with("Release") {
                "release"
            } else {
                "chart"
            };
            return Verdict::Stays(match is_add_on(ancestor, catalog) {
                Ok(_) => format!(
                    "made by the Helm {what} `{}`, an add-on of the platform",
                    ancestor.logical_name()
                ),
                Err(chart) => format!(
                    "made by the Helm {what} `{}` of the application chart `{chart}`: it moves with it",
                    ancestor.logical_name()
                ),
            });
        }
        if ancestor.type_.starts_with("eks:") {
            return Verdict::Stays(format!(
                "part of the cluster component `{}` ({})",
                ancestor.logical_name(),
                ancestor.type_
            ));
        }
    }
    if let Some(namespace) = object.namespace.as_deref() {
        if is_platform_namespace(namespace) {
            return Verdict::Stays(format!(
                "lives in `{namespace}`, a namespace of the platform ({})",
                Row::PlatformOwned.text()
            ));
        }
    }
    Verdict::Application(object)
}

/// How an application object leaves Pulumi: `strata migrate` moves a Deployment and what it
/// uses; a workload of another kind (a StatefulSet, ...) moves by hand (issue 21).
fn fix(kind: &str, export: &str) -> String {
    match kind {
        "StatefulSet" | "DaemonSet" | "Job" | "CronJob" | "Pod" | "ReplicaSet" => format!(
            "move it to the gitops repo by hand: `strata migrate` moves Deployments only (strata's service shape), not a {kind}"
        ),
        "Deployment" => format!(
            "move it to the gitops repo: `strata migrate --stack-export {export} --env ENV` writes the service and the plan that takes it out of Pulumi"
        ),
        _ => format!(
            "move it to the gitops repo: `strata migrate --stack-export {export} --env ENV` moves it with the Deployment that uses it (one that no Deployment uses moves by hand)"
        ),
    }
}

/// The findings of a stack export: one per application object in Pulumi's state.
pub fn check(export: &StackExport, source: &Source) -> Vec<Finding> {
    check_by(export, source, &Catalog::default())
}

/// The findings of a stack export, by `catalog`.
pub fn check_by(export: &StackExport, source: &Source, catalog: &Catalog) -> Vec<Finding> {
    export
        .resources
        .iter()
        .filter_map(|resource| match verdict_by(export, resource, catalog) {
            Verdict::ApplicationChart { chart } => Some(
                Finding::new(
                    "state.application",
                    source,
                    format!(
                        "the Helm {} `{}` of the application chart `{chart}` is managed by Pulumi",
                        if resource.type_.ends_with("Release") { "release" } else { "chart" },
                        resource.logical_name()
                    ),
                )
                .row(Row::ApplicationSpecific)
                .urn(&resource.urn)
                .fix(format!(
                    "deliver `{chart}` from the gitops repo (an Argo CD Application of the chart), then take the release out of Pulumi's state (`pulumi state delete`); or, if it is infrastructure, list it under `[check] infrastructure_charts` in `strata.toml`"
                )),
            ),
            Verdict::Application(object) => Some(
                Finding::new(
                    "state.application",
                    source,
                    format!(
                        "{} `{}` in namespace `{}` is managed by Pulumi",
                        object.kind,
                        object.name,
                        object.namespace.as_deref().unwrap_or("default")
                    ),
                )
                .row(Row::ApplicationSpecific)
                .urn(&resource.urn)
                .object(&object.kind, &object.name, object.namespace.as_deref())
                .fix(fix(&object.kind, &export.path)),
            ),
            Verdict::Stays(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn export(resources: serde_json::Value) -> StackExport {
        let doc = json!({"version": 3, "deployment": {"resources": resources}});
        StackExport::parse(doc.to_string().as_bytes(), "e.json").unwrap()
    }

    fn k8s(urn_tail: &str, type_: &str, id: &str, parent: Option<&str>) -> serde_json::Value {
        json!({"urn": format!("urn:pulumi:dev::p::{urn_tail}"), "type": type_, "custom": true, "id": id,
               "parent": parent.map(|p| format!("urn:pulumi:dev::p::{p}"))})
    }

    #[test]
    fn applications_are_flagged_and_the_platform_is_not() {
        let ex = export(json!([
            {"urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev", "type": "pulumi:pulumi:Stack"},
            k8s("kubernetes:apps/v1:Deployment::api", "kubernetes:apps/v1:Deployment", "shop/api", None),
            k8s("kubernetes:core/v1:ConfigMap::auth", "kubernetes:core/v1:ConfigMap", "kube-system/aws-auth", None),
            k8s("kubernetes:core/v1:ConfigMap::shared", "kubernetes:core/v1:ConfigMap", "kube-system/cluster-shared-config", None),
            k8s("kubernetes:core/v1:Namespace::shop", "kubernetes:core/v1:Namespace", "shop", None),
            k8s("kubernetes:core/v1:ResourceQuota::q", "kubernetes:core/v1:ResourceQuota", "shop/q", None),
            k8s("kubernetes:core/v1:LimitRange::l", "kubernetes:core/v1:LimitRange", "shop/l", None),
            k8s("kubernetes:scheduling.k8s.io/v1:PriorityClass::pc", "kubernetes:scheduling.k8s.io/v1:PriorityClass", "high", None),
            {"urn": "urn:pulumi:dev::p::kubernetes:helm.sh/v3:Chart::lbc", "type": "kubernetes:helm.sh/v3:Chart"},
            k8s("kubernetes:helm.sh/v3:Chart$kubernetes:apps/v1:Deployment::lbc", "kubernetes:apps/v1:Deployment", "shop/lbc",
                Some("kubernetes:helm.sh/v3:Chart::lbc")),
        ]));
        let findings = check(
            &ex,
            &Source::StackExport {
                file: "e.json".into(),
            },
        );
        let names: Vec<&str> = findings.iter().filter_map(|f| f.name.as_deref()).collect();
        assert_eq!(names, ["api"]);
        assert_eq!(findings[0].rule, "state.application");
        assert!(findings[0]
            .urn
            .as_deref()
            .unwrap()
            .ends_with("Deployment::api"));
    }
}
