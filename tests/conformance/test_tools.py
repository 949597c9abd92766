"""The real tools the conformance suite needs are present and work: a missing one fails, never skips."""

from __future__ import annotations

import checks


def test_strata_binary_runs():
    done = checks.run([checks.strata_bin(), "--version"])
    assert done.returncode == 0, checks._describe(done)
    assert done.stdout.startswith("strata "), done.stdout


def test_kubectl_runs_and_has_kustomize():
    done = checks.run([checks.kubectl(), "version", "--client"])
    assert done.returncode == 0, checks._describe(done)
    assert "Kustomize Version" in done.stdout, done.stdout


def test_checkov_runs():
    done = checks.run([checks.checkov(), "--version"])
    assert done.returncode == 0, checks._describe(done)


def test_the_venv_python_has_the_pulumi_sdks_the_foundation_imports():
    modules = "pulumi, pulumi_aws, pulumi_eks, pulumi_kubernetes, yaml, pytest"
    done = checks.run([checks.venv_python(), "-c", f"import {modules}"])
    assert done.returncode == 0, f"the venv lacks a module the generated foundation imports:\n{checks._describe(done)}"


def test_helm_runs():
    done = checks.run([checks.helm(), "version", "--short"])
    assert done.returncode == 0, checks._describe(done)


def test_parliament_runs_offline_and_finds_a_wildcard_write():
    findings = checks.parliament_findings([("stack", "probe", '{"Version": "2012-10-17", "Statement": '
                                            '[{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}')])
    assert {(f["issue"], f["severity"]) for f in findings} == {("RESOURCE_STAR", "LOW")}, findings


def test_the_vendored_charts_and_the_managed_policy_list_are_found():
    assert (checks.chart_source("argo-cd", "10.1.1") / "charts" / "redis-ha").is_dir()
    assert "arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2" in checks.managed_policy_arns_file().read_text()


def test_the_crd_schemas_are_found_and_served():
    for (group, kind) in checks.CRD_FILES:
        assert checks._crd_validators(group, kind), f"no served version in the CRD of {group}/{kind}"
    assert "v1alpha1" in checks._crd_validators("argoproj.io", "Application")
    assert "v1" in checks._crd_validators("external-secrets.io", "ExternalSecret")


def test_git_is_on_the_path():
    done = checks.run([checks.git(), "--version"])
    assert done.returncode == 0, checks._describe(done)


def test_both_presets_run_the_kubernetes_version_the_checks_validate_for():
    import tomllib

    versions = {p.stem: tomllib.loads(p.read_text(encoding="utf-8"))["cluster"]["version"]
                for p in (checks.REPO_ROOT / "presets").glob("*.toml")}
    assert set(versions.values()) == {checks.KUBERNETES_VERSION.removesuffix(".0")}, versions
    # kubernetes-validate ships the schemas of that version (strict).
    assert checks.object_problems({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}}) == []
