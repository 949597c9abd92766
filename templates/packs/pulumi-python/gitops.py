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
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from cluster import ClusterOutputs
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
        "namespaceResourceWhitelist": [{"group": group, "kind": kind} for group, kind in APPLICATION_KINDS],
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
            "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
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
) -> dict[str, k8s.apiextensions.CustomResource]:
    """Projects and root Applications of every environment, created once Argo CD (and its CRDs) is
    installed; the root Applications also wait for `prerequisites` (the repository credential)."""
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[argocd, *prerequisites])
    return {env.name: create_root_application(settings, env, opts) for env in settings.environments}
