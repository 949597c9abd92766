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
//!
//! [`derive`] runs the steps in order on a `Derivation`: find what moves with the Deployment
//! (`members.rs`), convert its configuration and secrets (`config.rs`), read strata's shape of
//! it and validate it as `add service` does (`shape.rs`), patch the Deployment
//! (`deployment.rs`), and hand its other objects over (`objects.rs`).

mod config;
mod deployment;
mod members;
mod objects;
mod shape;

use serde_json::{json, Map, Value};

use crate::migrate::{Candidate, Kubectl, Mode, Moved, OverlayFile, Request, Role, ServicePlan};
use crate::model::stack_export::holds_secret;

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

/// A service being derived from its Deployment: what moves with it, and what the steps have
/// found so far. A step that finds a reason to keep the Deployment in Pulumi returns a [`Stay`]
/// naming the members found until then.
struct Derivation<'a> {
    request: &'a Request<'a>,
    root: &'a Candidate<'a>,
    candidates: &'a [Candidate<'a>],
    /// The service's name: the Deployment's logical name in the Pulumi program (its URN's
    /// last part), not the name Pulumi gave the object (`redis-leader-00017334`); the object's
    /// own name when the logical one cannot be a service's ([`service_name`]).
    service: String,
    /// The Deployment's name in the cluster, which it keeps: Argo CD adopts it in place.
    object: String,
    /// Where the Deployment runs today.
    namespace: String,
    mode: Mode,
    /// The resources that move (or stay) with the Deployment.
    members: Vec<&'a Candidate<'a>>,
    kept: Vec<String>,
    notes: Vec<String>,
    moved: Vec<Moved>,
    files: Vec<OverlayFile>,
    cleanup: Vec<Kubectl>,
}

impl<'a> Derivation<'a> {
    fn new(
        request: &'a Request<'a>,
        root: &'a Candidate<'a>,
        candidates: &'a [Candidate<'a>],
        env_namespace: &str,
    ) -> Self {
        let namespace = root.namespace().to_string();
        let mode = if namespace == env_namespace {
            Mode::Adopt
        } else {
            Mode::Relocate {
                from: namespace.clone(),
            }
        };
        Self {
            request,
            root,
            candidates,
            service: service_name(request, root),
            object: root.object.name.clone(),
            namespace,
            mode,
            members: Vec::new(),
            kept: Vec::new(),
            notes: Vec::new(),
            moved: Vec::new(),
            files: Vec::new(),
            cleanup: Vec::new(),
        }
    }

    /// The Deployment stays, and the members found so far with it.
    fn stay(&self, reason: String) -> Stay {
        Stay {
            reason,
            members: self
                .members
                .iter()
                .map(|c| c.resource.urn.clone())
                .collect(),
        }
    }

    /// Records that a resource moves, and what it becomes.
    fn push_moved(&mut self, c: &Candidate<'_>, becomes: String) {
        self.moved.push(Moved {
            urn: c.resource.urn.clone(),
            kind: c.object.kind.clone(),
            name: c.object.name.clone(),
            namespace: c.namespace().to_string(),
            becomes,
            writer: c.resource.writer(),
            protected: c.resource.protect,
        });
    }

    /// Adds the clean-up command that deletes an old object, when it must go: every converted
    /// ConfigMap and Secret, and everything of a relocated service.
    fn delete_later(&mut self, kind: &str, name: &str) {
        let line = Kubectl::delete(&self.namespace, kind, name);
        let relevant =
            matches!(self.mode, Mode::Relocate { .. }) || matches!(kind, "configmap" | "secret");
        if relevant && !self.cleanup.contains(&line) {
            self.cleanup.push(line);
        }
    }
}

/// Derives the service of one Deployment. `Err` says why it stays.
pub fn derive(
    request: &Request<'_>,
    root: &Candidate<'_>,
    candidates: &[Candidate<'_>],
    env_namespace: &str,
) -> Result<ServicePlan, Stay> {
    let mut d = Derivation::new(request, root, candidates, env_namespace);
    d.find_graph_members();
    let pod = d.read_root()?;
    let related = d.gather_members(&pod)?;
    let mut config = d.convert_config_maps()?;
    let env = config::take_literal_env(&pod.first, &mut config.values);
    let secrets = d.convert_secrets(&config.values)?;
    let image = d.pin_image(&pod.first)?;
    let sizes = d.read_sizes(&pod, related.hpa.as_ref().map(|(_, spec)| spec));
    let exposure = d.take_ingress(&related.ingresses)?;
    let input = shape::service_input(
        request.env,
        image,
        &sizes,
        exposure.as_ref(),
        &config.values,
        &secrets.keys,
    );
    let strata_port = d.validate(&input)?;
    let mut rewritten_pod = pod.pod.clone();
    deployment::rewrite_refs(
        &mut rewritten_pod,
        &config.converted,
        &secrets.converted,
        &d.service,
    );
    let rewritten = deployment::Rewritten {
        first: rewritten_pod
            .pointer("/containers/0")
            .cloned()
            .unwrap_or(Value::Null),
        pod: rewritten_pod,
        env: &env,
    };
    let target = d.patch_deployment(&pod, &rewritten, &sizes.ports, strata_port)?;
    d.hand_over_services(&related.services, target)?;
    d.hand_over_ingresses(&related.ingresses, exposure.as_ref());
    d.hand_over_hpa(related.hpa.as_ref(), sizes.min, sizes.max);
    d.keep_claims()?;
    d.adopt();
    Ok(ServicePlan {
        limits: shape::limits_of(&pod.first),
        name: d.service,
        namespace: d.namespace,
        mode: d.mode,
        input,
        moved: d.moved,
        kept: d.kept,
        notes: d.notes,
        secrets: secrets.keys,
        files: d.files,
        cleanup: d.cleanup,
    })
}

/// The name of the service a Deployment becomes: its logical name in the Pulumi program (the
/// URN's last part: what the program's author called it), unless that is no strata service
/// name (`monitoring/metrics` of a chart) or the workspace has that service already; then the
/// object's name, as the cluster knows it.
fn service_name(request: &Request<'_>, root: &Candidate<'_>) -> String {
    let object = &root.object.name;
    let logical = root
        .resource
        .urn
        .rsplit_once("::")
        .map_or(object.as_str(), |(_, name)| name);
    let usable = logical.parse::<crate::model::names::ServiceName>().is_ok()
        && !request.answers.services.contains_key(logical);
    if usable {
        logical.to_string()
    } else {
        object.clone()
    }
}

/// A JSON-patch file with a comment saying what it is.
fn patch_text(service: &str, kind: &str, ops: &[Value]) -> String {
    format!(
        "# Kept verbatim from Pulumi by `strata migrate`: what strata's shape of `{service}` does not\n# express, applied to strata's {kind}. Yours: edit or delete entries once the service runs.\n{}",
        crate::util::yaml::emit(&Value::Array(ops.to_vec()))
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
