"""Conformance checks of a generated workspace, with the real tools.

Every check takes the directory of a generated repo (`<name>-foundation` or `<name>-gitops`)
and raises `AssertionError` with a message that names the object, the file or the command
at fault. Nothing here is mocked: `kubectl kustomize` builds the overlays, `kubernetes_validate`
and the Argo CD / External Secrets CRD schemas (with `jsonschema`) validate the objects, the
generated foundation's own harness runs the Pulumi program under the Pulumi SDK's mocks, and
`checkov` scans what Argo CD would deploy.

Tools are found through environment variables, with defaults inside the repository:

    STRATA_BIN      <repo>/target/debug/strata
    KUBECTL         <repo>/.tools/bin/kubectl
    CHECKOV         <repo>/.tools/checkov-venv/bin/checkov
    VENV_PYTHON     <repo>/.tools/venv/bin/python   (runs the foundation's harness and tests)
    STRATA_SHARED   <repo>/../shared                (holds schemas/argocd, schemas/external-secrets)

A missing tool is an `AssertionError` (the test fails), never a skip.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import pickle
import re
import shutil
import subprocess
import tempfile
import threading
import tomllib
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import kubernetes_validate
import yaml

import forkserver
from kubernetes_validate.utils import SchemaNotFoundError
from kubernetes_validate.utils import ValidationError as K8sValidationError

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Kubernetes version objects are validated for and charts render against: the clusters' (the
# presets'), so that a preset moving to a newer version moves the checks with it.
KUBERNETES_VERSION = tomllib.loads((REPO_ROOT / "presets" / "production.toml").read_text(encoding="utf-8"))["cluster"]["version"] + ".0"
IN_CLUSTER = "https://kubernetes.default.svc"
ARGOCD_NAMESPACE = "argocd"
ZONE_KEY = "topology.kubernetes.io/zone"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
WORKERS = max(2, os.cpu_count() or 2)

# The kinds an environment's AppProject lets its Applications create: exactly these.
APPLICATION_KINDS = frozenset(
    {
        ("apps", "Deployment"),
        ("", "Service"),
        ("networking.k8s.io", "Ingress"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("", "ConfigMap"),
        ("", "ServiceAccount"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("batch", "CronJob"),
        ("batch", "Job"),
        ("", "PersistentVolumeClaim"),
        ("external-secrets.io", "ExternalSecret"),
    }
)

SERVICE_MONITOR = ("monitoring.coreos.com", "ServiceMonitor")
PLATFORM_ROOT = "platform"  # the root Application of the platform services


def platform_settings(answers_: Mapping) -> Mapping:
    """`[settings.platform]` of strata.toml; absent (older answers) means every service off."""
    return (answers_.get("settings") or {}).get("platform") or {}


def monitoring_on(answers_: Mapping) -> bool:
    return bool((platform_settings(answers_).get("monitoring") or {}).get("enabled"))


def logging_on(answers_: Mapping) -> bool:
    return bool((platform_settings(answers_).get("logging") or {}).get("enabled"))


# Helm charts the foundation must install: chart name -> the `addons` config key of its version.
ADDON_CHARTS = {
    "aws-load-balancer-controller": "awsLoadBalancerController",
    "cluster-autoscaler": "clusterAutoscaler",
    "metrics-server": "metricsServer",
    "external-dns": "externalDns",
    "argo-cd": "argocd",
    "external-secrets": "externalSecrets",
}
# Add-ons that call AWS and so need an IRSA role trusted by their service account.
ADDON_IRSA_HINTS = ("aws-load-balancer-controller", "cluster-autoscaler", "external-dns", "ebs-csi")


def compute_of(config: Mapping) -> str:
    """A stack's `compute` (stack files written before the choice existed have none)."""
    return config.get("compute") or "node-groups"


def addon_charts(config: Mapping) -> dict[str, str]:
    """The charts a stack must install: Cluster Autoscaler with managed node groups alone, the
    Karpenter controller and its CRDs with `compute: karpenter`."""
    charts = dict(ADDON_CHARTS)
    if compute_of(config) != "node-groups":
        del charts["cluster-autoscaler"]
    if compute_of(config) == "auto-mode":  # EKS Auto Mode runs its own load balancer controller
        del charts["aws-load-balancer-controller"]
    if compute_of(config) == "karpenter":
        charts.update({"karpenter": "karpenter", "karpenter-crd": "karpenter"})
    return charts


def addon_role_hints(config: Mapping) -> tuple[str, ...]:
    """The add-ons of a stack that call AWS with a role of their own."""
    hints = tuple(h for h in ADDON_IRSA_HINTS if h != "cluster-autoscaler" or compute_of(config) == "node-groups")
    if compute_of(config) == "auto-mode":  # the load balancer and EBS controllers are Auto Mode's
        hints = tuple(h for h in hints if h not in ("aws-load-balancer-controller", "ebs-csi"))
    return hints + (("karpenter",) if compute_of(config) == "karpenter" else ())

# Application-layer kinds the foundation must never create (they belong to the gitops repo).
FOUNDATION_FORBIDDEN_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "CronJob",
     "Service", "Ingress", "HorizontalPodAutoscaler", "Secret"}
)
SHARED_CONFIG = ("kube-system", "cluster-shared-config")

# Volume types the `restricted` Pod Security Standard allows.
RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads a bare `=` (an enum value of the monitoring CRDs) as the `value` tag: a string here."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
_LOADER = _Loader
PINNED_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")


# --- tools --------------------------------------------------------------------------------------


def _tool(env: str, default: Path, what: str) -> Path:
    path = Path(os.environ.get(env) or default)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AssertionError(
            f"{what} not found: `{path}` is not an executable file "
            f"(set {env}, or run `scripts/install-test-tools.sh` / `cargo build`)"
        )
    return path


def strata_bin() -> Path:
    return _tool("STRATA_BIN", REPO_ROOT / "target" / "debug" / "strata", "the strata binary")


def kubectl() -> Path:
    return _tool("KUBECTL", REPO_ROOT / ".tools" / "bin" / "kubectl", "kubectl")


def checkov() -> Path:
    return _tool("CHECKOV", REPO_ROOT / ".tools" / "checkov-venv" / "bin" / "checkov", "checkov")


def venv_python() -> Path:
    return _tool("VENV_PYTHON", REPO_ROOT / ".tools" / "venv" / "bin" / "python", "the test venv's python")


def git() -> Path:
    found = shutil.which("git")
    if not found:
        raise AssertionError("git not found on PATH")
    return Path(found)


def shared_dir() -> Path:
    return Path(os.environ.get("STRATA_SHARED") or REPO_ROOT.parent / "shared")


def schemas_dir() -> Path:
    path = shared_dir() / "schemas"
    for sub in ("argocd", "external-secrets"):
        if not (path / sub).is_dir():
            raise AssertionError(
                f"CRD schemas not found: `{path / sub}` is not a directory "
                f"(set STRATA_SHARED to the directory that holds `schemas/`)"
            )
    return path


def run(command: list[str | Path], cwd: Path | None = None, timeout: float = 600,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; never raises on a non-zero exit."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env, check=False)


def _describe(done: subprocess.CompletedProcess, limit: int = 6000) -> str:
    out = (done.stdout or "")[-limit:]
    err = (done.stderr or "")[-limit:]
    return f"`{' '.join(done.args)}` exited {done.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"


def strata(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run `strata ARGS` in `cwd`; a non-zero exit is an AssertionError."""
    done = run([strata_bin(), *args], cwd=cwd, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"strata failed in `{cwd}`:\n{_describe(done)}")
    return done


# --- the answers file ---------------------------------------------------------------------------


def answers(repo: Path) -> dict:
    """`strata.toml` of a repo, parsed with tomllib."""
    path = repo / "strata.toml"
    if not path.is_file():
        raise AssertionError(f"`{path}` is missing")
    with path.open("rb") as handle:
        return tomllib.load(handle)


def environments(answers_: Mapping) -> dict[str, str]:
    """Environment name -> namespace, in the order of `strata.toml`."""
    return {env["name"]: env.get("namespace", env["name"]) for env in answers_.get("environments", [])}


def service_envs(answers_: Mapping) -> dict[str, list[str]]:
    """Service name -> the environments it is deployed to (`[services.<name>.envs]`)."""
    return {name: list((svc.get("envs") or {}).keys()) for name, svc in (answers_.get("services") or {}).items()}


def gitops_url(answers_: Mapping) -> str:
    return answers_["repos"]["gitops_url"]


# --- kustomize ----------------------------------------------------------------------------------

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_dirs(gitops: Path) -> list[str]:
    """Every directory of the repo holding a kustomization file, relative, sorted."""
    found = set()
    for name in KUSTOMIZATION_FILES:
        for path in gitops.rglob(name):
            if ".git" not in path.relative_to(gitops).parts:
                found.add(path.parent.relative_to(gitops).as_posix())
    return sorted(found)


# Successful builds by content: digest of the files the build can read and its dir -> output.
_KUSTOMIZE_CACHE: dict[str, Future] = {}
_KUSTOMIZE_LOCK = threading.Lock()
_RELATIVE_PATH = re.compile(r"""(?:^|[\s'"\[,:-])((?:\.\./)+[^\s'",\]]*)""")


def _build_inputs(directory: Path) -> str | None:
    """A digest of every file `kubectl kustomize DIR` can read, or None when that is not known.

    kustomize reads the files under a kustomization's directory and, through relative paths
    (`../base`), the directories it names: those are followed, recursively. A kustomization
    that names a remote base or a path outside its repo is never cached."""
    repo = next((p for p in (directory, *directory.parents) if (p / ".git").exists()), None)
    if repo is None:
        return None
    repo = repo.resolve()
    files: set[Path] = set()
    todo, seen = [directory.resolve()], set()
    while todo:
        top = todo.pop()
        if top in seen:
            continue
        seen.add(top)
        for path in top.rglob("*"):
            if ".git" in path.relative_to(repo).parts or not path.is_file():
                continue
            files.add(path)
            if path.name not in KUSTOMIZATION_FILES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if "://" in text:
                return None
            for match in _RELATIVE_PATH.finditer(text):
                target = (path.parent / match.group(1)).resolve()
                if not target.is_relative_to(repo):
                    return None
                if target.is_dir():
                    todo.append(target)
                elif target.is_file():
                    files.add(target)
    digest = hashlib.sha256(b"build:" + directory.resolve().relative_to(repo).as_posix().encode())
    for path in sorted(files):
        digest.update(b"\0" + path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def kustomize_build(directory: Path) -> list[dict]:
    """`kubectl kustomize DIR`, parsed; an AssertionError if it fails.

    A build of the same files (a copy, a growth step that left a service alone) runs once; a
    caller asking while it runs waits for it. Failures are not kept: each caller sees its own."""
    key = _build_inputs(directory)
    with _KUSTOMIZE_LOCK:
        future = _KUSTOMIZE_CACHE.get(key) if key else None
        owner = future is None
        if owner:
            future = Future()
            if key:
                _KUSTOMIZE_CACHE[key] = future
    if owner:
        done = run([kubectl(), "kustomize", directory], timeout=120)
        if done.returncode != 0:
            with _KUSTOMIZE_LOCK:
                _KUSTOMIZE_CACHE.pop(key, None)
            future.set_result(None)
            raise AssertionError(f"`kubectl kustomize {directory}` failed:\n{done.stderr.strip()}")
        future.set_result(pickle.dumps([doc for doc in yaml.load_all(done.stdout, Loader=_LOADER) if doc is not None]))
    output = future.result()
    if output is None:  # the build this one waited for failed: run it for this caller
        return kustomize_build(directory)
    return pickle.loads(output)  # a fresh copy for each caller


def kustomize_builds(gitops: Path) -> dict[str, list[dict]]:
    """Build every kustomization of the gitops repo; returns relative dir -> objects.

    Every failure is reported at once. An empty build is a failure too (a kustomization that
    renders nothing is a mistake here), except `apps/<env>` of an environment without services
    (its AppProject is the foundation's, so nothing else is there).
    """
    kubectl()  # fail early and clearly when kubectl is missing
    dirs = kustomization_dirs(gitops)
    if not dirs:
        raise AssertionError(f"no kustomization.yaml in `{gitops}`")
    builds: dict[str, list[dict]] = {}
    problems: list[str] = []

    def build(rel: str) -> tuple[str, list[dict] | None, str | None]:
        try:
            return rel, kustomize_build(gitops / rel), None
        except AssertionError as error:
            return rel, None, str(error)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for rel, objects, error in pool.map(build, dirs):
            if error:
                problems.append(error)
            elif not objects and not re.fullmatch(r"apps/[^/]+", rel):
                problems.append(f"`{rel}` builds to nothing")
            else:
                for obj in objects:
                    if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
                        problems.append(f"`{rel}` builds a document that is not a Kubernetes object: {obj!r:.200}")
                builds[rel] = objects
    if problems:
        raise AssertionError(f"{len(problems)} kustomization(s) of `{gitops}` do not build:\n" + "\n".join(problems))
    return builds


# --- schemas ------------------------------------------------------------------------------------

# (group, kind) -> CRD file under the shared directory (a file may hold several CRDs)
CRD_FILES = {
    ("argoproj.io", "Application"): "schemas/argocd/application-crd.yaml",
    ("argoproj.io", "AppProject"): "schemas/argocd/appproject-crd.yaml",
    ("argoproj.io", "ApplicationSet"): "schemas/argocd/applicationset-crd.yaml",
    ("external-secrets.io", "ExternalSecret"): "schemas/external-secrets/external-secrets.io_externalsecrets.yaml",
    ("external-secrets.io", "SecretStore"): "schemas/external-secrets/external-secrets.io_secretstores.yaml",
    ("external-secrets.io", "ClusterSecretStore"): "schemas/external-secrets/external-secrets.io_clustersecretstores.yaml",
    # Karpenter's, at the version the foundation pins (addons.karpenter.chartVersion)
    ("karpenter.sh", "NodePool"): "schemas/karpenter/karpenter.sh_nodepools.yaml",
    ("karpenter.k8s.aws", "EC2NodeClass"): "schemas/karpenter/karpenter.k8s.aws_ec2nodeclasses.yaml",
    # the chart the foundation pins (addons.awsLoadBalancerController.chartVersion)
    ("elbv2.k8s.aws", "IngressClassParams"): "charts/aws-load-balancer-controller-3.5.0/crds/crds.yaml",
    # The monitoring CRDs of the kube-prometheus-stack the gitops repo pins, vendored in this repo.
    **{
        ("monitoring.coreos.com", kind): REPO_ROOT / "tests" / "charts" / "kube-prometheus-stack-88.5.3" / "charts"
        / "crds" / "crds" / f"crd-{plural}.yaml"
        for kind, plural in (("ServiceMonitor", "servicemonitors"), ("PodMonitor", "podmonitors"),
                             ("PrometheusRule", "prometheusrules"), ("Prometheus", "prometheuses"),
                             ("Alertmanager", "alertmanagers"))
    },
}


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def openapi_to_jsonschema(node: Any) -> Any:
    """A CRD's structural `openAPIV3Schema` as a strict JSON schema.

    - `x-kubernetes-int-or-string` becomes `anyOf: [integer, string]`;
    - `nullable: true` adds `null` to the type;
    - an object with `properties` and neither `additionalProperties` nor
      `x-kubernetes-preserve-unknown-fields` rejects unknown fields (what the API server's
      strict field validation does), so a misspelt or misplaced field fails;
    - other `x-kubernetes-*` extensions (list types, CEL validations, embedded resources)
      and `format` are not checked.
    """
    if isinstance(node, list):
        return [openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: openapi_to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = openapi_to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [openapi_to_jsonschema(sub) for sub in value]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format", "description", "example"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=None)
def _crd_validators(group: str, kind: str) -> dict[str, jsonschema.protocols.Validator]:
    """Served version -> a validator of that version's schema."""
    schemas_dir()  # a clear failure when the shared directory is missing
    path = shared_dir() / CRD_FILES[(group, kind)]  # an absolute path (this repo's) stays as it is
    if not path.is_file():
        raise AssertionError(f"the CRD of {group}/{kind} is missing: `{path}` (set STRATA_SHARED)")
    with path.open(encoding="utf-8") as handle:
        crds = [d for d in yaml.load_all(handle, Loader=_LOADER)
                if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
                and d["spec"]["group"] == group and d["spec"]["names"]["kind"] == kind]
    assert len(crds) == 1, f"`{path}` does not hold the CRD of {group}/{kind}"
    crd = crds[0]
    validators = {}
    for version in crd["spec"]["versions"]:
        if version.get("served"):
            schema = openapi_to_jsonschema(version["schema"]["openAPIV3Schema"])
            validators[version["name"]] = jsonschema.Draft4Validator(schema)
    return validators


def normalize_numbers(value: Any) -> Any:
    """Integral floats (Pulumi's mocks turn every number into a float) back into ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [normalize_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize_numbers(v) for k, v in value.items()}
    return value


def _label(obj: Mapping) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('apiVersion')} {obj.get('kind')} {(ns + '/') if ns else ''}{meta.get('name')}"


# kubernetes_validate reads and parses its JSON schema files again at every call (most of a
# validation's time): the same files, read once.
kubernetes_validate.utils.schema_contents = lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
# Validation is a pure function of the object: the same object (a chart's CRD in every stack, a
# service left alone by a growth step) is validated once.
_PROBLEMS: dict[str, list[str]] = {}
_PROBLEMS_LOCK = threading.Lock()


def object_problems(obj: Mapping) -> list[str]:
    """Schema problems of one object (empty if it validates)."""
    key = hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()
    with _PROBLEMS_LOCK:
        known = _PROBLEMS.get(key)
    if known is None:
        known = _object_problems(obj)
        with _PROBLEMS_LOCK:
            _PROBLEMS[key] = known
    return list(known)


# EKS Auto Mode's switch that makes it enforce NetworkPolicies (EKS User Guide, auto-net-pol).
AUTO_MODE_NETWORK_POLICY = ("kube-system", "amazon-vpc-cni")


def _object_problems(obj: Mapping) -> list[str]:
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    group, version = _group_version(api_version)
    problems: list[str] = []
    if (api_version, kind) == ("eks.amazonaws.com/v1", "IngressClassParams"):
        # No CRD schema of EKS Auto Mode is published: `auto_mode_objects` checks its fields
        # against the EKS User Guide instead; its metadata is checked as the API server would.
        carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata") or {}}
        try:
            kubernetes_validate.validate(carrier, KUBERNETES_VERSION, strict=True)
        except K8sValidationError as error:
            problems.append(f"/metadata: {error.message}")
        spec = obj.get("spec") or {}
        if not isinstance(spec, Mapping) or not spec.get("scheme"):
            problems.append("/spec: no scheme")
        return problems
    if (group, kind) in CRD_FILES:
        validators = _crd_validators(group, kind)
        if version not in validators:
            return [f"{kind} version `{version}` is not served by its CRD (served: {sorted(validators)})"]
        for error in sorted(validators[version].iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = "/" + "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{path}: {error.message}")
        # The CRD schema says only `metadata: {type: object}`; check it as the API server would.
        carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata") or {}}
        try:
            kubernetes_validate.validate(carrier, KUBERNETES_VERSION, strict=True)
        except K8sValidationError as error:
            problems.append(f"/metadata/{'/'.join(str(p) for p in error.absolute_path).removeprefix('metadata/')}: {error.message}")
        return problems
    try:
        kubernetes_validate.validate(dict(obj), KUBERNETES_VERSION, strict=True)
    except SchemaNotFoundError as error:
        problems.append(f"no schema: {error.message} (an unknown kind, or a CRD this suite has no schema for)")
    except K8sValidationError as error:
        problems.append(f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}")
    return problems


def validate_objects(objects: Mapping[str, Iterable[Mapping]] | Iterable[Mapping]) -> int:
    """Validate every object: core kinds with kubernetes_validate (strict), CRDs against their schema.

    `objects` is either the result of `kustomize_builds` (source -> objects) or a plain list.
    Returns the number of objects validated.
    """
    sources = objects.items() if isinstance(objects, Mapping) else [("<objects>", objects)]
    problems: list[str] = []
    count = 0
    for source, objs in sources:
        for obj in objs:
            count += 1
            for problem in object_problems(obj):
                problems.append(f"{source}: {_label(obj)}: {problem}")
    if problems:
        raise AssertionError(f"{len(problems)} schema problem(s):\n" + "\n".join(problems))
    return count


# --- Argo CD Applications -----------------------------------------------------------------------


def _of_kind(objs: Iterable[Mapping], kind: str) -> list[Mapping]:
    return [o for o in objs if o.get("kind") == kind]


def _name(obj: Mapping) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _service_deployments(objs: list[dict], svc: str) -> list[dict]:
    """The Deployment of service `svc` in a build: the one of its name, or one that kept the
    name Pulumi gave it (`strata migrate` adopts it in place, issue 21) and carries strata's
    `app.kubernetes.io/name: <svc>`."""
    deployments = _of_kind(objs, "Deployment")
    named = [d for d in deployments if _name(d) == svc]
    if named:
        return named
    return [d for d in deployments
            if ((d.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name") == svc]


def _namespace(obj: Mapping) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


def _sources(app: Mapping) -> list[Mapping]:
    spec = app.get("spec") or {}
    if spec.get("sources"):
        return list(spec["sources"])
    return [spec.get("source") or {}]


def applications(builds: Mapping[str, list[dict]]) -> list[tuple[str, dict]]:
    """(build dir, Application) for every Application of an environment's app-of-apps (`apps/<env>`).

    The platform services' Applications (`platform/<stack>/apps`) are checked by
    `platform_applications`: their charts come from Helm repositories, not from this repo."""
    return [(rel, app) for rel, objs in builds.items() if rel.startswith("apps/")
            for app in _of_kind(objs, "Application")]


def retry_problems(spec: Mapping) -> list[str]:
    """An automated Application retries a failed sync without a limit, backing off exponentially:
    Argo CD never retries the same commit once the retries are spent, so an Application that
    synced before the CRDs or namespaces it needs existed would stay failed (issue 19)."""
    retry = (spec.get("syncPolicy") or {}).get("retry") or {}
    backoff = retry.get("backoff") or {}
    problems = []
    if int(retry.get("limit", 0)) >= 0:
        problems.append(f"`syncPolicy.retry` {retry} gives up after {retry.get('limit', 0)} attempts: "
                        "a sync that meets missing CRDs or namespaces stays failed (`limit: -1` retries for ever)")
    elif retry.get("refresh") is not True:
        problems.append(f"`syncPolicy.retry` {retry} retries for ever without `refresh: true`: each retry "
                        "reuses the failed commit, so a fix merged meanwhile is never synced")
    if not backoff.get("duration") or int(backoff.get("factor") or 0) < 2 or not backoff.get("maxDuration"):
        problems.append(f"`syncPolicy.retry.backoff` {backoff} is not an exponential backoff with a ceiling")
    return problems


def applications_resolve(gitops: Path, builds: Mapping[str, list[dict]] | None = None,
                         runs: Mapping[str, "StackRun"] | None = None) -> list[dict]:
    """Every Application's source is this repo (`repos.gitops_url`) at an existing, buildable path,
    at `repos.revision`, in an AppProject that the foundation creates in the cluster hosting the
    environment and that allows its source and destination. The gitops repo carries no
    AppProject: projects are the platform's boundary, not the applications'."""
    ans = answers(gitops)
    url, revision = gitops_url(ans), ans["repos"].get("revision", "main")
    builds = builds if builds is not None else kustomize_builds(gitops)
    runs = runs if runs is not None else harness_runs(foundation_of(gitops))
    cluster_projects = environment_projects(runs)
    apps = applications(builds)
    problems: list[str] = []
    for rel, objs in builds.items():
        for project in _of_kind(objs, "AppProject"):
            problems.append(f"{rel}: carries AppProject `{_name(project)}`: AppProjects belong to the foundation "
                            "(whoever merges into the gitops repo could widen them)")
    for rel, app in apps:
        label = f"{rel}: Application `{_name(app)}`"
        for source in _sources(app):
            if source.get("repoURL") != url:
                problems.append(f"{label}: repoURL `{source.get('repoURL')}` is not `{url}` (strata.toml repos.gitops_url)")
            if source.get("targetRevision", "HEAD") != revision:
                problems.append(f"{label}: targetRevision `{source.get('targetRevision')}` is not `{revision}`")
            path = source.get("path")
            if not path:
                problems.append(f"{label}: no source path")
                continue
            target = gitops / path
            if not target.is_dir():
                problems.append(f"{label}: source path `{path}` does not exist in `{gitops}`")
            elif path not in builds:
                problems.append(f"{label}: source path `{path}` holds no kustomization.yaml")
        problems.extend(f"{label}: {x}" for x in retry_problems(app.get("spec") or {}))
        project_name = (app.get("spec") or {}).get("project")
        env = rel.split("/")[1] if rel.startswith("apps/") else None
        project = cluster_projects.get(env, {}).get(project_name)
        if project is None:
            problems.append(f"{label}: its project `{project_name}` is not an AppProject the foundation creates "
                            f"in the cluster of `{env}` ({sorted(cluster_projects.get(env, {}))})")
            continue
        destination = (app.get("spec") or {}).get("destination") or {}
        allowed = [
            d for d in project.get("destinations") or []
            if d.get("namespace") == destination.get("namespace")
            and (d.get("server") == destination.get("server") or d.get("name") == destination.get("name"))
        ]
        if not allowed:
            problems.append(f"{label}: destination {destination} is not allowed by project `{project_name}`")
        if url not in (project.get("sourceRepos") or []):
            problems.append(f"{label}: project `{project_name}` does not allow source `{url}`")
    if problems:
        raise AssertionError(f"{len(problems)} Application problem(s) in `{gitops}`:\n" + "\n".join(problems))
    return [app for _, app in apps]


# --- the foundation's harness -------------------------------------------------------------------


# The account the harness's mocks run a stack in, unless the stack has one of its own (`account`).
MOCK_ACCOUNT = "123456789012"


@dataclass
class StackRun:
    """What the foundation's harness recorded for one stack."""

    stack: str
    resources: list[dict]
    outputs: dict[str, dict]
    config: dict[str, Any] = field(default_factory=dict)  # project config, namespace stripped

    def of_type(self, token: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == token]

    def kubernetes_objects(self, kind: str | None = None) -> list[dict]:
        """Kubernetes objects (not Helm releases, patches or providers) as manifests."""
        found = []
        for r in self.resources:
            parsed = _kubernetes_type(r["type"])
            if not parsed or (kind and parsed[1] != kind):
                continue
            obj = normalize_numbers(dict(r["inputs"]))
            obj.setdefault("apiVersion", parsed[0])
            obj.setdefault("kind", parsed[1])
            found.append(obj)
        return found


def _kubernetes_type(token: str) -> tuple[str, str] | None:
    """`kubernetes:core/v1:Namespace` -> ("v1", "Namespace"); None for non-objects."""
    match = re.fullmatch(r"kubernetes:([^/]+)/([^:]+):(\w+)", token)
    if not match:
        return None
    group, version, kind = match.groups()
    if group in ("helm.sh", "yaml", "kustomize") or kind.endswith("Patch") or kind.endswith("List"):
        return None
    return (version if group == "core" else f"{group}/{version}"), kind


def accounts_of_their_own(foundation: Path, runs: Mapping[str, StackRun], answers_: Mapping) -> dict[str, str]:
    """Issue 22: environments in AWS accounts of their own (`strata new --account`). Each stack
    runs with the AWS profile of its account's deployer role (README, never `aws:assumeRoles`)
    and its provider may touch no other account (`aws:allowedAccountIds`); the program ran in that account (every ARN the mocks made names
    it); the stack creates its account's GitHub OIDC provider and its CI roles; its hosted zone is
    the environment's delegated subdomain, which External DNS, ACM and the delegation check use;
    its state is in its account's bucket; the workflows assume the stack's account's roles.
    Returns stack -> account."""
    project = answers_["project"]
    domain = answers_["domain"]
    accounts = {e["name"]: e["account"] for e in answers_["environments"]}
    deploy = (foundation / ".github/workflows/deploy.yml").read_text(encoding="utf-8")
    preview = yaml.safe_load((foundation / ".github/workflows/pull-request.yml").read_text(encoding="utf-8"))
    included = {i["stack"]: i for job in preview["jobs"].values()
                for i in (((job.get("strategy") or {}).get("matrix") or {}).get("include") or [])}
    problems = []
    for stack, r in runs.items():
        account = accounts[stack]
        config = yaml.safe_load((foundation / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
        if config.get("aws:allowedAccountIds") != [account]:
            problems.append(f"{stack}: aws:allowedAccountIds is {config.get('aws:allowedAccountIds')}, not [{account}]")
        # The deployer role is the AWS profile's (README), never the stack file's: pulumi-eks's
        # kubeconfig, the state bucket and the secrets key would not follow `aws:assumeRoles`.
        if "aws:assumeRoles" in config:
            problems.append(f"{stack}: the stack file assumes {config['aws:assumeRoles']}")
        readme = (foundation / "README.md").read_text(encoding="utf-8")
        if f"role_arn = arn:aws:iam::{account}:role/{project}-deployer" not in readme:
            problems.append(f"{stack}: the README has no profile for the deployer role of account {account}")
        if r.config.get("account") != account:
            problems.append(f"{stack}: `account` is {r.config.get('account')}")
        zone = f"{stack}.{domain}"
        if r.config.get("dnsZone") != zone:
            problems.append(f"{stack}: `dnsZone` is {r.config.get('dnsZone')}, not {zone}")
        foreign = sorted({m for res in r.resources for m in re.findall(r"arn:aws:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):",
                                                                          json.dumps(res["inputs"]))} - {account})
        if foreign:
            problems.append(f"{stack}: resources name other accounts {foreign}")
        if len(r.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")) != 1:
            problems.append(f"{stack}: creates no GitHub OIDC provider in account {account}")
        ci_roles = sorted(x["inputs"]["name"] for x in r.of_type("aws:iam/role:Role") if x["name"] in ("ci-deploy", "ci-preview"))
        if ci_roles != [f"{project}-{stack}-ci-deploy", f"{project}-{stack}-ci-preview"]:
            problems.append(f"{stack}: CI roles {ci_roles}")
        (ci,) = [x for x in r.resources if x["type"] == "aws:iam/role:Role" and x["name"] == "ci-deploy"]
        if f"arn:aws:iam::{account}:oidc-provider/" not in ci["inputs"]["assumeRolePolicy"]:
            problems.append(f"{stack}: the deploy role trusts another account's OIDC provider")
        state = (r.config.get("ci") or {}).get("stateBucket")
        if state and not state.endswith(f"-{account}"):
            problems.append(f"{stack}: state bucket `{state}` is not account {account}'s")
        filters = [x["inputs"]["values"].get("domainFilters") for x in r.resources
                   if x["type"] == "kubernetes:helm.sh/v3:Release" and x["inputs"].get("chart") == "external-dns"]
        if filters != [[zone]]:
            problems.append(f"{stack}: External DNS manages {filters}, not [{zone}]")
        for cert in r.of_type("aws:acm/certificate:Certificate"):
            names = [cert["inputs"]["domainName"], *(cert["inputs"].get("subjectAlternativeNames") or [])]
            if any(not n.endswith("." + zone) for n in names):
                problems.append(f"{stack}: certificate names {names} outside {zone}")
        for record in r.of_type("aws:route53/record:Record"):
            if not record["inputs"]["name"].rstrip(".").endswith("." + zone):
                problems.append(f"{stack}: record {record['inputs']['name']} outside {zone}")
        if f"role-to-assume: arn:aws:iam::{account}:role/{project}-{stack}-ci-deploy" not in deploy:
            problems.append(f"{stack}: the deploy job does not assume account {account}'s role")
        if (included.get(stack) or {}).get("account") != account:
            problems.append(f"{stack}: the preview matrix names account {(included.get(stack) or {}).get('account')}")
    if problems:
        raise AssertionError(f"{len(problems)} account problem(s) in `{foundation}`:\n" + "\n".join(problems))
    return {stack: accounts[stack] for stack in runs}


def stacks(foundation: Path) -> list[str]:
    """The stacks of the foundation: one per `Pulumi.<stack>.yaml`."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in foundation.glob("Pulumi.*.yaml"))


def _stack_config(foundation: Path, stack: str) -> dict[str, Any]:
    with (foundation / "Pulumi.yaml").open(encoding="utf-8") as handle:
        project = yaml.safe_load(handle)["name"]
    with (foundation / f"Pulumi.{stack}.yaml").open(encoding="utf-8") as handle:
        config = (yaml.safe_load(handle) or {}).get("config") or {}
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(project + ":")} | {
        k: v for k, v in config.items() if ":" in k and not k.startswith(project + ":")
    }


IGNORED_PARTS = frozenset({".git", "__pycache__", ".pytest_cache", "venv", ".venv"})
NOT_READ_BY_THE_PROGRAM = frozenset({"strata.toml", "strata.lock", "README.md"})


def _stack_digest(foundation: Path, stack: str) -> str:
    """A digest of what the program reads for `stack`: every file but the other stacks' config,
    the answers file, the lock and the README (so a change elsewhere reuses a cached run)."""
    digest = hashlib.sha256()
    for path in sorted(foundation.rglob("*")):
        rel = path.relative_to(foundation)
        if not path.is_file() or IGNORED_PARTS & set(rel.parts) or rel.as_posix() in NOT_READ_BY_THE_PROGRAM:
            continue
        if re.fullmatch(r"Pulumi\.[^/]+\.yaml", rel.as_posix()) and rel.name != f"Pulumi.{stack}.yaml":
            continue
        digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# The session's fork servers (see forkserver.py): the Pulumi harness, checkov and parliament
# import themselves once; each run is a process forked from there.
SERVERS = forkserver.Servers()
_RUNS = forkserver.Once()
# The SDK modules the harness's server imports once: those the generated harness imports itself
# before it forks (its `SDK_MODULES`).
_HARNESS_TEMPLATE = REPO_ROOT / "templates" / "packs" / "pulumi-python" / "tests" / "harness.py"


_SDK_MODULES_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _sdk_modules() -> list[str]:
    import ast

    with _SDK_MODULES_LOCK:  # CPython 3.11's parser is not safe in several threads at once
        tree = ast.parse(_HARNESS_TEMPLATE.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SDK_MODULES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"`{_HARNESS_TEMPLATE}` names no SDK_MODULES")


def run_harness(foundation: Path, stack: str) -> StackRun:
    """`python -m tests.harness <stack> --json OUT --outputs OUT` in the foundation, from the
    session's fork server; cached by content (the same program and configuration run once,
    whatever their path)."""
    key = (stack, _stack_digest(foundation, stack))
    return _RUNS.get(key, lambda: _run_harness(foundation, stack))


def _run_harness(foundation: Path, stack: str) -> StackRun:
    server = SERVERS.get("the Pulumi harness", venv_python(), _sdk_modules(), WORKERS)
    with tempfile.TemporaryDirectory(prefix="strata-harness-") as scratch:
        resources_path, outputs_path = Path(scratch) / "resources.json", Path(scratch) / "outputs.json"
        done = server.run([stack, "--json", resources_path, "--outputs", outputs_path], foundation.resolve(),
                          module="tests.harness", fresh=("tests",))
        if done.returncode != 0:
            raise AssertionError(f"the foundation harness failed for stack `{stack}` of `{foundation}`:\n{_describe(done)}")
        config = _stack_config(foundation, stack)
        resources = json.loads(resources_path.read_text(encoding="utf-8"))
        for resource in resources:  # the account the mocks ran the stack in (`account`, issue 22)
            resource["account"] = config.get("account") or MOCK_ACCOUNT
        return StackRun(
            stack=stack,
            resources=resources,
            outputs=json.loads(outputs_path.read_text(encoding="utf-8")),
            config=config,
        )


def harness_runs(foundation: Path) -> dict[str, StackRun]:
    """Run the harness for every stack (in parallel, each in its own process); stack -> run."""
    names = stacks(foundation)
    if not names:
        raise AssertionError(f"`{foundation}` has no `Pulumi.<stack>.yaml`")
    results: dict[str, StackRun] = {}
    problems: list[str] = []

    def one(stack: str) -> tuple[str, StackRun | None, str | None]:
        try:
            return stack, run_harness(foundation, stack), None
        except AssertionError as error:
            return stack, None, str(error)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for stack, result, error in pool.map(one, names):
            if error:
                problems.append(error)
            else:
                results[stack] = result
    if problems:
        raise AssertionError("\n".join(problems))
    return results


# --- topology -----------------------------------------------------------------------------------


def stacks_match_environments(foundation: Path) -> dict[str, list[str]]:
    """Stacks follow the topology: one `shared` stack hosting every environment, or one stack per
    environment hosting exactly that environment. Returns stack -> environments it hosts."""
    ans = answers(foundation)
    envs = list(environments(ans))
    topology = ans.get("settings", {}).get("network", {}).get("topology")
    hosted = {}
    for stack in stacks(foundation):
        config = _stack_config(foundation, stack)
        hosted[stack] = [e["name"] for e in config.get("environments") or []]
    problems = []
    if topology == "per-environment":
        if sorted(hosted) != sorted(envs):
            problems.append(f"stacks {sorted(hosted)} are not one per environment {envs}")
        for stack, hosted_envs in hosted.items():
            if hosted_envs != [stack]:
                problems.append(f"`Pulumi.{stack}.yaml` hosts environments {hosted_envs}, expected [{stack!r}]")
    elif topology == "shared":
        if len(hosted) != 1:
            problems.append(f"a shared topology needs one stack, found {sorted(hosted)}")
        for stack, hosted_envs in hosted.items():
            if hosted_envs != envs:
                problems.append(f"`Pulumi.{stack}.yaml` hosts environments {hosted_envs}, expected {envs}")
    else:
        problems.append(f"unknown topology `{topology}` in strata.toml")
    if problems:
        raise AssertionError(f"stacks of `{foundation}`:\n" + "\n".join(problems))
    return hosted


# --- reachability -------------------------------------------------------------------------------


def _is_namespaced(obj: Mapping) -> bool:
    return obj.get("kind") not in {
        "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
        "StorageClass", "IngressClass", "IngressClassParams", "PersistentVolume", "ClusterSecretStore",
        "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService", "ClusterIssuer",
    }


def _allowed_kinds(project_spec: Mapping) -> set[tuple[str, str]]:
    return {(k.get("group") or "", k.get("kind")) for k in project_spec.get("namespaceResourceWhitelist") or []}


def _would_sync(objs: Iterable[Mapping], project_name: str, project_spec: Mapping, namespace: str) -> list[str]:
    """What Argo CD would refuse to sync into `namespace` under the project."""
    problems = []
    allowed = _allowed_kinds(project_spec)
    cluster_allowed = {(k.get("group") or "", k.get("kind")) for k in project_spec.get("clusterResourceWhitelist") or []}
    for obj in objs:
        group, _ = _group_version(obj.get("apiVersion", ""))
        gk = (group, obj.get("kind"))
        if not _is_namespaced(obj):
            if gk not in cluster_allowed and ("*", "*") not in cluster_allowed:
                problems.append(f"{_label(obj)} is cluster-scoped and project `{project_name}` allows none")
            continue
        if project_spec.get("namespaceResourceWhitelist") is not None and gk not in allowed:
            problems.append(f"{_label(obj)}: kind {group or 'core'}/{gk[1]} is not in project `{project_name}`'s namespaceResourceWhitelist")
        ns = _namespace(obj) or namespace
        if ns != namespace:
            problems.append(f"{_label(obj)} is in namespace `{ns}`, but the Application deploys to `{namespace}`")
    return problems


def reachability(foundation: Path, gitops: Path, runs: Mapping[str, StackRun] | None = None,
                 builds: Mapping[str, list[dict]] | None = None) -> dict[str, dict[str, str]]:
    """Follow Argo CD from the foundation's root Applications down to each service's Deployment.

    For every environment of strata.toml: exactly one root Application (over all stacks) syncs
    `apps/<env>` of the gitops repo; the stack that makes it also makes the environment's
    namespace and the root AppProject, which allows the repo, the argocd namespace and every
    object of `apps/<env>`; `apps/<env>` yields exactly one Application per service of the
    environment, each syncing `services/<svc>/overlays/<env>` into the environment namespace,
    whose build holds a Deployment `<svc>` in that namespace and only objects the environment's
    AppProject allows. Returns env -> {service: stack hosting it}.
    """
    ans = answers(gitops)
    if answers(foundation) != ans:
        raise AssertionError(f"strata.toml of `{foundation}` and `{gitops}` differ")
    url, revision = gitops_url(ans), ans["repos"].get("revision", "main")
    envs = environments(ans)
    svc_envs = service_envs(ans)
    runs = runs if runs is not None else harness_runs(foundation)
    builds = builds if builds is not None else kustomize_builds(gitops)
    problems: list[str] = []

    # root Applications, by the path they sync
    roots: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for stack, stack_run in runs.items():
        for app in stack_run.kubernetes_objects("Application"):
            if _name(app) == PLATFORM_ROOT:
                continue  # the platform services' root: `platform_reachability`
            for source in _sources(app):
                roots[source.get("path", "")].append((stack, app))
    expected_paths = {f"apps/{env}" for env in envs}
    for path in sorted(set(roots) - expected_paths):
        names = [f"{s}:{_name(a)}" for s, a in roots[path]]
        problems.append(f"root Application(s) {names} sync `{path}`, which is not an environment of strata.toml")

    reached: dict[str, dict[str, str]] = {}
    for env, namespace in envs.items():
        path = f"apps/{env}"
        found = roots.get(path, [])
        if len(found) != 1:
            problems.append(f"environment `{env}`: expected one root Application syncing `{path}`, found "
                            f"{[f'{s}:{_name(a)}' for s, a in found]}")
            continue
        stack, root = found[0]
        label = f"stack `{stack}` root Application `{_name(root)}`"
        source = _sources(root)[0]
        if source.get("repoURL") != url:
            problems.append(f"{label}: repoURL `{source.get('repoURL')}` is not `{url}`")
        if source.get("targetRevision", "HEAD") != revision:
            problems.append(f"{label}: targetRevision `{source.get('targetRevision')}` is not `{revision}`")
        destination = root["spec"].get("destination") or {}
        if destination.get("namespace") != ARGOCD_NAMESPACE or destination.get("server") != IN_CLUSTER:
            problems.append(f"{label}: destination {destination} is not the in-cluster `{ARGOCD_NAMESPACE}` namespace")
        if _namespace(root) != ARGOCD_NAMESPACE:
            problems.append(f"{label} is in namespace `{_namespace(root)}`, not `{ARGOCD_NAMESPACE}`")
        stack_run = runs[stack]
        namespaces = {_name(n) for n in stack_run.kubernetes_objects("Namespace")}
        if namespace not in namespaces:
            problems.append(f"environment `{env}`: stack `{stack}` hosts its root Application but creates no "
                            f"Namespace `{namespace}` (it creates {sorted(namespaces)})")
        root_projects = [p for p in stack_run.kubernetes_objects("AppProject") if _name(p) == root["spec"].get("project")]
        if len(root_projects) != 1:
            problems.append(f"{label}: its project `{root['spec'].get('project')}` is not created by stack `{stack}`")
            root_project = None
        else:
            root_project = root_projects[0]["spec"]
            if url not in (root_project.get("sourceRepos") or []):
                problems.append(f"{label}: root project does not allow source `{url}`")
            if not any(d.get("namespace") == ARGOCD_NAMESPACE for d in root_project.get("destinations") or []):
                problems.append(f"{label}: root project does not allow destination namespace `{ARGOCD_NAMESPACE}`")
        if path not in builds:
            problems.append(f"environment `{env}`: `{path}` has no kustomization (the root Application syncs nothing)")
            continue
        if root_project is not None:
            problems += [f"{path}: {p}" for p in _would_sync(builds[path], _name(root_projects[0]), root_project, ARGOCD_NAMESPACE)]

        # the environment's Applications
        children: dict[str, list[dict]] = defaultdict(list)
        for app in _of_kind(builds[path], "Application"):
            for child_source in _sources(app):
                children[child_source.get("path", "")].append(app)
        wanted = {f"services/{svc}/overlays/{env}": svc for svc, svc_env in svc_envs.items() if env in svc_env}
        for child_path in sorted(set(children) - set(wanted)):
            problems.append(f"{path}: Application(s) {[_name(a) for a in children[child_path]]} sync `{child_path}`, "
                            f"which is not a service of `{env}` in strata.toml")
        projects = {_name(p): p.get("spec") or {} for p in stack_run.kubernetes_objects("AppProject")}
        reached[env] = {}
        for child_path, svc in sorted(wanted.items()):
            apps = children.get(child_path, [])
            if len(apps) != 1:
                problems.append(f"{path}: expected one Application syncing `{child_path}` (service `{svc}`), "
                                f"found {[_name(a) for a in apps]}")
                continue
            app = apps[0]
            app_label = f"{path}: Application `{_name(app)}`"
            destination = app["spec"].get("destination") or {}
            if destination.get("namespace") != namespace or destination.get("server") != IN_CLUSTER:
                problems.append(f"{app_label}: destination {destination} is not in-cluster namespace `{namespace}`")
            if child_path not in builds:
                problems.append(f"{app_label}: `{child_path}` has no kustomization")
                continue
            objs = builds[child_path]
            deployments = _service_deployments(objs, svc)
            if len(deployments) != 1:
                problems.append(f"{child_path}: expected one Deployment `{svc}`, found "
                                f"{[_label(d) for d in _of_kind(objs, 'Deployment')]}")
            elif _namespace(deployments[0]) != namespace:
                problems.append(f"{child_path}: Deployment `{svc}` is in namespace `{_namespace(deployments[0])}`, "
                                f"not `{namespace}`")
            project_name = app["spec"].get("project")
            if project_name not in projects:
                problems.append(f"{app_label}: project `{project_name}` is not created by stack `{stack}`")
            else:
                problems += [f"{child_path}: {p}" for p in _would_sync(objs, project_name, projects[project_name], namespace)]
            reached[env][svc] = stack
    unreached = [(env, svc) for svc, svc_env in svc_envs.items() for env in svc_env
                 if svc not in reached.get(env, {})]
    if unreached and not problems:
        problems.append(f"services never reached: {unreached}")
    if problems:
        raise AssertionError(f"{len(problems)} reachability problem(s) from `{foundation.name}` to `{gitops.name}`:\n"
                             + "\n".join(problems))
    return reached


def no_orphans(gitops: Path) -> None:
    """The gitops tree holds exactly what strata.toml describes: `apps/<env>` per environment,
    `services/<svc>` per service, `overlays/<env>` per environment of the service."""
    ans = answers(gitops)
    envs, svc_envs = set(environments(ans)), service_envs(ans)
    problems = []

    def subdirs(path: Path) -> set[str]:
        return {p.name for p in path.iterdir() if p.is_dir()} if path.is_dir() else set()

    if subdirs(gitops / "apps") != envs:
        problems.append(f"apps/ holds {sorted(subdirs(gitops / 'apps'))}, strata.toml has environments {sorted(envs)}")
    if subdirs(gitops / "services") != set(svc_envs):
        problems.append(f"services/ holds {sorted(subdirs(gitops / 'services'))}, strata.toml has services {sorted(svc_envs)}")
    for svc, wanted in svc_envs.items():
        have = subdirs(gitops / "services" / svc / "overlays")
        if have != set(wanted):
            problems.append(f"services/{svc}/overlays/ holds {sorted(have)}, strata.toml deploys it to {sorted(wanted)}")
    if problems:
        raise AssertionError(f"`{gitops.name}` does not match its strata.toml:\n" + "\n".join(problems))


def unique_names(foundation: Path, gitops: Path, runs: Mapping[str, StackRun] | None = None,
                 builds: Mapping[str, list[dict]] | None = None) -> None:
    """Names that share a scope do not collide: Pulumi URNs within a stack, IAM role names in the
    account (every stack), Applications and AppProjects in the `argocd` namespace of a cluster
    (the root ones of the foundation and those of the environments the cluster hosts)."""
    runs = runs if runs is not None else harness_runs(foundation)
    builds = builds if builds is not None else kustomize_builds(gitops)
    problems = []
    role_names: Counter = Counter()
    for stack, r in sorted(runs.items()):
        urns = Counter(res["urn"] for res in r.resources)
        problems += [f"stack `{stack}`: {n} resources share the URN `{urn}`" for urn, n in urns.items() if n > 1]
        role_names.update(role["inputs"]["name"] for role in r.of_type("aws:iam/role:Role") if role["inputs"].get("name"))
        hosted = [e["name"] for e in r.config.get("environments") or []]
        for kind in ("Application", "AppProject"):
            names: Counter = Counter()
            owners: dict[str, list[str]] = defaultdict(list)
            for obj in r.kubernetes_objects(kind):
                names[_name(obj)] += 1
                owners[_name(obj)].append(f"foundation stack `{stack}`")
            for env in hosted:
                for obj in _of_kind(builds.get(f"apps/{env}", []), kind):
                    names[_name(obj)] += 1
                    owners[_name(obj)].append(f"apps/{env}")
            for name, n in names.items():
                if n > 1:
                    problems.append(f"cluster of stack `{stack}`: {n} {kind}s named `{name}` in namespace "
                                    f"`{ARGOCD_NAMESPACE}` (from {owners[name]}): they overwrite each other")
    problems += [f"IAM role name `{name}` is used {n} times in the account" for name, n in role_names.items() if n > 1]
    clusters = Counter(r.config.get("clusterName") for r in runs.values())
    problems += [f"EKS cluster name `{name}` is used by {n} stacks" for name, n in clusters.items() if n > 1]
    if len(runs) > 1:
        cidrs = {stack: ipaddress.ip_network(r.config["network"]["cidr"]) for stack, r in runs.items()
                 if (r.config.get("network") or {}).get("cidr")}
        ordered = sorted(cidrs.items())
        for i, (stack_a, net_a) in enumerate(ordered):
            for stack_b, net_b in ordered[i + 1:]:
                if net_a.overlaps(net_b):
                    problems.append(f"the VPCs of stacks `{stack_a}` ({net_a}) and `{stack_b}` ({net_b}) overlap")
    if problems:
        raise AssertionError(f"{len(problems)} name collision(s) in `{foundation.name}` / `{gitops.name}`:\n" + "\n".join(problems))


# --- the foundation's resources -----------------------------------------------------------------


def _pod_templates(obj: Mapping) -> list[Mapping]:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [spec.get("template") or {}]
    if kind == "CronJob":
        return [((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}]
    if kind == "Pod":
        return [obj]
    return []


def _trust(role: Mapping) -> dict | None:
    policy = role["inputs"].get("assumeRolePolicy")
    if not isinstance(policy, str) or "AssumeRoleWithWebIdentity" not in policy:
        return None
    return json.loads(policy)


def _iam_like(pattern: str, value: str) -> bool:
    """IAM's `StringLike`: `*` any run of characters, `?` one; the rest literal, case-sensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


_IAM_OPERATORS = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": _iam_like,
    "StringNotLike": lambda pattern, got: not _iam_like(pattern, got),
}
# Negated operators hold when every value holds (no pattern matches), the others when one does.
_IAM_ALL_VALUES = frozenset({"StringNotLike"})


def web_identity_trusts(policy: str, claims: Mapping[str, str]) -> bool:
    """Whether a trust policy lets a web identity with these claims (`<issuer host>:sub`, `:aud`)
    assume the role, as IAM decides it: some Allow statement for `sts:AssumeRoleWithWebIdentity`
    whose every condition holds (the values of one key are alternatives). An operator this
    evaluator does not know is an AssertionError, never a silent pass."""
    document = json.loads(policy)
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    for statement in statements:
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in actions:
            continue
        conditions = statement.get("Condition") or {}
        unknown = set(conditions) - set(_IAM_OPERATORS)
        if unknown:
            raise AssertionError(f"a trust condition operator the suite cannot evaluate: {sorted(unknown)}")
        if all(key in claims and (all if op in _IAM_ALL_VALUES else any)(
                   _IAM_OPERATORS[op](want, claims[key]) for want in (values if isinstance(values, list) else [values]))
               for op, keys in conditions.items() for key, values in keys.items()):
            return True
    return False


def _trusted_subjects(role: Mapping) -> list[str]:
    """`system:serviceaccount:<ns>:<name>` subjects an IRSA role's trust policy pins with StringEquals
    (GitHub Actions' `repo:...` subjects of the CI roles are not service accounts: see `ci_roles`)."""
    trust = _trust(role)
    if not trust:
        return []
    statements = trust["Statement"] if isinstance(trust["Statement"], list) else [trust["Statement"]]
    subjects = []
    for statement in statements:
        for key, value in ((statement.get("Condition") or {}).get("StringEquals") or {}).items():
            if key.endswith(":sub"):
                values = value if isinstance(value, list) else [value]
                subjects += [v for v in values if str(v).startswith("system:serviceaccount:")]
    return subjects


POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
def pod_identity_trust(cluster: str, namespace: str, service_account: str) -> list[dict]:
    """The EKS User Guide's Pod Identity trust (`pod-id-role`) with its session-tag conditions."""
    return [{"Sid": "AllowEksAuthToAssumeRoleForPodIdentity", "Effect": "Allow",
             "Principal": {"Service": "pods.eks.amazonaws.com"},
             "Action": ["sts:AssumeRole", "sts:TagSession"],
             "Condition": {"StringEquals": {"aws:RequestTag/eks-cluster-name": cluster,
                                            "aws:RequestTag/kubernetes-namespace": namespace,
                                            "aws:RequestTag/kubernetes-service-account": service_account}}}]


def identity_of(config: Mapping) -> str:
    """A stack's `identity` (stack files written before the choice existed have none)."""
    return config.get("identity") or "irsa"


def associated_subjects(r: "StackRun", role: Mapping) -> list[str]:
    """`system:serviceaccount:<ns>:<name>` of the Pod Identity associations of a role."""
    arn = _role_arn_of(role)
    return [f"system:serviceaccount:{a['inputs'].get('namespace')}:{a['inputs'].get('serviceAccount')}"
            for a in r.of_type(POD_IDENTITY_ASSOCIATION) if a["inputs"].get("roleArn") == arn]


def role_subjects(r: "StackRun", role: Mapping) -> list[str]:
    """The service accounts a role serves: pinned by its IRSA trust, or by its associations."""
    return _trusted_subjects(role) + associated_subjects(r, role)


def pod_identity(runs: Mapping[str, StackRun]) -> int:
    """With `identity: pod-identity`: the agent add-on exists; every Pod Identity role trusts exactly
    `pods.eks.amazonaws.com` with `sts:AssumeRole` and `sts:TagSession`, for the session tags of
    its one association (cluster, namespace, service account), and has exactly one association, in this cluster, which waits for the cluster; every association's role is such a
    role. With `irsa`: no association and no agent. Returns the associations checked."""
    problems: list[str] = []
    checked = 0
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        associations = r.of_type(POD_IDENTITY_ASSOCIATION)
        agents = [a for a in r.of_type("aws:eks/addon:Addon") if a["inputs"].get("addonName") == "eks-pod-identity-agent"]
        if identity_of(r.config) != "pod-identity":
            if associations or agents:
                p("identity `irsa`, but Pod Identity associations or its agent exist")
            continue
        if len(agents) != 1:
            p(f"expected the eks-pod-identity-agent add-on once, found {len(agents)}")
        roles = {_role_arn_of(role): role for role in r.of_type("aws:iam/role:Role")}
        trusting = [role for role in roles.values() if "pods.eks.amazonaws.com" in str(role["inputs"].get("assumeRolePolicy"))]
        for role in trusting:
            statements = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
            subjects = associated_subjects(r, role)
            if len(subjects) != 1:
                p(f"role `{role['name']}` has {len(subjects)} associations, expected 1")
                continue
            _, _, namespace, account = subjects[0].split(":", 3)
            if statements != pod_identity_trust(r.config.get("clusterName"), namespace, account):
                p(f"role `{role['name']}` trusts {statements}, not exactly its association's session tags")
        for association in associations:
            checked += 1
            inputs = association["inputs"]
            role = roles.get(inputs.get("roleArn"))
            if role is None or role not in trusting:
                p(f"association `{association['name']}` names `{inputs.get('roleArn')}`, which is no Pod Identity role of the stack")
            if inputs.get("clusterName") != r.config.get("clusterName"):
                p(f"association `{association['name']}` is in cluster `{inputs.get('clusterName')}`")
            if not [c for c in r.of_type("eks:index:Cluster") if c["urn"] in (association.get("dependencies") or [])]:
                p(f"association `{association['name']}` does not wait for the cluster")
        if not associations:
            p("identity `pod-identity`, but no Pod Identity association")
    if problems:
        raise AssertionError(f"{len(problems)} Pod Identity problem(s):\n" + "\n".join(problems))
    return checked


def foundation_resources(foundation: Path, runs: Mapping[str, StackRun] | None = None) -> None:
    """What every stack must (and must not) create, from the harness's record of the program."""
    runs = runs if runs is not None else harness_runs(foundation)
    problems: list[str] = []
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        config = r.config
        types = Counter(res["type"] for res in r.resources)

        if types["awsx:ec2:Vpc"] + types["aws:ec2/vpc:Vpc"] != 1:
            p(f"expected one VPC (awsx:ec2:Vpc or aws:ec2/vpc:Vpc), found {types['awsx:ec2:Vpc'] + types['aws:ec2/vpc:Vpc']}")

        clusters = r.of_type("eks:index:Cluster") + r.of_type("aws:eks/cluster:Cluster")
        if len(clusters) != 1:
            p(f"expected one EKS cluster, found {len(clusters)}")
        else:
            inputs = clusters[0]["inputs"]
            if inputs.get("name") != config.get("clusterName") or not inputs.get("name"):
                p(f"the cluster's explicit name is `{inputs.get('name')}`, expected clusterName `{config.get('clusterName')}`")
            if clusters[0]["type"] == "eks:index:Cluster":
                if inputs.get("createOidcProvider") is not True:
                    p("the cluster does not create its OIDC provider (createOidcProvider)")
                if inputs.get("authenticationMode") != "API":
                    p(f"authenticationMode is `{inputs.get('authenticationMode')}`, expected `API`")
                if inputs.get("version") != config.get("kubernetesVersion"):
                    p(f"cluster version `{inputs.get('version')}` is not kubernetesVersion `{config.get('kubernetesVersion')}`")
        if not (r.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") or
                any(c["inputs"].get("createOidcProvider") for c in clusters)):
            p("no IAM OIDC provider")

        node_groups = r.of_type("aws:eks/nodeGroup:NodeGroup") + r.of_type("eks:index:ManagedNodeGroup")
        wanted_groups = config.get("nodeGroups") or []
        # EKS Auto Mode launches its own nodes: no node group then.
        if (not node_groups and compute_of(config) != "auto-mode") or len(node_groups) != len(wanted_groups):
            p(f"expected {len(wanted_groups)} managed node group(s) (nodeGroups), found {len(node_groups)}")

        roles = r.of_type("aws:iam/role:Role")
        irsa_roles = [role for role in roles if role_subjects(r, role)]
        subjects = {s for role in irsa_roles for s in role_subjects(r, role)}
        for hint in addon_role_hints(config):
            if not any(hint in s for s in subjects):
                p(f"no role for the service account of `{hint}` (IRSA or Pod Identity; served: {sorted(subjects)})")
        for service_role in config.get("serviceRoles") or []:
            subject = f"system:serviceaccount:{service_role['namespace']}:{service_role['serviceAccount']}"
            named = [role for role in irsa_roles if role["inputs"].get("name") == service_role["roleName"]]
            if len(named) != 1:
                p(f"service role `{service_role['roleName']}`: expected one IAM role with that name, found {len(named)}")
            elif role_subjects(r, named[0]) != [subject]:
                p(f"service role `{service_role['roleName']}` serves {role_subjects(r, named[0])}, expected [{subject!r}]")

        releases = r.of_type("kubernetes:helm.sh/v3:Release") + r.of_type("kubernetes:helm.sh/v4:Chart")
        addons = config.get("addons") or {}
        for chart, key in addon_charts(config).items():
            found = [rel for rel in releases if chart_name(rel["inputs"].get("chart") or "") == chart]
            if len(found) != 1:
                p(f"expected one Helm release of chart `{chart}`, found {len(found)}")
                continue
            inputs = found[0]["inputs"]
            version = inputs.get("version")
            if not isinstance(version, str) or not PINNED_VERSION.match(version):
                p(f"chart `{chart}`: version `{version}` is not pinned to an exact version")
            elif version != (addons.get(key) or {}).get("chartVersion"):
                p(f"chart `{chart}`: version `{version}` is not addons.{key}.chartVersion "
                  f"`{(addons.get(key) or {}).get('chartVersion')}`")
            if not inputs.get("name"):
                p(f"chart `{chart}`: the release has no explicit name")

        ebs = [a for a in r.of_type("aws:eks/addon:Addon") if a["inputs"].get("addonName") == "aws-ebs-csi-driver"]
        if not ebs and compute_of(config) != "auto-mode":  # Auto Mode runs its own (see auto_mode_objects)
            p("no EKS add-on `aws-ebs-csi-driver`")

        k8s_objects = r.kubernetes_objects()
        by_kind: dict[str, list[dict]] = defaultdict(list)
        for obj in k8s_objects:
            by_kind[obj["kind"]].append(obj)
        for env in config.get("environments") or []:
            ns = env["namespace"]
            if not [n for n in by_kind["Namespace"] if _name(n) == ns]:
                p(f"environment `{env['name']}`: no Namespace `{ns}`")
            for kind in ("ResourceQuota", "LimitRange"):
                if not [o for o in by_kind[kind] if _namespace(o) == ns]:
                    p(f"environment `{env['name']}`: no {kind} in namespace `{ns}`")
            deny = [
                o for o in by_kind["NetworkPolicy"]
                if _namespace(o) == ns
                and not (o["spec"].get("podSelector") or {}).get("matchLabels")
                and not (o["spec"].get("podSelector") or {}).get("matchExpressions")
                and set(o["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
                and not o["spec"].get("ingress") and not o["spec"].get("egress")
            ]
            if not deny:
                p(f"environment `{env['name']}`: no default-deny NetworkPolicy (empty podSelector, Ingress+Egress, "
                  f"no rules) in namespace `{ns}`")
        if not by_kind["PriorityClass"]:
            p("no PriorityClass")
        shared = [o for o in by_kind["ConfigMap"] if (_namespace(o), _name(o)) == SHARED_CONFIG]
        if len(shared) != 1:
            p(f"expected one ConfigMap {SHARED_CONFIG[0]}/{SHARED_CONFIG[1]}, found {len(shared)}")
        for obj in k8s_objects:
            if obj["kind"] in FOUNDATION_FORBIDDEN_KINDS:
                p(f"creates {_label(obj)}: application-layer objects belong to the gitops repo")
            elif obj["kind"] == "ConfigMap" and (_namespace(obj), _name(obj)) not in (
                SHARED_CONFIG, *((AUTO_MODE_NETWORK_POLICY,) if compute_of(config) == "auto-mode" else ())
            ):
                p(f"creates {_label(obj)}: the only ConfigMap the foundation may create is "
                  f"{SHARED_CONFIG[0]}/{SHARED_CONFIG[1]}")
        for obj in k8s_objects:
            for problem in object_problems(obj):
                p(f"{_label(obj)}: {problem}")
    if problems:
        raise AssertionError(f"{len(problems)} problem(s) with the resources of `{foundation.name}`:\n" + "\n".join(problems))


def foundation_pytest(foundation: Path, *paths: str) -> str:
    """The generated foundation's own test suite passes (`python -m pytest -q` in the repo; only
    the test files `paths` when given)."""
    done = run([venv_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths], cwd=foundation, timeout=1200)
    if done.returncode != 0:
        raise AssertionError(f"the foundation's own tests fail in `{foundation}`:\n{_describe(done)}")
    if not re.search(r"\b\d+ passed\b", done.stdout):
        raise AssertionError(f"the foundation's own tests ran nothing in `{foundation}`:\n{_describe(done)}")
    return done.stdout.strip().splitlines()[-1]


# --- what Argo CD deploys -----------------------------------------------------------------------


def deployed_objects(gitops: Path, builds: Mapping[str, list[dict]] | None = None) -> dict[str, list[dict]]:
    """Application name -> the objects it deploys (the build of its source path)."""
    builds = builds if builds is not None else kustomize_builds(gitops)
    deployed: dict[str, list[dict]] = {}
    for rel, app in applications(builds):
        for source in _sources(app):
            path = source.get("path")
            if path in builds and path.startswith("services/"):
                deployed[f"{_name(app)}"] = builds[path]
    return deployed


def checkov_clean(gitops: Path, builds: Mapping[str, list[dict]] | None = None) -> dict:
    """checkov finds no failed check in what the Applications deploy, and every skip has a reason.

    Runs `checkov -d DIR --framework kubernetes --compact -o json` (without `--quiet`, which
    drops the skipped checks from the JSON report) on one file per Application.
    """
    result = checkov_clean_many({gitops.name: (gitops, builds)})[gitops.name]
    if isinstance(result, AssertionError):
        raise result
    return result


def _checkov_server(binary: Path) -> forkserver.ForkServer:
    """checkov's fork server: the python of its console script (its shebang), with every module
    `checkov.main` imports (not `checkov.main` itself, which reads `sys.argv` when imported)."""
    python = binary.read_text(encoding="utf-8", errors="replace").splitlines()[0].removeprefix("#!").strip()
    return SERVERS.get("checkov", Path(python), ["deps:checkov.main"], WORKERS, env={"BC_SKIP_MAPPING": "TRUE"})


def checkov_clean_many(
    repos: Mapping[str, tuple[Path, Mapping[str, list[dict]] | None]],
) -> dict[str, dict | AssertionError]:
    """`checkov_clean` of several gitops repos (label -> (repo, builds)) in one checkov run:
    label -> its result, or the AssertionError naming what checkov found in it."""
    binary = checkov()
    deployed = {label: deployed_objects(gitops, builds) for label, (gitops, builds) in repos.items()}
    results: dict[str, dict | AssertionError] = {label: {"resource_count": 0} for label, d in deployed.items() if not d}
    scanned = {label: objs for label, objs in deployed.items() if objs}
    if not scanned:
        return results
    with tempfile.TemporaryDirectory(prefix="strata-checkov-") as scratch:
        for label, apps in scanned.items():
            for app, objs in apps.items():
                (Path(scratch) / f"{label}__{app}.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False),
                                                                      encoding="utf-8")
        done = _checkov_server(binary).run(["-d", scratch, "--framework", "kubernetes", "--compact", "--skip-download",
                                            "-o", "json"], Path(scratch), script=binary, timeout=900)
    if done.returncode not in (0, 1):
        raise AssertionError(f"checkov crashed:\n{_describe(done)}")
    try:
        report = json.loads(done.stdout)
    except ValueError as error:
        raise AssertionError(f"checkov printed no JSON ({error}):\n{_describe(done)}") from None
    reports = report if isinstance(report, list) else [report]

    def label_of(file_path: str) -> str:
        return Path(file_path).name.split("__", 1)[0]

    failed: dict[str, list[str]] = defaultdict(list)
    unexplained: dict[str, list[str]] = defaultdict(list)
    parsing: dict[str, list[str]] = defaultdict(list)
    resources = 0
    for rep in reports:
        found = rep.get("results") or {}
        resources += (rep.get("summary") or {}).get("resource_count", 0)
        for path in found.get("parsing_errors") or []:
            parsing[label_of(path)].append(path)
        for check in found.get("failed_checks") or []:
            failed[label_of(check.get("file_path", ""))].append(
                f"{check['check_id']} {check.get('check_name')}: {check['resource']} "
                f"({Path(check.get('file_path', '')).name.split('__', 1)[-1]})")
        for check in found.get("skipped_checks") or []:
            reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
            if not reason or reason.lower() == "no comment provided":
                unexplained[label_of(check.get("file_path", ""))].append(f"{check['check_id']}: {check['resource']}")
    # Every object written was scanned: the count is of the whole run, so it is checked for all.
    expected = sum(len(objs) for apps in scanned.values() for objs in apps.values())
    short = f"checkov scanned {resources} resources, but the Applications deploy {expected}" if resources < expected else ""
    for label in scanned:
        gitops = repos[label][0]
        problems = []
        if parsing[label]:
            problems.append(f"checkov could not parse: {parsing[label]}")
        if failed[label]:
            problems.append(f"{len(failed[label])} failed checkov check(s):\n  " + "\n  ".join(sorted(set(failed[label]))))
        if unexplained[label]:
            problems.append(f"{len(unexplained[label])} skipped check(s) without a reason:\n  "
                            + "\n  ".join(sorted(set(unexplained[label]))))
        if short:
            problems.append(short)
        count = sum(len(objs) for objs in scanned[label].values())
        results[label] = (AssertionError(f"checkov on what `{gitops.name}` deploys:\n" + "\n".join(problems)) if problems
                          else {"resource_count": count})
    return results


# --- security invariants ------------------------------------------------------------------------


def _selects(selector: Mapping | None, labels: Mapping) -> bool:
    """A LabelSelector (matchLabels only) selects `labels`; an empty selector selects everything."""
    selector = selector or {}
    if selector.get("matchExpressions"):
        return False  # not used by strata; treat as not matching so it gets looked at
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _container_problems(container: Mapping, pod_sc: Mapping) -> list[str]:
    problems = []
    name = container.get("name")
    sc = container.get("securityContext") or {}
    if not (sc.get("runAsNonRoot") is True or (pod_sc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is not False)):
        problems.append(f"container `{name}`: runAsNonRoot is not true")
    if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
        problems.append(f"container `{name}`: runs as UID 0")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"container `{name}`: readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"container `{name}`: allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        problems.append(f"container `{name}`: privileged")
    capabilities = sc.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"container `{name}`: capabilities.drop does not contain ALL")
    if capabilities.get("add"):
        problems.append(f"container `{name}`: adds capabilities {capabilities['add']}")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(f"container `{name}`: seccompProfile is `{seccomp}`, not RuntimeDefault")
    resources = container.get("resources") or {}
    for bound in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not (resources.get(bound) or {}).get(resource):
                problems.append(f"container `{name}`: no {bound}.{resource}")
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
        problems.append(f"container `{name}`: image `{image}` is not pinned (no tag, or `latest`)")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            problems.append(f"container `{name}`: uses hostPort {port['hostPort']}")
    return problems


# Argo CD's documented lock-down of its built-in project (user-guide/projects.md, "The Default Project").
LOCKED_DEFAULT_PROJECT = {"sourceRepos": [], "destinations": [], "clusterResourceWhitelist": [],
                          "namespaceResourceBlacklist": [{"group": "*", "kind": "*"}]}


def default_project_locked(runs: Mapping[str, "StackRun"]) -> int:
    """Every cluster patches Argo CD's `default` AppProject (which argocd-server creates at startup
    and which allows everything) into its locked form, valid against the AppProject CRD, before
    any root Application. Returns the number of clusters checked."""
    problems: list[str] = []
    for stack, run_ in runs.items():
        patches = [r for r in run_.resources if r["type"] == "kubernetes:argoproj.io/v1alpha1:AppProjectPatch"
                   and (r["inputs"].get("metadata") or {}).get("name") == "default"]
        if len(patches) != 1:
            problems.append(f"stack `{stack}`: {len(patches)} patch(es) of the `default` AppProject, expected 1")
            continue
        (patch,) = patches
        obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", **normalize_numbers(dict(patch["inputs"]))}
        try:
            validate_objects([obj])
        except AssertionError as error:
            problems.append(f"stack `{stack}`: the `default` AppProject patch: {error}")
        spec = obj.get("spec") or {}
        for key, value in LOCKED_DEFAULT_PROJECT.items():
            if spec.get(key) != value:
                problems.append(f"stack `{stack}`: `default` AppProject `{key}` is {spec.get(key)!r}, not {value!r}")
        if (obj.get("metadata") or {}).get("namespace") != "argocd":
            problems.append(f"stack `{stack}`: the `default` AppProject patch is not in `argocd`")
        for resource in run_.resources:
            if resource["type"] == "kubernetes:argoproj.io/v1alpha1:Application" and \
                    patch["urn"] not in (resource.get("dependencies") or []):
                problems.append(f"stack `{stack}`: Application `{resource['inputs']['metadata']['name']}` "
                                "may sync before `default` is locked")
    if problems:
        raise AssertionError("\n".join(problems))
    return len(runs)


def security_invariants(gitops: Path, builds: Mapping[str, list[dict]] | None = None,
                        runs: Mapping[str, "StackRun"] | None = None) -> None:
    """AppProjects fence each environment; the workloads are hardened and wired together.

    The environments' AppProjects are the foundation's (`runs`; by default the harness of the
    foundation next to `gitops`): only the gitops repo, only the environment's namespace, no
    cluster-scoped kind, exactly the application kinds. Each Application of `apps/<env>` uses
    its environment's project, and the gitops repo defines no AppProject at all."""
    ans = answers(gitops)
    url, envs = gitops_url(ans), environments(ans)
    domain = ans.get("domain", "")
    builds = builds if builds is not None else kustomize_builds(gitops)
    runs = runs if runs is not None else harness_runs(foundation_of(gitops))
    cluster_projects = environment_projects(runs)
    problems: list[str] = []

    # AppProjects and Applications
    for rel, objs in builds.items():
        for project in _of_kind(objs, "AppProject"):
            problems.append(f"{rel}: AppProject `{_name(project)}` is defined in the gitops repo, where a merge can widen it")
    for env, namespace in envs.items():
        rel = f"apps/{env}"
        project = cluster_projects.get(env, {}).get(env)
        if project is None:
            problems.append(f"environment `{env}`: the foundation creates no AppProject `{env}`")
        else:
            problems += [f"foundation AppProject `{env}`: {x}"
                         for x in _environment_project_problems(project, url, namespace, monitoring_on(ans))]
        if rel not in builds:
            continue  # reported by reachability
        for app in _of_kind(builds[rel], "Application"):
            project_name = (app.get("spec") or {}).get("project")
            if project_name in (None, "", "default"):
                problems.append(f"{rel}: Application `{_name(app)}` uses project `{project_name or 'default'}`")
            elif project_name != env:
                problems.append(f"{rel}: Application `{_name(app)}` uses project `{project_name}`, not its environment's (`{env}`)")

    # workloads, per overlay that an Application deploys
    for rel, objs in builds.items():
        parts = rel.split("/")
        if len(parts) != 4 or parts[0] != "services" or parts[2] != "overlays":
            continue
        svc, env = parts[1], parts[3]
        namespace = envs.get(env, env)
        label = f"{rel}"
        deployments = _of_kind(objs, "Deployment")
        for obj in objs:
            if _is_namespaced(obj) and _namespace(obj) != namespace:
                problems.append(f"{label}: {_label(obj)} has namespace `{_namespace(obj)}`, expected an explicit `{namespace}`")
        if not deployments:
            problems.append(f"{label}: no Deployment")
        for dep in deployments:
            d = f"{label}: Deployment `{_name(dep)}`"
            template = (dep.get("spec") or {}).get("template") or {}
            pod_labels = (template.get("metadata") or {}).get("labels") or {}
            pod = template.get("spec") or {}
            pod_sc = pod.get("securityContext") or {}
            if not _selects(dep["spec"].get("selector"), pod_labels) or not (dep["spec"].get("selector") or {}).get("matchLabels"):
                problems.append(f"{d}: its selector does not select its pod template")
            for flag in ("hostNetwork", "hostPID", "hostIPC"):
                if pod.get(flag):
                    problems.append(f"{d}: {flag} is set")
            containers = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
            if not containers:
                problems.append(f"{d}: no containers")
            for container in containers:
                problems += [f"{d}: {p}" for p in _container_problems(container, pod_sc)]
                if not container.get("readinessProbe") and container in (pod.get("containers") or []):
                    problems.append(f"{d}: container `{container.get('name')}` has no readinessProbe")
                if not container.get("livenessProbe") and container in (pod.get("containers") or []):
                    problems.append(f"{d}: container `{container.get('name')}` has no livenessProbe")
            for volume in pod.get("volumes") or []:
                types = set(volume) - {"name"}
                if not types <= RESTRICTED_VOLUME_TYPES:
                    problems.append(f"{d}: volume `{volume.get('name')}` of type {sorted(types)} is not allowed by the restricted Pod Security Standard")
            zone = [c for c in pod.get("topologySpreadConstraints") or [] if c.get("topologyKey") == ZONE_KEY
                    and _selects(c.get("labelSelector"), pod_labels)]
            if not zone:
                problems.append(f"{d}: no topologySpreadConstraint on `{ZONE_KEY}` selecting its pods")
            hpas = [h for h in _of_kind(objs, "HorizontalPodAutoscaler")
                    if (h["spec"].get("scaleTargetRef") or {}).get("name") == _name(dep)
                    and (h["spec"].get("scaleTargetRef") or {}).get("kind") == "Deployment"]
            if hpas:
                if "replicas" in dep["spec"]:
                    problems.append(f"{d}: sets spec.replicas although HorizontalPodAutoscaler `{_name(hpas[0])}` owns it")
                for hpa in hpas:
                    lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"].get("maxReplicas")
                    if hi is None or lo > hi:
                        problems.append(f"{d}: HPA `{_name(hpa)}` minReplicas {lo} > maxReplicas {hi}")
            pdbs = [p for p in _of_kind(objs, "PodDisruptionBudget")
                    if (p["spec"].get("selector") or {}).get("matchLabels") and _selects(p["spec"].get("selector"), pod_labels)]
            if not pdbs:
                problems.append(f"{d}: no PodDisruptionBudget selects its pods")
            policies = [n for n in _of_kind(objs, "NetworkPolicy")
                        if (n["spec"].get("podSelector") or {}).get("matchLabels")
                        and _selects(n["spec"].get("podSelector"), pod_labels)]
            if not policies:
                problems.append(f"{d}: no NetworkPolicy of the service selects its pods")
            # what the pod references must be in the same build (Argo CD deploys nothing else)
            sa = pod.get("serviceAccountName")
            if sa and sa not in {_name(s) for s in _of_kind(objs, "ServiceAccount")}:
                problems.append(f"{d}: ServiceAccount `{sa}` is not deployed with it")
            if not sa or sa == "default":
                problems.append(f"{d}: runs as the `default` ServiceAccount")
            config_maps = {_name(c) for c in _of_kind(objs, "ConfigMap")}
            secret_targets = {((e["spec"].get("target") or {}).get("name") or _name(e)) for e in _of_kind(objs, "ExternalSecret")}
            for container in containers:
                for source in container.get("envFrom") or []:
                    ref = (source.get("configMapRef") or {}).get("name")
                    if ref and ref not in config_maps:
                        problems.append(f"{d}: envFrom ConfigMap `{ref}` is not deployed with it")
                    ref = (source.get("secretRef") or {}).get("name")
                    if ref and ref not in secret_targets:
                        problems.append(f"{d}: envFrom Secret `{ref}` is made by no ExternalSecret of the service")
            for volume in pod.get("volumes") or []:
                ref = (volume.get("configMap") or {}).get("name")
                if ref and ref not in config_maps:
                    problems.append(f"{d}: volume ConfigMap `{ref}` is not deployed with it")
                ref = (volume.get("secret") or {}).get("secretName")
                if ref and ref not in secret_targets:
                    problems.append(f"{d}: volume Secret `{ref}` is made by no ExternalSecret of the service")
            port_names = {p.get("name") for c in pod.get("containers") or [] for p in c.get("ports") or []}
            port_numbers = {p.get("containerPort") for c in pod.get("containers") or [] for p in c.get("ports") or []}
            for service in _of_kind(objs, "Service"):
                if not _selects({"matchLabels": (service["spec"].get("selector") or {})}, pod_labels):
                    problems.append(f"{label}: Service `{_name(service)}` does not select the pods of `{_name(dep)}`")
                for port in service["spec"].get("ports") or []:
                    target = port.get("targetPort", port.get("port"))
                    if target not in port_names and target not in port_numbers:
                        problems.append(f"{label}: Service `{_name(service)}` targetPort `{target}` is no container port")
        services = {_name(s): s for s in _of_kind(objs, "Service")}
        for ingress in _of_kind(objs, "Ingress"):
            for rule in ingress["spec"].get("rules") or []:
                host = rule.get("host", "")
                if domain and not (host == domain or host.endswith("." + domain)):
                    problems.append(f"{label}: Ingress `{_name(ingress)}` host `{host}` is outside the domain `{domain}`"
                                    " (External DNS only manages that zone)")
                for path in (rule.get("http") or {}).get("paths") or []:
                    backend = (path.get("backend") or {}).get("service") or {}
                    target = services.get(backend.get("name"))
                    if target is None:
                        problems.append(f"{label}: Ingress `{_name(ingress)}` routes to Service `{backend.get('name')}`, not deployed")
                        continue
                    port = backend.get("port") or {}
                    ports = target["spec"].get("ports") or []
                    if not any(p.get("name") == port.get("name") if "name" in port else p.get("port") == port.get("number")
                               for p in ports):
                        problems.append(f"{label}: Ingress `{_name(ingress)}` uses port {port} that Service `{_name(target)}` lacks")
        for obj in objs:
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            for key, value in annotations.items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = str(value).partition("=")
                    if not reason.strip():
                        problems.append(f"{label}: {_label(obj)} skips `{check}` without a reason")
    if problems:
        raise AssertionError(f"{len(problems)} security problem(s) in `{gitops.name}`:\n" + "\n".join(problems))


# --- foundation <-> gitops wiring ---------------------------------------------------------------


def _cpu_millis(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _memory_bytes(quantity: str | int | float) -> float:
    text = str(quantity)
    for unit, factor in _MEMORY_UNITS.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def _store_reach(r: StackRun, store: Mapping, namespace: str, prefix: str) -> list[str]:
    """The SecretStore authenticates as a ServiceAccount of its namespace whose IRSA role (trusting
    exactly that account) may read the secrets under `prefix` of Secrets Manager."""
    auth = (((store.get("spec") or {}).get("provider") or {}).get("aws") or {}).get("auth") or {}
    account = ((auth.get("jwt") or {}).get("serviceAccountRef") or {}).get("name")
    if not account:
        return [f"SecretStore `{_name(store)}` authenticates with no service account (auth {auth})"]
    subject = f"system:serviceaccount:{namespace}:{account}"
    roles = [role for role in r.of_type("aws:iam/role:Role") if _trusted_subjects(role) == [subject]]
    if len(roles) != 1:
        return [f"SecretStore `{_name(store)}`: expected one IRSA role trusting `{subject}`, found {len(roles)}"]
    documents = [p["inputs"].get("policy") for p in r.of_type("aws:iam/rolePolicy:RolePolicy")
                 if p.get("parent") == roles[0]["urn"]]
    resources = []
    for document in documents:
        if not isinstance(document, str):
            continue
        statements = json.loads(document).get("Statement") or []
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") == "Allow" and "secretsmanager:GetSecretValue" in (
                    statement.get("Action") if isinstance(statement.get("Action"), list) else [statement.get("Action")]):
                found = statement.get("Resource")
                resources += found if isinstance(found, list) else [found]
    if not any(str(res).endswith(f":secret:{prefix}*") for res in resources):
        return [f"the role of SecretStore `{_name(store)}` may read {resources}, not `{prefix}*`"]
    if any(str(res) == "*" or str(res).endswith(":secret:*") for res in resources):
        return [f"the role of SecretStore `{_name(store)}` may read every secret: {resources}"]
    return []


def wiring(foundation: Path, gitops: Path, runs: Mapping[str, StackRun] | None = None,
           builds: Mapping[str, list[dict]] | None = None,
           reached: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """What the gitops objects need from the foundation exists in the stack that hosts them:
    the PriorityClass, the IRSA role (trusting exactly the service's ServiceAccount, in the
    workspace's account), the SecretStore and its reach, the VPC CIDR of the NetworkPolicy, and
    container limits within the namespace's LimitRange."""
    ans = answers(gitops)
    envs = environments(ans)
    runs = runs if runs is not None else harness_runs(foundation)
    builds = builds if builds is not None else kustomize_builds(gitops)
    reached = reached if reached is not None else reachability(foundation, gitops, runs, builds)
    account = ans.get("aws_account_id")
    project = ans.get("project")
    problems: list[str] = []
    for env, services in reached.items():
        namespace = envs[env]
        for svc, stack in services.items():
            r = runs[stack]
            rel = f"services/{svc}/overlays/{env}"
            objs = builds[rel]
            svc_answers = ans["services"][svc]
            priority_classes = {_name(p) for p in r.kubernetes_objects("PriorityClass")}
            limit_ranges = [lr for lr in r.kubernetes_objects("LimitRange") if _namespace(lr) == namespace]
            for dep in _of_kind(objs, "Deployment"):
                pod = dep["spec"]["template"]["spec"]
                pc = pod.get("priorityClassName")
                if pc and pc not in priority_classes:
                    problems.append(f"{rel}: Deployment `{_name(dep)}` uses PriorityClass `{pc}`, which stack `{stack}` "
                                    f"does not create ({sorted(priority_classes)})")
                for container in pod.get("containers") or []:
                    limits = (container.get("resources") or {}).get("limits") or {}
                    for lr in limit_ranges:
                        for item in lr["spec"].get("limits") or []:
                            maximum = item.get("max") or {}
                            if "cpu" in limits and "cpu" in maximum and _cpu_millis(limits["cpu"]) > _cpu_millis(maximum["cpu"]):
                                problems.append(f"{rel}: container `{container['name']}` cpu limit {limits['cpu']} exceeds "
                                                f"the LimitRange max {maximum['cpu']} of `{namespace}` (pods are rejected)")
                            if "memory" in limits and "memory" in maximum and _memory_bytes(limits["memory"]) > _memory_bytes(maximum["memory"]):
                                problems.append(f"{rel}: container `{container['name']}` memory limit {limits['memory']} exceeds "
                                                f"the LimitRange max {maximum['memory']} of `{namespace}` (pods are rejected)")
            # IRSA
            accounts = _of_kind(objs, "ServiceAccount")
            annotated = {_name(a): ((a.get("metadata") or {}).get("annotations") or {}).get(ROLE_ARN_ANNOTATION) for a in accounts}
            irsa = bool(svc_answers.get("irsa"))
            if identity_of(r.config) == "pod-identity":
                # Pod Identity: the ServiceAccount names no role; the association names it.
                if any(annotated.values()):
                    problems.append(f"{rel}: a ServiceAccount carries a role ARN although the cluster uses Pod Identity")
                wanted = [f"system:serviceaccount:{namespace}:{svc}"] if irsa else []
                served = [s_ for role in r.of_type("aws:iam/role:Role") for s_ in associated_subjects(r, role)
                          if s_ == f"system:serviceaccount:{namespace}:{svc}"]
                if served != wanted:
                    problems.append(f"{rel}: service `{svc}` (aws role {irsa}) has Pod Identity associations {served}")
                if irsa and svc not in {_name(a) for a in accounts}:
                    problems.append(f"{rel}: service `{svc}` has a role but no ServiceAccount `{svc}`")
                annotated = {}
            elif irsa and not any(annotated.values()):
                problems.append(f"{rel}: service `{svc}` has irsa = true but no ServiceAccount carries `{ROLE_ARN_ANNOTATION}`")
            if not irsa and any(annotated.values()):
                problems.append(f"{rel}: service `{svc}` has irsa = false but a ServiceAccount carries a role ARN")
            for sa, arn in annotated.items():
                if not arn:
                    continue
                match = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", arn)
                if not match:
                    problems.append(f"{rel}: ServiceAccount `{sa}` role ARN `{arn}` is malformed")
                    continue
                if account and match.group(1) != account:
                    problems.append(f"{rel}: ServiceAccount `{sa}` role ARN `{arn}` is not in account `{account}`")
                roles = [role for role in r.of_type("aws:iam/role:Role") if role["inputs"].get("name") == match.group(2)]
                if len(roles) != 1:
                    problems.append(f"{rel}: ServiceAccount `{sa}` names role `{match.group(2)}`, which stack `{stack}` "
                                    f"does not create exactly once (found {len(roles)})")
                    continue
                subject = f"system:serviceaccount:{namespace}:{sa}"
                if _trusted_subjects(roles[0]) != [subject]:
                    problems.append(f"{rel}: role `{match.group(2)}` trusts {_trusted_subjects(roles[0])}, not [{subject!r}]")
            # External Secrets
            stores = {(_namespace(s), _name(s)): s for s in r.kubernetes_objects("SecretStore")}
            for es in _of_kind(objs, "ExternalSecret"):
                ref = es["spec"].get("secretStoreRef") or {}
                kind = ref.get("kind", "SecretStore")
                if kind != "SecretStore" or (namespace, ref.get("name")) not in stores:
                    problems.append(f"{rel}: ExternalSecret `{_name(es)}` uses {kind} `{ref.get('name')}`, which stack "
                                    f"`{stack}` does not create in `{namespace}`")
                prefix = f"{project}/{env}/"
                for item in (es["spec"].get("data") or []):
                    key = (item.get("remoteRef") or {}).get("key", "")
                    if not key.startswith(prefix):
                        problems.append(f"{rel}: ExternalSecret `{_name(es)}` reads `{key}`, outside `{prefix}*` "
                                        "(the only secrets the environment's store may read)")
                store = stores.get((namespace, ref.get("name")))
                if store is not None:
                    problems += [f"{rel}: ExternalSecret `{_name(es)}`: {p}"
                                 for p in _store_reach(r, store, namespace, f"{project}/{env}/")]
                wanted = sorted(svc_answers.get("secrets") or [])
                have = sorted(item.get("secretKey") for item in es["spec"].get("data") or [])
                if have != wanted:
                    problems.append(f"{rel}: ExternalSecret `{_name(es)}` has keys {have}, strata.toml says {wanted}")
            if svc_answers.get("secrets") and not _of_kind(objs, "ExternalSecret"):
                problems.append(f"{rel}: service `{svc}` has secrets {svc_answers['secrets']} but no ExternalSecret")
            # the NetworkPolicy lets the load balancer in from the hosting VPC's public subnets
            public = [s["inputs"].get("cidrBlock") for s in subnets_of(r, "public")]
            exposed = svc_answers.get("expose", "public") != "none"
            for policy in _of_kind(objs, "NetworkPolicy"):
                blocks = [peer["ipBlock"]["cidr"] for rule in policy["spec"].get("ingress") or []
                          for peer in rule.get("from") or [] if "ipBlock" in peer]
                if sorted(blocks) != (sorted(public) if exposed else []):
                    problems.append(f"{rel}: NetworkPolicy `{_name(policy)}` admits {blocks}, not the public subnets "
                                    f"{public} of stack `{stack}` (where the load balancers are)")
            # configuration of strata.toml reaches the ConfigMap
            wanted_config = svc_answers.get("config") or {}
            data = {}
            for cm in _of_kind(objs, "ConfigMap"):
                data.update(cm.get("data") or {})
            for key, value in wanted_config.items():
                if data.get(key) != str(value):
                    problems.append(f"{rel}: config `{key}` is `{data.get(key)}` in the ConfigMap, strata.toml says `{value}`")
    if problems:
        raise AssertionError(f"{len(problems)} wiring problem(s) between `{foundation.name}` and `{gitops.name}`:\n"
                             + "\n".join(problems))


def answers_reflected(gitops: Path, builds: Mapping[str, list[dict]] | None = None) -> None:
    """Each overlay build carries the values strata.toml gives the service in that environment:
    image and tag, port, probes' path, Ingress host and path, requests and limits, replica bounds."""
    ans = answers(gitops)
    builds = builds if builds is not None else kustomize_builds(gitops)
    domain = ans.get("domain", "")
    problems = []
    for svc, spec in (ans.get("services") or {}).items():
        for env, bounds in (spec.get("envs") or {}).items():
            rel = f"services/{svc}/overlays/{env}"
            objs = builds.get(rel)
            if objs is None:
                problems.append(f"{rel}: no build (strata.toml deploys `{svc}` to `{env}`)")
                continue
            deployments = _service_deployments(objs, svc)
            if len(deployments) != 1:
                continue  # reported by reachability
            containers = deployments[0]["spec"]["template"]["spec"].get("containers") or []
            main = next((c for c in containers if c.get("name") == svc), containers[0] if containers else {})
            want_image = f"{spec['image']}:{spec['tag']}"
            if main.get("image") != want_image and not str(main.get("image", "")).startswith(want_image + "@"):
                problems.append(f"{rel}: image `{main.get('image')}`, strata.toml says `{want_image}`")
            ports = [p.get("containerPort") for p in main.get("ports") or []]
            if spec.get("port") not in ports:
                problems.append(f"{rel}: container ports {ports}, strata.toml says {spec.get('port')}")
            for probe in ("readinessProbe", "livenessProbe"):
                path = ((main.get(probe) or {}).get("httpGet") or {}).get("path")
                if path != spec.get("health_path"):
                    problems.append(f"{rel}: {probe} path `{path}`, strata.toml says `{spec.get('health_path')}`")
            resources = main.get("resources") or {}
            for bound, resource, key in (("requests", "cpu", "cpu_request"), ("limits", "cpu", "cpu_limit"),
                                         ("requests", "memory", "memory_request"), ("limits", "memory", "memory_limit")):
                have = (resources.get(bound) or {}).get(resource)
                if key in spec and str(have) != str(spec[key]):
                    problems.append(f"{rel}: {bound}.{resource} `{have}`, strata.toml says `{spec[key]}`")
            for hpa in _of_kind(objs, "HorizontalPodAutoscaler"):
                have = (hpa["spec"].get("minReplicas"), hpa["spec"].get("maxReplicas"))
                want = (bounds.get("min_replicas"), bounds.get("max_replicas"))
                if have != want:
                    problems.append(f"{rel}: HPA `{_name(hpa)}` min/max {have}, strata.toml says {want}")
            if spec.get("host") and spec.get("expose", "public") != "none":  # `--expose none`: no Ingress
                want_host = spec["host"].replace("{service}", svc).replace("{env}", env).replace("{domain}", domain)
                hosts = [rule.get("host") for ing in _of_kind(objs, "Ingress") for rule in ing["spec"].get("rules") or []]
                if hosts != [want_host]:
                    problems.append(f"{rel}: Ingress hosts {hosts}, strata.toml says [{want_host!r}]")
                paths = [p.get("path") for ing in _of_kind(objs, "Ingress") for rule in ing["spec"].get("rules") or []
                         for p in (rule.get("http") or {}).get("paths") or []]
                if spec.get("path") and paths != [spec["path"]]:
                    problems.append(f"{rel}: Ingress paths {paths}, strata.toml says [{spec['path']!r}]")
    if problems:
        raise AssertionError(f"{len(problems)} value(s) of strata.toml missing from `{gitops.name}`:\n" + "\n".join(problems))


def sync_order(builds: Mapping[str, list[dict]]) -> None:
    """In each build, an AppProject syncs in an earlier wave than the Applications that use it
    (Argo CD refuses an Application whose project does not exist yet)."""
    problems = []

    def wave(obj: Mapping) -> int:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get("argocd.argoproj.io/sync-wave", 0))

    for rel, objs in builds.items():
        projects = {_name(p): wave(p) for p in _of_kind(objs, "AppProject")}
        for app in _of_kind(objs, "Application"):
            project = (app.get("spec") or {}).get("project")
            if project in projects and projects[project] >= wave(app):
                problems.append(f"{rel}: Application `{_name(app)}` (wave {wave(app)}) syncs no later than its "
                                f"AppProject `{project}` (wave {projects[project]})")
    if problems:
        raise AssertionError("\n".join(problems))


def namespace_isolation(foundation: Path, gitops: Path, runs: Mapping[str, StackRun] | None = None,
                        builds: Mapping[str, list[dict]] | None = None) -> None:
    """In a cluster that hosts several environments, no service NetworkPolicy admits an ipBlock that
    covers the whole VPC or overlaps a private (pod) subnet: with the VPC CNI every pod has a VPC
    address, so such a block admits the pods of every other environment's namespace too."""
    ans = answers(gitops)
    runs = runs if runs is not None else harness_runs(foundation)
    builds = builds if builds is not None else kustomize_builds(gitops)
    problems = []
    for stack, r in sorted(runs.items()):
        hosted = [e["name"] for e in r.config.get("environments") or []]
        cidr = (r.config.get("network") or {}).get("cidr")
        if len(hosted) < 2 or not cidr:
            continue
        vpc = ipaddress.ip_network(cidr)
        private_subnets = [ipaddress.ip_network(c) for c in (r.config.get("network") or {}).get("privateSubnetCidrs") or []]
        if not private_subnets:
            problems.append(f"stack `{stack}` names no private subnets, so pod addresses cannot be told apart")
        for svc, envs in service_envs(ans).items():
            for env in envs:
                if env not in hosted:
                    continue
                rel = f"services/{svc}/overlays/{env}"
                for policy in _of_kind(builds.get(rel, []), "NetworkPolicy"):
                    for rule in policy["spec"].get("ingress") or []:
                        for peer in rule.get("from") or []:
                            block = (peer.get("ipBlock") or {}).get("cidr")
                            if block and vpc.subnet_of(ipaddress.ip_network(block)) and not peer["ipBlock"].get("except"):
                                problems.append(f"{rel}: NetworkPolicy `{_name(policy)}` admits {block}, which holds the "
                                                f"pod addresses of all {len(hosted)} environments of cluster `{stack}` ({hosted})")
                            elif block:
                                for private in private_subnets:
                                    if ipaddress.ip_network(block).overlaps(private):
                                        problems.append(f"{rel}: NetworkPolicy `{_name(policy)}` admits {block}, which "
                                                        f"overlaps the private (pod) subnet {private} of cluster `{stack}`")
    if problems:
        raise AssertionError("\n".join(problems))


# --- git ----------------------------------------------------------------------------------------


def git_log(repo: Path) -> list[str]:
    """Subjects of the commits on `main`, newest first."""
    done = run([git(), "-C", repo, "log", "--format=%s", "main"], timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"git log failed in `{repo}`:\n{_describe(done)}")
    return done.stdout.splitlines()


def git_state(repo: Path, commits: int | None = 1) -> list[str]:
    """The repo is on `main` with `commits` commits (any number if None) and a clean work tree."""
    problems = []
    if not (repo / ".git").exists():
        raise AssertionError(f"`{repo}` is not a git repository")
    branch = run([git(), "-C", repo, "symbolic-ref", "--short", "HEAD"], timeout=60)
    if branch.stdout.strip() != "main":
        problems.append(f"HEAD is `{branch.stdout.strip() or branch.stderr.strip()}`, not `main`")
    subjects = git_log(repo)
    if commits is not None and len(subjects) != commits:
        problems.append(f"{len(subjects)} commit(s) on main, expected {commits}: {subjects}")
    status = run([git(), "-C", repo, "status", "--porcelain", "--untracked-files=all", "--ignored=no"], timeout=60)
    if status.returncode != 0 or status.stdout.strip():
        problems.append(f"the work tree is not clean:\n{status.stdout}{status.stderr}")
    if problems:
        raise AssertionError(f"git state of `{repo}`:\n" + "\n".join(problems))
    return subjects


def committed_tree(repo: Path, destination: Path) -> Path:
    """Export `HEAD` of `repo` (what a clone would get) into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    archive = run([git(), "-C", repo, "archive", "--format=tar", "-o", destination / "head.tar", "HEAD"], timeout=60)
    if archive.returncode != 0:
        raise AssertionError(f"git archive failed in `{repo}`:\n{_describe(archive)}")
    unpack = run(["tar", "-xf", destination / "head.tar", "-C", destination], timeout=60)
    (destination / "head.tar").unlink()
    if unpack.returncode != 0:
        raise AssertionError(f"tar failed:\n{_describe(unpack)}")
    return destination


def strata_list_consistent(repo: Path) -> dict:
    """`strata list --json` agrees with strata.toml and finds no drift on disk."""
    done = strata("list", "-C", repo, "--json", cwd=repo)
    listed = json.loads(done.stdout)["result"]
    ans = answers(repo)
    problems = []
    if not listed.get("consistent", False) or listed.get("drift"):
        problems.append(f"strata list reports drift: {listed.get('drift')}")
    if [e["name"] for e in listed.get("environments", [])] != list(environments(ans)):
        problems.append(f"environments {listed.get('environments')} differ from strata.toml {list(environments(ans))}")
    if sorted(s["name"] for s in listed.get("services", [])) != sorted(service_envs(ans)):
        problems.append(f"services {listed.get('services')} differ from strata.toml {sorted(service_envs(ans))}")
    if problems:
        raise AssertionError(f"`strata list -C {repo}`:\n" + "\n".join(problems))
    return listed


# --- beyond mocks: the network, IAM, charts, TLS and the repository credential ------------------
#
# The checks below read what the foundation's program registered under mocks (explicit
# resources, Helm values, policy documents) and check it against what AWS and the charts really
# accept: AWS's list of managed policies, parliament's IAM checks, `helm template` of the
# vendored chart sources at the pinned versions.

SUBNET = "aws:ec2/subnet:Subnet"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
ANYWHERE = "0.0.0.0/0"
# Where each add-on's pods must run: kube-system controllers the cluster itself depends on
# (load balancers and their webhooks, autoscaling, metrics) as system-cluster-critical, every
# other add-on as platform-critical.
ADDON_PRIORITY_CLASS = {"kube-system": "system-cluster-critical"}
DEFAULT_ADDON_PRIORITY_CLASS = "platform-critical"
POOL_LABEL = "strata.io/pool"
# parliament findings at these severities fail; the others must be listed in ACCEPTED_FINDINGS.
BLOCKING_SEVERITIES = frozenset({"HIGH", "CRITICAL"})
# (policy name, parliament issue) -> why it is accepted (documented in docs/security.md).
ACCEPTED_FINDINGS = {
    ("aws-load-balancer-controller", "RESOURCE_STAR"):
        "the controller's official policy, shipped unchanged: describe calls, and load balancers, target groups "
        "and security groups it has not created yet, cannot be named in advance (most statements carry tag conditions)",
    ("aws-load-balancer-controller", "UNKNOWN_ACTION"):
        "elasticloadbalancing:ModifyIpPools is newer than parliament's IAM data (2025-04)",
    ("aws-load-balancer-controller", "UNKNOWN_CONDITION_FOR_ACTION"):
        "the condition key elasticloadbalancing:CreateAction is newer than parliament's IAM data (2025-04)",
    ("pulumi-preview", "UNKNOWN_CONDITION_FOR_ACTION"):
        "kms:ResourceAliases is a condition key of every KMS key operation, Decrypt included (AWS KMS "
        "'Use aliases to control access'); parliament's IAM data does not list it for Decrypt",
    ("pulumi-preview", "RESOURCE_STAR"):
        "the metadata reads of a preview (Describe/List/Get of EC2, EKS, IAM, Route 53, ACM, KMS key "
        "metadata, the secret list): lookups of resources the preview cannot name in advance; no action "
        "of that statement writes or returns a secret value or an object's data",
    ("karpenter-resource-discovery", "RESOURCE_STAR"):
        "Karpenter's published policy (getting-started CloudFormation 1.14): Describe calls, pricing and the "
        "instance-profile list take no resource; the EC2 reads are limited to the cluster's region",
    ("karpenter-resource-discovery", "RESOURCE_MISMATCH"):
        "ssm:GetParameter on AWS's public parameters (`parameter/aws/service/*`, the EKS AMI ids): their ARN "
        "has no account, which parliament's resource format does not allow for",
    ("karpenter-node-lifecycle", "RESOURCE_MISMATCH"):
        "Karpenter's published policy splits RunInstances/CreateFleet over several statements by resource "
        "type (images, subnets and security groups unconditioned; launch templates, instances and volumes "
        "only with the cluster's tags), so no one statement lists every resource type of the action",
    ("karpenter-zonal-shift", "RESOURCE_STAR"):
        "Karpenter's published policy: arc-zonal-shift:GetManagedResource is limited by its condition to this cluster",
    ("cluster-autoscaler", "RESOURCE_STAR"):
        "describe calls take no resource; SetDesiredCapacity/TerminateInstanceInAutoScalingGroup are limited by "
        "the condition on the cluster's own tag, as the autoscaler's documentation recommends",
}


def helm() -> Path:
    return _tool("HELM", REPO_ROOT / ".tools" / "bin" / "helm", "helm")


def parliament_python() -> Path:
    return _tool("PARLIAMENT_PYTHON", REPO_ROOT / ".tools" / "parliament-venv" / "bin" / "python",
                 "the parliament venv's python")


def charts_dir() -> Path:
    path = shared_dir() / "charts"
    if not path.is_dir():
        raise AssertionError(f"vendored charts not found: `{path}` is not a directory (set STRATA_SHARED)")
    return path


def managed_policy_arns_file() -> Path:
    path = shared_dir() / "aws" / "managed-policy-arns.txt"
    if not path.is_file():
        raise AssertionError(f"the list of AWS managed policies is missing: `{path}` (set STRATA_SHARED)")
    return path


def foundation_of(gitops: Path) -> Path:
    """The foundation repo of a gitops repo (`repos.foundation_dir` of strata.toml)."""
    return (gitops / answers(gitops)["repos"].get("foundation_dir", f"../{gitops.name.removesuffix('-gitops')}-foundation")).resolve()


def hosting_stacks(runs: Mapping[str, StackRun]) -> dict[str, str]:
    """Environment name -> the stack whose cluster hosts it."""
    return {env["name"]: stack for stack, r in runs.items() for env in r.config.get("environments") or []}


def _by_id(r: StackRun, token: str) -> dict[str, dict]:
    return {res.get("id"): res for res in r.of_type(token)}


def _tags(resource: Mapping) -> dict:
    return resource["inputs"].get("tags") or {}


def _subnet_tier(subnet: Mapping) -> str | None:
    tags = _tags(subnet)
    if tags.get("kubernetes.io/role/elb") == "1":
        return "public"
    if tags.get("kubernetes.io/role/internal-elb") == "1":
        return "private"
    return None


def subnets_of(r: StackRun, tier: str) -> list[dict]:
    """The subnets of a tier, told apart by the load balancer controller's role tags."""
    return [s for s in r.of_type(SUBNET) if _subnet_tier(s) == tier]


def _default_route(r: StackRun, subnet: Mapping) -> tuple[dict | None, str]:
    """The 0.0.0.0/0 route of the route table associated with a subnet, or a problem."""
    associations = [a["inputs"] for a in r.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
                    if a["inputs"].get("subnetId") == subnet.get("id")]
    if len(associations) != 1:
        return None, f"{len(associations)} route table associations"
    routes = [x["inputs"] for x in r.of_type("aws:ec2/route:Route")
              if x["inputs"].get("routeTableId") == associations[0].get("routeTableId")
              and x["inputs"].get("destinationCidrBlock") == ANYWHERE]
    if len(routes) != 1:
        return None, f"{len(routes)} default routes in its route table"
    return routes[0], ""


def network(runs: Mapping[str, StackRun]) -> None:
    """The VPC AWS will build, from the explicit `aws.ec2` resources: one public and one private
    subnet per AZ at the configured CIDRs, inside the VPC and pairwise disjoint; public subnets
    route to the VPC's internet gateway, private ones through a NAT gateway (one, or one per AZ in
    the subnet's own AZ, per `network.natGateways`) that sits in a public subnet with an Elastic
    IP; the load balancer controller's discovery tags; the cluster and the nodes use the subnets."""
    problems: list[str] = []
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        net = r.config.get("network") or {}
        vpcs = r.of_type("aws:ec2/vpc:Vpc")
        if r.of_type("awsx:ec2:Vpc"):
            p("uses the awsx Vpc component: its subnets are invisible to these checks (build the VPC from aws.ec2 resources)")
        if len(vpcs) != 1:
            p(f"expected one aws:ec2 VPC, found {len(vpcs)}")
            continue
        vpc = vpcs[0]
        vpc_net = ipaddress.ip_network(vpc["inputs"].get("cidrBlock", "0.0.0.0/32"))
        if str(vpc_net) != net.get("cidr"):
            p(f"the VPC is {vpc_net}, network.cidr says {net.get('cidr')}")
        if vpc["inputs"].get("enableDnsHostnames") is not True:
            p("the VPC has no DNS hostnames (EKS nodes need them)")
        az_count = net.get("azCount")
        subnets = r.of_type(SUBNET)
        parsed = []
        for subnet in subnets:
            label = f"subnet `{subnet['name']}` ({subnet['inputs'].get('cidrBlock')})"
            if subnet["inputs"].get("vpcId") != vpc.get("id"):
                p(f"{label} is not in the VPC")
            block = ipaddress.ip_network(subnet["inputs"].get("cidrBlock", "0.0.0.0/32"))
            if not block.subnet_of(vpc_net):
                p(f"{label} is outside the VPC {vpc_net}")
            for other_label, other in parsed:
                if block.overlaps(other):
                    p(f"{label} overlaps {other_label}")
            parsed.append((label, block))
            if _subnet_tier(subnet) is None:
                p(f"{label} has neither kubernetes.io/role/elb nor kubernetes.io/role/internal-elb")
            if _tags(subnet).get(f"kubernetes.io/cluster/{r.config.get('clusterName')}") != "shared":
                p(f"{label} lacks the tag kubernetes.io/cluster/{r.config.get('clusterName')}: shared")
        for tier, key in (("public", "publicSubnetCidrs"), ("private", "privateSubnetCidrs")):
            found = subnets_of(r, tier)
            zones = [s["inputs"].get("availabilityZone") for s in found]
            if len(found) != az_count or len(set(zones)) != len(zones):
                p(f"{len(found)} {tier} subnet(s) in AZs {zones}, expected one in each of {az_count} AZs")
            if sorted(s["inputs"].get("cidrBlock") for s in found) != sorted(net.get(key) or []):
                p(f"{tier} subnets {sorted(s['inputs'].get('cidrBlock') for s in found)} are not network.{key} {net.get(key)}")
        public_zone = {s.get("id"): s["inputs"].get("availabilityZone") for s in subnets_of(r, "public")}
        gateways = r.of_type("aws:ec2/internetGateway:InternetGateway")
        if len(gateways) != 1 or gateways[0]["inputs"].get("vpcId") != vpc.get("id"):
            p(f"expected one internet gateway attached to the VPC, found {len(gateways)}")
        gateway_ids = {g.get("id") for g in gateways}
        nats = _by_id(r, "aws:ec2/natGateway:NatGateway")
        eips = {e.get("id") for e in r.of_type("aws:ec2/eip:Eip")}
        wanted = 1 if net.get("natGateways") == "Single" else az_count
        if len(nats) != wanted:
            p(f"{len(nats)} NAT gateway(s), natGateways `{net.get('natGateways')}` over {az_count} AZs wants {wanted}")
        for nat in nats.values():
            if nat["inputs"].get("subnetId") not in public_zone:
                p(f"NAT gateway `{nat['name']}` is not in a public subnet")
            if nat["inputs"].get("allocationId") not in eips:
                p(f"NAT gateway `{nat['name']}` has no Elastic IP of this stack")
        for subnet in subnets_of(r, "public"):
            route, why = _default_route(r, subnet)
            if route is None:
                p(f"public subnet `{subnet['name']}`: {why}")
            elif route.get("gatewayId") not in gateway_ids:
                p(f"public subnet `{subnet['name']}` does not route 0.0.0.0/0 to the internet gateway: {route}")
            if subnet["inputs"].get("mapPublicIpOnLaunch"):
                p(f"public subnet `{subnet['name']}` gives instances public IPs")
        for subnet in subnets_of(r, "private"):
            route, why = _default_route(r, subnet)
            if route is None:
                p(f"private subnet `{subnet['name']}`: {why}")
                continue
            nat = nats.get(route.get("natGatewayId"))
            if nat is None:
                p(f"private subnet `{subnet['name']}` does not route 0.0.0.0/0 through a NAT gateway: {route}")
            elif net.get("natGateways") == "OnePerAz" and public_zone.get(nat["inputs"].get("subnetId")) != subnet["inputs"].get("availabilityZone"):
                p(f"private subnet `{subnet['name']}` uses the NAT gateway of another AZ")
        private_ids = sorted(s.get("id") for s in subnets_of(r, "private"))
        public_ids = sorted(s.get("id") for s in subnets_of(r, "public"))
        for cluster in r.of_type("eks:index:Cluster"):
            if sorted(cluster["inputs"].get("privateSubnetIds") or []) != private_ids:
                p("the cluster's privateSubnetIds are not the private subnets")
            # Under EKS Auto Mode the built-in node class launches nodes in the cluster's
            # subnets: the cluster gets the private ones only.
            expected_public = [] if r.config.get("compute") == "auto-mode" else public_ids
            if sorted(cluster["inputs"].get("publicSubnetIds") or []) != expected_public:
                p(f"the cluster's publicSubnetIds are not {'empty (Auto Mode)' if not expected_public else 'the public subnets'}")
        egress = {x["urn"] for x in r.of_type("aws:ec2/route:Route") if x["inputs"].get("natGatewayId")}
        for group in r.of_type("aws:eks/nodeGroup:NodeGroup"):
            if sorted(group["inputs"].get("subnetIds") or []) != private_ids:
                p(f"node group `{group['name']}` is not in exactly the private subnets")
            if not egress <= set(group.get("dependencies") or []):
                p(f"node group `{group['name']}` does not wait for the NAT routes (nodes cannot join without egress)")
    if problems:
        raise AssertionError(f"{len(problems)} network problem(s):\n" + "\n".join(problems))


# --- IAM ------------------------------------------------------------------------------------------


def managed_policies_exist(runs: Mapping[str, StackRun]) -> list[str]:
    """Every AWS managed policy the foundation attaches is in AWS's list of managed policies
    (`shared/aws/managed-policy-arns.txt`). Returns the ARNs checked."""
    known = {line.strip() for line in managed_policy_arns_file().read_text(encoding="utf-8").splitlines() if line.strip()}
    problems, checked = [], []
    for stack, r in sorted(runs.items()):
        arns = [(a["name"], a["inputs"].get("policyArn")) for a in r.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
        arns += [(role["name"], arn) for role in r.of_type("aws:iam/role:Role") for arn in role["inputs"].get("managedPolicyArns") or []]
        for owner, arn in arns:
            if not isinstance(arn, str) or not re.match(r"^arn:aws[\w-]*:iam::aws:policy/", arn):
                continue  # a customer managed policy of the account
            normalized = re.sub(r"^arn:aws[\w-]*:", "arn:aws:", arn)
            checked.append(arn)
            if normalized not in known:
                problems.append(f"stack `{stack}`: `{owner}` attaches `{arn}`, which is not an AWS managed policy")
    if problems:
        raise AssertionError("\n".join(problems))
    if not checked:
        raise AssertionError("no AWS managed policy attachment found: the check saw nothing")
    return checked


def policy_documents(runs: Mapping[str, StackRun]) -> list[tuple[str, str, str]]:
    """(stack, policy name, JSON) of every identity policy the foundation writes (inline role
    policies and managed policies of its own), one per name (stacks write the same documents)."""
    found: dict[tuple[str, str], tuple[str, str, str]] = {}
    for stack, r in sorted(runs.items()):
        for policy in r.of_type("aws:iam/rolePolicy:RolePolicy") + r.of_type("aws:iam/policy:Policy"):
            document = policy["inputs"].get("policy")
            name = policy["inputs"].get("name") or policy["name"]
            if isinstance(document, str):
                found.setdefault((name, document), (stack, name, document))
    return list(found.values())


# What `parliament --string` does: analyze, give each finding its severity from parliament's
# config (`enhance_finding`), drop those below LOW or in the config's ignore list.
_PARLIAMENT_SCRIPT = """
import json, sys
import parliament
from parliament.cli import is_finding_filtered
out = []
for name, text in json.load(sys.stdin):
    policy = parliament.analyze_policy_string(text)
    found = [parliament.enhance_finding(f) for f in policy.findings]
    out.append([name, [{"issue": f.issue, "severity": f.severity, "detail": str(f.detail)[:300]}
                       for f in found if not is_finding_filtered(f, "LOW")]])
json.dump(out, sys.stdout)
"""


def parliament_findings(documents: list[tuple[str, str, str]]) -> list[dict]:
    """Run parliament (its Python API) on every document; returns the findings with the policy name."""
    server = SERVERS.get("parliament", parliament_python(), ["parliament", "parliament.cli"], WORKERS)
    done = server.run([], Path(tempfile.gettempdir()), code=_PARLIAMENT_SCRIPT, timeout=300,
                      input=json.dumps([[name, text] for _, name, text in documents]))
    if done.returncode != 0:
        raise AssertionError(f"parliament failed:\n{done.stderr[-4000:]}")
    findings = []
    for name, found in json.loads(done.stdout):
        for finding in found:
            findings.append({"policy": name, **finding})
    return findings


def iam_policies_pass_parliament(runs: Mapping[str, StackRun]) -> list[dict]:
    """No policy document the foundation writes has a HIGH or CRITICAL parliament finding, and
    every lower one is an accepted, documented finding (`ACCEPTED_FINDINGS`)."""
    documents = policy_documents(runs)
    if not documents:
        raise AssertionError("no IAM policy document found: the check saw nothing")
    findings = parliament_findings(documents)
    problems = []
    for finding in findings:
        label = f"policy `{finding['policy']}`: {finding['severity']} {finding['issue']} ({finding['detail']})"
        if finding["severity"] in BLOCKING_SEVERITIES:
            problems.append(label)
        elif (finding["policy"], finding["issue"]) not in ACCEPTED_FINDINGS:
            problems.append(f"{label}: not an accepted finding (add it to ACCEPTED_FINDINGS and docs/security.md, or fix it)")
    if problems:
        raise AssertionError(f"{len(problems)} parliament finding(s):\n" + "\n".join(problems))
    return findings


# --- Helm: the charts the foundation installs, rendered from their sources -------------------------


@dataclass
class Render:
    """One Helm release rendered with `helm template`."""

    stack: str
    release: dict  # the release's recorded inputs
    objects: list[dict]


def chart_name(chart: str) -> str:
    """A release's chart by its name (`oci://registry/path/karpenter` -> `karpenter`)."""
    return chart.rsplit("/", 1)[-1] if chart.startswith("oci://") else chart


def chart_source(chart: str, version: str) -> Path:
    """The vendored source of a chart at a version; a version that is not vendored is a failure."""
    chart = chart_name(chart)
    path = charts_dir() / f"{chart}-{version}"
    if not (path / "Chart.yaml").is_file():
        vendored = sorted(p.name for p in charts_dir().iterdir() if p.name.startswith(f"{chart}-"))
        raise AssertionError(f"chart `{chart}` version `{version}` is not vendored in `{charts_dir()}` "
                             f"(vendored: {vendored}): pin a vendored version, or vendor this one")
    with (path / "Chart.yaml").open(encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    if meta.get("name") != chart or str(meta.get("version")) != version:
        raise AssertionError(f"`{path}/Chart.yaml` is {meta.get('name')} {meta.get('version')}, not {chart} {version}")
    return path


_RENDER_CACHE: dict[str, list[dict]] = {}


def helm_template(inputs: Mapping) -> list[dict]:
    """`helm template` of one recorded release, with its values, from the vendored source."""
    source = chart_source(inputs.get("chart", ""), str(inputs.get("version", "")))
    values = normalize_numbers(inputs.get("values") or {})
    key = hashlib.sha256(json.dumps([str(source), inputs.get("name"), inputs.get("namespace"), values],
                                    sort_keys=True).encode()).hexdigest()
    if key in _RENDER_CACHE:
        return _RENDER_CACHE[key]
    with tempfile.TemporaryDirectory(prefix="strata-helm-") as scratch:
        values_file = Path(scratch) / "values.json"
        values_file.write_text(json.dumps(values), encoding="utf-8")
        done = run([helm(), "template", inputs.get("name"), source, "--namespace", inputs.get("namespace"),
                    "--values", values_file, "--kube-version", KUBERNETES_VERSION, "--skip-tests"], timeout=300,
                   env={"HELM_CACHE_HOME": scratch, "HELM_CONFIG_HOME": scratch, "HELM_DATA_HOME": scratch})
    if done.returncode != 0:
        raise AssertionError(f"`helm template` of release `{inputs.get('name')}` ({inputs.get('chart')} "
                             f"{inputs.get('version')}) fails with the foundation's values:\n{done.stderr.strip()[-3000:]}")
    objects = [o for o in yaml.load_all(done.stdout, Loader=_LOADER) if isinstance(o, dict)]
    # `List` documents (some charts wrap objects) hold their objects in `items`.
    flat = [item for o in objects for item in (o.get("items") or [] if o.get("kind") == "List" else [o])]
    _RENDER_CACHE[key] = flat
    return flat


def helm_renders(runs: Mapping[str, StackRun]) -> list[Render]:
    """Render every Helm release of every stack (in parallel); every failure is reported at once."""
    helm()
    jobs = [(stack, rel["inputs"]) for stack, r in sorted(runs.items()) for rel in r.of_type(HELM_RELEASE)]
    if not jobs:
        raise AssertionError("no Helm release found: the check saw nothing")
    problems, renders = [], []

    def one(job):
        stack, inputs = job
        try:
            return Render(stack, inputs, helm_template(inputs)), None
        except AssertionError as error:
            return None, f"stack `{stack}`: {error}"

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for render, error in pool.map(one, jobs):
            if error:
                problems.append(error)
            else:
                renders.append(render)
    if problems:
        raise AssertionError(f"{len(problems)} Helm release(s) do not render:\n" + "\n\n".join(problems))
    return renders


def _role_arn_of(role: Mapping) -> str:
    """The ARN the harness's mocks give a role."""
    name = role["inputs"].get("name") or f"{role['name']}-mock"
    return f"arn:aws:iam::{role.get('account', MOCK_ACCOUNT)}:role/{name}"


def helm_releases_deploy(runs: Mapping[str, StackRun], renders: list[Render] | None = None) -> None:
    """What the charts would really create: every release is atomic with a timeout; the IRSA
    roles' service accounts exist with the matching role-ARN annotation (made by a chart, by the
    foundation itself, or by an EKS managed add-on); every add-on pod tolerates the taints of the
    add-on pool, is pinned to it when `addons.nodePool` is set, and has its priority class."""
    renders = renders if renders is not None else helm_renders(runs)
    problems: list[str] = []
    by_stack: dict[str, list[Render]] = defaultdict(list)
    for render in renders:
        by_stack[render.stack].append(render)
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        for rel in r.of_type(HELM_RELEASE):
            inputs = rel["inputs"]
            if inputs.get("atomic") is not True:
                p(f"release `{inputs.get('name')}` is not atomic (a failed upgrade stays half applied)")
            if not isinstance(inputs.get("timeout"), (int, float)) or inputs.get("timeout", 0) <= 0:
                p(f"release `{inputs.get('name')}` has no timeout")
        # service accounts, wherever they come from: namespace/name -> annotations
        accounts: dict[str, dict] = {}
        for render in by_stack[stack]:
            namespace = render.release.get("namespace")
            for obj in render.objects:
                if obj.get("kind") == "ServiceAccount":
                    accounts[f"{_namespace(obj) or namespace}/{_name(obj)}"] = (obj.get("metadata") or {}).get("annotations") or {}
        for obj in r.kubernetes_objects("ServiceAccount"):
            accounts[f"{_namespace(obj)}/{_name(obj)}"] = (obj.get("metadata") or {}).get("annotations") or {}
        for patch in r.of_type("kubernetes:core/v1:ServiceAccountPatch"):
            meta = patch["inputs"].get("metadata") or {}
            accounts[f"{meta.get('namespace')}/{meta.get('name')}"] = meta.get("annotations") or {}
        addon_roles = {}
        for addon in r.of_type("aws:eks/addon:Addon"):
            if addon["inputs"].get("serviceAccountRoleArn"):
                addon_roles[addon["inputs"].get("addonName")] = addon["inputs"]["serviceAccountRoleArn"]
        service_accounts_of_gitops = {f"{s['namespace']}/{s['serviceAccount']}" for s in r.config.get("serviceRoles") or []}
        for association in r.of_type(POD_IDENTITY_ASSOCIATION):
            account = f"{association['inputs'].get('namespace')}/{association['inputs'].get('serviceAccount')}"
            if account in service_accounts_of_gitops or account == "kube-system/ebs-csi-controller-sa":
                continue  # the gitops repo's (checked by `wiring`), the EBS add-on's own
            if account not in accounts:
                p(f"association `{association['name']}` names ServiceAccount {account}, which nothing creates")
            elif ROLE_ARN_ANNOTATION in accounts[account]:
                p(f"ServiceAccount {account} has a Pod Identity association and an IRSA annotation")
        for role in r.of_type("aws:iam/role:Role"):
            for subject in _trusted_subjects(role):
                account = subject.removeprefix("system:serviceaccount:").replace(":", "/", 1)
                arn = _role_arn_of(role)
                if account in service_accounts_of_gitops:
                    continue  # the gitops repo's ServiceAccount: checked by `wiring`
                if account == "kube-system/ebs-csi-controller-sa":
                    if addon_roles.get("aws-ebs-csi-driver") != arn:
                        p(f"role `{role['name']}` trusts {account}, but the EBS CSI add-on is given {addon_roles.get('aws-ebs-csi-driver')}")
                    continue
                if account not in accounts:
                    p(f"role `{role['name']}` trusts ServiceAccount {account}, which nothing creates (charts make "
                      f"{sorted(a for a in accounts if a.split('/')[0] == account.split('/')[0])})")
                elif accounts[account].get(ROLE_ARN_ANNOTATION) != arn:
                    p(f"ServiceAccount {account} is annotated {accounts[account].get(ROLE_ARN_ANNOTATION)!r}, "
                      f"but the role trusting it is {arn}")
        # placement
        pool = (r.config.get("addons") or {}).get("nodePool")
        taints = []
        for group in r.config.get("nodeGroups") or []:
            if group.get("name") == pool:
                taints = group.get("taints") or []
        effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
        for render in by_stack[stack]:
            namespace = render.release.get("namespace")
            wanted_class = ADDON_PRIORITY_CLASS.get(namespace, DEFAULT_ADDON_PRIORITY_CLASS)
            for obj in render.objects:
                for template in _pod_templates(obj):
                    pod = template.get("spec") or {}
                    label = f"release `{render.release.get('name')}`: {obj.get('kind')} `{_name(obj)}`"
                    selector = pod.get("nodeSelector") or {}
                    if pool and selector.get(POOL_LABEL) != pool:
                        p(f"{label} is not pinned to the add-on pool `{pool}` (nodeSelector {selector})")
                    if not pool and POOL_LABEL in selector:
                        p(f"{label} is pinned to `{selector[POOL_LABEL]}` although no addons.nodePool is set")
                    if compute_of(r.config) == "auto-mode" and (
                        selector.get("karpenter.sh/nodepool") != "system"
                        or not _tolerates(pod.get("tolerations") or [], "CriticalAddonsOnly", "true", "NoSchedule")
                    ):
                        p(f"{label} does not run on EKS Auto Mode's `system` pool (nodeSelector {selector})")
                    for taint in taints:
                        if not _tolerates(pod.get("tolerations") or [], taint.get("key"), taint.get("value"),
                                          effects.get(taint.get("effect"), taint.get("effect"))):
                            p(f"{label} does not tolerate the add-on pool's taint {taint}")
                    if pod.get("priorityClassName") != wanted_class:
                        p(f"{label} has priority class {pod.get('priorityClassName')!r}, expected `{wanted_class}`")
    if problems:
        raise AssertionError(f"{len(problems)} problem(s) in what the Helm releases deploy:\n" + "\n".join(problems))


def _tolerates(tolerations: list[Mapping], key: str, value: str, effect: str) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", effect):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", key):
            return True
        if toleration.get("key") == key and toleration.get("value", "") == (value or ""):
            return True
    return False


# --- TLS and load balancers ------------------------------------------------------------------------


def _covers(name: str, host: str) -> bool:
    """Whether a certificate name covers a host (a wildcard covers exactly one label)."""
    if name.startswith("*."):
        return host.count(".") == name.count(".") and host.split(".", 1)[1] == name[2:]
    return name == host


def tls_and_ingress(runs: Mapping[str, StackRun], gitops: Path | None = None,
                    builds: Mapping[str, list[dict]] | None = None) -> None:
    """Per environment: a DNS-validated ACM certificate whose validation records are written once
    in the domain's zone, and IngressClasses `<env>-public`/`<env>-internal` with params that carry
    the validated certificate, the scheme, the group `<project>-<env>-<exposure>`, the TLS policy,
    ip targets, the public subnets and a namespace selector on the environment's namespace; the
    controller creates no IngressClass of its own. With the gitops repo: every Ingress uses an
    IngressClass of its environment, created by the stack that hosts it, and every host is
    covered by the environment's certificate."""
    problems: list[str] = []
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        project, domain = r.config.get("project"), r.config.get("domain")
        certificates = {c["name"]: c for c in r.of_type("aws:acm/certificate:Certificate")}
        validations = {v["name"]: v["inputs"] for v in r.of_type("aws:acm/certificateValidation:CertificateValidation")}
        records = [x["inputs"] for x in r.of_type("aws:route53/record:Record")]
        keys = [(x.get("name"), x.get("type")) for x in records]
        for key in {k for k in keys if keys.count(k) > 1}:
            p(f"the validation record {key} is written {keys.count(key)} times")
        fqdns = {str(x.get("name", "")).rstrip(".") for x in records}
        params = {_name(o): o for o in r.kubernetes_objects("IngressClassParams")}
        classes = {_name(o): o for o in r.kubernetes_objects("IngressClass")}
        public_ids = sorted(s.get("id") for s in subnets_of(r, "public"))
        for rel in r.of_type(HELM_RELEASE):
            if rel["inputs"].get("chart") == "aws-load-balancer-controller" and \
                    (rel["inputs"].get("values") or {}).get("createIngressClassResource") is not False:
                p("the load balancer controller's chart creates its own `alb` IngressClass (createIngressClassResource)")
        for env in r.config.get("environments") or []:
            name, namespace = env["name"], env.get("namespace", env["name"])
            wanted = env.get("certificate") or {"domainName": f"*.{name}.{domain}"}
            names = [wanted.get("domainName"), *(wanted.get("subjectAlternativeNames") or [])]
            certificate = certificates.get(f"certificate-{name}")
            if certificate is None:
                p(f"environment `{name}` has no ACM certificate")
                continue
            inputs = certificate["inputs"]
            if [inputs.get("domainName"), *(inputs.get("subjectAlternativeNames") or [])] != names:
                p(f"the certificate of `{name}` names {[inputs.get('domainName'), *(inputs.get('subjectAlternativeNames') or [])]}, config says {names}")
            if inputs.get("validationMethod") != "DNS":
                p(f"the certificate of `{name}` is not DNS-validated")
            validation = validations.get(f"certificate-{name}")
            arn = f"arn:aws:acm:mock:{r.config.get('account') or MOCK_ACCOUNT}:certificate/certificate-{name}"
            if not validation or validation.get("certificateArn") != arn:
                p(f"the certificate of `{name}` has no CertificateValidation")
            else:
                missing = [n for n in names if not any(f.endswith("." + n.removeprefix("*.")) for f in validation.get("validationRecordFqdns") or [])]
                if missing or not set(validation.get("validationRecordFqdns") or []) <= fqdns:
                    p(f"the validation of `{name}`'s certificate waits for no record of {missing or validation.get('validationRecordFqdns')}")
            for exposure, scheme in (("public", "internet-facing"), ("internal", "internal")):
                class_name = f"{name}-{exposure}"
                param = params.get(class_name)
                ingress_class = classes.get(class_name)
                if param is None or ingress_class is None:
                    p(f"no IngressClass and IngressClassParams `{class_name}`")
                    continue
                spec = param.get("spec") or {}
                # EKS Auto Mode's parameters name the certificates `certificateARNs`.
                auto_mode = compute_of(r.config) == "auto-mode"
                want = {
                    "scheme": scheme,
                    "group": {"name": f"{project}-{name}-{exposure}"},
                    "certificateARNs" if auto_mode else "certificateArn": [arn],
                    "targetType": "ip",
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "sslRedirectPort": "443",
                }
                for key, value in want.items():
                    if spec.get(key) != value:
                        p(f"IngressClassParams `{class_name}`: {key} is {spec.get(key)!r}, expected {value!r}")
                if not str(spec.get("sslPolicy", "")).startswith("ELBSecurityPolicy-TLS13"):
                    p(f"IngressClassParams `{class_name}`: sslPolicy {spec.get('sslPolicy')!r} is not a TLS 1.3 policy")
                if sorted((spec.get("subnets") or {}).get("ids") or []) != public_ids:
                    p(f"IngressClassParams `{class_name}`: the load balancer is not in the public subnets "
                      f"(the NetworkPolicies admit load balancers from there only)")
                controller, group = ("eks.amazonaws.com/alb", "eks.amazonaws.com") if auto_mode else (
                    "ingress.k8s.aws/alb", "elbv2.k8s.aws")  # fmt: skip
                if (ingress_class.get("spec") or {}) != {"controller": controller, "parameters": {
                        "apiGroup": group, "kind": "IngressClassParams", "name": class_name}}:
                    p(f"IngressClass `{class_name}` does not point at its parameters: {ingress_class.get('spec')}")
    if gitops is not None:
        ans = answers(gitops)
        builds = builds if builds is not None else kustomize_builds(gitops)
        hosts_of = hosting_stacks(runs)
        envs = environments(ans)
        for rel, objs in builds.items():
            parts = rel.split("/")
            if len(parts) != 4 or parts[0] != "services":
                continue
            env = parts[3]
            stack = hosts_of.get(env)
            if stack is None:
                continue
            r = runs[stack]
            params = {_name(o): o for o in r.kubernetes_objects("IngressClassParams")}
            env_config = next((e for e in r.config.get("environments") or [] if e["name"] == env), {})
            wanted = env_config.get("certificate") or {"domainName": f"*.{env}.{r.config.get('domain')}"}
            names = [wanted.get("domainName"), *(wanted.get("subjectAlternativeNames") or [])]
            for ingress in _of_kind(objs, "Ingress"):
                label = f"{rel}: Ingress `{_name(ingress)}`"
                class_name = (ingress.get("spec") or {}).get("ingressClassName")
                annotations = (ingress.get("metadata") or {}).get("annotations") or {}
                if "kubernetes.io/ingress.class" in annotations:
                    problems.append(f"{label} uses the ingress.class annotation, which bypasses the IngressClass parameters")
                if class_name not in (f"{env}-public", f"{env}-internal") or class_name not in params:
                    problems.append(f"{label} uses IngressClass `{class_name}`, not one of `{env}` that stack `{stack}` creates")
                else:
                    selector = ((params[class_name].get("spec") or {}).get("namespaceSelector") or {}).get("matchLabels") or {}
                    if selector.get("kubernetes.io/metadata.name") != (_namespace(ingress) or envs.get(env)):
                        problems.append(f"{label} in namespace `{_namespace(ingress)}` may not use `{class_name}` (its selector: {selector})")
                for rule in (ingress.get("spec") or {}).get("rules") or []:
                    host = rule.get("host")
                    if host and not any(_covers(n, host) for n in names):
                        problems.append(f"{label}: host `{host}` is not covered by `{env}`'s certificate {names}")
    if problems:
        raise AssertionError(f"{len(problems)} TLS/ingress problem(s):\n" + "\n".join(problems))


# --- the repository credential and the hand-over ---------------------------------------------------


def repo_credentials(runs: Mapping[str, StackRun], gitops_url_: str) -> None:
    """With `gitops.repoCredentials: secrets-manager`: the empty secret `<project>/argocd/gitops-repo`
    (created by at most one stack), a role that reads only it trusted by `argocd/gitops-repo-reader`,
    that ServiceAccount, a SecretStore in argocd using it, and an ExternalSecret writing Argo CD's
    repository Secret (label, `type: git`, the gitops URL, the JSON's fields); the root Applications
    wait for it. With `none`: none of it."""
    problems: list[str] = []
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        mode = (r.config.get("gitops") or {}).get("repoCredentials", "secrets-manager")
        name = f"{r.config.get('project')}/argocd/gitops-repo"
        # Grafana's admin credential (platform monitoring) is a secret of its own: `platform_services`.
        secrets = [s for s in r.of_type("aws:secretsmanager/secret:Secret")
                   if not s["inputs"].get("name", "").endswith("/grafana-admin")]
        in_argocd = lambda kind: [o for o in r.kubernetes_objects(kind) if _namespace(o) == ARGOCD_NAMESPACE]  # noqa: E731
        if mode == "none":
            if secrets or in_argocd("ExternalSecret") or in_argocd("SecretStore"):
                p("repoCredentials is `none`, yet a repository credential is set up")
            continue
        if len(secrets) > 1:
            p(f"{len(secrets)} Secrets Manager secrets")
        for secret in secrets:
            if secret["inputs"].get("name") != name:
                p(f"the secret is named `{secret['inputs'].get('name')}`, not `{name}`")
            if "secretString" in secret["inputs"] or r.of_type("aws:secretsmanager/secretVersion:SecretVersion"):
                p("the secret's value is in the program: it must be put by hand, never in code")
        stores = in_argocd("SecretStore")
        externals = in_argocd("ExternalSecret")
        if len(stores) != 1 or len(externals) != 1:
            p(f"expected one SecretStore and one ExternalSecret in argocd, found {len(stores)} and {len(externals)}")
            continue
        store, external = stores[0], externals[0]
        problems += [f"stack `{stack}`: {x}" for x in _secret_reach(r, store, name)]
        spec = external.get("spec") or {}
        if spec.get("secretStoreRef") != {"kind": "SecretStore", "name": _name(store)}:
            p(f"the ExternalSecret uses {spec.get('secretStoreRef')}, not the SecretStore `{_name(store)}`")
        if spec.get("dataFrom") != [{"extract": {"key": name}}]:
            p(f"the ExternalSecret reads {spec.get('dataFrom')}, not every field of `{name}`")
        template = (spec.get("target") or {}).get("template") or {}
        if ((template.get("metadata") or {}).get("labels") or {}).get("argocd.argoproj.io/secret-type") != "repository":
            p("the Secret is not labelled argocd.argoproj.io/secret-type: repository (Argo CD would ignore it)")
        if (template.get("data") or {}) != {"type": "git", "url": gitops_url_}:
            p(f"the Secret's templated data is {template.get('data')}, expected type git and url {gitops_url_}")
        if template.get("mergePolicy") != "Merge":
            p("the template replaces the JSON's fields (mergePolicy is not Merge): the credential would be lost")
        external_urn = next(x["urn"] for x in r.resources if x["type"].endswith(":ExternalSecret")
                            and (x["inputs"].get("metadata") or {}).get("namespace") == ARGOCD_NAMESPACE)
        for app in r.of_type("kubernetes:argoproj.io/v1alpha1:Application"):
            if external_urn not in app.get("dependencies", []):
                p(f"root Application `{app['name']}` does not wait for the repository credential")
    if problems:
        raise AssertionError(f"{len(problems)} repository credential problem(s):\n" + "\n".join(problems))


def _secret_reach(r: StackRun, store: Mapping, secret: str) -> list[str]:
    """The store authenticates as a ServiceAccount annotated with the one role that trusts exactly
    it, and that role may read exactly `secret` (its ARN: the name, `-` and six characters)."""
    auth = (((store.get("spec") or {}).get("provider") or {}).get("aws") or {}).get("auth") or {}
    account = ((auth.get("jwt") or {}).get("serviceAccountRef") or {}).get("name")
    subject = f"system:serviceaccount:{_namespace(store)}:{account}"
    roles = [role for role in r.of_type("aws:iam/role:Role") if _trusted_subjects(role) == [subject]]
    if len(roles) != 1:
        return [f"SecretStore `{_name(store)}`: expected one role trusting `{subject}`, found {len(roles)}"]
    accounts = [a for a in r.kubernetes_objects("ServiceAccount") if _namespace(a) == _namespace(store) and _name(a) == account]
    if len(accounts) != 1 or ((accounts[0].get("metadata") or {}).get("annotations") or {}).get(ROLE_ARN_ANNOTATION) != _role_arn_of(roles[0]):
        return [f"ServiceAccount {_namespace(store)}/{account} is missing or not annotated with its role"]
    resources = []
    for policy in r.of_type("aws:iam/rolePolicy:RolePolicy"):
        if policy.get("parent") != roles[0]["urn"]:
            continue
        statements = json.loads(policy["inputs"]["policy"]).get("Statement") or []
        for statement in statements if isinstance(statements, list) else [statements]:
            found = statement.get("Resource")
            resources += found if isinstance(found, list) else [found]
    if not resources or any(not str(x).endswith(f":secret:{secret}-??????") for x in resources):
        return [f"the role of SecretStore `{_name(store)}` may read {resources}, not exactly `{secret}`"]
    return []


def environment_projects(runs: Mapping[str, StackRun]) -> dict[str, dict[str, Mapping]]:
    """Environment -> {AppProject name -> spec} of the cluster that hosts it (the foundation's projects)."""
    out: dict[str, dict[str, Mapping]] = {}
    for stack, r in runs.items():
        projects = {_name(p): p.get("spec") or {} for p in r.kubernetes_objects("AppProject")}
        for env in r.config.get("environments") or []:
            out[env["name"]] = projects
    return out


def foundation_projects(runs: Mapping[str, StackRun], gitops_url_: str) -> None:
    """Each environment's AppProject `<env>` is the foundation's: only the gitops repo, only the
    environment's namespace on its cluster, no cluster-scoped kind, exactly the application kinds.
    Its root project `<env>-root` allows Applications only; the root Application waits for both."""
    problems: list[str] = []
    for stack, r in sorted(runs.items()):
        projects = {_name(p): p for p in r.kubernetes_objects("AppProject")}
        resources = {(res["type"], (res["inputs"].get("metadata") or {}).get("name")): res for res in r.resources}
        for app in r.kubernetes_objects("Application"):
            problems += [f"stack `{stack}`: root Application `{_name(app)}`: {x}" for x in retry_problems(app.get("spec") or {})]
        for env in r.config.get("environments") or []:
            name, namespace = env["name"], env.get("namespace", env["name"])
            label = f"stack `{stack}`: AppProject `{name}`"
            project = projects.get(name)
            if project is None:
                problems.append(f"stack `{stack}`: no AppProject `{name}` for environment `{name}`")
                continue
            spec = project.get("spec") or {}
            monitoring = bool((r.config.get("platformServices") or {}).get("monitoring"))
            problems += [f"{label}: {x}" for x in _environment_project_problems(spec, gitops_url_, namespace, monitoring)]
            root = projects.get(f"{name}-root")
            if root is None:
                problems.append(f"stack `{stack}`: no root AppProject `{name}-root`")
            else:
                kinds = [(k.get("group"), k.get("kind")) for k in (root.get("spec") or {}).get("namespaceResourceWhitelist") or []]
                if kinds != [("argoproj.io", "Application")]:
                    problems.append(f"stack `{stack}`: root AppProject `{name}-root` allows {kinds}, not Applications only "
                                    "(an AppProject from git could widen the boundary)")
                if (root.get("spec") or {}).get("clusterResourceWhitelist") != []:
                    problems.append(f"stack `{stack}`: root AppProject `{name}-root` allows cluster-scoped kinds")
            app = resources.get(("kubernetes:argoproj.io/v1alpha1:Application", f"{name}-apps"))
            for project_name in (name, f"{name}-root"):
                dependency = resources.get(("kubernetes:argoproj.io/v1alpha1:AppProject", project_name))
                if app is not None and dependency is not None and dependency["urn"] not in app.get("dependencies", []):
                    problems.append(f"stack `{stack}`: root Application `{name}-apps` does not wait for AppProject `{project_name}`")
    if problems:
        raise AssertionError(f"{len(problems)} AppProject problem(s):\n" + "\n".join(problems))


def _environment_project_problems(spec: Mapping, url: str, namespace: str, monitoring: bool = False) -> list[str]:
    """The environment's project: this repo, its namespace, the application kinds (and, with
    platform monitoring on, `ServiceMonitor`: every service has one)."""
    kinds = APPLICATION_KINDS | ({SERVICE_MONITOR} if monitoring else set())
    problems = []
    if spec.get("sourceRepos") != [url]:
        problems.append(f"sourceRepos {spec.get('sourceRepos')} is not [{url!r}]")
    destinations = spec.get("destinations") or []
    if not destinations or any(d.get("namespace") != namespace or d.get("server") != IN_CLUSTER for d in destinations):
        problems.append(f"destinations {destinations} are not only the in-cluster namespace `{namespace}`")
    if spec.get("clusterResourceWhitelist") != []:
        problems.append(f"clusterResourceWhitelist is {spec.get('clusterResourceWhitelist')!r}, not []")
    whitelist = [(k.get("group"), k.get("kind")) for k in spec.get("namespaceResourceWhitelist") or []]
    if len(whitelist) != len(set(whitelist)) or set(whitelist) != kinds:
        extra = sorted(set(whitelist) - kinds, key=str)
        missing = sorted(kinds - set(whitelist), key=str)
        problems.append(f"namespaceResourceWhitelist is not exactly the application kinds "
                        f"(extra {extra}, missing {missing}, duplicates {len(whitelist) - len(set(whitelist))})")
    return problems


# --- Karpenter --------------------------------------------------------------------------------------

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def karpenter_objects(runs: Mapping[str, StackRun]) -> int:
    """With `compute: karpenter`: one `NodePool` per `nodePools` entry, valid against Karpenter's
    CRDs at the pinned version, created after the CRD release, each referring to an
    `EC2NodeClass` of the stack whose role is the Karpenter node role, which has an `EC2_LINUX`
    access entry; the controller is given this stack's interruption queue, which the five
    EventBridge rules feed. With any other choice: none of it. Returns the NodePools checked."""
    problems: list[str] = []
    checked = 0
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        pools, classes = r.of_type(NODE_POOL), r.of_type(EC2_NODE_CLASS)
        if compute_of(r.config) != "karpenter":
            if pools or classes or r.of_type("aws:sqs/queue:Queue"):
                p(f"compute `{compute_of(r.config)}` but Karpenter objects or a queue exist")
            continue
        wanted = {pool["name"]: pool for pool in r.config.get("nodePools") or []}
        objects = {_name(o): o for o in r.kubernetes_objects("NodePool")}
        if set(objects) != set(wanted) or not wanted:
            p(f"NodePools {sorted(objects)} are not nodePools {sorted(wanted)}")
        class_objects = {_name(o): o for o in r.kubernetes_objects("EC2NodeClass")}
        node_roles = [role for role in r.of_type("aws:iam/role:Role") if role["name"] == "karpenter-node-role"]
        role_name = (node_roles[0]["inputs"].get("name") or f"{node_roles[0]['name']}-mock") if node_roles else None
        entries = [e["inputs"] for e in r.of_type("aws:eks/accessEntry:AccessEntry") if e["inputs"].get("type") == "EC2_LINUX"]
        if not node_roles or [e.get("principalArn") for e in entries] != [_role_arn_of(node_roles[0])]:
            p(f"the Karpenter node role has no EC2_LINUX access entry of its own (entries: {entries})")
        crd_release = [rel for rel in r.of_type(HELM_RELEASE) if chart_name(rel["inputs"].get("chart", "")) == "karpenter-crd"]
        for obj in [*objects.values(), *class_objects.values()]:
            for problem in object_problems(obj):
                p(f"{_label(obj)}: {problem}")
        for resource in pools + classes:
            if not crd_release or crd_release[0]["urn"] not in (resource.get("dependencies") or []):
                p(f"`{resource['name']}` does not wait for the karpenter-crd release (its CRDs)")
        for name, obj in objects.items():
            checked += 1
            ref = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeClassRef") or {})
            node_class = class_objects.get(ref.get("name"))
            if node_class is None or ref.get("kind") != "EC2NodeClass":
                p(f"NodePool `{name}` refers to {ref}, which is no EC2NodeClass of the stack")
            elif (node_class.get("spec") or {}).get("role") != role_name:
                p(f"EC2NodeClass `{ref.get('name')}` runs nodes as `{(node_class.get('spec') or {}).get('role')}`, not the Karpenter node role")
        queues = r.of_type("aws:sqs/queue:Queue")
        controller = [rel for rel in r.of_type(HELM_RELEASE) if chart_name(rel["inputs"].get("chart", "")) == "karpenter"]
        if len(queues) != 1 or len(controller) != 1:
            p(f"expected one interruption queue and one controller release, found {len(queues)} and {len(controller)}")
            continue
        queue_name = queues[0]["inputs"].get("name") or f"{queues[0]['name']}-mock"
        if ((controller[0]["inputs"].get("values") or {}).get("settings") or {}).get("interruptionQueue") != queue_name:
            p("the controller is not given the stack's interruption queue")
        targets = [t["inputs"] for t in r.of_type("aws:cloudwatch/eventTarget:EventTarget")]
        if len(targets) != 5 or any(not str(t.get("arn", "")).endswith(f":{queue_name}") for t in targets):
            p(f"expected the five interruption rules to target the queue, found {targets}")
    if problems:
        raise AssertionError(f"{len(problems)} Karpenter problem(s):\n" + "\n".join(problems))
    return checked


AUTO_MODE_CLUSTER_POLICIES = frozenset(
    f"arn:aws:iam::aws:policy/{p}"
    for p in ("AmazonEKSClusterPolicy", "AmazonEKSComputePolicy", "AmazonEKSBlockStoragePolicy",
              "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy")
)
AUTO_MODE_NODE_POLICIES = frozenset(
    f"arn:aws:iam::aws:policy/{p}" for p in ("AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly")
)
AUTO_MODE_POLICIES = AUTO_MODE_NODE_POLICIES  # the ones the foundation attaches itself
# What EKS Auto Mode runs itself (EKS User Guide, "Automate cluster infrastructure with EKS Auto
# Mode"): the foundation installs none of it under `compute: auto-mode`.
AUTO_MODE_RUNS_RELEASES = frozenset({"aws-load-balancer-controller", "cluster-autoscaler", "karpenter", "karpenter-crd"})
AUTO_MODE_RUNS_ADDONS = frozenset({"aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni", "eks-pod-identity-agent"})


def auto_mode_objects(runs: Mapping[str, StackRun]) -> int:
    """With `compute: auto-mode`: the cluster has Auto Mode on with the built-in `system` and
    `general-purpose` pools and the foundation's node role; the cluster role carries the five
    policies Auto Mode needs and trusts EKS with `sts:TagSession`, the node role the two node
    policies; no release or EKS add-on of what Auto Mode runs, no node group; the IngressClasses
    are Auto Mode's (`eks.amazonaws.com/alb`, parameters of `eks.amazonaws.com/v1` valid as the
    EKS User Guide writes them) and the default StorageClass is an encrypted gp3 one of
    `ebs.csi.eks.amazonaws.com`. With any other choice: no Auto Mode. Returns the stacks checked."""
    problems: list[str] = []
    checked = 0
    for stack, r in sorted(runs.items()):
        p = lambda msg: problems.append(f"stack `{stack}`: {msg}")  # noqa: E731
        cluster = r.of_type("eks:index:Cluster")[0]["inputs"]
        auto = cluster.get("autoMode") or {}
        if compute_of(r.config) != "auto-mode":
            if auto.get("enabled") or r.of_type("kubernetes:eks.amazonaws.com/v1:IngressClassParams"):
                p(f"compute `{compute_of(r.config)}` but Auto Mode is on")
            continue
        checked += 1
        roles = {role["name"]: role for role in r.of_type("aws:iam/role:Role")}
        node_role = roles.get("auto-mode-node-role")
        if not auto.get("enabled") or sorted((auto.get("computeConfig") or {}).get("nodePools") or []) != ["general-purpose", "system"]:
            p(f"the cluster has not Auto Mode on with both built-in node pools: {auto}")
        if node_role is None:
            p("the Auto Mode node role is missing")
            continue
        if (auto.get("computeConfig") or {}).get("nodeRoleArn") != _role_arn_of(node_role):
            p("the cluster's compute configuration does not name the Auto Mode node role")
        # pulumi-eks makes the cluster role (AUTO_MODE_CLUSTER_POLICIES, sts:TagSession) when no
        # `serviceRole` is given: its children are not run under mocks.
        if "serviceRole" in cluster:
            p("the cluster is given a service role: pulumi-eks would not make Auto Mode's")
        for role, wanted in ((node_role, AUTO_MODE_NODE_POLICIES),):
            got = {a["inputs"].get("policyArn") for a in r.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if a.get("parent") == role["urn"]}  # fmt: skip
            if got != wanted:
                p(f"`{role['name']}` carries {sorted(got)}, not {sorted(wanted)}")
        if (cluster.get("corednsAddonOptions") or {}).get("enabled") is not False or "vpcCniOptions" in cluster:
            p("pulumi-eks would add CoreDNS or configure the VPC CNI, which Auto Mode runs")
        releases = {chart_name(rel["inputs"].get("chart", "")) for rel in r.of_type(HELM_RELEASE)}
        addons = {a["inputs"].get("addonName") for a in r.of_type("aws:eks/addon:Addon")}
        if releases & AUTO_MODE_RUNS_RELEASES or addons & AUTO_MODE_RUNS_ADDONS or r.of_type("aws:eks/nodeGroup:NodeGroup"):
            p(f"installs what Auto Mode runs: {sorted(releases & AUTO_MODE_RUNS_RELEASES)} {sorted(addons & AUTO_MODE_RUNS_ADDONS)}")
        params = {_name(o): o for o in r.kubernetes_objects("IngressClassParams")}
        for ingress_class in r.kubernetes_objects("IngressClass"):
            spec = ingress_class.get("spec") or {}
            ref = spec.get("parameters") or {}
            target = params.get(ref.get("name"))
            if spec.get("controller") != "eks.amazonaws.com/alb" or ref.get("apiGroup") != "eks.amazonaws.com" or target is None:
                p(f"IngressClass `{_name(ingress_class)}` is not Auto Mode's: {spec}")
            elif target.get("apiVersion") != "eks.amazonaws.com/v1" or not (target.get("spec") or {}).get("certificateARNs"):
                p(f"IngressClassParams `{ref.get('name')}` is not Auto Mode's `eks.amazonaws.com/v1` with `certificateARNs`")
            elif set(target["spec"]) - AUTO_MODE_PARAMS_FIELDS:
                p(f"IngressClassParams `{ref.get('name')}` has fields Auto Mode does not read: {sorted(set(target['spec']) - AUTO_MODE_PARAMS_FIELDS)}")
        defaults = [c for c in r.kubernetes_objects("StorageClass")
                    if ((c.get("metadata") or {}).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]  # fmt: skip
        if len(defaults) != 1 or defaults[0].get("provisioner") != "ebs.csi.eks.amazonaws.com" or (defaults[0].get("parameters") or {}).get("encrypted") != "true":
            p(f"the default StorageClass is not an encrypted one of Auto Mode's provisioner: {defaults}")
    if problems:
        raise AssertionError(f"{len(problems)} Auto Mode problem(s):\n" + "\n".join(problems))
    return checked


# `IngressClassParams` of `eks.amazonaws.com/v1`: the EKS User Guide's reference table
# (auto-configure-alb) and the fields its migration table keeps from the load balancer
# controller's `elbv2.k8s.aws/v1beta1` (renamed: `certificateArn` -> `certificateARNs`).
AUTO_MODE_PARAMS_FIELDS = frozenset(
    {"scheme", "namespaceSelector", "group", "ipAddressType", "subnets", "certificateARNs", "tags",
     "loadBalancerAttributes", "sslPolicy", "sslRedirectPort", "targetType", "inboundCIDRs", "listeners"}
)


def deployable(ws: "Workspace") -> None:
    """Every check beyond mocks at once: network, managed policy ARNs, parliament, Helm, TLS and
    ingress, the repository credential and the foundation's AppProjects."""
    failures = []
    url = gitops_url(ws.answers)
    for name, check in (
        ("network", lambda: network(ws.runs)),
        ("managed_policies_exist", lambda: managed_policies_exist(ws.runs)),
        ("iam_policies_pass_parliament", lambda: iam_policies_pass_parliament(ws.runs)),
        ("helm_releases_deploy", lambda: helm_releases_deploy(ws.runs)),
        ("tls_and_ingress", lambda: tls_and_ingress(ws.runs, ws.gitops, ws.builds)),
        ("repo_credentials", lambda: repo_credentials(ws.runs, url)),
        ("foundation_projects", lambda: foundation_projects(ws.runs, url)),
        ("karpenter_objects", lambda: karpenter_objects(ws.runs)),
        ("auto_mode_objects", lambda: auto_mode_objects(ws.runs)),
        ("pod_identity", lambda: pod_identity(ws.runs)),
    ):
        try:
            check()
        except AssertionError as error:
            failures.append(f"[{name}] {error}")
    if failures:
        raise AssertionError("\n\n".join(failures))


# --- a workspace and every check at once --------------------------------------------------------


class Workspace:
    """The two repos `strata new NAME --out ROOT` made, with the expensive results cached.

    Call `refresh()` after changing the repos (the harness cache is keyed by content anyway).
    """

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        self.foundation = root / f"{name}-foundation"
        self.gitops = root / f"{name}-gitops"
        self.refresh()

    def refresh(self) -> None:
        self._builds: dict[str, list[dict]] | None = None
        self._runs: dict[str, StackRun] | None = None
        self._reached: dict[str, dict[str, str]] | None = None

    @property
    def answers(self) -> dict:
        return answers(self.gitops)

    @property
    def builds(self) -> dict[str, list[dict]]:
        if self._builds is None:
            self._builds = kustomize_builds(self.gitops)
        return self._builds

    @property
    def runs(self) -> dict[str, StackRun]:
        if self._runs is None:
            self._runs = harness_runs(self.foundation)
        return self._runs

    @property
    def reached(self) -> dict[str, dict[str, str]]:
        if self._reached is None:
            self._reached = reachability(self.foundation, self.gitops, self.runs, self.builds)
        return self._reached

    def strata(self, *args: str | Path) -> subprocess.CompletedProcess:
        done = strata(*args, cwd=self.root)
        self.refresh()
        return done


def new_workspace(root: Path, name: str, *args: str) -> Workspace:
    """`strata new NAME --out ROOT ARGS...`."""
    root.mkdir(parents=True, exist_ok=True)
    strata("new", name, "--out", root, *args, cwd=root)
    return Workspace(root, name)


def structural_checks(ws: Workspace) -> None:
    """The checks every state of a workspace must pass (kustomize, schemas, Applications,
    topology, reachability from the foundation's harness, wiring), reported together."""
    failures = []
    for name, check in (
        ("kustomize_builds", lambda: ws.builds),
        ("harness", lambda: ws.runs),
        ("validate_objects", lambda: validate_objects(ws.builds)),
        ("applications_resolve", lambda: applications_resolve(ws.gitops, ws.builds, ws.runs)),
        ("stacks_match_environments", lambda: stacks_match_environments(ws.foundation)),
        ("reachability", lambda: ws.reached),
        ("wiring", lambda: wiring(ws.foundation, ws.gitops, ws.runs, ws.builds, ws.reached)),
        ("unique_names", lambda: unique_names(ws.foundation, ws.gitops, ws.runs, ws.builds)),
        ("no_orphans", lambda: no_orphans(ws.gitops)),
        ("answers_reflected", lambda: answers_reflected(ws.gitops, ws.builds)),
        ("sync_order", lambda: sync_order(ws.builds)),
    ):
        try:
            check()
        except AssertionError as error:
            failures.append(f"[{name}] {error}")
            if name in ("kustomize_builds", "harness"):
                break  # everything after needs it
    if failures:
        raise AssertionError("\n\n".join(failures))
