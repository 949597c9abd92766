//! strata's shape of the service, read from the Deployment: the image, pinned; the port,
//! replicas, requests and health path; the Ingress's scheme, host and path; then the same
//! validation as `strata add service`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::members::Pod;
use super::{clean_map, op, pointer_key, text, Derivation, Stay};
use crate::jobs::grow::{self, ServiceInput};
use crate::migrate::{declared, Candidate, SecretKeys};
use crate::model::answers::Expose;
use crate::model::values::{Cpu, HttpPath, Image, Memory};

/// The Ingress annotations the environment's shared load balancer decides.
const GOVERNED: &[&str] = &[
    "alb.ingress.kubernetes.io/scheme",
    "alb.ingress.kubernetes.io/group.name",
    "alb.ingress.kubernetes.io/group.order",
    "alb.ingress.kubernetes.io/certificate-arn",
    "alb.ingress.kubernetes.io/listen-ports",
    "alb.ingress.kubernetes.io/ssl-redirect",
    "alb.ingress.kubernetes.io/ssl-policy",
    "kubernetes.io/ingress.class",
];

/// The container's ports and the sizes strata's shape takes from the Deployment.
pub(super) struct Sizes {
    /// The container's ports as Pulumi declared them.
    pub ports: Vec<Value>,
    pub port: Option<u32>,
    pub min: u64,
    pub max: u64,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub health_path: Option<String>,
}

/// How the service is reached: its Ingress's scheme, host and path, and the patch that keeps
/// the Ingress's other annotations.
#[derive(Clone)]
pub(super) struct Exposure {
    pub expose: Expose,
    pub host: String,
    pub path: String,
    pub ops: Vec<Value>,
}

/// The container's CPU and memory limits, when it sets ones strata reads.
pub(super) fn limits_of(first: &Value) -> (Option<Cpu>, Option<Memory>) {
    let limit = |key: &str| text(first.pointer("/resources/limits").and_then(|l| l.get(key)));
    (
        limit("cpu").and_then(|v| v.parse().ok()),
        limit("memory").and_then(|v| v.parse().ok()),
    )
}

/// The input of `strata add service` that makes this service.
pub(super) fn service_input(
    env: &str,
    image: String,
    sizes: &Sizes,
    exposure: Option<&Exposure>,
    config: &BTreeMap<String, String>,
    secrets: &[SecretKeys],
) -> ServiceInput {
    ServiceInput {
        image: Some(image),
        port: sizes.port,
        min: Some(u32::try_from(sizes.min).unwrap_or(u32::MAX)),
        max: Some(u32::try_from(sizes.max).unwrap_or(u32::MAX)),
        host: exposure.map(|e| e.host.clone()),
        path: exposure.map(|e| e.path.clone()),
        health_path: Some(sizes.health_path.clone().unwrap_or_else(|| "/".to_string())),
        cpu: sizes.cpu.clone(),
        memory: sizes.memory.clone(),
        envs: env.parse().ok().map(|env| vec![env]),
        irsa: false,
        expose: exposure.map_or(Expose::None, |e| e.expose),
        config: config.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        secrets: secrets
            .iter()
            .flat_map(|s| s.keys.iter().cloned())
            .collect(),
    }
}

impl<'a> Derivation<'a> {
    /// The image with a tag: the spec's, or the one `--image` gives when the spec's has none.
    pub(super) fn pin_image(&mut self, first: &Value) -> Result<String, Stay> {
        let service = &self.service;
        let image_text = first
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match image_text.parse::<Image>() {
            Ok(_) => Ok(image_text.clone()),
            // `--image` names the service, the object, or the program's logical name.
            Err(problem) => match [
                service.as_str(),
                self.object.as_str(),
                self.root.resource.urn.rsplit_once("::").map_or("", |(_, n)| n),
            ]
            .into_iter()
            .find_map(|key| self.request.images.get(key))
            {
                Some(given) => {
                    let note = format!("its image `{image_text}` {}: `--image` pins it to `{given}`", problem.message);
                    let given = given.clone();
                    self.notes.push(note);
                    Ok(given)
                }
                None => Err(self.stay(
                    format!("its image `{image_text}` {}: pass `--image {service}=IMAGE:TAG` with the tag that runs (`kubectl -n {} get deployment {service} -o jsonpath='{{.spec.template.spec.containers[0].image}}'` and the pods' image IDs tell)", problem.message, self.namespace),
                )),
            },
        }
    }

    /// The port, the replica bounds (the HPA's, or the spec's replicas), the requests and the
    /// health path, with a note for each that strata must fill in.
    pub(super) fn read_sizes(&mut self, pod: &Pod, hpa: Option<&Value>) -> Sizes {
        let first = &pod.first;
        let ports = first
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let port = ports
            .first()
            .and_then(|p| p.get("containerPort"))
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok());
        if port.is_none() {
            self.notes.push(
                "its container declares no port: strata's Service and probes use the preset's port"
                    .to_string(),
            );
        }
        let (min, max) = match hpa {
            Some(hpa_spec) => {
                let min = hpa_spec
                    .get("minReplicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                let max = hpa_spec
                    .get("maxReplicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(min);
                (min, max)
            }
            None => {
                let replicas = pod
                    .spec
                    .get("replicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1);
                self.notes.push(format!("Pulumi's spec sets {replicas} replica(s): strata's HorizontalPodAutoscaler keeps it between {replicas} and {replicas}; widen the bounds with `strata edit service {} --max N` when you want it to scale", self.service));
                (replicas, replicas)
            }
        };
        let requests = first.pointer("/resources/requests");
        let cpu = text(requests.and_then(|r| r.get("cpu"))).filter(|c| c.parse::<Cpu>().is_ok());
        let memory =
            text(requests.and_then(|r| r.get("memory"))).filter(|m| m.parse::<Memory>().is_ok());
        if cpu.is_none() || memory.is_none() {
            self.notes.push("its container requests no CPU or memory (or none strata reads): strata sets the preset's requests and limits".to_string());
        }
        let readiness = first.get("readinessProbe");
        let liveness = first.get("livenessProbe");
        let health_path = readiness
            .or(liveness)
            .and_then(|p| p.pointer("/httpGet/path"))
            .and_then(Value::as_str)
            .filter(|p| HttpPath::parse("health path", p).is_ok())
            .map(str::to_string);
        if readiness.is_none() && liveness.is_none() {
            self.notes.push(format!("Pulumi's spec has no probes: strata probes `GET /` on port `http`; set it with `strata edit service {} --health-path PATH` if the service answers elsewhere", self.service));
        }
        Sizes {
            ports,
            port,
            min,
            max,
            cpu,
            memory,
            health_path,
        }
    }

    /// An Ingress becomes strata's: its scheme, first host and first path; the rest of its
    /// settings are the environment's IngressClass's (the shared load balancer), and its other
    /// annotations are kept. More than one Ingress, or a host outside the domain, keeps the
    /// service in Pulumi.
    pub(super) fn take_ingress(
        &mut self,
        ingresses: &[&'a Candidate<'a>],
    ) -> Result<Option<Exposure>, Stay> {
        if ingresses.len() > 1 {
            return Err(self.stay(format!(
                "{} Ingresses route to it; strata's shape has one",
                ingresses.len()
            )));
        }
        let Some(candidate) = ingresses.first() else {
            return Ok(None);
        };
        let (ing_spec, _) = declared(candidate.resource, "spec").unwrap_or((Value::Null, false));
        let annotations = clean_map(candidate.resource.inputs.pointer("/metadata/annotations"));
        let scheme = annotations
            .get("alb.ingress.kubernetes.io/scheme")
            .and_then(Value::as_str)
            .unwrap_or("internal");
        let expose = if scheme == "internet-facing" {
            Expose::Public
        } else {
            Expose::Internal
        };
        let rule = ing_spec.pointer("/rules/0");
        let host = rule
            .and_then(|r| r.get("host"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = rule
            .and_then(|r| r.pointer("/http/paths/0/path"))
            .and_then(Value::as_str)
            .unwrap_or("/");
        let domain = &self.request.answers.domain;
        // Moved from another environment's namespace, its host names that environment
        // (`shop.dev.example.com`): this environment's is the same name with its own label.
        let relocated_host = match &self.mode {
            crate::migrate::Mode::Relocate { from }
                if from != self.request.env
                    && self
                        .request
                        .answers
                        .environments
                        .iter()
                        .any(|e| e.name.as_str() == from) =>
            {
                let labels: Vec<&str> = host.split('.').collect();
                labels.contains(&from.as_str()).then(|| {
                    labels
                        .iter()
                        .map(|l| if l == from { self.request.env } else { l })
                        .collect::<Vec<_>>()
                        .join(".")
                })
            }
            _ => None,
        };
        if let Some(new_host) = &relocated_host {
            self.notes.push(format!("Ingress `{}` serves `{host}`, a host of the environment it moves from: in `{}` the service is served at `{new_host}` (`strata edit service {} --host ...` picks another)", candidate.object.name, self.request.env, self.service));
        }
        let host = relocated_host.as_deref().unwrap_or(host);
        if !(host == domain || host.ends_with(&format!(".{domain}"))) {
            return Err(self.stay(
                format!("its Ingress `{}` serves `{host}`, outside the workspace's domain `{domain}` (the zone External DNS manages)", candidate.object.name),
            ));
        }
        let rules = ing_spec
            .get("rules")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let paths = rule
            .and_then(|r| r.pointer("/http/paths"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if rules > 1
            || paths > 1
            || ing_spec.get("tls").is_some()
            || ing_spec.get("defaultBackend").is_some()
        {
            self.notes.push(format!("Ingress `{}` has more than strata's one host and path (other rules, paths, `tls` or a default backend): strata's Ingress serves `{host}{path}` only; add the rest to the overlay if they are still needed", candidate.object.name));
        }
        let mut ops = Vec::new();
        for (key, value) in &annotations {
            if !GOVERNED.contains(&key.as_str()) {
                ops.push(op(
                    "add",
                    &format!("/metadata/annotations/{}", pointer_key(key)),
                    value.clone(),
                ));
                self.kept.push(format!(
                    "Ingress `{}`'s annotation `{key}`",
                    candidate.object.name
                ));
            }
        }
        let governed: Vec<&str> = annotations
            .keys()
            .map(String::as_str)
            .filter(|k| GOVERNED.contains(k))
            .collect();
        if !governed.is_empty() {
            self.notes.push(format!("Ingress `{}`'s {} are the environment's now (its {} load balancer, certificate and listeners, shared by every service)", candidate.object.name, governed.join(", "), expose.as_str()));
        }
        Ok(Some(Exposure {
            expose,
            host: host.to_string(),
            path: path.to_string(),
            ops,
        }))
    }

    /// The same validation as `strata add service`: the port of strata's service, or why
    /// strata's service shape refuses it.
    pub(super) fn validate(&self, input: &ServiceInput) -> Result<u16, Stay> {
        let mut probe = self.request.answers.clone();
        match grow::add_service(&mut probe, &self.service, input) {
            Ok(name) => Ok(probe.services[&name].port.get()),
            Err(problems) => {
                let reasons: Vec<String> = problems
                    .0
                    .iter()
                    .map(|p| format!("{}: {}", p.subject, p.message))
                    .collect();
                Err(self.stay(format!(
                    "strata's service shape refuses it: {}",
                    reasons.join("; ")
                )))
            }
        }
    }
}
