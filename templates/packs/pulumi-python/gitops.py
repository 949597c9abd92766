"""The hand-over to Argo CD: one bootstrap AppProject and one root Application per environment.

The root Application `<env>-apps` syncs `apps/<env>` of the gitops repository
into the `argocd` namespace. Its AppProject `<env>-root` allows exactly that:
the gitops repository as the only source, the in-cluster `argocd` namespace as
the only destination, `Application` and `AppProject` as the only kinds, and no
cluster-scoped resources. Everything below that (the services' AppProjects and
Applications) lives in the gitops repository.

The project is created here, with the root Application, not in the repository
the root Application is about to pull (that would deadlock the first sync).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from cluster import ClusterOutputs
from settings import Environment, Settings

ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"


def root_project_name(env: Environment) -> str:
    """`<env>-root`: the AppProject of an environment's root Application."""
    return f"{env.name}-root"


def root_application_name(env: Environment) -> str:
    """`<env>-apps`: the root Application of an environment."""
    return f"{env.name}-apps"


def environment_path(env: Environment) -> str:
    """The folder of the gitops repository that holds an environment's Applications."""
    return f"apps/{env.name}"


def root_project_spec(settings: Settings, env: Environment) -> dict:
    """Only the gitops repo, only the argocd namespace, only Applications and AppProjects."""
    return {
        "description": f"Bootstrap of environment {env.name}: the Applications under {environment_path(env)}",
        "sourceRepos": [settings.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [
            {"group": "argoproj.io", "kind": "Application"},
            {"group": "argoproj.io", "kind": "AppProject"},
        ],
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
    """The AppProject and root Application of one environment."""
    labels = {"strata.io/environment": env.name, "app.kubernetes.io/part-of": "bootstrap"}
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
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[project])),
    )


def hand_over_to_gitops(
    settings: Settings, cluster: ClusterOutputs, argocd: k8s.helm.v3.Release
) -> dict[str, k8s.apiextensions.CustomResource]:
    """Root Applications of every environment, created once Argo CD (and its CRDs) is installed."""
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[argocd])
    return {env.name: create_root_application(settings, env, opts) for env in settings.environments}
