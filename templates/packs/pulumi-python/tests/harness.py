"""Run the foundation program under Pulumi mocks, per stack, and record every resource it registers.

No Pulumi CLI, provider plugin, AWS account or cluster is needed: the Pulumi
Python SDK's mock monitor answers every resource registration and provider
call. Pulumi's mock runtime is process-global, so each stack runs in its own
process; `run_stack()` and `run_stacks()` start those processes for you.

Command line (run from the repository root):

    python -m tests.harness <stack> [--json PATH] [--outputs PATH] [--set KEY=JSON]...
    python -m tests.harness <stack> <stack>... --out-dir DIR [--set KEY=JSON]...
    python -m tests.harness --batch FILE --out-dir DIR

- reads `Pulumi.yaml` (the project name and any project-level `config:`
  defaults) and `Pulumi.<stack>.yaml` (the stack's `config:`), sets that
  configuration, and runs `__main__.py` the way the Pulumi CLI does;
- `--json PATH` writes the resources as a JSON list, one object per resource,
  in the order the mock monitor received them:

      [{"type": "aws:iam/role:Role",       # Pulumi type token
        "name": "irsa-external-dns",       # logical name
        "inputs": {...},                   # inputs, camelCase wire names
        "custom": true,                    # false for components (eks:index:Cluster, awsx:ec2:Vpc)
        "urn": "urn:pulumi:...",           # the mock URN
        "parent": "urn:pulumi:...",        # parent URN or ""
        "provider": "urn:pulumi:...::id",  # explicit provider reference or ""
        "dependencies": ["urn:..."],       # URNs it depends on (depends_on and inputs)
        "ignoreChanges": ["..."],          # the ignore_changes option
        "importId": "...",                 # the import_ option ("" when not adopted)
        "customTimeouts": {"create": ...},  # the custom_timeouts option ("" where not set)
        "retainOnDelete": false,           # the retain_on_delete option
        "id": "irsa-external-dns-id",      # the mock's id ("<name>-id", EC2-shaped for EC2 resources)
        "account": "123456789012"},        # the account the stack ran in (`stack_account()`)
       ...]

  Only `type`, `name`, `inputs` and `custom` are the stable interface; the
  other keys are extras for tests that check wiring.
- `--outputs PATH` writes the stack outputs as `{name: {"value": ..., "secret": bool}}`; beside
  the resources, `<name>.invokes.json` lists the provider functions (lookups) the run called.
- `--caller ARN` runs as that identity (`aws.get_caller_identity`), for example an assumed role
  `arn:aws:sts::<account>:assumed-role/<role>/<session>`; the default is an IAM user `mock`.
- `--world JSON` describes the account and the internet the program looks at (`WORLD` below):
  `{"caller": ARN, "publicNameServers": [...] | "none" | "servfail" | "unreachable", "logGroups": [names],
  "secrets": [{"name": ..., "tags": {...}}], "clusterExists": bool, "accessEntries": [ARNs],
  "issuer": the role ARN, with its path, that `get_session_context` returns for the caller}`.
  By default public DNS cannot be reached, and no cluster, access entry, log group or secret
  exists (a fresh account).
- `--set KEY=JSON` replaces one configuration value for this run only (`KEY` without a
  namespace is the project's; a value that is not JSON is taken as a string), e.g.
  `--set 'endpoint={"privateAccess": true, "publicAccess": false}'`.
- `--out-dir DIR` writes `DIR/<stack>.json` (resources), `DIR/<stack>.outputs.json` and, for a
  stack that failed, `DIR/<stack>.error.txt`. With several stacks each runs in a process of its
  own (forked after the SDKs are imported once), at most one per CPU at a time.
- `--batch FILE` runs a JSON list of `{"label": ..., "stack": ..., "overrides": {...}}` the same
  way, writing `DIR/<label>.json`, `DIR/<label>.outputs.json` (or `DIR/<label>.error.txt`): one
  stack under several configurations in one process import (`run_batch()` does this for tests).
- Exit status: 0 when the program ran (for every stack), 1 when it failed
  (the error on stderr or in the error file), 2 for bad usage or a missing
  stack file.

Remote components (`eks:index:Cluster`) are not expanded under mocks: they are
recorded once, with their inputs, and the mocks return the outputs the program
reads from them. Custom resources echo their inputs as state, plus the ids and
ARNs the program reads (an ACM certificate's validation records, an Elastic
IP's allocation id, ...). Lookups answer as for an empty account: the hosted
zone exists, no Secrets Manager secret or log group does, GitHub's OIDC provider exists
for the stacks that look it up, and public DNS cannot be reached (`--world` changes that).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import json
import os
import re
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
MOCK_SECRET = "mock-secret-value"
# The SDK modules the program loads; `run_many` imports them once before forking.
SDK_MODULES = (
    "pulumi",
    "pulumi.runtime.mocks",
    "pulumi_aws.acm",
    "pulumi_aws.cloudwatch",
    "pulumi_aws.ec2",
    "pulumi_aws.eks",
    "pulumi_aws.iam",
    "pulumi_aws.kms",
    "pulumi_aws.route53",
    "pulumi_aws.secretsmanager",
    "pulumi_eks",
    "pulumi_kubernetes.admissionregistration.v1",
    "pulumi_kubernetes.apiextensions",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.meta.v1",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.scheduling.v1",
    "pulumi_kubernetes.storage.v1",
    "dns.resolver",
    "yaml",
)


# --- configuration --------------------------------------------------------------------------


def project_name(root: Path) -> str:
    """The `name:` of `Pulumi.yaml`."""
    return _load_yaml(root / "Pulumi.yaml")["name"]


def stack_values(root: Path, stack: str) -> tuple[dict[str, Any], list[str]]:
    """The stack's configuration as written in YAML, keyed `namespace:key`.

    Project-level `config:` of `Pulumi.yaml` gives the defaults; keys without a
    namespace belong to the project. Secure values become a placeholder.
    Returns the values and the secret keys.
    """
    project_file = _load_yaml(root / "Pulumi.yaml")
    project = project_file["name"]
    stack_file = _load_yaml(root / f"Pulumi.{stack}.yaml") or {}
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for key, raw in (project_file.get("config") or {}).items():
        if isinstance(raw, dict) and ("default" in raw or "value" in raw):
            raw = raw.get("value", raw.get("default"))
        elif isinstance(raw, dict) and "type" in raw:
            continue  # a schema-only declaration without a default
        values[_full_key(project, key)] = raw
    for key, raw in (stack_file.get("config") or {}).items():
        full_key = _full_key(project, key)
        if isinstance(raw, dict) and set(raw) == {"secure"}:
            values[full_key] = MOCK_SECRET
            secrets.append(full_key)
        else:
            values[full_key] = raw
    return values, secrets


def stack_account(stack: str, root: Path = REPO_ROOT) -> str:
    """The AWS account the harness runs `stack` in: its own (`aws:allowedAccountIds`, with
    `strata new --account`), else the mock account `ACCOUNT_ID`."""
    values, _ = stack_values(root, stack)
    allowed = values.get("aws:allowedAccountIds") or []
    return str(allowed[0]) if allowed else ACCOUNT_ID


def stack_config(root: Path, stack: str, overrides: dict[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """The stack's configuration as Pulumi hands it to a program: `{"ns:key": "string or JSON"}`.

    `overrides` (`{"key" or "ns:key": value}`) replace single values, for tests.
    """
    values, secrets = stack_values(root, stack)
    project = project_name(root)
    for key, value in (overrides or {}).items():
        values[_full_key(project, key)] = value
    return {key: _encode(value) for key, value in values.items()}, secrets


def parse_override(text: str) -> tuple[str, Any]:
    """`KEY=JSON` (or `KEY=text`) of `--set`."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"`{text}` is not KEY=VALUE")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _full_key(project: str, key: str) -> str:
    """Keys without a namespace belong to the project."""
    return key if ":" in key else f"{project}:{key}"


def _encode(value: Any) -> str:
    """Pulumi passes strings as they are and everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _load_yaml(path: Path) -> Any:
    """Parse one YAML file."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- mocks ----------------------------------------------------------------------------------


DEFAULT_CALLER = f"arn:aws:iam::{ACCOUNT_ID}:user/mock"
# The hosted zone's name servers, as Route 53 gives them.
ZONE_NAME_SERVERS = ["ns-101.awsdns-12.com", "ns-1201.awsdns-22.org", "ns-2001.awsdns-32.co.uk", "ns-901.awsdns-42.net"]
# What the program finds outside its own resources (see `--world`).
WORLD: dict[str, Any] = {
    "caller": DEFAULT_CALLER,
    "publicNameServers": "unreachable",
    "logGroups": [],
    "secrets": [],
    "clusterExists": False,
    "accessEntries": [],
    "issuer": None,
}


def secret_arn(name: str, account: str | None = None) -> str:
    return f"arn:aws:secretsmanager:mock:{account or ACCOUNT_ID}:secret:{name}-AbCdEf"


class InvokeFailure(Exception):
    """A provider function that fails (a lookup that finds nothing), as the engine reports it."""


def issuer_of(arn: str) -> str:
    """What `aws.iam.get_session_context` answers: the role of an assumed-role session, else the ARN."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return arn


def _make_mocks(region: str, world: dict[str, Any]) -> Any:
    """The mocks, built lazily so that importing this module does not import Pulumi."""
    import pulumi

    issuer = f"oidc.eks.{region}.amazonaws.com/id/MOCKOIDCISSUER"

    class FoundationMocks(pulumi.runtime.Mocks):
        """Outputs for the components and ids/ARNs for custom resources; answers provider calls."""

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            # Components must not echo their inputs: input and output names collide
            # (awsx Vpc `natGateways` is a config object in, a list of resources out).
            state = dict(args.inputs) if args.custom else {}
            state.update(component_outputs(args.typ, args.inputs, region, issuer))
            if args.custom:
                state.update(custom_outputs(args.typ, args.name, args.inputs, region))
            return mock_id(args.typ, args.name), state

        invokes: list[str] = []

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
            self.invokes.append(args.token)
            try:
                return call_result(args.token, args.args, region, world), []
            except InvokeFailure as failure:  # the provider's answer for a lookup that finds nothing
                return {}, [("", str(failure))]

    return FoundationMocks()


def component_outputs(typ: str, inputs: dict, region: str, issuer: str) -> dict:
    """The outputs this program reads from remote components."""
    if typ == "eks:index:Cluster":
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": inputs.get("name", "cluster"), "cluster": {"server": "https://mock.eks"}}],
        }
        return {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "clusterSecurityGroupId": "sg-cluster",
            "nodeSecurityGroupId": "sg-node",
        }
    return {}


# EC2 ids have a fixed form (`subnet-0123abcd`) that other APIs check, e.g. IngressClassParams.
EC2_ID_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/eip:Eip": "eipalloc",
}


def mock_id(typ: str, name: str) -> str:
    """The id of a mocked resource: `<name>-id`, or an EC2-shaped id derived from the name."""
    if typ in EC2_ID_PREFIXES:
        return f"{EC2_ID_PREFIXES[typ]}-{hashlib.sha256(name.encode()).hexdigest()[:17]}"
    return f"{name}-id"


def validation_record(domain_name: str) -> dict:
    """ACM's DNS validation record of a name, as ACM makes it: a wildcard shares its base name's record."""
    base = domain_name.removeprefix("*.")
    token = hashlib.sha256(base.encode()).hexdigest()
    return {
        "domainName": domain_name,
        "resourceRecordName": f"_{token[:32]}.{base}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{token[32:]}.mock.acm-validations.aws.",
    }


def custom_outputs(typ: str, name: str, inputs: dict, region: str = "mock") -> dict:
    """Computed attributes of custom resources that the program reads."""
    if typ == "aws:iam/role:Role":
        role_name = inputs.get("name") or f"{name}-mock"
        return {"name": role_name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}"}
    if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        host = str(inputs.get("url", "")).removeprefix("https://")
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"}
    if typ == "aws:kms/key:Key":
        return {"keyId": f"{name}-key-id", "arn": f"arn:aws:kms:mock:{ACCOUNT_ID}:key/{name}-key-id"}
    if typ == "aws:sqs/queue:Queue":
        queue = inputs.get("name") or f"{name}-mock"
        return {
            "name": queue,
            "arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue}",
            "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}",
        }
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1}
    if typ == "aws:ec2/eip:Eip":
        return {"allocationId": mock_id(typ, name), "publicIp": "198.51.100.1"}
    if typ == "aws:acm/certificate:Certificate":
        names = [inputs.get("domainName", ""), *(inputs.get("subjectAlternativeNames") or [])]
        return {
            "arn": f"arn:aws:acm:mock:{ACCOUNT_ID}:certificate/{name}",
            "domainValidationOptions": [validation_record(n) for n in names],
        }
    if typ == "aws:route53/record:Record":
        return {"fqdn": str(inputs.get("name", "")).rstrip(".")}
    if typ == "aws:secretsmanager/secret:Secret":
        return {"arn": f"arn:aws:secretsmanager:mock:{ACCOUNT_ID}:secret:{inputs.get('name', name)}-AbCdEf"}
    if typ.startswith("aws:") and "arn" not in inputs:
        return {"arn": f"arn:aws:mock::{ACCOUNT_ID}:{typ.split(':')[-1].lower()}/{name}"}
    return {}


def call_result(token: str, args: dict, region: str, world: dict[str, Any] | None = None) -> dict:
    """Answers to the provider functions (invokes) the program may call."""
    world = {**WORLD, **(world or {})}
    caller = world["caller"]
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT_ID, "arn": caller, "userId": "MOCK", "id": ACCOUNT_ID}
    if token == "aws:eks/getClusters:getClusters":
        return {"names": list(world.get("clusters") or []), "id": region}
    if token == "aws:eks/getAccessEntry:getAccessEntry":
        if not world["clusterExists"] or args.get("principalArn") not in world["accessEntries"]:
            raise InvokeFailure(f"ResourceNotFoundException: no access entry for {args.get('principalArn')}")
        return {"clusterName": args.get("clusterName"), "principalArn": args.get("principalArn"), "type": "STANDARD"}
    if token == "aws:cloudwatch/getLogGroups:getLogGroups":
        prefix = args.get("logGroupNamePrefix", "")
        names = [n for n in world["logGroups"] if n.startswith(prefix)]
        return {"logGroupNames": names, "arns": [f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{n}" for n in names]}
    if token == "aws:secretsmanager/getSecret:getSecret":
        found = [s for s in world["secrets"] if secret_arn(s["name"]) == args.get("arn")]
        return {
            "arn": args.get("arn"),
            "name": found[0]["name"] if found else "",
            "tags": found[0].get("tags") or {} if found else {},
        }
    if token == "aws:iam/getSessionContext:getSessionContext":
        arn = args.get("arn", caller)
        issuer = world.get("issuer") or issuer_of(arn)  # the real one has the role's path (GetRole)
        return {"arn": arn, "issuerArn": issuer, "issuerName": issuer.rsplit("/", 1)[-1], "id": arn}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws", "id": "aws"}
    if token == "aws:index/getRegion:getRegion":
        return {"region": region, "name": region, "endpoint": f"ec2.{region}.amazonaws.com", "id": region}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = [f"{region}{suffix}" for suffix in "abcdef"]
        return {"names": names, "zoneIds": [f"mock-az{i}" for i in range(len(names))], "id": region}
    if token == "aws:route53/getZone:getZone":
        name = args.get("name", "example.com")
        return {
            "zoneId": "ZMOCKZONE",
            "arn": "arn:aws:route53:::hostedzone/ZMOCKZONE",
            "name": name,
            "privateZone": False,
            "nameServers": ZONE_NAME_SERVERS,
            "id": "ZMOCKZONE",
        }
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        return {"json": policy_document_json(args), "id": "mock-policy-document"}
    if token == "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider":
        # Another stack of the account created GitHub's provider (`ci.oidcProvider: existing`).
        url = args.get("url", "https://token.actions.githubusercontent.com")
        host = url.removeprefix("https://")
        arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
        return {"arn": arn, "url": url, "clientIdLists": ["sts.amazonaws.com"], "thumbprintLists": [], "id": arn}
    if token == "aws:secretsmanager/getSecrets:getSecrets":
        prefixes = [v for f in args.get("filters") or [] if f.get("name") == "name" for v in f.get("values") or []]
        names = [s["name"] for s in world["secrets"] if any(s["name"].startswith(p) for p in prefixes)]
        return {"arns": [secret_arn(n) for n in names], "names": names, "id": region}
    return {}


def policy_document_json(args: dict) -> str:
    """A faithful enough rendering of `aws.iam.get_policy_document` for tests to parse."""
    statements = []
    for statement in args.get("statements") or []:
        rendered: dict[str, Any] = {"Effect": statement.get("effect", "Allow")}
        if statement.get("sid"):
            rendered["Sid"] = statement["sid"]
        if statement.get("actions"):
            rendered["Action"] = statement["actions"]
        if statement.get("resources"):
            rendered["Resource"] = statement["resources"]
        for principal in statement.get("principals") or []:
            rendered.setdefault("Principal", {})[principal["type"]] = principal["identifiers"]
        for condition in statement.get("conditions") or []:
            rendered.setdefault("Condition", {}).setdefault(condition["test"], {})[condition["variable"]] = (
                condition["values"][0] if len(condition["values"]) == 1 else condition["values"]
            )
        statements.append(rendered)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _make_monitor(mocks: Any) -> Any:
    """A mock monitor that also records each registration (inputs, parent, provider, dependencies)."""
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks: Any) -> None:
            super().__init__(mocks)
            self.records: list[dict] = []
            self._lock = threading.Lock()

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                record = {
                    "type": request.type,
                    "name": request.name,
                    "inputs": rpc.deserialize_properties(request.object),
                    "custom": bool(request.custom),
                    "urn": response.urn,
                    "parent": request.parent,
                    "provider": request.provider,
                    "dependencies": list(request.dependencies),
                    "ignoreChanges": list(request.ignoreChanges),
                    "importId": request.importId,
                    "customTimeouts": {
                        "create": request.customTimeouts.create,
                        "update": request.customTimeouts.update,
                        "delete": request.customTimeouts.delete,
                    },
                    "retainOnDelete": bool(request.retainOnDelete),
                    "id": response.id,
                    "account": ACCOUNT_ID,
                }
                with self._lock:
                    self.records.append(record)
            return response

    return RecordingMonitor(mocks)


def _mock_public_dns(answer: Any) -> None:
    """Public DNS as `--world` describes it: NS records, no record (`none`), SERVFAIL from the
    servers it is delegated to (`servfail`) or no answer at all (`unreachable`)."""
    from types import SimpleNamespace

    import dns.exception
    import dns.name
    import dns.resolver

    def resolve(qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> list:
        if answer == "unreachable":
            raise dns.exception.Timeout(timeout=kwargs.get("lifetime") or 1.0)
        if answer == "none":
            raise dns.resolver.NXDOMAIN()
        if answer == "servfail":
            raise dns.resolver.NoNameservers()
        return [SimpleNamespace(target=dns.name.from_text(name)) for name in answer]

    dns.resolver.resolve = resolve


# --- running ----------------------------------------------------------------------------------


@dataclass
class StackRun:
    """What one run of the program produced."""

    resources: list[dict]
    outputs: dict[str, dict]
    invokes: list[str] = field(default_factory=list)  # the provider functions it called, in order


def run_in_process(
    root: Path, stack: str, overrides: dict[str, Any] | None = None, world: dict[str, Any] | None = None
) -> StackRun:
    """Run the program for `stack` in this process. Call at most once per process."""
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    world = {**WORLD, **(world or {})}
    # Python 3.14 no longer creates a loop on demand, and set_mocks needs one (pulumi/pulumi#24338).
    asyncio.set_event_loop(asyncio.new_event_loop())
    config, secret_keys = stack_config(root, stack, overrides)
    region = config.get("aws:region", "us-east-1")
    _follow_stack_account(config, world)
    if world["clusterExists"]:  # the stack's own cluster, as `eks:ListClusters` names it
        world["clusters"] = [config.get(f"{project_name(root)}:clusterName", "")]
    monitor = _make_monitor(_make_mocks(region, world))
    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi.runtime.set_mocks(monitor.mocks, project=project_name(root), stack=stack, preview=False, monitor=monitor)
    _mock_public_dns(world["publicNameServers"])

    sys.path.insert(0, str(root))
    os.chdir(root)

    def program() -> None:
        """Run `__main__.py` as the Pulumi CLI does."""
        runpy.run_path(str(root / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    return StackRun(resources=monitor.records, outputs=_resolve_outputs(), invokes=list(monitor.mocks.invokes))


def _follow_stack_account(config: dict[str, str], world: dict[str, Any]) -> None:
    """A stack in an account of its own (`aws:allowedAccountIds`) runs in that account: the caller
    identity, and every ARN the mocks make, name it (one stack per process)."""
    global ACCOUNT_ID
    allowed = json.loads(config.get("aws:allowedAccountIds", "[]"))
    if not allowed or allowed[0] == ACCOUNT_ID:
        return
    if world["caller"] == DEFAULT_CALLER:
        world["caller"] = DEFAULT_CALLER.replace(ACCOUNT_ID, allowed[0])
    ACCOUNT_ID = allowed[0]


def _resolve_outputs() -> dict[str, dict]:
    """The values of the stack outputs, with their secretness."""
    import pulumi
    from pulumi.runtime.settings import get_root_resource
    from pulumi.runtime.sync_await import _sync_await

    resolved: dict[str, dict] = {}
    stack = get_root_resource()
    for name, value in (getattr(stack, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        resolved[name] = {"value": _sync_await(output.future()), "secret": _sync_await(output.is_secret())}
    return resolved


def _invokes_path(resources_path: Path) -> Path:
    """Where the provider functions a run called go: beside its resources (`<name>.invokes.json`)."""
    return resources_path.with_name(resources_path.name.removesuffix(".json") + ".invokes.json")


def _write_run(run: StackRun, resources_path: Path | None, outputs_path: Path | None) -> None:
    """Write what a run recorded as JSON."""
    if resources_path:
        resources_path.write_text(json.dumps(run.resources, indent=1, default=str), encoding="utf-8")
        _invokes_path(resources_path).write_text(json.dumps(run.invokes), encoding="utf-8")
    if outputs_path:
        outputs_path.write_text(json.dumps(run.outputs, indent=1, default=str), encoding="utf-8")


def _out_paths(out_dir: Path, label: str) -> tuple[Path, Path, Path]:
    """Resources, outputs and error file of the run `label` in an `--out-dir`."""
    return out_dir / f"{label}.json", out_dir / f"{label}.outputs.json", out_dir / f"{label}.error.txt"


@dataclass(frozen=True)
class Planned:
    """One run of a batch: `stack` with `overrides`, written under the name `label`."""

    label: str
    stack: str
    overrides: dict[str, Any]
    world: dict[str, Any] = field(default_factory=dict)


def _run_into(root: Path, planned: Planned, out_dir: Path) -> int:
    """Run one stack in this process and write its files into `out_dir`; returns the exit status."""
    resources_path, outputs_path, error_path = _out_paths(out_dir, planned.label)
    try:
        run = run_in_process(root, planned.stack, planned.overrides, planned.world)
        _write_run(run, resources_path, outputs_path)
        return 0
    except Exception:  # written for the caller, per run
        error_path.write_text(traceback.format_exc(), encoding="utf-8")
        return 1


def load(name: str) -> None:
    """Import a module for good. The Pulumi SDKs' packages load lazily, on their first attribute
    access: without one, every forked run would load (and compile) them again."""
    getattr(importlib.import_module(name), "__loaded_by_the_harness__", None)


def run_many(root: Path, batch: list[Planned], out_dir: Path) -> int:
    """Run a batch, each run in a process of its own, at most one per CPU at a time.

    This process imports the Pulumi SDKs once and then forks a child per run,
    which saves most of each run's time. Where `fork` is unavailable (or threads
    already run), every run goes through its own `python -m tests.harness`.
    """
    workers = max(1, min(len(batch), os.cpu_count() or 1))
    if not hasattr(os, "fork") or threading.active_count() > 1:
        with ThreadPoolExecutor(max_workers=workers) as threads:
            results = threads.map(lambda planned: _run_cli_into(root, planned, out_dir), batch)
            return max(results, default=0)
    for module in SDK_MODULES:
        load(module)
    sys.stdout.flush()
    sys.stderr.flush()
    queue = list(batch)
    running: dict[int, str] = {}  # pid -> label
    status = 0
    while queue or running:
        while queue and len(running) < workers:
            planned = queue.pop(0)
            pid = os.fork()
            if pid == 0:  # the child: run one stack, never return into the caller
                code = _run_into(root, planned, out_dir)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            running[pid] = planned.label
        pid, wait_status = os.wait()
        running.pop(pid, None)
        status = max(status, 1 if os.waitstatus_to_exitcode(wait_status) else 0)
    return status


def _set_args(overrides: dict[str, Any] | None) -> list[str]:
    """`--set KEY=JSON` arguments for `overrides`."""
    return [arg for key, value in (overrides or {}).items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def _run_cli_into(root: Path, planned: Planned, out_dir: Path) -> int:
    """`python -m tests.harness <stack>` writing into `out_dir`."""
    resources_path, outputs_path, error_path = _out_paths(out_dir, planned.label)
    command = [sys.executable, "-m", "tests.harness", planned.stack, "--json", str(resources_path),
               "--outputs", str(outputs_path), "--root", str(root), *_set_args(planned.overrides),
               *(["--world", json.dumps(planned.world)] if planned.world else [])]  # fmt: skip
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        error_path.write_text(done.stderr, encoding="utf-8")
    return done.returncode


def run_batch(
    batch: dict[str, tuple[Any, ...]], root: Path = REPO_ROOT, timeout: float = 900
) -> dict[str, StackRun | Exception]:
    """Run every `label: (stack, overrides[, world])` of a batch through one `python -m tests.harness
    --batch` process (the SDKs imported once, a process forked per run); a failed run maps to its error."""
    if not batch:
        return {}
    with tempfile.TemporaryDirectory() as scratch:
        out_dir = Path(scratch)
        batch_file = out_dir / "batch.json"
        entries = [
            {"label": label, "stack": run[0], "overrides": run[1] or {}, "world": run[2] if len(run) > 2 else {}}
            for label, run in batch.items()
        ]
        batch_file.write_text(json.dumps(entries), encoding="utf-8")
        command = [sys.executable, "-m", "tests.harness", "--batch", str(batch_file), "--out-dir", str(out_dir),
                   "--root", str(root)]  # fmt: skip
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout, check=False)
        results: dict[str, StackRun | Exception] = {}
        for label, (stack, *_) in batch.items():
            resources_path, outputs_path, error_path = _out_paths(out_dir, label)
            if resources_path.is_file() and outputs_path.is_file():
                invokes = _invokes_path(resources_path)
                results[label] = StackRun(
                    resources=json.loads(resources_path.read_text(encoding="utf-8")),
                    outputs=json.loads(outputs_path.read_text(encoding="utf-8")),
                    invokes=json.loads(invokes.read_text(encoding="utf-8")) if invokes.is_file() else [],
                )
            else:
                detail = error_path.read_text(encoding="utf-8") if error_path.is_file() else done.stderr
                results[label] = RuntimeError(f"stack `{stack}` failed under mocks:\n{detail}")
        return results


def run_stacks(
    names: list[str], root: Path = REPO_ROOT, timeout: float = 900, overrides: dict[str, Any] | None = None
) -> dict[str, StackRun | Exception]:
    """Run stacks (in one batch); a failed stack maps to its error.

    `overrides` replace configuration values of every stack (see `--set`).
    """
    return run_batch({name: (name, overrides) for name in names}, root, timeout)


def run_stack(
    stack: str, root: Path = REPO_ROOT, timeout: float = 300, overrides: dict[str, Any] | None = None
) -> StackRun:
    """Run the program for `stack` in a fresh Python process and return what it recorded."""
    result = run_stacks([stack], root, timeout, overrides)[stack]
    if isinstance(result, Exception):
        raise result
    return result


def stacks(root: Path = REPO_ROOT) -> list[str]:
    """Every stack that has a `Pulumi.<stack>.yaml` in the repository root."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in root.glob("Pulumi.*.yaml"))


_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _read_batch(path: Path) -> list[Planned]:
    """The runs of a `--batch` file: a JSON list of `{"label", "stack", "overrides"}`."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    batch = [
        Planned(str(e["label"]), str(e["stack"]), dict(e.get("overrides") or {}), dict(e.get("world") or {}))
        for e in entries
    ]
    bad = [p.label for p in batch if not _LABEL.fullmatch(p.label)]
    if bad or len({p.label for p in batch}) != len(batch):
        raise ValueError(f"labels must be unique file names: {bad or [p.label for p in batch]}")
    return batch


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", metavar="stack", help="a stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", type=Path, help="write the recorded resources to this file (one stack)")
    parser.add_argument("--outputs", type=Path, help="write the stack outputs to this file (one stack)")
    parser.add_argument("--out-dir", type=Path, help="write <stack>.json and <stack>.outputs.json here")
    parser.add_argument("--batch", type=Path, help="a JSON list of runs {label, stack, overrides} (with --out-dir)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the foundation repository (default: %(default)s)")
    parser.add_argument("--caller", metavar="ARN", help="the identity that runs the program (default: an IAM user)")
    parser.add_argument("--world", type=json.loads, default={}, metavar="JSON",
                        help="what the program finds outside its resources (see WORLD)")  # fmt: skip
    parser.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[],
                        metavar="KEY=JSON", help="replace one configuration value for this run")  # fmt: skip
    args = parser.parse_args(argv)
    overrides = dict(args.overrides)
    world = {**args.world, **({"caller": args.caller} if args.caller else {})}
    root = args.root.resolve()
    if args.batch:
        if args.stacks or args.json or args.outputs or overrides or world or not args.out_dir:
            print(
                "error: `--batch` takes `--out-dir` and no stack, `--json`, `--outputs`, `--set`, "
                "`--caller` or `--world`",
                file=sys.stderr,
            )
            return 2
        try:
            batch = _read_batch(args.batch)
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"error: `{args.batch}` is not a batch file: {error}", file=sys.stderr)
            return 2
    else:
        if not args.stacks:
            print("error: name a stack, or give `--batch`", file=sys.stderr)
            return 2
        batch = [Planned(stack, stack, overrides, world) for stack in args.stacks]
    missing = sorted({p.stack for p in batch if not (root / f"Pulumi.{p.stack}.yaml").is_file()})
    if missing or not (root / "Pulumi.yaml").is_file():
        names = ", ".join(f"`Pulumi.{s}.yaml`" for s in missing) or "`Pulumi.yaml`"
        print(f"error: no {names} in `{root}`", file=sys.stderr)
        return 2
    if len(batch) > 1 and (args.json or args.outputs or not args.out_dir):
        print("error: several stacks need `--out-dir` (and no `--json` or `--outputs`)", file=sys.stderr)
        return 2
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        if len(batch) > 1 or args.batch:
            return run_many(root, batch, args.out_dir)
        args.json, args.outputs, error_path = _out_paths(args.out_dir, batch[0].label)
    (planned,) = batch
    try:
        run = run_in_process(root, planned.stack, planned.overrides, planned.world)
    except Exception as error:
        print(f"error: the program failed for stack `{planned.stack}`: {error}", file=sys.stderr)
        if args.out_dir:
            error_path.write_text(traceback.format_exc(), encoding="utf-8")
        return 1
    _write_run(run, args.json, args.outputs)
    if not args.json and not args.outputs:
        json.dump(run.resources, sys.stdout, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
