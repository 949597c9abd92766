"""`strata new` (and `strata add service` right after it) across presets, environment and service
counts: every generated workspace passes every conformance check, with the real tools.

Each workspace is generated once (module-scoped fixture) and every check runs against it; the
foundation's harness runs once per stack and workspace (cached in `checks`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

import checks
from conftest import ACCOUNT_ID, API_CIDRS, DOMAIN, ENVS, GIT_BASE, SERVICES

ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"


@dataclass(frozen=True)
class Case:
    """One `strata new` run, optionally followed by `strata add service ... --commit` runs."""

    preset: str
    envs: tuple[str, ...]
    services: tuple[str, ...]
    account_id: str | None = None
    adds: tuple[tuple[str, ...], ...] = field(default=())
    extra: tuple[str, ...] = ()  # more `strata new` flags (public repo, admin role, state backend)

    @property
    def id(self) -> str:
        extra = "-irsa" if self.adds else ""
        return f"{self.preset}-{len(self.envs)}env-{len(self.services) + len(self.adds)}svc{extra}"

    @property
    def name(self) -> str:
        return f"{self.preset[0]}{len(self.envs)}{len(self.services)}{'x' if self.adds else ''}"

    @property
    def all_services(self) -> list[str]:
        return list(self.services) + [add[0] for add in self.adds]


def _case(preset: str, n_envs: int, n_services: int, *extra: str) -> Case:
    return Case(preset, tuple(ENVS[:n_envs]), tuple(SERVICES[:n_services]), extra=extra)


PUBLIC_REPO = ("--public-repo",)
ADMIN = ("--admin-role", ADMIN_ROLE)
S3 = ("--backend", "s3://acme-pulumi-state/foundation")
# Every environment count (1-5) and every service count (0-5) for each preset; a private gitops
# repo (the default) and a public one, with and without an admin role, in each state backend.
# Compute x identity (issue 22): `startup` is node groups + IRSA, `production` Karpenter + Pod
# Identity; one case of each preset switches to the other compute, one to EKS Auto Mode, one to
# the other identity.
NODE_GROUPS = ("--set", "cluster.compute=node-groups")
KARPENTER = ("--set", "cluster.compute=karpenter")
AUTO_MODE = ("--set", "cluster.compute=auto-mode")
IRSA = ("--set", "identity=irsa")
POD_IDENTITY = ("--set", "identity=pod-identity")
# Issue 22: environments in AWS accounts of their own, one account per environment. A
# per-environment topology only (one shared cluster cannot span accounts): the `production`
# preset's; `startup` is shared, and switching a startup case would add Pulumi runs.
ACCOUNTS = ("--account", ",".join(f"{env}={str(i + 1) * 12}" for i, env in enumerate(ENVS[:4])))
MATRIX = [
    *(_case("startup", e, s, *x) for e, s, x in [(1, 0, PUBLIC_REPO), (2, 3, ADMIN), (3, 5, S3 + POD_IDENTITY),
                                                  (4, 1, KARPENTER), (5, 2, ADMIN + S3 + AUTO_MODE)]),
    *(_case("production", e, s, *x) for e, s, x in [(1, 5, ADMIN + S3), (2, 0, IRSA), (3, 2, PUBLIC_REPO + AUTO_MODE),
                                                     (4, 4, S3 + NODE_GROUPS + ACCOUNTS), (5, 1, ADMIN)]),
]
# IRSA, ExternalSecret and config paths, through `strata add service` after `new`.
ADDED = [
    Case("startup", ("dev", "prod"), ("api",), ACCOUNT_ID, adds=(
        ("billing", "--irsa", "--secret", "DB_PASSWORD", "--secret", "API_KEY", "--config", "LOG_LEVEL=debug"),
        ("search", "--secret", "TOKEN", "--config", "GREETING=hello world", "--config", "EMPTY=", "--envs", "prod"),
        ("worker", "--irsa", "--config", "QUEUE=jobs", "--min", "2", "--max", "4"),
    )),
    Case("production", ("dev", "stage", "prod"), ("web",), ACCOUNT_ID, adds=(
        ("billing", "--irsa", "--secret", "DB_PASSWORD", "--config", "LOG_LEVEL=info"),
        ("worker", "--aws-role", "--envs", "stage,prod", "--secret", "QUEUE_PASSWORD"),
    )),
]
CASES = MATRIX + ADDED


def test_the_cases_cover_every_count_for_both_presets():
    for preset in ("startup", "production"):
        cases = [c for c in CASES if c.preset == preset]
        assert {len(c.envs) for c in cases} == {1, 2, 3, 4, 5}
        assert {len(c.all_services) for c in cases} == {0, 1, 2, 3, 4, 5}


def _choice(case: Case, key: str, default: dict[str, str]) -> str:
    """The value a case's `--set KEY=...` gives, else its preset's."""
    flags = [case.extra[i + 1] for i, flag in enumerate(case.extra[:-1]) if flag == "--set"]
    given = [flag.split("=", 1)[1] for flag in flags if flag.startswith(f"{key}=")]
    return given[-1] if given else default[case.preset]


def test_the_cases_cover_every_compute_and_identity_with_both_topologies():
    compute = {c.id: _choice(c, "cluster.compute", {"startup": "node-groups", "production": "karpenter"}) for c in CASES}
    identity = {c.id: _choice(c, "identity", {"startup": "irsa", "production": "pod-identity"}) for c in CASES}
    combos = {(compute[c.id], identity[c.id]) for c in CASES}
    assert combos == {(x, y) for x in ("node-groups", "karpenter", "auto-mode") for y in ("irsa", "pod-identity")}
    for choice in ("node-groups", "karpenter", "auto-mode", "pod-identity", "irsa"):
        presets = {c.preset for c in CASES if choice in (compute[c.id], identity[c.id])}
        assert presets == {"startup", "production"}, choice


# The cases whose foundation runs its own test suite (`python -m pytest` in the repo): its tests
# are the same program's on other stacks, so a few cases cover what they can tell apart: both
# presets, one and several stacks, a public repo, an admin role, Auto Mode with Pod Identity and
# IRSA services (the growth test runs them on both presets' grown workspaces too).
OWN_TESTS = {"startup-2env-3svc", "production-3env-2svc", "startup-2env-4svc-irsa"}


def test_the_cases_that_run_the_foundations_own_tests_exist():
    assert OWN_TESTS <= {c.id for c in CASES}


# The foundation's own tests and checkov are single-threaded subprocesses: they run in the
# background while the other checks use the remaining core.
BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conformance-background")


def _capture(check, *args) -> Future:
    """Run `check(*args)` in the background; the Future holds its result or AssertionError."""

    def call():
        try:
            return check(*args), None
        except AssertionError as error:
            return None, error

    return BACKGROUND.submit(call)


def _outcome(future: Future):
    result, error = future.result()
    if error is not None:
        raise error
    return result


def _generate(case: Case, root) -> checks.Workspace:
    args = ["--preset", case.preset, "--envs", ",".join(case.envs), "--git-base", GIT_BASE,
            "--api-cidrs", API_CIDRS, *case.extra]
    if case.services:
        args += ["--services", ",".join(case.services)]
    if case.account_id:
        args += ["--account-id", case.account_id]
    ws = checks.new_workspace(root, case.name, "--domain", DOMAIN, *args)
    for add in case.adds:
        ws.strata("add", "service", *add, "-C", ws.gitops, "--commit")
    return ws


class Workspaces:
    """Every case's workspace, made per preset on first use: the suite runs each preset's cases in
    a worker of its own (conftest's groups), and a worker makes only its preset's workspaces, up
    front (strata is fast), so that one checkov run scans what every case of the preset deploys
    and the slow single-threaded checks start in the background at once."""

    def __init__(self, workspace_root) -> None:
        self.root, self.made = workspace_root, {}

    def __getitem__(self, case_id: str) -> checks.Workspace:
        preset = next(c.preset for c in CASES if c.id == case_id)
        if preset not in self.made:
            self.made[preset] = self._make([c for c in CASES if c.preset == preset])
        return self.made[preset][case_id]

    def _make(self, cases: list[Case]) -> dict[str, checks.Workspace]:
        made = {case.id: _generate(case, self.root(case.name)) for case in cases}
        for case in cases:
            if case.id in OWN_TESTS:
                made[case.id].own_tests = _capture(checks.foundation_pytest, made[case.id].foundation)
        checkov = _capture(lambda: checks.checkov_clean_many({c.name: (made[c.id].gitops, checks.kustomize_builds(
            made[c.id].gitops)) for c in cases}))
        for case in cases:
            made[case.id].checkov = (checkov, case.name)
        return made


@pytest.fixture(scope="module")
def workspaces(workspace_root):
    """The workspaces of the cases, by case id (made per preset, on first use)."""
    yield Workspaces(workspace_root)
    BACKGROUND.submit(lambda: None).result()  # never leave a background check running past the module


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def generated(request, workspaces):
    """The workspace of one case; its builds and harness runs are cached."""
    case: Case = request.param
    return case, workspaces[case.id]


def test_the_workspace_has_the_requested_environments_and_services(generated):
    case, ws = generated
    answers = ws.answers
    assert list(checks.environments(answers)) == list(case.envs)
    assert sorted(checks.service_envs(answers)) == sorted(case.all_services)
    assert answers["preset"] == case.preset
    assert checks.answers(ws.foundation) == answers, "the two copies of strata.toml differ"


def test_every_kustomization_builds(generated):
    _, ws = generated
    builds = ws.builds
    for env in ws.answers["environments"]:
        assert f"apps/{env['name']}" in builds


def test_every_object_validates_against_its_schema(generated):
    case, ws = generated
    count = checks.validate_objects(ws.builds)
    assert count > 0 or not case.all_services, "an environment without services deploys nothing"


def test_every_application_points_at_an_existing_path_of_the_gitops_repo(generated):
    case, ws = generated
    apps = checks.applications_resolve(ws.gitops, ws.builds, ws.runs)
    expected = sum(len(envs) for envs in checks.service_envs(ws.answers).values())
    assert len(apps) == expected


def test_the_stacks_follow_the_preset_topology(generated):
    case, ws = generated
    hosted = checks.stacks_match_environments(ws.foundation)
    if case.preset == "production":
        assert sorted(hosted) == sorted(case.envs)
    else:
        assert list(hosted) == ["shared"]


def test_every_service_of_every_environment_is_reached_from_the_foundation(generated):
    case, ws = generated
    reached = ws.reached
    assert sorted(reached) == sorted(case.envs)
    wanted = {(env, svc) for svc, envs in checks.service_envs(ws.answers).items() for env in envs}
    assert {(env, svc) for env, svcs in reached.items() for svc in svcs} == wanted


def test_what_the_gitops_objects_need_exists_in_the_foundation(generated):
    _, ws = generated
    checks.wiring(ws.foundation, ws.gitops, ws.runs, ws.builds, ws.reached)


def test_names_sharing_a_scope_do_not_collide(generated):
    _, ws = generated
    checks.unique_names(ws.foundation, ws.gitops, ws.runs, ws.builds)


def test_the_gitops_tree_holds_exactly_what_strata_toml_says(generated):
    _, ws = generated
    checks.no_orphans(ws.gitops)
    checks.answers_reflected(ws.gitops, ws.builds)


def test_projects_sync_before_their_applications(generated):
    _, ws = generated
    checks.sync_order(ws.builds)


def test_the_foundation_creates_the_platform_and_no_application(generated):
    _, ws = generated
    checks.foundation_resources(ws.foundation, ws.runs)


def test_security_invariants_hold(generated):
    _, ws = generated
    checks.security_invariants(ws.gitops, ws.builds, ws.runs)




# --- beyond mocks: what AWS and the charts accept -------------------------------------------------


def test_the_network_is_what_aws_will_build(generated):
    _, ws = generated
    checks.network(ws.runs)


def test_every_managed_policy_the_foundation_attaches_exists(generated):
    _, ws = generated
    arns = checks.managed_policies_exist(ws.runs)
    auto_mode = {s for s, r in ws.runs.items() if checks.compute_of(r.config) == "auto-mode"}
    # EKS Auto Mode runs the EBS CSI driver itself, with its cluster role's policies.
    wanted = checks.AUTO_MODE_POLICIES if auto_mode else {"arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2"}
    assert wanted <= set(arns)


def test_auto_mode_runs_what_it_runs_and_gets_its_classes_and_roles(generated):
    _, ws = generated
    checked = checks.auto_mode_objects(ws.runs)
    auto_mode = [s for s, r in ws.runs.items() if checks.compute_of(r.config) == "auto-mode"]
    assert (checked > 0) == bool(auto_mode)


def test_the_iam_policies_pass_parliament(generated):
    _, ws = generated
    checks.iam_policies_pass_parliament(ws.runs)


def test_every_helm_release_renders_and_places_its_pods_and_service_accounts(generated):
    _, ws = generated
    checks.helm_releases_deploy(ws.runs)


def test_karpenter_node_pools_validate_against_its_crds_and_use_its_node_role(generated):
    _, ws = generated
    pools = checks.karpenter_objects(ws.runs)
    karpenter = [s for s, r in ws.runs.items() if checks.compute_of(r.config) == "karpenter"]
    assert (pools > 0) == bool(karpenter)


def test_every_ingress_has_its_environments_certificate_and_ingress_class(generated):
    _, ws = generated
    checks.tls_and_ingress(ws.runs, ws.gitops, ws.builds)


def test_argo_cd_gets_the_repository_credential_unless_the_repo_is_public(generated):
    case, ws = generated
    checks.repo_credentials(ws.runs, checks.gitops_url(ws.answers))
    secrets = [s for r in ws.runs.values() for s in r.of_type("aws:secretsmanager/secret:Secret")
               if s["inputs"]["name"].endswith("/argocd/gitops-repo")]
    assert bool(secrets) == ("--public-repo" not in case.extra)


def test_the_foundation_owns_every_environments_appproject(generated):
    _, ws = generated
    checks.foundation_projects(ws.runs, checks.gitops_url(ws.answers))


def test_admin_roles_become_cluster_admin_access_entries(generated):
    case, ws = generated
    policy_arn = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    for r in ws.runs.values():
        (cluster,) = r.of_type("eks:index:Cluster")
        assert not cluster["inputs"].get("accessEntries"), "the program declares the entries itself"
        entries = [e for e in r.of_type("aws:eks/accessEntry:AccessEntry") if e["parent"] == cluster["urn"]]
        assert sorted(e["inputs"]["principalArn"] for e in entries) == (
            [ADMIN_ROLE] if "--admin-role" in case.extra else [])
        for entry in entries:
            (policy,) = [a for a in r.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
                         if a["parent"] == entry["urn"]]
            assert policy["inputs"]["policyArn"] == policy_arn
            assert policy["inputs"]["accessScope"] == {"type": "cluster"}
            # pulumi-eks's names, so that a stack it made keeps its entries (same URNs).
            assert entry["name"] == "cluster-admin-platform-admin"
            assert policy["name"] == "cluster-admin-platform-admin-cluster-admin"


@pytest.mark.parametrize("preset", ["startup", "production"])
def test_without_api_cidrs_every_stack_stops_at_preview_naming_the_key(preset, workspace_root):
    ws = checks.new_workspace(workspace_root(f"closed{preset[0]}"), f"closed{preset[0]}", "--domain", DOMAIN, "--preset", preset,
                              "--envs", "dev,prod", "--services", "api", "--git-base", GIT_BASE)
    key = f"closed{preset[0]}-foundation:endpoint.publicAccessCidrs"
    for stack in checks.stacks(ws.foundation):
        with pytest.raises(AssertionError) as refused:
            checks.run_harness(ws.foundation, stack)
        assert f"`{key}` is empty" in str(refused.value), refused.value
        assert "strata new --api-cidrs" in str(refused.value)
    # Its own fail-closed tests say so too, and pass (the whole suite runs on OWN_TESTS' cases).
    checks.foundation_pytest(ws.foundation, "tests/test_endpoint.py")


def test_environments_in_accounts_of_their_own_deploy_only_there(generated):
    case, ws = generated
    if "--account" not in case.extra:
        envs = ws.answers["environments"]
        assert not any("account" in e for e in envs), "no account unless `--account` gives one"
        for r in ws.runs.values():
            assert "account" not in r.config and "dnsZone" not in r.config
        return
    accounts = checks.accounts_of_their_own(ws.foundation, ws.runs, ws.answers)
    assert len(set(accounts.values())) == len(case.envs) == len(accounts)


def test_both_repos_are_on_main_with_a_clean_tree(generated):
    case, ws = generated
    commits = 1 + len(case.adds)
    for repo in (ws.foundation, ws.gitops):
        subjects = checks.git_state(repo, commits)
        for add, subject in zip(reversed(case.adds), subjects):
            assert f"`{add[0]}`" in subject and "add" in subject.lower(), subjects


def test_strata_list_is_consistent_with_the_disk(generated):
    _, ws = generated
    checks.strata_list_consistent(ws.gitops)


def test_checkov_finds_nothing_in_what_argo_cd_deploys(generated):
    case, ws = generated
    future, label = ws.checkov
    result = _outcome(future)[label]
    if isinstance(result, AssertionError):
        raise result
    if case.all_services:
        assert result["resource_count"] > 0


@pytest.mark.parametrize("case_id", sorted(OWN_TESTS))
def test_the_foundation_own_tests_pass(case_id, workspaces):
    ws = workspaces[case_id]
    _outcome(ws.own_tests)
    checks.git_state(ws.foundation, None)  # running them leaves nothing behind


@pytest.mark.parametrize("preset", ["production"])
def test_no_service_may_take_the_name_of_an_object_the_foundation_puts_in_its_namespace(preset, workspaces):
    """A service's objects carry its name: a service named after the foundation's secrets reader or
    a network policy of the namespace would replace it. strata refuses every such name."""
    case = next(c for c in ADDED if c.preset == preset)
    ws = workspaces[case.id]
    namespaces = set(checks.environments(ws.answers).values())
    names = {obj["metadata"]["name"] for r in ws.runs.values() for obj in r.kubernetes_objects()
             if (obj.get("metadata") or {}).get("namespace") in namespaces}
    assert {"aws-secrets-reader", "default-deny"} <= names, names
    for name in sorted(names):
        done = checks.run([checks.strata_bin(), "add", "service", name, "--dry-run", "-C", ws.gitops],
                          cwd=ws.root, timeout=120)
        assert done.returncode == 2, f"`strata add service {name}` was not refused:\n{checks._describe(done)}"
        assert "reserved" in done.stderr, done.stderr
