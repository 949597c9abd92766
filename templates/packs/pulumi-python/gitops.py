"""The hand-over to Argo CD: per environment, its AppProject, a bootstrap AppProject and the root Application.

The AppProject `<env>` is the boundary of the environment, and it is the
platform's, like the namespace and quota it guards: the gitops repository as the
only source, the environment's namespace on this cluster as the only destination,
no cluster-scoped kind, and only the application kinds (Deployment, Service,
Ingress, ...). The Applications in `apps/<env>/` of the gitops repository use it;
nothing merged into that repository can widen it.

The root Application `<env>-apps` syncs `apps/<env>` into the `argocd` namespace.
Its AppProject `<env>-root` allows exactly that: the gitops repository, the
in-cluster `argocd` namespace, and `Application` as the only kind (no
AppProject: the repository cannot create or change a project).

The projects are created here, before the root Application, not in the
repository the root Application is about to pull (that would deadlock the first
sync).

Argo CD's built-in AppProject `default` allows every source, destination and kind, so an
Application that names it (or no project) would escape its environment's fence. argocd-server
creates it at startup when it is missing (and only then: it never resets it), so it cannot be
deleted for good nor created by Pulumi beforehand. The program patches it instead, with
server-side apply (`AppProjectPatch`, forced over argocd-server's fields), to Argo CD's locked
form: no source, no destination, no kind. It is in place before any root Application exists.

Layer 3, the platform services (monitoring, logging), when any is on: the root
Application `platform` syncs `platform/<stack>/apps` (the Applications of the
pinned charts) into the `argocd` namespace, in the AppProject `platform-root`
(only Applications, only `argocd`). Those Applications use the AppProject
`platform`: the gitops repository and the exact chart repositories as sources,
the platform namespaces (`monitoring`, `logging`) as the only destinations,
and exactly the cluster-scoped kinds the charts create. With monitoring on, the
environments' projects also allow `ServiceMonitor` (every service has one).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from cluster import ClusterOutputs
from platform_services import LOGGING_NAMESPACE, MONITORING_NAMESPACE
from settings import Environment, Settings

ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"


# The kinds an environment's Applications may create in its namespace: the application layer, nothing else.
APPLICATION_KINDS = (
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
)


# What the platform services' charts create (checked against the vendored charts' `helm template`).
MONITORING_CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
LOGGING_CHART_REPOSITORY = "https://fluent.github.io/helm-charts"
SERVICE_MONITOR = ("monitoring.coreos.com", "ServiceMonitor")
# Cluster-scoped kinds: the operator's CRDs, and the RBAC of the operator, Prometheus,
# kube-state-metrics, Grafana's sidecars and Fluent Bit's Kubernetes filter.
MONITORING_CLUSTER_KINDS = (
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
)
LOGGING_CLUSTER_KINDS = (
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
)
MONITORING_NAMESPACED_KINDS = (
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "PersistentVolumeClaim"),
    ("apps", "Deployment"),
    ("apps", "DaemonSet"),
    ("policy", "PodDisruptionBudget"),
    ("monitoring.coreos.com", "Prometheus"),
    ("monitoring.coreos.com", "Alertmanager"),
    ("monitoring.coreos.com", "PrometheusRule"),
    SERVICE_MONITOR,
)
LOGGING_NAMESPACED_KINDS = (
    ("", "ConfigMap"),
    ("", "Service"),
    ("apps", "DaemonSet"),
)
PLATFORM_PROJECT = "platform"
PLATFORM_ROOT_PROJECT = "platform-root"
PLATFORM_ROOT_APPLICATION = "platform"


DEFAULT_PROJECT = "default"
# Server-side apply takes the fields argocd-server wrote when it created the project.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"


def default_project_spec() -> dict:
    """Argo CD's `default` project locked down: no source repository, no destination, no kind."""
    return {
        "description": "Locked by the foundation: every Application names its environment's project",
        "sourceRepos": [],
        "sourceNamespaces": [],
        "destinations": [],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [],
        "namespaceResourceBlacklist": [{"group": "*", "kind": "*"}],
    }


def lock_default_project(opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResourcePatch:
    """Patch the `default` AppProject that argocd-server created at startup into its locked form."""
    return k8s.apiextensions.CustomResourcePatch(
        "appproject-default-locked",
        api_version=ARGOCD_API_VERSION,
        kind="AppProject",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=DEFAULT_PROJECT,
            namespace=ARGOCD_NAMESPACE,
            annotations={PATCH_FORCE_ANNOTATION: "true"},
        ),
        spec=default_project_spec(),
        opts=opts,
    )


def platform_path(settings: Settings) -> str:
    """The folder of the gitops repository that holds this cluster's platform Applications.

    Per cluster, not per environment: the charts are cluster-wide (CRDs, DaemonSets on every
    node), so a cluster shared by environments runs them once (`platform/<stack>/apps`).
    """
    return settings.platform_services.path


def _unique_kinds(*lists: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    seen: list[tuple[str, str]] = []
    for kinds in lists:
        seen.extend(kind for kind in kinds if kind not in seen)
    return [{"group": group, "kind": kind} for group, kind in seen]


def platform_project_spec(settings: Settings) -> dict:
    """The gitops repo and the exact chart repositories; only the platform namespaces; only the charts' kinds."""
    services = settings.platform_services
    repos = [settings.gitops.repo_url]
    namespaces = []
    cluster_kinds: list[Sequence[tuple[str, str]]] = []
    namespaced_kinds: list[Sequence[tuple[str, str]]] = []
    if services.monitoring:
        repos.append(MONITORING_CHART_REPOSITORY)
        namespaces.append(MONITORING_NAMESPACE)
        cluster_kinds.append(MONITORING_CLUSTER_KINDS)
        namespaced_kinds.append(MONITORING_NAMESPACED_KINDS)
    if services.logging:
        repos.append(LOGGING_CHART_REPOSITORY)
        namespaces.append(LOGGING_NAMESPACE)
        cluster_kinds.append(LOGGING_CLUSTER_KINDS)
        namespaced_kinds.append(LOGGING_NAMESPACED_KINDS)
    return {
        "description": f"Platform services of {settings.cluster_name}: monitoring and logging, by the platform team",
        "sourceRepos": repos,
        "destinations": [{"server": IN_CLUSTER, "namespace": namespace} for namespace in namespaces],
        "clusterResourceWhitelist": _unique_kinds(*cluster_kinds),
        "namespaceResourceWhitelist": _unique_kinds(*namespaced_kinds),
    }


def platform_root_project_spec(settings: Settings) -> dict:
    """Only the gitops repo, only the argocd namespace, only Applications."""
    return {
        "description": f"Bootstrap of the platform services: the Applications under {platform_path(settings)}",
        "sourceRepos": [settings.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
    }


def platform_root_application_spec(settings: Settings) -> dict:
    """Sync `platform/<stack>/apps` automatically, pruning removed Applications and undoing drift."""
    return {
        "project": PLATFORM_ROOT_PROJECT,
        "source": {
            "repoURL": settings.gitops.repo_url,
            "targetRevision": settings.gitops.target_revision,
            "path": platform_path(settings),
        },
        "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "retry": {"limit": -1, "refresh": True, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
        },
    }


def create_platform_root(
    settings: Settings, opts: pulumi.ResourceOptions, prerequisites: Sequence[pulumi.Resource] = ()
) -> k8s.apiextensions.CustomResource | None:
    """The AppProjects `platform` and `platform-root` and the root Application `platform`, when any
    platform service is on; the root waits for the services' namespaces (`prerequisites`)."""
    if not settings.platform_services.any:
        return None
    labels = {"app.kubernetes.io/part-of": "platform"}
    project = k8s.apiextensions.CustomResource(
        "appproject-platform",
        api_version=ARGOCD_API_VERSION,
        kind="AppProject",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=PLATFORM_PROJECT, namespace=ARGOCD_NAMESPACE, labels=labels),
        spec=platform_project_spec(settings),
        opts=opts,
    )
    root_project = k8s.apiextensions.CustomResource(
        "appproject-platform-root",
        api_version=ARGOCD_API_VERSION,
        kind="AppProject",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=PLATFORM_ROOT_PROJECT, namespace=ARGOCD_NAMESPACE, labels=labels),
        spec=platform_root_project_spec(settings),
        opts=opts,
    )
    return k8s.apiextensions.CustomResource(
        "root-app-platform",
        api_version=ARGOCD_API_VERSION,
        kind="Application",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=PLATFORM_ROOT_APPLICATION,
            namespace=ARGOCD_NAMESPACE,
            labels=labels,
            finalizers=[RESOURCES_FINALIZER],
        ),
        spec=platform_root_application_spec(settings),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[project, root_project, *prerequisites])
        ),
    )


def environment_project_name(env: Environment) -> str:
    """`<env>`: the AppProject of an environment's Applications (what `apps/<env>/*.yaml` name as `project`)."""
    return env.name


def root_project_name(env: Environment) -> str:
    """`<env>-root`: the AppProject of an environment's root Application."""
    return f"{env.name}-root"


def root_application_name(env: Environment) -> str:
    """`<env>-apps`: the root Application of an environment."""
    return f"{env.name}-apps"


def environment_path(env: Environment) -> str:
    """The folder of the gitops repository that holds an environment's Applications."""
    return f"apps/{env.name}"


def environment_project_spec(settings: Settings, env: Environment) -> dict:
    """Only the gitops repo, only the environment's namespace, no cluster-scoped kind, only application kinds."""
    return {
        "description": f"Applications of environment {env.name} of {settings.project}",
        "sourceRepos": [settings.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": env.namespace}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [
            {"group": group, "kind": kind}
            for group, kind in (
                *APPLICATION_KINDS,
                *((SERVICE_MONITOR,) if settings.platform_services.monitoring else ()),
            )
        ],
    }


def root_project_spec(settings: Settings, env: Environment) -> dict:
    """Only the gitops repo, only the argocd namespace, only Applications."""
    return {
        "description": f"Bootstrap of environment {env.name}: the Applications under {environment_path(env)}",
        "sourceRepos": [settings.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
    }


def root_application_spec(settings: Settings, env: Environment) -> dict:
    """Sync `apps/<env>` automatically, pruning removed Applications and undoing drift."""
    return {
        "project": root_project_name(env),
        "source": {
            "repoURL": settings.gitops.repo_url,
            "targetRevision": settings.gitops.target_revision,
            "path": environment_path(env),
        },
        "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "retry": {"limit": -1, "refresh": True, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
        },
    }


def create_root_application(
    settings: Settings, env: Environment, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """The two AppProjects and the root Application of one environment."""
    labels = {"strata.io/environment": env.name, "app.kubernetes.io/part-of": "bootstrap"}
    environment_project = k8s.apiextensions.CustomResource(
        f"appproject-{env.name}-environment",
        api_version=ARGOCD_API_VERSION,
        kind="AppProject",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=environment_project_name(env),
            namespace=ARGOCD_NAMESPACE,
            labels={"strata.io/environment": env.name, "app.kubernetes.io/part-of": settings.project},
        ),
        spec=environment_project_spec(settings, env),
        opts=opts,
    )
    project = k8s.apiextensions.CustomResource(
        f"appproject-{env.name}",
        api_version=ARGOCD_API_VERSION,
        kind="AppProject",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=root_project_name(env), namespace=ARGOCD_NAMESPACE, labels=labels),
        spec=root_project_spec(settings, env),
        opts=opts,
    )
    return k8s.apiextensions.CustomResource(
        f"root-app-{env.name}",
        api_version=ARGOCD_API_VERSION,
        kind="Application",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=root_application_name(env),
            namespace=ARGOCD_NAMESPACE,
            labels=labels,
            finalizers=[RESOURCES_FINALIZER],
        ),
        spec=root_application_spec(settings, env),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[project, environment_project])),
    )


def hand_over_to_gitops(
    settings: Settings,
    cluster: ClusterOutputs,
    argocd: k8s.helm.v3.Release,
    prerequisites: Sequence[pulumi.Resource] = (),
    platform_prerequisites: Sequence[pulumi.Resource] = (),
) -> dict[str, k8s.apiextensions.CustomResource]:
    """Projects and root Applications of every environment (and of the platform services), created
    once Argo CD (and its CRDs) is installed; the root Applications also wait for `prerequisites`
    (the repository credential), the platform's for its namespaces and secrets too."""
    locked = lock_default_project(pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[argocd]))
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[argocd, locked, *prerequisites])
    create_platform_root(settings, opts, platform_prerequisites)
    return {env.name: create_root_application(settings, env, opts) for env in settings.environments}
