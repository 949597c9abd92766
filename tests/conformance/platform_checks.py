"""Checks of the platform services (layer 3, issue 13): monitoring and logging.

Followed the way Argo CD follows them: from the foundation's root Application `platform` (under
Pulumi mocks) to `platform/<stack>/apps` of the gitops repo, to each Application of a pinned
chart, to what `helm template` of the vendored chart (`tests/charts/`) renders with the values
files the Application names. Every object must be allowed by the foundation's `platform`
AppProject (cluster-scoped kinds by its whitelist, namespaced ones only in its destinations,
which are platform namespaces only), validate against its schema (the monitoring CRDs from the
vendored chart), and be wired to what the foundation creates (ServiceAccount and IRSA role,
log groups, Grafana's admin Secret). Every service gets a ServiceMonitor that selects its
Service's port when monitoring is on, and none when it is off.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import pickle
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

import checks

CHARTS_DIR = checks.REPO_ROOT / "tests" / "charts"
PLATFORM_NAMESPACES = {"monitoring": "monitoring", "logging": "logging"}
# component -> (Application, chart repository, chart, release name, namespace)
COMPONENTS = {
    "monitoring": ("platform-monitoring", "https://prometheus-community.github.io/helm-charts",
                   "kube-prometheus-stack", "kube-prometheus-stack", "monitoring"),
    "logging": ("platform-logging", "https://fluent.github.io/helm-charts", "fluent-bit", "fluent-bit", "logging"),
}
ROOT = "platform"
ROOT_PROJECT = "platform-root"
PROJECT = "platform"


def enabled(answers: Mapping) -> set[str]:
    """The platform services strata.toml turns on."""
    return {c for c in COMPONENTS if ((checks.platform_settings(answers).get(c) or {}).get("enabled"))}


def chart_source(chart: str, version: str) -> Path:
    """The vendored source of a platform chart; a version that is not vendored is a failure."""
    path = CHARTS_DIR / f"{chart}-{version}"
    if not (path / "Chart.yaml").is_file():
        raise AssertionError(f"chart `{chart}` {version} is not vendored under `{CHARTS_DIR}`")
    meta = yaml.safe_load((path / "Chart.yaml").read_text(encoding="utf-8"))
    assert meta["name"] == chart and str(meta["version"]) == version, f"`{path}` is {meta['name']} {meta['version']}"
    source = (path / "SOURCE").read_text(encoding="utf-8")
    assert f"{chart}-{version}" in source and "License" in source, f"`{path}/SOURCE` names no tag and licence"
    return path


_RENDERS: dict[str, bytes] = {}  # the same chart, release and values files render once


def helm_template(chart: Path, release: str, namespace: str, values: list[Path]) -> list[dict]:
    """`helm template` as Argo CD runs it: CRDs included, the monitoring API known to the cluster.

    Renders of the same chart with the same values (the content of the files) run once."""
    digest = hashlib.sha256(json.dumps([str(chart), release, namespace]).encode())
    for path in values:
        digest.update(b"\0" + (path.read_bytes() if path.is_file() else b"<missing>"))
    key = digest.hexdigest()
    if key not in _RENDERS:
        _RENDERS[key] = pickle.dumps(_helm_template(chart, release, namespace, values))
    return pickle.loads(_RENDERS[key])


def _helm_template(chart: Path, release: str, namespace: str, values: list[Path]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="strata-helm-") as scratch:
        args = [checks.helm(), "template", release, chart, "--namespace", namespace, "--include-crds",
                "--kube-version", checks.KUBERNETES_VERSION, "--api-versions", "monitoring.coreos.com/v1"]
        for path in values:
            args += ["--values", path]
        done = checks.run(args, timeout=300,
                          env={"HELM_CACHE_HOME": scratch, "HELM_CONFIG_HOME": scratch, "HELM_DATA_HOME": scratch})
    if done.returncode != 0:
        raise AssertionError(f"`helm template` of {chart.name} fails with the generated values:\n{done.stderr[-3000:]}")
    return [o for o in yaml.load_all(done.stdout, Loader=checks._LOADER) if isinstance(o, dict)]


def _project(run: checks.StackRun, name: str) -> Mapping | None:
    found = [p for p in run.kubernetes_objects("AppProject") if checks._name(p) == name]
    return found[0]["spec"] if len(found) == 1 else None


def _kinds(entries: list[Mapping] | None) -> set[tuple[str, str]]:
    return {(e.get("group") or "", e.get("kind")) for e in entries or []}


def platform_applications(ws: checks.Workspace) -> dict[str, dict[str, tuple[dict, list[dict]]]]:
    """From each stack's root `platform` to its Applications and the objects their charts render.

    Returns stack -> component -> (Application, rendered objects). Every problem at once.
    """
    ans = ws.answers
    url, revision = checks.gitops_url(ans), ans["repos"].get("revision", "main")
    on = enabled(ans)
    settings = checks.platform_settings(ans)
    env_namespaces = set(checks.environments(ans).values())
    problems: list[str] = []
    out: dict[str, dict[str, tuple[dict, list[dict]]]] = {}
    stack_dirs = {p.name for p in (ws.gitops / "platform").iterdir()} if (ws.gitops / "platform").is_dir() else set()
    if not on:
        if stack_dirs:
            problems.append(f"no platform service is on, yet the gitops repo has `platform/{sorted(stack_dirs)}`")
    elif stack_dirs != set(ws.runs):
        problems.append(f"`platform/` holds {sorted(stack_dirs)}, the foundation's stacks are {sorted(ws.runs)}")
    for stack, run in sorted(ws.runs.items()):
        p = lambda msg, stack=stack: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        config = run.config.get("platformServices") or {}
        if {c for c in COMPONENTS if config.get(c)} != on:
            p(f"the stack turns on {sorted(c for c in COMPONENTS if config.get(c))}, strata.toml {sorted(on)}")
        roots = [a for a in run.kubernetes_objects("Application") if checks._name(a) == ROOT]
        if not on:
            if roots or _project(run, PROJECT) is not None:
                p("no platform service is on, yet the foundation creates the platform's root or project")
            continue
        if len(roots) != 1:
            p(f"expected one root Application `{ROOT}`, found {len(roots)}")
            continue
        root = roots[0]
        for problem in checks.object_problems(root):
            p(f"root Application `{ROOT}`: {problem}")
        path = f"platform/{stack}/apps"
        source = checks._sources(root)[0]
        if (source.get("repoURL"), source.get("targetRevision"), source.get("path")) != (url, revision, path):
            p(f"root Application `{ROOT}` syncs {source}, not `{path}` of `{url}` at `{revision}`")
        if root["spec"].get("project") != ROOT_PROJECT or checks._namespace(root) != checks.ARGOCD_NAMESPACE:
            p(f"root Application `{ROOT}` is not in project `{ROOT_PROJECT}` in `argocd`")
        root_project, project = _project(run, ROOT_PROJECT), _project(run, PROJECT)
        if root_project is None or project is None:
            p(f"the AppProjects `{ROOT_PROJECT}` and `{PROJECT}` are not both created by the foundation")
            continue
        for problem in checks.object_problems({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                                               "metadata": {"name": PROJECT, "namespace": "argocd"}, "spec": project}):
            p(f"AppProject `{PROJECT}`: {problem}")
        if _kinds(root_project.get("namespaceResourceWhitelist")) != {("argoproj.io", "Application")} or \
                root_project.get("clusterResourceWhitelist"):
            p(f"AppProject `{ROOT_PROJECT}` allows more than Applications")
        destinations = {d.get("namespace") for d in project.get("destinations") or []}
        if destinations != {PLATFORM_NAMESPACES[c] for c in on}:
            p(f"AppProject `{PROJECT}` reaches {sorted(destinations)}, not exactly the platform namespaces")
        if destinations & env_namespaces or "*" in destinations:
            p(f"AppProject `{PROJECT}` reaches an application namespace: {sorted(destinations & env_namespaces)}")
        expected_repos = {url} | {COMPONENTS[c][1] for c in on}
        if set(project.get("sourceRepos") or []) != expected_repos:
            p(f"AppProject `{PROJECT}` sources {project.get('sourceRepos')}, not exactly {sorted(expected_repos)}")
        namespaces = {checks._name(n): n for n in run.kubernetes_objects("Namespace")}
        build = ws.builds.get(path)
        if build is None:
            p(f"`{path}` has no kustomization: the root syncs nothing")
            continue
        problems.extend(f"{path}: {x}" for x in checks._would_sync(build, ROOT_PROJECT, root_project, "argocd"))
        apps = {checks._name(a): a for a in checks._of_kind(build, "Application")}
        if set(apps) != {COMPONENTS[c][0] for c in on} or len(build) != len(apps):
            p(f"`{path}` holds {sorted(apps)} ({len(build)} objects), not exactly the Applications of {sorted(on)}")
        out[stack] = {}
        for component in sorted(on):
            app_name, chart_repo, chart, release, namespace = COMPONENTS[component]
            app = apps.get(app_name)
            if app is None:
                continue
            label = f"stack `{stack}`: Application `{app_name}`"
            for problem in checks.object_problems(app):
                problems.append(f"{label}: {problem}")
            spec = app["spec"]
            if spec.get("project") != PROJECT:
                problems.append(f"{label} is in project `{spec.get('project')}`, not `{PROJECT}`")
            destination = spec.get("destination") or {}
            if destination != {"server": checks.IN_CLUSTER, "namespace": namespace}:
                problems.append(f"{label}: destination {destination} is not the in-cluster `{namespace}`")
            if namespace not in namespaces:
                problems.append(f"{label}: the foundation creates no namespace `{namespace}`")
            elif "privileged" != namespaces[namespace]["metadata"]["labels"].get("pod-security.kubernetes.io/enforce"):
                problems.append(f"{label}: `{namespace}` must admit host access (node exporter, log files)")
            sources = checks._sources(app)
            charts = [s for s in sources if s.get("chart")]
            refs = [s for s in sources if s.get("ref") == "values"]
            if len(charts) != 1 or len(refs) != 1 or len(sources) != 2:
                problems.append(f"{label}: expected a chart source and a `$values` ref source, got {sources}")
                continue
            version = settings[component]["version"]
            if (charts[0]["repoURL"], charts[0]["chart"], str(charts[0]["targetRevision"])) != (chart_repo, chart, version):
                problems.append(f"{label}: chart {charts[0]} is not {chart} {version} of {chart_repo}")
            if not checks.PINNED_VERSION.match(str(charts[0]["targetRevision"])):
                problems.append(f"{label}: chart version `{charts[0]['targetRevision']}` is not pinned")
            if (refs[0].get("repoURL"), refs[0].get("targetRevision")) != (url, revision):
                problems.append(f"{label}: `$values` comes from {refs[0]}, not this repo at `{revision}`")
            for repo in (charts[0]["repoURL"], refs[0]["repoURL"]):
                if repo not in (project.get("sourceRepos") or []):
                    problems.append(f"{label}: project `{PROJECT}` does not allow source `{repo}`")
            helm = charts[0].get("helm") or {}
            if helm.get("releaseName") != release:
                problems.append(f"{label}: release name `{helm.get('releaseName')}` is not `{release}`")
            value_files = []
            for ref in helm.get("valueFiles") or []:
                if not ref.startswith("$values/") or not (ws.gitops / ref.removeprefix("$values/")).is_file():
                    problems.append(f"{label}: values file `{ref}` is not a file of the gitops repo")
                value_files.append(ws.gitops / ref.removeprefix("$values/"))
            options = (spec.get("syncPolicy") or {}).get("syncOptions") or []
            retry = (spec.get("syncPolicy") or {}).get("retry") or {}
            backoff = retry.get("backoff") or {}
            problems.extend(f"{label}: {x}" for x in checks.retry_problems(spec))
            if component == "monitoring" and "ServerSideApply=true" not in options:
                problems.append(f"{label}: the monitoring CRDs exceed the client-side apply annotation: "
                                "`ServerSideApply=true` is missing")
            try:
                objects = helm_template(chart_source(chart, version), release, namespace, value_files)
            except AssertionError as error:
                problems.append(f"{label}: {error}")
                continue
            problems.extend(f"{label}: {x}" for x in checks._would_sync(objects, PROJECT, project, namespace))
            cluster_needed = {(checks._group_version(o["apiVersion"])[0], o["kind"])
                              for o in objects if not checks._is_namespaced(o)}
            out[stack][component] = (app, objects)
            out[stack].setdefault("_cluster_kinds", (app, []))[1].extend(sorted(cluster_needed))
        allowed_cluster = _kinds(project.get("clusterResourceWhitelist"))
        needed = set(out[stack].pop("_cluster_kinds", (None, []))[1])
        if allowed_cluster != needed:
            p(f"AppProject `{PROJECT}` allows cluster-scoped {sorted(allowed_cluster)}, the charts need exactly "
              f"{sorted(needed)}")
    if problems:
        raise AssertionError(f"{len(problems)} platform problem(s):\n" + "\n".join(problems))
    return out


def platform_objects_validate(rendered: Mapping[str, Mapping[str, tuple[dict, list[dict]]]]) -> int:
    """Every object the platform charts deploy validates: core kinds strictly, the monitoring kinds
    (ServiceMonitor, PrometheusRule, Prometheus, Alertmanager) against the vendored chart's CRDs."""
    problems, count = [], 0
    for stack, components in rendered.items():
        for component, (_, objects) in components.items():
            for obj in objects:
                if obj["kind"] == "CustomResourceDefinition":
                    continue  # the CRDs themselves: the API server's own schema, far too slow here
                count += 1
                problems += [f"{stack}/{component}: {checks._label(obj)}: {x}" for x in checks.object_problems(obj)]
    if problems:
        raise AssertionError(f"{len(problems)} schema problem(s) in the platform charts:\n" + "\n".join(problems[:80]))
    return count


def _pods(objects: list[dict]) -> list[tuple[dict, Mapping]]:
    return [(o, t) for o in objects for t in checks._pod_templates(o)]


def platform_wiring(ws: checks.Workspace, rendered: Mapping[str, Mapping[str, tuple[dict, list[dict]]]]) -> None:
    """What the charts need from the foundation exists and matches: Fluent Bit runs as the
    foundation's ServiceAccount whose IRSA role writes only to the cluster's log groups, which
    are exactly the groups its outputs name; Grafana reads its admin from the Secret the
    foundation's ExternalSecret writes and is not exposed; volumes are encrypted gp3; pods have
    the platform priority class."""
    problems: list[str] = []
    for stack, components in rendered.items():
        run = ws.runs[stack]
        cluster = run.config["clusterName"]
        p = lambda msg, stack=stack: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        for component, (_, objects) in components.items():
            for obj, template in _pods(objects):
                spec = template.get("spec") or {}
                if spec.get("priorityClassName") != "platform-critical":
                    p(f"{checks._label(obj)} has priority class `{spec.get('priorityClassName')}`")
            for obj in objects:
                if obj["kind"] in ("Ingress", "Route") or (obj["kind"] == "Service" and
                                                           (obj.get("spec") or {}).get("type", "ClusterIP") != "ClusterIP"):
                    p(f"{checks._label(obj)} exposes a platform service outside the cluster")
        if "monitoring" in components:
            _, objects = components["monitoring"]
            grafana = [o for o in checks._of_kind(objects, "Deployment") if checks._name(o).endswith("grafana")]
            if len(grafana) != 1:
                p(f"expected one Grafana Deployment, found {[checks._name(o) for o in grafana]}")
            else:
                env = [e for c in checks._pod_templates(grafana[0])[0]["spec"]["containers"] for e in c.get("env") or []]
                secrets = {(e.get("valueFrom") or {}).get("secretKeyRef", {}).get("name") for e in env
                           if e["name"] in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD")}
                if secrets != {"grafana-admin"}:
                    p(f"Grafana reads its admin from {secrets}, not the Secret `grafana-admin`")
            externals = [o for o in run.kubernetes_objects("ExternalSecret")
                         if checks._namespace(o) == "monitoring" and o["spec"]["target"]["name"] == "grafana-admin"]
            if len(externals) != 1:
                p("the foundation has no ExternalSecret writing `monitoring/grafana-admin`")
            else:
                store = externals[0]["spec"]["secretStoreRef"]["name"]
                if not [s for s in run.kubernetes_objects("SecretStore")
                        if checks._namespace(s) == "monitoring" and checks._name(s) == store]:
                    p(f"the ExternalSecret's SecretStore `monitoring/{store}` does not exist")
                keys = {d["secretKey"] for d in externals[0]["spec"]["data"]}
                if keys != {"admin-user", "admin-password"}:
                    p(f"the admin Secret gets keys {sorted(keys)}")
            if [o for o in checks._of_kind(objects, "Secret") if "grafana" in checks._name(o)]:
                p("the chart renders a Grafana admin Secret of its own (the password would be in git)")
            for obj in objects:
                if obj["kind"] in ("Prometheus", "Alertmanager"):
                    spec = obj["spec"]
                    claim = ((spec.get("storage") or spec.get("storageSpec") or {}).get("volumeClaimTemplate") or {})
                    if (claim.get("spec") or {}).get("storageClassName") != "gp3":
                        p(f"{checks._label(obj)} does not keep its data on the encrypted `gp3` class")
                if obj["kind"] == "PersistentVolumeClaim" and obj["spec"].get("storageClassName") != "gp3":
                    p(f"{checks._label(obj)} is not on the encrypted `gp3` class")
                if obj["kind"] == "Prometheus":
                    size_problem = retention_size_problem(obj["spec"])
                    if size_problem:
                        p(size_problem)
                    for key in ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"):
                        if obj["spec"].get(key) not in ({}, None):
                            p(f"Prometheus `{key}` is {obj['spec'].get(key)}: it would miss the services' monitors")
                    if obj["spec"].get("serviceMonitorSelector") is None:
                        p("Prometheus selects no ServiceMonitor")
        if "logging" in components:
            _, objects = components["logging"]
            daemonsets = checks._of_kind(objects, "DaemonSet")
            accounts = {checks._pod_templates(d)[0]["spec"].get("serviceAccountName") for d in daemonsets}
            if accounts != {"fluent-bit"}:
                p(f"Fluent Bit runs as {accounts}, not the foundation's `fluent-bit`")
            if checks._of_kind(objects, "ServiceAccount"):
                p("the chart creates a ServiceAccount: the foundation's (with the IRSA role) must be the only one")
            sa = [a for a in run.kubernetes_objects("ServiceAccount")
                  if checks._namespace(a) == "logging" and checks._name(a) == "fluent-bit"]
            roles = {r["urn"]: r for r in run.of_type("aws:iam/role:Role")}
            role = [r for r in roles.values() if "system:serviceaccount:logging:fluent-bit" in json.dumps(checks._trust(r))]
            if len(sa) != 1 or len(role) != 1:
                p("the foundation lacks the ServiceAccount `logging/fluent-bit` or its IRSA role")
                continue
            if checks.ROLE_ARN_ANNOTATION not in (sa[0]["metadata"].get("annotations") or {}):
                p("`logging/fluent-bit` has no IRSA role annotation")
            groups = {g["inputs"]["name"] for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
            config = "\n".join(checks._name(c) + "\n" + "\n".join((c.get("data") or {}).values())
                               for c in checks._of_kind(objects, "ConfigMap"))
            named = set(re.findall(r"log_group_name\s+(\S+)", config))
            if named != groups:
                p(f"Fluent Bit writes to {sorted(named)}, the foundation creates {sorted(groups)}")
            if not all(g.startswith(f"/aws/eks/{cluster}/") for g in groups):
                p(f"log groups {sorted(groups)} are not all the cluster's")
            if re.search(r"auto_create_group\s+On", config, re.IGNORECASE):
                p("Fluent Bit may create log groups: the role must not need `logs:CreateLogGroup`")
            problems.extend(f"stack `{stack}`: {x}" for x in fluent_bit_durability(objects))
            for group in run.of_type("aws:cloudwatch/logGroup:LogGroup"):
                if not group.get("retainOnDelete"):
                    p(f"log group `{group['inputs']['name']}` is deleted with the stack: it needs retain_on_delete")
            policies = [json.loads(x["inputs"]["policy"]) for x in run.of_type("aws:iam/rolePolicy:RolePolicy")
                        if x["parent"] == role[0]["urn"]]
            resources = {r for doc in policies for st in doc["Statement"]
                         for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])}
            region = ws.answers["region"]
            reached = {m.group(1) for r in resources
                       for m in [re.fullmatch(rf"arn:aws:logs:{re.escape(region)}:\d{{12}}:log-group:(.+):\*", r)] if m}
            if reached != groups or len(reached) != len(resources):
                p(f"the log shipper's role reaches {sorted(resources)}, not exactly the cluster's log groups")
            actions = {a for doc in policies for st in doc["Statement"]
                       for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
            if actions != FLUENT_BIT_LOG_ACTIONS:
                p(f"the log shipper's role may {sorted(actions)}; the cloudwatch_logs output (no auto_create_group) "
                  f"calls exactly {sorted(FLUENT_BIT_LOG_ACTIONS)}")
    if problems:
        raise AssertionError(f"{len(problems)} platform wiring problem(s):\n" + "\n".join(problems))


# The CloudWatch Logs calls of Fluent Bit's `cloudwatch_logs` output with `auto_create_group Off`
# and no `log_retention_days` (plugins/out_cloudwatch_logs/cloudwatch_api.c: CreateLogGroup and
# PutRetentionPolicy only for those options, no Describe* call).
FLUENT_BIT_LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
# A Fluent Bit pod's own log file and an application's, as the kubelet names them under
# /var/log/containers (`<pod>_<namespace>_<container>-<container id>.log`).
FLUENT_BIT_OWN_LOG = "/var/log/containers/fluent-bit-x7k2p_logging_fluent-bit-" + "0" * 64 + ".log"
APP_LOG = "/var/log/containers/api-7d9f8b6c4-x2x7q_dev_api-" + "1" * 64 + ".log"


def fluent_bit_sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """The sections of a classic-mode Fluent Bit configuration: (`SERVICE`/`INPUT`/..., key -> values),
    keys lower-cased (Fluent Bit reads them case-insensitively)."""
    sections: list[tuple[str, dict[str, list[str]]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = re.fullmatch(r"\[([A-Z_]+)\]", stripped)
        if header:
            sections.append((header.group(1), {}))
        elif sections:
            key, _, value = stripped.partition(" ")
            sections[-1][1].setdefault(key.lower(), []).append(value.strip())
    return sections


def fluent_bit_durability(objects: list[dict]) -> list[str]:
    """Fluent Bit ships durably: positions in a tail DB and buffers on a node's hostPath, outputs
    that retry without giving up early, no pod may opt out, and its own log is not shipped."""
    problems: list[str] = []
    config = "\n".join(v for c in checks._of_kind(objects, "ConfigMap") for k, v in (c.get("data") or {}).items()
                       if k == "fluent-bit.conf")
    sections = fluent_bit_sections(config)
    first = lambda section, key: (section.get(key) or [""])[0]  # noqa: E731
    (daemonset,) = checks._of_kind(objects, "DaemonSet")
    pod = checks._pod_templates(daemonset)[0]["spec"]
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod.get("volumes") or [] if v.get("hostPath")}
    (container,) = [c for c in pod["containers"] if c["name"] == "fluent-bit"]
    on_host = {m["mountPath"].rstrip("/") for m in container.get("volumeMounts") or []
               if m["name"] in host_paths and not m.get("readOnly")}

    def persistent(path: str) -> bool:
        return any(path == mount or path.startswith(mount + "/") for mount in on_host)

    services = [body for name, body in sections if name == "SERVICE"]
    storage_path = first(services[0], "storage.path") if len(services) == 1 else ""
    if not storage_path or not persistent(storage_path.rstrip("/")):
        problems.append(f"Fluent Bit's `storage.path` `{storage_path}` is not on a writable hostPath volume "
                        f"({sorted(on_host)}): buffers die with the pod")
    tails = [body for name, body in sections if name == "INPUT" and first(body, "name") == "tail"]
    if not tails:
        problems.append("Fluent Bit has no tail input")
    for tail in tails:
        db = first(tail, "db")
        if not db or not persistent(db):
            problems.append(f"the tail input's `DB` `{db}` is not on a writable hostPath volume: a restart re-reads "
                            "or skips log files")
        if first(tail, "storage.type").lower() != "filesystem":
            problems.append("the tail input buffers in memory (`storage.type filesystem` is missing)")
        excluded = [p for value in tail.get("exclude_path") or [] for p in value.split(",")]
        if not any(fnmatch.fnmatch(FLUENT_BIT_OWN_LOG, p.strip()) for p in excluded):
            problems.append(f"the tail input ships Fluent Bit's own log (`Exclude_Path` {excluded}): errors loop")
        if any(fnmatch.fnmatch(APP_LOG, p.strip()) for p in excluded):
            problems.append(f"`Exclude_Path` {excluded} excludes application logs")
    for name, body in sections:
        if name == "FILTER" and first(body, "name") == "kubernetes":
            if first(body, "k8s-logging.exclude").lower() not in ("off", "false"):
                problems.append("the kubernetes filter lets pods opt out of shipping (`K8S-Logging.Exclude` is not Off)")
        if name == "FILTER" and first(body, "name") == "rewrite_tag":
            if first(body, "emitter_storage.type").lower() != "filesystem":
                problems.append("the rewrite_tag emitter buffers in memory (`Emitter_Storage.type filesystem`)")
    outputs = [body for name, body in sections if name == "OUTPUT"]
    for output in outputs:
        limit = first(output, "retry_limit").lower()
        if limit not in ("no_limits", "false") and not (limit.isdigit() and int(limit) >= 100):
            problems.append(f"output `{first(output, 'match')}` gives up after `Retry_Limit {limit or '1 (default)'}`")
        if not first(output, "storage.total_limit_size"):
            problems.append(f"output `{first(output, 'match')}` has no `storage.total_limit_size`: its backlog may fill "
                            "the node's disk")
    if not outputs:
        problems.append("Fluent Bit has no output")
    return problems


_QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}
_PROMETHEUS_SIZE = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40, "PB": 2**50, "EB": 2**60}


def retention_size_problem(spec: Mapping) -> str | None:
    """Prometheus drops its oldest blocks before its volume is full: `retentionSize` (base-2
    units, the operator's pattern) is 80-90% of the volume claim's request; `retention` stays."""
    request = ((((spec.get("storage") or {}).get("volumeClaimTemplate") or {}).get("spec") or {})
               .get("resources", {}).get("requests", {}).get("storage"))
    size = spec.get("retentionSize")
    if not spec.get("retention"):
        return "Prometheus has no `retention`"
    if not size or not request:
        return f"Prometheus has no `retentionSize` ({size}) next to its volume of {request}"
    matched = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPE]?B)", str(size))
    quantity = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)", str(request))
    if not matched or not quantity:
        return f"Prometheus `retentionSize` `{size}` or volume `{request}` cannot be read"
    ratio = (float(matched.group(1)) * _PROMETHEUS_SIZE[matched.group(2)]) / (
        float(quantity.group(1)) * _QUANTITY[quantity.group(2)])
    if not 0.8 <= ratio <= 0.9:
        return f"Prometheus `retentionSize` `{size}` is {ratio:.0%} of its {request} volume, not about 85%"
    return None


def service_monitors(ws: checks.Workspace) -> int:
    """With monitoring on, every service overlay deploys one ServiceMonitor that validates against
    the vendored CRD, selects the service's Service (same namespace) and scrapes one of its named
    ports, which the service's NetworkPolicy opens to Prometheus; Argo CD may dry-run it before
    the CRD exists. With monitoring off, there is none. Returns the number checked."""
    on = "monitoring" in enabled(ws.answers)
    problems, count = [], 0
    for rel, objs in ws.builds.items():
        if not rel.startswith("services/") or "/overlays/" not in rel:
            continue
        monitors = checks._of_kind(objs, "ServiceMonitor")
        if not on:
            if monitors:
                problems.append(f"{rel}: a ServiceMonitor while monitoring is off (no CRD in the cluster)")
            continue
        if len(monitors) != 1:
            problems.append(f"{rel}: expected one ServiceMonitor, found {len(monitors)}")
            continue
        count += 1
        monitor = monitors[0]
        problems += [f"{rel}: {x}" for x in checks.object_problems(monitor)]
        options = ((monitor["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-options") or "")
        if "SkipDryRunOnMissingResource=true" not in options:
            problems.append(f"{rel}: the ServiceMonitor cannot sync before the monitoring CRDs exist")
        services = [s for s in checks._of_kind(objs, "Service")
                    if checks._selects(monitor["spec"].get("selector"), s["metadata"].get("labels") or {})
                    and checks._namespace(s) == checks._namespace(monitor)]
        if len(services) != 1:
            problems.append(f"{rel}: the ServiceMonitor selects {len(services)} Services, not exactly one")
            continue
        ports = {p.get("name"): p for p in services[0]["spec"].get("ports") or []}
        for endpoint in monitor["spec"].get("endpoints") or []:
            port = ports.get(endpoint.get("port"))
            if port is None:
                problems.append(f"{rel}: endpoint port `{endpoint.get('port')}` is not a named port of the Service")
                continue
            deployments = checks._of_kind(objs, "Deployment")
            container_ports = {(cp.get("name"), cp.get("containerPort")) for d in deployments
                               for c in checks._pod_templates(d)[0]["spec"]["containers"] for cp in c.get("ports") or []}
            target = port.get("targetPort")
            numbers = {n for name, n in container_ports if name == target or n == target}
            if not numbers:
                problems.append(f"{rel}: the Service's port `{port['name']}` targets `{target}`, which no container has")
            policies = checks._of_kind(objs, "NetworkPolicy")
            admitted = any(
                (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"
                and {p.get("port") for p in rule.get("ports") or []} & numbers
                for policy in policies for rule in policy["spec"].get("ingress") or [] for peer in rule.get("from") or []
            )
            if not admitted:
                problems.append(f"{rel}: no NetworkPolicy lets Prometheus (namespace `monitoring`) reach port {numbers}")
    if problems:
        raise AssertionError(f"{len(problems)} ServiceMonitor problem(s):\n" + "\n".join(problems))
    return count


def platform_tree_matches_answers(ws: checks.Workspace) -> None:
    """The gitops repo's `platform/` holds exactly what strata.toml turns on, per stack, and the
    platform team owns it (CODEOWNERS)."""
    on = enabled(ws.answers)
    expected = set()
    for stack in ws.runs:
        base = f"platform/{stack}"
        if on:
            expected.add(f"{base}/apps/kustomization.yaml")
        if "monitoring" in on:
            expected |= {f"{base}/apps/monitoring.yaml", f"{base}/values/kube-prometheus-stack.yaml",
                         f"{base}/values/kube-prometheus-stack-custom.yaml"}
        if "logging" in on:
            expected |= {f"{base}/apps/logging.yaml", f"{base}/values/fluent-bit.yaml",
                         f"{base}/values/fluent-bit-custom.yaml"}
    found = {p.relative_to(ws.gitops).as_posix() for p in (ws.gitops / "platform").rglob("*") if p.is_file()} \
        if (ws.gitops / "platform").is_dir() else set()
    assert found == expected, f"`platform/` holds {sorted(found - expected)} too many, {sorted(expected - found)} missing"
    codeowners = (ws.gitops / "CODEOWNERS").read_text(encoding="utf-8")
    assert re.search(r"^/platform/\s+@\S+/platform-team$", codeowners, re.MULTILINE), codeowners


def scrape_guard(ws: checks.Workspace) -> int:
    """The foundation's ValidatingAdmissionPolicy for application ServiceMonitors, evaluated with
    a CEL implementation (cel-python) as the API server evaluates it: every ServiceMonitor the
    gitops repo deploys passes every rule, and each way of reaching beyond the own namespace
    fails exactly the rule meant for it. Returns the number of ServiceMonitors checked."""
    import copy

    import celpy

    problems: list[str] = []
    env = celpy.Environment()
    policies = {r.stack: r.kubernetes_objects("ValidatingAdmissionPolicy") for r in ws.runs.values()}
    rules = None
    for stack, found in policies.items():
        if len(found) != 1:
            problems.append(f"stack {stack}: expected one ValidatingAdmissionPolicy, found {len(found)}")
            continue
        rules = [(v["message"], env.program(env.compile(v["expression"]))) for v in found[0]["spec"]["validations"]]
        bindings = ws.runs[stack].kubernetes_objects("ValidatingAdmissionPolicyBinding")
        checks.validate_objects(found + bindings)  # the Kubernetes OpenAPI schemas
    assert rules is not None and not problems, "\n".join(problems)

    def failed(monitor: Mapping, namespace: str) -> list[str]:
        activation = {"object": celpy.json_to_cel(monitor), "request": celpy.json_to_cel({"namespace": namespace})}
        return [message for message, program in rules if not bool(program.evaluate(activation))]

    monitors = [(rel, m) for rel, objs in ws.builds.items() if rel.startswith("services/") and "/overlays/" in rel
                for m in checks._of_kind(objs, "ServiceMonitor")]
    for rel, monitor in monitors:
        if failed(monitor, checks._namespace(monitor)):
            problems.append(f"{rel}: the generated ServiceMonitor is denied: {failed(monitor, checks._namespace(monitor))}")
    # One generated monitor (or a minimal one when monitoring is off), bent each way.
    base = monitors[0][1] if monitors else {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "api", "namespace": "dev"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "endpoints": [{"port": "http"}]}}
    namespace = checks._namespace(base) or "dev"
    if failed(base, namespace):
        problems.append("a plain ServiceMonitor is denied")

    def bent(change) -> dict:
        monitor = copy.deepcopy(base)
        change(monitor["spec"])
        return monitor

    def endpoint(**fields):
        return lambda spec: spec["endpoints"][0].update(fields)

    cases = {
        "any namespace": (bent(lambda s: s.update(namespaceSelector={"any": True})), 0),
        "another namespace": (bent(lambda s: s.update(namespaceSelector={"matchNames": [namespace, "kube-system"]})), 0),
        "bearerTokenFile": (bent(endpoint(bearerTokenFile="/var/run/secrets/kubernetes.io/serviceaccount/token")), 1),
        "tlsConfig keyFile": (bent(endpoint(tlsConfig={"keyFile": "/etc/prometheus/secrets/k"})), 1),
        "honorLabels": (bent(endpoint(honorLabels=True)), 2),
        "proxyUrl": (bent(endpoint(proxyUrl="http://proxy:3128")), 2),
        "address relabeling": (bent(endpoint(relabelings=[{"targetLabel": "__address__", "replacement": "10.0.0.1:9100"}])), 2),
        "labelmap relabeling": (bent(endpoint(relabelings=[{"action": "labelmap", "regex": "__meta_(.+)"}])), 2),
        "proxyFromEnvironment": (bent(endpoint(proxyFromEnvironment=True)), 2),
        "scrape class": (bent(lambda s: s.update(scrapeClass="with-files")), 2),
    }
    allowed = {
        "own namespace by name": bent(lambda s: s.update(namespaceSelector={"matchNames": [namespace]})),
        "empty selector": bent(lambda s: s.update(namespaceSelector={})),
        "tlsConfig from secrets": bent(endpoint(tlsConfig={"ca": {"secret": {"name": "ca", "key": "ca.crt"}}})),
        "honorLabels false": bent(endpoint(honorLabels=False)),
        "other relabeling": bent(endpoint(relabelings=[{"targetLabel": "team", "replacement": "a"}])),
    }
    for name, (monitor, rule) in cases.items():
        denied = failed(monitor, namespace)
        if denied != [rules[rule][0]]:
            problems.append(f"{name}: expected exactly rule {rule} to deny it, got {denied}")
    for name, monitor in allowed.items():
        if failed(monitor, namespace):
            problems.append(f"{name}: denied, but it stays within its namespace: {failed(monitor, namespace)}")
    assert not problems, "\n".join(problems)
    return len(monitors)
