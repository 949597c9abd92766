//! The Deployment that roots a service, and what moves with it: the ConfigMaps, Secrets and
//! claims its pods use or it depends on in Pulumi's graph, the Services that select its pods,
//! the Ingresses that route to those Services, and the HorizontalPodAutoscaler that scales it.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{clean_map, Derivation, Stay};
use crate::migrate::{declared, Candidate};
use crate::model::names::ServiceName;
use crate::model::stack_export::holds_secret;

/// The Deployment's spec as the program declared it, and its pod.
pub(super) struct Pod {
    pub spec: Value,
    pub template: Value,
    /// The pod spec.
    pub pod: Value,
    /// The pods' labels, without Pulumi's.
    pub labels: Map<String, Value>,
    /// The first container, the one strata's shape describes.
    pub first: Value,
}

/// The objects that move because they select, route to or scale the Deployment.
pub(super) struct Related<'a> {
    pub services: Vec<&'a Candidate<'a>>,
    pub ingresses: Vec<&'a Candidate<'a>>,
    /// The HorizontalPodAutoscaler, with its declared spec.
    pub hpa: Option<(&'a Candidate<'a>, Value)>,
}

/// What a pod spec references, by kind.
#[derive(Debug, Default)]
struct Refs {
    config_maps: BTreeSet<String>,
    secrets: BTreeSet<String>,
    pull_secrets: BTreeSet<String>,
    claims: BTreeSet<String>,
}

pub(super) fn containers_of(pod: &Value) -> impl Iterator<Item = &Value> {
    ["containers", "initContainers"]
        .into_iter()
        .filter_map(|k| pod.get(k).and_then(Value::as_array))
        .flatten()
}

fn refs_of(pod: &Value) -> Refs {
    let mut refs = Refs::default();
    let name = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    for container in containers_of(pod) {
        for source in container
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            refs.config_maps
                .extend(name(source.pointer("/configMapRef/name")));
            refs.secrets.extend(name(source.pointer("/secretRef/name")));
        }
        for var in container
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            refs.config_maps
                .extend(name(var.pointer("/valueFrom/configMapKeyRef/name")));
            refs.secrets
                .extend(name(var.pointer("/valueFrom/secretKeyRef/name")));
        }
    }
    for volume in pod
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        refs.config_maps
            .extend(name(volume.pointer("/configMap/name")));
        refs.secrets
            .extend(name(volume.pointer("/secret/secretName")));
        refs.claims
            .extend(name(volume.pointer("/persistentVolumeClaim/claimName")));
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            refs.config_maps
                .extend(name(source.pointer("/configMap/name")));
            refs.secrets.extend(name(source.pointer("/secret/name")));
        }
    }
    for pull in pod
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        refs.pull_secrets.extend(name(pull.get("name")));
    }
    refs
}

/// Whether every entry of `selector` is among `labels` (and there is one).
fn selects(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector.and_then(Value::as_object) else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl<'a> Derivation<'a> {
    /// The other candidates of the Deployment's namespace.
    fn same_namespace(&self) -> impl Iterator<Item = &'a Candidate<'a>> + '_ {
        self.candidates.iter().filter(move |c| {
            c.namespace() == self.namespace && c.resource.urn != self.root.resource.urn
        })
    }

    fn find(&self, kind: &str, name: &str) -> Option<&'a Candidate<'a>> {
        self.candidates.iter().find(|c| {
            c.object.kind == kind && c.object.name == name && c.namespace() == self.namespace
        })
    }

    /// The ConfigMaps, Secrets and claims the Deployment depends on in Pulumi's graph: known
    /// even when its spec is sealed.
    pub(super) fn find_graph_members(&mut self) {
        let root = self.root;
        self.members = self
            .same_namespace()
            .filter(|c| {
                matches!(
                    c.object.kind.as_str(),
                    "ConfigMap" | "Secret" | "PersistentVolumeClaim"
                ) && root.resource.dependencies.contains(&c.resource.urn)
            })
            .collect();
    }

    /// Reads the Deployment's spec, or says why it stays: sealed, a name or a label strata
    /// cannot keep, no container, or secrets strata cannot tell from plain values.
    pub(super) fn read_root(&self) -> Result<Pod, Stay> {
        let service = &self.service;
        let (spec, spec_secret) = declared(self.root.resource, "spec").ok_or_else(|| {
            self.stay(
                "its spec is encrypted in the export (a sealed Pulumi secret): export the stack again with `pulumi stack export --show-secrets --file FILE`, migrate from that file, then delete it (it holds the stack's secrets in plain text)".to_string(),
            )
        })?;
        if let Err(problem) = service.parse::<ServiceName>() {
            return Err(self.stay(
                format!("its name is not a strata service name ({}): strata keeps names identical, so move it by hand", problem.message),
            ));
        }
        if self.request.answers.services.contains_key(service.as_str()) {
            return Err(self.stay(format!("the workspace already has a service `{service}`")));
        }
        let template = spec.get("template").cloned().unwrap_or(Value::Null);
        let pod = template.get("spec").cloned().unwrap_or(Value::Null);
        let labels = clean_map(template.pointer("/metadata/labels"));
        let Some(first) = pod
            .get("containers")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .cloned()
        else {
            return Err(self.stay("its pod spec has no container".to_string()));
        };
        if labels
            .get("app.kubernetes.io/name")
            .is_some_and(|v| v.as_str() != Some(service.as_str()))
        {
            return Err(self.stay(
                format!("its pods carry `app.kubernetes.io/name: {}`, the label strata sets to the service's name `{service}`", labels["app.kubernetes.io/name"]),
            ));
        }
        if holds_secret(&spec) {
            return Err(self.stay(
                "parts of its spec are Pulumi secrets, which strata will not write to git"
                    .to_string(),
            ));
        }
        let has_literal_env = containers_of(&pod)
            .flat_map(|c| c.get("env").and_then(Value::as_array).into_iter().flatten())
            .any(|v| v.get("value").is_some());
        if spec_secret && has_literal_env {
            return Err(self.stay(
                "its whole spec is a Pulumi secret and it sets environment values literally: strata cannot tell which are secret; move them into a Secret first".to_string(),
            ));
        }
        Ok(Pod {
            spec,
            template,
            pod,
            labels,
            first,
        })
    }

    /// Adds to the members what the pods reference, and the Services, Ingresses and
    /// HorizontalPodAutoscaler that select, route to or scale them. A pull secret keeps the
    /// Deployment in Pulumi.
    pub(super) fn gather_members(&mut self, pod: &Pod) -> Result<Related<'a>, Stay> {
        let refs = refs_of(&pod.pod);
        if let Some(pull) = refs.pull_secrets.iter().next() {
            return Err(self.stay(
                format!("it pulls its image with the Secret `{pull}` (`imagePullSecrets`); strata's ExternalSecrets make Opaque secrets: move it by hand"),
            ));
        }
        for (kind, names) in [
            ("ConfigMap", &refs.config_maps),
            ("Secret", &refs.secrets),
            ("PersistentVolumeClaim", &refs.claims),
        ] {
            for name in names {
                if let Some(candidate) = self.find(kind, name) {
                    if !self
                        .members
                        .iter()
                        .any(|m| m.resource.urn == candidate.resource.urn)
                    {
                        self.members.push(candidate);
                    }
                }
            }
        }
        let services = self.services_selecting(&pod.labels);
        let ingresses = self.ingresses_routing_to(&services);
        let hpa = self.autoscaler();
        self.members.extend(services.iter().copied());
        self.members.extend(ingresses.iter().copied());
        if let Some((candidate, _)) = &hpa {
            self.members.push(candidate);
        }
        Ok(Related {
            services,
            ingresses,
            hpa,
        })
    }

    fn services_selecting(&self, pod_labels: &Map<String, Value>) -> Vec<&'a Candidate<'a>> {
        let mut services = Vec::new();
        for candidate in self.same_namespace().filter(|c| c.object.kind == "Service") {
            if let Some((svc_spec, _)) = declared(candidate.resource, "spec") {
                if selects(svc_spec.get("selector"), pod_labels) {
                    services.push(candidate);
                }
            }
        }
        services
    }

    fn ingresses_routing_to(&self, services: &[&'a Candidate<'a>]) -> Vec<&'a Candidate<'a>> {
        let service_names: BTreeSet<&str> =
            services.iter().map(|c| c.object.name.as_str()).collect();
        let mut ingresses = Vec::new();
        for candidate in self.same_namespace().filter(|c| c.object.kind == "Ingress") {
            if let Some((ing_spec, _)) = declared(candidate.resource, "spec") {
                let text = ing_spec.to_string();
                let routes = service_names.iter().any(|name| {
                    text.contains(&format!("\"name\":\"{name}\""))
                        || text.contains(&format!("\"serviceName\":\"{name}\""))
                });
                if routes {
                    ingresses.push(candidate);
                }
            }
        }
        ingresses
    }

    fn autoscaler(&self) -> Option<(&'a Candidate<'a>, Value)> {
        let mut hpa = None;
        for candidate in self
            .same_namespace()
            .filter(|c| c.object.kind == "HorizontalPodAutoscaler")
        {
            if let Some((hpa_spec, _)) = declared(candidate.resource, "spec") {
                let target = hpa_spec.get("scaleTargetRef");
                if target.and_then(|t| t.get("kind")).and_then(Value::as_str) == Some("Deployment")
                    && target.and_then(|t| t.get("name")).and_then(Value::as_str)
                        == Some(self.object.as_str())
                {
                    hpa = Some((candidate, hpa_spec));
                }
            }
        }
        hpa
    }
}
