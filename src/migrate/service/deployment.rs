//! The Deployment becomes strata's, and what strata's shape cannot express is kept as a JSON
//! patch on it: the selector, the pods' labels and annotations, the container's name, ports,
//! environment (pointed at the ConfigMap and Secret strata generates), command, probes, other
//! resources, volumes, further containers and the pods' scheduling.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::members::Pod;
use super::{clean_map, is_empty, op, patch_text, pointer_key, Derivation, Stay};
use crate::migrate::{Mode, OverlayFile, Role};

/// Where the first container sits in a Deployment.
const CONTAINER: &str = "/spec/template/spec/containers/0";

/// What the Deployment's patch starts from: the pod spec with its references to converted
/// ConfigMaps and Secrets pointed at strata's, and the environment left after conversion.
pub(super) struct Rewritten<'p> {
    pub pod: Value,
    pub first: Value,
    /// The container's environment variables that did not become config values.
    pub env: &'p [Value],
}

/// Points the pod spec's references to converted ConfigMaps and Secrets at the ones strata
/// generates: `<service>-config` (kustomize adds its hash) and `<service>-secrets`.
pub(super) fn rewrite_refs(
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

fn name_of(value: &Value) -> &str {
    value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Derivation<'_> {
    /// Writes the Deployment's patch (`patch-pulumi-deployment.yaml`) and moves the
    /// Deployment. Returns the Service's target port when the container names its first port
    /// other than `http`. A volume named like one of strata's keeps the service in Pulumi.
    pub(super) fn patch_deployment(
        &mut self,
        pod: &Pod,
        rewritten: &Rewritten<'_>,
        ports: &[Value],
        strata_port: u16,
    ) -> Result<Option<Value>, Stay> {
        if let Some(access) = crate::model::pod_security::node_access(&pod.pod) {
            return Err(self.stay(format!(
                "its pods reach the node ({access}): the environment's namespace enforces Pod Security `restricted`, which refuses them, and an agent of the node is infrastructure (keep it in Pulumi, in the foundation)"
            )));
        }
        let mut ops: Vec<Value> = Vec::new();
        self.keep_selector_and_metadata(pod, &mut ops);
        let container_name = name_of(&pod.first);
        if container_name != self.service {
            ops.push(op(
                "replace",
                &format!("{CONTAINER}/name"),
                json!(container_name),
            ));
            self.kept.push(format!(
                "the container's name `{container_name}` (server-side apply merges containers by name)"
            ));
        }
        let service_target = self.keep_ports(ports, strata_port, &mut ops);
        let secrets_in_env = self.keep_environment(rewritten, &mut ops);
        self.keep_container_fields(pod, &rewritten.first, &mut ops);
        self.keep_volumes(&rewritten.pod, &rewritten.first, &mut ops)?;
        self.keep_pod_fields(pod, &rewritten.pod, &mut ops);
        self.note_what_strata_replaces(pod, secrets_in_env, &mut ops);
        let service = self.service.clone();
        let object = self.object.clone();
        if object == service {
            self.push_moved(
                self.root,
                format!("the Deployment of service `{service}` (same name, `services/{service}/`)"),
            );
        } else {
            // The service is named as the program named it; the Deployment keeps the name
            // Pulumi gave it, so that Argo CD adopts it in place (kustomize renames it last and
            // points the HorizontalPodAutoscaler at the new name).
            ops.push(op("replace", "/metadata/name", json!(object)));
            self.kept.push(format!(
                "the Deployment's name `{object}` (Pulumi's auto-name of `{service}`: the running object is adopted as it is)"
            ));
            self.push_moved(
                self.root,
                format!("the Deployment of service `{service}` (keeps its name `{object}`, `services/{service}/`)"),
            );
        }
        self.files.push(OverlayFile {
            name: "patch-pulumi-deployment.yaml".to_string(),
            text: patch_text(&service, "Deployment", &ops),
            role: Role::Patch(Some(format!("{{kind: Deployment, name: {service}}}"))),
        });
        Ok(service_target)
    }

    /// The selector (immutable), the pods' labels and annotations, and the Deployment's own.
    fn keep_selector_and_metadata(&mut self, pod: &Pod, ops: &mut Vec<Value>) {
        if let Some(selector) = pod.spec.get("selector") {
            ops.push(op("add", "/spec/selector", selector.clone()));
            self.kept.push(if self.mode == Mode::Adopt {
                "the Deployment's selector (immutable: the running ReplicaSets keep their pods)".to_string()
            } else {
                "the Deployment's selector (what Pulumi's Services and policies select keeps selecting the pods)".to_string()
            });
        }
        for (key, value) in &pod.labels {
            ops.push(op(
                "add",
                &format!("/spec/template/metadata/labels/{}", pointer_key(key)),
                value.clone(),
            ));
        }
        if !pod.labels.is_empty() {
            self.kept.push(format!(
                "the pods' labels ({})",
                pod.labels.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let pod_annotations = clean_map(pod.template.pointer("/metadata/annotations"));
        if !pod_annotations.is_empty() {
            self.kept.push(format!(
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
        let deployment_meta = self.root.resource.inputs.get("metadata");
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
                self.kept.push(format!(
                    "the Deployment's {what} ({})",
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }

    /// strata declares one port, `http`; Pulumi's are kept when they say more. Returns the
    /// Service's target port when Pulumi named the first port otherwise.
    fn keep_ports(
        &mut self,
        ports: &[Value],
        strata_port: u16,
        ops: &mut Vec<Value>,
    ) -> Option<Value> {
        let strata_ports =
            json!([{"name": "http", "containerPort": strata_port, "protocol": "TCP"}]);
        let mut original_ports = ports.to_vec();
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
                &format!("{CONTAINER}/ports"),
                Value::Array(original_ports),
            ));
            self.kept.push("the container's ports".to_string());
        }
        service_target
    }

    /// The environment left after conversion and the `envFrom` entries strata's base does not
    /// read already. Returns whether the app reads secrets from environment variables.
    fn keep_environment(&mut self, rewritten: &Rewritten<'_>, ops: &mut Vec<Value>) -> bool {
        let service = &self.service;
        let env_rewritten: Vec<Value> = {
            let names_left: BTreeSet<&str> = rewritten
                .env
                .iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .collect();
            rewritten
                .first
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
            self.kept.push(format!(
                "the container's environment ({}), its references pointed at `{service}-config` and `{service}-secrets`",
                env_rewritten.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).collect::<Vec<_>>().join(", ")
            ));
            ops.push(op(
                "add",
                &format!("{CONTAINER}/env"),
                Value::Array(env_rewritten),
            ));
        }
        for source in rewritten
            .first
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if source.pointer("/configMapRef/name").and_then(Value::as_str)
                == Some(&format!("{}-config", self.service))
            {
                continue; // strata's base reads it already
            }
            secrets_in_env |= source.get("secretRef").is_some();
            ops.push(op("add", &format!("{CONTAINER}/envFrom/-"), source.clone()));
            self.kept
                .push(format!("the container's `envFrom` entry {source}"));
        }
        secrets_in_env
    }

    /// The container's command, lifecycle and probes, and its resources other than CPU and
    /// memory.
    fn keep_container_fields(&mut self, pod: &Pod, first_rewritten: &Value, ops: &mut Vec<Value>) {
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
                ops.push(op("add", &format!("{CONTAINER}/{key}"), value.clone()));
                self.kept.push(format!("the container's `{key}`"));
            }
        }
        for (key, value) in pod
            .first
            .pointer("/resources/limits")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if key != "cpu" && key != "memory" {
                ops.push(op(
                    "add",
                    &format!("{CONTAINER}/resources/limits/{}", pointer_key(key)),
                    value.clone(),
                ));
                self.kept.push(format!("the container's `{key}` limit"));
            }
        }
        let requests = pod.first.pointer("/resources/requests");
        for (key, value) in requests.and_then(Value::as_object).into_iter().flatten() {
            if key != "cpu" && key != "memory" {
                ops.push(op(
                    "add",
                    &format!("{CONTAINER}/resources/requests/{}", pointer_key(key)),
                    value.clone(),
                ));
                self.kept.push(format!("the container's `{key}` request"));
            }
        }
    }

    /// The pods' volumes and the container's mounts of them; a volume named like one of
    /// strata's (`tmp`, `secrets`) keeps the service in Pulumi.
    fn keep_volumes(
        &mut self,
        rewritten: &Value,
        first_rewritten: &Value,
        ops: &mut Vec<Value>,
    ) -> Result<(), Stay> {
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
                return Err(self.stay(format!(
                    "its volume `{}` has a name strata's pods use",
                    volume["name"]
                )));
            }
            ops.push(op("add", "/spec/template/spec/volumes/-", volume.clone()));
            self.kept.push(format!("the volume `{}`", name_of(volume)));
        }
        for mount in first_rewritten
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            ops.push(op(
                "add",
                &format!("{CONTAINER}/volumeMounts/-"),
                mount.clone(),
            ));
        }
        Ok(())
    }

    /// Further containers, the pods' scheduling and the Deployment's rollout settings.
    fn keep_pod_fields(&mut self, pod: &Pod, rewritten: &Value, ops: &mut Vec<Value>) {
        for (index, extra) in rewritten
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .skip(1)
        {
            ops.push(op("add", "/spec/template/spec/containers/-", extra.clone()));
            self.kept
                .push(format!("container #{index} `{}`", name_of(extra)));
            self.notes.push(format!("container `{}` is kept as Pulumi declared it: strata's hardening covers its first container only", name_of(extra)));
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
                self.kept.push(format!("the pods' `{key}`"));
            }
        }
        for key in ["minReadySeconds", "progressDeadlineSeconds"] {
            if let Some(value) = pod.spec.get(key) {
                ops.push(op("add", &format!("/spec/{key}"), value.clone()));
                self.kept.push(format!("the Deployment's `{key}`"));
            }
        }
    }

    /// Notes on what strata's hardening replaces: the service account, secrets read from
    /// environment variables (and checkov's skip for them), the security context.
    fn note_what_strata_replaces(&mut self, pod: &Pod, secrets_in_env: bool, ops: &mut Vec<Value>) {
        let service = &self.service;
        if let Some(account) = pod
            .pod
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .filter(|a| *a != "default")
        {
            self.notes.push(format!("Pulumi's spec runs the pods as ServiceAccount `{account}`: strata gives the service its own, `{service}` (with an IAM role when `--irsa` is set); an IAM role trusted by `{account}` no longer applies"));
        }
        if secrets_in_env {
            ops.push(op(
                "add",
                "/metadata/annotations/checkov.io~1skip8",
                json!(format!("CKV_K8S_35=kept from Pulumi by `strata migrate`: the app reads secrets from environment variables; strata also mounts them as files under /var/run/secrets/{service}, switch the app to those and drop the variables")),
            ));
            self.notes.push("the app reads secrets from environment variables (kept): strata's way is files under `/var/run/secrets/<service>`, which it mounts too".to_string());
        }
        if pod.pod.get("securityContext").is_some() || pod.first.get("securityContext").is_some() {
            self.notes.push("Pulumi's security context is replaced by strata's: non-root (UID 10001), read-only root filesystem, no privilege escalation, all capabilities dropped; check that the image runs so".to_string());
        } else {
            self.notes.push("Pulumi's spec set no security context; strata's runs the pods as non-root (UID 10001) with a read-only root filesystem (a writable `/tmp` is mounted): check that the image runs so (the official `nginx` image, for one, needs root; `nginxinc/nginx-unprivileged` does not)".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
