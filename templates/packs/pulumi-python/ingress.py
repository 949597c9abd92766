"""How an environment's services are exposed: its TLS certificate and its two IngressClasses.

Per environment:
  - an ACM certificate for `environments[].certificate` (by default `*.<env>.<domain>`),
    validated by DNS records in the domain's public hosted zone;
  - IngressClass `<env>-public` (internet-facing ALB) and `<env>-internal` (internal ALB),
    each with IngressClassParams that fix, for every Ingress of the class: the certificate,
    a TLS 1.2/1.3 policy, HTTP to HTTPS redirection, IP targets, one shared load balancer per
    class (IngressGroup `<project>-<env>-public|internal`), and the only namespace whose
    Ingresses may use the class (the environment's own).

Both load balancers sit in the public subnets (an internal ALB there still has private
addresses only): load-balancer traffic then always comes from the public subnets, where no
pod runs, so the services' NetworkPolicies can admit it without admitting the pods of other
environments from the private subnets.

An Ingress in the gitops repository then needs only `ingressClassName`, its host and path
(and the `listen-ports` annotation: the parameters cannot declare listeners). Parameters win
over Ingress annotations, so a team cannot switch its Ingress to another certificate, scheme
or group, and the namespace selector keeps one environment's Ingresses off another's load
balancer in a shared cluster.

With `compute: auto-mode` the same classes are made for EKS Auto Mode's load balancing
(controller `eks.amazonaws.com/alb`, parameters `IngressClassParams` of `eks.amazonaws.com/v1`,
where the certificates are `certificateARNs`), so the gitops repository's Ingresses are the same
whatever the compute. The parameters carry no `tags` there: Auto Mode's managed policies do not
allow tagging its load balancers with user tags (the EKS User Guide's "Custom AWS tags for EKS
Auto resources" would widen the cluster role).

Validation records are deduplicated: ACM gives a wildcard and its base name
(`*.dev.example.com`, `dev.example.com`) the same record, and the same name the same record
in every certificate of the account, so the stack writes each record once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aws_context import AwsContext
from cluster import ClusterOutputs
from settings import Environment, Settings

CONTROLLER = "ingress.k8s.aws/alb"
PARAMS_API_GROUP = "elbv2.k8s.aws"
PARAMS_API_VERSION = f"{PARAMS_API_GROUP}/v1beta1"
AUTO_MODE_CONTROLLER = "eks.amazonaws.com/alb"
AUTO_MODE_PARAMS_API_GROUP = "eks.amazonaws.com"
AUTO_MODE_PARAMS_API_VERSION = f"{AUTO_MODE_PARAMS_API_GROUP}/v1"
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
SCHEMES = {"public": "internet-facing", "internal": "internal"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
VALIDATION_TIMEOUT = "20m"


@dataclass(frozen=True)
class IngressClassSpec:
    """One IngressClass of an environment: `<env>-public` or `<env>-internal`."""

    env: Environment
    exposure: str  # "public" or "internal"
    project: str

    @property
    def name(self) -> str:
        return f"{self.env.name}-{self.exposure}"

    @property
    def group(self) -> str:
        return f"{self.project}-{self.env.name}-{self.exposure}"

    @property
    def scheme(self) -> str:
        return SCHEMES[self.exposure]


def validation_name(name: str) -> str:
    """The name whose validation record covers `name`: a wildcard shares its base name's record."""
    return name.removeprefix("*.")


def validation_names(settings: Settings) -> list[str]:
    """Every distinct validation record the stack's certificates need, in a stable order."""
    names: list[str] = []
    for env in settings.environments:
        for name in env.certificate.names:
            if validation_name(name) not in names:
                names.append(validation_name(name))
    return names


def _record_of(options: Sequence[Mapping], base: str) -> Mapping:
    """The validation option of a certificate for `base` (or its wildcard)."""
    for option in options or []:
        if validation_name(option["domain_name"]) == base:
            return option
    raise ValueError(f"the certificate has no validation option for `{base}`")


def create_certificates(settings: Settings, aws_context: AwsContext) -> dict[str, pulumi.Output[str]]:
    """One DNS-validated ACM certificate per environment; returns environment -> certificate ARN
    (its validation runs beside the rest of the stack, with a timeout of its own)."""
    certificates = {
        env.name: aws.acm.Certificate(
            f"certificate-{env.name}",
            domain_name=env.certificate.domain_name,
            subject_alternative_names=list(env.certificate.subject_alternative_names),
            validation_method="DNS",
            tags={**settings.tags, "Environment": env.name},
        )
        for env in settings.environments
    }
    # The first certificate that needs a validation name provides its record.
    records: dict[str, aws.route53.Record] = {}
    for base in validation_names(settings):
        owner = next(e for e in settings.environments if base in map(validation_name, e.certificate.names))
        option = certificates[owner.name].domain_validation_options.apply(
            lambda options, base=base: _record_of(
                [
                    {
                        "domain_name": o.domain_name,
                        "name": o.resource_record_name,
                        "type": o.resource_record_type,
                        "value": o.resource_record_value,
                    }
                    for o in options
                ],
                base,
            )
        )
        records[base] = aws.route53.Record(
            f"certificate-validation-{base}",
            zone_id=aws_context.zone_id,
            name=option["name"],
            type=option["type"],
            records=[option["value"]],
            ttl=300,
            # Another stack of the same account may already have written this very record.
            allow_overwrite=True,
        )
    for env in settings.environments:
        validation = aws.acm.CertificateValidation(
            f"certificate-{env.name}",
            certificate_arn=certificates[env.name].arn,
            validation_record_fqdns=[records[validation_name(n)].fqdn for n in env.certificate.names],
            # ACM's own wait is 75 minutes; a domain not delegated to the zone never validates.
            opts=pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=VALIDATION_TIMEOUT)),
        )
        pulumi.log.info(
            f"ACM validates `{env.certificate.domain_name}` through records in the zone of `{settings.zone}`: if "
            f"this waits past {VALIDATION_TIMEOUT}, check that `dig +short NS {settings.zone}` names the zone's "
            "name servers and that the validation records resolve publicly, then `pulumi up` again; after 72 "
            "hours ACM gives up on the certificate for good (VALIDATION_TIMED_OUT): request a new one with "
            f"`pulumi up --replace <urn of certificate-{env.name}>`",
            resource=validation,
        )
    # The IngressClassParams (and through them the hand-over to Argo CD) take the certificate,
    # not its validation: the load balancer controller retries a certificate that is not issued
    # yet, so nothing of the platform waits for DNS.
    return {env.name: certificates[env.name].arn for env in settings.environments}


def ingress_class_params_spec(
    spec: IngressClassSpec, certificate_arn: str, subnet_ids: Sequence[str], settings: Settings
) -> dict:
    """What every Ingress of the class gets, whatever its annotations say."""
    params = {
        "scheme": spec.scheme,
        "subnets": {"ids": list(subnet_ids)},
        "group": {"name": spec.group},
        "certificateArn": [certificate_arn],
        "sslPolicy": SSL_POLICY,
        "sslRedirectPort": "443",
        "targetType": "ip",
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: spec.env.namespace}},
        "loadBalancerAttributes": [{"key": "routing.http.drop_invalid_header_fields.enabled", "value": "true"}],
        "tags": [
            {"key": "Project", "value": settings.project},
            {"key": "Environment", "value": spec.env.name},
        ],
    }
    if settings.auto_mode:
        params["certificateARNs"] = params.pop("certificateArn")
        del params["tags"]
    return params


def ingress_class_specs(settings: Settings) -> list[IngressClassSpec]:
    """Both classes of every environment."""
    return [IngressClassSpec(env, exposure, settings.project) for env in settings.environments for exposure in SCHEMES]


def create_ingress_classes(
    settings: Settings,
    cluster: ClusterOutputs,
    certificate_arns: Mapping[str, pulumi.Output[str]],
    public_subnet_ids: pulumi.Input[Sequence[str]],
    controller: k8s.helm.v3.Release | None,
) -> dict[str, k8s.networking.v1.IngressClass]:
    """The IngressClasses and their parameters; created after the controller (its CRDs and webhooks),
    or after the cluster with Auto Mode (its CRDs come with it)."""
    waits_for = controller if controller is not None else cluster.component
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[waits_for])
    api_group = AUTO_MODE_PARAMS_API_GROUP if settings.auto_mode else PARAMS_API_GROUP
    classes = {}
    for spec in ingress_class_specs(settings):
        labels = {"strata.io/environment": spec.env.name, "strata.io/exposure": spec.exposure}
        params = k8s.apiextensions.CustomResource(
            f"ingress-class-params-{spec.name}",
            api_version=AUTO_MODE_PARAMS_API_VERSION if settings.auto_mode else PARAMS_API_VERSION,
            kind="IngressClassParams",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.name, labels=labels),
            spec=pulumi.Output.all(certificate_arns[spec.env.name], public_subnet_ids).apply(
                lambda args, spec=spec: ingress_class_params_spec(spec, args[0], args[1], settings)
            ),
            opts=opts,
        )
        classes[spec.name] = k8s.networking.v1.IngressClass(
            f"ingress-class-{spec.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.name, labels=labels),
            spec=k8s.networking.v1.IngressClassSpecArgs(
                controller=AUTO_MODE_CONTROLLER if settings.auto_mode else CONTROLLER,
                parameters=k8s.networking.v1.IngressClassParametersReferenceArgs(
                    api_group=api_group, kind="IngressClassParams", name=spec.name
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[waits_for, params])),
        )
    return classes
