//! What a pod may do in an environment's namespace, which the foundation labels with Pod
//! Security `restricted`: read by `migrate` (a workload that breaks it stays in Pulumi) and by
//! `check` (one in the gitops repo is a finding).

use serde_json::Value;

fn name_of(value: &Value) -> &str {
    value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
}

/// What of a pod spec reaches its node, which Pod Security `restricted` (the foundation's
/// label on every environment's namespace) refuses: host namespaces, `hostPath` volumes,
/// privileged containers and host ports. `None` when nothing does.
pub fn node_access(pod: &Value) -> Option<String> {
    let mut found = Vec::new();
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod.get(key).and_then(Value::as_bool) == Some(true) {
            found.push(format!("`{key}`"));
        }
    }
    for volume in pod
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if volume.get("hostPath").is_some() {
            found.push(format!("the `hostPath` volume `{}`", name_of(volume)));
        }
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|key| pod.get(key).and_then(Value::as_array))
        .flatten();
    for container in containers {
        let context = &container["securityContext"];
        if context["privileged"].as_bool() == Some(true) {
            found.push(format!("the privileged container `{}`", name_of(container)));
        }
        let host_port = container
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|port| port.get("hostPort").and_then(Value::as_u64).unwrap_or(0) > 0);
        if host_port {
            found.push(format!(
                "a `hostPort` of container `{}`",
                name_of(container)
            ));
        }
    }
    (!found.is_empty()).then(|| found.join(", "))
}
