//! One Deployment of a stack export, and what it uses, as a strata service.
//!
//! strata's shape takes the image, port, replicas (or the HPA's bounds), resource requests,
//! health path, configuration (the ConfigMaps the pods read, and literal environment values)
//! and secret keys. Whatever else makes the running pods what they are is kept verbatim in the
//! overlay as JSON patches on strata's objects: the selector (immutable), the pod labels and
//! annotations, the container's name, ports, environment (its references to the old
//! ConfigMaps and Secrets pointed at the ones strata generates), command, probes, limits,
//! volumes, scheduling. Other objects of the service (Services, Ingresses, PVCs) are kept
//! verbatim under their own names. strata's hardening (security context, service account,
//! spread, disruption budget, network policy) stays strata's. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::jobs::grow::{self, ServiceInput};
use crate::migrate::{
    declared, Candidate, Mode, Moved, OverlayFile, Request, Role, SecretKeys, ServicePlan,
};
use crate::model::answers::Expose;
use crate::model::names::{self, ImageRef, ServiceName};
use crate::model::stack_export::{holds_secret, Resource, Writer};

/// Why a Deployment stays, and the other resources that stay with it.
#[derive(Debug, Clone)]
pub struct Stay {
    pub reason: String,
    pub members: Vec<String>,
}

/// The sync options every object of a migrated service carries until the hand-over is done.
pub const SYNC_OPTIONS: &str = "ServerSideApply=true,Prune=false";
/// The patch that sets them.
pub const ADOPTION_PATCH: &str = "patch-argocd-adoption.yaml";

/// Escapes a key for a JSON pointer (`/` -> `~1`, `~` -> `~0`).
pub fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn op(op: &str, path: &str, value: Value) -> Value {
    json!({"op": op, "path": path, "value": value})
}

/// Whether a value says nothing (`null`, `[]`, `{}`): not worth keeping.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Labels and annotations Pulumi leaves that must not be carried over.
fn is_residue(key: &str, value: &Value) -> bool {
    key.starts_with("pulumi.com/")
        || key == "kubectl.kubernetes.io/last-applied-configuration"
        || key == "deployment.kubernetes.io/revision"
        || (key == "app.kubernetes.io/managed-by" && value.as_str() == Some("pulumi"))
}

fn clean_map(map: Option<&Value>) -> Map<String, Value> {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !is_residue(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a pod spec references, by kind.
#[derive(Debug, Default)]
struct Refs {
    config_maps: BTreeSet<String>,
    secrets: BTreeSet<String>,
    pull_secrets: BTreeSet<String>,
    claims: BTreeSet<String>,
}

fn containers_of(pod: &Value) -> impl Iterator<Item = &Value> {
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

/// Points the pod spec's references to converted ConfigMaps and Secrets at the ones strata
/// generates: `<service>-config` (kustomize adds its hash) and `<service>-secrets`.
fn rewrite_refs(
    value: &mut Value,
    configs: &BTreeSet<String>,
    secrets: &BTreeSet<String>,
    service: &str,
) {
    let config_name = format!("{service}-config");
    let secret_name = format!("{service}-secrets");
    let set = |slot: Option<&mut Value>, names: &BTreeSet<String>, to: &str| {
        if let Some(slot) = slot {
            if slot.as_str().is_some_and(|n| names.contains(n)) {
                *slot = Value::String(to.to_string());
            }
        }
    };
    for key in ["containers", "initContainers"] {
        for container in value
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for source in container
                .get_mut("envFrom")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set(
                    source.pointer_mut("/configMapRef/name"),
                    configs,
                    &config_name,
                );
                set(source.pointer_mut("/secretRef/name"), secrets, &secret_name);
            }
            for var in container
                .get_mut("env")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set(
                    var.pointer_mut("/valueFrom/configMapKeyRef/name"),
                    configs,
                    &config_name,
                );
                set(
                    var.pointer_mut("/valueFrom/secretKeyRef/name"),
                    secrets,
                    &secret_name,
                );
            }
        }
    }
    for volume in value
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set(volume.pointer_mut("/configMap/name"), configs, &config_name);
        set(
            volume.pointer_mut("/secret/secretName"),
            secrets,
            &secret_name,
        );
        for source in volume
            .pointer_mut("/projected/sources")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            set(source.pointer_mut("/configMap/name"), configs, &config_name);
            set(source.pointer_mut("/secret/name"), secrets, &secret_name);
        }
    }
}

/// Whether every entry of `selector` is among `labels` (and there is one).
fn selects(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector.and_then(Value::as_object) else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The keys of a Secret, read without its values: from `data`/`stringData` when readable,
/// else from the fields the API server recorded (`managedFields`).
fn secret_keys(resource: &Resource) -> Option<Vec<String>> {
    let mut keys = BTreeSet::new();
    let mut readable = false;
    for field in ["data", "stringData"] {
        if let Some((Value::Object(map), _)) = declared(resource, field) {
            readable = true;
            keys.extend(map.keys().cloned());
        }
    }
    if !readable {
        for entry in resource
            .outputs
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(data) = entry.pointer("/fieldsV1/f:data").and_then(Value::as_object) {
                readable = true;
                keys.extend(
                    data.keys()
                        .filter_map(|k| k.strip_prefix("f:"))
                        .map(str::to_string),
                );
            }
        }
    }
    readable.then(|| keys.into_iter().collect())
}

/// A kept object: what the program declared, without Pulumi's residue, the namespace (the
/// overlay sets it) or what the cluster assigns.
fn verbatim(candidate: &Candidate<'_>) -> Result<Value, String> {
    let inputs = &candidate.resource.inputs;
    if holds_secret(inputs) {
        return Err(format!(
            "{} `{}` holds a Pulumi secret in its spec, which strata will not write to git",
            candidate.object.kind, candidate.object.name
        ));
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(candidate.object.api_version));
    out.insert("kind".into(), json!(candidate.object.kind));
    let metadata = inputs.get("metadata");
    let mut meta = Map::new();
    meta.insert("name".into(), json!(candidate.object.name));
    let labels = clean_map(metadata.and_then(|m| m.get("labels")));
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    let annotations = clean_map(metadata.and_then(|m| m.get("annotations")));
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    out.insert("metadata".into(), Value::Object(meta));
    for (key, value) in inputs.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            continue;
        }
        let mut value = value.clone();
        if key == "spec" && candidate.object.kind == "Service" {
            if let Some(spec) = value.as_object_mut() {
                if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
                    spec.remove("clusterIP");
                    spec.remove("clusterIPs");
                }
            }
        }
        out.insert(key.clone(), value);
    }
    Ok(Value::Object(out))
}

fn file_name(kind: &str, name: &str) -> String {
    format!("pulumi-{}-{name}.yaml", kind.to_ascii_lowercase())
}

/// Derives the service of one Deployment. `Err` says why it stays.
#[allow(clippy::too_many_lines)]
pub fn derive(
    request: &Request<'_>,
    root: &Candidate<'_>,
    candidates: &[Candidate<'_>],
    env_namespace: &str,
) -> Result<ServicePlan, Stay> {
    let service = root.object.name.clone();
    let namespace = root.namespace().to_string();
    let same_ns =
        |c: &&Candidate<'_>| c.namespace() == namespace && c.resource.urn != root.resource.urn;
    let find = |kind: &str, name: &str| {
        candidates
            .iter()
            .find(|c| c.object.kind == kind && c.object.name == name && c.namespace() == namespace)
    };
    // Members by Pulumi's graph, known even when the spec is sealed.
    let mut members: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(same_ns)
        .filter(|c| {
            matches!(
                c.object.kind.as_str(),
                "ConfigMap" | "Secret" | "PersistentVolumeClaim"
            ) && root.resource.dependencies.contains(&c.resource.urn)
        })
        .collect();
    let stay = |reason: String, members: &[&Candidate<'_>]| Stay {
        reason,
        members: members.iter().map(|c| c.resource.urn.clone()).collect(),
    };

    let (spec, spec_secret) = declared(root.resource, "spec").ok_or_else(|| {
        stay(
            "its spec is encrypted in the export (a sealed Pulumi secret): export the stack again with `pulumi stack export --show-secrets --file FILE`, migrate from that file, then delete it (it holds the stack's secrets in plain text)".to_string(),
            &members,
        )
    })?;
    if let Err(problem) = service.parse::<ServiceName>() {
        return Err(stay(
            format!("its name is not a strata service name ({}): strata keeps names identical, so move it by hand", problem.message),
            &members,
        ));
    }
    if request.answers.services.contains_key(service.as_str()) {
        return Err(stay(
            format!("the workspace already has a service `{service}`"),
            &members,
        ));
    }
    let template = spec.get("template").cloned().unwrap_or(Value::Null);
    let pod = template.get("spec").cloned().unwrap_or(Value::Null);
    let pod_labels = clean_map(template.pointer("/metadata/labels"));
    let Some(first) = pod
        .get("containers")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .cloned()
    else {
        return Err(stay("its pod spec has no container".to_string(), &members));
    };
    if pod_labels
        .get("app.kubernetes.io/name")
        .is_some_and(|v| v.as_str() != Some(service.as_str()))
    {
        return Err(stay(
            format!("its pods carry `app.kubernetes.io/name: {}`, the label strata sets to the service's name `{service}`", pod_labels["app.kubernetes.io/name"]),
            &members,
        ));
    }
    if holds_secret(&spec) {
        return Err(stay(
            "parts of its spec are Pulumi secrets, which strata will not write to git".to_string(),
            &members,
        ));
    }
    let has_literal_env = containers_of(&pod)
        .flat_map(|c| c.get("env").and_then(Value::as_array).into_iter().flatten())
        .any(|v| v.get("value").is_some());
    if spec_secret && has_literal_env {
        return Err(stay(
            "its whole spec is a Pulumi secret and it sets environment values literally: strata cannot tell which are secret; move them into a Secret first".to_string(),
            &members,
        ));
    }

    // Members by reference and by selection.
    let refs = refs_of(&pod);
    if let Some(pull) = refs.pull_secrets.iter().next() {
        return Err(stay(
            format!("it pulls its image with the Secret `{pull}` (`imagePullSecrets`); strata's ExternalSecrets make Opaque secrets: move it by hand"),
            &members,
        ));
    }
    for (kind, names) in [
        ("ConfigMap", &refs.config_maps),
        ("Secret", &refs.secrets),
        ("PersistentVolumeClaim", &refs.claims),
    ] {
        for name in names {
            if let Some(candidate) = find(kind, name) {
                if !members
                    .iter()
                    .any(|m| m.resource.urn == candidate.resource.urn)
                {
                    members.push(candidate);
                }
            }
        }
    }
    let mut services_selecting: Vec<&Candidate<'_>> = Vec::new();
    for candidate in candidates
        .iter()
        .filter(same_ns)
        .filter(|c| c.object.kind == "Service")
    {
        if let Some((svc_spec, _)) = declared(candidate.resource, "spec") {
            if selects(svc_spec.get("selector"), &pod_labels) {
                services_selecting.push(candidate);
            }
        }
    }
    let service_names: BTreeSet<&str> = services_selecting
        .iter()
        .map(|c| c.object.name.as_str())
        .collect();
    let mut ingresses: Vec<&Candidate<'_>> = Vec::new();
    for candidate in candidates
        .iter()
        .filter(same_ns)
        .filter(|c| c.object.kind == "Ingress")
    {
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
    let mut hpa: Option<(&Candidate<'_>, Value)> = None;
    for candidate in candidates
        .iter()
        .filter(same_ns)
        .filter(|c| c.object.kind == "HorizontalPodAutoscaler")
    {
        if let Some((hpa_spec, _)) = declared(candidate.resource, "spec") {
            let target = hpa_spec.get("scaleTargetRef");
            if target.and_then(|t| t.get("kind")).and_then(Value::as_str) == Some("Deployment")
                && target.and_then(|t| t.get("name")).and_then(Value::as_str)
                    == Some(service.as_str())
            {
                hpa = Some((candidate, hpa_spec));
            }
        }
    }
    members.extend(services_selecting.iter().copied());
    members.extend(ingresses.iter().copied());
    if let Some((candidate, _)) = &hpa {
        members.push(candidate);
    }

    let mut kept: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut moved: Vec<Moved> = Vec::new();
    let mut files: Vec<OverlayFile> = Vec::new();
    let mut cleanup: Vec<String> = Vec::new();
    let mode = if namespace == env_namespace {
        Mode::Adopt
    } else {
        Mode::Relocate {
            from: namespace.clone(),
        }
    };
    let mut push_moved = |c: &Candidate<'_>, becomes: String| {
        moved.push(Moved {
            urn: c.resource.urn.clone(),
            kind: c.object.kind.clone(),
            name: c.object.name.clone(),
            namespace: c.namespace().to_string(),
            becomes,
            writer: c.resource.writer(),
            protected: c.resource.protect,
        });
    };

    // Configuration: ConfigMaps whose every entry strata can hold become config values.
    let mut config: BTreeMap<String, String> = BTreeMap::new();
    let mut converted_configs: BTreeSet<String> = BTreeSet::new();
    let reserved_keys = ["SERVICE_NAME", "ENVIRONMENT"];
    let config_maps: Vec<&Candidate<'_>> = members
        .iter()
        .copied()
        .filter(|c| c.object.kind == "ConfigMap")
        .collect();
    for candidate in &config_maps {
        let data = declared(candidate.resource, "data");
        let binary = candidate.resource.inputs.get("binaryData").is_some();
        let convertible = match &data {
            Some((Value::Object(map), false)) if !binary => map.iter().all(|(k, v)| {
                v.is_string()
                    && names::parse_config_key(k).is_ok()
                    && names::parse_config_value(k, v.as_str().unwrap_or_default()).is_ok()
                    && !reserved_keys.contains(&k.as_str())
                    && config
                        .get(k)
                        .is_none_or(|old| Some(old.as_str()) == v.as_str())
            }),
            Some((Value::Null, false)) if !binary => true,
            _ => false,
        };
        if matches!(data, Some((_, true)) | None) {
            return Err(stay(
                format!("ConfigMap `{}` is a Pulumi secret in the export; strata will not write it to git: make it a Secret first", candidate.object.name),
                &members,
            ));
        }
        if convertible {
            if let Some((Value::Object(map), _)) = data {
                for (k, v) in map {
                    config.insert(k, v.as_str().unwrap_or_default().to_string());
                }
            }
            converted_configs.insert(candidate.object.name.clone());
            push_moved(
                candidate,
                format!("config values of service `{service}` (ConfigMap `{service}-config`)"),
            );
            cleanup_delete(
                &mode,
                &mut cleanup,
                &namespace,
                "configmap",
                &candidate.object.name,
            );
        } else {
            let object = verbatim(candidate).map_err(|why| stay(why, &members))?;
            let name = file_name("ConfigMap", &candidate.object.name);
            kept.push(format!("ConfigMap `{}` (its keys or binary data do not fit strata's configuration): `{name}`", candidate.object.name));
            files.push(OverlayFile {
                name: name.clone(),
                text: crate::util::yaml::emit(&object),
                role: Role::Resource,
            });
            push_moved(candidate, format!("kept verbatim: `{name}`"));
        }
    }
    // Literal environment values become config values too (the spec was not secret).
    let mut env = first
        .get("env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    env.retain(|var| {
        let (Some(name), Some(value)) = (
            var.get("name").and_then(Value::as_str),
            var.get("value").and_then(Value::as_str),
        ) else {
            return true;
        };
        let fits = names::parse_config_key(name).is_ok()
            && names::parse_config_value(name, value).is_ok()
            && !reserved_keys.contains(&name)
            && config.get(name).is_none_or(|old| old == value);
        if fits {
            config.insert(name.to_string(), value.to_string());
        }
        !fits
    });

    // Secrets: their keys, never their values.
    let mut secrets: Vec<SecretKeys> = Vec::new();
    let mut secret_key_set: BTreeSet<String> = BTreeSet::new();
    let mut converted_secrets: BTreeSet<String> = BTreeSet::new();
    for candidate in members
        .iter()
        .copied()
        .filter(|c| c.object.kind == "Secret")
    {
        let secret_type = text(candidate.resource.inputs.get("type"))
            .or_else(|| text(candidate.resource.outputs.get("type")));
        if secret_type.as_deref().is_some_and(|t| t != "Opaque") {
            return Err(stay(
                format!("Secret `{}` has type `{}`; strata's ExternalSecrets make Opaque secrets: move it by hand", candidate.object.name, secret_type.unwrap_or_default()),
                &members,
            ));
        }
        let Some(keys) = secret_keys(candidate.resource) else {
            return Err(stay(
                format!(
                    "the keys of Secret `{}` cannot be read from the export",
                    candidate.object.name
                ),
                &members,
            ));
        };
        for key in &keys {
            if names::parse_config_key(key).is_err()
                || config.contains_key(key)
                || !secret_key_set.insert(key.clone())
            {
                return Err(stay(
                    format!("key `{key}` of Secret `{}` is not a valid key, or another Secret or the configuration of the service has it too", candidate.object.name),
                    &members,
                ));
            }
        }
        converted_secrets.insert(candidate.object.name.clone());
        secrets.push(SecretKeys {
            name: candidate.object.name.clone(),
            namespace: namespace.clone(),
            keys,
        });
        push_moved(
            candidate,
            format!(
                "keys of the ExternalSecret `{service}` (AWS Secrets Manager `{}/{}/{service}`, Secret `{service}-secrets`)",
                request.answers.project, request.env
            ),
        );
        if candidate.object.name != format!("{service}-secrets") {
            cleanup_delete(
                &mode,
                &mut cleanup,
                &namespace,
                "secret",
                &candidate.object.name,
            );
        }
    }

    // The image, pinned.
    let image_text = first
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let image = match image_text.parse::<ImageRef>() {
        Ok(_) => image_text.clone(),
        Err(problem) => match request.images.get(&service) {
            Some(given) => {
                notes.push(format!("its image `{image_text}` {}: `--image` pins it to `{given}`", problem.message));
                given.clone()
            }
            None => {
                return Err(stay(
                    format!("its image `{image_text}` {}: pass `--image {service}=IMAGE:TAG` with the tag that runs (`kubectl -n {namespace} get deployment {service} -o jsonpath='{{.spec.template.spec.containers[0].image}}'` and the pods' image IDs tell)", problem.message),
                    &members,
                ))
            }
        },
    };

    // Port, replicas, requests, health path.
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
        notes.push(
            "its container declares no port: strata's Service and probes use the preset's port"
                .to_string(),
        );
    }
    let (min, max) = match &hpa {
        Some((_, hpa_spec)) => {
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
            let replicas = spec
                .get("replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            notes.push(format!("Pulumi's spec sets {replicas} replica(s): strata's HorizontalPodAutoscaler keeps it between {replicas} and {replicas}; widen the bounds in `strata.toml` when you want it to scale"));
            (replicas, replicas)
        }
    };
    let requests = first.pointer("/resources/requests");
    let cpu = text(requests.and_then(|r| r.get("cpu"))).filter(|c| names::parse_cpu(c).is_ok());
    let memory =
        text(requests.and_then(|r| r.get("memory"))).filter(|m| names::parse_memory(m).is_ok());
    if cpu.is_none() || memory.is_none() {
        notes.push("its container requests no CPU or memory (or none strata reads): strata sets the preset's requests and limits".to_string());
    }
    let readiness = first.get("readinessProbe").cloned();
    let liveness = first.get("livenessProbe").cloned();
    let health_path = readiness
        .as_ref()
        .or(liveness.as_ref())
        .and_then(|p| p.pointer("/httpGet/path"))
        .and_then(Value::as_str)
        .filter(|p| names::parse_http_path("health path", p).is_ok())
        .map(str::to_string);
    if readiness.is_none() && liveness.is_none() {
        notes.push("Pulumi's spec has no probes: strata probes `GET /` on port `http`; set `health_path` in `strata.toml` (then `strata upgrade`) if the service answers elsewhere".to_string());
    }

    // An Ingress becomes strata's: its scheme, first host and first path; the rest of its
    // settings are the environment's IngressClass's (the shared load balancer).
    let mut exposure: Option<(Expose, String, String)> = None;
    let mut ingress_ops: Vec<Value> = Vec::new();
    if ingresses.len() > 1 {
        return Err(stay(
            format!(
                "{} Ingresses route to it; strata's shape has one",
                ingresses.len()
            ),
            &members,
        ));
    }
    if let Some(candidate) = ingresses.first() {
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
        let domain = &request.answers.domain;
        if !(host == domain || host.ends_with(&format!(".{domain}"))) {
            return Err(stay(
                format!("its Ingress `{}` serves `{host}`, outside the workspace's domain `{domain}` (the zone External DNS manages)", candidate.object.name),
                &members,
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
            notes.push(format!("Ingress `{}` has more than strata's one host and path (other rules, paths, `tls` or a default backend): strata's Ingress serves `{host}{path}` only; add the rest to the overlay if they are still needed", candidate.object.name));
        }
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
        for (key, value) in &annotations {
            if !GOVERNED.contains(&key.as_str()) {
                ingress_ops.push(op(
                    "add",
                    &format!("/metadata/annotations/{}", pointer_key(key)),
                    value.clone(),
                ));
                kept.push(format!(
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
            notes.push(format!("Ingress `{}`'s {} are the environment's now (its {} load balancer, certificate and listeners, shared by every service)", candidate.object.name, governed.join(", "), expose.as_str()));
        }
        exposure = Some((expose, host.to_string(), path.to_string()));
    }

    let input = ServiceInput {
        image: Some(image.clone()),
        port,
        min: Some(u32::try_from(min).unwrap_or(u32::MAX)),
        max: Some(u32::try_from(max).unwrap_or(u32::MAX)),
        host: exposure.as_ref().map(|e| e.1.clone()),
        path: exposure.as_ref().map(|e| e.2.clone()),
        health_path: Some(health_path.unwrap_or_else(|| "/".to_string())),
        cpu,
        memory,
        envs: request.env.parse().ok().map(|env| vec![env]),
        irsa: false,
        expose: exposure.as_ref().map_or(Expose::None, |e| e.0),
        config: config.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        secrets: secrets
            .iter()
            .flat_map(|s| s.keys.iter().cloned())
            .collect(),
    };
    // The same validation as `strata add service`.
    let mut probe = request.answers.clone();
    if let Err(problems) = grow::add_service(&mut probe, &service, &input) {
        let reasons: Vec<String> = problems
            .0
            .iter()
            .map(|p| format!("{}: {}", p.subject, p.message))
            .collect();
        return Err(stay(
            format!("strata's service shape refuses it: {}", reasons.join("; ")),
            &members,
        ));
    }
    let strata_service = &probe.services[service.as_str()];

    // The Deployment: strata's, with what it cannot express kept verbatim.
    let mut ops: Vec<Value> = Vec::new();
    let base = "/spec/template/spec/containers/0";
    let adopting = namespace == env_namespace;
    if let Some(selector) = spec.get("selector") {
        ops.push(op("add", "/spec/selector", selector.clone()));
        kept.push(if adopting {
            "the Deployment's selector (immutable: the running ReplicaSets keep their pods)".to_string()
        } else {
            "the Deployment's selector (what Pulumi's Services and policies select keeps selecting the pods)".to_string()
        });
    }
    for (key, value) in &pod_labels {
        ops.push(op(
            "add",
            &format!("/spec/template/metadata/labels/{}", pointer_key(key)),
            value.clone(),
        ));
    }
    if !pod_labels.is_empty() {
        kept.push(format!(
            "the pods' labels ({})",
            pod_labels.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let pod_annotations = clean_map(template.pointer("/metadata/annotations"));
    if !pod_annotations.is_empty() {
        kept.push(format!(
            "the pods' annotations ({})",
            pod_annotations
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        ops.push(op(
            "add",
            "/spec/template/metadata/annotations",
            Value::Object(pod_annotations),
        ));
    }
    let deployment_meta = root.resource.inputs.get("metadata");
    for (field, what) in [("labels", "labels"), ("annotations", "annotations")] {
        let map = clean_map(deployment_meta.and_then(|m| m.get(field)));
        for (key, value) in &map {
            ops.push(op(
                "add",
                &format!("/metadata/{field}/{}", pointer_key(key)),
                value.clone(),
            ));
        }
        if !map.is_empty() {
            kept.push(format!(
                "the Deployment's {what} ({})",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let container_name = first
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if container_name != service {
        ops.push(op(
            "replace",
            &format!("{base}/name"),
            json!(container_name),
        ));
        kept.push(format!(
            "the container's name `{container_name}` (server-side apply merges containers by name)"
        ));
    }
    let mut rewritten = pod.clone();
    rewrite_refs(
        &mut rewritten,
        &converted_configs,
        &converted_secrets,
        &service,
    );
    let first_rewritten = rewritten
        .pointer("/containers/0")
        .cloned()
        .unwrap_or(Value::Null);
    // Ports: strata declares one, `http`; keep Pulumi's when they say more.
    let strata_ports =
        json!([{"name": "http", "containerPort": strata_service.port, "protocol": "TCP"}]);
    let mut original_ports = ports.clone();
    let mut service_target: Option<Value> = None;
    if let Some(first_port) = original_ports.first_mut().and_then(Value::as_object_mut) {
        match first_port.get("name").and_then(Value::as_str) {
            None => {
                first_port.insert("name".into(), json!("http"));
            }
            Some("http") => {}
            Some(other) => service_target = Some(json!(other)),
        }
        first_port.entry("protocol").or_insert(json!("TCP"));
    }
    if !original_ports.is_empty() && Value::Array(original_ports.clone()) != strata_ports {
        ops.push(op(
            "add",
            &format!("{base}/ports"),
            Value::Array(original_ports),
        ));
        kept.push("the container's ports".to_string());
    }
    let env_rewritten: Vec<Value> = {
        let names_left: BTreeSet<&str> = env
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .collect();
        first_rewritten
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| {
                v.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| names_left.contains(n))
            })
            .cloned()
            .collect()
    };
    let mut secrets_in_env = false;
    if !env_rewritten.is_empty() {
        secrets_in_env |= env_rewritten
            .iter()
            .any(|v| v.pointer("/valueFrom/secretKeyRef").is_some());
        kept.push(format!(
            "the container's environment ({}), its references pointed at `{service}-config` and `{service}-secrets`",
            env_rewritten.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).collect::<Vec<_>>().join(", ")
        ));
        ops.push(op(
            "add",
            &format!("{base}/env"),
            Value::Array(env_rewritten),
        ));
    }
    for source in first_rewritten
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if source.pointer("/configMapRef/name").and_then(Value::as_str)
            == Some(&format!("{service}-config"))
        {
            continue; // strata's base reads it already
        }
        secrets_in_env |= source.get("secretRef").is_some();
        ops.push(op("add", &format!("{base}/envFrom/-"), source.clone()));
        kept.push(format!("the container's `envFrom` entry {source}"));
    }
    for key in [
        "command",
        "args",
        "workingDir",
        "lifecycle",
        "startupProbe",
        "readinessProbe",
        "livenessProbe",
    ] {
        if let Some(value) = first_rewritten.get(key).filter(|v| !is_empty(v)) {
            ops.push(op("add", &format!("{base}/{key}"), value.clone()));
            kept.push(format!("the container's `{key}`"));
        }
    }
    let limits = first.pointer("/resources/limits");
    let limit = |key: &str, parse: fn(&str) -> Result<String, crate::util::problem::Problem>| {
        text(limits.and_then(|l| l.get(key))).filter(|v| parse(v).is_ok())
    };
    let limits = (
        limit("cpu", names::parse_cpu),
        limit("memory", names::parse_memory),
    );
    for (key, value) in first
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if key != "cpu" && key != "memory" {
            ops.push(op(
                "add",
                &format!("{base}/resources/limits/{}", pointer_key(key)),
                value.clone(),
            ));
            kept.push(format!("the container's `{key}` limit"));
        }
    }
    for (key, value) in requests.and_then(Value::as_object).into_iter().flatten() {
        if key != "cpu" && key != "memory" {
            ops.push(op(
                "add",
                &format!("{base}/resources/requests/{}", pointer_key(key)),
                value.clone(),
            ));
            kept.push(format!("the container's `{key}` request"));
        }
    }
    let taken: BTreeSet<&str> = ["tmp", "secrets"].into_iter().collect();
    for volume in rewritten
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if volume
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| taken.contains(n))
        {
            return Err(stay(
                format!(
                    "its volume `{}` has a name strata's pods use",
                    volume["name"]
                ),
                &members,
            ));
        }
        ops.push(op("add", "/spec/template/spec/volumes/-", volume.clone()));
        kept.push(format!(
            "the volume `{}`",
            volume
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ));
    }
    for mount in first_rewritten
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        ops.push(op("add", &format!("{base}/volumeMounts/-"), mount.clone()));
    }
    for (index, extra) in rewritten
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .skip(1)
    {
        ops.push(op("add", "/spec/template/spec/containers/-", extra.clone()));
        kept.push(format!(
            "container #{index} `{}`",
            extra
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ));
        notes.push(format!("container `{}` is kept as Pulumi declared it: strata's hardening covers its first container only", extra.get("name").and_then(Value::as_str).unwrap_or_default()));
    }
    for key in [
        "initContainers",
        "nodeSelector",
        "tolerations",
        "affinity",
        "hostAliases",
        "dnsPolicy",
        "dnsConfig",
        "terminationGracePeriodSeconds",
        "runtimeClassName",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "shareProcessNamespace",
        "enableServiceLinks",
    ] {
        if let Some(value) = rewritten.get(key).filter(|v| !is_empty(v)) {
            ops.push(op(
                "add",
                &format!("/spec/template/spec/{key}"),
                value.clone(),
            ));
            kept.push(format!("the pods' `{key}`"));
        }
    }
    for key in ["minReadySeconds", "progressDeadlineSeconds"] {
        if let Some(value) = spec.get(key) {
            ops.push(op("add", &format!("/spec/{key}"), value.clone()));
            kept.push(format!("the Deployment's `{key}`"));
        }
    }
    if let Some(account) = pod
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|a| *a != "default")
    {
        notes.push(format!("Pulumi's spec runs the pods as ServiceAccount `{account}`: strata gives the service its own, `{service}` (with an IAM role when `--irsa` is set); an IAM role trusted by `{account}` no longer applies"));
    }
    if secrets_in_env {
        ops.push(op(
            "add",
            "/metadata/annotations/checkov.io~1skip8",
            json!(format!("CKV_K8S_35=kept from Pulumi by `strata migrate`: the app reads secrets from environment variables; strata also mounts them as files under /var/run/secrets/{service}, switch the app to those and drop the variables")),
        ));
        notes.push("the app reads secrets from environment variables (kept): strata's way is files under `/var/run/secrets/<service>`, which it mounts too".to_string());
    }
    if pod.get("securityContext").is_some() || first.get("securityContext").is_some() {
        notes.push("Pulumi's security context is replaced by strata's: non-root (UID 10001), read-only root filesystem, no privilege escalation, all capabilities dropped; check that the image runs so".to_string());
    } else {
        notes.push("Pulumi's spec set no security context; strata's runs the pods as non-root (UID 10001) with a read-only root filesystem (a writable `/tmp` is mounted): check that the image runs so (the official `nginx` image, for one, needs root; `nginxinc/nginx-unprivileged` does not)".to_string());
    }
    push_moved(
        root,
        format!("the Deployment of service `{service}` (same name, `services/{service}/`)"),
    );
    files.push(OverlayFile {
        name: "patch-pulumi-deployment.yaml".to_string(),
        text: patch_text(&service, "Deployment", &ops),
        role: Role::Patch(Some(format!("{{kind: Deployment, name: {service}}}"))),
    });

    // strata's Service: same name as Pulumi's -> takes its spec; an unnamed `http` -> target.
    let mut service_ops: Vec<Value> = Vec::new();
    if let Some(target) = service_target {
        service_ops.push(op("replace", "/spec/ports/0/targetPort", target));
    }
    for candidate in &services_selecting {
        let object = verbatim(candidate).map_err(|why| stay(why, &members))?;
        if candidate.object.name == service {
            service_ops.push(op("add", "/spec", object["spec"].clone()));
            kept.push(format!(
                "Service `{service}`'s spec (strata's Service has its name)"
            ));
            push_moved(
                candidate,
                format!("strata's Service `{service}`, with Pulumi's spec"),
            );
        } else {
            let name = file_name("Service", &candidate.object.name);
            kept.push(format!("Service `{}`: `{name}`", candidate.object.name));
            files.push(OverlayFile {
                name: name.clone(),
                text: crate::util::yaml::emit(&object),
                role: Role::Resource,
            });
            push_moved(candidate, format!("kept verbatim: `{name}`"));
        }
        if matches!(mode, Mode::Relocate { .. }) {
            cleanup_delete(
                &mode,
                &mut cleanup,
                &namespace,
                "service",
                &candidate.object.name,
            );
        }
    }
    if !service_ops.is_empty() {
        files.push(OverlayFile {
            name: "patch-pulumi-service.yaml".to_string(),
            text: patch_text(&service, "Service", &service_ops),
            role: Role::Patch(Some(format!("{{kind: Service, name: {service}}}"))),
        });
    }
    // The Ingress is strata's now (same name when it had the service's).
    for candidate in &ingresses {
        let (_, host, path) = exposure.clone().unwrap_or_default();
        push_moved(
            candidate,
            format!("strata's Ingress `{service}` at `{host}{path}` (the environment's shared load balancer)"),
        );
        if candidate.object.name != service {
            cleanup.push(format!(
                "kubectl -n {namespace} delete ingress {}",
                candidate.object.name
            ));
            notes.push(format!("until the old Ingress `{}` is deleted (after the hand-over), two Ingresses claim `{host}`; External DNS keeps the record of the one that owns it", candidate.object.name));
        } else if matches!(mode, Mode::Relocate { .. }) {
            cleanup.push(format!(
                "kubectl -n {namespace} delete ingress {}",
                candidate.object.name
            ));
        }
    }
    if !ingress_ops.is_empty() {
        files.push(OverlayFile {
            name: "patch-pulumi-ingress.yaml".to_string(),
            text: patch_text(&service, "Ingress", &ingress_ops),
            role: Role::Patch(Some(format!("{{kind: Ingress, name: {service}}}"))),
        });
    }
    if let Some((candidate, hpa_spec)) = &hpa {
        let mut hpa_ops = Vec::new();
        for key in ["metrics", "behavior"] {
            if let Some(value) = hpa_spec.get(key) {
                hpa_ops.push(op("add", &format!("/spec/{key}"), value.clone()));
                kept.push(format!(
                    "HorizontalPodAutoscaler `{}`'s `{key}`",
                    candidate.object.name
                ));
            }
        }
        if !hpa_ops.is_empty() {
            files.push(OverlayFile {
                name: "patch-pulumi-hpa.yaml".to_string(),
                text: patch_text(&service, "HorizontalPodAutoscaler", &hpa_ops),
                role: Role::Patch(Some(format!(
                    "{{kind: HorizontalPodAutoscaler, name: {service}}}"
                ))),
            });
        }
        push_moved(
            candidate,
            format!("strata's HorizontalPodAutoscaler `{service}` ({min} to {max} replicas)"),
        );
        if candidate.object.name != service {
            cleanup.push(format!(
                "kubectl -n {namespace} delete horizontalpodautoscaler {}",
                candidate.object.name
            ));
            notes.push(format!("until the old HorizontalPodAutoscaler `{}` is deleted (after the hand-over), two autoscalers with the same bounds scale the Deployment", candidate.object.name));
        }
    }
    for candidate in members
        .iter()
        .copied()
        .filter(|c| c.object.kind == "PersistentVolumeClaim")
    {
        let object = verbatim(candidate).map_err(|why| stay(why, &members))?;
        let name = file_name("PersistentVolumeClaim", &candidate.object.name);
        kept.push(format!(
            "PersistentVolumeClaim `{}`: `{name}`",
            candidate.object.name
        ));
        files.push(OverlayFile {
            name: name.clone(),
            text: crate::util::yaml::emit(&object),
            role: Role::Resource,
        });
        push_moved(candidate, format!("kept verbatim: `{name}`"));
        if let Mode::Relocate { from } = &mode {
            notes.push(format!("PersistentVolumeClaim `{}` holds data: in `{}` it is a new, empty volume; copy the data from `{from}` before the cut-over", candidate.object.name, request.env));
        }
    }

    // Adoption: every object of the service carries the sync options until the hand-over.
    files.push(OverlayFile {
        name: ADOPTION_PATCH.to_string(),
        text: adoption_patch(),
        role: Role::Patch(Some("{name: \".*\"}".to_string())),
    });
    match &mode {
        Mode::Adopt => {
            for m in &moved {
                if m.writer == Writer::V3
                    && matches!(
                        m.kind.as_str(),
                        "Deployment" | "Service" | "Ingress" | "PersistentVolumeClaim"
                    )
                {
                    let kind = m.kind.to_ascii_lowercase();
                    cleanup.push(format!(
                        "kubectl -n {} annotate {kind} {} kubectl.kubernetes.io/last-applied-configuration- && kubectl -n {} label {kind} {} app.kubernetes.io/managed-by-",
                        m.namespace, m.name, m.namespace, m.name
                    ));
                }
            }
            notes.push(format!("Argo CD adopts the objects in `{namespace}` where they are (identical names): nothing is deleted or created again; the pods roll once (maxUnavailable 0) because strata adds its labels and hardening to the pod template"));
        }
        Mode::Relocate { from } => {
            cleanup.push(format!("kubectl -n {from} delete deployment {service}"));
            notes.push(format!("the objects live in `{from}`, not in the environment's namespace `{}`: Argo CD creates them there with identical names, and the ones in `{from}` keep serving until you switch traffic and delete them (after the hand-over)", request.env));
        }
    }
    Ok(ServicePlan {
        limits,
        name: service,
        namespace,
        mode,
        input,
        moved,
        kept,
        notes,
        secrets,
        files,
        cleanup,
    })
}

fn cleanup_delete(mode: &Mode, cleanup: &mut Vec<String>, namespace: &str, kind: &str, name: &str) {
    let line = format!("kubectl -n {namespace} delete {kind} {name}");
    let relevant = matches!(mode, Mode::Relocate { .. }) || matches!(kind, "configmap" | "secret");
    if relevant && !cleanup.contains(&line) {
        cleanup.push(line);
    }
}

/// A JSON-patch file with a comment saying what it is.
fn patch_text(service: &str, kind: &str, ops: &[Value]) -> String {
    format!(
        "# Kept verbatim from Pulumi by `strata migrate`: what strata's shape of `{service}` does not\n# express, applied to strata's {kind}. Yours: edit or delete entries once the service runs.\n{}",
        crate::util::yaml::emit(&Value::Array(ops.to_vec()))
    )
}

fn adoption_patch() -> String {
    format!(
        "# Written by `strata migrate`: how Argo CD takes over the objects Pulumi made.\n\
         # - ServerSideApply=true: Argo CD applies as its own field manager, next to what\n\
         #   pulumi-kubernetes left (v3: the last-applied annotation; v4: field manager\n\
         #   `pulumi-kubernetes-*`), instead of a client-side three-way merge against Pulumi's\n\
         #   last-applied configuration.\n\
         # - Prune=false: until Pulumi has forgotten these objects (MIGRATION.md in the\n\
         #   foundation), Argo CD deletes none of them, whatever the diff says.\n\
         # Delete this file and its entry in kustomization.yaml once the hand-over is done.\n{}",
        crate::util::yaml::emit(&json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "any", "annotations": {"argocd.argoproj.io/sync-options": SYNC_OPTIONS}},
        }))
    )
}

/// The overlay kustomization with migrate's resources and patches added to strata's.
pub fn overlay_kustomization(rendered: &str, files: &[OverlayFile]) -> String {
    let mut out = String::new();
    let resources: Vec<&OverlayFile> = files.iter().filter(|f| f.role == Role::Resource).collect();
    for line in rendered.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == "- ../../base" {
            for file in &resources {
                out.push_str(&format!("  - {}\n", file.name));
            }
        }
    }
    let patches: Vec<&OverlayFile> = files
        .iter()
        .filter(|f| matches!(f.role, Role::Patch(_)))
        .collect();
    if !patches.is_empty() {
        if !rendered.lines().any(|l| l.trim_end() == "patches:") {
            out.push_str("patches:\n");
        }
        out.push_str("  # Added by `strata migrate` (see MIGRATION.md in the foundation):\n");
        for file in patches {
            out.push_str(&format!("  - path: {}\n", file.name));
            if let Role::Patch(Some(target)) = &file.role {
                out.push_str(&format!("    target: {target}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_keys_escape_slashes_and_tildes() {
        assert_eq!(
            pointer_key("app.kubernetes.io/name"),
            "app.kubernetes.io~1name"
        );
        assert_eq!(pointer_key("a~b"), "a~0b");
    }

    #[test]
    fn references_to_converted_objects_point_at_strata_s() {
        let mut pod = json!({
            "containers": [{"envFrom": [{"configMapRef": {"name": "old-config"}}, {"secretRef": {"name": "keep"}}],
                            "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "old-secret", "key": "a"}}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "old-secret"}},
                        {"name": "p", "projected": {"sources": [{"configMap": {"name": "old-config"}}]}}]
        });
        let configs = BTreeSet::from(["old-config".to_string()]);
        let secrets = BTreeSet::from(["old-secret".to_string()]);
        rewrite_refs(&mut pod, &configs, &secrets, "svc");
        assert_eq!(
            pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            "svc-config"
        );
        assert_eq!(
            pod["containers"][0]["envFrom"][1]["secretRef"]["name"],
            "keep"
        );
        assert_eq!(
            pod["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
            "svc-secrets"
        );
        assert_eq!(pod["volumes"][0]["secret"]["secretName"], "svc-secrets");
        assert_eq!(
            pod["volumes"][1]["projected"]["sources"][0]["configMap"]["name"],
            "svc-config"
        );
    }

    #[test]
    fn the_overlay_gets_migrate_s_resources_and_patches() {
        let rendered = "resources:\n  - ../../base\n  - networkpolicy.yaml\npatches:\n  - path: patch-hpa.yaml\n";
        let files = vec![
            OverlayFile {
                name: "pulumi-service-x.yaml".into(),
                text: String::new(),
                role: Role::Resource,
            },
            OverlayFile {
                name: "patch-p.yaml".into(),
                text: String::new(),
                role: Role::Patch(Some("{kind: Deployment, name: x}".into())),
            },
        ];
        let out = overlay_kustomization(rendered, &files);
        assert!(out.contains("  - ../../base\n  - pulumi-service-x.yaml\n  - networkpolicy.yaml\n"));
        assert!(out.ends_with("  - path: patch-p.yaml\n    target: {kind: Deployment, name: x}\n"));
        let parsed = crate::util::yaml::parse(&out).unwrap();
        assert_eq!(parsed["patches"].as_array().unwrap().len(), 2);
    }
}
