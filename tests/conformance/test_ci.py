"""Issue 13 (generated CI): the GitHub Actions workflows of both repos, checked with the real tools.

For both presets and every kind of state backend: actionlint passes on every workflow; the
triggers are pull requests and pushes to the followed branch; `id-token: write` is granted only
to jobs that assume an AWS role, `pull-requests: write` only where a comment is posted,
`contents: read` everywhere; no workflow holds a static credential; the deploy jobs run one after
another with production last, each in the GitHub environment its role trusts. The CI roles' trust
conditions are checked on what the foundation's own program registers under Pulumi mocks, the
generated Python passes ruff, the gitops repo's build step builds every overlay (run with a
`kustomize` that is kubectl's), and `strata add env` / `remove env` change the workflows' stacks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import checks
from conftest import ACCOUNT_ID, API_CIDRS, DOMAIN, GIT_BASE

PRESETS = ("production", "startup")
BACKENDS = {
    "s3": ("--backend", "s3://acme-pulumi-state/foundation"),
    "cloud": ("--backend", "pulumi-cloud"),
    "cloud-org": ("--backend", "pulumi-cloud:acme-platform"),
    "passphrase": ("--backend", "s3://acme-pulumi-state", "--secrets-provider", "passphrase"),
    "local": ("--backend", "local"),
}
GITHUB_HOST = "token.actions.githubusercontent.com"
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@v6"
PULUMI_ACTION = "pulumi/actions@v7"
PINNED_ACTIONS = {
    "actions/cache": "v6",  # v6.1.0, June 2026 (the gitops repo's strata check caches strata)
    "actions/checkout": "v7",
    "actions/setup-python": "v7",
    "aws-actions/configure-aws-credentials": "v6",
    "pulumi/actions": "v7",
}
# Static AWS credentials, in any spelling a workflow could carry them.
STATIC_CREDENTIALS = re.compile(
    r"aws-access-key-id|aws-secret-access-key|aws-session-token|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY"
    r"|AWS_SESSION_TOKEN|\b(AKIA|ASIA)[0-9A-Z]{16}\b",
)


def actionlint() -> Path:
    return checks._tool("ACTIONLINT", checks.REPO_ROOT / ".tools" / "venv" / "bin" / "actionlint", "actionlint")


def ruff() -> Path:
    return checks._tool("RUFF", checks.REPO_ROOT / ".tools" / "venv" / "bin" / "ruff", "ruff")


def workflows(repo: Path) -> dict[str, dict]:
    """`.github/workflows/*.yml` of a repo, parsed (YAML's `on:` key read as the string `on`)."""
    found = {}
    for path in sorted((repo / ".github" / "workflows").glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        found[path.name] = yaml.load(text, Loader=_NoBoolLoader)
    return found


class _NoBoolLoader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `on` as True; GitHub reads it as the key `on`."""


_NoBoolLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _steps_using(job: dict, action: str) -> list[dict]:
    return [step for step in job.get("steps") or [] if str(step.get("uses", "")).startswith(action)]


def _stack_ci(foundation: Path, stack: str) -> dict:
    config = yaml.safe_load((foundation / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    (ci,) = [value for key, value in config.items() if key.endswith(":ci")]
    return ci


_WORKSPACES: dict[tuple[str, str], checks.Workspace] = {}


def workspace(workspace_root, preset: str, backend: str) -> checks.Workspace:
    """`strata new` for a preset and a backend, made once per session."""
    key = (preset, backend)
    if key not in _WORKSPACES:
        name = f"ci{preset[0]}{list(BACKENDS).index(backend)}"
        _WORKSPACES[key] = checks.new_workspace(
            workspace_root(name), name, "--domain", DOMAIN, "--preset", preset, "--git-base", GIT_BASE,
            "--api-cidrs", API_CIDRS,
            *BACKENDS[backend],
        )
    return _WORKSPACES[key]


CASES = [(preset, backend) for preset in PRESETS for backend in BACKENDS]
IDS = [f"{preset}-{backend}" for preset, backend in CASES]


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_every_generated_workflow_passes_actionlint(preset, backend, workspace_root):
    ws = workspace(workspace_root, preset, backend)
    files = [p for repo in (ws.foundation, ws.gitops) for p in sorted((repo / ".github" / "workflows").glob("*.yml"))]
    assert {p.name for p in files} == {"pull-request.yml", "deploy.yml", "validate.yml"}, files
    done = checks.run([actionlint(), "-no-color", *files], cwd=ws.root)
    assert done.returncode == 0, f"actionlint:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_triggers_permissions_and_pinned_actions(preset, backend, workspace_root):
    ws = workspace(workspace_root, preset, backend)
    branch = ws.answers["repos"]["revision"]
    problems: list[str] = []
    for repo in (ws.foundation, ws.gitops):
        for name, flow in workflows(repo).items():
            where = f"{repo.name}/{name}"
            triggers = flow["on"]
            if name == "deploy.yml":
                if triggers != {"push": {"branches": [branch]}}:
                    problems.append(f"{where}: triggers {triggers}, expected a push to `{branch}` only")
            elif name == "validate.yml":
                # The gitops checks run on merges too: the cache of strata saved there is what
                # pull requests find.
                if triggers != {"pull_request": {"branches": [branch]}, "push": {"branches": [branch]}}:
                    problems.append(f"{where}: triggers {triggers}, expected pull requests to and pushes on `{branch}`")
            elif triggers != {"pull_request": {"branches": [branch]}}:
                problems.append(f"{where}: triggers {triggers}, expected pull requests to `{branch}` only")
            if flow.get("permissions") != {"contents": "read"}:
                problems.append(f"{where}: workflow permissions {flow.get('permissions')}, expected contents: read")
            for job_name, job in flow["jobs"].items():
                permissions = job.get("permissions")
                label = f"{where} job `{job_name}`"
                if not isinstance(permissions, dict) or permissions.get("contents") != "read":
                    problems.append(f"{label}: permissions {permissions}, expected contents: read and no more")
                    continue
                assumes_role = bool(_steps_using(job, "aws-actions/configure-aws-credentials"))
                comments = any(
                    str((step.get("with") or {}).get("comment-on-pr")).lower() == "true"
                    for step in _steps_using(job, "pulumi/actions")
                )
                if (permissions.get("id-token") == "write") != assumes_role:
                    problems.append(f"{label}: id-token {permissions.get('id-token')} but assumes a role: {assumes_role}")
                if (permissions.get("pull-requests") == "write") != comments:
                    problems.append(f"{label}: pull-requests {permissions.get('pull-requests')}, comments: {comments}")
                extra = set(permissions) - {"contents", "id-token", "pull-requests"}
                if extra:
                    problems.append(f"{label}: permissions it does not need: {sorted(extra)}")
                for step in job.get("steps") or []:
                    uses = step.get("uses")
                    if uses:
                        action, _, ref = uses.partition("@")
                        if PINNED_ACTIONS.get(action) != ref:
                            problems.append(f"{label}: `{uses}` is not one of the checked majors {PINNED_ACTIONS}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_no_workflow_holds_a_static_credential(preset, backend, workspace_root):
    ws = workspace(workspace_root, preset, backend)
    for repo in (ws.foundation, ws.gitops):
        for path in (repo / ".github" / "workflows").glob("*.yml"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                assert not STATIC_CREDENTIALS.search(line), f"{path}:{number}: static credential: {line.strip()}"
    for path in (ws.foundation / ".github" / "workflows").glob("*.yml"):
        for job in workflows(ws.foundation)[path.name]["jobs"].values():
            for step in _steps_using(job, "aws-actions/configure-aws-credentials"):
                assert set(step["with"]) <= {"role-to-assume", "role-session-name", "role-duration-seconds", "aws-region"}


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_stacks_deploy_one_after_another_production_last_each_behind_its_environment(preset, backend, workspace_root):
    ws = workspace(workspace_root, preset, backend)
    stacks = checks.stacks(ws.foundation)
    envs = list(checks.environments(ws.answers))
    ordered = envs if preset == "production" else ["shared"]
    assert sorted(ordered) == stacks
    flows = workflows(ws.foundation)
    deploy_jobs = {name: job for name, job in flows["deploy.yml"]["jobs"].items() if name != "test"}
    assert list(deploy_jobs) == [f"deploy-{stack}" for stack in ordered], list(deploy_jobs)
    earlier = ["test"]
    for stack, (name, job) in zip(ordered, deploy_jobs.items(), strict=True):
        # Serial, in order: each needs every earlier one, so that a failure anywhere stops it even
        # when a stack between them was skipped (not bootstrapped yet, issue 19).
        assert job["needs"] == earlier, f"{name} needs {job['needs']}, expected {earlier}: serial, in order"
        assert job["environment"] == stack
        earlier = [*earlier, name]
        if backend == "local":
            assert not _steps_using(job, "pulumi/actions"), "a local backend cannot be deployed from CI"
            assert any("exit 1" in str(step.get("run", "")) and "::error" in str(step.get("run", ""))
                       for step in job["steps"]), "the job must fail with a clear message"
            continue
        ci = _stack_ci(ws.foundation, stack)
        assert ci["deployEnvironment"] == stack
        (assume,) = _steps_using(job, "aws-actions/configure-aws-credentials")
        assert assume["with"]["role-to-assume"].endswith(f":role/{ci['deployRoleName']}")
        (up,) = _steps_using(job, "pulumi/actions")
        assert up["with"]["command"] == "up"
        _check_backend(up, backend, stack, ws)
    assert deploy_jobs[f"deploy-{ordered[-1]}"]["environment"] == ordered[-1], "production deploys last"

    preview = flows["pull-request.yml"]["jobs"]["preview"]
    assert preview["needs"] == "test", "the program's own tests and ruff run first"
    if backend == "local":
        assert not _steps_using(preview, "pulumi/actions")
        return
    assert preview["strategy"]["matrix"]["stack"] == ordered
    (assume,) = _steps_using(preview, "aws-actions/configure-aws-credentials")
    for stack in ordered:
        role = assume["with"]["role-to-assume"].replace("${{ matrix.stack }}", stack)
        assert role.endswith(f":role/{_stack_ci(ws.foundation, stack)['previewRoleName']}"), role
    (run,) = _steps_using(preview, "pulumi/actions")
    assert run["with"]["command"] == "preview" and str(run["with"]["comment-on-pr"]).lower() == "true"
    _check_backend(run, backend, "${{ matrix.stack }}", ws, token="PULUMI_ACCESS_TOKEN_PREVIEW")


def _check_backend(step: dict, backend: str, stack: str, ws: checks.Workspace,
                   token: str = "PULUMI_ACCESS_TOKEN") -> None:
    """The backend the workspace chose: S3 by URL, Pulumi Cloud by token (and organization). A
    preview gets the read-only token, never the deploy token."""
    env = step.get("env") or {}
    with_ = step["with"]
    state = ws.answers["state"]
    if backend in ("s3", "passphrase"):
        assert with_["cloud-url"] == state["backend"], with_
        assert "PULUMI_ACCESS_TOKEN" not in env
    else:
        assert "cloud-url" not in with_
        assert env["PULUMI_ACCESS_TOKEN"] == f"${{{{ secrets.{token} }}}}"
    expected_stack = f"acme-platform/{stack}" if backend == "cloud-org" else stack
    assert with_["stack-name"] == expected_stack
    if state["secrets_provider"] == "passphrase":
        assert env["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    else:
        assert "PULUMI_CONFIG_PASSPHRASE" not in env


def _token(subject: str, audience: str = "sts.amazonaws.com") -> dict[str, str]:
    return {f"{GITHUB_HOST}:sub": subject, f"{GITHUB_HOST}:aud": audience}


def _forms(repository: str, tail: str, owner_id: str = "4242", repository_id: str = "777000") -> list[str]:
    """The `sub` GitHub sends for a job of `repository`, in its name form and its immutable form."""
    owner, name = repository.split("/")
    return [f"repo:{repository}:{tail}", f"repo:{owner}@{owner_id}/{name}@{repository_id}:{tail}"]


@pytest.mark.parametrize("preset", PRESETS)
def test_the_ci_roles_trust_only_the_foundation_repository_in_either_of_githubs_forms(preset, workspace_root):
    """Issue 19: a repository created today signs its jobs with GitHub's immutable subject, whose ids
    strata cannot know: out of the box each role trusts its repository's tokens in both forms, and
    no other repository's, branch's or pull request's (for the deploy role)."""
    ws = workspace(workspace_root, preset, "s3")
    repository = f"{GIT_BASE.removeprefix('https://github.com/')}/{ws.name}-foundation"
    owner, name = repository.split("/")
    stacks = list(checks.environments(ws.answers)) if preset == "production" else ["shared"]
    problems = []
    for number, stack in enumerate(stacks):
        run = ws.runs[stack]
        ci = _stack_ci(ws.foundation, stack)
        assert ci["githubRepository"] == repository
        roles = {r["inputs"]["name"]: r["inputs"]["assumeRolePolicy"] for r in run.of_type("aws:iam/role:Role")
                 if GITHUB_HOST in str(r["inputs"].get("assumeRolePolicy"))}
        deploy, preview = ci["deployRoleName"], ci["previewRoleName"]
        if set(roles) != {deploy, preview}:
            problems.append(f"stack `{stack}`: GitHub-trusted roles {sorted(roles)}, expected {[deploy, preview]}")
            continue
        trusted = {deploy: _forms(repository, f"environment:{stack}"), preview: _forms(repository, "pull_request")}
        refused = {
            deploy: [*_forms(repository, "pull_request"), *_forms(repository, "environment:elsewhere"),
                     *_forms(repository, "ref:refs/heads/main"), *_forms(f"{owner}/{name}-fork", f"environment:{stack}"),
                     *_forms(f"{owner}-x/{name}", f"environment:{stack}"), *_forms(f"x{owner}/{name}", f"environment:{stack}")],
            preview: [*_forms(repository, f"environment:{stack}"), *_forms(f"{owner}/{name}-fork", "pull_request"),
                      *_forms(f"other/{name}", "pull_request"), *_forms(repository, "environment:pull_request")],
        }
        # Another repository of the owner, in an environment named to end like this one's
        # subject: IAM's `*` matches `/`, `:` and `@`, and GitHub environment names may hold them.
        refused[deploy] += [f"repo:{owner}@1/other@2:environment:x/{name}@1:environment:{stack}",
                            f"repo:{owner}@1/other@2:environment:x:{owner}@1/{name}@2:environment:{stack}"]
        refused[preview] += [f"repo:{owner}@1/other@2:environment:{owner}@1/{name}@2:pull_request"]
        for role, policy in roles.items():
            for subject in trusted[role]:
                if not checks.web_identity_trusts(policy, _token(subject)):
                    problems.append(f"stack `{stack}` role `{role}` refuses its own job's token `{subject}`")
                if checks.web_identity_trusts(policy, _token(subject, "sigstore")):
                    problems.append(f"stack `{stack}` role `{role}` trusts a token for another audience")
            for subject in refused[role]:
                if checks.web_identity_trusts(policy, _token(subject)):
                    problems.append(f"stack `{stack}` role `{role}` trusts `{subject}`")
            for statement in json.loads(policy)["Statement"]:
                if statement["Principal"] != {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{GITHUB_HOST}"}:
                    problems.append(f"stack `{stack}` role `{role}`: principal {statement['Principal']}")
        providers = run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        if len(providers) != (1 if number == 0 else 0):
            problems.append(f"stack `{stack}`: {len(providers)} GitHub OIDC provider(s); only the first stack makes one")
        for provider in providers:
            if provider["inputs"]["url"] != f"https://{GITHUB_HOST}" or provider["inputs"]["clientIdLists"] != [
                "sts.amazonaws.com"
            ]:
                problems.append(f"stack `{stack}`: provider {provider['inputs']}")
            if not provider.get("retainOnDelete"):
                problems.append(f"stack `{stack}`: GitHub's OIDC provider is shared by the account's stacks; "
                                "destroying this one must not delete it (retain_on_delete)")
    assert not problems, "\n".join(problems)
    checks.managed_policies_exist(ws.runs)
    checks.iam_policies_pass_parliament(ws.runs)


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_a_pull_requests_preview_reads_no_secret_and_no_other_state(preset, backend, workspace_root):
    """Issue 19: pull-request CI runs before any review; its role reads no Kubernetes Secret (EKS
    access policy) and no S3 object but its own stack's state (no `ReadOnlyAccess`)."""
    ws = workspace(workspace_root, preset, backend)
    for stack, run in ws.runs.items():
        ci = _stack_ci(ws.foundation, stack)
        (role,) = [r for r in run.of_type("aws:iam/role:Role") if r["inputs"].get("name") == ci["previewRoleName"]]
        attached = [a["inputs"]["policyArn"] for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                    if a["parent"] == role["urn"]]
        assert attached == [], f"stack `{stack}`: the preview role has managed policies {attached}"
        actions: list[tuple[str, object]] = []
        for policy in run.of_type("aws:iam/rolePolicy:RolePolicy"):
            if policy["parent"] != role["urn"]:
                continue
            for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
                assert statement["Effect"] == "Allow", statement
                actions += [(a, statement["Resource"]) for a in statement["Action"]]
        assert actions, f"stack `{stack}`: the preview role may do nothing at all"
        for action, resource in actions:
            service, verb = action.split(":")
            assert verb.startswith(("Describe", "List", "Get")) or action == "kms:Decrypt", action
            assert "Secret" not in verb or verb in ("DescribeSecret", "ListSecrets"), action
            if service == "s3":
                bucket, prefix = ci["stateBucket"], f"{ci['statePrefix']}/" if ci.get("statePrefix") else ""
                assert resource in (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{prefix}*"), resource
        if "stateBucket" not in ci:
            assert not any(a.startswith("s3:") for a, _ in actions), "Pulumi Cloud keeps the state"
        (entry,) = [a for a in run.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
                    if a["name"] == "ci-preview-access-policy"]
        assert entry["inputs"]["policyArn"].endswith("/AmazonEKSViewPolicy"), entry["inputs"]["policyArn"]
    checks.managed_policies_exist(ws.runs)


def test_a_foundation_outside_github_gets_no_ci_role(workspace_root):
    root = workspace_root("cigitlab")
    ws = checks.new_workspace(root, "cigl", "--domain", DOMAIN, "--git-base", "https://gitlab.com/acme",
                              "--api-cidrs", API_CIDRS)
    (stack,) = checks.stacks(ws.foundation)
    assert _stack_ci(ws.foundation, stack)["githubRepository"] == ""
    run = ws.runs[stack]
    assert not [r for r in run.of_type("aws:iam/role:Role") if GITHUB_HOST in str(r["inputs"].get("assumeRolePolicy"))]
    assert not run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert run.outputs["ciRoleArns"]["value"] is None


@pytest.mark.parametrize("preset", PRESETS)
def test_the_generated_foundation_passes_ruff(preset, workspace_root):
    ws = workspace(workspace_root, preset, "s3")
    assert (ws.foundation / "pyproject.toml").is_file()
    pins = (ws.foundation / "requirements-dev.txt").read_text(encoding="utf-8")
    version = checks.run([ruff(), "--version"]).stdout.split()[-1]
    assert f"ruff=={version}\n" in pins, f"requirements-dev.txt does not pin the ruff the suite runs ({version})"
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = checks.run([ruff(), *command], cwd=ws.foundation)
        assert done.returncode == 0, f"ruff {' '.join(command)}:\n{done.stdout}\n{done.stderr}"


def test_the_gitops_build_step_builds_every_overlay_and_app_of_apps(workspace_root, tmp_path):
    root = workspace_root("cibuild")
    ws = checks.new_workspace(root, "cib", "--domain", DOMAIN, "--git-base", GIT_BASE, "--envs", "dev,prod",
                              "--services", "api,web", "--api-cidrs", API_CIDRS)
    (job,) = [workflows(ws.gitops)["validate.yml"]["jobs"]["manifests"]]
    (step,) = [s for s in job["steps"] if str(s.get("name", "")).startswith("kustomize build")]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "kustomize").write_text(f'#!/bin/sh\n[ "$1" = build ] && shift\nexec "{checks.kubectl()}" kustomize "$@"\n')
    (shim / "kustomize").chmod(0o755)
    out = tmp_path / "runner"
    out.mkdir()
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "RUNNER_TEMP": str(out)}
    done = subprocess.run(["bash", "-c", step["run"]], cwd=ws.gitops, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    built = sorted(p.name for p in (out / "built").glob("*.yaml"))
    expected = sorted(f"services_{s}_overlays_{e}.yaml" for s in ("api", "web") for e in ("dev", "prod")) + [
        "apps_dev.yaml", "apps_prod.yaml"] + [f"platform_{stack}_apps.yaml" for stack in checks.stacks(ws.foundation)]
    assert (ws.gitops / "platform").is_dir(), "the default preset turns logging on"
    assert built == sorted(expected), built
    objects = [doc for p in (out / "built").glob("*.yaml") for doc in yaml.safe_load_all(p.read_text()) if doc]
    checks.validate_objects(objects)

    # A broken overlay fails the step, naming it.
    (ws.gitops / "services" / "api" / "overlays" / "dev" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    done = subprocess.run(["bash", "-c", step["run"]], cwd=ws.gitops, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode != 0 and "::error file=services/api/overlays/dev/kustomization.yaml" in done.stdout


@pytest.mark.parametrize("preset", PRESETS)
def test_add_env_and_remove_env_change_the_stacks_of_the_foundation_workflows(preset, workspace_root):
    name = f"cigrow{preset[0]}"
    ws = checks.new_workspace(workspace_root(name), name, "--domain", DOMAIN, "--preset", preset, "--envs", "dev", "--git-base", GIT_BASE,
                              "--api-cidrs", API_CIDRS, "--backend", "s3://acme-pulumi-state")

    def stacks_in_workflows() -> tuple[list[str], list[str]]:
        flows = workflows(ws.foundation)
        deploy = [job["environment"] for n, job in flows["deploy.yml"]["jobs"].items() if n != "test"]
        return deploy, flows["pull-request.yml"]["jobs"]["preview"]["strategy"]["matrix"]["stack"]

    expected = (lambda envs: (envs, envs)) if preset == "production" else (lambda envs: (["shared"], ["shared"]))
    assert stacks_in_workflows() == expected(["dev"])
    ws.strata("add", "env", "qa", "-C", ws.gitops, "--commit")
    assert stacks_in_workflows() == expected(["dev", "qa"])
    ws.strata("add", "env", "prod", "-C", ws.gitops, "--commit")
    assert stacks_in_workflows() == expected(["dev", "qa", "prod"])
    # A new environment goes before production, which stays last (behind its reviewers).
    ws.strata("add", "env", "stage", "-C", ws.gitops, "--commit")
    assert list(checks.environments(ws.answers)) == ["dev", "qa", "stage", "prod"]
    assert stacks_in_workflows() == expected(["dev", "qa", "stage", "prod"])
    ws.strata("remove", "env", "qa", "-C", ws.gitops, "--commit", "--force")  # never deployed
    assert stacks_in_workflows() == expected(["dev", "stage", "prod"])
    done = checks.run([actionlint(), "-no-color", *sorted((ws.foundation / ".github" / "workflows").glob("*.yml"))])
    assert done.returncode == 0, done.stdout
    if preset == "production":
        # Exactly one stack of the account creates GitHub's OIDC provider: the first.
        modes = {s: _stack_ci(ws.foundation, s)["oidcProvider"] for s in ("dev", "stage", "prod")}
        assert modes == {"dev": "create", "stage": "existing", "prod": "existing"}


def _set_stack_config(foundation: Path, stack: str, values: dict[str, str]) -> None:
    """What `pulumi config set KEY VALUE --stack STACK` writes: project keys, as strings."""
    path = foundation / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    project = yaml.safe_load((foundation / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
    data["config"].update({f"{project}:{key}": value for key, value in values.items()})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _trusted_subjects(run: checks.StackRun) -> dict[str, object]:
    """Role -> the exact `sub` values it trusts; a role that also trusts patterns is an error here."""
    found = {}
    for r in run.of_type("aws:iam/role:Role"):
        if GITHUB_HOST not in str(r["inputs"].get("assumeRolePolicy")):
            continue
        (statement,) = json.loads(r["inputs"]["assumeRolePolicy"])["Statement"]
        found[r["inputs"]["name"]] = statement["Condition"]["StringEquals"][f"{GITHUB_HOST}:sub"]
    return found


def test_the_ci_roles_trust_githubs_immutable_subject_once_the_ids_are_set(workspace_root, tmp_path):
    import shutil

    ws = workspace(workspace_root, "production", "s3")
    foundation = tmp_path / ws.foundation.name
    shutil.copytree(ws.foundation, foundation, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    repository = f"{GIT_BASE.removeprefix('https://github.com/')}/{ws.name}-foundation"
    owner, name = repository.split("/")
    first, *rest = list(checks.environments(ws.answers))
    ci = _stack_ci(foundation, first)
    immutable = f"{owner}@4242/{name}@777000"

    _set_stack_config(foundation, first, {"ciGithubOwnerId": "4242", "ciGithubRepositoryId": "777000"})
    subjects = _trusted_subjects(checks.run_harness(foundation, first))
    assert subjects == {ci["deployRoleName"]: f"repo:{immutable}:environment:{first}",
                        ci["previewRoleName"]: f"repo:{immutable}:pull_request"}

    _set_stack_config(foundation, first, {"ciSubjectFormat": "both"})
    subjects = _trusted_subjects(checks.run_harness(foundation, first))
    assert subjects == {
        ci["deployRoleName"]: [f"repo:{repository}:environment:{first}", f"repo:{immutable}:environment:{first}"],
        ci["previewRoleName"]: [f"repo:{repository}:pull_request", f"repo:{immutable}:pull_request"],
    }, "exact values in both of GitHub's forms, no wildcard"

    # An account whose provider exists already: named by ARN, neither created nor looked up.
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{GITHUB_HOST}"
    _set_stack_config(foundation, first, {"ciOidcProviderArn": arn})
    run = checks.run_harness(foundation, first)
    assert not run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    principals = {json.dumps(json.loads(r["inputs"]["assumeRolePolicy"])["Statement"][0]["Principal"])
                  for r in run.of_type("aws:iam/role:Role") if GITHUB_HOST in str(r["inputs"].get("assumeRolePolicy"))}
    assert principals == {json.dumps({"Federated": arn})}

    # A form that needs ids it does not have stops the program, naming the keys.
    _set_stack_config(foundation, rest[0], {"ciSubjectFormat": "ids"})
    with pytest.raises(AssertionError, match="ciGithubOwnerId"):
        checks.run_harness(foundation, rest[0])


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_deploys_wait_for_setup_and_the_pulumi_cli_is_pinned(preset, backend, workspace_root):
    ws = workspace(workspace_root, preset, backend)
    flows = workflows(ws.foundation)
    for name, job in flows["deploy.yml"]["jobs"].items():
        if name == "test" or backend == "local":
            continue
        condition = job.get("if", "")
        stack = name.removeprefix("deploy-")
        assert "vars.AWS_ACCOUNT_ID != ''" in condition, f"deploy.yml `{name}` runs before CI is set up"
        assert f"vars.STACK_{stack.upper()}_BOOTSTRAPPED == 'true'" in condition, \
            f"deploy.yml `{name}` runs before its stack is bootstrapped"
    requirement = re.search(r"^pulumi>=([\d.]+),<(\d+)$", (ws.foundation / "requirements.txt").read_text(),
                            re.MULTILINE)
    assert requirement, "requirements.txt pins the pulumi SDK to a range"
    low, major = tuple(int(x) for x in requirement.group(1).split(".")), int(requirement.group(2))
    steps = [step for flow in flows.values() for job in flow["jobs"].values()
             for step in _steps_using(job, "pulumi/actions")]
    assert steps or backend == "local"
    for step in steps:
        version = str(step["with"].get("pulumi-version", ""))
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pulumi/actions installs the latest CLI: {step['with']}"
        parsed = tuple(int(x) for x in version.split("."))
        assert low <= parsed < (major,), f"CLI {version} is outside the SDK range of requirements.txt"


@pytest.mark.parametrize(("preset", "backend"), CASES, ids=IDS)
def test_pull_requests_never_get_the_deploy_credentials_and_pick_their_own_runner(preset, backend, workspace_root):
    ws = workspace(workspace_root, preset, backend)
    text = (ws.foundation / ".github" / "workflows" / "pull-request.yml").read_text(encoding="utf-8")
    assert "secrets.PULUMI_ACCESS_TOKEN }}" not in text, "a pull request's job would get the token that deploys"
    assert "pull_request_target" not in text.split("\nname:", 1)[1], "pull_request_target runs with the base's secrets"
    flows = workflows(ws.foundation)
    preview = flows["pull-request.yml"]["jobs"]["preview"]
    for name, job in flows["deploy.yml"]["jobs"].items():
        if name != "test":
            assert job["runs-on"] == "${{ vars.DEPLOY_RUNNER || vars.FOUNDATION_RUNNER || 'ubuntu-24.04' }}", name
    if backend == "local":
        return
    assert preview["runs-on"] == "${{ vars.PREVIEW_RUNNER || vars.FOUNDATION_RUNNER || 'ubuntu-24.04' }}"
    guard = [s for s in preview["steps"] if "PULUMI_ACCESS_TOKEN_PREVIEW" in json.dumps(s.get("env") or {})
             and "run" in s]
    if backend.startswith("cloud"):
        (step,) = guard
        done = subprocess.run(["bash", "-c", step["run"]], env={"PATH": os.environ["PATH"]},
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 1 and "::error" in done.stdout, "no preview token: the job says so and stops"
        # First of the steps a bootstrapped stack runs (a stack not bootstrapped gets a notice).
        running = [s for s in preview["steps"] if s.get("if") != "matrix.bootstrapped != 'true'"]
        assert running.index(step) == 0
    else:
        assert not guard


def test_the_gitops_checks_cover_the_platform_and_the_clusters_kubernetes_version(workspace_root, tmp_path):
    ws = workspace(workspace_root, "production", "s3")
    job = workflows(ws.gitops)["validate.yml"]["jobs"]["manifests"]
    version = ws.answers["settings"]["cluster"]["version"]
    assert job["env"]["KUBERNETES_VERSION"] == f"{version}.0"
    (kubeconform,) = [s for s in job["steps"] if str(s.get("name", "")).startswith("kubeconform")]
    assert '-kubernetes-version "$KUBERNETES_VERSION"' in kubeconform["run"]
    (build,) = [s for s in job["steps"] if str(s.get("name", "")).startswith("kustomize build")]
    assert "platform/*/apps/" in build["run"]
    (values,) = [s for s in job["steps"] if "values files" in str(s.get("name", ""))]
    script = values["run"].replace("python -m pip install --quiet pyyaml==6.0.4\n", "")
    assert "pip install" not in script
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").symlink_to(checks.venv_python())
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], cwd=ws.gitops, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    read = sorted(line.removeprefix("read ") for line in done.stdout.splitlines())
    assert read == sorted(p.relative_to(ws.gitops).as_posix() for p in ws.gitops.glob("platform/*/values/*.yaml"))
    assert read, "the production preset has platform values"
    broken = ws.gitops / read[0]
    original = broken.read_text(encoding="utf-8")
    try:
        broken.write_text("grafana: [unclosed\n", encoding="utf-8")
        done = subprocess.run(["bash", "-c", script], cwd=ws.gitops, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode != 0 and f"::error file={read[0]}::" in done.stdout, done.stdout
    finally:
        broken.write_text(original, encoding="utf-8")


def test_the_gitops_strata_check_checks_the_whole_workspace_with_a_cached_strata(workspace_root, tmp_path):
    """Issue 20: the gitops repo's `strata check` job checks the workspace (`-C`, the foundation
    checked out beside the gitops repo where `repos.foundation_dir` says), installs strata at most
    once per pin (a cache, then a checksummed release binary or one build), and its command holds
    on a fresh workspace."""
    ws = workspace(workspace_root, "production", "s3")
    job = workflows(ws.gitops)["validate.yml"]["jobs"]["strata-check"]
    steps = job["steps"]
    gitops_checkout, foundation_checkout = _steps_using(job, "actions/checkout")
    gitops_path = gitops_checkout["with"]["path"]
    assert foundation_checkout["with"]["repository"] == f"{GIT_BASE.removeprefix('https://github.com/')}/{ws.name}-foundation"
    assert foundation_checkout["with"]["ref"] == ws.answers["repos"]["revision"]
    foundation_dir = ws.answers["repos"]["foundation_dir"]
    assert os.path.normpath(foundation_checkout["with"]["path"]) == os.path.normpath(f"{gitops_path}/{foundation_dir}")
    for checkout in (gitops_checkout, foundation_checkout):
        assert str(checkout["with"]["persist-credentials"]).lower() == "false"
    (cache,) = _steps_using(job, "actions/cache")
    assert "env.STRATA_REF" in cache["with"]["key"]
    (install,) = [s for s in steps if str(s.get("name", "")).startswith("Install strata")]
    assert install["if"] == f"steps.{cache['id']}.outputs.cache-hit != 'true'"
    assert "sha256sum --check" in install["run"] and "releases/download" in install["run"]
    assert "--gitops" not in str(steps)
    script = steps[-1]["run"]
    assert f"check -C {gitops_path}" in script
    # The command, as the job runs it, on this workspace laid out as the checkouts lay it out.
    (tmp_path / gitops_path).parent.mkdir(parents=True)
    (tmp_path / gitops_path).symlink_to(ws.gitops)
    done = subprocess.run(["bash", "-c", script.replace('"$HOME/.strata/bin/strata"', str(checks.strata_bin()))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "strata check: the rule holds" in done.stdout
