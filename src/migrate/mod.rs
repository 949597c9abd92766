//! `strata migrate`: the applications of a Pulumi stack export, planned as services of the
//! gitops repo, and everything else of the export named with the reason it stays.
//!
//! Each Deployment the rule says is an application ([`crate::check::state::verdict`]) roots a
//! service of the same name; the objects it uses (ConfigMaps, Secrets, PVCs), selects or scales
//! (Services, Ingresses through them, HPAs) or depends on in Pulumi's graph move with it.
//! The service goes in through the same path as `strata add service` ([`crate::jobs::grow`]), with
//! the image, port, replicas, resources, probes and configuration read from the exported
//! spec ([`service`]); what strata's shape cannot express is kept verbatim in the overlay.
//! Secret values are never read: only the keys of each Secret, which become the service's
//! ExternalSecret keys. Pure: export and answers in, a [`Migration`] out.

pub(crate) mod cluster;
pub(crate) mod document;
pub(crate) mod run;
mod service;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::check::state::{verdict, Verdict};
use crate::jobs::grow::ServiceInput;
use crate::model::answers::Answers;
use crate::model::stack_export::{KubeObject, Resource, StackExport, Writer};
use crate::model::values::{Cpu, Memory};

/// How Argo CD takes over a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The objects live in the environment's namespace: Argo CD adopts them where they are,
    /// with identical names.
    Adopt,
    /// The objects live in another namespace (`from`): Argo CD creates them, with identical
    /// names, in the environment's namespace; the old ones keep running until the cut-over.
    Relocate { from: String },
}

/// One resource that moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub urn: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// What it becomes in the gitops repo.
    pub becomes: String,
    pub writer: Writer,
    /// Pulumi's `protect` option is set: it must be lifted before the resource can go.
    pub protected: bool,
}

/// A Secret whose keys the service's ExternalSecret reads from AWS Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeys {
    pub name: String,
    pub namespace: String,
    pub keys: Vec<String>,
}

/// A file of the overlay that migrate writes besides strata's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayFile {
    pub name: String,
    pub text: String,
    /// `resources` entry, or a patch with this `target` (YAML flow mapping), or a plain patch.
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Resource,
    Patch(Option<String>),
}

/// One service the migration creates.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub name: String,
    /// Where the objects run today.
    pub namespace: String,
    pub mode: Mode,
    pub input: ServiceInput,
    /// The container's CPU and memory limits, when it set them (`add service` takes the
    /// preset's; migrate writes these into the answers).
    pub limits: (Option<Cpu>, Option<Memory>),
    pub moved: Vec<Moved>,
    /// What is kept verbatim from the Pulumi spec, one line each.
    pub kept: Vec<String>,
    /// What changes on the first sync, to review before it.
    pub notes: Vec<String>,
    pub secrets: Vec<SecretKeys>,
    pub files: Vec<OverlayFile>,
    /// Commands to run once the hand-over is done.
    pub cleanup: Vec<Kubectl>,
}

/// A `kubectl` command on one namespace, as words: the plan adds the cluster's context and
/// quotes each word for the shell (`document.rs`), since the names come from the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubectl {
    pub namespace: String,
    pub args: Vec<String>,
}

impl Kubectl {
    pub fn new(namespace: &str, args: &[&str]) -> Kubectl {
        Kubectl {
            namespace: namespace.to_string(),
            args: args.iter().map(|a| (*a).to_string()).collect(),
        }
    }

    /// `kubectl -n NAMESPACE delete KIND NAME`.
    pub fn delete(namespace: &str, kind: &str, name: &str) -> Kubectl {
        Kubectl::new(namespace, &["delete", kind, name])
    }

    /// Whether this command deletes `kind` `name`.
    pub fn deletes(&self, kind: &str, name: &str) -> bool {
        self.args.len() == 3
            && self.args[0] == "delete"
            && self.args[1] == kind
            && self.args[2] == name
    }
}

/// A resource that stays in Pulumi, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    pub urn: String,
    pub type_: String,
    pub reason: String,
}

/// The whole migration.
#[derive(Debug, Clone)]
pub struct Migration {
    pub env: String,
    pub services: Vec<ServicePlan>,
    pub left: Vec<LeftAlone>,
    /// The moved URNs in the order `pulumi state delete` takes them (dependents first).
    pub order: Vec<String>,
    /// Moved URNs that a resource staying in Pulumi depends on: (moved, dependent).
    pub held: Vec<(String, String)>,
    /// The workspace's cluster, and what the export says of its own.
    pub clusters: cluster::Clusters,
}

/// An application object of the export, with its resource.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub resource: &'a Resource,
    pub object: KubeObject,
}

impl Candidate<'_> {
    pub fn namespace(&self) -> &str {
        self.object.namespace.as_deref().unwrap_or("default")
    }
}

/// What the caller knows besides the export.
pub struct Request<'a> {
    pub export: &'a StackExport,
    pub answers: &'a Answers,
    pub env: &'a str,
    /// Service -> image, for specs whose image has no usable tag.
    pub images: &'a BTreeMap<String, String>,
}

/// Plans the migration of every application of the export into `env`.
pub fn plan(request: &Request<'_>) -> Migration {
    let export = request.export;
    let mut left: Vec<LeftAlone> = Vec::new();
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for resource in &export.resources {
        match verdict(export, resource) {
            Verdict::Application(object) => candidates.push(Candidate { resource, object }),
            Verdict::Stays(reason) => left.push(LeftAlone {
                urn: resource.urn.clone(),
                type_: resource.type_.clone(),
                reason,
            }),
            Verdict::ApplicationChart { chart } => left.push(LeftAlone {
                urn: resource.urn.clone(),
                type_: resource.type_.clone(),
                reason: format!("a Helm release of the application chart `{chart}`: deliver the chart from the gitops repo (an Argo CD Application of it) by hand; `strata migrate` moves Deployments and what they use"),
            }),
        }
    }
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let mut services: Vec<ServicePlan> = Vec::new();
    let env_namespace = request.env.to_string();
    for root in candidates.iter().filter(|c| c.object.kind == "Deployment") {
        match service::derive(request, root, &candidates, &env_namespace) {
            Ok(plan) => {
                for moved in &plan.moved {
                    claimed.insert(moved.urn.clone());
                }
                services.push(plan);
            }
            Err(why) => {
                // The Deployment stays, and what only it would have taken stays with it.
                left.push(LeftAlone {
                    urn: root.resource.urn.clone(),
                    type_: root.resource.type_.clone(),
                    reason: why.reason,
                });
                for member in why.members {
                    if claimed.insert(member.clone()) {
                        if let Some(r) = export.get(&member) {
                            left.push(LeftAlone {
                                urn: member,
                                type_: r.type_.clone(),
                                reason: format!(
                                    "belongs to Deployment `{}`, which stays (see its reason)",
                                    root.object.name
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    // A Secret or ConfigMap two services share moves once (with the first).
    let mut seen = BTreeSet::new();
    for plan in &mut services {
        plan.moved.retain(|m| seen.insert(m.urn.clone()));
    }
    for candidate in &candidates {
        if claimed.contains(&candidate.resource.urn) {
            continue;
        }
        let reason = match candidate.object.kind.as_str() {
            "Deployment" => continue,
            kind @ ("StatefulSet" | "DaemonSet" | "Job" | "CronJob" | "Pod" | "ReplicaSet") => format!(
                "a {kind}: strata's service shape is a Deployment, so move it to the gitops repo by hand (`strata check` keeps listing it until then)"
            ),
            _ => "an application object no Deployment of the export uses, selects or scales: move it by hand with the service it belongs to".to_string(),
        };
        left.push(LeftAlone {
            urn: candidate.resource.urn.clone(),
            type_: candidate.resource.type_.clone(),
            reason,
        });
    }
    let moved: BTreeSet<String> = services
        .iter()
        .flat_map(|s| s.moved.iter().map(|m| m.urn.clone()))
        .collect();
    let order = deletion_order(export, &moved);
    let mut held = Vec::new();
    for urn in &moved {
        for dependent in export.dependents(urn) {
            if !moved.contains(&dependent.urn) {
                held.push((urn.clone(), dependent.urn.clone()));
            }
        }
    }
    let position: BTreeMap<&str, usize> = export
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.urn.as_str(), i))
        .collect();
    left.sort_by_key(|l| position.get(l.urn.as_str()).copied().unwrap_or(usize::MAX));
    left.dedup_by(|a, b| a.urn == b.urn);
    let clusters = cluster::Clusters {
        workspace: cluster::workspace_cluster(request.answers, request.env),
        export: cluster::export_clusters(export, order.iter().map(String::as_str)),
    };
    Migration {
        env: request.env.to_string(),
        services,
        left,
        order,
        held,
        clusters,
    }
}

/// The moved URNs, each before everything it depends on: `pulumi state delete` refuses to
/// remove a resource others still depend on.
fn deletion_order(export: &StackExport, moved: &BTreeSet<String>) -> Vec<String> {
    let mut remaining: Vec<&Resource> = export
        .resources
        .iter()
        .filter(|r| moved.contains(&r.urn))
        .collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut next = Vec::new();
        for resource in &remaining {
            let depended_on = remaining.iter().any(|other| {
                other.urn != resource.urn
                    && (other.dependencies.contains(&resource.urn)
                        || other.parent.as_deref() == Some(resource.urn.as_str()))
            });
            if depended_on {
                next.push(*resource);
            } else {
                out.push(resource.urn.clone());
            }
        }
        remaining = next;
        if remaining.len() == before {
            // A cycle (Pulumi's graph has none): take the rest as they come.
            out.extend(remaining.iter().map(|r| r.urn.clone()));
            break;
        }
    }
    out
}

/// Reads a field of a Kubernetes resource as the program declared it, revealing it when the
/// export is in plain text, with whether it was a secret. `None` when it is sealed.
pub fn declared(resource: &Resource, key: &str) -> Option<(Value, bool)> {
    match resource.field(key) {
        crate::model::stack_export::Revealed::Plain(v) => Some((v.clone(), false)),
        crate::model::stack_export::Revealed::Decrypted(v) => Some((v, true)),
        crate::model::stack_export::Revealed::Sealed => None,
    }
}
