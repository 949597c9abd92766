"""Issue 12: a workspace written by strata 0.1.0 passes the whole suite after `strata upgrade`.

The input is `tests/fixtures/upgrade/strata-0.1.0-aecd22f/`: both repos as strata 0.1.0 wrote
them. The test commits them, makes the edits a team makes (a label in an owned base manifest,
Pulumi's keys in a stack file, an entry in an app-of-apps), upgrades, and runs every check a
fresh workspace passes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import checks

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade" / "strata-0.1.0-aecd22f"


def _git(repo: Path, *args: str) -> None:
    checks.run([checks.git(), "-c", "user.name=t", "-c", "user.email=t@example.com",
                "-c", "init.defaultBranch=main", "-C", repo, *args])


def test_an_upgraded_old_workspace_is_conformant(workspace_root):
    root = workspace_root("upgrade")
    for repo in ("acme-foundation", "acme-gitops"):
        shutil.copytree(FIXTURE / repo, root / repo)
        _git(root / repo, "init", "-q")
        _git(root / repo, "add", "-A")
        _git(root / repo, "commit", "-qm", "written by strata 0.1.0")
    gitops, foundation = root / "acme-gitops", root / "acme-foundation"
    deployment = gitops / "services" / "api" / "base" / "deployment.yaml"
    text = deployment.read_text()
    deployment.write_text(text.replace("    app.kubernetes.io/part-of: acme\n",
                                       "    app.kubernetes.io/part-of: acme\n    team: payments\n", 1))
    stack = foundation / "Pulumi.dev.yaml"
    stack.write_text("encryptionsalt: v1:Vbz0rPlL3Ls=:v1:lI4W2Z+nVZ1Mg3jG:rQ8hz1Bt5Zb4yJyI0vZ9Vw==\n"
                     + stack.read_text())
    for repo in (foundation, gitops):
        _git(repo, "commit", "-qam", "our edits")

    checks.strata("upgrade", "--commit", "-C", gitops, cwd=root)

    ws = checks.Workspace(root, "acme")
    checks.structural_checks(ws)
    checks.security_invariants(ws.gitops, ws.builds)
    checks.strata_list_consistent(ws.gitops)
    assert "    team: payments\n" in deployment.read_text()
    assert stack.read_text().startswith("encryptionsalt: ")
    assert not (gitops / "apps" / "dev" / "appproject.yaml").exists()
