"""The foundation of the platform: network, EKS cluster, add-ons, platform layer, hand-over to Argo CD.

Every value comes from the stack configuration (`settings.py`); nothing here
is specific to a project, stack or environment. The stages run in dependency
order; each module owns one concern:

    settings -> network -> cluster (auto_mode) -> nodes -> platform_layer -> addons -> karpenter
             -> ingress -> external_secrets -> repo_credentials -> services
             -> platform_services -> ci_access -> gitops -> stack outputs
"""

from __future__ import annotations

import pulumi

from addons import install_addons
from aws_context import lookup_aws_context
from ci_access import create_ci_access
from cluster import create_cluster
from dns_delegation import check_delegation
from external_secrets import create_secret_stores
from gitops import hand_over_to_gitops, root_application_name
from ingress import create_certificates, create_ingress_classes
from karpenter import create_karpenter
from network import create_network
from nodes import create_node_groups
from platform_layer import create_platform_layer
from platform_services import create_platform_services
from repo_credentials import create_repo_credentials, secret_name
from services import create_service_roles
from settings import load_settings


def main() -> None:
    """Build the whole foundation and export what the gitops repository and operators need."""
    settings = load_settings()
    aws_context = lookup_aws_context(settings.region, settings.zone, settings.account)
    check_delegation(
        settings.zone, aws_context.zone_id, aws_context.zone_name_servers, settings.dns_delegation_check == "stop"
    )
    network = create_network(settings)
    cluster = create_cluster(settings, network, aws_context)
    # EKS Auto Mode launches its own nodes: no node group, node role or VPC CNI role here.
    node_groups = [] if settings.auto_mode else create_node_groups(settings, cluster, network, aws_context)
    platform = create_platform_layer(settings, cluster, network)
    addons = install_addons(settings, cluster, network, platform, node_groups, aws_context)
    if settings.karpenter:
        karpenter = create_karpenter(
            settings,
            cluster,
            network,
            aws_context,
            [
                *node_groups,
                *platform.priority_classes.values(),
                addons.load_balancer_controller,
                *([addons.pod_identity_agent] if addons.pod_identity_agent else []),
            ],
        )
        pulumi.export("karpenterNodeRoleArn", karpenter.node_role.arn)
        pulumi.export("karpenterInterruptionQueue", karpenter.queue.name)
    certificate_arns = create_certificates(settings, aws_context)
    ingress_classes = create_ingress_classes(
        settings, cluster, certificate_arns, network.public_subnet_ids, addons.load_balancer_controller
    )
    secret_store_roles = create_secret_stores(settings, cluster, platform, addons.external_secrets, aws_context)
    repo_credentials = create_repo_credentials(
        settings, cluster, platform.platform_namespaces["argocd"], addons.external_secrets, aws_context
    )
    service_roles = create_service_roles(settings, cluster)
    platform_services = create_platform_services(settings, cluster, addons.external_secrets, aws_context)
    ci_access = create_ci_access(settings, cluster, aws_context)
    # The root Applications wait for the repo credential and for the IngressClasses: the load
    # balancer controller's webhook rejects an Ingress whose class does not exist yet.
    hand_over_to_gitops(
        settings,
        cluster,
        addons.argocd,
        [*([repo_credentials.external_secret] if repo_credentials else []), *ingress_classes.values()],
        # The platform's Applications deploy into namespaces the foundation creates.
        list(platform_services.namespaces.values()),
    )

    pulumi.export("clusterName", settings.cluster_name)
    pulumi.export("region", settings.region)
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export("publicSubnetIds", network.public_subnet_ids)
    pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig_json))
    pulumi.export("oidcProviderArn", cluster.oidc.arn)
    pulumi.export("oidcIssuer", cluster.oidc.issuer)
    if cluster.auto_mode:
        pulumi.export("autoModeNodeRoleArn", cluster.auto_mode.node_role.arn)
    pulumi.export("secretsKmsKeyArn", cluster.kms_key_arn)
    pulumi.export("addonRoleArns", addons.role_arns)
    pulumi.export("secretStoreRoleArns", secret_store_roles)
    pulumi.export("serviceRoleArns", service_roles)
    pulumi.export("certificateArns", certificate_arns)
    pulumi.export("ingressClasses", sorted(ingress_classes))
    pulumi.export("gitopsRepoSecret", secret_name(settings) if repo_credentials else None)
    pulumi.export("platformServiceRoleArns", platform_services.role_arns)
    pulumi.export("containerLogGroups", platform_services.log_groups)
    pulumi.export(
        "ciRoleArns",
        {"deploy": ci_access.deploy_role_arn, "preview": ci_access.preview_role_arn} if ci_access else None,
    )
    pulumi.export("rootApplications", {env.name: root_application_name(env) for env in settings.environments})


main()
