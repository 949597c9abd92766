"""TLS and load balancers: each environment's certificate, its validation records, its IngressClasses."""

from __future__ import annotations

from tests.conftest import Stack

CERTIFICATE = "aws:acm/certificate:Certificate"
RECORD = "aws:route53/record:Record"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"


def _certificate_names(stack: Stack, env: dict) -> list[str]:
    wanted = env.get("certificate") or {"domainName": f"*.{env['name']}.{stack.config['domain']}"}
    return [wanted["domainName"], *(wanted.get("subjectAlternativeNames") or [])]


def test_each_environment_has_a_dns_validated_certificate_for_its_names(stack: Stack) -> None:
    certificates = {c["name"]: c for c in stack.of_type(CERTIFICATE)}
    validations = {v["name"]: v["inputs"] for v in stack.of_type(VALIDATION)}
    fqdns = {r["inputs"]["name"].rstrip(".") for r in stack.of_type(RECORD)}
    for env in stack.config["environments"]:
        certificate = certificates[f"certificate-{env['name']}"]["inputs"]
        names = _certificate_names(stack, env)
        assert [certificate["domainName"], *certificate.get("subjectAlternativeNames", [])] == names
        assert certificate["validationMethod"] == "DNS"
        validation = validations[f"certificate-{env['name']}"]
        assert validation["certificateArn"].endswith(f"certificate/certificate-{env['name']}")
        assert validation["validationRecordFqdns"] and set(validation["validationRecordFqdns"]) <= fqdns
        for name in names:
            assert name == stack.config["domain"] or name.endswith("." + stack.config["domain"])


def test_validation_records_are_written_once_in_the_public_zone(stack: Stack) -> None:
    records = [r["inputs"] for r in stack.of_type(RECORD)]
    keys = [(r["name"], r["type"]) for r in records]
    assert len(keys) == len(set(keys)), "a wildcard and its base name share one record: write it once"
    bases = {n.removeprefix("*.") for env in stack.config["environments"] for n in _certificate_names(stack, env)}
    assert len(records) == len(bases)
    for record in records:
        assert record["zoneId"] == "ZMOCKZONE" and record["type"] == "CNAME" and record["allowOverwrite"] is True


def test_each_environment_has_a_public_and_an_internal_ingress_class_with_its_certificate(stack: Stack) -> None:
    project = stack.config["project"]
    params = {p["inputs"]["metadata"]["name"]: p["inputs"] for p in stack.kubernetes_objects("IngressClassParams")}
    classes = {c["inputs"]["metadata"]["name"]: c for c in stack.kubernetes_objects("IngressClass")}
    # With EKS Auto Mode the classes are its own (`eks.amazonaws.com`), made once the cluster is.
    auto_mode = stack.config.get("compute") == "auto-mode"
    group, version, controller = ("eks.amazonaws.com", "v1", "eks.amazonaws.com/alb") if auto_mode else (
        "elbv2.k8s.aws", "v1beta1", "ingress.k8s.aws/alb")  # fmt: skip
    waits_for = stack.one("eks:index:Cluster") if auto_mode else stack.one(
        "kubernetes:helm.sh/v3:Release", "aws-load-balancer-controller")  # fmt: skip
    wanted = {f"{e['name']}-{x}" for e in stack.config["environments"] for x in ("public", "internal")}
    assert set(params) == set(classes) == wanted
    for env in stack.config["environments"]:
        arn = f"arn:aws:acm:mock:{stack.account}:certificate/certificate-{env['name']}"
        for exposure, scheme in (("public", "internet-facing"), ("internal", "internal")):
            name = f"{env['name']}-{exposure}"
            spec = params[name]["spec"]
            assert params[name]["apiVersion"] == f"{group}/{version}"
            assert spec["scheme"] == scheme
            assert spec["group"] == {"name": f"{project}-{env['name']}-{exposure}"}
            assert spec["certificateARNs" if auto_mode else "certificateArn"] == [arn]
            assert spec["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
            assert spec["sslRedirectPort"] == "443" and spec["targetType"] == "ip"
            assert spec["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": env["namespace"]}}
            # Both schemes in the public subnets: the NetworkPolicies admit load balancers from there only.
            assert sorted(spec["subnets"]["ids"]) == sorted(stack.output("publicSubnetIds"))
            ingress_class = classes[name]
            assert ingress_class["inputs"]["spec"] == {
                "controller": controller,
                "parameters": {"apiGroup": group, "kind": "IngressClassParams", "name": name},
            }
            assert waits_for["urn"] in ingress_class["dependencies"]
