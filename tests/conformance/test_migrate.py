"""Issue 11: after `strata migrate`, the workspace passes the conformance suite.

A workspace gets the applications of the real Pulumi stack exports in
`tests/data/stack-exports/` (pulumi-eks' recordings, written by pulumi-kubernetes v4, and v3
with its secrets shown), and of the constructed export of a service adopted in place; then
every check of a grown workspace runs with the real tools: kustomize builds of every overlay
(migrate's patches and kept objects included), the Kubernetes and Argo CD / External Secrets
schemas, reachability through the foundation's harness, wiring, names, orphans, the security
invariants, checkov on what each Application deploys, and `strata list` / `strata check`.
"""

from __future__ import annotations

import json

import checks
from conftest import ACCOUNT_ID, GIT_BASE

DATA = checks.REPO_ROOT / "tests" / "data" / "stack-exports"
MIGRATIONS = (
    ("pulumi-eks-encryption-provider-k8s-v4.json", "dev", "nginx-cfa406f4=nginx:1.27.3", ()),
    ("constructed-pulumi-eks-encryption-provider-k8s-v3-show-secrets.json", "dev", "nginx-e76af785=nginx:1.27.3",
     ("--force",)),  # the second migration replaces the first one's MIGRATION.md
    ("constructed-shop-adopt-in-place-k8s-v3.json", "prod", "shop=ghcr.io/acme/shop:2.3.1", ("--force",)),
)


def test_a_migrated_workspace_passes_every_check(workspace_root):
    ws = checks.new_workspace(workspace_root("migr"), "migr", "--envs", "dev,prod", "--services", "api",
                              "--domain", "example.com", "--account-id", ACCOUNT_ID, "--git-base", GIT_BASE,
                              "--api-cidrs", "203.0.113.0/24")
    moved: dict[str, set[str]] = {}
    for export, env, image, extra in MIGRATIONS:
        done = ws.strata("migrate", "--stack-export", DATA / export, "--env", env, "--image", image,
                         "--commit", "-C", ws.gitops, *extra)
        moved[export] = {line.split()[1] for line in done.stdout.splitlines() if line.strip().startswith("moves ")}
        assert moved[export], done.stdout
    ws.refresh()
    # Issue 21: a service is named as the program named its Deployment (`nginx`), not by
    # Pulumi's auto-name; the second `nginx` keeps the object's name, the first is taken.
    assert sorted(checks.service_envs(ws.answers)) == ["api", "nginx", "nginx-e76af785", "shop"]

    checks.structural_checks(ws)
    checks.security_invariants(ws.gitops, ws.builds)
    checks.strata_list_consistent(ws.gitops)
    checks.checkov_clean(ws.gitops, ws.builds)

    # What migrate wrote for Argo CD's adoption is on every object it deploys.
    for rel, objs in ws.builds.items():
        if rel.startswith(("services/nginx", "services/shop/")) and "/overlays/" in rel:
            for obj in objs:
                options = (obj.get("metadata", {}).get("annotations") or {}).get("argocd.argoproj.io/sync-options")
                assert options == "ServerSideApply=true,Prune=false", f"{rel}: {obj['kind']} {obj['metadata']['name']}"

    # The Deployment keeps its name in the cluster (adopted in place), and strata's
    # HorizontalPodAutoscaler scales it under that name.
    built = ws.builds["services/nginx/overlays/dev"]
    deployments = [o["metadata"]["name"] for o in built if o["kind"] == "Deployment"]
    assert deployments == ["nginx-cfa406f4"], deployments
    targets = [o["spec"]["scaleTargetRef"]["name"] for o in built if o["kind"] == "HorizontalPodAutoscaler"]
    assert targets == ["nginx-cfa406f4"], targets

    # The workspace holds the rule; each export's applications are exactly what moved (the
    # constructed one's CronJob stays in Pulumi, with its reason, and `check` keeps listing it).
    done = checks.run([checks.strata_bin(), "check", "-C", ws.gitops], cwd=ws.gitops)
    assert done.returncode == 0, done.stdout + done.stderr
    for export, _, _, _ in MIGRATIONS:
        done = checks.run([checks.strata_bin(), "check", "--json", "--stack-export", DATA / export], cwd=ws.gitops)
        listed = {f["urn"] for f in json.loads(done.stdout)["result"]["findings"]}
        listed -= {u for u in listed if ":batch/v1:CronJob::" in u}
        assert listed == moved[export], export
