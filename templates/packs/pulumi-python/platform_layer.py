"""The platform layer inside the cluster: namespaces and their guard rails, priority classes, shared config.

For each environment: a namespace that enforces the `restricted` Pod Security
Standard, a ResourceQuota, a LimitRange (defaults, so pods without requests
still fit the quota), a default-deny NetworkPolicy for ingress and egress, and
one policy that allows DNS. The application teams' own NetworkPolicies (in the
gitops repo) open what each service needs.

For the whole cluster: a ValidatingAdmissionPolicy that keeps the ServiceMonitors of the
application namespaces to their own namespace's services (the platform's Prometheus reads
every namespace).

The add-ons' namespaces enforce `baseline` (some charts, e.g. Argo CD's
redis-ha, do not meet `restricted`) and warn/audit on `restricted`.

(Named `platform_layer`, not `platform`, which would shadow the standard library.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from cluster import ClusterOutputs
from network import NetworkOutputs
from settings import Environment, Settings

SHARED_CONFIG_NAME = "cluster-shared-config"
PLATFORM_NAMESPACES = ("argocd", "external-dns", "external-secrets")


@dataclass(frozen=True)
class PriorityClassSpec:
    """A PriorityClass the platform offers (the `system-` prefix is reserved by Kubernetes)."""

    name: str
    value: int
    description: str


PRIORITY_CLASSES = (
    PriorityClassSpec("platform-critical", 1_000_000, "Platform add-ons that the services depend on."),
    PriorityClassSpec("service-high", 100_000, "Latency-critical application services; may preempt service-default."),
    PriorityClassSpec("service-default", 10_000, "Regular application services."),
)


@dataclass(frozen=True)
class PlatformLayer:
    """Resources later stages depend on, by name."""

    environment_namespaces: dict[str, k8s.core.v1.Namespace]  # environment name -> namespace
    platform_namespaces: dict[str, k8s.core.v1.Namespace]  # namespace name -> namespace
    priority_classes: dict[str, k8s.scheduling.v1.PriorityClass]


def _psa_labels(enforce: str, audit_and_warn: str) -> dict[str, str]:
    """Pod Security Admission labels: one level enforced, one audited and warned about."""
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/audit": audit_and_warn,
        "pod-security.kubernetes.io/warn": audit_and_warn,
    }


def create_priority_classes(opts: pulumi.ResourceOptions) -> dict[str, k8s.scheduling.v1.PriorityClass]:
    """The priority classes of the platform; none is the global default."""
    return {
        spec.name: k8s.scheduling.v1.PriorityClass(
            f"priority-{spec.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.name),
            value=spec.value,
            global_default=False,
            preemption_policy="PreemptLowerPriority",
            description=spec.description,
            opts=opts,
        )
        for spec in PRIORITY_CLASSES
    }


def create_platform_namespaces(opts: pulumi.ResourceOptions) -> dict[str, k8s.core.v1.Namespace]:
    """Namespaces of the add-ons that do not live in kube-system."""
    return {
        name: k8s.core.v1.Namespace(
            f"ns-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={**_psa_labels("baseline", "restricted"), "strata.io/tier": "platform"},
            ),
            opts=opts,
        )
        for name in PLATFORM_NAMESPACES
    }


def create_environment_namespace(
    env: Environment, opts: pulumi.ResourceOptions, auto_mode: bool = False
) -> k8s.core.v1.Namespace:
    """An environment namespace with PSA `restricted`, quota, limits and default-deny networking."""
    namespace = k8s.core.v1.Namespace(
        f"ns-{env.name}",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=env.namespace,
            labels={
                **_psa_labels("restricted", "restricted"),
                "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
                "strata.io/environment": env.name,
                "strata.io/tier": "application",
            },
        ),
        opts=opts,
    )
    child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=namespace))

    def metadata(name: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace.metadata.name)

    k8s.core.v1.ResourceQuota(
        f"quota-{env.name}",
        metadata=metadata("environment-quota"),
        spec=k8s.core.v1.ResourceQuotaSpecArgs(
            hard={
                "requests.cpu": env.quota.requests_cpu,
                "requests.memory": env.quota.requests_memory,
                "limits.cpu": env.quota.limits_cpu,
                "limits.memory": env.quota.limits_memory,
                "pods": env.quota.pods,
            }
        ),
        opts=child,
    )
    k8s.core.v1.LimitRange(
        f"limits-{env.name}",
        metadata=metadata("container-limits"),
        spec=k8s.core.v1.LimitRangeSpecArgs(
            limits=[
                k8s.core.v1.LimitRangeItemArgs(
                    type="Container",
                    default={"cpu": env.limits.default_cpu, "memory": env.limits.default_memory},
                    default_request={
                        "cpu": env.limits.default_request_cpu,
                        "memory": env.limits.default_request_memory,
                    },
                    max={"cpu": env.limits.max_cpu, "memory": env.limits.max_memory},
                )
            ]
        ),
        opts=child,
    )
    k8s.networking.v1.NetworkPolicy(
        f"default-deny-{env.name}",
        metadata=metadata("default-deny"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Ingress", "Egress"],
        ),
        opts=child,
    )
    k8s.networking.v1.NetworkPolicy(
        f"allow-dns-{env.name}",
        metadata=metadata("allow-dns-egress"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    # EKS Auto Mode answers DNS on each node, not from CoreDNS pods a selector
                    # could name: there, DNS is allowed by port to any address.
                    to=None
                    if auto_mode
                    else [
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": "kube-system"}
                            ),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                        )
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=53)
                        for protocol in ("UDP", "TCP")
                    ],
                )
            ],
        ),
        opts=child,
    )
    return namespace


def create_shared_config(
    settings: Settings, network: NetworkOutputs, opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    """`kube-system/cluster-shared-config`: facts about the cluster that in-cluster tooling may read."""
    return k8s.core.v1.ConfigMap(
        "cluster-shared-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SHARED_CONFIG_NAME, namespace="kube-system"),
        data={
            "project": settings.project,
            "region": settings.region,
            "clusterName": settings.cluster_name,
            "vpcId": network.vpc_id,
            "domain": settings.domain,
            "environments": ",".join(env.name for env in settings.environments),
            "environmentNamespaces": ",".join(env.namespace for env in settings.environments),
        },
        opts=opts,
    )


SCRAPE_GUARD_NAME = "strata-application-scrape-guard"

# What a ServiceMonitor in an application namespace may not ask of the platform's Prometheus
# (which selects ServiceMonitors in every namespace). Each rule: (CEL expression, message).
SCRAPE_GUARD_RULES = (
    (
        "!has(object.spec.namespaceSelector)"
        " || ((!has(object.spec.namespaceSelector.any) || object.spec.namespaceSelector.any == false)"
        " && (!has(object.spec.namespaceSelector.matchNames)"
        " || object.spec.namespaceSelector.matchNames.all(n, n == request.namespace)))",
        "a ServiceMonitor in an application namespace may select services of its own namespace only",
    ),
    (
        "!has(object.spec.endpoints) || object.spec.endpoints.all(e, !has(e.bearerTokenFile)"
        " && !(has(e.tlsConfig) && (has(e.tlsConfig.caFile) || has(e.tlsConfig.certFile)"
        " || has(e.tlsConfig.keyFile))))",
        "a ServiceMonitor in an application namespace may not read files of the Prometheus pod"
        " (bearerTokenFile, tlsConfig caFile/certFile/keyFile); use secrets of its own namespace",
    ),
    (
        "!has(object.spec.scrapeClass) && (!has(object.spec.endpoints) || object.spec.endpoints.all(e,"
        " !(has(e.honorLabels) && e.honorLabels == true) && !has(e.proxyUrl)"
        " && !(has(e.proxyFromEnvironment) && e.proxyFromEnvironment == true)"
        " && (!has(e.relabelings) || e.relabelings.all(r, (!has(r.targetLabel) || r.targetLabel != '__address__')"
        " && (!has(r.action) || !(r.action in ['labelmap', 'LabelMap']))))))",
        "a ServiceMonitor in an application namespace may not override the target labels (honorLabels),"
        " scrape through a proxy, rewrite the scraped address (relabeling `__address__`, labelmap), or"
        " pick a scrape class (which may carry the Prometheus pod's files)",
    ),
)


def create_scrape_guard(opts: pulumi.ResourceOptions) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
    """Keeps application teams' ServiceMonitors to their own namespace's services.

    The platform's Prometheus reads ServiceMonitors from every namespace; without this policy
    one in an application namespace could scrape another environment's services, read the
    Prometheus pod's own token, or relabel other targets. Created whether monitoring is on or
    not: it applies as soon as the ServiceMonitor kind exists.
    """
    admission = k8s.admissionregistration.v1
    policy = admission.ValidatingAdmissionPolicy(
        "scrape-guard",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SCRAPE_GUARD_NAME),
        spec=admission.ValidatingAdmissionPolicySpecArgs(
            failure_policy="Fail",
            match_constraints=admission.MatchResourcesArgs(
                resource_rules=[
                    admission.NamedRuleWithOperationsArgs(
                        api_groups=["monitoring.coreos.com"],
                        api_versions=["*"],
                        operations=["CREATE", "UPDATE"],
                        resources=["servicemonitors"],
                    )
                ],
            ),
            validations=[
                admission.ValidationArgs(expression=expression, message=message, reason="Forbidden")
                for expression, message in SCRAPE_GUARD_RULES
            ],
        ),
        opts=opts,
    )
    admission.ValidatingAdmissionPolicyBinding(
        "scrape-guard",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SCRAPE_GUARD_NAME),
        spec=admission.ValidatingAdmissionPolicyBindingSpecArgs(
            policy_name=policy.metadata.name,
            validation_actions=["Deny"],
            match_resources=admission.MatchResourcesArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"strata.io/tier": "application"}),
            ),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy])),
    )
    return policy


def create_platform_layer(settings: Settings, cluster: ClusterOutputs, network: NetworkOutputs) -> PlatformLayer:
    """Everything of the platform layer, all through the cluster's Kubernetes provider."""
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
    layer = PlatformLayer(
        environment_namespaces={
            env.name: create_environment_namespace(env, opts, settings.auto_mode) for env in settings.environments
        },
        platform_namespaces=create_platform_namespaces(opts),
        priority_classes=create_priority_classes(opts),
    )
    create_shared_config(settings, network, opts)
    create_scrape_guard(opts)
    return layer
